"""Any identifier works (issue 14, item 3): tables, columns, policies,
constraints, indexes, functions, roles and schemas whose names hold spaces,
quotes, parentheses, backslashes, %, newlines and non-ASCII letters are
named correctly by the lints, the drift checks and the probe, and never
stop the probe from reporting a leak elsewhere."""
import json
import os

from conftest import MIGRATIONS, migrations_dir, run
from test_verify import findings, migrate, run_job

NAMES = ["org units", "it's", 'say "hi"', "qty(", "a)b", "back\\slash", "100%", "new\nline", "Ünïcødé",
         "semi; -- /* $$", "a&b <c>", "x'\"() \\%\nü"]

STAGING = {"MOMENTUM_MAINTD_ENVIRONMENT": "staging"}


def ident(name):
    return '"' + name.replace('"', '""') + '"'


def lit(text):
    return "'" + text.replace("'", "''") + "'"


def qualified(schema, name):
    """What PostgreSQL's format('%I.%I') makes of it: quoted only where needed."""
    def q(n):
        plain = n and (n[0].isascii() and (n[0].islower() or n[0] == "_")) and \
            all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in n)
        return n if plain else ident(n)
    return q(schema) + "." + q(name)


def policy_obj(schema, table, policy):
    return '%s: policy "%s"' % (qualified(schema, table), policy.replace('"', '""'))


def leaky_table(db, name, owner="user_id", extra=""):
    """A table that belongs to a user and shows every row to every user."""
    t = "public." + ident(name)
    db.query("CREATE TABLE %s (id serial PRIMARY KEY, %s uuid NOT NULL REFERENCES auth.users (id)%s)"
             % (t, ident(owner), extra))
    db.query("ALTER TABLE %s ENABLE ROW LEVEL SECURITY" % t)
    db.query("GRANT SELECT ON %s TO authenticated" % t)
    db.query("CREATE POLICY %s ON %s FOR SELECT TO authenticated USING (true)" % (ident("everyone " + name), t))


def not_stopped(f):
    return [k for k in f if k[0] in ("probe_failed", "probe_timeout")]


# ---- the two failures seen ----------------------------------------------------------------------

def test_a_column_named_qty_paren_does_not_hide_a_leak_elsewhere(db):
    migrate(db)
    leaky_table(db, "orders", extra=', "qty(" text NOT NULL CHECK ("qty(" IN (\'one\', \'two\'))')
    leaky_table(db, "notes", extra=", body text NOT NULL")
    f = findings(db, env=STAGING)
    assert not not_stopped(f), f
    for table in ("orders", "notes"):
        x = f[("probe_isolation_leak", "public." + table)]
        assert x["level"] == "error" and "another user" in x["detail"], x


def test_a_referenced_table_named_org_units_gets_its_row(db):
    migrate(db)
    db.query('CREATE TABLE public."org units" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, '
             "kind text NOT NULL CHECK (kind IN ('dept', 'team')))")
    leaky_table(db, "members", extra=', unit uuid NOT NULL REFERENCES public."org units" (id)')
    f = findings(db, env=STAGING)
    assert ("probe_isolation_unchecked", "public.members") not in f, f
    x = f[("probe_isolation_leak", "public.members")]
    assert x["level"] == "error" and "another user" in x["detail"], x


# ---- the lints ----------------------------------------------------------------------------------

