#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cron.h"

/* How far cron_next looks before giving up: long enough for any Feb 29
 * schedule (except across 2100, which is not a leap year), short enough that
 * an impossible one like "0 0 30 2 *" fails after a few hundred steps. */
#define CRON_SEARCH_YEARS 5

/* Values are at most two digits; three are read so that "100" gets the
 * friendlier "out of range" message, anything longer is refused outright
 * (and can never overflow an int). */
#define CRON_MAX_DIGITS 3

/* Refuse instants this far from 1970 (about 31,000 years) so that the
 * calendar arithmetic below cannot overflow. */
#define CRON_MAX_ABS_TIME 1000000000000LL

struct field_spec {
	const char *name;
	int min, max;		/* values accepted when written out */
	int star_max;		/* upper end of "*" and "a/n" */
	const char *allowed;	/* for error messages */
	const char *const *names; /* three-letter names, or NULL */
	int name_base;		/* value of names[0] */
	int nnames;
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
};

static const char *const wday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat",
};

/* Day-of-week accepts 7 for Sunday but "*" and "a/n" stop at 6: otherwise
 * "1/2" would mean Monday, Wednesday, Friday and Sunday. */
static const struct field_spec fields[5] = {
	{ "minute", 0, 59, 59, "0-59", NULL, 0, 0 },
	{ "hour", 0, 23, 23, "0-23", NULL, 0, 0 },
	{ "day-of-month", 1, 31, 31, "1-31", NULL, 0, 0 },
	{ "month", 1, 12, 12, "1-12 or jan-dec", month_names, 1, 12 },
	{ "day-of-week", 0, 7, 6, "0-7 or sun-sat", wday_names, 0, 7 },
};

struct macro {
	const char *name;
	const char *expansion;
};

static const struct macro macros[] = {
	{ "@hourly", "0 * * * *" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@monthly", "0 0 1 * *" },
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
};

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsize == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
}

/* Error about field number idx (0-based), prefixed the same way every time so
 * that the user can find the field however the message ends. */
__attribute__((format(printf, 5, 6)))
static void field_err(char *err, size_t errsize, int idx, const struct field_spec *f,
		      const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(err, errsize, "field %d (%s): %s", idx + 1, f->name, msg);
}

/* Quotes a bad token, at most 32 bytes of it, for error messages. */
static int shown_len(const char *s, const char *end)
{
	return end - s > 32 ? 32 : (int)(end - s);
}

/* Reads one value, a number or (in the month and weekday fields) a name, at
 * *pp.  Returns 0 and advances *pp, or -1 with err set. */
static int parse_value(const char **pp, const char *end, int idx, const struct field_spec *f,
		       int *value, char *err, size_t errsize)
{
	const char *p = *pp, *start = p;
	int v = 0, i;

	if (p < end && isdigit((unsigned char)*p)) {
		while (p < end && isdigit((unsigned char)*p)) {
			if (p - start >= CRON_MAX_DIGITS) {
				while (p < end && isdigit((unsigned char)*p))
					p++;
				field_err(err, errsize, idx, f, "number \"%.*s\" has too many digits (allowed %s)",
					  shown_len(start, p), start, f->allowed);
				return -1;
			}
			v = v * 10 + (*p++ - '0');
		}
		if (v < f->min || v > f->max) {
			field_err(err, errsize, idx, f, "value %d out of range (allowed %s)", v, f->allowed);
			return -1;
		}
		*value = v;
		*pp = p;
		return 0;
	}
	if (p < end && isalpha((unsigned char)*p)) {
		while (p < end && isalnum((unsigned char)*p))
			p++;
		for (i = 0; i < f->nnames; i++) {
			if (strlen(f->names[i]) == (size_t)(p - start) &&
			    strncasecmp(f->names[i], start, (size_t)(p - start)) == 0) {
				*value = f->name_base + i;
				*pp = p;
				return 0;
			}
		}
		field_err(err, errsize, idx, f, "unknown name \"%.*s\" (allowed %s)",
			  shown_len(start, p), start, f->allowed);
		return -1;
	}
	if (p < end && *p == '-') {
		const char *q = p + 1;

		while (q < end && isdigit((unsigned char)*q))
			q++;
		field_err(err, errsize, idx, f, "negative value \"%.*s\" is not allowed (allowed %s)",
			  shown_len(start, q), start, f->allowed);
		return -1;
	}
	if (p == end)
		field_err(err, errsize, idx, f, "missing value at end of field (allowed %s)", f->allowed);
	else if (isprint((unsigned char)*p))
		field_err(err, errsize, idx, f, "unexpected character '%c' (allowed %s)", *p, f->allowed);
	else
		field_err(err, errsize, idx, f, "unexpected byte 0x%02x (allowed %s)",
			  (unsigned)(unsigned char)*p, f->allowed);
	return -1;
}

