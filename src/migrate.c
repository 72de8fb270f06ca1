#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "migfile.h"
#include "migrate.h"
#include "msgid.h"
#include "notify.h"

extern const char supabase_compat_sql[];

#define LOCK_ARGS MIGRATION_LOCK_CLASSID ", " MIGRATION_LOCK_OBJID
#define PROGRESS_INTERVAL_SEC 5
/* EXTEND_TIMEOUT_USEC asks for this much more time, re-sent every interval */
#define EXTEND_USEC (30ULL * 1000000ULL)

static const char bootstrap_sql[] =
	"CREATE SCHEMA IF NOT EXISTS momentum_maintd;\n"
	"COMMENT ON SCHEMA momentum_maintd IS 'bookkeeping of momentum-maintd';\n"
	"CREATE TABLE IF NOT EXISTS momentum_maintd.schema_migrations (\n"
	"    version    bigint PRIMARY KEY,\n"
	"    name       text NOT NULL,\n"
	"    checksum   text NOT NULL,\n"
	"    applied_at timestamptz NOT NULL DEFAULT now(),\n"
	"    duration   interval NOT NULL,\n"
	"    applied_by text NOT NULL DEFAULT current_user\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS momentum_maintd.job_runs (\n"
	"    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"    job           text NOT NULL,\n"
	"    instance      text NOT NULL,\n"
	"    started_at    timestamptz NOT NULL,\n"
	"    finished_at   timestamptz,\n"
	"    status        text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped', 'cancelled')),\n"
	"    rows_affected bigint,\n"
	"    error         text\n"
	");\n"
	"CREATE INDEX IF NOT EXISTS job_runs_job_started_idx ON momentum_maintd.job_runs (job, started_at);\n";

enum step {
	S_IDLE, S_TRY_LOCK, S_LOCK_HOLDER, S_LOCK, S_BOOTSTRAP, S_READ_APPLIED, S_COMPAT,
	S_BEGIN, S_FILE, S_TRACK, S_COMMIT, S_ROLLBACK, S_UNLOCK,
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
	size_t cur_ordinal;       /* its place among the pending ones, from 1 */
	struct timespec cur_start;
	struct event *progress;
	enum migrate_result failure; /* reported after the rollback */
};

static void on_result(struct db *db, PGresult *res, void *arg);

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress_tick(evutil_socket_t fd, short what, void *arg)
{
	struct migrator *m = arg;

	(void)fd; (void)what;
	if (m->step < S_BEGIN || m->step > S_COMMIT)
		return;
	notify_extend_timeout(EXTEND_USEC);
	notify_status("applying %s (%zu/%zu, %.0f s)", m->set->items[m->cur].name,
		      m->cur_ordinal, m->npending, since(&m->cur_start));
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
	m->pending = calloc(set->n + 1, sizeof(*m->pending));
	m->progress = event_new(base, -1, EV_PERSIST, progress_tick, m);
	if (m->pending == NULL || m->progress == NULL) {
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
	free(m->pending);
	free(m);
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

static void report_sql_error(const struct migrator *m, const char *what, const struct migration *mig,
			     const PGresult *res)
{
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	char where[1100], linebuf[16], colbuf[16], extra[1024] = "";
	int line = 0, col = 0;

	(void)m;
	if (mig != NULL && pos != NULL && m->step == S_FILE) {
		const char *ls;
		size_t ll;

		text_position(mig->sql, strtol(pos, NULL, 10), &line, &col, &ls, &ll);
		snprintf(where, sizeof(where), "%s:%d:%d", mig->path, line, col);
	} else if (mig != NULL) {
		snprintf(where, sizeof(where), "%s", mig->path);
	} else {
		snprintf(where, sizeof(where), "%s", what);
	}
	snprintf(linebuf, sizeof(linebuf), "%d", line);
	snprintf(colbuf, sizeof(colbuf), "%d", col);
	if (detail != NULL || hint != NULL)
		snprintf(extra, sizeof(extra), "%s%s%s%s", detail ? "; detail: " : "", detail ? detail : "",
			 hint ? "; hint: " : "", hint ? hint : "");

	struct log_field f[] = {
		{ "MIGRATION", mig ? mig->name : NULL },
		{ "FILE", mig ? mig->path : NULL },
		{ "LINE", line ? linebuf : NULL },
		{ "COLUMN", line ? colbuf : NULL },
		{ "SQLSTATE", db_sqlstate(res) },
		{ "DETAIL", detail },
		{ "HINT", hint },
	};
	log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
		 "%s: %s failed: ERROR %s: %s%s%s", where, what, db_sqlstate(res), db_message(res),
		 extra, mig ? " (rolled back, nothing of it was applied)" : "");
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
			migrator_send(m, S_BEGIN, "BEGIN", 0, NULL);
			return;
		}
	}
	migrator_send(m, S_UNLOCK, "SELECT pg_advisory_unlock(" LOCK_ARGS ")", 0, NULL);
}

