/* Unit tests for migration file names, directory loading, positions. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migfile.h"
#include "tap.h"

static char dir[64];

static void put(const char *name, const char *content)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	fputs(content, f);
	fclose(f);
}

static void clear(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/.??*", dir, dir);
	if (system(cmd) != 0)
		printf("# cleanup failed\n");
}

static const char *load_err(void)
{
	static char err[1024];
	struct migration_set set;

	if (migration_set_load(dir, &set, err, sizeof(err)) == 0) {
		migration_set_free(&set);
		return NULL;
	}
	return err;
}

/* SHA-256 against FIPS 180-2's vectors, and against coreutils' sha256sum
 * (an implementation of its own) for every length around the padding
 * boundaries: 301 files hashed by one sha256sum. */
static void test_sha256(void)
{
	static const struct { const char *in; const char *md; } nist[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	char tmp[] = "/tmp/sha256-test-XXXXXX", cmd[128], name[64], out[65], want[65], line[160];
	unsigned char buf[300];
	unsigned int i, n, bad = 0, compared = 0;
	FILE *f;

	for (i = 0; i < sizeof(nist) / sizeof(nist[0]); i++) {
		sha256_hex(nist[i].in, strlen(nist[i].in), out);
		is_str(out, nist[i].md, "NIST vector %u (%zu bytes)", i, strlen(nist[i].in));
	}
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	if (mkdtemp(tmp) == NULL) {
		ok(0, "cannot create %s", tmp);
		return;
	}
	for (n = 0; n <= sizeof(buf); n++) {
		snprintf(name, sizeof(name), "%s/%03u", tmp, n);
		f = fopen(name, "wb");
		if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
			bad++;
	}
	snprintf(cmd, sizeof(cmd), "cd %s && sha256sum [0-9]* 2>/dev/null", tmp);
	f = popen(cmd, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		/* "<64 hex digits>  <length>" */
		if (sscanf(line, "%64s %u", want, &n) != 2 || n > sizeof(buf))
			continue;
		sha256_hex(buf, n, out);
		bad += strcmp(out, want) != 0;
		compared++;
	}
	if (f == NULL || pclose(f) != 0)
		ok(1, "the same digest as sha256sum for every length 0-300 # SKIP sha256sum did not run");
	else
		ok(compared == sizeof(buf) + 1 && bad == 0,
		   "the same digest as sha256sum for every length 0-300 (%u compared, %u differ)", compared, bad);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd) != 0)
		printf("# cleanup of %s failed\n", tmp);
}

/* Databases record the checksum of every applied migration: those of the
 * shipped files must never change, whatever library computes them. */
static void test_shipped_checksums(void)
{
	static const char *const recorded[] = {
		"97fe77eb4b8a81193faef5655d1b9eb62444b0fcc1ed0af39a8b7d3c75e70345",
		"efd8f23f27139980747aef7faaa16031dbf72d1b95ffffc78edc8f657e1ce68d",
		"f4fcb01d25d626490db65e64655d9c0903615b8f9a41aae5173b4bd86c593e95",
		"6acde236afb696c684f611821567f8389816c46fbb2f13f9c48c7b399f4f3314",
		"8e3f1f09fa64e0609c8d53442f26578c342b9426789bea9de28a16482e2ff7de",
	};
	const char *srcdir = getenv("MAINTD_SRCDIR");
	char path[4096], err[1024];
	struct migration_set set;
	size_t i;

	if (srcdir == NULL) {
		ok(1, "shipped migrations' checksums # SKIP MAINTD_SRCDIR is not set");
		return;
	}
	snprintf(path, sizeof(path), "%s/migrations", srcdir);
	if (migration_set_load(path, &set, err, sizeof(err)) < 0) {
		ok(0, "loads the shipped migrations: %s", err);
		return;
	}
	for (i = 0; i < sizeof(recorded) / sizeof(recorded[0]); i++)
		is_str(i < set.n ? set.items[i].checksum : NULL, recorded[i],
		       "shipped migration %zu: the checksum databases recorded", i + 1);
	migration_set_free(&set);
}

/* The other tools' layouts: the Supabase CLI's and dbmate's 14-digit
 * timestamps as they are, golang-migrate's .up.sql/.down.sql pairs, and
 * Flyway's V1__name.sql refused with the rename to make. */
