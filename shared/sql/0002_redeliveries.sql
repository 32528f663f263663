-- Messages the broker delivered again (its `redelivered` flag) and how often. Written outside
-- the handler's transaction, so a delivery whose handling killed the process still counts:
-- past STOPPOC_MAX_DELIVERIES the message is dead-lettered with `redelivery_limit` instead of
-- looping forever. First deliveries are not written here, which keeps the happy path free.
CREATE TABLE redeliveries (
    message_id         text PRIMARY KEY,
    deliveries         integer NOT NULL CHECK (deliveries >= 2),
    first_redelivered  timestamptz NOT NULL DEFAULT now(),
    last_redelivered   timestamptz NOT NULL DEFAULT now()
);
