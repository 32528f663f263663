-- The price list checkout prices a round with. Prices are VAT-inclusive integer VND.

-- A server is priced by its flavor; vcpu and ram_gib say what the flavor is.
CREATE TABLE server_prices (
    flavor         text PRIMARY KEY,
    vcpu           integer NOT NULL CHECK (vcpu > 0),
    ram_gib        integer NOT NULL CHECK (ram_gib > 0),
    monthly_price  bigint NOT NULL CHECK (monthly_price > 0)
);

-- A volume is priced by its type and size.
CREATE TABLE volume_prices (
    volume_type          text PRIMARY KEY,
    price_per_gib_month  bigint NOT NULL CHECK (price_per_gib_month > 0)
);
