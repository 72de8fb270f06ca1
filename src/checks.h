/* Every check verify can report: its categories and facing as Supabase's
 * advisor (splinter) gives them, and what it means, in one table.  The SQL
 * gives a finding its check name; everything else about the check is here,
 * so a lint needs no column of its own for it.  tests/unit/checks.c fails
 * when a check name in src/sql/ or src/ has no entry. */
#ifndef MOMENTUM_CHECKS_H
#define MOMENTUM_CHECKS_H

#include <stddef.h>

struct check_info {
	const char *name;
	const char *categories;   /* "SECURITY" or "PERFORMANCE" */
	const char *facing;       /* "EXTERNAL": seen through the API; "INTERNAL": the database's own */
	const char *meaning;      /* one line, for the docs */
};

extern const struct check_info check_table[];
extern const size_t check_count;

/* The entry of name; NULL when there is none (an unknown check is shown as
 * SECURITY, EXTERNAL: the conservative reading). */
const struct check_info *check_find(const char *name);
const char *check_categories(const char *name);
const char *check_facing(const char *name);

#endif
