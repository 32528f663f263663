-- Notifier's queries (loaded by queries.py).

-- name: insert_notification$
-- The id of the new notification; none when the event was recorded already (a second guard
-- after the inbox).
INSERT INTO notifications (customer_id, kind, request_id, cluster_id, source_message_id, event, told, note)
VALUES (:customer_id, :kind, :request_id, :cluster_id, :source_message_id, :event, :told, :note)
ON CONFLICT (source_message_id) DO NOTHING
RETURNING notification_id;

-- name: insert_delivery$
-- None when the customer was told this fact on this channel already (under another event id).
INSERT INTO deliveries (notification_id, customer_id, channel, topic)
VALUES (:notification_id, :customer_id, :channel, :topic)
ON CONFLICT (customer_id, channel, topic) DO NOTHING
RETURNING delivery_id;

-- name: delivery_of_topic^
-- record_class: TopicDelivery
-- The delivery that told (or is telling) the customer this fact on this channel.
SELECT notification_id, channel, status FROM deliveries
WHERE customer_id = :customer_id AND channel = :channel AND topic = :topic;

-- name: set_note!
UPDATE notifications SET note = :note WHERE notification_id = :notification_id;

-- name: contact^
-- record_class: Contact
SELECT customer_id, email, language, timezone, webhook_url, webhook_secret
FROM contacts WHERE customer_id = :customer_id;

-- name: upsert_contact!
INSERT INTO contacts (customer_id, email, language, timezone, webhook_url, webhook_secret)
VALUES (:customer_id, :email, :language, :timezone, :webhook_url, :webhook_secret)
ON CONFLICT (customer_id) DO UPDATE
SET email = excluded.email, language = excluded.language, timezone = excluded.timezone,
    webhook_url = excluded.webhook_url, webhook_secret = excluded.webhook_secret, updated_at = now();

-- name: claim_unrendered
-- record_class: Unrendered
-- Notifications to write, oldest first; `waited` once the wait for their payment events is over.
-- Locked so that two instances never render the same one.
SELECT n.notification_id, n.customer_id, n.kind, n.request_id, n.event,
       n.created_at + make_interval(secs => :wait_seconds) <= now() AS waited,
       coalesce(c.language, 'vi') AS language, coalesce(c.timezone, 'Asia/Ho_Chi_Minh') AS timezone
FROM notifications n LEFT JOIN contacts c USING (customer_id)
WHERE n.told AND n.rendered_at IS NULL
ORDER BY n.notification_id
LIMIT :batch_size
FOR UPDATE OF n SKIP LOCKED;

-- name: payment_events
-- record_class: PaymentEvent
-- What payment said about a request (or renewal): its settlements and failures, as recorded.
SELECT kind, event FROM notifications
WHERE customer_id = :customer_id AND request_id = :request_id
  AND kind IN ('payment_settled', 'payment_failed') AND event IS NOT NULL
ORDER BY notification_id;

-- name: payment_events_of_payment
-- record_class: PaymentEvent
-- The settlement of one payment (a refund names it).
SELECT kind, event FROM notifications
WHERE customer_id = :customer_id AND kind = 'payment_settled' AND event IS NOT NULL
  AND (event::jsonb -> 'data' ->> 'payment_id') = :payment_id
ORDER BY notification_id;

-- name: store_rendering!
UPDATE notifications
SET title = :title, body = :body, html = :html, language = :language, rendered_at = now()
WHERE notification_id = :notification_id;

-- name: give_up_rendering!
-- A notification that cannot be written: its e-mail fails (the webhook does not need it).
WITH rendered AS (
    UPDATE notifications SET rendered_at = now(), note = :note WHERE notification_id = :notification_id
)
UPDATE deliveries SET status = 'failed', last_error = :note
WHERE notification_id = :notification_id AND channel = 'email' AND status = 'pending';

-- name: claim_due_delivery^
-- record_class: DueDelivery
-- The delivery due first; locked until its attempt is recorded, so that two instances never
-- send the same one. An e-mail waits until its notification is rendered; a webhook carries the
-- event itself and goes at once.
SELECT d.delivery_id, d.notification_id, d.customer_id, d.channel, d.attempts,
       n.source_message_id, n.event, n.title, n.body, n.html,
       c.email, c.webhook_url, c.webhook_secret