/* Reads a step: digits only, 1 up to the number of values in the field. */
static int parse_step(const char **pp, const char *end, int idx, const struct field_spec *f,
		      int *step, char *err, size_t errsize)
{
	const char *p = *pp, *start = p;
	int v = 0, span = f->star_max - f->min + 1;

	if (p == end || !isdigit((unsigned char)*p)) {
		if (p < end && *p == '-')
			field_err(err, errsize, idx, f, "negative step is not allowed");
		else
			field_err(err, errsize, idx, f, "expected a number after '/'");
		return -1;
	}
	while (p < end && isdigit((unsigned char)*p)) {
		if (p - start >= CRON_MAX_DIGITS) {
			while (p < end && isdigit((unsigned char)*p))
				p++;
			field_err(err, errsize, idx, f, "step \"%.*s\" has too many digits (allowed 1-%d)",
				  shown_len(start, p), start, span);
			return -1;
		}
		v = v * 10 + (*p++ - '0');
	}
	if (v == 0) {
		field_err(err, errsize, idx, f, "step 0 is not allowed");
		return -1;
	}
	/* A step wider than the field would silently mean just its first
	 * value: a minute step of 90 is a mistake, not a schedule. */
	if (v > span) {
		field_err(err, errsize, idx, f, "step %d out of range (allowed 1-%d)", v, span);
		return -1;
	}
	*step = v;
	*pp = p;
	return 0;
}

/* Parses one whitespace-free field [s, end) into a bit set of its values. */
static int parse_field(const char *s, const char *end, int idx, uint64_t *bits, bool *star,
		       char *err, size_t errsize)
{
	const struct field_spec *f = &fields[idx];
	const char *p = s;
	uint64_t set = 0;

	for (;;) {
		int lo, hi, step = 1, v;
		bool ranged = false;

		if (p == end || *p == ',') {
			field_err(err, errsize, idx, f, "empty list element in \"%.*s\"",
				  shown_len(s, end), s);
			return -1;
		}
		if (*p == '*') {
			p++;
			lo = f->min;
			hi = f->star_max;
			ranged = true;
		} else {
			if (parse_value(&p, end, idx, f, &lo, err, errsize) < 0)
				return -1;
			hi = lo;
			if (p < end && *p == '-') {
				p++;
				if (parse_value(&p, end, idx, f, &hi, err, errsize) < 0)
					return -1;
				/* "fri-sun" and "5-0" mean Friday to Sunday. */
				if (f->names == wday_names && hi == 0 && lo > 0)
					hi = 7;
				if (hi < lo) {
					field_err(err, errsize, idx, f, "range %d-%d is reversed (allowed %s, low-high)",
						  lo, hi, f->allowed);
					return -1;
				}
				ranged = true;
			}
		}
		if (p < end && *p == '/') {
			p++;
			if (parse_step(&p, end, idx, f, &step, err, errsize) < 0)
				return -1;
			/* "a/n" is "a-max/n", as in cronie. */
			if (!ranged)
				hi = f->star_max;
		}
		if (p < end && *p != ',') {
			if (isprint((unsigned char)*p))
				field_err(err, errsize, idx, f, "unexpected character '%c' in \"%.*s\"",
					  *p, shown_len(s, end), s);
			else
				field_err(err, errsize, idx, f, "unexpected byte 0x%02x",
					  (unsigned)(unsigned char)*p);
			return -1;
		}
		for (v = lo; v <= hi; v += step)
			set |= UINT64_C(1) << v;
		if (p == end)
			break;
		p++;	/* the comma; an element must follow */
	}
	/* Vixie cron looks only at the first character, so a stepped star
	 * counts as a star for the day-of-month/day-of-week rule too. */
	*star = s[0] == '*';
	*bits = set;
	return 0;
}

