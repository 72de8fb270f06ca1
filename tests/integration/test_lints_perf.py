"""The performance and role lints of src/sql/lints_perf.sql, each with the
cases that tell a right query from a near miss (an index in the other order,
a partial or invalid one, a sort order or NULLS NOT DISTINCT that differs, a
restrictive policy...), and no finding at all about the objects of the
Supabase platform (tests/fixtures/supabase_platform.sql)."""
import json
import os

import pytest

from conftest import FIXTURES, MIGRATIONS, SRCDIR, Database, run


def prepare(db, sql=""):
    """The API roles, auth and storage (the compatibility step), then sql."""
    db.execute_file(os.path.join(SRCDIR, "src", "supabase_compat.sql"))
    if sql:
        db.query(sql)


def findings(db, check=None):
    r = run(["-d", db.conninfo, "verify", "--format", "json", "--fail-on", "info"], timeout=120)
    assert r.returncode in (0, 1), r.stderr
    f = {(x["check"], x["object"]): x for x in json.loads(r.stdout)["findings"]}
    return {k: v for k, v in f.items() if check is None or k[0] == check}


def objects(db, check):
    return sorted(o for _, o in findings(db, check))


# ---- unindexed_foreign_keys ----------------------------------------------------

def test_unindexed_foreign_key_counts_only_an_index_that_starts_with_the_key(db):
    prepare(db, """
        CREATE TABLE public.parent (a int, b int, c int, PRIMARY KEY (a, b), UNIQUE (a));
        -- one table per case: (a, b) references the parent, the index varies
        CREATE TABLE public.same_order (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX ON public.same_order (a, b);
        CREATE TABLE public.other_order (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX ON public.other_order (b, a);
        CREATE TABLE public.longer (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX ON public.longer (a, b, c);
        CREATE TABLE public.first_only (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX ON public.first_only (a);
        CREATE TABLE public.not_leading (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX ON public.not_leading (c, a, b);
        CREATE TABLE public.partial (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX ON public.partial (a, b) WHERE c > 0;
        CREATE TABLE public.included (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX ON public.included (a) INCLUDE (b);
        CREATE TABLE public.invalid (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        CREATE INDEX invalid_ab ON public.invalid (a, b);
        UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.invalid_ab'::regclass;
        CREATE TABLE public.no_index (a int, b int, c int, CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES public.parent);
        -- one column: an index on it, or a primary key that starts with it
        CREATE TABLE public.single (a int REFERENCES public.parent (a), b int);
        CREATE INDEX ON public.single (a);
        CREATE TABLE public.single_pk (a int REFERENCES public.parent (a), b int, PRIMARY KEY (a, b));
        CREATE TABLE public.single_none (a int CONSTRAINT fk REFERENCES public.parent (a), b int);
        CREATE TABLE public.single_hash (a int REFERENCES public.parent (a), b int);
        CREATE INDEX ON public.single_hash USING hash (a);
        """)
    f = findings(db, "unindexed_foreign_keys")
    assert sorted(f) == [("unindexed_foreign_keys", "public.%s (fk)" % t)
                         for t in ("first_only", "included", "invalid", "no_index", "not_leading", "partial",
                                   "single_none")], sorted(f)
    one = f[("unindexed_foreign_keys", "public.no_index (fk)")]
    assert one["remedy"] == "CREATE INDEX CONCURRENTLY ON public.no_index (a, b)"
    assert "DELETE on public.parent" in one["detail"] and "(a, b)" in one["detail"], one
    # the remedy is the fix
    db.query(one["remedy"])
    assert ("unindexed_foreign_keys", "public.no_index (fk)") not in findings(db, "unindexed_foreign_keys")


def test_unindexed_foreign_keys_counts_only_a_b_tree_or_hash_index(db):
    prepare(db, """
        CREATE TABLE public.p (id int PRIMARY KEY);
        CREATE TABLE public.c (id int PRIMARY KEY, p_id int CONSTRAINT c_p REFERENCES public.p);
        CREATE INDEX c_brin ON public.c USING brin (p_id);
        """)
    # a BRIN index cannot find the referencing rows of one key
    assert objects(db, "unindexed_foreign_keys") == ["public.c (c_p)"]
    db.query("CREATE INDEX c_hash ON public.c USING hash (p_id)")
    assert objects(db, "unindexed_foreign_keys") == []


def test_unindexed_foreign_keys_remedy_on_a_partitioned_table_is_taken_as_written(db):
    # PostgreSQL refuses CREATE INDEX CONCURRENTLY on a partitioned table
    prepare(db, """
        CREATE TABLE public.p (id int PRIMARY KEY);
        CREATE TABLE public.ev (p_id int CONSTRAINT ev_p REFERENCES public.p, at date) PARTITION BY RANGE (at);
        CREATE TABLE public.ev_2026 PARTITION OF public.ev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        """)
    one = findings(db, "unindexed_foreign_keys")[("unindexed_foreign_keys", "public.ev (ev_p)")]
    assert one["remedy"] == "CREATE INDEX ON public.ev (p_id)", one
    db.query(one["remedy"])
    assert objects(db, "unindexed_foreign_keys") == []


