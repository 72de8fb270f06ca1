#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "migfile.h"
#include "migplan.h"
#include "migrate.h"
#include "msgid.h"
#include "notify.h"
#include "safety.h"
#include "sql_text.h"
#include "timeutil.h"

extern const char supabase_compat_sql[];

#define PROGRESS_INTERVAL_SEC 5
/* EXTEND_TIMEOUT_USEC asks for this much more time, re-sent every interval */
#define EXTEND_USEC (30ULL * 1000000ULL)
/* after a lock timeout: 0.5 s, doubling, at most 32 s */
#define LOCK_RETRY_BASE_MS 500L
#define LOCK_RETRY_CAP_MS (500L << 6)
/* the new session after a file that may define a custom setting */
#define NEW_SESSION_CONNECT_TIMEOUT_SEC 10

/* Whether the bookkeeping is as the bootstrap (src/sql/migrate_bootstrap.sql)
 * leaves it: every relation it creates, and the comment it sets last.  Then
 * the next query only reads it.  to_regclass, not a cast: a fresh database
 * is no error in the server's log.  It runs under the database's
 * search_path: every function, operator and type is pg_catalog's by name. */
#define BOOKKEEPING_READY_SQL \
	"pg_catalog.to_regclass('momentum_maintd.schema_migrations') IS NOT NULL " \
	"AND pg_catalog.to_regclass('momentum_maintd.migrations_in_progress') IS NOT NULL " \
	"AND pg_catalog.to_regclass('momentum_maintd.job_runs_job_started_idx') IS NOT NULL " \
	"AND pg_catalog.to_regclass('momentum_maintd.job_runs_one_run_per_tick') IS NOT NULL " \
	"AND EXISTS (SELECT 1 FROM pg_catalog.pg_description " \
	"WHERE objoid" PG_EQ "pg_catalog.to_regclass('momentum_maintd.job_runs') " \
	"AND classoid" PG_EQ "'pg_catalog.pg_class'::pg_catalog.regclass AND objsubid" PG_EQ "0)"
/* The pooler check as a row with a NULL version (the server pid, and
 * whether this session holds the migration lock), put before
 * sql_migrate_applied: for bookkeeping that needs no bootstrap, the check
 * and the read are one round trip. */
#define LOCK_CHECK_ROW_SQL \
	"SELECT NULL::pg_catalog.int8, pg_catalog.pg_backend_pid()::pg_catalog.text, " \
	"(" MIGRATION_LOCK_HELD_EXPR ")::pg_catalog.text, false, '' " \
	"UNION ALL "
#define LOCK_HOLDER_SQL \
	"SELECT coalesce(pg_catalog.string_agg(l.pid::pg_catalog.text, ', '), 'unknown') " \
	"FROM pg_catalog.pg_locks l " \
	"WHERE l.locktype" PG_EQ "'advisory' AND l.granted AND l.classid" PG_EQ MIGRATION_LOCK_CLASSID \
	" AND l.objid" PG_EQ MIGRATION_LOCK_OBJID " AND l.objsubid" PG_EQ "2" \
	" AND l.database" PG_EQ "(SELECT oid FROM pg_catalog.pg_database " \
	"WHERE datname" PG_EQ "pg_catalog.current_database())"
/* the server's "must be owner of table x" (42501) */
#define NOT_OWNER "must be owner of "
/* A session as a new connection has it: what DISCARD ALL does, less its
 * pg_advisory_unlock_all(), which would let go of the migration lock (and
 * DISCARD ALL may not run in a transaction, where a file's set-up goes).
 * SET SESSION AUTHORIZATION DEFAULT also ends a SET ROLE; RESET ALL puts
 * application_name back to what the connection gave.  A custom setting a
 * file defined ("app.x") would stay defined, reading '': PostgreSQL has no
 * way to undefine one short of a new connection, which new_session makes.
 * Then the daemon's own settings: the DBA's timeouts are for the
 * application. */
#define SESSION_SETUP_WITH_LOCK_TIMEOUT(ms) \
	"CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; " \
	"DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES; " \
	"SET statement_timeout = 0; SET lock_timeout = " ms "; " \
	"SET idle_in_transaction_session_timeout = 0; SET idle_session_timeout = 0"
#define SESSION_SETUP_SQL SESSION_SETUP_WITH_LOCK_TIMEOUT("0") "; "
/* Who is in the way of a migration that timed out on a lock, read without
 * touching the session the file set up (a no-transaction file's retry goes
 * on in it): the query's own settings are LOCAL to a transaction of its
 * own, which blockers_found ends. */
#define BLOCKERS_SETUP_SQL \
	"BEGIN; SET LOCAL SESSION AUTHORIZATION DEFAULT; SET LOCAL ROLE NONE; " \
	"SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0; SET LOCAL search_path = pg_catalog; "

struct migrator;
/* A step of the run: handles the result of the query that named it. */
typedef void (*step_fn)(struct migrator *m, PGresult *res, bool ok);

/* Where the run is, for the progress report; each send names its next step. */
enum phase { PHASE_IDLE, PHASE_PREPARING, PHASE_BACKUP, PHASE_APPLYING, PHASE_LOCK_RETRY, PHASE_ENDING };

struct migrator {
	struct event_base *base;
	struct db *db;
	const struct conf *conf;
	const struct migration_set *set;
	migrate_done_cb done;
	void *arg;

	enum phase phase;
	step_fn next;             /* handles the result of the query in flight */
	bool *pending;            /* by index into set->items */
	size_t npending, applied_now, applied_total;
	size_t cur;               /* index of the migration being applied */
	size_t stmt;              /* index of its statement being run */
	enum migrate_result lock_lost_result; /* how a run that lost its lock ends */
	bool *interrupted;        /* no-transaction runs that never finished */
	bool pooler_noted;
	bool bookkeeping_ready;   /* as the lock was asked for: no bootstrap needed */
	char *bootstrap_and_read; /* statements put together once, in migrator_new */
	char *check_and_read;
	char *blockers;
	bool dry_run;             /* plan only: no lock, no bookkeeping, no change */
	bool resuming;            /* in a new session, after a file that may define a custom setting */
	bool session_clean;       /* reset (SESSION_SETUP_SQL, committed) since a file last ran in it */
	bool next_started;        /* the recording query also reset the session and began the next file */
	pid_t backup_pid;
	struct timespec backup_start;
	struct event *sigchld;
	struct event *retry;      /* backoff after a lock timeout */
	int lock_attempt;
	size_t cur_ordinal;       /* its place among the pending ones, from 1 */
	struct timespec cur_start;
	struct event *progress;
	char not_owner_of[128];   /* the relation a failed statement had to own ("" if none) */
	struct safety_report *safety; /* by index into set->items: pending files' findings */
	size_t safety_refused;
	enum migrate_result dry_run_refusal; /* what the environment's rules would say to a real run */
};

/* The steps of a run, in the order it takes them: each send names the
 * step that handles its result. */
static void lock_tried(struct migrator *m, PGresult *res, bool ok);
static void holder_found(struct migrator *m, PGresult *res, bool ok);
static void lock_waited(struct migrator *m, PGresult *res, bool ok);
static void lock_checked(struct migrator *m, PGresult *res, bool ok);
static void lock_checked_and_read(struct migrator *m, PGresult *res, bool ok);
static void bookkeeping_found(struct migrator *m, PGresult *res, bool ok);
static void applied_read(struct migrator *m, PGresult *res, bool ok);
static void compat_done(struct migrator *m, PGresult *res, bool ok);
static void session_set_up(struct migrator *m, PGresult *res, bool ok);
static void session_reset(struct migrator *m, PGresult *res, bool ok);
static void migration_started(struct migrator *m, PGresult *res, bool ok);
static void rolled_back_unsafe(struct migrator *m, PGresult *res, bool ok);
static void statement_done(struct migrator *m, PGresult *res, bool ok);
static void rolled_back_for_retry(struct migrator *m, PGresult *res, bool ok);
static void blockers_found(struct migrator *m, PGresult *res, bool ok);
static void blockers_ended(struct migrator *m, PGresult *res, bool ok);
static void migration_recorded(struct migrator *m, PGresult *res, bool ok);
static void rolled_back(struct migrator *m, PGresult *res, bool ok);
static void owner_found(struct migrator *m, PGresult *res, bool ok);
static void unlocked(struct migrator *m, PGresult *res, bool ok);
static void unlocked_for_new_session(struct migrator *m, PGresult *res, bool ok);
static void reconnected(struct db *db, bool ok, void *arg);
/* and what they go on with */
static void take_lock(struct migrator *m);
static void lock_taken(struct migrator *m);
static void plan_ready(struct migrator *m, PGresult *res);
static void after_backup(struct migrator *m);
static void apply_next(struct migrator *m);
static void start_migration(struct migrator *m);
static bool next_file(struct migrator *m);
static void send_statement(struct migrator *m);
static void record_migration(struct migrator *m);
static void migration_applied(struct migrator *m);
static void migration_failed(struct migrator *m);
static void migration_counted(struct migrator *m);
static bool more_pending(const struct migrator *m);
static void new_session(struct migrator *m, const struct migration *after);
static void lock_timed_out(struct migrator *m);
static void find_blockers(struct migrator *m);
static int backup_start(struct migrator *m);
static void retry_tick(evutil_socket_t fd, short what, void *arg);

static const struct migration *current(const struct migrator *m)
{
	return &m->set->items[m->cur];
}

static void progress_tick(evutil_socket_t fd, short what, void *arg)
{
	struct migrator *m = arg;

	(void)fd; (void)what;
	/* systemd must not kill a long index build, or an instance waiting
	 * for another's migrations, at its start timeout */
	notify_extend_timeout(EXTEND_USEC);
	if (m->phase != PHASE_APPLYING)
		return;
	notify_applying(current(m)->name, m->cur_ordinal, m->npending, elapsed_since(&m->cur_start));
}

