#include "config.h"

#include <errno.h>
#include <inttypes.h>
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
#include "migrate.h"
#include "msgid.h"
#include "notify.h"
#include "timeutil.h"

extern const char supabase_compat_sql[];

#define LOCK_ARGS MIGRATION_LOCK_CLASSID ", " MIGRATION_LOCK_OBJID

/* Fails (and so keeps a no-transaction migration unrecorded, to be run
 * again) while an index is invalid: what an interrupted CREATE INDEX
 * CONCURRENTLY leaves behind. */
#define INVALID_INDEX_GUARD \
	"DO $guard$ DECLARE bad text; BEGIN " \
	"SELECT string_agg(format('%I.%I', n.nspname, c.relname), ', ' ORDER BY 1) INTO bad " \
	"FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') " \
	"AND n.nspname NOT LIKE 'pg\\_toast%'; " \
	"IF bad IS NOT NULL THEN RAISE EXCEPTION 'invalid index left behind: %', bad " \
	"USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'an interrupted CREATE INDEX CONCURRENTLY " \
	"leaves an invalid index, which IF NOT EXISTS then skips: DROP INDEX CONCURRENTLY it and start again; " \
	"the migration runs again'; END IF; END $guard$; "

#define PROGRESS_INTERVAL_SEC 5
#define READ_APPLIED_SQL \
	"SELECT version, name, checksum, false, '' FROM momentum_maintd.schema_migrations " \
	"UNION ALL SELECT version, name, '', true, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ') " \
	"FROM momentum_maintd.migrations_in_progress ORDER BY 1, 4"
/* Whether the bookkeeping is as the bootstrap leaves it: every relation it
 * creates, and the comment it sets last.  Then the next query only reads it.
 * to_regclass, not a cast: a fresh database is no error in the server's log. */
#define BOOKKEEPING_READY_SQL \
	"to_regclass('momentum_maintd.schema_migrations') IS NOT NULL " \
	"AND to_regclass('momentum_maintd.migrations_in_progress') IS NOT NULL " \
	"AND to_regclass('momentum_maintd.job_runs_job_started_idx') IS NOT NULL " \
	"AND to_regclass('momentum_maintd.job_runs_one_run_per_tick') IS NOT NULL " \
	"AND EXISTS (SELECT 1 FROM pg_description WHERE objoid = to_regclass('momentum_maintd.job_runs') " \
	"AND classoid = 'pg_class'::regclass AND objsubid = 0)"
/* The pooler check and READ_APPLIED_SQL in one statement, for bookkeeping
 * that needs no bootstrap.  Its row with a NULL version carries the server
 * pid and whether this session holds the migration lock (pg_lock_status()
 * is what pg_locks shows, without the view); plan() sorts the rest. */
#define CHECK_AND_READ_SQL \
	"SELECT NULL::bigint, pg_backend_pid()::text, EXISTS (SELECT 1 FROM pg_lock_status() l " \
	"WHERE l.pid = pg_backend_pid() AND l.locktype = 'advisory' AND l.granted " \
	"AND l.classid = " MIGRATION_LOCK_CLASSID " AND l.objid = " MIGRATION_LOCK_OBJID " AND l.objsubid = 2)::text, " \
	"false, '' " \
	"UNION ALL SELECT version, name, checksum, false, '' FROM momentum_maintd.schema_migrations " \
	"UNION ALL SELECT version, name, '', true, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ') " \
	"FROM momentum_maintd.migrations_in_progress"
#define SESSION_SETUP_SQL \
	"RESET SESSION AUTHORIZATION; RESET ALL; SET statement_timeout = 0; SET lock_timeout = 0; " \
	"SET idle_in_transaction_session_timeout = 0; SET idle_session_timeout = 0;"
/* EXTEND_TIMEOUT_USEC asks for this much more time, re-sent every interval */
#define EXTEND_USEC (30ULL * 1000000ULL)

