"""Hostile input (issue 7 point 4): the real binary on each case of the
corpus in tests/hostile/, plus the cases that cannot live in git (NUL bytes,
huge or deeply nested files, symlinks, FIFOs, unreadable files), which are
built here at run time.

The corpus is data; adding a case is adding a file or a line:

- tests/hostile/config/*.conf: a configuration file whose first line is
  ``# expect: EXIT [:LINE] ["CAUSE"]``.  It runs ``-c FILE check-config``;
  for EXIT 78 stderr must hold ``FILE:LINE: `` and CAUSE.
- tests/hostile/migrations/CASE/: a migrations directory with an EXPECT
  file (``exit:``, ``file:`` (the name, optionally with :line[:column]),
  ``cause:``, ``db: yes|no``).  It runs ``migrate status`` and
  ``migrate up --dry-run``.
- tests/hostile/cron.txt, timezones.txt, env.txt, set.txt: one case a line,
  ``EXIT | INPUT | CAUSE``.

Every case also asserts that the process was not killed by a signal, did not
exit 70 (internal error), finished within 30 s, and that stderr holds no
sanitizer report."""
import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, SRCDIR, daemon_env

HOSTILE = os.path.join(SRCDIR, "tests", "hostile")
TIMEOUT = 30
DB_DOWN = "host=/nonexistent-momentum-maintd-hostile dbname=x connect_timeout=1"
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "ThreadSanitizer")


def _nobody():
    """preexec_fn that drops to nobody: root reads anything, nobody does not."""
    pw = pwd.getpwnam("nobody")

    def demote():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return demote


_NOBODY_BIN = []


def _bin_for_nobody():
    """A copy of the binary nobody may run: the tree may sit in a directory
    only root can enter (CI clones into a mktemp -d directory, mode 700)."""
    if not _NOBODY_BIN:
        d = tempfile.mkdtemp(prefix="maintd-nobody-")
        os.chmod(d, 0o755)
        path = os.path.join(d, "momentum-maintd")
        shutil.copy(BIN, path)
        os.chmod(path, 0o755)
        _NOBODY_BIN.append(path)
    return _NOBODY_BIN[0]


def maintd(args, env=None, as_nobody=False):
    """Runs the binary; returns (exit code, stdout, stderr) and checks what
    every hostile case must satisfy: no crash, no hang, no sanitizer report."""
    e = daemon_env(env)
    if as_nobody and os.geteuid() != 0:
        pytest.skip("needs root to run as nobody")
    try:
        p = subprocess.run([_bin_for_nobody() if as_nobody else BIN] + list(args), env=e,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT, cwd="/", preexec_fn=_nobody() if as_nobody else None)
    except subprocess.TimeoutExpired:
        pytest.fail("no answer within %d s: %s" % (TIMEOUT, args))
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode >= 0, "killed by signal %d: %s" % (-p.returncode, err)
    assert p.returncode != 70, "internal error: " + err
    for needle in SANITIZER_REPORTS:
        assert needle not in err, err
    return p.returncode, out, err


def one_line(err):
    """A configuration error is one clear line."""
    assert err.count("\n") == 1, "one line: " + err
    assert err.startswith("momentum-maintd: configuration error: "), err


@pytest.fixture(scope="module")
def scratch(tmpbase):
    """A directory anybody can enter (pytest's tmp_path is root-only)."""
    return case_dir(tmpbase, "hostile")


def case_dir(scratch, name):
    d = os.path.join(scratch, name)
    os.mkdir(d)
    os.chmod(d, 0o755)
    return d


# ---------------------------------------------------------------- config files

EXPECT_RE = re.compile(r'^# expect: (\d+)(?: :(\d+))?(?: "(.*)")?\s*$')


def config_cases():
    d = os.path.join(HOSTILE, "config")
    return sorted(f for f in os.listdir(d) if f.endswith(".conf"))


def read_expect(path):
    with open(path, "rb") as f:
        first = f.readline().decode("utf-8").rstrip("\r\n")
    m = EXPECT_RE.match(first)
    assert m, "%s: first line must be # expect: EXIT [:LINE] [\"CAUSE\"]" % path
    cause = m.group(3).replace('\\"', '"') if m.group(3) is not None else None
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None, cause


