"""The systemd integration files: systemd/momentum-maintd.service.in passes
systemd-analyze verify, is sandboxed (systemd-analyze security), and keeps the
settings the daemon relies on; systemd/momentum-maintd.catalog is accepted by
journalctl and explains exactly the MESSAGE_IDs the code logs."""
import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import BIN, SRCDIR, daemon_env

UNIT_IN = os.path.join(SRCDIR, "systemd", "momentum-maintd.service.in")
CATALOG = os.path.join(SRCDIR, "systemd", "momentum-maintd.catalog")
MSGID_H = os.path.join(SRCDIR, "src", "msgid.h")
UNIT_NAME = "momentum-maintd.service"
TEMPLATE_IN = os.path.join(SRCDIR, "systemd", "momentum-maintd@.service.in")
TEMPLATE_NAME = "momentum-maintd@.service"
MAX_EXPOSURE = 1.5

# systemd's tools print colours and pagers only at a terminal; make sure.
TOOL_ENV = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")


def need(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.skip("%s is not installed" % tool)
    return path


def tool(argv, cwd=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=TOOL_ENV, cwd=cwd)


def render_unit(dest_dir, exec_start_bin=None, unit_in=UNIT_IN, name=UNIT_NAME, sysconfdir="/usr/local/etc"):
    """The unit as the Makefile renders it, with sed, except that ExecStart
    runs BIN (systemd-analyze verify wants an existing executable)."""
    binary = exec_start_bin or (BIN if os.access(BIN, os.X_OK) else "/bin/true")
    need("sed")
    out = subprocess.run(
        ["sed", "-e", "s|@sbindir@/momentum-maintd|%s|g" % binary,
         "-e", "s|@sbindir@|/usr/local/sbin|g", "-e", "s|@sysconfdir@|%s|g" % sysconfdir, unit_in],
        capture_output=True, text=True, check=True).stdout
    path = os.path.join(str(dest_dir), name)
    with open(path, "w") as f:
        f.write(out)
    return path


def parse_unit(text):
    """{section: [(key, value), ...]} in file order; continuation lines joined."""
    sections, cur, pending = {}, None, ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        cur.append((key.strip(), value.strip()))
    return sections


def values(section, key):
    return [v for k, v in section if k == key]


def last(section, key):
    v = values(section, key)
    return v[-1] if v else None


@pytest.fixture
def unit(tmp_path):
    return render_unit(tmp_path)


@pytest.fixture
def service():
    with open(UNIT_IN) as f:
        return parse_unit(f.read())["Service"]


# ---- (a) systemd-analyze verify -------------------------------------------------

def test_unit_passes_systemd_analyze_verify(unit, tmp_path):
    analyze = need("systemd-analyze")
    r = tool([analyze, "verify", unit], cwd=str(tmp_path))
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", (r.returncode, r.stdout, r.stderr)


def test_verify_is_a_real_check_here(tmp_path):
    """systemd-analyze verify works without systemd as PID 1: it does report
    a broken copy of the unit, so its silence above means something."""
    analyze = need("systemd-analyze")
    path = render_unit(tmp_path)
    with open(path, "a") as f:
        f.write("NoSuchSetting=yes\n")
    r = tool([analyze, "verify", path], cwd=str(tmp_path))
    assert "NoSuchSetting" in r.stderr, (r.returncode, r.stdout, r.stderr)


def test_installed_path_is_checked_by_verify(tmp_path):
    """The unit as installed names @sbindir@/momentum-maintd; verify insists
    that the binary exists, which is why the tests point ExecStart at BIN."""
    analyze = need("systemd-analyze")
    path = render_unit(tmp_path, exec_start_bin="/nonexistent/momentum-maintd")
    r = tool([analyze, "verify", path], cwd=str(tmp_path))
    assert r.returncode != 0 and "/nonexistent/momentum-maintd" in r.stderr, (r.returncode, r.stderr)


# ---- (b) systemd-analyze security -----------------------------------------------

def test_unit_is_sandboxed(unit, tmp_path):
    check_sandbox(unit, UNIT_NAME, tmp_path)


def check_sandbox(unit, name, tmp_path):
    analyze = need("systemd-analyze")
    r = tool([analyze, "security", "--offline=true", "--threshold=15", unit], cwd=str(tmp_path))
    m = re.search(r"Overall exposure level for %s: (\d+(?:\.\d+)?)" % re.escape(name), r.stdout)
    assert m, (r.returncode, r.stdout, r.stderr)
    exposure = float(m.group(1))
    failed = [line for line in r.stdout.splitlines() if line.startswith("\u2717")]
    assert exposure <= MAX_EXPOSURE, "exposure %.1f > %.1f:\n%s" % (exposure, MAX_EXPOSURE, "\n".join(failed))
    assert r.returncode == 0, (r.returncode, r.stderr)
    # what is left exposed is the network the daemon needs, not something forgotten
    allowed = ("RootDirectory=", "RestrictAddressFamilies=~AF_UNIX", "RestrictAddressFamilies=~AF_(INET|INET6)",
               "PrivateNetwork=", "DeviceAllow=", "IPAddressDeny=")
    unexpected = [line for line in failed if not line[1:].strip().startswith(allowed)]
    assert unexpected == [], "\n".join(unexpected)


# ---- (c) the settings the daemon relies on ------------------------------------

def test_unit_service_settings(service):
    assert last(service, "Type") == "notify"
    assert last(service, "NotifyAccess") == "main"
    assert re.fullmatch(r"\S+/momentum-maintd run", last(service, "ExecStart") or "")
    assert (last(service, "WatchdogSec") or "0") not in ("0", "infinity")
    assert last(service, "Restart") == "on-failure"
    prevent = " ".join(values(service, "RestartPreventExitStatus")).split()
    assert "65" in prevent and "78" in prevent, prevent
    assert last(service, "TimeoutStartSec")
    assert last(service, "TimeoutStopSec")
    assert "-HUP" in (last(service, "ExecReload") or "") and "$MAINPID" in last(service, "ExecReload")
    creds = values(service, "LoadCredential")
    assert any(c.startswith("db-password:") for c in creds), creds


def test_unit_keeps_what_the_daemon_needs(service):
    # the database is reached over the network
    assert last(service, "PrivateNetwork") in (None, "no", "false")
    families = " ".join(values(service, "RestrictAddressFamilies")).split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families), families
    assert last(service, "IPAddressDeny") == "any"
    assert "localhost" in " ".join(values(service, "IPAddressAllow")).split()
    # the backup command is forked and executed through /bin/sh
    filters = values(service, "SystemCallFilter")
    assert "@system-service" in " ".join(filters).split()
    denied = " ".join(f[1:] for f in filters if f.startswith("~")).split()
    assert not {"@process", "execve", "fork", "clone", "vfork"} & set(denied), denied
    assert last(service, "DynamicUser") == "yes"
    assert last(service, "ProtectSystem") == "strict"


