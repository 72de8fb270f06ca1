-- Runs older than jobs.history_retention ($1, an interval).
DELETE FROM momentum_maintd.job_runs WHERE started_at < now() - $1::interval
