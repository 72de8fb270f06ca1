/* The Zoom token cleanup: the design's cleanup_expired_zoom_tokens(), in
 * short batches through the expires_at index, paced so that the app that
 * writes to the same table and the read replicas are not hurt. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "msgid.h"
#include "notify.h"
#include "sql_text.h"
#include "timeutil.h"

#define BATCH_MIN_ROWS 100
/* never shrink below 100 rows, nor grow above batch_size */
#define BATCH_MIN(c) ((c)->cleanup_batch_size < BATCH_MIN_ROWS ? (c)->cleanup_batch_size : BATCH_MIN_ROWS)
#define BATCH_FIRST_ROWS 1000
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
#define WAL_SAMPLES 64
#define MAX_RUNTIME_REACHED "stopped at max_runtime; the rest waits for the next run"

struct cleanup {
	long batch;                   /* rows in the next batch */
	int lock_timeouts;
	int empty_batches;            /* batches in a row that locked rows but deleted none */
	struct timespec batch_started, last_progress;
	/* WAL positions the primary had when batches started, to tell how far
	 * behind (in time) the slowest streaming replica's replay is */
	struct { double t; uint64_t lsn; } wal[WAL_SAMPLES];
	int nwal;
	bool lag_logged;
	uint64_t last_lsn;            /* WAL position at the last batch's start */
	uint64_t last_batch_wal;      /* WAL bytes written from one batch start to the next */
};

static void cleanup_schedule(const struct conf *c, struct job_schedule *out)
{
	out->schedule = c->cleanup_schedule;
	out->timezone = c->cleanup_timezone;
	out->enabled = c->cleanup_enabled;
	out->catch_up = c->cleanup_catch_up;
}

static void *cleanup_new(struct job *j)
{
	(void)j;
	return calloc(1, sizeof(struct cleanup));
}

static void cleanup_prepare(struct job *j)
{
	struct cleanup *c = job_state(j);
	int64_t size = job_conf(j)->cleanup_batch_size;

	c->batch = size < BATCH_FIRST_ROWS ? (long)size : BATCH_FIRST_ROWS;
	c->lock_timeouts = 0;
	c->empty_batches = 0;
	c->last_lsn = c->last_batch_wal = 0;
	clock_gettime(CLOCK_MONOTONIC, &c->last_progress);
}

static void lag_checked(struct job *j, PGresult *res);

/* The next batch, after a look at the replicas; also the end of a pause. */
static void next_batch(struct job *j)
{
	struct cleanup *c = job_state(j);

	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	if (job_elapsed(j) * 1000 >= (double)job_conf(j)->cleanup_max_runtime_ms) {
		job_finish(j, RUN_OK, MAX_RUNTIME_REACHED);
		return;
	}
	if (elapsed_since(&c->last_progress) >= PROGRESS_LOG_SEC) {
		clock_gettime(CLOCK_MONOTONIC, &c->last_progress);
		log_info("job %s: %" PRId64 " rows deleted so far (batch %ld)", job_name(j), job_rows(j), c->batch);
	}
	notify_job_progress(job_name(j), job_rows(j));
	/* replicas first: a cleanup must not leave read replicas behind */
	job_work(j, sql_job_cleanup_lag, 0, NULL, lag_checked);
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
static double replica_lag(struct cleanup *c, const PGresult *res)
{
	uint64_t now_lsn = parse_lsn(PQgetvalue(res, 0, 0)), replay = parse_lsn(PQgetvalue(res, 0, 1));
	double reported = strtod(PQgetvalue(res, 0, 2), NULL), now = mono_now(), est = 0;
	int i;

	if (c->nwal == 0 || c->wal[c->nwal - 1].lsn != now_lsn) {
		if (c->nwal == WAL_SAMPLES) {
			memmove(c->wal, c->wal + 1, sizeof(c->wal) - sizeof(c->wal[0]));
			c->nwal--;
		}
		c->wal[c->nwal].t = now;
		c->wal[c->nwal].lsn = now_lsn;
		c->nwal++;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "0") == 0 || PQgetvalue(res, 0, 1)[0] == '\0')
		return 0;
	for (i = 0; i < c->nwal; i++) {
		if (c->wal[i].lsn > replay) {
			est = now - c->wal[i].t;
			break;
		}
	}
	return est > reported ? est : reported;
}

