/* Unit tests for cron expressions: parsing, error messages, next run times
 * (calendar edges, the Vixie day-of-month/day-of-week rule, daylight saving
 * time in Europe/Berlin and America/New_York) and time zone validation. */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "cron.h"
#include "tap.h"

/* "YYYY-MM-DD HH:MM[:SS]" read as UTC. */
static time_t utc(const char *s)
{
	struct tm tm;
	int sec = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &sec) < 5)
		return (time_t)-1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_sec = sec;
	return timegm(&tm);
}

/* "YYYY-MM-DD HH:MM UTC" (seconds only when not zero), or "-1".  Rotating
 * buffers so that several results can sit in one assertion. */
static const char *fmt(time_t t)
{
	static char bufs[8][64];
	static int next_buf;
	char *buf = bufs[next_buf++ % 8];
	struct tm tm;

	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL)
		return "-1";
	strftime(buf, sizeof(bufs[0]), tm.tm_sec ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%d %H:%M UTC", &tm);
	return buf;
}

static const char *next(const char *expr, const char *tz, const char *after)
{
	struct cron_expr e;
	char err[256];

	if (cron_parse(expr, &e, err, sizeof(err)) < 0)
		return "parse error";
	return fmt(cron_next(&e, tz, utc(after)));
}

/* The next n runs after `after`, each as "MM-DD HH:MM" (UTC), joined by ", ":
 * shows at a glance that nothing runs twice and nothing is skipped. */
static const char *runs(const char *expr, const char *tz, const char *after, int n)
{
	static char buf[512];
	struct cron_expr e;
	char err[256];
	time_t t = utc(after);
	size_t used = 0;
	int i;

	if (cron_parse(expr, &e, err, sizeof(err)) < 0)
		return "parse error";
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		struct tm tm;

		t = cron_next(&e, tz, t);
		if (t == (time_t)-1) {
			snprintf(buf + used, sizeof(buf) - used, "%s-1", i ? ", " : "");
			break;
		}
		gmtime_r(&t, &tm);
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%02d-%02d %02d:%02d",
					 i ? ", " : "", tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
	}
	return buf;
}

static const char *err_of(const char *expr)
{
	static char err[256];
	struct cron_expr e;

	if (cron_parse(expr, &e, err, sizeof(err)) == 0)
		return "(parsed)";
	return err;
}

/* The set bits of a field as "0,15,30,45". */
static const char *bits(uint64_t set)
{
	static char bufs[4][256];
	static int next_buf;
	char *buf = bufs[next_buf++ % 4];
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < 64; i++)
		if ((set >> i) & 1)
			used += (size_t)snprintf(buf + used, 256 - used, "%s%d", used ? "," : "", i);
	return buf;
}

static struct cron_expr parsed(const char *expr)
{
	struct cron_expr e;
	char err[256];

	memset(&e, 0xa5, sizeof(e));
	if (cron_parse(expr, &e, err, sizeof(err)) < 0) {
		printf("# unexpected parse error for \"%s\": %s\n", expr, err);
		memset(&e, 0, sizeof(e));
	}
	return e;
}

static bool same(const struct cron_expr *a, const struct cron_expr *b)
{
	return a->minutes == b->minutes && a->hours == b->hours && a->mdays == b->mdays &&
	       a->months == b->months && a->wdays == b->wdays &&
	       a->mday_star == b->mday_star && a->wday_star == b->wday_star;
}

/* Brute force over UTC minutes with gmtime_r as the oracle, for checking
 * cron_next's skipping against something too simple to be wrong. */
static time_t naive_next(const struct cron_expr *e, time_t after, int max_days)
{
	time_t t = after - after % 60 + 60, end = after + (time_t)max_days * 86400;

	for (; t <= end; t += 60) {
		struct tm tm;
		bool dom, dow, day;

		gmtime_r(&t, &tm);
		dom = (e->mdays >> tm.tm_mday) & 1;
		dow = (e->wdays >> tm.tm_wday) & 1;
		day = e->mday_star || e->wday_star ? dom && dow : dom || dow;
		if (((e->minutes >> tm.tm_min) & 1) && ((e->hours >> tm.tm_hour) & 1) &&
		    ((e->months >> (tm.tm_mon + 1)) & 1) && day)
			return t;
	}
	return (time_t)-1;
}