const char migrate_bootstrap_sql[] =
	"CREATE SCHEMA IF NOT EXISTS momentum_maintd;\n"

	"CREATE TABLE IF NOT EXISTS momentum_maintd.schema_migrations (\n"
	"    version    bigint PRIMARY KEY,\n"
	"    name       text NOT NULL,\n"
	"    checksum   text NOT NULL,\n"
	"    applied_at timestamptz NOT NULL DEFAULT now(),\n"
	"    duration   interval NOT NULL,\n"
	"    applied_by text NOT NULL DEFAULT current_user\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS momentum_maintd.migrations_in_progress (\n"
	"    version    bigint PRIMARY KEY,\n"
	"    name       text NOT NULL,\n"
	"    started_at timestamptz NOT NULL DEFAULT now(),\n"
	"    started_by text NOT NULL DEFAULT current_user\n"
	");\n"

	"CREATE TABLE IF NOT EXISTS momentum_maintd.job_runs (\n"
	"    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"    job           text NOT NULL,\n"
	"    instance      text NOT NULL,\n"
	"    scheduled_for timestamptz NOT NULL,\n"
	"    started_at    timestamptz NOT NULL DEFAULT now(),\n"
	"    finished_at   timestamptz,\n"
	"    status        text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped', 'cancelled')),\n"
	"    rows_affected bigint,\n"
	"    error         text\n"
	");\n"

	"CREATE INDEX IF NOT EXISTS job_runs_job_started_idx ON momentum_maintd.job_runs (job, started_at);\n"
	/* one run per job and scheduled time, whichever instance gets there
	 * first; a failed or cancelled run does not stop its retry */
	"CREATE UNIQUE INDEX IF NOT EXISTS job_runs_one_run_per_tick ON momentum_maintd.job_runs (job, scheduled_for) "
	"WHERE status IN ('running', 'ok');\n"
	/* comments only once: an unchanged database is not written to at start */
	"DO $comments$ BEGIN\n"
	"IF obj_description('momentum_maintd.job_runs'::regclass, 'pg_class') IS NULL THEN\n"
	"COMMENT ON SCHEMA momentum_maintd IS 'bookkeeping of momentum-maintd';\n"
	"COMMENT ON TABLE momentum_maintd.migrations_in_progress IS "
	"'no-transaction migrations that started and have not finished; the next start re-runs them';\n"
	"COMMENT ON TABLE momentum_maintd.job_runs IS 'one row per run (or skip) of a scheduled job; "
	"rows older than jobs.history_retention are pruned';\n"
	"END IF; END $comments$;\n";

enum step {
	S_IDLE, S_EXISTS, S_TRY_LOCK, S_BACKUP, S_LOCK_HOLDER, S_LOCK, S_SESSION, S_CHECK_AND_READ, S_BOOTSTRAP,
	S_READ_APPLIED, S_COMPAT,
	S_RESET, S_BEGIN, S_STMT, S_TRACK, S_ROLLBACK_RETRY, S_BLOCKERS, S_LOCK_BACKOFF,
	S_ROLLBACK, S_UNLOCK, S_VERIFY,
};

struct migrator {
	struct event_base *base;
	struct db *db;
	const struct conf *conf;
	const struct migration_set *set;
	migrate_done_cb done;
	void *arg;

	enum step step;
	bool *pending;            /* by index into set->items */
	size_t npending, applied_now, applied_total;
	size_t cur;               /* index of the migration being applied */
	size_t stmt;              /* index of its statement being run */
	bool *interrupted;        /* no-transaction runs that never finished */
	bool pooler_noted;
	bool bookkeeping_ready;   /* as the lock was asked for: no bootstrap needed */
	char *bootstrap_and_read;
	bool dry_run;             /* plan only: no lock, no bookkeeping, no change */
	bool without_in_progress; /* dry run on bookkeeping that predates that table */
	pid_t backup_pid;
	struct timespec backup_start;
	struct event *sigchld;
	struct event *retry;      /* backoff after a lock timeout */
	int lock_attempt;
	size_t cur_ordinal;       /* its place among the pending ones, from 1 */
	struct timespec cur_start;
	struct event *progress;
	enum migrate_result failure; /* reported after the rollback */
};

static void on_result(struct db *db, PGresult *res, void *arg);
static void retry_tick(evutil_socket_t fd, short what, void *arg);
static void start_migration(struct migrator *m);

