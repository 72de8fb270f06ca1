"""Look-alikes on the search_path, an attacker's end-to-end try.

The database's search_path puts public before pg_catalog, and public
holds a look-alike of every pg_catalog function that the daemon's own SQL
names and of every pg_catalog operator on the base types it uses: the
same signature and volatility, a WARNING that says it ran and for whom,
then the original's answer (so the daemon keeps working and every later
statement gets its chance).  Whoever may CREATE in public could do this;
a look-alike that ran in one of the daemon's statements would run with
the daemon's privileges.  Then every command runs, and no look-alike may
have fired (the server's log says which did, for whom, in what
statement).  The probe's login is left out: it is unprivileged and runs
the database's own policies and functions on purpose.

Not duplicated (the DO block skips them): aggregates and window functions
(count, max, string_agg, first_value: no generic way to wrap one),
functions with a pseudo-type argument or result other than void and the
polymorphic ones of POLYMORPHIC (format(text, VARIADIC "any"),
jsonb_to_recordset's record, anyrange), and functions with OUT arguments
(pg_lock_status).
Types are not looked alike either (a public.text domain).

The migration files themselves run with the database's search_path, as
psql would run them: the ones here call no function and use no operator,
so whatever fires is the daemon's."""
import glob
import os
import re
import signal

import pytest

from conftest import MIGRATIONS, SRCDIR, fill_tokens, migrations_dir, run, wait_until
from test_adopt import FLYWAY_DDL


def called_names():
    """Every identifier followed by "(" in the daemon's SQL: src/sql/*.sql,
    and the string literals of src/*.c and src/*.h.  The DO block keeps
    those that are pg_catalog functions."""
    names = set()
    for path in glob.glob(os.path.join(SRCDIR, "src", "sql", "*.sql")) + [
            os.path.join(SRCDIR, "src", "supabase_compat.sql")]:
        with open(path) as f:
            names |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", f.read()))
    for path in glob.glob(os.path.join(SRCDIR, "src", "*.[ch]")):
        with open(path) as f:
            for lit in re.findall(r'"((?:[^"\\\n]|\\.)*)"', f.read()):
                names |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", lit))
    return sorted({n.lower() for n in names})


# the types of the operators looked alike: those of the daemon's columns,
# literals and catalogs
OPERATOR_TYPES = ["bool", "char", "name", "int2", "int4", "int8", "oid", "text", "varchar", "bpchar", "float4",
                  "float8", "numeric", "timestamptz", "timestamp", "interval", "date", "jsonb", "json", "tid",
                  "pg_lsn", "xid", "xid8", "bytea", "regclass"]

# the polymorphic types a PL/pgSQL look-alike can take and pass on as they are
POLYMORPHIC = ["anyelement", "anyarray", "anynonarray", "anyenum", "anycompatible", "anycompatiblearray",
               "anycompatiblenonarray"]