def test_corpus_is_big_enough():
    n = len(config_cases()) + len(os.listdir(os.path.join(HOSTILE, "migrations")))
    for name in ("cron.txt", "timezones.txt", "env.txt", "set.txt"):
        n += len(table(name))
    assert n >= 60, n


@pytest.mark.parametrize("name", config_cases())
def test_config_file(name, scratch):
    src = os.path.join(HOSTILE, "config", name)
    code, line, cause = read_expect(src)
    # a copy that others cannot read: password checks stay quiet
    path = os.path.join(scratch, name)
    shutil.copyfile(src, path)
    os.chmod(path, 0o600)
    rc, out, err = maintd(["-c", path, "check-config"])
    assert rc == code, err
    if code == 0:
        assert err == "", err
        assert "# momentum-maintd effective configuration (file: %s)" % path in out
        return
    one_line(err)
    if line is not None:
        assert "%s:%d: " % (path, line) in err, err
    else:
        assert path in err, err
    if cause is not None:
        assert cause in err, err


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def test_config_empty_file_is_fine(scratch):
    path = write(os.path.join(scratch, "empty.conf"), b"")
    rc, out, err = maintd(["-c", path, "check-config"])
    assert rc == 0 and err == "", err
    assert "(file: %s)" % path in out
    assert 'batch_size = 5000;  # default' in out


RUNTIME_CONFIGS = {
    # name: (bytes, line or None, cause)
    "nul_byte_after_settings": (b'log: { level = "info"; };\n\0\nfoo = 1;\n', 2, "contains a NUL byte"),
    "nul_byte_in_string": (b'environment = "development";\nlog: { level = "info\0debug"; };\n', 2,
                           "contains a NUL byte"),
    "nul_byte_in_comment": (b'# a comment \0 with a NUL\nlog: { level = "info"; };\n', 1, "contains a NUL byte"),
    "binary_garbage": (bytes(range(1, 256)) * 64, None, "syntax error"),
    "utf16_text": ('log: { level = "info"; };\n'.encode("utf-16"), 1, None),
    "huge_file": (b"# filler\n" * 200000 + b'log: { level = "info"; };\n', None,
                  "configuration file too large (1800026 bytes, at most 1048576)"),
    "very_long_string": (b'log: { level = "' + b"A" * 500000 + b'"; };\n', 1, 'log.level: invalid value "AAAA'),
    "very_long_cron": (b'jobs: { verify: { schedule = "' + b"1," * 200000 + b'1 * * * * *"; }; };\n', 1,
                       "jobs.verify.schedule: invalid cron expression"),
    "very_long_name": (b"k" * 100000 + b" = 1;\n", 1, 'unknown key "kkkk'),
    "deep_groups": (b"a: {" * 20000 + b"}" * 20000 + b";\n", 1, None),
    "deep_lists": (b"a = " + b"(" * 20000 + b")" * 20000 + b";\n", 1, None),
    "many_lines_then_error": (b"\n" * 100000 + b"bad\n", 100002, "syntax error"),
    "many_unknown_keys": (b"".join(b"k%d = %d;\n" % (i, i) for i in range(5000)), 1, 'unknown key "k0"'),
    "bom_then_settings": (b'\xef\xbb\xbflog: { level = "info"; };\n', 1, "syntax error"),
    "non_utf8_value": (b'log: { level = "d\xe9bug"; };\n', 1, 'log.level: invalid value "d'),
}


@pytest.mark.parametrize("name", sorted(RUNTIME_CONFIGS))
def test_config_built_at_run_time(name, scratch):
    data, line, cause = RUNTIME_CONFIGS[name]
    path = write(os.path.join(scratch, name + ".conf"), data)
    rc, out, err = maintd(["-c", path, "check-config"])
    assert rc == 78, err
    one_line(err)
    assert (("%s:%d: " % (path, line)) if line else path) in err, err
    if cause:
        assert cause in err, err
    assert len(err) < 4096, "the message is bounded: %d bytes" % len(err)


def test_config_is_a_directory(scratch):
    rc, _, err = maintd(["-c", scratch, "check-config"])
    assert rc == 78
    one_line(err)
    assert "%s: not a regular file" % scratch in err


