-- Least privilege in PostgreSQL (shared/database_access.py): run by a database administrator.
-- Values reach the DO blocks through settings of the transaction (`stoppoc.*`): a DO block takes
-- no parameters, and values are never spliced into SQL text.

-- name: role_exists$
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :role);

-- name: create_login_role!
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;

-- name: set_no_inherit!
-- The migrator has no rights of its own: it acts only as the owner it sets its role to.
ALTER ROLE :"role" NOINHERIT;

-- name: stage!
SELECT set_config('stoppoc.role', :role, true), set_config('stoppoc.value', :value, true);

-- name: apply_staged_password!
-- The staged value is a SCRAM-SHA-256 verifier: the password itself never reaches the server.
DO $$ BEGIN
    EXECUTE format('ALTER ROLE %I PASSWORD %L', current_setting('stoppoc.role'), current_setting('stoppoc.value'));
END $$;

-- name: close_database!
-- Nobody but the roles named connects; nobody creates schemas, or anything in `public`.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;

-- name: close_public_schema!
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- name: allow_connect!
GRANT CONNECT ON DATABASE :"database" TO :"role";

-- name: grant_role!
GRANT :"role" TO :"member";

-- name: schema_owner$
SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :schema;

-- name: create_schema_for!
CREATE SCHEMA :"schema" AUTHORIZATION :"role";

-- name: give_schema!
ALTER SCHEMA :"schema" OWNER TO :"role";

-- name: give_schema_objects!
-- Tables, views and sequences of the schema made by someone else (a deployment from before the
-- roles) become the owner's. A sequence of a serial column follows its table.
DO $$
DECLARE
    object record;
BEGIN
    FOR object IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                              WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END AS kind
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_setting('stoppoc.value')
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> current_setting('stoppoc.role')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', object.kind, object.name, current_setting('stoppoc.role'));
    END LOOP;
END $$;

-- name: let_read_schema!
GRANT USAGE ON SCHEMA :"schema" TO :"reader";

-- name: let_read_tables!
GRANT SELECT ON ALL TABLES IN SCHEMA :"schema" TO :"reader";

-- name: let_read_future_tables!
ALTER DEFAULT PRIVILEGES FOR ROLE :"role" IN SCHEMA :"schema" GRANT SELECT ON TABLES TO :"reader";

-- name: act_as!
-- For the rest of the transaction: what is created belongs to the schema's owner.
SET LOCAL ROLE :"role";

-- name: session_role$
SELECT current_user;

-- name: database_name$
SELECT current_database();