def test_built_unit_has_every_path_substituted():
    """The unit make generated next to the binary, if there is one."""
    built = os.path.join(os.path.dirname(os.path.dirname(BIN)), "systemd", UNIT_NAME)
    if not os.path.exists(built):
        pytest.skip("no generated unit at %s" % built)
    with open(built) as f:
        text = f.read()
    assert re.search(r"@[a-z_]+@", text) is None, re.findall(r"@[a-z_]+@", text)
    execstart = last(parse_unit(text)["Service"], "ExecStart")
    assert execstart.startswith("/") and execstart.endswith("/momentum-maintd run"), execstart


# ---- (d) the catalog --------------------------------------------------------------

def catalog_entries():
    """{id: {"headers": {...}, "text": str}}; a duplicate ID is an error."""
    entries, cur, in_text = {}, None, False
    with open(CATALOG) as f:
        for n, line in enumerate(f.read().splitlines(), 1):
            if line.startswith("#"):
                continue
            m = re.match(r"-- ([0-9a-f]{32})$", line)
            if m:
                assert m.group(1) not in entries, "%s:%d: duplicate entry %s" % (CATALOG, n, m.group(1))
                cur = entries[m.group(1)] = {"headers": {}, "text": "", "line": n}
                in_text = False
                continue
            assert not line.startswith("--"), "%s:%d: not an ID line: %r" % (CATALOG, n, line)
            if cur is None:
                assert line.strip() == "", "%s:%d: text before the first entry" % (CATALOG, n)
                continue
            if not in_text:
                if line == "":
                    in_text = True
                    continue
                key, sep, value = line.partition(": ")
                assert sep and re.fullmatch(r"[A-Z][A-Za-z-]*", key), "%s:%d: bad header %r" % (CATALOG, n, line)
                cur["headers"][key] = value
            else:
                cur["text"] += line + "\n"
    return entries


