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
#include "log.h"
#include "migrate.h"
#include "msgid.h"
#include "notify.h"
#include "timeutil.h"
#include "scheduler.h"
#include "verify.h"

#define CONNECT_TIMEOUT_SEC 10
/* a batch waits this long for a lock before it shrinks and tries again */
#define BATCH_LOCK_TIMEOUT "5s"
#define BATCH_MIN_ROWS 100
/* never shrink below 100 rows, nor grow above batch_size */
#define BATCH_MIN(c) ((c)->cleanup_batch_size < BATCH_MIN_ROWS ? (c)->cleanup_batch_size : BATCH_MIN_ROWS)
#define LOCK_TIMEOUTS_MAX 10
#define PROGRESS_LOG_SEC 30
/* batches are kept small: an app transaction that arrives during a batch
 * waits for the WAL the batch has written so far to be flushed with its own
 * commit (bench/cleanup, bench/RESULTS.md "Where the tail comes from") */
#define WAL_PER_BATCH_LIGHT (128 * 1024)   /* a batch lighter than this may grow */
#define WAL_PER_BATCH_HEAVY (512 * 1024)   /* a batch heavier than this shrinks */
#define WAL_RATE_MAX (4.0 * 1024 * 1024)   /* bytes per second */
#define BATCH_FAST_SEC 0.003      /* a batch this quick may grow */
#define BATCH_SLOW_SEC 0.010      /* a batch this slow shrinks */
/* after a lost connection, the interrupted run is retried once if the
 * database is back within this many reconnect attempts */
#define RECONNECT_ATTEMPTS 8
/* a verification pass: the catalog checks, and the probe's transaction */
#define VERIFY_CHECKS_TIMEOUT "5min"

enum jstep {
	J_IDLE, J_CONNECTING, J_RECORD_LOST, J_SETUP, J_LOCK, J_STALE, J_CLAIM, J_SKIP, J_LAG, J_WORK, J_PAUSE,
	J_FINISH, J_UNLOCK, J_PRUNE, J_LAST_RUN,
	J_V_CHECKS, J_V_PROBE, J_V_ROLLBACK, J_V_RECORD,
};

enum job_kind { JOB_CLEANUP, JOB_VERIFY };

struct job {
	struct scheduler *s;
	enum job_kind kind;
	const char *name;
	const char *lock_objid;       /* advisory lock (MIGRATION_LOCK_CLASSID, objid) */
	struct cron_expr expr;
	const char *tz;
	bool enabled, catch_up;

	struct db *db;
	struct event *timer;          /* the next scheduled tick */
	struct event *pause;          /* between batches, and reconnect backoff */
	enum jstep step;
	bool running, stop_requested;
	time_t next_tick;
	time_t scheduled_for;
	long scheduled_usec;          /* a run started by hand: its own instant */
	char run_id[24];
	char lost_run_id[24];         /* a run the connection died under, to record */
	char lost_error[256];
	int reconnects;
	bool in_run;                  /* a run (not just the catch-up check) is going */
	bool retried;                 /* this run is already the retry after a lost connection */

	struct timespec started, batch_started, last_progress;
	int64_t rows;
	long batch;
	int lock_timeouts;
	int empty_batches;            /* batches in a row that locked rows but deleted none */
	enum run_status result;
	char error[512];
	char summary[160];
	/* WAL positions the primary had when batches started, to tell how far
	 * behind (in time) the slowest streaming replica's replay is */
	struct { double t; uint64_t lsn; } wal[64];
	int nwal;
	bool lag_logged;
	uint64_t last_lsn;            /* WAL position at the last batch's start */
	uint64_t last_batch_wal;      /* WAL bytes written from one batch start to the next */
	time_t last_success;
	double last_duration;
	int64_t last_rows;
	uint64_t runs[4];

	/* verification */
	struct findings found;        /* this pass's, until recorded */
	int vcounts[3];               /* the last recorded pass's, by level */
	time_t verified_at;           /* when it ended; 0: no pass yet */
	bool probe_failed;
};

struct scheduler {
	struct event_base *base;
	const struct conf *conf;
	char *password;
	char instance[128];
	struct job cleanup;
	struct job verify;
	run_done_cb done_cb;
	void *done_arg;
	void (*stopped)(void *);
	void *stopped_arg;
};

static void job_result(struct db *db, PGresult *res, void *arg);
static void job_send(struct job *j, enum jstep step, const char *sql, int n, const char *const *params);
static void cleanup_next_batch(struct job *j);
static void verify_begin(struct job *j);

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

/* ---- timers ---------------------------------------------------------------- */

static void arm(struct job *j, time_t after)
{
	struct timeval now, tv;
	time_t next = cron_next(&j->expr, j->tz, after);

	if (next == (time_t)-1) {
		log_error("%s: schedule has no next run time; the job will not run", j->name);
		return;
	}
	j->next_tick = next;
	if (log_enabled(LOG_DEBUG)) {
		char when[64];

		format_local(next, when, sizeof(when));
		log_debug("job %s: next run at %s (schedule read in %s)", j->name, when,
			  j->tz && *j->tz ? j->tz : "UTC");
	}
	gettimeofday(&now, NULL);
	tv.tv_sec = next - now.tv_sec - 1;
	tv.tv_usec = 1000000 - now.tv_usec;
	if (tv.tv_sec < 0)
		tv.tv_sec = tv.tv_usec = 0;
	evtimer_add(j->timer, &tv);
}

static void start_run(struct job *j, time_t scheduled_for, bool manual);

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

/* ---- the run ------------------------------------------------------------------ */

static void job_idle(struct job *j);

