-- name: upsert_cluster
INSERT INTO clusters (cluster_id, customer_id, name, poc, poc_expires_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (cluster_id) DO UPDATE
SET customer_id = excluded.customer_id, name = excluded.name, poc = excluded.poc,
    poc_expires_at = excluded.poc_expires_at, updated_at = now();

-- name: lock_cluster
SELECT cluster_id, customer_id, name, poc, poc_expires_at, poc_stopped_at
FROM clusters WHERE cluster_id = $1 FOR UPDATE;

-- name: stop_cluster_poc
UPDATE clusters SET poc = false, poc_stopped_at = $2, updated_at = now() WHERE cluster_id = $1;

-- name: upsert_resource
-- The platform's view of a resource; a conversion's own columns are left as they are.
INSERT INTO resources (resource_id, cluster_id, kind, billing, spec)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (resource_id) DO UPDATE
SET cluster_id = excluded.cluster_id, kind = excluded.kind, billing = excluded.billing,
    spec = excluded.spec, deleted_at = NULL, updated_at = now();

-- name: delete_resource
UPDATE resources SET deleted_at = now(), updated_at = now()
WHERE resource_id = $1 AND deleted_at IS NULL
RETURNING resource_id, cluster_id;

-- name: cluster_resources
SELECT resource_id, cluster_id, kind, billing, spec, converting_request_id, deleted_at IS NOT NULL AS deleted
FROM resources WHERE cluster_id = $1 AND deleted_at IS NULL ORDER BY resource_id;

-- name: resources_by_id
SELECT resource_id, cluster_id, kind, billing, spec, converting_request_id, deleted_at IS NOT NULL AS deleted
FROM resources WHERE resource_id = any($1::text[]) ORDER BY resource_id;

-- name: hold_resources
UPDATE resources SET converting_request_id = $2, converting_round = $3, updated_at = now()
WHERE resource_id = any($1::text[]) AND converting_request_id IS NULL;

-- name: release_resources
UPDATE resources SET converting_request_id = NULL, converting_round = NULL, updated_at = now()
WHERE converting_request_id = $1 AND converting_round = $2;

-- name: convert_resources
-- Turns the held resources of a paid round that still exist and are still POC into real ones.
UPDATE resources
SET billing = 'real', converting_request_id = NULL, converting_round = NULL,
    converted_request_id = $1, usage_cycle_months = $3, auto_renew = $4, paid_until = $5,
    converted_at = $6, updated_at = now()
WHERE converting_request_id = $1 AND converting_round = $2 AND deleted_at IS NULL AND billing = 'poc'
RETURNING resource_id;

-- name: conversion
SELECT request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code, status, rounds
FROM conversions WHERE request_id = $1;

-- name: lock_conversion
SELECT request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code, status, rounds
FROM conversions WHERE request_id = $1 FOR UPDATE;

-- name: insert_conversion
INSERT INTO conversions (request_id, customer_id, cluster_id, usage_cycle_months, auto_renew,
                         coupon_code, status, rounds, reason, detail, finished_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $7 = 'in_progress' THEN NULL ELSE now() END);

-- name: conversion_in_progress
SELECT request_id FROM conversions WHERE cluster_id = $1 AND status = 'in_progress';

-- name: finish_conversion
UPDATE conversions SET status = $2, reason = $3, detail = $4, finished_at = now() WHERE request_id = $1;

-- name: start_round
INSERT INTO conversion_rounds (request_id, round, resource_ids, status)
VALUES ($1, $2, $3, 'awaiting_payment');

-- name: set_rounds
UPDATE conversions SET rounds = $2 WHERE request_id = $1;

-- name: lock_round
SELECT request_id, round, resource_ids, status FROM conversion_rounds
WHERE request_id = $1 AND round = $2 FOR UPDATE;

-- name: finish_round
UPDATE conversion_rounds SET status = $3, payment_id = $4, amount = $5, finished_at = now()
WHERE request_id = $1 AND round = $2;

-- name: cluster
SELECT cluster_id, customer_id, name, poc, poc_expires_at, poc_stopped_at FROM clusters WHERE cluster_id = $1;

-- name: clusters_expiring_within
-- POC clusters whose wallet expires within $1 days, with the offsets already reminded.
SELECT c.cluster_id, c.customer_id, c.name, c.poc_expires_at,
       ARRAY(SELECT r.days_before FROM poc_reminders r
             WHERE r.cluster_id = c.cluster_id AND r.poc_expires_at = c.poc_expires_at) AS reminded
FROM clusters c
WHERE c.poc AND c.poc_expires_at > now() AND c.poc_expires_at <= now() + make_interval(secs => $1 * 86400)
FOR UPDATE OF c SKIP LOCKED;

-- name: record_reminder
INSERT INTO poc_reminders (cluster_id, poc_expires_at, days_before) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING;
