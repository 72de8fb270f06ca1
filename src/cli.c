#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "checks.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "migfile.h"
#include "migplan.h"
#include "migrate.h"
#include "safety.h"
#include "msgid.h"
#include "oneshot.h"
#include "scheduler.h"
#include "sql_text.h"
#include "verify.h"

extern const char supabase_compat_sql[];

#define CONNECT_TIMEOUT_SEC 10

static void on_connected(struct db *db, bool ok, void *arg)
{
	struct oneshot *o = arg;

	(void)db;
	o->connected = ok;
	event_base_loopbreak(o->base);
}

static int oneshot_connect(struct oneshot *o, const struct conf *conf, const char *password, bool migrations);

int oneshot_open(struct oneshot *o, const struct conf *conf, const char *password)
{
	return oneshot_connect(o, conf, password, true);
}

static int oneshot_connect(struct oneshot *o, const struct conf *conf, const char *password, bool migrations)
{
	char err[1024];
	int rc;

	memset(o, 0, sizeof(*o));
	rc = migrations ? migration_set_load(conf->mig_directory, &o->set, err, sizeof(err)) : 0;
	if (rc < 0) {
		log_error("%s", err);
		return rc == -2 ? EX_CONFIG : EX_DATAERR;
	}
	o->base = event_base_new();
	o->db = o->base ? db_new(o->base, conf->db_conninfo, password) : NULL;
	if (o->db == NULL) {
		log_error("out of memory");
		return EX_SOFTWARE;
	}
	if (db_connect(o->db, CONNECT_TIMEOUT_SEC, on_connected, o) == 0)
		event_base_dispatch(o->base);
	if (!db_connected(o->db)) {
		log_error("database %s unavailable: %s", db_target(o->db), db_error(o->db));
		return EX_UNAVAILABLE;
	}
	return 0;
}

void oneshot_close(struct oneshot *o)
{
	db_free(o->db);
	if (o->base)
		event_base_free(o->base);
	migration_set_free(&o->set);
}

static int migrate_exit_code(enum migrate_result r)
{
	switch (r) {
	case MIGRATE_OK: return EX_OK;
	case MIGRATE_FAILED: return EX_DATAERR;
	case MIGRATE_DB_LOST: return EX_UNAVAILABLE;
	case MIGRATE_UNSAFE: return EX_CONFIG;
	}
	return EX_SOFTWARE;
}

static void on_migrated(enum migrate_result r, void *arg)
{
	struct oneshot *o = arg;

	o->result = r;
	event_base_loopbreak(o->base);
}

/* Ctrl-C or SIGTERM: the server must not go on with the statement. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct oneshot *o = arg;

	(void)what;
	o->signal = (int)sig;
	if (db_busy(o->db))
		db_cancel(o->db);
	db_close(o->db);
	event_base_loopbreak(o->base);
}

/* shared with adopt.c through oneshot.h; the short names stay here */
#define exec_ok oneshot_exec_ok
#define record_snapshot oneshot_record_snapshot
static void verify_after_migrating(struct event_base *base, struct db *db, const struct conf *conf);

/* The relation locks this transaction holds, strongest first; relations it
 * created itself are left out (nobody else can be waiting for them).  These
 * statements run between the files', with whatever search_path they set:
 * every function, operator and type is pg_catalog's by name (PG_EQ). */
#define PG_CAT(op) " OPERATOR(pg_catalog." op ") "
#define USER_RELKINDS "ANY ('{r,p,m}'::pg_catalog.\"char\"[])"
#define HELD_LOCKS_SQL \
	"SELECT n.nspname" PG_CAT("||") "'.'" PG_CAT("||") "c.relname, " \
	"pg_catalog.upper(pg_catalog.regexp_replace(pg_catalog.regexp_replace(l.mode, 'Lock$', ''), " \
	"'([a-z])([A-Z])', '\\1 \\2', 'g')), " \
	"pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(c.oid)), c.reltuples::pg_catalog.int8 " \
	"FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid" PG_EQ "l.relation " \
	"JOIN pg_catalog.pg_namespace n ON n.oid" PG_EQ "c.relnamespace " \
	"WHERE l.pid" PG_EQ "pg_catalog.pg_backend_pid() AND l.locktype" PG_EQ "'relation' AND l.granted " \
	"AND n.nspname" PG_CAT("<>") "ALL ('{pg_catalog,information_schema}'::pg_catalog.name[]) " \
	"AND c.relkind" PG_EQ USER_RELKINDS " " \
	"AND c.oid" PG_EQ "ANY (SELECT oid FROM pg_temp.maintd_existing_relations) ORDER BY 1, 2"

static bool seen_lock(PGresult *before, const char *rel, const char *mode)
{
	int i;

	for (i = 0; before != NULL && i < PQntuples(before); i++)
		if (strcmp(PQgetvalue(before, i, 0), rel) == 0 && strcmp(PQgetvalue(before, i, 1), mode) == 0)
			return true;
	return false;
}

static void format_rows(const char *reltuples, char *buf, size_t size)
{
	double n = strtod(reltuples, NULL);

	if (n < 0)
		snprintf(buf, size, "rows unknown, never analyzed");
	else if (n >= 1e6)
		snprintf(buf, size, "%.1fM rows", n / 1e6);
	else if (n >= 1e4)
		snprintf(buf, size, "%.0fk rows", n / 1e3);
	else
		snprintf(buf, size, "%.0f rows", n);
}