static void run_finished(struct job *j)
{
	struct scheduler *s = j->s;
	char when[64];

	j->running = false;
	j->in_run = false;
	j->step = J_IDLE;
	j->runs[j->result]++;
	j->last_duration = elapsed_since(&j->started);
	j->last_rows = j->rows;
	if (j->result == RUN_OK)
		j->last_success = time(NULL);
	if (j->kind == JOB_VERIFY) {
		if (j->result == RUN_OK) {
			char counts[96], hm[16];
			struct tm tm;

			memcpy(j->vcounts, j->found.counts, sizeof(j->vcounts));
			j->verified_at = time(NULL);
			localtime_r(&j->verified_at, &tm);
			strftime(hm, sizeof(hm), "%H:%M", &tm);
			findings_summary(j->vcounts, counts, sizeof(counts));
			snprintf(j->summary, sizeof(j->summary), "verify: %s at %s", counts, hm);
		}
		findings_free(&j->found);
	} else {
		format_local(time(NULL), when, sizeof(when));
		snprintf(j->summary, sizeof(j->summary), "last %s run: %s, %" PRId64 " rows, at %s", j->name,
			 run_status_name(j->result), j->rows, when);
	}
	if (s->done_cb != NULL)
		s->done_cb(j->name, j->result, j->rows, j->error[0] ? j->error : NULL, s->done_arg);
	job_idle(j);
}

/* Back to idle without a run (the catch-up check): a shutdown waiting for
 * the jobs may go on. */
static void job_idle(struct job *j)
{
	struct scheduler *s = j->s;

	j->running = false;
	j->step = J_IDLE;
	if (s->stopped != NULL && !scheduler_busy(s)) {
		void (*cb)(void *) = s->stopped;

		s->stopped = NULL;
		cb(s->stopped_arg);
	}
}

/* Ends the run's work: record the outcome, unlock, prune old history. */
static void finish_run(struct job *j, enum run_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void finish_run(struct job *j, enum run_status st, const char *fmt, ...)
{
	char rows[24], secs[32];
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
	snprintf(secs, sizeof(secs), "%.0f", elapsed_since(&j->started) * 1000);
	if (j->kind == JOB_VERIFY) {
		char counts[96];
		struct log_field f[] = { { "JOB", j->name }, { "STATUS", run_status_name(st) },
					 { "DURATION_MS", secs }, { "ERROR", j->error[0] ? j->error : NULL } };

		/* quiet when it went well (the findings speak for themselves)
		 * or was only interrupted (the next pass checks the same) */
		findings_summary(j->found.counts, counts, sizeof(counts));
		log_emit(st == RUN_FAILED ? LOG_ERR : st == RUN_OK ? LOG_DEBUG : LOG_INFO, MSGID_JOB_FINISHED,
			 LOG_FIELDS(f), "job %s %s: %s in %s ms%s%s", j->name,
			 st == RUN_OK ? "finished" : run_status_name(st), st == RUN_OK ? counts : "no pass", secs,
			 j->error[0] ? ": " : "", j->error);
	} else {
		struct log_field f[] = { { "JOB", j->name }, { "STATUS", run_status_name(st) },
					 { "ROWS", rows }, { "DURATION_MS", secs }, { "ERROR", j->error[0] ? j->error : NULL } };

		log_emit(st == RUN_FAILED ? LOG_ERR : st == RUN_OK ? LOG_NOTICE : LOG_WARNING, MSGID_JOB_FINISHED,
			 LOG_FIELDS(f), "job %s %s: %s rows in %s ms%s%s", j->name,
			 st == RUN_OK ? "finished" : run_status_name(st), rows, secs,
			 j->error[0] ? ": " : "", j->error);
	}
	params[0] = j->run_id;
	params[1] = run_status_name(st);
	params[2] = rows;
	params[3] = j->error[0] ? j->error : NULL;
	job_send(j, J_FINISH,
		 "UPDATE momentum_maintd.job_runs SET finished_at = now(), status = $2, rows_affected = $3, "
		 "error = $4 WHERE id = $1", 4, params);
}

static void skip_run(struct job *j, const char *why)
{
	char when[64], ts[32];
	const char *params[4] = { j->name, j->s->instance, ts, why };

	format_local(j->scheduled_for, when, sizeof(when));
	snprintf(ts, sizeof(ts), "%lld.%06ld", (long long)j->scheduled_for, j->scheduled_usec);
	log_info("job %s: run of %s skipped: %s", j->name, when, why);
	j->result = RUN_SKIPPED;
	snprintf(j->error, sizeof(j->error), "%s", why);
	job_send(j, J_SKIP,
		 "INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, finished_at, status, error) "
		 "VALUES ($1, $2, to_timestamp($3), now(), 'skipped', $4)", 4, params);
}

/* The connection broke during a run: remember it, reconnect with backoff,
 * record it as failed, and try the run once more. */
static void connection_lost(struct job *j)
{
	struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };

	if (!j->in_run) {
		/* only the catch-up check was running: no run to record */
		log_warning("job %s: database connection lost: %s", j->name, db_error(j->db));
		db_close(j->db);
		job_idle(j);
		return;
	}
	if (j->run_id[0] != '\0') {
		snprintf(j->lost_run_id, sizeof(j->lost_run_id), "%s", j->run_id);
		snprintf(j->lost_error, sizeof(j->lost_error), "connection lost: %s", db_error(j->db));
	}
	log_emit(LOG_WARNING, MSGID_DB_LOST, NULL, 0, "job %s: database connection lost during the run: %s",
		 j->name, db_error(j->db));
	j->result = RUN_FAILED;
	snprintf(j->error, sizeof(j->error), "connection lost: %s", db_error(j->db));
	db_close(j->db);
	if (j->stop_requested || j->retried || j->reconnects >= RECONNECT_ATTEMPTS || j->lost_run_id[0] == '\0') {
		/* the row stays 'running' until the next run of this job marks
		 * it failed (it does so first, holding the job's lock) */
		run_finished(j);
		return;
	}
	j->step = J_CONNECTING;
	tv.tv_sec = 1L << (j->reconnects < 5 ? j->reconnects : 5);
	j->reconnects++;
	evtimer_add(j->pause, &tv);
}

