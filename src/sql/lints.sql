-- Lints in the spirit of Supabase's splinter: each row is a finding with a
-- stable check name (splinter's, where the two share one), a level (error,
-- warn, info), the object and a one-line remedy.  One catalog query,
-- whatever the number of tables.  Run with search_path = '' so that every
-- name comes out schema-qualified.  Categories and facing are not columns:
-- src/checks.c maps each check name to them.  The index, primary key,
-- policy-count and role lints are in lints_perf.sql.
--
-- The exposed schemas are those PostgREST serves, as exposed_schemas.sql
-- (shared with the probe, substituted by verify.c) reads them: verify.schemas
-- when set, else pgrst.db_schemas of the authenticator role, else the
-- session's, else public and graphql_public.  Row level security
-- is checked there and in storage (the Storage API reads storage.objects
-- with the user's role).  Objects the platform owns (its owner roles, its
-- schemas, members of an extension) are not the user's to fix: skipped.
WITH exposed_names AS (
  SELECT @EXPOSED@ AS names
), platform AS (
  SELECT ARRAY['auth', 'storage', 'extensions', 'graphql', 'graphql_public', 'realtime', '_realtime', 'vault',
               'pgsodium', 'pgsodium_masks', 'supabase_functions', 'supabase_migrations', 'net', 'cron', 'pgmq',
               'pgmq_public', 'pgbouncer', 'pgtle', 'pgroonga', 'repack', 'tiger', 'topology', '_analytics',
               '_supavisor', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_config',
               '_timescaledb_internal', 'timescaledb_information', 'information_schema', 'pg_catalog', 'pg_toast',
               'momentum_maintd']::name[] AS schemas,
         ARRAY(SELECT oid FROM pg_roles WHERE rolname IN ('supabase_admin', 'supabase_auth_admin',
               'supabase_storage_admin', 'supabase_realtime_admin', 'supabase_functions_admin',
               'supabase_replication_admin', 'supabase_etl_admin', 'supabase_read_only_user',
               'pgsodium_keymaker', 'pgsodium_keyholder', 'pgsodium_keyiduser', 'dashboard_user')) AS owners
), ext_members AS (
  SELECT objid FROM pg_depend WHERE deptype = 'e' AND classid IN ('pg_class'::regclass, 'pg_proc'::regclass)
), known AS (
  -- by the catalog, not to_regclass: the daemon's role may lack USAGE on auth
  SELECT (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'auth' AND c.relname = 'users') AS auth_users,
         (SELECT c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'auth' AND c.relname = 'users') AS auth_users_rls,
         (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'storage' AND c.relname = 'objects') AS storage_objects,
         (SELECT oid FROM pg_namespace WHERE nspname = 'auth') AS auth_ns,
         (SELECT oid FROM pg_namespace WHERE nspname = 'public') AS public_ns,
         (SELECT oid FROM pg_namespace WHERE nspname = 'pgmq') AS pgmq_ns
), api_oids AS (
  SELECT (SELECT oid FROM pg_roles WHERE rolname = 'anon') AS anon,
         (SELECT oid FROM pg_roles WHERE rolname = 'authenticated') AS authd,
         (SELECT oid FROM pg_roles WHERE rolname = 'service_role') AS service
), user_ns AS (
  -- the user's schemas; exposed: PostgREST serves it
  SELECT n.oid, n.nspname, n.nspname = ANY (e.names) AS exposed
  FROM pg_namespace n, exposed_names e, platform pf
  WHERE n.nspname <> ALL (pf.schemas) AND n.nspname !~ '^pg_(temp|toast_temp)_'
), rels AS (
  -- the user's relations in an exposed schema, and who of the API may read them
  SELECT c.oid, c.relkind, c.relrowsecurity, c.reloptions, format('%I.%I', n.nspname, c.relname) AS obj,
         coalesce(has_table_privilege(a.anon, c.oid, 'SELECT'), false) AS anon_sel,
         coalesce(has_table_privilege(a.authd, c.oid, 'SELECT'), false) AS authd_sel,
         coalesce(has_table_privilege(a.anon, c.oid, 'SELECT, INSERT, UPDATE, DELETE'), false)
           OR coalesce(has_table_privilege(a.authd, c.oid, 'SELECT, INSERT, UPDATE, DELETE'), false) AS api_any
  FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace AND n.exposed, platform pf, api_oids a
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relowner <> ALL (pf.owners)
    AND NOT EXISTS (SELECT 1 FROM ext_members x WHERE x.objid = c.oid)
), rls_tabs AS (
  -- tables whose row level security the API relies on: exposed ones, and storage's
  SELECT oid, relrowsecurity, obj, api_any FROM rels WHERE relkind IN ('r', 'p')
  UNION ALL
  SELECT c.oid, c.relrowsecurity, format('storage.%I', c.relname),
         coalesce(has_table_privilege(a.anon, c.oid, 'SELECT, INSERT, UPDATE, DELETE'), false)
           OR coalesce(has_table_privilege(a.authd, c.oid, 'SELECT, INSERT, UPDATE, DELETE'), false)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, platform pf, api_oids a
  WHERE n.nspname = 'storage' AND c.relkind IN ('r', 'p') AND c.relowner <> ALL (pf.owners)
), watched AS (
  -- the functions whose calls the policy lints look for, by name as the
  -- deparsed text would show them (auth.uid(), ..., any *current_setting():
  -- a superset), as tokens of a stored node tree (" <oid> "); meta: those of
  -- rls_references_user_metadata (auth.jwt(), current_setting()); pinned:
  -- pg_catalog's, on which PostgreSQL records no dependency
  SELECT coalesce(array_agg(' ' || p.oid || ' ') FILTER (WHERE p.proname <> ALL ('{uid,role,email}')), '{}') AS meta,
         coalesce(array_agg(' ' || p.oid || ' ') FILTER (WHERE p.pronamespace = 'pg_catalog'::regnamespace), '{}')
           AS pinned,
         coalesce(array_agg(p.oid) FILTER (WHERE p.pronamespace <> 'pg_catalog'::regnamespace), '{}') AS recorded
  FROM pg_proc p
  WHERE p.proname IN ('uid', 'role', 'jwt', 'email') OR p.proname LIKE '%current\_setting'
), pol_calls AS (
  -- for each policy, the watched functions its dependencies name (one
  -- index scan per function): only their tokens are looked for in its
  -- trees, and pg_catalog's
  SELECT d.objid, array_agg(' ' || d.refobjid || ' ') AS calls
  FROM pg_depend d, watched w
  WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = ANY (w.recorded) AND d.classid = 'pg_policy'::regclass
  GROUP BY d.objid
), pol AS (
  -- the user's policies (storage's and realtime's tables are the platform's, their policies the user's),
  -- and their expressions, deparsed (pg_get_expr builds the relcache entry of the table: most of the cost
  -- with thousands of policies) only for a policy some lint may report by its text (qual and wcheck are
  -- null for the others): one on storage.objects (public_bucket_allows_listing); one with an expression
  -- without any column (rls_policy_always_true: true, 1 = 1); one whose trees name a watched function
  -- (rls_references_user_metadata) or, for auth_rls_initplan, call one other than as the first target
  -- of a sub-SELECT without DISTINCT (printed right after "SELECT ", which that lint lets pass).  In t,
  -- a call that is such a first target has its oid glued to ":funcid=", so " <oid> " does not match it.
  -- (OFFSET 0: t and deparse computed once a policy, not again wherever they are named.)
  SELECT p.*, c.relrowsecurity, n.nspname = 'storage' AS in_storage,
         format('%I.%I: policy "%s"', n.nspname, c.relname, replace(p.polname, '"', '""')) AS obj,
         CASE WHEN x.deparse THEN coalesce(pg_get_expr(p.polqual, p.polrelid), '') END AS qual,
         CASE WHEN x.deparse THEN coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') END AS wcheck
  FROM pg_policy p LEFT JOIN pol_calls pc ON pc.objid = p.oid
       JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace, platform pf,
       known k, watched w,
       LATERAL (SELECT replace(coalesce(p.polqual::text, '') || ' ' || coalesce(p.polwithcheck::text, ''),
                               ':targetList ({TARGETENTRY :expr {FUNCEXPR :funcid ',
                               ':targetList ({TARGETENTRY :expr {FUNCEXPR :funcid=') AS t
                OFFSET 0) r,
       -- the tokens to look for: of the functions it depends on, and of
       -- pg_catalog's whose oid it holds at all ("<oid> ": either form)
       LATERAL (SELECT coalesce(pc.calls, '{}')
                       || ARRAY(SELECT f FROM unnest(w.pinned) f WHERE strpos(r.t, ltrim(f)) > 0) AS calls
                OFFSET 0) fc,
       LATERAL (SELECT p.polrelid = k.storage_objects
                       OR strpos(p.polqual::text, '{VAR ') = 0 OR strpos(p.polwithcheck::text, '{VAR ') = 0
                       OR EXISTS (SELECT 1 FROM unnest(fc.calls) f
                                  WHERE f = ANY (w.meta) AND (strpos(r.t, f) > 0 OR strpos(r.t, '=' || ltrim(f)) > 0))
                       OR c.relrowsecurity
                          AND (EXISTS (SELECT 1 FROM unnest(fc.calls) f WHERE strpos(r.t, f) > 0)
                               OR strpos(r.t, ':distinctClause ({') > 0) AS deparse
                OFFSET 0) x
  WHERE n.nspname <> ALL (pf.schemas) OR n.nspname IN ('storage', 'realtime')
), user_tabs AS (
  -- the user's tables in every schema of theirs, exposed or not, and
  -- storage's: whether their policies apply does not depend on the API
  SELECT c.oid, c.relrowsecurity, format('%I.%I', n.nspname, c.relname) AS obj
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, platform pf
  WHERE c.relkind IN ('r', 'p') AND c.relowner <> ALL (pf.owners)
    AND (n.nspname <> ALL (pf.schemas) AND n.nspname !~ '^pg_(temp|toast_temp)_' OR n.nspname = 'storage')
    AND NOT EXISTS (SELECT 1 FROM ext_members x WHERE x.objid = c.oid)
), funcs AS (
  SELECT p.oid, p.prosecdef, p.proconfig, n.exposed, p.oid::regprocedure::text AS obj,
         -- a body kept as text looks its names up when it runs (a BEGIN
         -- ATOMIC one bound them when it was made; C and internal have none)
         p.prosqlbody IS NULL AND p.prolang NOT IN (12, 13) AS late_names,
         CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
         p.prorettype IN ('trigger'::regtype, 'event_trigger'::regtype) AS trig
  FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace, platform pf
  WHERE p.prokind IN ('f', 'p') AND p.proowner <> ALL (pf.owners)
    AND NOT EXISTS (SELECT 1 FROM ext_members x WHERE x.objid = p.oid)
)
SELECT 'rls_disabled_in_public', 'error', obj,
       'row level security is off while anon or authenticated may use the table',
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY (with policies for who may read and write which rows: '
              'without any, the API sees no row)', obj)
