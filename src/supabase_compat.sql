-- =============================================================================
-- momentum-maintd: Supabase compatibility step
-- =============================================================================
--
-- What this is
--   The migrations in migrations/ were written for Supabase and rely on
--   objects that Supabase provides: the roles anon, authenticated and
--   service_role; auth.users, auth.uid(), auth.role(); storage.buckets,
--   storage.objects and storage.foldername().  momentum-maintd runs this
--   script before applying migrations so that the same, UNCHANGED migrations
--   also apply on a plain PostgreSQL (15+) database.
--
-- The rule: create only what is missing
--   * Every object is looked up first (pg_roles, pg_namespace, to_regclass,
--     to_regprocedure) and created only when it does not exist.  Nothing that
--     exists is ever replaced, altered, re-owned, re-commented or re-granted:
--     there is no CREATE OR REPLACE, no ALTER of an existing object, and no
--     GRANT on an object this run did not create.  On a real Supabase
--     database every pre-existing object stays byte-identical.
--   * Exception, by design, for plain PostgreSQL only: USAGE on schema public
--     and ALTER DEFAULT PRIVILEGES IN SCHEMA public (what Supabase sets up in
--     its initial schema) are applied only when this run had to create one of
--     the API roles or the auth schema, i.e. when the database is evidently
--     not a Supabase database.  A database that already has Supabase's auth
--     schema and roles is never touched.
--   * Running it a second time is a no-op (every object then exists).
--
-- How it is run
--   The daemon sends this whole file as ONE simple-protocol query string
--   inside its own transaction.  Hence: no psql meta-commands, no
--   BEGIN/COMMIT, nothing that cannot run in a transaction block.  The whole
--   work is a single DO block and produces no result rows; it emits one
--   NOTICE per object it creates and nothing when there is nothing to do.
--
-- Concurrency
--   A transaction-scoped advisory lock (key 0x6D6F6D656E74756D, "momentum",
--   = 7885641754961278317) serialises concurrent runs against the same
--   database.  Roles are cluster-wide (advisory locks are per database), so
--   role creation additionally tolerates a concurrent creator
--   (duplicate_object / unique_violation).
--
-- Definitions matched (reference text; objects are created only if missing)
--   * roles:        supabase/postgres migrations/db/init-scripts/
--                   00000000000000-initial-schema.sql
--                   (anon, authenticated: NOLOGIN NOINHERIT;
--                    service_role: NOLOGIN NOINHERIT BYPASSRLS; usage on
--                    public + default privileges in public)
--   * auth.uid(), auth.role(), auth.email(), auth.jwt():
--                   supabase/auth migrations/
--                   20240624145325_recreate_auth_functions.up.sql
--                   (language sql stable, set search_path to '',
--                    request.jwt.claim.<x> falling back to
--                    request.jwt.claims ->> '<x>', both nullif(..., ''))
--   * auth.users:   subset of the columns in supabase/postgres
--                   00000000000001-auth-schema.sql (+ later supabase/auth
--                   migrations), RLS enabled as in supabase/auth
--                   20240612123726_enable_rls_update_grants.up.sql,
--                   USAGE on schema auth to the API roles.
--   * storage.*:    supabase/storage migrations/tenant/0002-storage-schema.sql,
--                   0002-pathtoken-column.sql, 0007-add-public-to-buckets.sql,
--                   0012/0014 (file_size_limit, allowed_mime_types),
--                   0036-optimise-existing-functions.sql (foldername).
--
-- Privileges needed: CREATE on the database (schemas) and CREATEROLE for the
-- missing roles; creating service_role (BYPASSRLS) requires a superuser.
-- =============================================================================

DO $compat$
DECLARE
    r                record;
    v_created_role   boolean := false;  -- this run created an API role
    v_created_auth   boolean := false;  -- this run created schema auth
    v_search_path    text := pg_catalog.current_setting('search_path');
