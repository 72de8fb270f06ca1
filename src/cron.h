/* Cron expressions: five fields (minute hour day-of-month month day-of-week)
 * with lists, ranges, steps, month and weekday names, and @hourly @daily
 * @midnight @weekly @monthly @yearly @annually; Vixie-cron semantics. */
#ifndef MOMENTUM_CRON_H
#define MOMENTUM_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cron_expr {
	uint64_t minutes;  /* bit n: minute n, 0-59 */
	uint32_t hours;    /* 0-23 */
	uint32_t mdays;    /* bit n: day n, 1-31 */
	uint16_t months;   /* bit n: month n, 1-12 */
	uint8_t wdays;     /* bit n: weekday n, 0-6, Sunday = 0 (7 is accepted as Sunday) */
	bool mday_star;    /* day-of-month field was "*" (or started with "*", as Vixie cron does) */
	bool wday_star;
};

/* Returns 0, or -1 with err like: field 2 (hour): value 24 out of range (allowed 0-23)
 * / field 4 (month): unknown name "jna" (allowed 1-12 or jan-dec) / expected 5 fields, got 4 /
 * field 1 (minute): step 0 is not allowed / unknown macro "@daly" (allowed: @hourly @daily ...).
 * *out is only written on success; err may be NULL. */
int cron_parse(const char *text, struct cron_expr *out, char *err, size_t errsize);

/* The first scheduled time strictly after `after` (a UTC time_t), reading the
 * fields as wall-clock time in time zone tz (an IANA name such as
 * "Europe/Berlin"; "UTC", "" or NULL for UTC). Returns (time_t)-1 on failure
 * (unknown zone, or no matching time within 5 years, e.g. "0 0 30 2 *").
 *
 * Daylight saving time: a wall-clock time that does not exist (spring forward)
 * runs at the first instant after the gap; a wall-clock time that happens
 * twice (fall back) runs only at its first occurrence, so the second pass
 * through the repeated hour runs nothing.  No scheduled wall-clock time ever
 * runs twice and none is skipped.
 *
 * Temporarily sets the TZ environment variable (restoring it before
 * returning), so it must not run concurrently with other threads that look
 * at the time zone. */
time_t cron_next(const struct cron_expr *e, const char *tz, time_t after);

/* true if tz names a time zone this machine knows (TZif file under
 * /usr/share/zoneinfo, or $TZDIR as glibc reads it, or "UTC"; "" also means
 * UTC); used to validate configuration.  Names with "..", a leading "/" or
 * characters outside [A-Za-z0-9_+-/] are refused without looking. */
bool cron_timezone_valid(const char *tz);

#endif
