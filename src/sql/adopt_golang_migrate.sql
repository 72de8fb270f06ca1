-- migrate adopt golang-migrate: its table holds one row, the newest
-- version applied (every file up to it was applied) and whether the run
-- that wrote it stopped half-way (dirty).  A negative version is its "no
-- version".  A table without the dirty column is not golang-migrate's.
SELECT s.version::pg_catalog.text, '',
       CASE WHEN NOT pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.?) 'dirty' THEN 'wrong-tool'
            WHEN (pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'dirty')::pg_catalog.bool THEN 'dirty'
            WHEN (pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'version') OPERATOR(pg_catalog.~) '^-' THEN 'skip'
            ELSE 'up-to' END, NULL
FROM schema_migrations s