def test_config_is_a_fifo_does_not_hang(scratch):
    path = os.path.join(scratch, "fifo.conf")
    os.mkfifo(path)
    rc, _, err = maintd(["-c", path, "check-config"])
    assert rc == 78
    assert "%s: not a regular file" % path in err


def test_config_is_a_device():
    rc, _, err = maintd(["-c", "/dev/zero", "check-config"])
    assert rc == 78
    assert "/dev/zero: not a regular file" in err


def test_config_missing_named_file(scratch):
    path = os.path.join(scratch, "no-such.conf")
    for args, env in (((["-c", path]), {}), ([], {"MOMENTUM_MAINTD_CONFIG": path})):
        rc, _, err = maintd(args + ["check-config"], env=env)
        assert rc == 78
        assert "%s: cannot open configuration file: No such file or directory" % path in err


def test_config_empty_name():
    rc, _, err = maintd(["-c", "", "check-config"])
    assert rc == 78
    one_line(err)
    assert '"": cannot open configuration file: the file name is empty' in err


def test_config_unreadable_file(scratch):
    path = write(os.path.join(scratch, "secret.conf"), b'log: { level = "info"; };\n', 0o000)
    rc, _, err = maintd(["-c", path, "check-config"], as_nobody=True)
    assert rc == 78
    assert "%s: cannot open configuration file: Permission denied" % path in err


def test_config_in_unreadable_directory(scratch):
    d = case_dir(scratch, "locked")
    path = write(os.path.join(d, "m.conf"), b"", 0o644)
    os.chmod(d, 0o700)
    rc, _, err = maintd(["-c", path, "check-config"], as_nobody=True)
    assert rc == 78
    assert "%s: cannot open configuration file: Permission denied" % path in err


def test_config_dangling_symlink(scratch):
    path = os.path.join(scratch, "dangling.conf")
    os.symlink("/nonexistent/momentum-maintd.conf", path)
    rc, _, err = maintd(["-c", path, "check-config"])
    assert rc == 78
    assert "%s: cannot open configuration file: No such file or directory" % path in err


def test_config_name_too_long(scratch):
    path = os.path.join(scratch, "x" * 300 + ".conf")
    rc, _, err = maintd(["-c", path, "check-config"])
    assert rc == 78
    assert "cannot open configuration file: File name too long" in err


# ------------------------------------------------------------------ tables

