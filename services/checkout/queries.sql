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