# ---- duplicate_index ----------------------------------------------------------

def test_duplicate_index_compares_the_whole_definition(db):
    prepare(db, """
        CREATE TABLE public.t (id int PRIMARY KEY, user_id int, created_at timestamptz, name text, code text);
        -- near misses: each pair differs in one thing
        CREATE INDEX sort_asc ON public.t (user_id, created_at);
        CREATE INDEX sort_desc ON public.t (user_id, created_at DESC);
        CREATE INDEX nulls_last ON public.t (created_at DESC NULLS LAST);
        CREATE INDEX nulls_first ON public.t (created_at DESC);
        CREATE UNIQUE INDEX distinct_nulls ON public.t (code);
        CREATE UNIQUE INDEX not_distinct_nulls ON public.t (code) NULLS NOT DISTINCT;
        CREATE INDEX op_default ON public.t (name);
        CREATE INDEX op_pattern ON public.t (name text_pattern_ops);
        CREATE INDEX coll_c ON public.t (name COLLATE "C");
        CREATE INDEX pred_a ON public.t (user_id) WHERE created_at IS NULL;
        CREATE INDEX pred_b ON public.t (user_id) WHERE created_at IS NOT NULL;
        CREATE INDEX expr_lower ON public.t (lower(name));
        CREATE INDEX expr_upper ON public.t (upper(name));
        CREATE INDEX hash_name ON public.t USING hash (name);
        CREATE INDEX incl_a ON public.t (created_at) INCLUDE (name);
        CREATE INDEX incl_b ON public.t (created_at) INCLUDE (code);
        CREATE INDEX ff_default ON public.t (id, code);
        CREATE INDEX ff_50 ON public.t (id, code) WITH (fillfactor = 50);
        CREATE TABLE public.docs (id int PRIMARY KEY, body tsvector);
        CREATE INDEX siglen_100 ON public.docs USING gist (body tsvector_ops (siglen = 100));
        CREATE INDEX siglen_200 ON public.docs USING gist (body tsvector_ops (siglen = 200));
        CREATE INDEX siglen_default ON public.docs USING gist (body);
        -- true duplicates
        CREATE INDEX dup_b ON public.t (lower(name)) WHERE id > 0;
        CREATE INDEX dup_a ON public.t (lower(name)) WHERE id > 0;
        CREATE TABLE public.u (id int PRIMARY KEY, email text CONSTRAINT z_email_key UNIQUE);
        CREATE UNIQUE INDEX a_email ON public.u (email);
        CREATE INDEX siglen_100_again ON public.docs USING gist (body tsvector_ops (siglen = 100));
        """)
    f = findings(db, "duplicate_index")
    assert sorted(o for _, o in f) == ["public.a_email, public.z_email_key", "public.dup_a, public.dup_b",
                                       "public.siglen_100, public.siglen_100_again"], sorted(f)
    assert f[("duplicate_index", "public.dup_a, public.dup_b")]["remedy"] == "DROP INDEX CONCURRENTLY public.dup_b;"
    # the index that backs the constraint stays, whatever its name
    u = f[("duplicate_index", "public.a_email, public.z_email_key")]
    assert u["remedy"] == "DROP INDEX CONCURRENTLY public.a_email;", u
    for key in f:
        db.query(f[key]["remedy"])
    assert findings(db, "duplicate_index") == {}
    assert db.query("SELECT count(*) FROM pg_constraint WHERE conname = 'z_email_key'") == [(1,)]


# ---- redundant_index ----------------------------------------------------------