LOOKALIKES = r"""
DO $gen$
DECLARE
    p record;
    o record;
    call text;
    body text;
    n int := 0;
    -- who ran it; the bodies name pg_catalog's alone and set no search_path
    -- (a to_regclass must resolve its argument as the original would)
    who text := $$OPERATOR(pg_catalog.||) ' [' OPERATOR(pg_catalog.||) session_user::pg_catalog.text
                 OPERATOR(pg_catalog.||) ']'$$;
BEGIN
    FOR p IN
        SELECT f.oid, f.proname, f.proretset, f.pronargs, f.provariadic <> 0 AS variadic,
               pg_get_function_arguments(f.oid) AS args, pg_get_function_identity_arguments(f.oid) AS ident,
               format_type(f.prorettype, NULL) AS result, f.prorettype = 'void'::regtype AS void,
               CASE f.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END AS vol
        FROM pg_proc f
        WHERE f.pronamespace = 'pg_catalog'::regnamespace AND f.prokind = 'f'
          AND f.proname = ANY (%(names)s::text[]) AND f.proallargtypes IS NULL
          AND (SELECT typtype <> 'p' OR typname = ANY (%(poly)s::text[]) OR typname = 'void'
               FROM pg_type WHERE oid = f.prorettype)
          AND NOT EXISTS (SELECT 1 FROM unnest(f.proargtypes) t JOIN pg_type y ON y.oid = t
                          WHERE y.typtype = 'p' AND y.typname <> ALL (%(poly)s::text[]))
    LOOP
        SELECT string_agg(CASE WHEN p.variadic AND i = p.pronargs THEN 'VARIADIC ' ELSE '' END || '$' || i, ', ')
        INTO call FROM generate_series(1, p.pronargs) i;
        call := format('pg_catalog.%%I(%%s)', p.proname, coalesce(call, ''));
        body := CASE WHEN p.void THEN format('PERFORM %%s; RETURN;', call)
                     WHEN p.proretset THEN format('RETURN QUERY SELECT * FROM %%s; RETURN;', call)
                     ELSE format('RETURN %%s;', call) END;
        EXECUTE format('CREATE FUNCTION public.%%I(%%s) RETURNS %%s LANGUAGE plpgsql %%s AS %%L',
                       p.proname, p.args, CASE WHEN p.proretset THEN 'SETOF ' ELSE '' END || p.result, p.vol,
                       format('BEGIN RAISE WARNING USING MESSAGE = %%L %%s; %%s END',
                              format('LOOKALIKE fired: %%s(%%s)', p.proname, p.ident), who, body));
        n := n + 1;
    END LOOP;
    FOR o IN
        SELECT op.oid, op.oprname, op.oprkind, op.oprleft, op.oprright, op.oprresult,
               format_type(op.oprleft, NULL) AS l, format_type(op.oprright, NULL) AS r,
               format_type(op.oprresult, NULL) AS res,
               CASE (SELECT provolatile FROM pg_proc WHERE oid = op.oprcode)
                    WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END AS vol
        FROM pg_operator op
        WHERE op.oprnamespace = 'pg_catalog'::regnamespace AND op.oprkind IN ('b', 'l')
          AND (op.oprkind = 'l' OR op.oprleft IN (SELECT oid FROM pg_type WHERE typname = ANY (%(types)s::text[])
                                                  AND typnamespace = 'pg_catalog'::regnamespace))
          AND op.oprright IN (SELECT oid FROM pg_type WHERE typname = ANY (%(types)s::text[])
                              AND typnamespace = 'pg_catalog'::regnamespace)
          AND (SELECT typtype FROM pg_type WHERE oid = op.oprresult) <> 'p'
    LOOP
        IF o.oprkind = 'b' THEN
            EXECUTE format('CREATE FUNCTION lookalike_impl.op_%%s(%%s, %%s) RETURNS %%s LANGUAGE plpgsql %%s AS %%L',
                           o.oid, o.l, o.r, o.res, o.vol,
                           format('BEGIN RAISE WARNING USING MESSAGE = %%L %%s; RETURN $1 OPERATOR(pg_catalog.%%s) $2; END',
                                  format('LOOKALIKE fired: %%s %%s %%s', o.l, o.oprname, o.r), who, o.oprname));
            EXECUTE format('CREATE OPERATOR public.%%s (LEFTARG = %%s, RIGHTARG = %%s, FUNCTION = lookalike_impl.op_%%s)',
                           o.oprname, o.l, o.r, o.oid);
        ELSE
            EXECUTE format('CREATE FUNCTION lookalike_impl.op_%%s(%%s) RETURNS %%s LANGUAGE plpgsql %%s AS %%L',
                           o.oid, o.r, o.res, o.vol,
                           format('BEGIN RAISE WARNING USING MESSAGE = %%L %%s; RETURN OPERATOR(pg_catalog.%%s) $1; END',
                                  format('LOOKALIKE fired: %%s %%s', o.oprname, o.r), who, o.oprname));
            EXECUTE format('CREATE OPERATOR public.%%s (RIGHTARG = %%s, FUNCTION = lookalike_impl.op_%%s)',
                           o.oprname, o.r, o.oid);
        END IF;
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'look-alikes: %%', n;
END
$gen$
"""


# the test's own connections: pg_catalog alone on their search_path, so
# that the test's queries fire nothing
SAFE = "-c search_path=pg_catalog"


def safe(db):
    return db.cluster.connect(db.name, options=SAFE)


def q(db, sql, args=None):
    return db.query(sql, args, options=SAFE)