def test_lints_name_hostile_objects_and_their_remedies_work(db):
    migrate(db)
    expect, roles = {}, []
    try:
        for n in NAMES:
            t, obj = "public." + ident(n), qualified("public", n)
            db.query("CREATE TABLE %s (id int, %s uuid CONSTRAINT %s REFERENCES auth.users (id), body text)"
                     % (t, ident("owner " + n), ident("fk " + n)))
            db.query("GRANT SELECT, INSERT ON %s TO anon" % t)
            db.query("CREATE POLICY %s ON %s FOR INSERT WITH CHECK (true)" % (ident(n), t))
            db.query("CREATE POLICY %s ON %s FOR SELECT TO authenticated USING (auth.uid() = %s)"
                     % (ident("per row " + n), t, ident("owner " + n)))
            # auth_rls_initplan is for tables with row level security on
            rt = "public." + ident("rls " + n)
            db.query("CREATE TABLE %s (id int, %s uuid)" % (rt, ident("owner " + n)))
            db.query("ALTER TABLE %s ENABLE ROW LEVEL SECURITY" % rt)
            db.query("CREATE POLICY %s ON %s FOR SELECT TO authenticated USING (auth.uid() = %s)"
                     % (ident("per row " + n), rt, ident("owner " + n)))
            for i in ("dup a ", "dup b "):
                db.query("CREATE INDEX %s ON %s (body)" % (ident(i + n), t))
            db.query("CREATE FUNCTION public.%s(%s int) RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'"
                     % (ident("fn " + n), ident("arg " + n)))
            roles.append("role %s %d" % (n, os.getpid()))
            db.query("CREATE ROLE %s NOLOGIN BYPASSRLS" % ident(roles[-1]))
            expect.update({
                ("rls_disabled_in_public", obj): "error",
                ("policy_exists_rls_disabled", obj): "error",
                ("unindexed_foreign_keys", "%s (fk %s)" % (obj, n)): "info",
                ("duplicate_index", qualified("public", "dup a " + n) + ", " + qualified("public", "dup b " + n)): "warn",
                ("anon_write_policy", policy_obj("public", n, n)): "warn",
                ("auth_rls_initplan", policy_obj("public", "rls " + n, "per row " + n)): "warn",
                ("function_search_path_mutable", qualified("public", "fn " + n) + "(integer)"): "warn",
                ("anon_security_definer_function_executable", qualified("public", "fn " + n) + "(integer)"): "warn",
                ("bypassrls_role", roles[-1]): "warn",
            })
        # a name that looks like a call is not one
        db.query('CREATE TABLE public.calls (id int, "auth.uid()" uuid, note text)')
        db.query('CREATE POLICY "auth.uid() = x" ON public.calls FOR SELECT TO authenticated '
                 'USING ((SELECT auth.uid()) = "auth.uid()" AND note <> \'auth.uid()\')')
        f = findings(db)
        for key, level in expect.items():
            assert key in f, (key, sorted(k for k in f if k[0] == key[0]))
            assert f[key]["level"] == level, f[key]
        assert ("auth_rls_initplan", 'public.calls: policy "auth.uid() = x"') not in f
        for n in NAMES:
            assert ("auth_rls_initplan", policy_obj("public", n, "per row " + n)) not in f, "row level security is off"
        # a finding's key, quotes and all, is what verify.ignore takes
        key = f[("rls_disabled_in_public", qualified("public", 'say "hi"'))]["key"]
        r = run(["-d", db.conninfo, "--set", 'verify.ignore=["%s"]' % key.replace('"', '\\"'), "verify",
                 "--format", "json"])
        assert key not in [x["key"] for x in json.loads(r.stdout)["findings"]], r.stdout
        assert json.loads(r.stdout)["summary"]["ignored"] == 1, r.stdout
        run_job(db)
        # the remedies are SQL that works on these names
        fixed = [k for k in expect if k[0] in ("rls_disabled_in_public", "unindexed_foreign_keys",
                                               "function_search_path_mutable", "bypassrls_role")]
        for key in fixed:
            db.query(f[key]["remedy"].split(" (with policies")[0].split(" (first write")[0])
        f = findings(db)
        for key in fixed:
            assert key not in f, f
        run_job(db)
    finally:
        for r in roles:
            db.query("DROP ROLE IF EXISTS %s" % ident(r))


# ---- drift --------------------------------------------------------------------------------------

