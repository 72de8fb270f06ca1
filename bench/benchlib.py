"""What every benchmark under bench/ needs: the binary, a clean environment,
the machine's description and a way to stop.  Standard library only."""
import os
import platform
import subprocess
import sys

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROG = os.path.relpath(os.path.abspath(sys.argv[0]), SRC) if sys.argv and sys.argv[0] else "bench"


def die(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(1)


def clean_env():
    """The environment without anything that would redirect libpq or configure the daemon."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PG") or k.startswith("MOMENTUM_MAINTD_")
                   or k in ("DATABASE_URL", "NOTIFY_SOCKET", "JOURNAL_STREAM",
                            "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY"))}
    env["LC_ALL"] = "C"
    return env


def build(builddir):
    """builddir/src/momentum-maintd, built with scripts/build when it is missing."""
    b = os.path.join(builddir, "src", "momentum-maintd")
    if not os.access(b, os.X_OK):
        print(f"building {b} (scripts/build {builddir})", file=sys.stderr)
        r = subprocess.run([os.path.join(SRC, "scripts", "build"), builddir], stdout=subprocess.DEVNULL)
        if r.returncode != 0 or not os.access(b, os.X_OK):
            die(f"build failed; run scripts/build {builddir} to see why")
    return b


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
