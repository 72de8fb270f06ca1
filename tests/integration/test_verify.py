"""momentum-maintd verify: lints with a check name, level, object and
remedy; exit 0 clean, 1 findings at or above --fail-on, 69 database down."""
import json

from conftest import MIGRATIONS, run


def verify(db, *args):
    return run(["-d", db.conninfo, "verify"] + list(args))


def findings(db):
    r = verify(db, "--format", "json", "--fail-on", "info")
    return {(f["check"], f["object"]): f for f in json.loads(r.stdout)["findings"]}


def test_seed_schema_findings_and_exit_codes(db):
    assert run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"]).returncode == 0
    r = verify(db)
    assert r.returncode == 0, "no error-level finding on the seed: " + r.stdout
    assert verify(db, "--fail-on", "warn").returncode == 1
    f = findings(db)
    assert ("unindexed_foreign_key", "public.brand_settings (brand_settings_user_id_fkey)") in f
    assert ("anon_write_policy", 'public.brand_settings: policy "Users can manage own brand settings"') in f
    assert ("auth_rls_initplan", 'public.profiles: policy "Users can view own profile"') in f
    one = f[("unindexed_foreign_key", "public.brand_settings (brand_settings_user_id_fkey)")]
    assert one["level"] == "info" and one["remedy"] == "CREATE INDEX ON public.brand_settings (user_id)"
    assert set(one) == {"check", "level", "object", "detail", "remedy", "key"}


def test_each_lint_appears_and_goes(db):
    assert run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"]).returncode == 0
    db.query("CREATE TABLE public.open_notes (id int PRIMARY KEY, body text)")
    db.query("GRANT SELECT ON public.open_notes TO anon")
    db.query("CREATE TABLE public.locked (id int)")
    db.query("ALTER TABLE public.locked ENABLE ROW LEVEL SECURITY")
    db.query("CREATE INDEX dup_a ON public.open_notes (body)")
    db.query("CREATE INDEX dup_b ON public.open_notes (body)")
    db.query("CREATE FUNCTION public.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
    db.query("DO $$ BEGIN CREATE ROLE sneaky NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    db.query("ALTER TABLE public.deliverables DISABLE ROW LEVEL SECURITY")
    r = verify(db)
    assert r.returncode == 1
    f = findings(db)
    assert f[("rls_disabled_in_public", "public.open_notes")]["level"] == "error"
    assert f[("policy_exists_rls_disabled", "public.deliverables")]["level"] == "error"
    assert ("rls_enabled_no_policy", "public.locked") in f
    assert ("duplicate_index", "dup_a, dup_b") in f
    assert ("security_definer_search_path", "definer()") in f
    assert ("bypassrls_role", "sneaky") in f
    # fix them: the findings go
    db.query("ALTER TABLE public.open_notes ENABLE ROW LEVEL SECURITY")
    db.query("ALTER TABLE public.deliverables ENABLE ROW LEVEL SECURITY")
    db.query("DROP INDEX dup_b")
    db.query("ALTER FUNCTION public.definer() SET search_path = ''")
    db.query("DROP ROLE sneaky")
    f = findings(db)
    for key in [("rls_disabled_in_public", "public.open_notes"), ("policy_exists_rls_disabled", "public.deliverables"),
                ("duplicate_index", "dup_a, dup_b"), ("security_definer_search_path", "definer()"),
                ("bypassrls_role", "sneaky")]:
        assert key not in f, key
    assert verify(db).returncode == 0


def test_verify_exit_codes_for_usage_and_database_down():
    r = run(["-d", "host=/nonexistent-dir dbname=x", "verify"], timeout=30)
    assert r.returncode == 69
    assert run(["verify", "--fail-on", "panic"]).returncode == 64