static void test_parse(void)
{
	struct cron_expr e, m;
	char err[256];

	e = parsed("* * * * *");
	ok(e.minutes == (UINT64_C(1) << 60) - 1 && e.hours == 0xffffff && e.mdays == 0xfffffffe &&
	   e.months == 0x1ffe && e.wdays == 0x7f, "\"* * * * *\" sets every value");
	ok(e.mday_star && e.wday_star, "both day fields are stars");

	e = parsed("5 4 3 2 1");
	ok(e.minutes == UINT64_C(1) << 5 && e.hours == 1u << 4 && e.mdays == 1u << 3 &&
	   e.months == 1u << 2 && e.wdays == 1u << 1, "single values");
	ok(!e.mday_star && !e.wday_star, "single values are not stars");

	is_str(bits(parsed("1,2,30 * * * *").minutes), "1,2,30", "list");
	is_str(bits(parsed("10-15 * * * *").minutes), "10,11,12,13,14,15", "range");
	is_str(bits(parsed("*/15 * * * *").minutes), "0,15,30,45", "star step");
	is_str(bits(parsed("10-30/10 * * * *").minutes), "10,20,30", "range step");
	is_str(bits(parsed("5/20 * * * *").minutes), "5,25,45", "a/n means a-59/n");
	is_str(bits(parsed("0 */6 * * *").hours), "0,6,12,18", "hour step");
	is_str(bits(parsed("0 1-3,22/1 * * *").hours), "1,2,3,22,23", "list of range and a/n");
	is_str(bits(parsed("0 0 1,15-17 * *").mdays), "1,15,16,17", "day-of-month list");
	is_str(bits(parsed("00 07 * * *").minutes), "0", "leading zeros");
	is_str(bits(parsed("0 0 * jan,MAR,Dec *").months), "1,3,12", "month names, any case");
	is_str(bits(parsed("0 0 * jan-mar *").months), "1,2,3", "month name range");
	is_str(bits(parsed("0 0 * */3 *").months), "1,4,7,10", "month step from 1");
	is_str(bits(parsed("0 0 * * mon-fri").wdays), "1,2,3,4,5", "weekday name range");
	is_str(bits(parsed("0 0 * * SUN,sat").wdays), "0,6", "weekday names, any case");
	is_str(bits(parsed("0 0 * * 7").wdays), "0", "7 is Sunday");
	is_str(bits(parsed("0 0 * * 5-7").wdays), "0,5,6", "range up to 7 includes Sunday");
	is_str(bits(parsed("0 0 * * sat-sun").wdays), "0,6", "sat-sun wraps to Sunday");
	is_str(bits(parsed("0 0 * * */2").wdays), "0,2,4,6", "weekday step stops at Saturday");
	is_str(bits(parsed("0 0 * * 1/2").wdays), "1,3,5", "weekday a/n does not reach 7");
	e = parsed("0 0 */2 * mon");
	ok(e.mday_star && !e.wday_star, "a stepped star counts as a star (Vixie)");
	e = parsed("0 0 1-31 * mon");
	ok(!e.mday_star, "1-31 is not a star");
	e = parsed(" \t0  12\t* *   *  ");
	ok(e.minutes == 1 && e.hours == 1u << 12, "extra whitespace is fine");

	e = parsed("@hourly");
	m = parsed("0 * * * *");
	ok(same(&e, &m), "@hourly");
	e = parsed("@daily");
	m = parsed("0 0 * * *");
	ok(same(&e, &m), "@daily");
	e = parsed("@midnight");
	ok(same(&e, &m), "@midnight");
	e = parsed("  @DAILY  ");
	ok(same(&e, &m), "macros ignore case and surrounding space");
	e = parsed("@weekly");
	m = parsed("0 0 * * 0");
	ok(same(&e, &m), "@weekly");
	e = parsed("@monthly");
	m = parsed("0 0 1 * *");
	ok(same(&e, &m), "@monthly");
	e = parsed("@yearly");
	m = parsed("0 0 1 1 *");
	ok(same(&e, &m), "@yearly");
	e = parsed("@annually");
	ok(same(&e, &m), "@annually");

	m = (struct cron_expr){ .minutes = 42, .hours = 7, .mdays = 3, .months = 9, .wdays = 5,
				.mday_star = true, .wday_star = false };
	e = m;
	ok(cron_parse("0 24 * * *", &e, err, sizeof(err)) == -1 && same(&e, &m),
	   "failure returns -1 and leaves *out alone");
	ok(cron_parse("0 24 * * *", &e, NULL, 0) == -1, "err may be NULL");
	ok(cron_parse("0 0 * * *", &e, NULL, 0) == 0, "err may be NULL on success");
	ok(cron_parse(NULL, &e, err, sizeof(err)) == -1, "NULL text refused");
	ok(cron_parse("0 24 * * *", &e, err, 12) == -1 && strlen(err) == 11,
	   "short err buffer is truncated, not overrun");
}

