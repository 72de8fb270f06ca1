"""Verification: lints, drift against the snapshot the migrations left, the
functional probe (anon/authenticated with a JWT, rolled back), findings over
time in the daemon, and the seed's schema with the fixes of 004."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN, MIGRATIONS, SRCDIR, SEED_COUNT, SEED_MIGRATIONS, SHIPPED_FINDINGS, SHIPPED_SUMMARY, SHIPPED_WARNINGS, daemon_env, migrations_dir, run

SEED_ONLY = {"001_initial_schema.sql": None, "002_zoom_integration.sql": None, "003_storage_buckets.sql": None}


def migrate(db, mdir=MIGRATIONS):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert r.returncode == 0, r.stderr


def verify(db, *args, env=None):
    return run(["-d", db.conninfo, "verify"] + list(args), env=env, timeout=120)


def findings(db, env=None):
    r = verify(db, "--format", "json", "--fail-on", "info", env=env)
    assert r.returncode in (0, 1), r.stderr
    return {(f["check"], f["object"]): f for f in json.loads(r.stdout)["findings"]}


def run_job(db, *extra):
    """One verification pass with the findings' lifecycle, as the daemon runs it."""
    r = run(["-d", db.conninfo] + list(extra) + ["run-job", "verify"], timeout=120)
    assert r.returncode == 0, r.stderr
    return r


# ---- the seed, before and after 004 ------------------------------------------

def test_seed_001_to_003_has_real_defects(db, tmp_path):
    migrate(db, migrations_dir(tmp_path, SEED_ONLY))
    r = verify(db)
    assert r.returncode == 1, r.stdout
    assert verify(db, "--fail-on", "warn").returncode == 1
    f = findings(db)
    # policies that read their own table: every read by an API role fails
    for table in ("organizations", "organization_members"):
        x = f[("probe_policy_error", "public.%s (as authenticated)" % table)]
        assert x["level"] == "error" and "42P17" in x["detail"] and "infinite recursion" in x["detail"], x
        # the way out must not lead to another finding (a definer function /rpc may call)
        assert "in a schema the API does not expose" in x["remedy"], x
    assert ("anon_write_policy", 'public.brand_settings: policy "Users can manage own brand settings"') in f
    assert ("auth_rls_initplan", 'public.profiles: policy "Users can view own profile"') in f
    one = f[("unindexed_foreign_keys", "public.brand_settings (brand_settings_user_id_fkey)")]
    assert one["level"] == "info" and one["remedy"] == "CREATE INDEX CONCURRENTLY ON public.brand_settings (user_id)"
    assert set(one) == {"check", "level", "categories", "facing", "object", "detail", "remedy", "key"}
    assert one["categories"] == ["PERFORMANCE"] and one["facing"] == "EXTERNAL"
    assert one["key"] == "unindexed_foreign_keys:public.brand_settings (brand_settings_user_id_fkey)"


def test_readme_json_example_has_the_shape_verify_prints(db):
    migrate(db)
    db.query("CREATE TABLE public.open_notes (id int PRIMARY KEY, body text)")
    db.query("GRANT SELECT ON public.open_notes TO anon")
    r = verify(db, "--format", "json")
    assert r.returncode == 1, r.stderr
    got = json.loads(r.stdout)
    readme = open(os.path.join(SRCDIR, "README.md")).read()
    m = re.search(r'\n    (\{"findings": \[\n.*?\}\})\n', readme, re.S)
    assert m, "README's --format json example"
    doc = json.loads(m.group(1))
    want = next(f for f in got["findings"] if f["check"] == "rls_disabled_in_public")
    assert doc["findings"][0] == want
    assert list(doc["findings"][0]) == list(want) and list(doc["summary"]) == list(got["summary"])


def test_migrate_up_in_staging_logs_the_findings_after_applying(db, tmp_path):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + migrations_dir(tmp_path, SEED_ONLY),
             "migrate", "up"], env={"MOMENTUM_MAINTD_ENVIRONMENT": "staging"})
    assert r.returncode == 0, r.stderr
    assert re.search(r'level=error msg="verify: error probe_policy_error public.organizations \(as authenticated\): '
                     r'SELECT as authenticated fails: ERROR 42P17', r.stderr), r.stderr
    assert "verification after migrating: 4 errors" in r.stderr, r.stderr
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"],
            env={"MOMENTUM_MAINTD_ENVIRONMENT": "staging"})
    assert r.returncode == 0, r.stderr
    assert "verification after migrating: " + SHIPPED_SUMMARY in r.stderr, r.stderr


def test_all_shipped_migrations_verify_clean(db):
    migrate(db)
    r = verify(db, "--fail-on", "error")
    assert r.returncode == 0, r.stdout
    # what the advisor finds in them is left for a new migration (SHIPPED_FINDINGS)
    r = verify(db, "--fail-on", "info")
    assert r.stdout.strip().endswith(SHIPPED_SUMMARY), r.stdout
    doc = json.loads(verify(db, "--format", "json").stdout)
    assert {(f["check"], f["object"]) for f in doc["findings"]} == SHIPPED_FINDINGS, doc
    assert doc["summary"] == {"error": 0, "warn": SHIPPED_WARNINGS, "info": 0, "ignored": 0}


A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"
C = "00000000-0000-4000-8000-00000000000c"
ORG = "00000000-0000-4000-8000-0000000000f1"


def as_user(conn, user):
    cur = conn.cursor()
    cur.execute("RESET ROLE")
    if user is None:
        cur.execute("SET ROLE anon")
        cur.execute("SELECT set_config('request.jwt.claims', '{\"role\": \"anon\"}', false)")
    else:
        cur.execute("SET ROLE authenticated")
        cur.execute("SELECT set_config('request.jwt.claims', %s, false)",
                    (json.dumps({"sub": user, "role": "authenticated"}),))
    return cur


def test_app_access_works_for_authenticated_users_after_the_fixes(db):
    migrate(db)
    for u in (A, B, C):
        db.query("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (u, u + "@example.com"))
        db.query("INSERT INTO profiles (id, email) VALUES (%s, %s)", (u, u + "@example.com"))
    db.query("INSERT INTO organizations (id, name, slug) VALUES (%s, 'Acme', 'acme')", (ORG,))
    db.query("INSERT INTO organization_members (user_id, organization_id, role) VALUES (%s, %s, 'owner')", (A, ORG))
    db.query("INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at) "
             "VALUES (%s, 'ta', 'ra', now()), (%s, 'tb', 'rb', now())", (A, B))
    db.query("INSERT INTO brand_settings (user_id, primary_color) VALUES (NULL, '#000'), (%s, '#aaa')", (A,))
    conn = db.cluster.connect(db.name)
    try:
        # a user sees only their own profile and tokens
        cur = as_user(conn, A)
        cur.execute("SELECT id::text FROM profiles")
        assert cur.fetchall() == [(A,)]
        cur.execute("SELECT access_token FROM zoom_credentials")
        assert cur.fetchall() == [("ta",)]
        # an owner sees the organization and manages its members
        cur.execute("SELECT name FROM organizations")
        assert cur.fetchall() == [("Acme",)]
        cur.execute("INSERT INTO organization_members (user_id, organization_id, role) VALUES (%s, %s, 'member')",
                    (B, ORG))
        cur.execute("UPDATE organization_members SET role = 'admin' WHERE user_id = %s", (B,))
        assert cur.rowcount == 1
        cur.execute("SELECT count(*) FROM organization_members")
        assert cur.fetchall() == [(2,)]
        cur.execute("UPDATE organizations SET name = 'Acme Inc' WHERE id = %s", (ORG,))
        assert cur.rowcount == 1
        # a member sees their organization and its members, and cannot manage them
        cur = as_user(conn, B)
        cur.execute("SELECT name FROM organizations")
        assert cur.fetchall() == [("Acme Inc",)]
        cur.execute("SELECT count(*) FROM organization_members")
        assert cur.fetchall() == [(2,)]
    finally:
        conn.close()
    db.query("UPDATE organization_members SET role = 'member' WHERE user_id = %s", (B,))
    conn = db.cluster.connect(db.name)
    try:
        cur = as_user(conn, B)
        cur.execute("UPDATE organization_members SET role = 'member' WHERE user_id = %s", (A,))
        assert cur.rowcount == 0, "a plain member cannot change others' roles"
        with pytest.raises(Exception, match="row-level security"):
            cur.execute("INSERT INTO organization_members (user_id, organization_id, role) "
                        "VALUES (%s, %s, 'viewer')", (C, ORG))
        # someone outside sees nothing of it
        cur = as_user(conn, C)
        cur.execute("SELECT count(*) FROM organizations")
        assert cur.fetchall() == [(0,)]
        cur.execute("SELECT count(*) FROM organization_members")
        assert cur.fetchall() == [(0,)]
        cur.execute("SELECT count(*) FROM zoom_credentials")
        assert cur.fetchall() == [(0,)]
        cur.execute("SELECT primary_color FROM brand_settings")
        assert cur.fetchall() == [("#000",)], "the shared brand settings, not A's"
        # anon reads the shared brand settings and cannot write them any more
        cur = as_user(conn, None)
        cur.execute("SELECT primary_color FROM brand_settings")
        assert cur.fetchall() == [("#000",)]
        cur.execute("UPDATE brand_settings SET primary_color = '#f00' WHERE user_id IS NULL")
        assert cur.rowcount == 0
        with pytest.raises(Exception, match="row-level security"):
            cur.execute("INSERT INTO brand_settings (user_id, primary_color) VALUES (NULL, '#f00')")
    finally:
        conn.close()
    assert db.query("SELECT primary_color FROM brand_settings WHERE user_id IS NULL") == [("#000",)]


def test_rollback_of_004_restores_the_seed_policies(db, tmp_path):
    def policies():
        return db.query("SELECT polrelid::regclass::text, polname, polcmd, polroles::regrole[]::text, "
                        "pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid) FROM pg_policy "
                        "ORDER BY 1, 2")
    migrate(db, migrations_dir(tmp_path, SEED_ONLY))
    before = policies()
    migrate(db)
    assert policies() != before
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "down", "--to", "3",
             "--yes"])
    assert r.returncode == 0, r.stderr
    assert policies() == before
    assert db.query("SELECT count(*) FROM pg_proc WHERE proname IN ('is_org_member', 'has_org_role')") == [(0,)]
    assert db.query("SELECT to_regclass('public.idx_brand_settings_user')") == [(None,)]


