"""The security lints of Supabase's advisor (splinter's names and meaning,
our own SQL), and the schemas the API exposes.  Each lint has a case it must
flag and a near miss it must not: a query that flags both, or neither, fails
here."""
import json

import pytest

from conftest import migrations_dir, run

# roles and auth/storage as the compat step makes them, nothing of the seed
BASE = {"001_base.sql": "CREATE TABLE public.base_marker (id int PRIMARY KEY);\n"}


@pytest.fixture
def sdb(db, tmp_path):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + migrations_dir(tmp_path, BASE), "migrate", "up"])
    assert r.returncode == 0, r.stderr
    return db


def findings(db, *conf):
    r = run(["-d", db.conninfo] + list(conf) + ["verify", "--format", "json", "--fail-on", "info"], timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return {(f["check"], f["object"]): f for f in json.loads(r.stdout)["findings"]}


def of(f, check):
    return sorted(obj for (c, obj) in f if c == check)


def api_table(db, name, grant_to=("anon", "authenticated"), rls=True):
    db.query("CREATE TABLE %s (id int PRIMARY KEY, user_id uuid, body text)" % name)
    db.query("REVOKE ALL ON %s FROM anon, authenticated" % name)
    for role in grant_to:
        db.query("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s" % (name, role))
    if rls:
        db.query("ALTER TABLE %s ENABLE ROW LEVEL SECURITY" % name)


# ---- row level security and the exposed schemas ------------------------------------

def test_rls_disabled_counts_authenticated_too_and_not_internal_tables(sdb):
    api_table(sdb, "public.only_authenticated", grant_to=("authenticated",), rls=False)
    api_table(sdb, "public.internal", grant_to=(), rls=False)
    f = findings(sdb)
    assert f[("rls_disabled_in_public", "public.only_authenticated")]["level"] == "error"
    assert ("rls_disabled_in_public", "public.internal") not in f


def test_rls_disabled_remedy_says_the_api_sees_no_row_until_policies_exist(sdb):
    # enabled as the remedy says and nothing more, the table is closed to
    # the API (rls_enabled_no_policy): the remedy must say policies go with it
    api_table(sdb, "public.orders", rls=False)
    x = findings(sdb)[("rls_disabled_in_public", "public.orders")]
    sdb.query(x["remedy"].split(" (")[0])
    f = findings(sdb)
    assert ("rls_disabled_in_public", "public.orders") not in f
    assert ("rls_enabled_no_policy", "public.orders") in f
    assert "polic" in x["remedy"], x


def test_the_schemas_postgrest_serves_are_read_from_the_authenticator_role(sdb):
    sdb.query("DO $$ BEGIN CREATE ROLE authenticator NOINHERIT LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    sdb.query("CREATE SCHEMA api")
    sdb.query("CREATE SCHEMA private")
    sdb.query("GRANT USAGE ON SCHEMA api, private TO anon, authenticated")
    api_table(sdb, "api.accounts", grant_to=("authenticated",), rls=False)
    api_table(sdb, "private.ledger", grant_to=("authenticated",), rls=False)
    try:
        sdb.query("ALTER ROLE authenticator IN DATABASE %s SET pgrst.db_schemas = 'public, api'" % sdb.name)
        f = findings(sdb)
        assert ("rls_disabled_in_public", "api.accounts") in f, sorted(f)
        assert ("rls_disabled_in_public", "private.ledger") not in f, "not exposed"
        # verify.schemas overrides what the database says
        f = findings(sdb, "--set", "verify.schemas=private")
        assert ("rls_disabled_in_public", "private.ledger") in f, sorted(f)
        assert ("rls_disabled_in_public", "api.accounts") not in f
        assert ("rls_disabled_in_public", "public.base_marker") not in f
    finally:
        sdb.query("ALTER ROLE authenticator IN DATABASE %s RESET pgrst.db_schemas" % sdb.name)
    try:
        # the role-wide setting, as Supabase makes it
        sdb.query("ALTER ROLE authenticator SET pgrst.db_schemas = 'public, private'")
        f = findings(sdb)
        assert ("rls_disabled_in_public", "private.ledger") in f, sorted(f)
        assert ("rls_disabled_in_public", "api.accounts") not in f
        # this database's own setting comes first
        sdb.query("ALTER ROLE authenticator IN DATABASE %s SET pgrst.db_schemas = 'public, api'" % sdb.name)
        f = findings(sdb)
        assert ("rls_disabled_in_public", "api.accounts") in f, sorted(f)
        assert ("rls_disabled_in_public", "private.ledger") not in f
    finally:
        sdb.query("ALTER ROLE authenticator IN DATABASE %s RESET pgrst.db_schemas" % sdb.name)
        sdb.query("ALTER ROLE authenticator RESET pgrst.db_schemas")


def test_verify_schemas_must_be_a_list_of_plain_names(sdb):
    for bad in ("public,", "api; DROP TABLE x", "'public'", "1st", "a,,b"):
        r = run(["-d", sdb.conninfo, "--set", "verify.schemas=" + bad, "check-config"])
        assert r.returncode == 78 and "verify.schemas: expected a comma list of schema names" in r.stderr, \
            (bad, r.returncode, r.stderr)
    r = run(["-d", sdb.conninfo, "--set", "verify.schemas=public, api_v2", "check-config"])
    assert r.returncode == 0, r.stderr


def test_rls_policy_always_true_for_any_role_but_service_role(sdb):
    api_table(sdb, "public.notes")
    sdb.query("CREATE POLICY open_update ON public.notes FOR UPDATE TO authenticated USING (true)")
    sdb.query("CREATE POLICY open_insert ON public.notes FOR INSERT TO authenticated WITH CHECK (1 = 1)")
    sdb.query("CREATE POLICY server ON public.notes FOR ALL TO service_role USING (true) WITH CHECK (true)")
    sdb.query("CREATE POLICY readers ON public.notes FOR SELECT TO anon USING (true)")
    sdb.query("CREATE POLICY own ON public.notes FOR DELETE TO authenticated USING ((select auth.uid()) = user_id)")
    # a restrictive policy that is always true narrows nothing and widens nothing
    sdb.query("CREATE POLICY narrowing ON public.notes AS RESTRICTIVE FOR UPDATE TO authenticated USING (true)")
    f = of(findings(sdb), "rls_policy_always_true")
    assert f == ['public.notes: policy "open_insert"', 'public.notes: policy "open_update"'], f



def test_rls_policy_always_true_not_for_an_expression_the_policy_does_not_have(sdb):
    """A write policy without the expression that admits rows admits none:
    PostgreSQL adds no qualifier for it, and with no other policy nothing
    passes. Not reported (the advisor reports an INSERT policy without
    WITH CHECK, and an UPDATE or DELETE one without USING, as always true)."""
    api_table(sdb, "public.drafts")
    sdb.query("INSERT INTO public.drafts (id, body) VALUES (1, 'x')")
    sdb.query("CREATE POLICY reads ON public.drafts FOR SELECT TO authenticated USING (true)")
    sdb.query("CREATE POLICY adds ON public.drafts FOR INSERT TO authenticated")
    sdb.query("CREATE POLICY edits ON public.drafts FOR UPDATE TO authenticated "
              "WITH CHECK ((select auth.uid()) = user_id)")
    sdb.query("CREATE POLICY removes ON public.drafts FOR DELETE TO authenticated")
    assert of(findings(sdb), "rls_policy_always_true") == []
    # what PostgreSQL does with them: no row in, none changed, none removed
    as_user = "-c role=authenticated"
    with pytest.raises(Exception, match="violates row-level security policy"):
        sdb.query("INSERT INTO public.drafts (id) VALUES (2)", options=as_user)
    assert sdb.query("UPDATE public.drafts SET body = 'y' RETURNING id", options=as_user) == []
    assert sdb.query("DELETE FROM public.drafts RETURNING id", options=as_user) == []
    assert sdb.query("SELECT id, body FROM public.drafts") == [(1, "x")]

def test_policies_without_rls_and_rls_without_policies_in_every_schema_of_the_users(sdb):
    """As the advisor: a table's policies apply or not whether or not the
    API serves its schema (the checks of exposure are the others')."""
    sdb.query("CREATE SCHEMA private")
    sdb.query("CREATE TABLE private.pol_off (id int PRIMARY KEY)")
    sdb.query("CREATE POLICY p ON private.pol_off FOR SELECT USING (true)")
    sdb.query("CREATE TABLE private.rls_nopol (id int PRIMARY KEY)")
    sdb.query("ALTER TABLE private.rls_nopol ENABLE ROW LEVEL SECURITY")
    f = findings(sdb)
    assert f[("policy_exists_rls_disabled", "private.pol_off")]["level"] == "error"
    assert f[("rls_enabled_no_policy", "private.rls_nopol")]["level"] == "info"
    # the exposure-based ones stay with the exposed schemas
    assert ("rls_disabled_in_public", "private.pol_off") not in f
    # the platform's schemas are not the user's
    assert not [k for k in f if k[0] in ("policy_exists_rls_disabled", "rls_enabled_no_policy")
                and k[1].startswith(("auth.", "storage.", "extensions."))], f


def test_rls_references_user_metadata(sdb):
    api_table(sdb, "public.admin_things")
    sdb.query("CREATE POLICY by_user_meta ON public.admin_things FOR SELECT TO authenticated "
              "USING (((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'admin')")
    sdb.query("CREATE POLICY by_app_meta ON public.admin_things FOR SELECT TO authenticated "
              "USING (((select auth.jwt()) -> 'app_metadata' ->> 'role') = 'admin')")
    # a JWT read in USING, a column named user_metadata in WITH CHECK: not it
    sdb.query("CREATE TABLE public.profiles_meta (id uuid PRIMARY KEY, user_metadata jsonb)")
    sdb.query("ALTER TABLE public.profiles_meta ENABLE ROW LEVEL SECURITY")
    sdb.query("CREATE POLICY own ON public.profiles_meta FOR UPDATE TO authenticated "
              "USING (id = ((select auth.jwt()) ->> 'sub')::uuid) WITH CHECK (user_metadata IS NOT NULL)")
    # ... and the same read in WITH CHECK alone still is
    sdb.query("CREATE POLICY meta_check ON public.profiles_meta FOR INSERT TO authenticated "
              "WITH CHECK (((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'editor')")
    f = findings(sdb)
    assert f[("rls_references_user_metadata", 'public.admin_things: policy "by_user_meta"')]["level"] == "error"
    assert ("rls_references_user_metadata", 'public.admin_things: policy "by_app_meta"') not in f
    assert ("rls_references_user_metadata", 'public.profiles_meta: policy "own"') not in f
    assert ("rls_references_user_metadata", 'public.profiles_meta: policy "meta_check"') in f


def test_auth_rls_initplan_sees_current_setting_and_jwt_and_skips_tables_without_rls(sdb):
    api_table(sdb, "public.per_row")
    sdb.query("CREATE POLICY by_setting ON public.per_row FOR SELECT TO authenticated "
              "USING (user_id = (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid)")
    sdb.query("CREATE POLICY by_jwt ON public.per_row FOR UPDATE TO authenticated "
              "USING (user_id = (auth.jwt() ->> 'sub')::uuid)")
    sdb.query("CREATE POLICY once ON public.per_row FOR DELETE TO authenticated "
              "USING (user_id = ((select current_setting('request.jwt.claims', true))::jsonb ->> 'sub')::uuid)")
    api_table(sdb, "public.no_rls", rls=False)
    sdb.query("CREATE POLICY idle ON public.no_rls FOR SELECT TO authenticated USING (user_id = auth.uid())")
    f = of(findings(sdb), "auth_rls_initplan")
    assert f == ['public.per_row: policy "by_jwt"', 'public.per_row: policy "by_setting"'], f


def test_auth_rls_initplan_only_lets_a_call_that_is_the_first_target_of_a_select_pass(sdb):
    # the lint deparses only the policies whose node trees call auth.*() or
    # current_setting() other than as the first target of a sub-SELECT: a
    # call inside that target, or after DISTINCT, is still seen
    api_table(sdb, "public.wrapped")
    sdb.query("CREATE POLICY once ON public.wrapped FOR SELECT TO authenticated "
              "USING (user_id = (select auth.uid()))")
    sdb.query("CREATE POLICY inside ON public.wrapped FOR UPDATE TO authenticated "
              "USING (user_id = (select lower(auth.uid()::text))::uuid)")
    sdb.query("CREATE POLICY distinct_once ON public.wrapped FOR DELETE TO authenticated "
              "USING (user_id = (select distinct auth.uid()))")
    sdb.query("CREATE POLICY nested ON public.wrapped FOR INSERT TO authenticated "
              "WITH CHECK (user_id::text = (select current_setting(current_setting('app.claim_name', true), true)))")
    f = of(findings(sdb), "auth_rls_initplan")
    assert f == ['public.wrapped: policy "distinct_once"', 'public.wrapped: policy "inside"',
                 'public.wrapped: policy "nested"'], f


# ---- what the API exposes -----------------------------------------------------------------

def test_security_definer_view_and_auth_users_exposed(sdb):
    api_table(sdb, "public.zoom_tokens")
    sdb.query("CREATE VIEW public.all_tokens AS SELECT id, body FROM public.zoom_tokens")
    sdb.query("GRANT SELECT ON public.all_tokens TO anon")
    sdb.query("CREATE VIEW public.my_tokens WITH (security_invoker = on) AS SELECT id, body FROM public.zoom_tokens")
    sdb.query("GRANT SELECT ON public.my_tokens TO anon")
    sdb.query("CREATE VIEW public.emails AS SELECT id, email FROM auth.users")
    sdb.query("GRANT SELECT ON public.emails TO authenticated")
    sdb.query("CREATE VIEW public.emails_internal AS SELECT id, email FROM auth.users")
    sdb.query("REVOKE ALL ON public.emails_internal FROM anon, authenticated")
    f = findings(sdb)
    assert of(f, "security_definer_view") == ["public.all_tokens", "public.emails"], sorted(f)
    assert f[("security_definer_view", "public.all_tokens")]["level"] == "error"
    assert of(f, "auth_users_exposed") == ["public.emails"]
    # a security_invoker view reads auth.users as its reader: safe while
    # auth.users has row level security, exposed when it has not
    sdb.query("CREATE VIEW public.my_email WITH (security_invoker = on) AS SELECT id, email FROM auth.users")
    sdb.query("GRANT SELECT ON public.my_email TO authenticated")
    sdb.query("ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY")
    assert of(findings(sdb), "auth_users_exposed") == ["public.emails"]
    sdb.query("ALTER TABLE auth.users DISABLE ROW LEVEL SECURITY")
    assert of(findings(sdb), "auth_users_exposed") == ["public.emails", "public.my_email"]


def test_materialized_and_foreign_tables_in_api(sdb):
    sdb.query("CREATE MATERIALIZED VIEW public.stats AS SELECT 1 AS n")
    sdb.query("GRANT SELECT ON public.stats TO anon")
    sdb.query("CREATE MATERIALIZED VIEW public.stats_internal AS SELECT 1 AS n")
    sdb.query("REVOKE ALL ON public.stats_internal FROM anon, authenticated")
    sdb.query("CREATE FOREIGN DATA WRAPPER nowhere")
    sdb.query("CREATE SERVER far FOREIGN DATA WRAPPER nowhere")
    sdb.query("CREATE FOREIGN TABLE public.remote (id int) SERVER far")
    sdb.query("GRANT SELECT ON public.remote TO authenticated")
    sdb.query("CREATE FOREIGN TABLE public.remote_internal (id int) SERVER far")
    sdb.query("REVOKE ALL ON public.remote_internal FROM anon, authenticated")
    f = findings(sdb)
    assert of(f, "materialized_view_in_api") == ["public.stats"]
    assert of(f, "foreign_table_in_api") == ["public.remote"]


def test_the_revoke_remedies_revoke_what_was_granted_to_public(sdb):
    # anon and authenticated may select what PUBLIC may: a remedy that
    # revokes from the two roles only leaves them their access
    sdb.query("CREATE MATERIALIZED VIEW public.\"Stats \"\"All\"\"\" AS SELECT 1 AS n")
    sdb.query("CREATE VIEW public.emails AS SELECT id, email FROM auth.users")
    sdb.query("CREATE FOREIGN DATA WRAPPER nowhere")
    sdb.query("CREATE SERVER far FOREIGN DATA WRAPPER nowhere")
    sdb.query("CREATE FOREIGN TABLE public.remote (id int) SERVER far")
    sdb.query("CREATE TABLE public.accounts (id int PRIMARY KEY, password text)")
    for rel in ('public."Stats ""All"""', "public.emails", "public.remote", "public.accounts"):
        sdb.query("REVOKE ALL ON %s FROM anon, authenticated" % rel)
        sdb.query("GRANT SELECT ON %s TO PUBLIC" % rel)
    f = findings(sdb)
    done = [("materialized_view_in_api", 'public."Stats ""All"""'), ("foreign_table_in_api", "public.remote"),
            ("auth_users_exposed", "public.emails"), ("sensitive_columns_exposed", "public.accounts")]
    for key in done:
        # the REVOKE it gives, without what it adds in parentheses
        remedy = f[key]["remedy"]
        sdb.query(remedy[remedy.index("REVOKE SELECT"):].split(" (")[0])
    f = findings(sdb)
    assert not [k for k in done if k in f], [f[k]["remedy"] for k in done if k in f]


def test_security_definer_functions_callable_through_rpc(sdb):
    sdb.query("CREATE FUNCTION public.delete_org(org uuid) RETURNS void LANGUAGE sql SECURITY DEFINER "
              "SET search_path = '' AS 'SELECT'")
    sdb.query("CREATE FUNCTION public.members_only() RETURNS int LANGUAGE sql SECURITY DEFINER "
              "SET search_path = '' AS 'SELECT 1'")
    sdb.query("REVOKE EXECUTE ON FUNCTION public.members_only() FROM PUBLIC, anon")
    sdb.query("GRANT EXECUTE ON FUNCTION public.members_only() TO authenticated")
    sdb.query("CREATE FUNCTION public.invoker() RETURNS int LANGUAGE sql SET search_path = '' AS 'SELECT 1'")
    sdb.query("CREATE SCHEMA private")
    sdb.query("CREATE FUNCTION private.helper() RETURNS int LANGUAGE sql SECURITY DEFINER "
              "SET search_path = '' AS 'SELECT 1'")
    f = findings(sdb)
    assert of(f, "anon_security_definer_function_executable") == ["public.delete_org(uuid)"], sorted(f)
    assert of(f, "authenticated_security_definer_function_executable") == \
        ["public.delete_org(uuid)", "public.members_only()"]


def test_security_definer_trigger_function_is_not_said_callable_through_rpc(sdb):
    # Supabase's guides make handle_new_user() this way; the advisor reports
    # it, and so do we, but /rpc cannot call a trigger function, and the
    # trigger fires it after EXECUTE is revoked
    sdb.query("CREATE TABLE public.profiles (id uuid PRIMARY KEY)")
    sdb.query("CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
              "SET search_path = '' AS $$BEGIN INSERT INTO public.profiles (id) VALUES (new.id); RETURN new; END$$")
    sdb.query("CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users "
              "FOR EACH ROW EXECUTE FUNCTION public.handle_new_user()")
    # and on a table anon may write to, to fire it as anon
    sdb.query("CREATE SCHEMA private")
    sdb.query("CREATE TABLE private.signups (id uuid)")
    sdb.query("CREATE TRIGGER on_signup AFTER INSERT ON private.signups "
              "FOR EACH ROW EXECUTE FUNCTION public.handle_new_user()")
    f = findings(sdb)
    x = f[("anon_security_definer_function_executable", "public.handle_new_user()")]
    assert "trigger function" in x["detail"] and "/rpc" in x["detail"] and "call through /rpc" not in x["detail"], x
    sdb.query(x["remedy"].split(" (")[0])
    assert sdb.query("SELECT has_function_privilege('anon', 'public.handle_new_user()', 'EXECUTE')") == [(False,)]
    # a sign-up as anon (not a superuser, who needs no privilege) fires it
    sdb.query("GRANT USAGE ON SCHEMA private TO anon; GRANT INSERT ON private.signups TO anon; SET ROLE anon; "
              "INSERT INTO private.signups (id) VALUES ('00000000-0000-0000-0000-0000000000aa')")
    assert sdb.query("SELECT count(*) FROM public.profiles")[0][0] == 1
    assert ("anon_security_definer_function_executable", "public.handle_new_user()") not in findings(sdb)


def test_function_search_path_mutable_for_every_function(sdb):
    sdb.query("CREATE FUNCTION public.plain() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    sdb.query("CREATE FUNCTION public.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
    sdb.query("CREATE FUNCTION public.pinned() RETURNS int LANGUAGE sql SET search_path = '' AS 'SELECT 1'")
    sdb.query("CREATE SCHEMA private")
    sdb.query("CREATE FUNCTION private.loose() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    sdb.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA public')
    f = findings(sdb)
    got = of(f, "function_search_path_mutable")
    assert got == ["private.loose()", "public.definer()", "public.plain()"], got
    assert "SECURITY DEFINER" in f[("function_search_path_mutable", "public.definer()")]["detail"]
    assert ("security_definer_search_path", "public.definer()") not in f, "the old name is gone"


def test_extension_in_public_and_outdated(sdb):
    sdb.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA public')
    sdb.query("CREATE SCHEMA IF NOT EXISTS extensions")
    sdb.query("CREATE EXTENSION citext SCHEMA extensions")
    sdb.query("CREATE EXTENSION hstore SCHEMA extensions VERSION '1.7'")
    f = findings(sdb)
    assert of(f, "extension_in_public") == ["uuid-ossp"]
    assert of(f, "extension_versions_outdated") == ["hstore"], sorted(f)
    assert "1.7" in f[("extension_versions_outdated", "hstore")]["detail"]


def test_extension_in_public_remedy_moves_it(sdb, tmp_path):
    """ALTER EXTENSION ... SET SCHEMA fails for an extension that is not
    relocatable (xml2 here, postgis on Supabase): its remedy drops and
    creates it, in one transaction.  Each remedy, given whole to psql -f,
    leaves nothing to report; one whose DROP fails keeps the extension."""
    sdb.query("CREATE SCHEMA IF NOT EXISTS extensions")
    sdb.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA public')
    sdb.query("CREATE EXTENSION xml2 SCHEMA public")
    sdb.query("CREATE VIEW public.uses_xml2 AS SELECT public.xml_valid('<a/>') AS ok")
    f = findings(sdb)
    assert of(f, "extension_in_public") == ["uuid-ossp", "xml2"]
    assert f[("extension_in_public", "uuid-ossp")]["remedy"] == 'ALTER EXTENSION "uuid-ossp" SET SCHEMA extensions'
    xml2 = f[("extension_in_public", "xml2")]
    assert xml2["remedy"] == "BEGIN; DROP EXTENSION xml2; CREATE EXTENSION xml2 WITH SCHEMA extensions; COMMIT;", xml2
    assert "cannot be moved" in xml2["detail"], xml2

    def remedy(name):
        path = tmp_path / ("%s.sql" % name)
        path.write_text(f[("extension_in_public", name)]["remedy"] + "\n")
        try:
            sdb.cluster.psql(sdb.name, file=str(path))
            return True
        except Exception:
            return False
    # the view uses it: the DROP fails, and nothing is lost
    assert not remedy("xml2")
    assert sdb.query("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'xml2'") == [("public",)]
    sdb.query("DROP VIEW public.uses_xml2")
    assert remedy("xml2") and remedy("uuid-ossp")
    assert of(findings(sdb), "extension_in_public") == []


def test_unsupported_reg_types(sdb):
    sdb.query("CREATE TABLE public.hooks (id int PRIMARY KEY, fn regprocedure, rel regclass, kind regtype)")
    f = findings(sdb)
    assert of(f, "unsupported_reg_types") == ["public.hooks.fn"]


def test_fkey_to_auth_unique(sdb):
    sdb.query("ALTER TABLE auth.users ADD CONSTRAINT users_email_key UNIQUE (email)")
    sdb.query("CREATE TABLE public.by_email (email varchar(255) REFERENCES auth.users (email))")
    sdb.query("CREATE TABLE public.by_id (user_id uuid REFERENCES auth.users (id))")
    f = findings(sdb)
    assert of(f, "fkey_to_auth_unique") == ["public.by_email (by_email_email_fkey)"]


def test_public_bucket_allows_listing(sdb):
    sdb.query("INSERT INTO storage.buckets (id, name, public) VALUES ('pub', 'pub', true), "
              "('pub2', 'pub2', true), ('priv', 'priv', false)")
    sdb.query("CREATE POLICY list_pub ON storage.objects FOR SELECT USING (bucket_id = 'pub')")
    sdb.query("CREATE POLICY list_priv ON storage.objects FOR SELECT USING (bucket_id = 'priv')")
    sdb.query("CREATE POLICY own_pub2 ON storage.objects FOR SELECT TO authenticated "
              "USING (bucket_id = 'pub2' AND owner = (select auth.uid()))")
    f = findings(sdb)
    assert of(f, "public_bucket_allows_listing") == ["storage bucket pub"], sorted(f)
    assert 'policy "list_pub"' in f[("public_bucket_allows_listing", "storage bucket pub")]["detail"]


def test_public_bucket_listing_by_an_always_true_or_for_all_policy(sdb):
    sdb.query("INSERT INTO storage.buckets (id, name, public) VALUES ('pub', 'pub', true), "
              "('shared', 'shared', true), ('priv', 'priv', false)")
    # FOR ALL includes SELECT
    sdb.query("CREATE POLICY all_shared ON storage.objects FOR ALL TO authenticated USING (bucket_id = 'shared')")
    f = findings(sdb)
    assert of(f, "public_bucket_allows_listing") == ["storage bucket shared"], sorted(f)
    # a SELECT policy that is always true lists every public bucket's files
    sdb.query("CREATE POLICY everything ON storage.objects FOR SELECT USING (true)")
    f = findings(sdb)
    assert of(f, "public_bucket_allows_listing") == ["storage bucket pub", "storage bucket shared"], sorted(f)


def test_anon_write_policy_only_where_anon_may_write(sdb):
    api_table(sdb, "public.guarded", grant_to=("authenticated",))
    sdb.query("CREATE POLICY anyone_inserts ON public.guarded FOR INSERT WITH CHECK (user_id IS NOT NULL)")
    assert of(findings(sdb), "anon_write_policy") == [], "anon may not insert: the policy cannot serve it"
    sdb.query("GRANT INSERT ON public.guarded TO anon")
    assert of(findings(sdb), "anon_write_policy") == ['public.guarded: policy "anyone_inserts"']


def test_rls_disabled_on_a_storage_table_only_authenticated_may_use(sdb):
    sdb.query("CREATE TABLE storage.extra (id int PRIMARY KEY)")
    sdb.query("REVOKE ALL ON storage.extra FROM anon, authenticated")
    sdb.query("GRANT SELECT ON storage.extra TO authenticated")
    f = findings(sdb)
    assert ("rls_disabled_in_public", "storage.extra") in f, sorted(f)


def test_insecure_queue_exposed_in_api(sdb):
    sdb.query("CREATE SCHEMA pgmq")
    sdb.query("GRANT USAGE ON SCHEMA pgmq TO anon, authenticated")
    api_table(sdb, "pgmq.q_jobs", rls=False)
    api_table(sdb, "pgmq.q_safe", rls=True)
    f = findings(sdb, "--set", "verify.schemas=public, pgmq_public")
    assert of(f, "insecure_queue_exposed_in_api") == ["pgmq.q_jobs"]
    f = findings(sdb)
    assert of(f, "insecure_queue_exposed_in_api") == [], "pgmq_public is not exposed"


# ---- the platform's objects are not the user's ------------------------------------------------

def test_platform_objects_are_not_reported(sdb):
    sdb.query("DO $$ BEGIN CREATE ROLE supabase_admin NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    sdb.query("CREATE FUNCTION public.platform_fn() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
    sdb.query("ALTER FUNCTION public.platform_fn() OWNER TO supabase_admin")
    sdb.query("CREATE VIEW public.platform_view AS SELECT 1 AS n")
    sdb.query("GRANT SELECT ON public.platform_view TO anon")
    sdb.query("ALTER VIEW public.platform_view OWNER TO supabase_admin")
    sdb.query("CREATE FUNCTION auth.hook() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
    sdb.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA public')
    f = findings(sdb)
    objs = {obj for (_, obj) in f}
    assert not [o for o in objs if "platform_" in o or o.startswith("auth.")], sorted(f)
    assert not [o for o in objs if "uuid_generate" in o], "members of an extension"


# ---- categories and facing in every output ------------------------------------------------------

def test_each_finding_carries_categories_and_facing(sdb):
    api_table(sdb, "public.open_one", rls=False)
    api_table(sdb, "public.per_row")
    sdb.query("CREATE POLICY p ON public.per_row FOR SELECT TO authenticated USING (user_id = auth.uid())")
    f = findings(sdb)
    x = f[("rls_disabled_in_public", "public.open_one")]
    assert x["categories"] == ["SECURITY"] and x["facing"] == "EXTERNAL", x
    y = f[("auth_rls_initplan", 'public.per_row: policy "p"')]
    assert y["categories"] == ["PERFORMANCE"] and y["facing"] == "EXTERNAL", y
    r = run(["-d", sdb.conninfo, "verify"])
    assert "error [SECURITY EXTERNAL] rls_disabled_in_public public.open_one: " in r.stdout, r.stdout
    assert "warn  [PERFORMANCE EXTERNAL] auth_rls_initplan " in r.stdout, r.stdout
    r = run(["-d", sdb.conninfo, "--set", "log.format=json", "run-job", "verify"], timeout=120)
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    e = [e for e in events if e.get("check") == "auth_rls_initplan"]
    assert e and e[0]["finding_categories"] == "PERFORMANCE" and e[0]["finding_facing"] == "EXTERNAL", events


def test_an_ignore_key_with_the_old_check_name_still_works(sdb):
    sdb.query("CREATE FUNCTION public.definer() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
    sdb.query("REVOKE EXECUTE ON FUNCTION public.definer() FROM PUBLIC")
    assert ("function_search_path_mutable", "public.definer()") in findings(sdb)
    ignore = ["--set", 'verify.ignore=["security_definer_search_path:public.definer()"]']
    assert ("function_search_path_mutable", "public.definer()") not in findings(sdb, *ignore)
    r = run(["-d", sdb.conninfo] + ignore + ["run-job", "verify"], timeout=120)
    assert "check security_definer_search_path is now called function_search_path_mutable" in r.stderr, r.stderr
    assert "write function_search_path_mutable:public.definer()" in r.stderr, r.stderr


def test_an_ignore_key_with_the_old_foreign_key_check_name_still_works(sdb):
    sdb.query("CREATE TABLE public.parent_t (id int PRIMARY KEY)")
    sdb.query("CREATE TABLE public.child_t (id int PRIMARY KEY, parent_id int CONSTRAINT child_parent "
              "REFERENCES public.parent_t)")
    key = ("unindexed_foreign_keys", "public.child_t (child_parent)")
    assert key in findings(sdb), "splinter's name"
    ignore = ["--set", 'verify.ignore=["unindexed_foreign_key:public.child_t (child_parent)"]']
    assert key not in findings(sdb, *ignore)


def test_nothing_of_the_platforms_on_a_supabase_database(new_cluster):
    import os
    from conftest import FIXTURES, MIGRATIONS, Database
    cluster = new_cluster()     # the platform's roles are the cluster's
    db = Database(cluster, cluster.create_db())
    db.execute_file(os.path.join(FIXTURES, "supabase_platform.sql"))
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    f = findings(db)
    platform = ("auth.", "storage.", "extensions.", "graphql", "realtime.", "vault.", "pgsodium", "net.",
                "supabase_", "cron.", "pgbouncer.")
    mine = {"rls_disabled_in_public", "policy_exists_rls_disabled", "rls_enabled_no_policy", "rls_policy_always_true",
            "rls_references_user_metadata", "anon_write_policy", "auth_rls_initplan", "auth_users_exposed",
            "security_definer_view", "materialized_view_in_api", "foreign_table_in_api",
            "anon_security_definer_function_executable", "authenticated_security_definer_function_executable",
            "function_search_path_mutable", "extension_in_public", "unsupported_reg_types", "fkey_to_auth_unique",
            "insecure_queue_exposed_in_api"}
    wrong = [k for k in f if k[0] in mine and k[1].startswith(platform)]
    assert wrong == [], wrong
    # and the user's own are still seen there
    db.query("CREATE VIEW public.tokens AS SELECT 1 AS n")
    db.query("GRANT SELECT ON public.tokens TO anon")
    db.query("CREATE FUNCTION public.wipe() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = '' AS ''")
    f = findings(db)
    assert ("security_definer_view", "public.tokens") in f, sorted(f)
    assert ("anon_security_definer_function_executable", "public.wipe()") in f, sorted(f)


# ---- sensitive_columns_exposed, pg_graphql_*_table_exposed -------------------

def test_sensitive_columns_exposed_only_without_row_level_security(sdb):
    sdb.query("CREATE TABLE public.accounts (id int PRIMARY KEY, email text, \"Password\" text, "
              "\"api-key\" text, api_key_hint text, tokens_used int)")
    sdb.query("GRANT SELECT ON public.accounts TO anon, authenticated")
    # near misses: the same columns behind row level security; not served
    # to the API; a column that only starts like a secret
    sdb.query("CREATE TABLE public.guarded (id int PRIMARY KEY, password text)")
    sdb.query("ALTER TABLE public.guarded ENABLE ROW LEVEL SECURITY")
    sdb.query("GRANT SELECT ON public.guarded TO anon, authenticated")
    sdb.query("CREATE TABLE public.backoffice (id int PRIMARY KEY, ssn text)")
    sdb.query("REVOKE ALL ON public.backoffice FROM anon, authenticated")
    sdb.query("CREATE TABLE public.cards (id int PRIMARY KEY, card_number text)")
    sdb.query("REVOKE ALL ON public.cards FROM anon, authenticated")
    sdb.query("GRANT SELECT ON public.cards TO authenticated")
    f = findings(sdb)
    assert of(f, "sensitive_columns_exposed") == ["public.accounts", "public.cards"], sorted(f)
    x = f[("sensitive_columns_exposed", "public.accounts")]
    assert x["level"] == "error" and x["categories"] == ["SECURITY"] and x["facing"] == "EXTERNAL", x
    assert 'its columns "Password", "api-key" look like secrets' in x["detail"], x
    assert x["detail"].endswith("to anyone with the anon key"), x
    assert "its column card_number looks like" in f[("sensitive_columns_exposed", "public.cards")]["detail"]
    assert f[("sensitive_columns_exposed", "public.cards")]["detail"].endswith("to every signed-in user")
    sdb.query(x["remedy"].split(" (")[0])
    assert "public.accounts" not in of(findings(sdb), "sensitive_columns_exposed")


# pg_graphql is not packaged for Debian's PostgreSQL: its catalog row stands
# in for it (the lint asks only whether it is installed)
FAKE_PG_GRAPHQL = ("INSERT INTO pg_catalog.pg_extension (oid, extname, extowner, extnamespace, extrelocatable, "
                   "extversion) VALUES (4000000001, 'pg_graphql', 10, 'pg_catalog'::regnamespace, false, '1.5')")


def test_pg_graphql_table_exposed_per_role_when_pg_graphql_is_installed(sdb):
    sdb.query("CREATE SCHEMA internal")       # not exposed to PostgREST: pg_graphql shows it all the same
    sdb.query("GRANT USAGE ON SCHEMA internal TO anon, authenticated")
    sdb.query("CREATE TABLE internal.notes (id int PRIMARY KEY, body text)")
    sdb.query("ALTER TABLE internal.notes ENABLE ROW LEVEL SECURITY")
    sdb.query("REVOKE ALL ON internal.notes FROM anon, authenticated")
    sdb.query("GRANT SELECT (id) ON internal.notes TO anon")               # one column is enough
    sdb.query("CREATE VIEW public.summary WITH (security_invoker = true) AS SELECT 1 AS n")
    sdb.query("REVOKE ALL ON public.summary FROM anon, authenticated")
    sdb.query("GRANT SELECT ON public.summary TO authenticated")
    sdb.query("REVOKE ALL ON public.base_marker FROM anon, authenticated")
    sdb.query("CREATE TABLE public.written_only (id int PRIMARY KEY)")     # INSERT is not SELECT
    sdb.query("REVOKE ALL ON public.written_only FROM anon, authenticated")
    sdb.query("GRANT INSERT ON public.written_only TO anon, authenticated")
    assert not [k for k in findings(sdb) if k[0].startswith("pg_graphql_")], "no pg_graphql, no finding"
    sdb.query(FAKE_PG_GRAPHQL)
    try:
        f = findings(sdb)
        assert of(f, "pg_graphql_anon_table_exposed") == ["internal.notes"], sorted(f)
        assert of(f, "pg_graphql_authenticated_table_exposed") == ["public.summary"], sorted(f)
        x = f[("pg_graphql_anon_table_exposed", "internal.notes")]
        assert x["level"] == "warn" and x["categories"] == ["SECURITY"] and x["facing"] == "EXTERNAL", x
        assert x["detail"].startswith("anon may select the table, so the GraphQL schema"), x
        assert x["remedy"].startswith("REVOKE SELECT ON internal.notes FROM anon"), x
        assert f[("pg_graphql_authenticated_table_exposed", "public.summary")]["detail"].startswith(
            "authenticated may select the view"), f
    finally:
        sdb.query("DELETE FROM pg_catalog.pg_extension WHERE extname = 'pg_graphql'")


def test_pg_graphql_remedy_revokes_what_public_was_granted(sdb):
    sdb.query('CREATE TABLE public."Shown T" (id int PRIMARY KEY)')
    sdb.query('ALTER TABLE public."Shown T" ENABLE ROW LEVEL SECURITY')
    sdb.query('REVOKE ALL ON public."Shown T" FROM anon, authenticated')
    sdb.query('GRANT SELECT ON public."Shown T" TO PUBLIC')
    sdb.query(FAKE_PG_GRAPHQL)
    try:
        key = ("pg_graphql_anon_table_exposed", 'public."Shown T"')
        x = findings(sdb)[key]
        sdb.query(x["remedy"].split(" (")[0])
        assert key not in findings(sdb), x
    finally:
        sdb.query("DELETE FROM pg_catalog.pg_extension WHERE extname = 'pg_graphql'")


# ---- near misses: a one-line change of a lint's SQL fails one of these (issue 15, item 7) ----

def test_rls_disabled_on_a_partitioned_table_and_for_a_write_only_grant(sdb):
    sdb.query("CREATE TABLE public.events (id int, at date) PARTITION BY RANGE (at)")
    sdb.query("REVOKE ALL ON public.events FROM anon, authenticated")
    sdb.query("GRANT SELECT ON public.events TO authenticated")
    # anon may only insert: still a table the API writes without row level security
    api_table(sdb, "public.drop_box", grant_to=(), rls=False)
    sdb.query("GRANT INSERT ON public.drop_box TO anon")
    f = of(findings(sdb), "rls_disabled_in_public")
    assert "public.events" in f and "public.drop_box" in f, f


def test_policies_without_rls_on_a_partitioned_table(sdb):
    sdb.query("CREATE SCHEMA private")
    sdb.query("CREATE TABLE private.log (id int, at date) PARTITION BY RANGE (at)")
    sdb.query("CREATE POLICY p ON private.log FOR SELECT USING (true)")
    sdb.query("CREATE TABLE private.guarded (id int PRIMARY KEY)")
    sdb.query("ALTER TABLE private.guarded ENABLE ROW LEVEL SECURITY")
    sdb.query("CREATE POLICY p ON private.guarded FOR SELECT USING (true)")
    assert of(findings(sdb), "policy_exists_rls_disabled") == ["private.log"]


def test_auth_rls_initplan_sees_auth_role_and_auth_email(sdb):
    api_table(sdb, "public.by_claim")
    sdb.query("CREATE POLICY by_role ON public.by_claim FOR SELECT USING (auth.role() = 'authenticated')")
    sdb.query("CREATE POLICY by_email ON public.by_claim FOR UPDATE TO authenticated "
              "USING (body = auth.email())")
    sdb.query("CREATE POLICY by_email_once ON public.by_claim FOR DELETE TO authenticated "
              "USING (body = (select auth.email()))")
    f = of(findings(sdb), "auth_rls_initplan")
    assert f == ['public.by_claim: policy "by_email"', 'public.by_claim: policy "by_role"'], f


def test_anon_write_policy_per_command_and_role_and_never_restrictive(sdb):
    api_table(sdb, "public.inbox", grant_to=("authenticated",))
    sdb.query("CREATE POLICY anon_deletes ON public.inbox FOR DELETE TO anon USING (user_id IS NULL)")
    sdb.query("CREATE POLICY anyone_inserts ON public.inbox FOR INSERT WITH CHECK (user_id IS NULL)")
    # anon may not update: the UPDATE policy cannot serve it
    sdb.query("CREATE POLICY anyone_updates ON public.inbox FOR UPDATE USING (user_id IS NULL)")
    # a restrictive policy narrows what the others let through: it lets nothing in
    sdb.query("CREATE POLICY narrowing ON public.inbox AS RESTRICTIVE FOR INSERT WITH CHECK (body <> '')")
    sdb.query("GRANT INSERT, DELETE ON public.inbox TO anon")
    got = findings(sdb)
    f = of(got, "anon_write_policy")
    assert f == ['public.inbox: policy "anon_deletes"', 'public.inbox: policy "anyone_inserts"'], f
    # "no TO clause" only of the policy that has none (or says TO public)
    assert "no TO clause" in got[("anon_write_policy", 'public.inbox: policy "anyone_inserts"')]["detail"]
    assert "no TO clause" not in got[("anon_write_policy", 'public.inbox: policy "anon_deletes"')]["detail"]


def test_rls_policy_always_true_per_command_and_expression(sdb):
    api_table(sdb, "public.board")
    sdb.query("CREATE POLICY wipe ON public.board FOR DELETE TO authenticated USING (true)")
    sdb.query("CREATE POLICY move_anywhere ON public.board FOR UPDATE TO authenticated "
              "USING ((select auth.uid()) = user_id) WITH CHECK (true)")
    sdb.query("CREATE POLICY anyone_posts ON public.board FOR INSERT WITH CHECK (true)")
    # without row level security no policy applies: that is policy_exists_rls_disabled's
    api_table(sdb, "public.loose", rls=False)
    sdb.query("CREATE POLICY open_update ON public.loose FOR UPDATE TO authenticated USING (true)")
    f = findings(sdb)
    assert of(f, "rls_policy_always_true") == ['public.board: policy "anyone_posts"',
                                               'public.board: policy "move_anywhere"',
                                               'public.board: policy "wipe"'], sorted(f)
    detail = {o: f[("rls_policy_always_true", o)]["detail"] for o in of(f, "rls_policy_always_true")}
    assert "lets every role write any row: its WITH CHECK is always true" in \
        detail['public.board: policy "anyone_posts"']
    assert "its WITH CHECK is always true" in detail['public.board: policy "move_anywhere"']
    assert "its USING is always true" in detail['public.board: policy "wipe"']


def test_rls_references_user_metadata_through_current_setting(sdb):
    api_table(sdb, "public.admin_only")
    sdb.query("CREATE POLICY by_claims ON public.admin_only FOR SELECT TO authenticated "
              "USING ((((select current_setting('request.jwt.claims', true))::jsonb -> 'user_metadata' ->> 'role')) "
              "= 'admin')")
    # with a column too, and each call the first target of its sub-SELECT
    sdb.query("CREATE POLICY own_by_claims ON public.admin_only FOR UPDATE TO authenticated "
              "USING (user_id = (select auth.uid()) AND ((select current_setting('request.jwt.claims', true))::jsonb "
              "-> 'user_metadata' ->> 'role') = 'editor')")
    sdb.query("CREATE POLICY own_by_jwt ON public.admin_only FOR DELETE TO authenticated "
              "USING (user_id = (select auth.uid()) "
              "AND ((select auth.jwt()) -> 'user_metadata' ->> 'role') = 'editor')")
    assert of(findings(sdb), "rls_references_user_metadata") == \
        ['public.admin_only: policy "by_claims"', 'public.admin_only: policy "own_by_claims"',
         'public.admin_only: policy "own_by_jwt"']


def test_exposed_views_for_one_api_role_and_every_spelling_of_security_invoker(sdb):
    def grant(obj, role):
        sdb.query("REVOKE ALL ON %s FROM anon, authenticated" % obj)
        if role:
            sdb.query("GRANT SELECT ON %s TO %s" % (obj, role))
    api_table(sdb, "public.items")
    sdb.query("CREATE VIEW public.anon_items AS SELECT id, body FROM public.items")
    grant("public.anon_items", "anon")
    for n, opt in enumerate(("security_invoker", "security_invoker = true", "security_invoker = 1",
                             "security_invoker = 'Yes'", "security_invoker = ON")):
        sdb.query("CREATE VIEW public.invoker_%d WITH (%s) AS SELECT id, body FROM public.items" % (n, opt))
        grant("public.invoker_%d" % n, "anon")
    sdb.query("CREATE VIEW public.definer_off WITH (security_invoker = off) AS SELECT id, body FROM public.items")
    grant("public.definer_off", "authenticated")
    sdb.query("CREATE VIEW public.member_emails AS SELECT id, email FROM auth.users")
    grant("public.member_emails", "authenticated")
    sdb.query("CREATE MATERIALIZED VIEW public.email_copy AS SELECT id, email FROM auth.users")
    grant("public.email_copy", "authenticated")
    sdb.query("CREATE MATERIALIZED VIEW public.counts AS SELECT 1 AS n")
    grant("public.counts", "authenticated")
    sdb.query("CREATE FOREIGN DATA WRAPPER nowhere")
    sdb.query("CREATE SERVER far FOREIGN DATA WRAPPER nowhere")
    sdb.query("CREATE FOREIGN TABLE public.remote (id int) SERVER far")
    grant("public.remote", "anon")
    f = findings(sdb)
    assert of(f, "security_definer_view") == ["public.anon_items", "public.definer_off", "public.member_emails"], \
        sorted(f)
    assert of(f, "auth_users_exposed") == ["public.email_copy", "public.member_emails"]
    assert "materialized view" in f[("auth_users_exposed", "public.email_copy")]["detail"]
    assert of(f, "materialized_view_in_api") == ["public.counts", "public.email_copy"]
    assert of(f, "foreign_table_in_api") == ["public.remote"]


def test_views_an_extension_holds_are_not_the_users(sdb):
    sdb.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp" SCHEMA public')
    sdb.query("CREATE VIEW public.ext_view AS SELECT 1 AS n")
    sdb.query("GRANT SELECT ON public.ext_view TO anon")
    sdb.query("CREATE VIEW public.my_view AS SELECT 1 AS n")
    sdb.query("GRANT SELECT ON public.my_view TO anon")
    sdb.query('ALTER EXTENSION "uuid-ossp" ADD VIEW public.ext_view')
    assert of(findings(sdb), "security_definer_view") == ["public.my_view"]


def test_function_search_path_mutable_for_a_procedure(sdb):
    sdb.query("CREATE PROCEDURE public.tidy() LANGUAGE sql AS 'SELECT 1'")
    sdb.query("CREATE PROCEDURE public.tidy_pinned() LANGUAGE sql SET search_path = '' AS 'SELECT 1'")
    assert of(findings(sdb), "function_search_path_mutable") == ["public.tidy()"]


def test_the_remedies_for_a_procedure_are_statements_postgresql_takes(sdb):
    # ALTER FUNCTION and REVOKE ... ON FUNCTION refuse a procedure
    sdb.query("CREATE PROCEDURE public.\"Tidy Up\"(n int) LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
    obj = 'public."Tidy Up"(integer)'
    f = findings(sdb)
    # reported as the advisor does, but not said to be callable through /rpc
    assert f[("anon_security_definer_function_executable", obj)]["detail"].startswith(
        "SECURITY DEFINER procedure that anon may CALL (not through /rpc"), f
    assert f[("function_search_path_mutable", obj)]["detail"].startswith("SECURITY DEFINER procedure "), f
    for check in ("function_search_path_mutable", "anon_security_definer_function_executable",
                  "authenticated_security_definer_function_executable"):
        sdb.query(f[(check, obj)]["remedy"].split(" (")[0])
    f = findings(sdb)
    assert not [k for k in f if k[1] == obj], sorted(f)


def test_unsupported_reg_types_are_the_eight_pg_upgrade_refuses(sdb):
    refused = ["regcollation", "regconfig", "regdictionary", "regnamespace", "regoper", "regoperator", "regproc",
               "regprocedure"]
    kept = ["regclass", "regtype", "regrole"]
    sdb.query("CREATE TABLE public.reg_all (id int PRIMARY KEY, %s)"
              % ", ".join("c_%s %s" % (t, t) for t in refused + kept))
    assert of(findings(sdb), "unsupported_reg_types") == sorted("public.reg_all.c_" + t for t in refused)


def test_public_bucket_not_listed_by_a_for_all_policy_without_using(sdb):
    # FOR ALL with only WITH CHECK has no USING expression: PostgreSQL adds
    # no read qualifier for it, so it lets no one select (or list) a file
    sdb.query("INSERT INTO storage.buckets (id, name, public) VALUES ('pub', 'pub', true)")
    sdb.query("CREATE POLICY upload_pub ON storage.objects FOR ALL TO anon WITH CHECK (bucket_id = 'pub')")
    assert of(findings(sdb), "public_bucket_allows_listing") == []
    sdb.query("INSERT INTO storage.objects (bucket_id, name) VALUES ('pub', 'a.png')")
    assert sdb.query("SELECT count(*) FROM storage.objects", options="-c role=anon") == [(0,)]


def test_fkey_to_a_unique_constraint_outside_auth_is_not_fkey_to_auth_unique(sdb):
    sdb.query("CREATE TABLE public.orgs (id int PRIMARY KEY, slug text CONSTRAINT orgs_slug_key UNIQUE)")
    sdb.query("CREATE TABLE public.by_slug (slug text REFERENCES public.orgs (slug))")
    assert of(findings(sdb), "fkey_to_auth_unique") == []


def test_public_bucket_listing_for_anon_a_quoted_id_and_not_restrictive(sdb):
    sdb.query("INSERT INTO storage.buckets (id, name, public) VALUES ('anon_pub', 'anon_pub', true), "
              "('it''s', 'its', true), ('narrowed', 'narrowed', true)")
    sdb.query("CREATE POLICY anon_lists ON storage.objects FOR SELECT TO anon USING (bucket_id = 'anon_pub')")
    sdb.query("CREATE POLICY quoted ON storage.objects FOR SELECT TO authenticated USING (bucket_id = 'it''s')")
    # a restrictive policy only narrows: alone it lets no one list anything
    sdb.query("CREATE POLICY narrow ON storage.objects AS RESTRICTIVE FOR SELECT USING (bucket_id = 'narrowed')")
    f = of(findings(sdb), "public_bucket_allows_listing")
    assert f == ["storage bucket anon_pub", "storage bucket it's"], f


def test_insecure_queue_only_for_queue_tables_either_api_role_may_read(sdb):
    sdb.query("CREATE SCHEMA pgmq")
    sdb.query("GRANT USAGE ON SCHEMA pgmq TO anon, authenticated")
    api_table(sdb, "pgmq.q_members", grant_to=("authenticated",), rls=False)
    api_table(sdb, "pgmq.meta", rls=False)
    f = findings(sdb, "--set", "verify.schemas=public, pgmq_public")
    assert of(f, "insecure_queue_exposed_in_api") == ["pgmq.q_members"]


def test_a_storage_table_the_platform_owns_is_not_the_users(sdb):
    sdb.query("DO $$ BEGIN CREATE ROLE supabase_storage_admin NOLOGIN; "
              "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    for t in ("storage.mine", "storage.platforms"):
        sdb.query("CREATE TABLE %s (id int PRIMARY KEY)" % t)
        sdb.query("GRANT SELECT ON %s TO authenticated" % t)
    sdb.query("ALTER TABLE storage.platforms OWNER TO supabase_storage_admin")
    f = of(findings(sdb), "rls_disabled_in_public")
    assert "storage.mine" in f and "storage.platforms" not in f, f


def test_auth_rls_initplan_says_when_only_the_advisor_sees_a_call_per_row(sdb):
    # (select auth.jwt() ->> 'aal'), as Supabase's MFA guide writes it, runs
    # once a statement; the advisor reports it all the same, and so do we
    # (a dashboard user sees it), saying so and how to satisfy the advisor
    api_table(sdb, "public.vault")
    sdb.query("CREATE POLICY mfa ON public.vault AS RESTRICTIVE FOR SELECT TO authenticated "
              "USING ((select auth.jwt() ->> 'aal') = 'aal2')")
    sdb.query("CREATE POLICY mine ON public.vault FOR SELECT TO authenticated "
              "USING ((select auth.uid()::text = user_id::text))")
    f = findings(sdb)
    assert of(f, "auth_rls_initplan") == ['public.vault: policy "mfa"', 'public.vault: policy "mine"']
    mfa = f[("auth_rls_initplan", 'public.vault: policy "mfa"')]
    assert "once per statement already" in mfa["detail"] and "advisor" in mfa["detail"], mfa
    assert "((select auth.jwt()) ->> 'aal')" in mfa["remedy"], mfa
    mine = f[("auth_rls_initplan", 'public.vault: policy "mine"')]
    assert "for every row" in mine["detail"] and "already" not in mine["detail"], mine
    # as the remedies say: nothing left
    sdb.query("ALTER POLICY mfa ON public.vault USING (((select auth.jwt()) ->> 'aal') = 'aal2')")
    sdb.query("ALTER POLICY mine ON public.vault USING ((select auth.uid())::text = user_id::text)")
    assert of(findings(sdb), "auth_rls_initplan") == []


def test_auth_rls_initplan_on_storage_lets_the_guides_select_wrapped_casts_pass(sdb):
    # Supabase's storage guides write (select auth.uid()::text): the whole
    # sub-SELECT is an init plan, run once per statement.  The advisor does
    # not look at storage at all, so nothing obliges verify to report it there
    # (in public it does, as the advisor: its test above, "inside"); a bare
    # call per row, and one inside a sub-SELECT that reads a table, still count
    sdb.query("INSERT INTO storage.buckets (id, name, public) VALUES ('docs', 'docs', false)")
    sdb.query("CREATE POLICY own_folder ON storage.objects FOR SELECT TO authenticated "
              "USING (bucket_id = 'docs' AND (select auth.uid()::text) = (storage.foldername(name))[1])")
    sdb.query("CREATE POLICY own_owner ON storage.objects FOR UPDATE TO authenticated "
              "USING (bucket_id = 'docs' AND owner::text = (select auth.uid()::text))")
    sdb.query("CREATE POLICY aal ON storage.objects AS RESTRICTIVE FOR DELETE TO authenticated "
              "USING ((select auth.jwt() ->> 'aal') = 'aal2')")
    sdb.query("CREATE POLICY bare ON storage.objects FOR INSERT TO authenticated "
              "WITH CHECK (bucket_id = 'docs' AND auth.uid()::text = (storage.foldername(name))[1])")
    sdb.query("CREATE TABLE public.members (user_id uuid, folder text)")
    sdb.query("CREATE POLICY correlated ON storage.objects FOR DELETE TO authenticated "
              "USING (EXISTS (SELECT 1 FROM public.members m WHERE m.user_id = auth.uid() "
              "AND m.folder = (storage.foldername(name))[1]))")
    sdb.query("CREATE POLICY jwt_cast ON storage.objects FOR SELECT TO authenticated "
              "USING (owner = (select (auth.jwt() ->> 'sub')::uuid))")
    # more shapes that run once a statement: a cast before ->>, a chain of
    # -> and ->>, a quoted alias, a type with a modifier
    once = {"claims": "owner = (select current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid",
            "chain": "(select auth.jwt() -> 'app_metadata' ->> 'role') = 'admin'",
            "alias": "owner::text = (select auth.uid()::text as \"user id\")",
            "typmod": "owner::text = (select auth.uid()::varchar(40))"}
    # and shapes that run once a row: the row's column inside the sub-SELECT
    # (compared with the call, as current_setting's argument, in its FROM's
    # WHERE, in its own WHERE)
    per_row = {"per_row": "(select auth.uid()::text = owner::text)",
               "setting_of_column": "(select current_setting(name, true)::uuid) = owner",
               "from_where": "(select auth.uid() from storage.buckets b where b.id = bucket_id) = owner",
               "own_where": "(select auth.uid() where owner is not null) = owner"}
    for name, expr in list(once.items()) + list(per_row.items()):
        sdb.query('CREATE POLICY "%s" ON storage.objects FOR SELECT TO authenticated USING (%s)' % (name, expr))
    f = of(findings(sdb), "auth_rls_initplan")
    want = ['storage.objects: policy "%s"' % n for n in ["bare", "correlated"] + list(per_row)]
    assert f == sorted(want), f


def test_function_search_path_mutable_remedy_says_an_empty_path_needs_qualified_names(sdb):
    # SET search_path = '' as given makes a body that names public.items as
    # "items" fail at its next call; a SQL-standard body (BEGIN ATOMIC)
    # bound its names when it was made, and the statement alone is enough
    sdb.query("CREATE TABLE public.items (id int PRIMARY KEY, org int)")
    sdb.query("CREATE FUNCTION public.item_count(o int) RETURNS bigint LANGUAGE sql STABLE "
              "AS 'SELECT count(*) FROM items WHERE org = o'")
    sdb.query("CREATE FUNCTION public.item_count_atomic(o int) RETURNS bigint LANGUAGE sql STABLE "
              "BEGIN ATOMIC SELECT count(*) FROM items WHERE org = o; END")
    f = findings(sdb)
    loose = f[("function_search_path_mutable", "public.item_count(integer)")]["remedy"]
    atomic = f[("function_search_path_mutable", "public.item_count_atomic(integer)")]["remedy"]
    assert loose.startswith("ALTER FUNCTION public.item_count(integer) SET search_path = '' (first "), loose
    assert "with its schema" in loose, loose
    assert atomic == "ALTER FUNCTION public.item_count_atomic(integer) SET search_path = ''", atomic
    # what the note warns of, and that the atomic one keeps working
    sdb.query(loose.split(" (")[0])
    sdb.query(atomic)
    assert sdb.query("SELECT public.item_count_atomic(1)") == [(0,)]
    with pytest.raises(Exception, match='relation "items" does not exist'):
        sdb.query("SELECT public.item_count(1)")
    f = findings(sdb)
    assert not [k for k in f if k[0] == "function_search_path_mutable"], sorted(f)
