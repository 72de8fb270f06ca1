-- A run of job $1 by instance $2 for the scheduled time $3 (epoch
-- seconds) that did not happen, and why ($4).  pg_catalog's to_timestamp by
-- name, as in job_claim.sql.
INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, finished_at, status, error)
VALUES ($1, $2, pg_catalog.to_timestamp($3::pg_catalog.float8), now(), 'skipped', $4)
