-- The functional probe: act as the API roles the way Supabase does (SET
-- ROLE, JWT claims in request.jwt.claims) and use every table that has row
-- level security in the schemas the API exposes (exposed_schemas.sql, the
-- lints' own rule) and in storage.  Runs inside a transaction the daemon
-- always rolls back; findings go out through the transaction-local
-- setting momentum_maintd.probe (JSON), read before the rollback.  Its session user
-- is the probe's own login (LOGIN NOINHERIT, a member of anon,
-- authenticated and service_role only): code it runs that resets its role
-- lands there, and can do nothing.  A login that may act as more is refused.
--
-- 1. Every role that may read an RLS table reads it (SELECT ... LIMIT 1):
--    a policy that fails when used (42P17 infinite recursion, a bad cast of
--    the JWT subject, ...) is an error naming the table, role and message.
-- 2. With isolation (staging and development): two probe users A and B
--    are made in auth.users; every table that belongs to a user (a column
--    that references auth.users(id), directly or through another such
--    column) gets a row for A; as B, none of A's rows may be visible.
-- 3. With isolation, B also reads every view that anon or authenticated
--    may select and that may show a row of A (it reads a table this
--    transaction wrote, or runs code of the database's own): one that shows
--    A's id or one of the probe's own values is a leak named after the
--    view.  A's rows stay for it in the tables a view reads, directly,
--    through other views, or through a function it calls, or one that
--    calls (named in a PL/pgSQL body, or read by a SQL-standard one).  A
--    materialized view holds no row of A (it is not refreshed): one that
--    reads a table with row level security (but for a policy that shows
--    its reader every row), or one its reader may not read, is a leak when
--    it holds rows that B's own query of its definition does not give.
DO $probe$
DECLARE
    isolation constant boolean := @ISOLATION@;
    -- the schemas checked: those the API exposes (exposed_schemas.sql,
    -- as the lints read them) and storage (the Storage API reads it with
    -- the user's role); the only place that names them
    schemas constant text[] := @EXPOSED@ || ARRAY['storage'];
    found jsonb := '[]';
    t record;
    col record;
    r text;
    n bigint;
    subject text := gen_random_uuid()::text;
    err_detail text;
    user_a uuid := gen_random_uuid();
    user_b uuid := gen_random_uuid();
    cols text;
    vals text;
    v text;
    ok boolean;
    parents jsonb := '{}';
    isolation_ok boolean := false;
    anon_ok boolean := false;
    vw record;
    def text;
    unreadable boolean;
    stage text;
    -- the string values the probe wrote: a view that shows one shows a
    -- row of A (known exactly: data that merely looks like them is not)
    mark text;
    marks text[] := '{}';
    -- whether this transaction's writes are counted (pg_stat_get_xact_*)
    counted constant boolean := pg_catalog.current_setting('track_counts')::boolean;
    -- the locks the isolation rows hold to the probe's end, in the lock
    -- table every session shares: a sequence a row's default draws from
    -- (PostgreSQL keeps its lock to the end of the transaction, even when
    -- the subtransaction that drew is rolled back), and a kept row's table
    -- and indexes.  At most four times max_locks_per_transaction (the
    -- table holds that many for each connection): no row is made for a
    -- table beyond that.
    lock_budget constant int := pg_catalog.current_setting('max_locks_per_transaction')::int * 4;
    locks_held int := 0;
    lock_cost int;
    unmade int := 0;
    -- the app's queries run with the connection's default search_path;
    -- the probe's own names are all qualified
    app_path text := (SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'search_path');
    -- the isolation rows are written as service_role where the login may
    -- act as it, else as the login itself
    writer text := 'none';
    powers text;
    -- A CHECK constraint's first allowed value for a column, read from its
    -- definition as PostgreSQL prints it ("col = ANY (ARRAY['v', ...])", or
    -- "col = 'v'" for one value) with this fixed pattern, which reads it
    -- token by token: a quoted name or a string literal is taken whole, so
    -- no name is mistaken for SQL.  Group 1 is the name in front of the
    -- "=", compared with quote_ident(attname); group 2 the value, its
    -- quotes still doubled.  (No pattern is ever built from a name.)
    check_value constant text :=
        '("(?:[^"]|"")*"|[a-z_][a-z0-9_$]*)(?:\)::[a-z ]+)? = (?:ANY \(\(?ARRAY\[)?''((?:[^'']|'''')*)'''
        '|"(?:[^"]|"")*"|''(?:[^'']|'''')*''';
BEGIN
    PERFORM pg_catalog.set_config('search_path', '', true);

    -- nothing the probe runs may gain a privilege: not from its login, nor
    -- from a role the login may become
    SELECT pg_catalog.string_agg(x.rolname, ', ' ORDER BY x.rolname) INTO powers FROM (
        SELECT g.rolname FROM pg_catalog.pg_roles g
        WHERE pg_catalog.pg_has_role(session_user, g.oid, 'MEMBER')
          AND (g.rolsuper OR g.rolcreaterole OR g.rolcreatedb OR g.rolreplication
               OR g.rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files',
                                'pg_signal_backend', 'pg_write_all_data'))
        ORDER BY g.rolname LIMIT 3) x;
    IF powers IS NOT NULL THEN
        found := found || pg_catalog.jsonb_build_object(
            'check_name', 'probe_unchecked', 'level', 'warn', 'object', 'momentum-maintd probe',
            'detail', pg_catalog.format('the probe does not run: its login %s may act as %s, whose privileges a policy or trigger could use',
                                        session_user, powers),
            'remedy', 'connect the probe (verify.probe_conninfo) as a LOGIN NOINHERIT role that is a member of anon, authenticated and service_role only');
        PERFORM pg_catalog.set_config('momentum_maintd.probe', found::text, true);
        RETURN;
    END IF;

    anon_ok := EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'anon')
               AND pg_catalog.pg_has_role('anon', 'MEMBER');
    -- the probe's login must be able to act as the API roles
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) AND NOT pg_catalog.pg_has_role(r, 'MEMBER') THEN
            found := found || pg_catalog.jsonb_build_object(
                'check_name', 'probe_unchecked', 'level', 'info', 'object', r,
                'detail', pg_catalog.format('the probe cannot act as %s: its login %s is not a member of it', r, session_user),
                'remedy', pg_catalog.format('GRANT %I TO %I', r, session_user));
        END IF;
    END LOOP;

    -- 1. each RLS table, as each API role that may read it.  Each read runs
    -- in a subtransaction that is rolled back even when the read succeeds
    -- (it raises MMD01): its locks go with it, so the probe holds a few
    -- locks whatever the number of tables (max_locks_per_transaction).
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)
                   OR NOT pg_catalog.pg_has_role(r, 'MEMBER');
        PERFORM pg_catalog.set_config('request.jwt.claims', CASE r WHEN 'anon' THEN '{"role": "anon"}'
            ELSE pg_catalog.json_build_object('sub', subject, 'role', r, 'aud', r)::text END, true);
        PERFORM pg_catalog.set_config('request.jwt.claim.sub', CASE r WHEN 'anon' THEN '' ELSE subject END, true);
        PERFORM pg_catalog.set_config('request.jwt.claim.role', r, true);
        -- tables whose policies read the same (command, roles, expressions)
        -- behave the same: one of each group is read, and a failure is
        -- reported for every table of its group.  Tables are first grouped
        -- by the policies' stored node trees, which costs nothing; only one
        -- table of each such group has its policies deparsed (pg_get_expr
        -- opens the table), and groups that read the same are merged.  (Equal
        -- trees deparse the same but for column names: the same columns by
        -- number and type, so the same reads.)
        FOR t IN
            WITH tabs AS (
                SELECT c.oid, pg_catalog.format('%I.%I', ns.nspname, c.relname) AS obj,
                       -- (rows and arrays as text quote what they hold)
                       ARRAY(SELECT ROW(p.polcmd, p.polpermissive, p.polroles, p.polqual::text,
                                        p.polwithcheck::text)::text AS pol
                             FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid ORDER BY pol)::text AS trees
                FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND ns.nspname = ANY (schemas)
                  AND pg_catalog.has_table_privilege(r, c.oid, 'SELECT')
            ), same_trees AS (
                SELECT (pg_catalog.array_agg(oid ORDER BY obj))[1] AS first,
                       pg_catalog.array_agg(obj ORDER BY obj) AS members
                FROM tabs GROUP BY trees
            ), same_text AS (
                SELECT g.members,
                       ARRAY(SELECT ROW(p.polcmd, p.polpermissive, p.polroles, pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                                        pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))::text AS pol
                             FROM pg_catalog.pg_policy p WHERE p.polrelid = g.first ORDER BY pol)::text AS policies
                FROM same_trees g
            )
            SELECT pg_catalog.min(m.obj) AS obj, pg_catalog.array_agg(m.obj ORDER BY m.obj) AS members
            FROM same_text g, pg_catalog.unnest(g.members) AS m(obj) GROUP BY g.policies ORDER BY 1
        LOOP
            BEGIN
                PERFORM pg_catalog.set_config('search_path', app_path, true);
                EXECUTE pg_catalog.format('SET LOCAL ROLE %I', r);
                EXECUTE pg_catalog.format('SELECT count(*) FROM (SELECT FROM %s LIMIT 1) s', t.obj) INTO n;
                RAISE SQLSTATE 'MMD01';
            EXCEPTION
                WHEN SQLSTATE 'MMD01' THEN
                    NULL;   -- it worked; role, search_path and locks are rolled back
                WHEN lock_not_available THEN
                    -- busy (a migration?): not read this time
                    found := found || pg_catalog.jsonb_build_object(
                        'check_name', 'probe_skipped', 'level', 'info',
                        'object', pg_catalog.format('%s (as %s)', t.obj, r),
                        'detail', 'not read: a lock was not granted within the lock timeout; the next pass reads it',
                        'remedy', 'nothing, unless it repeats: then look for what holds locks on the table');
                WHEN query_canceled THEN
                    -- statement_timeout (or a cancel at shutdown): what was
                    -- found so far is kept, the rest is not checked
                    found := found || pg_catalog.jsonb_build_object(
                        'check_name', 'probe_timeout', 'level', 'warn',
                        'object', 'momentum-maintd probe',
                        'detail', pg_catalog.format('the probe stopped at %s (as %s): statement timeout; later tables were not read',
                                                    t.obj, r),
                        'remedy', 'look for long locks or slow policies on that table');
                    PERFORM pg_catalog.set_config('momentum_maintd.probe', found::text, true);
                    RETURN;
                WHEN OTHERS THEN
                    -- the server's DETAIL too: from PostgreSQL 16 on, a
                    -- permission error names the role it needs only there
                    GET STACKED DIAGNOSTICS err_detail = PG_EXCEPTION_DETAIL;
                    found := found || (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'check_name', 'probe_policy_error', 'level', 'error',
                        'object', pg_catalog.format('%s (as %s)', m.obj, r),
                        'detail', pg_catalog.format('SELECT as %s fails: ERROR %s: %s', r, SQLSTATE, SQLERRM)
                                  || CASE WHEN coalesce(err_detail, '') = '' THEN ''
                                     ELSE pg_catalog.format(' (%s)', err_detail) END
                                  || CASE WHEN m.obj = t.obj THEN '' ELSE
                                     pg_catalog.format(' (read on %s, whose policies are the same)', t.obj) END,
                        'remedy', CASE SQLSTATE WHEN '42P17' THEN
                            'a policy queries a table whose policies query it back: move the lookup into a SECURITY DEFINER function with SET search_path = '''', in a schema the API does not expose, and call it from the policies (as migrations 004 and 005 do)'
                            ELSE 'fix the table''s policies so this query succeeds' END))
                        FROM pg_catalog.unnest(t.members) AS m(obj));
            END;
        END LOOP;
    END LOOP;

    -- (to_regclass raises when the schema may not be used: test that first,
    -- as the role that writes the rows)
    IF isolation AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'service_role')
       AND pg_catalog.pg_has_role(session_user, 'service_role', 'MEMBER') THEN
        writer := 'service_role';
    END IF;
    PERFORM pg_catalog.set_config('role', writer, true);
    IF isolation AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated')
       AND pg_catalog.pg_has_role(session_user, 'authenticated', 'MEMBER')
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'auth') THEN
        isolation_ok := pg_catalog.has_schema_privilege('auth', 'USAGE')
                        AND pg_catalog.to_regclass('auth.users') IS NOT NULL;
    END IF;
    IF NOT isolation_ok THEN
        PERFORM pg_catalog.set_config('momentum_maintd.probe', found::text, true);
        RETURN;
    END IF;

    -- 2. isolation: rows of user A, read as user B.  A's rows are made as
    -- A's requests would be (A's claims, the app's search_path), so that
    -- triggers and defaults that use auth.uid() see A.
    PERFORM pg_catalog.set_config('request.jwt.claims',
        pg_catalog.json_build_object('sub', user_a, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
    PERFORM pg_catalog.set_config('request.jwt.claim.sub', user_a::text, true);
    PERFORM pg_catalog.set_config('request.jwt.claim.role', 'authenticated', true);
    BEGIN
        -- service_role where it may; else the login itself (the daemon's
        -- login is granted INSERT on auth.users for this)
        IF writer = 'none' OR NOT pg_catalog.has_table_privilege(writer, 'auth.users', 'INSERT') THEN
            PERFORM pg_catalog.set_config('role', 'none', true);
        END IF;
        PERFORM pg_catalog.set_config('search_path', app_path, true);
        INSERT INTO auth.users (id, email)
        VALUES (user_a, 'probe-a-' || user_a || '@momentum-maintd.invalid'),
               (user_b, 'probe-b-' || user_b || '@momentum-maintd.invalid');
        PERFORM pg_catalog.set_config('role', writer, true);
    EXCEPTION WHEN OTHERS THEN
        found := found || pg_catalog.jsonb_build_object(
            'check_name', 'probe_isolation_unchecked', 'level', 'info', 'object', 'auth.users',
            'detail', pg_catalog.format('cannot make the probe users: ERROR %s: %s', SQLSTATE, SQLERRM),
            'remedy', pg_catalog.format('GRANT USAGE ON SCHEMA auth TO %1$I; GRANT INSERT ON auth.users TO %1$I; with row level security on auth.users, also CREATE POLICY %1$I ON auth.users FOR INSERT TO %1$I WITH CHECK (true) (the probe''s login writes its two users, and always rolls back)',
                                        session_user));
        PERFORM pg_catalog.set_config('momentum_maintd.probe', found::text, true);
        RETURN;
    END;
    PERFORM pg_catalog.set_config('search_path', '', true);

    -- the planner underestimates the recursion and picks a nested loop that
    -- reads every pair of constraints: off for this one query
    PERFORM pg_catalog.set_config('enable_nestloop', 'off', true);
    FOR t IN
        SELECT * FROM (
        WITH RECURSIVE own(relid, attnum, depth) AS (
            SELECT con.conrelid, con.conkey[1], 1
            FROM pg_catalog.pg_constraint con
            JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = con.confkey[1]
            WHERE con.contype = 'f' AND pg_catalog.cardinality(con.conkey) = 1
              AND con.confrelid = 'auth.users'::pg_catalog.regclass AND a.attname = 'id'
            UNION
            SELECT con.conrelid, con.conkey[1], own.depth + 1
            FROM pg_catalog.pg_constraint con JOIN own ON con.confrelid = own.relid AND con.confkey[1] = own.attnum
            WHERE con.contype = 'f' AND pg_catalog.cardinality(con.conkey) = 1 AND own.depth < 8
        ), owned AS (
            SELECT DISTINCT ON (relid) relid, attnum, depth FROM own ORDER BY relid, depth, attnum
        ), view_funcs AS MATERIALIZED (
            -- the functions views call, outside pg_catalog: PostgreSQL
            -- records no dependency on what a PL/pgSQL body reads, so a
            -- table is taken as read by one when its body names it.
            -- Called by a view, or by the operator a view uses, or by such
            -- a function (named in its body, or, for a SQL-standard body,
            -- recorded).  (Read once: inlined, it was read again for
            -- every table.)
            WITH RECURSIVE reached(oid) AS (
                SELECT base.oid FROM (
                    SELECT d.refobjid AS oid FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                      AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                    UNION
                    SELECT o.oprcode::pg_catalog.oid FROM pg_catalog.pg_depend d
                    JOIN pg_catalog.pg_operator o ON o.oid = d.refobjid
                    WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                      AND d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass) base
                UNION
                SELECT p2.oid FROM reached r
                JOIN pg_catalog.pg_proc p1 ON p1.oid = r.oid AND p1.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace
                JOIN pg_catalog.pg_proc p2 ON p2.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace AND p2.oid <> p1.oid
                WHERE pg_catalog.strpos(pg_catalog.lower(p1.prosrc), pg_catalog.lower(p2.proname)) > 0
                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend fd
                              WHERE fd.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND fd.objid = p1.oid
                                AND fd.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND fd.refobjid = p2.oid)
            )
            SELECT DISTINCT p.oid, pg_catalog.lower(p.prosrc) AS src
            FROM reached r JOIN pg_catalog.pg_proc p ON p.oid = r.oid
            WHERE p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace
        ), view_texts AS MATERIALIZED (
            -- the definitions of the views that call a function of the
            -- database's own: a table named there may be one it reads with
            -- dynamic SQL (SELECT * FROM owners_of('api_keys'); the stored
            -- tree holds the constant as bytes)
            SELECT DISTINCT pg_catalog.lower(pg_catalog.pg_get_viewdef(rw.ev_class)) AS src
            FROM pg_catalog.pg_rewrite rw
            JOIN pg_catalog.pg_class vc ON vc.oid = rw.ev_class AND vc.relkind IN ('v', 'm')
            JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                                       AND d.objid = rw.oid
                                       AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
            JOIN view_funcs f ON f.oid = d.refobjid
        ), referenced AS (
            SELECT DISTINCT fk.confrelid AS relid FROM pg_catalog.pg_constraint fk
            WHERE fk.contype = 'f' AND fk.confrelid <> fk.conrelid
        ), cand AS (
            SELECT o.relid, o.depth, a.attname AS owner_col, c.relrowsecurity AS rls,
                   pg_catalog.format('%I.%I', ns.nspname, c.relname) AS obj,
                   ref.relid IS NOT NULL AS parent,
                   -- read by a view (or a rule), or by a function one calls:
                   -- its row of A is kept for part 3
                   -- (or by one that reads its parent: a child's rows show in it)
                   (EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                            WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = o.relid
                              AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass)
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_depend d
                                 ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = i.inhparent
                                AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                               WHERE i.inhrelid = o.relid)
                    OR EXISTS (SELECT 1 FROM view_texts vt
                               WHERE pg_catalog.strpos(vt.src, pg_catalog.lower(c.relname)) > 0)
                    OR EXISTS (SELECT 1 FROM view_funcs f
                               WHERE pg_catalog.strpos(f.src, pg_catalog.lower(c.relname)) > 0
                                  OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend fd
                                             WHERE fd.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                                               AND fd.objid = f.oid
                                               AND fd.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                               AND fd.refobjid = o.relid))) AS viewed
            FROM owned o JOIN pg_catalog.pg_class c ON c.oid = o.relid
            LEFT JOIN referenced ref ON ref.relid = o.relid
            JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = o.relid AND a.attnum = o.attnum
            WHERE ns.nspname = ANY (schemas) AND c.relkind IN ('r', 'p')
        ), keyed AS (
            -- a table that others reference or a view reads is made for
            -- itself; the others
            -- are grouped by what the probe does with them (owner column,
            -- columns, constraints, policies): one of each group is checked.
            -- (Rows and arrays as text quote what they hold, unlike text
            -- joined with separators that names may hold.)
            SELECT cand.*, CASE WHEN cand.parent OR cand.viewed THEN cand.relid::text ELSE ROW(
                       cand.owner_col, cand.rls,
                       pg_catalog.has_table_privilege('authenticated', cand.relid, 'SELECT'),
                       ARRAY(SELECT ROW(at.attname, at.atttypid, at.attnotnull, at.atthasdef, at.attidentity,
                                        at.attgenerated)::text
                             FROM pg_catalog.pg_attribute at
                             WHERE at.attrelid = cand.relid AND at.attnum > 0 AND NOT at.attisdropped
                             ORDER BY at.attnum),
                       ARRAY(SELECT pg_catalog.pg_get_constraintdef(k.oid) AS def
                             FROM pg_catalog.pg_constraint k WHERE k.conrelid = cand.relid ORDER BY def),
                       ARRAY(SELECT ROW(p.polcmd, p.polpermissive, p.polroles, pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                                        pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))::text AS pol
                             FROM pg_catalog.pg_policy p WHERE p.polrelid = cand.relid ORDER BY pol))::text END AS grp
            FROM cand
        )
        SELECT DISTINCT ON (k.grp) k.relid, k.depth, k.owner_col, k.rls, k.obj, k.parent, k.viewed,
               pg_catalog.array_agg(k.obj) OVER (PARTITION BY k.grp ORDER BY k.obj
                   ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS members
        FROM keyed k
        ORDER BY k.grp, k.obj
        ) groups ORDER BY depth, obj
    LOOP
        PERFORM pg_catalog.set_config('enable_nestloop', 'on', true);
        -- (serial and identity columns: sequences owned by the table)
        lock_cost := (SELECT pg_catalog.count(*) FROM pg_catalog.pg_depend d
                      WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = t.relid
                        AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')
                        AND EXISTS (SELECT 1 FROM pg_catalog.pg_class sq WHERE sq.oid = d.objid AND sq.relkind = 'S'))
                     + CASE WHEN t.parent OR t.viewed
                            THEN 1 + (SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = t.relid)
                            ELSE 0 END;
        IF locks_held + lock_cost > lock_budget THEN
            unmade := unmade + pg_catalog.cardinality(t.members);
            CONTINUE;
        END IF;
        locks_held := locks_held + lock_cost;
        -- a row for A: the owner column, and a value for every column that
        -- needs one (NOT NULL without a default)
        cols := pg_catalog.quote_ident(t.owner_col);
        vals := pg_catalog.quote_literal(user_a);
        ok := true;
        FOR col IN
            SELECT a.attname, a.atttypid, ty.typcategory, ty.typtype,
                   fk.relid::text || '/' || fk.attnum::text AS parent, fk.relid AS parent_rel,
                   fk.tab AS parent_tab, fk.col AS parent_col,
                   (SELECT pg_catalog.replace(m[2], '''''', '''')
                    FROM pg_catalog.pg_constraint ck,
                         pg_catalog.regexp_matches(pg_catalog.pg_get_constraintdef(ck.oid), check_value, 'g') m
                    WHERE ck.conrelid = t.relid AND ck.contype = 'c' AND a.attnum = ANY (ck.conkey)
                      AND m[1] = pg_catalog.quote_ident(a.attname)
                    LIMIT 1) AS allowed
            FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
            -- the referenced table and column, each a name of its own
            LEFT JOIN LATERAL (
                SELECT con.confrelid AS relid, con.confkey[1] AS attnum,
                       pg_catalog.format('%I.%I', fns.nspname, fc.relname) AS tab,
                       pg_catalog.quote_ident(fa.attname) AS col
                FROM pg_catalog.pg_constraint con
                JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
                JOIN pg_catalog.pg_namespace fns ON fns.oid = fc.relnamespace
                JOIN pg_catalog.pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1]
                WHERE con.conrelid = t.relid AND con.contype = 'f' AND con.conkey = ARRAY[a.attnum]
                LIMIT 1) fk ON true
            WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
              AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
              AND a.attname <> t.owner_col
            ORDER BY a.attnum
        LOOP
            v := NULL;
            IF col.parent IS NOT NULL THEN
                -- a parent row: one the probe made, or a new one with the
                -- same rules (parents without required references only)
                v := parents ->> col.parent;
                IF v IS NULL THEN
                    DECLARE
                        ptab text := col.parent_tab;
                        pcol text := col.parent_col;
                        pcols text := '';
                        pvals text := '';
                        pc record;
                    BEGIN
                        FOR pc IN
                            SELECT a.attname, ty.typcategory, ty.typtype, a.atttypid,
                                   (SELECT pg_catalog.replace(m[2], '''''', '''')
                                    FROM pg_catalog.pg_constraint ck,
                                         pg_catalog.regexp_matches(pg_catalog.pg_get_constraintdef(ck.oid), check_value, 'g') m
                                    WHERE ck.conrelid = col.parent_rel AND ck.contype = 'c' AND a.attnum = ANY (ck.conkey)
                                      AND m[1] = pg_catalog.quote_ident(a.attname)
                                    LIMIT 1) AS allowed
                            FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
                            WHERE a.attrelid = col.parent_rel AND a.attnum > 0 AND NOT a.attisdropped
                              AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
                        LOOP
                            mark := 'momentum-maintd-probe-' || pg_catalog.left(gen_random_uuid()::text, 8);
                            IF pc.typcategory = 'S' THEN
                                marks := marks || mark;
                            END IF;
                            pcols := pcols || CASE WHEN pcols = '' THEN '' ELSE ', ' END || pg_catalog.quote_ident(pc.attname);
                            pvals := pvals || CASE WHEN pvals = '' THEN '' ELSE ', ' END ||
                                CASE WHEN pc.allowed IS NOT NULL THEN pg_catalog.quote_literal(pc.allowed)
                                     WHEN pc.atttypid = 'uuid'::pg_catalog.regtype THEN 'gen_random_uuid()'
                                     WHEN pc.typcategory = 'S' THEN pg_catalog.quote_literal(mark)
                                     WHEN pc.typcategory = 'N' THEN '1'
                                     WHEN pc.typcategory = 'B' THEN 'false'
                                     WHEN pc.typcategory = 'D' THEN 'now()'
                                     WHEN pc.typcategory = 'A' THEN '''{}'''
                                     WHEN pc.atttypid IN ('jsonb'::pg_catalog.regtype, 'json'::pg_catalog.regtype) THEN '''{}'''
                                     ELSE NULL END;
                        END LOOP;
                        IF pvals IS NULL THEN
                            RAISE EXCEPTION 'no value for a required column of %', ptab;
                        END IF;
                        EXECUTE pg_catalog.format('INSERT INTO %s %s %s RETURNING %s::text', ptab,
                            CASE WHEN pcols = '' THEN '' ELSE '(' || pcols || ')' END,
                            CASE WHEN pcols = '' THEN 'DEFAULT VALUES' ELSE 'VALUES (' || pvals || ')' END, pcol) INTO v;
                        parents := parents || pg_catalog.jsonb_build_object(col.parent, v);
                    EXCEPTION WHEN OTHERS THEN
                        v := NULL;
                    END;
                END IF;
                v := CASE WHEN v IS NULL THEN NULL ELSE pg_catalog.quote_literal(v) END;
            ELSIF col.allowed IS NOT NULL THEN
                v := pg_catalog.quote_literal(col.allowed);
            ELSIF col.atttypid = 'uuid'::pg_catalog.regtype THEN
                v := 'gen_random_uuid()';
            ELSIF col.typtype = 'e' THEN
                SELECT pg_catalog.quote_literal(e.enumlabel) INTO v FROM pg_catalog.pg_enum e
                WHERE e.enumtypid = col.atttypid ORDER BY e.enumsortorder LIMIT 1;
            ELSIF col.typcategory = 'S' THEN
                mark := 'momentum-maintd-probe-' || pg_catalog.left(gen_random_uuid()::text, 8);
                marks := marks || mark;
                v := pg_catalog.quote_literal(mark);
            ELSIF col.typcategory = 'N' THEN
                v := '1';
            ELSIF col.typcategory = 'B' THEN
                v := 'false';
            ELSIF col.typcategory = 'D' THEN
                v := 'now()';
            ELSIF col.typcategory = 'A' OR col.atttypid IN ('jsonb'::pg_catalog.regtype, 'json'::pg_catalog.regtype) THEN
                v := '''{}''';
            END IF;
            IF v IS NULL THEN
                ok := false;
                found := found || pg_catalog.jsonb_build_object(
                    'check_name', 'probe_isolation_unchecked', 'level', 'info', 'object', t.obj,
                    'detail', pg_catalog.format('isolation not checked: no probe value for the required column %I', col.attname),
                    'remedy', 'give the column a default, or check this table''s isolation with your own test');
                EXIT;
            END IF;
            cols := cols || ', ' || pg_catalog.quote_ident(col.attname);
            vals := vals || ', ' || v;
        END LOOP;
        CONTINUE WHEN NOT ok;
        -- A's row, and B's read of it, in a subtransaction rolled back at
        -- its end (MMD01) unless other tables' rows need this one
        BEGIN
            stage := 'insert';
            PERFORM pg_catalog.set_config('request.jwt.claims',
                pg_catalog.json_build_object('sub', user_a, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
            PERFORM pg_catalog.set_config('request.jwt.claim.sub', user_a::text, true);
            PERFORM pg_catalog.set_config('search_path', app_path, true);
            EXECUTE pg_catalog.format('INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING', t.obj, cols, vals);
            -- (a trigger may have made A's row already: either way it must be there)
            EXECUTE pg_catalog.format('SELECT count(*) FROM %s WHERE %I = $1', t.obj, t.owner_col) INTO n USING user_a;
            PERFORM pg_catalog.set_config('search_path', '', true);
            IF n = 0 THEN
                RAISE EXCEPTION 'the row was not made (a conflict with an existing row?)';
            END IF;
            stage := 'read';
            IF t.rls AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated')
               AND pg_catalog.has_table_privilege('authenticated', t.relid, 'SELECT') THEN
                PERFORM pg_catalog.set_config('request.jwt.claims',
                    pg_catalog.json_build_object('sub', user_b, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
                PERFORM pg_catalog.set_config('request.jwt.claim.sub', user_b::text, true);
                PERFORM pg_catalog.set_config('request.jwt.claim.role', 'authenticated', true);
                PERFORM pg_catalog.set_config('search_path', app_path, true);
                SET LOCAL ROLE authenticated;
                EXECUTE pg_catalog.format('SELECT count(*) FROM %s WHERE %I = $1', t.obj, t.owner_col) INTO n USING user_a;
                PERFORM pg_catalog.set_config('role', writer, true);
                PERFORM pg_catalog.set_config('search_path', '', true);
                IF n > 0 THEN
                    found := found || (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                        'check_name', 'probe_isolation_leak', 'level', 'error', 'object', m.obj,
                        'detail', pg_catalog.format('an authenticated user sees %s row(s) that belong to another user (%s)',
                                                    n, t.owner_col)
                                  || CASE WHEN m.obj = t.obj THEN '' ELSE
                                     pg_catalog.format(' (checked on %s, which is made and guarded the same)', t.obj) END,
                        'remedy', pg_catalog.format('limit the table''s SELECT policies to the row''s owner, e.g. USING ((select auth.uid()) = %I)',
                                                    t.owner_col)))
                        FROM pg_catalog.unnest(t.members) AS m(obj));
                END IF;
            END IF;
            IF NOT t.parent AND NOT t.viewed THEN
                RAISE SQLSTATE 'MMD01';
            END IF;
        EXCEPTION
            WHEN SQLSTATE 'MMD01' THEN
                NULL;
            WHEN query_canceled THEN
                found := found || pg_catalog.jsonb_build_object(
                    'check_name', 'probe_timeout', 'level', 'warn', 'object', 'momentum-maintd probe',
                    'detail', pg_catalog.format('the isolation check stopped at %s: statement timeout; later tables were not checked',
                                                t.obj),
                    'remedy', 'look for long locks or slow policies on that table');
                PERFORM pg_catalog.set_config('momentum_maintd.probe', found::text, true);
                RETURN;
            WHEN lock_not_available THEN
                found := found || pg_catalog.jsonb_build_object(
                    'check_name', 'probe_skipped', 'level', 'info', 'object', t.obj,
                    'detail', 'isolation not checked: a lock was not granted within the lock timeout; the next pass checks it',
                    'remedy', 'nothing, unless it repeats: then look for what holds locks on the table');
            WHEN OTHERS THEN
                IF stage = 'insert' THEN
                    found := found || pg_catalog.jsonb_build_object(
                        'check_name', 'probe_isolation_unchecked', 'level', 'info', 'object', t.obj,
                        'detail', pg_catalog.format('isolation not checked: cannot make a probe row: ERROR %s: %s', SQLSTATE, SQLERRM),
                        'remedy', 'give the probe''s required columns defaults, or check this table''s isolation with your own test');
                END IF;
                -- a read that fails is reported by the first part
        END;
    END LOOP;

    IF unmade > 0 THEN
        found := found || pg_catalog.jsonb_build_object(
            'check_name', 'probe_isolation_unchecked', 'level', 'info', 'object', 'momentum-maintd probe',
            'detail', pg_catalog.format('isolation not checked for %s table(s), nor for the views over them: their rows '
                                        'would hold more than %s locks (4 x max_locks_per_transaction) to the probe''s end, '
                                        'in the lock table that every session shares', unmade, lock_budget),
            'remedy', 'raise max_locks_per_transaction (a server restart), or check those tables'' isolation with '
                      'your own test');
    END IF;

    -- 3. views and materialized views, read as B (as anon where only anon
    -- may read one), each in a subtransaction rolled back at once
    PERFORM pg_catalog.set_config('role', writer, true);
    PERFORM pg_catalog.set_config('search_path', '', true);
    FOR vw IN
        WITH RECURSIVE below(top, relid) AS (
            -- what each view and materialized view reads, through views,
            -- and the partitions and inheritance children of what it reads
            -- (their rows are counted on them)
            SELECT c.oid, c.oid FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm') AND ns.nspname = ANY (schemas)
            UNION
            SELECT below.top, e.dst
            FROM below JOIN (
                SELECT rw.ev_class AS src, d.refobjid AS dst
                FROM pg_catalog.pg_rewrite rw
                JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                                           AND d.objid = rw.oid
                                           AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                           AND d.refobjid <> rw.ev_class
                UNION ALL
                SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i) e ON e.src = below.relid
        ), calls AS (
            -- the views that use a function, operator or type of the
            -- database's own, here or in a view below: its code may read
            -- anything
            SELECT DISTINCT b.top FROM below b
            JOIN pg_catalog.pg_rewrite rw ON rw.ev_class = b.relid
            JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = rw.oid
            WHERE d.refclassid <> 'pg_catalog.pg_class'::pg_catalog.regclass
              AND NOT (d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                       AND EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
                                   WHERE p.oid = d.refobjid AND p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace)
                       OR d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass
                       AND EXISTS (SELECT 1 FROM pg_catalog.pg_operator o
                                   WHERE o.oid = d.refobjid AND o.oprnamespace = 'pg_catalog'::pg_catalog.regnamespace)
                       OR d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass
                       AND EXISTS (SELECT 1 FROM pg_catalog.pg_type ty
                                   WHERE ty.oid = d.refobjid AND ty.typnamespace = 'pg_catalog'::pg_catalog.regnamespace)
                       OR d.refclassid = 'pg_catalog.pg_collation'::pg_catalog.regclass
                       AND EXISTS (SELECT 1 FROM pg_catalog.pg_collation co
                                   WHERE co.oid = d.refobjid AND co.collnamespace = 'pg_catalog'::pg_catalog.regnamespace))
        )
        SELECT * FROM (
            SELECT c.oid, c.relkind, pg_catalog.format('%I.%I', ns.nspname, c.relname) AS obj,
                   coalesce((SELECT o.option_value::boolean FROM pg_catalog.pg_options_to_table(c.reloptions) o
                             WHERE o.option_name = 'security_invoker'), false) AS invoker,
                   CASE WHEN pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT') THEN 'authenticated'
                        WHEN CASE WHEN anon_ok THEN pg_catalog.has_table_privilege('anon', c.oid, 'SELECT') ELSE false END
                        THEN 'anon' END AS reader
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm') AND ns.nspname = ANY (schemas)) v
        WHERE v.reader IS NOT NULL
          -- a view shows a row of A when it reads a table this transaction
          -- wrote (A's rows, and what their triggers wrote), or when code
          -- of the database's own runs in it; a view of other data only
          -- (reference data, however large) is not read.  (Without
          -- track_counts, what was written is not known: every view is read.)
          AND (v.relkind = 'v' AND (NOT counted OR v.oid IN (SELECT calls.top FROM calls) OR EXISTS (
                SELECT 1 FROM below b WHERE b.top = v.oid AND b.relid <> v.oid
                  AND pg_catalog.pg_stat_get_xact_tuples_inserted(b.relid)
                      + pg_catalog.pg_stat_get_xact_tuples_updated(b.relid) > 0))
          -- a materialized view that reads only what its reader may read
          -- in full (no row level security, or a policy that lets it read
          -- every row and none that holds any back) differs from its query
          -- only by being stale
            OR v.relkind = 'm' AND EXISTS (
                SELECT 1 FROM below b JOIN pg_catalog.pg_class rd ON rd.oid = b.relid
                WHERE b.top = v.oid AND b.relid <> v.oid
                  AND (NOT pg_catalog.has_table_privilege(v.reader, rd.oid, 'SELECT')
                       OR rd.relrowsecurity AND NOT (
                           EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                                   WHERE p.polrelid = rd.oid AND p.polpermissive AND p.polcmd IN ('r', '*')
                                     AND (0::pg_catalog.oid = ANY (p.polroles) OR EXISTS (
                                          SELECT 1 FROM pg_catalog.unnest(p.polroles) pr(role)
                                          WHERE pg_catalog.pg_has_role(v.reader, pr.role, 'MEMBER')))
                                     AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true')
                           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
                                   WHERE p.polrelid = rd.oid AND NOT p.polpermissive AND p.polcmd IN ('r', '*')
                                     AND (0::pg_catalog.oid = ANY (p.polroles) OR EXISTS (
                                          SELECT 1 FROM pg_catalog.unnest(p.polroles) pr(role)
                                          WHERE pg_catalog.pg_has_role(v.reader, pr.role, 'MEMBER'))))))))
        ORDER BY v.obj
    LOOP
        BEGIN
            -- (the definition as PostgreSQL prints it, every name qualified)
            def := pg_catalog.rtrim(pg_catalog.pg_get_viewdef(vw.oid), ';');
            unreadable := false;
            IF vw.reader = 'authenticated' THEN
                PERFORM pg_catalog.set_config('request.jwt.claims',
                    pg_catalog.json_build_object('sub', user_b, 'role', 'authenticated', 'aud', 'authenticated')::text, true);
                PERFORM pg_catalog.set_config('request.jwt.claim.sub', user_b::text, true);
            ELSE
                PERFORM pg_catalog.set_config('request.jwt.claims', '{"role": "anon"}', true);
                PERFORM pg_catalog.set_config('request.jwt.claim.sub', '', true);
            END IF;
            PERFORM pg_catalog.set_config('request.jwt.claim.role', vw.reader, true);
            PERFORM pg_catalog.set_config('search_path', app_path, true);
            EXECUTE pg_catalog.format('SET LOCAL ROLE %I', vw.reader);
            IF vw.relkind = 'v' THEN
                -- A's rows: the rows that hold A's id or one of the probe's
                -- values (the common prefix first, which is cheap)
                EXECUTE pg_catalog.format(
                    'SELECT pg_catalog.count(*) FROM %s v, LATERAL (SELECT ROW(v.*)::text AS r) x '
                    'WHERE pg_catalog.strpos(x.r, $1) > 0 OR (pg_catalog.strpos(x.r, $2) > 0 AND EXISTS ('
                    'SELECT FROM pg_catalog.unnest($3) m(s) WHERE pg_catalog.strpos(x.r, m.s) > 0))', vw.obj)
                    INTO n USING user_a::text, 'momentum-maintd-probe-', marks;
            ELSE
                -- a materialized view has no row level security: the rows it
                -- holds that its own query, run by this reader, does not give
                BEGIN
                    -- (rows as text: json, point or xml have no equality operator)
                    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (SELECT ROW(m.*)::text FROM %s m '
                                              'EXCEPT ALL SELECT ROW(d.*)::text FROM (%s) d) s',
                                              vw.obj, def) INTO n;
                EXCEPTION WHEN insufficient_privilege THEN
                    -- the reader may not read what it is made of: any row is too many
                    EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM (SELECT FROM %s LIMIT 1) s', vw.obj) INTO n;
                    unreadable := true;
                END;
            END IF;
            IF n > 0 THEN
                found := found || pg_catalog.jsonb_build_object(
                    'check_name', 'probe_isolation_leak', 'level', 'error', 'object', vw.obj,
                    'detail', CASE WHEN vw.relkind = 'v' THEN
                        pg_catalog.format('as %s, the view shows %s row(s) that belong to another user: %s',
                                          CASE vw.reader WHEN 'anon' THEN 'anon' ELSE 'another authenticated user' END, n,
                                          CASE WHEN vw.invoker THEN 'it reads as its reader, so a function it calls or a table it reads leaks'
                                          ELSE 'it reads its tables with its owner''s privileges, or reads a table that leaks' END)
                        WHEN unreadable THEN
                        pg_catalog.format('as %s, the materialized view shows rows of tables that %s may not read: a materialized view has no row level security',
                                          vw.reader, vw.reader)
                        ELSE
                        pg_catalog.format('as %s, the materialized view shows %s row(s) that its own query, run with row level security, does not give: a materialized view has no row level security',
                                          vw.reader, n) END,
                    'remedy', CASE WHEN vw.relkind = 'v' AND NOT vw.invoker THEN
                        pg_catalog.format('ALTER VIEW %s SET (security_invoker = true), so that the policies of the tables it reads apply to whoever reads it (or REVOKE SELECT ON %s FROM PUBLIC, anon, authenticated)',
                                          vw.obj, vw.obj)
                        WHEN vw.relkind = 'v' THEN
                        pg_catalog.format('the view reads as its reader: a SECURITY DEFINER function it calls, or a table it reads, shows other users'' rows; make that function SECURITY INVOKER or filter it by (select auth.uid()), fix that table''s policies, or REVOKE SELECT ON %s FROM PUBLIC, anon, authenticated',
                                          vw.obj)
                        ELSE
                        pg_catalog.format('REVOKE SELECT ON %s FROM PUBLIC, anon, authenticated, and serve what each user may see through a view with security_invoker or a function',
                                          vw.obj) END);
            END IF;
            RAISE SQLSTATE 'MMD01';
        EXCEPTION
            WHEN SQLSTATE 'MMD01' THEN
                NULL;
            WHEN query_canceled THEN
                found := found || pg_catalog.jsonb_build_object(
                    'check_name', 'probe_timeout', 'level', 'warn', 'object', 'momentum-maintd probe',
                    'detail', pg_catalog.format('the isolation check stopped at the view %s: statement timeout; later views were not read',
                                                vw.obj),
                    'remedy', 'look for long locks or slow queries in that view');
                PERFORM pg_catalog.set_config('momentum_maintd.probe', found::text, true);
                RETURN;
            WHEN lock_not_available THEN
                found := found || pg_catalog.jsonb_build_object(
                    'check_name', 'probe_skipped', 'level', 'info', 'object', vw.obj,
                    'detail', 'isolation not checked: a lock was not granted within the lock timeout; the next pass checks it',
                    'remedy', 'nothing, unless it repeats: then look for what holds locks on the tables it reads');
            WHEN OTHERS THEN
                found := found || pg_catalog.jsonb_build_object(
                    'check_name', 'probe_isolation_unchecked', 'level', 'info', 'object', vw.obj,
                    'detail', pg_catalog.format('isolation not checked: reading it as %s fails: ERROR %s: %s', vw.reader, SQLSTATE, SQLERRM),
                    'remedy', 'fix the view so that it can be read, or check its isolation with your own test');
        END;
    END LOOP;
    PERFORM pg_catalog.set_config('momentum_maintd.probe', found::text, true);
END
$probe$