UP_TO_004 = dict(SEED_ONLY, **{"004_rls_fixes.sql": None, "rollback_004_rls_fixes.sql": None})


def schema_state(db):
    """What 005 changes: policies, the two membership functions and the token cleanup, indexes, schemas."""
    return {
        "policies": db.query("SELECT polrelid::regclass::text, polname, polcmd, polpermissive, polroles::regrole[]::text, "
                             "pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid) FROM pg_policy "
                             "ORDER BY 1, 2"),
        "functions": db.query("SELECT pronamespace::regnamespace::text, proname, prosecdef, proconfig, prosrc, "
                              "proacl::text FROM pg_proc WHERE proname IN "
                              "('is_org_member', 'has_org_role', 'cleanup_expired_zoom_tokens') ORDER BY 2"),
        "indexes": db.query("SELECT indexrelid::regclass::text FROM pg_index "
                            "WHERE indrelid = 'public.zoom_credentials'::regclass ORDER BY 1"),
        "private": db.query("SELECT to_regnamespace('private') IS NOT NULL"),
    }


def permissive_overlaps(db):
    """(table, role, command) with more than one permissive policy, FOR ALL counting for each command."""
    return db.query("""
        SELECT p.schemaname || '.' || p.tablename, r.role, c.cmd, count(*)
        FROM pg_policies p, unnest(p.roles) r(role),
             unnest(CASE p.cmd WHEN 'ALL' THEN ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] ELSE ARRAY[p.cmd] END) c(cmd)
        WHERE p.permissive = 'PERMISSIVE' AND p.schemaname = 'public'
        GROUP BY 1, 2, 3 HAVING count(*) > 1 ORDER BY 1, 2, 3""")


def test_005_fixes_what_the_advisor_finds_and_its_rollback_restores_004(db, tmp_path):
    migrate(db, migrations_dir(tmp_path, UP_TO_004))
    before = schema_state(db)
    assert permissive_overlaps(db) == [
        ("public.brand_settings", "authenticated", "SELECT", 2),
        ("public.organization_members", "authenticated", "SELECT", 2)]
    migrate(db)
    after = schema_state(db)
    # the redundant index is gone; the constraint's index stays
    assert sorted(after["indexes"]) == [("idx_zoom_credentials_expires",), ("zoom_credentials_pkey",),
                                        ("zoom_credentials_user_id_key",)]
    funcs = {f[1]: f for f in after["functions"]}
    assert funcs["cleanup_expired_zoom_tokens"][3] == ['search_path=""']
    assert funcs["is_org_member"][0] == "private" and funcs["has_org_role"][0] == "private"
    assert db.query("SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
                    "AND proname IN ('is_org_member', 'has_org_role')") == [(0,)], "not served at /rpc"
    assert permissive_overlaps(db) == []
    assert not [p for p in after["policies"] if p[1] == "Public logo access"]
    # the cleanup still deletes what it deleted
    db.query("INSERT INTO auth.users (id, email) VALUES (%s, 'a@example.com')", (A,))
    db.query("INSERT INTO profiles (id, email) VALUES (%s, 'a@example.com')", (A,))
    db.query("INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at) "
             "VALUES (%s, 't', 'r', now() - interval '8 days')", (A,))
    conn = db.cluster.connect(db.name)
    try:
        cur = conn.cursor()
        cur.execute("SET search_path = pg_temp")   # a caller's search_path no longer matters
        cur.execute("SELECT public.cleanup_expired_zoom_tokens()")
        conn.commit()
    finally:
        conn.close()
    assert db.query("SELECT count(*) FROM zoom_credentials") == [(0,)]
    db.query("DELETE FROM profiles")
    db.query("DELETE FROM auth.users")
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "down", "--to", "4",
             "--yes"])
    assert r.returncode == 0, r.stderr
    assert schema_state(db) == before
    migrate(db)
    assert schema_state(db) == after


