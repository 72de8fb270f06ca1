/* What the scheduler (scheduler.c) offers the jobs it runs, and what a job
 * gives it.  The scheduler owns a run's life: the timer, the connection and
 * its loss, the job's advisory lock, the claim of the run in
 * momentum_maintd.job_runs, recording its end and pruning the history.  A
 * job module (job_cleanup.c, job_verify.c) owns the work between the claim
 * and the end, and keeps its own state.  A new job is a new file and one
 * entry in scheduler.c's table.  Internal to the scheduler and its jobs. */
#ifndef MOMENTUM_JOB_H
#define MOMENTUM_JOB_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include "scheduler.h"

struct conf;
struct db;
struct event_base;
struct job;

/* A job's statement waits this long for a lock (the cleanup then shrinks
 * its batch, a verification pass is skipped). */
#define JOB_LOCK_TIMEOUT "5s"
/* the reason recorded for a run that a shutdown stopped */
#define JOB_STOPPED "stopped by the daemon's shutdown"

/* Called with the result of a statement the job sent; a lost connection
 * never reaches it (the scheduler retries or records the run). */
typedef void (*job_result_fn)(struct job *j, PGresult *res);

/* What the configuration says of a job's schedule. */
struct job_schedule {
	const char *schedule;         /* cron */
	const char *timezone;         /* the schedule is read in it */
	bool enabled;
	bool catch_up;                /* a tick missed while down runs once after start */
};

struct job_ops {
	const char *name;             /* as job_runs, logs and run-job name it */
	const char *lock_objid;       /* advisory lock (MIGRATION_LOCK_CLASSID, objid) */
	bool run_at_start;            /* a run right after READY, then on schedule */
	bool wait_for_migrations;     /* a run while migrations are applied is skipped */
	void (*schedule)(const struct conf *c, struct job_schedule *out);
	/* the job's own state for its life (NULL: out of memory) and its end */
	void *(*state_new)(struct job *j);
	void (*state_free)(void *state);
	/* optional: the configuration is (re)loaded */
	void (*configured)(const struct conf *c);
	/* optional: a run starts (not again for its retry after a lost connection) */
	void (*prepare)(struct job *j);
	/* the run is claimed: do the work, end with job_finish() */
	void (*begin)(struct job *j);
	/* optional: a shutdown asks the run to stop: end what the job waits
	 * for on a connection of its own (the scheduler cancels only its) */
	void (*stop)(struct job *j);
	/* optional: the pause asked with job_pause() is over */
	void (*resume)(struct job *j);
	/* the log line of a run's end; duration_ms and error ("" if none) given */
	void (*log_end)(struct job *j, enum run_status st, const char *duration_ms, const char *error);
	/* optional: the run is recorded; what /metrics and STATUS= show of it */
	void (*ended)(struct job *j, enum run_status st);
	/* optional: the last pass's findings (a verification job) */
	bool (*findings)(const struct job *j, int counts[3], time_t *at);
};

extern const struct job_ops cleanup_job_ops;
extern const struct job_ops verify_job_ops;

/* a statement's result is a success */
static inline bool job_res_ok(const PGresult *res)
{
	return PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
}

const char *job_name(const struct job *j);
const struct conf *job_conf(const struct job *j);
void *job_state(const struct job *j);
struct db *job_db(const struct job *j);
/* the event loop, for a connection or a timer of the job's own */
struct event_base *job_base(const struct job *j);
/* a shutdown asked the run to stop */
bool job_stopping(const struct job *j);
/* seconds since the run started */
double job_elapsed(const struct job *j);
/* rows affected, recorded in job_runs */
int64_t job_rows(const struct job *j);
void job_set_rows(struct job *j, int64_t rows);

/* Sends the job's own work: a shutdown cancels it (the result then is an
 * error, and job_stopping() is true). */
void job_work(struct job *j, const char *sql, int n, const char *const *params, job_result_fn fn);
/* Sends a statement that a shutdown leaves to finish. */
void job_query(struct job *j, const char *sql, int n, const char *const *params, job_result_fn fn);
/* Waits ms, then calls the job's resume(); a shutdown ends the run meanwhile. */
void job_pause(struct job *j, long ms);
/* Ends the work: records the outcome, unlocks, prunes the history. */
void job_finish(struct job *j, enum run_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Logs a failed statement and ends the run as failed. */
void job_query_failed(struct job *j, const PGresult *res);

#endif
