/* The migration plan: from the files on disk and what the bookkeeping
 * says, the state of every migration.  Pure (no database, no logging), so
 * the daemon, "migrate up" and "migrate status" derive it the same way and
 * it is unit-tested alone. */
#ifndef MOMENTUM_MIGPLAN_H
#define MOMENTUM_MIGPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

struct migration;
struct migration_set;

/* One row of the bookkeeping: a tracking row of momentum_maintd.schema_migrations,
 * or a mark of momentum_maintd.migrations_in_progress (a no-transaction run
 * that started).  The strings are the caller's. */
struct migplan_row {
	int64_t version;
	const char *name;
	const char *checksum;  /* a tracking row's; NULL never matches a file */
	const char *at;        /* applied_at, or a mark's started_at, as text */
	bool in_progress;      /* a mark, not a tracking row */
};

enum migplan_state {
	MIGPLAN_PENDING,       /* a file not applied */
	MIGPLAN_OUT_OF_ORDER,  /* pending, but older than the newest applied one */
	MIGPLAN_INTERRUPTED,   /* a no-transaction run started and never finished */
	MIGPLAN_APPLIED,
	MIGPLAN_CHANGED,       /* applied, and the file was edited since */
	MIGPLAN_FILE_MISSING,  /* applied, and its file is gone */
};

struct migplan_entry {
	int64_t version;
	const char *name;                  /* the file's, else the row's */
	enum migplan_state state;
	const struct migration *file;      /* NULL: no file has this version */
	const struct migplan_row *applied; /* its tracking row, or NULL */
	const struct migplan_row *mark;    /* its in-progress mark, or NULL */
	bool older_than_applied;           /* not applied, older than the newest applied one */
	bool apply;                        /* "migrate up" applies it (unless the plan is blocked) */
};

struct migplan {
	struct migplan_entry *entries; /* one per version, by version */
	size_t n;
	size_t applied;                /* tracking rows, with or without a file */
	size_t to_apply;               /* entries with apply set */
	int64_t newest_applied;        /* -1 when nothing is applied */
	bool blocked;                  /* a changed file, or an out-of-order one under "fail" */
};

/* Derives the plan.  rows may come in any order; a tracking row wins over
 * another of the same version, and over a mark.  The plan points into set
 * and rows, which must outlive it.  Returns 0, or -1 with errno set
 * (EINVAL: set is NULL, or rows is NULL while nrows is not 0; ENOMEM). */
int migplan_build(struct migplan *p, const struct migration_set *set, const struct migplan_row *rows,
		  size_t nrows, enum out_of_order on_out_of_order);
void migplan_free(struct migplan *p);

/* The entry of a version, or NULL. */
const struct migplan_entry *migplan_find(const struct migplan *p, int64_t version);

/* "applied", "pending", "changed", "file-missing", "out-of-order", "interrupted" */
const char *migplan_state_name(enum migplan_state s);

#endif
