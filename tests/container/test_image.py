"""The image the Dockerfile builds, run by podman next to a throwaway
PostgreSQL on the host network: what a container user gets."""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest

from conftest import IMAGE, PODMAN, RUNOPT, SRCDIR, free_port, podman, url


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_status(port, path, code, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if get(port, path)[0] == code:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def conf_keys():
    """Every key of src/conf.c's table, in its order."""
    text = open(os.path.join(SRCDIR, "src", "conf.c")).read()
    table = text[text.index("const struct conf_key conf_keys[]"):]
    table = table[:table.index("\n};")]
    return re.findall(r'\.path = "([^"]+)"', table)


def env_name(key):
    # DESIGN.md: MOMENTUM_MAINTD_<SECTION>_<KEY>, dots become underscores
    return "MOMENTUM_MAINTD_" + key.replace(".", "_").upper()


# a valid value for each key, none of them the default; check-config must
# show each as set by its variable ("# environment VARIABLE")
ENV_VALUES = {
    "environment": "staging",
    "database.conninfo": "host=127.0.0.1 port=1 dbname=envtest user=app",
    "database.password_file": "/run/secrets/db-password",
    "migrations.directory": "/usr/share/momentum-maintd/migrations/legacy",
    "migrations.backup_command": "pg_dump -Fc -f /backups/m.dump",
    "migrations.on_out_of_order": "ignore",
    "migrations.supabase_compat": "false",
    "migrations.lock_timeout": "5 s",
    "migrations.lock_retries": "3",
    "migrations.safety": "refuse",
    "migrations.safety_min_size": "64 MB",
    "jobs.history_retention": "30 days",
    "jobs.zoom_token_cleanup.enabled": "false",
    "jobs.zoom_token_cleanup.catch_up": "false",
    "jobs.zoom_token_cleanup.schedule": "30 3 * * 1",
    "jobs.zoom_token_cleanup.timezone": "Europe/Berlin",
    "jobs.zoom_token_cleanup.retention": "14 days",
    "jobs.zoom_token_cleanup.batch_size": "1000",
    "jobs.zoom_token_cleanup.max_runtime": "10 min",
    "jobs.zoom_token_cleanup.max_replica_lag": "1 min",
    "jobs.verify.schedule": "*/5 * * * *",
    "verify.remind_every": "12 h",
    "verify.ignore": "rls_disabled:public.a, grant:public.b",
    "verify.probe_conninfo": "user=probe_login",
    "verify.probe_password_file": "/run/secrets/probe-password",
    "verify.probe_timeout": "30 s",
    "verify.schemas": "public, api",
    "log.level": "warning",
    "log.format": "text",
    "log.instance": "tenant-a",
    "http.listen": "0.0.0.0:9999",
}


def test_image_metadata_non_root_healthcheck_and_size():
    info = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    user = info["Config"]["User"]
    assert user and user.split(":")[0] not in ("", "0", "root"), user
    hc = info.get("Healthcheck") or info["Config"].get("Healthcheck")
    assert hc and "/healthz" in " ".join(hc["Test"]), "docker format keeps HEALTHCHECK: %r" % hc
    base = json.loads(podman("image", "inspect", "debian:12-slim").stdout)[0]
    print("image %d bytes, base debian:12-slim %d bytes" % (info["Size"], base["Size"]))
    # runtime libraries only: no compiler, no headers (multi-stage)
    r = podman("run", "--rm", "--network", "none", *RUNOPT, "--no-healthcheck", "--entrypoint", "/bin/sh",
               IMAGE, "-c", "id -u; command -v cc gcc make; ls /usr/include 2>/dev/null | wc -l", check=False)
    lines = r.stdout.split()
    assert lines[0] != "0", "runs as a non-root user"
    assert lines[1:] == ["0"], "no build tools in the runtime image: %r" % r.stdout


def test_every_config_key_from_the_environment(tmp_path):
    keys = conf_keys()
    assert len(keys) > 20
    assert set(keys) == set(ENV_VALUES), "a key of src/conf.c has no value in this test: %s" % (
        set(keys) ^ set(ENV_VALUES))
    # the password files must exist, readable by the image's user only
    uid, gid = (int(x) for x in json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Config"]["User"].split(":"))
    env = []
    for k in ("database.password_file", "verify.probe_password_file"):
        f = tmp_path / k
        f.write_text("secret\n")
        os.chown(f, uid, gid)
        os.chmod(f, 0o600)
        env += ["-v", "%s:%s:ro" % (f, ENV_VALUES[k])]
    for k in keys:
        env += ["-e", "%s=%s" % (env_name(k), ENV_VALUES[k])]
    r = podman("run", "--rm", "--network", "none", "--read-only", *RUNOPT, "--no-healthcheck", *env,
               IMAGE, "check-config", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for k in keys:
        name = env_name(k)
        leaf = k.rsplit(".", 1)[-1]
        lines = [l for l in out.splitlines() if re.match(r"\s*%s\s*=" % re.escape(leaf), l)
                 and "# environment %s" % name in l]
        assert lines, "%s is not shown as set by %s:\n%s" % (k, name, out)


@pytest.fixture
def container(pg, tmp_path):
    """The daemon in a container on the host network, attached so that its
    stdout and stderr stay apart: (name, http port, Popen, db name)."""
    dbname = pg.create_db()
    port = free_port()
    name = "maintd-ci-" + uuid.uuid4().hex[:8]
    err = open(tmp_path / "stderr", "w+")
    out = open(tmp_path / "stdout", "w+")
    # --read-only-tmpfs=false: no writable /tmp, /var/tmp or /run either (as docker's --read-only)
    p = subprocess.Popen(PODMAN + ["run", "--name", name, "--network", "host", "--read-only",
                                   "--read-only-tmpfs=false", *RUNOPT,
                                   "-e", "DATABASE_URL=" + url(pg, dbname),
                                   "-e", "MOMENTUM_MAINTD_ENVIRONMENT=staging",
                                   "-e", "MOMENTUM_MAINTD_HTTP_LISTEN=127.0.0.1:%d" % port,
                                   IMAGE], stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        yield name, port, p, dbname, tmp_path
    finally:
        if p.poll() is None:
            podman("kill", name, check=False)
            p.wait(30)
        podman("rm", "-f", name, check=False)
        err.close()
        out.close()


def test_runs_migrations_ready_healthy_read_only_and_stops_on_sigterm(pg, container):
    name, port, p, dbname, tmp = container
    assert wait_status(port, "/readyz", 200), (tmp / "stderr").read_text()
    applied = pg.psql(dbname, "SELECT count(*) FROM momentum_maintd.schema_migrations")
    shipped = [f for f in os.listdir(os.path.join(SRCDIR, "migrations")) if f[:3].isdigit()]
    assert int(applied) == len(shipped)
    # the image's own HEALTHCHECK command, as the runtime would run it
    r = podman("healthcheck", "run", name, check=False)
    assert r.returncode == 0 and "unhealthy" not in r.stdout, r.stdout + r.stderr
    # a non-root user and a read-only root file system, /tmp included
    r = podman("exec", name, "/bin/sh", "-c", "id -u; touch /probe 2>&1; touch /tmp/probe 2>&1; true")
    uid, *rest = r.stdout.splitlines()
    assert uid != "0"
    assert len(rest) == 2 and all("Read-only file system" in l for l in rest), r.stdout
    info = json.loads(podman("inspect", name).stdout)[0]
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    # SIGTERM to PID 1, as "docker stop" does: exit 0 within a second of
    # the signal (the runtime's exit time, not podman's own start-up)
    podman("kill", "--signal", "TERM", name)
    sent = time.time()
    assert p.wait(30) == 0, (tmp / "stderr").read_text()
    state = json.loads(podman("inspect", name).stdout)[0]["State"]
    assert state["ExitCode"] == 0
    finished = podman("inspect", "--format", "{{.State.FinishedAt.Unix}}.{{printf \"%09d\" .State.FinishedAt.Nanosecond}}",
                      name).stdout.strip()
    took = float(finished) - sent
    print("exited %.3f s after podman kill returned" % took)
    assert took < 1.0, "the daemon exits within a second of SIGTERM"
    # logs: JSON lines on stderr, nothing on stdout
    assert (tmp / "stdout").read_text() == ""
    # podman's own messages share the attached stderr (without systemd it
    # says it cannot add the health check timer): those are not the daemon's
    lines = [l for l in (tmp / "stderr").read_text().splitlines()
             if not re.match(r'time="[^"]*" level=\w+ msg=', l)]
    assert lines
    records = [json.loads(l) for l in lines]
    msgs = [r.get("msg", "") for r in records]
    assert any(m.startswith("migrations done: %d applied now" % len(shipped)) for m in msgs), msgs
