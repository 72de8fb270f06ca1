-- The job's advisory lock ($1 the migration lock's classid, $2 the job's
-- objid), and whether migrations are being applied ($3 the migration
-- lock's objid): a verification pass then waits for the next tick rather
-- than report a half-applied migration.  Under the database's search_path,
-- which may put a schema before pg_catalog: every function, operator and
-- type is pg_catalog's by name, so that no look-alike answers instead.
SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int4, $2::pg_catalog.int4),
       EXISTS (SELECT 1 FROM pg_catalog.pg_locks
               WHERE locktype OPERATOR(pg_catalog.=) 'advisory' AND granted
               AND classid OPERATOR(pg_catalog.=) $1::pg_catalog.int4::pg_catalog.oid
               AND objid OPERATOR(pg_catalog.=) $3::pg_catalog.int4::pg_catalog.oid
               AND objsubid OPERATOR(pg_catalog.=) 2
               AND database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database
                                                    WHERE datname OPERATOR(pg_catalog.=)
                                                          pg_catalog.current_database()))