def test_redundant_index_is_a_plain_prefix_of_another_and_never_a_constraint(db):
    prepare(db, """
        CREATE TABLE public.creds (id int PRIMARY KEY, user_id int UNIQUE NOT NULL, expires_at timestamptz);
        CREATE INDEX idx_creds_user ON public.creds (user_id);                -- the seed's zoom case
        CREATE TABLE public.m (id int PRIMARY KEY, a int, b int, c text, UNIQUE (a, b));
        CREATE INDEX m_a ON public.m (a);                                     -- prefix of UNIQUE (a, b)
        CREATE INDEX m_b ON public.m (b);                                     -- not a prefix
        CREATE INDEX m_c_pattern ON public.m (c text_pattern_ops);
        CREATE INDEX m_c_b ON public.m (c, b);                                -- other operator class
        CREATE INDEX m_b_desc ON public.m (b DESC, a);
        CREATE INDEX m_b_partial ON public.m (b) WHERE a > 0;                 -- partial, the other is not
        CREATE INDEX m_a_hash ON public.m USING hash (a);                     -- not a b-tree
        CREATE INDEX m_c_b_a ON public.m (c, b, a);                           -- m_c_b is covered by it
        """)
    f = findings(db, "redundant_index")
    assert sorted(o for _, o in f) == ["public.idx_creds_user", "public.m_a", "public.m_c_b"], sorted(f)
    zoom = f[("redundant_index", "public.idx_creds_user")]
    assert zoom["remedy"] == "DROP INDEX CONCURRENTLY public.idx_creds_user", zoom
    assert "creds_user_id_key" in zoom["detail"], zoom
    assert f[("redundant_index", "public.m_a")]["level"] == "warn"
    for key in f:
        db.query(f[key]["remedy"])
    assert findings(db, "redundant_index") == {}
    # the constraints are all still there
    assert db.query("SELECT count(*) FROM pg_constraint WHERE contype IN ('p', 'u') "
                    "AND conrelid IN ('public.creds'::regclass, 'public.m'::regclass)") == [(4,)]


# ---- invalid_index, no_primary_key --------------------------------------------

def test_invalid_index_and_no_primary_key(db):
    prepare(db, """
        CREATE TABLE public.keyed (id int PRIMARY KEY);
        CREATE TABLE public.unique_only (id int NOT NULL UNIQUE);
        CREATE TABLE public.bare (x int);
        CREATE INDEX broken ON public.bare (x);
        UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.broken'::regclass;
        CREATE TABLE public.parted (d date, x int) PARTITION BY RANGE (d);
        CREATE TABLE public.parted_2026 PARTITION OF public.parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        CREATE TABLE public.parted_pk (d date PRIMARY KEY) PARTITION BY RANGE (d);
        CREATE TABLE public.parted_pk_2026 PARTITION OF public.parted_pk
            FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        CREATE MATERIALIZED VIEW public.mv AS SELECT 1 AS x;
        """)
    f = findings(db)
    assert objects(db, "invalid_index") == ["public.broken"]
    assert f[("invalid_index", "public.broken")]["level"] == "error"
    assert sorted(o for c, o in f if c == "no_primary_key") == ["public.bare", "public.parted", "public.unique_only"]
    assert f[("no_primary_key", "public.bare")]["level"] == "info"


def test_no_primary_key_remedy_for_a_table_that_has_an_id_column(db):
    # ADD COLUMN id fails on a table that has one: the remedy makes that id the key
    prepare(db, """CREATE TABLE public."Has Id" (id uuid NOT NULL DEFAULT gen_random_uuid(), v int);
                   INSERT INTO public."Has Id" (v) VALUES (1), (2)""")
    x = findings(db, "no_primary_key")[("no_primary_key", 'public."Has Id"')]
    db.query(x["remedy"].split(", once")[0])
    assert not findings(db, "no_primary_key"), x


def test_invalid_index_remedy_gives_the_definition_to_make_it_again(db):
    # once dropped, the definition is gone: the remedy keeps it
    prepare(db, """CREATE TABLE public."Codes" (code text); INSERT INTO public."Codes" VALUES ('a'), ('A')""")
    with pytest.raises(Exception, match="could not create unique index"):
        db.query("""CREATE UNIQUE INDEX CONCURRENTLY "Codes Uniq" ON public."Codes" (lower(code)) WHERE code <> ''""")
    db.query("""DELETE FROM public."Codes" WHERE code = 'A'""")
    x = findings(db, "invalid_index")[("invalid_index", 'public."Codes Uniq"')]
    assert x["remedy"].startswith('DROP INDEX CONCURRENTLY public."Codes Uniq"; then create it again: '), x
    drop, again = x["remedy"].split("; then create it again: ")
    db.query(drop)
    db.query(again)
    assert not findings(db, "invalid_index")
    assert db.query("""SELECT indisunique, indisvalid, pg_get_expr(indpred, indrelid) FROM pg_index
                       WHERE indexrelid = 'public."Codes Uniq"'::regclass""") == [(True, True, "(code <> ''::text)")]