static char *concat(const char *a, const char *b)
{
	char *s = NULL;

	return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

static void safety_free_all(struct migrator *m)
{
	size_t i;

	for (i = 0; m->safety != NULL && i < m->set->n; i++)
		safety_report_free(&m->safety[i]);
	free(m->safety);
	m->safety = NULL;
	m->safety_refused = 0;
}

struct migrator *migrator_new(struct event_base *base, struct db *db, const struct conf *conf,
			      const struct migration_set *set, migrate_done_cb done, void *arg)
{
	struct migrator *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->base = base;
	m->db = db;
	m->conf = conf;
	m->set = set;
	m->done = done;
	m->arg = arg;
	/* the daemon's own statements in the files' session name their
	 * tables in full, and read pg_catalog's functions and operators
	 * first, whatever search_path the database sets (a now() of public
	 * would otherwise become the tables' default) */
	if (asprintf(&m->bootstrap_and_read, "SET LOCAL search_path = pg_catalog; %s%s", sql_migrate_bootstrap,
		     sql_migrate_applied) < 0)
		m->bootstrap_and_read = NULL;
	m->check_and_read = concat("SET LOCAL search_path = pg_catalog; " LOCK_CHECK_ROW_SQL, sql_migrate_applied);
	m->blockers = concat(BLOCKERS_SETUP_SQL, sql_migrate_blockers);
	m->progress = event_new(base, -1, EV_PERSIST, progress_tick, m);
	m->retry = evtimer_new(base, retry_tick, m);
	if (m->bootstrap_and_read == NULL || m->check_and_read == NULL || m->blockers == NULL ||
	    m->progress == NULL || m->retry == NULL) {
		migrator_free(m);
		return NULL;
	}
	return m;
}

void migrator_free(struct migrator *m)
{
	if (m == NULL)
		return;
	if (m->progress)
		event_free(m->progress);
	if (m->sigchld)
		event_free(m->sigchld);
	if (m->retry)
		event_free(m->retry);
	if (m->backup_pid > 0) {
		/* stopping while the backup runs: it is not waited for */
		kill(m->backup_pid, SIGTERM);
		waitpid(m->backup_pid, NULL, 0);
	}
	free(m->pending);
	free(m->bootstrap_and_read);
	free(m->check_and_read);
	free(m->blockers);
	free(m->interrupted);
	safety_free_all(m);
	free(m);
}

void migrator_set_conf(struct migrator *m, const struct conf *conf)
{
	m->conf = conf;
}

void migrator_set_dry_run(struct migrator *m, bool dry_run)
{
	m->dry_run = dry_run;
}

bool migrator_is_pending(const struct migrator *m, size_t i)
{
	return m->pending[i];
}

bool migrator_was_interrupted(const struct migrator *m, size_t i)
{
	return m->interrupted[i];
}

const struct safety_report *migrator_safety(const struct migrator *m, size_t i)
{
	return m->safety != NULL && i < m->set->n ? &m->safety[i] : NULL;
}

enum migrate_result migrator_dry_run_refusal(const struct migrator *m)
{
	return m->dry_run_refusal;
}

size_t migrator_safety_refused(const struct migrator *m)
{
	return m->safety_refused;
}

size_t migrator_applied_now(const struct migrator *m)
{
	return m->applied_now;
}

size_t migrator_applied_total(const struct migrator *m)
{
	return m->applied_total;
}

static void finish(struct migrator *m, enum migrate_result r)
{
	db_set_notice_cb(m->db, NULL, NULL);
	event_del(m->progress);
	event_del(m->retry);
	m->phase = PHASE_IDLE;
	m->next = NULL;
	m->done(r, m->arg);
}

static void report_lost(struct migrator *m)
{
	log_emit(LOG_WARNING, MSGID_DB_LOST, NULL, 0,
		 "database connection lost during migrations: %s", db_error(m->db));
	finish(m, MIGRATE_DB_LOST);
}

/* Every result comes here first.  A broken connection ends the run
 * whatever the step: nothing half-applied survives a broken transaction,
 * so the caller reconnects and starts over.  Otherwise the step that the
 * send named handles the result. */
static void on_result(struct db *db, PGresult *res, void *arg)
{
	struct migrator *m = arg;
	step_fn step = m->next;
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	(void)db;
	m->next = NULL;
	if (!ok && !db_connected(m->db)) {
		report_lost(m);
		return;
	}
	if (step != NULL)
		step(m, res, ok);
}

static void send_params(struct migrator *m, const char *sql, int nparams, const char *const *params,
			step_fn then)
{
	m->next = then;
	if (db_query(m->db, sql, nparams, params, on_result, m) < 0)
		report_lost(m);
}

static void send_sql(struct migrator *m, const char *sql, step_fn then)
{
	send_params(m, sql, 0, NULL, then);
}

/* ---- error reports ------------------------------------------------------- */

static bool is_duplicate_object(const char *sqlstate)
{
	/* duplicate_table, duplicate_object, duplicate_function, duplicate_schema */
	return strcmp(sqlstate, "42P07") == 0 || strcmp(sqlstate, "42710") == 0 ||
	       strcmp(sqlstate, "42723") == 0 || strcmp(sqlstate, "42P06") == 0;
}

/* Where in the file an error is: from the server's position inside the
 * statement that failed, or the statement's start when it gave none. */
static void error_location(const char *sql, const struct sql_stmt *st, const char *pos,
			   int *line, int *col, const char **ls, size_t *ll)
{
	int l, c;

	text_position(sql + st->start, pos ? strtol(pos, NULL, 10) : 1, &l, &c, ls, ll);
	*line = st->line + l - 1;
	*col = l == 1 ? st->column + c - 1 : c;
	if (l == 1) {
		/* the statement's first line starts mid-line in the file */
		const char *p = sql + st->start;

		while (p > sql && p[-1] != '\n')
			p--;
		/* a byte order mark is not part of the first line */
		if (p == sql && strncmp(p, "\xef\xbb\xbf", 3) == 0)
			p += 3;
		*ls = p;
		*ll = line_length(p, strcspn(p, "\n"));
	}
}

/* The line, and a caret under the column (tabs kept and wide characters
 * counted twice so it lines up), then suffix. */
static void error_snippet(const char *ls, size_t ll, int line, int col, const char *suffix, char *out,
			  size_t size)
{
	size_t used;

	if (ll > 300)
		ll = 300;
	used = (size_t)snprintf(out, size, "\n%6d | %.*s\n       | ", line, (int)ll, ls);
	if (used + 2 >= size)
		return;
	used += caret_indent(ls, ll, col, out + used, size - used - 2);
	snprintf(out + used, size - used, "^%s", suffix);
}

void migrate_report_error(const char *what, const struct migration *mig, const char *path,
			  const char *sql, const struct sql_stmt *st, const char *outcome,
			  const PGresult *res)
{
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *context = PQresultErrorField(res, PG_DIAG_CONTEXT);
	const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	const char *sqlstate = db_sqlstate(res);

	char where[1100], linebuf[16], colbuf[16], snippet[1400] = "", extra[2048] = "";
	int line = 0, col = 0;
	size_t used = 0;

	if (st != NULL) {
		const char *ls;
		size_t ll;

		error_location(sql, st, pos, &line, &col, &ls, &ll);
		snprintf(where, sizeof(where), "%s:%d:%d: ", path, line, col);
		error_snippet(ls, ll, line, col, pos ? "" : " (statement starting here)", snippet, sizeof(snippet));
	} else if (path != NULL) {
		snprintf(where, sizeof(where), "%s: ", path);
	} else {
		where[0] = '\0';
	}
	snprintf(linebuf, sizeof(linebuf), "%d", line);
	snprintf(colbuf, sizeof(colbuf), "%d", col);
	used = 0;
	if (detail != NULL)
		used += (size_t)snprintf(extra + used, sizeof(extra) - used, "\ndetail: %s", detail);
	if (hint != NULL && used < sizeof(extra))
		used += (size_t)snprintf(extra + used, sizeof(extra) - used, "\nhint: %s", hint);
	if (strcmp(sqlstate, "25001") == 0 && path != NULL && used < sizeof(extra))
		used += (size_t)snprintf(extra + used, sizeof(extra) - used,
					 "\nhint: put \"-- momentum-maintd: no-transaction\" at the top of the file "
					 "to run its statements outside a transaction");
	/* "must be owner of": the database owner may be the wrong role
	 * too; the migrator names the owner needed (owner_found) */
	if (strcmp(sqlstate, "42501") == 0 && strncmp(db_message(res), NOT_OWNER, strlen(NOT_OWNER)) != 0 &&
	    used < sizeof(extra))
		used += (size_t)snprintf(extra + used, sizeof(extra) - used,
					 "\nhint: the daemon's database role lacks a privilege; it should connect as the "
					 "role that owns the application's schema and momentum_maintd (usually the database owner)");
	if (strcmp(sqlstate, "3F000") == 0 && strstr(db_message(res), "\"auth\"") != NULL && used < sizeof(extra))
		used += (size_t)snprintf(extra + used, sizeof(extra) - used,
					 "\nhint: on plain PostgreSQL the Supabase schemas come from the compatibility step; "
					 "is migrations.supabase_compat off?");
	if (context != NULL && used < sizeof(extra))
		snprintf(extra + used, sizeof(extra) - used, "\ncontext: %s", context);

	struct log_field f[] = {
		{ "MIGRATION", mig ? mig->name : NULL },
		{ "FILE", path },
		{ "LINE", line ? linebuf : NULL },
		{ "COLUMN", line ? colbuf : NULL },
		{ "SQLSTATE", sqlstate },
		{ "DETAIL", detail },
		{ "HINT", hint },
	};
	log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
		 "%s%s failed: ERROR %s: %s%s%s%s%s", where, what, sqlstate, db_message(res),
		 outcome ? " " : "", outcome ? outcome : "", snippet, extra);
}