def test_after_005_members_read_as_before_anon_calls_nothing_and_no_one_lists_logos(db):
    migrate(db)
    for u in (A, B, C):
        db.query("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (u, u + "@example.com"))
        db.query("INSERT INTO profiles (id, email) VALUES (%s, %s)", (u, u + "@example.com"))
    db.query("INSERT INTO organizations (id, name, slug) VALUES (%s, 'Acme', 'acme')", (ORG,))
    db.query("INSERT INTO organization_members (user_id, organization_id, role) VALUES (%s, %s, 'owner'), "
             "(%s, %s, 'member')", (A, ORG, B, ORG))
    db.query("INSERT INTO brand_settings (user_id, primary_color) VALUES (NULL, '#000'), (%s, '#aaa'), (%s, '#bbb')",
             (A, B))
    db.query("INSERT INTO storage.objects (bucket_id, name) VALUES ('logos', 'acme.png')")
    conn = db.cluster.connect(db.name)
    conn.autocommit = True
    try:
        cur = as_user(conn, A)
        cur.execute("SELECT primary_color FROM brand_settings ORDER BY 1")
        assert cur.fetchall() == [("#000",), ("#aaa",)], "own and shared, not B's"
        cur.execute("UPDATE brand_settings SET primary_color = '#abc' WHERE user_id IS NOT NULL")
        assert cur.rowcount == 1, "only A's own row"
        cur.execute("DELETE FROM brand_settings WHERE user_id IS NULL")
        assert cur.rowcount == 0, "the shared rows are not A's to delete"
        with pytest.raises(Exception, match="row-level security"):
            cur.execute("INSERT INTO brand_settings (user_id) VALUES (%s)", (B,))
        cur.execute("INSERT INTO brand_settings (user_id) VALUES (%s)", (A,))
        # members read the organization and its members; the owner manages them
        cur.execute("SELECT count(*) FROM organization_members")
        assert cur.fetchall() == [(2,)]
        cur.execute("INSERT INTO organization_members (user_id, organization_id, role) VALUES (%s, %s, 'viewer')",
                    (C, ORG))
        cur.execute("DELETE FROM organization_members WHERE user_id = %s", (C,))
        assert cur.rowcount == 1
        cur.execute("SELECT private.is_org_member(%s)", (ORG,))
        assert cur.fetchall() == [(True,)]
        cur = as_user(conn, B)
        cur.execute("SELECT name FROM organizations")
        assert cur.fetchall() == [("Acme",)]
        cur.execute("DELETE FROM organization_members WHERE user_id = %s", (A,))
        assert cur.rowcount == 0, "a plain member removes no one"
        cur.execute("UPDATE organization_members SET role = 'owner' WHERE user_id = %s", (B,))
        assert cur.rowcount == 0
        # an outsider sees nothing of the organization
        cur = as_user(conn, C)
        cur.execute("SELECT count(*) FROM organization_members")
        assert cur.fetchall() == [(0,)]
        cur.execute("SELECT primary_color FROM brand_settings")
        assert cur.fetchall() == [("#000",)]
        # anon: the shared brand settings, no function, no listing of the logos
        cur = as_user(conn, None)
        cur.execute("SELECT primary_color FROM brand_settings")
        assert cur.fetchall() == [("#000",)]
        for call in ("private.is_org_member('%s')" % ORG, "private.has_org_role('%s', ARRAY['owner'])" % ORG):
            with pytest.raises(Exception, match="permission denied"):
                cur.execute("SELECT " + call)
        cur.execute("SELECT count(*) FROM storage.objects WHERE bucket_id = 'logos'")
        assert cur.fetchall() == [(0,)]
        cur = as_user(conn, A)
        cur.execute("SELECT count(*) FROM storage.objects WHERE bucket_id = 'logos'")
        assert cur.fetchall() == [(0,)]
    finally:
        conn.close()


# ---- lints ------------------------------------------------------------------------

def test_each_lint_appears_and_goes(db):
    migrate(db)
    db.query("CREATE TABLE public.open_notes (id int PRIMARY KEY, body text, owner uuid REFERENCES auth.users (id))")
    db.query("GRANT SELECT, INSERT ON public.open_notes TO anon")
    db.query("CREATE TABLE public.locked (id int)")
    db.query("ALTER TABLE public.locked ENABLE ROW LEVEL SECURITY")
    db.query("CREATE INDEX dup_a ON public.open_notes (body)")
    db.query("CREATE INDEX dup_b ON public.open_notes (body)")
    db.query("CREATE INDEX broken ON public.open_notes (id)")
    db.query("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.broken'::regclass")
    db.query("CREATE FUNCTION public.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
    db.query("DO $$ BEGIN CREATE ROLE sneaky NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    db.query("ALTER TABLE public.deliverables DISABLE ROW LEVEL SECURITY")
    db.query("CREATE POLICY per_row ON public.profiles FOR SELECT TO authenticated USING (auth.uid() = id)")
    db.query("CREATE POLICY anyone_writes ON public.zoom_credentials FOR INSERT WITH CHECK (true)")
    r = verify(db)
    assert r.returncode == 1
    f = findings(db)
    expect = {
        ("rls_disabled_in_public", "public.open_notes"): "error",
        ("policy_exists_rls_disabled", "public.deliverables"): "error",
        ("rls_enabled_no_policy", "public.locked"): "info",
        ("duplicate_index", "public.dup_a, public.dup_b"): "warn",
        ("invalid_index", "public.broken"): "error",
        ("unindexed_foreign_keys", "public.open_notes (open_notes_owner_fkey)"): "info",
        ("function_search_path_mutable", "public.definer()"): "warn",
        ("bypassrls_role", "sneaky"): "warn",
        ("auth_rls_initplan", 'public.profiles: policy "per_row"'): "warn",
        ("anon_write_policy", 'public.zoom_credentials: policy "anyone_writes"'): "warn",
    }
    for key, level in expect.items():
        assert key in f, (key, sorted(f))
        assert f[key]["level"] == level, (key, f[key])
        assert f[key]["remedy"], key
    r = run_job(db)
    for check, obj in expect:
        assert "verify: %s %s %s: " % (expect[(check, obj)], check, obj.replace('"', '\\"')) in r.stderr, \
            (check, obj, r.stderr)
    # fix them: the findings go
    db.query("ALTER TABLE public.open_notes ENABLE ROW LEVEL SECURITY")
    db.query("DROP TABLE public.open_notes, public.locked")
    db.query("ALTER TABLE public.deliverables ENABLE ROW LEVEL SECURITY")
    db.query("ALTER FUNCTION public.definer() SET search_path = ''")
    db.query("DROP FUNCTION public.definer()")
    db.query("DROP ROLE sneaky")
    db.query("DROP POLICY per_row ON public.profiles")
    db.query("DROP POLICY anyone_writes ON public.zoom_credentials")
    f = findings(db)
    for key in expect:
        assert key not in f, key
    assert verify(db).returncode == 0
    r = run_job(db)
    for check, obj in expect:
        assert "verify: resolved: %s %s (present since" % (check, obj.replace('"', '\\"')) in r.stderr, \
            (check, obj, r.stderr)


# ---- drift ---------------------------------------------------------------------------

DRIFTS = [
    # (what an operator does by hand, check, level, object, how to put it back)
    ('DROP POLICY "Users can view own profile" ON profiles', "drift_dropped", "error",
     'public.profiles: policy "Users can view own profile"',
     'CREATE POLICY "Users can view own profile" ON profiles FOR SELECT TO authenticated '
     'USING ((SELECT auth.uid()) = id)'),
    ("ALTER TABLE zoom_credentials DISABLE ROW LEVEL SECURITY", "drift_rls_disabled", "error",
     "public.zoom_credentials", "ALTER TABLE zoom_credentials ENABLE ROW LEVEL SECURITY"),
    ("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_zoom_credentials_expires'::regclass",
     "drift_index_invalid", "error", "public.idx_zoom_credentials_expires",
     "UPDATE pg_index SET indisvalid = true WHERE indexrelid = 'idx_zoom_credentials_expires'::regclass"),
    ("DROP INDEX idx_deliverables_user_created", "drift_dropped", "error", "public.idx_deliverables_user_created",
     "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, created_at DESC)"),
    ("UPDATE storage.buckets SET public = true WHERE id = 'private'", "drift_changed", "error",
     "storage bucket private", "UPDATE storage.buckets SET public = false WHERE id = 'private'"),
    ('ALTER POLICY "Users can manage own deliverables" ON deliverables USING (true)', "drift_changed", "error",
     'public.deliverables: policy "Users can manage own deliverables"',
     'ALTER POLICY "Users can manage own deliverables" ON deliverables USING ((SELECT auth.uid()) = user_id)'),
    ("ALTER TABLE brand_settings DROP CONSTRAINT brand_settings_user_id_fkey", "drift_dropped", "error",
     "public.brand_settings (brand_settings_user_id_fkey)",
     "ALTER TABLE brand_settings ADD CONSTRAINT brand_settings_user_id_fkey FOREIGN KEY (user_id) "
     "REFERENCES profiles(id) ON DELETE CASCADE"),
    ("CREATE OR REPLACE FUNCTION cleanup_expired_zoom_tokens() RETURNS void AS $$ BEGIN END; $$ LANGUAGE plpgsql",
     "drift_changed", "warn", "public.cleanup_expired_zoom_tokens()",
     "CREATE OR REPLACE FUNCTION public.cleanup_expired_zoom_tokens()\nRETURNS void\nLANGUAGE plpgsql "
     "SET search_path = ''\nAS $$\nBEGIN\n    DELETE FROM public.zoom_credentials\n"
     "    WHERE expires_at < pg_catalog.now() - INTERVAL '7 days';\nEND;\n$$"),
    # a function the policies call, outside public since 005
    ("CREATE OR REPLACE FUNCTION private.is_org_member(org uuid) RETURNS boolean LANGUAGE sql STABLE "
     "SECURITY DEFINER SET search_path = '' AS $$ SELECT true $$", "drift_changed", "warn",
     "private.is_org_member(org uuid)",
     "CREATE OR REPLACE FUNCTION private.is_org_member(org uuid) RETURNS boolean LANGUAGE sql STABLE "
     "SECURITY DEFINER SET search_path = '' AS $$\n"
     "    SELECT EXISTS (SELECT 1 FROM public.organization_members m\n"
     "                   WHERE m.organization_id = org AND m.user_id = (SELECT auth.uid()))\n$$"),
    ("CREATE POLICY backdoor ON storage.objects FOR SELECT USING (true)", "drift_added", "warn",
     'storage.objects: policy "backdoor"', "DROP POLICY backdoor ON storage.objects"),
]


def test_a_policy_is_compared_by_its_trees_then_by_its_text(db):
    # the snapshot keeps a hash of a policy's node trees and its text: a
    # pass deparses only a policy whose trees differ, and reports it only if
    # its text differs too (made again by hand with the same text, its trees
    # hold other positions); the findings show the text, never the hash
    migrate(db)
    run_job(db)
    obj = 'public.profiles: policy "Users can view own profile"'
    (attrs,), = db.query("SELECT attrs FROM momentum_maintd.verify_snapshot WHERE kind = 'policy' AND object = %s",
                         (obj,))
    text = "permissive for select to authenticated using ((( SELECT auth.uid() AS uid) = id)) with check ()"
    assert re.fullmatch(r"[0-9a-f]+\.- " + re.escape(text), attrs), attrs
    # the same trees for other roles
    db.query('ALTER POLICY "Users can view own profile" ON profiles TO anon')
    f = findings(db)
    assert f[("drift_changed", obj)]["detail"] == \
        "policy changed outside the migrations: was %s; now %s" % (text, text.replace("authenticated", "anon")), f
    db.query('ALTER POLICY "Users can view own profile" ON profiles TO authenticated')
    assert not [k for k in findings(db) if k[0].startswith("drift")]
    db.query('DROP POLICY "Users can view own profile" ON profiles')
    db.query('CREATE POLICY "Users can view own profile" ON public.profiles AS PERMISSIVE FOR SELECT '
             'TO authenticated USING (   ( SELECT  auth.uid() )   =   id   )')
    assert not [k for k in findings(db) if k[0].startswith("drift")]
    # other trees
    db.query('ALTER POLICY "Users can view own profile" ON profiles TO authenticated USING ((SELECT auth.uid()) <> id)')
    f = findings(db)
    assert f[("drift_changed", obj)]["detail"] == \
        "policy changed outside the migrations: was %s; now %s" % (text, text.replace(" = id", " <> id")), f
    db.query('DROP POLICY "Users can view own profile" ON profiles')
    assert f and findings(db)[("drift_dropped", obj)]["detail"] == \
        "policy made by the migrations is gone (it was: %s)" % text


@pytest.mark.parametrize("change,check,level,obj,undo", DRIFTS, ids=[d[1] + ":" + d[3] for d in DRIFTS])
def test_drift_is_reported_then_resolved(db, change, check, level, obj, undo):
    migrate(db)       # records the snapshot
    run_job(db)       # knows the (empty) findings
    db.query(change)
    r = verify(db, "--fail-on", level)
    assert r.returncode == 1, r.stdout
    f = findings(db)
    assert (check, obj) in f, sorted(f)
    assert f[(check, obj)]["level"] == level
    r = run_job(db)
    assert re.search(r"level=%s msg=\"verify: %s %s %s: " % ("warning" if level == "warn" else level, level,
                                                               check, re.escape(obj).replace('"', '\\\\"')),
                     r.stderr), r.stderr
    db.query(undo)
    assert (check, obj) not in findings(db)
    r = run_job(db)
    assert "verify: resolved: %s %s" % (check, obj.replace('"', '\\"')) in r.stderr, r.stderr


@pytest.mark.parametrize("change", ["FORCE ROW LEVEL SECURITY", "DISABLE ROW LEVEL SECURITY",
                                    "DISABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY"])
def test_a_tables_drift_remedy_puts_back_what_changed(db, change):
    # the remedy is the statement that undoes the change, whichever of the
    # two flags it was: ENABLE alone leaves a forced table forced
    migrate(db)
    db.query("ALTER TABLE zoom_credentials " + change)
    found = [x for (c, o), x in findings(db).items() if c.startswith("drift_") and o == "public.zoom_credentials"]
    assert len(found) == 1, found
    db.query(found[0]["remedy"].split(" (")[0])
    assert not [k for k in findings(db) if k[0].startswith("drift_")], found[0]


INDEX_BASE = "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name)"
INDEX_REMADE = [
    # the same name, made again by hand otherwise, each in one thing: each
    # is drift (the manifest reads pg_index's columns, not pg_get_indexdef)
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name DESC)",
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name NULLS FIRST)",
    "CREATE INDEX idx_deliverables_user_created ON deliverables(client_name, user_id)",
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id)",
    "CREATE UNIQUE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name)",
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name) INCLUDE (id)",
    "CREATE INDEX idx_deliverables_user_created ON deliverables USING brin (user_id, client_name)",
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name COLLATE \"C\")",
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name text_pattern_ops)",
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, lower(client_name))",
    # (partial: deparsed; the same predicate made again is not drift, below)
    "CREATE INDEX idx_deliverables_user_created ON deliverables(user_id, client_name) WHERE user_id IS NOT NULL",
]