/* The tables this migration rewrote: their file node changed since the
 * last look (the snapshot is moved on after each migration). */
#define REWRITTEN_SQL \
	"SELECT n.nspname" PG_CAT("||") "'.'" PG_CAT("||") "c.relname, " \
	"pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size(c.oid)) " \
	"FROM pg_temp.maintd_existing_relations e JOIN pg_catalog.pg_class c ON c.oid" PG_EQ "e.oid " \
	"JOIN pg_catalog.pg_namespace n ON n.oid" PG_EQ "c.relnamespace " \
	"WHERE c.relfilenode" PG_CAT("<>") "e.relfilenode ORDER BY 1"
#define REWRITTEN_SEEN_SQL \
	"UPDATE pg_temp.maintd_existing_relations e SET relfilenode = c.relfilenode FROM pg_catalog.pg_class c " \
	"WHERE c.oid" PG_EQ "e.oid AND c.relfilenode" PG_CAT("<>") "e.relfilenode"

static void print_rewrites(PGconn *c)
{
	PGresult *r = PQexec(c, REWRITTEN_SQL);
	int k;

	for (k = 0; PQresultStatus(r) == PGRES_TUPLES_OK && k < PQntuples(r); k++) {
		printf("  rewrites ");
		fputs_escaped(stdout, PQgetvalue(r, k, 0), ESCAPE_LINE);   /* a table's name */
		printf(" (%s)\n", PQgetvalue(r, k, 1));
	}
	PQclear(r);
	exec_ok(c, REWRITTEN_SEEN_SQL, "moving the rewrite check on");
}

static const char *verdict_text(enum safety_verdict v)
{
	switch (v) {
	case SAFETY_REFUSED: return "refused (migrations.safety = refuse)";
	case SAFETY_WARNED: return "warning (migrations.safety = warn: applied all the same)";
	case SAFETY_ALLOWED: return "accepted by allow-unsafe";
	case SAFETY_SMALL: return "below migrations.safety_min_size";
	default: return NULL;
	}
}

/* migrate up --dry-run: a pending file's safety findings. */
static void print_safety(const struct migration *mig, const struct safety_report *rep)
{
	size_t k;

	for (k = 0; rep != NULL && k < rep->n; k++) {
		const struct safety_finding *f = &rep->items[k];
		const char *verdict = verdict_text(f->verdict);
		char table[300], size[96];

		if (verdict == NULL)
			continue;
		safety_display_name(f, table, sizeof(table));
		safety_describe_size(f, size, sizeof(size));
		/* names come from the file: each on its line, escaped */
		printf("  ");
		fputs_escaped(stdout, mig->path, ESCAPE_LINE);
		printf(":%d: %s on ", f->line, f->check);
		fputs_escaped(stdout, table, ESCAPE_LINE);
		printf(" (%s): %s\n    ", size, verdict);
		fputs_escaped(stdout, f->what, ESCAPE_LINE);
		printf("\n    the safe way: %s\n", safety_safe_way(f));
		if (f->verdict == SAFETY_REFUSED || f->verdict == SAFETY_WARNED)
			printf("    or accept it on purpose: -- momentum-maintd: allow-unsafe %s (in the file)\n", f->check);
	}
}

/* The first finding of rep on a table at least migrations.safety_min_size
 * (refused, warned or accepted): running its file would hold the lock for
 * the whole rewrite, build or scan.  NULL when there is none. */
static const struct safety_finding *first_unsafe(const struct safety_report *rep)
{
	size_t k;

	for (k = 0; rep != NULL && k < rep->n; k++)
		if (rep->items[k].verdict == SAFETY_REFUSED || rep->items[k].verdict == SAFETY_WARNED ||
		    rep->items[k].verdict == SAFETY_ALLOWED)
			return &rep->items[k];
	return NULL;
}

/* migrate up --dry-run --locks: each pending migration runs inside one
 * transaction that is always rolled back, with the short lock timeout,
 * and what it locked is read from pg_locks after it.  A file with a
 * finding on a table at least migrations.safety_min_size is not run (its
 * rewrite or build would hold the lock as long as the real run), and the
 * check's statement_timeout (ten times migrations.lock_timeout, 30 s when
 * that is 0) bounds what runs. */