static void progress_tick(evutil_socket_t fd, short what, void *arg)
{
	struct migrator *m = arg;

	(void)fd; (void)what;
	/* systemd must not kill a long index build, or an instance waiting
	 * for another's migrations, at its start timeout */
	notify_extend_timeout(EXTEND_USEC);
	if (m->step < S_RESET || m->step > S_TRACK)
		return;
	notify_status("applying %s (%zu/%zu, %.0f s)", m->set->items[m->cur].name,
		      m->cur_ordinal, m->npending, elapsed_since(&m->cur_start));
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
	if (asprintf(&m->bootstrap_and_read, "%s%s", migrate_bootstrap_sql, READ_APPLIED_SQL) < 0)
		m->bootstrap_and_read = NULL;
	m->progress = event_new(base, -1, EV_PERSIST, progress_tick, m);
	m->retry = evtimer_new(base, retry_tick, m);
	if (m->bootstrap_and_read == NULL || m->progress == NULL || m->retry == NULL) {
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
	free(m->interrupted);
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
	m->step = S_IDLE;
	m->done(r, m->arg);
}

static void migrator_send(struct migrator *m, enum step step, const char *sql, int nparams,
		 const char *const *params)
{
	m->step = step;
	if (db_query(m->db, sql, nparams, params, on_result, m) < 0) {
		log_emit(LOG_WARNING, MSGID_DB_LOST, NULL, 0,
			 "database connection lost during migrations: %s", db_error(m->db));
		finish(m, MIGRATE_DB_LOST);
	}
}

/* The connection broke under us: nothing half-applied survives a broken
 * transaction, so the caller reconnects and starts over. */
static bool connection_lost(struct migrator *m)
{
	if (db_connected(m->db))
		return false;
	log_emit(LOG_WARNING, MSGID_DB_LOST, NULL, 0,
		 "database connection lost during migrations: %s", db_error(m->db));
	finish(m, MIGRATE_DB_LOST);
	return true;
}

/* Where in the file an error is: from the server's position inside the
 * statement that failed, or the statement's start when it gave none. */
static bool is_duplicate_object(const char *sqlstate)
{
	/* duplicate_table, duplicate_object, duplicate_function, duplicate_schema */
	return strcmp(sqlstate, "42P07") == 0 || strcmp(sqlstate, "42710") == 0 ||
	       strcmp(sqlstate, "42723") == 0 || strcmp(sqlstate, "42P06") == 0;
}

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
		*ls = p;
		*ll = strcspn(p, "\n");
	}
}