bool migrate_syntax_error(const struct migration *mig, int server_version)
{
	const struct sql_syntax_error *e = &mig->script.syntax;
	const char *ls;
	char linebuf[16], colbuf[16], snippet[1400];

	if (e->message == NULL || server_version / 10000 != sql_parser_major())
		return false;
	/* the error's line, without a byte order mark */
	ls = mig->sql + e->offset;
	while (ls > mig->sql && ls[-1] != '\n')
		ls--;
	ls += ls == mig->sql ? sql_bom_len(mig->sql, mig->sql_len) : 0;
	error_snippet(ls, line_length(ls, strcspn(ls, "\n")), e->line, e->column, "", snippet, sizeof(snippet));
	snprintf(linebuf, sizeof(linebuf), "%d", e->line);
	snprintf(colbuf, sizeof(colbuf), "%d", e->column);

	struct log_field f[] = {
		{ "MIGRATION", mig->name },
		{ "FILE", mig->path },
		{ "LINE", linebuf },
		{ "COLUMN", colbuf },
		{ "SQLSTATE", "42601" },
	};
	log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
		 "%s:%d:%d: migration failed: ERROR 42601: %s (found by the PostgreSQL %d parser before "
		 "anything was sent)%s", mig->path, e->line, e->column, e->message, sql_parser_major(), snippet);
	return true;
}

/* Syntax errors in the files to apply, found before any of them is sent:
 * the server is the parser's version, so it would refuse them too.  A
 * newer server may know syntax the parser does not: it judges. */
static int check_syntax(const struct migrator *m)
{
	int version = PQserverVersion(db_pgconn(m->db));
	size_t i, bad = 0;

	for (i = 0; i < m->set->n; i++)
		if (m->pending[i] && migrate_syntax_error(&m->set->items[i], version))
			bad++;
	if (bad == 0)
		return 0;
	log_error("nothing applied: %zu pending migration(s) with a syntax error", bad);
	return -1;
}

/* A failed statement of mig (NULL: of the bookkeeping) or of its statement st. */
static void report_sql_error(const struct migrator *m, const char *what, const struct migration *mig,
			     const struct sql_stmt *st, const PGresult *res)
{
	const char *outcome = NULL;

	if (mig != NULL)
		outcome = mig->script.no_transaction
			? "(no-transaction migration: statements before this one stay applied; "
			  "fix it and start again, it is re-run from the top)"
			: "(rolled back, nothing of it was applied)";
	if (mig != NULL && m->applied_total == 0 && is_duplicate_object(db_sqlstate(res)))
		outcome = "(rolled back, nothing was changed). The objects exist but momentum_maintd.schema_migrations "
			  "is empty: was the schema applied by hand, e.g. with psql? Then record what was applied "
			  "with 'momentum-maintd migrate baseline VERSION' and start again";
	migrate_report_error(what, mig, mig ? mig->path : NULL, mig ? mig->sql : NULL, st, outcome, res);
}

static void bookkeeping_failed(struct migrator *m, const PGresult *res)
{
	report_sql_error(m, "migration bookkeeping (schema momentum_maintd)", NULL, NULL, res);
	finish(m, MIGRATE_FAILED);
}

/* ---- the start, and the migration lock ---------------------------------- */

#define POOLER_FIX \
	"connect directly to PostgreSQL (on Supabase: the direct connection or the session pooler on port 5432, " \
	"not port 6543) or set the pooler to session mode (PgBouncer pool_mode = session) in database.conninfo"

static void report_pooler(int server_pid)
{
	log_emit(LOG_ERR, MSGID_MIGRATION_LOCK_WAIT, NULL, 0,
		 "the migration lock is not held by the server session that runs this connection's "
		 "queries (backend pid %d): the daemon is connected through a transaction-mode pooler "
		 "(PgBouncer pool_mode = transaction, Supabase's port 6543), where the lock protects nothing. "
		 "Fix: " POOLER_FIX, server_pid);
}

/* How long the probe waits for the pooler to give it a server session: a
 * session-mode pool that is full keeps it waiting, which is the answer. */
#define POOLER_PROBE_MS 2000

/* The server pid and whether it holds the migration lock; if it does, the
 * lock leaked into the pooler's pool, where it would keep every later run
 * waiting, so the probe lets go of both holds in the same statement. */
#define POOLER_PROBE_SQL \
	"SELECT pg_catalog.pg_backend_pid(), h, " \
	"CASE WHEN h THEN pg_catalog.pg_advisory_unlock(" MIGRATION_LOCK_ARGS ") END, " \
	"CASE WHEN h THEN pg_catalog.pg_advisory_unlock(" MIGRATION_LOCK_ARGS ") END " \
	"FROM (SELECT " MIGRATION_LOCK_HELD_EXPR " AS h) held"

/* The probe's answer to POOLER_PROBE_SQL within POOLER_PROBE_MS, or NULL
 * (no answer: not shared). */
static PGresult *probe_answer(PGconn *p)
{
	struct pollfd pfd = { .fd = PQsocket(p), .events = POLLIN };
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (PQsendQuery(p, POOLER_PROBE_SQL) != 1)
		return NULL;
	while (PQisBusy(p)) {
		int left = POOLER_PROBE_MS - (int)(elapsed_since(&start) * 1000);

		if (left <= 0 || poll(&pfd, 1, left) <= 0 || PQconsumeInput(p) != 1)
			return NULL;
	}
	return PQgetResult(p);
}

/* Whether the pooler in front of c hands the server session that holds
 * the migration lock to another of its clients: a second connection, made
 * as c was and asking while c is idle, finds the lock held by its own
 * server session.  A transaction-mode pooler does so as soon as that
 * session is idle in its pool, whatever its size (it reuses the session
 * last used); in session mode the second client gets a session of its own,
 * or waits for one. */
bool migration_pooler_shares_session(PGconn *c)
{
	PQconninfoOption *opts = PQconninfo(c), *o;
	const char *keys[64], *vals[64];
	int n = 0;
	bool shared = false;
	PGconn *p = NULL;

	for (o = opts; o != NULL && o->keyword != NULL && n < 62; o++)
		if (o->val != NULL && o->val[0] != '\0' && strcmp(o->keyword, "connect_timeout") != 0) {
			keys[n] = o->keyword;
			vals[n++] = o->val;
		}
	keys[n] = "connect_timeout"; vals[n++] = "5";
	keys[n] = NULL; vals[n] = NULL;
	if (opts != NULL)
		p = PQconnectdbParams(keys, vals, 0);

	if (p != NULL && PQstatus(p) == CONNECTION_OK) {
		PGresult *r = probe_answer(p);

		shared = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
			 PQgetvalue(r, 0, 1)[0] == 't';
		if (shared)
			report_pooler(atoi(PQgetvalue(r, 0, 0)));
		PQclear(r);
	} else {
		log_debug("pooler check: a second connection failed: %s", p ? PQerrorMessage(p) : "out of memory");
	}
	PQfinish(p);
	PQconninfoFree(opts);
	return shared;
}

bool migration_lock_held(int client_pid, const char *server_pid_text, const char *held, bool *noted)
{
	int server_pid = atoi(server_pid_text);

	if (held[0] != 't') {
		report_pooler(server_pid);
		return false;
	}
	if (server_pid != client_pid && noted != NULL && !*noted) {
		*noted = true;
		log_notice("connected through a connection pooler (server backend pid %d, pooler's key %d); "
			   "it must keep the daemon's session (session pooling) for the migration lock to hold",
			   server_pid, client_pid);
	}
	return true;
}

void migrator_start(struct migrator *m)
{
	struct timeval tv = { .tv_sec = PROGRESS_INTERVAL_SEC, .tv_usec = 0 };

	/* sized here, not in migrator_new: the set may be read after it */
	free(m->pending);
	free(m->interrupted);
	safety_free_all(m);
	m->pending = calloc(m->set->n + 1, sizeof(*m->pending));
	m->interrupted = calloc(m->set->n + 1, sizeof(*m->interrupted));
	m->safety = calloc(m->set->n + 1, sizeof(*m->safety));
	if (m->pending == NULL || m->interrupted == NULL || m->safety == NULL) {
		log_error("out of memory");
		finish(m, MIGRATE_FAILED);
		return;
	}
	m->cur = 0;
	m->cur_ordinal = 0;
	m->npending = 0;
	m->bookkeeping_ready = false;
	m->resuming = false;
	m->session_clean = false;
	m->dry_run_refusal = MIGRATE_OK;
	m->phase = PHASE_PREPARING;
	if (m->dry_run) {
		send_sql(m, MIGRATE_BOOKKEEPING_EXISTS_SQL, bookkeeping_found);
		return;
	}
	notify_migration_lock(NULL);
	event_add(m->progress, &tv);
	take_lock(m);
}

static void take_lock(struct migrator *m)
{
	m->bookkeeping_ready = false;
	/* the DBA's timeouts are for the application: an index build or a wait
	 * for another instance's migrations must not be cut short by them */
	send_sql(m, SESSION_SETUP_SQL MIGRATION_LOCK_TRY_SQL ", " BOOKKEEPING_READY_SQL, lock_tried);
}

/* The try's answer, and whether the bookkeeping needs no bootstrap. */
static void lock_tried(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	m->bookkeeping_ready = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		lock_taken(m);
	else
		send_sql(m, LOCK_HOLDER_SQL, holder_found);
}