static void test_tool_layouts(void)
{
	enum migfile_kind kind;
	int64_t v;
	size_t off;
	const char *why = "";
	struct migration_set set;
	char err[1024];

	ok(migfile_classify("20240101120000_create_users.sql", &kind, &v, &off, &why) == 1 &&
	   kind == MIGFILE_MIGRATION && v == 20240101120000LL, "Supabase CLI's 14-digit timestamp");
	ok(migfile_classify("rollback_20240101120000_create_users.sql", &kind, &v, &off, &why) == 1 &&
	   kind == MIGFILE_ROLLBACK && v == 20240101120000LL, "its rollback_ file");
	ok(migfile_classify("1_init.up.sql", &kind, &v, &off, &why) == 1 && kind == MIGFILE_MIGRATION && v == 1,
	   "golang-migrate's N_name.up.sql is a migration");
	ok(migfile_classify("000002_x.down.sql", &kind, &v, &off, &why) == 1 && kind == MIGFILE_ROLLBACK && v == 2,
	   "golang-migrate's N_name.down.sql is a rollback");
	ok(migfile_classify("1_.up.sql", &kind, &v, &off, &why) < 0, "N_.up.sql: no name");
	contains(why, "missing name", "says the name is missing");
	ok(migfile_classify("1.up.sql", &kind, &v, &off, &why) < 0, "N.up.sql: no '_' after the version");
	ok(migfile_classify("rollback_1_x.down.sql", &kind, &v, &off, &why) < 0, "rollback_ and .down together");
	contains(why, "one naming or the other", "says why");
	ok(migfile_classify("1_a.b.up.sql", &kind, &v, &off, &why) < 0, "a dot inside the name stays refused");
	ok(migfile_classify("V1__init.sql", &kind, &v, &off, &why) < 0, "Flyway's V1__init.sql is refused");
	contains(why, "rename it to <version>_name.sql", "with the rename to make");
	ok(migfile_classify("2024010112000_x.sql", &kind, &v, &off, &why) == 1 && v == 2024010112000LL,
	   "a 13-digit version sorts numerically too");

	put("20240101120000_b.sql", "SELECT 2;\n");
	put("9_a.sql", "SELECT 1;\n");
	put("rollback_20240101120000_b.sql", "SELECT -2;\n");
	ok(migration_set_load(dir, &set, err, sizeof(err)) == 0, "loads timestamps with small numbers: %s", err);
	ok(set.n == 2 && set.items[0].version == 9 && set.items[1].version == 20240101120000LL &&
	   set.items[1].rollback_path != NULL, "ordered by number, not by text");
	migration_set_free(&set);
	clear();

	ok(migfile_down_marker("create table t (a int);\n") == -1, "no dbmate marker");
	ok(migfile_down_marker("-- migrate:up\nx;\n-- migrate:down\n") == 17, "dbmate's marker found");
	ok(migfile_down_marker("x;\n--migrate:down\n") == 3, "without a blank after --, as dbmate reads it");
	ok(migfile_down_marker("select 1; -- migrate:down\n") == -1, "only at the start of a line");
	put("20240101000000_a.sql", "-- migrate:up\nSELECT 1;\n\n-- migrate:down\n-- nothing to undo\n");
	ok(migration_set_load(dir, &set, err, sizeof(err)) == 0, "an empty dbmate down section is fine: %s", err);
	ok(set.n == 1 && set.items[0].script.n == 1, "one statement");
	migration_set_free(&set);
	put("20240102000000_b.sql", "-- migrate:up\nSELECT 2;\n-- migrate:down\nDROP TABLE b;\n");
	contains(load_err(), "20240102000000_b.sql:3: dbmate's \"-- migrate:down\" section would run as part of the "
		 "migration: move the SQL under it to rollback_20240102000000_b.sql", "SQL under it is refused, saying where it goes");
	clear();

	put("1_init.up.sql", "SELECT 1;\n");
	put("1_init.down.sql", "SELECT -1;\n");
	put("2_more.up.sql", "SELECT 2;\n");
	ok(migration_set_load(dir, &set, err, sizeof(err)) == 0, "loads golang-migrate's layout: %s", err);
	ok(set.n == 2 && set.items[0].rollback_path != NULL && set.items[1].rollback_path == NULL,
	   ".down.sql attached to its .up.sql");
	is_str(set.n ? set.items[0].name : "", "1_init.up", "the name keeps .up");
	migration_set_free(&set);
	put("2_other.down.sql", "SELECT -2;\n");
	contains(load_err(), "expected 2_more.down.sql", "a .down.sql of another name refused");
	clear();
	put("1_init.sql", "SELECT 1;\n");
	put("1_init.down.sql", "SELECT -1;\n");
	contains(load_err(), "expected rollback_1_init.sql", ".down.sql without .up.sql refused");
	clear();
}

static bool defines(const char *sql)
{
	return migfile_may_define_setting(sql, strlen(sql));
}

