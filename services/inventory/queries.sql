-- Inventory's queries (loaded by queries.py; the rows they return are defined there).

-- name: upsert_cluster!
INSERT INTO clusters (cluster_id, customer_id, name, poc, poc_expires_at)
VALUES (:cluster_id, :customer_id, :name, :poc, :poc_expires_at)
ON CONFLICT (cluster_id) DO UPDATE
SET customer_id = excluded.customer_id, name = excluded.name, poc = excluded.poc,
    poc_expires_at = excluded.poc_expires_at, updated_at = now();

-- name: cluster^
-- record_class: Cluster
SELECT cluster_id, customer_id, name, poc, poc_expires_at, poc_stopped_at FROM clusters WHERE cluster_id = :cluster_id;

-- name: lock_cluster^
-- record_class: Cluster
-- Every handler that touches a cluster's conversion takes this lock first.
SELECT cluster_id, customer_id, name, poc, poc_expires_at, poc_stopped_at
FROM clusters WHERE cluster_id = :cluster_id FOR UPDATE;

-- name: stop_cluster_poc!
UPDATE clusters SET poc = false, poc_stopped_at = :stopped_at, updated_at = now() WHERE cluster_id = :cluster_id;

-- name: upsert_resource!
-- The platform's view of a resource; a conversion's own columns are left as they are.
INSERT INTO resources (resource_id, cluster_id, kind, billing, spec)
VALUES (:resource_id, :cluster_id, :kind, :billing, :spec)
ON CONFLICT (resource_id) DO UPDATE
SET cluster_id = excluded.cluster_id, kind = excluded.kind, billing = excluded.billing,
    spec = excluded.spec, deleted_at = NULL, updated_at = now();

-- name: delete_resource^
-- record_class: DeletedResource
-- Nothing when the resource is unknown or deleted already.
UPDATE resources SET deleted_at = now(), updated_at = now()
WHERE resource_id = :resource_id AND deleted_at IS NULL
RETURNING resource_id, cluster_id;

-- name: cluster_resources
-- record_class: Resource
SELECT resource_id, cluster_id, kind, billing, spec, converting_request_id AS held_by, deleted_at IS NOT NULL AS deleted
FROM resources WHERE cluster_id = :cluster_id AND deleted_at IS NULL ORDER BY resource_id;

-- name: resources_by_id
-- record_class: Resource
SELECT resource_id, cluster_id, kind, billing, spec, converting_request_id AS held_by, deleted_at IS NOT NULL AS deleted
FROM resources WHERE resource_id = any(:resource_ids::text[]) ORDER BY resource_id;

-- name: hold_resources$
-- The ids of the resources this round now holds: fewer than asked when another conversion got one first.
WITH held AS (
    UPDATE resources SET converting_request_id = :request_id, converting_round = :round, updated_at = now()
    WHERE resource_id = any(:resource_ids::text[]) AND converting_request_id IS NULL
    RETURNING resource_id
)
SELECT coalesce(array_agg(resource_id ORDER BY resource_id), '{}') FROM held;

-- name: release_resources!
UPDATE resources SET converting_request_id = NULL, converting_round = NULL, updated_at = now()
WHERE converting_request_id = :request_id AND converting_round = :round;

-- name: convert_resources$
-- Turns the held resources of a paid round that still exist and are still POC into real ones;
-- the ids of those it converted.
WITH converted AS (
    UPDATE resources
    SET billing = 'real', converting_request_id = NULL, converting_round = NULL,
        converted_request_id = :request_id, usage_cycle_months = :usage_cycle_months, auto_renew = :auto_renew,
        paid_until = :paid_until, converted_at = :converted_at, updated_at = now()
    WHERE converting_request_id = :request_id AND converting_round = :round AND deleted_at IS NULL AND billing = 'poc'
    RETURNING resource_id
)
SELECT coalesce(array_agg(resource_id ORDER BY resource_id), '{}') FROM converted;

-- name: conversion^
-- record_class: ConversionRow
SELECT request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code, status, rounds
FROM conversions WHERE request_id = :request_id;

-- name: lock_conversion^
-- record_class: ConversionRow
SELECT request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code, status, rounds
FROM conversions WHERE request_id = :request_id FOR UPDATE;

-- name: start_conversion!
INSERT INTO conversions (request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code, status)
VALUES (:request_id, :customer_id, :cluster_id, :usage_cycle_months, :auto_renew, :coupon_code, 'in_progress');