static void holder_found(struct migrator *m, PGresult *res, bool ok)
{
	const char *pid = ok ? PQgetvalue(res, 0, 0) : "unknown";
	struct log_field f[] = { { "HOLDER_PID", pid } };

	notify_migration_lock(pid);
	log_emit(LOG_INFO, MSGID_MIGRATION_LOCK_WAIT, LOG_FIELDS(f),
		 "another instance is applying migrations (backend pid %s); waiting for it", pid);
	send_sql(m, MIGRATION_LOCK_WAIT_SQL, lock_waited);
}

static void lock_waited(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	lock_taken(m);
}

/* A session advisory lock only protects anything if every later query
 * runs in the session that holds it: not so behind a transaction-mode
 * pooler, which may hand each statement to another server connection.
 * So the check is a query of its own, not part of the one that locked.
 * With the bookkeeping in place it also reads what is applied. */
static void lock_taken(struct migrator *m)
{
	if (m->bookkeeping_ready)
		send_sql(m, m->check_and_read, lock_checked_and_read);
	else
		send_sql(m, MIGRATION_LOCK_HELD_SQL, lock_checked);
}

/* The pooler check's answer: false (and the run finished) when this
 * session does not hold the migration lock. */
static bool lock_session_ok(struct migrator *m, const char *server_pid, const char *held)
{
	PGconn *c = db_pgconn(m->db);

	if (migration_lock_held(PQbackendPID(c), server_pid, held, &m->pooler_noted) &&
	    (PQbackendPID(c) == atoi(server_pid) || !migration_pooler_shares_session(c)))
		return true;
	log_error("nothing applied: the migration lock cannot protect this connection");
	finish(m, MIGRATE_UNSAFE);
	return false;
}

static void lock_checked(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	if (!lock_session_ok(m, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)))
		return;
	/* the bookkeeping tables, then what they say, in one round trip */
	send_sql(m, m->bootstrap_and_read, applied_read);
}

static void lock_checked_and_read(struct migrator *m, PGresult *res, bool ok)
{
	int i, n = ok ? PQntuples(res) : 0;

	for (i = 0; i < n && !PQgetisnull(res, i, 0); i++)
		;
	if (i == n) {
		/* the bookkeeping changed since the lock was asked for (or
		 * cannot be read): the long way, which says what is wrong */
		m->bookkeeping_ready = false;
		lock_taken(m);
		return;
	}
	if (lock_session_ok(m, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2)))
		plan_ready(m, res);
}

/* ---- the plan ------------------------------------------------------------ */

const char *migrate_read_applied_sql(bool with_in_progress)
{
	return with_in_progress ? sql_migrate_applied
		: "SELECT version, name, checksum, false, pg_catalog.to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS TZ') "
		  "FROM momentum_maintd.schema_migrations";
}

int migrate_applied_rows(const PGresult *res, struct migplan_row **rows)
{
	int i, n = 0, total = PQntuples(res);

	*rows = calloc((size_t)total + 1, sizeof(**rows));
	if (*rows == NULL)
		return -1;
	for (i = 0; i < total; i++) {
		struct migplan_row *r;

		if (PQgetisnull(res, i, 0))
			continue;
		r = &(*rows)[n++];
		r->version = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		r->name = PQgetvalue(res, i, 1);
		r->checksum = PQgetvalue(res, i, 2);
		r->in_progress = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		r->at = PQgetvalue(res, i, 4);
	}
	return n;
}

/* A dry run takes no lock and creates nothing: the bookkeeping may be
 * missing (never migrated: nothing applied) or older than
 * migrations_in_progress. */
static void bookkeeping_found(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		plan_ready(m, NULL);
		return;
	}
	send_sql(m, migrate_read_applied_sql(strcmp(PQgetvalue(res, 0, 1), "t") == 0), applied_read);
}

/* The bookkeeping's rows (after the bootstrap, or for a dry run). */
static void applied_read(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	plan_ready(m, res);
}

/* What the rows say, in version order: applied rows without a file, a
 * changed file (which stops the run), runs that were interrupted. */
static int report_applied(const struct migrator *m, const struct migplan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct migplan_entry *e = &p->entries[i];

		if (e->state == MIGPLAN_FILE_MISSING) {
			struct log_field f[] = { { "MIGRATION", e->applied->name } };

			log_emit(LOG_WARNING, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
				 "migration %s is recorded as applied but its file is not in %s",
				 e->applied->name, m->conf->mig_directory);
		} else if (e->state == MIGPLAN_CHANGED) {
			struct log_field f[] = { { "MIGRATION", e->file->name }, { "FILE", e->file->path } };

			log_emit(LOG_ERR, MSGID_MIGRATION_CHECKSUM, LOG_FIELDS(f),
				 "%s: applied migration was changed after it was applied "
				 "(recorded sha256 %s, file now %s); restore the file, or write a new migration for the change",
				 e->file->path, e->applied->checksum, e->file->checksum);
			return -1;
		}
		if (e->mark != NULL) {
			/* a no-transaction migration that started and never finished */
			struct log_field f[] = { { "MIGRATION", e->mark->name } };

			log_emit(LOG_WARNING, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
				 "no-transaction migration %s was interrupted (started %s and never finished); "
				 "it is re-run from the top, as such files must be idempotent", e->mark->name,
				 e->mark->at);
		}
	}
	return 0;
}

/* Files not applied but older than the newest applied one, as
 * migrations.on_out_of_order says; "fail" stops the run at the first. */
static int report_out_of_order(const struct migrator *m, const struct migplan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct migration *mig = p->entries[i].file;

		if (!p->entries[i].older_than_applied)
			continue;
		struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

		switch (m->conf->mig_on_out_of_order) {
		case OOO_FAIL:
			log_emit(LOG_ERR, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
				 "%s: pending migration is older than the newest applied one (version %" PRId64
				 "); renumber it, or set migrations.on_out_of_order = \"apply\"",
				 mig->path, p->newest_applied);
			return -1;
		case OOO_IGNORE:
			log_emit(LOG_WARNING, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
				 "%s: pending migration older than the newest applied one is ignored "
				 "(migrations.on_out_of_order = \"ignore\")", mig->path);
			break;
		case OOO_APPLY:
			log_emit(LOG_WARNING, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
				 "%s: applying a migration older than the newest applied one "
				 "(migrations.on_out_of_order = \"apply\")", mig->path);
			break;
		}
	}
	return 0;
}

/* Compares the files with what res says is applied (NULL: nothing), logs
 * what it finds and keeps what the run needs: which files to apply, which
 * were interrupted.  -1 when nothing may be applied. */
static int plan(struct migrator *m, const PGresult *res)
{
	struct migplan_row *rows = NULL;
	struct migplan p;
	int nrows = res != NULL ? migrate_applied_rows(res, &rows) : 0;
	int rc = -1;
	size_t i;

	if (nrows < 0 || migplan_build(&p, m->set, rows, (size_t)nrows, m->conf->mig_on_out_of_order) < 0) {
		log_error("out of memory");
		free(rows);
		return -1;
	}
	m->applied_total = p.applied;
	if (report_applied(m, &p) == 0 && report_out_of_order(m, &p) == 0) {
		for (i = 0; i < p.n; i++) {
			const struct migplan_entry *e = &p.entries[i];

			if (e->file == NULL)
				continue;
			m->pending[e->file - m->set->items] = e->apply;
			m->interrupted[e->file - m->set->items] = e->mark != NULL;
		}
		m->npending = p.to_apply;
		rc = 0;
	}
	migplan_free(&p);
	free(rows);
	return rc;
}

/* The seed's per-environment rules that decide whether applying may start. */
static enum migrate_result check_environment_rules(const struct migrator *m)
{
	size_t i, missing = 0;

	if (m->conf->environment != ENV_PRODUCTION || m->npending == 0)
		return MIGRATE_OK;
	for (i = 0; i < m->set->n; i++) {
		const struct migration *mig = &m->set->items[i];

		if (m->pending[i] && mig->rollback_path == NULL) {
			struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

			log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
				 "%s: production needs a rollback plan: add rollback_%s.sql beside it", mig->path,
				 mig->name);
			missing++;
		}
	}
	if (missing > 0) {
		log_error("production: nothing applied, %zu pending migration(s) without a rollback file", missing);
		return MIGRATE_FAILED;
	}
	if (m->conf->mig_backup_command[0] == '\0') {
		log_error("production: %zu migration(s) pending but migrations.backup_command is empty; back up "
			  "before production migrations (e.g. backup_command = \"pg_dump -Fc -f /var/backups/momentum-$(date +%%s).dump\"), "
			  "or set environment to staging or development", m->npending);
		return MIGRATE_UNSAFE;
	}
	return MIGRATE_OK;
}

/* What is applied is known: the plan, the environment's rules, then the
 * backup (production) or straight to applying. */
static void safety_start(struct migrator *m);
static void after_safety(struct migrator *m);

static void plan_ready(struct migrator *m, PGresult *res)
{
	enum migrate_result allowed;

	/* the files were checked before the first one ran */
	if (plan(m, res) < 0 || (!m->resuming && check_syntax(m) < 0)) {
		finish(m, MIGRATE_FAILED);
		return;
	}
	if ((allowed = check_environment_rules(m)) != MIGRATE_OK) {
		if (!m->dry_run) {
			finish(m, allowed);
			return;
		}
		/* a dry run still shows the plan and its safety findings: the
		 * refusal is logged above and decides its exit status */
		m->dry_run_refusal = allowed;
	}
	if (m->resuming) {
		/* the remaining files were judged before the first one ran */
		after_safety(m);
		return;
	}
	safety_start(m);
}

/* The safety checks are judged: a dry run ends, a run goes on to the
 * backup (production) or straight to applying. */