FROM rls_tabs WHERE NOT relrowsecurity AND api_any
UNION ALL
SELECT 'policy_exists_rls_disabled', 'error', obj,
       'policies exist but row level security is off, so none of them applies',
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', obj)
FROM user_tabs t WHERE NOT relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid)
UNION ALL
SELECT 'rls_enabled_no_policy', 'info', obj,
       'row level security is on and no policy exists: only the owner and BYPASSRLS roles see rows',
       'add policies for the roles that should see rows, or keep it locked down on purpose'
FROM user_tabs t WHERE relrowsecurity AND NOT starts_with(obj, 'storage.')
  AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid)
UNION ALL
SELECT 'auth_rls_initplan', 'warn', p.obj,
       CASE WHEN e.per_row
            THEN 'calls auth.uid() / auth.jwt() / auth.role() / auth.email() or current_setting() for every row '
                 'instead of once per statement'
            ELSE 'calls auth.uid() / auth.jwt() / auth.role() / auth.email() or current_setting() in a sub-SELECT '
                 'that runs once per statement already, but with more than the call in its target, which the '
                 'advisor (reading the policy''s text) reports as a call for every row' END,
       CASE WHEN e.per_row
            THEN 'wrap each call in a select: (select auth.uid()), (select current_setting(''request.jwt.claims'', true))'
            ELSE 'leave only the call in the select, to satisfy the advisor: (select auth.uid())::text, '
                 '((select auth.jwt()) ->> ''aal'')' END
