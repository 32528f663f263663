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
-- The cluster's POC option off and its conversion stopped, in one statement.
WITH stopped AS (
    UPDATE clusters SET poc = false, poc_stopped_at = :stopped_at, updated_at = now() WHERE cluster_id = :cluster_id
)
UPDATE conversions SET status = 'stopped', reason = NULL, detail = NULL, finished_at = now()
WHERE request_id = :request_id;

-- name: upsert_resource!
-- The platform's view of a resource; a conversion's own columns are left as they are. The
-- billing period (paid_until, cycle, auto-renew) is changed only where the upsert names it; a
-- paid_until moved into the future makes the resource active again.
INSERT INTO resources (resource_id, cluster_id, kind, billing, spec, paid_until, usage_cycle_months, auto_renew)
VALUES (:resource_id, :cluster_id, :kind, :billing, :spec, :paid_until, :usage_cycle_months, :auto_renew)
ON CONFLICT (resource_id) DO UPDATE
SET cluster_id = excluded.cluster_id, kind = excluded.kind, billing = excluded.billing,
    spec = excluded.spec, deleted_at = NULL, updated_at = now(),
    paid_until = coalesce(excluded.paid_until, resources.paid_until),
    usage_cycle_months = coalesce(excluded.usage_cycle_months, resources.usage_cycle_months),
    auto_renew = coalesce(excluded.auto_renew, resources.auto_renew),
    lifecycle_stage = CASE WHEN excluded.paid_until > now() AND excluded.paid_until IS DISTINCT FROM resources.paid_until
                           THEN 'active' ELSE resources.lifecycle_stage END;

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

-- name: start_round$
-- Holds the round's resources, records the round and counts it on the conversion, in one
-- statement; the ids of the resources the round now holds: fewer than asked when another
-- conversion got one first (the caller then rolls the whole transaction back).
WITH held AS (
    UPDATE resources SET converting_request_id = :request_id, converting_round = :round, updated_at = now()
    WHERE resource_id = any(:resource_ids::text[]) AND converting_request_id IS NULL
    RETURNING resource_id
), started AS (
    INSERT INTO conversion_rounds (request_id, round, resource_ids, status)
    VALUES (:request_id, :round, :resource_ids, 'awaiting_payment')
), counted AS (
    UPDATE conversions SET rounds = :round WHERE request_id = :request_id
)
SELECT coalesce(array_agg(resource_id ORDER BY resource_id), '{}') FROM held;

-- name: release_resources!
UPDATE resources SET converting_request_id = NULL, converting_round = NULL, updated_at = now()
WHERE converting_request_id = :request_id AND converting_round = :round;

-- name: convert_round$
-- A paid round: turns its held resources that still exist and are still POC into real ones, and
-- records the round paid, in one statement; the ids of the resources it converted.
WITH converted AS (
    UPDATE resources
    SET billing = 'real', converting_request_id = NULL, converting_round = NULL,
        converted_request_id = :request_id, usage_cycle_months = :usage_cycle_months, auto_renew = :auto_renew,
        paid_until = :paid_until, converted_at = :converted_at, updated_at = now()
    WHERE converting_request_id = :request_id AND converting_round = :round AND deleted_at IS NULL AND billing = 'poc'
    RETURNING resource_id
), paid AS (
    UPDATE conversion_rounds SET status = 'paid', payment_id = :payment_id, amount = :amount, finished_at = now()
    WHERE request_id = :request_id AND round = :round
)
SELECT coalesce(array_agg(resource_id ORDER BY resource_id), '{}') FROM converted;

-- name: conversion^
-- record_class: ConversionRow
SELECT request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code, resource_ids,
       expected_total, status, rounds
FROM conversions WHERE request_id = :request_id;

