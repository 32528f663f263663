-- SAMPLE DATA: placeholder prices for development, the demo and the tests.
-- Replace them with the real price list before pricing real customers (see
-- services/checkout/README.md). VAT-inclusive VND per month.

INSERT INTO server_prices (flavor, vcpu, ram_gib, monthly_price) VALUES
    ('general-2c4g',   2,  4,   600000),
    ('general-4c8g',   4,  8,  1200000),
    ('general-8c16g',  8, 16,  2400000),
    ('compute-8c8g',   8,  8,  2000000),
    ('memory-4c32g',   4, 32,  2200000);

INSERT INTO volume_prices (volume_type, price_per_gib_month) VALUES
    ('ssd-standard', 3000),
    ('ssd-premium',  5000),
    ('hdd-standard', 1500);
