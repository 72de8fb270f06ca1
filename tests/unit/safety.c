/* Unit tests for the migration safety checks (parse tree only) and sizes. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "safety.h"
#include "sqlsplit.h"
#include "tap.h"

static struct sql_script sc;
static struct safety_report rep;
static char err[512];

/* The findings of text as "check table line[ allowed]" joined by "; ". */
static const char *findings(const char *text)
{
	static char buf[2048];
	size_t i, used = 0;

	buf[0] = '\0';
	sql_script_free(&sc);
	safety_report_free(&rep);
	err[0] = '\0';
	if (sql_split(text, strlen(text), &sc, err, sizeof(err)) < 0)
		return err;
	if (safety_check_script(text, &sc, &rep) < 0)
		return "out of memory";
	for (i = 0; i < rep.n && used < sizeof(buf); i++) {
		char name[256];

		safety_display_name(&rep.items[i], name, sizeof(name));
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s %s %d%s", i ? "; " : "",
					 rep.items[i].check, name, rep.items[i].line,
					 rep.items[i].allowed ? " allowed" : "");
	}
	for (i = 0; i < rep.nunchecked && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%sunchecked %d", used ? "; " : "",
					 rep.unchecked[i]);
	return buf;
}

/* head, n times open, middle, n times close, tail (kept until the next call) */
static const char *nested(const char *head, const char *open, int n, const char *middle, const char *close,
			  const char *tail)
{
	static char *buf;
	size_t size = strlen(head) + (strlen(open) + strlen(close)) * (size_t)n + strlen(middle) + strlen(tail) + 1;
	char *p;
	int i;

	free(buf);
	if ((p = buf = malloc(size)) == NULL)
		return "";
	p = stpcpy(p, head);
	for (i = 0; i < n; i++)
		p = stpcpy(p, open);
	p = stpcpy(p, middle);
	for (i = 0; i < n; i++)
		p = stpcpy(p, close);
	stpcpy(p, tail);
	return buf;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
/* findings(text) in a child whose address space may grow by at most
 * spare bytes: a thread cannot get a stack larger than that. */
static const char *findings_with_address_space(const char *text, size_t spare)
{
	static char buf[2048];
	unsigned long pages = 0;
	int fd[2], status;
	ssize_t got, used = 0;
	FILE *f;
	pid_t pid;

	strcpy(buf, "(child failed)");
	if ((f = fopen("/proc/self/statm", "r")) == NULL || fscanf(f, "%lu", &pages) != 1)
		return "cannot read /proc/self/statm";
	fclose(f);
	if (pipe(fd) < 0 || (pid = fork()) < 0)
		return "cannot fork";
	if (pid == 0) {
		struct rlimit rl;
		const char *r;

		close(fd[0]);
		rl.rlim_cur = rl.rlim_max = pages * (rlim_t)sysconf(_SC_PAGESIZE) + spare;
		r = setrlimit(RLIMIT_AS, &rl) < 0 ? "setrlimit failed" : findings(text);
		if (write(fd[1], r, strlen(r)) < 0)
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	while (used < (ssize_t)sizeof(buf) - 1 && (got = read(fd[0], buf + used, sizeof(buf) - 1 - (size_t)used)) > 0)
		used += got;
	buf[used > 0 ? used : 0] = '\0';
	close(fd[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || used == 0)
		return "(child failed)";
	return buf;
}
#endif

static int64_t size_of(const char *s)
{
	int64_t b = -2;
	const char *why;

	return size_parse(s, &b, &why) == 0 ? b : -1;
}

int main(void)
{
	char buf[128];

	/* CREATE INDEX */
	is_str(findings("CREATE INDEX i ON t (a);"), "create_index_not_concurrently t 1", "index without CONCURRENTLY");
	is_str(findings("CREATE UNIQUE INDEX i ON s.t (a);"), "create_index_not_concurrently s.t 1",
	       "unique index, schema kept as written");
	is_str(findings("-- momentum-maintd: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"), "",
	       "near miss: CONCURRENTLY");
	is_str(findings("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);"), "", "new table in the same file");
	is_str(findings("CREATE INDEX i ON t (a);\nCREATE TABLE t (a int);"), "create_index_not_concurrently t 1",
	       "the table is created after: it existed before");
	is_str(findings("CREATE TABLE IF NOT EXISTS big (a int);\nCREATE INDEX i ON big (a);"),
	       "create_index_not_concurrently big 2", "CREATE TABLE IF NOT EXISTS may be of an existing table");
	is_str(findings("CREATE TABLE IF NOT EXISTS big AS SELECT 1 AS a;\nALTER TABLE big DROP COLUMN a;"),
	       "drop_column big 2", "CREATE TABLE AS IF NOT EXISTS too");
	is_str(findings("CREATE TABLE big AS SELECT 1 AS a;\nALTER TABLE big DROP COLUMN a;"), "",
	       "near miss: CREATE TABLE AS without IF NOT EXISTS");
	is_str(findings("CREATE TABLE app.big (a int);\nALTER TABLE big DROP COLUMN a;"), "drop_column big 2",
	       "a table created in another schema does not cover the unqualified name");
	is_str(findings("CREATE TEMP TABLE big (a int);\nALTER TABLE public.big DROP COLUMN a;"),
	       "drop_column public.big 2", "an unqualified temp table does not cover public.big");
	is_str(findings("CREATE TABLE big (a int);\nALTER TABLE app.big DROP COLUMN a;"), "drop_column app.big 2",
	       "an unqualified new table does not cover a qualified name");
	is_str(findings("CREATE TABLE app.big (a int);\nALTER TABLE App.big DROP COLUMN a;"), "",
	       "near miss: the same qualification (the parser folds App to app)");
	is_str(findings("CREATE TABLE app.big (a int);\nALTER TABLE \"App\".big DROP COLUMN a;"),
	       "drop_column App.big 2", "a quoted name keeps its case");
	is_str(findings("CREATE TEMP TABLE big (a int);\nALTER TABLE big DROP COLUMN a;"), "",
	       "near miss: a temp table created and used unqualified");
	is_str(findings("CREATE TABLE s.t (a int);\nCREATE INDEX i ON s.u (a);"),
	       "create_index_not_concurrently s.u 2", "another table than the new one");

	is_str(findings("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);"), "create_index_not_concurrently t 1",
	       "a unique constraint builds an index");
	is_str(findings("ALTER TABLE t ADD PRIMARY KEY (id);"), "create_index_not_concurrently t 1",
	       "so does a primary key");
	contains(rep.n ? rep.items[0].safe : "", "USING INDEX", "... and the safe way is USING INDEX");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX i;"), "", "near miss: USING INDEX");

	/* ALTER COLUMN TYPE */
	is_str(findings("\n\nALTER TABLE t ALTER COLUMN b TYPE bigint;"), "alter_column_type t 3",
	       "type change, line of the statement");
	contains(rep.n ? rep.items[0].safe : "", "backfill", "the safe way is given");
	is_str(rep.n && rep.items[0].column ? rep.items[0].column : "", "b", "the column is named");

	/* ADD COLUMN NOT NULL */
	is_str(findings("ALTER TABLE t ADD COLUMN c int NOT NULL;"), "add_column_not_null_no_default t 1",
	       "NOT NULL without a default");
	is_str(findings("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;"), "", "near miss: constant default");
	is_str(findings("ALTER TABLE t ADD COLUMN c int;"), "", "nullable column");

	/* ADD CONSTRAINT */
	is_str(findings("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id);"),
	       "add_constraint_not_valid t 1", "foreign key");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);"), "add_constraint_not_valid t 1",
	       "check constraint");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id) NOT VALID;"), "",
	       "near miss: foreign key NOT VALID");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;"), "", "near miss: check NOT VALID");

	/* constraints declared with ADD COLUMN */
	is_str(findings("ALTER TABLE big ADD COLUMN ref int REFERENCES big(id);"), "add_constraint_not_valid big 1",
	       "an inline foreign key is validated under the lock");
	contains(rep.n ? rep.items[0].safe : "", "NOT VALID", "... the safe way: add the constraint NOT VALID");
	is_str(findings("ALTER TABLE big ADD COLUMN e int UNIQUE;"), "create_index_not_concurrently big 1",
	       "an inline UNIQUE builds an index");
	contains(rep.n ? rep.items[0].safe : "", "USING INDEX", "... the safe way: USING INDEX");
	is_str(findings("ALTER TABLE big ADD COLUMN e int PRIMARY KEY;"),
	       "add_column_not_null_no_default big 1; create_index_not_concurrently big 1",
	       "an inline PRIMARY KEY: NOT NULL without a default, and an index");
	is_str(findings("ALTER TABLE big ADD COLUMN f int CHECK (f > 0) NOT NULL DEFAULT 1;"),
	       "add_constraint_not_valid big 1", "an inline CHECK scans; the constant default still is fine");
	is_str(findings("ALTER TABLE big ADD COLUMN f int CHECK (f > 0);"), "add_constraint_not_valid big 1",
	       "an inline CHECK on a nullable column without default still scans (PostgreSQL 15 checks every row)");
	is_str(findings("ALTER TABLE big ADD COLUMN f int NOT NULL DEFAULT 1;"), "",
	       "near miss: NOT NULL with a constant default, no other constraint");
	is_str(findings("ALTER TABLE big ADD COLUMN f int NULL DEFAULT 1 COLLATE \"C\";"), "",
	       "near miss: NULL, DEFAULT, COLLATE");
	is_str(findings("ALTER TABLE big ADD CONSTRAINT big_ex EXCLUDE USING btree (a WITH =);"),
	       "create_index_not_concurrently big 1", "an exclusion constraint builds an index");
	is_str(findings("CREATE TABLE n (id int);\nALTER TABLE n ADD COLUMN ref int REFERENCES big(id) UNIQUE;"), "",
	       "near miss: inline constraints on the file's own table");

	/* SET NOT NULL */
	is_str(findings("ALTER TABLE t ALTER COLUMN a SET NOT NULL;"), "set_not_null t 1", "SET NOT NULL");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t VALIDATE CONSTRAINT a_nn;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"), "",
	       "near miss: CHECK (a IS NOT NULL) NOT VALID, validated just before");
	is_str(findings("ALTER TABLE big ADD CONSTRAINT big_pos CHECK (a > 0) NOT VALID;\n"
			"ALTER TABLE big VALIDATE CONSTRAINT big_pos;\nALTER TABLE big ALTER COLUMN b SET NOT NULL;"),
	       "set_not_null big 3", "another validated check does not cover SET NOT NULL");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t VALIDATE CONSTRAINT a_nn;\nALTER TABLE t ALTER COLUMN b SET NOT NULL;"),
	       "set_not_null t 3", "a validated CHECK (a IS NOT NULL) does not cover column b");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
	       "set_not_null t 2", "a NOT VALID check not validated yet does not cover it");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t VALIDATE CONSTRAINT other;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
	       "set_not_null t 3", "validating another constraint does not cover it");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE u VALIDATE CONSTRAINT a_nn;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
	       "set_not_null t 3", "a constraint of the same name on another table does not cover it");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t VALIDATE CONSTRAINT a_nn;\nALTER TABLE u ALTER COLUMN a SET NOT NULL;"),
	       "set_not_null u 3", "nor SET NOT NULL on another table");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL);\n"
			"ALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
	       "add_constraint_not_valid t 1",
	       "a CHECK (a IS NOT NULL) added valid is validated at once: only the ADD is flagged");
	is_str(findings("ALTER TABLE t VALIDATE CONSTRAINT a_nn;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
	       "set_not_null t 2", "a constraint of an earlier file validated: its column is unknown here");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t VALIDATE CONSTRAINT a_nn, ALTER COLUMN a SET NOT NULL;"),
	       "set_not_null t 2", "validated in the same ALTER TABLE: PostgreSQL sets NOT NULL first");
	is_str(findings("ALTER TABLE t ADD COLUMN c int CONSTRAINT c_nn CHECK (c IS NOT NULL);\n"
			"ALTER TABLE t ALTER COLUMN c SET NOT NULL;"),
	       "add_constraint_not_valid t 1", "near miss: a column's own CHECK (c IS NOT NULL) counts too");
	is_str(findings("ALTER TABLE s.t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE s.t VALIDATE CONSTRAINT a_nn;\nALTER TABLE s.t ALTER COLUMN a SET NOT NULL;"),
	       "", "near miss: the same, schema-qualified");
	is_str(findings("ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NULL OR a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t VALIDATE CONSTRAINT a_nn;\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
	       "set_not_null t 3", "a check that is not exactly (a IS NOT NULL) does not cover it");

	/* volatile default */
	is_str(findings("ALTER TABLE t ADD COLUMN d uuid DEFAULT gen_random_uuid();"), "volatile_default t 1",
	       "gen_random_uuid()");
	is_str(findings("ALTER TABLE t ADD COLUMN d float8 DEFAULT random() * 10;"), "volatile_default t 1",
	       "random() inside an expression");
	is_str(findings("ALTER TABLE t ADD COLUMN d timestamptz DEFAULT clock_timestamp();"), "volatile_default t 1",
	       "clock_timestamp()");
	is_str(findings("ALTER TABLE t ADD COLUMN d bigserial;"), "volatile_default t 1", "a serial column");
	is_str(findings("ALTER TABLE t ADD COLUMN d timestamptz DEFAULT now();"), "",
	       "near miss: now() is stable, evaluated once");
	is_str(findings("ALTER TABLE t ADD COLUMN d text DEFAULT 'x';"), "", "near miss: a constant");
	is_str(findings("ALTER TABLE t ADD COLUMN d int NOT NULL DEFAULT nextval('s');"), "volatile_default t 1",
	       "NOT NULL with a volatile default: one finding, the rewrite");
	is_str(findings(nested("ALTER TABLE t ADD COLUMN d float8 DEFAULT ", "abs(", 1000, "random()", ")", ";")),
	       "volatile_default t 1", "random() under 1000 nested calls (a parse tree some 3000 levels deep)");
	is_str(findings(nested("ALTER TABLE t ADD COLUMN d int DEFAULT random()", "", 6000, "", "::int",
			       ";\nCREATE INDEX i ON t (a);")),
	       "create_index_not_concurrently t 2; unchecked 1",
	       "a tree over json-c's depth limit is reported unchecked, no crash; the next statement is checked");
	/* 1+1+... nests a level of the tree per 2 bytes: libpg_query's JSON
	 * output, recursive, needs ~17 MB of stack for 70000 and ~50 MB for
	 * 200000, more than the main thread's 8 MB */
	is_str(findings(nested("ALTER TABLE t ADD COLUMN d float8 DEFAULT 1", "+1", 70000, "+random()", "",
			       ";\nCREATE INDEX i ON t (a);")),
	       "create_index_not_concurrently t 2; unchecked 1",
	       "a 140 kB chain 1+1+...+random() (70000 levels): parsed on a stack its size, reported unchecked");
	is_str(findings(nested("ALTER TABLE t ADD COLUMN d float8 DEFAULT 1", "+1", 200000, "+random()", "",
			       ";\nCREATE INDEX i ON t (a);")),
	       "create_index_not_concurrently t 2; unchecked 1", "200000 levels: no crash either");
	/* a flat 256 kB statement needs a 65 MB stack: when the system will
	 * not give it (an address space limit), the usual 8 MB stack
	 * parses the rest and the long one is reported unchecked */
	is_str(findings(nested("CREATE INDEX i ON t (a) WHERE a <> '", "x", 262144, "", "", "';")),
	       "create_index_not_concurrently t 1", "a 256 kB statement, on a stack its size (65 MB)");
#ifdef UNDER_ASAN
	ok(1, "no room for its stack # SKIP AddressSanitizer reserves more address space than a limit leaves");
#else
	is_str(findings_with_address_space(nested("CREATE INDEX i ON t (a) WHERE a <> '", "x", 262144, "", "",
						  "';\nCREATE INDEX j ON t (b);"), (size_t)12 << 20),
	       "create_index_not_concurrently t 2; unchecked 1",
	       "no room for its stack: the 256 kB statement unchecked, the next checked (not out of memory)");
#endif
	is_str(findings(nested("ALTER TABLE t ADD COLUMN d float8 DEFAULT 1", "+1", 1100000, "+random()", "",
			       ";\nCREATE INDEX i ON t (a);")),
	       "create_index_not_concurrently t 2; unchecked 1",
	       "a 2.2 MB statement would need over 512 MB of stack: not parsed, reported unchecked");

	/* only ALTER, CREATE and DROP are parsed */
	is_str(findings(nested("INSERT INTO t VALUES (1", "+1", 1100000, "", "", ");\nCREATE INDEX i ON t (a);")),
	       "create_index_not_concurrently t 2", "a huge INSERT is not parsed (not even reported unchecked)");
	is_str(findings(nested("insert into t values (1", "+1", 200000, "", "", ");")), "",
	       "a deep insert, lower case: not parsed");
	is_str(findings(nested("WITH x AS (SELECT 1", "+1", 200000, "", "", ") SELECT * FROM x;")), "",
	       "a deep WITH ... SELECT: not parsed");
	is_str(findings("/* first */ -- a comment\n  create index i on t (a);"), "create_index_not_concurrently t 2",
	       "lower case after comments: parsed");
	is_str(findings("drop\ttable t;"), "drop_table t 1", "DROP then a tab");
	is_str(findings(nested("ALTER TABLE t ADD COLUMN d float8 DEFAULT 1", "+1", 200000, "", "", ";")),
	       "unchecked 1", "near miss: a deep ALTER is parsed (and reported)");

	/* renames and drops */
	is_str(findings("ALTER TABLE t RENAME COLUMN a TO b;"), "rename_column t 1", "rename column");
	is_str(findings("ALTER TABLE s.t RENAME TO u;"), "rename_table s.t 1", "rename table");
	is_str(findings("ALTER INDEX i RENAME TO j;"), "", "near miss: renaming an index");
	is_str(findings("ALTER TABLE t DROP COLUMN a;"), "drop_column t 1", "drop column");
	is_str(findings("DROP TABLE a, s.b;"), "drop_table a 1; drop_table s.b 1", "drop tables");
	is_str(findings("DROP INDEX i;"), "", "near miss: drop index");
	is_str(findings("CREATE TABLE tmp (a int);\nDROP TABLE tmp;"), "", "dropping the file's own table");

	/* several commands in one ALTER TABLE, lines */
	is_str(findings("SELECT 1;\nALTER TABLE t ADD COLUMN c int NOT NULL, ALTER COLUMN b TYPE text;"),
	       "add_column_not_null_no_default t 2; alter_column_type t 2", "one statement, two findings");
	is_str(findings("INSERT INTO t VALUES (1);\nUPDATE t SET a = 2;"), "", "plain DML");

	/* the directive */
	is_str(findings("-- momentum-maintd: allow-unsafe alter_column_type\nALTER TABLE t ALTER b TYPE text;"),
	       "alter_column_type t 2 allowed", "allow-unsafe accepts its check");
	is_str(findings("ALTER TABLE t ALTER b TYPE text;\n--momentum-maintd:  allow-unsafe   drop_column  \n"
			"ALTER TABLE t DROP COLUMN c;"),
	       "alter_column_type t 1; drop_column t 3 allowed", "only its check, anywhere in the file");
	contains(findings("SELECT 1;\n-- momentum-maintd: allow-unsafe drop_everything\n"),
		 "line 2: allow-unsafe: unknown check \"drop_everything\"", "unknown check: an error with its line");
	contains(err, "drop_column", "the error lists the known checks");
	contains(findings("-- momentum-maintd: allow-unsafe Drop_Column\n"), "check names are lower case",
		 "a known check in another case: told so");
	contains(findings("-- momentum-maintd: allow-unsafe drop_everything\n"), "unknown check",
		 "near miss: an unknown name is not told about case");
	ok(strstr(err, "lower case") == NULL, "... and not told about case");
	is_str(findings("-- momentum-maintd: allow-unsafe\nSELECT 1;"), "", "no check named: a comment");
	is_str(findings("-- momentum-maintd: allow-unsafe drop_table\n-- momentum-maintd: no-transaction\n"
			"DROP TABLE t;"), "drop_table t 3 allowed", "with no-transaction");
	ok(sc.no_transaction, "no-transaction still read");

	/* names */
	findings("ALTER TABLE \"My \"\"T\"\"\".\"x\" DROP COLUMN a;");
	if (rep.n == 1) {
		safety_qualified_name(&rep.items[0], buf, sizeof(buf));
		is_str(buf, "\"My \"\"T\"\"\".\"x\"", "quoted for to_regclass");
	} else {
		ok(0, "one finding for a quoted name");
	}

	/* sizes */
	ok(size_of("10 MB") == 10 * 1024 * 1024, "10 MB");
	ok(size_of("64kB") == 65536, "64kB");
	ok(size_of("0") == 0, "0");
	ok(size_of("512 bytes") == 512, "512 bytes");
	ok(size_of("1 gb") == 1073741824LL, "1 gb");
	ok(size_of("10 MiB") == -1, "unknown unit refused");
	ok(size_of("MB") == -1, "no number refused");
	ok(size_of("-1 MB") == -1, "negative refused");
	ok(size_of("99999999999999 TB") == -1, "overflow refused");
	size_format(65536, buf, sizeof(buf));
	is_str(buf, "64 kB", "64 kB");
	size_format(10 * 1024 * 1024, buf, sizeof(buf));
	is_str(buf, "10 MB", "10 MB");
	size_format(8192, buf, sizeof(buf));
	is_str(buf, "8192 bytes", "8192 bytes");

	sql_script_free(&sc);
	safety_report_free(&rep);
	return done_testing();
}
