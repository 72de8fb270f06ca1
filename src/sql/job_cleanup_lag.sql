SELECT pg_current_wal_lsn()::text, coalesce(min(replay_lsn)::text, ''), coalesce(max(extract(epoch FROM replay_lag)), 0)::float8, count(*) FROM pg_stat_replication
