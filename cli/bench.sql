-- What `stoppoc bench` runs itself (loaded by cli/bench_chain.py and cli/bench_load.py): the bare
-- chain's inbox, which is the services' inbox table in a schema of its own, and the counts the
-- bench reads from the services' schemas.

-- name: create_bare_chain_schema!
CREATE SCHEMA IF NOT EXISTS bare_chain;

-- name: create_bare_chain_inbox!
-- The same table as every service's inbox (shared/sql/0001_messaging.sql).
CREATE TABLE IF NOT EXISTS bare_chain.inbox (
    message_id  text PRIMARY KEY,
    type        text NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now()
);

-- name: claim_bare_inbox!
INSERT INTO bare_chain.inbox (message_id, type) VALUES (:message_id, :type);

-- name: inbox_rows$
-- Messages a service has handled.
SELECT count(*) FROM :"schema".inbox;

-- name: backend_pids
-- record_class: Backend
-- The server processes serving this database, for their CPU time.
SELECT pid FROM pg_stat_activity WHERE datname = current_database();

-- name: unpublished_outbox$
-- Messages a service has still to publish.
SELECT count(*) FROM :"schema".outbox WHERE published_at IS NULL;

-- name: drop_database!
-- The bench's own database, when it is done (run on the server's `postgres` database).
DROP DATABASE IF EXISTS :"database" WITH (FORCE);
