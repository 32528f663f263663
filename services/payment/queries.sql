-- Payment's queries (loaded by queries.py; the rows they return are defined there).

-- name: lock_wallet^
-- record_class: LockedWallet
-- Creates the wallet if needed and locks its row until the transaction ends; its balance, and the
-- transaction's clock (`now()`: fixed for the whole transaction, the one clock for deadlines).
-- Every change to a customer's wallet or payments takes this lock first, so they never deadlock.
INSERT INTO wallets (customer_id) VALUES (:customer_id)
ON CONFLICT (customer_id) DO UPDATE SET customer_id = excluded.customer_id
RETURNING balance, now() AS now;

-- name: transaction_time$
-- One clock for deadlines: the database's, fixed for the whole transaction.
SELECT now();

-- name: post_to_wallet!
-- The wallet's new balance and the ledger row that moves it there, in one statement.
WITH balanced AS (
    UPDATE wallets SET balance = :balance_after, updated_at = now() WHERE customer_id = :customer_id
)
INSERT INTO ledger (customer_id, kind, amount, reference, order_id, balance_after)
VALUES (:customer_id, :kind, :amount, :reference, :order_id, :balance_after);

-- name: lock_credit_reference!
-- Two credits with one reference (for different customers, say) take turns, so the second
-- finds the first in the ledger. Taken before the wallet lock.
SELECT pg_advisory_xact_lock(hashtextextended('payment:credit:' || :reference::text, 0));

-- name: ledger_entry^
-- record_class: LedgerReference
SELECT customer_id, amount FROM ledger WHERE reference = :reference;

-- name: payment_status$
-- NULL: payment has not seen the order yet.
SELECT status FROM payments WHERE order_id = :order_id;

-- name: lock_refunds_of_payment!
-- Refunds of one payment take turns, so each counts the ones before it. Taken after the
-- reference lock and before the wallet lock.
SELECT pg_advisory_xact_lock(hashtextextended('payment:refunds:' || :payment_id::text, 0));

-- name: refunded_payment^
-- record_class: RefundedPayment
-- The payment a refund names: what it charged in all and for the refund's resource (NULL: no line
-- names it), and what its refunds credited already (they carry its order id).
SELECT p.order_id, p.customer_id, p.status, p.amount,
       (SELECT sum((l.line->>'total')::bigint) FROM jsonb_array_elements(p.lines) AS l(line)
        WHERE l.line->>'resource_id' = :resource_id)::bigint AS line_total,
       (SELECT coalesce(sum(e.amount), 0) FROM ledger e
        WHERE e.customer_id = p.customer_id AND e.kind = 'refund' AND e.order_id = p.order_id)::bigint AS refunded
FROM payments p WHERE p.payment_id = :payment_id;

-- name: record_payment!
INSERT INTO payments (payment_id, order_id, request_id, round, customer_id, cluster_id, amount, status,
                      reason, balance_after, resource_ids, lines, terms, currency, wait_until, decided_at,
                      traceparent, tracestate)
VALUES (:payment_id, :order_id, :request_id, :round, :customer_id, :cluster_id, :amount, :status,
        :reason, :balance_after, :resource_ids, :lines, :terms, :currency, :wait_until,
        CASE WHEN :status = 'awaiting_funds' THEN NULL ELSE now() END, :traceparent, :tracestate);

-- name: lock_waiting_payments
-- record_class: WaitingPayment
-- A customer's orders waiting for funds, oldest first, locked: a credit and the sweep never both decide one.
SELECT payment_id, order_id, request_id, round, customer_id, cluster_id, amount, currency,
       lines, coalesce(terms, '{}') AS terms, wait_until, traceparent, tracestate
FROM payments WHERE customer_id = :customer_id AND status = 'awaiting_funds'
ORDER BY seq
FOR UPDATE;

-- name: decide_payment!
UPDATE payments SET status = :status, reason = :reason, balance_after = :balance_after, decided_at = now()
WHERE payment_id = :payment_id AND status = 'awaiting_funds';

-- name: claim_wallets_with_overdue_waits
-- record_class: WalletBalance
-- Wallets whose customer has a wait past its deadline; one being credited or paid from right
-- now is skipped, and its waits are decided by that transaction or the next sweep.
SELECT customer_id, balance FROM wallets
WHERE customer_id IN (SELECT customer_id FROM payments
                      WHERE status = 'awaiting_funds' AND wait_until <= now())
