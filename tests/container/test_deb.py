"""The Debian package, installed, upgraded, removed and purged inside a
debian:12 container (the host is not ours to change).  scripts/container-test
builds version N and N+1 (a changelog entry added to a copy of the tree)
into $MAINTD_DEB_DIR/v1 and v2."""
import glob
import os
import uuid

import pytest

from conftest import RUNOPT, SRCDIR, podman, url

DEB_DIR = os.environ.get("MAINTD_DEB_DIR", "")
CONF = "/etc/momentum-maintd/momentum-maintd.conf"


def deb(which):
    found = sorted(f for f in glob.glob(os.path.join(DEB_DIR, which, "momentum-maintd_*.deb")))
    assert len(found) == 1, "one momentum-maintd_*.deb in %s/%s: %r" % (DEB_DIR, which, found)
    return found[0]


def version(path):
    return os.path.basename(path).split("_")[1]


@pytest.fixture(scope="module")
def box():
    """A debian:12 container with the packages mounted at /debs."""
    assert DEB_DIR, "MAINTD_DEB_DIR is not set: run scripts/container-test"
    name = "maintd-deb-" + uuid.uuid4().hex[:8]
    podman("run", "-d", "--name", name, "--network", "host", *RUNOPT, "--no-healthcheck",
           "-v", "%s:/debs:ro" % DEB_DIR, "debian:12", "sleep", "infinity")
    try:
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def sh(box, script, check=True, env=()):
    args = ["exec"]
    for e in env:
        args += ["-e", e]
    return podman(*args, box, "/bin/sh", "-ec", script, check=check, timeout=600)


def status(box):
    r = sh(box, "dpkg-query -W -f '${Status} ${Version}' momentum-maintd 2>/dev/null || true")
    return r.stdout.strip()


def test_install_puts_files_where_debian_users_expect_them_and_creates_no_user(box, pg):
    before = sh(box, "cat /etc/passwd /etc/group").stdout
    sh(box, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            "--no-install-recommends /debs/v1/%s >/dev/null" % os.path.basename(deb("v1")))
    assert status(box) == "install ok installed %s" % version(deb("v1"))
    assert sh(box, "cat /etc/passwd /etc/group").stdout == before, "the unit uses DynamicUser=: no user"
    files = ["/usr/sbin/momentum-maintd", "/lib/systemd/system/momentum-maintd.service",
             "/lib/systemd/system/momentum-maintd@.service",
             "/usr/share/momentum-maintd/monitoring/momentum-maintd.rules.yml",
             "/usr/share/momentum-maintd/monitoring/momentum-maintd.dashboard.json",
             "/usr/lib/systemd/catalog/momentum-maintd.catalog",
             "/usr/share/man/man8/momentum-maintd.8.gz", "/usr/share/man/man5/momentum-maintd.conf.5.gz",
             CONF, "/usr/share/momentum-maintd/migrations/001_initial_schema.sql",
             "/usr/share/doc/momentum-maintd/copyright"]
    sh(box, "for f in %s; do test -s $f || { echo missing $f; exit 1; }; done" % " ".join(files))
    assert sh(box, "cat /var/lib/dpkg/info/momentum-maintd.conffiles").stdout.split() == [CONF]
    unit = sh(box, "cat /lib/systemd/system/momentum-maintd.service").stdout
    assert "DynamicUser=yes" in unit and "ExecStart=/usr/sbin/momentum-maintd run" in unit
    # installed, not enabled: the database has to be configured first
    r = sh(box, "ls /etc/systemd/system/multi-user.target.wants/ 2>/dev/null | grep -c momentum || true")
    assert r.stdout.strip() == "0"
    # the installed daemon reads the conffile and applies the packaged migrations
    dbname = pg.create_db()
    r = sh(box, "momentum-maintd check-config", env=["MOMENTUM_MAINTD_ENVIRONMENT=staging"])
    assert "/usr/share/momentum-maintd/migrations" in r.stdout
    sh(box, "momentum-maintd migrate up", env=["DATABASE_URL=" + url(pg, dbname),
                                               "MOMENTUM_MAINTD_ENVIRONMENT=staging"])
    shipped = [f for f in os.listdir(os.path.join(SRCDIR, "migrations")) if f[:3].isdigit()]
    assert int(pg.psql(dbname, "SELECT count(*) FROM momentum_maintd.schema_migrations")) == len(shipped)


def test_upgrade_keeps_the_edited_configuration(box):
    assert version(deb("v2")) != version(deb("v1"))
    sh(box, "echo '# edited by the administrator' >> %s" % CONF)
    sh(box, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /debs/v2/%s >/dev/null"
       % os.path.basename(deb("v2")))
    assert status(box) == "install ok installed %s" % version(deb("v2"))
    assert "# edited by the administrator" in sh(box, "cat %s" % CONF).stdout
    sh(box, "momentum-maintd --version")


def test_remove_keeps_the_configuration(box):
    sh(box, "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq momentum-maintd >/dev/null")
    assert status(box).startswith("deinstall ok config-files")
    sh(box, "test ! -e /usr/sbin/momentum-maintd && test ! -e /lib/systemd/system/momentum-maintd.service")
    sh(box, "test ! -e /usr/share/momentum-maintd")
    assert "# edited by the administrator" in sh(box, "cat %s" % CONF).stdout


def test_purge_removes_the_configuration(box):
    sh(box, "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq momentum-maintd >/dev/null")
    assert status(box) == ""
    sh(box, "test ! -e /etc/momentum-maintd")
    r = sh(box, "ls /var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null | grep -c momentum || true")
    assert r.stdout.strip() == "0"
