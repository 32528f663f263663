-- Checkout's queries (loaded by queries.py; the rows they return are defined there).

-- name: lock_round!
-- Serialises the messages of one round (of a conversion, or a renewal's one), so that two
-- deliveries of it decide once.
SELECT pg_advisory_xact_lock(
    hashtextextended('checkout:' || :kind::text || ':' || :request_id::text || ':' || :round::integer, 0));

-- name: round_decided$
SELECT EXISTS (SELECT 1 FROM orders WHERE kind = :kind AND request_id = :request_id AND round = :round)
    OR EXISTS (SELECT 1 FROM order_rejections WHERE kind = :kind AND request_id = :request_id AND round = :round);

-- name: server_prices
-- record_class: ServerPrice
SELECT flavor, vcpu, ram_gib, monthly_price FROM server_prices
WHERE :flavors::text[] IS NULL OR flavor = any(:flavors::text[]) ORDER BY flavor;

-- name: volume_prices
-- record_class: VolumePrice
SELECT volume_type, price_per_gib_month FROM volume_prices
WHERE :volume_types::text[] IS NULL OR volume_type = any(:volume_types::text[]) ORDER BY volume_type;

-- name: upsert_server_price$
-- true: added, false: changed, NULL: the same price was there already.
INSERT INTO server_prices AS p (flavor, vcpu, ram_gib, monthly_price) VALUES (:flavor, :vcpu, :ram_gib, :monthly_price)
ON CONFLICT (flavor) DO UPDATE SET vcpu = excluded.vcpu, ram_gib = excluded.ram_gib,
                                   monthly_price = excluded.monthly_price
WHERE (p.vcpu, p.ram_gib, p.monthly_price) IS DISTINCT FROM (excluded.vcpu, excluded.ram_gib, excluded.monthly_price)
RETURNING xmax = 0 AS added;

-- name: upsert_volume_price$
-- true: added, false: changed, NULL: the same price was there already.
INSERT INTO volume_prices AS p (volume_type, price_per_gib_month) VALUES (:volume_type, :price_per_gib_month)
ON CONFLICT (volume_type) DO UPDATE SET price_per_gib_month = excluded.price_per_gib_month
WHERE p.price_per_gib_month IS DISTINCT FROM excluded.price_per_gib_month
RETURNING xmax = 0 AS added;

-- name: next_customer_sequence$
-- The number of the customer's next order; the counter stays locked until the order commits.
INSERT INTO customer_sequences AS s (customer_id, last_sequence) VALUES (:customer_id, 1)
ON CONFLICT (customer_id) DO UPDATE SET last_sequence = s.last_sequence + 1
RETURNING last_sequence;

-- name: insert_order!
-- :order is the order.created data, whose fields are named like the columns.
INSERT INTO orders (order_id, request_id, round, customer_id, cluster_id, usage_cycle_months, auto_renew,
                    coupon_code, subtotal, discount, tax, total, currency, lines, kind, renewal_id, customer_sequence)
SELECT order_id, request_id, round, customer_id, cluster_id, usage_cycle_months, auto_renew,
       coupon_code, subtotal, discount, tax, total, currency, lines, kind, renewal_id, customer_sequence
FROM jsonb_populate_record(NULL::orders, :order::jsonb);

-- name: insert_rejection!
-- :rejection is the order.rejected data.
INSERT INTO order_rejections (request_id, round, customer_id, cluster_id, reason, detail, kind, renewal_id)
SELECT request_id, round, customer_id, cluster_id, reason, detail, kind, renewal_id
FROM jsonb_populate_record(NULL::order_rejections, :rejection::jsonb);

-- name: coupon^
-- record_class: Coupon
SELECT code, kind, value, valid_from, valid_until, max_redemptions, per_customer_limit
FROM coupons WHERE code = :code;

-- name: lock_coupon^
-- record_class: Coupon
-- Held until the round's transaction ends: two rounds racing for a coupon's last redemption
-- take turns, and the second counts the first one's reservation.
SELECT code, kind, value, valid_from, valid_until, max_redemptions, per_customer_limit
FROM coupons WHERE code = :code FOR UPDATE;

-- name: coupon_usage^
-- record_class: Usage
SELECT count(*) AS total, count(*) FILTER (WHERE customer_id = :customer_id) AS by_customer
FROM coupon_redemptions WHERE code = :code AND status <> 'released';

-- name: upsert_coupon!
INSERT INTO coupons (code, kind, value, valid_from, valid_until, max_redemptions, per_customer_limit)
VALUES (:code, :kind, :value, :valid_from, :valid_until, :max_redemptions, :per_customer_limit)
ON CONFLICT (code) DO UPDATE
SET kind = excluded.kind, value = excluded.value, valid_from = excluded.valid_from,
    valid_until = excluded.valid_until, max_redemptions = excluded.max_redemptions,
    per_customer_limit = excluded.per_customer_limit, updated_at = now();

-- name: reserve_redemption!
-- With a conversion's first order: the coupon's terms are kept for its later rounds.
INSERT INTO coupon_redemptions (order_id, request_id, code, customer_id, kind, value, discount, status)
VALUES (:order_id, :request_id, :code, :customer_id, :kind, :value, :discount, 'reserved');

-- name: conversion_redemption^
-- record_class: HeldRedemption
-- The redemption a conversion holds (the first, for one redeemed before a redemption was per conversion).
SELECT code, kind, value, discount, status FROM coupon_redemptions
WHERE request_id = :request_id ORDER BY reserved_at, order_id LIMIT 1;

-- name: spend_redemption!
-- A later round's order took :discount off with the conversion's coupon.
UPDATE coupon_redemptions SET discount = discount + :discount
WHERE order_id = (SELECT order_id FROM coupon_redemptions WHERE request_id = :request_id
                  ORDER BY reserved_at, order_id LIMIT 1);

-- name: settle_redemption!
-- :status is 'redeemed' (a round of the conversion was paid) or 'released' (its first round was
-- not, so none was); a conversion without a coupon, or one settled already, is untouched.
UPDATE coupon_redemptions SET status = :status, settled_at = now()
WHERE request_id = :request_id AND status = 'reserved';

-- Staff views (`stoppoc orders`, `stoppoc coupons`, `stoppoc catalog`): read only.

-- name: list_orders
-- record_class: OrderRow
SELECT order_id, request_id, customer_id, cluster_id, round, usage_cycle_months, auto_renew, coupon_code,
       subtotal, discount, tax, total, currency, created_at, lines, kind, renewal_id
FROM orders
WHERE (:customer_id::text IS NULL OR customer_id = :customer_id) AND (:kind::text IS NULL OR kind = :kind)
ORDER BY created_at, order_id;

-- name: order^
-- record_class: OrderRow
SELECT order_id, request_id, customer_id, cluster_id, round, usage_cycle_months, auto_renew, coupon_code,
       subtotal, discount, tax, total, currency, created_at, lines, kind, renewal_id
FROM orders WHERE order_id = :order_id;

-- name: list_coupons
-- record_class: CouponSummary
SELECT c.code, c.kind, c.value, c.valid_from, c.valid_until, c.max_redemptions, c.per_customer_limit,
       count(*) FILTER (WHERE r.status = 'reserved') AS reserved,
       count(*) FILTER (WHERE r.status = 'redeemed') AS redeemed,
       count(*) FILTER (WHERE r.status = 'released') AS released,
       c.created_at, c.updated_at
FROM coupons c LEFT JOIN coupon_redemptions r ON r.code = c.code
WHERE :code::text IS NULL OR c.code = :code
GROUP BY c.code ORDER BY c.code;

-- name: coupon_redemptions
-- record_class: Redemption
SELECT order_id, request_id, customer_id, discount, status, reserved_at, settled_at
FROM coupon_redemptions WHERE code = :code ORDER BY reserved_at, order_id;

-- Operators' and analysts' views (`stoppoc conversions`, `stoppoc reconcile`): read only.

-- name: orders_of_request
-- record_class: OrderRow
SELECT order_id, request_id, customer_id, cluster_id, round, usage_cycle_months, auto_renew, coupon_code,
       subtotal, discount, tax, total, currency, created_at, lines, kind, renewal_id
FROM orders WHERE request_id = :request_id ORDER BY round;

-- name: rejections_of_request
-- record_class: RejectionRow
SELECT request_id, round, reason, detail, created_at FROM order_rejections
WHERE request_id = :request_id ORDER BY round;

-- name: order_totals
-- record_class: OrderTotal
-- Orders created in [:since, :until), and those named in :order_ids (settled in the window, created before it).
SELECT order_id, customer_id, total, created_at FROM orders
WHERE (created_at >= :since AND created_at < :until) OR order_id = any(:order_ids::text[])
ORDER BY created_at, order_id;