def plant(db):
    """The attack: public first on the database's search_path, a look-alike
    for each name; a WARNING in a look-alike is logged with its statement.
    Returns how many were made."""
    q(db, "ALTER DATABASE %s SET search_path = public, pg_catalog" % db.name)
    q(db, "ALTER DATABASE %s SET log_min_error_statement = warning" % db.name)
    q(db, "CREATE SCHEMA IF NOT EXISTS lookalike_impl")
    c = safe(db)
    try:
        with c.cursor() as cur:
            cur.execute(LOOKALIKES, {"names": called_names(), "types": OPERATOR_TYPES, "poly": POLYMORPHIC})
        made = [n.strip() for n in c.notices if "look-alikes:" in n]
    finally:
        c.close()
    n = int(made[-1].rsplit(" ", 1)[1])
    # the daemon's most common ones are there
    fns = {r for (r,) in q(db, "SELECT p.oid::regprocedure::text FROM pg_proc p "
                              "WHERE p.pronamespace = 'public'::regnamespace")}
    assert {"public.now()", "public.to_regclass(text)", "public.set_config(text,text,boolean)",
            "public.to_char(timestamp with time zone,text)", "public.pg_try_advisory_lock(integer,integer)",
            "public.to_jsonb(anyelement)", "public.unnest(anyarray)"} <= fns, \
        sorted(fns)
    ops = {r for (r,) in q(db, "SELECT o.oid::regoperator::text FROM pg_operator o "
                              "WHERE o.oprnamespace = 'public'::regnamespace")}
    assert {"public.=(bigint,bigint)", "public.=(bigint,integer)", "public.||(text,text)",
            "public.=(text,text)"} <= ops, sorted(ops)
    return n


class Watch:
    """What fired in the server's log since the last look, with the
    statement that fired it."""

    def __init__(self, db):
        self.log = db.cluster.log
        self.pos = os.path.getsize(self.log)
        self.fired = []

    def look(self, what):
        with open(self.log, errors="replace") as f:
            f.seek(self.pos)
            text = f.read()
            self.pos = f.tell()
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = re.search(r"WARNING:\s+LOOKALIKE fired: (.*)", line)
            # the probe's login is unprivileged, and it runs the
            # database's own code on purpose: not the daemon's statements
            if not m or m.group(1).endswith(" [momentum_maintd_probe]"):
                continue
            stmt = ""
            for j in range(i + 1, min(i + 40, len(lines))):
                if "WARNING:" in lines[j]:
                    break
                s = re.search(r"STATEMENT:\s+(.*)", lines[j])
                if s:
                    stmt = s.group(1)
                    k = j + 1
                    while k < len(lines) and lines[k].startswith("\t"):
                        stmt += " " + lines[k].strip()
                        k += 1
                    break
            self.fired.append("%s: %s <- %s" % (what, m.group(1), stmt[:300]))

    def report(self):
        seen, out = set(), []
        for f in self.fired:
            if f not in seen:
                seen.add(f)
                out.append(f)
        return "\n".join(out)


def cmd(watch, db, mdir, *args, ok=(0,), timeout=120):
    pre = ["-d", db.conninfo] + (["--set", "migrations.directory=" + mdir] if mdir else [])
    r = run(pre + list(args), timeout=timeout)
    watch.look(" ".join(args))
    assert r.returncode in ok, (args, r.returncode, r.stdout, r.stderr)
    return r


FILES = {
    "001_a.sql": "CREATE TABLE a (id bigint PRIMARY KEY, note text);\n",
    "002_a_note.sql": "-- momentum-maintd: no-transaction\n"
                      "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_note ON a (note);\n",
    # (SET NOT NULL: the safety checks read the table's size)
    "003_c.sql": "CREATE TABLE c (id bigint);\nCREATE TABLE c2 (id bigint);\n"
                 "ALTER TABLE a ALTER COLUMN note SET NOT NULL;\n",
    "rollback_003_c.sql": "ALTER TABLE a ALTER COLUMN note DROP NOT NULL;\nDROP TABLE c2;\nDROP TABLE c;\n",
    "20240101000000_d.sql": "CREATE TABLE d (id bigint);\n",
    "rollback_20240101000000_d.sql": "DROP TABLE d;\n",
}


