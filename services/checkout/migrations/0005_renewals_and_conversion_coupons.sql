-- Orders say what they pay for: the rounds of a conversion, or a renewal of real resources.
ALTER TABLE orders ADD COLUMN kind text NOT NULL DEFAULT 'conversion' CHECK (kind IN ('conversion', 'renewal'));
ALTER TABLE orders ADD COLUMN renewal_id text;
ALTER TABLE orders ADD CONSTRAINT orders_renewal_has_id CHECK ((kind = 'renewal') = (renewal_id IS NOT NULL));
CREATE INDEX orders_by_kind ON orders (kind, created_at);
ALTER TABLE order_rejections ADD COLUMN kind text NOT NULL DEFAULT 'conversion'
    CHECK (kind IN ('conversion', 'renewal'));
ALTER TABLE order_rejections ADD COLUMN renewal_id text;

-- A coupon is redeemed once per conversion, however many rounds: the redemption belongs to the
-- conversion (request_id), is reserved with its first order and keeps the coupon's terms as they
-- were then; discount is what the conversion's orders took off with it so far (a fixed coupon
-- is spent across the rounds until used up).
ALTER TABLE coupon_redemptions ADD COLUMN request_id text;
ALTER TABLE coupon_redemptions ADD COLUMN kind text;
ALTER TABLE coupon_redemptions ADD COLUMN value bigint;
UPDATE coupon_redemptions r SET request_id = o.request_id FROM orders o WHERE o.order_id = r.order_id;
UPDATE coupon_redemptions r SET kind = c.kind, value = c.value FROM coupons c WHERE c.code = r.code;
ALTER TABLE coupon_redemptions ALTER COLUMN request_id SET NOT NULL;
ALTER TABLE coupon_redemptions ALTER COLUMN kind SET NOT NULL;
ALTER TABLE coupon_redemptions ALTER COLUMN value SET NOT NULL;
-- Not unique: conversions redeemed before this migration may hold one per round.
CREATE INDEX coupon_redemptions_by_conversion ON coupon_redemptions (request_id);