-- name: record_rejected_conversion!
INSERT INTO conversions (request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code,
                         status, reason, detail, finished_at)
VALUES (:request_id, :customer_id, :cluster_id, :usage_cycle_months, :auto_renew, :coupon_code,
        'rejected', :reason, :detail, now());

-- name: conversion_in_progress$
SELECT request_id FROM conversions WHERE cluster_id = :cluster_id AND status = 'in_progress';

-- name: finish_conversion!
UPDATE conversions SET status = :status, reason = :reason, detail = :detail, finished_at = now()
WHERE request_id = :request_id;

-- name: start_round!
INSERT INTO conversion_rounds (request_id, round, resource_ids, status)
VALUES (:request_id, :round, :resource_ids, 'awaiting_payment');

-- name: set_rounds!
UPDATE conversions SET rounds = :rounds WHERE request_id = :request_id;

-- name: lock_round^
-- record_class: RoundRow
SELECT request_id, round, resource_ids, status FROM conversion_rounds
WHERE request_id = :request_id AND round = :round FOR UPDATE;

-- name: finish_round!
UPDATE conversion_rounds SET status = :status, payment_id = :payment_id, amount = :amount, finished_at = now()
WHERE request_id = :request_id AND round = :round;

-- name: clusters_expiring_within
-- record_class: ExpiringCluster
-- POC clusters whose wallet expires within :days days, with the offsets already reminded.
SELECT c.cluster_id, c.customer_id, c.name, c.poc_expires_at,
       ARRAY(SELECT r.days_before FROM poc_reminders r
             WHERE r.cluster_id = c.cluster_id AND r.poc_expires_at = c.poc_expires_at) AS reminded
FROM clusters c
WHERE c.poc AND c.poc_expires_at > now() AND c.poc_expires_at <= now() + make_interval(secs => :days * 86400)
FOR UPDATE OF c SKIP LOCKED;

-- name: record_reminder!
INSERT INTO poc_reminders (cluster_id, poc_expires_at, days_before) VALUES (:cluster_id, :poc_expires_at, :days_before)
ON CONFLICT DO NOTHING;

-- Staff views (`stoppoc clusters`): read only.

-- name: list_clusters
-- record_class: Cluster
SELECT cluster_id, customer_id, name, poc, poc_expires_at, poc_stopped_at FROM clusters
WHERE :customer_id::text IS NULL OR customer_id = :customer_id ORDER BY cluster_id;

-- name: cluster_billing
-- record_class: ResourceBilling
SELECT resource_id, kind, billing, converting_request_id AS converting, usage_cycle_months, auto_renew, paid_until
FROM resources WHERE cluster_id = :cluster_id AND deleted_at IS NULL ORDER BY kind, resource_id;

-- Operators' views (`stoppoc conversions`): read only.

-- name: list_conversions
-- record_class: ConversionSummary
SELECT request_id, customer_id, cluster_id, status, rounds, usage_cycle_months, auto_renew, coupon_code,
       reason, detail, created_at, finished_at
FROM conversions
WHERE (:customer_id::text IS NULL OR customer_id = :customer_id) AND (:status::text IS NULL OR status = :status)
ORDER BY created_at, request_id;

-- name: conversion_summary^
-- record_class: ConversionSummary
SELECT request_id, customer_id, cluster_id, status, rounds, usage_cycle_months, auto_renew, coupon_code,
       reason, detail, created_at, finished_at
FROM conversions WHERE request_id = :request_id;

-- name: stuck_conversions
-- record_class: ConversionSummary
-- Conversions still in progress (no final event yet) that started more than :older_than_seconds ago.
SELECT request_id, customer_id, cluster_id, status, rounds, usage_cycle_months, auto_renew, coupon_code,
       reason, detail, created_at, finished_at
FROM conversions
WHERE status = 'in_progress' AND created_at <= now() - make_interval(secs => :older_than_seconds)
ORDER BY created_at, request_id;

-- name: conversion_rounds
-- record_class: RoundSummary
SELECT round, resource_ids, status, payment_id, amount, created_at, finished_at
FROM conversion_rounds WHERE request_id = :request_id ORDER BY round;

-- name: conversion_resources
-- record_class: ResourceBilling
-- The resources a conversion holds or made real.
SELECT resource_id, kind, billing, converting_request_id AS converting, usage_cycle_months, auto_renew, paid_until
FROM resources WHERE converted_request_id = :request_id OR converting_request_id = :request_id
ORDER BY kind, resource_id;