FROM pol p,
     -- the policy's expressions less their quoted names and string
     -- literals, which may hold any text (a column named "auth.uid()")
     LATERAL (SELECT regexp_replace(p.qual || ' ' || p.wcheck, '"(?:[^"]|"")*"|''(?:[^'']|'''')*''', '', 'g') AS code) e0,
     -- a call runs once a statement when it is the whole target of a
     -- sub-SELECT without FROM or WHERE, alone or cast or read with -> and
     -- ->> ((select auth.uid()::text), as Supabase's storage guides write
     -- it, prints as ( SELECT (auth.uid())::text AS uid)), and
     -- current_setting's arguments are constants.  Each candidate is
     -- matched with the parentheses opened before the call and those that
     -- follow it; it counts when they close what it opened (before AS, when
     -- it has one) and the sub-SELECT's own: (select auth.uid()::text =
     -- owner::text) opens two, closes one, and goes on to a column of the
     -- row: it runs once a row.  per_row: some call is not such a target
     LATERAL (SELECT (SELECT count(*) FROM regexp_matches(e0.code, '(auth\.(uid|role|jwt|email)|current_setting)\(', 'g'))
                   > (SELECT count(*)
                      FROM regexp_matches(e0.code,
                                          'SELECT (\(*)(?:auth\.(?:uid|role|jwt|email)\(\)|current_setting\(::text(?:, (?:true|false))?\))'
                                          '((?:\)|::[a-z ]+(?:\(\d+(?:,\d+)?\))?(?:\[\])?| ->>? ::text)*)( AS \w*)?\)', 'g') m,
                           LATERAL (SELECT length(m[1]) AS opened,
                                           length(t) - length(replace(t, ')', '')) AS closed
                                    FROM regexp_replace(m[2], '\(\d+(?:,\d+)?\)', '', 'g') t) b
                      WHERE CASE WHEN m[3] IS NULL THEN b.closed >= b.opened ELSE b.closed = b.opened END) AS per_row) e