static void test_errors(void)
{
	is_str(err_of("60 * * * *"), "field 1 (minute): value 60 out of range (allowed 0-59)", "minute 60");
	is_str(err_of("0 24 * * *"), "field 2 (hour): value 24 out of range (allowed 0-23)", "hour 24");
	is_str(err_of("0 0 0 * *"), "field 3 (day-of-month): value 0 out of range (allowed 1-31)",
	       "day-of-month 0");
	is_str(err_of("0 0 32 * *"), "field 3 (day-of-month): value 32 out of range (allowed 1-31)",
	       "day-of-month 32");
	is_str(err_of("0 0 * 13 *"), "field 4 (month): value 13 out of range (allowed 1-12 or jan-dec)",
	       "month 13");
	is_str(err_of("0 0 * 0 *"), "field 4 (month): value 0 out of range (allowed 1-12 or jan-dec)",
	       "month 0");
	is_str(err_of("0 0 * jna *"), "field 4 (month): unknown name \"jna\" (allowed 1-12 or jan-dec)",
	       "misspelt month");
	is_str(err_of("0 0 * january *"),
	       "field 4 (month): unknown name \"january\" (allowed 1-12 or jan-dec)",
	       "only three-letter month names");
	is_str(err_of("0 0 * * 8"), "field 5 (day-of-week): value 8 out of range (allowed 0-7 or sun-sat)",
	       "weekday 8");
	is_str(err_of("0 0 * * fry"),
	       "field 5 (day-of-week): unknown name \"fry\" (allowed 0-7 or sun-sat)", "misspelt weekday");
	is_str(err_of("abc * * * *"), "field 1 (minute): unknown name \"abc\" (allowed 0-59)",
	       "names only where they exist");
	is_str(err_of("0 0 * *"), "expected 5 fields, got 4", "four fields");
	is_str(err_of("0 0 * * * /bin/true"), "expected 5 fields, got 6", "six fields");
	is_str(err_of(""), "expected 5 fields, got 0", "empty");
	is_str(err_of("   "), "expected 5 fields, got 0", "blank");
	is_str(err_of("*/0 * * * *"), "field 1 (minute): step 0 is not allowed", "step 0");
	is_str(err_of("0 0 1-10/0 * *"), "field 3 (day-of-month): step 0 is not allowed", "range step 0");
	is_str(err_of("*/90 * * * *"), "field 1 (minute): step 90 out of range (allowed 1-60)",
	       "step wider than the field");
	contains(err_of("*/ * * * *"), "field 1 (minute): expected a number after '/'", "missing step");
	contains(err_of("*/-5 * * * *"), "negative step", "negative step");
	is_str(err_of("@daly"),
	       "unknown macro \"@daly\" (allowed: @hourly @daily @midnight @weekly @monthly @yearly @annually)",
	       "misspelt macro");
	contains(err_of("@reboot"), "unknown macro \"@reboot\"", "@reboot means nothing here");
	contains(err_of("@daily 5"), "unexpected text after @daily", "text after a macro");
	contains(err_of("1,,2 * * * *"), "field 1 (minute): empty list element", "empty list element");
	contains(err_of("0 1, * * *"), "field 2 (hour): empty list element", "trailing comma");
	contains(err_of("0 0 ,1 * *"), "field 3 (day-of-month): empty list element", "leading comma");
	contains(err_of("5x * * * *"), "field 1 (minute): unexpected character 'x'", "trailing garbage");
	contains(err_of("0 0 * * mon!"), "field 5 (day-of-week): unexpected character '!'",
		 "garbage after a name");
	contains(err_of("1-5-7 * * * *"), "unexpected character '-'", "double range");
	contains(err_of("*/5/2 * * * *"), "unexpected character '/'", "double step");
	contains(err_of("** * * * *"), "unexpected character '*'", "double star");
	is_str(err_of("5-1 * * * *"), "field 1 (minute): range 5-1 is reversed (allowed 0-59, low-high)",
	       "reversed range");
	contains(err_of("0 0 * dec-jan *"), "field 4 (month): range 12-1 is reversed", "reversed names");
	contains(err_of("0001 * * * *"), "field 1 (minute): number \"0001\" has too many digits",
		 "too many digits");
	contains(err_of("99999999999999999999 * * * *"), "has too many digits", "huge number");
	contains(err_of("0 0 1/9999 * *"), "step \"9999\" has too many digits", "huge step");
	is_str(err_of("-5 * * * *"), "field 1 (minute): negative value \"-5\" is not allowed (allowed 0-59)",
	       "negative number");
	contains(err_of("0 0-3 * * *"), "(parsed)", "zero-based range is fine");
	contains(err_of("5- * * * *"), "field 1 (minute): missing value at end of field", "open range");
	contains(err_of("0 0 * * 1-"), "field 5 (day-of-week): missing value", "open weekday range");
	contains(err_of("0 \x01 * * *"), "field 2 (hour): unexpected byte 0x01", "control character");
}