def table(name):
    rows = []
    with open(os.path.join(HOSTILE, name), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split(" | ")
            assert len(parts) in (2, 3), "%s:%d: EXIT | INPUT | CAUSE" % (name, n)
            code = int(parts[0])
            value = parts[1]
            if len(parts) == 2 and value.endswith(" |"):
                value = value[:-2]
            cause = parts[2] if len(parts) == 3 else ""
            rows.append(pytest.param(code, value, cause, id="%s:%d" % (name, n)))
    return rows


def conf_with(scratch, name, section_path, value):
    """A configuration file that sets one key on line 3."""
    *sections, key = section_path.split(".")
    text = "# hostile case\n" + "".join("%s: { " % s for s in sections) + "\n"
    text += '%s = "%s";\n' % (key, value.replace("\\", "\\\\").replace('"', '\\"'))
    text += "};" * len(sections) + "\n"
    return write(os.path.join(scratch, name), text.encode())


@pytest.mark.parametrize("code,expr,cause", table("cron.txt"))
def test_cron_expression(code, expr, cause, scratch, request):
    path = conf_with(scratch, "cron-%s.conf" % abs(hash(request.node.name)),
                     "jobs.zoom_token_cleanup.schedule", expr)
    rc, _, err = maintd(["-c", path, "check-config"])
    assert rc == code, err
    if code:
        one_line(err)
        assert "%s:3: jobs.zoom_token_cleanup.schedule: " % path in err, err
        assert cause in err, err
    rc, _, err = maintd(["check-config"], env={"MOMENTUM_MAINTD_JOBS_VERIFY_SCHEDULE": expr})
    assert rc == code, err
    if code:
        one_line(err)
        assert "environment MOMENTUM_MAINTD_JOBS_VERIFY_SCHEDULE: jobs.verify.schedule: " in err, err
        assert cause in err, err


@pytest.mark.parametrize("code,tz,cause", table("timezones.txt"))
def test_time_zone(code, tz, cause, scratch, request):
    path = conf_with(scratch, "tz-%s.conf" % abs(hash(request.node.name)),
                     "jobs.zoom_token_cleanup.timezone", tz)
    rc, _, err = maintd(["-c", path, "check-config"])
    assert rc == code, err
    one_line(err)
    assert "%s:3: jobs.zoom_token_cleanup.timezone: " % path in err, err
    assert cause in err, err
    rc, _, err = maintd(["--set", "jobs.zoom_token_cleanup.timezone=" + tz, "check-config"])
    assert rc == code, err
    assert "command line: jobs.zoom_token_cleanup.timezone: " in err and cause in err, err


@pytest.mark.parametrize("code,assignment,cause", table("env.txt"))
def test_environment(code, assignment, cause):
    name, _, value = assignment.partition("=")
    rc, _, err = maintd(["check-config"], env={name: value})
    assert rc == code, err
    if code:
        one_line(err)
        assert "configuration error: environment %s" % name in err, err
        assert cause in err, err


@pytest.mark.parametrize("code,args,cause", table("set.txt"))
def test_command_line(code, args, cause):
    # the command first: an option without its value must not eat it
    rc, _, err = maintd(["check-config"] + shlex.split(args))
    assert rc == code, err
    if code == 78:
        one_line(err)
    assert cause in err, err


def test_database_url_password_never_quoted():
    secret = "Pa55/w0rd"
    rc, out, err = maintd(["check-config"], env={"DATABASE_URL": "postgresql://app:%s@db.example.com/m" % secret})
    assert rc == 78
    assert "Pa55" not in out + err and "w0rd" not in out + err, err


def test_overlong_conninfo_option():
    rc, _, err = maintd(["-d", "dbname=" + "x" * 5000, "check-config"])
    assert rc == 64, err
    assert "-d: the connection string is longer than" in err


def test_overlong_set_value():
    rc, _, err = maintd(["--set", "log.level=" + "x" * 100000, "check-config"])
    assert rc == 78
    one_line(err)
    assert 'command line: log.level: invalid value "xxx' in err


# ------------------------------------------------------------------ migrations

def migration_cases():
    d = os.path.join(HOSTILE, "migrations")
    return sorted(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n, "EXPECT")))


