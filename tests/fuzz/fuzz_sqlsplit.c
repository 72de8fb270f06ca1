/* libFuzzer target: sql_split() (PostgreSQL's parser, then the scanner
 * where it fails) and sql_split_scanner() on arbitrary migration files.  The buffer
 * is exactly the input, without a terminating NUL, so that any read past
 * `len` shows up under AddressSanitizer.  Statements must lie inside the
 * text, in order and without overlap.  Built and run by "make fuzz". */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safety.h"
#include "sqlsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One splitter on text: statements inside it, in order, not overlapping;
 * a failure says why and leaves nothing allocated. */
static void check(int (*split)(const char *, size_t, struct sql_script *, char *, size_t),
		  const char *text, size_t size)
{
	struct sql_script script;
	char err[512];
	size_t i, end = 0;

	err[0] = '\0';
	if (split(text, size, &script, err, sizeof(err)) == 0) {
		for (i = 0; i < script.n; i++) {
			const struct sql_stmt *st = &script.stmts[i];

			if (st->start < end || st->len == 0 || st->start + st->len > size ||
			    st->line < 1 || st->column < 1)
				abort();
			end = st->start + st->len;
			(void)sql_is_transaction_control(text, st);
			(void)sql_is_copy_stdio(text, st);
			(void)sql_sets_standard_strings(text, st);
		}
		/* the safety checks read each statement's parse tree: findings
		 * on lines of the text, with a table and a known check */
		{
			struct safety_report rep;

			if (safety_check_script(text, &script, &rep) == 0) {
				for (i = 0; i < rep.n; i++)
					if (rep.items[i].line < 1 || rep.items[i].table == NULL ||
					    safety_check_index(rep.items[i].check, strlen(rep.items[i].check)) < 0)
						abort();
				safety_report_free(&rep);
			}
		}
		/* a kept syntax error lies in the text */
		if (script.syntax.message != NULL &&
		    (script.syntax.offset > size || script.syntax.line < 1 || script.syntax.column < 1))
			abort();
		sql_script_free(&script);
	} else if (err[0] == '\0' || script.stmts != NULL) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	/* malloc(0) may return NULL; keep one byte but pass size */
	text = malloc(size ? size : 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	/* the path migrations take (PostgreSQL's parser, the scanner where it
	 * fails), and the scanner alone on every input */
	check(sql_split, text, size);
	check(sql_split_scanner, text, size);
	free(text);
	return 0;
}
