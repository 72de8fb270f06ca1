-- Bookkeeping for verification, and the snapshot of what the migrations
-- made: recorded again whenever the applied migrations changed since the
-- last snapshot (a migration run, a rollback, a baseline), so that changes
-- made by migrations are never reported as drift.
DO $record$
DECLARE
    fp text;
    n bigint;
BEGIN
    PERFORM pg_catalog.set_config('search_path', '', true);
    -- the manifest's estimated cost passes jit_above_cost: compiling it
    -- takes ten times longer than running it (225 of 250 ms with 500
    -- tables)
    PERFORM set_config('jit', 'off', true);
    -- one recorder at a time (objid 100 of the daemon's advisory locks, till
    -- the end of the transaction): two "migrate up" finishing together
    -- would both create the tables, or both record the snapshot
    PERFORM pg_catalog.pg_advisory_xact_lock(@LOCK@);
    IF to_regclass('momentum_maintd.verify_snapshot') IS NULL THEN
        CREATE TABLE momentum_maintd.verify_snapshot (
            kind text NOT NULL,
            object text NOT NULL,
            attrs text NOT NULL,
            migrations text NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (kind, object));
        COMMENT ON TABLE momentum_maintd.verify_snapshot IS
            'momentum-maintd: the schema objects as the last migration run left them (drift is measured against this)';
    END IF;
    IF to_regclass('momentum_maintd.verify_findings') IS NULL THEN
        CREATE TABLE momentum_maintd.verify_findings (
            key text PRIMARY KEY,
            check_name text NOT NULL,
            level text NOT NULL,
            object text NOT NULL,
            detail text NOT NULL,
            first_seen timestamptz NOT NULL DEFAULT now(),
            last_seen timestamptz NOT NULL DEFAULT now(),
            reminded_at timestamptz NOT NULL DEFAULT now());
        COMMENT ON TABLE momentum_maintd.verify_findings IS
            'momentum-maintd: verification findings still present, so each is logged once and reminded';
    END IF;
    fp := @FINGERPRINT@;
    IF NOT EXISTS (SELECT 1 FROM momentum_maintd.verify_snapshot WHERE migrations = fp) THEN
        DELETE FROM momentum_maintd.verify_snapshot;
        INSERT INTO momentum_maintd.verify_snapshot (kind, object, attrs, migrations)
        -- a policy: the hash of its node trees, then its attrs with its
        -- expressions deparsed (see manifest.sql)
        SELECT m.kind, m.object,
               CASE WHEN m.kind = 'policy'
                    THEN format('%s %s using (%s) with check (%s)', m.tree, m.attrs,
                                coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
                                coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''))
                    ELSE m.attrs END,
               fp
        FROM (@MANIFEST@) m LEFT JOIN pg_catalog.pg_policy p ON p.oid = m.polid;
        GET DIAGNOSTICS n = ROW_COUNT;
        RAISE NOTICE 'verify: recorded the schema snapshot after the migrations (% objects)', n;
    END IF;
END
$record$
