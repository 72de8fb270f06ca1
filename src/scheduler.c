#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "cron.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "migrate.h"
#include "msgid.h"
#include "scheduler.h"
#include "sql_text.h"
#include "timeutil.h"

/* The jobs, in the order /metrics and STATUS= list them.  Advisory lock
 * objids: 1 is the migration lock, one more per job; 100 serialises the
 * verification snapshot's recording (src/sql/record.sql). */
static const struct job_ops *const job_table[] = { &cleanup_job_ops, &verify_job_ops };
#define NJOBS (sizeof(job_table) / sizeof(job_table[0]))
_Static_assert(NJOBS <= SCHEDULER_MAX_JOBS, "raise SCHEDULER_MAX_JOBS");

#define CONNECT_TIMEOUT_SEC 10
/* after a lost connection, the interrupted run is retried once if the
 * database is back within this many reconnect attempts, 1 s, 2 s, ... 32 s
 * apart */
#define RECONNECT_ATTEMPTS 8
#define RECONNECT_BASE_MS 1000
#define RECONNECT_CAP_MS 32000

/* Where a job is, for a shutdown: what it may cancel, and what it must
 * leave to finish. */
enum job_phase {
	JOB_IDLE,
	JOB_CONNECTING,               /* connecting, or waiting to reconnect */
	JOB_BOOKKEEPING,              /* job_runs and the lock: never cancelled */
	JOB_WORKING,                  /* the job's own statement: cancelled */
	JOB_PAUSED,                   /* between two statements of the work */
};

struct job {
	struct scheduler *s;
	const struct job_ops *ops;
	void *state;                  /* the job's own, from ops->state_new */
	struct cron_expr expr;
	const char *tz;
	bool enabled, catch_up;

	struct db *db;
	struct event *timer;          /* the next scheduled tick */
	struct event *pause;          /* job_pause(), and the reconnect backoff */
	enum job_phase phase;
	job_result_fn on_result;      /* the handler of the statement sent */
	bool running, stop_requested;
	bool in_run;                  /* a run (not just the catch-up check) is going */
	bool retried;                 /* this run is already the retry after a lost connection */
	time_t next_tick;
	time_t scheduled_for;
	long scheduled_usec;          /* a run started by hand: its own instant */
	char run_id[24];
	char lost_run_id[24];         /* a run the connection died under, to record */
	char lost_error[256];
	int reconnects;

	struct timespec started;
	int64_t rows;
	enum run_status result;
	char error[512];
	struct job_stats stats;
};

struct scheduler {
	struct event_base *base;
	const struct conf *conf;
	char *password;
	char instance[128];
	struct job jobs[NJOBS];
	run_done_cb done_cb;
	void *done_arg;
	void (*stopped)(void *);
	void *stopped_arg;
};

static void start_run(struct job *j, time_t scheduled_for, bool manual);
static void job_connected(struct db *db, bool ok, void *arg);

const char *run_status_name(enum run_status st)
{
	static const char *const names[] = { "ok", "failed", "skipped", "cancelled" };

	return names[st];
}

static void format_local(time_t t, char *buf, size_t size)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M %Z", &tm);
}

/* ---- what a job sees of its run -------------------------------------------- */

const char *job_name(const struct job *j) { return j->ops->name; }
const struct conf *job_conf(const struct job *j) { return j->s->conf; }
void *job_state(const struct job *j) { return j->state; }
struct db *job_db(const struct job *j) { return j->db; }
struct event_base *job_base(const struct job *j) { return j->s->base; }
bool job_stopping(const struct job *j) { return j->stop_requested; }
double job_elapsed(const struct job *j) { return elapsed_since(&j->started); }
int64_t job_rows(const struct job *j) { return j->rows; }
void job_set_rows(struct job *j, int64_t rows) { j->rows = rows; }

/* ---- timers ----------------------------------------------------------------- */