static void print_locks(PGconn *c, const struct conf *conf, const struct migration_set *set,
			const struct migrator *m)
{
	PGresult *before = NULL, *r;
	char sql[512];
	bool broken = false;
	size_t i;

	snprintf(sql, sizeof(sql), "BEGIN; CREATE TEMP TABLE maintd_existing_relations ON COMMIT DROP AS "
		 "SELECT oid, relfilenode FROM pg_catalog.pg_class WHERE relkind" PG_EQ USER_RELKINDS "; "
		 "SET LOCAL lock_timeout = %lld; SET LOCAL statement_timeout = %lld",
		 (long long)conf->mig_lock_timeout_ms,
		 conf->mig_lock_timeout_ms > 0 ? (long long)conf->mig_lock_timeout_ms * 10 : 30000LL);
	if (!exec_ok(c, sql, "starting the lock check"))
		return;
	if (conf->mig_supabase_compat && !exec_ok(c, supabase_compat_sql, "compatibility step (in the lock check)"))
		broken = true;
	for (i = 0; i < set->n; i++) {
		const struct migration *mig = &set->items[i];
		const struct safety_finding *unsafe;
		size_t j;
		int k, shown = 0;

		if (!migrator_is_pending(m, i))
			continue;
		printf("%s:\n", mig->name);
		if (mig->script.no_transaction) {
			printf("  not checked: no-transaction migrations cannot run in a rolled-back transaction\n");
			continue;
		}
		if (broken) {
			printf("  not checked: an earlier step failed in the check\n");
			continue;
		}
		unsafe = first_unsafe(migrator_safety(m, i));
		if (unsafe != NULL) {
			char table[300], size[96];

			safety_display_name(unsafe, table, sizeof(table));
			safety_describe_size(unsafe, size, sizeof(size));
			printf("  not run: line %d: %s on ", unsafe->line, unsafe->check);
			fputs_escaped(stdout, table, ESCAPE_LINE);
			printf(" (%s) would hold its lock for the whole operation; the findings above say what it does\n",
			       size);
			continue;
		}
		for (j = 0; j < mig->script.n && !broken; j++) {
			char *stmt = strndup(mig->sql + mig->script.stmts[j].start, mig->script.stmts[j].len);

			r = PQexec(c, stmt);
			free(stmt);
			if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
				printf("  could not check, line %d: ERROR %s: ", mig->script.stmts[j].line,
				       db_sqlstate(r));
				fputs_escaped(stdout, db_message(r), ESCAPE_LINE);
				putchar('\n');
				broken = true;
			}
			PQclear(r);
		}
		if (broken)
			continue;
		r = PQexec(c, HELD_LOCKS_SQL);
		for (k = 0; PQresultStatus(r) == PGRES_TUPLES_OK && k < PQntuples(r); k++) {
			char rows[64];

			if (seen_lock(before, PQgetvalue(r, k, 0), PQgetvalue(r, k, 1)))
				continue;
			format_rows(PQgetvalue(r, k, 3), rows, sizeof(rows));
			printf("  %s on ", PQgetvalue(r, k, 1));
			fputs_escaped(stdout, PQgetvalue(r, k, 0), ESCAPE_LINE);   /* a table's name */
			printf(" (%s, %s)\n", PQgetvalue(r, k, 2), rows);
			shown++;
		}
		if (shown == 0)
			printf("  no lock on an existing table\n");
		PQclear(before);
		before = r;
		print_rewrites(c);
	}
	PQclear(before);
	exec_ok(c, "ROLLBACK", "rolling back the lock check");
}

int cli_migrate_up(const struct conf *conf, const char *password, bool dry_run, bool locks)
{
	struct oneshot o;
	struct migrator *m = NULL;
	struct event *sig_int = NULL, *sig_term = NULL;
	int rc = oneshot_open(&o, conf, password);
	size_t i, n = 0;

	if (rc != 0)
		goto out;
	m = migrator_new(o.base, o.db, conf, &o.set, on_migrated, &o);
	if (m == NULL) {
		rc = EX_SOFTWARE;
		goto out;
	}
	migrator_set_dry_run(m, dry_run);
	sig_int = evsignal_new(o.base, SIGINT, on_signal, &o);
	sig_term = evsignal_new(o.base, SIGTERM, on_signal, &o);
	if (sig_int == NULL || sig_term == NULL || event_add(sig_int, NULL) < 0 || event_add(sig_term, NULL) < 0) {
		rc = EX_SOFTWARE;
		goto out;
	}
	migrator_start(m);
	event_base_dispatch(o.base);
	if (o.signal != 0) {
		log_notice("%s received: the running statement was cancelled, its migration rolled back",
			   strsignal(o.signal));
		rc = 128 + o.signal;
		goto out;
	}
	rc = migrate_exit_code(o.result);
	if (o.result != MIGRATE_OK)
		goto out;
	if (!dry_run) {
		record_snapshot(db_pgconn(o.db));
		if (migrator_applied_now(m) > 0 &&
		    (conf->environment == ENV_STAGING || conf->environment == ENV_PRODUCTION))
			verify_after_migrating(o.base, o.db, conf);
		printf("%zu migration(s) applied, %zu applied in all\n",
		       migrator_applied_now(m), migrator_applied_total(m));
		goto out;
	}
	for (i = 0; i < o.set.n; i++) {
		const struct migration *mig = &o.set.items[i];

		if (!migrator_is_pending(m, i))
			continue;
		n++;
		printf("would apply %s%s%s%s\n", mig->name,
		       mig->script.no_transaction ? " (no-transaction)" : "",
		       migrator_was_interrupted(m, i) ? " (re-run: it was interrupted)" : "",
		       mig->rollback_path ? "" : " (no rollback file)");
		print_safety(mig, migrator_safety(m, i));
	}
	if (locks && n > 0)
		print_locks(db_pgconn(o.db), conf, &o.set, m);
	if (migrator_dry_run_refusal(m) != MIGRATE_OK) {
		printf("nothing would be applied: the %s environment's rules refuse this run (the error says why); "
		       "nothing was changed (dry run)\n", conf_environment_name(conf->environment));
		rc = migrate_exit_code(migrator_dry_run_refusal(m));
		goto out;
	}
	if (migrator_safety_refused(m) > 0) {
		printf("nothing would be applied: %zu unsafe statement(s) refused (migrations.safety = refuse); "
		       "nothing was changed (dry run)\n", migrator_safety_refused(m));
		rc = EX_DATAERR;
		goto out;
	}
	printf("%zu migration(s) would be applied; nothing was changed (dry run)\n", n);
out:
	if (sig_int)
		event_free(sig_int);
	if (sig_term)
		event_free(sig_term);
	migrator_free(m);
	oneshot_close(&o);
	return rc;
}

