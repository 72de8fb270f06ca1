-- When the last successful run of job $1 was scheduled (epoch seconds;
-- NULL if none): catch-up runs a tick missed since then.
SELECT extract(epoch FROM max(scheduled_for))::bigint FROM momentum_maintd.job_runs
WHERE job = $1 AND status = 'ok'