ORDER BY customer_id
LIMIT :batch_size
FOR UPDATE SKIP LOCKED;

-- name: recorded_sequence$
-- The highest customer_sequence decided for the customer (0: none). Read under the wallet lock.
SELECT recorded_sequence FROM wallets WHERE customer_id = :customer_id;

-- name: record_sequence!
UPDATE wallets SET recorded_sequence = greatest(recorded_sequence, :customer_sequence)
WHERE customer_id = :customer_id;

-- name: hold_order!
-- An order that came before its predecessor; a copy of one held already changes nothing.
INSERT INTO held_orders (order_id, customer_id, customer_sequence, order_data)
VALUES (:order_id, :customer_id, :customer_sequence, :order_data)
ON CONFLICT (order_id) DO NOTHING;

-- name: take_next_held_order$
-- The held order whose predecessor is decided now, taken out to be decided; NULL: none.
DELETE FROM held_orders WHERE order_id = (
    SELECT h.order_id FROM held_orders h JOIN wallets w USING (customer_id)
    WHERE h.customer_id = :customer_id AND h.customer_sequence <= w.recorded_sequence + 1
    ORDER BY h.customer_sequence LIMIT 1)
RETURNING order_data;

-- name: take_first_held_order_past_gap$
-- When one of the customer's held orders has waited :gap_seconds for a predecessor, the first
-- of them (lowest sequence) is taken out to be decided without it; NULL: none waited that long.
DELETE FROM held_orders WHERE order_id = (
    SELECT order_id FROM held_orders WHERE customer_id = :customer_id
      AND EXISTS (SELECT 1 FROM held_orders WHERE customer_id = :customer_id
                  AND held_at <= now() - make_interval(secs => :gap_seconds::float8))
    ORDER BY customer_sequence LIMIT 1)
RETURNING order_data;

-- name: claim_wallets_with_held_orders_past_gap
-- record_class: WalletBalance
-- Wallets whose customer has an order held :gap_seconds for its predecessor; one locked by a
-- handler right now is skipped (the next sweep finds it).
SELECT customer_id, balance FROM wallets
WHERE customer_id IN (SELECT customer_id FROM held_orders
                      WHERE held_at <= now() - make_interval(secs => :gap_seconds::float8))
ORDER BY customer_id
LIMIT :batch_size
FOR UPDATE SKIP LOCKED;

-- name: wallet_balance$
SELECT balance FROM wallets WHERE customer_id = :customer_id;

-- name: reserved_for_waits$
-- What the customer's orders waiting for funds will take before anything younger.
SELECT coalesce(sum(amount), 0)::bigint FROM payments WHERE customer_id = :customer_id AND status = 'awaiting_funds';

-- Staff views (`stoppoc wallet`, `stoppoc payments`, `stoppoc orders`): read only.

-- name: wallet^
-- record_class: WalletRow
SELECT customer_id, balance, updated_at FROM wallets WHERE customer_id = :customer_id;

-- name: ledger
-- record_class: LedgerEntry
SELECT kind, amount, reference, order_id, balance_after, created_at FROM ledger
WHERE customer_id = :customer_id ORDER BY entry_id;

-- name: list_wallets
-- record_class: WalletSummary
SELECT w.customer_id, w.balance, count(p.payment_id) AS awaiting_orders, w.updated_at
FROM wallets w LEFT JOIN payments p ON p.customer_id = w.customer_id AND p.status = 'awaiting_funds'
GROUP BY w.customer_id ORDER BY w.customer_id;

-- name: list_payments
-- record_class: PaymentRow
SELECT payment_id, order_id, customer_id, cluster_id, round, amount, status, reason, balance_after,
       wait_until, created_at, decided_at
FROM payments
WHERE (:customer_id::text IS NULL OR customer_id = :customer_id) AND (:status::text IS NULL OR status = :status)
  AND (:order_ids::text[] IS NULL OR order_id = any(:order_ids::text[]))
ORDER BY created_at, payment_id;

-- Operators' and analysts' views (`stoppoc conversions`, `stoppoc settlements`, `stoppoc reconcile`): read only.