def test_no_look_alike_runs_in_the_migration_commands(db, tmp_path):
    """migrate up (a fresh bookkeeping, transactional and no-transaction
    files, a version beyond int4), status, dry runs, down, an interrupted
    no-transaction file run again, baseline, verify: no look-alike fires."""
    assert plant(db) > 500
    w = Watch(db)
    mdir = migrations_dir(tmp_path, FILES)
    cmd(w, db, mdir, "migrate", "up")
    assert q(db, "SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1") == \
        [(1,), (2,), (3,), (20240101000000,)]
    cmd(w, db, mdir, "migrate", "status")
    cmd(w, db, mdir, "migrate", "up", "--dry-run")
    cmd(w, db, mdir, "migrate", "down", "--to", "2", "--yes")
    assert q(db, "SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1") == [(1,), (2,)]
    (tmp_path / "migrations" / "005_e.sql").write_text("CREATE TABLE e (id bigint);\n")
    cmd(w, db, mdir, "migrate", "up", "--dry-run", "--locks")
    # 002 as a crash leaves it: started, never recorded
    q(db, "DELETE FROM momentum_maintd.schema_migrations WHERE version = 2")
    q(db, "INSERT INTO momentum_maintd.migrations_in_progress (version, name) VALUES (2, '002_a_note')")
    cmd(w, db, mdir, "migrate", "up")
    assert q(db, "SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1") == \
        [(1,), (2,), (3,), (5,), (20240101000000,)]
    assert q(db, "SELECT count(*) FROM momentum_maintd.migrations_in_progress") == [(0,)]
    (tmp_path / "migrations" / "20240102000000_f.sql").write_text("CREATE TABLE f (id bigint);\n")
    (tmp_path / "migrations" / "20240103000000_g.sql").write_text("CREATE TABLE g (id bigint);\n")
    cmd(w, db, mdir, "migrate", "baseline", "20240102000000")
    assert q(db, "SELECT applied_by FROM momentum_maintd.schema_migrations WHERE version = 20240102000000") == \
        [("postgres (baseline)",)]
    cmd(w, db, mdir, "migrate", "up")
    assert q(db, "SELECT count(*) FROM momentum_maintd.schema_migrations") == [(7,)]
    cmd(w, db, mdir, "verify", ok=(0, 1))
    assert w.fired == [], "look-alikes fired:\n" + w.report()


def test_no_look_alike_runs_in_the_not_owner_hint(db, tmp_path):
    """A file that fails with "must be owner of table t": the daemon's
    query for the owners (migrate_not_owner.sql) runs in the files'
    session, and names pg_catalog's functions."""
    role = "o_" + db.name
    q(db, 'CREATE ROLE "%s" LOGIN' % role)
    q(db, 'ALTER DATABASE "%s" OWNER TO "%s"' % (db.name, role))
    q(db, "CREATE TABLE public.t (x int)")
    plant(db)
    w = Watch(db)
    mdir = migrations_dir(tmp_path, {"001_t.sql": "ALTER TABLE t ADD COLUMN y int;\n"})
    r = run(["-d", db.conninfo.replace("user=postgres", "user=" + role), "--set", "migrations.directory=" + mdir,
             "--set", "migrations.supabase_compat=false", "migrate", "up"])
    w.look("migrate up as " + role)
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert "public.t is owned by postgres" in r.stderr, r.stderr
    assert w.fired == [], "look-alikes fired:\n" + w.report()


ADOPT_FROM = {
    "dbmate": ["CREATE TABLE public.schema_migrations (version varchar(128) PRIMARY KEY)",
               "INSERT INTO public.schema_migrations VALUES ('1')"],
    "golang-migrate": ["CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)",
                       "INSERT INTO public.schema_migrations VALUES (1, false)"],
    "supabase": ["CREATE SCHEMA supabase_migrations",
                 "CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], "
                 "name text)",
                 "INSERT INTO supabase_migrations.schema_migrations VALUES ('1', NULL, 'a')"],
    "flyway": FLYWAY_DDL + ["INSERT INTO public.flyway_schema_history VALUES (1, '1', 'a', 'SQL', '1_a.sql', NULL, "
                            "'x', now(), 0, true)"],
}