def test_an_invalid_partitioned_index_names_the_partitions_it_lacks(db):
    """A partitioned index made ON ONLY the table is invalid until every
    partition's index is attached; it cannot be dropped or made again
    CONCURRENTLY, so the remedy says what to attach."""
    prepare(db, """
        CREATE TABLE public.events (id int, at date) PARTITION BY RANGE (id);
        CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM (0) TO (10);
        CREATE TABLE public."events 2" PARTITION OF public.events FOR VALUES FROM (10) TO (20);
        CREATE TABLE public.events_3 PARTITION OF public.events FOR VALUES FROM (20) TO (30);
        CREATE INDEX events_at ON ONLY public.events (at);
        CREATE INDEX events_1_at ON public.events_1 (at);
        ALTER INDEX public.events_at ATTACH PARTITION public.events_1_at;
        """)
    x = findings(db, "invalid_index")[("invalid_index", "public.events_at")]
    assert 'public."events 2", public.events_3 has no index attached' in x["detail"], x
    assert x["remedy"] == ('on public."events 2", public.events_3, CREATE INDEX CONCURRENTLY the same index and '
                           'ALTER INDEX public.events_at ATTACH PARTITION it (valid once every partition\'s is '
                           'attached); or DROP INDEX public.events_at'), x
    assert "CONCURRENTLY public.events_at" not in x["remedy"]
    # done as it says, the index is valid and the finding goes
    for n, part in ((2, 'public."events 2"'), (3, "public.events_3")):
        db.query("CREATE INDEX CONCURRENTLY events_%d_at ON %s (at)" % (n, part))
        db.query("ALTER INDEX public.events_at ATTACH PARTITION public.events_%d_at" % n)
    assert findings(db, "invalid_index") == {}
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.events_at'::regclass") == [(True,)]


# ---- table_bloat ----------------------------------------------------------------

def test_table_bloat_only_for_much_dead_space_by_the_statistics(db):
    prepare(db, """
        -- some 35 MB of rows of about 100 bytes, then all but one row in 80
        -- deleted: every page keeps a row, so VACUUM gives nothing back
        CREATE TABLE public.events (id int PRIMARY KEY, body text);
        INSERT INTO public.events SELECT g, repeat('x', 90) FROM generate_series(1, 300000) g;
        DELETE FROM public.events WHERE id % 80 <> 0;
        -- near misses: as large, all of it live; as bloated but small;
        -- sparse by its own fillfactor
        CREATE TABLE public.live (id int PRIMARY KEY, body text);
        INSERT INTO public.live SELECT g, repeat('x', 90) FROM generate_series(1, 300000) g;
        CREATE TABLE public.small (id int PRIMARY KEY, body text);     -- 23 MB, 4 in 5 rows dead: 19 MB
        INSERT INTO public.small SELECT g, repeat('x', 90) FROM generate_series(1, 180000) g;
        DELETE FROM public.small WHERE id % 5 <> 0;
        CREATE TABLE public.sparse (id int PRIMARY KEY, body text) WITH (fillfactor = 10);
        INSERT INTO public.sparse SELECT g, repeat('x', 90) FROM generate_series(1, 30000) g;
        -- and 35 MB of dead space, but only half of the table
        CREATE TABLE public.half (id int PRIMARY KEY, body text);
        INSERT INTO public.half SELECT g, repeat('x', 90) FROM generate_series(1, 600000) g;
        DELETE FROM public.half WHERE id % 2 = 0;
        """)
    db.query("VACUUM ANALYZE public.events, public.live, public.small, public.sparse, public.half")
    f = findings(db, "table_bloat")
    assert sorted(o for _, o in f) == ["public.events"], sorted(f)
    x = f[("table_bloat", "public.events")]
    assert x["level"] == "info" and x["categories"] == ["PERFORMANCE"], x
    assert x["detail"].startswith("the table takes 3") and "where its 3750 rows need about" in x["detail"], x
    assert x["remedy"].startswith("VACUUM FULL public.events (it locks the table"), x
    db.query("VACUUM FULL public.events")
    db.query("ANALYZE public.events")
    assert findings(db, "table_bloat") == {}


# ---- multiple_permissive_policies ---------------------------------------------

def test_multiple_permissive_policies_per_role_and_action(db):
    prepare(db, """
        CREATE TABLE public.t (id int PRIMARY KEY, owner uuid, shared boolean);
        ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;
        -- two permissive SELECT policies for authenticated: one of them is FOR ALL
        CREATE POLICY own ON public.t FOR ALL TO authenticated USING (owner = (SELECT auth.uid()));
        CREATE POLICY shared ON public.t FOR SELECT TO anon, authenticated USING (shared);
        -- restrictive policies do not add up; service_role bypasses row level security
        CREATE POLICY limit_rows ON public.t AS RESTRICTIVE FOR SELECT TO authenticated USING (id > 0);
        CREATE POLICY svc_a ON public.t FOR SELECT TO service_role USING (true);
        CREATE POLICY svc_b ON public.t FOR SELECT TO service_role USING (true);
        -- one policy per role is fine
        CREATE TABLE public.one_each (id int PRIMARY KEY);
        ALTER TABLE public.one_each ENABLE ROW LEVEL SECURITY;
        CREATE POLICY a ON public.one_each FOR SELECT TO anon USING (true);
        CREATE POLICY b ON public.one_each FOR SELECT TO authenticated USING (true);
        CREATE POLICY c ON public.one_each FOR INSERT TO authenticated WITH CHECK (true);
        -- no TO clause: the policy is for every role, anon and authenticated among them
        CREATE TABLE public.everyone (id int PRIMARY KEY);
        ALTER TABLE public.everyone ENABLE ROW LEVEL SECURITY;
        CREATE POLICY all_roles ON public.everyone FOR UPDATE USING (true);
        CREATE POLICY members ON public.everyone FOR UPDATE TO authenticated USING (true);
        """)
    f = findings(db, "multiple_permissive_policies")
    assert sorted(o for _, o in f) == ["public.everyone: UPDATE for authenticated",
                                       "public.t: SELECT for authenticated"], sorted(f)
    x = f[("multiple_permissive_policies", "public.t: SELECT for authenticated")]
    assert x["level"] == "warn" and '"own", "shared"' in x["detail"], x