/* A replica is too far behind: wait a second and look again. */
static void pause_for_replica(struct job *j, double lag)
{
	struct cleanup *c = job_state(j);
	double max = (double)job_conf(j)->cleanup_max_replica_lag_ms / 1000;

	if (!c->lag_logged) {
		char secs[32];
		struct log_field f[] = { { "JOB", job_name(j) }, { "REPLICA_LAG_S", secs } };

		snprintf(secs, sizeof(secs), "%.1f", lag);
		log_emit(LOG_NOTICE, MSGID_JOB_FINISHED, LOG_FIELDS(f),
			 "job %s: pausing, a streaming replica's replay is %.1f s behind "
			 "(jobs.zoom_token_cleanup.max_replica_lag = %.0f s)", job_name(j), lag, max);
		c->lag_logged = true;
	}
	notify_job_paused(job_name(j), lag, job_rows(j));
	job_pause(j, 1000);
}

static void batch_done(struct job *j, PGresult *res);

/* sql with $1 and $2 replaced by the literals v1 and v2 (our own text:
 * digits and a unit), after prefix; NULL when out of memory */
static char *with_literals(const char *prefix, const char *sql, const char *v1, const char *v2)
{
	size_t len = strlen(prefix) + strlen(sql) + 1, n;
	char *out, *o;
	const char *p;

	for (p = sql; (p = strchr(p, '$')) != NULL; p++)
		len += strlen(v1) + strlen(v2);
	if ((out = malloc(len)) == NULL)
		return NULL;
	o = out + sprintf(out, "%s", prefix);
	for (p = sql; *p != '\0'; p++) {
		const char *v = p[0] == '$' && p[1] == '1' ? v1 : p[0] == '$' && p[1] == '2' ? v2 : NULL;

		if (v == NULL) {
			*o++ = *p;
			continue;
		}
		n = strlen(v);
		memcpy(o, v, n);
		o += n;
		p++;
	}
	*o = '\0';
	return out;
}

static void send_batch(struct job *j)
{
	struct cleanup *c = job_state(j);
	int64_t retention_ms = job_conf(j)->cleanup_retention_ms;
	double left_ms = (double)job_conf(j)->cleanup_max_runtime_ms - job_elapsed(j) * 1000;
	char retention[48], limit[24], timeout[64];
	char *sql;

	if (left_ms < 1) {
		job_finish(j, RUN_OK, MAX_RUNTIME_REACHED);
		return;
	}
	/* whole days as days, as the seed's interval '7 days' (calendar days in
	 * the session's time zone), else milliseconds */
	if (retention_ms % 86400000 == 0)
		snprintf(retention, sizeof(retention), "'%lld days'", (long long)(retention_ms / 86400000));
	else
		snprintf(retention, sizeof(retention), "'%lld milliseconds'", (long long)retention_ms);
	snprintf(limit, sizeof(limit), "%ld", c->batch);
	/* The batch ends at max_runtime too, however long a trigger or a lock
	 * holds it: the server cancels it then and it rolls back.  SET LOCAL in
	 * the same query string (one implicit transaction, each statement timed
	 * on its own) leaves the session's statement_timeout = 0 as it was; the
	 * simple protocol takes no parameters, hence the literals.  Rounded up:
	 * a batch the server cut ends past max_runtime (batch_failed). */
	snprintf(timeout, sizeof(timeout), "SET LOCAL statement_timeout = %lld; ", (long long)left_ms + 1);
	if ((sql = with_literals(timeout, sql_job_cleanup_batch, retention, limit)) == NULL) {
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &c->batch_started);
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
	job_work(j, sql, 0, NULL, batch_done);
	free(sql);
}