static void job_connected(struct db *db, bool ok, void *arg)
{
	struct job *j = arg;

	(void)db;
	if (!ok) {
		if (j->lost_run_id[0] != '\0' && j->reconnects > 0 && j->reconnects < RECONNECT_ATTEMPTS &&
		    !j->stop_requested) {
			struct timeval tv = { .tv_sec = 1L << (j->reconnects < 5 ? j->reconnects : 5), .tv_usec = 0 };

			j->reconnects++;
			evtimer_add(j->pause, &tv);
			return;
		}
		log_warning("job %s: cannot connect to the database: %s", j->name, db_error(j->db));
		j->result = RUN_FAILED;
		snprintf(j->error, sizeof(j->error), "database unavailable: %s", db_error(j->db));
		run_finished(j);
		return;
	}
	if (j->lost_run_id[0] != '\0') {
		const char *params[2] = { j->lost_run_id, j->lost_error };

		job_send(j, J_RECORD_LOST,
			 "UPDATE momentum_maintd.job_runs SET finished_at = now(), status = 'failed', error = $2 "
			 "WHERE id = $1 AND status = 'running'", 2, params);
		return;
	}
	/* synchronous_commit off: a batch's commit does not wait for its WAL
	 * to reach disk, so the app's commits do not queue behind ours; if the
	 * server crashes, the last batches' deletions are redone next run */
	job_send(j, J_SETUP,
		 "SET statement_timeout = 0; SET lock_timeout = '" BATCH_LOCK_TIMEOUT "'; "
		 "SET idle_in_transaction_session_timeout = 0; SET idle_session_timeout = 0; "
		 "SET synchronous_commit = off", 0, NULL);
}

static void connect_job(struct job *j)
{
	j->step = J_CONNECTING;
	if (db_connect(j->db, CONNECT_TIMEOUT_SEC, job_connected, j) < 0)
		job_connected(j->db, false, j);
}

static void start_run(struct job *j, time_t scheduled_for, bool manual)
{
	char when[64];

	format_local(scheduled_for, when, sizeof(when));
	if (j->running) {
		struct log_field f[] = { { "JOB", j->name } };

		log_emit(LOG_WARNING, MSGID_JOB_FINISHED, LOG_FIELDS(f),
			 "job %s: run of %s skipped: the previous run is still going", j->name, when);
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
	j->lock_timeouts = 0;
	j->empty_batches = 0;
	j->reconnects = 0;
	j->last_lsn = j->last_batch_wal = 0;
	j->batch = j->s->conf->cleanup_batch_size < 1000 ? j->s->conf->cleanup_batch_size : 1000;
	j->error[0] = '\0';
	j->probe_failed = false;
	findings_free(&j->found);
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	j->last_progress = j->started;
	log_debug("job %s: run of %s starting", j->name, when);
	if (db_connected(j->db))
		job_connected(j->db, true, j);
	else
		connect_job(j);
}

static void on_pause(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd; (void)what;
	if (j->step == J_CONNECTING) {
		connect_job(j);
		return;
	}
	cleanup_next_batch(j);
}

static void job_send(struct job *j, enum jstep step, const char *sql, int n, const char *const *params)
{
	j->step = step;
	if (db_query(j->db, sql, n, params, job_result, j) < 0)
		connection_lost(j);
}

/* ---- the cleanup: short batches through the expires_at index ---------------- */

static void cleanup_next_batch(struct job *j)
{
	const struct conf *c = j->s->conf;
	double elapsed = elapsed_since(&j->started);

	if (j->stop_requested) {
		finish_run(j, RUN_CANCELLED, "stopped by the daemon's shutdown");
		return;
	}
	if (elapsed * 1000 >= (double)c->cleanup_max_runtime_ms) {
		finish_run(j, RUN_OK, "stopped at max_runtime; the rest waits for the next run");
		return;
	}
	if (elapsed_since(&j->last_progress) >= PROGRESS_LOG_SEC) {
		clock_gettime(CLOCK_MONOTONIC, &j->last_progress);
		log_info("job %s: %" PRId64 " rows deleted so far (batch %ld)", j->name, j->rows, j->batch);
	}
	notify_status("ready; job %s running: %" PRId64 " rows deleted", j->name, j->rows);
	/* replicas first: a cleanup must not leave read replicas behind */
	job_send(j, J_LAG,
		 "SELECT pg_current_wal_lsn()::text, coalesce(min(replay_lsn)::text, ''), "
		 "coalesce(max(extract(epoch FROM replay_lag)), 0)::float8, count(*) FROM pg_stat_replication",
		 0, NULL);
}

static uint64_t parse_lsn(const char *s)
{
	unsigned int hi = 0, lo = 0;

	if (sscanf(s, "%X/%X", &hi, &lo) != 2)
		return 0;
	return ((uint64_t)hi << 32) | lo;
}

static double mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* How long ago the primary wrote the oldest WAL the slowest replica has
 * not replayed, from our own samples; replay_lag alone stays still while
 * a replica's replay is paused. */
static double replica_lag(struct job *j, const PGresult *res)
{
	uint64_t now_lsn = parse_lsn(PQgetvalue(res, 0, 0)), replay = parse_lsn(PQgetvalue(res, 0, 1));
	double reported = strtod(PQgetvalue(res, 0, 2), NULL), now = mono_now(), est = 0;
	int i;

	if (j->nwal == 0 || j->wal[j->nwal - 1].lsn != now_lsn) {
		if (j->nwal == (int)(sizeof(j->wal) / sizeof(j->wal[0]))) {
			memmove(j->wal, j->wal + 1, sizeof(j->wal) - sizeof(j->wal[0]));
			j->nwal--;
		}
		j->wal[j->nwal].t = now;
		j->wal[j->nwal].lsn = now_lsn;
		j->nwal++;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "0") == 0 || PQgetvalue(res, 0, 1)[0] == '\0')
		return 0;
	for (i = 0; i < j->nwal; i++) {
		if (j->wal[i].lsn > replay) {
			est = now - j->wal[i].t;
			break;
		}
	}
	return est > reported ? est : reported;
}