-- name: lock_round^
-- record_class: OpenRound
-- The conversion and the round a payment outcome is about, both locked, in one statement (taken
-- after the cluster's lock, which every step of a conversion takes first).
SELECT v.request_id, v.customer_id, v.cluster_id, v.usage_cycle_months, v.auto_renew, v.coupon_code,
       v.resource_ids, v.expected_total, v.status, v.rounds,
       r.round, r.resource_ids AS round_resource_ids, r.status AS round_status
FROM conversions v JOIN conversion_rounds r ON r.request_id = v.request_id
WHERE v.request_id = :request_id AND r.round = :round
FOR UPDATE;

-- name: start_conversion!
INSERT INTO conversions (request_id, customer_id, cluster_id, usage_cycle_months, auto_renew, coupon_code,
                         resource_ids, expected_total, status)
VALUES (:request_id, :customer_id, :cluster_id, :usage_cycle_months, :auto_renew, :coupon_code,
        :resource_ids, :expected_total, 'in_progress');

-- name: converted_by$
-- The resources a conversion made real, over all its rounds.
SELECT coalesce(array_agg(resource_id ORDER BY resource_id), '{}') FROM resources WHERE converted_request_id = :request_id;

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
WHERE c.poc AND c.poc_expires_at > now() AND c.poc_expires_at <= now() + make_interval(secs => :days::float8 * 86400)
FOR UPDATE OF c SKIP LOCKED;

-- name: record_reminder!
INSERT INTO poc_reminders (cluster_id, poc_expires_at, days_before) VALUES (:cluster_id, :poc_expires_at, :days_before)
ON CONFLICT DO NOTHING;

-- Renewals of real servers and volumes, and their paid periods.

-- name: renewal^
-- record_class: RenewalRow
SELECT renewal_id, customer_id, cluster_id, usage_cycle_months, reason, resource_ids, status, failure_reason, detail
FROM renewals WHERE renewal_id = :renewal_id;

-- name: lock_renewal^
-- record_class: RenewalRow
SELECT renewal_id, customer_id, cluster_id, usage_cycle_months, reason, resource_ids, status, failure_reason, detail
FROM renewals WHERE renewal_id = :renewal_id FOR UPDATE;

-- name: insert_renewal!
INSERT INTO renewals (renewal_id, customer_id, cluster_id, usage_cycle_months, reason, resource_ids, status)
VALUES (:renewal_id, :customer_id, :cluster_id, :usage_cycle_months, :reason, :resource_ids, 'requested');

-- name: record_rejected_renewal!
INSERT INTO renewals (renewal_id, customer_id, cluster_id, usage_cycle_months, reason, resource_ids, status,
                      failure_reason, detail, finished_at)
VALUES (:renewal_id, :customer_id, :cluster_id, :usage_cycle_months, 'manual', '{}', 'rejected',
        :failure_reason, :detail, now());

-- name: finish_renewal!
UPDATE renewals SET status = :status, failure_reason = :failure_reason, detail = :detail, payment_id = :payment_id,
                    amount = :amount, finished_at = now()
WHERE renewal_id = :renewal_id;

-- name: cluster_billed
-- record_class: BilledResource
SELECT resource_id, cluster_id, kind, billing, spec, usage_cycle_months, auto_renew, paid_until, lifecycle_stage,
       renewing_id
FROM resources WHERE cluster_id = :cluster_id AND deleted_at IS NULL ORDER BY resource_id;

-- name: hold_for_renewal$
-- The ids of the resources this renewal now holds: fewer than asked when another renewal got one first.
WITH held AS (
    UPDATE resources SET renewing_id = :renewal_id, updated_at = now()
    WHERE resource_id = any(:resource_ids::text[]) AND renewing_id IS NULL
    RETURNING resource_id
)
SELECT coalesce(array_agg(resource_id ORDER BY resource_id), '{}') FROM held;

-- name: mark_renewal_attempted!
-- An automatic renewal tries each paid_until once (then again on a credit, and once a day).
UPDATE resources SET renewal_attempted_for = paid_until, renewal_attempted_at = now()
WHERE resource_id = any(:resource_ids::text[]);

-- name: release_renewal!
UPDATE resources SET renewing_id = NULL, updated_at = now() WHERE renewing_id = :renewal_id;

-- name: held_by_renewal
-- record_class: BilledResource
-- The resources a renewal holds that still exist and are still real: what its payment renews.
SELECT resource_id, cluster_id, kind, billing, spec, usage_cycle_months, auto_renew, paid_until, lifecycle_stage,
       renewing_id
FROM resources
WHERE renewing_id = :renewal_id AND deleted_at IS NULL AND billing = 'real' ORDER BY resource_id;

-- name: renew_resource!
-- :active: the new paid_until is in the future, so its stages start over.
UPDATE resources
SET paid_until = :paid_until, usage_cycle_months = :usage_cycle_months, renewing_id = NULL,
    lifecycle_stage = CASE WHEN :active THEN 'active' ELSE lifecycle_stage END,
    lifecycle_changed_at = CASE WHEN :active THEN now() ELSE lifecycle_changed_at END,
    updated_at = now()
WHERE resource_id = :resource_id AND renewing_id = :renewal_id;

-- name: claim_clusters_due_for_renewal
-- record_class: ClaimedCluster
-- Clusters with a real server or volume to renew automatically now: its paid_until passed and
-- no renewal tried it yet, or the last one failed :retry_seconds ago or more (and it is not due
-- for deletion). A cluster another transaction holds is left to the next sweep.
SELECT c.cluster_id, c.customer_id FROM clusters c
WHERE EXISTS (
    SELECT 1 FROM resources r
    WHERE r.cluster_id = c.cluster_id AND r.billing = 'real' AND r.kind IN ('server', 'volume')
      AND r.deleted_at IS NULL AND r.auto_renew AND r.paid_until <= now() AND r.renewing_id IS NULL
      AND (r.renewal_attempted_for IS DISTINCT FROM r.paid_until
           OR (r.lifecycle_stage <> 'deletion_due'
               AND r.renewal_attempted_at <= now() - make_interval(secs => :retry_seconds))))
ORDER BY c.cluster_id LIMIT :batch_size
FOR UPDATE SKIP LOCKED;

-- name: due_for_renewal
-- record_class: BilledResource
-- What claim_clusters_due_for_renewal found, read again once the cluster is locked.
SELECT r.resource_id, r.cluster_id, r.kind, r.billing, r.spec, r.usage_cycle_months, r.auto_renew, r.paid_until,
       r.lifecycle_stage, r.renewing_id
FROM resources r
WHERE r.cluster_id = :cluster_id AND r.billing = 'real' AND r.kind IN ('server', 'volume')
  AND r.deleted_at IS NULL AND r.auto_renew AND r.paid_until <= now() AND r.renewing_id IS NULL
  AND (r.renewal_attempted_for IS DISTINCT FROM r.paid_until
       OR (r.lifecycle_stage <> 'deletion_due'
           AND r.renewal_attempted_at <= now() - make_interval(secs => :retry_seconds)))
ORDER BY r.resource_id;

-- name: lock_clusters_with_failed_renewals
-- record_class: ClaimedCluster
-- A customer's clusters holding a real server or volume whose automatic renewal failed, still
-- expired or suspended: a credit tries them again. Locked in one order, so credits never deadlock.
SELECT c.cluster_id, c.customer_id FROM clusters c
WHERE c.customer_id = :customer_id AND EXISTS (
    SELECT 1 FROM resources r
    WHERE r.cluster_id = c.cluster_id AND r.billing = 'real' AND r.kind IN ('server', 'volume')
      AND r.deleted_at IS NULL AND r.auto_renew AND r.paid_until <= now() AND r.renewing_id IS NULL
      AND r.renewal_attempted_for = r.paid_until AND r.lifecycle_stage <> 'deletion_due')
ORDER BY c.cluster_id
FOR UPDATE;

-- name: failed_renewals
-- record_class: BilledResource
SELECT r.resource_id, r.cluster_id, r.kind, r.billing, r.spec, r.usage_cycle_months, r.auto_renew, r.paid_until,
       r.lifecycle_stage, r.renewing_id
FROM resources r
WHERE r.cluster_id = :cluster_id AND r.billing = 'real' AND r.kind IN ('server', 'volume')
  AND r.deleted_at IS NULL AND r.auto_renew AND r.paid_until <= now() AND r.renewing_id IS NULL
  AND r.renewal_attempted_for = r.paid_until AND r.lifecycle_stage <> 'deletion_due'
ORDER BY r.resource_id;

-- name: claim_clusters_with_stages_due
-- record_class: ClaimedCluster
-- Clusters with a real server or volume past its paid_until and not being renewed (auto-renew
-- off, or its automatic renewal failed) whose next stage has come.
SELECT c.cluster_id, c.customer_id FROM clusters c
WHERE EXISTS (
    SELECT 1 FROM resources r
    WHERE r.cluster_id = c.cluster_id AND r.billing = 'real' AND r.kind IN ('server', 'volume')
      AND r.deleted_at IS NULL AND r.paid_until <= now() AND r.renewing_id IS NULL
      AND (NOT coalesce(r.auto_renew, false) OR r.renewal_attempted_for = r.paid_until)
      AND (r.lifecycle_stage = 'active'
           OR (r.lifecycle_stage = 'expired' AND r.paid_until + make_interval(secs => :suspend_seconds) <= now())
           OR (r.lifecycle_stage = 'suspended' AND r.paid_until + make_interval(secs => :delete_seconds) <= now())))
ORDER BY c.cluster_id LIMIT :batch_size
FOR UPDATE SKIP LOCKED;

-- name: stages_due
-- record_class: BilledResource
SELECT r.resource_id, r.cluster_id, r.kind, r.billing, r.spec, r.usage_cycle_months, r.auto_renew, r.paid_until,
       r.lifecycle_stage, r.renewing_id
FROM resources r
WHERE r.cluster_id = :cluster_id AND r.billing = 'real' AND r.kind IN ('server', 'volume')
  AND r.deleted_at IS NULL AND r.paid_until <= now() AND r.renewing_id IS NULL
  AND (NOT coalesce(r.auto_renew, false) OR r.renewal_attempted_for = r.paid_until)
  AND (r.lifecycle_stage = 'active'
       OR (r.lifecycle_stage = 'expired' AND r.paid_until + make_interval(secs => :suspend_seconds) <= now())
       OR (r.lifecycle_stage = 'suspended' AND r.paid_until + make_interval(secs => :delete_seconds) <= now()))
ORDER BY r.resource_id;

-- name: advance_stage!
UPDATE resources SET lifecycle_stage = :stage, lifecycle_changed_at = now(), updated_at = now()
WHERE resource_id = :resource_id;

-- name: resources_expiring_within
-- record_class: ExpiringResource
-- Real servers and volumes whose paid_until comes within :days days, with the offsets already reminded.
SELECT r.resource_id, r.cluster_id, c.customer_id, r.paid_until, coalesce(r.auto_renew, false) AS auto_renew,
       ARRAY(SELECT m.days_before FROM renewal_reminders m
             WHERE m.resource_id = r.resource_id AND m.paid_until = r.paid_until) AS reminded
FROM resources r JOIN clusters c ON c.cluster_id = r.cluster_id
WHERE r.billing = 'real' AND r.kind IN ('server', 'volume') AND r.deleted_at IS NULL
  AND r.paid_until > now() AND r.paid_until <= now() + make_interval(secs => :days::float8 * 86400)
ORDER BY r.resource_id;

-- name: record_renewal_reminder$
-- true once per offset and paid_until, whichever instance gets there first.
INSERT INTO renewal_reminders (resource_id, paid_until, days_before) VALUES (:resource_id, :paid_until, :days_before)
ON CONFLICT DO NOTHING RETURNING true;

-- name: db_now$
SELECT now();

-- Staff views (`stoppoc clusters`): read only.

-- name: list_clusters
-- record_class: Cluster
SELECT cluster_id, customer_id, name, poc, poc_expires_at, poc_stopped_at FROM clusters
WHERE :customer_id::text IS NULL OR customer_id = :customer_id ORDER BY cluster_id;

-- name: cluster_billing
-- record_class: ResourceBilling
-- state: poc while on trial, else where its paid period stands (active, expired, suspended, deletion_due):
-- expired as soon as paid_until has passed, while its renewal is in flight or before the sweep comes.
SELECT resource_id, kind, billing, converting_request_id AS converting, usage_cycle_months, auto_renew, paid_until,
       CASE WHEN billing = 'poc' THEN 'poc'
            WHEN lifecycle_stage = 'active' AND paid_until <= now() THEN 'expired'
            ELSE lifecycle_stage END AS state,
       renewing_id AS renewing
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
SELECT resource_id, kind, billing, converting_request_id AS converting, usage_cycle_months, auto_renew, paid_until,
       CASE WHEN billing = 'poc' THEN 'poc' ELSE lifecycle_stage END AS state, renewing_id AS renewing
FROM resources WHERE converted_request_id = :request_id OR converting_request_id = :request_id
ORDER BY kind, resource_id;