static void print_status_json(const struct migplan_entry *e, bool first)
{
	printf("%s\n  {\"version\": %" PRId64 ", \"name\": ", first ? "" : ",", e->version);
	json_fputs(stdout, e->name);
	printf(", \"state\": ");
	json_fputs(stdout, migplan_state_name(e->state));
	printf(", \"applied_at\": ");
	if (e->applied) json_fputs(stdout, e->applied->at); else printf("null");
	printf(", \"checksum\": ");
	if (e->applied) json_fputs(stdout, e->applied->checksum); else printf("null");
	printf(", \"file_checksum\": ");
	if (e->file) json_fputs(stdout, e->file->checksum); else printf("null");
	printf("}");
}

static void print_status_text(const struct migplan_entry *e)
{
	const char *sum = e->state == MIGPLAN_CHANGED ? "CHANGED since applied"
		: e->state == MIGPLAN_FILE_MISSING ? "FILE MISSING"
		: e->applied ? "ok" : "-";

	/* the name may come from a tracking row: escaped, padded as %-36s */
	char *name = escaped_dup(e->name, ESCAPE_LINE);

	printf("%-8" PRId64 " %-36s %-14s %-24s %s\n", e->version, name ? name : "?", migplan_state_name(e->state),
	       e->applied ? e->applied->at : "-", sum);
	free(name);
}

/* Every migration with a file or a tracking row, by version; returns how
 * many need attention (changed, out-of-order, file-missing). */
static int print_status(const struct migplan *p, bool json)
{
	size_t i, shown = 0;
	int problems = 0;

	if (json)
		printf("{\"migrations\": [");
	else
		printf("%-8s %-36s %-14s %-24s %s\n", "VERSION", "NAME", "STATE", "APPLIED_AT", "CHECKSUM");
	for (i = 0; i < p->n; i++) {
		const struct migplan_entry *e = &p->entries[i];

		/* an in-progress mark whose file is gone: the daemon warns about it */
		if (e->file == NULL && e->applied == NULL)
			continue;
		if (json)
			print_status_json(e, shown == 0);
		else
			print_status_text(e);
		shown++;
		problems += e->state == MIGPLAN_CHANGED || e->state == MIGPLAN_OUT_OF_ORDER ||
			    e->state == MIGPLAN_FILE_MISSING;
	}
	if (json)
		printf("\n]}\n");
	return problems;
}

/* The syntax errors of the files not applied, as "migrate up" would
 * report them before sending anything; how many. */
static int status_syntax_errors(const struct migplan *p, PGconn *c)
{
	int bad = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->entries[i].file != NULL && p->entries[i].applied == NULL &&
		    migrate_syntax_error(p->entries[i].file, PQserverVersion(c)))
			bad++;
	return bad;
}

/* What the bookkeeping says, if there is any: the rows of
 * migrate_read_applied_sql(), or (never migrated) an answer without them.
 * A one-shot command owns the process: plain blocking libpq is fine here. */
static PGresult *read_applied(PGconn *c)
{
	PGresult *res = PQexec(c, MIGRATE_BOOKKEEPING_EXISTS_SQL);

	if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		bool with_in_progress = strcmp(PQgetvalue(res, 0, 1), "t") == 0;

		PQclear(res);
		res = PQexec(c, migrate_read_applied_sql(with_in_progress));
	}
	return res;
}

/* The plan's states, as the daemon derives them (see migplan.h). */
int cli_migrate_status(const struct conf *conf, const char *password, bool json)
{
	struct oneshot o;
	PGresult *res = NULL;
	struct migplan_row *rows = NULL;
	struct migplan p = { 0 };
	int rc = oneshot_open(&o, conf, password), nrows = 0;

	if (rc != 0)
		goto out;
	res = read_applied(db_pgconn(o.db));
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("reading momentum_maintd.schema_migrations: %s", db_message(res));
		rc = db_connected(o.db) ? EX_SOFTWARE : EX_UNAVAILABLE;
		goto out;
	}
	if (PQnfields(res) == 5)
		nrows = migrate_applied_rows(res, &rows);
	if (nrows < 0 || migplan_build(&p, &o.set, rows, (size_t)nrows, conf->mig_on_out_of_order) < 0) {
		rc = EX_SOFTWARE;
		goto out;
	}
	rc = print_status(&p, json) + status_syntax_errors(&p, db_pgconn(o.db)) > 0 ? EX_DATAERR : EX_OK;
out:
	migplan_free(&p);
	free(rows);
	PQclear(res);
	oneshot_close(&o);
	return rc;
}