# ---- unused_index -------------------------------------------------------------

def test_unused_index_only_when_the_statistics_are_old_enough(db):
    prepare(db, """
        CREATE TABLE public.parent (id int PRIMARY KEY);
        CREATE TABLE public.t (id int PRIMARY KEY, a int, b int, code text UNIQUE,
                               parent_id int REFERENCES public.parent);
        CREATE INDEX t_a ON public.t (a);
        CREATE INDEX t_b ON public.t (b);
        CREATE INDEX t_parent ON public.t (parent_id);
        INSERT INTO public.t (id, a, b) SELECT g, g, g FROM generate_series(1, 1000) g;
        ANALYZE public.t;
        """)
    # t_b is used once (the session ends, so its counters reach the statistics)
    db.query("SET enable_seqscan = off; SELECT count(*) FROM public.t WHERE b = 5")
    # a cluster started a moment ago: its counters mean nothing yet
    assert objects(db, "unused_index") == []
    # the age is a setting (7 days unless set): with 0 days, the counters count
    db.query("ALTER DATABASE %s SET momentum_maintd.unused_index_min_days = 0" % db.name)
    f = findings(db, "unused_index")
    # not t_b (used), not the primary key or the unique index, not t_parent
    # (the foreign key needs it)
    assert sorted(o for _, o in f) == ["public.t_a"], sorted(f)
    x = f[("unused_index", "public.t_a")]
    since = db.query("SELECT to_char(greatest(stats_reset, pg_postmaster_start_time()) AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD HH24:MI') FROM pg_stat_database WHERE datname = current_database()")[0][0]
    assert x["level"] == "info" and ("since %s UTC" % since) in x["detail"] and "(0 days ago)" in x["detail"], x
    db.query("ALTER DATABASE %s SET momentum_maintd.unused_index_min_days = 1" % db.name)
    assert objects(db, "unused_index") == []


def test_unused_index_is_no_older_than_the_last_migration_run(db):
    """Without commit timestamps an index's own age is unknown: one that a
    migration made counts from the last migration run, not from a server
    start or statistics reset that may be weeks older (before: every index
    of the shipped migrations was reported on a server up for 7 days)."""
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    db.query("ALTER DATABASE %s SET momentum_maintd.unused_index_min_days = 0" % db.name)
    assert "public.idx_zoom_credentials_expires" in objects(db, "unused_index")
    # the last run as if it were later than now: no index may be older than it
    db.query("UPDATE momentum_maintd.schema_migrations SET applied_at = now() + interval '2 days' "
             "WHERE version = (SELECT max(version) FROM momentum_maintd.schema_migrations)")
    assert objects(db, "unused_index") == []


def test_partitioned_indexes_are_compared_as_one_and_dropped_without_concurrently(db):
    """A partition's part of a partitioned index is not an index to drop on
    its own ("cannot drop index pt1_a_idx because index pt_a requires it"),
    and a partitioned index cannot be dropped CONCURRENTLY."""
    prepare(db, """
        CREATE TABLE public.pt (id int, a int, b int) PARTITION BY RANGE (id);
        CREATE TABLE public.pt1 PARTITION OF public.pt FOR VALUES FROM (0) TO (100);
        CREATE TABLE public.pt2 PARTITION OF public.pt FOR VALUES FROM (100) TO (200);
        CREATE INDEX pt_a ON public.pt (a);
        CREATE INDEX pt_ab ON public.pt (a, b);
        CREATE INDEX pt_b1 ON public.pt (b);
        CREATE INDEX pt_b2 ON public.pt (b);
        """)
    f = findings(db)
    redundant = {o: x["remedy"] for (c, o), x in f.items() if c == "redundant_index"}
    assert redundant == {"public.pt_a": "DROP INDEX public.pt_a"}, redundant
    dup = {o: x["remedy"] for (c, o), x in f.items() if c == "duplicate_index"}
    assert dup == {"public.pt_b1, public.pt_b2": "DROP INDEX public.pt_b2;"}, dup
    # each remedy works as given
    db.query(redundant["public.pt_a"])
    db.query(dup["public.pt_b1, public.pt_b2"])
    # unused: a partition's part names the partitioned index to drop
    db.query("ALTER DATABASE %s SET momentum_maintd.unused_index_min_days = 0" % db.name)
    unused = {o: x["remedy"] for (c, o), x in findings(db).items() if c == "unused_index"}
    part = [o for o in unused if o.startswith("public.pt1_")]
    assert part and all("DROP INDEX public.pt_" in unused[o] and "not CONCURRENTLY" in unused[o] for o in part), unused


