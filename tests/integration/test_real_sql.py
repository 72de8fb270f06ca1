"""SQL nobody here wrote (issue 16): each file that psql and the daemon once
read differently is applied with psql (``psql -X -v ON_ERROR_STOP=1 -1 -f``,
one transaction like the daemon's; without -1 for a no-transaction file)
to one fresh database and with ``migrate up`` to another, and the two
databases must end the same: pg_dump's schema and data, the daemon's own
schema left out.  Then what the daemon prints for a syntax error: the file,
line and column, the line echoed (without a CRLF file's \\r) and the caret
under the column by display width."""
import json
import os
import re
import subprocess
import tempfile

import pytest

from conftest import run
from pgcluster import HOST_BIN, PG_VERSION

# name: (file content as bytes, no-transaction?)
CASES = {
    # split inside the parentheses: "syntax error at end of input"
    "rule_with_several_actions": (b"""
CREATE TABLE events (id int PRIMARY KEY, kind text);
CREATE TABLE event_log (id int, kind text);
CREATE TABLE event_counts (kind text PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO event_counts VALUES ('a', 0);
CREATE RULE log_events AS ON INSERT TO events DO ALSO (
    INSERT INTO event_log VALUES (NEW.id, NEW.kind);
    UPDATE event_counts SET n = n + 1 WHERE kind = NEW.kind
);
INSERT INTO events VALUES (1, 'a'), (2, 'a');
""", False),
    # "unterminated quoted string"
    "standard_conforming_strings_off": (b"""
SET standard_conforming_strings = off;
CREATE TABLE quotes (q text);
INSERT INTO quotes VALUES ('it\\'s'), ('a\\\\b; c');
SET standard_conforming_strings = on;
INSERT INTO quotes VALUES ('back\\slash');
""", False),
    # syntax error at or near "\uFEFFCREATE"
    "byte_order_mark": (b"\xef\xbb\xbfCREATE TABLE bom (x int);\nINSERT INTO bom VALUES (1);\n", False),
    "e_string_continued": (b"""
CREATE TABLE notes (n text);
INSERT INTO notes VALUES (E'first\\'s line; '
    'and it\\'s continued');
INSERT INTO notes VALUES ('plain');
""", False),
    # the rest of the file was one statement: CREATE INDEX CONCURRENTLY
    # failed with 25001 and a hint to add the directive it had
    "begin_column_in_begin_atomic": (b"""-- momentum-maintd: no-transaction
CREATE TABLE shifts (begin timestamptz, finish timestamptz, n int);
CREATE FUNCTION add_shift(n int) RETURNS void LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO shifts (begin, finish, n) VALUES ('2026-01-01', '2026-01-02', n);
END;
SELECT add_shift(7);
CREATE INDEX CONCURRENTLY shifts_n ON shifts (n);
""", True),
    # refused as COPY ... FROM STDIN for the "stdin" in the table's name
    "copy_to_a_file_from_a_table_named_stdin": (b"""
CREATE TABLE e15_stdin_events (id int);
INSERT INTO e15_stdin_events VALUES (1), (2);
COPY e15_stdin_events TO '@COPY_PATH@';
CREATE TABLE e15_copied (id int);
COPY e15_copied FROM '@COPY_PATH@';
""", False),
    # rejected as a misplaced directive
    "comment_starting_like_a_directive": (b"""CREATE TABLE imports (id int);
-- momentum-maintd: this table is filled by the nightly import
INSERT INTO imports VALUES (1);
""", False),
    "crlf_lines": (b"CREATE TABLE crlf (x text);\r\nINSERT INTO crlf VALUES ('a\r\nb');\r\n", False),
}


def _pg(program, *args, **kw):
    # the host's client, as the daemon's libpq (psql 15 talks to 17 too)
    return subprocess.run([os.path.join(HOST_BIN, program)] + list(args), capture_output=True, **kw)