static void after_safety(struct migrator *m)
{
	if (m->dry_run) {
		finish(m, MIGRATE_OK);
		return;
	}
	if (m->resuming) {
		/* the lock again, in a new session: what is still pending (another
		 * instance may have applied some meanwhile), without the backup and
		 * the compatibility step that came before the first file */
		m->resuming = false;
		m->npending += m->cur_ordinal;   /* the files done before: progress counts the whole run */
		m->cur = 0;
		apply_next(m);
		return;
	}
	if (m->npending == 0) {
		apply_next(m);
		return;
	}
	log_info("%zu migration(s) pending, %zu applied", m->npending, m->applied_total);
	if (m->conf->environment == ENV_PRODUCTION) {
		if (backup_start(m) < 0)
			finish(m, MIGRATE_FAILED);
		return;
	}
	after_backup(m);
}

/* ---- safety checks ------------------------------------------------------ */

/* Per finding (1-based, in the order of the parameters: schema as written
 * or '', table, column): whether the table exists, its size with indexes,
 * its row estimate, its relkind, and, for SET NOT NULL, whether a validated
 * CHECK (col IS NOT NULL) makes the scan unneeded.  Names are resolved from
 * pg_class and pg_namespace, never through a search_path: the daemon's is
 * not the file's (a file may SET search_path), and to_regclass needs USAGE
 * on the schema.  An unqualified name is judged by the largest relation of
 * that name in any schema (the worst case: at most a false positive).  A
 * partitioned table's own size is 0: its size and rows are its partitions'
 * sum.  Read before any table is locked: the catalog only.  Under the
 * database's search_path: every function, operator and type by name. */
#define SAFETY_SIZES_SQL \
	"SELECT w.i, c.oid IS NOT NULL, coalesce(c.bytes, 0), coalesce(c.rows, -1)::pg_catalog.float8, " \
	"coalesce(w.col OPERATOR(pg_catalog.<>) '' AND EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k " \
	"WHERE k.conrelid" PG_EQ "c.oid AND k.contype" PG_EQ "'c' AND k.convalidated " \
	"AND pg_catalog.pg_get_constraintdef(k.oid)" PG_EQ "ANY (ARRAY[" \
	"'CHECK ((' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(w.col) OPERATOR(pg_catalog.||) ' IS NOT NULL))', " \
	"'CHECK (' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(w.col) OPERATOR(pg_catalog.||) ' IS NOT NULL)'])), " \
	"false), coalesce(c.relkind::pg_catalog.text, '') " \
	"FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), " \
	"pg_catalog.unnest($3::pg_catalog.text[])) WITH ORDINALITY AS w(nsp, name, col, i) " \
	"LEFT JOIN LATERAL (SELECT r.oid, r.relkind, s.bytes, s.rows " \
	"FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid" PG_EQ "r.relnamespace " \
	"CROSS JOIN LATERAL (SELECT CASE WHEN r.relkind" PG_EQ "'p' THEN " \
	"(SELECT coalesce(pg_catalog.sum(pg_catalog.pg_total_relation_size(t.relid)), 0)::pg_catalog.int8 " \
	"FROM pg_catalog.pg_partition_tree(r.oid) t) " \
	"ELSE coalesce(pg_catalog.pg_total_relation_size(r.oid), 0) END AS bytes, " \
	"CASE WHEN r.relkind" PG_EQ "'p' THEN (SELECT CASE WHEN pg_catalog.count(*)" PG_EQ "0 " \
	"OR pg_catalog.bool_and(l.reltuples OPERATOR(pg_catalog.<) 0) THEN -1 " \
	"ELSE pg_catalog.sum(greatest(l.reltuples, 0)) END FROM pg_catalog.pg_partition_tree(r.oid) t " \
	"JOIN pg_catalog.pg_class l ON l.oid" PG_EQ "t.relid WHERE t.isleaf) ELSE r.reltuples END AS rows) s " \
	"WHERE r.relname" PG_EQ "w.name AND r.relkind" PG_EQ "ANY ('{r,p,m}'::pg_catalog.\"char\"[]) " \
	"AND (w.nsp" PG_EQ "'' OR n.nspname" PG_EQ "w.nsp) " \
	"ORDER BY s.bytes DESC, r.oid LIMIT 1) c ON true ORDER BY w.i"

#define SAFE_INDEX_PARTITIONED "on a partitioned table no index is built CONCURRENTLY: CREATE INDEX ... ON " \
	"ONLY the parent (an invalid index, nothing built), then CREATE INDEX CONCURRENTLY on each partition " \
	"(no-transaction files), then ALTER INDEX parent_index ATTACH PARTITION each partition's index (the " \
	"parent's becomes valid with the last one)"

const char *safety_safe_way(const struct safety_finding *f)
{
	/* the plain CREATE INDEX finding (the constraint form names USING INDEX) */
	if (f->relkind == 'p' && strcmp(f->check, "create_index_not_concurrently") == 0 &&
	    strstr(f->safe, "USING INDEX") == NULL)
		return SAFE_INDEX_PARTITIONED;
	return f->safe;
}

/* Appends s to an array literal being built in *buf. */
static int array_append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t need = *len + 2 * strlen(s) + 8;

	if (need > *cap) {
		char *b = realloc(*buf, need * 2);

		if (b == NULL)
			return -1;
		*buf = b;
		*cap = need * 2;
	}
	(*buf)[0] = '{';     /* *len starts at 1, after it */
	if (*len > 1)
		(*buf)[(*len)++] = ',';
	(*buf)[(*len)++] = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = *s;
	}
	(*buf)[(*len)++] = '"';
	(*buf)[*len] = '\0';
	return 0;
}

static struct safety_finding *nth_finding(struct migrator *m, size_t n)
{
	size_t i;

	for (i = 0; i < m->set->n; i++) {
		if (n < m->safety[i].n)
			return &m->safety[i].items[n];
		n -= m->safety[i].n;
	}
	return NULL;
}

static void safety_judged(struct migrator *m);

static void safety_sizes_read(struct migrator *m, PGresult *res, bool ok)
{
	int r;

	if (!ok) {
		report_sql_error(m, "reading the sizes of the tables the safety checks name", NULL, NULL, res);
		finish(m, MIGRATE_FAILED);
		return;
	}
	for (r = 0; r < PQntuples(res); r++) {
		struct safety_finding *f = nth_finding(m, (size_t)strtoull(PQgetvalue(res, r, 0), NULL, 10) - 1);

		if (f == NULL)
			continue;
		f->exists = PQgetvalue(res, r, 1)[0] == 't';
		f->bytes = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		f->rows = strtod(PQgetvalue(res, r, 3), NULL);
		f->covered = PQgetvalue(res, r, 4)[0] == 't';
		f->relkind = PQgetvalue(res, r, 5)[0];
	}
	safety_judged(m);
}

/* The safety checks of the pending files, all parsed together
 * (m->safety[i] for each pending i): 0, or -1 when out of memory. */
static int check_pending(struct migrator *m)
{
	struct safety_input *in = calloc(m->set->n + 1, sizeof(*in));
	struct safety_report *out = calloc(m->set->n + 1, sizeof(*out));
	size_t i, n = 0;
	int rc = -1;

	if (in != NULL && out != NULL) {
		for (i = 0; i < m->set->n; i++)
			if (m->pending[i]) {
				in[n].sql = m->set->items[i].sql;
				in[n++].script = &m->set->items[i].script;
			}
		rc = safety_check_scripts(in, n, out);
		for (i = 0, n = 0; rc == 0 && i < m->set->n; i++)
			if (m->pending[i])
				m->safety[i] = out[n++];
	}
	free(in);
	free(out);
	return rc;
}

/* Checks every pending file; the catalog's sizes of the tables named come
 * in one query. */
static void safety_start(struct migrator *m)
{
	char *nsps = NULL, *names = NULL, *cols = NULL;
	size_t slen = 1, scap = 0, nlen = 1, ncap = 0, clen = 1, ccap = 0, i, k, total = 0;

	if (check_pending(m) < 0)
		goto oom;
	for (i = 0; i < m->set->n; i++) {
		const struct migration *mig = &m->set->items[i];

		if (!m->pending[i])
			continue;
		for (k = 0; k < m->safety[i].nunchecked; k++) {
			char line[16];
			struct log_field fl[] = { { "MIGRATION", mig->name }, { "FILE", mig->path }, { "LINE", line } };

			snprintf(line, sizeof(line), "%d", m->safety[i].unchecked[k]);
			log_emit(LOG_NOTICE, NULL, LOG_FIELDS(fl),
				 "%s:%d: statement too large to check for safety (not checked)", mig->path,
				 m->safety[i].unchecked[k]);
		}
		for (k = 0; k < m->safety[i].n; k++) {
			const struct safety_finding *f = &m->safety[i].items[k];

			if (ncap == 0 && ((nsps = calloc(1, 2)) == NULL || (names = calloc(1, 2)) == NULL ||
					  (cols = calloc(1, 2)) == NULL))
				goto oom;
			scap = scap ? scap : 2;
			ncap = ncap ? ncap : 2;
			ccap = ccap ? ccap : 2;
			/* the names as written (unquoted by the parser), schema apart */
			if (array_append(&nsps, &slen, &scap, f->schema) < 0 ||
			    array_append(&names, &nlen, &ncap, f->table) < 0 ||
			    array_append(&cols, &clen, &ccap,
					 strcmp(f->check, "set_not_null") == 0 && f->column ? f->column : "") < 0)
				goto oom;
			total++;
		}
	}
	if (total == 0) {
		free(nsps);
		free(names);
		free(cols);
		after_safety(m);
		return;
	}
	nsps[slen++] = '}';
	nsps[slen] = '\0';
	names[nlen++] = '}';
	names[nlen] = '\0';
	cols[clen++] = '}';
	cols[clen] = '\0';
	{
		const char *params[3] = { nsps, names, cols };

		send_params(m, SAFETY_SIZES_SQL, 3, params, safety_sizes_read);
	}
	free(nsps);
	free(names);
	free(cols);
	return;
oom:
	free(nsps);
	free(names);
	free(cols);
	log_error("out of memory");
	finish(m, MIGRATE_FAILED);
}

