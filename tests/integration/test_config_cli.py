"""Configuration errors, check-config, --help/--version, one-shot commands."""
import json
import os
import re
import signal
import time

import pytest

from conftest import MIGRATIONS, SEED_COUNT, Database, run


def write(tmp_path, text, name="maintd.conf"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("text,line,needle", [
    ("log: { level = \"info\" }\nenvironment = ;\n", 2, "syntax error"),
    ("log: {\n  level = \"info\";\n  colour = true;\n};\n", 3, 'unknown key "log.colour" (allowed in log: level, format, instance)'),
    ("jobs: {\n  zoom_token_cleanup: {\n    batch_size = \"lots\";\n  };\n};\n", 3,
     "jobs.zoom_token_cleanup.batch_size: expected an integer, got a string"),
    ("\n\njobs: { zoom_token_cleanup: { batch_size = 0; }; };\n", 3,
     "jobs.zoom_token_cleanup.batch_size: invalid value 0 (min 1, max 1000000)"),
    ("environment = \"prod\";\n", 1, 'environment: invalid value "prod" (allowed: development, staging, production)'),
    ("verify: { remind_every = \"soon\"; };\n", 1, 'verify.remind_every: invalid duration "soon"'),
])
def test_bad_config_exits_78_naming_file_and_line(tmp_path, text, line, needle):
    path = write(tmp_path, text)
    for cmd in (["check-config"], ["run"], ["migrate", "status"]):
        r = run(["-c", path] + cmd)
        assert r.returncode == 78, (cmd, r.stderr)
        assert "%s:%d: " % (path, line) in r.stderr, r.stderr
        assert needle in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1, "one clear line: " + r.stderr


def test_missing_explicit_config_file_is_an_error(tmp_path):
    r = run(["-c", str(tmp_path / "nope.conf"), "check-config"])
    assert r.returncode == 78
    assert "nope.conf: cannot open configuration file: No such file or directory" in r.stderr


def test_config_from_env_variable_name(tmp_path):
    path = write(tmp_path, "log: { level = \"debug\"; };\n")
    r = run(["check-config"], env={"MOMENTUM_MAINTD_CONFIG": path, "MOMENTUM_MAINTD_LOG_LEVEL": None})
    assert r.returncode == 0, r.stderr
    assert 'level = "debug";  # %s:1' % path in r.stdout


def test_unknown_environment_variable_is_an_error():
    r = run(["check-config"], env={"MOMENTUM_MAINTD_LOG_LEVLE": "debug"})
    assert r.returncode == 78
    assert "MOMENTUM_MAINTD_LOG_LEVLE: no such configuration key" in r.stderr


def test_precedence_defaults_file_env_command_line(tmp_path):
    path = write(tmp_path, "log: { level = \"debug\"; format = \"json\"; };\n"
                           "jobs: { zoom_token_cleanup: { batch_size = 10; }; };\n")
    r = run(["-c", path, "--set", "log.level=error", "check-config"],
            env={"MOMENTUM_MAINTD_LOG_LEVEL": "warning", "MOMENTUM_MAINTD_LOG_FORMAT": "text"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert 'level = "error";  # command line' in out
    assert 'format = "text";  # environment MOMENTUM_MAINTD_LOG_FORMAT' in out
    assert "batch_size = 10;  # %s:2" % path in out
    assert 'retention = "7 days";  # default' in out


def test_check_config_prints_the_effective_value_of_environment_defaults(db, tmp_path):
    """development logs at debug unless log.level is set: check-config shows
    the level in force, and its output loaded back as the configuration file
    gives the same effective configuration, debug logging included."""
    dev = {"MOMENTUM_MAINTD_ENVIRONMENT": "development", "MOMENTUM_MAINTD_LOG_LEVEL": None}
    r = run(["check-config"], env=dev)
    assert r.returncode == 0, r.stderr
    assert re.search(r'^  level = "debug";  # default', r.stdout, re.M), r.stdout
    path = write(tmp_path, r.stdout, "effective.conf")
    unset = {"MOMENTUM_MAINTD_ENVIRONMENT": None, "MOMENTUM_MAINTD_LOG_LEVEL": None}
    again = run(["-c", path, "check-config"], env=unset)
    assert again.returncode == 0, again.stderr
    values = lambda out: [re.sub(r";  #.*", ";", l) for l in out.splitlines()[1:]]
    assert values(again.stdout) == values(r.stdout), "the printed configuration is the one in force"
    # both configurations log the debug lines of applying
    for config, env in (([], dev), (["-c", path], unset)):
        fresh = Database(db.cluster, db.cluster.create_db())
        m = run(config + ["-d", fresh.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"],
                env=env)
        assert m.returncode == 0, m.stderr
        assert "level=debug" in m.stderr, (config, m.stderr)
    # in the other environments the default is the table's
    r = run(["check-config"], env={"MOMENTUM_MAINTD_ENVIRONMENT": "staging", "MOMENTUM_MAINTD_LOG_LEVEL": None})
    assert re.search(r'^  level = "info";  # default$', r.stdout, re.M), r.stdout


def test_check_config_masks_secrets_everywhere(tmp_path):
    secret = "s3cr3t-Pa55"
    path = write(tmp_path, 'database: { conninfo = "host=/tmp user=app password=%s dbname=m"; };\n' % secret)
    r = run(["-c", path, "check-config"])
    assert r.returncode == 78, "a password in a file others can read is refused"
    assert "holds a password in database.conninfo and is readable by other users (mode 0644); " \
        "run chmod 600 %s" % path in r.stderr
    assert secret not in r.stderr
    os.chmod(path, 0o600)
    r = run(["-c", path, "check-config"])
    assert r.returncode == 0, r.stderr
    assert secret not in r.stdout + r.stderr
    assert "password=********" in r.stdout
    r = run(["check-config"], env={"DATABASE_URL": "postgresql://app:%s@localhost:1/m" % secret})
    assert r.returncode == 0
    assert secret not in r.stdout + r.stderr
    # the printed configuration is valid libconfig that loads again
    again = write(tmp_path, r.stdout.replace("********", "x"), "again.conf")
    os.chmod(again, 0o600)
    assert run(["-c", again, "check-config"]).returncode == 0


def test_password_never_logged_when_database_is_down(tmp_path):
    secret = "n0t-in-logs"
    r = run(["-d", "host=/nonexistent-dir user=app password=%s dbname=m" % secret,
             "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 69, r.stderr
    assert secret not in r.stdout + r.stderr
    assert "unavailable" in r.stderr


def test_password_file_and_credentials_directory(tmp_path, cluster):
    # trust authentication ignores the password; this checks it is read, never printed
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    r = run(["--set", "database.password_file=" + str(pw), "check-config"])
    assert r.returncode == 78 and "is readable by other users (mode 0644)" in r.stderr
    os.chmod(pw, 0o600)
    r = run(["-d", cluster.conninfo(), "--set", "database.password_file=" + str(pw),
             "--set", "migrations.directory=" + MIGRATIONS, "migrate", "status"])
    assert r.returncode == 0, r.stderr
    assert "from-file" not in r.stdout + r.stderr
    r = run(["--set", "database.password_file=" + str(tmp_path / "missing"), "check-config"])
    assert r.returncode == 78
    assert "database.password_file: cannot read" in r.stderr
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "db-password").write_text("")
    r = run(["-d", cluster.conninfo(), "--set", "migrations.directory=" + MIGRATIONS, "migrate", "status"],
            env={"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert r.returncode == 78
    assert "db-password: the database password file is empty" in r.stderr


def test_help_and_version():
    r = run(["--help"])
    assert r.returncode == 0
    for word in ("run", "check-config", "migrate status", "migrate up", "--config", "--set",
                 "jobs.zoom_token_cleanup.batch_size", "MOMENTUM_MAINTD_", "78 configuration error"):
        assert word in r.stdout, word
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("momentum-maintd ")


@pytest.mark.parametrize("args", [["bogus"], ["migrate"], ["migrate", "sideways"], ["run", "extra"],
                                  ["--no-such-option"], ["--set", "novalue"]])
def test_usage_errors_exit_64(args):
    r = run(args)
    assert r.returncode == 64, r.stderr
    assert r.stderr


def test_one_shot_commands_exit_69_when_database_is_down():
    for cmd in (["migrate", "up"], ["migrate", "status"]):
        r = run(["-d", "host=/nonexistent-dir dbname=x", "--set",
                 "migrations.directory=" + MIGRATIONS] + cmd, timeout=30)
        assert r.returncode == 69, (cmd, r.stderr)
        assert "database" in r.stderr and "unavailable" in r.stderr


def test_migrate_up_then_status(db):
    args = ["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS]
    r = run(args + ["migrate", "status"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("pending") == SEED_COUNT
    r = run(args + ["migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert "%d migration(s) applied" % SEED_COUNT in r.stdout
    r = run(args + ["migrate", "status"])
    assert r.returncode == 0
    assert r.stdout.count("applied") == SEED_COUNT and "pending" not in r.stdout
    assert r.stdout.count(" ok") == SEED_COUNT


def test_json_log_format_one_object_per_line(db):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "--set", "log.format=json",
             "migrate", "up"])
    assert r.returncode == 0, r.stderr
    events = [json.loads(l) for l in r.stderr.splitlines()]
    applied = [e for e in events if e.get("migration") == "001_initial_schema" and "duration_ms" in e]
    assert applied and applied[0]["level"] == "notice"
    assert applied[0]["message_id"] == "4d91fac3e57b49f39b62b0eb147faaf1"


def test_journal_stream_variable_alone_is_not_proof(db):
    # JOURNAL_STREAM names a device/inode that is not our stderr: keep logging text to stderr
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"],
            env={"JOURNAL_STREAM": "1:1"})
    assert r.returncode == 0
    assert "level=notice msg=\"applied migration 001_initial_schema" in r.stderr


def test_bad_migrations_directory_is_a_data_error(tmp_path, db):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "1x_bad.sql").write_text("select 1;")
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + str(tmp_path / "m"), "migrate", "up"])
    assert r.returncode == 65
    assert "1x_bad.sql: bad migration file name" in r.stderr


def test_sample_config_sets_every_key_to_its_default():
    import re
    from conftest import SRCDIR
    sample = os.path.join(SRCDIR, "etc", "momentum-maintd.conf")
    r = run(["-c", sample, "check-config"], env={"MOMENTUM_MAINTD_ENVIRONMENT": None, "MOMENTUM_MAINTD_LOG_LEVEL": None})
    assert r.returncode == 0, r.stderr
    d = run(["check-config"], env={"MOMENTUM_MAINTD_ENVIRONMENT": None, "MOMENTUM_MAINTD_LOG_LEVEL": None})
    keys = [l for l in r.stdout.splitlines() if " = " in l]
    missing = [l for l in keys if l.endswith("# default")]
    assert not missing, "keys not documented in etc/momentum-maintd.conf: %s" % missing
    strip = lambda out: [re.sub(r";  #.*", ";", l) for l in out.splitlines()[1:] if "directory =" not in l]
    assert strip(r.stdout) == strip(d.stdout), "the sample's values are the defaults"


def test_password_in_a_badly_encoded_uri_is_never_echoed(tmp_path):
    for url in ("postgresql://app:pa/ss@localhost:5432/db", "postgresql://app:p@ss@localhost/db",
                "host=x password=Secret junk"):
        r = run(["check-config"], env={"DATABASE_URL": url})
        assert r.returncode == 78, (url, r.stdout, r.stderr)
        for piece in ("pa/ss", "ss@", "Secret"):
            assert piece not in r.stdout + r.stderr, (url, r.stderr)
        assert "DATABASE_URL" in r.stderr


def test_integer_too_large_for_libconfig_is_an_error(tmp_path):
    p = tmp_path / "c.conf"
    p.write_text("jobs: { zoom_token_cleanup: {\n  batch_size = 4294972296;\n}; };\n")
    r = run(["-c", str(p), "check-config"])
    assert r.returncode == 78
    assert "%s:2: jobs.zoom_token_cleanup.batch_size: integer too large" % p in r.stderr
    p.write_text("verify: { remind_every = 4294967297; };\n")
    r = run(["-c", str(p), "check-config"])
    assert r.returncode == 78 and "integer too large" in r.stderr


def test_migrations_directory_missing_is_a_configuration_error(db):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=/nonexistent/migrations", "migrate", "up"])
    assert r.returncode == 78
    assert "/nonexistent/migrations: cannot open migrations directory" in r.stderr


def test_dotted_name_in_config_file_gets_a_hint(tmp_path):
    p = tmp_path / "c.conf"
    p.write_text('log.level = "debug";\n')
    r = run(["-c", str(p), "check-config"])
    assert r.returncode == 78
    assert "write a section as log: { level" in r.stderr


# ---- issue 14, item 5: secrets in files and on the command line ------------------

def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode()


@pytest.mark.parametrize("form", ["keywords", "uri", "set"])
def test_the_password_given_with_d_is_not_in_proc_cmdline(db, daemons, notify, form):
    """/proc/PID/cmdline is readable by every user: once read, the password
    in -d (or --set database.conninfo=) is overwritten there, the rest of
    the connection string stays readable, and the daemon still uses it."""
    secret = "Sup3r-s3cret"
    if form == "uri":
        target = ["-d", "postgresql://postgres:%s@/%s?host=%s&port=%d&sslpassword=kp-%s" % (
            secret, db.name, db.cluster.dir, db.cluster.port, secret)]
    elif form == "set":
        target = ["--set", "database.conninfo=%s password='%s x'" % (db.conninfo, secret)]
    else:
        target = ["-d", "%s password=%s sslpassword=kp-%s" % (db.conninfo, secret, secret)]
    d = daemons(target + ["--set", "migrations.directory=" + MIGRATIONS], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1", timeout=30), d.stderr()
    seen = cmdline(d.proc.pid)
    assert secret not in seen, seen
    assert "*" * len(secret) in seen, seen
    assert db.name in seen and "migrations.directory=" + MIGRATIONS in seen, "the rest stays readable: " + seen
    # SIGHUP reads the command line's settings again: the copy, not the stars
    d.signal(signal.SIGHUP)
    time.sleep(1)
    assert d.proc.poll() is None, d.stderr()
    assert "configuration error" not in d.stderr() and secret not in d.stderr(), d.stderr()


def test_help_says_d_with_a_password_is_for_one_off_use():
    r = run(["--help"])
    assert "with a password, -d is for one-off use" in r.stdout, r.stdout


@pytest.mark.parametrize("mode", [0o640, 0o660, 0o604, 0o620, 0o600, 0o400])
def test_a_password_file_must_be_its_owners_alone(tmp_path, mode):
    """0600 or 0400, as ssh wants keys: a group or other bit is refused"""
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    os.chmod(pw, mode)
    r = run(["--set", "database.password_file=" + str(pw), "check-config"])
    assert "from-file" not in r.stdout + r.stderr
    if mode in (0o600, 0o400):
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 78, r.stderr
    assert 'database.password_file: "%s" is ' % pw in r.stderr, r.stderr
    assert "by other users (mode %04o); run chmod 600 %s" % (mode, pw) in r.stderr, r.stderr


def test_a_secret_owned_by_another_user_is_refused(tmp_path):
    """ssh's rule for keys: a file someone else owns could hold their password."""
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    os.chmod(pw, 0o600)
    os.chown(pw, 65534, 65534)
    r = run(["--set", "database.password_file=" + str(pw), "check-config"])
    assert r.returncode == 78, r.stderr
    assert re.search(r'"%s" is owned by \S+ \(uid 65534\), not by the daemon\'s user root \(uid 0\); '
                     r"run chown root %s" % (re.escape(str(pw)), re.escape(str(pw))), r.stderr), r.stderr
    conf = write(tmp_path, 'database: { conninfo = "host=/tmp password=x"; };\n')
    os.chmod(conf, 0o600)
    os.chown(conf, 65534, 65534)
    r = run(["-c", conf, "check-config"])
    assert r.returncode == 78 and "%s: holds a password in database.conninfo and is owned by" % conf in r.stderr, \
        r.stderr


@pytest.mark.parametrize("mode,key", [(0o640, "password"), (0o660, "password"), (0o644, "sslpassword"),
                                      (0o640, "sslpassword")])
def test_a_config_file_with_a_secret_others_can_open_is_refused(tmp_path, mode, key):
    conf = write(tmp_path, 'database: { conninfo = "host=/tmp user=app %s=Pa55 dbname=m"; };\n' % key)
    os.chmod(conf, mode)
    r = run(["-c", conf, "check-config"])
    assert r.returncode == 78, r.stderr
    assert "%s: holds a password in database.conninfo and is readable by other users (mode %04o); " \
        "run chmod 600 %s" % (conf, mode, conf) in r.stderr, r.stderr
    assert "Pa55" not in r.stdout + r.stderr


def test_a_config_file_without_a_secret_may_be_readable_by_all(tmp_path):
    """the unit's comment: with no password in it, the file is readable by others"""
    conf = write(tmp_path, 'database: { conninfo = "host=/tmp user=app dbname=m"; };\n')
    os.chmod(conf, 0o644)
    r = run(["-c", conf, "check-config"])
    assert r.returncode == 0, r.stderr
    conf = write(tmp_path, 'database: { conninfo = "host=/tmp sslpassword=Pa55"; };\n', "secret.conf")
    os.chmod(conf, 0o600)
    r = run(["-c", conf, "check-config"])
    assert r.returncode == 0, r.stderr
    assert "Pa55" not in r.stdout and "sslpassword=********" in r.stdout, r.stdout