/* Blocking helpers for the one-shot commands that change the database. */
bool exec_ok(PGconn *c, const char *sql, const char *what)
{
	PGresult *r = PQexec(c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		log_error("%s: ERROR %s: %s", what, db_sqlstate(r), db_message(r));
	PQclear(r);
	return ok;
}

/* After a migration run: the schema as the migrations left it, which the
 * verification's drift check compares with.  Not fatal: the daemon records
 * it at its next pass too. */
void record_snapshot(PGconn *c)
{
	const char *sql = verify_sql_record();
	PGresult *r = sql != NULL ? PQexec(c, sql) : NULL;

	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
		log_warning("recording the schema snapshot for verify: %s%s (the daemon records it at its next "
			    "verification pass)", r ? "ERROR " : "out of memory", r ? db_message(r) : "");
	PQclear(r);
}

/* Takes the migration lock with the daemon's statements and its reading of
 * the session check (migrate.h), blocking.  Returns 0 or an exit code. */
int oneshot_take_lock(struct oneshot *o)
{
	PGconn *c = db_pgconn(o->db);
	PGresult *r = PQexec(c, MIGRATION_LOCK_TRY_SQL);
	bool got = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;

	PQclear(r);
	if (!got) {
		fprintf(stderr, "waiting for the migration lock held by another instance...\n");
		if (!exec_ok(c, MIGRATION_LOCK_WAIT_SQL, "taking the migration lock"))
			return PQstatus(c) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
	}
	r = PQexec(c, MIGRATION_LOCK_HELD_SQL);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_error("checking the migration lock: %s", db_message(r));
		PQclear(r);
		return PQstatus(c) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
	}
	got = migration_lock_held(PQbackendPID(c), PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), NULL) &&
	      (PQbackendPID(c) == atoi(PQgetvalue(r, 0, 0)) || !migration_pooler_shares_session(c));
	PQclear(r);
	return got ? EX_OK : EX_CONFIG;
}

/* Reads the applied versions, newest first. */
static PGresult *applied_desc(PGconn *c)
{
	PGresult *r = PQexec(c, "SELECT version, name FROM momentum_maintd.schema_migrations ORDER BY version DESC");

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_error("reading momentum_maintd.schema_migrations: %s", db_message(r));
		PQclear(r);
		return NULL;
	}
	return r;
}

static bool confirm(const char *question, bool yes)
{
	char answer[16];

	if (yes)
		return true;
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr, "%s: refusing without --yes (stdin is not a terminal to ask)\n", PACKAGE_NAME);
		return false;
	}
	fprintf(stderr, "%s [y/N] ", question);
	if (fgets(answer, sizeof(answer), stdin) == NULL)
		return false;
	return answer[0] == 'y' || answer[0] == 'Y';
}

/* Runs one rollback file and removes its tracking row, in one transaction. */
static int roll_back_one(PGconn *c, const struct migration *m)
{
	struct sql_script script = { 0 };
	char *sql = NULL, err[1024], v[24];
	const char *params[1] = { v };
	PGresult *r = NULL;
	size_t i;
	int rc = EX_DATAERR;

	if (migration_read_rollback(m, &sql, &script, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EX_DATAERR;
	}
	if (!exec_ok(c, "BEGIN", "starting the rollback transaction"))
		goto out;
	for (i = 0; i < script.n; i++) {
		char *stmt = strndup(sql + script.stmts[i].start, script.stmts[i].len);

		r = PQexec(c, stmt);
		free(stmt);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
			migrate_report_error("rollback", m, m->rollback_path, sql, &script.stmts[i],
					     "(rolled back: the migration stays applied)", r);
			exec_ok(c, "ROLLBACK", "rolling back");
			goto out;
		}
		PQclear(r);
		r = NULL;
	}
	snprintf(v, sizeof(v), "%" PRId64, m->version);
	/* after the rollback's statements, under whatever search_path they
	 * left: pg_catalog's = by name */
	r = PQexecParams(c, "DELETE FROM momentum_maintd.schema_migrations WHERE version OPERATOR(pg_catalog.=) $1",
			 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		log_error("removing the tracking row of %s: %s", m->name, db_message(r));
		exec_ok(c, "ROLLBACK", "rolling back");
		goto out;
	}
	if (!exec_ok(c, "COMMIT", "committing the rollback"))
		goto out;
	{
		struct log_field f[] = { { "MIGRATION", m->name }, { "FILE", m->rollback_path } };

		log_emit(LOG_NOTICE, NULL, LOG_FIELDS(f), "rolled back migration %s", m->name);
	}
	rc = EX_OK;
out:
	PQclear(r);
	free(sql);
	sql_script_free(&script);
	return rc;
}

/* Every rollback needed must be there before anything is undone: the
 * number of applied migrations newer than to (applied is newest first),
 * or -1 when a rollback file is missing (each one logged).  question names
 * them. */
static int rollbacks_needed(const struct conf *conf, const struct migration_set *set, const PGresult *applied,
			    int64_t to, char *question, size_t size)
{
	int i, n = 0, missing = 0;
	size_t used = (size_t)snprintf(question, size, "Roll back");

	for (i = 0; i < PQntuples(applied); i++) {
		int64_t v = strtoll(PQgetvalue(applied, i, 0), NULL, 10);
		const struct migration *m = migration_set_find(set, v);

		if (v <= to)
			break;
		n++;
		if (m == NULL) {
			log_error("migration %s is applied but its file is gone from %s: cannot find its rollback",
				  PQgetvalue(applied, i, 1), conf->mig_directory);
			missing++;
		} else if (m->rollback_path == NULL) {
			char want[512];

			migfile_rollback_name(m->name, want, sizeof(want));
			log_error("%s: no rollback file (expected %s/%s)", m->path, conf->mig_directory, want);
			missing++;
		}
		if (used < size)
			used += (size_t)snprintf(question + used, size - used, "%s %s", n > 1 ? "," : "",
						 PQgetvalue(applied, i, 1));
	}
	if (used < size)
		snprintf(question + used, size - used, "? Rollbacks may delete data.");
	if (missing) {
		log_error("nothing rolled back: %d rollback file(s) missing", missing);
		return -1;
	}
	return n;
}

