-- Fails (and so keeps a no-transaction migration unrecorded, to be run
-- again) while an index is invalid: what an interrupted CREATE INDEX
-- CONCURRENTLY leaves behind.  It runs in the recording query of a
-- no-transaction file, an implicit transaction of its own: pg_catalog's
-- functions and operators until its end, whatever the search_path.
DO $guard$ DECLARE bad text; BEGIN
PERFORM pg_catalog.set_config('search_path', 'pg_catalog', true);
SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ' ORDER BY 1) INTO bad
FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
AND n.nspname NOT LIKE 'pg\_toast%';
IF bad IS NOT NULL THEN RAISE EXCEPTION 'invalid index left behind: %', bad
USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'an interrupted CREATE INDEX CONCURRENTLY leaves an invalid index, which IF NOT EXISTS then skips: DROP INDEX CONCURRENTLY it and start again; the migration runs again';
END IF; END $guard$;
