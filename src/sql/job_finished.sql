-- The end of run $1: its status, rows affected and error.
UPDATE momentum_maintd.job_runs SET finished_at = now(), status = $2, rows_affected = $3, error = $4
WHERE id = $1