/* Replicas are connected but the role may not see how far they are: a
 * guard that saw no lag would delete while a replica is hours behind.
 * Without pg_read_all_stats (pg_monitor has it) pg_stat_replication still
 * lists each walsender, with every column but pid NULL; state is never
 * NULL otherwise, so the lag query counts those rows. */
static void lag_unreadable(struct job *j, const char *replicas, const char *role)
{
	struct log_field f[] = { { "JOB", job_name(j) } };

	log_emit(LOG_ERR, MSGID_JOB_FINISHED, LOG_FIELDS(f),
		 "job %s: %s streaming replica(s) are connected but role %s cannot read their replay position "
		 "in pg_stat_replication, so their lag is unknown; the cleanup does not run without it. "
		 "Fix: GRANT pg_monitor TO %s", job_name(j), replicas, role, role);
	job_finish(j, RUN_FAILED, "replica lag unknown: role %s cannot read pg_stat_replication's positions "
		   "of %s streaming replica(s); it needs GRANT pg_monitor", role, replicas);
}

static void lag_checked(struct job *j, PGresult *res)
{
	struct cleanup *c = job_state(j);
	double lag = 0;
	uint64_t lsn = 0;

	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	if (!job_res_ok(res)) {
		/* no right to read pg_stat_replication is not a reason to stop */
		log_debug("job %s: cannot read replica lag: %s", job_name(j), db_message(res));
	} else if (strcmp(PQgetvalue(res, 0, 4), "0") != 0) {
		lag_unreadable(j, PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5));
		return;
	} else {
		lsn = parse_lsn(PQgetvalue(res, 0, 0));
		lag = replica_lag(c, res);
	}
	if (lag > (double)job_conf(j)->cleanup_max_replica_lag_ms / 1000) {
		pause_for_replica(j, lag);
		return;
	}
	if (c->lag_logged) {
		log_notice("job %s: replicas caught up, going on", job_name(j));
		c->lag_logged = false;
	}
	if (c->last_lsn != 0 && lsn > c->last_lsn)
		c->last_batch_wal = lsn - c->last_lsn;
	c->last_lsn = lsn;
	send_batch(j);
}

/* Shrink when a batch is slow or its WAL is heavy (the app's commits wait
 * behind the flush of a big one: full-page images make the first pass over
 * a table costly); grow only when both are light.  A batch holds its rows'
 * locks until it commits, and an app transaction that commits while it
 * runs flushes the WAL it has written so far: keep batches near 3-5 ms and
 * a few hundred kB of WAL. */
static void resize_batch(struct cleanup *c, const struct conf *conf, double took)
{
	if ((took > BATCH_SLOW_SEC || c->last_batch_wal > WAL_PER_BATCH_HEAVY) && c->batch > BATCH_MIN(conf))
		c->batch = c->batch * 2 / 3 > BATCH_MIN(conf) ? c->batch * 2 / 3 : BATCH_MIN(conf);
	else if (took < BATCH_FAST_SEC && c->last_batch_wal < WAL_PER_BATCH_LIGHT)
		c->batch = c->batch * 3 / 2 + 1 < conf->cleanup_batch_size ? c->batch * 3 / 2 + 1
			: conf->cleanup_batch_size;
}

/* Busy at most a quarter of the time, and the database's WAL (the app's
 * included) at most WAL_RATE_MAX while the cleanup runs: the app's commits
 * flush whatever WAL is ahead of theirs. */
static long pause_after(const struct cleanup *c, double took)
{
	long pause_ms = (long)(took * 3000);

	if ((double)c->last_batch_wal / WAL_RATE_MAX - took > (double)pause_ms / 1000)
		pause_ms = (long)(((double)c->last_batch_wal / WAL_RATE_MAX - took) * 1000);
	return pause_ms < 20 ? 20 : pause_ms > 2000 ? 2000 : pause_ms;
}

