-- Coupons and the redemption each order with a coupon reserves.

-- Codes are stored upper-case and matched case-insensitively. A percent coupon takes 1..100
-- percent off; a fixed one takes its value in VND off (never below zero). The window is
-- inclusive at both ends; NULL limits are unlimited.
CREATE TABLE coupons (
    code                text PRIMARY KEY CHECK (code = upper(code) AND code <> ''),
    kind                text NOT NULL CHECK (kind IN ('percent', 'fixed')),
    value               bigint NOT NULL CHECK (value > 0),
    valid_from          timestamptz,
    valid_until         timestamptz,
    max_redemptions     integer CHECK (max_redemptions >= 0),
    per_customer_limit  integer CHECK (per_customer_limit >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'percent' OR value <= 100),
    CHECK (valid_from <= valid_until)
);

-- One row per order that used a coupon, reserved with the order. payment.settled redeems it,
-- payment.failed releases it; the limits count reserved and redeemed rows.
CREATE TABLE coupon_redemptions (
    order_id     text PRIMARY KEY REFERENCES orders (order_id),
    code         text NOT NULL REFERENCES coupons (code),
    customer_id  text NOT NULL,
    discount     bigint NOT NULL CHECK (discount >= 0),
    status       text NOT NULL CHECK (status IN ('reserved', 'redeemed', 'released')),
    reserved_at  timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz,
    CHECK ((status = 'reserved') = (settled_at IS NULL))
);
CREATE INDEX coupon_redemptions_counted ON coupon_redemptions (code, customer_id) WHERE status <> 'released';