def hostile_migration(names):
    """A migration that makes a table, an index, a foreign key, a policy, a
    function and a storage bucket of each name (the same text is in the fuzz
    corpus)."""
    out = []
    for n in names:
        t = "public." + ident(n)
        out += ["CREATE TABLE %s (id int PRIMARY KEY, %s uuid CONSTRAINT %s REFERENCES auth.users (id));"
                % (t, ident("owner " + n), ident("fk " + n)),
                "CREATE INDEX %s ON %s (%s);" % (ident("ix " + n), t, ident("owner " + n)),
                "ALTER TABLE %s ENABLE ROW LEVEL SECURITY;" % t,
                "CREATE POLICY %s ON %s FOR SELECT TO authenticated USING ((SELECT auth.uid()) = %s);"
                % (ident(n), t, ident("owner " + n)),
                "COMMENT ON TABLE %s IS %s;" % (t, lit("made for " + n)),
                "CREATE FUNCTION public.%s() RETURNS text LANGUAGE sql AS %s;"
                % (ident("fn " + n), lit("SELECT " + lit(n))),
                "INSERT INTO storage.buckets (id, name, public) VALUES (%s, %s, false);" % (lit("b " + n), lit(n))]
    return "\n".join(out) + "\n"


def test_drift_names_hostile_objects(db, tmp_path):
    files = {os.path.basename(f): None for f in os.listdir(MIGRATIONS) if f[:3].isdigit() and f.endswith(".sql")}
    files["090_hostile_names.sql"] = hostile_migration(NAMES)
    migrate(db, migrations_dir(tmp_path, files))
    f = findings(db)
    assert not [k for k in f if k[0].startswith("drift_")], f
    run_job(db)
    expect = {}
    for n in NAMES:
        t, obj = "public." + ident(n), qualified("public", n)
        db.query("DROP POLICY %s ON %s" % (ident(n), t))
        db.query("CREATE POLICY %s ON %s FOR SELECT USING (true)" % (ident("new " + n), t))
        db.query("ALTER TABLE %s DISABLE ROW LEVEL SECURITY" % t)
        db.query("ALTER TABLE %s DROP CONSTRAINT %s" % (t, ident("fk " + n)))
        db.query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass"
                 % lit(qualified("public", "ix " + n)))
        db.query("CREATE OR REPLACE FUNCTION public.%s() RETURNS text LANGUAGE sql AS 'SELECT 1'"
                 % ident("fn " + n))
        db.query("UPDATE storage.buckets SET public = true WHERE id = %s" % lit("b " + n))
        expect.update({
            ("drift_dropped", policy_obj("public", n, n)): "error",
            ("drift_added", policy_obj("public", n, "new " + n)): "warn",
            ("drift_rls_disabled", obj): "error",
            ("drift_dropped", "%s (fk %s)" % (obj, n)): "error",
            ("drift_index_invalid", qualified("public", "ix " + n)): "error",
            ("drift_changed", qualified("public", "fn " + n) + "()"): "warn",
            ("drift_changed", "storage bucket b " + n): "error",
        })
    f = findings(db)
    assert {k: x["level"] for k, x in f.items() if k[0].startswith("drift_")} == expect
    run_job(db)
    # put back by hand, as the remedies say: resolved
    for n in NAMES:
        db.query(f[("drift_rls_disabled", qualified("public", n))]["remedy"].split(" (or ")[0])
        db.query(f[("drift_index_invalid", qualified("public", "ix " + n))]["remedy"])
    f = findings(db)
    assert not [k for k in f if k[0] in ("drift_rls_disabled", "drift_index_invalid")], f


# ---- the probe ----------------------------------------------------------------------------------