static int parse_macro(const char *s, struct cron_expr *out, char *err, size_t errsize)
{
	const char *end = s, *rest;
	size_t i;

	while (*end != '\0' && !isspace((unsigned char)*end))
		end++;
	for (rest = end; isspace((unsigned char)*rest); rest++)
		;
	for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
		if (strlen(macros[i].name) != (size_t)(end - s) ||
		    strncasecmp(macros[i].name, s, (size_t)(end - s)) != 0)
			continue;
		if (*rest != '\0') {
			set_err(err, errsize, "unexpected text after %s: \"%.*s\"", macros[i].name,
				shown_len(rest, rest + strlen(rest)), rest);
			return -1;
		}
		return cron_parse(macros[i].expansion, out, err, errsize);
	}
	set_err(err, errsize,
		"unknown macro \"%.*s\" (allowed: @hourly @daily @midnight @weekly @monthly @yearly @annually)",
		shown_len(s, end), s);
	return -1;
}

int cron_parse(const char *text, struct cron_expr *out, char *err, size_t errsize)
{
	const char *start[5], *stop[5];
	const char *p = text;
	struct cron_expr e;
	uint64_t bits;
	int n = 0, i;

	if (err != NULL && errsize > 0)
		err[0] = '\0';
	if (text == NULL) {
		set_err(err, errsize, "expected 5 fields, got 0");
		return -1;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '@')
		return parse_macro(p, out, err, errsize);
	/* Count every field first so that "expected 5 fields, got 6" tells
	 * the truth rather than complaining about the sixth one's syntax. */
	while (*p != '\0') {
		const char *b = p;

		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (n < 5) {
			start[n] = b;
			stop[n] = p;
		}
		n++;
		while (isspace((unsigned char)*p))
			p++;
	}
	if (n != 5) {
		set_err(err, errsize, "expected 5 fields, got %d", n);
		return -1;
	}
	memset(&e, 0, sizeof(e));
	for (i = 0; i < 5; i++) {
		bool star;

		if (parse_field(start[i], stop[i], i, &bits, &star, err, errsize) < 0)
			return -1;
		switch (i) {
		case 0:
			e.minutes = bits;
			break;
		case 1:
			e.hours = (uint32_t)bits;
			break;
		case 2:
			e.mdays = (uint32_t)bits;
			e.mday_star = star;
			break;
		case 3:
			e.months = (uint16_t)bits;
			break;
		case 4:
			/* 7 is another name for Sunday. */
			e.wdays = (uint8_t)((bits | bits >> 7) & 0x7f);
			e.wday_star = star;
			break;
		}
	}
	*out = e;
	return 0;
}

/* ---- calendar arithmetic ------------------------------------------------
 * Wall-clock times are handled as "local seconds": seconds since
 * 1970-01-01 00:00 as if the local calendar were UTC.  The proleptic
 * Gregorian conversions are Howard Hinnant's days_from_civil/civil_from_days;
 * they avoid mktime, whose handling of nonexistent and repeated local times
 * is exactly the part we need to control. */

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* Vixie cron: when both day fields are restricted a day matches if either
 * does; when one is "*" only the other one restricts (the "*" one has every
 * bit set, so "and" does that). */
