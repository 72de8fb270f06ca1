-- migrate adopt flyway: its history in the order Flyway installed it.
-- Versioned SQL migrations are adopted; a baseline row stands for every
-- version up to it; the schema-creation marker is skipped; a failed row
-- refuses the adoption; other kinds (repeatable, Java, undo, delete) have
-- no equivalent here and refuse it too.  The checksum (Flyway's CRC-32 of
-- the file) is compared with the file's.
SELECT h.version, h.script,
       CASE WHEN NOT h.success THEN 'failed'
            WHEN h.type OPERATOR(pg_catalog.=) 'SCHEMA' THEN 'skip'
            WHEN h.type OPERATOR(pg_catalog.=) 'BASELINE' THEN 'baseline'
            WHEN h.version IS NULL THEN 'repeatable'
            WHEN h.type OPERATOR(pg_catalog.=) 'SQL' OR h.type OPERATOR(pg_catalog.=) 'SQL_BASELINE' THEN 'applied'
            ELSE 'type ' OPERATOR(pg_catalog.||) h.type END, h.checksum::pg_catalog.text
FROM flyway_schema_history h
ORDER BY h.installed_rank
