"""Scheduled jobs: the Zoom token cleanup, run history, one runner per
tick, catch-up after downtime, cancellation on SIGTERM, lost connections."""
import contextlib
import signal
import time


from conftest import MIGRATIONS, fill_tokens, missed_history, run


def migrate(db):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr


def job_runs(db):
    return db.query("SELECT status, rows_affected, error FROM momentum_maintd.job_runs "
                    "WHERE job = 'zoom-token-cleanup' ORDER BY id")


def cleanup(db, *extra):
    return run(["-d", db.conninfo] + list(extra) + ["run-job", "zoom-token-cleanup"], timeout=120)


def test_run_job_deletes_exactly_the_expired_tokens(db):
    migrate(db)
    fill_tokens(db, 50000, 20000)
    r = cleanup(db, "--set", "jobs.zoom_token_cleanup.batch_size=5000")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "zoom-token-cleanup: deleted 20000 expired Zoom token(s)"
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(30000,)]
    assert db.query("SELECT count(*) FROM zoom_credentials WHERE expires_at < now() - interval '7 days'") == [(0,)]
    assert job_runs(db) == [("ok", 20000, None)]


def test_rows_the_app_holds_are_skipped_and_left_for_the_next_run(db):
    migrate(db)
    fill_tokens(db, 2000, 600)
    expired = "expires_at < now() - interval '7 days'"
    app = db.cluster.connect(db.name)
    app.autocommit = False
    cur = app.cursor()
    try:
        # the app holds 5 expired rows, and refreshes 3 more (not committed yet)
        cur.execute(f"SELECT id FROM zoom_credentials WHERE {expired} ORDER BY expires_at LIMIT 5 FOR UPDATE")
        cur.execute(f"UPDATE zoom_credentials SET expires_at = now() + interval '1 hour' "
                    f"WHERE id IN (SELECT id FROM zoom_credentials WHERE {expired} "
                    f"ORDER BY expires_at DESC LIMIT 3)")
        r = cleanup(db)
        assert r.returncode == 0, r.stderr
        assert "deleted 592 expired" in r.stdout, (r.stdout, r.stderr)
    finally:
        app.commit()
        app.close()
    r = cleanup(db)
    assert r.returncode == 0, r.stderr
    assert "deleted 5 expired" in r.stdout, "the rows the app held go in the next run; the refreshed ones stay"
    assert db.query(f"SELECT count(*) FROM zoom_credentials WHERE {expired}") == [(0,)]
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(1403,)]


def test_a_batch_that_locks_rows_it_cannot_delete_yet_is_followed_by_another(db):
    # Each row's first deletion is cancelled by a trigger, as a row the app
    # updated while the batch ran is locked but not deleted: the next batch
    # deletes it, and a batch that deleted nothing does not end the run.
    migrate(db)
    fill_tokens(db, 2000, 600)
    db.query("""CREATE TABLE public.delete_seen AS SELECT id FROM zoom_credentials WHERE false;
        CREATE FUNCTION public.delete_on_second_try() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM public.delete_seen WHERE id = OLD.id) THEN
                INSERT INTO public.delete_seen VALUES (OLD.id);
                RETURN NULL;
            END IF;
            RETURN OLD;
        END $$;
        CREATE TRIGGER delete_on_second_try BEFORE DELETE ON zoom_credentials
            FOR EACH ROW EXECUTE FUNCTION public.delete_on_second_try()""")
    r = cleanup(db)
    assert r.returncode == 0, r.stderr
    assert "deleted 600 expired" in r.stdout, (r.stdout, r.stderr)
    assert job_runs(db) == [("ok", 600, None)]


