/* Scheduled jobs on libevent timers.  Each job has its own connection; a
 * tick runs on exactly one instance (a session advisory lock per job plus
 * one job_runs row per job and scheduled time), every run is recorded in
 * momentum_maintd.job_runs, and a run missed while the daemon was down is
 * caught up once after start.  The jobs' own work lives in job_cleanup.c
 * and job_verify.c, behind the ops table of job.h. */
#ifndef MOMENTUM_SCHEDULER_H
#define MOMENTUM_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct conf;
struct scheduler;
struct job;

enum run_status { RUN_OK, RUN_FAILED, RUN_SKIPPED, RUN_CANCELLED };

/* Called when a run ends (also for runs started by scheduler_run_now). */
typedef void (*run_done_cb)(const char *job, enum run_status st, int64_t rows, const char *error, void *arg);

struct scheduler *scheduler_new(struct event_base *base, const struct conf *conf, const char *password);
void scheduler_free(struct scheduler *s);
void scheduler_set_done_cb(struct scheduler *s, run_done_cb cb, void *arg);
/* Arms the timers and starts catch-up runs; call after READY. */
int scheduler_start(struct scheduler *s);
/* New schedules, zones and settings after a reload; a running job goes on. */
int scheduler_reconfigure(struct scheduler *s, const struct conf *conf);
/* Runs job now, once (run-job); false if there is no such job. */
bool scheduler_run_now(struct scheduler *s, const char *job);
/* Cancels running jobs and records them; done() runs when all are recorded. */
void scheduler_stop(struct scheduler *s, void (*done)(void *arg), void *arg);
/* True while any job runs. */
bool scheduler_busy(const struct scheduler *s);
/* The last verification pass's findings by level; false before the first. */
bool scheduler_verify_counts(const struct scheduler *s, int counts[3], time_t *at);

const char *run_status_name(enum run_status st);

/* What each job did, for /metrics and STATUS= (data; notify.c words it). */
#define SCHEDULER_MAX_JOBS 8
struct job_stats {
	const char *job;
	time_t last_success;
	double last_duration;
	int64_t last_rows;
	uint64_t runs[4];          /* by enum run_status */
	time_t last_end;           /* when the last run ended; 0: none yet */
	enum run_status last_status;
	/* a verification job: its last pass's findings by level, and when it
	 * ended (0: no pass yet) */
	bool has_findings;
	int findings[3];
	time_t findings_at;
};
/* Fills one entry per job (zoom-token-cleanup, verify); returns how many. */
size_t scheduler_stats(const struct scheduler *s, struct job_stats out[SCHEDULER_MAX_JOBS]);

#endif
