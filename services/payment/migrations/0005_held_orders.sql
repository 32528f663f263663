-- Orders of one customer are decided in the order checkout created them (order.created's
-- customer_sequence), whatever order they arrive in. recorded_sequence: the highest one payment
-- has decided for the customer (settled, failed or waiting for funds). An order whose predecessor
-- is not decided yet is held here, and decided in the transaction that decides its predecessor,
-- or by the sweep once held STOPPOC_ORDER_GAP_SECONDS (a predecessor that never comes).
ALTER TABLE wallets ADD COLUMN recorded_sequence bigint NOT NULL DEFAULT 0;
CREATE TABLE held_orders (
    order_id           text PRIMARY KEY,
    customer_id        text NOT NULL,
    customer_sequence  bigint NOT NULL,
    order_data         jsonb NOT NULL,  -- the order.created data as it came
    held_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_orders_by_customer ON held_orders (customer_id, customer_sequence);
CREATE INDEX held_orders_by_age ON held_orders (held_at);
