"""The container sidecar: configuration from the environment only, no
file at all; PID 1 exits promptly on SIGTERM; the Dockerfile's promises."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, MIGRATIONS, SEED_COUNT, SRCDIR


def test_environment_only_configuration_as_pid_1(db, tmp_path):
    from test_http import free_port, wait_status
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a PID namespace")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "DATABASE_URL": db.conninfo,
           "MOMENTUM_MAINTD_ENVIRONMENT": "development",
           "MOMENTUM_MAINTD_MIGRATIONS_DIRECTORY": MIGRATIONS,
           "MOMENTUM_MAINTD_HTTP_LISTEN": "127.0.0.1:%d" % port,
           "MOMENTUM_MAINTD_LOG_FORMAT": "json",
           "MOMENTUM_MAINTD_LOG_LEVEL": "info"}
    if os.path.exists("/usr/local/etc/momentum-maintd/momentum-maintd.conf"):
        pytest.skip("an installed configuration file would be read")
    log = open(tmp_path / "stderr", "w")
    # the daemon is PID 1 of a new PID namespace, as in a container
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", BIN], env=env,
                         stdout=subprocess.DEVNULL, stderr=log, cwd="/")
    try:
        assert wait_status(port, "/readyz", 200, timeout=30), open(tmp_path / "stderr").read()
        inner = int(subprocess.check_output(["pgrep", "-P", str(p.pid)]).split()[0])
        with open("/proc/%d/status" % inner) as f:
            assert "NSpid:\t%d\t1" % inner in f.read(), "the daemon is PID 1 in its namespace"
        t0 = time.monotonic()
        os.kill(inner, signal.SIGTERM)     # as a container runtime stops PID 1
        assert p.wait(10) == 0
        assert time.monotonic() - t0 < 5
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    out = open(tmp_path / "stderr").read()
    assert '"msg":"migrations done: %d applied now' % SEED_COUNT in out
    assert "configuration file" not in out


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = open(os.path.join(SRCDIR, "Dockerfile")).read()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage"
    assert re.search(r"^COPY --from=build ", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root")), "runs as a non-root user"
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert '--without-systemd' in text
    assert re.search(r'^ENTRYPOINT \["/usr/sbin/momentum-maintd"\]', text, re.M)


def _stages(text):
    """[(base image, [RUN command, ...], [other instruction, ...]), ...]"""
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            stages.append((line.split()[1], [], []))
        elif line.startswith("RUN ") and stages:
            stages[-1][1].append(line[4:])
        elif line.strip() and not line.startswith("#") and stages:
            stages[-1][2].append(line)
    return stages


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/etc/debian_version")
                    or not open("/etc/debian_version").read().startswith("12"),
                    reason="needs root on Debian 12, the image's base")
def test_dockerfile_build_stage_builds_here_and_its_runtime_packages_cover_the_binary(tmp_path):
    """No Docker engine here: the build stage's commands run on this Debian
    12 host (the image's base) in a copy of the tree that .dockerignore
    leaves, and the runtime stage's packages must provide every library
    the installed binary links."""
    stages = _stages(open(os.path.join(SRCDIR, "Dockerfile")).read())
    assert [s[0] for s in stages] == ["debian:12", "debian:12-slim"]
    build_runs, runtime_runs = stages[0][1], stages[1][1]
    # the build stage: its packages are what scripts/install-deps installs
    # here; then its own commands, with /out inside the temporary directory
    src = tmp_path / "src"
    ignore = [l.strip().rstrip("/") for l in open(os.path.join(SRCDIR, ".dockerignore")) if l.strip()]
    shutil.copytree(SRCDIR, src, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in ignore or n == "__pycache__"
                                             or (d == SRCDIR and n in ("configure", "autom4te.cache"))])
    cmds = [c for c in build_runs if not c.lstrip().startswith("apt-get")]
    assert cmds and "make install DESTDIR=/out" in cmds[-1]
    script = " && ".join(cmds).replace("DESTDIR=/out", "DESTDIR=%s" % (tmp_path / "out"))
    r = subprocess.run(["sh", "-c", script], cwd=src, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    binary = tmp_path / "out" / "usr" / "sbin" / "momentum-maintd"
    assert binary.exists()
    assert (tmp_path / "out" / "usr" / "share" / "momentum-maintd" / "migrations" / "004_rls_fixes.sql").exists()
    assert (tmp_path / "out" / "etc" / "momentum-maintd" / "momentum-maintd.conf").exists(), \
        "the runtime stage moves it to /usr/share/doc"
    v = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    assert "systemd no" in v.stdout, v.stdout
    # the runtime stage: each shared library the binary needs comes from a
    # package its apt-get line installs
    installed = set()
    for c in runtime_runs:
        m = re.search(r"apt-get install (.*?)(&&|$)", c)
        if m:
            installed |= {w for w in m.group(1).split() if not w.startswith("-")}
    libs = re.findall(r"=> (/\S+)", subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout)
    missing = []
    for lib in libs:
        real = os.path.realpath(lib)
        owner = ""
        # usrmerge: dpkg may know the file under /lib or /usr/lib
        for path in (lib, real, re.sub(r"^/usr/", "/", real), re.sub(r"^/lib", "/usr/lib", real)):
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True).stdout
            if owner:
                break
        pkg = owner.split(":")[0] if owner else "?"
        base = ("libc6", "libgcc-s1", "libstdc++6", "libzstd1", "liblzma5", "zlib1g", "libselinux1")
        if pkg not in installed and pkg not in base:
            # a library of a package the installed ones depend on is fine
            deps = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                                   "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"]
                                  + sorted(installed), capture_output=True, text=True).stdout
            if not re.search(r"^\s*(Depends|PreDepends): %s(:\w+)?$" % re.escape(pkg), deps, re.M) and \
                    not re.search(r"^%s$" % re.escape(pkg), deps, re.M):
                missing.append((lib, pkg))
    assert not missing, "libraries no runtime package provides: %s" % missing