def test_rows_a_trigger_keeps_end_the_run_instead_of_spinning(db):
    migrate(db)
    fill_tokens(db, 2000, 600)
    db.query("""UPDATE zoom_credentials SET access_token = 'keep' WHERE id IN
            (SELECT id FROM zoom_credentials ORDER BY expires_at LIMIT 150);
        CREATE FUNCTION public.keep_some() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RETURN CASE WHEN OLD.access_token = 'keep' THEN NULL ELSE OLD END;
        END $$;
        CREATE TRIGGER keep_some BEFORE DELETE ON zoom_credentials
            FOR EACH ROW EXECUTE FUNCTION public.keep_some()""")
    t0 = time.monotonic()
    r = cleanup(db, "--set", "jobs.zoom_token_cleanup.batch_size=100")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 60, "the run did not spin until max_runtime"
    assert "deleted 0 expired" in r.stdout, (r.stdout, r.stderr)
    [(status, rows, error)] = job_runs(db)
    assert (status, rows) == ("ok", 0)
    assert "two batches in a row locked 100 expired rows and deleted none" in error, error
    assert "trigger or rule on public.zoom_credentials" in error, error


def test_retention_boundary_is_never_crossed(db):
    migrate(db)
    db.query("INSERT INTO auth.users (id) SELECT gen_random_uuid() FROM generate_series(1, 4)")
    db.query("INSERT INTO profiles (id, email) SELECT id, id::text FROM auth.users")
    db.query("""INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at)
                SELECT id, 'a', 'r', now() - o FROM (SELECT id, row_number() OVER () AS n FROM auth.users) u
                JOIN (VALUES (1, interval '7 days 1 minute'), (2, interval '7 days -1 minute'),
                             (3, interval '6 days'), (4, interval '-1 day')) AS v(n, o) USING (n)""")
    r = cleanup(db)
    assert r.returncode == 0, r.stderr
    assert "deleted 1 expired" in r.stdout
    left = db.query("SELECT count(*) FROM zoom_credentials WHERE expires_at > now() - interval '7 days'")
    assert left == [(3,)], "tokens that expired less than 7 days ago are kept"


def test_seed_function_still_exists_and_works(db):
    migrate(db)
    fill_tokens(db, 100, 40)
    db.query("SELECT cleanup_expired_zoom_tokens()")
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(60,)]


def test_run_job_exit_codes(db, cluster):
    r = run(["-d", "host=/nonexistent-dir dbname=x", "run-job", "zoom-token-cleanup"], timeout=30)
    assert r.returncode == 69
    r = run(["-d", cluster.conninfo(), "run-job", "vacuum-everything"])
    assert r.returncode == 64 and "unknown job" in r.stderr
    r = run(["-d", db.conninfo, "run-job", "zoom-token-cleanup"])
    assert r.returncode == 65 and "migrate up" in r.stderr


def test_history_older_than_retention_is_pruned(db):
    migrate(db)
    for instance, age in (("old", "100 days"), ("recent", "80 days")):
        db.query("INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, started_at, finished_at, "
                 "status) VALUES ('zoom-token-cleanup', %s, now() - %s::interval, now() - %s::interval, "
                 "now() - %s::interval, 'ok')", (instance, age, age, age))
    r = cleanup(db)
    assert r.returncode == 0
    # the run older than the 90 days goes; the younger one and this run stay
    kept = db.query("SELECT instance, status FROM momentum_maintd.job_runs ORDER BY id")
    assert [i for i, _ in kept][:1] == ["recent"] and len(kept) == 2, kept
    assert kept[1][0] not in ("old", "recent") and kept[1][1] == "ok", kept
    assert "job history: 1 run(s) older than jobs.history_retention pruned" in r.stderr, r.stderr


def start_daemon(daemons, db, notify=None, env=None, *extra):
    return daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS] + list(extra),
                   notify=notify, env=env)