def read_migration_expect(case):
    exp = {"db": "no"}
    with open(os.path.join(HOSTILE, "migrations", case, "EXPECT"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            k, _, v = line.partition(":")
            exp[k.strip()] = v.strip()
    return exp


def check_migrations(directory, code, file=None, cause=None, conninfo=DB_DOWN, env=None,
                     commands=(["migrate", "status"], ["migrate", "up", "--dry-run"]), as_nobody=False):
    for cmd in commands:
        rc, out, err = maintd(["-d", conninfo, "--set", "migrations.directory=" + directory] + cmd,
                              env=env, as_nobody=as_nobody)
        assert rc == code, (cmd, err)
        if file is not None:
            assert os.path.join(directory, file) in err, (cmd, err)
        if cause is not None:
            assert cause in err, (cmd, err)
        if code:
            assert "level=error" in err, err


@pytest.mark.parametrize("case", migration_cases())
def test_migrations_directory(case, request):
    exp = read_migration_expect(case)
    directory = os.path.join(HOSTILE, "migrations", case)
    conninfo = DB_DOWN
    if exp["db"] == "yes":
        conninfo = request.getfixturevalue("db").conninfo
    code = int(exp["exit"])
    check_migrations(directory, code, exp.get("file"), exp.get("cause"), conninfo)


@pytest.fixture
def mdir(scratch, request):
    d = case_dir(scratch, "m-" + re.sub(r"\W", "_", request.node.name))
    return d


def test_migration_nul_byte(mdir):
    write(os.path.join(mdir, "001_a.sql"), b"select 1;\n\0select 2;\n")
    check_migrations(mdir, 65, "001_a.sql", "contains a NUL byte at offset 10")


def test_migration_utf16(mdir):
    write(os.path.join(mdir, "001_a.sql"), "select 1;\n".encode("utf-16"))
    check_migrations(mdir, 65, "001_a.sql", "contains a NUL byte at offset 3; is it a text file?")


def test_migration_huge_file_is_read(mdir, db):
    # 20 MB of one statement: read, checksummed and split in time
    write(os.path.join(mdir, "001_big.sql"), b"select 1" + b" " * (20 * 1024 * 1024) + b";\n")
    write(os.path.join(mdir, "002_bad.sql"), b"select 'x;\n")
    check_migrations(mdir, 65, "002_bad.sql:1", "unterminated quoted string")


def test_migration_symlink_outside_is_followed(mdir, scratch, db):
    """A symlink to a file elsewhere is a file like any other (deployments
    link releases); what it points at is checked like the rest."""
    outside = write(os.path.join(scratch, "outside.sql"), b"select 1;\n")
    os.symlink(outside, os.path.join(mdir, "001_a.sql"))
    check_migrations(mdir, 0, conninfo=db.conninfo)
    os.symlink("/etc/passwd", os.path.join(mdir, "002_passwd.sql"))
    rc, _, err = maintd(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up", "--dry-run"])
    assert rc in (0, 65), err
    # it is not SQL: against PostgreSQL 15 the parser's syntax error is
    # reported, with its one line echoed as "migrate up" echoes the
    # server's; the rest of the file is not dumped into the log
    with open("/etc/passwd") as f:
        rest = f.read().splitlines()[1:]
    assert rest and not any(l in err for l in rest if l), "does not dump a foreign file into the log"


def test_migration_dangling_symlink(mdir):
    os.symlink("/nonexistent/001_a.sql", os.path.join(mdir, "001_a.sql"))
    check_migrations(mdir, 65, "001_a.sql", "cannot stat: No such file or directory")


def test_migration_symlink_loop(mdir):
    os.symlink("001_a.sql", os.path.join(mdir, "001_a.sql"))
    check_migrations(mdir, 65, "001_a.sql", "cannot stat: Too many levels of symbolic links")


def test_migration_symlink_to_directory(mdir):
    os.symlink("/tmp", os.path.join(mdir, "001_a.sql"))
    check_migrations(mdir, 65, "001_a.sql", "not a regular file (a directory)")


def test_migration_symlink_to_device(mdir):
    os.symlink("/dev/zero", os.path.join(mdir, "001_a.sql"))
    check_migrations(mdir, 65, "001_a.sql", "not a regular file (a device)")


def test_migration_fifo_does_not_hang(mdir):
    os.mkfifo(os.path.join(mdir, "001_a.sql"))
    check_migrations(mdir, 65, "001_a.sql", "not a regular file (a FIFO)")


def test_migration_directory_named_like_a_file(mdir):
    os.mkdir(os.path.join(mdir, "001_a.sql"))
    check_migrations(mdir, 65, "001_a.sql", "not a regular file (a directory)")


def test_migration_unreadable_file(mdir):
    write(os.path.join(mdir, "001_a.sql"), b"select 1;\n", 0o000)
    check_migrations(mdir, 65, "001_a.sql", "cannot open: Permission denied", as_nobody=True)


def test_migration_directory_does_not_exist(scratch):
    d = os.path.join(scratch, "no-such-dir")
    check_migrations(d, 78, None, "%s: cannot open migrations directory: No such file or directory "
                     "(migrations.directory)" % d)


def test_migration_directory_is_a_file(scratch):
    f = write(os.path.join(scratch, "plain-file"), b"select 1;\n")
    check_migrations(f, 78, None, "%s: cannot open migrations directory: Not a directory" % f)


def test_migration_directory_unreadable(mdir):
    write(os.path.join(mdir, "001_a.sql"), b"select 1;\n")
    os.chmod(mdir, 0o700)
    check_migrations(mdir, 78, None, "%s: cannot open migrations directory: Permission denied" % mdir,
                     as_nobody=True)


def test_migration_directory_name_too_long(scratch):
    d = os.path.join(scratch, "d" * 300)
    check_migrations(d, 78, None, "cannot open migrations directory: File name too long")


def test_migration_missing_rollback_in_production(mdir, db):
    """Production needs a rollback file for each pending migration."""
    write(os.path.join(mdir, "001_a.sql"), b"select 1;\n")
    check_migrations(mdir, 65, "001_a.sql", "rollback", conninfo=db.conninfo,
                     env={"MOMENTUM_MAINTD_ENVIRONMENT": "production",
                          "MOMENTUM_MAINTD_MIGRATIONS_BACKUP_COMMAND": "true"},
                     commands=(["migrate", "up"],))
