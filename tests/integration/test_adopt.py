"""migrate adopt FROM: a database that the Supabase CLI, dbmate,
golang-migrate or Flyway kept.  Each tool's tracking table is built with the
DDL the tool itself runs (read from its source: supabase/cli
pkg/migration/history.go, dbmate's postgres driver, golang-migrate's
database/postgres, Flyway's createMetaDataTable.sql for PostgreSQL), the
files are applied with psql as the tool would, and the tool's rows are
written as it writes them.  Then adopt records them, `migrate status` shows
them applied and `migrate up` applies only the newer files.  Every refusal
leaves both trackings as they were."""
import json
import os
import zlib

from conftest import run

# ---- the tools' own tracking ----------------------------------------------------

SUPABASE_DDL = [
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
]
DBMATE_DDL = ["create table if not exists public.schema_migrations (version varchar(128) primary key)"]
GOLANG_MIGRATE_DDL = ["CREATE TABLE IF NOT EXISTS public.schema_migrations "
                      "(version bigint not null primary key, dirty boolean not null)"]
FLYWAY_DDL = [
    'CREATE TABLE "public"."flyway_schema_history" ("installed_rank" INT NOT NULL, "version" VARCHAR(50), '
    '"description" VARCHAR(200) NOT NULL, "type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, '
    '"checksum" INTEGER, "installed_by" VARCHAR(100) NOT NULL, '
    '"installed_on" TIMESTAMP NOT NULL DEFAULT now(), "execution_time" INTEGER NOT NULL, '
    '"success" BOOLEAN NOT NULL)',
    'ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" '
    'PRIMARY KEY ("installed_rank")',
    'CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success")',
]

# three migrations: the tools applied the first two, the third is new
USERS = "-- the users\ncreate table users (id bigint primary key, email text);\ncreate index users_email on users (email);\n"
FN = ("create function touch() returns trigger language plpgsql as $$\nbegin\n"
      "  new.email := lower(new.email);\n  return new;\nend $$;\n"
      "create trigger users_touch before insert on users for each row execute function touch();\n")
POSTS = "create table posts (id bigint primary key, user_id bigint references users);\n"
# how the Supabase CLI splits and records them (parser.SplitAndTrim):
# cut at each ";" outside quotes, the ";" dropped, white space trimmed,
# comments kept with the statement they precede
USERS_STATEMENTS = ["-- the users\ncreate table users (id bigint primary key, email text)",
                    "create index users_email on users (email)"]
FN_STATEMENTS = [FN.split(";\ncreate trigger")[0].strip(), FN.split(";\n")[-2].strip()]


def adopt(db, mdir, tool, *extra):
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "adopt", tool] + list(extra))


def status(db, mdir):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "status", "--format", "json"])
    return {m["name"]: m["state"] for m in json.loads(r.stdout)["migrations"]}


def up(db, mdir):
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])


def tracked(db):
    """The daemon's tracking: (version, name, checksum, applied_by) rows, or None without it."""
    if db.query("SELECT to_regclass('momentum_maintd.schema_migrations')") == [(None,)]:
        return None
    return db.query("SELECT version, name, checksum, applied_by FROM momentum_maintd.schema_migrations ORDER BY 1")


def snapshot(db, table):
    """Both trackings, to compare before and after a refusal."""
    rows = db.query("SELECT to_regclass(%s)::text", (table,))[0][0]
    tool = db.query("SELECT row_to_json(t)::text FROM %s t ORDER BY 1" % table) if rows else None
    return tool, tracked(db)


def write(tmp_path, files, sub="migrations"):
    d = tmp_path / sub
    d.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (d / name).write_text(sql)
    return str(d)


def psql_apply(db, path):
    db.cluster.psql(db.name, file=path)