def test_probe_finds_leaks_under_hostile_names(db):
    migrate(db)
    for n in NAMES:
        schema, parent = ident("schema " + n), ident("parent " + n)
        db.query("CREATE SCHEMA %s" % schema)
        db.query("CREATE TABLE %s.%s (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), %s text NOT NULL CHECK (%s IN (%s)))"
                 % (schema, parent, ident("kind " + n), ident("kind " + n), lit("k " + n)))
        # the probe writes its rows as service_role (issue 14): let it, as
        # Supabase's default privileges do in the schemas it exposes
        db.query("GRANT USAGE ON SCHEMA %s TO service_role; GRANT SELECT, INSERT ON %s.%s TO service_role"
                 % (schema, schema, parent))
        # a leak: a required value from a CHECK, a row in the parent, a
        # policy that shows every row
        leaky_table(db, n, owner="owner " + n,
                    extra=", %s text NOT NULL CHECK (%s IN (%s, 'other')), %s uuid NOT NULL REFERENCES %s.%s (id)"
                    % (ident("col " + n), ident("col " + n), lit("v " + n), ident("unit " + n), schema, parent))
        # guarded the same way but right: no finding
        t = "public." + ident("safe " + n)
        db.query("CREATE TABLE %s (id serial PRIMARY KEY, %s uuid NOT NULL REFERENCES auth.users (id), "
                 "%s uuid NOT NULL REFERENCES %s.%s (id))" % (t, ident("owner " + n), ident("unit " + n), schema, parent))
        db.query("ALTER TABLE %s ENABLE ROW LEVEL SECURITY" % t)
        db.query("GRANT SELECT ON %s TO authenticated" % t)
        db.query("CREATE POLICY %s ON %s FOR SELECT TO authenticated USING ((SELECT auth.uid()) = %s)"
                 % (ident(n), t, ident("owner " + n)))
        # a policy that fails when used
        t = "public." + ident("loop " + n)
        db.query("CREATE TABLE %s (id int PRIMARY KEY)" % t)
        db.query("ALTER TABLE %s ENABLE ROW LEVEL SECURITY" % t)
        db.query("GRANT SELECT ON %s TO authenticated" % t)
        db.query("CREATE POLICY %s ON %s FOR SELECT TO authenticated USING (id IN (SELECT id FROM %s))"
                 % (ident(n), t, t))
    # the app's search_path names a hostile schema too
    db.query("ALTER DATABASE %s SET search_path = \"$user\", public, %s" % (ident(db.name), ident("schema " + NAMES[-1])))
    f = findings(db, env=STAGING)
    assert not not_stopped(f), f
    assert not [k for k in f if k[0] == "probe_isolation_unchecked"], [x for k, x in f.items() if k[0] == "probe_isolation_unchecked"]
    for n in NAMES:
        x = f[("probe_isolation_leak", qualified("public", n))]
        assert x["level"] == "error" and "another user (owner %s)" % n in x["detail"], x
        assert ("probe_isolation_leak", qualified("public", "safe " + n)) not in f
        x = f[("probe_policy_error", qualified("public", "loop " + n) + " (as authenticated)")]
        assert "42P17" in x["detail"], x
    assert len([k for k in f if k[0].startswith("probe_")]) == 2 * len(NAMES), sorted(f)
    # the findings' lifecycle stores and logs them
    r = run(["-d", db.conninfo, "run-job", "verify"], env=STAGING, timeout=120)
    assert r.returncode == 0, r.stderr


def test_probe_names_leaking_views_under_hostile_names(db):
    migrate(db)
    for n in NAMES:
        # columns named like the alias the probe reads a view with, and any name
        db.query("CREATE VIEW public.%s AS SELECT user_id AS v, access_token AS %s FROM public.zoom_credentials"
                 % (ident("view " + n), ident(n)))
        db.query("CREATE VIEW public.%s WITH (security_invoker = true) AS SELECT * FROM public.%s"
                 % (ident("outer view " + n), ident("view " + n)))
        db.query("REVOKE ALL ON public.%s FROM anon, authenticated" % ident("view " + n))
        db.query("GRANT SELECT ON public.%s, public.%s TO authenticated" % (ident("view " + n), ident("outer view " + n)))
    f = findings(db, env=STAGING)
    assert not not_stopped(f), f
    for n in NAMES:
        x = f[("probe_isolation_leak", qualified("public", "view " + n))]
        assert x["level"] == "error" and x["remedy"].startswith(
            "ALTER VIEW %s SET (security_invoker = true)" % qualified("public", "view " + n)), x
        # an invoker view over a leaking view shows what that one shows
        assert ("probe_isolation_leak", qualified("public", "outer view " + n)) in f
    assert len([k for k in f if k[0].startswith("probe_")]) == 2 * len(NAMES), sorted(f)
