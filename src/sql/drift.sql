-- Drift: the live catalog against the snapshot recorded after the last
-- migration run.  Columns as the lints: check, level, object, detail, remedy.
WITH live AS (@MANIFEST@)
, snap AS (SELECT kind, object, attrs FROM momentum_maintd.verify_snapshot WHERE migrations = @FINGERPRINT@)
SELECT 'drift_dropped', 'error', s.object,
       format('%s made by the migrations is gone (it was: %s)', s.kind, s.attrs),
       'restore it as the migration that made it did, or drop it on purpose in a new migration'
FROM snap s LEFT JOIN live l USING (kind, object) WHERE l.kind IS NULL
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
       CASE WHEN s.kind = 'table' THEN format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY (or what the migrations set)', s.object)
            WHEN s.kind = 'index' AND l.attrs LIKE '% valid=no' THEN format('REINDEX INDEX CONCURRENTLY %s', s.object)
            ELSE 'put it back as the migrations made it, or change it on purpose in a new migration' END
FROM snap s JOIN live l USING (kind, object) WHERE s.attrs <> l.attrs
UNION ALL
SELECT 'drift_added', 'warn', l.object,
       format('%s not made by any migration: %s', l.kind, l.attrs),
       'make it in a migration, or drop it'
FROM live l LEFT JOIN snap s USING (kind, object)
WHERE s.kind IS NULL AND l.kind IN ('policy', 'bucket') AND EXISTS (SELECT 1 FROM snap)
UNION ALL
SELECT 'drift_unchecked', 'info', 'momentum_maintd.verify_snapshot',
       'no snapshot of the schema matches the applied migrations, so drift is not checked',
       'start the daemon (or run "migrate up"): it records the snapshot after migrating'
WHERE NOT EXISTS (SELECT 1 FROM snap)