static void test_next_utc(void)
{
	struct cron_expr e;
	char err[256];
	int i, bad;

	is_str(next("*/15 * * * *", "UTC", "2026-01-01 00:00"), "2026-01-01 00:15 UTC", "strictly after");
	is_str(next("*/15 * * * *", "", "2026-01-01 00:07:30"), "2026-01-01 00:15 UTC",
	       "mid-minute, \"\" is UTC");
	is_str(next("*/15 * * * *", NULL, "2026-01-01 00:14:59"), "2026-01-01 00:15 UTC",
	       "one second before, NULL is UTC");
	is_str(next("* * * * *", "UTC", "2026-01-01 00:00:01"), "2026-01-01 00:01 UTC", "every minute");
	is_str(next("0 * * * *", "UTC", "2026-01-31 23:30"), "2026-02-01 00:00 UTC",
	       "hourly across a month end");
	is_str(next("@daily", "UTC", "2026-12-31 12:00"), "2027-01-01 00:00 UTC", "daily across a year end");
	is_str(next("59 23 31 12 *", "UTC", "2026-12-31 23:59"), "2027-12-31 23:59 UTC",
	       "last minute of the year, a year later");
	is_str(next("0 0 1 * *", "UTC", "2026-01-15 08:00"), "2026-02-01 00:00 UTC", "monthly");
	is_str(next("@weekly", "UTC", "2026-01-01 00:00"), "2026-01-04 00:00 UTC", "weekly is Sunday");
	is_str(next("0 9 * * mon-fri", "UTC", "2026-01-09 10:00"), "2026-01-12 09:00 UTC",
	       "weekdays skip the weekend");
	is_str(next("30 4 * * 7", "UTC", "2026-01-01 00:00"), "2026-01-04 04:30 UTC", "7 runs on Sunday");
	is_str(next("0 12 * feb *", "UTC", "2026-01-31 13:00"), "2026-02-01 12:00 UTC", "month by name");

	/* April 2026: Fridays 3, 10, 17, 24; the 13th is a Monday. */
	is_str(runs("0 0 13 * 5", "UTC", "2026-04-01 00:00", 5),
	       "04-03 00:00, 04-10 00:00, 04-13 00:00, 04-17 00:00, 04-24 00:00",
	       "both day fields restricted: 13th OR Friday");
	is_str(runs("0 0 13 * *", "UTC", "2026-04-01 00:00", 2), "04-13 00:00, 05-13 00:00",
	       "weekday star: only the 13th");
	is_str(runs("0 0 * * fri", "UTC", "2026-04-01 00:00", 2), "04-03 00:00, 04-10 00:00",
	       "day-of-month star: only Fridays");
	is_str(runs("0 0 */2 * mon", "UTC", "2026-04-01 00:00", 2), "04-13 00:00, 04-27 00:00",
	       "stepped star day-of-month ANDs with the weekday (Vixie)");

	is_str(next("0 0 29 2 *", "UTC", "2026-03-01 00:00"), "2028-02-29 00:00 UTC", "Feb 29 two years on");
	is_str(next("0 0 29 2 *", "Europe/Berlin", "2026-03-01 00:00"), "2028-02-28 23:00 UTC",
	       "Feb 29 midnight in Berlin");
	is_str(next("0 0 31 * *", "UTC", "2026-04-01 00:00"), "2026-05-31 00:00 UTC",
	       "31st skips April");
	is_str(runs("0 0 31 * *", "UTC", "2026-01-31 00:00", 4), "03-31 00:00, 05-31 00:00, 07-31 00:00, 08-31 00:00",
	       "31st only in long months");
	is_str(next("0 0 30 2 *", "UTC", "2026-01-01 00:00"), "-1", "Feb 30 never happens");
	is_str(next("0 0 31 4,6,9,11 *", "Europe/Berlin", "2026-01-01 00:00"), "-1",
	       "31st of a short month never happens");
	is_str(next("0 0 * * *", "Not/AZone", "2026-01-01 00:00"), "-1", "unknown zone fails");
	is_str(next("0 0 * * *", "UTC", "1969-12-31 12:00"), "1970-01-01 00:00 UTC", "before the epoch");

	/* Compare with brute force at pseudo-random instants in 2026-2027. */
	{
		static const char *const exprs[] = {
			"0 0 13 * 5", "*/7 3-5 * * mon", "15 10 1,15 * *", "0 0 */2 * sun", "59 23 * 2 *",
			"30 6 29-31 * *",
		};
		size_t k;
		uint32_t seed = 12345;

		for (k = 0; k < sizeof(exprs) / sizeof(exprs[0]); k++) {
			if (cron_parse(exprs[k], &e, err, sizeof(err)) < 0) {
				ok(0, "parse %s: %s", exprs[k], err);
				continue;
			}
			bad = 0;
			for (i = 0; i < 25; i++) {
				time_t after, want, got;

				seed = seed * 1103515245u + 12345u;
				after = utc("2026-01-01 00:00") + (time_t)(seed % (2u * 365 * 86400));
				want = naive_next(&e, after, 400);
				got = cron_next(&e, "UTC", after);
				if (want != got) {
					printf("#   %s after %s: got %s, want %s\n", exprs[k], fmt(after),
					       fmt(got), fmt(want));
					bad++;
				}
			}
			ok(bad == 0, "\"%s\" agrees with brute force", exprs[k]);
		}
	}
}