static void test_may_define_setting(void)
{
	ok(defines("SET app.tenant = 'x';"), "SET of a qualified name");
	ok(defines("begin;\n  set local app.x to 'v';"), "SET LOCAL, lower case");
	ok(defines("SET SESSION myext.level = 2"), "SET SESSION");
	ok(defines("RESET app.x;"), "RESET of a qualified name");
	ok(defines("SET \"app\".x = 1"), "quoted first part");
	ok(defines("SET \"app.x\" = 1"), "quoted name with a dot");
	ok(defines("SELECT set_config('app.x', 'v', false);"), "set_config()");
	ok(defines("SELECT pg_catalog.SET_CONFIG('app.x', 'v', true);"), "qualified set_config(), any case");
	ok(defines("CREATE FUNCTION f() RETURNS int LANGUAGE sql\nSET app.x = 'v' AS 'select 1';"),
	   "a function's SET clause");
	ok(defines("ALTER ROLE r SET app.x = 'v';"), "a role's SET");
	ok(!defines("SET search_path = public;\nSET LOCAL work_mem = '8MB';\nRESET ALL;"), "built-in settings");
	ok(!defines("SET SESSION AUTHORIZATION DEFAULT; SET ROLE NONE;"), "SET SESSION AUTHORIZATION, SET ROLE");
	ok(!defines("UPDATE t SET x = s.y FROM s;"), "UPDATE ... SET of a column");
	ok(!defines("ALTER TABLE t ALTER COLUMN c SET DEFAULT 0;"), "SET DEFAULT");
	ok(!defines("CREATE TABLE offset_x (reset_at timestamptz, set_by text);"), "set and reset inside words");
	ok(!defines("CREATE FUNCTION my_set_config() RETURNS int LANGUAGE sql AS 'select 1';"),
	   "set_config inside a longer name");
	ok(!defines("SET"), "SET at the end");
	ok(!defines(""), "empty");
}