static void cleanup_lag_checked(struct job *j, PGresult *res)
{
	const struct conf *c = j->s->conf;
	char retention[48], limit[24];
	const char *params[2] = { retention, limit };
	uint64_t lsn = res ? parse_lsn(PQgetvalue(res, 0, 0)) : 0;
	double lag = res ? replica_lag(j, res) : 0, max = (double)c->cleanup_max_replica_lag_ms / 1000;

	if (lag > max) {
		struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };

		if (!j->lag_logged) {
			char secs[32];
			struct log_field f[] = { { "JOB", j->name }, { "REPLICA_LAG_S", secs } };

			snprintf(secs, sizeof(secs), "%.1f", lag);
			log_emit(LOG_NOTICE, MSGID_JOB_FINISHED, LOG_FIELDS(f),
				 "job %s: pausing, a streaming replica's replay is %.1f s behind "
				 "(jobs.zoom_token_cleanup.max_replica_lag = %.0f s)", j->name, lag, max);
			j->lag_logged = true;
		}
		notify_status("ready; job %s paused: a replica is %.0f s behind (%" PRId64 " rows deleted)",
			      j->name, lag, j->rows);
		j->step = J_PAUSE;
		evtimer_add(j->pause, &tv);
		return;
	}
	if (j->lag_logged) {
		log_notice("job %s: replicas caught up, going on", j->name);
		j->lag_logged = false;
	}
	if (j->last_lsn != 0 && lsn > j->last_lsn)
		j->last_batch_wal = lsn - j->last_lsn;
	j->last_lsn = lsn;
	/* whole days as days, as the seed's interval '7 days' (calendar days in
	 * the session's time zone), else milliseconds */
	if (c->cleanup_retention_ms % 86400000 == 0)
		snprintf(retention, sizeof(retention), "%lld days", (long long)(c->cleanup_retention_ms / 86400000));
	else
		snprintf(retention, sizeof(retention), "%lld milliseconds", (long long)c->cleanup_retention_ms);
	snprintf(limit, sizeof(limit), "%ld", j->batch);
	clock_gettime(CLOCK_MONOTONIC, &j->batch_started);
	/* The same rows as the seed's cleanup_expired_zoom_tokens(), a batch
	 * at a time in expires_at order (its index), skipping rows the app
	 * holds; each batch is its own short transaction.  The locked rows are
	 * deleted by their ctid (a TID scan), not looked up again through the
	 * primary key: less CPU per row (bench/cleanup: 3 ms for ~300 rows
	 * against 4 ms for ~230).  A row the app updated after this
	 * statement's snapshot (and left expired) is locked in its new version,
	 * which the DELETE does not see: it is left for the next batch, never
	 * deleted unchecked.  So the batch says how many rows it locked as well
	 * as how many it deleted, and the run ends only when a batch finds none. */
	job_send(j, J_WORK,
		 "WITH doomed AS (SELECT ctid FROM public.zoom_credentials "
		 "WHERE expires_at < now() - $1::interval ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED), "
		 "gone AS (DELETE FROM public.zoom_credentials WHERE ctid = ANY (ARRAY(SELECT ctid FROM doomed)) "
		 "RETURNING 1) "
		 "SELECT (SELECT count(*) FROM doomed), (SELECT count(*) FROM gone)", 2, params);
}

/* Pacing that adapts to what a batch cost: batches that take long or
 * write much WAL shrink, fast and light ones grow up to batch_size, and
 * the pause is at least three times the batch, so the cleanup is busy at
 * most a quarter of the time. */
static void cleanup_batch_done(struct job *j, PGresult *res)
{
	const struct conf *c = j->s->conf;
	double took = elapsed_since(&j->batch_started);
	long found = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	long n = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 1), NULL, 10) : 0;
	long pause_ms;
	struct timeval tv;

	j->rows += n;
	if (found == 0) {
		finish_run(j, RUN_OK, NULL);
		return;
	}
	/* Rows the app updated during the batch are deleted by the next one,
	 * whose snapshot sees them; rows that twice in a row are locked and
	 * not deleted (a trigger or rule that keeps them) end the run rather
	 * than keep it busy until max_runtime. */
	j->empty_batches = n == 0 ? j->empty_batches + 1 : 0;
	if (j->empty_batches >= 2) {
		finish_run(j, RUN_OK, "two batches in a row locked %ld expired rows and deleted none "
			   "(does a trigger or rule on public.zoom_credentials keep them?); the rest waits "
			   "for the next run", found);
		return;
	}
	/* Shrink when a batch is slow or its WAL is heavy (the app's commits
	 * wait behind the flush of a big one: full-page images make the first
	 * pass over a table costly); grow only when both are light.  A batch
	 * holds its rows' locks until it commits, and an app transaction that
	 * commits while it runs flushes the WAL it has written so far: keep
	 * batches near 3-5 ms and a few hundred kB of WAL. */
	if ((took > BATCH_SLOW_SEC || j->last_batch_wal > WAL_PER_BATCH_HEAVY) && j->batch > BATCH_MIN(c))
		j->batch = j->batch * 2 / 3 > BATCH_MIN(c) ? j->batch * 2 / 3 : BATCH_MIN(c);
	else if (took < BATCH_FAST_SEC && j->last_batch_wal < WAL_PER_BATCH_LIGHT)
		j->batch = j->batch * 3 / 2 + 1 < c->cleanup_batch_size ? j->batch * 3 / 2 + 1 : c->cleanup_batch_size;
	log_debug("job %s: batch deleted %ld of the %ld rows it locked in %.0f ms, %llu kB WAL since the last; "
		  "next %ld rows", j->name, n, found, took * 1000, (unsigned long long)(j->last_batch_wal / 1024),
		  j->batch);
	/* busy at most a quarter of the time, and the database's WAL (the
	 * app's included) at most WAL_RATE_MAX while the cleanup runs: the
	 * app's commits flush whatever WAL is ahead of theirs */
	pause_ms = (long)(took * 3000);
	if ((double)j->last_batch_wal / WAL_RATE_MAX - took > (double)pause_ms / 1000)
		pause_ms = (long)(((double)j->last_batch_wal / WAL_RATE_MAX - took) * 1000);
	pause_ms = pause_ms < 20 ? 20 : pause_ms > 2000 ? 2000 : pause_ms;
	tv.tv_sec = pause_ms / 1000;
	tv.tv_usec = (pause_ms % 1000) * 1000;
	j->step = J_PAUSE;
	evtimer_add(j->pause, &tv);
}