def check_adopted(db, mdir, tool, applied, pending):
    """adopt records applied, status agrees, migrate up runs only pending; a
    second adopt is a no-op that says so."""
    r = adopt(db, mdir, tool)
    assert r.returncode == 0, r.stderr
    for name in applied:
        assert "recorded %s as applied (adopted from %s, not run)" % (name, tool) in r.stdout
    rows = tracked(db)
    assert [n for _, n, _, _ in rows] == applied
    assert all(by.endswith("(adopted from %s)" % tool) for _, _, _, by in rows)
    st = status(db, mdir)
    assert [st[n] for n in applied] == ["applied"] * len(applied), st
    assert [st[n] for n in pending] == ["pending"] * len(pending), st
    again = adopt(db, mdir, tool)
    assert again.returncode == 0, again.stderr
    assert "nothing to adopt: the %d migration(s) %s applied are already recorded" % (len(applied), tool) \
        in again.stdout
    assert tracked(db) == rows
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert "%d migration(s) applied, %d applied in all" % (len(pending), len(applied) + len(pending)) in r.stdout
    assert set(status(db, mdir).values()) == {"applied"}


def refused(db, mdir, tool, table, *needles):
    before = snapshot(db, table)
    r = adopt(db, mdir, tool)
    assert r.returncode == 65, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.replace('\\"', '"')   # logfmt escapes the quotes of a message
    for n in needles:
        assert n in err, r.stderr
    assert "nothing changed" in r.stderr
    assert snapshot(db, table) == before
    return r


# ---- the Supabase CLI ---------------------------------------------------------------

SUPA_FILES = {"20240101000000_users.sql": USERS, "20240102000000_touch.sql": FN, "20240103000000_posts.sql": POSTS}


def supabase_project(db, tmp_path, files=SUPA_FILES, applied=2):
    """supabase/migrations as the CLI lays it out, the first files applied and recorded."""
    mdir = write(tmp_path, files, "supabase/migrations")
    for stmt in SUPABASE_DDL:
        db.query(stmt)
    recorded = {"20240101000000": USERS_STATEMENTS, "20240102000000": FN_STATEMENTS}
    for f in sorted(files)[:applied]:
        psql_apply(db, os.path.join(mdir, f))
        version, name = f[:-4].split("_", 1)
        db.query("INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES (%s, %s, %s)",
                 (version, name, recorded[version]))
    return mdir


