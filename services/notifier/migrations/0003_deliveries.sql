-- Customers hear about it: each notification is rendered in the customer's language (title and
-- body hold the e-mail's subject and text part) and delivered on each channel the customer has.

ALTER TABLE notifications
    -- Rendered by the delivery worker once what it sums up is known, so null until then.
    ALTER COLUMN title DROP NOT NULL,
    ALTER COLUMN body DROP NOT NULL,
    -- The CloudEvent (JSON) that caused it: the body of its webhook, byte for byte on every attempt.
    ADD COLUMN event text,
    ADD COLUMN html text,
    ADD COLUMN language text,
    ADD COLUMN rendered_at timestamptz,
    -- Told on the customer's channels (false: recorded only, summed up in another notification).
    ADD COLUMN told boolean NOT NULL DEFAULT false,
    -- Why nothing (or not everything) is sent: no contact, e-mail off, told already.
    ADD COLUMN note text;

-- Those recorded before were written when recorded.
UPDATE notifications SET rendered_at = created_at;

-- Notifications still to render (the worker looks for them).
CREATE INDEX notifications_unrendered ON notifications (notification_id) WHERE told AND rendered_at IS NULL;
CREATE INDEX notifications_by_request ON notifications (customer_id, request_id) WHERE request_id IS NOT NULL;

-- One row per notification and channel, written in the transaction that records the
-- notification. `topic` names what it tells (its kind and the fact's own key): a customer is
-- told a fact at most once per channel, even when the fact arrives again under another event id.
CREATE TABLE deliveries (
    delivery_id      bigserial PRIMARY KEY,
    notification_id  bigint NOT NULL REFERENCES notifications (notification_id),
    customer_id      text NOT NULL,
    channel          text NOT NULL CHECK (channel IN ('email', 'webhook')),
    topic            text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    UNIQUE (customer_id, channel, topic),
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';

-- Every attempt at a delivery, and what the other side answered.
CREATE TABLE delivery_attempts (
    attempt_id    bigserial PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES deliveries (delivery_id),
    attempt       integer NOT NULL,
    destination   text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    outcome       text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    answer        text NOT NULL
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, attempt_id);