def wait_for(pred, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return None


def test_catch_up_runs_once_after_downtime(db, daemons, notify):
    migrate(db)
    fill_tokens(db, 1000, 300)
    missed_history(db)
    d = start_daemon(daemons, db, notify)
    assert notify.wait_for(lambda l: l == "READY=1")
    assert wait_for(lambda: [s for s, _, _ in job_runs(db)] == ["ok", "ok"]), (job_runs(db), d.stderr())
    time.sleep(1)
    assert job_runs(db)[1][1] == 300, "caught up once, not once per missed day"
    assert "missed while the daemon was down" in d.stderr()
    assert wait_for(lambda: any("last zoom-token-cleanup run: ok, 300 rows" in l for l in notify.lines()))
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_two_daemons_one_tick_one_run(db, daemons, tmp_path):
    from conftest import NotifySocket
    migrate(db)
    fill_tokens(db, 1000, 300)
    missed_history(db)
    socks = [NotifySocket(str(tmp_path / ("n%d" % i))) for i in range(2)]
    try:
        ds = [start_daemon(daemons, db, n) for n in socks]
        for n in socks:
            assert n.wait_for(lambda l: l == "READY=1")
        assert wait_for(lambda: ("ok", 300, None) in job_runs(db)), job_runs(db)
        time.sleep(2)
        runs = db.query("SELECT status, count(*) FROM momentum_maintd.job_runs WHERE instance <> 'earlier' "
                        "AND job = 'zoom-token-cleanup' "
                        "GROUP BY 1 ORDER BY 1")
        # the other instance either saw the tick already done (no catch-up
        # needed) or found it taken and recorded a skip; never a second run
        assert runs in ([("ok", 1)], [("ok", 1), ("skipped", 1)]), runs
        for d in ds:
            d.signal(signal.SIGTERM)
            assert d.wait() == 0
    finally:
        for n in socks:
            n.close()


def test_blocked_batch_keeps_the_watchdog_and_sigterm_cancels_it(db, daemons, notify):
    migrate(db)
    fill_tokens(db, 1000, 300)
    missed_history(db)
    app = db.cluster.connect(db.name)
    app.autocommit = False
    app.cursor().execute("LOCK TABLE zoom_credentials IN SHARE MODE")   # conflicts with DELETE
    try:
        d = start_daemon(daemons, db, notify, {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": None})
        assert notify.wait_for(lambda l: l == "READY=1")
        assert wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND query LIKE '%%WITH doomed%%'")[0][0] == 1), d.stderr()
        before = notify.lines().count("WATCHDOG=1")
        time.sleep(2)
        assert notify.lines().count("WATCHDOG=1") >= before + 3, "the loop is not blocked by the waiting batch"
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        assert d.wait(10) == 0, d.stderr()
        assert time.monotonic() - t0 < 5
    finally:
        app.rollback()
        app.close()
    statuses = [s for s, _, _ in job_runs(db)]
    assert statuses == ["ok", "cancelled"], (job_runs(db), d.stderr())
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(1000,)], "the batch rolled back"


def test_lost_connection_during_cleanup_is_recorded_and_retried_once(db, daemons, notify):
    migrate(db)
    fill_tokens(db, 1000, 300)
    missed_history(db)
    app = db.cluster.connect(db.name)
    app.autocommit = False
    app.cursor().execute("LOCK TABLE zoom_credentials IN SHARE MODE")
    try:
        d = start_daemon(daemons, db, notify)
        assert wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                         "AND query LIKE '%%WITH doomed%%'")[0][0] == 1), d.stderr()
        db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%%WITH doomed%%' "
                 "AND pid <> pg_backend_pid()")
    finally:
        app.rollback()
        app.close()
    assert wait_for(lambda: [s for s, _, _ in job_runs(db)][1:] == ["failed", "ok"], 40), (job_runs(db), d.stderr())
    failed = job_runs(db)[1]
    assert "connection lost" in failed[2]
    assert job_runs(db)[2][1] == 300
    assert d.proc.poll() is None
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_a_second_runner_is_skipped_while_the_first_holds_the_job(db):
    import subprocess
    from conftest import BIN, EMPTY_CONFIG, TEST_DEFAULTS
    import os
    migrate(db)
    fill_tokens(db, 1000, 300)
    app = db.cluster.connect(db.name)
    app.autocommit = False
    app.cursor().execute("LOCK TABLE zoom_credentials IN SHARE MODE")   # the first run waits here
    env = dict(os.environ, MOMENTUM_MAINTD_CONFIG=EMPTY_CONFIG, **TEST_DEFAULTS)
    first = subprocess.Popen([BIN, "-d", db.conninfo, "run-job", "zoom-token-cleanup"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: db.query("SELECT count(*) FROM momentum_maintd.job_runs WHERE status = 'running'")[0][0] == 1)
        r = cleanup(db)
        assert r.returncode == 75, r.stderr
        assert "skipped: another instance is running this job" in r.stdout
    finally:
        app.rollback()
        app.close()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "deleted 300" in out
    assert sorted(s for s, _, _ in job_runs(db)) == ["ok", "skipped"]


def test_cleanup_pauses_while_a_replica_lags_and_finishes_after(tmpbase, new_cluster):
    """A real streaming replica made by pg_basebackup, its replay paused."""
    from conftest import Database
    primary = new_cluster()
    with streaming_replica(tmpbase, primary) as standby:
        db = Database(primary, primary.create_db())
        migrate(db)
        fill_tokens(db, 30000, 20000)
        assert wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_replication")[0][0] == 1)
        standby.cursor().execute("SELECT pg_wal_replay_pause()")
        resume = __import__("threading").Timer(6.0, lambda: standby.cursor().execute("SELECT pg_wal_replay_resume()"))
        resume.start()
        t0 = time.monotonic()
        r = cleanup(db, "--set", "jobs.zoom_token_cleanup.max_replica_lag=2 s",
                    "--set", "jobs.zoom_token_cleanup.batch_size=100", "--set", "log.level=info")
        took = time.monotonic() - t0
        resume.join()
        assert r.returncode == 0, r.stderr
        assert "deleted 20000 expired" in r.stdout
        assert "pausing, a streaming replica's replay is" in r.stderr, r.stderr
        assert "replicas caught up, going on" in r.stderr
        assert took >= 5, "the cleanup waited for the paused replica (%.1f s)" % took


def test_postgres_restart_during_cleanup_and_while_idle(new_cluster, daemons, notify):
    from conftest import Database
    c = new_cluster()
    db = Database(c, c.create_db())
    migrate(db)
    fill_tokens(db, 1000, 300)
    missed_history(db)
    app = c.connect(db.name)
    app.autocommit = False
    app.cursor().execute("LOCK TABLE zoom_credentials IN SHARE MODE")
    d = start_daemon(daemons, db, notify)
    assert wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                     "AND query LIKE '%%WITH doomed%%'")[0][0] == 1), d.stderr()
    c.stop()                       # fast shutdown: every session ends, the app's too
    app.close()
    time.sleep(2)
    c.start()
    assert wait_for(lambda: [s for s, _, _ in job_runs(db)][1:] == ["failed", "ok"], 60), (job_runs(db), d.stderr())
    assert job_runs(db)[2][1] == 300
    assert notify.wait_for(lambda l: "reconnected" in l, timeout=30), d.stderr()
    # and once more while idle
    c.stop()
    time.sleep(1)
    c.start()
    assert wait_for(lambda: d.stderr().count("reconnected") >= 0 and
                    sum("reconnected" in l for l in notify.lines()) >= 2, 60), d.stderr()
    assert d.proc.poll() is None
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    log = d.stderr()
    assert "database connection to" in log and "lost" in log


