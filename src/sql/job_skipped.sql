-- A run of job $1 by instance $2 for the scheduled time $3 (epoch
-- seconds) that did not happen, and why ($4).
INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, finished_at, status, error)
VALUES ($1, $2, to_timestamp($3), now(), 'skipped', $4)
