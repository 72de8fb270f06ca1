/* Unit tests for duration parsing and formatting, including bad input. */
#include "config.h"

#include "duration.h"
#include "tap.h"

static int64_t parse(const char *s)
{
	int64_t ms = -1;
	const char *why;

	return duration_parse(s, &ms, &why) == 0 ? ms : -1;
}

static const char *why_of(const char *s)
{
	int64_t ms;
	const char *why = NULL;

	return duration_parse(s, &ms, &why) == 0 ? NULL : why;
}

int main(void)
{
	char buf[64];

	ok(parse("90 days") == 90LL * 86400000, "90 days");
	ok(parse("30 min") == 1800000, "30 min");
	ok(parse("24 h") == 86400000, "24 h");
	ok(parse("500ms") == 500, "500ms");
	ok(parse("2s") == 2000, "2s");
	ok(parse("1 h 30 min") == 5400000, "1 h 30 min");
	ok(parse("1h30m") == 5400000, "1h30m");
	ok(parse("1 week") == 604800000, "1 week");
	ok(parse("  7 DAYS ") == 7LL * 86400000, "case and spaces");
	ok(parse("0 s") == 0, "zero");

	ok(parse("") < 0, "empty refused");
	ok(parse("   ") < 0, "blank refused");
	ok(parse("30") < 0, "number without unit refused");
	contains(why_of("30"), "missing unit", "says the unit is missing");
	ok(parse("-5 s") < 0, "negative refused");
	contains(why_of("-5 s"), "negative", "says negative");
	ok(parse("5 parsecs") < 0, "unknown unit refused");
	contains(why_of("5 parsecs"), "unknown unit", "says unknown unit");
	ok(parse("min") < 0, "unit without number refused");
	ok(parse("1.5 h") < 0, "fractions refused");
	ok(parse("99999999999999999999 s") < 0, "overflowing number refused");
	ok(parse("9223372036854775 weeks") < 0, "overflowing product refused");
	ok(parse("5 s x") < 0, "trailing garbage refused");

	duration_format(90LL * 86400000, buf, sizeof(buf));
	is_str(buf, "90 days", "format days");
	duration_format(5400000, buf, sizeof(buf));
	is_str(buf, "1 h 30 min", "format mixed");
	duration_format(86400000, buf, sizeof(buf));
	is_str(buf, "24 h", "one day reads as 24 h");
	duration_format(1500, buf, sizeof(buf));
	is_str(buf, "1 s 500 ms", "format ms");
	duration_format(0, buf, sizeof(buf));
	is_str(buf, "0 s", "format zero");
	{
		int64_t ms;
		const char *why;

		duration_format(1209600000 + 3723004, buf, sizeof(buf));
		ok(duration_parse(buf, &ms, &why) == 0 && ms == 1209600000 + 3723004,
		   "format round-trips through parse: %s", buf);
	}
	return done_testing();
}
