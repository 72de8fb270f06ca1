"""Logging to journald: when stderr is the journal ($JOURNAL_STREAM matches
stderr's device and inode), events go through sd_journal_send with
PRIORITY, MESSAGE_ID and upper-case fields.  There is no journald here, so
the test plays it: it binds /run/systemd/journal/socket and decodes the
native protocol.  Skipped where a real journald owns that socket."""
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import BIN, EMPTY_CONFIG, MIGRATIONS, SEED_MIGRATIONS, TEST_DEFAULTS, migrations_dir

JOURNAL_DIR = "/run/systemd/journal"
SOCKET = JOURNAL_DIR + "/socket"


def parse_native(data):
    """KEY=value lines, or KEY\\n<le64 size><value>\\n for values with newlines."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            fields[k.decode()] = v.decode()
            i = nl + 1
        else:
            size = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
            fields[line.decode()] = data[nl + 9:nl + 9 + size].decode()
            i = nl + 9 + size + 1
    return fields


@pytest.fixture
def fake_journal():
    if os.path.exists(SOCKET) or os.geteuid() != 0:
        pytest.skip("a real journald is running here (or not root): cannot play journald")
    made = not os.path.isdir(JOURNAL_DIR)
    os.makedirs(JOURNAL_DIR, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(SOCKET)
    s.settimeout(0.1)
    # read as journald does, all the time: a full queue would block the sender
    j = {"entries": [], "stop": False}

    def reader():
        while not j["stop"]:
            try:
                j["entries"].append(parse_native(s.recv(1 << 20)))
            except socket.timeout:
                continue
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    yield j
    j["stop"] = True
    t.join(2)
    s.close()
    os.unlink(SOCKET)
    if made:
        os.rmdir(JOURNAL_DIR)


def run_as_journal_client(args, tmp_path, extra_env=None):
    err_path = tmp_path / "stderr"
    with open(err_path, "w") as err:
        st = os.fstat(err.fileno())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOMENTUM_MAINTD_", "PG", "NOTIFY"))}
        env.update(TEST_DEFAULTS, MOMENTUM_MAINTD_CONFIG=EMPTY_CONFIG, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        env.update(extra_env or {})
        r = subprocess.run([BIN] + args, env=env, stderr=err, stdout=subprocess.PIPE, timeout=60, cwd="/")
    return r.returncode, err_path.read_text()


def entries(journal):
    time.sleep(0.3)
    return list(journal["entries"])


def test_events_go_to_the_journal_with_fields(db, tmp_path, fake_journal):
    rc, stderr = run_as_journal_client(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                                        "migrate", "up"], tmp_path)
    assert rc == 0
    assert stderr == "", "nothing duplicated on stderr: " + stderr
    got = entries(fake_journal)
    applied = [e for e in got if e.get("MESSAGE_ID") == "4d91fac3e57b49f39b62b0eb147faaf1"]
    assert [e["MIGRATION"] for e in applied] == SEED_MIGRATIONS
    e = applied[0]
    assert e["PRIORITY"] == "5" and e["SYSLOG_IDENTIFIER"] == "momentum-maintd"
    assert e["MESSAGE"].startswith("applied migration 001_initial_schema in ")
    assert e["DURATION_MS"].isdigit() and len(e["CHECKSUM"]) == 64


def test_a_failed_migration_is_one_journal_entry_with_its_caret(db, tmp_path, fake_journal):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\nSELECT nope FROM a;\n"})
    rc, stderr = run_as_journal_client(["-d", db.conninfo, "--set", "migrations.directory=" + mdir,
                                        "migrate", "up"], tmp_path)
    assert rc == 65
    failed = [e for e in entries(fake_journal) if e.get("MESSAGE_ID") == "769326f3e59643878ee25083058fa7fc"]
    assert len(failed) == 1
    e = failed[0]
    assert e["PRIORITY"] == "3" and e["SQLSTATE"] == "42703" and e["LINE"] == "2" and e["COLUMN"] == "8"
    lines = e["MESSAGE"].split("\n")
    assert lines[0].endswith('001_a.sql:2:8: migration failed: ERROR 42703: column "nope" does not exist '
                             '(rolled back, nothing of it was applied)')
    assert lines[1].endswith("| SELECT nope FROM a;") and lines[2].endswith("|        ^")


def test_configuration_errors_reach_the_journal_too(tmp_path, fake_journal):
    bad = tmp_path / "bad.conf"
    bad.write_text("log: { colour = 1; };\n")
    rc, stderr = run_as_journal_client(["-c", str(bad), "run"], tmp_path)
    assert rc == 78
    e = [e for e in entries(fake_journal) if e.get("MESSAGE_ID") == "318a24ab7b56448ea202257c9f5a82c7"]
    assert e and 'unknown key "log.colour"' in e[0]["MESSAGE"] and e[0]["PRIORITY"] == "3"


def test_text_from_the_database_reaches_the_journal_escaped(db, tmp_path, fake_journal):
    """issue 14, item 6: journalctl shows MESSAGE and fields as they are (with
    -a, or -o verbose/cat): a finding's message and object from the
    database reach it with their control characters escaped.  The
    finding's level is FINDING_LEVEL=, as in the text and JSON logs."""
    from test_output_escaping import CONTROLS, TABLE, hostile_database
    hostile_database(db)
    rc, stderr = run_as_journal_client(["-d", db.conninfo, "run-job", "verify"], tmp_path)
    assert rc == 0, stderr
    got = [e for e in entries(fake_journal) if e.get("MESSAGE_ID") == "5ac9bd389fff40fabf1d8c147ecb3171"]
    assert got, entries(fake_journal)
    for e in got:
        for k, v in e.items():
            assert not CONTROLS.search(v), (k, v)
        assert "LEVEL" not in e and e["FINDING_LEVEL"] in ("error", "warn", "info"), e
    assert any("boom\n\\x1b[2J\\x1b[31mFORGED\\xc2\\x9b0m" in e["MESSAGE"] for e in got), got
    escaped_table = TABLE.replace("\x1b", "\\x1b").replace("\u009b", "\\xc2\\x9b")
    assert any(e["OBJECT"] == 'public."%s"' % escaped_table for e in got), got