int cli_migrate_down(const struct conf *conf, const char *password, int64_t to, bool yes)
{
	struct oneshot o;
	PGresult *applied = NULL;
	PGconn *c;
	int rc = oneshot_open(&o, conf, password), i, n;
	char question[2048];

	if (rc != 0)
		goto out;
	c = db_pgconn(o.db);
	rc = oneshot_take_lock(&o);
	if (rc != EX_OK)
		goto out;
	applied = applied_desc(c);
	n = applied != NULL ? rollbacks_needed(conf, &o.set, applied, to, question, sizeof(question)) : -1;
	if (n < 0) {
		rc = EX_DATAERR;
		goto out;
	}
	if (n == 0) {
		printf("nothing to roll back: no applied migration is newer than %" PRId64 "\n", to);
		goto out;
	}
	if (!confirm(question, yes)) {
		rc = EX_USAGE;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const struct migration *m = migration_set_find(&o.set, strtoll(PQgetvalue(applied, i, 0), NULL, 10));

		rc = roll_back_one(c, m);
		if (rc != EX_OK) {
			if (!db_connected(o.db) || PQstatus(c) != CONNECTION_OK)
				rc = EX_UNAVAILABLE;
			goto out;
		}
	}
	record_snapshot(c);
	printf("%d migration(s) rolled back; newest applied is now at most %" PRId64 "\n", n, to);
out:
	PQclear(applied);
	oneshot_close(&o);
	return rc;
}

int cli_migrate_baseline(const struct conf *conf, const char *password, int64_t version)
{
	struct oneshot o;
	PGconn *c;
	size_t j, n = 0;
	int rc = oneshot_open(&o, conf, password);

	if (rc != 0)
		goto out;
	if (migration_set_find(&o.set, version) == NULL) {
		log_error("baseline %" PRId64 ": no migration with that version in %s", version, conf->mig_directory);
		rc = EX_USAGE;
		goto out;
	}
	c = db_pgconn(o.db);
	rc = oneshot_take_lock(&o);
	if (rc != EX_OK)
		goto out;
	/* the bootstrap with pg_catalog's functions (its now() defaults), in
	 * the baseline's transaction */
	if (!exec_ok(c, "BEGIN; SET LOCAL search_path = pg_catalog", "starting the baseline transaction") ||
	    !exec_ok(c, sql_migrate_bootstrap, "creating momentum_maintd")) {
		rc = db_connected(o.db) ? EX_SOFTWARE : EX_UNAVAILABLE;
		goto out;
	}
	for (j = 0; j < o.set.n && o.set.items[j].version <= version; j++) {
		const struct migration *m = &o.set.items[j];
		char v[24];
		const char *params[3] = { v, m->name, m->checksum };
		PGresult *r;

		snprintf(v, sizeof(v), "%" PRId64, m->version);
		r = PQexecParams(c, "INSERT INTO momentum_maintd.schema_migrations (version, name, checksum, duration, applied_by) "
				    "VALUES ($1, $2, $3, '0', current_user OPERATOR(pg_catalog.||) ' (baseline)') "
				    "ON CONFLICT (version) DO NOTHING",
				 3, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			log_error("recording %s: %s", m->name, db_message(r));
			PQclear(r);
			exec_ok(c, "ROLLBACK", "rolling back");
			rc = EX_SOFTWARE;
			goto out;
		}
		if (strcmp(PQcmdTuples(r), "1") == 0) {
			printf("recorded %s as applied (not run)\n", m->name);
			n++;
		}
		PQclear(r);
	}
	if (!exec_ok(c, "COMMIT", "committing the baseline")) {
		rc = EX_SOFTWARE;
		goto out;
	}
	record_snapshot(c);
	printf("baseline at %" PRId64 ": %zu migration(s) recorded; later ones will be applied normally\n", version, n);
	rc = EX_OK;
out:
	oneshot_close(&o);
	return rc;
}

struct job_outcome {
	struct event_base *base;
	bool done;
	enum run_status st;
	int64_t rows;
	char error[512];
};

static void on_job_done(const char *job, enum run_status st, int64_t rows, const char *error, void *arg)
{
	struct job_outcome *r = arg;

	(void)job;
	r->done = true;
	r->st = st;
	r->rows = rows;
	snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
	event_base_loopbreak(r->base);
}

static void on_job_signal(evutil_socket_t sig, short what, void *arg)
{
	struct scheduler *s = arg;

	(void)sig; (void)what;
	scheduler_stop(s, NULL, NULL);
}

