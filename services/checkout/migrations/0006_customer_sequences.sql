-- Each customer's orders are numbered 1, 2, ... as checkout creates them (rejections take no
-- number), so that payment settles them in that order whatever order they reach it in. The
-- counter row is locked until the order's transaction ends: the numbers have no gaps.
CREATE TABLE customer_sequences (
    customer_id    text PRIMARY KEY,
    last_sequence  bigint NOT NULL CHECK (last_sequence >= 1)
);
-- NULL on orders created before numbering.
ALTER TABLE orders ADD COLUMN customer_sequence bigint;

-- A conversion and a renewal are told apart by their kind, not by their id: a renewal by hand
-- takes its request's id, which may be a stop request's too. Each decides its rounds once.
ALTER TABLE orders DROP CONSTRAINT orders_request_id_round_key;
ALTER TABLE orders ADD CONSTRAINT orders_kind_request_id_round_key UNIQUE (kind, request_id, round);
ALTER TABLE order_rejections DROP CONSTRAINT order_rejections_pkey;
ALTER TABLE order_rejections ADD PRIMARY KEY (kind, request_id, round);
