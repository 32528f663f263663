-- The inbox, outbox and redelivery queries every service runs on its own schema
-- (shared/sql/ holds their tables). Loaded by shared/queries.py.

-- name: claim_inbox$
-- The message's id, recorded in the handler's transaction; NULL when it was handled before.
INSERT INTO inbox (message_id, type) VALUES (:message_id, :type)
ON CONFLICT (message_id) DO NOTHING
RETURNING 1;

-- name: count_redelivery^
-- record_class: Redelivery
-- Autocommitted on its own, so the count survives whatever the handling does next.
INSERT INTO redeliveries AS r (message_id, deliveries) VALUES (:delivery_key, 2)
ON CONFLICT (message_id) DO UPDATE SET deliveries = r.deliveries + 1, last_redelivered = now()
RETURNING deliveries, EXISTS (SELECT 1 FROM inbox WHERE message_id = :message_id) AS handled;

-- name: insert_outbox_rows$
-- A unit of work's messages in one statement, in the order they were emitted; the ids of those
-- recorded (not one whose deterministic id was recorded before).
WITH recorded AS (
    INSERT INTO outbox (message_id, exchange, routing_key, body, traceparent, correlation_id)
    SELECT message_id, exchange, routing_key, body, traceparent, correlation_id
    FROM unnest(:message_ids::text[], :exchanges::text[], :routing_keys::text[], :bodies::bytea[],
                :traceparents::text[], :correlation_ids::text[])
         WITH ORDINALITY AS emitted (message_id, exchange, routing_key, body, traceparent, correlation_id, position)
    ORDER BY position
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id)
SELECT coalesce(array_agg(message_id), '{}') FROM recorded;

-- name: claim_outbox
-- record_class: OutboxRow
SELECT id, message_id, exchange, routing_key, body, traceparent, correlation_id FROM outbox
WHERE published_at IS NULL ORDER BY id LIMIT :batch_size
FOR UPDATE SKIP LOCKED;

-- name: outbox_backlog^
-- record_class: OutboxBacklog
-- Rows waiting to be published and the age of the oldest (the partial index keeps it cheap).
SELECT count(*) AS pending,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age_seconds
FROM outbox WHERE published_at IS NULL;

-- name: ping$
SELECT 1;

-- name: stamp_published!
UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = any(:ids::bigint[]);

-- name: record_publish_failure!
UPDATE outbox SET attempts = attempts + 1, last_error = :error WHERE id = :id;

-- name: lock_migrations!
-- Taken while migrating, so two instances starting together do not race.
SELECT pg_advisory_xact_lock(:lock_key);

-- name: create_schema!
CREATE SCHEMA IF NOT EXISTS :"schema";

-- name: use_schema!
-- For the rest of the transaction only.
SELECT set_config('search_path', quote_ident(:schema), true);

-- name: create_migrations_table!
CREATE TABLE IF NOT EXISTS schema_migrations (
    name        text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
-- record_class: AppliedMigration
SELECT name FROM schema_migrations;

-- name: record_migration!
INSERT INTO schema_migrations (name) VALUES (:name);

-- name: create_database!
CREATE DATABASE :"database";

-- Retention (shared/retention.py): each query deletes one batch of rows older than the cutoff,
-- the oldest first, skipping rows another instance is pruning, and returns how many went.

-- name: prune_inbox$
WITH pruned AS (
    DELETE FROM inbox WHERE message_id IN (
        SELECT message_id FROM inbox
        WHERE handled_at < now() - :retention_seconds::float8 * interval '1 second'
        ORDER BY handled_at LIMIT :batch_size
        FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT count(*) FROM pruned;

-- name: prune_outbox$
-- Published rows only: a row not yet published is never pruned, however old.
WITH pruned AS (
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox
        WHERE published_at < now() - :retention_seconds::float8 * interval '1 second'
        ORDER BY published_at LIMIT :batch_size
        FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT count(*) FROM pruned;

-- name: prune_redeliveries$
WITH pruned AS (
    DELETE FROM redeliveries WHERE message_id IN (
        SELECT message_id FROM redeliveries
        WHERE last_redelivered < now() - :retention_seconds::float8 * interval '1 second'
        ORDER BY last_redelivered LIMIT :batch_size
        FOR UPDATE SKIP LOCKED)
    RETURNING 1)
SELECT count(*) FROM pruned;
