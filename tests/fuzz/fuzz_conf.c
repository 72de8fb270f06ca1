/* libFuzzer target: the configuration loader.  conf_load_file() reads a
 * path, so each input is written to a memfd and read back through
 * /proc/self/fd/N; a loaded configuration is then validated and printed
 * (as check-config does).  The input is also given as the text value of
 * keys of each type (as --set and the environment give them).  Built and
 * run by "make fuzz". */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libconfig 1.5 (Debian 12) leaks a string token's buffer when a syntax
 * error follows it (b "x", or a = "" x): its parser has no %destructor.
 * That is the library's, not ours, and only on a file that fails to load;
 * only allocations made by its lexer are excused. */
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static int memfd = -1;
static char path[64];
static FILE *devnull;

/* The input as --set KEY=<input> for keys of every type and rule. */
static void set_as_text(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {
		"verify.ignore", "jobs.verify.schedule", "jobs.zoom_token_cleanup.timezone", "database.conninfo",
		"http.listen", "environment", "jobs.zoom_token_cleanup.batch_size",
		"jobs.zoom_token_cleanup.enabled", "verify.remind_every",
	};
	char *text = malloc(size + 1);
	struct conf_error err;
	struct conf *c = conf_new();
	size_t i;

	if (text == NULL || c == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		err.msg[0] = '\0';
		if (conf_set(c, keys[i], text, "command line", &err) < 0 && err.msg[0] == '\0')
			abort(); /* a refusal must say why */
	}
	conf_print(c, devnull);
	conf_free(c);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_error err;
	struct conf *c;

	if (memfd < 0) {
		memfd = memfd_create("momentum-maintd.conf", MFD_CLOEXEC);
		devnull = fopen("/dev/null", "w");
		if (memfd < 0 || devnull == NULL)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	}
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	/* both sides of the "password in a world-readable file" check */
	if (fchmod(memfd, size % 2 ? 0600 : 0644) < 0)
		abort();

	c = conf_new();
	if (c == NULL)
		return 0;
	err.msg[0] = '\0';
	if (conf_load_file(c, path, true, &err) == 0) {
		if (conf_validate(c, &err) < 0 && err.msg[0] == '\0')
			abort();
		conf_print(c, devnull);
		(void)conf_origin(c, "jobs.zoom_token_cleanup.schedule");
	} else if (err.msg[0] == '\0') {
		abort(); /* a refusal must say why */
	}
	conf_free(c);
	set_as_text(data, size);
	return 0;
}
