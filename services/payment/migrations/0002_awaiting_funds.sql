-- Top-up-and-pay: an order the wallet cannot cover waits for a credit until wait_until.
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('awaiting_funds', 'settled', 'failed'));

-- wait_until stays on a settled or failed payment: when its wait would have ended.
ALTER TABLE payments ADD COLUMN wait_until timestamptz;
ALTER TABLE payments ADD CONSTRAINT payments_awaiting_has_deadline
    CHECK (status <> 'awaiting_funds' OR wait_until IS NOT NULL);
-- What a later settlement announces, kept from the order.
ALTER TABLE payments ADD COLUMN currency text NOT NULL DEFAULT 'VND';
-- When the payment was settled or failed; null while it waits.
ALTER TABLE payments ADD COLUMN decided_at timestamptz;
UPDATE payments SET decided_at = created_at;
ALTER TABLE payments ADD CONSTRAINT payments_decided_unless_awaiting
    CHECK ((status = 'awaiting_funds') = (decided_at IS NULL));

-- A credit looks up its customer's waiting orders; the sweep looks for waits past their deadline.
CREATE INDEX payments_awaiting_by_customer ON payments (customer_id, wait_until, created_at)
    WHERE status = 'awaiting_funds';
CREATE INDEX payments_awaiting_by_deadline ON payments (wait_until) WHERE status = 'awaiting_funds';