-- name: payments_of_request
-- record_class: PaymentRow
SELECT payment_id, order_id, customer_id, cluster_id, round, amount, status, reason, balance_after,
       wait_until, created_at, decided_at
FROM payments WHERE request_id = :request_id ORDER BY round, created_at;

-- name: refunds_of_orders
-- record_class: LedgerEntry
SELECT kind, amount, reference, order_id, balance_after, created_at FROM ledger
WHERE customer_id = :customer_id AND kind = 'refund' AND order_id = any(:order_ids::text[]) ORDER BY entry_id;

-- name: settlement_lines
-- record_class: SettlementLine
-- One row per line of each payment settled in [:since, :until), and one per refund credited in it:
-- negative, the line's figures when the refund is the whole line (else only its total).
SELECT p.payment_id, p.order_id, coalesce(p.terms->>'kind', 'conversion') AS kind, p.customer_id, p.cluster_id,
       l.line->>'resource_id' AS resource_id, l.line->>'kind' AS resource_kind,
       (l.line->>'amount')::bigint AS amount, (l.line->>'cycle_discount')::bigint AS cycle_discount,
       (l.line->>'coupon_discount')::bigint AS coupon_discount, (l.line->>'tax')::bigint AS tax,
       (l.line->>'total')::bigint AS total, p.decided_at AS settled_at, l.n AS line_number
FROM payments p CROSS JOIN LATERAL jsonb_array_elements(p.lines) WITH ORDINALITY AS l(line, n)
WHERE p.status = 'settled' AND p.decided_at >= :since AND p.decided_at < :until
UNION ALL
SELECT split_part(e.reference, ':', 2), e.order_id, 'refund', e.customer_id, p.cluster_id,
       split_part(e.reference, ':', 3), pl.line->>'kind',
       -(pl.line->>'amount')::bigint, -(pl.line->>'cycle_discount')::bigint,
       -(pl.line->>'coupon_discount')::bigint, -(pl.line->>'tax')::bigint,
       -e.amount, e.created_at, e.entry_id
FROM ledger e
LEFT JOIN payments p ON p.payment_id = split_part(e.reference, ':', 2)
LEFT JOIN LATERAL (
    SELECT x.line FROM jsonb_array_elements(p.lines) AS x(line)
    WHERE x.line->>'resource_id' = split_part(e.reference, ':', 3) AND (x.line->>'total')::bigint = e.amount
    LIMIT 1
) pl ON true
WHERE e.kind = 'refund' AND e.created_at >= :since AND e.created_at < :until
ORDER BY settled_at, payment_id, line_number;

-- name: settled_between
-- record_class: SettledPayment
SELECT payment_id, order_id, customer_id, amount, decided_at,
       (SELECT coalesce(sum((l->>'total')::bigint), 0) FROM jsonb_array_elements(lines) AS l) AS lines_total
FROM payments WHERE status = 'settled' AND decided_at >= :since AND decided_at < :until
ORDER BY decided_at, payment_id;

-- name: payment_lines
-- record_class: PaymentLines
SELECT payment_id, status, lines FROM payments WHERE payment_id = any(:payment_ids::text[]);

-- name: ledger_between
-- record_class: LedgerMovement
-- Entries written in [:since, :until), each with the balance before it (the entry before it of
-- the same customer, whenever that was written).
SELECT * FROM (
    SELECT entry_id, customer_id, kind, amount, reference, order_id, balance_after, created_at,
           coalesce(lag(balance_after) OVER (PARTITION BY customer_id ORDER BY entry_id), 0) AS balance_before
    FROM ledger
    WHERE customer_id IN (SELECT customer_id FROM ledger WHERE created_at >= :since AND created_at < :until)
) movements
WHERE created_at >= :since AND created_at < :until
ORDER BY entry_id;

-- name: wallets_against_ledger
-- record_class: WalletAgainstLedger
SELECT w.customer_id, w.balance, coalesce(sum(l.amount), 0)::bigint AS ledger_sum
FROM wallets w LEFT JOIN ledger l ON l.customer_id = w.customer_id
WHERE w.customer_id = any(:customer_ids::text[])
GROUP BY w.customer_id ORDER BY w.customer_id;