@pytest.mark.parametrize("tool", sorted(ADOPT_FROM))
def test_no_look_alike_runs_in_adopt(db, tmp_path, tool):
    """migrate adopt reads the tool's table through the search_path (as
    the tool does) but calls nothing of public's."""
    for sql in ADOPT_FROM[tool]:
        q(db, sql)
    plant(db)
    w = Watch(db)
    mdir = migrations_dir(tmp_path, {"1_a.sql": "CREATE TABLE a (id bigint);\n",
                                     "2_b.sql": "CREATE TABLE b (id bigint);\n"})
    r = cmd(w, db, mdir, "migrate", "adopt", tool)
    assert "recorded 1_a as applied (adopted from %s, not run)" % tool in r.stdout, r.stdout
    assert q(db, "SELECT applied_by FROM momentum_maintd.schema_migrations") == [("postgres (adopted from %s)" % tool,)]
    assert w.fired == [], "look-alikes fired:\n" + w.report()


def test_no_look_alike_runs_in_the_jobs_and_the_daemon(db, daemons, notify):
    """run-job for both jobs, verify, and the daemon's start (the
    migration pass with nothing to apply, the catch-up check and the missed
    cleanup run): no look-alike fires (a job's session puts pg_catalog
    first; the daemon's other statements name pg_catalog's or run under it
    alone)."""
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    fill_tokens(db, 100, 40)
    plant(db)
    w = Watch(db)
    r = cmd(w, db, MIGRATIONS, "run-job", "zoom-token-cleanup")
    assert r.stdout.strip() == "zoom-token-cleanup: deleted 40 expired Zoom token(s)", r.stdout
    cmd(w, db, MIGRATIONS, "run-job", "verify")
    cmd(w, db, MIGRATIONS, "verify", ok=(0, 1))
    # the last run two days ago: the daemon's start runs the missed one
    q(db, "DELETE FROM momentum_maintd.job_runs")
    q(db, "INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, finished_at, status, rows_affected) "
          "VALUES ('zoom-token-cleanup', 'earlier', date_trunc('day', now()) - interval '2 days' + interval '2 hours', "
          "now() - interval '2 days', 'ok', 0)")
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1")
    assert wait_until(lambda: q(db, "SELECT count(*) FROM momentum_maintd.job_runs "
                                    "WHERE job = 'zoom-token-cleanup' AND status = 'ok'") == [(2,)]), d.stderr()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    w.look("the daemon")
    assert w.fired == [], "look-alikes fired:\n" + w.report()


@pytest.mark.parametrize("lookalike", [
    # to_timestamp($3): an untyped parameter, and a text argument is what
    # PostgreSQL prefers for one over pg_catalog's float8
    "CREATE FUNCTION public.to_timestamp(text) RETURNS timestamptz LANGUAGE plpgsql AS "
    "$$BEGIN RAISE WARNING 'LOOKALIKE fired: to_timestamp(text)'; RETURN '1999-01-01'; END$$",
    # quote_ident(current_user): current_user is a name, pg_catalog's takes text
    "CREATE FUNCTION public.quote_ident(name) RETURNS text LANGUAGE plpgsql AS "
    "$$BEGIN RAISE WARNING 'LOOKALIKE fired: quote_ident(name)'; RETURN 'x'; END$$",
])
def test_a_better_matching_overload_does_not_answer_in_a_job(db, lookalike):
    """A job's session puts pg_catalog first, but a public function that
    matches a call better than pg_catalog's (no implicit cast) would still
    win: the job's statements name pg_catalog's."""
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    fill_tokens(db, 10, 4)
    q(db, "ALTER DATABASE %s SET search_path = public, pg_catalog" % db.name)
    q(db, "ALTER DATABASE %s SET log_min_error_statement = warning" % db.name)
    q(db, lookalike)
    w = Watch(db)
    r = cmd(w, db, None, "run-job", "zoom-token-cleanup")
    assert r.stdout.strip() == "zoom-token-cleanup: deleted 4 expired Zoom token(s)", r.stdout
    assert q(db, "SELECT count(*) FROM momentum_maintd.job_runs WHERE scheduled_for < '2020-01-01'") == [(0,)]
    assert w.fired == [], "look-alikes fired:\n" + w.report()