def test_sigterm_right_after_ready_does_not_wait_for_the_catch_up_check(db, daemons, tmp_path):
    from conftest import NotifySocket
    migrate(db)
    missed_history(db)
    db.query("UPDATE momentum_maintd.job_runs SET scheduled_for = now() + interval '1 day'")  # nothing to catch up
    for i in range(5):
        n = NotifySocket(str(tmp_path / ("s%d" % i)))
        try:
            d = start_daemon(daemons, db, n)
            assert n.wait_for(lambda l: l == "READY=1")
            t0 = time.monotonic()
            d.signal(signal.SIGTERM)
            assert d.wait(10) == 0
            assert time.monotonic() - t0 < 2, "stopped at once"
            assert "did not stop" not in d.stderr()
        finally:
            n.close()


def test_a_run_left_running_is_recorded_as_interrupted_by_the_next_run(db):
    migrate(db)
    fill_tokens(db, 100, 30)
    db.query("INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, status) "
             "VALUES ('zoom-token-cleanup', 'gone:1', now() - interval '1 day', 'running')")
    r = cleanup(db)
    assert r.returncode == 0, r.stderr
    assert "left 'running' are now recorded as failed" in r.stderr
    rows = job_runs(db)
    assert rows[0][0] == "failed" and rows[0][2].startswith("interrupted")
    assert rows[1][:2] == ("ok", 30)


