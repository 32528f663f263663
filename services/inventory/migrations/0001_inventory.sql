-- Clusters and resources as the platform registered them, and the conversions of their POC
-- servers and volumes into paid resources.

CREATE TABLE clusters (
    cluster_id      text PRIMARY KEY,
    customer_id     text NOT NULL,
    name            text NOT NULL,
    poc             boolean NOT NULL,
    poc_expires_at  timestamptz,
    poc_stopped_at  timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- No foreign key to clusters: the platform's messages may arrive in any order.
CREATE TABLE resources (
    resource_id            text PRIMARY KEY,
    cluster_id             text NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('server', 'volume', 'load_balancer', 'snapshot')),
    billing                text NOT NULL CHECK (billing IN ('poc', 'real')),
    spec                   jsonb NOT NULL,
    -- Set while a conversion round holds the resource, so no other request can take it.
    converting_request_id  text,
    converting_round       integer,
    -- Set when a conversion made the resource real.
    converted_request_id   text,
    usage_cycle_months     integer,
    auto_renew             boolean,
    paid_until             timestamptz,
    converted_at           timestamptz,
    deleted_at             timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK ((converting_request_id IS NULL) = (converting_round IS NULL))
);
CREATE INDEX resources_by_cluster ON resources (cluster_id) WHERE deleted_at IS NULL;

CREATE TABLE conversions (
    request_id          text PRIMARY KEY,
    customer_id         text NOT NULL,
    cluster_id          text NOT NULL,
    usage_cycle_months  integer NOT NULL,
    auto_renew          boolean NOT NULL,
    coupon_code         text,
    status              text NOT NULL CHECK (status IN ('in_progress', 'stopped', 'failed', 'rejected')),
    rounds              integer NOT NULL DEFAULT 0,
    reason              text,
    detail              text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz
);
-- One conversion at a time per cluster.
CREATE UNIQUE INDEX one_conversion_in_progress ON conversions (cluster_id) WHERE status = 'in_progress';

CREATE TABLE conversion_rounds (
    request_id    text NOT NULL REFERENCES conversions (request_id),
    round         integer NOT NULL CHECK (round >= 1),
    resource_ids  text[] NOT NULL,
    status        text NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'failed')),
    payment_id    text,
    amount        bigint CHECK (amount >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    PRIMARY KEY (request_id, round)
);