def _dump(db, *what):
    # the server's own pg_dump: pg_dump 15 refuses a newer server
    out = subprocess.run(db.cluster.tool("pg_dump") + ["--no-owner", "-N", "momentum_maintd", *what, db.conninfo],
                         capture_output=True, check=True)
    # pg_dump 15.14 and later fence the dump with a random \restrict key
    return "\n".join(l for l in out.stdout.decode().splitlines()
                     if not l.startswith(("\\restrict", "\\unrestrict")))


def _state(db):
    return _dump(db, "--schema-only"), _dump(db, "--data-only", "--inserts")


@pytest.fixture
def copy_path():
    # the server writes it: a directory its user can reach
    fd, path = tempfile.mkstemp(prefix="maintd-real-sql-", dir="/tmp")
    os.close(fd)
    os.chmod(path, 0o666)
    yield path
    os.unlink(path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_psql_and_the_daemon_end_with_the_same_database(name, cluster, tmp_path, copy_path):
    from conftest import Database
    sql, no_tx = CASES[name]
    sql = sql.replace(b"@COPY_PATH@", copy_path.encode())
    mdir = tmp_path / "migrations"
    mdir.mkdir()
    path = mdir / ("001_%s.sql" % name)
    path.write_bytes(sql)
    os.chmod(tmp_path, 0o755)
    os.chmod(mdir, 0o755)

    by_psql = Database(cluster, cluster.create_db())
    p = _pg("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", *([] if no_tx else ["-1"]), "-f", str(path),
            "-d", by_psql.conninfo)
    assert p.returncode == 0, p.stderr.decode()

    by_daemon = Database(cluster, cluster.create_db())
    r = run(["-d", by_daemon.conninfo, "--set", "migrations.directory=" + str(mdir),
             "--set", "migrations.supabase_compat=false", "migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert by_daemon.query("SELECT count(*) FROM momentum_maintd.schema_migrations") == [(1,)]

    schema_psql, data_psql = _state(by_psql)
    schema_daemon, data_daemon = _state(by_daemon)
    assert schema_daemon == schema_psql
    assert data_daemon == data_psql
    assert "CREATE" in schema_psql, "the file did something"


def _up_fails(db, tmp_path, name, content):
    mdir = tmp_path / "migrations"
    mdir.mkdir(exist_ok=True)
    (mdir / name).write_bytes(content)
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + str(mdir), "--set", "log.format=json",
             "--set", "migrations.supabase_compat=false", "migrate", "up"])
    assert r.returncode != 0
    # the messages as written, unescaped
    return "\n".join(json.loads(l)["msg"] for l in r.stderr.splitlines() if l.startswith("{"))


def _snippet(stderr, line):
    """The echoed line and the caret line under it, as printed."""
    lines = stderr.splitlines()
    for i, l in enumerate(lines):
        if re.match(r"^\s*%d \| " % line, l):
            return l.split("| ", 1)[1], lines[i + 1].split("| ", 1)[1]
    raise AssertionError("no snippet for line %d in:\n%s" % (line, stderr))


def test_syntax_error_names_file_line_column_with_the_caret_by_display_width(db, tmp_path):
    # the parser rejects the file: the scanner splits, the server judges and
    # nothing of the file stays (one transaction)
    content = ("CREATE TABLE kept_out (x int);\n"
               "SELECT '日本語', 'é',\t) nope;\n").encode()
    err = _up_fails(db, tmp_path, "001_wide.sql", content)
    assert "001_wide.sql:2:20: " in err, err
    assert 'syntax error at or near ")"' in err
    echoed, caret = _snippet(err, 2)
    assert echoed == "SELECT '日本語', 'é',\t) nope;"
    # 8 + 3 wide characters (6 columns) + 7, a tab kept, then the caret
    assert caret == " " * 8 + " " * 6 + " " * 7 + "\t^", repr(caret)
    assert db.query("SELECT to_regclass('kept_out')") == [(None,)]


def test_crlf_file_error_line_is_echoed_without_its_carriage_return(db, tmp_path):
    err = _up_fails(db, tmp_path, "001_crlf.sql", b"CREATE TABLE a (x int);\r\nSELECT x FROM nowhere;\r\n")
    assert "001_crlf.sql:2:15: " in err, err
    echoed, caret = _snippet(err, 2)
    assert echoed == "SELECT x FROM nowhere;"
    assert caret == " " * 14 + "^"
    assert "\r" not in err


def test_byte_order_mark_error_on_the_first_line_keeps_its_column(db, tmp_path):
    err = _up_fails(db, tmp_path, "001_bom.sql", b"\xef\xbb\xbfSELECT x FROM nowhere;\n")
    assert "001_bom.sql:1:15: " in err, err
    echoed, caret = _snippet(err, 1)
    assert echoed == "SELECT x FROM nowhere;"
    assert caret == " " * 14 + "^"


def test_copy_from_stdin_is_still_refused_by_its_tokens(db, tmp_path):
    err = _up_fails(db, tmp_path, "001_stdin.sql",
                    b"CREATE TABLE stdin_rows (x int);\nCOPY stdin_rows (x) FROM STDIN WITH (FORMAT csv);\n")
    assert "001_stdin.sql:2:1: COPY ... FROM STDIN / TO STDOUT" in err, err


def _up(db, mdir, *extra):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + str(mdir), "--set", "log.format=json",
             "--set", "migrations.supabase_compat=false", "migrate"] + list(extra))
    return r, "\n".join(json.loads(l)["msg"] for l in r.stderr.splitlines() if l.startswith("{"))