static bool day_matches(const struct cron_expr *e, int64_t y, int m, int d)
{
	int64_t days = days_from_civil(y, m, d);
	int wday = (int)(days - floor_div(days + 4, 7) * 7 + 4);	/* 1970-01-01 was a Thursday */
	bool dom = (e->mdays >> d) & 1, dow = (e->wdays >> wday) & 1;

	if (e->mday_star || e->wday_star)
		return dom && dow;
	return dom || dow;
}

/* ---- time zones ---------------------------------------------------------- */

/* UTC offset in seconds at instant t, in the zone tzset() loaded (or 0 when
 * utc, which needs no zone at all). */
static int offset_at(bool utc, time_t t, int64_t *off)
{
	struct tm tm;

	if (utc) {
		*off = 0;
		return 0;
	}
	if (localtime_r(&t, &tm) == NULL)
		return -1;
	*off = tm.tm_gmtoff;
	return 0;
}

/* The instant a wall-clock time w (local seconds) fires at: the earliest
 * instant whose wall-clock time is w or later.  That is w itself when it
 * happens once, its first occurrence when it happens twice (fall back), and
 * the first instant after the gap when it does not happen (spring forward).
 * It never decreases as w grows, which is what lets cron_next walk wall-clock
 * minutes in order and stop at the first one firing after `after`.
 *
 * Assumes at most one offset change within two days of w, which holds for
 * every zone since the early 20th century. */
static int first_instant(bool utc, int64_t w, time_t *when)
{
	int64_t cand[4], lo, hi, off, omin, omax;
	bool found = false;
	time_t best = 0;
	int i;

	if (utc) {
		*when = (time_t)w;
		return 0;
	}
	/* The offsets in force around w; one of them applies at w unless w
	 * falls in a gap. */
	if (offset_at(utc, (time_t)(w - 172800), &cand[0]) < 0 ||
	    offset_at(utc, (time_t)(w + 172800), &cand[1]) < 0 ||
	    offset_at(utc, (time_t)(w - cand[0]), &cand[2]) < 0 ||
	    offset_at(utc, (time_t)(w - cand[1]), &cand[3]) < 0)
		return -1;
	omin = omax = cand[0];
	for (i = 0; i < 4; i++) {
		time_t t = (time_t)(w - cand[i]);

		if (cand[i] < omin)
			omin = cand[i];
		if (cand[i] > omax)
			omax = cand[i];
		if (offset_at(utc, t, &off) < 0)
			return -1;
		if (off == cand[i] && (!found || t < best)) {
			best = t;
			found = true;
		}
	}
	if (found) {
		*when = best;
		return 0;
	}
	/* w is in a gap between offsets omin (before) and omax (after): the
	 * change happened in (w - omax, w - omin].  Bisect for the first
	 * instant whose wall-clock time has passed w. */
	lo = w - omax;
	hi = w - omin;
	if (offset_at(utc, (time_t)lo, &off) < 0 || lo + off >= w)
		return -1;
	if (offset_at(utc, (time_t)hi, &off) < 0 || hi + off < w)
		return -1;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;

		if (offset_at(utc, (time_t)mid, &off) < 0)
			return -1;
		if (mid + off >= w)
			hi = mid;
		else
			lo = mid;
	}
	*when = (time_t)hi;
	return 0;
}

/* Walks wall-clock minutes from the one after `after`, skipping whole
 * months, days and hours that cannot match, so that even "0 0 29 2 *" takes
 * a few hundred steps; minutes are tried one by one only inside a matching
 * hour. */