static void safety_log(const struct migration *mig, const struct safety_finding *f)
{
	char table[300], size[96], line[16];
	const char *kind = f->verdict == SAFETY_REFUSED ? "refused" : "unsafe";
	struct log_field fl[] = { { "MIGRATION", mig->name }, { "FILE", mig->path }, { "LINE", line },
				  { "CHECK", f->check }, { "TABLE", table } };

	snprintf(line, sizeof(line), "%d", f->line);
	safety_display_name(f, table, sizeof(table));
	safety_describe_size(f, size, sizeof(size));
	switch (f->verdict) {
	case SAFETY_REFUSED:
	case SAFETY_WARNED:
		log_emit(f->verdict == SAFETY_REFUSED ? LOG_ERR : LOG_WARNING, MSGID_MIGRATION_UNSAFE, LOG_FIELDS(fl),
			 "%s:%d: %s %s: %s on %s (%s); the safe way: %s; or accept it with a line "
			 "\"-- momentum-maintd: allow-unsafe %s\" in the file", mig->path, f->line, kind, f->check,
			 f->what, table, size, safety_safe_way(f), f->check);
		break;
	case SAFETY_ALLOWED:
		log_emit(LOG_NOTICE, NULL, LOG_FIELDS(fl), "%s:%d: %s on %s (%s) accepted by allow-unsafe %s",
			 mig->path, f->line, f->check, table, size, f->check);
		break;
	case SAFETY_SMALL:
		log_emit(LOG_INFO, NULL, LOG_FIELDS(fl), "%s:%d: %s on %s (%s): below migrations.safety_min_size",
			 mig->path, f->line, f->check, table, size);
		break;
	default:
		break;
	}
}

static void safety_judged(struct migrator *m)
{
	int64_t min_size = 0;
	const char *why;
	size_t i, k;

	if (size_parse(m->conf->mig_safety_min_size, &min_size, &why) < 0)
		min_size = 0;   /* checked when the configuration was read */
	m->safety_refused = 0;
	for (i = 0; i < m->set->n; i++) {
		for (k = 0; k < m->safety[i].n; k++) {
			struct safety_finding *f = &m->safety[i].items[k];

			safety_judge(f, m->conf->mig_safety == SAFETY_REFUSE, min_size);
			if (f->verdict == SAFETY_REFUSED)
				m->safety_refused++;
			if (!m->dry_run)   /* a dry run prints them */
				safety_log(&m->set->items[i], f);
		}
	}
	if (m->safety_refused > 0 && !m->dry_run) {
		log_error("nothing applied: %zu unsafe statement(s) on tables of at least migrations.safety_min_size "
			  "(%s) with migrations.safety = refuse; write them the safe way, accept one on purpose "
			  "with \"-- momentum-maintd: allow-unsafe CHECK\" in its file, or set migrations.safety = warn",
			  m->safety_refused, m->conf->mig_safety_min_size);
		finish(m, MIGRATE_FAILED);
		return;
	}
	after_safety(m);
}

/* ---- backup and compatibility step --------------------------------------- */

/* The backup command runs as a child while the loop goes on; it gets the
 * connection's PG* variables, so "pg_dump -Fc -f FILE" needs no arguments. */
static void backup_child(const struct migrator *m)
{
	PGconn *c = db_pgconn(m->db);
	char pending[4096] = "";
	size_t used = 0, i;
	const char *pw = db_password(m->db);

	setenv("PGHOST", PQhost(c), 1);
	setenv("PGPORT", PQport(c), 1);
	setenv("PGDATABASE", PQdb(c), 1);
	setenv("PGUSER", PQuser(c), 1);
	if (pw != NULL)
		setenv("PGPASSWORD", pw, 1);
	for (i = 0; i < m->set->n && used < sizeof(pending); i++)
		if (m->pending[i])
			used += (size_t)snprintf(pending + used, sizeof(pending) - used, "%s%s",
						 used ? " " : "", m->set->items[i].name);
	setenv("MOMENTUM_MAINTD_PENDING", pending, 1);
	dup2(STDERR_FILENO, STDOUT_FILENO);
	execl("/bin/sh", "sh", "-c", m->conf->mig_backup_command, (char *)NULL);
	_exit(127);
}

static void backup_done(evutil_socket_t sig, short what, void *arg)
{
	struct migrator *m = arg;
	int status;
	pid_t pid;
	char secs[32];

	(void)sig; (void)what;
	pid = waitpid(m->backup_pid, &status, WNOHANG);
	if (pid != m->backup_pid)
		return;
	event_del(m->sigchld);
	m->backup_pid = 0;
	snprintf(secs, sizeof(secs), "%.1f", elapsed_since(&m->backup_start));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_notice("backup command finished in %s s", secs);
		after_backup(m);
		return;
	}
	if (WIFEXITED(status))
		log_error("backup command failed with exit status %d after %s s: nothing applied",
			  WEXITSTATUS(status), secs);
	else
		log_error("backup command killed by signal %d after %s s: nothing applied",
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0, secs);
	finish(m, MIGRATE_FAILED);
}

static int backup_start(struct migrator *m)
{
	m->phase = PHASE_BACKUP;
	clock_gettime(CLOCK_MONOTONIC, &m->backup_start);
	if (m->sigchld == NULL)
		m->sigchld = evsignal_new(m->base, SIGCHLD, backup_done, m);
	if (m->sigchld == NULL || event_add(m->sigchld, NULL) < 0) {
		log_error("cannot watch the backup command");
		return -1;
	}
	notify_backup(m->npending);
	log_notice("production: running the backup command before applying %zu migration(s)", m->npending);
	fflush(NULL);
	m->backup_pid = fork();
	if (m->backup_pid < 0) {
		log_error("cannot start the backup command: %s", strerror(errno));
		event_del(m->sigchld);
		return -1;
	}
	if (m->backup_pid == 0)
		backup_child(m);
	return 0;
}

/* The compatibility step says what it created, one NOTICE per object. */
static void compat_notice(const char *message, void *arg)
{
	const char *prefix = "NOTICE:  supabase_compat: ", *what = message;
	struct log_field f[1] = { { "OBJECT", NULL } };

	(void)arg;
	if (strncmp(message, prefix, strlen(prefix)) != 0) {
		log_debug("server: %s", message);
		return;
	}
	what += strlen(prefix);
	/* "created table auth.users": the object is the last word */
	if (strncmp(what, "created ", 8) == 0 && strrchr(what, ' ') != NULL)
		f[0].value = strrchr(what, ' ') + 1;
	log_emit(LOG_NOTICE, MSGID_COMPAT_APPLIED, LOG_FIELDS(f),
		 "Supabase compatibility step: %s", what);
}

/* Compatibility step (when on), then the pending migrations. */
static void after_backup(struct migrator *m)
{
	m->cur = 0;
	if (m->conf->mig_supabase_compat) {
		notify_compat();
		db_set_notice_cb(m->db, compat_notice, m);
		send_sql(m, supabase_compat_sql, compat_done);
		return;
	}
	apply_next(m);
}

static void compat_done(struct migrator *m, PGresult *res, bool ok)
{
	db_set_notice_cb(m->db, NULL, NULL);
	if (!ok) {
		report_sql_error(m, "Supabase compatibility step (migrations.supabase_compat)", NULL, NULL, res);
		finish(m, MIGRATE_FAILED);
		return;
	}
	m->cur = 0;
	apply_next(m);
}

/* ---- applying: each file, statement by statement, then its tracking row --- */

static void apply_next(struct migrator *m)
{
	if (next_file(m)) {
		start_migration(m);
		return;
	}
	m->phase = PHASE_ENDING;
	send_sql(m, MIGRATION_UNLOCK_SQL, unlocked);
}

/* The first pending file from index `from` on; m->set->n when none. */
static size_t next_pending(const struct migrator *m, size_t from)
{
	while (from < m->set->n && !m->pending[from])
		from++;
	return from;
}

/* The next pending file from m->cur on becomes the current one; false
 * when there is none. */
static bool next_file(struct migrator *m)
{
	size_t i = next_pending(m, m->cur);

	if (i == m->set->n)
		return false;
	m->cur = i;
	m->cur_ordinal++;
	clock_gettime(CLOCK_MONOTONIC, &m->cur_start);
	notify_applying(m->set->items[i].name, m->cur_ordinal, m->npending, -1);
	log_debug("applying migration %s (%zu/%zu)", m->set->items[i].name, m->cur_ordinal, m->npending);
	m->stmt = 0;
	m->lock_attempt = 0;
	return true;
}

/* Each file starts from a clean session (SESSION_SETUP_SQL): what one
 * file leaves in it must not change how the next one runs.  A migration's
 * statements wait at most migrations.lock_timeout for a lock, so that the
 * application's queries never queue behind its lock request for longer
 * than that.
 *
 * The set-up commits on its own (an UNLISTEN takes effect at commit, and a
 * failed file must not bring the previous file's session back).  Then the
 * file's first statement, the first of its transaction, checks that this
 * server session still holds the migration lock: behind a
 * transaction-mode pooler it may not, and the file must not run
 * unprotected (CHECK_LOCK_SQL).  After a transactional file, both go in
 * the query that records it, after its COMMIT (record_migration); else
 * (the first file of a session, a retry, after a no-transaction file) the
 * set-up is a round trip of its own, and the check the next. */
