-- Notifier's queries (loaded by queries.py).

-- name: insert_notification!
-- ON CONFLICT on the event's id: a second guard after the inbox.
INSERT INTO notifications (customer_id, kind, request_id, cluster_id, title, body, source_message_id)
VALUES (:customer_id, :kind, :request_id, :cluster_id, :title, :body, :source_message_id)
ON CONFLICT (source_message_id) DO NOTHING;

-- name: upsert_contact!
INSERT INTO contacts (customer_id, email, language, timezone, webhook_url, webhook_secret)
VALUES (:customer_id, :email, :language, :timezone, :webhook_url, :webhook_secret)
ON CONFLICT (customer_id) DO UPDATE
SET email = excluded.email, language = excluded.language, timezone = excluded.timezone,
    webhook_url = excluded.webhook_url, webhook_secret = excluded.webhook_secret, updated_at = now();

-- Operators' views (`stoppoc conversions show`): read only.

-- name: notifications_of_request
SELECT notification_id, customer_id, kind, title, created_at, delivered_at FROM notifications
WHERE request_id = :request_id ORDER BY notification_id;