def test_an_index_made_again_otherwise_is_drift(db):
    migrate(db)
    db.query("DROP INDEX idx_deliverables_user_created; " + INDEX_BASE)
    db.query("DELETE FROM momentum_maintd.verify_snapshot")
    run_job(db)         # records the snapshot again, with INDEX_BASE
    obj = "public.idx_deliverables_user_created"
    assert not [k for k in findings(db) if k[0].startswith("drift_")]
    for remade in INDEX_REMADE:
        db.query("DROP INDEX idx_deliverables_user_created; " + remade)
        f = findings(db)
        assert f.get(("drift_changed", obj), {}).get("level") == "error", (remade, sorted(f))
        # made again as it was (other spacing, another statement): no drift
        db.query("DROP INDEX idx_deliverables_user_created;  " + INDEX_BASE.replace(", ", ",  "))
        assert ("drift_changed", obj) not in findings(db), remade
    # a partial index, recorded, then made again the same: no drift
    db.query("DROP INDEX idx_deliverables_user_created; " + INDEX_REMADE[-1])
    db.query("DELETE FROM momentum_maintd.verify_snapshot")
    run_job(db)
    db.query("DROP INDEX idx_deliverables_user_created;\n" + INDEX_REMADE[-1].replace(" WHERE ", "\n  WHERE  "))
    assert not [k for k in findings(db) if k[0].startswith("drift_")]
    db.query("DROP INDEX idx_deliverables_user_created; " + INDEX_REMADE[-1].replace("IS NOT NULL", "IS NULL"))
    assert ("drift_changed", obj) in findings(db)


def test_a_later_migration_is_not_drift(db, tmp_path):
    mdir = migrations_dir(tmp_path, {f: None for f in list(SEED_ONLY) + ["004_rls_fixes.sql"]})
    migrate(db, mdir)
    (tmp_path / "migrations" / "005_more.sql").write_text(
        "DROP INDEX idx_org_members_user;\n"
        "ALTER TABLE brand_settings DISABLE ROW LEVEL SECURITY;\n"
        "CREATE POLICY extra ON profiles FOR SELECT TO authenticated USING (false);\n")
    migrate(db, mdir)
    f = findings(db)
    assert not [k for k in f if k[0].startswith("drift_")], f
    # while a drift made by hand is still one
    db.query("ALTER TABLE brand_settings ENABLE ROW LEVEL SECURITY")
    assert ("drift_changed", "public.brand_settings") in findings(db)


def test_without_a_snapshot_drift_is_said_to_be_unchecked(db):
    migrate(db)
    db.query("DROP TABLE momentum_maintd.verify_snapshot")
    f = findings(db)
    assert f[("drift_unchecked", "momentum_maintd.verify_snapshot")]["level"] == "info"
    assert verify(db).returncode == 0


VIEW_SQL = ("CREATE VIEW public.zoom_status WITH (security_invoker = true) AS "
            "SELECT user_id, expires_at FROM public.zoom_credentials;\n")
VIEW_CHANGES = [
    # (a change by hand, the check, how to put it back)
    ("CREATE OR REPLACE VIEW public.zoom_status WITH (security_invoker = true) AS "
     "SELECT user_id, expires_at, access_token FROM public.zoom_credentials", "drift_changed",
     "DROP VIEW public.zoom_status; " + VIEW_SQL),
    ("ALTER VIEW public.zoom_status RESET (security_invoker)", "drift_changed",
     "ALTER VIEW public.zoom_status SET (security_invoker = on)"),
    ("CREATE ROLE view_owner; ALTER VIEW public.zoom_status OWNER TO view_owner", "drift_changed",
     "ALTER VIEW public.zoom_status OWNER TO CURRENT_USER; DROP ROLE view_owner"),
    ("DROP VIEW public.zoom_status", "drift_dropped", VIEW_SQL),
]


def test_a_view_changed_after_migrating_is_drift(db, tmp_path):
    files = {m + ".sql": None for m in SEED_MIGRATIONS}
    files["%03d_zoom_status.sql" % (SEED_COUNT + 1)] = VIEW_SQL
    migrate(db, migrations_dir(tmp_path, files))
    (attrs,), = db.query("SELECT attrs FROM momentum_maintd.verify_snapshot WHERE kind = 'view'")
    assert re.fullmatch(r"owner postgres, security_invoker on, definition md5 [0-9a-f]{32}", attrs), attrs
    for change, check, undo in VIEW_CHANGES:
        db.query(change)
        f = findings(db)
        x = f.get((check, "public.zoom_status"))
        assert x is not None and x["level"] == "error", (change, sorted(f))
        db.query(undo)
        assert (check, "public.zoom_status") not in findings(db), undo
    # a snapshot an older version recorded (no views in it, its own
    # fingerprint) is recorded again by the next pass, not kept: the
    # manifest's version marker was bumped with its format
    db.query("DELETE FROM momentum_maintd.verify_snapshot WHERE kind IN ('view', 'materialized view')")
    db.query("UPDATE momentum_maintd.verify_snapshot SET migrations = "
             "(SELECT md5('manifest 2;' || string_agg(version::text || ':' || checksum, ',' ORDER BY version)) "
             "FROM momentum_maintd.schema_migrations)")
    run_job(db)
    db.query(VIEW_CHANGES[0][0])
    assert ("drift_changed", "public.zoom_status") in findings(db)


# ---- the functional probe ---------------------------------------------------------------

def test_probe_catches_a_policy_that_raises(db):
    migrate(db)
    db.query("CREATE TABLE public.teams (id int PRIMARY KEY, member uuid)")
    db.query("ALTER TABLE public.teams ENABLE ROW LEVEL SECURITY")
    db.query("GRANT SELECT ON public.teams TO authenticated")
    db.query("CREATE POLICY self_ref ON public.teams FOR SELECT TO authenticated "
             "USING (id IN (SELECT id FROM public.teams WHERE member = (SELECT auth.uid())))")
    # a table whose policies read the same is read once, and reported too
    # (copy2's and copy3's policies have the same stored trees, copy's
    # differ from them in the words' positions only)
    for name in ("teams_copy", "teams_copy2", "teams_copy3"):
        db.query("CREATE TABLE public.%s (id int PRIMARY KEY, member uuid)" % name)
        db.query("ALTER TABLE public.%s ENABLE ROW LEVEL SECURITY" % name)
        db.query("GRANT SELECT ON public.%s TO authenticated" % name)
        db.query("CREATE POLICY via_teams ON public.%s FOR SELECT TO authenticated "
                 "USING (id IN (SELECT id FROM public.teams WHERE member = (SELECT auth.uid())))" % name)
    f = findings(db)
    x = f[("probe_policy_error", "public.teams (as authenticated)")]
    assert x["level"] == "error"
    assert "ERROR 42P17: infinite recursion detected in policy for relation \"teams\"" in x["detail"]
    assert "42P17" in f[("probe_policy_error", "public.teams_copy (as authenticated)")]["detail"]
    # which table of a group is read depends on the deparsed text: on 15,
    # teams' own policy reads "teams teams_1" (its name is taken), on 17
    # "teams", so there it joins the copies' group and is the one read
    for name in ("teams_copy2", "teams_copy3"):
        y = f[("probe_policy_error", "public.%s (as authenticated)" % name)]
        assert "42P17" in y["detail"], y
        assert re.search(r"\(read on public\.teams(_copy)?, whose policies are the same\)", y["detail"]), y
    assert ("probe_policy_error", "public.teams (as anon)") not in f, "anon may not read it: not probed"
    assert verify(db).returncode == 1
    db.query("DROP TABLE public.teams_copy, public.teams_copy2, public.teams_copy3")
    db.query("DROP POLICY self_ref ON public.teams")
    db.query("CREATE POLICY own ON public.teams FOR SELECT TO authenticated USING (member = (SELECT auth.uid()))")
    assert ("probe_policy_error", "public.teams (as authenticated)") not in findings(db)


def test_probe_catches_a_cross_user_leak_in_development_and_staging_only(db):
    migrate(db)
    db.query("CREATE TABLE public.notes (id serial PRIMARY KEY, user_id uuid NOT NULL REFERENCES profiles(id), "
             "kind text NOT NULL CHECK (kind IN ('draft', 'final')), body text NOT NULL, n int NOT NULL)")
    db.query("CREATE INDEX ON public.notes (user_id)")
    db.query("ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY")
    db.query("GRANT SELECT ON public.notes TO authenticated")
    db.query("CREATE POLICY everyone ON public.notes FOR SELECT TO authenticated USING (true)")
    for env in ("development", "staging"):
        f = findings(db, env={"MOMENTUM_MAINTD_ENVIRONMENT": env})
        x = f[("probe_isolation_leak", "public.notes")]
        assert x["level"] == "error" and "another user" in x["detail"], x
    f = findings(db, env={"MOMENTUM_MAINTD_ENVIRONMENT": "production"})
    assert not [k for k in f if k[0].startswith("probe_")], "production: no rows are made, even rolled back"
    db.query("ALTER POLICY everyone ON public.notes USING (user_id = (SELECT auth.uid()))")
    f = findings(db)
    assert not [k for k in f if k[0].startswith("probe_")], f


