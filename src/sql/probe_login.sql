-- The probe's login, made by the daemon when verify.probe_conninfo is not
-- set and its role may create roles: LOGIN NOINHERIT, a member of the API
-- roles that exist and of nothing else, with the password @VERIFIER@ (a
-- SCRAM verifier: the cleartext never reaches the server), and INSERT on
-- auth.users for the isolation check's two users (see below).  Raises MMD02
-- when the daemon's role may not create roles, MMD03 when a role of that
-- name exists with more than that.  Runs on the daemon's own session: it
-- calls nothing but pg_catalog.
--
-- Every pass sets a new password, so two passes at once (the daemon's and
-- a "momentum-maintd verify") would each change the password the other is
-- about to log in with.  This statement takes the session advisory lock
-- @LOCK@ (objid 101 of the daemon's; verify.c) and, when it succeeds, leaves it held: the daemon lets go of it
-- once the probe has logged in (verify.c).  When it fails it holds nothing.
-- Roles are the cluster's but advisory locks the database's: passes on two
-- databases of one cluster are not kept apart (each retries nothing; the
-- probe then reports that it could not log in).
DO $login$
DECLARE
    r text;
    extra text;
BEGIN
    PERFORM pg_catalog.set_config('search_path', '', true);
    PERFORM pg_catalog.set_config('lock_timeout', '30s', true);
    BEGIN
        PERFORM pg_catalog.pg_advisory_lock(@LOCK@);
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION USING ERRCODE = 'MMD04',
            MESSAGE = 'another verification pass has been logging the probe in for 30 s (it holds the '
                      'advisory lock @LOCK@)';
    END;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            RAISE EXCEPTION USING ERRCODE = 'MMD02',
                MESSAGE = pg_catalog.format('the daemon''s role %s may not create roles', current_user);
        END IF;
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'momentum_maintd_probe') THEN
            CREATE ROLE momentum_maintd_probe LOGIN NOINHERIT;
        END IF;
        SELECT pg_catalog.string_agg(x, ', ') INTO extra FROM (
            SELECT 'SUPERUSER' AS x FROM pg_catalog.pg_roles WHERE rolname = 'momentum_maintd_probe' AND rolsuper
            UNION ALL SELECT 'CREATEROLE' FROM pg_catalog.pg_roles WHERE rolname = 'momentum_maintd_probe' AND rolcreaterole
            UNION ALL SELECT 'CREATEDB' FROM pg_catalog.pg_roles WHERE rolname = 'momentum_maintd_probe' AND rolcreatedb
            UNION ALL SELECT 'REPLICATION' FROM pg_catalog.pg_roles WHERE rolname = 'momentum_maintd_probe' AND rolreplication
            UNION ALL SELECT 'BYPASSRLS' FROM pg_catalog.pg_roles WHERE rolname = 'momentum_maintd_probe' AND rolbypassrls
            UNION ALL SELECT 'member of ' || g.rolname FROM pg_catalog.pg_auth_members m
                JOIN pg_catalog.pg_roles g ON g.oid = m.roleid JOIN pg_catalog.pg_roles u ON u.oid = m.member
                WHERE u.rolname = 'momentum_maintd_probe' AND g.rolname NOT IN ('anon', 'authenticated', 'service_role')
        ) s;
        IF extra IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'MMD03',
                MESSAGE = pg_catalog.format('the role momentum_maintd_probe exists with more than the probe may have: %s', extra);
        END IF;
        ALTER ROLE momentum_maintd_probe LOGIN NOINHERIT PASSWORD @VERIFIER@;
        FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                               WHERE m.roleid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = r)
                                 AND m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = 'momentum_maintd_probe')) THEN
                EXECUTE pg_catalog.format('GRANT %I TO momentum_maintd_probe', r);
            END IF;
        END LOOP;
        -- the isolation check's two users are written by the login itself
        -- where service_role may not: a GRANT on a table, made only where no
        -- event trigger could run code on this session
        IF pg_catalog.to_regclass('auth.users') IS NOT NULL
           AND NOT pg_catalog.has_table_privilege('momentum_maintd_probe', 'auth.users', 'INSERT')
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D') THEN
            BEGIN
                GRANT USAGE ON SCHEMA auth TO momentum_maintd_probe;
                GRANT INSERT ON auth.users TO momentum_maintd_probe;
                -- (row level security on auth.users: a policy for this login's
                -- inserts only, which the probe always rolls back)
                IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy
                               WHERE polrelid = 'auth.users'::pg_catalog.regclass AND polname = 'momentum_maintd_probe') THEN
                    CREATE POLICY momentum_maintd_probe ON auth.users AS PERMISSIVE FOR INSERT TO momentum_maintd_probe
                        WITH CHECK (true);
                END IF;
            EXCEPTION WHEN insufficient_privilege THEN
                NULL;   -- the probe's finding says what it needs
            END;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        -- (a session lock outlives the rollback of what took it)
        PERFORM pg_catalog.pg_advisory_unlock(@LOCK@);
        RAISE;
    END;
END
$login$
