/* libFuzzer target: cron_parse() on arbitrary text; every expression it
 * accepts must also give a next run time without crashing, in UTC and in a
 * zone with daylight saving time.  Built and run by "make fuzz". */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 2024-03-31 00:30 UTC, the night Europe/Berlin springs forward */
	const time_t after = 1711845000;
	struct cron_expr e;
	char err[256], *text;
	time_t t;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (cron_parse(text, &e, err, sizeof(err)) == 0) {
		if (e.minutes >> 60 || e.hours >> 24 || e.mdays & 1 || e.months & 1 || e.months >> 13 ||
		    e.wdays >> 7)
			abort(); /* a bit outside its field's range */
		t = cron_next(&e, "UTC", after);
		if (t != (time_t)-1 && t <= after)
			abort(); /* the next run must be strictly after `after` */
		t = cron_next(&e, "Europe/Berlin", after);
		if (t != (time_t)-1 && t <= after)
			abort();
	} else if (err[0] == '\0' || strlen(err) >= sizeof(err)) {
		abort(); /* a refusal must say why */
	}
	free(text);
	return 0;
}