static void test_dst(void)
{
	/* Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC,
	 * so 02:00-02:59 does not exist. */
	is_str(runs("30 2 * * *", "Europe/Berlin", "2026-03-27 12:00", 3),
	       "03-28 01:30, 03-29 01:00, 03-30 00:30",
	       "Berlin spring forward: 02:30 runs once, at 03:00 CEST, right after the gap");
	is_str(next("30 2 * * *", "Europe/Berlin", "2026-03-29 01:00"), "2026-03-30 00:30 UTC",
	       "Berlin spring forward: not again after the gap");
	is_str(next("30 3 * * *", "Europe/Berlin", "2026-03-28 12:00"), "2026-03-29 01:30 UTC",
	       "Berlin spring forward: 03:30 is just 03:30 CEST");
	is_str(next("30 1 * * *", "Europe/Berlin", "2026-03-28 12:00"), "2026-03-29 00:30 UTC",
	       "Berlin spring forward: 01:30 is just 01:30 CET");
	is_str(runs("*/15 * * * *", "Europe/Berlin", "2026-03-29 00:30", 4),
	       "03-29 00:45, 03-29 01:00, 03-29 01:15, 03-29 01:30",
	       "Berlin spring forward: */15 runs once at the end of the gap, then carries on");
	is_str(runs("0 2 * * *", "Europe/Berlin", "2026-03-28 12:00", 2), "03-29 01:00, 03-30 00:00",
	       "Berlin spring forward: 02:00 runs at 03:00 CEST");

	/* Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC,
	 * so 02:00-02:59 happens twice. */
	is_str(runs("30 2 * * *", "Europe/Berlin", "2026-10-24 12:00", 2), "10-25 00:30, 10-26 01:30",
	       "Berlin fall back: 02:30 runs once, at the first 02:30 (CEST)");
	is_str(next("30 2 * * *", "Europe/Berlin", "2026-10-25 00:40"), "2026-10-26 01:30 UTC",
	       "Berlin fall back: not again at the second 02:30 (CET)");
	is_str(next("30 2 * * *", "Europe/Berlin", "2026-10-25 01:10"), "2026-10-26 01:30 UTC",
	       "Berlin fall back: asked during the second pass, next is tomorrow");
	is_str(runs("*/15 * * * *", "Europe/Berlin", "2026-10-24 23:30", 7),
	       "10-24 23:45, 10-25 00:00, 10-25 00:15, 10-25 00:30, 10-25 00:45, 10-25 02:00, 10-25 02:15",
	       "Berlin fall back: */15 runs through the first pass, skips the second");
	is_str(next("*/15 * * * *", "Europe/Berlin", "2026-10-25 01:20"), "2026-10-25 02:00 UTC",
	       "Berlin fall back: */15 asked during the second pass waits for 03:00 CET");
	is_str(runs("@hourly", "Europe/Berlin", "2026-10-24 23:30", 3), "10-25 00:00, 10-25 02:00, 10-25 03:00",
	       "Berlin fall back: hourly does not repeat 02:00");

	/* America/New_York, 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC. */
	is_str(runs("30 2 * * *", "America/New_York", "2026-03-07 12:00", 2), "03-08 07:00, 03-09 06:30",
	       "New York spring forward: 02:30 runs once, at 03:00 EDT");
	is_str(runs("*/15 * * * *", "America/New_York", "2026-03-08 06:30", 3), "03-08 06:45, 03-08 07:00, 03-08 07:15",
	       "New York spring forward: */15 across the gap");
	is_str(next("30 3 * * *", "America/New_York", "2026-03-08 00:00"), "2026-03-08 07:30 UTC",
	       "New York spring forward: 03:30 EDT as usual");

	/* America/New_York, 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC,
	 * so 01:00-01:59 happens twice. */
	is_str(runs("30 2 * * *", "America/New_York", "2026-10-30 12:00", 3), "10-31 06:30, 11-01 07:30, 11-02 07:30",
	       "New York fall back: 02:30 happens once, runs once");
	is_str(runs("30 1 * * *", "America/New_York", "2026-10-31 12:00", 2), "11-01 05:30, 11-02 06:30",
	       "New York fall back: 01:30 runs at the first 01:30 (EDT) only");
	is_str(runs("*/15 * * * *", "America/New_York", "2026-11-01 05:30", 3), "11-01 05:45, 11-01 07:00, 11-01 07:15",
	       "New York fall back: */15 skips the second 01:00-01:59");
	is_str(next("*/15 * * * *", "America/New_York", "2026-11-01 06:20"), "2026-11-01 07:00 UTC",
	       "New York fall back: asked during the second pass, waits for 02:00 EST");

	/* Southern hemisphere, and a zone without DST, for good measure. */
	is_str(next("30 2 * * *", "Australia/Sydney", "2026-10-03 12:00"), "2026-10-03 16:00 UTC",
	       "Sydney spring forward (2026-10-04): 02:30 runs at 03:00 AEDT");
	is_str(next("0 9 * * *", "Asia/Kolkata", "2026-06-01 00:00"), "2026-06-01 03:30 UTC",
	       "half-hour offset");
}

