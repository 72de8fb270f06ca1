-- migrate adopt golang-migrate: its table holds one row, the newest
-- version applied (every file up to it was applied) and whether the run
-- that wrote it stopped half-way (dirty).  A negative version is its "no
-- version".  A table without the dirty column is not golang-migrate's.
SELECT s.version::text, '',
       CASE WHEN NOT to_jsonb(s) ? 'dirty' THEN 'wrong-tool'
            WHEN (to_jsonb(s)->>'dirty')::boolean THEN 'dirty'
            WHEN (to_jsonb(s)->>'version') ~ '^-' THEN 'skip'
            ELSE 'up-to' END, NULL
FROM schema_migrations s