def msgid_h():
    with open(MSGID_H) as f:
        defs = re.findall(r'^#define\s+(MSGID_\w+)\s+"([^"]*)"', f.read(), re.M)
    return dict(defs)


def test_catalog_entries_are_complete():
    entries = catalog_entries()
    assert entries
    for mid, e in entries.items():
        h = e["headers"]
        assert h.get("Subject"), "%s: no Subject" % mid
        assert h.get("Defined-By") == "momentum-maintd", "%s: Defined-By %r" % (mid, h.get("Defined-By"))
        assert len(e["text"].split()) >= 10, "%s: the text should say what happened and what to do" % mid


def fields_always_logged():
    """{MSGID_NAME: set of fields every log_emit() with that ID carries}.
    A field whose value may be NULL (``x ? y : NULL``) is not always there;
    a call whose field array cannot be found counts as one without fields."""
    always = {}
    for path in sorted(glob.glob(os.path.join(SRCDIR, "src", "*.c"))):
        with open(path) as f:
            src = f.read()
        arrays = [(m.end(), m.group(1), m.group(2)) for m in re.finditer(
            r"struct\s+log_field\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{(.*?)\}\s*;", src, re.S)]
        for call in re.finditer(r"log_emit\s*\([^,]+,\s*(MSGID_\w+)\s*,\s*(?:LOG_FIELDS\s*\(\s*(\w+)\s*\))?", src):
            fields = set()
            if call.group(2):
                found = [body for end, name, body in arrays if name == call.group(2) and end < call.start()]
                if found:
                    fields = {k for k, v in re.findall(r'\{\s*"([A-Z][A-Z0-9_]*)"\s*,\s*([^}]*)\}', found[-1])
                              if "NULL" not in v}
            where = "%s:%d" % (os.path.relpath(path, SRCDIR), src.count("\n", 0, call.start()) + 1)
            always.setdefault(call.group(1), []).append((where, fields))
    return always


def test_catalog_fields_are_always_logged():
    """journalctl -x replaces @FIELD@ with the entry's field, or with the
    bare field name when the entry has none: an entry may only use fields
    that every log_emit() with its ID sets."""
    ids = msgid_h()
    calls = fields_always_logged()
    problems = []
    for name, mid in ids.items():
        entry = catalog_entries().get(mid)
        if entry is None:
            continue  # test_every_message_id_has_a_catalog_entry reports it
        used = set(re.findall(r"@([A-Za-z0-9_]+)@", entry["headers"].get("Subject", "") + entry["text"]))
        for where, fields in calls.get(name, []):
            for field in sorted(used - fields):
                problems.append("%s: %s is logged without %s, but its catalog entry uses @%s@"
                                % (where, name, field, field))
        if used and name not in calls:
            problems.append("%s is never logged, but its catalog entry uses %s" % (name, sorted(used)))
    assert not problems, "\n".join(problems)


def test_journalctl_accepts_the_catalog(tmp_path):
    """journalctl --update-catalog compiles it into a database under a
    temporary root (systemd 252 supports --root for this); --list-catalog
    then lists every entry."""
    journalctl = need("journalctl")
    root = tmp_path / "root"
    catdir = root / "usr" / "lib" / "systemd" / "catalog"
    catdir.mkdir(parents=True)
    shutil.copy(CATALOG, str(catdir))
    r = tool([journalctl, "--root=%s" % root, "--update-catalog"])
    assert r.returncode == 0 and r.stderr == "", (r.returncode, r.stderr)
    assert (root / "var" / "lib" / "systemd" / "catalog" / "database").exists()
    r = tool([journalctl, "--root=%s" % root, "--list-catalog"])
    assert r.returncode == 0 and r.stderr == "", (r.returncode, r.stderr)
    listed = dict(re.findall(r"^([0-9a-f]{32}) (.*)$", r.stdout, re.M))
    entries = catalog_entries()
    assert set(listed) == set(entries), (sorted(set(entries) - set(listed)), sorted(set(listed) - set(entries)))
    for mid, line in listed.items():
        assert line == "momentum-maintd: " + entries[mid]["headers"]["Subject"], line
    # and the text comes back whole
    mid = sorted(entries)[0]
    r = tool([journalctl, "--root=%s" % root, "--dump-catalog", mid])
    assert r.returncode == 0 and entries[mid]["text"].strip() in r.stdout, (r.stdout, r.stderr)