def test_retention_in_days_is_calendar_days_like_the_seed(db):
    migrate(db)
    db.query("SET TimeZone = 'UTC'")
    fill_tokens(db, 200, 50)
    before = db.query("SELECT count(*) FROM zoom_credentials WHERE expires_at < now() - interval '7 days'")[0][0]
    r = cleanup(db, "--set", "log.level=debug")
    assert r.returncode == 0
    assert "deleted %d expired" % before in r.stdout


@contextlib.contextmanager
def streaming_replica(tmpbase, primary):
    """A real streaming replica of primary made by pg_basebackup: an
    autocommit psycopg2 connection to it, as postgres."""
    import os
    import shutil
    import tempfile
    import psycopg2
    standby_dir = tempfile.mkdtemp(prefix="maintd-standby-", dir=tmpbase)
    try:
        os.chown(standby_dir, *(os.stat(primary.dir)[4:6]))
        primary.pg("pg_basebackup", "-h", primary.dir, "-U", "postgres",
                   "-D", os.path.join(standby_dir, "data"), "-R", "-X", "stream")
        with open(os.path.join(standby_dir, "data", "postgresql.conf"), "a") as f:
            f.write("unix_socket_directories = '%s'\n" % standby_dir)
        standby = primary.pg("pg_ctl", "-D", os.path.join(standby_dir, "data"),
                             "-l", os.path.join(standby_dir, "log"), "-w", "start", check=False)
        assert standby.returncode == 0, standby.stderr
        c = psycopg2.connect("host=%s user=postgres dbname=postgres" % standby_dir)
        c.autocommit = True
        try:
            yield c
        finally:
            c.close()
    finally:
        primary.pg("pg_ctl", "-D", os.path.join(standby_dir, "data"), "-m", "immediate", "stop", check=False)
        shutil.rmtree(standby_dir, ignore_errors=True)


def test_max_runtime_bounds_a_batch_too(db):
    """A batch held up inside the database (a slow trigger, a lock) is
    cancelled when max_runtime is up, not left to run as long as it takes."""
    migrate(db)
    fill_tokens(db, 200, 100)
    db.query("""CREATE FUNCTION public.slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(25); RETURN NULL; END $$;
        CREATE TRIGGER slow_delete BEFORE DELETE ON zoom_credentials
            FOR EACH STATEMENT EXECUTE FUNCTION public.slow_delete()""")
    t0 = time.monotonic()
    r = cleanup(db, "--set", "jobs.zoom_token_cleanup.max_runtime=3 s")
    took = time.monotonic() - t0
    assert took < 10, "the batch ran %.1f s past a 3 s max_runtime" % took
    assert r.returncode == 0, r.stderr
    assert job_runs(db) == [("ok", 0, "stopped at max_runtime; the rest waits for the next run")]
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(200,)], "the cut batch rolled back"


