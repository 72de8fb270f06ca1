#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "notify.h"
#include "scheduler.h"
#include "verify.h"

static struct event *watchdog_timer;

#ifdef HAVE_LIBSYSTEMD
static void send_state(const char *state)
{
	int r = sd_notify(0, state);

	if (r < 0)
		log_debug("sd_notify failed: %d", r);
}

static void watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	send_state("WATCHDOG=1");
}
#else
static void send_state(const char *state)
{
	(void)state;
}
#endif

int notify_setup(struct event_base *base)
{
#ifdef HAVE_LIBSYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		struct timeval tv = { .tv_sec = (time_t)(usec / 2 / 1000000),
				      .tv_usec = (suseconds_t)(usec / 2 % 1000000) };

		watchdog_timer = event_new(base, -1, EV_PERSIST, watchdog_tick, NULL);
		if (watchdog_timer == NULL || event_add(watchdog_timer, &tv) < 0)
			return -1;
		log_debug("watchdog enabled, pinging every %llu ms",
			  (unsigned long long)(usec / 2000));
	}
#else
	(void)base;
#endif
	return 0;
}

void notify_teardown(void)
{
	if (watchdog_timer != NULL) {
		event_free(watchdog_timer);
		watchdog_timer = NULL;
	}
}

/* STATUS= carries text the daemon did not write (the server's errors, an
 * application_name of a blocking session): escaped, it stays one line that
 * cannot drive the terminal of whoever runs "systemctl status". */
static void send_formatted(const char *prefix, const char *fmt, va_list ap)
{
	char status[512], msg[600];
	char *safe;

	vsnprintf(status, sizeof(status), fmt, ap);
	safe = escaped_dup(status, ESCAPE_LINE);
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, safe ? safe : "(out of memory)");
	free(safe);
	send_state(msg);
}

static void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify_status(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_formatted("", fmt, ap);
	va_end(ap);
}

static void notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notify_ready(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	send_formatted("READY=1\n", fmt, ap);
	va_end(ap);
}

void notify_stopping(enum stop_reason why)
{
	static const char *const status[] = {
		[STOP_SIGNAL] = "stopping",
		[STOP_MIGRATIONS_FAILED] = "migrations failed",
		[STOP_POOLER] = "the connection cannot hold the migration lock",
	};
	char msg[600];

	snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=%s", status[why]);
	send_state(msg);
}

void notify_reloading(void)
{
	char msg[96];
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	send_state(msg);
}

void notify_extend_timeout(uint64_t usec)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)usec);
	send_state(msg);
}

void notify_connecting(void)
{
	notify_status("connecting to the database");
}

void notify_reading_migrations(const char *directory)
{
	notify_status("reading migrations from %s", directory);
}

/* "14:02:07 UTC" */
static void time_of_day(time_t t, char *out, size_t size)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, size, "%H:%M:%S %Z", &tm);
}

void notify_waiting(const char *target, time_t since, int attempt, long next_ms, const char *error)
{
	char when[32];

	time_of_day(since, when, sizeof(when));
	notify_status("waiting for the database %s since %s (attempt %d, next in %.1f s): %s",
		      target, when, attempt, (double)next_ms / 1000, error);
}

void notify_auth_failed(const char *target, time_t since, int attempt, long next_ms, const char *error)
{
	char when[32];

	time_of_day(since, when, sizeof(when));
	notify_status("authentication failed: the database %s refuses the daemon's credentials since %s "
		      "(attempt %d, next in %.1f s; the start timeout is not extended): %s",
		      target, when, attempt, (double)next_ms / 1000, error);
}

void notify_migration_lock(const char *holder_pid)
{
	if (holder_pid == NULL)
		notify_status("taking the migration lock");
	else
		notify_status("waiting for the migration lock held by another instance (backend pid %s)", holder_pid);
}

void notify_backup(size_t pending)
{
	notify_status("running the backup command before applying %zu migration(s)", pending);
}

void notify_compat(void)
{
	notify_status("creating missing Supabase objects (compatibility step)");
}

void notify_applying(const char *name, size_t ordinal, size_t pending, double seconds)
{
	if (seconds < 0)
		notify_status("applying %s (%zu/%zu)", name, ordinal, pending);
	else
		notify_status("applying %s (%zu/%zu, %.0f s)", name, ordinal, pending, seconds);
}

void notify_lock_retry(const char *name, size_t ordinal, size_t pending, int attempt, long long retries,
		       const char *who)
{
	notify_status("applying %s (%zu/%zu): waiting for a lock, retry %d of %lld; blocked by %s", name, ordinal,
		      pending, attempt, retries, who);
}

void notify_migrated(size_t applied_now, size_t applied_total, const char *target)
{
	notify_ready("ready: %zu migration(s) applied now, %zu in all; database %s", applied_now, applied_total,
		     target);
}

void notify_reconnected(const char *target)
{
	notify_status("ready; database %s reconnected", target);
}

void notify_reloaded(void)
{
	notify_ready("ready; configuration reloaded");
}

void notify_reload_failed(const char *why)
{
	if (why != NULL)
		notify_ready("ready; reload failed (%s), running with the previous configuration", why);
	else
		notify_ready("ready; reload failed, running with the previous configuration");
}

/* One job's part of the summary, or "" when it has none yet. */
static void job_summary(const struct job_stats *st, char *buf, size_t size)
{
	char when[64], counts[96];
	struct tm tm;

	buf[0] = '\0';
	if (st->has_findings) {
		if (st->findings_at == 0)
			return;
		localtime_r(&st->findings_at, &tm);
		strftime(when, sizeof(when), "%H:%M", &tm);
		findings_summary(st->findings, counts, sizeof(counts));
		snprintf(buf, size, "%s: %s at %s", st->job, counts, when);
	} else if (st->last_end != 0) {
		localtime_r(&st->last_end, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M %Z", &tm);
		snprintf(buf, size, "last %s run: %s, %" PRId64 " rows, at %s", st->job,
			 run_status_name(st->last_status), st->last_rows, when);
	}
}

void notify_jobs(const struct job_stats *st, size_t n)
{
	char line[512] = "", part[200];
	size_t i, used = 0;
	int findings;

	/* findings first: what is wrong matters more than what ran */
	for (findings = 1; findings >= 0; findings--) {
		for (i = 0; i < n; i++) {
			if (st[i].has_findings != (bool)findings)
				continue;
			job_summary(&st[i], part, sizeof(part));
			if (part[0] != '\0' && used < sizeof(line))
				used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%s", used ? "; " : "", part);
		}
	}
	notify_status("ready; %s", line);
}

void notify_job_progress(const char *job, int64_t rows)
{
	notify_status("ready; job %s running: %" PRId64 " rows deleted", job, rows);
}

void notify_job_paused(const char *job, double lag, int64_t rows)
{
	notify_status("ready; job %s paused: a replica is %.0f s behind (%" PRId64 " rows deleted)", job, lag, rows);
}
