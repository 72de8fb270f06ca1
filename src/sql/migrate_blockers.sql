-- After a migration's statement timed out waiting for a lock: the
-- sessions most likely in its way (pid, application, state, seconds the
-- transaction has been open), oldest transaction first.
SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), a.state,
       round(extract(epoch FROM now() - a.xact_start))::bigint
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() AND a.xact_start IS NOT NULL
  AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation')
ORDER BY a.xact_start LIMIT 3
