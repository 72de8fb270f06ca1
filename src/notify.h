/* systemd notification protocol (sd_notify): READY, STATUS, STOPPING,
 * RELOADING, WATCHDOG and EXTEND_TIMEOUT_USEC.  Built without libsystemd,
 * every call is a no-op. */
#ifndef MOMENTUM_NOTIFY_H
#define MOMENTUM_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;

/* Starts the watchdog timer when systemd asked for one (WATCHDOG_USEC). */
int notify_setup(struct event_base *base);
void notify_teardown(void);

/* RELOADING=1 with MONOTONIC_USEC=; READY=1 follows when the reload is done. */
void notify_reloading(void);
/* Asks the service manager for usec more time to start or stop. */
void notify_extend_timeout(uint64_t usec);

/* Every STATUS= line is worded here; callers give data. */

/* starting */
void notify_connecting(void);
void notify_reading_migrations(const char *directory);
/* waiting for the database (target) since, before attempt number attempt,
 * in next_ms, because of error */
void notify_waiting(const char *target, time_t since, int attempt, long next_ms, const char *error);
/* the same, but the server refused the credentials: no more time is asked
 * for starting */
void notify_auth_failed(const char *target, time_t since, int attempt, long next_ms, const char *error);
/* migrating: taking the migration lock, or (holder_pid) waiting for the
 * instance that holds it */
void notify_migration_lock(const char *holder_pid);
void notify_backup(size_t pending);
void notify_compat(void);
/* migration ordinal of pending, running for seconds (< 0: just started) */
void notify_applying(const char *name, size_t ordinal, size_t pending, double seconds);
/* a statement of it timed out on a lock held by who; retry attempt of retries */
void notify_lock_retry(const char *name, size_t ordinal, size_t pending, int attempt, long long retries,
		       const char *who);
/* READY=1: the migrations are done */
void notify_migrated(size_t applied_now, size_t applied_total, const char *target);
void notify_reconnected(const char *target);
/* READY=1 after a reload; why (NULL: out of memory) it failed */
void notify_reloaded(void);
void notify_reload_failed(const char *why);
/* STOPPING=1 */
enum stop_reason { STOP_SIGNAL, STOP_MIGRATIONS_FAILED, STOP_POOLER };
void notify_stopping(enum stop_reason why);

/* "ready; verify: 1 error, 3 warnings, 0 info at 14:15; last
 * zoom-token-cleanup run: ok, 1200 rows, at 2025-01-01 02:00 UTC" */
struct job_stats;
void notify_jobs(const struct job_stats *st, size_t n);
/* a job at work, and a job paused for a replica lag seconds behind */
void notify_job_progress(const char *job, int64_t rows);
void notify_job_paused(const char *job, double lag, int64_t rows);

#endif
