-- Holding the job's lock, no run of it is going anywhere: a row of job $1
-- still 'running' is one whose daemon stopped or lost its connection
-- before it could say.
UPDATE momentum_maintd.job_runs SET status = 'failed', finished_at = now(),
    error = 'interrupted: its daemon stopped or lost the connection before recording the end'
WHERE job = $1 AND status = 'running'