int main(void)
{
	test_may_define_setting();
	test_sha256();
	test_shipped_checksums();
	enum migfile_kind kind;
	int64_t v;
	size_t off;
	const char *why;
	struct migration_set set;
	char err[1024];

	ok(migfile_classify("001_initial_schema.sql", &kind, &v, &off, &why) == 1 &&
	   kind == MIGFILE_MIGRATION && v == 1, "NNN_name.sql is a migration");
	ok(migfile_classify("rollback_002_zoom-integration.sql", &kind, &v, &off, &why) == 1 &&
	   kind == MIGFILE_ROLLBACK && v == 2 && off == 9, "rollback_NNN_name.sql is a rollback");
	ok(migfile_classify("20240101120000_big.sql", &kind, &v, &off, &why) == 1 && v == 20240101120000LL,
	   "timestamp versions");
	ok(migfile_classify("README.md", &kind, &v, &off, &why) == 0 && kind == MIGFILE_IGNORED,
	   "non-.sql files are ignored");
	ok(migfile_classify("notes.sql", &kind, &v, &off, &why) < 0, "a .sql file without a version is an error");
	contains(why, "must start with a version number", "says why");
	ok(migfile_classify("001-initial.sql", &kind, &v, &off, &why) < 0, "dash after version refused");
	ok(migfile_classify("001_.sql", &kind, &v, &off, &why) < 0, "missing name refused");
	contains(why, "missing name", "says the name is missing");
	ok(migfile_classify("001_a b.sql", &kind, &v, &off, &why) < 0, "space in name refused");
	ok(migfile_classify("001_caf\xc3\xa9.sql", &kind, &v, &off, &why) < 0, "non-ASCII name refused");
	ok(migfile_classify("1234567890123456789_x.sql", &kind, &v, &off, &why) < 0, "19-digit version refused");
	ok(migfile_classify(".sql", &kind, &v, &off, &why) < 0, "bare .sql refused");
	ok(migfile_classify("rollback_x.sql", &kind, &v, &off, &why) < 0, "rollback without version refused");
	ok(migfile_classify("001_x.SQL", &kind, &v, &off, &why) < 0, "upper-case extension is an error, not skipped");
	ok(migfile_classify("001_x.sql.bak", &kind, &v, &off, &why) == 0, "a backup copy is ignored");

	snprintf(dir, sizeof(dir), "/tmp/migfile-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 99;

	put("002_b.sql", "SELECT 2;\n");
	put("001_a.sql", "SELECT 1;\n");
	put("rollback_001_a.sql", "SELECT -1;\n");
	put("README", "not sql");
	put(".hidden.sql", "ignored");
	ok(migration_set_load(dir, &set, err, sizeof(err)) == 0, "loads a directory: %s", err);
	ok(set.n == 2 && set.items[0].version == 1 && set.items[1].version == 2, "sorted by version");
	is_str(set.items[0].name, "001_a", "name is the file stem");
	ok(set.items[0].rollback_path != NULL && set.items[1].rollback_path == NULL, "rollback attached");
	/* sha256("SELECT 1;\n") */
	is_str(set.items[0].checksum, "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd", "checksum is the SHA-256 of the content");
	ok(strlen(set.items[0].checksum) == 64, "checksum is 64 hex digits");
	ok(migration_set_find(&set, 2) == &set.items[1] && migration_set_find(&set, 3) == NULL, "find by version");
	migration_set_free(&set);

	clear();
	put("001_a.sql", "SELECT 1;");
	put("01_b.sql", "SELECT 1;");
	contains(load_err(), "duplicate migration version 1", "duplicate versions refused");
	clear();
	put("001_a.sql", "  \n\t\n");
	contains(load_err(), "001_a.sql: empty migration file", "empty file refused");
	clear();
	put("001_a.sql", "SELECT 'caf\xe9';\n");
	contains(load_err(), "001_a.sql:1: invalid UTF-8 at byte offset 11", "non-UTF-8 refused with line");
	clear();
	put("001_a.sql", "SELECT 1;");
	put("rollback_001_b.sql", "SELECT 1;");
	contains(load_err(), "does not match", "rollback with another name refused");
	clear();
	put("rollback_004_x.sql", "SELECT 1;");
	contains(load_err(), "no migration with that version", "orphan rollback refused");
	clear();
	put("1x_a.sql", "SELECT 1;");
	contains(load_err(), "1x_a.sql: bad migration file name", "bad name in directory names the file");
	clear();
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/001_dir.sql", dir);
		mkdir(p, 0700);
		contains(load_err(), "001_dir.sql: not a regular file", "a directory named like a migration");
		rmdir(p);
	}
	if (geteuid() != 0) {
		put("001_a.sql", "SELECT 1;");
		char p[256];
		snprintf(p, sizeof(p), "%s/001_a.sql", dir);
		chmod(p, 0);
		contains(load_err(), "cannot open", "unreadable file");
	} else {
		ok(1, "unreadable file: skipped as root # SKIP root reads everything");
	}
	clear();
	test_tool_layouts();
	ok(migration_set_load("/nonexistent/m", &set, err, sizeof(err)) < 0, "missing directory refused");
	contains(err, "/nonexistent/m: cannot open migrations directory", "names the directory");
	rmdir(dir);

	/* error positions */
	{
		int line, col;
		const char *ls;
		size_t ll;
		const char *text = "-- comment\nSELECT\n  nope FROM x;\n";

		text_position(text, 1, &line, &col, &ls, &ll);
		ok(line == 1 && col == 1, "position 1 is line 1 column 1");
		text_position(text, 21, &line, &col, &ls, &ll);
		ok(line == 3 && col == 3 && ll == 14 && strncmp(ls, "  nope", 6) == 0, "line 3 column 3 (%d:%d)", line, col);
		text_position("\xc3\xa9\xc3\xa9 x", 4, &line, &col, &ls, &ll);
		ok(line == 1 && col == 4, "positions count characters, not bytes (%d:%d)", line, col);
		text_position("SELECT 1;\r\nSELECT x;\r\n", 18, &line, &col, &ls, &ll);
		ok(line == 2 && col == 7 && ll == 9, "a CRLF line is echoed without its \\r (%d:%d, %zu)", line, col, ll);
	}
	/* the caret under an error: by display width */
	{
		char pad[64];
		const char *l = "\tSELECT '\xe6\x97\xa5\xe6\x9c\xac', e\xcc\x81, nope";

		/* tab, SELECT, space, quote, 2 wide chars, quote, comma, space, e + combining accent, comma, space */
		ok(caret_indent(l, strlen(l), 19, pad, sizeof(pad)) == 19 &&
		   strcmp(pad, "\t" "                  ") == 0, "tabs kept, wide characters 2, combining 0 (%zu: [%s])",
		   strlen(pad), pad);
		ok(caret_indent("abc", 3, 10, pad, sizeof(pad)) == 3, "never past the line");
		ok(caret_indent("abcdef", 6, 6, pad, 3) == 2 && strcmp(pad, "  ") == 0, "never past the buffer");
	}
	ok(utf8_invalid_offset("abc", 3) == -1, "ASCII is UTF-8");
	ok(utf8_invalid_offset("\xc3\xa9", 2) == -1, "two-byte sequence");
	ok(utf8_invalid_offset("a\xc3", 2) == 1, "truncated sequence");
	ok(utf8_invalid_offset("\xed\xa0\x80", 3) == 0, "surrogate refused");
	ok(utf8_invalid_offset("\xc0\xaf", 2) == 0, "overlong refused");
	return done_testing();
}