def test_supabase_cli_project_is_adopted_unchanged(db, tmp_path):
    mdir = supabase_project(db, tmp_path)
    dry = adopt(db, mdir, "supabase", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would record 20240101000000_users as applied" in dry.stdout
    assert "would record 20240102000000_touch as applied" in dry.stdout
    assert "20240103000000_posts" not in dry.stdout
    assert tracked(db) is None, "a dry run creates nothing"
    check_adopted(db, mdir, "supabase", ["20240101000000_users", "20240102000000_touch"],
                  ["20240103000000_posts"])
    assert db.query("SELECT to_regclass('posts')::text") == [("posts",)]
    # the checksums are the files' own: status says nothing changed
    assert all(c for _, _, c, _ in tracked(db))


def test_supabase_statements_compare_without_comments_and_white_space(db, tmp_path):
    mdir = supabase_project(db, tmp_path)
    # reformatted and commented after it was applied: the same statements
    (tmp_path / "supabase/migrations/20240101000000_users.sql").write_text(
        "create table users (id bigint primary key,   email text)  ;\n\n"
        "-- an index for logins\ncreate index users_email on users (email);;\n")
    r = adopt(db, mdir, "supabase")
    assert r.returncode == 0, r.stderr


def test_supabase_changed_file_is_refused(db, tmp_path):
    mdir = supabase_project(db, tmp_path)
    path = tmp_path / "supabase/migrations/20240101000000_users.sql"
    path.write_text(USERS.replace("email text", "email text not null"))
    refused(db, mdir, "supabase", "supabase_migrations.schema_migrations",
            "20240101000000_users.sql differs from the statements the Supabase CLI recorded",
            "email text not null")


def test_supabase_version_without_file_is_refused(db, tmp_path):
    mdir = supabase_project(db, tmp_path)
    os.remove(os.path.join(mdir, "20240102000000_touch.sql"))
    refused(db, mdir, "supabase", "supabase_migrations.schema_migrations",
            "version 20240102000000 touch was applied but has no file in " + mdir)


def test_supabase_missing_tracking_is_refused(db, tmp_path):
    mdir = write(tmp_path, SUPA_FILES, "supabase/migrations")
    r = adopt(db, mdir, "supabase")
    assert r.returncode == 65
    assert "no table supabase_migrations.schema_migrations in this database" in r.stderr
    assert tracked(db) is None


def test_supabase_old_table_without_statements_column(db, tmp_path):
    """A CLI from before the name and statements columns: versions only."""
    mdir = write(tmp_path, SUPA_FILES, "supabase/migrations")
    db.query(SUPABASE_DDL[0])
    db.query(SUPABASE_DDL[1])
    psql_apply(db, os.path.join(mdir, "20240101000000_users.sql"))
    db.query("INSERT INTO supabase_migrations.schema_migrations(version) VALUES ('20240101000000')")
    r = adopt(db, mdir, "supabase")
    assert r.returncode == 0, r.stderr
    assert [n for _, n, _, _ in tracked(db)] == ["20240101000000_users"]


# ---- dbmate -----------------------------------------------------------------------

def dbmate_file(up_sql, down_sql=""):
    return "-- migrate:up\n" + up_sql + "\n-- migrate:down\n" + down_sql


def dbmate_project(db, tmp_path, down=False):
    """db/migrations with dbmate's files; the first two applied by dbmate."""
    files = {"20240101000000_users.sql": dbmate_file(USERS, "drop table users;\n" if down else ""),
             "20240102000000_touch.sql": dbmate_file(FN),
             "20240103000000_posts.sql": dbmate_file(POSTS)}
    mdir = write(tmp_path, files, "db/migrations")
    for stmt in DBMATE_DDL:
        db.query(stmt)
    for f in sorted(files)[:2]:
        # dbmate runs the up section only
        db.cluster.psql(db.name, sql=files[f].split("-- migrate:down")[0])
        db.query("insert into public.schema_migrations (version) values (%s)", (f.split("_")[0],))
    return mdir


def test_dbmate_project_is_adopted(db, tmp_path):
    mdir = dbmate_project(db, tmp_path)
    check_adopted(db, mdir, "dbmate", ["20240101000000_users", "20240102000000_touch"], ["20240103000000_posts"])


def test_dbmate_gap_is_adopted_with_a_warning(db, tmp_path):
    """dbmate applies a file older than the newest if it was missed; the
    daemon does not by default: adopt says so, and run refuses it."""
    mdir = dbmate_project(db, tmp_path)
    db.query("DELETE FROM public.schema_migrations WHERE version = '20240101000000'")
    r = adopt(db, mdir, "dbmate")
    assert r.returncode == 0, r.stderr
    assert "20240101000000_users is older than the newest migration dbmate applied but was not applied" in r.stderr
    assert status(db, mdir)["20240101000000_users"] == "out-of-order"
    assert up(db, mdir).returncode == 65


def test_dbmate_custom_table_through_a_view(db, tmp_path):
    """dbmate --migrations-table=app.migrations: the README's workaround, a
    view of that name on the search_path."""
    mdir = dbmate_project(db, tmp_path)
    db.query("CREATE SCHEMA app")
    db.query("ALTER TABLE public.schema_migrations SET SCHEMA app")
    db.query("ALTER TABLE app.schema_migrations RENAME TO migrations")
    assert adopt(db, mdir, "dbmate").returncode == 65
    db.query("CREATE VIEW public.schema_migrations AS SELECT * FROM app.migrations")
    r = adopt(db, mdir, "dbmate")
    assert r.returncode == 0, r.stderr
    assert [n for _, n, _, _ in tracked(db)] == ["20240101000000_users", "20240102000000_touch"]


def test_dbmate_down_section_is_refused(db, tmp_path):
    """The file would undo itself when run: refused as the directory is
    read, by adopt as by run and migrate up."""
    mdir = dbmate_project(db, tmp_path, down=True)
    before = snapshot(db, "public.schema_migrations")
    for args in (["migrate", "adopt", "dbmate"], ["migrate", "up"]):
        r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir] + args)
        assert r.returncode == 65, (r.returncode, r.stderr)
        assert "20240101000000_users.sql:6: dbmate's \\\"-- migrate:down\\\" section would run as part of the " \
            "migration: move the SQL under it to rollback_20240101000000_users.sql" in r.stderr, r.stderr
    assert snapshot(db, "public.schema_migrations") == before


