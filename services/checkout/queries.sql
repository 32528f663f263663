-- name: lock_round
-- Serialises the messages of one round, so that two deliveries of it decide once.
SELECT pg_advisory_xact_lock(hashtextextended('checkout:' || $1::text || ':' || $2::integer, 0));

-- name: round_decided
SELECT EXISTS (SELECT 1 FROM orders WHERE request_id = $1 AND round = $2)
    OR EXISTS (SELECT 1 FROM order_rejections WHERE request_id = $1 AND round = $2);

-- name: server_prices
SELECT flavor, monthly_price FROM server_prices WHERE flavor = any($1::text[]);

-- name: volume_prices
SELECT volume_type, price_per_gib_month FROM volume_prices WHERE volume_type = any($1::text[]);

-- name: insert_order
-- $1 is the order.created data as JSON, whose fields are named like the columns.
INSERT INTO orders (order_id, request_id, round, customer_id, cluster_id, usage_cycle_months,
                    auto_renew, coupon_code, subtotal, discount, tax, total, currency, lines)
SELECT order_id, request_id, round, customer_id, cluster_id, usage_cycle_months,
       auto_renew, coupon_code, subtotal, discount, tax, total, currency, lines
FROM jsonb_populate_record(NULL::orders, $1::jsonb);

-- name: insert_rejection
-- $1 is the order.rejected data as JSON.
INSERT INTO order_rejections (request_id, round, customer_id, cluster_id, reason, detail)
SELECT request_id, round, customer_id, cluster_id, reason, detail
FROM jsonb_populate_record(NULL::order_rejections, $1::jsonb);

-- name: coupon
SELECT code, kind, value, valid_from, valid_until, max_redemptions, per_customer_limit
FROM coupons WHERE code = $1;

-- name: lock_coupon
-- Held until the round's transaction ends: two rounds racing for a coupon's last redemption
-- take turns, and the second counts the first one's reservation.
SELECT code, kind, value, valid_from, valid_until, max_redemptions, per_customer_limit
FROM coupons WHERE code = $1 FOR UPDATE;

-- name: coupon_usage
SELECT count(*) AS total, count(*) FILTER (WHERE customer_id = $2) AS by_customer
FROM coupon_redemptions WHERE code = $1 AND status <> 'released';

-- name: upsert_coupon
INSERT INTO coupons (code, kind, value, valid_from, valid_until, max_redemptions, per_customer_limit)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (code) DO UPDATE
SET kind = excluded.kind, value = excluded.value, valid_from = excluded.valid_from,
    valid_until = excluded.valid_until, max_redemptions = excluded.max_redemptions,
    per_customer_limit = excluded.per_customer_limit, updated_at = now();

-- name: reserve_redemption
INSERT INTO coupon_redemptions (order_id, code, customer_id, discount, status)
VALUES ($1, $2, $3, $4, 'reserved');

-- name: settle_redemption
-- $2 is 'redeemed' or 'released'; an order without a coupon, or one settled already, is untouched.
UPDATE coupon_redemptions SET status = $2, settled_at = now()
WHERE order_id = $1 AND status = 'reserved';
