-- The run of job $1 by instance $2 for the scheduled time $3 (epoch
-- seconds): no row back when another instance ran it already.  pg_catalog
-- is first on the job session's search_path, but a to_timestamp(text) of
-- another schema would match the untyped $3 better than pg_catalog's: named.
INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, status)
VALUES ($1, $2, pg_catalog.to_timestamp($3::pg_catalog.float8), 'running')
ON CONFLICT (job, scheduled_for) WHERE status IN ('running', 'ok') DO NOTHING
RETURNING id
