-- How each customer wants to hear from us (notifier.contact.upsert). No row: notifications are
-- recorded and nothing is sent.
CREATE TABLE contacts (
    customer_id     text PRIMARY KEY,
    email           text,
    language        text NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
    timezone        text NOT NULL DEFAULT 'Asia/Ho_Chi_Minh',
    webhook_url     text,
    webhook_secret  text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((webhook_url IS NULL) = (webhook_secret IS NULL))
);
