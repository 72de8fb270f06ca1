"""Crash safety: the daemon SIGKILLed at random moments while it applies
migrations (some of them no-transaction files), and the one-shot cleanup
SIGKILLed mid-run.  Whatever the moment, nothing is half-applied, nothing
is applied twice, no token younger than the retention is deleted, and the
next start (or run) finishes the work and tells the truth about it.

The random moments come from a seeded generator; the seed is printed and
is in every assertion message.  Re-run one with MAINTD_CRASH_SEED=N."""
import hashlib
import os
import random
import re
import signal
import time

import pytest

from conftest import MIGRATIONS, NotifySocket, errors, fill_tokens, missed_history, run, wait_until, young_ids

SEED = int(os.environ.get("MAINTD_CRASH_SEED") or random.SystemRandom().randrange(1, 2**31))
NMIGRATIONS = 50
KILL_ROUNDS = 30
NOTX = "-- momentum-maintd: no-transaction\n"


def daemon_backends(db):
    return db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND application_name = 'momentum-maintd'", (db.name,))[0][0]


# ---- migrations: 50 small files, about one in four no-transaction ----------------

def generate_migrations(rng, mdir):
    """Writes the files; returns {version: kind} with kind 'tx' or 'notx'."""
    kinds = {}
    os.makedirs(mdir, exist_ok=True)
    # one in four, which ones at random (drawn one by one, a seed could give
    # fewer than the test needs: 4 of 49, once)
    notx_versions = set(rng.sample(range(2, NMIGRATIONS + 1), (NMIGRATIONS - 1) // 4))
    for v in range(1, NMIGRATIONS + 1):
        if v == 1:
            sql = ("CREATE TABLE crash_ledger (version int NOT NULL);\n"
                   "CREATE TABLE crash_notx_ledger (version int PRIMARY KEY);\n"
                   "CREATE TABLE crash_notx_runs (version int NOT NULL, at timestamptz DEFAULT clock_timestamp());\n"
                   "INSERT INTO crash_ledger VALUES (1);\n")
            kind = "tx"
        elif v in notx_versions:
            kind = "notx"
            # idempotent, as the README asks of such files.  The index is
            # dropped first: a CREATE INDEX CONCURRENTLY cut short leaves an
            # INVALID index that IF NOT EXISTS would keep (see
            # test_interrupted_concurrent_index_is_not_left_invalid).
            sql = (NOTX +
                   "-- a no-transaction step, %d\n" % v +
                   "INSERT INTO crash_notx_runs (version) VALUES (%d);\n" % v +
                   "CREATE TABLE IF NOT EXISTS crash_n%03d (id int, v text);\n" % v +
                   "INSERT INTO crash_n%03d SELECT g, md5(g::text) FROM generate_series(1, 20000) g\n"
                   "  WHERE NOT EXISTS (SELECT FROM crash_n%03d);\n" % (v, v) +
                   "DROP INDEX CONCURRENTLY IF EXISTS crash_n%03d_v;\n" % v +
                   "CREATE INDEX CONCURRENTLY crash_n%03d_v ON crash_n%03d (v);\n" % (v, v) +
                   "VACUUM ANALYZE crash_n%03d;\n" % v +
                   "INSERT INTO crash_notx_ledger VALUES (%d) ON CONFLICT DO NOTHING;\n" % v)
        else:
            kind = "tx"
            sql = ("CREATE TABLE crash_t%03d (id int PRIMARY KEY, v text);\n" % v +
                   "INSERT INTO crash_t%03d SELECT g, md5(g::text) FROM generate_series(1, 3000) g;\n" % v +
                   "CREATE INDEX crash_t%03d_v ON crash_t%03d (v);\n" % (v, v) +
                   "CREATE FUNCTION crash_f%03d() RETURNS int LANGUAGE sql AS $$ SELECT %d $$;\n" % (v, v) +
                   "COMMENT ON TABLE crash_t%03d IS 'migration %d; not ''half'' applied';\n" % (v, v) +
                   "INSERT INTO crash_ledger VALUES (%d);\n" % v)
        kinds[v] = kind
        with open(os.path.join(mdir, "%03d_crash_%s.sql" % (v, kind)), "w") as f:
            f.write(sql)
    return kinds


def name_of(v, kinds):
    return "%03d_crash_%s" % (v, kinds[v])


def check_consistent(db, kinds, where):
    """Nothing half-applied: a transactional migration is all there with its
    tracking row or not there at all; a no-transaction one that started and
    is not tracked is in migrations_in_progress."""
    if not db.query("SELECT to_regclass('momentum_maintd.schema_migrations') IS NOT NULL "
                    "AND to_regclass('momentum_maintd.migrations_in_progress') IS NOT NULL")[0][0]:
        assert db.query("SELECT to_regclass('public.crash_ledger')") == [(None,)], where
        return set(), set()
    tracked = {v for (v,) in db.query("SELECT version FROM momentum_maintd.schema_migrations")}
    in_progress = {v for (v,) in db.query("SELECT version FROM momentum_maintd.migrations_in_progress")}
    assert not tracked & in_progress, where
    if 1 not in tracked:
        assert db.query("SELECT to_regclass('public.crash_ledger')") == [(None,)], where
        assert tracked == set() and in_progress == set(), where
        return tracked, in_progress
    ledger = db.query("SELECT version, count(*) FROM crash_ledger GROUP BY 1")
    assert all(n == 1 for _, n in ledger), ("a migration ran twice", ledger, where)
    assert {v for v, _ in ledger} == {v for v in tracked if kinds[v] == "tx"}, (ledger, tracked, where)
    tables = {r for (r,) in db.query("SELECT relname::text FROM pg_class WHERE relname ~ '^crash_[tn][0-9]+$' "
                                      "AND relkind = 'r'")}
    funcs = {r for (r,) in db.query("SELECT proname::text FROM pg_proc WHERE proname ~ '^crash_f[0-9]+$'")}
    notx_done = {v for (v,) in db.query("SELECT version FROM crash_notx_ledger")}
    notx_ran = {v for (v,) in db.query("SELECT DISTINCT version FROM crash_notx_runs")}
    valid = dict(db.query("SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c "
                          "ON c.oid = i.indexrelid WHERE c.relname ~ '^crash_[tn][0-9]+_v$'"))
    for v, kind in kinds.items():
        if v == 1:
            continue
        if kind == "tx":
            there = "crash_t%03d" % v in tables
            assert there == (v in tracked), ("half-applied transactional migration", v, where)
            assert ("crash_f%03d" % v in funcs) == there, (v, where)
            assert valid.get("crash_t%03d_v" % v) is (True if there else None), (v, valid, where)
            if there:
                assert db.query("SELECT count(*), obj_description('crash_t%03d'::regclass, 'pg_class') "
                                "FROM crash_t%03d" % (v, v)) == [(3000, "migration %d; not 'half' applied" % v)]
        else:
            if v in tracked:
                assert v in notx_done and "crash_n%03d" % v in tables, (v, where)
                assert valid.get("crash_n%03d_v" % v) is True, ("index of an applied migration", v, valid, where)
            elif v in notx_ran or "crash_n%03d" % v in tables:
                assert v in in_progress, ("a no-transaction migration started and is not remembered", v, where)
    return tracked, in_progress


def test_sigkill_at_random_moments_while_migrating_then_ready(db, tmp_path, daemons):
    print("crash seed: MAINTD_CRASH_SEED=%d" % SEED)
    rng = random.Random(SEED)
    mdir = str(tmp_path / "migrations")
    kinds = generate_migrations(rng, mdir)
    notx = [v for v, k in kinds.items() if k == "notx"]
    assert len(notx) >= 5, ("seed %d made too few no-transaction files" % SEED, notx)
    # A server that notices a vanished client mid-statement (as with TCP
    # keepalives on a real network) aborts the statement: a CREATE INDEX
    # CONCURRENTLY cut short is then really left INVALID.  RESET ALL keeps
    # database-level settings, so the daemon's sessions have it too.
    db.query('ALTER DATABASE "%s" SET client_connection_check_interval = \'20ms\'' % db.name)
    args = ["-d", db.conninfo, "--set", "migrations.directory=" + mdir]
    tag = "seed %d" % SEED
    sock = NotifySocket(str(tmp_path / "notify.sock"))
    kills, reruns, applied_logged, prev_in_progress, prev_tracked, progress = 0, 0, {}, set(), set(), []
    try:
        for rnd in range(KILL_ROUNDS):
            where = "%s, round %d" % (tag, rnd)
            start = len(sock.lines())
            d = daemons(args, notify=sock)
            how = rng.random()
            applying = lambda: {l.split()[1] for l in sock.lines()[start:] if l.startswith("STATUS=applying ")}
            ready = lambda: "READY=1" in sock.lines()[start:]
            if how < 0.2:
                # anywhere in starting: connecting, the lock, bookkeeping, compat step
                time.sleep(rng.uniform(0, 0.12))
            elif how < 0.55:
                # inside the next no-transaction migration still to apply
                todo = [v for v in notx if v not in prev_tracked]
                target = name_of(todo[0], kinds) if todo else "-"
                wait_until(lambda: target in applying() or ready(), timeout=15)
                time.sleep(rng.uniform(0, 0.1))
            else:
                # soon after the first, second or third migration of this start began
                n = rng.randint(1, 3)
                wait_until(lambda: len(applying()) >= n or ready(), timeout=15)
                time.sleep(rng.uniform(0, 0.02))
            rc = d.proc.poll()
            assert rc is None, ("the daemon exited by itself", rc, where, d.stderr())
            d.proc.send_signal(signal.SIGKILL)
            d.wait()
            kills += 1
            log = d.stderr()
            assert errors(log) == [], (where, log)
            for m in re.findall(r"applied migration (\d+)_", log):
                applied_logged[int(m)] = applied_logged.get(int(m), 0) + 1
            if "(re-run after an interruption)" in log:
                reruns += log.count("(re-run after an interruption)")
            # the killed daemon's sessions end (the server notices), then the
            # database must be consistent, whatever the moment was
            assert wait_until(lambda: daemon_backends(db) == 0, timeout=20), where
            tracked, in_progress = check_consistent(db, kinds, where)
            # a start that got as far as reading the bookkeeping said which
            # no-transaction migration it found interrupted
            if "migration(s) pending" in log:
                for v in prev_in_progress:
                    assert "no-transaction migration %s was interrupted" % name_of(v, kinds) in log, (where, v, log)
            prev_in_progress, prev_tracked = in_progress, tracked
            invalid = db.query("SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0]
            progress.append("%d%s%s" % (len(tracked), "+" + ",".join(map(str, sorted(in_progress))) if in_progress else "",
                                        "!" * invalid))
        # and now to the end
        start = len(sock.lines())
        d = daemons(args, notify=sock)
        assert wait_until(lambda: "READY=1" in sock.lines()[start:], timeout=90), (tag, d.stderr())
        log = d.stderr()
        for v in prev_in_progress:
            assert "no-transaction migration %s was interrupted" % name_of(v, kinds) in log, (tag, v, log)
        ready = [l for l in sock.lines()[start:] if l.startswith("STATUS=ready: ")]
        assert ready and ", %d in all" % NMIGRATIONS in ready[0], (tag, ready)
        for m in re.findall(r"applied migration (\d+)_", log):
            applied_logged[int(m)] = applied_logged.get(int(m), 0) + 1
        reruns += log.count("(re-run after an interruption)")
        assert errors(log) == [], (tag, log)
        d.signal(signal.SIGTERM)
        assert d.wait(10) == 0, (tag, d.stderr())
    finally:
        sock.close()

    tracked, in_progress = check_consistent(db, kinds, tag + ", at the end")
    assert tracked == set(range(1, NMIGRATIONS + 1)), (tag, sorted(set(range(1, NMIGRATIONS + 1)) - tracked))
    assert in_progress == set(), tag
    # exactly once, with the file's checksum
    rows = db.query("SELECT version, name, checksum FROM momentum_maintd.schema_migrations ORDER BY 1")
    assert len(rows) == NMIGRATIONS
    for v, name, checksum in rows:
        assert name == name_of(v, kinds)
        with open(os.path.join(mdir, name + ".sql"), "rb") as f:
            assert checksum == hashlib.sha256(f.read()).hexdigest(), (tag, v)
    assert db.query("SELECT version, count(*) FROM crash_ledger GROUP BY 1 HAVING count(*) <> 1") == [], tag
    assert sorted(v for (v,) in db.query("SELECT version FROM crash_notx_ledger")) == notx, tag
    # every object exists, and no INVALID index anywhere
    assert db.query("SELECT count(*) FROM pg_class WHERE relname ~ '^crash_[tn][0-9]+$'")[0][0] == NMIGRATIONS - 1
    assert db.query("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid") == [], tag
    for v in notx:
        assert db.query("SELECT count(*) FROM crash_n%03d" % v) == [(20000,)], (tag, v)
    # a migration is logged as applied at most once (a commit may land just
    # before the kill, before the log line)
    assert all(n == 1 for n in applied_logged.values()), (tag, applied_logged)
    # a no-transaction file runs again only after an interruption
    runs = dict(db.query("SELECT version, count(*) FROM crash_notx_runs GROUP BY 1"))
    assert all(runs[v] >= 1 for v in notx), (tag, runs)
    assert sum(runs.values()) - len(notx) <= kills, (tag, runs, kills)
    assert reruns <= kills
    print("crash seed %d: %d kills, %d no-transaction re-runs logged, %d extra no-transaction runs; "
          "applied (+ interrupted, ! an INVALID index) after each kill: %s" % (SEED, kills, reruns, sum(runs.values()) - len(notx),
                                                           " ".join(progress)))


# ---- an interrupted CREATE INDEX CONCURRENTLY, the README's IF NOT EXISTS form -------

def require(cond, *what):
    """A precondition: its failure is an error of the test, never the
    expected failure of an xfail test (those expect AssertionError only)."""
    if not cond:
        pytest.fail("precondition failed: %r" % (what,), pytrace=True)
    return cond


def test_interrupted_concurrent_index_is_not_left_invalid(db, tmp_path, daemons):
    mdir = str(tmp_path / "migrations")
    os.makedirs(mdir)
    with open(os.path.join(mdir, "001_t.sql"), "w") as f:
        f.write("CREATE TABLE t (id int, v text);\nINSERT INTO t SELECT g, g::text FROM generate_series(1, 1000) g;\n")
    with open(os.path.join(mdir, "002_idx.sql"), "w") as f:
        f.write(NOTX + "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v_idx ON t (v);\n")
    args = ["-d", db.conninfo, "--set", "migrations.directory=" + mdir]
    # A transaction holding a snapshot makes the index build wait in its
    # last phase, when the index is in the catalog but not valid yet.
    holder = db.cluster.connect(db.name)
    holder.autocommit = False
    holder.set_session(isolation_level="REPEATABLE READ")
    holder.cursor().execute("SELECT count(*) FROM pg_class")
    n1 = NotifySocket(str(tmp_path / "n1.sock"))
    try:
        d = daemons(args, notify=n1)
        require(wait_until(lambda: db.query(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%%' "
            "AND wait_event_type = 'Lock'")[0][0] == 1, timeout=20), d.stderr())
        d.proc.send_signal(signal.SIGKILL)
        d.wait()
        # the daemon is gone; its session ends too (as when the server
        # notices, or the machine went down)
        db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE "
                 "'CREATE INDEX CONCURRENTLY%%' AND pid <> pg_backend_pid()")
        require(wait_until(lambda: daemon_backends(db) == 0))
    finally:
        holder.rollback()
        holder.close()
        n1.close()
    require(db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_idx'::regclass") == [(False,)])
    require(db.query("SELECT version FROM momentum_maintd.migrations_in_progress") == [(2,)])

    n2 = NotifySocket(str(tmp_path / "n2.sock"))
    try:
        d2 = daemons(args, notify=n2)
        ready = n2.wait_for(lambda l: l == "READY=1", timeout=30)
        exited = d2.proc.poll()
        log = d2.stderr()
        d2.signal(signal.SIGTERM)
        d2.wait()
    finally:
        n2.close()
    require("no-transaction migration 002_idx was interrupted" in log, log)
    invalid = db.query("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
    tracked = db.query("SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1")
    said = re.search(r"level=(warning|error) .*t_v_idx.*invalid|level=(warning|error) .*invalid.*t_v_idx", log)
    # Either the re-run left a valid index, or the daemon said that
    # t_v_idx is invalid (a warning, or an error and exit 65 without
    # recording 002).
    assert invalid == [] or said, ("INVALID index left behind silently", invalid, tracked, bool(ready), exited, log)


# ---- SIGKILL during the token cleanup -----------------------------------------------

EXPIRED = 50000
FRESH = 5000


def fill(db):
    """Expired tokens, 50 just inside the retention, and the rest inside it by an hour or more."""
    fill_tokens(db, EXPIRED + FRESH, EXPIRED, near=50)


def all_ids(db):
    return {r for (r,) in db.query("SELECT id FROM zoom_credentials")}


def job_rows(db):
    return db.query("SELECT id, status, rows_affected, error, instance FROM momentum_maintd.job_runs "
                    "WHERE job = 'zoom-token-cleanup' ORDER BY id")


def test_sigkill_during_cleanup_runs_never_deletes_young_tokens_and_history_tells_the_truth(db):
    import subprocess
    from conftest import BIN, EMPTY_CONFIG, TEST_DEFAULTS
    print("crash seed: MAINTD_CRASH_SEED=%d" % SEED)
    rng = random.Random(SEED + 1)
    tag = "seed %d" % SEED
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    fill(db)
    young = young_ids(db)
    assert len(young) == FRESH
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTUM_MAINTD_", "PG"))}
    env.update(TEST_DEFAULTS, MOMENTUM_MAINTD_CONFIG=EMPTY_CONFIG)
    argv = [BIN, "-d", db.conninfo, "--set", "jobs.zoom_token_cleanup.batch_size=300", "run-job", "zoom-token-cleanup"]
    killed_running, kills, finished = 0, 0, 0
    for rnd in range(8):
        where = "%s, cleanup round %d" % (tag, rnd)
        before = db.query("SELECT count(*) FROM zoom_credentials")[0][0]
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        time.sleep(rng.uniform(0.05, 1.2))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        out, err = p.communicate(timeout=30)
        if p.returncode == 0:
            finished += 1
        else:
            assert p.returncode == -signal.SIGKILL, (where, p.returncode, out, err)
        assert errors(err) == [], (where, err)
        assert wait_until(lambda: daemon_backends(db) == 0, timeout=20), where
        # never a token younger than the retention
        assert not young - all_ids(db), (where, "a token younger than the retention was deleted")
        after = db.query("SELECT count(*) FROM zoom_credentials")[0][0]
        rows = job_rows(db)
        running = [x for x in rows if x[1] == "running"]
        # at most the run just killed is left 'running': a run marks the
        # ones before it as interrupted before it claims its own tick
        assert len(running) <= 1, (where, rows)
        if running:
            assert running[0][0] == rows[-1][0], (where, rows)
        killed_running = len(running)
        assert all(e.startswith("interrupted") for _, s, _, e, _ in rows if s == "failed"), (where, rows)
        assert after <= before
    # the next run finishes the job
    left = db.query("SELECT count(*) FROM zoom_credentials WHERE expires_at < now() - interval '7 days'")[0][0]
    r = run(["-d", db.conninfo, "--set", "jobs.zoom_token_cleanup.batch_size=300", "run-job", "zoom-token-cleanup"],
            timeout=180)
    assert r.returncode == 0, (tag, r.stderr)
    assert r.stdout.strip() == "zoom-token-cleanup: deleted %d expired Zoom token(s)" % left, (tag, r.stdout)
    if killed_running:
        assert "1 earlier run(s) left 'running' are now recorded as failed (interrupted)" in r.stderr, (tag, r.stderr)
    assert db.query("SELECT count(*) FROM zoom_credentials WHERE expires_at < now() - interval '7 days'") == [(0,)]
    assert not young - all_ids(db), tag
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(FRESH,)], tag
    rows = job_rows(db)
    statuses = [s for _, s, _, _, _ in rows]
    assert "running" not in statuses, (tag, rows)
    assert rows[-1][1:4] == ("ok", left, None), (tag, rows)
    failed = [x for x in rows if x[1] == "failed"]
    assert all(x[3].startswith("interrupted: its daemon stopped or lost the connection") for x in failed), rows
    assert all(s in ("ok", "failed") for s in statuses), (tag, rows)
    # one row per run that got as far as claiming its tick (a kill may land
    # just after a run recorded its end)
    assert finished + 1 <= statuses.count("ok") <= finished + 1 + kills, (tag, rows, finished)
    assert len(failed) + statuses.count("ok") == len(rows)
    assert len(failed) <= kills, (tag, rows, kills)
    print("cleanup seed %d: %d kills, %d runs recorded as interrupted, %d finished before the kill"
          % (SEED, kills, len(failed), finished))


def test_daemon_killed_during_its_scheduled_run_the_next_start_finishes_it(db, tmp_path, daemons):
    """The daemon (not run-job) SIGKILLed in the middle of its catch-up run."""
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    require(r.returncode == 0, r.stderr)
    fill(db)
    young = young_ids(db)
    missed_history(db)   # the daemon runs the missed daily run once after start
    args = ["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
            "--set", "jobs.zoom_token_cleanup.batch_size=300"]
    n1 = NotifySocket(str(tmp_path / "n1.sock"))
    try:
        d = daemons(args, notify=n1)
        require(n1.wait_for(lambda l: l == "READY=1"), d.stderr())
        require(wait_until(lambda: db.query("SELECT count(*) FROM zoom_credentials")[0][0] < EXPIRED + FRESH - 2000),
                d.stderr())
        d.proc.send_signal(signal.SIGKILL)
        d.wait()
    finally:
        n1.close()
    require(wait_until(lambda: daemon_backends(db) == 0))
    require([x[1] for x in job_rows(db)] == ["ok", "running"], job_rows(db))
    assert not young - all_ids(db), "a token younger than the retention was deleted"

    n2 = NotifySocket(str(tmp_path / "n2.sock"))
    try:
        d2 = daemons(args, notify=n2)
        require(n2.wait_for(lambda l: l == "READY=1"), d2.stderr())
        # the interrupted run is recorded as such and the cleanup finishes
        # (the catch-up sees that the last due run did not complete)
        wait_until(lambda: len(job_rows(db)) >= 3 and job_rows(db)[1][1] != "running", 8)
        done = wait_until(lambda: db.query(
            "SELECT count(*) FROM zoom_credentials WHERE expires_at < now() - interval '7 days'")[0][0] == 0, 60) \
            if len(job_rows(db)) >= 3 else None
        # and records its end
        wait_until(lambda: job_rows(db)[-1][1] != "running", 30)
        rows = job_rows(db)
        log = d2.stderr()
        d2.signal(signal.SIGTERM)
        require(d2.wait(10) == 0, log)
    finally:
        n2.close()
    assert not young - all_ids(db), "a token younger than the retention was deleted"
    assert [x[1] for x in rows][:2] == ["ok", "failed"] and rows[1][3].startswith("interrupted"), (rows, log)
    assert done and rows[-1][1] == "ok", ("the interrupted run was not resumed by the next start", rows, log)
