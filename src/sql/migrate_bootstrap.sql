-- The bookkeeping of momentum-maintd: created where missing, before the
-- migrations are read.  BOOKKEEPING_READY_SQL in migrate.c checks for what
-- this creates (every relation, and the comment it sets last).
CREATE SCHEMA IF NOT EXISTS momentum_maintd;
CREATE TABLE IF NOT EXISTS momentum_maintd.schema_migrations (
    version    bigint PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration   interval NOT NULL,
    applied_by text NOT NULL DEFAULT current_user
);
CREATE TABLE IF NOT EXISTS momentum_maintd.migrations_in_progress (
    version    bigint PRIMARY KEY,
    name       text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    started_by text NOT NULL DEFAULT current_user
);
CREATE TABLE IF NOT EXISTS momentum_maintd.job_runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job           text NOT NULL,
    instance      text NOT NULL,
    scheduled_for timestamptz NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    status        text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped', 'cancelled')),
    rows_affected bigint,
    error         text
);
CREATE INDEX IF NOT EXISTS job_runs_job_started_idx ON momentum_maintd.job_runs (job, started_at);
-- one run per job and scheduled time, whichever instance gets there first;
-- a failed or cancelled run does not stop its retry
CREATE UNIQUE INDEX IF NOT EXISTS job_runs_one_run_per_tick ON momentum_maintd.job_runs (job, scheduled_for) WHERE status IN ('running', 'ok');
-- comments only once: an unchanged database is not written to at start
DO $comments$ BEGIN
IF obj_description('momentum_maintd.job_runs'::regclass, 'pg_class') IS NULL THEN
COMMENT ON SCHEMA momentum_maintd IS 'bookkeeping of momentum-maintd';
COMMENT ON TABLE momentum_maintd.migrations_in_progress IS 'no-transaction migrations that started and have not finished; the next start re-runs them';
COMMENT ON TABLE momentum_maintd.job_runs IS 'one row per run (or skip) of a scheduled job; rows older than jobs.history_retention are pruned';
END IF; END $comments$;
