"""monitoring/: the Prometheus alerting rules pass promtool's check and
their own unit tests (a firing case for every alert), and every metric the
rules and the Grafana dashboard name is one a live daemon serves (issue 17,
item 4).  Nothing here is skipped: without promtool (Debian's prometheus
package, in scripts/install-deps) the tests fail."""
import json
import os
import re
import shutil
import subprocess

import yaml

from conftest import MIGRATIONS, SRCDIR, wait_until
from test_http import free_port, get

MONITORING = os.path.join(SRCDIR, "monitoring")
RULES = os.path.join(MONITORING, "momentum-maintd.rules.yml")
RULE_TESTS = os.path.join(MONITORING, "momentum-maintd.rules.test.yml")
DASHBOARD = os.path.join(MONITORING, "momentum-maintd.dashboard.json")
METRIC = re.compile(r"\bmomentum_maintd_[a-z0-9_]+")
# not the daemon's: what Prometheus records for every target and PromQL's own
PROMETHEUS_OWN = {"up"}


def promtool(*args, cwd=MONITORING):
    path = shutil.which("promtool")
    assert path, "promtool is missing: apt-get install prometheus (scripts/install-deps does)"
    return subprocess.run([path] + list(args), capture_output=True, text=True, timeout=120, cwd=cwd)


def rules():
    with open(RULES) as f:
        return [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]


def dashboard_exprs():
    with open(DASHBOARD) as f:
        d = json.load(f)
    exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in d["templating"]["list"] if v["type"] == "query"]
    return d, exprs


def test_promtool_check_rules_is_clean():
    r = promtool("check", "rules", RULES)
    assert r.returncode == 0 and "SUCCESS: %d rules found" % len(rules()) in r.stdout, (r.stdout, r.stderr)


def test_promtool_check_rules_is_a_real_check(tmp_path):
    with open(RULES) as f:
        text = f.read()
    broken = tmp_path / "broken.rules.yml"
    broken.write_text(text.replace("momentum_maintd_database_up == 0", "momentum_maintd_database_up == == 0"))
    r = promtool("check", "rules", str(broken))
    assert r.returncode != 0 and "FAILED" in r.stdout + r.stderr, (r.stdout, r.stderr)


def test_the_alerts_asked_for_are_there():
    names = {r["alert"] for r in rules()}
    assert {"MomentumMaintdMigrationFailed", "MomentumMaintdVerifyError", "MomentumMaintdJobOverdue",
            "MomentumMaintdDatabaseDown", "MomentumMaintdNotReady"} <= names, names
    for r in rules():
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]


def test_promtool_test_rules_passes_with_a_firing_case_for_every_alert():
    r = promtool("test", "rules", RULE_TESTS)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, (r.stdout, r.stderr)
    with open(RULE_TESTS) as f:
        cases = [c for t in yaml.safe_load(f)["tests"] for c in t["alert_rule_test"]]
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {r["alert"] for r in rules()}
    assert names <= fired, "alerts no test sees firing: %s" % sorted(names - fired)
    assert names <= quiet, "alerts no test sees quiet: %s" % sorted(names - quiet)


def test_promtool_test_rules_fails_when_an_alert_is_wrong(tmp_path):
    """The unit tests can fail: the verification alert on warnings too."""
    with open(RULES) as f:
        text = f.read()
    (tmp_path / "momentum-maintd.rules.yml").write_text(
        text.replace('momentum_maintd_verify_findings{level="error"} > 0', "momentum_maintd_verify_findings > 0"))
    with open(RULE_TESTS) as f:
        tests = yaml.safe_load(f)
    # only the verification cases: the others take the most time
    tests["tests"] = [t for t in tests["tests"]
                      if any(c["alertname"] == "MomentumMaintdVerifyError" for c in t["alert_rule_test"])]
    assert tests["tests"]
    (tmp_path / "verify.test.yml").write_text(yaml.safe_dump(tests))
    r = promtool("test", "rules", "verify.test.yml", cwd=str(tmp_path))
    assert r.returncode != 0 and "MomentumMaintdVerifyError" in r.stdout + r.stderr, (r.stdout, r.stderr)


def test_every_dashboard_query_names_a_daemon_metric():
    d, exprs = dashboard_exprs()
    assert d["uid"] and d["title"] and d["panels"]
    assert len({p["id"] for p in d["panels"]}) == len(d["panels"])
    for p in d["panels"]:
        assert p.get("targets"), "panel %r has no query" % p["title"]
        for t in p["targets"]:
            assert METRIC.search(t["expr"]), "panel %r: %r names no momentum_maintd_ metric" % (p["title"], t["expr"])


def scrape_live_metrics(db, daemons, notify):
    """/metrics of a daemon that migrated db and ran its first verification
    pass (the one right after migrating), so that every series is there."""
    port = free_port()
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                 "--set", "http.listen=127.0.0.1:%d" % port], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1", timeout=60), d.stderr()
    text = wait_until(lambda: (lambda m: m if "momentum_maintd_verify_findings{" in m else None)(
        get(port, "/metrics")[1]), timeout=60)
    assert text, d.stderr()
    return text


def series(text):
    """{metric name: [label dicts]} of the samples in a scrape."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ", line)
        assert m, line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.setdefault(m.group(1), []).append(labels)
    return out


def test_rules_and_dashboard_use_only_what_a_live_daemon_serves(db, daemons, notify):
    live = series(scrape_live_metrics(db, daemons, notify))
    exprs = [r["expr"] for r in rules()] + dashboard_exprs()[1]
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert used, "no metric found in the rules and the dashboard"
    missing = sorted(used - set(live))
    assert not missing, "named in monitoring/ but not served by the daemon: %s" % missing
    # the label values the rules pick are the daemon's: job= (stored by
    # Prometheus as exported_job=) and the finding levels
    jobs = {s["job"] for name in live for s in live[name] if "job" in s}
    levels = {s["level"] for s in live.get("momentum_maintd_verify_findings", [])}
    for e in exprs:
        for job in re.findall(r'exported_job="([^"]+)"', e):
            assert job in jobs, (job, jobs)
        for level in re.findall(r'level="([^"]+)"', e):
            assert level in levels, (level, levels)
        assert not re.search(r'\bjob="(?!momentum-maintd")', e), "the daemon's job label is exported_job: " + e
    # and nothing else: every other identifier applied to a selector is PromQL's or Prometheus's
    for e in exprs:
        for name in re.findall(r"\b([a-z_][a-z0-9_]*)\{", e):
            assert name.startswith("momentum_maintd_") or name in PROMETHEUS_OWN, (name, e)