WHERE p.relrowsecurity
  -- in storage, which the advisor does not look at, what runs once a row;
  -- elsewhere also what the advisor reports: any call not right after
  -- "SELECT ", said for what it is
  AND (e.per_row OR (NOT p.in_storage AND e0.code ~ '(?<!SELECT )(auth\.(uid|role|jwt|email)|current_setting)\('))
UNION ALL
SELECT 'anon_write_policy', 'warn', p.obj,
       format('a permissive %s policy applies to anon%s, and anon may %s the table',
              CASE p.polcmd WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
              CASE WHEN 0::oid = ANY (p.polroles) THEN ' (TO public, or no TO clause: every role)' ELSE '' END,
              CASE p.polcmd WHEN 'a' THEN 'insert into' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete from' ELSE 'write' END),
       'add TO authenticated to the policy, or revoke the privilege from anon'
FROM pol p JOIN rls_tabs t ON t.oid = p.polrelid, api_oids a
WHERE p.polpermissive AND p.polcmd IN ('a', 'w', 'd', '*')
  AND (0::oid = ANY (p.polroles) OR a.anon = ANY (p.polroles))
  AND has_table_privilege(a.anon, t.oid, CASE p.polcmd WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                          WHEN 'd' THEN 'DELETE' ELSE 'INSERT, UPDATE, DELETE' END)
UNION ALL
SELECT 'rls_policy_always_true', 'warn', p.obj,
       format('a permissive %s policy lets %s write any row: its %s is always true',
              CASE p.polcmd WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
              CASE WHEN 0::oid = ANY (p.polroles) THEN 'every role'
                   ELSE (SELECT string_agg(r::regrole::text, ', ') FROM unnest(p.polroles) r) END,
              concat_ws(' and ', CASE WHEN u.t THEN 'USING' END, CASE WHEN w.t THEN 'WITH CHECK' END)),
       'replace true with a condition on the row (e.g. (select auth.uid()) = user_id), or make the policy '
       'TO service_role'
FROM pol p, api_oids a,
     LATERAL (SELECT p.polcmd IN ('w', 'd', '*')
                     AND regexp_replace(lower(p.qual), '[\s()]', '', 'g') IN ('true', '1=1') AS t) u,
     LATERAL (SELECT p.polcmd IN ('a', 'w', '*')
                     AND regexp_replace(lower(p.wcheck), '[\s()]', '', 'g') IN ('true', '1=1') AS t) w
WHERE p.relrowsecurity AND p.polpermissive AND (u.t OR w.t)
  AND (0::oid = ANY (p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) r WHERE r IS DISTINCT FROM a.service))
