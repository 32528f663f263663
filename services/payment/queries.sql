-- name: lock_wallet
-- Creates the wallet if needed and locks its row until the transaction ends.
INSERT INTO wallets (customer_id) VALUES ($1)
ON CONFLICT (customer_id) DO UPDATE SET customer_id = excluded.customer_id
RETURNING balance;

-- name: set_balance
UPDATE wallets SET balance = $2, updated_at = now() WHERE customer_id = $1;

-- name: ledger_entry_exists
SELECT EXISTS (SELECT 1 FROM ledger WHERE reference = $1);

-- name: append_ledger
INSERT INTO ledger (customer_id, kind, amount, reference, order_id, balance_after)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: payment_for_order
SELECT payment_id, status FROM payments WHERE order_id = $1;

-- name: record_payment
INSERT INTO payments (payment_id, order_id, request_id, round, customer_id, cluster_id,
                      amount, status, reason, balance_after, resource_ids, lines)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12);

-- name: wallet
SELECT customer_id, balance, updated_at FROM wallets WHERE customer_id = $1;

-- name: ledger_of
SELECT entry_id, kind, amount, reference, order_id, balance_after, created_at
FROM ledger WHERE customer_id = $1 ORDER BY entry_id;
