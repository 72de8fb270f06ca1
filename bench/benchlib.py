"""What every benchmark under bench/ needs: the binary, a clean environment,
a throwaway PostgreSQL (tests/pgcluster.py, which the integration tests use
too), the machine's description and a way to stop.  Standard library only."""
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = os.path.relpath(os.path.abspath(sys.argv[0]), SRC) if sys.argv and sys.argv[0] else "bench"
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")

sys.path.insert(0, os.path.join(SRC, "tests"))
import pgcluster  # noqa: E402


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def clean_env():
    """The environment without anything that would redirect libpq or configure the daemon."""
    return dict(pgcluster.clean_env(), LC_ALL="C")


def new_cluster(prefix, settings):
    """A throwaway PostgreSQL cluster (initdb done; start() it) in the system's
    temporary directory, PGBIN's programs, psql() sessions named "bench";
    a PostgreSQL program that fails ends the benchmark.  Always the host's
    server: the benchmarks ignore the tests' MAINTD_PG and MAINTD_PG_ROOT."""
    return pgcluster.Cluster(prefix=prefix, bindir=PGBIN, settings=settings, fail=die, app="bench",
                             version="15", root=None)


def build(builddir):
    """builddir/src/momentum-maintd, built with scripts/build when it is missing."""
    b = os.path.join(builddir, "src", "momentum-maintd")
    if not os.access(b, os.X_OK):
        print(f"building {b} (scripts/build {builddir})", file=sys.stderr)
        r = subprocess.run([os.path.join(SRC, "scripts", "build"), builddir], stdout=subprocess.DEVNULL)
        if r.returncode != 0 or not os.access(b, os.X_OK):
            die(f"build failed; run scripts/build {builddir} to see why")
    return b


def run_on_cluster(binary, run, prefix, settings, on_exit=None):
    """run(binary, version, cluster, work) on a started throwaway cluster,
    work a scratch directory.  stdout is line-buffered; SIGINT, SIGTERM and
    SIGHUP end the run; whatever happens, on_exit() runs, then the cluster
    and the directory are removed.  Interrupted, it says so and exits 130."""
    sys.stdout.reconfigure(line_buffering=True)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()

    def on_signal(sig, frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    work = tempfile.mkdtemp(prefix=prefix.rstrip(".") + "-files.")
    try:
        with new_cluster(prefix, settings) as cluster:
            try:
                cluster.start()
                run(binary, version, cluster, work)
            finally:
                if on_exit:
                    on_exit()
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; cluster stopped and removed", file=sys.stderr)
        sys.exit(130)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def find_binary():
    """MAINTD_BIN, else build/gcc or build (as scripts/build and .ci/run make them), else a new build/."""
    b = os.environ.get("MAINTD_BIN")
    if b:
        if not os.access(b, os.X_OK):
            die(f"MAINTD_BIN={b} is not an executable")
        return os.path.abspath(b)
    for d in ("build/gcc", "build"):
        b = os.path.join(SRC, d, "src", "momentum-maintd")
        if os.access(b, os.X_OK):
            return b
    return build(os.path.join(SRC, "build"))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
