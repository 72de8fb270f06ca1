/* libFuzzer target: migfile_classify() on arbitrary file names (what a
 * migrations directory may hold), plus the UTF-8 check and the error
 * position mapping that run on file contents.  Built and run by
 * "make fuzz". */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum migfile_kind kind;
	int64_t version = -1;
	size_t stem_off = 0, len;
	const char *why = NULL, *line_start;
	char *name;
	int rc, line, column;
	size_t line_len;
	long bad;

	name = malloc(size + 1);
	if (name == NULL)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	len = strlen(name); /* a directory entry ends at its first NUL */

	rc = migfile_classify(name, &kind, &version, &stem_off, &why);
	if (rc == 1) {
		/* a rollback is rollback_NNN_x.sql or golang-migrate's NNN_x.down.sql */
		bool down = len > 9 && strcmp(name + len - 9, ".down.sql") == 0;

		if (kind == MIGFILE_IGNORED || version < 0 || stem_off >= len ||
		    !isdigit((unsigned char)name[stem_off]) || strcmp(name + len - 4, ".sql") != 0 ||
		    (kind == MIGFILE_ROLLBACK) != (stem_off == 9 || down) || (stem_off == 9 && down))
			abort();
	} else if (rc == 0) {
		if (kind != MIGFILE_IGNORED)
			abort();
	} else if (rc != -1 || why == NULL) {
		abort();
	}

	/* the same bytes as a file's content */
	{
		long at = migfile_down_marker(name);

		if (at < -1 || at >= (long)len || (at >= 0 && (at > 0 && name[at - 1] != '\n')))
			abort();
	}
	bad = utf8_invalid_offset((const char *)data, size);
	if (bad < -1 || bad >= (long)size)
		abort();
	text_position(name, (long)(size % 64) + 1, &line, &column, &line_start, &line_len);
	if (line < 1 || column < 1 || line_start < name || line_start + line_len > name + len)
		abort();
	free(name);
	return 0;
}