void migrate_report_pooler(int server_pid)
{
	log_emit(LOG_ERR, MSGID_MIGRATION_LOCK_WAIT, NULL, 0,
		 "the migration lock is not held by the server session that runs this connection's "
		 "queries (backend pid %d): the daemon is connected through a transaction-mode pooler "
		 "(PgBouncer pool_mode = transaction, Supabase's port 6543). Set database.conninfo to "
		 "the database itself or to a session-mode pooler", server_pid);
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

	(void)mig;
	char where[1100], linebuf[16], colbuf[16], snippet[1400] = "", extra[2048] = "";
	int line = 0, col = 0;
	size_t used = 0;

	if (st != NULL) {
		const char *ls;
		size_t ll;

		error_location(sql, st, pos, &line, &col, &ls, &ll);
		snprintf(where, sizeof(where), "%s:%d:%d: ", path, line, col);
		/* the line, and a caret under the column (tabs kept so it lines up) */
		used = (size_t)snprintf(snippet, sizeof(snippet), "\n%6d | %.*s\n       | ", line,
					(int)(ll > 300 ? 300 : ll), ls);
		for (int i = 1; i < col && used + 2 < sizeof(snippet) && (size_t)(i - 1) < ll; i++)
			snippet[used++] = ls[i - 1] == '\t' ? '\t' : ' ';
		snprintf(snippet + used, sizeof(snippet) - used, "^%s", pos ? "" : " (statement starting here)");
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
	if (strcmp(sqlstate, "42501") == 0 && used < sizeof(extra))
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

static void report_sql_error(const struct migrator *m, const char *what, const struct migration *mig,
			     const PGresult *res)
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
	migrate_report_error(what, mig, mig ? mig->path : NULL, mig ? mig->sql : NULL,
			     mig && m->step == S_STMT ? &mig->script.stmts[m->stmt] : NULL, outcome, res);
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

static const char *version_text(const struct migration *mig)
{
	static char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, mig->version);
	return buf;
}

static void send_statement(struct migrator *m, const struct migration *mig)
{
	const struct sql_stmt *st = &mig->script.stmts[m->stmt];
	char *sql = strndup(mig->sql + st->start, st->len);

	if (sql == NULL) {
		log_error("out of memory");
		finish(m, MIGRATE_FAILED);
		return;
	}
	migrator_send(m, S_STMT, sql, 0, NULL);
	free(sql);
}

static void apply_next(struct migrator *m)
{
	size_t i;

	for (i = m->cur; i < m->set->n; i++) {
		if (m->pending[i]) {
			m->cur = i;
			m->cur_ordinal++;
			clock_gettime(CLOCK_MONOTONIC, &m->cur_start);
			notify_status("applying %s (%zu/%zu)", m->set->items[i].name,
				      m->cur_ordinal, m->npending);
			log_debug("applying migration %s (%zu/%zu)", m->set->items[i].name,
				 m->cur_ordinal, m->npending);
			m->stmt = 0;
			m->lock_attempt = 0;
			start_migration(m);
			return;
		}
	}
	migrator_send(m, S_UNLOCK, "SELECT pg_advisory_unlock(" LOCK_ARGS ")", 0, NULL);
}

/* A no-transaction file is marked in progress before its first statement,
 * so that a crash part-way is seen at the next start. */
static void mark_in_progress(struct migrator *m)
{
	const struct migration *mig = &m->set->items[m->cur];
	const char *params[2] = { version_text(mig), mig->name };

	migrator_send(m, S_BEGIN,
		      "INSERT INTO momentum_maintd.migrations_in_progress (version, name) "
		      "VALUES ($1, $2) ON CONFLICT (version) DO UPDATE "
		      "SET started_at = now(), started_by = current_user", 2, params);
}

/* Each file starts from a clean session: a SET or SET ROLE in one file
 * must not change how the next one runs.  A migration's statements wait at
 * most migrations.lock_timeout for a lock, so that the application's
 * queries never queue behind its lock request for longer than that.
 *
 * A transactional file gets the set-up and its BEGIN in one round trip:
 * the set-up then belongs to the migration's transaction, which is what
 * matters, as a rolled-back file is either retried from here or ends the
 * run. */
static void start_migration(struct migrator *m)
{
	char sql[512];
	bool no_tx = m->set->items[m->cur].script.no_transaction;

	snprintf(sql, sizeof(sql), SESSION_SETUP_SQL "SET lock_timeout = %lld;%s",
		 (long long)m->conf->mig_lock_timeout_ms, no_tx ? "" : " BEGIN;");
	migrator_send(m, no_tx ? S_RESET : S_BEGIN, sql, 0, NULL);
}

/* Lock not granted in time: say who is most likely in the way, then try
 * again after a backoff.  Transactional files start over (the server
 * rolled them back); a no-transaction file retries the statement. */
static void lock_timeout_retry(struct migrator *m)
{
	m->lock_attempt++;
	/* after a ROLLBACK the session is as the previous file left it */
	migrator_send(m, S_BLOCKERS, SESSION_SETUP_SQL
		      "SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), a.state, "
		      "round(extract(epoch FROM now() - a.xact_start))::bigint "
		      "FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() "
		      "AND a.datname = current_database() AND a.xact_start IS NOT NULL "
		      "AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted "
		      "AND l.locktype = 'relation') ORDER BY a.xact_start LIMIT 3", 0, NULL);
}

static void retry_tick(evutil_socket_t fd, short what, void *arg)
{
	struct migrator *m = arg;
	const struct migration *mig = &m->set->items[m->cur];

	(void)fd; (void)what;
	if (mig->script.no_transaction) {
		send_statement(m, mig);
		return;
	}
	m->stmt = 0;
	start_migration(m);
}

struct applied_row {
	int64_t version;
	bool in_progress;
	int row;
};

static int cmp_applied_row(const void *a, const void *b)
{
	const struct applied_row *x = a, *y = b;

	if (x->version != y->version)
		return (x->version > y->version) - (x->version < y->version);
	return (int)x->in_progress - (int)y->in_progress;
}

/* Compares the files with the tracking table; marks what is pending.  The
 * rows are taken in version order, a tracking row before an in-progress
 * mark of the same version, whatever order they came in; a row with a NULL
 * version is CHECK_AND_READ_SQL's, not a migration. */
static int plan(struct migrator *m, PGresult *res)
{
	int i, k, nrows = res ? PQntuples(res) : 0;
	int64_t newest_applied = -1;
	struct applied_row *rows = NULL;
	size_t j;
	int rc = -1;

	for (j = 0; j < m->set->n; j++)
		m->pending[j] = true;
	m->applied_total = 0;
	if (nrows > 0 && (rows = calloc((size_t)nrows, sizeof(*rows))) == NULL) {
		log_error("out of memory");
		return -1;
	}
	for (i = 0, k = 0; i < nrows; i++) {
		if (PQgetisnull(res, i, 0))
			continue;
		rows[k].version = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		rows[k].in_progress = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		rows[k++].row = i;
	}
	nrows = k;
	if (nrows > 1)
		qsort(rows, (size_t)nrows, sizeof(*rows), cmp_applied_row);
	for (k = 0; k < nrows; k++) {
		int64_t v = rows[k].version;
		const char *name = PQgetvalue(res, rows[k].row, 1), *sum = PQgetvalue(res, rows[k].row, 2);
		struct migration *mig = migration_set_find(m->set, v);

		if (rows[k].in_progress) {
			/* a no-transaction migration that started and never finished */
			struct log_field f[] = { { "MIGRATION", name } };

			if (mig != NULL)
				m->interrupted[mig - m->set->items] = true;
			log_emit(LOG_WARNING, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
				 "no-transaction migration %s was interrupted (started %s and never finished); "
				 "it is re-run from the top, as such files must be idempotent", name,
				 PQgetvalue(res, rows[k].row, 4));
			continue;
		}
		m->applied_total++;

		if (v > newest_applied)
			newest_applied = v;
		if (mig == NULL) {
			struct log_field f[] = { { "MIGRATION", name } };

			log_emit(LOG_WARNING, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
				 "migration %s is recorded as applied but its file is not in %s",
				 name, m->conf->mig_directory);
			continue;
		}
		m->pending[mig - m->set->items] = false;
		if (strcmp(sum, mig->checksum) != 0) {
			struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

			log_emit(LOG_ERR, MSGID_MIGRATION_CHECKSUM, LOG_FIELDS(f),
				 "%s: applied migration was changed after it was applied "
				 "(recorded sha256 %s, file now %s); restore the file, or write a new migration for the change",
				 mig->path, sum, mig->checksum);
			goto out;
		}
	}
	m->npending = 0;
	for (j = 0; j < m->set->n; j++) {
		struct migration *mig = &m->set->items[j];

		if (!m->pending[j])
			continue;
		if (mig->version < newest_applied) {
			struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

			switch (m->conf->mig_on_out_of_order) {
			case OOO_FAIL:
				log_emit(LOG_ERR, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
					 "%s: pending migration is older than the newest applied one (version %" PRId64
					 "); renumber it, or set migrations.on_out_of_order = \"apply\"",
					 mig->path, newest_applied);
				goto out;
			case OOO_IGNORE:
				log_emit(LOG_WARNING, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
					 "%s: pending migration older than the newest applied one is ignored "
					 "(migrations.on_out_of_order = \"ignore\")", mig->path);
				m->pending[j] = false;
				continue;
			case OOO_APPLY:
				log_emit(LOG_WARNING, MSGID_MIGRATION_ORDER, LOG_FIELDS(f),
					 "%s: applying a migration older than the newest applied one "
					 "(migrations.on_out_of_order = \"apply\")", mig->path);
				break;
			}
		}
		m->npending++;
	}
	rc = 0;
out:
	free(rows);
	return rc;
}

/* The seed's post-migration check: every table in public has RLS on. */
static void report_rls(const PGresult *res)
{
	int i, n = PQntuples(res), off = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(PQgetvalue(res, i, 1), "t") == 0)
			continue;
		struct log_field f[] = { { "CHECK", "rls_enabled" }, { "OBJECT", PQgetvalue(res, i, 0) } };

		log_emit(LOG_WARNING, MSGID_POSTCHECK, LOG_FIELDS(f),
			 "post-migration check: table %s has row level security disabled; enable it "
			 "(ALTER TABLE %s ENABLE ROW LEVEL SECURITY) or it is open to every role with access",
			 PQgetvalue(res, i, 0), PQgetvalue(res, i, 0));
		off++;
	}
	if (off == 0)
		log_info("post-migration check: row level security is enabled on all %d table(s) in public", n);
}

