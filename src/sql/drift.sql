-- Drift: the live catalog against the snapshot recorded after the last
-- migration run.  Columns as the lints: check, level, object, detail, remedy.
WITH live AS (@MANIFEST@)
, snap AS (SELECT kind, object, attrs FROM momentum_maintd.verify_snapshot WHERE migrations = @FINGERPRINT@)
-- one pass over both (a hash full join): the rows that differ.  A policy
-- whose node trees hash as the snapshot's (the hash its attrs start with)
-- and whose attrs (what for, to whom) are the same has not changed: only
-- the others are deparsed, in d.
, j AS (SELECT s.kind AS s_kind, s.object AS s_object, s.attrs AS s_attrs, l.kind AS l_kind, l.object AS l_object,
               l.attrs AS l_attrs, l.tree, l.polid
        FROM snap s FULL JOIN live l ON l.kind = s.kind AND l.object = s.object
        WHERE CASE WHEN l.kind = 'policy' THEN s.attrs IS NULL OR NOT starts_with(s.attrs, l.tree || ' ' || l.attrs || ' using (')
                   ELSE s.attrs IS DISTINCT FROM l.attrs END)
-- the policies as they read, without the hash: made again by hand with
-- the same text (other positions in its trees), a policy has not changed
, d AS (SELECT s_kind, s_object, s.s_attrs, l_kind, l_object, a.l_attrs
        FROM j, LATERAL (SELECT CASE WHEN s_kind = 'policy' THEN substr(j.s_attrs, strpos(j.s_attrs, ' ') + 1)
                                     ELSE j.s_attrs END AS s_attrs) s,
             LATERAL (SELECT CASE WHEN l_kind = 'policy'
                                  THEN (SELECT format('%s using (%s) with check (%s)', j.l_attrs,
                                                      coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
                                                      coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
                                        FROM pg_policy p WHERE p.oid = j.polid)
                                  ELSE j.l_attrs END AS l_attrs) a
        WHERE s.s_attrs IS DISTINCT FROM a.l_attrs)
SELECT 'drift_dropped', 'error', s_object,
       format('%s made by the migrations is gone (it was: %s)', s_kind, s_attrs),
       'restore it as the migration that made it did, or drop it on purpose in a new migration'
FROM d WHERE l_kind IS NULL
UNION ALL
SELECT CASE WHEN s.kind = 'table' AND s.attrs LIKE 'rls=on%' AND l.attrs LIKE 'rls=off%' THEN 'drift_rls_disabled'
            WHEN s.kind = 'index' AND s.attrs LIKE '% valid=yes' AND l.attrs LIKE '% valid=no' THEN 'drift_index_invalid'
            ELSE 'drift_changed' END,
       CASE WHEN s.kind IN ('table', 'policy', 'bucket', 'index', 'view', 'materialized view') THEN 'error' ELSE 'warn' END,
       s.object,
       CASE WHEN s.kind = 'table' AND s.attrs LIKE 'rls=on%' AND l.attrs LIKE 'rls=off%'
            THEN 'row level security was on after the migrations and is off now'
            WHEN s.kind = 'index' AND s.attrs LIKE '% valid=yes' AND l.attrs LIKE '% valid=no'
            THEN 'the index was valid after the migrations and is invalid now: queries no longer use it'
            ELSE format('%s changed outside the migrations: was %s; now %s', s.kind, s.attrs, l.attrs) END,
       -- a table's attrs are its two flags (rls=on force=off): put back the one that changed
       CASE WHEN s.kind = 'table'
            THEN format('ALTER TABLE %s %s (or make the change on purpose in a new migration)',
                        s.object,
                        concat_ws(', ',
                                  CASE WHEN s.attrs LIKE 'rls=on %' AND l.attrs LIKE 'rls=off %' THEN 'ENABLE ROW LEVEL SECURITY'
                                       WHEN s.attrs LIKE 'rls=off %' AND l.attrs LIKE 'rls=on %' THEN 'DISABLE ROW LEVEL SECURITY' END,
                                  CASE WHEN s.attrs LIKE '% force=on' AND l.attrs LIKE '% force=off' THEN 'FORCE ROW LEVEL SECURITY'
                                       WHEN s.attrs LIKE '% force=off' AND l.attrs LIKE '% force=on' THEN 'NO FORCE ROW LEVEL SECURITY' END))
            WHEN s.kind = 'index' AND l.attrs LIKE '% valid=no' THEN format('REINDEX INDEX CONCURRENTLY %s', s.object)
            ELSE 'put it back as the migrations made it, or change it on purpose in a new migration' END
FROM d, LATERAL (SELECT s_kind AS kind, s_object AS object, s_attrs AS attrs) s,
     LATERAL (SELECT l_attrs AS attrs) l
WHERE s_kind IS NOT NULL AND l_kind IS NOT NULL
UNION ALL
SELECT 'drift_added', 'warn', l_object,
       format('%s not made by any migration: %s', l_kind, l_attrs),
       'make it in a migration, or drop it'
FROM d
WHERE s_kind IS NULL AND l_kind IN ('policy', 'bucket') AND EXISTS (SELECT 1 FROM snap)
UNION ALL
SELECT 'drift_unchecked', 'info', 'momentum_maintd.verify_snapshot',
       'no snapshot of the schema matches the applied migrations, so drift is not checked',
       'start the daemon (or run "migrate up"): it records the snapshot after migrating'
WHERE NOT EXISTS (SELECT 1 FROM snap)
