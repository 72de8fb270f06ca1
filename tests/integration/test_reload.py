"""SIGHUP: RELOADING=1 with MONOTONIC_USEC=, the whole configuration read
again, the old one kept when the new one is invalid, READY=1 after."""
import signal
import time

from conftest import MIGRATIONS


def test_reload_valid_invalid_and_restart_only_keys(db, daemons, notify, tmp_path):
    conf = tmp_path / "maintd.conf"
    conf.write_text('log: { level = "info"; };\n'
                    'jobs: { zoom_token_cleanup: { schedule = "0 2 * * *"; }; };\n')
    d = daemons(["-c", str(conf), "-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS],
                notify=notify, env={"MOMENTUM_MAINTD_LOG_LEVEL": None})
    assert notify.wait_for(lambda l: l == "READY=1")
    n_ready = notify.lines().count("READY=1")

    # a valid change: log level and schedule apply at once; supabase_compat needs a restart
    conf.write_text('log: { level = "debug"; };\n'
                    'jobs: { zoom_token_cleanup: { schedule = "*/5 * * * *"; timezone = "Europe/Berlin"; }; };\n'
                    'migrations: { supabase_compat = false; };\n')
    d.signal(signal.SIGHUP)
    assert notify.wait_for(lambda l: "configuration reloaded" in l), d.stderr()
    lines = notify.lines()
    i = lines.index("RELOADING=1")
    assert lines[i + 1].startswith("MONOTONIC_USEC=") and int(lines[i + 1].split("=")[1]) > 0
    assert lines[i:].count("READY=1") == 1 and lines.count("READY=1") == n_ready + 1
    log = d.stderr()
    assert "configuration reloaded" in log
    assert "reload: migrations.supabase_compat changed; it takes effect only after a restart" in log

    # an invalid file: the running configuration stays, READY=1 again, the error names file:line
    conf.write_text('log: { level = "loud"; };\n')
    d.signal(signal.SIGHUP)
    assert notify.wait_for(lambda l: "reload failed" in l), d.stderr()
    assert notify.lines().count("RELOADING=1") == 2
    assert notify.lines().count("READY=1") == n_ready + 2
    assert '%s:1: log.level: invalid value \\"loud' % conf in d.stderr()
    time.sleep(0.2)
    assert d.proc.poll() is None
    # debug level from the first reload is still in force
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    assert "level=debug" in d.stderr()