UNION ALL
SELECT 'rls_references_user_metadata', 'error', p.obj,
       'the policy reads the JWT''s user_metadata, which every user may edit for themselves',
       'decide on app_metadata (only the server writes it) or on a table of your own, never user_metadata'
FROM pol p
-- USING and WITH CHECK each on its own: a JWT read in one and a column
-- named user_metadata in the other is not it
WHERE (p.qual LIKE '%user\_metadata%'
       AND p.qual ~ '(auth\.jwt\(\)|current_setting\(''request\.jwt\.claims).*user_metadata')
   OR (p.wcheck LIKE '%user\_metadata%'
       AND p.wcheck ~ '(auth\.jwt\(\)|current_setting\(''request\.jwt\.claims).*user_metadata')
UNION ALL
SELECT 'auth_users_exposed', 'error', v.obj,
       format('the %s reads auth.users and anon or authenticated may select it: it can hand out every user''s '
              'email and metadata', CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END),
       format('REVOKE SELECT ON %s FROM PUBLIC, anon, authenticated (or move it to a schema the API does not expose)', v.obj)
FROM rels v, known k
WHERE v.relkind IN ('v', 'm') AND (v.anon_sel OR v.authd_sel)
  AND EXISTS (SELECT 1 FROM pg_rewrite rw JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
              WHERE rw.ev_class = v.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n'
                AND d.refobjid = k.auth_users)
  AND (v.relkind = 'm' OR NOT coalesce(lower(v.reloptions::text)::text[] && '{security_invoker=on,security_invoker=true,security_invoker=1,security_invoker=yes}', false)
       OR NOT k.auth_users_rls)
UNION ALL
SELECT 'security_definer_view', 'error', v.obj,
       'the view runs with its owner''s rights (no security_invoker): anon or authenticated read through it past '
       'the row level security of the tables it reads',
       format('ALTER VIEW %s SET (security_invoker = on)', v.obj)
FROM rels v
WHERE v.relkind = 'v' AND (v.anon_sel OR v.authd_sel)
  AND NOT coalesce(lower(v.reloptions::text)::text[] && '{security_invoker=on,security_invoker=true,security_invoker=1,security_invoker=yes}', false)
UNION ALL
SELECT 'materialized_view_in_api', 'warn', v.obj,
       'anon or authenticated may select the materialized view, and row level security never applies to one',
       format('REVOKE SELECT ON %s FROM PUBLIC, anon, authenticated', v.obj)
FROM rels v WHERE v.relkind = 'm' AND (v.anon_sel OR v.authd_sel)
UNION ALL
SELECT 'foreign_table_in_api', 'warn', v.obj,
       'anon or authenticated may select the foreign table, and row level security never applies to one',
       format('REVOKE SELECT ON %s FROM PUBLIC, anon, authenticated', v.obj)