static void test_timezones(void)
{
	struct cron_expr e;
	const char *tz;

	ok(cron_timezone_valid("Europe/Berlin"), "Europe/Berlin is valid");
	ok(cron_timezone_valid("America/New_York"), "America/New_York is valid");
	ok(cron_timezone_valid("UTC"), "UTC is valid");
	ok(cron_timezone_valid(""), "\"\" is valid (UTC)");
	ok(cron_timezone_valid("Etc/GMT+5"), "Etc/GMT+5 is valid");
	ok(!cron_timezone_valid(NULL), "NULL is not");
	ok(!cron_timezone_valid("Not/AZone"), "Not/AZone is not");
	ok(!cron_timezone_valid("../etc/passwd"), "../etc/passwd is not");
	ok(!cron_timezone_valid("Europe/../Europe/Berlin"), "\"..\" anywhere is refused");
	ok(!cron_timezone_valid("/usr/share/zoneinfo/Europe/Berlin"), "absolute paths are refused");
	ok(!cron_timezone_valid("Europe"), "a directory is not a zone");
	ok(!cron_timezone_valid("Europe/Berlin "), "trailing space is refused");
	ok(!cron_timezone_valid("Europe/Berlin;rm"), "odd characters are refused");
	ok(!cron_timezone_valid("zone1970.tab"), "a non-zone file is refused");

	/* cron_next borrows TZ and must give it back. */
	e = parsed("0 0 * * *");
	setenv("TZ", "America/New_York", 1);
	tzset();
	cron_next(&e, "Europe/Berlin", utc("2026-01-01 00:00"));
	tz = getenv("TZ");
	is_str(tz, "America/New_York", "TZ is restored");
	unsetenv("TZ");
	tzset();
	cron_next(&e, "Europe/Berlin", utc("2026-01-01 00:00"));
	ok(getenv("TZ") == NULL, "unset TZ stays unset");
}

int main(void)
{
	test_parse();
	test_errors();
	test_next_utc();
	test_dst();
	test_timezones();
	return done_testing();
}