@pytest.mark.skipif(PG_VERSION != "15", reason="only a PostgreSQL 15 server has the parser's grammar; "
                    "a newer server judges the syntax itself (README)")
def test_syntax_error_of_a_later_file_is_reported_before_any_file_is_applied(db, tmp_path):
    # PostgreSQL 15's parser judges for a PostgreSQL 15 server: the error is
    # reported at its place before anything of the run is sent, so the
    # good file before the bad one is not applied either
    mdir = tmp_path / "migrations"
    mdir.mkdir()
    (mdir / "001_base.sql").write_text("CREATE TABLE base (x int);\n")
    r, err = _up(db, mdir, "up")
    assert r.returncode == 0, err
    before = db.query("SELECT version, name, checksum FROM momentum_maintd.schema_migrations ORDER BY 1")
    (mdir / "002_good.sql").write_text("CREATE TABLE good (x int);\nINSERT INTO base VALUES (1);\n")
    (mdir / "003_bad.sql").write_text("-- 日本語のコメント\nCREATE TABLE later (x int);\n"
                                      "INSERT INTO later SELECT '日本語' AS 名前,\n  ) FROM base;\n",
                                      encoding="utf-8")
    def nothing_applied():
        assert db.query("SELECT version, name, checksum FROM momentum_maintd.schema_migrations ORDER BY 1") == before
        assert db.query("SELECT to_regclass('good'), to_regclass('later')") == [(None, None)]
        assert db.query("SELECT count(*) FROM base") == [(0,)]

    for extra in (["up"], ["up", "--dry-run"], ["status"]):
        r, err = _up(db, mdir, *extra)
        assert r.returncode == 65, (extra, r.returncode, err)
        assert "003_bad.sql:4:3: migration failed: ERROR 42601: syntax error at or near \")\"" in err, (extra, err)
        echoed, caret = _snippet(err, 4)
        assert (echoed, caret) == ("  ) FROM base;", "  ^"), (extra, echoed, caret)
        nothing_applied()
    # wide characters before the column on the error's line count twice
    (mdir / "003_bad.sql").write_text("CREATE TABLE later (x int);\nSELECT '日本語', 'é',\t) nope;\n")
    r, err = _up(db, mdir, "up")
    assert r.returncode == 65, err
    assert "003_bad.sql:2:20: migration failed: ERROR 42601: syntax error at or near \")\"" in err, err
    assert "before anything was sent" in err and "nothing applied: 1 pending migration(s) with a syntax error" in err
    echoed, caret = _snippet(err, 2)
    assert echoed == "SELECT '日本語', 'é',\t) nope;"
    assert caret == " " * 8 + " " * 6 + " " * 7 + "\t^", repr(caret)
    # nothing applied: the tracking rows, the tables and the data as before
    nothing_applied()
