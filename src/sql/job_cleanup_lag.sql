-- The replicas' replay, for the cleanup's pause; and who reads it (quoted,
-- for the hint when it may not).  quote_ident is pg_catalog's by name:
-- one of another schema taking a name would match current_user better.
SELECT pg_current_wal_lsn()::text, coalesce(min(replay_lsn)::text, ''),
       coalesce(max(extract(epoch FROM replay_lag)), 0)::float8, count(*),
       count(*) FILTER (WHERE state IS NULL), pg_catalog.quote_ident(current_user)
FROM pg_stat_replication
