-- name: lock_wallet
-- Creates the wallet if needed and locks its row until the transaction ends. Every change to a
-- customer's wallet or payments takes this lock first, so they never deadlock on each other.
INSERT INTO wallets (customer_id) VALUES ($1)
ON CONFLICT (customer_id) DO UPDATE SET customer_id = excluded.customer_id
RETURNING balance;

-- name: transaction_time
-- One clock for deadlines: the database's, fixed for the whole transaction.
SELECT now();

-- name: set_balance
UPDATE wallets SET balance = $2, updated_at = now() WHERE customer_id = $1;

-- name: ledger_entry_exists
SELECT EXISTS (SELECT 1 FROM ledger WHERE reference = $1);

-- name: append_ledger
INSERT INTO ledger (customer_id, kind, amount, reference, order_id, balance_after)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: payment_for_order
SELECT payment_id, status FROM payments WHERE order_id = $1;

-- name: order_of_payment
SELECT order_id FROM payments WHERE payment_id = $1;

-- name: record_payment
INSERT INTO payments (payment_id, order_id, request_id, round, customer_id, cluster_id, amount, status,
                      reason, balance_after, resource_ids, lines, currency, wait_until, decided_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
        CASE WHEN $8 = 'awaiting_funds' THEN NULL ELSE now() END);

-- name: lock_waiting_payments
-- A customer's orders waiting for funds, locked: a credit and the sweep never both decide one.
SELECT payment_id, order_id, request_id, round, customer_id, cluster_id, amount, currency,
       lines, wait_until
FROM payments WHERE customer_id = $1 AND status = 'awaiting_funds'
ORDER BY wait_until, created_at, order_id
FOR UPDATE;

-- name: decide_payment
UPDATE payments SET status = $2, reason = $3, balance_after = $4, decided_at = now()
WHERE payment_id = $1 AND status = 'awaiting_funds';

-- name: claim_wallets_with_overdue_waits
-- Wallets whose customer has a wait past its deadline; one being credited or paid from right
-- now is skipped, and its waits are decided by that transaction or the next sweep.
SELECT customer_id, balance FROM wallets
WHERE customer_id IN (SELECT customer_id FROM payments
                      WHERE status = 'awaiting_funds' AND wait_until <= now())
ORDER BY customer_id
LIMIT $1
FOR UPDATE SKIP LOCKED;

-- name: wallet_balance
SELECT balance FROM wallets WHERE customer_id = $1;