def test_cleanup_does_not_run_when_replica_lag_cannot_be_read(tmpbase, new_cluster):
    """Without pg_monitor, pg_stat_replication lists the replicas with NULL
    positions: the lag is unknown, so the cleanup does not run and says
    which grant is missing."""
    from conftest import Database
    primary = new_cluster()
    with streaming_replica(tmpbase, primary) as standby:
        db = Database(primary, primary.create_db())
        migrate(db)
        fill_tokens(db, 3000, 2000)
        db.query("""CREATE ROLE "token cleaner" LOGIN;
            GRANT USAGE ON SCHEMA momentum_maintd TO "token cleaner";
            GRANT ALL ON ALL TABLES IN SCHEMA momentum_maintd TO "token cleaner";
            GRANT ALL ON ALL SEQUENCES IN SCHEMA momentum_maintd TO "token cleaner";
            ALTER TABLE zoom_credentials OWNER TO "token cleaner";""")
        assert wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_replication")[0][0] == 1)
        standby.cursor().execute("SELECT pg_wal_replay_pause()")
        conninfo = db.conninfo.replace("user=postgres", "user='token cleaner'")
        r = run(["-d", conninfo, "--set", "log.level=info", "run-job", "zoom-token-cleanup"], timeout=120)
        assert db.query("SELECT count(*) FROM zoom_credentials") == [(3000,)], \
            "the cleanup ran while a replica's replay was paused: " + r.stderr
        assert r.returncode == 65, (r.returncode, r.stdout, r.stderr)
        [(status, rows, error)] = job_runs(db)
        assert (status, rows) == ("failed", 0)
        assert "cannot read" in error and "pg_monitor" in error, error
        assert 'GRANT pg_monitor TO \\"token cleaner\\"' in r.stderr, r.stderr   # logfmt escapes quotes
        # with the grant, the lag is seen and the cleanup waits for the replica
        db.query('GRANT pg_monitor TO "token cleaner"')
        standby.cursor().execute("SELECT pg_wal_replay_resume()")
        r = run(["-d", conninfo, "run-job", "zoom-token-cleanup"], timeout=120)
        assert r.returncode == 0, r.stderr
        assert "deleted 2000 expired" in r.stdout


def test_a_look_alike_try_lock_does_not_let_a_second_run_in(db):
    """Attack: the database's search_path puts public before pg_catalog,
    and public.pg_try_advisory_lock says yes to everyone.  While another
    instance holds the job's lock, run-job must still skip, not run the
    cleanup a second time at once (the job's lock is pg_catalog's, by name)."""
    migrate(db)
    fill_tokens(db, 100, 50)
    db.query("ALTER DATABASE %s SET search_path = public, pg_catalog" % db.name)
    db.query("CREATE FUNCTION public.pg_try_advisory_lock(int, int) RETURNS boolean LANGUAGE sql AS 'SELECT true'")
    holder = db.cluster.connect(db.name)
    try:
        holder.autocommit = True
        with holder.cursor() as cur:
            cur.execute("SELECT pg_catalog.pg_advisory_lock(1835885684, 2)")   # the cleanup job's lock
        r = cleanup(db)
        assert r.returncode == 75, (r.returncode, r.stdout, r.stderr)
        assert "skipped: another instance is running this job" in r.stdout, r.stdout
        assert db.query("SELECT count(*) FROM zoom_credentials") == [(100,)]
    finally:
        holder.close()


def test_a_look_alike_now_does_not_make_the_cleanup_delete_live_tokens(db):
    """Attack: public before pg_catalog on the database's search_path, and
    a public.now() a century ahead: every token would look expired.  The
    job's session puts pg_catalog first, so only the expired ones go."""
    migrate(db)
    fill_tokens(db, 100, 40)
    db.query("ALTER DATABASE %s SET search_path = public, pg_catalog" % db.name)
    db.query("CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql "
             "AS $$SELECT pg_catalog.now() + interval '100 years'$$")
    r = cleanup(db)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "zoom-token-cleanup: deleted 40 expired Zoom token(s)", r.stdout
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(60,)]


def test_an_empty_search_path_from_the_connection_still_runs_the_job(db):
    """The job's session puts pg_catalog before the search_path it was
    given; an empty one (options='-c search_path=', as hardened setups
    use) becomes pg_catalog alone, not the invalid 'pg_catalog, '."""
    migrate(db)
    fill_tokens(db, 10, 4)
    r = run(["-d", db.conninfo + " options='-c search_path='", "run-job", "zoom-token-cleanup"], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "zoom-token-cleanup: deleted 4 expired Zoom token(s)", r.stdout
