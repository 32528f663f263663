-- The trace context and correlation id of each outbox row, so the relay publishes it inside the
-- trace of the message that emitted it and its log lines name the conversion.
ALTER TABLE outbox ADD COLUMN traceparent text, ADD COLUMN correlation_id text;
