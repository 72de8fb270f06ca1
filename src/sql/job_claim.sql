-- The run of job $1 by instance $2 for the scheduled time $3 (epoch
-- seconds): no row back when another instance ran it already.
INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, status)
VALUES ($1, $2, to_timestamp($3), 'running')
ON CONFLICT (job, scheduled_for) WHERE status IN ('running', 'ok') DO NOTHING
RETURNING id