# ---- rls_disabled_in_public (lints.sql): either API role counts ---------------

def test_rls_disabled_in_public_when_only_authenticated_may_use_the_table(db):
    prepare(db, """
        CREATE TABLE public.members_only (id int PRIMARY KEY);
        REVOKE ALL ON public.members_only FROM anon, authenticated;
        GRANT SELECT ON public.members_only TO authenticated;
        CREATE TABLE public.anon_only (id int PRIMARY KEY);
        REVOKE ALL ON public.anon_only FROM anon, authenticated;
        GRANT SELECT ON public.anon_only TO anon;
        CREATE TABLE public.internal (id int PRIMARY KEY);
        REVOKE ALL ON public.internal FROM anon, authenticated;
        """)
    assert objects(db, "rls_disabled_in_public") == ["public.anon_only", "public.members_only"]


# ---- bypassrls_role and the platform ------------------------------------------

PERF_CHECKS = ("unindexed_foreign_keys", "duplicate_index", "redundant_index", "invalid_index", "unused_index",
               "no_primary_key", "multiple_permissive_policies", "bypassrls_role")
PLATFORM_SCHEMAS = ("auth.", "storage.", "extensions.", "pgbouncer.", "graphql_public.", "realtime.")
PLATFORM_ROLES = ("supabase_admin", "supabase_read_only_user", "supabase_auth_admin", "supabase_storage_admin",
                  "supabase_replication_admin", "supabase_functions_admin", "dashboard_user", "pgbouncer",
                  "authenticator", "service_role", "anon", "authenticated", "postgres")


def test_nothing_about_the_platforms_objects_on_a_supabase_database(new_cluster):
    # roles are the cluster's: a cluster of this test's own
    cluster = new_cluster()
    db = Database(cluster, cluster.create_db())
    db.execute_file(os.path.join(FIXTURES, "supabase_platform.sql"))
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    # what the platform has that a linter would report if it did not know it
    assert db.query("SELECT rolbypassrls FROM pg_roles WHERE rolname = 'supabase_read_only_user'") == [(True,)]
    assert db.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
                    "('storage.s3_multipart_uploads_parts'::regclass, 'storage.iceberg_tables'::regclass, "
                    "'storage.vector_indexes'::regclass, 'auth.mfa_challenges'::regclass)") == [(6,)]
    # the user's own, of every kind: still reported
    db.query("""
        DO $$ BEGIN CREATE ROLE app_reader NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        CREATE TABLE public.notes (id int PRIMARY KEY, user_id uuid REFERENCES auth.users);
        CREATE TABLE public.bare (x int);
        -- a table the platform's role owns, and one an extension holds, are not the user's
        CREATE TABLE public.platform_owned (x int, user_id uuid REFERENCES auth.users);
        ALTER TABLE public.platform_owned OWNER TO supabase_storage_admin;
        CREATE TABLE public.extension_member (x int, user_id uuid REFERENCES auth.users);
        ALTER EXTENSION pgcrypto ADD TABLE public.extension_member;
        """)
    f = findings(db)
    keys = sorted(f)
    for check, obj in keys:
        assert not obj.startswith(PLATFORM_SCHEMAS), (check, obj, f[(check, obj)])
        if check == "bypassrls_role":
            assert obj not in PLATFORM_ROLES, (check, obj)
    assert ("bypassrls_role", "app_reader") in f, keys
    assert ("unindexed_foreign_keys", "public.notes (notes_user_id_fkey)") in f, keys
    assert ("no_primary_key", "public.bare") in f, keys
    for obj in ("public.platform_owned", "public.extension_member"):
        assert not [k for k in keys if k[1].startswith(obj) and k[0] in PERF_CHECKS], keys
    # the only findings were the user's: without them, after every shipped
    # migration, nothing at all (what 005 fixed included)
    db.query("DROP ROLE app_reader; ALTER EXTENSION pgcrypto DROP TABLE public.extension_member; "
             "DROP TABLE public.notes, public.bare, public.platform_owned, public.extension_member")
    r = run(["-d", db.conninfo, "verify", "--fail-on", "info"], timeout=120)
    assert r.returncode == 0 and "no findings" in r.stdout, (r.stdout, r.stderr)


