-- A run the connection died under, recorded once the daemon is back:
-- $1 its job_runs id, $2 the error.  No row when it had been recorded.
UPDATE momentum_maintd.job_runs SET finished_at = now(), status = 'failed', error = $2
WHERE id = $1 AND status = 'running'
