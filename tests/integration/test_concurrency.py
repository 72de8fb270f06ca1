"""Eight daemons against one database for two schedule ticks: each
migration applied once, each tick of the cleanup run by exactly one
instance (the others skip it, saying so, or see it done), no deadlock on
the server, every daemon READY and none logging an error.

The cron schedule has minutes as its finest field, so the test waits for
two minute boundaries: about 70 to 140 seconds."""
import datetime
import os
import signal
import subprocess
import time

from conftest import BIN, MIGRATIONS, Database, NotifySocket, daemon_env, errors, fill_tokens, wait_until

NDAEMONS = 8


def test_eight_daemons_two_ticks_each_runs_once(new_cluster, tmp_path, daemons):
    pg = new_cluster()
    socks = []
    server_log_start = os.path.getsize(pg.log) if os.path.exists(pg.log) else 0
    try:
        db = Database(pg, pg.create_db())
        nmigrations = len([f for f in os.listdir(MIGRATIONS) if f.endswith(".sql") and not f.startswith("rollback_")])
        # start well before a minute boundary: READY and the tokens in place first
        if 60 - datetime.datetime.now().second < 12:
            time.sleep(60 - datetime.datetime.now().second + 0.5)
        procs = []
        for i in range(NDAEMONS):
            n = NotifySocket(str(tmp_path / ("n%d.sock" % i)))
            socks.append(n)
            procs.append(daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                                  "--set", "jobs.zoom_token_cleanup.schedule=* * * * *"], notify=n))
        for n, p in zip(socks, procs):
            assert n.wait_for(lambda l: l == "READY=1", timeout=60), p.stderr()
        assert db.query("SELECT version, count(*) FROM momentum_maintd.schema_migrations GROUP BY 1 "
                        "HAVING count(*) <> 1") == []
        assert db.query("SELECT count(*) FROM momentum_maintd.schema_migrations") == [(nmigrations,)]
        assert sum(p.stderr().count("applied migration ") for p in procs) == nmigrations
        assert sum(1 for n in socks if any("waiting for the migration lock" in l for l in n.lines())) >= 1

        # two ticks; before each, expired tokens for it to delete
        now = time.time()
        t1 = (int(now) // 60 + 1) * 60
        ticks = [t1, t1 + 60]
        expected = {}
        for k, tick in enumerate(ticks):
            expired = 300 + 100 * k
            fill_tokens(db, expired + 50, expired)
            expected[tick] = expired
            assert time.time() < tick, "filling took past the tick"
            time.sleep(max(0, tick - time.time()))
            assert wait_until(lambda: db.query(
                "SELECT count(*) FROM momentum_maintd.job_runs WHERE job = 'zoom-token-cleanup' "
                "AND scheduled_for = to_timestamp(%s) AND status = 'ok'", (tick,))[0][0] == 1, 30), \
                db.query("SELECT * FROM momentum_maintd.job_runs")
            # the others have had their go at this tick too
            time.sleep(2)
        for p in procs:
            assert p.proc.poll() is None, p.stderr()
            p.signal(signal.SIGTERM)
        for p in procs:
            assert p.wait(10) == 0, p.stderr()
        runs = db.query("SELECT extract(epoch FROM scheduled_for)::bigint, status, rows_affected, instance, error "
                        "FROM momentum_maintd.job_runs WHERE job = 'zoom-token-cleanup' ORDER BY id")
        per_job_tick = db.query("SELECT job, scheduled_for, count(*) FROM momentum_maintd.job_runs "
                                "WHERE status IN ('ok', 'running') GROUP BY 1, 2 HAVING count(*) > 1")
        left = db.query("SELECT count(*) FROM zoom_credentials WHERE expires_at < now() - interval '7 days'")[0][0]
    finally:
        for n in socks:
            n.close()
        server_log = ""
        if os.path.exists(pg.log):
            with open(pg.log, errors="replace") as f:
                f.seek(server_log_start)
                server_log = f.read()

    # each tick: one instance ran it, the others skipped it or saw it done
    assert per_job_tick == [], per_job_tick
    for tick in ticks:
        mine = [r for r in runs if r[0] == tick]
        ok = [r for r in mine if r[1] == "ok"]
        assert len(ok) == 1 and ok[0][2] == expected[tick], (tick, mine)
        assert all(r[1] == "skipped" for r in mine if r[1] != "ok"), (tick, mine)
        assert len(mine) <= NDAEMONS, mine
        assert len({r[3] for r in mine}) == len(mine), ("an instance recorded a tick twice", mine)
        for r in mine:
            if r[1] == "skipped":
                assert r[4] in ("another instance is running this job",
                                "this scheduled run already ran on another instance"), r
    assert {r[0] for r in runs} == set(ticks), ("runs for ticks other than the two", runs)
    assert left == 0
    assert "deadlock detected" not in server_log, server_log
    assert [l for l in server_log.splitlines() if "ERROR:" in l] == [], server_log
    logs = [p.stderr() for p in procs]
    for log in logs:
        assert errors(log) == [], log
        assert "still going" not in log, log
    assert sum(log.count("job zoom-token-cleanup finished: ") for log in logs) == len(ticks), logs
    skipped = sum(log.count("job zoom-token-cleanup: run of ") for log in logs)
    assert skipped == sum(1 for r in runs if r[1] == "skipped"), ("every skip is logged and recorded", runs)
    print("ticks: %s" % {t: sorted(r[1] for r in runs if r[0] == t) for t in ticks})


def test_two_migrate_ups_at_once_record_one_snapshot(new_cluster):
    """Two "migrate up" on a new database finish together: one applies, the
    other waits; both then record verification's snapshot. They used to
    race creating its tables ("duplicate key ... pg_type_typname_nsp_index",
    seen on every try) or recording it twice; the recording is serialised."""
    pg = new_cluster()
    for attempt in range(3):
        db = Database(pg, pg.create_db())
        args = [BIN, "-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"]
        procs = [subprocess.Popen(args, env=daemon_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd="/") for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
            assert "recording the schema snapshot" not in err, err
            assert "level=warning" not in err and "level=error" not in err, err
        assert db.query("SELECT count(DISTINCT migrations) FROM momentum_maintd.verify_snapshot") == [(1,)]
