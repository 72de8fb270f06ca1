#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migfile.h"
#include "migplan.h"

static int cmp_entry(const void *a, const void *b)
{
	const struct migplan_entry *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* By version, a tracking row before a mark, then in the order given. */
static int cmp_row(const void *a, const void *b)
{
	const struct migplan_row *x = *(const struct migplan_row *const *)a;
	const struct migplan_row *y = *(const struct migplan_row *const *)b;

	if (x->version != y->version)
		return (x->version > y->version) - (x->version < y->version);
	if (x->in_progress != y->in_progress)
		return (int)x->in_progress - (int)y->in_progress;
	return (x > y) - (x < y);
}

/* The entry of r's version: a file's (the first nfiles entries, by
 * version), else one added for rows without a file.  The rows come sorted,
 * so a version already added is the last one. */
static struct migplan_entry *entry_for(struct migplan *p, size_t nfiles, const struct migplan_row *r)
{
	struct migplan_entry key = { .version = r->version }, *e = NULL;

	if (nfiles > 0)
		e = bsearch(&key, p->entries, nfiles, sizeof(key), cmp_entry);
	if (e == NULL && p->n > nfiles && p->entries[p->n - 1].version == r->version)
		e = &p->entries[p->n - 1];
	if (e == NULL) {
		e = &p->entries[p->n++];
		e->version = r->version;
		e->name = r->name != NULL ? r->name : "";
	}
	return e;
}

static void derive_state(struct migplan *p, struct migplan_entry *e, enum out_of_order on_out_of_order)
{
	if (e->applied != NULL) {
		if (e->file == NULL)
			e->state = MIGPLAN_FILE_MISSING;
		else if (e->applied->checksum != NULL && strcmp(e->applied->checksum, e->file->checksum) == 0)
			e->state = MIGPLAN_APPLIED;
		else
			e->state = MIGPLAN_CHANGED;
		p->blocked |= e->state == MIGPLAN_CHANGED;
		return;
	}
	if (e->file == NULL) {
		/* a mark whose file is gone: nothing to run again */
		e->state = MIGPLAN_INTERRUPTED;
		return;
	}
	e->older_than_applied = e->version < p->newest_applied;
	e->state = e->mark != NULL ? MIGPLAN_INTERRUPTED
		: e->older_than_applied ? MIGPLAN_OUT_OF_ORDER : MIGPLAN_PENDING;
	e->apply = !e->older_than_applied || on_out_of_order == OOO_APPLY;
	p->blocked |= e->older_than_applied && on_out_of_order == OOO_FAIL;
	p->to_apply += e->apply;
}

int migplan_build(struct migplan *p, const struct migration_set *set, const struct migplan_row *rows,
		  size_t nrows, enum out_of_order on_out_of_order)
{
	const struct migplan_row **sorted;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->newest_applied = -1;
	if (set == NULL || (rows == NULL && nrows > 0)) {
		errno = EINVAL;
		return -1;
	}
	p->entries = calloc(set->n + nrows + 1, sizeof(*p->entries));
	sorted = calloc(nrows + 1, sizeof(*sorted));
	if (p->entries == NULL || sorted == NULL) {
		free(sorted);
		migplan_free(p);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < set->n; i++) {
		p->entries[i].version = set->items[i].version;
		p->entries[i].name = set->items[i].name;
		p->entries[i].file = &set->items[i];
	}
	p->n = set->n;
	for (i = 0; i < nrows; i++)
		sorted[i] = &rows[i];
	qsort(sorted, nrows, sizeof(*sorted), cmp_row);
	for (i = 0; i < nrows; i++) {
		struct migplan_entry *e = entry_for(p, set->n, sorted[i]);

		if (sorted[i]->in_progress && e->mark == NULL)
			e->mark = sorted[i];
		else if (!sorted[i]->in_progress && e->applied == NULL)
			e->applied = sorted[i];
	}
	free(sorted);
	qsort(p->entries, p->n, sizeof(*p->entries), cmp_entry);
	for (i = 0; i < p->n; i++) {
		if (p->entries[i].applied == NULL)
			continue;
		p->applied++;
		if (p->entries[i].version > p->newest_applied)
			p->newest_applied = p->entries[i].version;
	}
	for (i = 0; i < p->n; i++)
		derive_state(p, &p->entries[i], on_out_of_order);
	return 0;
}

void migplan_free(struct migplan *p)
{
	free(p->entries);
	p->entries = NULL;
	p->n = 0;
}

const struct migplan_entry *migplan_find(const struct migplan *p, int64_t version)
{
	struct migplan_entry key = { .version = version };

	if (p->n == 0)
		return NULL;
	return bsearch(&key, p->entries, p->n, sizeof(key), cmp_entry);
}

const char *migplan_state_name(enum migplan_state s)
{
	switch (s) {
	case MIGPLAN_PENDING: return "pending";
	case MIGPLAN_OUT_OF_ORDER: return "out-of-order";
	case MIGPLAN_INTERRUPTED: return "interrupted";
	case MIGPLAN_APPLIED: return "applied";
	case MIGPLAN_CHANGED: return "changed";
	case MIGPLAN_FILE_MISSING: return "file-missing";
	}
	return "?";
}
