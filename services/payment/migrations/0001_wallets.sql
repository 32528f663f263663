-- Credit wallets: a balance per customer and an append-only ledger that explains it.
CREATE TABLE wallets (
    customer_id  text PRIMARY KEY,
    balance      bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Signed amounts: credits and refunds positive, debits negative. The unique reference makes
-- a retried credit or a redelivered order touch the wallet once.
CREATE TABLE ledger (
    entry_id       bigserial PRIMARY KEY,
    customer_id    text NOT NULL REFERENCES wallets (customer_id),
    kind           text NOT NULL CHECK (kind IN ('credit', 'debit', 'refund')),
    amount         bigint NOT NULL CHECK (amount <> 0),
    reference      text NOT NULL UNIQUE,
    order_id       text,
    balance_after  bigint NOT NULL CHECK (balance_after >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'debit') = (amount < 0))
);
CREATE INDEX ledger_by_customer ON ledger (customer_id, entry_id);

-- One payment per order, settled or failed.
CREATE TABLE payments (
    payment_id     text PRIMARY KEY,
    order_id       text NOT NULL UNIQUE,
    request_id     text NOT NULL,
    round          integer NOT NULL,
    customer_id    text NOT NULL,
    cluster_id     text NOT NULL,
    amount         bigint NOT NULL CHECK (amount >= 0),
    status         text NOT NULL CHECK (status IN ('settled', 'failed')),
    reason         text,
    balance_after  bigint NOT NULL,
    resource_ids   text[] NOT NULL,
    lines          jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
