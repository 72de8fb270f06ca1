SELECT pg_current_wal_lsn()::text, coalesce(min(replay_lsn)::text, ''),
       coalesce(max(extract(epoch FROM replay_lag)), 0)::float8, count(*),
       count(*) FILTER (WHERE state IS NULL), quote_ident(current_user)
FROM pg_stat_replication