def test_dbmate_version_without_file_is_refused(db, tmp_path):
    mdir = dbmate_project(db, tmp_path)
    db.query("insert into public.schema_migrations (version) values ('20231231000000')")
    refused(db, mdir, "dbmate", "public.schema_migrations", "version 20231231000000 was applied but has no file")


def test_dbmate_on_golang_migrate_table_is_refused(db, tmp_path):
    mdir = write(tmp_path, {"1_users.up.sql": USERS})
    for stmt in GOLANG_MIGRATE_DDL:
        db.query(stmt)
    db.query("INSERT INTO public.schema_migrations (version, dirty) VALUES (1, false)")
    refused(db, mdir, "dbmate", "public.schema_migrations", "it is not dbmate's table (try migrate adopt golang-migrate)")


# ---- golang-migrate ---------------------------------------------------------------

GM_FILES = {"1_users.up.sql": USERS, "1_users.down.sql": "drop table users;\n",
            "2_touch.up.sql": FN, "2_touch.down.sql": "drop trigger users_touch on users; drop function touch();\n",
            "3_posts.up.sql": POSTS, "3_posts.down.sql": "drop table posts;\n"}


def golang_migrate_project(db, tmp_path, dirty=False):
    """golang-migrate's layout; up to version 2 applied: it keeps one row,
    the newest version, and whether that run stopped half-way."""
    mdir = write(tmp_path, GM_FILES)
    for stmt in GOLANG_MIGRATE_DDL:
        db.query(stmt)
    for f in ("1_users.up.sql", "2_touch.up.sql"):
        psql_apply(db, os.path.join(mdir, f))
        db.query("TRUNCATE public.schema_migrations")
        db.query("INSERT INTO public.schema_migrations (version, dirty) VALUES (%s, %s)", (int(f[0]), dirty))
    return mdir


def test_golang_migrate_project_is_adopted_with_its_down_files(db, tmp_path):
    mdir = golang_migrate_project(db, tmp_path)
    check_adopted(db, mdir, "golang-migrate", ["1_users.up", "2_touch.up"], ["3_posts.up"])
    # its .down.sql files are the rollbacks
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "down", "--to", "1", "--yes"])
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT to_regclass('posts'), to_regprocedure('touch()')") == [(None, None)]


def test_golang_migrate_dirty_is_refused(db, tmp_path):
    mdir = golang_migrate_project(db, tmp_path, dirty=True)
    refused(db, mdir, "golang-migrate", "public.schema_migrations", "version 2 is dirty")


def test_golang_migrate_version_without_file_is_refused(db, tmp_path):
    mdir = golang_migrate_project(db, tmp_path)
    db.query("UPDATE public.schema_migrations SET version = 7")
    refused(db, mdir, "golang-migrate", "public.schema_migrations", "version 7 was applied but has no file")


def test_golang_migrate_on_dbmate_table_is_refused(db, tmp_path):
    mdir = write(tmp_path, {"1_users.up.sql": USERS})
    for stmt in DBMATE_DDL:
        db.query(stmt)
    db.query("insert into public.schema_migrations (version) values ('1')")
    refused(db, mdir, "golang-migrate", "public.schema_migrations", "lacks golang-migrate's dirty column")


# ---- Flyway -----------------------------------------------------------------------

FLYWAY_FILES = {"V1__users.sql": USERS, "V2__touch.sql": FN, "V3__posts.sql": POSTS}


