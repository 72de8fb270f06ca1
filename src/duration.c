#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "duration.h"

struct unit {
	const char *name;
	int64_t ms;
};

static const struct unit units[] = {
	{ "ms", 1 }, { "msec", 1 }, { "msecs", 1 }, { "millisecond", 1 }, { "milliseconds", 1 },
	{ "s", 1000 }, { "sec", 1000 }, { "secs", 1000 }, { "second", 1000 }, { "seconds", 1000 },
	{ "m", 60000 }, { "min", 60000 }, { "mins", 60000 }, { "minute", 60000 }, { "minutes", 60000 },
	{ "h", 3600000 }, { "hr", 3600000 }, { "hrs", 3600000 }, { "hour", 3600000 }, { "hours", 3600000 },
	{ "d", 86400000 }, { "day", 86400000 }, { "days", 86400000 },
	{ "w", 604800000 }, { "week", 604800000 }, { "weeks", 604800000 },
};

static const struct unit *unit_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i].name) == len && strncasecmp(units[i].name, name, len) == 0)
			return &units[i];
	return NULL;
}

int duration_parse(const char *s, int64_t *ms, const char **why)
{
	const char *p = s;
	int64_t total = 0;
	int terms = 0;

	for (;;) {
		int64_t n = 0;
		const char *start;
		const struct unit *u;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		if (!isdigit((unsigned char)*p)) {
			*why = *p == '-' ? "must not be negative" : "expected a number followed by a unit, e.g. \"30 min\"";
			return -1;
		}
		while (isdigit((unsigned char)*p)) {
			if (n > (INT64_MAX - 9) / 10) {
				*why = "number too large";
				return -1;
			}
			n = n * 10 + (*p++ - '0');
		}
		while (isspace((unsigned char)*p))
			p++;
		start = p;
		while (isalpha((unsigned char)*p))
			p++;
		if (p == start) {
			*why = "missing unit (ms, s, min, h, days, weeks), e.g. \"30 min\"";
			return -1;
		}
		u = unit_lookup(start, (size_t)(p - start));
		if (u == NULL) {
			*why = "unknown unit (allowed: ms, s, min, h, days, weeks)";
			return -1;
		}
		if (n > (INT64_MAX - total) / u->ms) {
			*why = "duration too large";
			return -1;
		}
		total += n * u->ms;
		terms++;
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
	}
	if (terms == 0) {
		*why = "empty duration";
		return -1;
	}
	*ms = total;
	return 0;
}

void duration_format(int64_t ms, char *buf, size_t size)
{
	static const struct unit fmt[] = {
		{ "days", 86400000 }, { "h", 3600000 },
		{ "min", 60000 }, { "s", 1000 }, { "ms", 1 },
	};
	size_t i, used = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (ms <= 0) {
		snprintf(buf, size, "0 s");
		return;
	}
	for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]) && ms > 0; i++) {
		int64_t n = ms / fmt[i].ms;
		const char *name = fmt[i].name;
		int w;

		if (n == 0)
			continue;
		/* "24 h" reads better than "1 day"; days from 2 on */
		if (fmt[i].ms == 86400000 && ms < 2 * 86400000)
			continue;
		ms -= n * fmt[i].ms;
		w = snprintf(buf + used, size - used, "%s%lld %s", used ? " " : "", (long long)n, name);
		if (w < 0 || (size_t)w >= size - used)
			return;
		used += (size_t)w;
	}
}