/* The seed's per-environment rules that decide whether applying may start. */
static int check_environment_rules(struct migrator *m)
{
	size_t i, missing = 0;

	if (m->conf->environment != ENV_PRODUCTION || m->npending == 0)
		return 0;
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
		m->failure = MIGRATE_FAILED;
		return -1;
	}
	if (m->conf->mig_backup_command[0] == '\0') {
		log_error("production: %zu migration(s) pending but migrations.backup_command is empty; back up "
			  "before production migrations (e.g. backup_command = \"pg_dump -Fc -f /var/backups/momentum-$(date +%%s).dump\"), "
			  "or set environment to staging or development", m->npending);
		m->failure = MIGRATE_UNSAFE;
		return -1;
	}
	return 0;
}

/* Compatibility step (when on), then the pending migrations. */
static void after_backup(struct migrator *m)
{
	m->cur = 0;
	if (m->conf->mig_supabase_compat) {
		notify_status("creating missing Supabase objects (compatibility step)");
		db_set_notice_cb(m->db, compat_notice, m);
		migrator_send(m, S_COMPAT, supabase_compat_sql, 0, NULL);
		return;
	}
	apply_next(m);
}

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
	m->step = S_BACKUP;
	clock_gettime(CLOCK_MONOTONIC, &m->backup_start);
	if (m->sigchld == NULL)
		m->sigchld = evsignal_new(m->base, SIGCHLD, backup_done, m);
	if (m->sigchld == NULL || event_add(m->sigchld, NULL) < 0) {
		log_error("cannot watch the backup command");
		return -1;
	}
	notify_status("running the backup command before applying %zu migration(s)", m->npending);
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

/* The pooler check's answer: false (and the run finished) when this
 * session does not hold the migration lock. */
