-- Orders of one customer settle in the order they came: seq numbers payments as they are
-- recorded (under the customer's wallet lock, so in that order for each customer).
ALTER TABLE payments ADD COLUMN seq bigserial;
CREATE UNIQUE INDEX payments_by_seq ON payments (seq);
DROP INDEX payments_awaiting_by_customer;
CREATE INDEX payments_awaiting_by_customer ON payments (customer_id, seq) WHERE status = 'awaiting_funds';