def test_journalctl_rejects_a_broken_catalog(tmp_path):
    """The check above is a real one: a malformed file makes it fail."""
    journalctl = need("journalctl")
    root = tmp_path / "root"
    catdir = root / "usr" / "lib" / "systemd" / "catalog"
    catdir.mkdir(parents=True)
    with open(CATALOG) as f:
        text = f.read()
    (catdir / "broken.catalog").write_text("text before any ID\n" + text)
    r = tool([journalctl, "--root=%s" % root, "--update-catalog"])
    assert r.returncode != 0 and "payload before ID" in r.stderr, (r.returncode, r.stderr)


# ---- (e) every MESSAGE_ID has exactly one entry -------------------------------

def test_every_message_id_has_a_catalog_entry():
    defs = msgid_h()
    assert defs, "no MSGID_ definitions in %s" % MSGID_H
    for name, mid in defs.items():
        assert re.fullmatch(r"[0-9a-f]{32}", mid), "%s: %r is not 32 lower-case hex digits" % (name, mid)
    dups = {mid for mid in defs.values() if list(defs.values()).count(mid) > 1}
    assert not dups, "IDs defined twice in msgid.h: %s" % sorted(dups)

    # IDs written out anywhere in the sources, not only through msgid.h
    literal = {}
    for path in sorted(glob.glob(os.path.join(SRCDIR, "src", "*.[ch]"))):
        with open(path) as f:
            for mid in re.findall(r"(?<![0-9A-Za-z_])([0-9a-fA-F]{32})(?![0-9A-Za-z_])", f.read()):
                literal.setdefault(mid.lower(), os.path.relpath(path, SRCDIR))

    catalog = set(catalog_entries())
    missing = {mid: name for name, mid in defs.items() if mid not in catalog}
    assert not missing, "MESSAGE_IDs without a catalog entry: %s" % missing
    undocumented = {mid: where for mid, where in literal.items() if mid not in catalog}
    assert not undocumented, "ID literals without a catalog entry: %s" % undocumented
    stale = catalog - set(defs.values())
    assert not stale, "catalog entries for IDs not in src/msgid.h: %s" % sorted(stale)


# ---- (f) the template unit: several databases on one host (issue 17) ------------

INSTANCE = "tenant-a"
# what may differ between the template and the single unit, and how
PER_INSTANCE = {"Description", "ExecStart", "Environment", "LoadCredential"}


@pytest.fixture
def template(tmp_path):
    return render_unit(tmp_path, unit_in=TEMPLATE_IN, name=TEMPLATE_NAME)


def test_template_instance_passes_systemd_analyze_verify(template, tmp_path):
    """verify loads momentum-maintd@tenant-a.service from the template
    next to it, %i expanded; a broken template is reported the same way
    (test_verify_is_a_real_check_here shows that for the single unit)."""
    analyze = need("systemd-analyze")
    instance = os.path.join(str(tmp_path), "momentum-maintd@%s.service" % INSTANCE)
    r = tool([analyze, "verify", instance], cwd=str(tmp_path))
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    broken = render_unit(tmp_path, exec_start_bin="/nonexistent/momentum-maintd", unit_in=TEMPLATE_IN,
                         name=TEMPLATE_NAME)
    r = tool([analyze, "verify", instance], cwd=str(tmp_path))
    assert r.returncode != 0 and "momentum-maintd@%s.service" % INSTANCE in r.stderr, (broken, r.stderr)


def test_template_instance_is_sandboxed(template, tmp_path):
    check_sandbox(os.path.join(str(tmp_path), "momentum-maintd@%s.service" % INSTANCE),
                  "momentum-maintd@%s.service" % INSTANCE, tmp_path)


