"""Issue 14, item 6 (and 7's first bullet): text the daemon did not write
(names and messages from the database, a migration file's line, a value
from the environment) cannot forge output.  Control characters (C0, DEL,
C1) reach no reader as they are, in verify's text and JSON, in the log's
text (at a terminal too) and JSON, and in check-config; a JSON log line
has each key once."""
import json
import os
import re
import select
import subprocess

import pytest

from conftest import BIN, MIGRATIONS, daemon_env, migrations_dir, run

ESC = "\x1b"
CSI = "\u009b"   # the C1 control that a terminal takes as ESC [
# a policy that raises this, and a table named with an escape sequence
FORGED = "boom\n" + ESC + "[2J" + ESC + "[31mFORGED" + CSI + "0m"
TABLE = "t" + ESC + "[2J" + ESC + "[31mFORGED" + CSI + "0m"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]")


def hostile_database(db):
    """The migrations, then a policy that raises FORGED and a table named
    TABLE that anon may read with row level security off."""
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    c = db.cluster.connect(db.name)
    try:
        with c.cursor() as cur:
            cur.execute("CREATE FUNCTION public.forge() RETURNS boolean LANGUAGE plpgsql AS "
                        "$$BEGIN RAISE EXCEPTION '%%', %s; END$$", (FORGED,))
            cur.execute("CREATE TABLE public.forged_policy (id int PRIMARY KEY)")
            cur.execute("INSERT INTO public.forged_policy VALUES (1)")   # the policy runs on a row
            cur.execute("ALTER TABLE public.forged_policy ENABLE ROW LEVEL SECURITY")
            cur.execute("CREATE POLICY p ON public.forged_policy FOR SELECT USING (public.forge())")
            cur.execute("GRANT SELECT ON public.forged_policy TO anon, authenticated")
            cur.execute('CREATE TABLE public."%s" (id int PRIMARY KEY)' % TABLE.replace('"', '""'))
            cur.execute('GRANT SELECT ON public."%s" TO anon, authenticated' % TABLE.replace('"', '""'))
    finally:
        c.close()


def run_on_terminal(args, env=None):
    """Runs the binary with stderr on a pseudo-terminal (where the log is
    written for a person, a message's later lines as they are); returns
    (exit status, stdout, what the terminal received)."""
    master, slave = os.openpty()
    p = subprocess.Popen([BIN] + args, env=daemon_env(env), stdout=subprocess.PIPE, stderr=slave,
                         stdin=subprocess.DEVNULL, cwd="/")
    os.close(slave)
    got = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:   # EIO: the child closed the terminal
            break
        if not chunk:
            break
        got += chunk
    out = p.stdout.read().decode()
    p.wait(30)
    os.close(master)
    # the terminal writes each newline as CR LF
    return p.returncode, out, got.decode(errors="replace").replace("\r\n", "\n")


def no_controls(text):
    """The control characters in text, other than newline and tab."""
    return CONTROLS.findall(text)


def test_verify_text_shows_escape_sequences_from_the_database(db):
    hostile_database(db)
    r = run(["-d", db.conninfo, "verify", "--fail-on", "info"], timeout=120)
    assert r.returncode == 1, r.stderr
    assert no_controls(r.stdout) == [], r.stdout
    # the message and the name are shown, escaped, each finding on its own two lines
    assert "boom\\n\\x1b[2J\\x1b[31mFORGED\\xc2\\x9b0m" in r.stdout, r.stdout
    assert 'public."t\\x1b[2J\\x1b[31mFORGED\\xc2\\x9b0m"' in r.stdout, r.stdout
    assert not any(l.startswith("FORGED") for l in r.stdout.splitlines()), r.stdout


def test_verify_json_escapes_c1_and_stays_json(db):
    hostile_database(db)
    r = run(["-d", db.conninfo, "verify", "--format", "json", "--fail-on", "info"], timeout=120)
    assert r.returncode == 1, r.stderr
    assert no_controls(r.stdout) == [], r.stdout
    assert "\\u009b" in r.stdout and "\\u001b[2J" in r.stdout, r.stdout
    found = json.loads(r.stdout)["findings"]
    assert any(f["detail"].endswith(FORGED) or FORGED in f["detail"] for f in found), found
    assert any(TABLE in f["object"] for f in found), found