int cli_run_job(const struct conf *conf, const char *password, const char *name)
{
	struct job_outcome r = { 0 };
	struct scheduler *s = NULL;
	struct event *sig_int = NULL, *sig_term = NULL;
	int rc = EX_SOFTWARE;

	r.base = event_base_new();
	if (r.base == NULL || (s = scheduler_new(r.base, conf, password)) == NULL)
		goto out;
	scheduler_set_done_cb(s, on_job_done, &r);
	if (strcmp(name, "verify") == 0)
		verify_log_ignored(conf->verify_ignore);
	if (!scheduler_run_now(s, name)) {
		fprintf(stderr, "%s: run-job: unknown job '%s' (jobs: zoom-token-cleanup, verify)\n", PACKAGE_NAME, name);
		rc = EX_USAGE;
		goto out;
	}
	sig_int = evsignal_new(r.base, SIGINT, on_job_signal, s);
	sig_term = evsignal_new(r.base, SIGTERM, on_job_signal, s);
	if (sig_int == NULL || sig_term == NULL || event_add(sig_int, NULL) < 0 || event_add(sig_term, NULL) < 0)
		goto out;
	if (!r.done)
		event_base_dispatch(r.base);
	switch (r.st) {
	case RUN_OK:
		if (strcmp(name, "verify") == 0) {
			int counts[3];
			time_t at;
			char summary[96];

			scheduler_verify_counts(s, counts, &at);
			findings_summary(counts, summary, sizeof(summary));
			printf("verify: %s (each new, reminded or resolved finding is logged; "
			       "'momentum-maintd verify' lists them all)\n", summary);
		} else {
			printf("%s: deleted %" PRId64 " expired Zoom token(s)%s", name, r.rows,
			       r.error[0] ? "; " : "");
			fputs_escaped(stdout, r.error, ESCAPE_LINE);
			putchar('\n');
		}
		rc = EX_OK;
		break;
	case RUN_SKIPPED:
		printf("%s: skipped: ", name);
		fputs_escaped(stdout, r.error, ESCAPE_LINE);   /* may quote the server */
		putchar('\n');
		rc = EX_TEMPFAIL;
		break;
	case RUN_CANCELLED:
		printf("%s: cancelled after deleting %" PRId64 " row(s)\n", name, r.rows);
		rc = 130;
		break;
	case RUN_FAILED:
		rc = strncmp(r.error, "database unavailable", 20) == 0 || strncmp(r.error, "connection lost", 15) == 0
			? EX_UNAVAILABLE : EX_DATAERR;
		break;
	}
out:
	if (sig_int)
		event_free(sig_int);
	if (sig_term)
		event_free(sig_term);
	scheduler_free(s);
	if (r.base)
		event_base_free(r.base);
	return rc;
}

/* One verification pass (verify.c), read-only, driven on the one-shot
 * connection's own loop: the checks on it while the probe runs on a
 * connection of its own.  Returns 0, or an exit code (the database went
 * away, the probe did not end, or out of memory). */
struct pass_driver {
	struct event_base *base;
	struct db *db;
	struct db *probe;         /* the probe's own connection */
	struct event *deadline;   /* the probe's: cancel, then terminate */
	bool cancel_sent, terminating;
	bool terminate_when_free; /* ... once the checks answer on db */
	struct verify_pass *p;
	int rc;                   /* -1 while the pass runs */
};

static void pass_next(struct pass_driver *r, enum verify_next next, const PGresult *res);
static void terminate_probe(struct pass_driver *r);

static void pass_end(struct pass_driver *r, int rc)
{
	r->rc = rc;
	event_base_loopbreak(r->base);
}

static void on_pass_result(struct db *db, PGresult *res, void *arg)
{
	struct pass_driver *r = arg;

	if (r->terminating)
		return;
	if (db == r->probe) {
		evtimer_del(r->deadline);
	} else if (r->terminate_when_free) {
		r->terminate_when_free = false;
		if (db_busy(r->probe)) {
			terminate_probe(r);
			return;
		}
	}
	pass_next(r, verify_pass_result(r->p, db == r->probe, res, db_connected(db)), res);
}

static void on_probe_connected(struct db *db, bool ok, void *arg)
{
	struct pass_driver *r = arg;

	if (ok && r->p->made_login)
		log_debug("verify: the probe connects as %s, with a password set for this pass", VERIFY_PROBE_LOGIN);
	pass_next(r, verify_pass_connected(r->p, ok, db_error(db)), NULL);
}

static void on_terminated(struct db *db, PGresult *res, void *arg)
{
	struct pass_driver *r = arg;
	bool ended = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	(void)db;
	log_error("verification: the probe did not end %d ms after its statement timeout, nor when cancelled "
		  "(a policy or trigger that catches query_canceled?): its backend %s", VERIFY_PROBE_GRACE_MS,
		  ended ? "was terminated" : "could not be terminated");
	pass_end(r, EX_SOFTWARE);
}

/* From the one-shot connection, once the checks have answered on it. */
static void terminate_probe(struct pass_driver *r)
{
	char pid[16];
	const char *params[1] = { pid };

	if (db_busy(r->db)) {
		r->terminate_when_free = true;
		return;
	}
	r->terminating = true;
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(db_pgconn(r->probe)));
	if (db_query(r->db, "SELECT pg_catalog.pg_terminate_backend($1::int, 5000)", 1, params, on_terminated, r) < 0)
		pass_end(r, EX_UNAVAILABLE);
}

static void on_probe_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct pass_driver *r = arg;
	struct timeval tv = { .tv_sec = VERIFY_PROBE_CANCEL_GRACE_MS / 1000 };

	(void)fd; (void)what;
	if (!r->cancel_sent) {
		r->cancel_sent = true;
		db_cancel(r->probe);
		evtimer_add(r->deadline, &tv);
		return;
	}
	terminate_probe(r);
}