static time_t search(const struct cron_expr *e, bool utc, time_t after)
{
	int64_t off, lsec, days, rem, y, last_year;
	int mo, d, h, mi;

	if (offset_at(utc, after, &off) < 0)
		return (time_t)-1;
	/* Wall-clock minutes up to and including the current one fire at or
	 * before `after` (first_instant never decreases), so start with the
	 * next one. */
	lsec = floor_div((int64_t)after + off, 60) * 60 + 60;
	days = floor_div(lsec, 86400);
	rem = lsec - days * 86400;
	civil_from_days(days, &y, &mo, &d);
	h = (int)(rem / 3600);
	mi = (int)(rem % 3600 / 60);
	last_year = y + CRON_SEARCH_YEARS;

	while (y <= last_year) {
		time_t t;

		if (!((e->months >> mo) & 1) || d > days_in_month(y, mo)) {
			d = 1;
			h = mi = 0;
			if (++mo > 12) {
				mo = 1;
				y++;
			}
			continue;
		}
		if (!day_matches(e, y, mo, d)) {
			d++;
			h = mi = 0;
			continue;
		}
		if (!((e->hours >> h) & 1)) {
			mi = 0;
			if (++h > 23) {
				h = 0;
				d++;
			}
			continue;
		}
		if ((e->minutes >> mi) & 1) {
			int64_t w = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;

			if (first_instant(utc, w, &t) < 0)
				return (time_t)-1;
			/* Only the second pass through a repeated hour
			 * lands here: its times already fired. */
			if (t > after)
				return t;
		}
		if (++mi > 59) {
			mi = 0;
			if (++h > 23) {
				h = 0;
				d++;
			}
		}
	}
	return (time_t)-1;
}

static bool is_utc(const char *tz)
{
	return tz == NULL || tz[0] == '\0' || strcmp(tz, "UTC") == 0;
}

time_t cron_next(const struct cron_expr *e, const char *tz, time_t after)
{
	char *saved = NULL, zone[300];
	const char *old;
	time_t t;

	if ((int64_t)after > CRON_MAX_ABS_TIME || (int64_t)after < -CRON_MAX_ABS_TIME)
		return (time_t)-1;
	if (is_utc(tz))
		return search(e, true, after);
	/* glibc quietly falls back to UTC for a zone it cannot load, which
	 * would shift every job by hours; refuse instead. */
	if (!cron_timezone_valid(tz))
		return (time_t)-1;
	if (snprintf(zone, sizeof(zone), ":%s", tz) >= (int)sizeof(zone))
		return (time_t)-1;

	/* localtime_r follows TZ, so point TZ at the zone for the search and
	 * put it back afterwards.  This touches process-wide state, which is
	 * fine in this single-threaded daemon; the ":" prefix makes glibc read
	 * the zone file rather than parse a POSIX TZ rule. */
	old = getenv("TZ");
	if (old != NULL && (saved = strdup(old)) == NULL)
		return (time_t)-1;
	if (setenv("TZ", zone, 1) != 0) {
		free(saved);
		return (time_t)-1;
	}
	tzset();
	t = search(e, false, after);
	if (saved != NULL) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
	return t;
}

/* Only names that look like IANA zone names, so that a configuration value
 * can never make us open something outside the zoneinfo directory. */
static bool zone_name_ok(const char *tz)
{
	const char *p;

	if (tz[0] == '/' || strstr(tz, "..") != NULL || strlen(tz) > 255)
		return false;
	for (p = tz; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_+-/", *p) == NULL)
			return false;
	return true;
}

bool cron_timezone_valid(const char *tz)
{
	const char *dir;
	char path[4096], magic[4];
	struct stat st;
	ssize_t n;
	int fd;

	if (tz == NULL)
		return false;
	if (is_utc(tz))
		return true;
	if (!zone_name_ok(tz))
		return false;
	/* Same directory glibc loads zones from. */
	dir = getenv("TZDIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "/usr/share/zoneinfo";
	if (snprintf(path, sizeof(path), "%s/%s", dir, tz) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	/* Directories such as "Europe" are not zones, nor is any file
	 * without the TZif magic. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	do
		n = read(fd, magic, sizeof(magic));
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}