def test_an_invalid_partitioned_index_over_a_foreign_partition(db):
    """A foreign partition can have no index: an index made ON ONLY the
    table never becomes valid, whatever is attached; made again without
    ONLY, it skips the foreign partition."""
    prepare(db, """
        CREATE FOREIGN DATA WRAPPER dummy;
        CREATE SERVER srv FOREIGN DATA WRAPPER dummy;
        CREATE TABLE public.ev (id int, at date) PARTITION BY RANGE (id);
        CREATE TABLE public.ev_1 PARTITION OF public.ev FOR VALUES FROM (0) TO (10);
        CREATE FOREIGN TABLE public.ev_far PARTITION OF public.ev FOR VALUES FROM (10) TO (20) SERVER srv;
        CREATE INDEX ev_at ON ONLY public.ev (at);
        CREATE INDEX ev_1_at ON public.ev_1 (at);
        ALTER INDEX public.ev_at ATTACH PARTITION public.ev_1_at;
        """)
    # what the remedy asks cannot be done, and the index stays invalid
    with pytest.raises(Exception, match="cannot create index on"):
        db.query("CREATE INDEX ON public.ev_far (at)")
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.ev_at'::regclass") == [(False,)]
    x = findings(db, "invalid_index")[("invalid_index", "public.ev_at")]
    assert "cannot become valid: public.ev_far is a foreign table" in x["detail"], x
    assert x["remedy"].startswith("DROP INDEX public.ev_at; then CREATE INDEX it again without ONLY"), x
    # done: valid, and no finding
    db.query("DROP INDEX public.ev_at; CREATE INDEX ev_at ON public.ev (at)")
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.ev_at'::regclass") == [(True,)]
    assert not findings(db, "invalid_index")


# ---- near misses: a one-line change of a lint's SQL fails one of these (issue 15, item 7) ----

def test_unindexed_foreign_key_of_a_partitioned_table_is_reported_once(db):
    prepare(db, """
        CREATE TABLE public.owners (id int PRIMARY KEY);
        CREATE TABLE public.pets (id int, owner_id int CONSTRAINT fk REFERENCES public.owners) PARTITION BY RANGE (id);
        CREATE TABLE public.pets_1 PARTITION OF public.pets FOR VALUES FROM (0) TO (10);
        """)
    assert objects(db, "unindexed_foreign_keys") == ["public.pets (fk)"]


def test_duplicate_index_near_misses_of_uniqueness_key_columns_and_constraints(db):
    prepare(db, """
        CREATE TABLE public.t (id int PRIMARY KEY, a int, b int, c int, d int, e int);
        CREATE UNIQUE INDEX a_unique ON public.t (a);
        CREATE INDEX a_plain ON public.t (a);
        CREATE INDEX b_c ON public.t (b, c);
        CREATE INDEX b_incl_c ON public.t (b) INCLUDE (c);
        ALTER TABLE public.t ADD CONSTRAINT d_deferred UNIQUE (d) DEFERRABLE INITIALLY DEFERRED;
        CREATE UNIQUE INDEX d_now ON public.t (d);
        ALTER TABLE public.t ADD CONSTRAINT e_excl EXCLUDE USING btree (e WITH =);
        CREATE INDEX e_plain ON public.t (e);
        CREATE INDEX c_valid ON public.t (c);
        CREATE INDEX c_invalid ON public.t (c);
        UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.c_invalid'::regclass;
        CREATE MATERIALIZED VIEW public.mv AS SELECT 1 AS x;
        CREATE INDEX mv_a ON public.mv (x);
        CREATE INDEX mv_b ON public.mv (x);
        """)
    f = findings(db)
    assert sorted(o for c, o in f if c == "duplicate_index") == ["public.mv_a, public.mv_b"], sorted(f)
    # what one serves, the other does too: redundant, not the same index
    assert sorted(o for c, o in f if c == "redundant_index") == ["public.a_plain", "public.e_plain"], sorted(f)


def test_duplicate_index_of_two_constraints_says_so(db):
    prepare(db, """
        CREATE TABLE public.w (id int PRIMARY KEY, code text UNIQUE);
        ALTER TABLE public.w ADD CONSTRAINT w_id_key UNIQUE (id);
        CREATE UNIQUE INDEX w_code ON public.w (code);
        """)
    f = findings(db, "duplicate_index")
    both = f[("duplicate_index", "public.w_id_key, public.w_pkey")]
    assert "2 of them back constraints (w_id_key; w_pkey)" in both["detail"], both
    assert both["remedy"] == "drop the extra constraints: every one of these indexes backs one", both
    one = f[("duplicate_index", "public.w_code, public.w_code_key")]
    assert "back constraints" not in one["detail"] and one["remedy"] == "DROP INDEX CONCURRENTLY public.w_code;", one