def flyway_checksum(sql):
    """Flyway's: CRC-32 of the file's lines read one by one (their line
    breaks left out), as a Java int."""
    crc = zlib.crc32("".join(sql.splitlines()).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def flyway_project(db, tmp_path, fail_second=False):
    """sql/ with Flyway's names, applied by Flyway up to V2; then renamed
    the way the README says."""
    src = write(tmp_path, FLYWAY_FILES, "flyway/sql")
    for stmt in FLYWAY_DDL:
        db.query(stmt)
    db.query("INSERT INTO flyway_schema_history VALUES (0, NULL, '<< Flyway Schema Creation >>', 'SCHEMA', "
             "'\"public\"', NULL, 'postgres', now(), 0, true)")
    for rank, f in enumerate(["V1__users.sql", "V2__touch.sql"], 1):
        ok = not (fail_second and rank == 2)
        if ok:
            psql_apply(db, os.path.join(src, f))
        db.query("INSERT INTO flyway_schema_history VALUES (%s, %s, %s, 'SQL', %s, %s, 'postgres', now(), 5, %s)",
                 (rank, str(rank), f[4:-4], f, flyway_checksum(FLYWAY_FILES[f]), ok))
    # the README's rename: V<version>__<name>.sql -> <version>_<name>.sql
    r = os.system("cd '%s' && for f in V*__*.sql; do v=${f#V}; mv \"$f\" \"${v%%%%__*}_${v#*__}\"; done" % src)
    assert r == 0
    assert sorted(os.listdir(src)) == ["1_users.sql", "2_touch.sql", "3_posts.sql"]
    return src


def test_flyway_project_is_adopted_after_the_rename(db, tmp_path):
    mdir = flyway_project(db, tmp_path)
    check_adopted(db, mdir, "flyway", ["1_users", "2_touch"], ["3_posts"])


def test_flyway_failed_row_is_refused(db, tmp_path):
    mdir = flyway_project(db, tmp_path, fail_second=True)
    refused(db, mdir, "flyway", "flyway_schema_history", "V2__touch.sql (version 2) failed (success = false")


def test_flyway_changed_file_is_refused(db, tmp_path):
    mdir = flyway_project(db, tmp_path)
    with open(os.path.join(mdir, "1_users.sql"), "w") as f:
        f.write(USERS.replace("email text", "email citext"))
    refused(db, mdir, "flyway", "flyway_schema_history",
            "1_users.sql changed since Flyway applied version 1 (its checksum %d" % flyway_checksum(USERS))


def test_flyway_line_endings_do_not_count(db, tmp_path):
    """Flyway's checksum ignores line breaks: a file checked out with CRLF
    is the file Flyway ran."""
    mdir = flyway_project(db, tmp_path)
    with open(os.path.join(mdir, "1_users.sql"), "w", newline="") as f:
        f.write(USERS.replace("\n", "\r\n"))
    r = adopt(db, mdir, "flyway")
    assert r.returncode == 0, r.stderr


def test_flyway_baseline_stands_for_the_versions_below(db, tmp_path):
    mdir = write(tmp_path, {"1_users.sql": USERS, "2_touch.sql": FN, "3_posts.sql": POSTS})
    for stmt in FLYWAY_DDL:
        db.query(stmt)
    psql_apply(db, os.path.join(mdir, "1_users.sql"))
    psql_apply(db, os.path.join(mdir, "2_touch.sql"))
    db.query("INSERT INTO flyway_schema_history VALUES (1, '2', '<< Flyway Baseline >>', 'BASELINE', "
             "'<< Flyway Baseline >>', NULL, 'postgres', now(), 0, true)")
    check_adopted(db, mdir, "flyway", ["1_users", "2_touch"], ["3_posts"])


def test_flyway_dotted_version_is_refused(db, tmp_path):
    mdir = write(tmp_path, {"1_users.sql": USERS})
    for stmt in FLYWAY_DDL:
        db.query(stmt)
    db.query("INSERT INTO flyway_schema_history VALUES (1, '1.1', 'users', 'SQL', 'V1.1__users.sql', 1, "
             "'postgres', now(), 5, true)")
    refused(db, mdir, "flyway", "flyway_schema_history",
            "version \"1.1\" of V1.1__users.sql is not a whole number")


def test_flyway_unrenamed_files_are_refused_with_the_rename(db, tmp_path):
    mdir = write(tmp_path, FLYWAY_FILES)
    r = adopt(db, mdir, "flyway")
    assert r.returncode == 65
    assert "rename it to <version>_name.sql" in r.stderr


def test_unknown_tool_is_a_usage_error(db, tmp_path):
    r = adopt(db, write(tmp_path, {"1_a.sql": USERS}), "liquibase")
    assert r.returncode == 64
    assert "supabase, dbmate, golang-migrate, flyway" in r.stderr
