-- When the last successful run of job $1 was scheduled (epoch seconds;
-- NULL if none): catch-up runs a tick missed since then.  Read before the
-- job session's set-up puts pg_catalog first: pg_catalog's by name.
SELECT extract(epoch FROM pg_catalog.max(scheduled_for))::pg_catalog.int8 FROM momentum_maintd.job_runs
WHERE job OPERATOR(pg_catalog.=) $1 AND status OPERATOR(pg_catalog.=) 'ok'
