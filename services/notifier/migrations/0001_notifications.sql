-- One notification per outcome the customer should hear about. Delivery channels (email,
-- webhook) come later and will stamp delivered_at; until then it stays null.
CREATE TABLE notifications (
    notification_id    bigserial PRIMARY KEY,
    customer_id        text NOT NULL,
    kind               text NOT NULL,
    request_id         text,
    cluster_id         text,
    title              text NOT NULL,
    body               text NOT NULL,
    -- The id of the event it tells about: a second guard, after the inbox, against duplicates.
    source_message_id  text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    delivered_at       timestamptz
);
CREATE INDEX notifications_by_customer ON notifications (customer_id, notification_id);
-- Delivery will look for what is still to send.
CREATE INDEX notifications_undelivered ON notifications (notification_id) WHERE delivered_at IS NULL;