static void cleanup_batch_failed(struct job *j, PGresult *res)
{
	const char *state = db_sqlstate(res);

	if (j->stop_requested || strcmp(state, "57014") == 0) {
		finish_run(j, RUN_CANCELLED, "%s", j->stop_requested ? "stopped by the daemon's shutdown: "
			   "the running batch was cancelled and rolled back" : db_message(res));
		return;
	}
	if (strcmp(state, "55P03") == 0 && ++j->lock_timeouts < LOCK_TIMEOUTS_MAX) {
		struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };

		j->batch = j->batch / 2 > BATCH_MIN(j->s->conf) ? j->batch / 2 : BATCH_MIN(j->s->conf);
		log_info("job %s: a batch waited " BATCH_LOCK_TIMEOUT " for a lock; retrying with %ld rows",
			 j->name, j->batch);
		j->step = J_PAUSE;
		evtimer_add(j->pause, &tv);
		return;
	}
	if (strcmp(state, "42P01") == 0) {
		finish_run(j, RUN_FAILED, "table public.zoom_credentials does not exist; is migration "
			   "002_zoom_integration applied?");
		return;
	}
	finish_run(j, RUN_FAILED, "ERROR %s: %s", state, db_message(res));
}

/* ---- results ---------------------------------------------------------------------- */

/* ---- verification: checks, probe, and the findings over time ---------------- */

static void verify_begin(struct job *j)
{
	char *sql = NULL;
	const char *record = verify_sql_record(), *checks = verify_sql_checks(true);

	findings_free(&j->found);
	if (j->stop_requested) {
		finish_run(j, RUN_CANCELLED, "stopped by the daemon's shutdown");
		return;
	}
	if (record == NULL || checks == NULL ||
	    asprintf(&sql, "SET statement_timeout = '" VERIFY_CHECKS_TIMEOUT "';\n%s;\n%s", record, checks) < 0) {
		finish_run(j, RUN_FAILED, "out of memory");
		return;
	}
	job_send(j, J_V_CHECKS, sql, 0, NULL);
	free(sql);
}

static void verify_record(struct job *j)
{
	const struct conf *c = j->s->conf;
	char remind[48], *json, *ignored = NULL;
	size_t len = 0;
	FILE *m;
	char *const *k;

	findings_ignore(&j->found, c->verify_ignore);
	findings_sort(&j->found);
	snprintf(remind, sizeof(remind), "%lld milliseconds", (long long)c->verify_remind_every_ms);
	/* the ignored keys as a JSON array */
	m = open_memstream(&ignored, &len);
	if (m != NULL) {
		fputc('[', m);
		for (k = c->verify_ignore; k != NULL && *k != NULL; k++) {
			fputs(k == c->verify_ignore ? "" : ",", m);
			json_fputs(m, *k);
		}
		fputc(']', m);
		if (fclose(m) != 0) {
			free(ignored);
			ignored = NULL;
		}
	}
	json = findings_json(&j->found);
	if (json == NULL || ignored == NULL) {
		free(json);
		free(ignored);
		finish_run(j, RUN_FAILED, "out of memory");
		return;
	}
	{
		const char *params[4] = { json, remind, ignored,
					  j->probe_failed || findings_probe_partial(&j->found) ? "false" : "true" };

		j->rows = (int64_t)j->found.n;
		job_send(j, J_V_RECORD, verify_sql_lifecycle, 4, params);
	}
	free(json);
	free(ignored);
}

static int level_priority(const char *level)
{
	int l = vlevel_parse(level);

	return l == VL_ERROR ? LOG_ERR : l == VL_WARN ? LOG_WARNING : LOG_INFO;
}

/* Logs what is new, what is reminded and what went away. */
static void verify_report(struct job *j, const PGresult *res)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		const char *action = PQgetvalue(res, i, 0), *key = PQgetvalue(res, i, 1);
		const char *check = PQgetvalue(res, i, 2), *level = PQgetvalue(res, i, 3);
		const char *object = PQgetvalue(res, i, 4), *detail = PQgetvalue(res, i, 5);
		const char *remedy = PQgetvalue(res, i, 6), *since_ = PQgetvalue(res, i, 7);
		struct log_field f[] = { { "CHECK", check }, { "OBJECT", object }, { "LEVEL", level },
					 { "FINDING_KEY", key }, { "STATE", action }, { "REMEDY", *remedy ? remedy : NULL } };

		if (strcmp(action, "resolved") == 0)
			log_emit(LOG_NOTICE, MSGID_VERIFY_RESOLVED, LOG_FIELDS(f),
				 "verify: resolved: %s %s (present since %s)", check, object, since_);
		else if (strcmp(action, "new") == 0)
			log_emit(level_priority(level), MSGID_VERIFY_FINDING, LOG_FIELDS(f),
				 "verify: %s %s %s: %s; fix: %s", level, check, object, detail, remedy);
		else
			log_emit(level_priority(level), MSGID_VERIFY_FINDING, LOG_FIELDS(f),
				 "verify: still present since %s: %s %s %s: %s; fix: %s", since_, level, check, object,
				 detail, remedy);
	}
	(void)j;
}

