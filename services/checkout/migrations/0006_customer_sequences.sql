-- Each customer's orders are numbered 1, 2, ... as checkout creates them (rejections take no
-- number), so that payment settles them in that order whatever order they reach it in. The
-- counter row is locked until the order's transaction ends: the numbers have no gaps.
CREATE TABLE customer_sequences (
    customer_id    text PRIMARY KEY,
    last_sequence  bigint NOT NULL CHECK (last_sequence >= 1)
);
-- NULL on orders created before numbering.
ALTER TABLE orders ADD COLUMN customer_sequence bigint;