static void arm(struct job *j, time_t after)
{
	struct timeval now, tv;
	time_t next = cron_next(&j->expr, j->tz, after);

	if (next == (time_t)-1) {
		log_error("%s: schedule has no next run time; the job will not run", job_name(j));
		return;
	}
	j->next_tick = next;
	if (log_enabled(LOG_DEBUG)) {
		char when[64];

		format_local(next, when, sizeof(when));
		log_debug("job %s: next run at %s (schedule read in %s)", job_name(j), when,
			  j->tz && *j->tz ? j->tz : "UTC");
	}
	gettimeofday(&now, NULL);
	tv.tv_sec = next - now.tv_sec - 1;
	tv.tv_usec = 1000000 - now.tv_usec;
	if (tv.tv_sec < 0)
		tv.tv_sec = tv.tv_usec = 0;
	evtimer_add(j->timer, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	time_t due = j->next_tick, now = time(NULL);

	(void)fd; (void)what;
	/* libevent timers follow the monotonic clock: if the wall clock has
	 * not reached the tick yet, wait for it */
	if (now < due) {
		arm(j, due - 1);
		return;
	}
	arm(j, due > now ? due : now);
	start_run(j, due, false);
}

/* ---- sending, and the connection's loss ------------------------------------- */

static void connection_lost(struct job *j);

static void on_result(struct db *db, PGresult *res, void *arg)
{
	struct job *j = arg;
	if (!job_res_ok(res) && !db_connected(db)) {
		connection_lost(j);
		return;
	}
	j->on_result(j, res);
}

static void send_in(struct job *j, enum job_phase phase, const char *sql, int n, const char *const *params,
		    job_result_fn fn)
{
	j->phase = phase;
	j->on_result = fn;
	if (db_query(j->db, sql, n, params, on_result, j) < 0)
		connection_lost(j);
}

void job_query(struct job *j, const char *sql, int n, const char *const *params, job_result_fn fn)
{
	send_in(j, JOB_BOOKKEEPING, sql, n, params, fn);
}

void job_work(struct job *j, const char *sql, int n, const char *const *params, job_result_fn fn)
{
	send_in(j, JOB_WORKING, sql, n, params, fn);
}

void job_pause(struct job *j, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	j->phase = JOB_PAUSED;
	evtimer_add(j->pause, &tv);
}

static void connect_job(struct job *j)
{
	j->phase = JOB_CONNECTING;
	if (db_connect(j->db, CONNECT_TIMEOUT_SEC, job_connected, j) < 0)
		job_connected(j->db, false, j);
}

static void on_pause(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd; (void)what;
	if (j->phase == JOB_CONNECTING)
		connect_job(j);
	else
		j->ops->resume(j);
}

static void reconnect_later(struct job *j)
{
	long ms = backoff_ms(++j->reconnects, RECONNECT_BASE_MS, RECONNECT_CAP_MS);
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	j->phase = JOB_CONNECTING;
	evtimer_add(j->pause, &tv);
}

/* ---- the end of a run ------------------------------------------------------- */

/* Back to idle without a run (the catch-up check): a shutdown waiting for
 * the jobs may go on. */
static void job_idle(struct job *j)
{
	struct scheduler *s = j->s;

	j->running = false;
	j->phase = JOB_IDLE;
	if (s->stopped != NULL && !scheduler_busy(s)) {
		void (*cb)(void *) = s->stopped;

		s->stopped = NULL;
		cb(s->stopped_arg);
	}
}

static void run_finished(struct job *j)
{
	struct scheduler *s = j->s;
	struct job_stats *st = &j->stats;

	j->running = false;
	j->in_run = false;
	j->phase = JOB_IDLE;
	st->runs[j->result]++;
	st->last_duration = elapsed_since(&j->started);
	st->last_rows = j->rows;
	st->last_end = time(NULL);
	st->last_status = j->result;
	if (j->result == RUN_OK)
		st->last_success = st->last_end;
	if (j->ops->ended != NULL)
		j->ops->ended(j, j->result);
	if (s->done_cb != NULL)
		s->done_cb(job_name(j), j->result, j->rows, j->error[0] ? j->error : NULL, s->done_arg);
	job_idle(j);
}

static void history_pruned(struct job *j, PGresult *res)
{
	if (job_res_ok(res) && strcmp(PQcmdTuples(res), "0") != 0)
		log_info("job history: %s run(s) older than jobs.history_retention pruned", PQcmdTuples(res));
	run_finished(j);
}

/* The job's lock is released (whatever the result: it is ours no more, or
 * the connection went with it): prune the history. */
static void unlocked(struct job *j, PGresult *res)
{
	char retention[48];
	const char *params[1] = { retention };

	(void)res;
	snprintf(retention, sizeof(retention), "%lld milliseconds",
		 (long long)j->s->conf->jobs_history_retention_ms);
	job_query(j, sql_job_prune, 1, params, history_pruned);
}

static void unlock(struct job *j)
{
	job_query(j, "SELECT pg_catalog.pg_advisory_unlock_all()", 0, NULL, unlocked);
}

static void end_recorded(struct job *j, PGresult *res)
{
	if (!job_res_ok(res))
		log_error("job %s: recording the run in momentum_maintd.job_runs: %s", job_name(j), db_message(res));
	else
		j->run_id[0] = '\0';   /* recorded: a connection lost from here on loses nothing */
	unlock(j);
}

void job_finish(struct job *j, enum run_status st, const char *fmt, ...)
{
	char rows[24], ms[32];
	const char *params[4];
	va_list ap;

	j->result = st;
	j->error[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(j->error, sizeof(j->error), fmt, ap);
		va_end(ap);
	}
	snprintf(rows, sizeof(rows), "%" PRId64, j->rows);
	snprintf(ms, sizeof(ms), "%.0f", elapsed_since(&j->started) * 1000);
	j->ops->log_end(j, st, ms, j->error);
	params[0] = j->run_id;
	params[1] = run_status_name(st);
	params[2] = rows;
	params[3] = j->error[0] ? j->error : NULL;
	job_query(j, sql_job_finished, 4, params, end_recorded);
}

static void log_query_error(struct job *j, const PGresult *res)
{
	log_error("job %s: %s%s", job_name(j), db_message(res), strcmp(db_sqlstate(res), "42P01") == 0
		  ? " (the momentum_maintd schema is missing: start the daemon or run 'migrate up' first)" : "");
}

void job_query_failed(struct job *j, const PGresult *res)
{
	log_query_error(j, res);
	job_finish(j, RUN_FAILED, "%s", db_message(res));
}

/* A bookkeeping statement before the work failed: the run ends unrecorded
 * (there is no row for it yet), releasing the job's lock if it is ours. */
static void bookkeeping_failed(struct job *j, const PGresult *res, bool locked)
{
	log_query_error(j, res);
	j->result = RUN_FAILED;
	snprintf(j->error, sizeof(j->error), "%s", db_message(res));
	if (locked)
		unlock(j);
	else
		run_finished(j);
}

static void skip_recorded(struct job *j, PGresult *res)
{
	(void)res;
	/* a skip leaves the lock as it found it: release it if it is ours */
	unlock(j);
}

static void skip_run(struct job *j, const char *why)
{
	char when[64], ts[32];
	const char *params[4] = { job_name(j), j->s->instance, ts, why };

	format_local(j->scheduled_for, when, sizeof(when));
	snprintf(ts, sizeof(ts), "%lld.%06ld", (long long)j->scheduled_for, j->scheduled_usec);
	log_info("job %s: run of %s skipped: %s", job_name(j), when, why);
	j->result = RUN_SKIPPED;
	snprintf(j->error, sizeof(j->error), "%s", why);
	job_query(j, sql_job_skipped, 4, params, skip_recorded);
}

/* ---- the start of a run: connect, lock, claim ------------------------------- */

static void claimed(struct job *j, PGresult *res)
{
	if (!job_res_ok(res)) {
		bookkeeping_failed(j, res, true);
		return;
	}
	if (PQntuples(res) == 0) {
		skip_run(j, "this scheduled run already ran on another instance");
		return;
	}
	snprintf(j->run_id, sizeof(j->run_id), "%s", PQgetvalue(res, 0, 0));
	j->ops->begin(j);
}

static void stale_recorded(struct job *j, PGresult *res)
{
	char ts[32];
	const char *params[3] = { job_name(j), j->s->instance, ts };

	if (!job_res_ok(res)) {
		bookkeeping_failed(j, res, true);
		return;
	}
	if (strcmp(PQcmdTuples(res), "0") != 0)
		log_warning("job %s: %s earlier run(s) left 'running' are now recorded as failed (interrupted)",
			    job_name(j), PQcmdTuples(res));
	snprintf(ts, sizeof(ts), "%lld.%06ld", (long long)j->scheduled_for, j->scheduled_usec);
	job_query(j, sql_job_claim, 3, params, claimed);
}

static void lock_tried(struct job *j, PGresult *res)
{
	const char *params[1] = { job_name(j) };

	if (!job_res_ok(res)) {
		bookkeeping_failed(j, res, false);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		skip_run(j, "another instance is running this job");
		return;
	}
	if (j->ops->wait_for_migrations && strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		skip_run(j, "migrations are being applied; the next pass checks");
		return;
	}
	if (j->stop_requested) {
		j->result = RUN_CANCELLED;
		unlock(j);
		return;
	}
	job_query(j, sql_job_stale, 1, params, stale_recorded);
}

static void session_ready(struct job *j, PGresult *res)
{
	const char *params[3] = { MIGRATION_LOCK_CLASSID, j->ops->lock_objid, MIGRATION_LOCK_OBJID };

	if (!job_res_ok(res)) {
		bookkeeping_failed(j, res, false);
		return;
	}
	if (j->stop_requested) {
		j->result = RUN_CANCELLED;
		run_finished(j);
		return;
	}
	job_query(j, sql_job_lock, 3, params, lock_tried);
}

static void lost_run_recorded(struct job *j, PGresult *res)
{
	j->lost_run_id[0] = '\0';
	if (!job_res_ok(res)) {
		log_error("job %s: recording the interrupted run: %s", job_name(j), db_message(res));
		run_finished(j);
		return;
	}
	if (strcmp(PQcmdTuples(res), "1") != 0 || j->stop_requested) {
		/* it had been recorded before the connection went: nothing to retry */
		run_finished(j);
		return;
	}
	log_info("job %s: the interrupted run is recorded as failed; trying it once more", job_name(j));
	j->retried = true;
	j->run_id[0] = '\0';
	job_connected(j->db, true, j);
}

static void job_connected(struct db *db, bool ok, void *arg)
{
	struct job *j = arg;

	(void)db;
	if (!ok) {
		if (j->lost_run_id[0] != '\0' && j->reconnects > 0 && j->reconnects < RECONNECT_ATTEMPTS &&
		    !j->stop_requested) {
			reconnect_later(j);
			return;
		}
		log_warning("job %s: cannot connect to the database: %s", job_name(j), db_error(j->db));
		j->result = RUN_FAILED;
		snprintf(j->error, sizeof(j->error), "database unavailable: %s", db_error(j->db));
		run_finished(j);
		return;
	}
	if (j->lost_run_id[0] != '\0') {
		const char *params[2] = { j->lost_run_id, j->lost_error };

		job_query(j, sql_job_run_lost, 2, params, lost_run_recorded);
		return;
	}
	/* synchronous_commit off: a job's commit does not wait for its WAL to
	 * reach disk, so the app's commits do not queue behind the cleanup's
	 * batches; if the server crashes, the last batches' deletions are
	 * redone next run.  pg_catalog first on the search_path, ahead of what
	 * the database or role put there: a now() or a "<" of another schema
	 * must not decide which tokens are expired, nor a look-alike lock
	 * function who runs a job (the app's own triggers still find their
	 * tables, the rest of the path is kept; an empty one, as a connection's
	 * options may set it, becomes pg_catalog alone). */
	job_query(j, "SET statement_timeout = 0; SET lock_timeout = '" JOB_LOCK_TIMEOUT "'; "
		  "SET idle_in_transaction_session_timeout = 0; SET idle_session_timeout = 0; "
		  "SET synchronous_commit = off; "
		  "SELECT pg_catalog.set_config('search_path', "
		  "CASE WHEN pg_catalog.current_setting('search_path') OPERATOR(pg_catalog.=) '' THEN 'pg_catalog' "
		  "ELSE 'pg_catalog, ' OPERATOR(pg_catalog.||) pg_catalog.current_setting('search_path') END, false)",
		  0, NULL, session_ready);
}

/* The connection broke during a run: remember it, reconnect with backoff,
 * record it as failed, and try the run once more. */
static void connection_lost(struct job *j)
{
	if (!j->in_run) {
		/* only the catch-up check was running: no run to record */
		log_warning("job %s: database connection lost: %s", job_name(j), db_error(j->db));
		db_close(j->db);
		job_idle(j);
		return;
	}
	if (j->run_id[0] != '\0') {
		snprintf(j->lost_run_id, sizeof(j->lost_run_id), "%s", j->run_id);
		snprintf(j->lost_error, sizeof(j->lost_error), "connection lost: %s", db_error(j->db));
	}
	log_emit(LOG_WARNING, MSGID_DB_LOST, NULL, 0, "job %s: database connection lost during the run: %s",
		 job_name(j), db_error(j->db));
	j->result = RUN_FAILED;
	snprintf(j->error, sizeof(j->error), "connection lost: %s", db_error(j->db));
	db_close(j->db);
	if (j->stop_requested || j->retried || j->reconnects >= RECONNECT_ATTEMPTS || j->lost_run_id[0] == '\0') {
		/* the row stays 'running' until the next run of this job marks
		 * it failed (it does so first, holding the job's lock) */
		run_finished(j);
		return;
	}
	reconnect_later(j);
}

static void start_run(struct job *j, time_t scheduled_for, bool manual)
{
	char when[64];

	format_local(scheduled_for, when, sizeof(when));
	if (j->running) {
		struct log_field f[] = { { "JOB", job_name(j) } };

		log_emit(LOG_WARNING, MSGID_JOB_FINISHED, LOG_FIELDS(f),
			 "job %s: run of %s skipped: the previous run is still going", job_name(j), when);
		return;
	}
	j->running = true;
	j->in_run = true;
	j->retried = false;
	j->stop_requested = false;
	j->scheduled_for = scheduled_for;
	j->scheduled_usec = 0;
	if (manual) {
		/* runs by hand are told apart from each other and from the
		 * schedule's ticks (whole seconds) to the microsecond */
		struct timeval now;

		gettimeofday(&now, NULL);
		j->scheduled_for = now.tv_sec;
		j->scheduled_usec = now.tv_usec > 0 ? now.tv_usec : 1;
	}
	j->run_id[0] = '\0';
	j->rows = 0;
	j->reconnects = 0;
	j->error[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	if (j->ops->prepare != NULL)
		j->ops->prepare(j);
	log_debug("job %s: run of %s starting", job_name(j), when);
	if (db_connected(j->db))
		job_connected(j->db, true, j);
	else
		connect_job(j);
}

/* ---- catch-up: a tick missed while the daemon was down ----------------------- */

static void last_ok_read(struct job *j, PGresult *res)
{
	time_t last, due, next, now = time(NULL);
	int guard = 0;
	char when[64];

	job_idle(j);
	if (!job_res_ok(res) || PQgetisnull(res, 0, 0) || j->stop_requested)
		return;
	last = (time_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	due = cron_next(&j->expr, j->tz, last);
	if (due == (time_t)-1 || due > now)
		return;
	while ((next = cron_next(&j->expr, j->tz, due)) != (time_t)-1 && next <= now && guard++ < 100000)
		due = next;
	format_local(due, when, sizeof(when));
	log_notice("job %s: the run of %s was missed while the daemon was down; running it now (catch_up)",
		   job_name(j), when);
	start_run(j, due, false);
}

static void catch_up_connected(struct db *db, bool ok, void *arg)
{
	struct job *j = arg;
	const char *params[1] = { job_name(j) };

	(void)db;
	if (!ok) {
		log_warning("job %s: cannot check for a missed run: %s", job_name(j), db_error(j->db));
		job_idle(j);
		return;
	}
	job_work(j, sql_job_last_ok, 1, params, last_ok_read);
}

static void job_start_schedule(struct job *j)
{
	if (!j->enabled) {
		log_info("job %s is disabled (jobs.*.enabled = false)", job_name(j));
		return;
	}
	arm(j, time(NULL));
	if (!j->catch_up)
		return;
	/* catch-up: was a run due since the last one recorded? */
	j->running = true;
	if (db_connected(j->db)) {
		catch_up_connected(j->db, true, j);
		return;
	}
	j->phase = JOB_CONNECTING;
	if (db_connect(j->db, CONNECT_TIMEOUT_SEC, catch_up_connected, j) < 0)
		catch_up_connected(j->db, false, j);
}

/* ---- the scheduler ------------------------------------------------------------ */

/* The job's schedule from c; -1 when it does not parse (nothing changed). */
static int job_configure(struct job *j, const struct conf *c)
{
	struct job_schedule js;
	struct cron_expr e;
	char err[256];

	j->ops->schedule(c, &js);
	if (cron_parse(js.schedule, &e, err, sizeof(err)) < 0) {
		log_error("%s: schedule \"%s\": %s", job_name(j), js.schedule, err);
		return -1;
	}
	j->expr = e;
	j->tz = js.timezone;
	j->enabled = js.enabled;
	j->catch_up = js.catch_up;
	return 0;
}

static int job_init(struct scheduler *s, struct job *j, const struct job_ops *ops)
{
	j->s = s;
	j->ops = ops;
	j->stats.job = ops->name;
	if (job_configure(j, s->conf) < 0)
		return -1;
	j->db = db_new(s->base, s->conf->db_conninfo, s->password);
	j->timer = evtimer_new(s->base, on_tick, j);
	j->pause = evtimer_new(s->base, on_pause, j);
	if (j->db == NULL || j->timer == NULL || j->pause == NULL)
		return -1;
	j->state = ops->state_new(j);
	return j->state != NULL ? 0 : -1;
}

static void job_free(struct job *j)
{
	if (j->state != NULL)
		j->ops->state_free(j->state);
	if (j->timer)
		event_free(j->timer);
	if (j->pause)
		event_free(j->pause);
	db_free(j->db);
}

struct scheduler *scheduler_new(struct event_base *base, const struct conf *conf, const char *password)
{
	struct scheduler *s = calloc(1, sizeof(*s));
	char host[64] = "?";
	size_t i;

	if (s == NULL)
		return NULL;
	s->base = base;
	s->conf = conf;
	s->password = password ? strdup(password) : NULL;
	gethostname(host, sizeof(host) - 1);
	snprintf(s->instance, sizeof(s->instance), "%s:%d", host, (int)getpid());
	for (i = 0; i < NJOBS; i++) {
		if (job_init(s, &s->jobs[i], job_table[i]) < 0) {
			scheduler_free(s);
			return NULL;
		}
	}
	return s;
}

void scheduler_free(struct scheduler *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < NJOBS; i++)
		job_free(&s->jobs[i]);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

void scheduler_set_done_cb(struct scheduler *s, run_done_cb cb, void *arg)
{
	s->done_cb = cb;
	s->done_arg = arg;
}

int scheduler_start(struct scheduler *s)
{
	size_t i;

	for (i = 0; i < NJOBS; i++) {
		struct job *j = &s->jobs[i];

		if (j->ops->configured != NULL)
			j->ops->configured(s->conf);
		job_start_schedule(j);
		if (j->ops->run_at_start)
			start_run(j, time(NULL), true);
	}
	return 0;
}

int scheduler_reconfigure(struct scheduler *s, const struct conf *conf)
{
	struct job_schedule js;
	struct cron_expr e;
	char err[256];
	size_t i;

	/* every schedule parses, or nothing changes */
	for (i = 0; i < NJOBS; i++) {
		s->jobs[i].ops->schedule(conf, &js);
		if (cron_parse(js.schedule, &e, err, sizeof(err)) < 0)
			return -1;
	}
	s->conf = conf;
	for (i = 0; i < NJOBS; i++) {
		struct job *j = &s->jobs[i];

		job_configure(j, conf);
		event_del(j->timer);
		if (j->enabled)
			arm(j, time(NULL));
		if (j->ops->configured != NULL)
			j->ops->configured(conf);
	}
	return 0;
}

static struct job *find_job(struct scheduler *s, const char *name)
{
	size_t i;

	for (i = 0; i < NJOBS; i++)
		if (strcmp(job_name(&s->jobs[i]), name) == 0)
			return &s->jobs[i];
	return NULL;
}

bool scheduler_run_now(struct scheduler *s, const char *name)
{
	struct job *j = find_job(s, name);

	if (j == NULL)
		return false;
	start_run(j, time(NULL), true);
	return true;
}

bool scheduler_busy(const struct scheduler *s)
{
	size_t i;

	for (i = 0; i < NJOBS; i++)
		if (s->jobs[i].running)
			return true;
	return false;
}

size_t scheduler_stats(const struct scheduler *s, struct job_stats out[SCHEDULER_MAX_JOBS])
{
	size_t i;

	for (i = 0; i < NJOBS; i++) {
		const struct job *j = &s->jobs[i];

		out[i] = j->stats;
		out[i].has_findings = j->ops->findings != NULL;
		if (out[i].has_findings)
			j->ops->findings(j, out[i].findings, &out[i].findings_at);
	}
	return NJOBS;
}

bool scheduler_verify_counts(const struct scheduler *s, int counts[3], time_t *at)
{
	size_t i;

	for (i = 0; i < NJOBS; i++)
		if (s->jobs[i].ops->findings != NULL)
			return s->jobs[i].ops->findings(&s->jobs[i], counts, at);
	return false;
}

static void job_stop(struct job *j)
{
	event_del(j->timer);
	if (!j->running)
		return;
	j->stop_requested = true;
	if (j->ops->stop != NULL)
		j->ops->stop(j);
	switch (j->phase) {
	case JOB_PAUSED:
		event_del(j->pause);
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	case JOB_CONNECTING:
		event_del(j->pause);
		db_close(j->db);
		j->running = false;
		j->in_run = false;
		j->phase = JOB_IDLE;
		return;
	case JOB_WORKING:
		/* the statement rolls back; its error result records the run as
		 * cancelled.  Bookkeeping statements are left to finish. */
		if (db_busy(j->db))
			db_cancel(j->db);
		return;
	case JOB_IDLE:
	case JOB_BOOKKEEPING:
		return;
	}
}

void scheduler_stop(struct scheduler *s, void (*done)(void *arg), void *arg)
{
	size_t i;

	s->stopped = done;
	s->stopped_arg = arg;
	for (i = 0; i < NJOBS; i++)
		job_stop(&s->jobs[i]);
	if (s->stopped != NULL && !scheduler_busy(s)) {
		s->stopped = NULL;
		if (done != NULL)
			done(arg);
	}
}