def test_redundant_index_near_misses(db):
    prepare(db, """
        CREATE TABLE public.r (id int PRIMARY KEY, a int, b int, c text, x int, y int, z int);
        -- a unique index is a constraint in all but name
        CREATE UNIQUE INDEX a_unique ON public.r (a);
        CREATE INDEX a_b ON public.r (a, b);
        -- an expression is not the column of the same position
        CREATE INDEX lower_c ON public.r (lower(c));
        CREATE INDEX upper_c_b ON public.r (upper(c), b);
        -- INCLUDE columns serve index-only scans the longer key does not
        CREATE INDEX x_incl_y ON public.r (x) INCLUDE (y);
        CREATE INDEX x_z ON public.r (x, z);
        -- the longer index is invalid, or partial while the shorter is not
        CREATE INDEX y_only ON public.r (y);
        CREATE INDEX y_z_invalid ON public.r (y, z);
        UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.y_z_invalid'::regclass;
        CREATE INDEX z_only ON public.r (z);
        CREATE INDEX z_b_partial ON public.r (z, b) WHERE a > 0;
        -- another collation
        CREATE INDEX c_plain ON public.r (c);
        CREATE INDEX c_c_b ON public.r (c COLLATE "C", b);
        -- the same key with INCLUDE columns serves all the plain one does
        CREATE TABLE public.s (id int PRIMARY KEY, k int, v int);
        CREATE INDEX k_plain ON public.s (k);
        CREATE INDEX k_incl_v ON public.s (k) INCLUDE (v);
        """)
    assert objects(db, "redundant_index") == ["public.k_plain"]


def test_unused_index_near_misses(db):
    prepare(db, """
        CREATE TABLE public.parent (id int PRIMARY KEY, a int, b int, UNIQUE (a, b));
        CREATE TABLE public.t (id int PRIMARY KEY, p int REFERENCES public.parent, q int REFERENCES public.parent,
                               a int, b int, c int CHECK (c > 0), u int,
                               FOREIGN KEY (a, b) REFERENCES public.parent (a, b));
        -- not what the foreign keys look rows up with: unused
        CREATE INDEX p_partial ON public.t (p) WHERE p > 0;
        CREATE INDEX q_brin ON public.t USING brin (q);
        CREATE INDEX c_checked ON public.t (c);
        -- what the two-column foreign key needs (a longer key serves it)
        CREATE INDEX a_b_id ON public.t (a, b, id);
        -- a unique index enforces, and an invalid one is invalid_index's
        CREATE UNIQUE INDEX u_unique ON public.t (u);
        CREATE INDEX u_invalid ON public.t (u);
        UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.u_invalid'::regclass;
        """)
    db.query("ALTER DATABASE %s SET momentum_maintd.unused_index_min_days = 0" % db.name)
    assert objects(db, "unused_index") == ["public.c_checked", "public.p_partial", "public.q_brin"]


def test_multiple_permissive_policies_for_public_leave_out_pg_and_platform_roles(db):
    prepare(db, """
        DO $$ BEGIN CREATE ROLE authenticator NOINHERIT LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        CREATE TABLE public.open (id int PRIMARY KEY);
        ALTER TABLE public.open ENABLE ROW LEVEL SECURITY;
        CREATE POLICY one ON public.open FOR SELECT USING (id > 0);
        CREATE POLICY two ON public.open FOR SELECT USING (id < 100);
        -- a restrictive policy is no second one
        CREATE POLICY members_add ON public.open FOR INSERT TO authenticated WITH CHECK (id > 0);
        CREATE POLICY members_narrow ON public.open AS RESTRICTIVE FOR INSERT TO authenticated WITH CHECK (id < 100);
        """)
    got = objects(db, "multiple_permissive_policies")
    assert "public.open: INSERT for authenticated" not in got, got
    assert "public.open: SELECT for anon" in got and "public.open: SELECT for authenticated" in got, got
    wrong = [o for o in got if o.split(" for ")[1].startswith(("pg_", "authenticator", "service_role", "supabase"))]
    assert wrong == [], wrong


def test_bypassrls_role_leaves_out_the_roles_supautils_reserves(db):
    prepare(db)
    name, su = "reserved_%d" % os.getpid(), "superuser_%d" % os.getpid()
    db.query("CREATE ROLE %s NOLOGIN BYPASSRLS" % name)
    db.query("CREATE ROLE %s NOLOGIN SUPERUSER BYPASSRLS" % su)
    try:
        got = objects(db, "bypassrls_role")
        assert name in got and su not in got, got
        db.query("ALTER DATABASE %s SET supautils.reserved_roles = 'other, %s*'" % (db.name, name))
        assert name not in objects(db, "bypassrls_role")
    finally:
        db.query("DROP ROLE %s, %s" % (name, su))