/* Does what the pass says, and what it says next, until it waits for a
 * result (on either connection) or is over. */
static void pass_next(struct pass_driver *r, enum verify_next next, const PGresult *res)
{
	struct verify_pass *p = r->p;
	struct timeval tv = { .tv_sec = (p->probe_timeout_ms + VERIFY_PROBE_GRACE_MS) / 1000 };

	for (;;) {
		switch (next) {
		case VERIFY_SEND:
			if (db_query(p->on_probe ? r->probe : r->db, p->sql, 0, NULL, on_pass_result, r) < 0) {
				log_error("verification query failed: %s", db_error(p->on_probe ? r->probe : r->db));
				pass_end(r, EX_UNAVAILABLE);
				return;
			}
			if (p->on_probe && p->probe_step == VERIFY_PROBE) {
				r->cancel_sent = false;
				evtimer_add(r->deadline, &tv);
			}
			next = verify_pass_next(p);
			continue;
		case VERIFY_CONNECT_PROBE:
			r->probe = db_new(r->base, p->probe_conninfo, p->probe_password);
			if (r->probe == NULL) {
				log_error("out of memory");
				pass_end(r, EX_SOFTWARE);
				return;
			}
			next = db_connect(r->probe, CONNECT_TIMEOUT_SEC, on_probe_connected, r) < 0
				? verify_pass_connected(p, false, db_error(r->probe)) : verify_pass_next(p);
			continue;
		case VERIFY_WAIT:
			return;
		case VERIFY_DONE:
			pass_end(r, EX_OK);
			return;
		case VERIFY_FAILED:
			log_error("verification query failed: ERROR %s: %s", db_sqlstate(res), db_message(res));
			pass_end(r, db_connected(r->db) ? EX_SOFTWARE : EX_UNAVAILABLE);
			return;
		case VERIFY_CANCELLED:        /* never: the command does not stop a pass */
			pass_end(r, EX_SOFTWARE);
			return;
		case VERIFY_NOMEM:
			log_error("out of memory");
			pass_end(r, EX_SOFTWARE);
			return;
		}
	}
}

static int verify_pass(struct event_base *base, struct db *db, const struct conf *conf, struct verify_pass *p)
{
	struct pass_driver r = { .base = base, .db = db, .p = p, .rc = -1 };

	verify_pass_init(p, conf, false, db_pgconn(db));
	r.deadline = evtimer_new(base, on_probe_deadline, &r);
	if (r.deadline == NULL) {
		log_error("out of memory");
		r.rc = EX_SOFTWARE;
	} else {
		pass_next(&r, verify_pass_start(p), NULL);
		if (r.rc < 0)
			event_base_dispatch(base);
	}
	if (r.deadline != NULL)
		event_free(r.deadline);
	db_free(r.probe);
	/* still -1: a signal closed the connection (migrate up) */
	return r.rc < 0 ? EX_UNAVAILABLE : r.rc;
}

/* After "migrate up" applied something in staging or production: the
 * verification's findings, logged (the command's exit status stays). */
static void verify_after_migrating(struct event_base *base, struct db *db, const struct conf *conf)
{
	struct verify_pass p;
	char summary[96];
	size_t i;

	if (verify_pass(base, db, conf, &p) != EX_OK) {
		verify_pass_free(&p);
		return;
	}
	for (i = 0; i < p.found.n; i++) {
		const struct finding *x = &p.found.v[i];
		char key[1024];

		finding_key(x, key, sizeof(key));
		{
			/* no MESSAGE_ID: the daemon's lifecycle (new, remind,
			 * resolved) owns that one; this is a one-shot report */
			struct log_field lf[] = { { "CHECK", x->check }, { "OBJECT", x->object },
						  { "FINDING_LEVEL", vlevel_name(x->level) }, { "FINDING_KEY", key },
						  { "REMEDY", x->remedy },
						  { "FINDING_CATEGORIES", check_categories(x->check) },
						  { "FINDING_FACING", check_facing(x->check) } };

			log_emit(x->level == VL_ERROR ? LOG_ERR : x->level == VL_WARN ? LOG_WARNING : LOG_INFO,
				 NULL, LOG_FIELDS(lf), "verify: %s %s %s: %s; fix: %s",
				 vlevel_name(x->level), x->check, x->object, x->detail, x->remedy);
		}
	}
	findings_summary(p.found.counts, summary, sizeof(summary));
	log_notice("verification after migrating: %s", summary);
	verify_pass_free(&p);
}

int cli_verify(const struct conf *conf, const char *password, bool json, const char *fail_on)
{
	struct oneshot o;
	struct verify_pass p = { 0 };
	int rc = oneshot_connect(&o, conf, password, false), threshold = vlevel_parse(fail_on ? fail_on : "error");
	size_t i;

	if (rc != 0)
		goto out;
	rc = verify_pass(o.base, o.db, conf, &p);
	if (rc != EX_OK)
		goto out;
	if (json)
		findings_print_json(stdout, &p.found);
	else
		findings_print_text(stdout, &p.found);
	for (i = 0; i < p.found.n; i++)
		if ((int)p.found.v[i].level <= threshold)
			rc = 1;
out:
	verify_pass_free(&p);
	oneshot_close(&o);
	return rc;
}