BEGIN
    -- pg_catalog's functions and operators (and now() as a default), not a
    -- look-alike that a schema before it on the database's search_path
    -- holds; the search_path comes back at the end (a dry run's files
    -- follow in the same transaction).
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
    -- Serialise concurrent compat runs on this database (released at commit).
    PERFORM pg_catalog.pg_advisory_xact_lock(7885641754961278317);

    -- -------------------------------------------------------------------------
    -- Roles (cluster-wide)
    -- -------------------------------------------------------------------------
    FOR r IN
        SELECT v.rolname, v.opts
        FROM (VALUES ('anon',          'NOLOGIN NOINHERIT'),
                     ('authenticated', 'NOLOGIN NOINHERIT'),
                     ('service_role',  'NOLOGIN NOINHERIT BYPASSRLS'))
             AS v(rolname, opts)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles
                       WHERE rolname = r.rolname) THEN
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I %s', r.rolname, r.opts);
                v_created_role := true;
                RAISE NOTICE 'supabase_compat: created role %', r.rolname;
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    -- created concurrently by another session: fine
                    NULL;
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'supabase_compat: cannot create role % (%)',
                                    r.rolname, SQLERRM
                        USING ERRCODE = 'insufficient_privilege',
                              HINT = pg_catalog.format(
                                  'Create it beforehand as a superuser: CREATE ROLE %I %s;',
                                  r.rolname, r.opts);
            END;
        END IF;
    END LOOP;

    -- -------------------------------------------------------------------------
    -- Schema auth
    -- -------------------------------------------------------------------------
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace
                   WHERE nspname = 'auth') THEN
        EXECUTE 'CREATE SCHEMA auth';
        EXECUTE $ddl$COMMENT ON SCHEMA auth IS
            'Created by momentum-maintd supabase_compat (Supabase auth stand-in)'$ddl$;
        EXECUTE 'GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role';
        v_created_auth := true;
        RAISE NOTICE 'supabase_compat: created schema auth';
    END IF;

    -- auth.users ---------------------------------------------------------------
    IF pg_catalog.to_regclass('auth.users') IS NULL THEN
        EXECUTE $ddl$
            CREATE TABLE auth.users (
                instance_id         uuid,
                id                  uuid NOT NULL,
                aud                 varchar(255),
                role                varchar(255),
                email               varchar(255),
                encrypted_password  varchar(255),
                email_confirmed_at  timestamptz,
                last_sign_in_at     timestamptz,
                raw_app_meta_data   jsonb,
                raw_user_meta_data  jsonb,
                is_super_admin      boolean,
                created_at          timestamptz DEFAULT now(),
                updated_at          timestamptz DEFAULT now(),
                phone               text,
                is_anonymous        boolean NOT NULL DEFAULT false,
                CONSTRAINT users_pkey PRIMARY KEY (id)
            )$ddl$;
        EXECUTE $ddl$COMMENT ON TABLE auth.users IS
            'Auth: Stores user login data within a secure schema. (momentum-maintd supabase_compat stand-in)'$ddl$;
        EXECUTE 'ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY';
        RAISE NOTICE 'supabase_compat: created table auth.users';
    END IF;

    -- auth.uid() ---------------------------------------------------------------
    IF pg_catalog.to_regprocedure('auth.uid()') IS NULL THEN
        EXECUTE $ddl$
            CREATE FUNCTION auth.uid()
                RETURNS uuid
                LANGUAGE sql STABLE
                SET search_path TO ''
            AS $func$
              select
                coalesce(
                  nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
                )::uuid
            $func$$ddl$;
        EXECUTE $ddl$COMMENT ON FUNCTION auth.uid() IS
            'Supabase-compatible: the request JWT "sub" claim as uuid (momentum-maintd supabase_compat)'$ddl$;
        RAISE NOTICE 'supabase_compat: created function auth.uid()';
    END IF;

    -- auth.role() --------------------------------------------------------------
    IF pg_catalog.to_regprocedure('auth.role()') IS NULL THEN
        EXECUTE $ddl$
            CREATE FUNCTION auth.role()
                RETURNS text
                LANGUAGE sql STABLE
                SET search_path TO ''
            AS $func$
              select
                coalesce(
                  nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
                )::text
            $func$$ddl$;
        EXECUTE $ddl$COMMENT ON FUNCTION auth.role() IS
            'Supabase-compatible: the request JWT "role" claim (momentum-maintd supabase_compat)'$ddl$;
        RAISE NOTICE 'supabase_compat: created function auth.role()';
    END IF;

    -- auth.email() -------------------------------------------------------------
    IF pg_catalog.to_regprocedure('auth.email()') IS NULL THEN
        EXECUTE $ddl$
            CREATE FUNCTION auth.email()
                RETURNS text
                LANGUAGE sql STABLE
                SET search_path TO ''
            AS $func$
              select
                coalesce(
                  nullif(current_setting('request.jwt.claim.email', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
                )::text
            $func$$ddl$;
        EXECUTE $ddl$COMMENT ON FUNCTION auth.email() IS
            'Supabase-compatible: the request JWT "email" claim (momentum-maintd supabase_compat)'$ddl$;
        RAISE NOTICE 'supabase_compat: created function auth.email()';
    END IF;

    -- auth.jwt() ---------------------------------------------------------------
    IF pg_catalog.to_regprocedure('auth.jwt()') IS NULL THEN
        EXECUTE $ddl$
            CREATE FUNCTION auth.jwt()
                RETURNS jsonb
                LANGUAGE sql STABLE
                SET search_path TO ''
            AS $func$
              select
                coalesce(
                  nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), '')
                )::jsonb
            $func$$ddl$;
        EXECUTE $ddl$COMMENT ON FUNCTION auth.jwt() IS
            'Supabase-compatible: all request JWT claims as jsonb (momentum-maintd supabase_compat)'$ddl$;
        RAISE NOTICE 'supabase_compat: created function auth.jwt()';
    END IF;

    -- -------------------------------------------------------------------------
    -- Schema storage
    -- -------------------------------------------------------------------------
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace
                   WHERE nspname = 'storage') THEN
        EXECUTE 'CREATE SCHEMA storage';
        EXECUTE $ddl$COMMENT ON SCHEMA storage IS
            'Created by momentum-maintd supabase_compat (Supabase storage stand-in)'$ddl$;
        EXECUTE 'GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role';
        RAISE NOTICE 'supabase_compat: created schema storage';
    END IF;

    -- storage.buckets ----------------------------------------------------------
    IF pg_catalog.to_regclass('storage.buckets') IS NULL THEN
        EXECUTE $ddl$
            CREATE TABLE storage.buckets (
                id                  text NOT NULL,
                name                text NOT NULL,
                owner               uuid,
                created_at          timestamptz DEFAULT now(),
                updated_at          timestamptz DEFAULT now(),
                public              boolean DEFAULT false,
                file_size_limit     bigint,
                allowed_mime_types  text[],
                CONSTRAINT buckets_pkey PRIMARY KEY (id)
            )$ddl$;
        EXECUTE 'CREATE UNIQUE INDEX bname ON storage.buckets USING btree (name)';
        EXECUTE 'ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY';
        EXECUTE $ddl$COMMENT ON TABLE storage.buckets IS
            'Supabase-compatible storage buckets (momentum-maintd supabase_compat stand-in)'$ddl$;
        EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON storage.buckets
                 TO anon, authenticated, service_role';
        RAISE NOTICE 'supabase_compat: created table storage.buckets';
    END IF;

    -- storage.objects ----------------------------------------------------------
    IF pg_catalog.to_regclass('storage.objects') IS NULL THEN
        EXECUTE $ddl$
            CREATE TABLE storage.objects (
                id                uuid NOT NULL DEFAULT gen_random_uuid(),
                bucket_id         text,
                name              text,
                owner             uuid,
                created_at        timestamptz DEFAULT now(),
                updated_at        timestamptz DEFAULT now(),
                last_accessed_at  timestamptz DEFAULT now(),
                metadata          jsonb,
                path_tokens       text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
                CONSTRAINT objects_pkey PRIMARY KEY (id),
                CONSTRAINT "objects_bucketId_fkey" FOREIGN KEY (bucket_id)
                    REFERENCES storage.buckets (id)
            )$ddl$;
        EXECUTE 'CREATE UNIQUE INDEX bucketid_objname ON storage.objects
                 USING btree (bucket_id, name)';
        EXECUTE 'CREATE INDEX name_prefix_search ON storage.objects
                 USING btree (name text_pattern_ops)';
        EXECUTE 'ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY';
        EXECUTE $ddl$COMMENT ON TABLE storage.objects IS
            'Supabase-compatible storage objects (momentum-maintd supabase_compat stand-in)'$ddl$;
        EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON storage.objects
                 TO anon, authenticated, service_role';
        RAISE NOTICE 'supabase_compat: created table storage.objects';
    END IF;

    -- storage.foldername(text) -------------------------------------------------
    IF pg_catalog.to_regprocedure('storage.foldername(text)') IS NULL THEN
        EXECUTE $ddl$
            CREATE FUNCTION storage.foldername(name text)
                RETURNS text[]
                LANGUAGE plpgsql
                IMMUTABLE
            AS $func$
            DECLARE
                _parts text[];
            BEGIN
                -- Split on "/" to get path segments
                SELECT string_to_array(name, '/') INTO _parts;
                -- Return everything except the last segment
                RETURN _parts[1 : array_length(_parts,1) - 1];
            END
            $func$$ddl$;
        EXECUTE $ddl$COMMENT ON FUNCTION storage.foldername(text) IS
            'Supabase-compatible: all path segments of an object name except the last (momentum-maintd supabase_compat)'$ddl$;
        RAISE NOTICE 'supabase_compat: created function storage.foldername(text)';
    END IF;

    -- -------------------------------------------------------------------------
    -- Schema public: Supabase's initial grants, plain PostgreSQL only.
    -- Applied only when this run created an API role or the auth schema, i.e.
    -- the database is not a Supabase database.  (Roles are cluster-wide, so
    -- "created the auth schema" also covers a second database in a cluster
    -- whose roles an earlier run already created.)
    -- -------------------------------------------------------------------------
    IF v_created_role OR v_created_auth THEN
        EXECUTE 'GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role';
        EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public
                 GRANT ALL ON TABLES TO anon, authenticated, service_role';
        EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public
                 GRANT ALL ON SEQUENCES TO anon, authenticated, service_role';
        EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA public
                 GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role';
        RAISE NOTICE 'supabase_compat: granted usage on schema public and default privileges in public to anon, authenticated, service_role';
    END IF;
    PERFORM pg_catalog.set_config('search_path', v_search_path, true);
END
$compat$;