FROM rels v WHERE v.relkind = 'f' AND (v.anon_sel OR v.authd_sel)
UNION ALL
SELECT x.chk, x.lvl, f.obj,
       -- a procedure (CALL) is not served by /rpc, but any session of the
       -- role may call it: reported as the advisor does, and said so
       -- nor is a trigger function (a trigger fires it without EXECUTE)
       CASE WHEN f.trig THEN format('SECURITY DEFINER trigger function that %s may EXECUTE: it cannot be called '
                                    'through /rpc, but the privilege is not needed for its triggers to fire', x.role)
            ELSE format('SECURITY DEFINER %s that %s may %s: it runs with its owner''s rights, past row level security',
                        lower(f.kind), x.role,
                        CASE f.kind WHEN 'PROCEDURE' THEN 'CALL (not through /rpc, which serves only functions, but '
                                                          'from any session of the role)'
                                    ELSE 'call through /rpc' END) END,
       format('REVOKE EXECUTE ON %s %s FROM PUBLIC, %s (or make it SECURITY INVOKER, or move it to a '
              'schema the API does not expose)', f.kind, f.obj, x.role)
FROM funcs f, api_oids a,
     LATERAL (VALUES ('anon_security_definer_function_executable', 'warn', 'anon', a.anon),
                     ('authenticated_security_definer_function_executable', 'warn', 'authenticated', a.authd)) x(chk, lvl, role, oid)
