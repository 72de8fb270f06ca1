-- Lints in the spirit of Supabase's splinter: each row is a finding with a
-- stable check name, a level (error, warn, info), the object and a one-line
-- remedy.  One catalog query, whatever the number of tables; the schemas
-- checked are the application's (public, storage).  Run with search_path
-- = '' so that every name comes out schema-qualified.  The index, primary
-- key, policy-count and role lints are in lints_perf.sql.
WITH tabs AS (
  SELECT c.oid, n.nspname, c.relname, c.relrowsecurity, format('%I.%I', n.nspname, c.relname) AS obj
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'storage')
), api_roles AS (
  SELECT oid, rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated')
), exposed AS (
  SELECT t.* FROM tabs t WHERE EXISTS (SELECT 1 FROM api_roles r
    WHERE has_table_privilege(r.oid, t.oid, 'SELECT, INSERT, UPDATE, DELETE'))
)
SELECT 'rls_disabled_in_public', 'error', obj,
       'row level security is off while anon or authenticated may use the table',
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', obj)
FROM exposed WHERE NOT relrowsecurity
UNION ALL
SELECT 'policy_exists_rls_disabled', 'error', obj,
       'policies exist but row level security is off, so none of them applies',
       format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', obj)
FROM tabs t WHERE NOT relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid)
UNION ALL
SELECT 'rls_enabled_no_policy', 'info', obj,
       'row level security is on and no policy exists: only the owner and BYPASSRLS roles see rows',
       'add policies for the roles that should see rows, or keep it locked down on purpose'
FROM tabs t WHERE relrowsecurity AND nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid)
UNION ALL
SELECT 'auth_rls_initplan', 'warn', format('%s: policy "%s"', t.obj, replace(p.polname, '"', '""')),
       'calls auth.uid() / auth.role() for every row instead of once per statement',
       'write (select auth.uid()) instead of auth.uid() in the policy'
FROM pg_policy p JOIN tabs t ON t.oid = p.polrelid,
     -- the policy's expressions less their quoted names and string
     -- literals, which may hold any text (a column named "auth.uid()")
     LATERAL (SELECT regexp_replace(coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' ||
                                    coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''),
                                    '"(?:[^"]|"")*"|''(?:[^'']|'''')*''', '', 'g') AS code) e
WHERE regexp_count(e.code, 'auth\.(uid|role|jwt|email)\(\)') > regexp_count(e.code, 'SELECT auth\.(uid|role|jwt|email)\(\)')
UNION ALL
SELECT 'anon_write_policy', 'warn', format('%s: policy "%s"', t.obj, replace(p.polname, '"', '""')),
       format('a permissive %s policy applies to anon (no TO clause means every role), and anon may %s the table',
              CASE p.polcmd WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
              CASE p.polcmd WHEN 'a' THEN 'insert into' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete from' ELSE 'write' END),
       'add TO authenticated to the policy, or revoke the privilege from anon'
FROM pg_policy p JOIN tabs t ON t.oid = p.polrelid
WHERE p.polpermissive AND p.polcmd IN ('a', 'w', 'd', '*')
  AND (0::oid = ANY (p.polroles) OR (SELECT oid FROM pg_roles WHERE rolname = 'anon') = ANY (p.polroles))
  AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'anon' AND has_table_privilege(r.oid, t.oid,
      CASE p.polcmd WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
                    ELSE 'INSERT, UPDATE, DELETE' END))
UNION ALL
SELECT 'security_definer_search_path', 'warn', p.oid::regprocedure::text,
       'SECURITY DEFINER function without a fixed search_path: a caller can make it run their objects',
       format('ALTER FUNCTION %s SET search_path = ''''', p.oid::regprocedure)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef AND n.nspname IN ('public', 'storage')
  AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%')
