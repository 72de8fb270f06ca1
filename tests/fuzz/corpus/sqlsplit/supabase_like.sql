-- =============================================================================
-- Test fixture: make a database look like an existing Supabase database.
-- =============================================================================
--
-- Load it into a FRESH database before running src/supabase_compat.sql, then
-- prove the compat step left everything alone: every object below
-- deliberately differs from what supabase_compat.sql would create, so any
-- replacement / ALTER / extra GRANT shows up in a before/after diff of
--
--   pg_dump -s -n auth -n storage
--   select rolname, rolbypassrls, rolinherit, rolcanlogin from pg_roles
--     where rolname in ('anon', 'authenticated', 'service_role');
--   select * from pg_default_acl;   and   nspacl of schema public
--
-- Distinctive markers (all contain the word "fixture"):
--   * auth.uid(), auth.role(), auth.email(), auth.jwt(): bodies that read only
--     the legacy request.jwt.claim.<x> setting (Supabase's original 2021
--     definitions) and carry a "-- fixture body" comment; function comments
--     start with "fixture:".  auth.uid() is plpgsql here (compat: sql).
--   * auth.users:      extra column fixture_marker, is_sso_user; no RLS.
--   * storage.buckets: extra column fixture_marker; no file_size_limit /
--                      allowed_mime_types; RLS NOT enabled; owner_id column.
--   * storage.objects: no path_tokens; extra version, owner_id, user_metadata,
--                      fixture_marker; unique constraint instead of index.
--   * storage.foldername(): language sql, "-- fixture body" comment.
--   * grants: USAGE on auth only to service_role, USAGE on storage to all
--     three, table privileges SELECT-only for anon; no default privileges in
--     schema public and no explicit grant on schema public.
--
-- Still compatible with migrations/001-003 (they need auth.users(id),
-- auth.uid(), auth.role(), storage.buckets(id, name, public),
-- storage.objects(bucket_id, name), storage.foldername(text)).
--
-- Plain SQL only (no psql meta-commands), so it can be sent as one query
-- string as well as run with psql -f.  Roles are cluster-wide: they are
-- created only if missing, tolerating existing / concurrently created ones.
-- =============================================================================

DO $fixture$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT v.rolname, v.opts
        FROM (VALUES ('anon',          'NOLOGIN NOINHERIT'),
                     ('authenticated', 'NOLOGIN NOINHERIT'),
                     ('service_role',  'NOLOGIN NOINHERIT BYPASSRLS'))
             AS v(rolname, opts)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.rolname) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', r.rolname, r.opts);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$fixture$;

-- ---------------------------------------------------------------------------
-- auth
-- ---------------------------------------------------------------------------
CREATE SCHEMA auth;
COMMENT ON SCHEMA auth IS 'fixture: pre-existing Supabase auth schema';
GRANT USAGE ON SCHEMA auth TO service_role;

CREATE TABLE auth.users (
    instance_id         uuid,
    id                  uuid NOT NULL,
    aud                 varchar(255),
    role                varchar(255),
    email               varchar(255),
    encrypted_password  varchar(255),
    raw_app_meta_data   jsonb,
    raw_user_meta_data  jsonb,
    created_at          timestamptz,
    updated_at          timestamptz,
    is_sso_user         boolean NOT NULL DEFAULT false,
    fixture_marker      text DEFAULT 'fixture',
    CONSTRAINT users_pkey PRIMARY KEY (id)
);
COMMENT ON TABLE auth.users IS 'fixture: pre-existing Supabase auth.users';

CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    -- fixture body
    RETURN nullif(current_setting('request.jwt.claim.sub', true), '')::uuid;
END
$$;
COMMENT ON FUNCTION auth.uid() IS 'fixture: pre-existing auth.uid()';

CREATE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE
AS $$
  -- fixture body
  select nullif(current_setting('request.jwt.claim.role', true), '')::text;
$$;
COMMENT ON FUNCTION auth.role() IS 'fixture: pre-existing auth.role()';

CREATE FUNCTION auth.email() RETURNS text
LANGUAGE sql STABLE
AS $$
  -- fixture body
  select nullif(current_setting('request.jwt.claim.email', true), '')::text;
$$;
COMMENT ON FUNCTION auth.email() IS 'fixture: pre-existing auth.email()';

CREATE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE
AS $$
  -- fixture body
  select nullif(current_setting('request.jwt.claims', true), '')::jsonb;
$$;
COMMENT ON FUNCTION auth.jwt() IS 'fixture: pre-existing auth.jwt()';

-- ---------------------------------------------------------------------------
-- storage
-- ---------------------------------------------------------------------------
CREATE SCHEMA storage;
COMMENT ON SCHEMA storage IS 'fixture: pre-existing Supabase storage schema';
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;

CREATE TABLE storage.buckets (
    id              text NOT NULL,
    name            text NOT NULL,
    owner           uuid,
    owner_id        text,
    public          boolean DEFAULT false,
    created_at      timestamptz DEFAULT now(),
    updated_at      timestamptz DEFAULT now(),
    fixture_marker  text DEFAULT 'fixture',
    CONSTRAINT buckets_pkey PRIMARY KEY (id),
    CONSTRAINT fixture_buckets_name_key UNIQUE (name)
);
COMMENT ON TABLE storage.buckets IS 'fixture: pre-existing storage.buckets';
GRANT SELECT ON storage.buckets TO anon;
GRANT ALL ON storage.buckets TO authenticated, service_role;

CREATE TABLE storage.objects (
    id                uuid NOT NULL DEFAULT gen_random_uuid(),
    bucket_id         text REFERENCES storage.buckets (id),
    name              text,
    owner             uuid,
    owner_id          text,
    created_at        timestamptz DEFAULT now(),
    updated_at        timestamptz DEFAULT now(),
    last_accessed_at  timestamptz DEFAULT now(),
    metadata          jsonb,
    user_metadata     jsonb,
    version           text,
    fixture_marker    text DEFAULT 'fixture',
    CONSTRAINT objects_pkey PRIMARY KEY (id),
    CONSTRAINT fixture_objects_bucket_name_key UNIQUE (bucket_id, name)
);
COMMENT ON TABLE storage.objects IS 'fixture: pre-existing storage.objects';
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON storage.objects TO anon;
GRANT ALL ON storage.objects TO authenticated, service_role;

CREATE FUNCTION storage.foldername(name text) RETURNS text[]
LANGUAGE sql IMMUTABLE
AS $$
  -- fixture body
  select (string_to_array(name, '/'))[1 : cardinality(string_to_array(name, '/')) - 1];
$$;
COMMENT ON FUNCTION storage.foldername(text) IS 'fixture: pre-existing storage.foldername()';