def test_template_reads_the_instance_files_and_logs_its_name():
    with open(TEMPLATE_IN) as f:
        service = parse_unit(f.read())["Service"]
    assert last(service, "ExecStart") == "@sbindir@/momentum-maintd -c @sysconfdir@/momentum-maintd/%i.conf run"
    assert values(service, "LoadCredential") == ["db-password:@sysconfdir@/momentum-maintd/%i.db-password"]
    assert values(service, "Environment") == ["MOMENTUM_MAINTD_LOG_INSTANCE=%i"]


def test_template_keeps_the_single_units_settings():
    """Everything but what names the instance is the single unit's, in the
    same order: a hardening change to one is made to the other."""
    with open(UNIT_IN) as f:
        single = parse_unit(f.read())
    with open(TEMPLATE_IN) as f:
        tmpl = parse_unit(f.read())
    assert set(single) == set(tmpl)
    for section in single:
        a = [(k, v) for k, v in single[section] if k not in PER_INSTANCE]
        b = [(k, v) for k, v in tmpl[section] if k not in PER_INSTANCE]
        assert a == b, section
    assert last(tmpl["Unit"], "Description").endswith(" for %i")


def test_two_instances_run_with_their_own_files(cluster, tmp_path):
    """What systemd runs for momentum-maintd@NAME: the template's ExecStart
    and Environment= with %i expanded, the configuration file NAME.conf
    under sysconfdir.  Two instances, two databases, each migrated by its
    own file and each naming itself in its log."""
    import shlex
    etc = tmp_path / "etc"
    (etc / "momentum-maintd").mkdir(parents=True)
    path = render_unit(tmp_path, unit_in=TEMPLATE_IN, name=TEMPLATE_NAME, sysconfdir=str(etc))
    with open(path) as f:
        service = parse_unit(f.read())["Service"]
    dbs = {}
    for name in ("tenant-a", "staging"):
        dbs[name] = cluster.create_db()
        (etc / "momentum-maintd" / (name + ".conf")).write_text(
            'environment = "development";\ndatabase: { conninfo = "%s"; };\nmigrations: { directory = "%s"; };\n'
            % (cluster.conninfo(dbs[name]), os.path.join(SRCDIR, "migrations")))
    for name in dbs:
        argv = shlex.split(last(service, "ExecStart").replace("%i", name))
        assert argv[-1] == "run"
        env = dict(k_v.replace("%i", name).split("=", 1) for k_v in values(service, "Environment"))
        env["MOMENTUM_MAINTD_LOG_FORMAT"] = "json"
        # "migrate up" in place of "run": the same configuration, then exit
        r = subprocess.run([BIN] + argv[1:-1] + ["migrate", "up"], capture_output=True, text=True, timeout=60,
                           env=dict(daemon_env({"MOMENTUM_MAINTD_CONFIG": None}), **env), cwd="/")
        assert r.returncode == 0, r.stderr
        applied = cluster.psql(dbs[name], "SELECT count(*) FROM momentum_maintd.schema_migrations")
        assert int(applied) > 0
    r = subprocess.run([BIN, "-c", str(etc / "momentum-maintd" / "tenant-b.conf"), "run"], capture_output=True,
                       text=True, timeout=60, env=daemon_env({"MOMENTUM_MAINTD_CONFIG": None}), cwd="/")
    assert r.returncode == 78 and "tenant-b.conf" in r.stderr, "an instance without its file does not start"


def test_built_template_has_every_path_substituted():
    built = os.path.join(os.path.dirname(os.path.dirname(BIN)), "systemd", TEMPLATE_NAME)
    if not os.path.exists(os.path.join(os.path.dirname(built), UNIT_NAME)):
        pytest.skip("no generated units next to %s" % BIN)
    assert os.path.exists(built), "make built %s but not %s" % (UNIT_NAME, TEMPLATE_NAME)
    with open(built) as f:
        text = f.read()
    assert re.search(r"@[a-z_]+@", text) is None, re.findall(r"@[a-z_]+@", text)
    execstart = last(parse_unit(text)["Service"], "ExecStart")
    assert re.fullmatch(r"/\S+/momentum-maintd -c /\S+/momentum-maintd/%i\.conf run", execstart), execstart
