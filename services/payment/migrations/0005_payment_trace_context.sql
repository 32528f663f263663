-- The trace context of the order a payment is for, so that a payment settled by a later top-up or
-- failed by the sweep is announced in its conversion's trace (not the top-up's, nor none).
ALTER TABLE payments ADD COLUMN traceparent text;
ALTER TABLE payments ADD COLUMN tracestate text;