def probe_view_findings(db, env=None):
    return {k: x for k, x in findings(db, env=env).items() if k[0].startswith("probe_")}


def test_probe_reads_views_and_materialized_views_as_another_user(db):
    migrate(db)
    # a real user's token, there before the probe
    db.query("INSERT INTO auth.users (id, email) VALUES (%s, 'c@example.com')", (C,))
    db.query("INSERT INTO profiles (id, email) VALUES (%s, 'c@example.com')", (C,))
    db.query("INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at) "
             "VALUES (%s, 'tc', 'rc', now() + interval '1 day')", (C,))
    # a view without security_invoker reads zoom_credentials as its owner:
    # every user's access_token to whoever may select it
    db.query("CREATE VIEW public.zoom_tokens AS SELECT user_id, access_token FROM zoom_credentials")
    # only the token, no user id: A's row is known by the probe's own value
    db.query("CREATE VIEW public.\"token list\" AS SELECT access_token FROM public.zoom_tokens")
    # what the app means to share, as the reader: no leak
    db.query("CREATE VIEW public.my_tokens WITH (security_invoker = true) AS "
             "SELECT user_id, access_token FROM zoom_credentials")
    db.query("CREATE VIEW public.users_seen AS SELECT id, email FROM auth.users")
    db.query("CREATE MATERIALIZED VIEW public.token_expiry AS SELECT user_id, expires_at FROM zoom_credentials")
    db.query("CREATE MATERIALIZED VIEW public.shared_colors AS "
             "SELECT primary_color FROM brand_settings WHERE user_id IS NULL")
    db.query("GRANT SELECT ON public.zoom_tokens, public.\"token list\", public.my_tokens, public.token_expiry, "
             "public.shared_colors TO authenticated")
    # (Supabase's default privileges give the API roles every new table and view)
    db.query("GRANT SELECT ON public.users_seen TO anon; REVOKE SELECT ON public.users_seen FROM authenticated")
    f = probe_view_findings(db)
    for view in ("public.zoom_tokens", 'public."token list"'):
        x = f.get(("probe_isolation_leak", view))
        assert x is not None and x["level"] == "error" and "another user" in x["detail"], (view, sorted(f))
        assert x["remedy"].startswith("ALTER VIEW %s SET (security_invoker = true)" % view), x
    x = f[("probe_isolation_leak", "public.users_seen")]
    assert x["detail"].startswith("as anon, the view shows"), x
    x = f[("probe_isolation_leak", "public.token_expiry")]
    assert "materialized view has no row level security" in x["detail"], x
    assert x["remedy"].startswith("REVOKE SELECT ON public.token_expiry FROM PUBLIC, anon, authenticated"), x
    assert ("probe_isolation_leak", "public.my_tokens") not in f
    assert ("probe_isolation_leak", "public.shared_colors") not in f
    assert len(f) == 4, sorted(f)
    # production makes no rows, so reads no views
    assert not probe_view_findings(db, env={"MOMENTUM_MAINTD_ENVIRONMENT": "production"})
    # fixed: the views read as their reader, the materialized view is not served
    db.query("ALTER VIEW public.zoom_tokens SET (security_invoker = true)")
    db.query("ALTER VIEW public.\"token list\" SET (security_invoker = true)")
    db.query("REVOKE SELECT ON public.users_seen FROM anon")
    db.query("REVOKE SELECT ON public.token_expiry FROM anon, authenticated")
    assert probe_view_findings(db) == {}


def test_probe_remedy_for_a_materialized_view_granted_to_public(db):
    # anon and authenticated may read what PUBLIC may: revoked from the two
    # alone, the materialized view still shows every user's rows
    migrate(db)
    db.query("INSERT INTO auth.users (id, email) VALUES (%s, 'c@example.com')", (C,))
    db.query("INSERT INTO profiles (id, email) VALUES (%s, 'c@example.com')", (C,))
    db.query("INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at) "
             "VALUES (%s, 'tc', 'rc', now() + interval '1 day')", (C,))
    db.query('CREATE MATERIALIZED VIEW public."Token Expiry" AS SELECT user_id, expires_at FROM zoom_credentials')
    db.query('REVOKE ALL ON public."Token Expiry" FROM anon, authenticated')
    db.query('GRANT SELECT ON public."Token Expiry" TO PUBLIC')
    key = ("probe_isolation_leak", 'public."Token Expiry"')
    x = probe_view_findings(db)[key]
    db.query(x["remedy"].split(", and serve")[0])
    assert key not in probe_view_findings(db), x


def test_probe_reads_views_that_reach_user_rows_through_functions(db):
    """Every view the API roles may read is read, not only those whose
    dependencies reach a user table: a view over a SECURITY DEFINER
    function leaks even with security_invoker, and PostgreSQL records no
    dependency on the tables a PL/pgSQL body reads."""
    migrate(db)
    # PL/pgSQL: the table is only named in the body
    db.query("CREATE FUNCTION public.all_tokens() RETURNS TABLE (user_id uuid, access_token text) "
             "LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS "
             "$$ BEGIN RETURN QUERY SELECT z.user_id, z.access_token FROM public.zoom_credentials z; END $$")
    db.query("CREATE VIEW public.token_feed WITH (security_invoker = true) AS SELECT * FROM public.all_tokens()")
    # a SQL-standard body (no source text kept): PostgreSQL records the
    # table it reads
    db.query("CREATE FUNCTION public.all_brands() RETURNS TABLE (user_id uuid, color text) "
             "LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' "
             "BEGIN ATOMIC SELECT b.user_id, b.primary_color FROM public.brand_settings b; END")
    assert db.query("SELECT prosrc FROM pg_proc WHERE proname = 'all_brands'") == [("",)]
    db.query("CREATE VIEW public.directory WITH (security_invoker = true) AS SELECT * FROM public.all_brands()")
    # the same, read as the caller: each user's own
    db.query("CREATE FUNCTION public.own_tokens() RETURNS TABLE (user_id uuid, access_token text) "
             "LANGUAGE plpgsql STABLE SET search_path = '' AS "
             "$$ BEGIN RETURN QUERY SELECT z.user_id, z.access_token FROM public.zoom_credentials z "
             "WHERE z.user_id = (SELECT auth.uid()); END $$")
    db.query("CREATE VIEW public.my_feed WITH (security_invoker = true) AS SELECT * FROM public.own_tokens()")
    # nothing of any user's: read, nothing to report
    db.query("CREATE VIEW public.palette AS SELECT 'red'::text AS color")
    # a materialized view refreshed before a row went away holds a row its
    # query no longer gives: stale, not a leak (no row level security in it)
    db.query("CREATE TABLE public.products (id int PRIMARY KEY, name text)")
    db.query("INSERT INTO public.products VALUES (1, 'a'), (2, 'b')")
    db.query("CREATE MATERIALIZED VIEW public.catalog AS SELECT id, name FROM public.products")
    db.query("DELETE FROM public.products WHERE id = 2")
    db.query("GRANT SELECT ON public.products, public.catalog, public.token_feed, public.directory, "
             "public.my_feed, public.palette TO anon, authenticated")
    f = probe_view_findings(db)
    x = f.get(("probe_isolation_leak", "public.token_feed"))
    assert x is not None and "another user" in x["detail"], sorted(f)
    assert x["detail"].endswith("it reads as its reader, so a function it calls or a table it reads leaks"), x
    assert "SECURITY DEFINER" in x["remedy"] and "security_invoker" not in x["remedy"], x
    assert ("probe_isolation_leak", "public.directory") in f, sorted(f)
    for quiet in ("public.my_feed", "public.palette", "public.catalog"):
        assert not [k for k in f if k[1] == quiet], (quiet, sorted(f))
    # fixed: the functions run as their caller and filter by the caller
    db.query("ALTER FUNCTION public.all_tokens() SECURITY INVOKER")
    db.query("REVOKE SELECT ON public.directory FROM anon, authenticated")
    f = probe_view_findings(db)
    assert not [k for k in f if k[1] in ("public.token_feed", "public.directory")], sorted(f)


def test_probe_reads_a_view_over_rows_a_trigger_on_auth_users_copies(db):
    """A table no key ties to auth.users still holds A once a trigger on
    auth.users copies new users into it (Supabase's usual handle_new_user):
    a view over it that shows every user's row is a leak."""
    migrate(db)
    db.query("CREATE TABLE public.directory (uid text PRIMARY KEY, email text)")
    db.query("ALTER TABLE public.directory ENABLE ROW LEVEL SECURITY")
    db.query("CREATE POLICY own ON public.directory FOR SELECT TO authenticated "
             "USING (uid = (SELECT auth.uid())::text)")
    db.query("CREATE FUNCTION public.copy_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
             "SET search_path = '' AS $$ BEGIN INSERT INTO public.directory VALUES (NEW.id::text, NEW.email); "
             "RETURN NEW; END $$")
    db.query("CREATE TRIGGER copy_user AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION public.copy_user()")
    db.query("CREATE VIEW public.everyone AS SELECT uid, email FROM public.directory")
    db.query("CREATE VIEW public.me WITH (security_invoker = true) AS SELECT uid, email FROM public.directory")
    db.query("GRANT SELECT ON public.directory, public.everyone, public.me TO authenticated")
    f = probe_view_findings(db)
    x = f.get(("probe_isolation_leak", "public.everyone"))
    assert x is not None and x["remedy"].startswith("ALTER VIEW public.everyone SET (security_invoker = true)"), \
        sorted(f)
    assert ("probe_isolation_leak", "public.me") not in f, sorted(f)
    assert db.query("SELECT count(*) FROM public.directory") == [(0,)], "rolled back"


