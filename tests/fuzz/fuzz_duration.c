/* libFuzzer target: duration_parse() on arbitrary text.  What it accepts
 * must survive duration_format() and read back as the same value.  Built
 * and run by "make fuzz". */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, buf[256];
	const char *why = NULL;
	int64_t ms = -1, again = -1;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (duration_parse(text, &ms, &why) == 0) {
		if (ms < 0)
			abort();
		duration_format(ms, buf, sizeof(buf));
		if (duration_parse(buf, &again, &why) != 0 || again != ms)
			abort(); /* formatted durations must read back unchanged */
	} else if (why == NULL) {
		abort();
	}
	/* small buffers must truncate, not overflow */
	duration_format(ms, buf, 1 + size % 16);
	free(text);
	return 0;
}
