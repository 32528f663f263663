-- The inbox and outbox every service keeps in its own schema.

-- Each message id a service has handled, written in the same transaction as its effects:
-- a redelivered message finds its id here and changes nothing.
CREATE TABLE inbox (
    message_id  text PRIMARY KEY,
    type        text NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now()
);

-- Messages a service emits, written in the same transaction as the state change they
-- announce; the relay publishes them with publisher confirms and stamps published_at.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    message_id    text NOT NULL UNIQUE,
    exchange      text NOT NULL,
    routing_key   text NOT NULL,
    body          bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