#define CHECK_LOCK_SQL \
	"SELECT pg_catalog.pg_backend_pid()::pg_catalog.text, (" MIGRATION_LOCK_STILL_HELD_EXPR ")::pg_catalog.text"
#define SESSION_SETUP_SIZE 512
static void session_setup_sql(const struct migrator *m, char sql[SESSION_SETUP_SIZE])
{
	snprintf(sql, SESSION_SETUP_SIZE, SESSION_SETUP_WITH_LOCK_TIMEOUT("%lld"),
		 (long long)m->conf->mig_lock_timeout_ms);
}

static void start_migration(struct migrator *m)
{
	char sql[SESSION_SETUP_SIZE];
	bool no_tx = current(m)->script.no_transaction;

	m->phase = PHASE_APPLYING;
	if (!m->session_clean) {
		session_setup_sql(m, sql);
		send_sql(m, sql, session_set_up);
		return;
	}
	m->session_clean = false;
	if (no_tx)
		send_sql(m, CHECK_LOCK_SQL, session_reset);
	else
		send_sql(m, "BEGIN; " CHECK_LOCK_SQL, migration_started);
}

static void session_set_up(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	m->session_clean = true;
	start_migration(m);
}

/* The lock check's answer; when the lock is elsewhere the run ends once a
 * transactional file's transaction, in which nothing of the file ran yet,
 * is rolled back: MIGRATE_FAILED (exit 65) when the session itself let go
 * of it (a migration did: the files are to fix), else MIGRATE_UNSAFE
 * (exit 78: the connection goes through a pooler that cannot keep it). */
static bool lock_still_held(struct migrator *m, const PGresult *res)
{
	int client_pid = PQbackendPID(db_pgconn(m->db));
	bool answered = PQntuples(res) == 1 && PQnfields(res) == 2;

	m->lock_lost_result = MIGRATE_UNSAFE;
	if (answered && atoi(PQgetvalue(res, 0, 0)) == client_pid && PQgetvalue(res, 0, 1)[0] != 't') {
		/* no pooler in between: the session itself let go of it */
		m->lock_lost_result = MIGRATE_FAILED;
		log_error("%s: not applied: its session no longer holds the migration lock, which the daemon "
			  "took for the run: a migration applied before it let go of it (pg_advisory_unlock_all(), "
			  "DISCARD ALL, or an unlock of the daemon's key %s); remove that from the migration",
			  current(m)->path, MIGRATION_LOCK_ARGS);
	} else if (answered && migration_lock_held(client_pid, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
						   &m->pooler_noted)) {
		return true;
	} else {
		log_error("%s: not applied: its session does not hold the migration lock", current(m)->path);
	}
	m->phase = PHASE_ENDING;
	if (current(m)->script.no_transaction)
		finish(m, m->lock_lost_result);
	else
		send_sql(m, "ROLLBACK", rolled_back_unsafe);
	return false;
}

static void rolled_back_unsafe(struct migrator *m, PGresult *res, bool ok)
{
	(void)res; (void)ok;
	finish(m, m->lock_lost_result);
}

/* A no-transaction file is marked in progress before its first statement,
 * so that a crash part-way is seen at the next start.  Its statements are
 * not checked one by one: a check cannot share their transaction (CREATE
 * INDEX CONCURRENTLY has none), so a transaction-mode pooler is refused
 * when the lock is taken (pooler_probe) and here, before the file starts. */
static void session_reset(struct migrator *m, PGresult *res, bool ok)
{
	const struct migration *mig = current(m);
	char version[24];
	const char *params[2] = { version, mig->name };

	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	if (!lock_still_held(m, res))
		return;
	snprintf(version, sizeof(version), "%" PRId64, mig->version);
	send_params(m, "INSERT INTO momentum_maintd.migrations_in_progress (version, name) "
		    "VALUES ($1, $2) ON CONFLICT (version) DO UPDATE "
		    "SET started_at = pg_catalog.now(), started_by = current_user", 2, params, migration_started);
}

static void migration_started(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		report_sql_error(m, "migration transaction", current(m), NULL, res);
		finish(m, MIGRATE_FAILED);
		return;
	}
	if (!current(m)->script.no_transaction && !lock_still_held(m, res))
		return;
	send_statement(m);
}

static void send_statement(struct migrator *m)
{
	const struct sql_stmt *st = &current(m)->script.stmts[m->stmt];
	char *sql = strndup(current(m)->sql + st->start, st->len);

	if (sql == NULL) {
		log_error("out of memory");
		finish(m, MIGRATE_FAILED);
		return;
	}
	send_sql(m, sql, statement_done);
	free(sql);
}

/* The relation a "must be owner of" error names, kept to look up its
 * owner once the transaction is rolled back. */
static void not_owner_of(struct migrator *m, const PGresult *res)
{
	static const char *const kinds[] = { "table ", "relation ", "view ", "materialized view ", "sequence ",
					     "index ", "foreign table " };
	const char *msg = db_message(res);

	m->not_owner_of[0] = '\0';
	if (strcmp(db_sqlstate(res), "42501") != 0 || strncmp(msg, NOT_OWNER, strlen(NOT_OWNER)) != 0)
		return;
	msg += strlen(NOT_OWNER);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncmp(msg, kinds[i], strlen(kinds[i])) == 0)
			snprintf(m->not_owner_of, sizeof(m->not_owner_of), "%s", msg + strlen(kinds[i]));
}

static void statement_done(struct migrator *m, PGresult *res, bool ok)
{
	const struct migration *mig = current(m);
	const struct sql_stmt *st = &mig->script.stmts[m->stmt];

	if (!ok && strcmp(db_sqlstate(res), "55P03") == 0 && m->lock_attempt < m->conf->mig_lock_retries) {
		lock_timed_out(m);
		return;
	}
	if (!ok) {
		report_sql_error(m, "migration", mig, st, res);
		not_owner_of(m, res);
		migration_failed(m);
		return;
	}
	if (!mig->script.no_transaction && PQtransactionStatus(db_pgconn(m->db)) != PQTRANS_INTRANS) {
		/* the splitter refuses COMMIT and friends; this catches what it cannot see */
		struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

		log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
			 "%s:%d:%d: this statement ended the migration's transaction; what ran before it may "
			 "be committed and the migration is not recorded: check the database by hand, then "
			 "remove the transaction control from the file", mig->path, st->line, st->column);
		finish(m, MIGRATE_FAILED);
		return;
	}
	if (++m->stmt < mig->script.n)
		send_statement(m);
	else
		record_migration(m);
}

/* Whether the next pending file runs in this session (a file that may
 * define a custom setting makes a new one: new_session). */
static bool next_in_this_session(const struct migrator *m)
{
	const struct migration *mig = current(m);

	return next_pending(m, m->cur + 1) < m->set->n &&
	       !migfile_may_define_setting(mig->sql, mig->sql_len);
}

static bool next_no_transaction(const struct migrator *m)
{
	size_t i = next_pending(m, m->cur + 1);

	return i < m->set->n && m->set->items[i].script.no_transaction;
}

/* Recorded as the role the daemon connected as, whatever SET ROLE the file
 * did; a transactional file commits in the same round trip, and when
 * another file follows in this session, the same query resets the session
 * for it in a transaction of its own (BEGIN ... COMMIT: a COMMIT outside a
 * transaction block would make the server warn) and begins it with the
 * lock check: one round trip between two files, where psql makes three
 * (INSERT, COMMIT, BEGIN).  A no-transaction file's row is one implicit
 * transaction, with nothing else in it. */
static void record_migration(struct migrator *m)
{
	const struct migration *mig = current(m);
	bool rerun = m->interrupted[m->cur];
	char *name = PQescapeLiteral(db_pgconn(m->db), mig->name, strlen(mig->name));
	char *sql = NULL;
	char done[128] = "", next[1024] = "", setup[SESSION_SETUP_SIZE];

	/* the end of an in-progress mark commits with the tracking row */
	if (mig->script.no_transaction || rerun)
		snprintf(done, sizeof(done), "WITH done AS (DELETE FROM momentum_maintd.migrations_in_progress "
			 "WHERE version = %" PRId64 ") ", mig->version);
	m->next_started = false;
	if (!mig->script.no_transaction && next_in_this_session(m)) {
		m->next_started = true;
		session_setup_sql(m, setup);
		snprintf(next, sizeof(next), "; BEGIN; %s; COMMIT; %s" CHECK_LOCK_SQL, setup,
			 next_no_transaction(m) ? "" : "BEGIN; ");
	}
	if (name == NULL ||
	    asprintf(&sql,
		     /* the file's own timeouts and search_path are not the
		      * bookkeeping's (first: a file's 1 ms statement_timeout
		      * would otherwise apply to the RESETs), pg_catalog's
		      * functions and operators until the COMMIT */
		     "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0; "
		     "SET LOCAL search_path = pg_catalog; RESET ROLE; RESET SESSION AUTHORIZATION; %s%s"
		     "INSERT INTO momentum_maintd.schema_migrations (version, name, checksum, duration) "
		     "VALUES (%" PRId64 ", %s, '%s', pg_catalog.make_interval(secs => %.6f))%s%s",
		     /* a re-run of an interrupted file: CREATE INDEX
		      * CONCURRENTLY IF NOT EXISTS skips the invalid index the
		      * interrupted build left; refuse to record it */
		     mig->script.no_transaction && rerun ? sql_migrate_invalid_index_guard : "",
		     done, mig->version, name, mig->checksum, elapsed_since(&m->cur_start),
		     mig->script.no_transaction ? "" : "; COMMIT", next) < 0) {
		PQfreemem(name);
		log_error("out of memory");
		finish(m, MIGRATE_FAILED);
		return;
	}
	send_sql(m, sql, migration_recorded);
	PQfreemem(name);
	free(sql);
}