static void verify_notice(const char *message, void *arg)
{
	const char *p = strstr(message, "verify: ");

	(void)arg;
	log_info("%s", p != NULL ? p : message);
}

static void job_result(struct db *db, PGresult *res, void *arg)
{
	struct job *j = arg;
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok && !db_connected(db)) {
		connection_lost(j);
		return;
	}
	switch (j->step) {
	case J_RECORD_LOST:
		j->lost_run_id[0] = '\0';
		if (!ok) {
			log_error("job %s: recording the interrupted run: %s", j->name, db_message(res));
			run_finished(j);
			return;
		}
		if (strcmp(PQcmdTuples(res), "1") != 0 || j->stop_requested) {
			/* it had been recorded before the connection went: nothing to retry */
			run_finished(j);
			return;
		}
		log_info("job %s: the interrupted run is recorded as failed; trying it once more", j->name);
		j->retried = true;
		j->run_id[0] = '\0';
		job_connected(db, true, j);
		return;
	case J_SETUP:
		if (!ok)
			goto failed;
		if (j->stop_requested) {
			j->result = RUN_CANCELLED;
			run_finished(j);
			return;
		}
		{
			char sql[512];

			/* (and whether migrations are being applied: a verification
			 * pass then waits for the next tick, not to report a
			 * half-applied migration) */
			snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(" MIGRATION_LOCK_CLASSID ", %s), "
				 "EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted "
				 "AND classid = " MIGRATION_LOCK_CLASSID " AND objid = " MIGRATION_LOCK_OBJID
				 " AND objsubid = 2 AND database = (SELECT oid FROM pg_catalog.pg_database "
				 "WHERE datname = current_database()))", j->lock_objid);
			job_send(j, J_LOCK, sql, 0, NULL);
		}
		return;
	case J_LOCK:
		if (!ok)
			goto failed;
		if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
			skip_run(j, "another instance is running this job");
			return;
		}
		if (j->kind == JOB_VERIFY && strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
			skip_run(j, "migrations are being applied; the next pass checks");
			return;
		}
		if (j->stop_requested) {
			j->result = RUN_CANCELLED;
			job_send(j, J_UNLOCK, "SELECT pg_advisory_unlock_all()", 0, NULL);
			return;
		}
		{
			const char *params[1] = { j->name };

			/* holding the job's lock, no run of it is going anywhere: a row
			 * still 'running' is one whose daemon stopped or lost its
			 * connection before it could say */
			job_send(j, J_STALE,
				 "UPDATE momentum_maintd.job_runs SET status = 'failed', finished_at = now(), "
				 "error = 'interrupted: its daemon stopped or lost the connection before recording the end' "
				 "WHERE job = $1 AND status = 'running'", 1, params);
		}
		return;
	case J_STALE:
		if (!ok)
			goto failed_locked;
		if (strcmp(PQcmdTuples(res), "0") != 0)
			log_warning("job %s: %s earlier run(s) left 'running' are now recorded as failed (interrupted)",
				    j->name, PQcmdTuples(res));
		{
			char ts[32];
			const char *params[3] = { j->name, j->s->instance, ts };

			snprintf(ts, sizeof(ts), "%lld.%06ld", (long long)j->scheduled_for, j->scheduled_usec);
			job_send(j, J_CLAIM,
				 "INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, status) "
				 "VALUES ($1, $2, to_timestamp($3), 'running') "
				 "ON CONFLICT (job, scheduled_for) WHERE status IN ('running', 'ok') DO NOTHING RETURNING id",
				 3, params);
		}
		return;
	case J_CLAIM:
		if (!ok)
			goto failed_locked;
		if (PQntuples(res) == 0) {
			skip_run(j, "this scheduled run already ran on another instance");
			return;
		}
		snprintf(j->run_id, sizeof(j->run_id), "%s", PQgetvalue(res, 0, 0));
		if (j->kind == JOB_VERIFY)
			verify_begin(j);
		else
			cleanup_next_batch(j);
		return;
	case J_SKIP:
		/* a skip leaves the lock as it found it: release it if it is ours */
		job_send(j, J_UNLOCK, "SELECT pg_advisory_unlock_all()", 0, NULL);
		return;
	case J_LAG:
		if (j->stop_requested) {
			finish_run(j, RUN_CANCELLED, "stopped by the daemon's shutdown");
			return;
		}
		if (!ok) {
			/* no right to read pg_stat_replication is not a reason to stop */
			log_debug("job %s: cannot read replica lag: %s", j->name, db_message(res));
			cleanup_lag_checked(j, NULL);
			return;
		}
		cleanup_lag_checked(j, res);
		return;
	case J_WORK:
		if (ok)
			cleanup_batch_done(j, res);
		else
			cleanup_batch_failed(j, res);
		return;
	case J_V_CHECKS:
		if (!ok)
			goto failed_locked;
		if (findings_add(&j->found, res) < 0) {
			finish_run(j, RUN_FAILED, "out of memory");
			return;
		}
		if (j->stop_requested) {
			finish_run(j, RUN_CANCELLED, "stopped by the daemon's shutdown");
			return;
		}
		{
			int env = j->s->conf->environment;
			const char *sql = verify_sql_probe(env == ENV_STAGING || env == ENV_DEVELOPMENT,
							   VERIFY_PROBE_TIMEOUT_MS);

			if (sql == NULL) {
				finish_run(j, RUN_FAILED, "out of memory");
				return;
			}
			job_send(j, J_V_PROBE, sql, 0, NULL);
		}
		return;
	case J_V_PROBE:
		if (ok) {
			if (findings_add(&j->found, res) < 0)
				j->probe_failed = true;
		} else if (!j->stop_requested) {
			/* the checks stand; the probe's failure is a finding */
			j->probe_failed = true;
			findings_probe_failed(&j->found, res);
		}
		job_send(j, J_V_ROLLBACK, "ROLLBACK", 0, NULL);
		return;
	case J_V_ROLLBACK:
		if (j->stop_requested) {
			finish_run(j, RUN_CANCELLED, "stopped by the daemon's shutdown");
			return;
		}
		verify_record(j);
		return;
	case J_V_RECORD:
		if (!ok)
			goto failed_locked;
		verify_report(j, res);
		finish_run(j, RUN_OK, NULL);
		return;
	case J_FINISH:
		if (!ok)
			log_error("job %s: recording the run in momentum_maintd.job_runs: %s", j->name, db_message(res));
		else
			j->run_id[0] = '\0';   /* recorded: a connection lost from here on loses nothing */
		{
			/* unlock and prune in one round trip (the number comes from
			 * the configuration, not from outside) */
			char sql[192];

			snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock_all(); DELETE FROM momentum_maintd.job_runs "
				 "WHERE started_at < now() - interval '%lld milliseconds'",
				 (long long)j->s->conf->jobs_history_retention_ms);
			job_send(j, J_PRUNE, sql, 0, NULL);
		}
		return;
	case J_UNLOCK: {
		char retention[48];
		const char *params[1] = { retention };

		snprintf(retention, sizeof(retention), "%lld milliseconds",
			 (long long)j->s->conf->jobs_history_retention_ms);
		job_send(j, J_PRUNE, "DELETE FROM momentum_maintd.job_runs WHERE started_at < now() - $1::interval",
			 1, params);
		return;
	}
	case J_PRUNE:
		if (ok && strcmp(PQcmdTuples(res), "0") != 0)
			log_info("job history: %s run(s) older than jobs.history_retention pruned", PQcmdTuples(res));
		run_finished(j);
		return;
	case J_LAST_RUN: {
		time_t last, due, next, now = time(NULL);
		int guard = 0;

		job_idle(j);
		if (!ok || PQgetisnull(res, 0, 0) || j->stop_requested)
			return;
		last = (time_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		due = cron_next(&j->expr, j->tz, last);
		if (due == (time_t)-1 || due > now)
			return;
		while ((next = cron_next(&j->expr, j->tz, due)) != (time_t)-1 && next <= now && guard++ < 100000)
			due = next;
		{
			char when[64];

			format_local(due, when, sizeof(when));
			log_notice("job %s: the run of %s was missed while the daemon was down; running it now (catch_up)",
				   j->name, when);
		}
		start_run(j, due, false);
		return;
	}
	default:
		return;
	}