def test_the_log_at_a_terminal_shows_escape_sequences(db):
    """run-job verify logs each finding; at a terminal a message's later
    lines are written as lines of their own, escaped all the same."""
    hostile_database(db)
    rc, out, term = run_on_terminal(["-d", db.conninfo, "run-job", "verify"])
    assert rc == 0, term
    assert "FORGED" in term, term
    assert no_controls(term) == [], term
    assert "\\x1b[2J\\x1b[31mFORGED" in term, term


def test_json_log_lines_escape_and_have_each_key_once(db):
    hostile_database(db)
    r = run(["-d", db.conninfo, "--set", "log.format=json", "run-job", "verify"], timeout=120)
    assert r.returncode == 0, r.stderr
    assert no_controls(r.stderr) == [], r.stderr
    findings = []
    for line in r.stderr.splitlines():
        pairs = json.loads(line, object_pairs_hook=list)
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), "a key twice: " + line
        event = dict(pairs)
        if "finding_key" in event:
            findings.append(event)
    assert findings, r.stderr
    for f in findings:
        assert f["level"] in ("error", "warning", "info", "notice") and f["finding_level"] in ("error", "warn", "info")
    assert any(FORGED in f["msg"] for f in findings), findings
    assert any(TABLE in f["object"] for f in findings), findings


def test_text_log_lines_have_each_key_once(db):
    hostile_database(db)
    r = run(["-d", db.conninfo, "run-job", "verify"], timeout=120)
    assert r.returncode == 0, r.stderr
    assert no_controls(r.stderr) == [], r.stderr
    lines = [l for l in r.stderr.splitlines() if "finding_key=" in l]
    assert lines, r.stderr
    for l in lines:
        assert len(re.findall(r" level=", l)) == 1 and " finding_level=" in l, l


def test_a_migration_error_echoing_its_line_is_escaped_at_a_terminal(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT '" + ESC + "[2J" + CSI + "31m' FROM nope;\n"})
    rc, out, term = run_on_terminal(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert rc == 65, term
    assert 'relation \\"nope\\" does not exist' in term, term
    assert no_controls(term) == [], term
    assert "SELECT '\\x1b[2J\\xc2\\x9b31m' FROM nope;" in term, term


def test_check_config_escapes_values_from_the_environment(tmp_path):
    value = "cp /x /y " + ESC + "]0;owned" + "\x07" + CSI + "2J"
    r = run(["check-config"], env={"MOMENTUM_MAINTD_MIGRATIONS_BACKUP_COMMAND": value})
    assert r.returncode == 0, r.stderr
    assert no_controls(r.stdout) == [], r.stdout
    assert 'backup_command = "cp /x /y \\x1b]0;owned\\x07\\xc2\\x9b2J";' in r.stdout, r.stdout
    # still libconfig that loads back to the same value
    conf = tmp_path / "again.conf"
    conf.write_text(r.stdout)
    again = run(["-c", str(conf), "check-config"], env={"MOMENTUM_MAINTD_MIGRATIONS_BACKUP_COMMAND": None})
    assert again.returncode == 0, again.stderr
    assert 'backup_command = "cp /x /y \\x1b]0;owned\\x07\\xc2\\x9b2J";  # %s' % conf in again.stdout, again.stdout


def test_a_configuration_error_quoting_a_value_is_escaped():
    r = run(["check-config"], env={"MOMENTUM_MAINTD_LOG_LEVEL": "x" + ESC + "[2J"})
    assert r.returncode == 78, r.stderr
    assert no_controls(r.stderr) == [] and "\\x1b[2J" in r.stderr, r.stderr


def test_status_lines_escape_the_servers_text(cluster, daemons, notify):
    # STATUS= shows the last connection error, which quotes a name the
    # server was given: "systemctl status" prints it at a terminal
    d = daemons(["-d", cluster.conninfo("no" + TABLE), "--set", "migrations.directory=" + MIGRATIONS],
                notify=notify)
    status = notify.wait_for(lambda l: l.startswith("STATUS=waiting for the database"), timeout=20)
    assert status, d.stderr()
    assert "does not exist" in status and not CONTROLS.search(status), repr(status)
    assert "\\x1b[2J" in status, repr(status)