static void migration_recorded(struct migrator *m, PGresult *res, bool ok)
{
	const struct migration *mig = current(m);
	const char *end = db_transaction_end_tag(m->db);

	if (!ok && strcmp(end, "COMMIT") == 0) {
		/* committed and recorded; the set-up or the lock check of the
		 * next file that followed failed: this one is applied, the run
		 * ends (and the connection with it) */
		migration_counted(m);
		report_sql_error(m, "resetting the session for the next migration", NULL, NULL, res);
		finish(m, MIGRATE_FAILED);
		return;
	}
	if (!ok && !mig->script.no_transaction && PQtransactionStatus(db_pgconn(m->db)) == PQTRANS_IDLE) {
		/* the row went in and the COMMIT failed (a deferred
		 * constraint of the file, say): the transaction is gone */
		report_sql_error(m, "migration transaction", mig, NULL, res);
		log_error("%s: not applied", mig->path);
		finish(m, MIGRATE_FAILED);
		return;
	}
	if (!ok) {
		report_sql_error(m, "recording the migration in momentum_maintd.schema_migrations", mig, NULL, res);
		migration_failed(m);
		return;
	}
	/* a transactional file's COMMIT, answered ROLLBACK if the file left
	 * its transaction failed */
	if (!mig->script.no_transaction && strcmp(end, "COMMIT") != 0) {
		struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

		log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
			 "%s: migration did not commit (server answered %s)", mig->path,
			 end[0] ? end : PQcmdStatus(res));
		finish(m, MIGRATE_FAILED);
		return;
	}
	if (!m->next_started) {
		migration_applied(m);
		return;
	}
	/* the next file's set-up and lock check came with it */
	migration_counted(m);
	m->cur++;
	next_file(m);
	if (current(m)->script.no_transaction)
		session_reset(m, res, true);
	else
		migration_started(m, res, true);
}

static void migration_applied(struct migrator *m)
{
	const struct migration *mig = current(m);

	migration_counted(m);
	m->cur++;
	if (migfile_may_define_setting(mig->sql, mig->sql_len) && more_pending(m)) {
		new_session(m, mig);
		return;
	}
	apply_next(m);
}

/* The current file is applied and recorded: logged and counted. */
static void migration_counted(struct migrator *m)
{
	const struct migration *mig = current(m);
	char ms[32];

	snprintf(ms, sizeof(ms), "%.0f", elapsed_since(&m->cur_start) * 1000);
	struct log_field f[] = {
		{ "MIGRATION", mig->name }, { "FILE", mig->path },
		{ "DURATION_MS", ms }, { "CHECKSUM", mig->checksum },
	};
	log_emit(LOG_NOTICE, MSGID_MIGRATION_APPLIED, LOG_FIELDS(f),
		 "applied migration %s in %s ms%s", mig->name, ms,
		 m->interrupted[m->cur] ? " (re-run after an interruption)" : "");
	m->applied_now++;
	m->applied_total++;
}

static bool more_pending(const struct migrator *m)
{
	return next_pending(m, m->cur) < m->set->n;
}

/* A custom setting that a file defined ("SET app.x = ..." or set_config())
 * stays defined in its session, reading '' where a new session reads NULL,
 * and no statement undefines it: the next file gets a new connection.  The
 * file is committed and recorded, so the lock is let go of in between; the
 * new session takes it again (after another instance, if one was waiting:
 * its work is read back as applied) and reads what is still pending, as a
 * run does at its start.  Files that set no custom setting, the usual case,
 * run in the same session one after the other. */
static void new_session(struct migrator *m, const struct migration *after)
{
	log_info("%s may have defined a custom setting (SET or RESET of a qualified name, or set_config): "
		 "the next migration runs in a new session", after->name);
	m->phase = PHASE_PREPARING;
	send_sql(m, MIGRATION_UNLOCK_SQL, unlocked_for_new_session);
}

static void unlocked_for_new_session(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	if (db_connect(m->db, NEW_SESSION_CONNECT_TIMEOUT_SEC, reconnected, m) < 0)
		report_lost(m);
}

static void reconnected(struct db *db, bool ok, void *arg)
{
	struct migrator *m = arg;

	(void)db;
	if (!ok) {
		report_lost(m);
		return;
	}
	m->resuming = true;
	take_lock(m);
}

/* The file failed and was reported: a transactional one is rolled back
 * before the run ends; a no-transaction one stays as far as it got. */
static void migration_failed(struct migrator *m)
{
	m->phase = PHASE_ENDING;
	if (!current(m)->script.no_transaction)
		send_sql(m, "ROLLBACK", rolled_back);
	else
		rolled_back(m, NULL, true);
}

static void rolled_back(struct migrator *m, PGresult *res, bool ok)
{
	const char *params[1] = { m->not_owner_of };

	(void)res;
	if (ok && m->not_owner_of[0] != '\0') {
		send_params(m, sql_migrate_not_owner, 1, params, owner_found);
		return;
	}
	finish(m, MIGRATE_FAILED);
}

/* Which role the failed statement needed, from the catalog: on hosted
 * Supabase storage.objects belongs to supabase_storage_admin, not to the
 * database owner the daemon usually connects as. */
static void owner_found(struct migrator *m, PGresult *res, bool ok)
{
	const struct migration *mig = current(m);
	struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

	if (ok && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] != '\0') {
		const char *session = PQgetvalue(res, 0, 1), *role = PQgetvalue(res, 0, 2);
		bool same = strcmp(session, role) == 0;

		log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
			 "%s: hint: %s, and the daemon is connected as %s%s%s%s: only the owner, or a member of "
			 "its role, may do this; apply this migration as that role", mig->path,
			 PQgetvalue(res, 0, 0), session, same ? "" : " (acting as ", same ? "" : role, same ? "" : ")");
	}
	else if (ok && PQntuples(res) == 1)
		log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
			 "%s: hint: only the owner of %s, or a member of its role, may do this; the daemon is "
			 "connected as %s", mig->path, m->not_owner_of, PQgetvalue(res, 0, 1));
	finish(m, MIGRATE_FAILED);
}

static void unlocked(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	finish(m, MIGRATE_OK);
}

/* ---- a lock timeout: say who is in the way, wait, try again -------------- */

/* Lock not granted in time.  Transactional files start over after a
 * ROLLBACK, from a clean session again; a no-transaction file retries the
 * statement in the session its earlier statements set up (its SETs, and
 * its lock_timeout: the blockers query leaves them alone). */
static void lock_timed_out(struct migrator *m)
{
	m->phase = PHASE_LOCK_RETRY;
	if (current(m)->script.no_transaction)
		find_blockers(m);
	else
		send_sql(m, "ROLLBACK", rolled_back_for_retry);
}

static void rolled_back_for_retry(struct migrator *m, PGresult *res, bool ok)
{
	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	find_blockers(m);
}

/* Say who is most likely in the way, then try again after a backoff. */
static void find_blockers(struct migrator *m)
{
	m->lock_attempt++;
	send_sql(m, m->blockers, blockers_found);
}

/* "pid 123 (application "api", idle in transaction, transaction open 12 s); ..." */
static void describe_blockers(const PGresult *res, bool ok, char *who, size_t size)
{
	size_t used = 0;

	who[0] = '\0';
	for (int i = 0; ok && i < PQntuples(res) && used < size; i++)
		used += (size_t)snprintf(who + used, size - used,
					 "%spid %s (application \"%s\", %s, transaction open %s s)",
					 i ? "; " : "", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
					 PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
	if (who[0] == '\0')
		snprintf(who, size, "a transaction that has since ended");
}

static void blockers_found(struct migrator *m, PGresult *res, bool ok)
{
	const struct migration *mig = current(m);
	const struct sql_stmt *st = &mig->script.stmts[m->stmt];
	long delay = backoff_ms(m->lock_attempt, LOCK_RETRY_BASE_MS, LOCK_RETRY_CAP_MS);
	char who[768], ms[32];

	describe_blockers(res, ok, who, sizeof(who));
	snprintf(ms, sizeof(ms), "%lld", (long long)m->conf->mig_lock_timeout_ms);
	struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path }, { "BLOCKERS", who },
				 { "LOCK_TIMEOUT_MS", ms } };

	log_emit(LOG_WARNING, MSGID_MIGRATION_LOCK_TIMEOUT, LOG_FIELDS(f),
		 "%s:%d: lock not granted within %s ms, so the application's queries are not held up; "
		 "retry %d of %lld in %.1f s; likely blocked by %s", mig->path, st->line, ms,
		 m->lock_attempt, (long long)m->conf->mig_lock_retries, (double)delay / 1000, who);
	notify_lock_retry(mig->name, m->cur_ordinal, m->npending, m->lock_attempt, m->conf->mig_lock_retries, who);
	/* the query's own transaction (BLOCKERS_SETUP_SQL), failed or not */
	send_sql(m, "ROLLBACK", blockers_ended);
}

static void blockers_ended(struct migrator *m, PGresult *res, bool ok)
{
	long delay = backoff_ms(m->lock_attempt, LOCK_RETRY_BASE_MS, LOCK_RETRY_CAP_MS);
	struct timeval tv = { .tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000 };

	if (!ok) {
		bookkeeping_failed(m, res);
		return;
	}
	evtimer_add(m->retry, &tv);
}

static void retry_tick(evutil_socket_t fd, short what, void *arg)
{
	struct migrator *m = arg;

	(void)fd; (void)what;
	if (current(m)->script.no_transaction) {
		m->phase = PHASE_APPLYING;
		send_statement(m);
		return;
	}
	m->stmt = 0;
	start_migration(m);
}
