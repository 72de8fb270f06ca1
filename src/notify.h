/* systemd notification protocol (sd_notify): READY, STATUS, STOPPING,
 * RELOADING, WATCHDOG and EXTEND_TIMEOUT_USEC.  Built without libsystemd,
 * every call is a no-op. */
#ifndef MOMENTUM_NOTIFY_H
#define MOMENTUM_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

/* Starts the watchdog timer when systemd asked for one (WATCHDOG_USEC). */
int notify_setup(struct event_base *base);
void notify_teardown(void);

void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* READY=1 together with a STATUS= line. */
void notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_stopping(const char *status);
/* RELOADING=1 with MONOTONIC_USEC=; READY=1 follows when the reload is done. */
void notify_reloading(void);
/* Asks the service manager for usec more time to start or stop. */
void notify_extend_timeout(uint64_t usec);

/* The STATUS= lines of the running daemon are worded here; callers give
 * data.  "ready; verify: 1 error, 3 warnings, 0 info at 14:15; last
 * zoom-token-cleanup run: ok, 1200 rows, at 2025-01-01 02:00 UTC" */
struct job_stats;
void notify_jobs(const struct job_stats *st, size_t n);
/* a job at work, and a job paused for a replica lag seconds behind */
void notify_job_progress(const char *job, int64_t rows);
void notify_job_paused(const char *job, double lag, int64_t rows);

#endif