static bool lock_session_ok(struct migrator *m, const char *server_pid_text, bool held)
{
	int server_pid = atoi(server_pid_text);

	if (!held) {
		migrate_report_pooler(server_pid);
		finish(m, MIGRATE_UNSAFE);
		return false;
	}
	if (server_pid != PQbackendPID(db_pgconn(m->db)) && !m->pooler_noted) {
		m->pooler_noted = true;
		log_notice("connected through a connection pooler (server backend pid %d, pooler's key %d); "
			   "it must keep the daemon's session (session pooling) for the migration lock to hold",
			   server_pid, PQbackendPID(db_pgconn(m->db)));
	}
	return true;
}

static void on_result(struct db *db, PGresult *res, void *arg)
{
	struct migrator *m = arg;
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	struct migration *mig = m->cur < m->set->n ? &m->set->items[m->cur] : NULL;

	(void)db;
	if (!ok && connection_lost(m))
		return;

	switch (m->step) {
	case S_TRY_LOCK:
		if (!ok)
			goto sql_error;
		m->bookkeeping_ready = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			goto locked;
		migrator_send(m, S_LOCK_HOLDER,
		     "SELECT coalesce(string_agg(l.pid::text, ', '), 'unknown') FROM pg_locks l "
		     "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = " MIGRATION_LOCK_CLASSID
		     " AND l.objid = " MIGRATION_LOCK_OBJID " AND l.objsubid = 2"
		     " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
		     0, NULL);
		return;
	case S_LOCK_HOLDER: {
		const char *pid = ok ? PQgetvalue(res, 0, 0) : "unknown";
		struct log_field f[] = { { "HOLDER_PID", pid } };

		notify_status("waiting for the migration lock held by another instance (backend pid %s)", pid);
		log_emit(LOG_INFO, MSGID_MIGRATION_LOCK_WAIT, LOG_FIELDS(f),
			 "another instance is applying migrations (backend pid %s); waiting for it", pid);
		migrator_send(m, S_LOCK, "SELECT pg_advisory_lock(" LOCK_ARGS ")", 0, NULL);
		return;
	}
	case S_LOCK:
		if (!ok)
			goto sql_error;
		goto locked;
	case S_SESSION:
		if (!ok)
			goto sql_error;
		if (!lock_session_ok(m, PQgetvalue(res, 0, 0), strcmp(PQgetvalue(res, 0, 1), "t") == 0))
			return;
		/* the bookkeeping tables, then what they say, in one round trip */
		migrator_send(m, S_BOOTSTRAP, m->bootstrap_and_read, 0, NULL);
		return;
	case S_CHECK_AND_READ: {
		int i, n = ok ? PQntuples(res) : 0;

		for (i = 0; i < n && !PQgetisnull(res, i, 0); i++)
			;
		if (i == n) {
			/* the bookkeeping changed since the lock was asked for (or
			 * cannot be read): the long way, which says what is wrong */
			m->bookkeeping_ready = false;
			goto locked;
		}
		/* a boolean as text: "true" */
		if (!lock_session_ok(m, PQgetvalue(res, i, 1), strcmp(PQgetvalue(res, i, 2), "true") == 0))
			return;
		goto planned;
	}
	case S_BOOTSTRAP:
		if (!ok)
			goto sql_error;
		goto planned;
read_applied:
		/* a dry run may meet bookkeeping older than migrations_in_progress */
		migrator_send(m, S_READ_APPLIED, m->without_in_progress
		     ? "SELECT version, name, checksum, false, '' FROM momentum_maintd.schema_migrations ORDER BY 1"
		     : READ_APPLIED_SQL,
		     0, NULL);
		return;
	case S_EXISTS:
		if (!ok)
			goto sql_error;
		m->without_in_progress = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			goto read_applied;
		res = NULL; /* never migrated: nothing applied */
		/* fall through */
	case S_READ_APPLIED:
		if (res != NULL && !ok)
			goto sql_error;
	planned:
		if (plan(m, res) < 0) {
			finish(m, MIGRATE_FAILED);
			return;
		}
		if (check_environment_rules(m) < 0) {
			finish(m, m->failure);
			return;
		}
		if (m->dry_run) {
			finish(m, MIGRATE_OK);
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
		return;
	case S_BACKUP:
		return;
	case S_COMPAT:
		db_set_notice_cb(m->db, NULL, NULL);
		if (!ok) {
			report_sql_error(m, "Supabase compatibility step (migrations.supabase_compat)", NULL, res);
			finish(m, MIGRATE_FAILED);
			return;
		}
		m->cur = 0;
		apply_next(m);
		return;
	case S_RESET:
		if (!ok)
			goto sql_error;
		mark_in_progress(m);
		return;
	case S_BEGIN:
		if (!ok)
			goto sql_error;
		send_statement(m, mig);
		return;
	case S_STMT:
		if (!ok && strcmp(db_sqlstate(res), "55P03") == 0 &&
		    m->lock_attempt < m->conf->mig_lock_retries) {
			if (mig->script.no_transaction)
				lock_timeout_retry(m);
			else
				migrator_send(m, S_ROLLBACK_RETRY, "ROLLBACK", 0, NULL);
			return;
		}
		if (!ok) {
			report_sql_error(m, "migration", mig, res);
			m->failure = MIGRATE_FAILED;
			if (mig->script.no_transaction)
				finish(m, MIGRATE_FAILED);
			else
				migrator_send(m, S_ROLLBACK, "ROLLBACK", 0, NULL);
			return;
		}
		if (!mig->script.no_transaction && PQtransactionStatus(db_pgconn(m->db)) != PQTRANS_INTRANS) {
			/* the splitter refuses COMMIT and friends; this catches what it cannot see */
			const struct sql_stmt *st = &mig->script.stmts[m->stmt];
			struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

			log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
				 "%s:%d:%d: this statement ended the migration's transaction; what ran before it may "
				 "be committed and the migration is not recorded: check the database by hand, then "
				 "remove the transaction control from the file", mig->path, st->line, st->column);
			finish(m, MIGRATE_FAILED);
			return;
		}
		if (++m->stmt < mig->script.n) {
			send_statement(m, mig);
			return;
		}
		{
			PGconn *c = db_pgconn(m->db);
			char *name = PQescapeLiteral(c, mig->name, strlen(mig->name));
			char *sql = NULL;
			char done[128] = "";

			/* the end of an in-progress mark commits with the tracking row */
			if (mig->script.no_transaction || m->interrupted[m->cur])
				snprintf(done, sizeof(done), "WITH done AS (DELETE FROM momentum_maintd.migrations_in_progress "
					 "WHERE version = %" PRId64 ") ", mig->version);
			/* Recorded as the role the daemon connected as, whatever SET ROLE
			 * the file did; a transactional file commits in the same round
			 * trip, a no-transaction file's row is one implicit transaction. */
			if (name == NULL ||
			    asprintf(&sql, "RESET ROLE; RESET SESSION AUTHORIZATION; %s%s"
				     "INSERT INTO momentum_maintd.schema_migrations (version, name, checksum, duration) "
				     "VALUES (%" PRId64 ", %s, '%s', make_interval(secs => %.6f))%s",
				     /* a re-run of an interrupted file: CREATE INDEX
				      * CONCURRENTLY IF NOT EXISTS skips the invalid index
				      * the interrupted build left; refuse to record it */
				     mig->script.no_transaction && m->interrupted[m->cur] ? INVALID_INDEX_GUARD : "",
				     done, mig->version, name, mig->checksum, elapsed_since(&m->cur_start),
				     mig->script.no_transaction ? "" : "; COMMIT") < 0) {
				PQfreemem(name);
				log_error("out of memory");
				finish(m, MIGRATE_FAILED);
				return;
			}
			migrator_send(m, S_TRACK, sql, 0, NULL);
			PQfreemem(name);
			free(sql);
		}
		return;
	case S_TRACK:
		if (!ok && !mig->script.no_transaction &&
		    PQtransactionStatus(db_pgconn(m->db)) == PQTRANS_IDLE) {
			/* the row went in and the COMMIT failed (a deferred
			 * constraint of the file, say): the transaction is gone */
			report_sql_error(m, "migration transaction", mig, res);
			log_error("%s: not applied", mig->path);
			finish(m, MIGRATE_FAILED);
			return;
		}
		if (!ok) {
			report_sql_error(m, "recording the migration in momentum_maintd.schema_migrations", mig, res);
			m->failure = MIGRATE_FAILED;
			if (mig->script.no_transaction)
				finish(m, MIGRATE_FAILED);
			else
				migrator_send(m, S_ROLLBACK, "ROLLBACK", 0, NULL);
			return;
		}
		if (mig->script.no_transaction)
			goto applied;
		/* the last result is the COMMIT's */
		if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
			struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

			log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
				 "%s: migration did not commit (server answered %s)", mig->path, PQcmdStatus(res));
			finish(m, MIGRATE_FAILED);
			return;
		}
		goto applied;
	case S_ROLLBACK:
		finish(m, m->failure);
		return;
	case S_ROLLBACK_RETRY:
		if (!ok)
			goto sql_error;
		lock_timeout_retry(m);
		return;
	case S_BLOCKERS: {
		char who[768] = "", ms[32];
		size_t used = 0;
		long delay = 500L << (m->lock_attempt - 1 < 6 ? m->lock_attempt - 1 : 6);
		struct timeval tv = { .tv_sec = delay / 1000, .tv_usec = (delay % 1000) * 1000 };
		const struct sql_stmt *st = &mig->script.stmts[m->stmt];

		for (int i = 0; ok && i < PQntuples(res) && used < sizeof(who); i++)
			used += (size_t)snprintf(who + used, sizeof(who) - used,
						 "%spid %s (application \"%s\", %s, transaction open %s s)",
						 i ? "; " : "", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
						 PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
		if (who[0] == '\0')
			snprintf(who, sizeof(who), "a transaction that has since ended");
		snprintf(ms, sizeof(ms), "%lld", (long long)m->conf->mig_lock_timeout_ms);
		struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path }, { "BLOCKERS", who },
					 { "LOCK_TIMEOUT_MS", ms } };

		log_emit(LOG_WARNING, MSGID_MIGRATION_LOCK_TIMEOUT, LOG_FIELDS(f),
			 "%s:%d: lock not granted within %s ms, so the application's queries are not held up; "
			 "retry %d of %lld in %.1f s; likely blocked by %s", mig->path, st->line, ms,
			 m->lock_attempt, (long long)m->conf->mig_lock_retries, (double)delay / 1000, who);
		notify_status("applying %s (%zu/%zu): waiting for a lock, retry %d of %lld; blocked by %s",
			      mig->name, m->cur_ordinal, m->npending, m->lock_attempt,
			      (long long)m->conf->mig_lock_retries, who);
		m->step = S_LOCK_BACKOFF;
		evtimer_add(m->retry, &tv);
		return;
	}
	case S_LOCK_BACKOFF:
		return;
	case S_UNLOCK:
		if (!ok)
			goto sql_error;
		/* staging and production: the seed's "verify RLS after migrating" */
		if (m->applied_now > 0 && m->conf->environment != ENV_DEVELOPMENT) {
			migrator_send(m, S_VERIFY,
				      "SELECT n.nspname || '.' || c.relname, c.relrowsecurity FROM pg_class c "
				      "JOIN pg_namespace n ON n.oid = c.relnamespace "
				      "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1", 0, NULL);
			return;
		}
		finish(m, MIGRATE_OK);
		return;
	case S_VERIFY:
		if (ok)
			report_rls(res);
		else
			log_warning("post-migration check could not run: %s", db_message(res));
		finish(m, MIGRATE_OK);
		return;
	case S_IDLE:
		return;
	}
	return;

