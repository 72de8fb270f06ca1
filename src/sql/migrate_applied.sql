-- What the bookkeeping says, as migrate_applied_rows() reads it: version,
-- name, checksum, in progress, when.  A tracking row per applied
-- migration, and a mark per no-transaction migration that started and
-- never finished.  Unordered: the plan sorts.  No ";": other statements
-- append to it with UNION ALL.  It may run under the database's
-- search_path (migrate status, dry runs): pg_catalog's to_char by name.
SELECT version, name, checksum, false, pg_catalog.to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS TZ')
FROM momentum_maintd.schema_migrations
UNION ALL
SELECT version, name, '', true, pg_catalog.to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ')
FROM momentum_maintd.migrations_in_progress