failed:
failed_locked:
	if (j->step == J_V_CHECKS && j->stop_requested && strcmp(db_sqlstate(res), "57014") == 0) {
		/* our own cancel at shutdown: not an error */
		finish_run(j, RUN_CANCELLED, "stopped by the daemon's shutdown");
		return;
	}
	if (j->step == J_V_CHECKS && strcmp(db_sqlstate(res), "55P03") == 0) {
		/* the catalog functions wait behind an ACCESS EXCLUSIVE lock (a
		 * migration, DDL): nothing was checked, nothing is resolved */
		finish_run(j, RUN_SKIPPED, "a table is locked (by a migration or DDL?); the next pass checks");
		return;
	}
	log_error("job %s: %s%s", j->name, db_message(res), strcmp(db_sqlstate(res), "42P01") == 0
		  ? " (the momentum_maintd schema is missing: start the daemon or run 'migrate up' first)" : "");
	j->result = RUN_FAILED;
	snprintf(j->error, sizeof(j->error), "%s", db_message(res));
	if (j->step == J_V_CHECKS || j->step == J_V_RECORD) {
		finish_run(j, RUN_FAILED, "%s", db_message(res));
		return;
	}
	if (j->step == J_STALE || j->step == J_CLAIM) {
		/* the job's lock is ours: release it before giving up */
		job_send(j, J_UNLOCK, "SELECT pg_advisory_unlock_all()", 0, NULL);
		return;
	}
	run_finished(j);
}

/* ---- the scheduler ---------------------------------------------------------------- */

static int job_init(struct scheduler *s, struct job *j, enum job_kind kind, const char *name, const char *objid,
		    const char *schedule, const char *tz, bool enabled, bool catch_up)
{
	char err[256];

	j->s = s;
	j->kind = kind;
	j->name = name;
	j->lock_objid = objid;
	j->tz = tz;
	j->enabled = enabled;
	j->catch_up = catch_up;
	if (cron_parse(schedule, &j->expr, err, sizeof(err)) < 0) {
		log_error("%s: schedule \"%s\": %s", name, schedule, err);
		return -1;
	}
	j->db = db_new(s->base, s->conf->db_conninfo, s->password);
	j->timer = evtimer_new(s->base, on_tick, j);
	j->pause = evtimer_new(s->base, on_pause, j);
	if (j->db != NULL && kind == JOB_VERIFY)
		db_set_notice_cb(j->db, verify_notice, j);
	return j->db && j->timer && j->pause ? 0 : -1;
}

static void job_free(struct job *j)
{
	if (j->timer)
		event_free(j->timer);
	if (j->pause)
		event_free(j->pause);
	db_free(j->db);
	findings_free(&j->found);
}

struct scheduler *scheduler_new(struct event_base *base, const struct conf *conf, const char *password)
{
	struct scheduler *s = calloc(1, sizeof(*s));
	char host[64] = "?";