/* Compares the files with the tracking table; marks what is pending. */
static int plan(struct migrator *m, PGresult *res)
{
	int i, nrows = PQntuples(res);
	int64_t newest_applied = -1;
	size_t j;

	for (j = 0; j < m->set->n; j++)
		m->pending[j] = true;
	m->applied_total = (size_t)nrows;
	for (i = 0; i < nrows; i++) {
		int64_t v = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		const char *name = PQgetvalue(res, i, 1), *sum = PQgetvalue(res, i, 2);
		struct migration *mig = migration_set_find(m->set, v);

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
			return -1;
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
				return -1;
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
	return 0;
}

static void on_result(struct db *db, PGresult *res, void *arg)
{
	struct migrator *m = arg;
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	struct migration *mig = m->cur < m->set->n ? &m->set->items[m->cur] : NULL;
	char buf[64];

	(void)db;
	if (!ok && connection_lost(m))
		return;

	switch (m->step) {
	case S_TRY_LOCK:
		if (!ok)
			goto sql_error;
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
	case S_BOOTSTRAP:
		if (!ok)
			goto sql_error;
		migrator_send(m, S_READ_APPLIED,
		     "SELECT version, name, checksum FROM momentum_maintd.schema_migrations ORDER BY version",
		     0, NULL);
		return;
	case S_READ_APPLIED:
		if (!ok)
			goto sql_error;
		if (plan(m, res) < 0) {
			finish(m, MIGRATE_FAILED);
			return;
		}
		if (m->npending == 0) {
			apply_next(m);
			return;
		}
		log_info("%zu migration(s) pending, %zu applied", m->npending, m->applied_total);
		if (m->conf->mig_supabase_compat) {
			notify_status("creating missing Supabase objects (compatibility step)");
			db_set_notice_cb(m->db, compat_notice, m);
			migrator_send(m, S_COMPAT, supabase_compat_sql, 0, NULL);
			return;
		}
		m->cur = 0;
		apply_next(m);
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
	case S_BEGIN:
		if (!ok)
			goto sql_error;
		migrator_send(m, S_FILE, mig->sql, 0, NULL);
		return;
	case S_FILE: {
		const char *params[4];
		char dur[32];

		if (!ok) {
			report_sql_error(m, "migration", mig, res);
			m->failure = MIGRATE_FAILED;
			migrator_send(m, S_ROLLBACK, "ROLLBACK", 0, NULL);
			return;
		}
		snprintf(buf, sizeof(buf), "%" PRId64, mig->version);
		snprintf(dur, sizeof(dur), "%.6f", since(&m->cur_start));
		params[0] = buf;
		params[1] = mig->name;
		params[2] = mig->checksum;
		params[3] = dur;
		migrator_send(m, S_TRACK,
		     "INSERT INTO momentum_maintd.schema_migrations (version, name, checksum, duration) "
		     "VALUES ($1, $2, $3, make_interval(secs => $4::double precision))", 4, params);
		return;
	}
	case S_TRACK:
		if (!ok) {
			report_sql_error(m, "recording the migration in momentum_maintd.schema_migrations", mig, res);
			m->failure = MIGRATE_FAILED;
			migrator_send(m, S_ROLLBACK, "ROLLBACK", 0, NULL);
			return;
		}
		migrator_send(m, S_COMMIT, "COMMIT", 0, NULL);
		return;
	case S_COMMIT: {
		char ms[32];
		double secs = since(&m->cur_start);

		if (!ok || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
			/* "ROLLBACK" here means the file left the transaction aborted */
			if (ok) {
				struct log_field f[] = { { "MIGRATION", mig->name }, { "FILE", mig->path } };

				log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f),
					 "%s: migration did not commit (server answered %s); "
					 "does the file end its own transaction?", mig->path, PQcmdStatus(res));
				finish(m, MIGRATE_FAILED);
				return;
			}
			goto sql_error;
		}
		snprintf(ms, sizeof(ms), "%.0f", secs * 1000);
		struct log_field f[] = {
			{ "MIGRATION", mig->name }, { "FILE", mig->path },
			{ "DURATION_MS", ms }, { "CHECKSUM", mig->checksum },
		};
		log_emit(LOG_NOTICE, MSGID_MIGRATION_APPLIED, LOG_FIELDS(f),
			 "applied migration %s in %s ms", mig->name, ms);
		m->applied_now++;
		m->applied_total++;
		m->cur++;
		apply_next(m);
		return;
	}
	case S_ROLLBACK:
		finish(m, m->failure);
		return;
	case S_UNLOCK:
		if (!ok)
			goto sql_error;
		finish(m, MIGRATE_OK);
		return;
	case S_IDLE:
		return;
	}
	return;

locked:
	migrator_send(m, S_BOOTSTRAP, bootstrap_sql, 0, NULL);
	return;

sql_error:
	report_sql_error(m, m->step == S_BEGIN || m->step == S_COMMIT ? "migration transaction"
			 : "migration bookkeeping", m->step >= S_BEGIN && m->step <= S_COMMIT ? mig : NULL, res);
	finish(m, MIGRATE_FAILED);
}

void migrator_start(struct migrator *m)
{
	struct timeval tv = { .tv_sec = PROGRESS_INTERVAL_SEC, .tv_usec = 0 };

	m->cur = 0;
	m->cur_ordinal = 0;
	m->npending = 0;
	notify_status("taking the migration lock");
	event_add(m->progress, &tv);
	migrator_send(m, S_TRY_LOCK, "SELECT pg_try_advisory_lock(" LOCK_ARGS ")", 0, NULL);
}