FROM deliveries d
JOIN notifications n USING (notification_id)
LEFT JOIN contacts c ON c.customer_id = d.customer_id
WHERE d.status = 'pending' AND d.next_attempt_at <= now()
  AND (d.channel = 'webhook' OR n.rendered_at IS NOT NULL)
ORDER BY d.next_attempt_at, d.delivery_id
LIMIT 1
FOR UPDATE OF d SKIP LOCKED;

-- name: record_attempt!
INSERT INTO delivery_attempts (delivery_id, attempt, destination, started_at, outcome, answer)
VALUES (:delivery_id, :attempt, :destination, :started_at, :outcome, :answer);

-- name: lock_notification!
-- Taken before a delivery is marked sent: the deliveries of one notification are marked one
-- after the other, so the last one sees the others sent and stamps the notification delivered.
SELECT 1 FROM notifications WHERE notification_id = :notification_id FOR UPDATE;

-- name: mark_sent!
UPDATE deliveries SET status = 'sent', attempts = :attempts, sent_at = now(), last_error = NULL
WHERE delivery_id = :delivery_id;

-- name: stamp_delivered!
-- The notification is delivered once every one of its deliveries is sent.
UPDATE notifications SET delivered_at = now()
WHERE notification_id = :notification_id
  AND NOT EXISTS (SELECT 1 FROM deliveries WHERE notification_id = :notification_id AND status <> 'sent');

-- name: schedule_retry!
UPDATE deliveries
SET attempts = :attempts, last_error = :error, next_attempt_at = now() + make_interval(secs => :delay_seconds)
WHERE delivery_id = :delivery_id;

-- name: mark_failed!
UPDATE deliveries SET status = 'failed', attempts = :attempts, last_error = :error
WHERE delivery_id = :delivery_id;

-- name: retry_deliveries
-- record_class: Delivery
-- An operator's retry: the notification's failed or waiting deliveries are due now, with a fresh
-- round of attempts. A sent one is never sent again.
UPDATE deliveries
SET status = 'pending', attempts = 0, next_attempt_at = now()
WHERE notification_id = :notification_id AND status IN ('pending', 'failed')
RETURNING delivery_id, notification_id, channel, status, attempts, next_attempt_at, last_error, sent_at;

-- name: list_notifications
-- record_class: NotificationSummary
-- Newest first. status: pending while a delivery waits, failed if one failed, sent when all are
-- sent, unsent when there is no delivery (see note).
SELECT * FROM (
    SELECT n.notification_id, n.customer_id, n.kind, n.request_id, n.cluster_id, n.title, n.created_at,
           n.delivered_at, n.note,
           CASE
               WHEN count(d.delivery_id) = 0 THEN 'unsent'
               WHEN bool_or(d.status = 'pending') THEN 'pending'
               WHEN bool_or(d.status = 'failed') THEN 'failed'
               ELSE 'sent'
           END AS status,
           coalesce(string_agg(d.channel || ':' || d.status, ' ' ORDER BY d.channel), '') AS channels
    FROM notifications n LEFT JOIN deliveries d USING (notification_id)
    WHERE (:customer_id::text IS NULL OR n.customer_id = :customer_id)
    GROUP BY n.notification_id
) summary
WHERE :status::text IS NULL OR status = :status
ORDER BY notification_id DESC
LIMIT :limit;

-- name: notification^
-- record_class: NotificationRecord
SELECT notification_id, customer_id, kind, request_id, cluster_id, source_message_id, title, body,
       language, created_at, rendered_at, delivered_at, note
FROM notifications WHERE notification_id = :notification_id;

-- name: deliveries_of
-- record_class: Delivery
SELECT delivery_id, notification_id, channel, status, attempts, next_attempt_at, last_error, sent_at
FROM deliveries WHERE notification_id = :notification_id ORDER BY channel;

-- name: attempts_of
-- record_class: Attempt
SELECT a.delivery_id, d.channel, a.attempt, a.destination, a.started_at, a.finished_at, a.outcome, a.answer
FROM delivery_attempts a JOIN deliveries d USING (delivery_id)
WHERE d.notification_id = :notification_id
ORDER BY a.attempt_id;

-- Operators' views (`stoppoc conversions show`): read only.

-- name: notifications_of_request
-- record_class: NotificationOfRequest
SELECT notification_id, customer_id, kind, title, created_at, delivered_at FROM notifications
WHERE request_id = :request_id ORDER BY notification_id;