locked:
	/* A session advisory lock only protects anything if every later query
	 * runs in the session that holds it: not so behind a transaction-mode
	 * pooler, which may hand each statement to another server connection.
	 * So the check is a query of its own, not part of the one that locked.
	 * With the bookkeeping in place it also reads what is applied. */
	if (m->bookkeeping_ready)
		migrator_send(m, S_CHECK_AND_READ, CHECK_AND_READ_SQL, 0, NULL);
	else
		migrator_send(m, S_SESSION, MIGRATION_LOCK_HELD_SQL, 0, NULL);
	return;

applied: {
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
		m->cur++;
		apply_next(m);
		return;
	}

sql_error:
	report_sql_error(m, m->step == S_BEGIN ? "migration transaction"
			 : "migration bookkeeping (schema momentum_maintd)",
			 m->step >= S_BEGIN && m->step <= S_TRACK ? mig : NULL, res);
	finish(m, MIGRATE_FAILED);
}

void migrator_start(struct migrator *m)
{
	/* sized here, not in migrator_new: the set may be read after it */
	free(m->pending);
	free(m->interrupted);
	m->pending = calloc(m->set->n + 1, sizeof(*m->pending));
	m->interrupted = calloc(m->set->n + 1, sizeof(*m->interrupted));
	if (m->pending == NULL || m->interrupted == NULL) {
		log_error("out of memory");
		finish(m, MIGRATE_FAILED);
		return;
	}
	struct timeval tv = { .tv_sec = PROGRESS_INTERVAL_SEC, .tv_usec = 0 };

	m->cur = 0;
	m->cur_ordinal = 0;
	m->npending = 0;
	m->bookkeeping_ready = false;
	if (m->dry_run) {
		migrator_send(m, S_EXISTS,
			      "SELECT to_regclass('momentum_maintd.schema_migrations') IS NOT NULL, "
			      "to_regclass('momentum_maintd.migrations_in_progress') IS NULL", 0, NULL);
		return;
	}
	notify_status("taking the migration lock");
	event_add(m->progress, &tv);
	/* the DBA's timeouts are for the application: an index build or a wait
	 * for another instance's migrations must not be cut short by them */
	migrator_send(m, S_TRY_LOCK, SESSION_SETUP_SQL "SELECT pg_try_advisory_lock(" LOCK_ARGS "), "
		      BOOKKEEPING_READY_SQL, 0, NULL);
}
