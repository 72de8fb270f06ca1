-- The job's advisory lock ($1 the migration lock's classid, $2 the job's
-- objid), and whether migrations are being applied ($3 the migration
-- lock's objid): a verification pass then waits for the next tick rather
-- than report a half-applied migration.
SELECT pg_try_advisory_lock($1::int, $2::int),
       EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted
               AND classid = $1::int::oid AND objid = $3::int::oid AND objsubid = 2
               AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))
