/* Every check name the sources can report has an entry in the table of
 * checks (src/checks.c): its categories, facing and meaning.  The names
 * are read from the sources themselves, so a new lint without an entry
 * fails here. */
#include "config.h"

#include <dirent.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "tap.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int ch;

	if (f == NULL || m == NULL) {
		if (f)
			fclose(f);
		if (m)
			fclose(m);
		free(buf);
		return NULL;
	}
	while ((ch = fgetc(f)) != EOF)
		fputc(ch, m);
	fclose(f);
	fclose(m);
	return buf;
}

static int names_seen;

/* every match of pattern's first group in text must be a known check */
static void scan(const char *file, const char *text, const char *pattern)
{
	regex_t re;
	regmatch_t m[2];
	const char *p = text;

	if (regcomp(&re, pattern, REG_EXTENDED) != 0) {
		ok(0, "pattern %s compiles", pattern);
		return;
	}
	while (regexec(&re, p, 2, m, 0) == 0) {
		char name[128];
		int n = (int)(m[1].rm_eo - m[1].rm_so);

		snprintf(name, sizeof(name), "%.*s", n, p + m[1].rm_so);
		ok(check_find(name) != NULL, "%s: check %s is in the table of checks", file, name);
		names_seen++;
		p += m[0].rm_eo;
	}
	regfree(&re);
}

static void scan_dir(const char *dir, const char *suffix, const char *const *patterns)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	ok(d != NULL, "%s can be read", dir);
	while (d != NULL && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name), s = strlen(suffix);
		char path[4096];
		char *text;
		const char *const *pat;

		if (n <= s || strcmp(e->d_name + n - s, suffix) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		text = slurp(path);
		ok(text != NULL, "%s can be read", path);
		for (pat = patterns; text != NULL && *pat != NULL; pat++)
			scan(e->d_name, text, *pat);
		free(text);
	}
	if (d)
		closedir(d);
}

int main(void)
{
	/* SQL: a name before its level, the probe's check_name, drift's and the probe's names anywhere */
	static const char *const sql[] = {
		"'([a-z][a-z0-9]*_[a-z0-9_]*)',[[:space:]]*'(error|warn|info)'",
		"'check_name',[[:space:]]*'([a-z][a-z0-9_]*)'",
		"'((drift|probe)_[a-z_]+)'",
		NULL
	};
	/* C: the check of findings_push and probe_not_run, drift's and the probe's names anywhere */
	static const char *const c[] = {
		"findings_push\\([^,]+,[[:space:]]*\"([a-z][a-z0-9_]*)\"",
		"probe_not_run\\([^,]+,[[:space:]]*\"([a-z][a-z0-9_]*)\"",
		"\"((drift|probe)_[a-z_]+)\"",
		NULL
	};
	size_t i, j;

	scan_dir(TOP_SRCDIR "/src/sql", ".sql", sql);
	scan_dir(TOP_SRCDIR "/src", ".c", c);
	ok(names_seen > 40, "the sources name checks (%d seen)", names_seen);

	for (i = 0; i < check_count; i++) {
		const struct check_info *x = &check_table[i];

		ok((strcmp(x->categories, "SECURITY") == 0 || strcmp(x->categories, "PERFORMANCE") == 0) &&
		   (strcmp(x->facing, "EXTERNAL") == 0 || strcmp(x->facing, "INTERNAL") == 0) && x->meaning[0] != '\0',
		   "%s: categories, facing and meaning", x->name);
		for (j = 0; j < i; j++)
			if (strcmp(check_table[j].name, x->name) == 0)
				ok(0, "%s is in the table once", x->name);
	}
	ok(check_find("no_such_check") == NULL, "an unknown name has no entry");
	is_str(check_categories("auth_rls_initplan"), "PERFORMANCE", "auth_rls_initplan is PERFORMANCE");
	is_str(check_facing("bypassrls_role"), "INTERNAL", "bypassrls_role is INTERNAL");
	return done_testing();
}