static void batch_failed(struct job *j, PGresult *res)
{
	struct cleanup *c = job_state(j);
	const char *state = db_sqlstate(res);

	if (!job_stopping(j) && strcmp(state, "57014") == 0 &&
	    job_elapsed(j) * 1000 >= (double)job_conf(j)->cleanup_max_runtime_ms) {
		/* our statement_timeout: the batch was cut at max_runtime */
		job_finish(j, RUN_OK, MAX_RUNTIME_REACHED);
		return;
	}
	if (job_stopping(j) || strcmp(state, "57014") == 0) {
		job_finish(j, RUN_CANCELLED, "%s", job_stopping(j) ? JOB_STOPPED ": the running batch was "
			   "cancelled and rolled back" : db_message(res));
		return;
	}
	if (strcmp(state, "55P03") == 0 && ++c->lock_timeouts < LOCK_TIMEOUTS_MAX) {
		const struct conf *conf = job_conf(j);

		c->batch = c->batch / 2 > BATCH_MIN(conf) ? c->batch / 2 : BATCH_MIN(conf);
		log_info("job %s: a batch waited " JOB_LOCK_TIMEOUT " for a lock; retrying with %ld rows",
			 job_name(j), c->batch);
		job_pause(j, 1000);
		return;
	}
	if (strcmp(state, "42P01") == 0) {
		job_finish(j, RUN_FAILED, "table public.zoom_credentials does not exist; is migration "
			   "002_zoom_integration applied?");
		return;
	}
	job_finish(j, RUN_FAILED, "ERROR %s: %s", state, db_message(res));
}

/* Pacing that adapts to what a batch cost: batches that take long or
 * write much WAL shrink, fast and light ones grow up to batch_size, and
 * the pause is at least three times the batch. */
static void batch_done(struct job *j, PGresult *res)
{
	struct cleanup *c = job_state(j);
	double took = elapsed_since(&c->batch_started);
	long found, n;

	if (!job_res_ok(res)) {
		batch_failed(j, res);
		return;
	}
	found = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	n = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 1), NULL, 10) : 0;
	job_set_rows(j, job_rows(j) + n);
	if (found == 0) {
		job_finish(j, RUN_OK, NULL);
		return;
	}
	/* Rows the app updated during the batch are deleted by the next one,
	 * whose snapshot sees them; rows that twice in a row are locked and
	 * not deleted (a trigger or rule that keeps them) end the run rather
	 * than keep it busy until max_runtime. */
	c->empty_batches = n == 0 ? c->empty_batches + 1 : 0;
	if (c->empty_batches >= 2) {
		job_finish(j, RUN_OK, "two batches in a row locked %ld expired rows and deleted none "
			   "(does a trigger or rule on public.zoom_credentials keep them?); the rest waits "
			   "for the next run", found);
		return;
	}
	resize_batch(c, job_conf(j), took);
	log_debug("job %s: batch deleted %ld of the %ld rows it locked in %.0f ms, %llu kB WAL since the last; "
		  "next %ld rows", job_name(j), n, found, took * 1000, (unsigned long long)(c->last_batch_wal / 1024),
		  c->batch);
	job_pause(j, pause_after(c, took));
}

static void cleanup_log_end(struct job *j, enum run_status st, const char *ms, const char *error)
{
	char rows[24];
	struct log_field f[] = { { "JOB", job_name(j) }, { "STATUS", run_status_name(st) },
				 { "ROWS", rows }, { "DURATION_MS", ms }, { "ERROR", *error ? error : NULL } };

	snprintf(rows, sizeof(rows), "%" PRId64, job_rows(j));
	log_emit(st == RUN_FAILED ? LOG_ERR : st == RUN_OK ? LOG_NOTICE : LOG_WARNING, MSGID_JOB_FINISHED,
		 LOG_FIELDS(f), "job %s %s: %s rows in %s ms%s%s", job_name(j),
		 st == RUN_OK ? "finished" : run_status_name(st), rows, ms, *error ? ": " : "", error);
}

const struct job_ops cleanup_job_ops = {
	.name = "zoom-token-cleanup",
	.lock_objid = "2",
	.schedule = cleanup_schedule,
	.state_new = cleanup_new,
	.state_free = free,
	.prepare = cleanup_prepare,
	.begin = next_batch,
	.resume = next_batch,
	.log_end = cleanup_log_end,
};