WHERE f.exposed AND f.prosecdef AND x.oid IS NOT NULL AND has_function_privilege(x.oid, f.oid, 'EXECUTE')
UNION ALL
SELECT 'function_search_path_mutable', 'warn', f.obj,
       CASE WHEN f.prosecdef THEN format('SECURITY DEFINER %s without a fixed search_path: a caller can make it '
                                         'run their objects', lower(f.kind))
            ELSE format('%s without a fixed search_path: what its names mean depends on the caller''s search_path',
                        lower(f.kind)) END,
       -- as given, an empty search_path makes a body that names public.items
       -- as items fail at its next call: said first where that can happen
       format('ALTER %s %s SET search_path = ''''%s', f.kind, f.obj,
              CASE WHEN f.late_names
                   THEN ' (first write every table, view, function, type and operator its body names with its '
                        'schema, as schema.name or OPERATOR(schema.%): with an empty search_path only pg_catalog''s '
                        'are found without one)' ELSE '' END)
FROM funcs f
WHERE NOT EXISTS (SELECT 1 FROM unnest(coalesce(f.proconfig, '{}')) c WHERE c LIKE 'search\_path=%')
UNION ALL
SELECT 'extension_in_public', 'warn', x.extname,
       CASE WHEN x.extrelocatable THEN 'the extension is installed in schema public, where the API may expose its objects'
            ELSE 'the extension is installed in schema public, where the API may expose its objects; it cannot be '
                 'moved, only made again elsewhere (what uses it must be dropped first)' END,
       CASE WHEN x.extrelocatable THEN format('ALTER EXTENSION %I SET SCHEMA extensions', x.extname)
            -- one transaction, so that a DROP that succeeds is not left
            -- alone when the CREATE fails; what depends on it stops the DROP
            ELSE format('BEGIN; DROP EXTENSION %I; CREATE EXTENSION %I WITH SCHEMA extensions; COMMIT;',
                        x.extname, x.extname) END
FROM pg_extension x, known k WHERE x.extnamespace = k.public_ns AND x.extname <> 'plpgsql'
UNION ALL
SELECT 'extension_versions_outdated', 'warn', x.name,
       format('extension version %s is installed while %s is the default', x.installed_version, x.default_version),
       format('ALTER EXTENSION %I UPDATE', x.name)
FROM pg_available_extensions x
WHERE x.installed_version IS DISTINCT FROM x.default_version AND x.installed_version IS NOT NULL
  AND x.default_version IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_available_extension_versions v WHERE v.name = x.name AND v.installed)
UNION ALL
SELECT 'unsupported_reg_types', 'warn', format('%s.%I', c.oid::regclass, a.attname),
       format('column of type %s, which pg_upgrade cannot carry over: the database cannot be upgraded',
              a.atttypid::regtype),
       format('ALTER TABLE %s ALTER COLUMN %I TYPE text (or oid)', c.oid::regclass, a.attname)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND a.atttypid IN ('regcollation'::regtype, 'regconfig'::regtype, 'regdictionary'::regtype,
                     'regnamespace'::regtype, 'regoper'::regtype, 'regoperator'::regtype, 'regproc'::regtype,
                     'regprocedure'::regtype)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgsodium')
UNION ALL
SELECT 'fkey_to_auth_unique', 'error', format('%s (%s)', con.conrelid::regclass, con.conname),
       format('the foreign key references a unique constraint of %s, which Supabase Auth may change or drop; '
              'only its primary key is stable', con.confrelid::regclass),
       format('reference the primary key instead, or ALTER TABLE %s DROP CONSTRAINT %I', con.conrelid::regclass,
              con.conname)
FROM pg_constraint con JOIN pg_class r ON r.oid = con.confrelid JOIN pg_index i ON i.indexrelid = con.conindid
     JOIN pg_class c ON c.oid = con.conrelid, platform pf, known k
WHERE con.contype = 'f' AND r.relnamespace = k.auth_ns AND i.indisunique AND NOT i.indisprimary
  AND c.relowner <> ALL (pf.owners)
UNION ALL
SELECT 'public_bucket_allows_listing', 'warn', format('storage bucket %s', b.id),
       format('the bucket is public, so its files are served by URL, and %s on storage.objects let%s anyone list '
              'all of them', string_agg(format('policy "%s"', replace(p.polname, '"', '""')), ', ' ORDER BY p.polname),
              CASE count(*) WHEN 1 THEN 's' ELSE '' END),
       'drop the SELECT policy: a public bucket needs none to serve its files'
FROM XMLTABLE('/table/row' PASSING CASE WHEN to_regclass('storage.buckets') IS NOT NULL
                                        THEN query_to_xml('SELECT id FROM storage.buckets WHERE public', false, false, '')
                                        ELSE '<table/>'::xml END
              COLUMNS id text PATH 'id') b
     JOIN known k ON true JOIN pol p ON p.polrelid = k.storage_objects, api_oids a
WHERE p.polpermissive AND p.polcmd IN ('r', '*')
  AND (0::oid = ANY (p.polroles) OR a.anon = ANY (p.polroles) OR a.authd = ANY (p.polroles))
  AND (regexp_replace(lower(p.qual), '[\s()]', '', 'g') IN ('true', '1=1')
       OR substring(p.qual FROM '^\(*\s*bucket_id\s*=\s*''((?:[^'']|'''')*)''(?:::text)?\s*\)*$') = replace(b.id, '''', ''''''))
GROUP BY b.id
UNION ALL
-- a column whose name says secret or personal data (spelled with _ or -,
-- any case), in a table the API serves without row level security
SELECT 'sensitive_columns_exposed', 'error', r.obj,
       format('row level security is off while %s may read the table, and %s %s %s: the API hands them '
              'out to %s',
              CASE WHEN r.anon_sel THEN 'anon' ELSE 'authenticated' END,
              CASE count(*) WHEN 1 THEN 'its column' ELSE 'its columns' END,
              string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
              CASE count(*) WHEN 1 THEN 'looks' ELSE 'look' END || ' like secrets or personal data',
              CASE WHEN r.anon_sel THEN 'anyone with the anon key' ELSE 'every signed-in user' END),
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY (with policies for who may read what), or REVOKE SELECT '
              'ON %s FROM PUBLIC, anon, authenticated', r.obj, r.obj)
FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE r.relkind IN ('r', 'p') AND NOT r.relrowsecurity AND (r.anon_sel OR r.authd_sel)
  AND replace(lower(a.attname), '-', '_') = ANY (ARRAY[
        -- credentials and keys
        'password', 'passwd', 'pwd', 'passphrase', 'password_hash', 'secret', 'secret_key', 'client_secret',
        'webhook_secret', 'session_secret', 'private_key', 'signing_key', 'encryption_key', 'api_key', 'apikey',
        'auth_key', 'license_key', 'activation_key', 'pgp_key', 'gpg_key', 'ssh_key', 'certificate',
        'token', 'jwt', 'id_token', 'access_token', 'refresh_token', 'oauth_token', 'session_token',
        'bearer_token', 'auth_code', 'session_id', 'session_key',
        -- second factors and recovery
        'otp', 'totp_secret', 'two_factor', '2fa_secret', '2fa_code', 'recovery_code', 'backup_code',
        'verification_code',
        -- identity documents
        'ssn', 'social_security', 'social_security_number', 'national_id', 'tax_id', 'passport_number',
        'passport_id', 'driver_license', 'drivers_license', 'license_number',
        -- money
        'credit_card', 'card_number', 'cvv', 'cvc', 'cvn', 'bank_account', 'account_number', 'routing_number',
        'iban', 'bic', 'swift_code',
        -- health
        'medical_record', 'health_record', 'patient_id', 'diagnosis', 'treatment', 'insurance_number',
        'health_insurance', 'medical_insurance',
        -- devices and the body
        'imei', 'mac_address', 'macaddr', 'device_uuid', 'facial_recognition'])
GROUP BY r.obj, r.anon_sel
UNION ALL
-- pg_graphql shows a role every relation it may select a column of, in
-- any schema (its names, columns and relationships), whatever the rows'
-- row level security
SELECT 'pg_graphql_' || g.role || '_table_exposed', 'warn', format('%I.%I', n.nspname, c.relname),
       format('%s may select the %s, so the GraphQL schema (/graphql/v1) shows it, its columns and its '
              'relationships to %s, whatever row level security lets them read',
              g.role, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                                     WHEN 'f' THEN 'foreign table' ELSE 'table' END,
              CASE g.role WHEN 'anon' THEN 'anyone with the anon key' ELSE 'every signed-in user' END),
       -- (granted to PUBLIC, it is every role's: revoked from the role alone, it stays)
       format('REVOKE SELECT ON %I.%I FROM %s%s (and any column grant%s), if it should not be seen %s', n.nspname,
              c.relname, CASE WHEN has_any_column_privilege('public', c.oid, 'SELECT') THEN 'PUBLIC, ' ELSE '' END,
              g.role,
              CASE WHEN has_any_column_privilege('public', c.oid, 'SELECT')
                   THEN '; it was granted to PUBLIC: grant it again to the roles that should keep it' ELSE '' END,
              CASE g.role WHEN 'anon' THEN 'before signing in' ELSE 'by signed-in users' END)
FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace, platform pf, api_oids a,
     LATERAL (VALUES ('anon', a.anon), ('authenticated', a.authd)) g(role, oid)
WHERE EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_graphql')
  AND c.relkind IN ('r', 'v', 'm', 'f') AND c.relowner <> ALL (pf.owners)
  AND NOT EXISTS (SELECT 1 FROM ext_members x WHERE x.objid = c.oid)
  AND g.oid IS NOT NULL AND has_any_column_privilege(g.oid, c.oid, 'SELECT')
UNION ALL
SELECT 'insecure_queue_exposed_in_api', 'error', format('pgmq.%I', c.relname),
       'the queue''s table has row level security off, anon or authenticated may read it, and pgmq_public '
       'is exposed: anyone may read or send its messages',
       format('ALTER TABLE pgmq.%I ENABLE ROW LEVEL SECURITY (and add policies), or stop exposing pgmq_public',
              c.relname)
FROM pg_class c, api_oids a, exposed_names e, known k
WHERE c.relnamespace = k.pgmq_ns AND c.relkind IN ('r', 'p') AND c.relname LIKE 'q\_%'
  AND NOT c.relrowsecurity AND 'pgmq_public' = ANY (e.names)
  AND (coalesce(has_table_privilege(a.anon, c.oid, 'SELECT'), false)
       OR coalesce(has_table_privilege(a.authd, c.oid, 'SELECT'), false))
