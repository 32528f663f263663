-- What checkout decided for each round of a conversion: an order or a rejection, never both.
-- (request_id, round) is unique, so a round redelivered under another message id decides once.

CREATE TABLE orders (
    order_id            text PRIMARY KEY,
    request_id          text NOT NULL,
    round               integer NOT NULL CHECK (round >= 1),
    customer_id         text NOT NULL,
    cluster_id          text NOT NULL,
    usage_cycle_months  integer NOT NULL CHECK (usage_cycle_months > 0),
    auto_renew          boolean NOT NULL,
    coupon_code         text,
    subtotal            bigint NOT NULL CHECK (subtotal >= 0),
    discount            bigint NOT NULL CHECK (discount >= 0),
    tax                 bigint NOT NULL CHECK (tax >= 0),
    total               bigint NOT NULL CHECK (total >= 0),
    currency            text NOT NULL,
    lines               jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, round),
    -- The totals are sums of the lines, whose totals are amount - discount and include the tax.
    CHECK (total = subtotal - discount),
    CHECK (tax <= total)
);

CREATE TABLE order_rejections (
    request_id   text NOT NULL,
    round        integer NOT NULL,
    customer_id  text NOT NULL,
    cluster_id   text NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, round)
);