# ---- issue 17: one host, several databases (momentum-maintd@.service) -------------

def test_each_instance_is_searchable_by_INSTANCE(cluster, tmp_path, fake_journal):
    """The template unit sets MOMENTUM_MAINTD_LOG_INSTANCE=%i (log.instance):
    every entry of that daemon carries INSTANCE=, so "journalctl
    INSTANCE=tenant-a" shows one database's events and none of another's."""
    dbs = {name: cluster.conninfo(cluster.create_db()) for name in ("tenant-a", "staging")}
    for name, conninfo in dbs.items():
        rc, stderr = run_as_journal_client(["-d", conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                                            "migrate", "up"], tmp_path,
                                           {"MOMENTUM_MAINTD_LOG_INSTANCE": name})
        assert rc == 0 and stderr == "", stderr
    got = entries(fake_journal)
    assert got and all(e.get("INSTANCE") in dbs for e in got), [e for e in got if e.get("INSTANCE") not in dbs]
    for name in dbs:
        applied = [e for e in got if e["INSTANCE"] == name and e.get("MESSAGE_ID") == "4d91fac3e57b49f39b62b0eb147faaf1"]
        assert [e["MIGRATION"] for e in applied] == SEED_MIGRATIONS, name


def test_no_INSTANCE_field_unless_one_is_set(db, tmp_path, fake_journal):
    rc, _ = run_as_journal_client(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                                   "migrate", "up"], tmp_path)
    assert rc == 0
    got = entries(fake_journal)
    assert got and not [e for e in got if "INSTANCE" in e]


def test_an_instance_configuration_error_carries_INSTANCE(tmp_path, fake_journal):
    """The instance's file has a mistake: its error is in its journal too."""
    bad = tmp_path / "tenant-b.conf"
    bad.write_text("log: { colour = 1; };\n")
    rc, _ = run_as_journal_client(["-c", str(bad), "run"], tmp_path, {"MOMENTUM_MAINTD_LOG_INSTANCE": "tenant-b"})
    assert rc == 78
    e = [e for e in entries(fake_journal) if e.get("MESSAGE_ID") == "318a24ab7b56448ea202257c9f5a82c7"]
    assert e and e[0]["INSTANCE"] == "tenant-b", e


def test_instance_in_text_and_json_and_a_bad_name_refused(db, tmp_path):
    """Off the journal (a container's stderr) the field is instance=; a
    name that is not a systemd instance name is a configuration error."""
    import json
    from conftest import run
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT nope;\n"})
    for fmt in ("text", "json"):
        r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "--set", "log.format=" + fmt,
                 "--set", "log.instance=tenant-a", "migrate", "up"])
        assert r.returncode == 65, r.stderr
        lines = [l for l in r.stderr.splitlines() if l.startswith(("time=", "{"))]
        assert lines
        if fmt == "json":
            assert all(json.loads(l)["instance"] == "tenant-a" for l in lines), lines
        else:
            assert all(" instance=tenant-a" in l for l in lines), lines
    r = run(["-d", db.conninfo, "--set", "log.instance=a b", "check-config"])
    assert r.returncode == 78 and "log.instance" in r.stderr, r.stderr