	if (s == NULL)
		return NULL;
	s->base = base;
	s->conf = conf;
	s->password = password ? strdup(password) : NULL;
	gethostname(host, sizeof(host) - 1);
	snprintf(s->instance, sizeof(s->instance), "%s:%d", host, (int)getpid());
	/* advisory lock objids: 1 is the migration lock, one more per job */
	if (job_init(s, &s->cleanup, JOB_CLEANUP, "zoom-token-cleanup", "2", conf->cleanup_schedule,
		     conf->cleanup_timezone, conf->cleanup_enabled, conf->cleanup_catch_up) < 0 ||
	    job_init(s, &s->verify, JOB_VERIFY, "verify", "3", conf->verify_schedule, "UTC", true, false) < 0) {
		scheduler_free(s);
		return NULL;
	}
	return s;
}

void scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	job_free(&s->cleanup);
	job_free(&s->verify);
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

static void catch_up_connected(struct db *db, bool ok, void *arg)
{
	struct job *j = arg;
	const char *params[1] = { j->name };

	(void)db;
	if (!ok) {
		log_warning("job %s: cannot check for a missed run: %s", j->name, db_error(j->db));
		job_idle(j);
		return;
	}
	job_send(j, J_LAST_RUN,
		 "SELECT extract(epoch FROM max(scheduled_for))::bigint FROM momentum_maintd.job_runs "
		 "WHERE job = $1 AND status = 'ok'", 1, params);
}

static void job_start_schedule(struct job *j)
{
	if (!j->enabled) {
		log_info("job %s is disabled (jobs.*.enabled = false)", j->name);
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
	j->step = J_CONNECTING;
	if (db_connect(j->db, CONNECT_TIMEOUT_SEC, catch_up_connected, j) < 0)
		catch_up_connected(j->db, false, j);
}

int scheduler_start(struct scheduler *s)
{
	job_start_schedule(&s->cleanup);
	/* verification: a pass now, right after the migrations, then on schedule */
	verify_log_ignored(s->conf->verify_ignore);
	arm(&s->verify, time(NULL));
	start_run(&s->verify, time(NULL), true);
	return 0;
}

static void job_reconfigure(struct job *j, const struct cron_expr *e, const char *tz, bool enabled, bool catch_up)
{
	j->expr = *e;
	j->tz = tz;
	j->catch_up = catch_up;
	j->enabled = enabled;
	event_del(j->timer);
	if (j->enabled)
		arm(j, time(NULL));
}

int scheduler_reconfigure(struct scheduler *s, const struct conf *conf)
{
	struct cron_expr ce, ve;
	char err[256];

	if (cron_parse(conf->cleanup_schedule, &ce, err, sizeof(err)) < 0 ||
	    cron_parse(conf->verify_schedule, &ve, err, sizeof(err)) < 0)
		return -1;
	s->conf = conf;
	job_reconfigure(&s->cleanup, &ce, conf->cleanup_timezone, conf->cleanup_enabled, conf->cleanup_catch_up);
	job_reconfigure(&s->verify, &ve, "UTC", true, false);
	verify_log_ignored(conf->verify_ignore);
	return 0;
}

bool scheduler_run_now(struct scheduler *s, const char *job)
{
	struct job *j = strcmp(job, s->cleanup.name) == 0 ? &s->cleanup
		: strcmp(job, s->verify.name) == 0 ? &s->verify : NULL;

	if (j == NULL)
		return false;
	start_run(j, time(NULL), true);
	return true;
}

bool scheduler_busy(const struct scheduler *s)
{
	return s->cleanup.running || s->verify.running;
}

static void job_stats(const struct job *j, struct job_stats *out)
{
	out->job = j->name;
	out->last_success = j->last_success;
	out->last_duration = j->last_duration;
	out->last_rows = j->last_rows;
	memcpy(out->runs, j->runs, sizeof(out->runs));
}

void scheduler_stats(const struct scheduler *s, struct job_stats out[SCHEDULER_JOBS])
{
	job_stats(&s->cleanup, &out[0]);
	job_stats(&s->verify, &out[1]);
}

bool scheduler_verify_counts(const struct scheduler *s, int counts[3], time_t *at)
{
	memcpy(counts, s->verify.vcounts, sizeof(s->verify.vcounts));
	*at = s->verify.verified_at;
	return s->verify.verified_at != 0;
}

const char *scheduler_summary(const struct scheduler *s)
{
	static char line[400];
	const char *v = s->verify.summary, *c = s->cleanup.summary;

	snprintf(line, sizeof(line), "%s%s%s", v, *v && *c ? "; " : "", c);
	return line;
}

static void job_stop(struct job *j)
{
	event_del(j->timer);
	if (!j->running)
		return;
	j->stop_requested = true;
	if (j->step == J_PAUSE) {
		event_del(j->pause);
		finish_run(j, RUN_CANCELLED, "stopped by the daemon's shutdown");
	} else if (j->step == J_CONNECTING) {
		event_del(j->pause);
		db_close(j->db);
		j->running = false;
		j->in_run = false;
		j->step = J_IDLE;
	} else if (db_busy(j->db) && (j->step == J_WORK || j->step == J_LAG || j->step == J_LAST_RUN ||
				      j->step == J_V_CHECKS || j->step == J_V_PROBE)) {
		/* the statement rolls back; its error result records the run as
		 * cancelled.  Bookkeeping statements are left to finish. */
		db_cancel(j->db);
	}
}

void scheduler_stop(struct scheduler *s, void (*done)(void *arg), void *arg)
{
	s->stopped = done;
	s->stopped_arg = arg;
	job_stop(&s->cleanup);
	job_stop(&s->verify);
	if (s->stopped != NULL && !scheduler_busy(s)) {
		s->stopped = NULL;
		if (done != NULL)
			done(arg);
	}
}