def test_probe_reads_the_schemas_the_api_exposes(db):
    """The probe reads tables and views in every schema PostgREST serves
    (pgrst.db_schemas of authenticator, or verify.schemas), not in others."""
    migrate(db)
    db.query("DO $$ BEGIN CREATE ROLE authenticator NOINHERIT LOGIN; "
             "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    for schema in ("api", "backoffice"):
        db.query("CREATE SCHEMA %s" % schema)
        db.query("GRANT USAGE ON SCHEMA %s TO anon, authenticated, service_role" % schema)
        # every user's notes to every user
        db.query("CREATE TABLE %s.notes (id serial PRIMARY KEY, "
                 "user_id uuid NOT NULL REFERENCES auth.users(id), body text)" % schema)
        db.query("ALTER TABLE %s.notes ENABLE ROW LEVEL SECURITY" % schema)
        db.query("CREATE POLICY everyone ON %s.notes FOR SELECT TO authenticated USING (true)" % schema)
        # every user's token, read with the view owner's privileges
        db.query("CREATE VIEW %s.tokens AS SELECT user_id, access_token FROM public.zoom_credentials" % schema)
        db.query("GRANT SELECT ON %s.notes, %s.tokens TO authenticated" % (schema, schema))
        db.query("GRANT ALL ON ALL TABLES IN SCHEMA %s TO service_role" % schema)
        db.query("GRANT ALL ON ALL SEQUENCES IN SCHEMA %s TO service_role" % schema)

    def probe(*conf):
        r = run(["-d", db.conninfo] + list(conf) + ["verify", "--format", "json", "--fail-on", "info"],
                timeout=120)
        assert r.returncode in (0, 1), r.stderr
        return {(x["check"], x["object"]): x for x in json.loads(r.stdout)["findings"]
                if x["check"].startswith("probe_")}

    # not exposed: public and graphql_public by default
    f = probe()
    assert not [k for k in f if k[1].startswith(("api.", "backoffice."))], sorted(f)
    try:
        db.query("ALTER ROLE authenticator IN DATABASE %s SET pgrst.db_schemas = 'public, api'" % db.name)
        f = probe()
        x = f.get(("probe_isolation_leak", "api.notes"))
        assert x is not None and "another user" in x["detail"], sorted(f)
        x = f.get(("probe_isolation_leak", "api.tokens"))
        assert x is not None and x["remedy"].startswith("ALTER VIEW api.tokens SET (security_invoker = true)"), \
            sorted(f)
        assert not [k for k in f if k[1].startswith("backoffice.")], ("not exposed", sorted(f))
        # verify.schemas overrides what the database says
        f = probe("--set", "verify.schemas=public, backoffice")
        assert ("probe_isolation_leak", "backoffice.notes") in f, sorted(f)
        assert ("probe_isolation_leak", "backoffice.tokens") in f, sorted(f)
        assert not [k for k in f if k[1].startswith("api.")], ("not exposed", sorted(f))
    finally:
        db.query("ALTER ROLE authenticator IN DATABASE %s RESET pgrst.db_schemas" % db.name)


def test_a_slow_view_stops_the_probe_with_what_it_found(db):
    migrate(db)
    db.query("CREATE VIEW public.a_leak AS SELECT user_id, access_token FROM zoom_credentials")
    db.query("CREATE VIEW public.slow_tokens AS SELECT user_id FROM zoom_credentials "
             "WHERE (SELECT true FROM pg_sleep(30))")
    db.query("GRANT SELECT ON public.a_leak, public.slow_tokens TO authenticated")
    r = run(["-d", db.conninfo, "--set", "verify.probe_timeout=3 s", "verify", "--format", "json", "--fail-on", "info"],
            timeout=120)
    assert r.returncode == 1, r.stderr
    f = {(x["check"], x["object"]): x for x in json.loads(r.stdout)["findings"]}
    x = f[("probe_timeout", "momentum-maintd probe")]
    assert "stopped at the view public.slow_tokens: statement timeout" in x["detail"], x
    assert ("probe_isolation_leak", "public.a_leak") in f, "what was found before is kept"


def test_probe_leaves_nothing_behind(db):
    migrate(db)
    # views it reads, rows kept for them to the end of its transaction
    db.query("CREATE VIEW public.zoom_tokens AS SELECT user_id, access_token FROM zoom_credentials")
    db.query("CREATE MATERIALIZED VIEW public.token_expiry AS SELECT user_id, expires_at FROM zoom_credentials")
    db.query("GRANT SELECT ON public.zoom_tokens, public.token_expiry TO authenticated")

    def state():
        return (db.query("SELECT count(*) FROM auth.users"), db.query("SELECT count(*) FROM public.token_expiry"),
                db.query("SELECT count(*) FROM profiles"), db.query("SELECT count(*) FROM organizations"),
                db.query("SELECT count(*) FROM organization_members"), db.query("SELECT count(*) FROM deliverables"),
                db.query("SELECT count(*) FROM brand_settings"), db.query("SELECT count(*) FROM zoom_credentials"),
                db.query("SELECT rolname, rolsuper, rolbypassrls, rolinherit, rolcanlogin FROM pg_roles ORDER BY 1"),
                db.query("SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members ORDER BY 1, 2"),
                db.query("SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting ORDER BY 1, 2"),
                db.query("SELECT count(*) FROM pg_class WHERE relpersistence = 't'"),
                db.query("SELECT n_tup_ins - n_tup_del - n_live_tup FROM pg_stat_user_tables "
                         "WHERE relname = 'no_such_table'"))
    # the probe's login (momentum_maintd_probe) is made by the first pass and
    # kept, as the daemon keeps it: what must not change is what comes after
    findings(db)
    before = state()
    f = findings(db, env={"MOMENTUM_MAINTD_ENVIRONMENT": "development"})
    assert not [k for k in f if k[0] == "probe_isolation_unchecked"], f
    assert state() == before
    # and the probe did make rows (then rolled them back): the inserts are counted
    ins = db.query("SELECT sum(n_tup_ins) FROM pg_stat_user_tables WHERE relname IN ('profiles', 'zoom_credentials')")
    assert ins[0][0] >= 2, ins
    assert db.query("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'") == [(0,)]


PROBE_PASSWORD = "SELECT rolpassword FROM pg_authid WHERE rolname = 'momentum_maintd_probe'"


def test_a_pass_leaves_the_probes_password_alone_while_another_logs_in(db):
    """Each pass sets a new password for the probe's login: while another
    pass (the login's advisory lock, held here) has set one and not yet
    logged in with it, a second pass waits instead of changing it."""
    migrate(db)
    findings(db)   # the login exists
    before = db.query(PROBE_PASSWORD)
    held = db.cluster.connect(db.name)
    held.autocommit = True
    held.cursor().execute("SELECT pg_advisory_lock(1835885684, 101)")
    p = subprocess.Popen([BIN, "-d", db.conninfo, "verify"], env=daemon_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd="/")
    try:
        time.sleep(1.5)
        assert p.poll() is None, p.communicate()
        assert db.query(PROBE_PASSWORD) == before, "the password changed under the other pass"
    finally:
        held.close()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "no findings" in out, out
    assert db.query(PROBE_PASSWORD) != before
    # the lock is let go of once the probe logged in: nothing holds it
    assert db.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 101") == [(0,)]


def test_passes_at_once_all_log_the_probe_in(new_cluster):
    """Six passes at once, on a server that checks passwords: without the
    login's lock, one pass's new password made another's login fail
    (probe_failed, "password authentication failed")."""
    c = new_cluster(start=False)
    with open(os.path.join(c.data, "pg_hba.conf"), "w") as f:
        f.write("local all postgres trust\nlocal all all scram-sha-256\n")
    c.start()
    name = c.create_db()
    conninfo = c.conninfo(name)
    r = run(["-d", conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    for _ in range(3):
        ps = [subprocess.Popen([BIN, "-d", conninfo, "verify", "--format", "json", "--fail-on", "info"],
                               env=daemon_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
              for _ in range(6)]
        for p in ps:
            out, err = p.communicate(timeout=120)
            assert p.returncode in (0, 1), err
            f = [(x["check"], x["detail"]) for x in json.loads(out)["findings"]]
            assert not [x for x in f if x[0].startswith("probe_")], f


def test_probe_without_the_right_to_act_as_the_api_roles_says_so(db):
    migrate(db)
    db.query("DO $$ BEGIN CREATE ROLE verifier LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    db.query("GRANT USAGE ON SCHEMA momentum_maintd TO verifier")
    db.query("GRANT SELECT ON ALL TABLES IN SCHEMA momentum_maintd TO verifier")
    db.query("GRANT USAGE ON SCHEMA storage TO verifier")
    db.query("GRANT SELECT ON storage.buckets TO verifier")
    try:
        # the probe connects as a login of its own: one that is not a member
        # of authenticated says so
        db.query("DO $$ BEGIN CREATE ROLE half_probe LOGIN NOINHERIT; EXCEPTION WHEN duplicate_object THEN NULL; "
                 "END $$")
        db.query("GRANT anon TO half_probe")
        r = run(["-d", db.conninfo + " user=verifier", "--set", "verify.probe_conninfo=user=half_probe",
                 "verify", "--format", "json", "--fail-on", "info"])
        f = {(x["check"], x["object"]): x for x in json.loads(r.stdout)["findings"]}
        assert f[("probe_unchecked", "authenticated")]["remedy"] == "GRANT authenticated TO half_probe"
        assert not [k for k in f if k[0] == "probe_policy_error"], "no false alarm"
    finally:
        db.query("DROP OWNED BY verifier")
        db.query("DROP ROLE verifier")
        db.query("DROP ROLE IF EXISTS half_probe")


# ---- findings over time, in the daemon -------------------------------------------------------

def test_findings_are_logged_once_reminded_and_resolved(db):
    migrate(db)
    db.query("CREATE TABLE public.open_notes (id int PRIMARY KEY)")
    db.query("GRANT SELECT ON public.open_notes TO anon")
    r = run_job(db)
    assert r.stderr.count("rls_disabled_in_public public.open_notes") == 1
    assert "verify: 1 error, %d warnings, 0 info" % SHIPPED_WARNINGS in r.stdout
    r = run_job(db)
    assert "open_notes" not in r.stderr, "still present, not reminded yet: silent"
    db.query("UPDATE momentum_maintd.verify_findings SET reminded_at = now() - interval '25 hours'")
    r = run_job(db)
    assert re.search(r'level=error msg="verify: still present since [0-9-]+ [0-9:]+ \w+: error '
                     r'rls_disabled_in_public public.open_notes', r.stderr), r.stderr
    db.query("UPDATE momentum_maintd.verify_findings SET reminded_at = now() - interval '25 hours'")
    r = run_job(db, "--set", "verify.remind_every=48 h")
    assert "open_notes" not in r.stderr, "remind_every is honoured"
    db.query("DROP TABLE public.open_notes")
    r = run_job(db)
    assert "verify: resolved: rls_disabled_in_public public.open_notes" in r.stderr
    assert "verify: " + SHIPPED_SUMMARY in r.stdout


def test_ignore_silences_a_key_and_says_so_once(db):
    migrate(db)
    db.query("CREATE TABLE public.open_notes (id int PRIMARY KEY)")
    db.query("GRANT SELECT ON public.open_notes TO anon")
    ignore = ["--set", 'verify.ignore=["rls_disabled_in_public:public.open_notes"]']
    r = run(["-d", db.conninfo] + ignore + ["verify"])
    assert r.returncode == 0, r.stdout
    assert "(1 ignored by verify.ignore)" in r.stdout
    r = run_job(db, *ignore)
    assert r.stderr.count("is ignored (verify.ignore)") == 1, r.stderr
    assert "rls_disabled_in_public public.open_notes" not in r.stderr
    assert "verify: " + SHIPPED_SUMMARY in r.stdout


def test_daemon_verifies_after_migrating_and_on_sigusr1_with_status_and_metrics(db, daemons, notify):
    import socket
    import urllib.request
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    db.query("CREATE SCHEMA IF NOT EXISTS public")
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "--set",
                 "http.listen=127.0.0.1:%d" % port, "--set", "log.format=json"], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1"), d.stderr()
    assert notify.wait_for(lambda l: re.match(r"STATUS=ready; verify: %s at \d\d:\d\d$" % SHIPPED_SUMMARY, l)), notify.lines()
    db.query("CREATE TABLE public.open_notes (id int PRIMARY KEY)")
    db.query("GRANT SELECT ON public.open_notes TO anon")
    d.signal(signal.SIGUSR1)
    assert notify.wait_for(lambda l: re.match(r"STATUS=ready; verify: 1 error, %d warnings, 0 info at \d\d:\d\d$" % SHIPPED_WARNINGS, l)), \
        notify.lines()
    events = [json.loads(line) for line in d.stderr().splitlines() if line.startswith("{")]
    found = [e for e in events if e.get("message_id") == "5ac9bd389fff40fabf1d8c147ecb3171"
             and (e.get("check"), e.get("object")) not in SHIPPED_FINDINGS]
    assert len(found) == 1, events
    e = found[0]
    assert e["level"] == "err" or e["level"] == "error"
    assert e["check"] == "rls_disabled_in_public" and e["object"] == "public.open_notes" and e["state"] == "new"
    assert e["finding_key"] == "rls_disabled_in_public:public.open_notes"
    m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    assert 'momentum_maintd_verify_findings{level="error"} 1' in m
    assert 'momentum_maintd_job_runs_total{job="verify",status="ok"} 2' in m
    db.query("DROP TABLE public.open_notes")
    d.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while "d08450aa690c4e7d9921c9845f1b4616" not in d.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "d08450aa690c4e7d9921c9845f1b4616" in d.stderr(), d.stderr()
    assert notify.wait_for(lambda l: l.startswith("STATUS=ready; verify: " + SHIPPED_SUMMARY))
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    assert db.query("SELECT count(*) FROM momentum_maintd.job_runs WHERE job = 'verify' AND status = 'ok'") == [(3,)]


def test_verify_exit_codes_for_usage_and_database_down():
    r = run(["-d", "host=/nonexistent-dir dbname=x", "verify"], timeout=30)
    assert r.returncode == 69
    assert run(["verify", "--fail-on", "panic"]).returncode == 64
    assert run(["verify", "--format", "yaml"]).returncode == 64


def test_a_locked_table_skips_the_pass_and_resolves_nothing(db):
    migrate(db)
    db.query("CREATE TABLE public.teams (id int PRIMARY KEY, member uuid)")
    db.query("ALTER TABLE public.teams ENABLE ROW LEVEL SECURITY")
    db.query("GRANT SELECT ON public.teams TO authenticated")
    db.query("CREATE POLICY self_ref ON public.teams FOR SELECT TO authenticated "
             "USING (id IN (SELECT id FROM public.teams WHERE member = (SELECT auth.uid())))")
    r = run_job(db)
    assert "verify: error probe_policy_error public.teams (as authenticated)" in r.stderr, r.stderr
    holder = db.cluster.connect(db.name)
    holder.autocommit = False
    try:
        holder.cursor().execute("LOCK TABLE public.teams IN ACCESS EXCLUSIVE MODE")
        r = run(["-d", db.conninfo, "run-job", "verify"], timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert r.returncode == 75, (r.returncode, r.stdout, r.stderr)
    assert "a table is locked (by a migration or DDL?); the next pass checks" in r.stdout + r.stderr
    assert "level=error" not in r.stderr and "resolved" not in r.stderr, r.stderr
    r = run_job(db)
    assert "probe_policy_error" not in r.stderr, "still known: neither resolved nor new again"


def test_a_pass_waits_while_migrations_are_applied(db):
    migrate(db)
    holder = db.cluster.connect(db.name)
    try:
        holder.cursor().execute("SELECT pg_advisory_lock(1835885684, 1)")
        r = run(["-d", db.conninfo, "run-job", "verify"], timeout=60)
    finally:
        holder.close()
    assert r.returncode == 75, (r.returncode, r.stdout, r.stderr)
    assert "migrations are being applied; the next pass checks" in r.stdout + r.stderr
    assert db.query("SELECT status, error FROM momentum_maintd.job_runs WHERE job = 'verify' ORDER BY id DESC "
                    "LIMIT 1") == [("skipped", "migrations are being applied; the next pass checks")]


# ---- the probe has no privilege to lose (issue 14) ---------------------------------------

def rls_table_read_through(db, name, function, role="anon"):
    """A table anon may read whose policy calls function()."""
    db.query("CREATE TABLE public.%s (id int PRIMARY KEY)" % name)
    db.query("ALTER TABLE public.%s ENABLE ROW LEVEL SECURITY" % name)
    db.query("GRANT SELECT ON public.%s TO %s" % (name, role))
    db.query("CREATE POLICY p ON public.%s FOR SELECT TO %s USING (public.%s())" % (name, role, function))
    db.query("INSERT INTO public.%s VALUES (1)" % name)   # a policy is evaluated for a row


def test_a_policy_that_resets_its_role_cannot_run_a_program(db, tmpbase):
    import os
    migrate(db)
    drop = os.path.join(tmpbase, "copy-to-program-%s" % db.name)
    os.mkdir(drop)
    os.chmod(drop, 0o777)     # the server's user could write there
    out = os.path.join(drop, "written")
    db.query("CREATE FUNCTION public.evil() RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN "
             "RESET ROLE; COPY (SELECT 1) TO PROGRAM 'touch %s'; RETURN true; END $f$" % out)
    rls_table_read_through(db, "bait", "evil")
    f = findings(db)
    assert not os.path.exists(out), "the policy ran a program as the daemon's role"
    x = f[("probe_policy_error", "public.bait (as anon)")]
    assert "42501" in x["detail"] and "pg_execute_server_program" in x["detail"], x
    r = run_job(db)
    assert not os.path.exists(out), "the daemon's pass too"
    assert "probe_policy_error public.bait (as anon)" in r.stderr, r.stderr


def test_isolation_rows_and_their_triggers_never_run_as_the_daemons_role(db):
    migrate(db)
    db.query("CREATE TABLE public.diary (id serial PRIMARY KEY, user_id uuid NOT NULL REFERENCES profiles(id))")
    db.query("ALTER TABLE public.diary ENABLE ROW LEVEL SECURITY")
    db.query("GRANT SELECT ON public.diary TO authenticated")
    db.query("CREATE POLICY own ON public.diary FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()))")
    db.query("CREATE FUNCTION public.diary_who() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
             "RAISE EXCEPTION 'inserted as % in the session of %', current_user, session_user; END $f$")
    db.query("CREATE TRIGGER who BEFORE INSERT ON public.diary FOR EACH ROW EXECUTE FUNCTION public.diary_who()")
    f = findings(db, env={"MOMENTUM_MAINTD_ENVIRONMENT": "development"})
    x = f[("probe_isolation_unchecked", "public.diary")]
    assert "inserted as service_role in the session of momentum_maintd_probe" in x["detail"], x
    assert "postgres" not in x["detail"], x


def test_a_probe_login_of_ones_own_with_a_password_file(db, tmp_path):
    import os
    migrate(db)
    db.query("DO $$ BEGIN CREATE ROLE own_probe LOGIN NOINHERIT PASSWORD 'pw-of-own-probe'; "
             "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    db.query("GRANT anon, authenticated, service_role TO own_probe")
    db.query("CREATE FUNCTION public.who() RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN "
             "RAISE EXCEPTION 'read in the session of %', session_user; END $f$")
    rls_table_read_through(db, "whose", "who")
    pw = tmp_path / "probe-password"
    pw.write_text("pw-of-own-probe\n")
    os.chmod(pw, 0o640)
    conf = ["--set", "verify.probe_conninfo=user=own_probe", "--set", "verify.probe_password_file=%s" % pw]
    r = run(["-d", db.conninfo] + conf + ["verify"])
    assert r.returncode == 78 and "is readable by other users (mode 0640); run chmod 600" in r.stderr, (r.returncode, r.stderr)
    os.chmod(pw, 0o600)
    r = run(["-d", db.conninfo] + conf + ["verify", "--format", "json", "--fail-on", "info"])
    f = {(x["check"], x["object"]): x for x in json.loads(r.stdout)["findings"]}
    assert "read in the session of own_probe" in f[("probe_policy_error", "public.whose (as anon)")]["detail"], f
    r = run(["-d", db.conninfo] + conf + ["check-config"])
    assert "probe_conninfo = \"user=own_probe\"" in r.stdout and "pw-of-own-probe" not in r.stdout, r.stdout
    r = run(["-d", db.conninfo, "--set", "verify.probe_conninfo=user=own_probe password=s3cret", "check-config"])
    assert "s3cret" not in r.stdout and "********" in r.stdout, r.stdout
    # a login that may act as a superuser is refused: nothing is read
    f = {(x["check"], x["object"]): x for x in json.loads(run(
        ["-d", db.conninfo, "--set", "verify.probe_conninfo=user=postgres", "verify", "--format", "json",
         "--fail-on", "info"]).stdout)["findings"]}
    x = f[("probe_unchecked", "momentum-maintd probe")]
    assert x["level"] == "warn" and "may act as" in x["detail"], x
    assert ("probe_policy_error", "public.whose (as anon)") not in f
    db.query("DROP ROLE own_probe")


def test_without_a_role_that_may_create_roles_the_probe_is_unchecked(db):
    migrate(db)
    db.query("DO $$ BEGIN CREATE ROLE plain_daemon LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    db.query("GRANT USAGE ON SCHEMA momentum_maintd TO plain_daemon")
    db.query("GRANT SELECT ON ALL TABLES IN SCHEMA momentum_maintd TO plain_daemon")
    db.query("GRANT USAGE ON SCHEMA storage TO plain_daemon")
    db.query("GRANT SELECT ON storage.buckets TO plain_daemon")
    try:
        r = run(["-d", db.conninfo + " user=plain_daemon", "verify", "--format", "json", "--fail-on", "info"])
        assert r.returncode in (0, 1), r.stderr
        f = {(x["check"], x["object"]): x for x in json.loads(r.stdout)["findings"]}
        x = f[("probe_unchecked", "momentum-maintd probe")]
        assert x["level"] == "info" and "may not create roles" in x["detail"], x
        assert "CREATE ROLE momentum_maintd_probe LOGIN NOINHERIT" in x["remedy"], x
        assert "GRANT anon, authenticated, service_role TO momentum_maintd_probe" in x["remedy"], x
    finally:
        db.query("DROP OWNED BY plain_daemon")
        db.query("DROP ROLE plain_daemon")


def waits_of_a_pass(db):
    """What the pass's connections wait for now: the probe's (its
    application_name) and the command's own (the one-shot connection and
    the daemon's job connection both fall back to momentum-maintd)."""
    return set(db.query("SELECT application_name, wait_event_type || ':' || wait_event FROM pg_stat_activity "
                        "WHERE datname = current_database() AND state = 'active' "
                        "AND application_name IN ('momentum-maintd', 'momentum-maintd probe')"))


def gate_probe_and_checks(db):
    """A probe held by a policy that waits for the advisory lock 4215 (with
    no lock_timeout of its own, so that the probe's 2 s do not end it), and
    checks held by backroom.ledger: the policy lints deparse its policy
    (which reads no column), which opens the table.  The API does not expose
    backroom: the probe does not read it.  Returns a connection that holds
    both; hold(c, False) lets go."""
    migrate(db)
    db.query("CREATE FUNCTION public.gate() RETURNS boolean LANGUAGE plpgsql SET lock_timeout = 0 AS $f$ BEGIN "
             "PERFORM pg_catalog.pg_advisory_lock_shared(4215); RETURN true; END $f$")
    rls_table_read_through(db, "gated", "gate")
    db.query("CREATE SCHEMA backroom")
    db.query("CREATE TABLE backroom.ledger (id int PRIMARY KEY)")
    db.query("ALTER TABLE backroom.ledger ENABLE ROW LEVEL SECURITY")
    db.query("CREATE POLICY everyone ON backroom.ledger FOR SELECT USING (true)")
    c = db.cluster.connect(db.name)
    hold(c, True)
    return c


def hold(c, on):
    with c.cursor() as cur:
        if on:
            cur.execute("SELECT pg_advisory_lock(4215)")
            cur.execute("BEGIN")
            cur.execute("LOCK TABLE backroom.ledger IN ACCESS EXCLUSIVE MODE")
        else:
            cur.execute("COMMIT")
            cur.execute("SELECT pg_advisory_unlock(4215)")


BOTH_HELD = {("momentum-maintd probe", "Lock:advisory"), ("momentum-maintd", "Lock:relation")}


@pytest.mark.parametrize("command", [["verify", "--format", "json", "--fail-on", "info"], ["run-job", "verify"]])
def test_the_probe_runs_while_the_checks_run(db, command):
    """The probe's connection runs its transaction while the checks run on
    the pass's own: each is held at a lock of this test's, and both are
    seen waiting at once (one after the other, they never could)."""
    import subprocess
    from conftest import BIN, daemon_env, wait_until
    held = gate_probe_and_checks(db)
    try:
        proc = subprocess.Popen([BIN, "-d", db.conninfo] + command, env=daemon_env(), cwd="/",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen = wait_until(lambda: BOTH_HELD <= waits_of_a_pass(db), timeout=30)
            assert seen, waits_of_a_pass(db)
        finally:
            hold(held, False)
            out, err = proc.communicate(timeout=120)
    finally:
        held.close()
    # and the pass went on as ever once they were let go
    if command[0] == "verify":
        assert proc.returncode in (0, 1), err
        f = {(x["check"], x["object"]) for x in json.loads(out)["findings"]}
        assert not [k for k in f if k[0] in ("probe_timeout", "probe_failed", "probe_skipped")], sorted(f)
    else:
        # the job's connection waits for a lock 5 s at most: the pass is
        # then skipped, or it went on if this test let go first
        assert proc.returncode in (0, 75), (proc.returncode, err)


def test_sigterm_while_the_probe_and_the_checks_run_ends_both(db, daemons, notify):
    from conftest import wait_until
    held = gate_probe_and_checks(db)
    try:
        d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS], notify=notify)
        assert wait_until(lambda: BOTH_HELD <= waits_of_a_pass(db), timeout=30), (waits_of_a_pass(db), d.stderr())
        d.signal(signal.SIGTERM)
        # the checks are cancelled, then the probe's backend is terminated
        # from the daemon's connection: neither waits for this test
        assert d.wait() == 0, d.stderr()
        assert probe_backends(db) == 0
        assert db.query("SELECT status FROM momentum_maintd.job_runs WHERE job = 'verify' ORDER BY id DESC "
                        "LIMIT 1") == [("cancelled",)]
    finally:
        hold(held, False)
        held.close()


STUCK = ("CREATE FUNCTION public.stuck() RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN LOOP BEGIN "
         "PERFORM pg_sleep(0.1); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $f$")


def probe_backends(db):
    return db.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'momentum-maintd probe'")[0][0]


def test_a_probe_that_does_not_end_is_ended_and_the_next_pass_runs(db):
    migrate(db)
    db.query(STUCK)
    rls_table_read_through(db, "tar_pit", "stuck")
    start = time.monotonic()
    r = run(["-d", db.conninfo, "--set", "verify.probe_timeout=1 s", "run-job", "verify"], timeout=60)
    assert r.returncode != 0 and time.monotonic() - start < 40, (r.returncode, r.stderr)
    assert "the probe did not end within 10000 ms of its 1000 ms statement timeout, nor when cancelled" in r.stderr
    assert "was terminated" in r.stderr, r.stderr
    assert probe_backends(db) == 0
    (status, error), = db.query("SELECT status, error FROM momentum_maintd.job_runs WHERE job = 'verify' "
                                "ORDER BY id DESC LIMIT 1")
    assert status == "failed" and "the probe did not end" in error, error
    db.query("DROP TABLE public.tar_pit")
    r = run_job(db)
    assert "another instance" not in r.stdout + r.stderr


def test_sigterm_during_a_probe_ends_it(db, daemons, notify):
    migrate(db)
    db.query(STUCK)
    rls_table_read_through(db, "tar_pit", "stuck")
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS], notify=notify)
    deadline = time.monotonic() + 30
    while probe_backends(db) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert probe_backends(db) == 1, d.stderr()
    start = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0, d.stderr()
    assert time.monotonic() - start < 8
    assert probe_backends(db) == 0
    assert db.query("SELECT status FROM momentum_maintd.job_runs WHERE job = 'verify' ORDER BY id DESC LIMIT 1") \
        == [("cancelled",)]
