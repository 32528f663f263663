-- name: insert_notification
INSERT INTO notifications (customer_id, kind, request_id, cluster_id, title, body, source_message_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (source_message_id) DO NOTHING;
