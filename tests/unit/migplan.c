/* Unit tests for the migration plan: each migration's state from the files
 * and the bookkeeping rows, under each migrations.on_out_of_order. */
#include "config.h"

#include <errno.h>

#include "migfile.h"
#include "migplan.h"
#include "tap.h"

#define SUM_A "aaaa"
#define SUM_B "bbbb"

static struct migration files[] = {
	{ .version = 1, .name = "001_a", .checksum = SUM_A },
	{ .version = 2, .name = "002_b", .checksum = SUM_B },
	{ .version = 3, .name = "003_c", .checksum = SUM_A },
	{ .version = 5, .name = "005_e", .checksum = SUM_B },
};
static const struct migration_set set = { files, 4 };

static const char *state_of(const struct migplan *p, int64_t version)
{
	const struct migplan_entry *e = migplan_find(p, version);

	return e != NULL ? migplan_state_name(e->state) : "(none)";
}

static void test_nothing_applied(void)
{
	struct migplan p;

	ok(migplan_build(&p, &set, NULL, 0, OOO_FAIL) == 0, "no rows: builds");
	ok(p.n == 4 && p.to_apply == 4 && p.applied == 0 && p.newest_applied == -1 && !p.blocked,
	   "every file pending, nothing applied");
	is_str(state_of(&p, 1), "pending", "001 pending");
	migplan_free(&p);
}

static void test_applied_changed_missing(void)
{
	/* out of order on purpose: the plan sorts */
	struct migplan_row rows[] = {
		{ 4, "004_gone", SUM_A, "2024-01-04", false },
		{ 1, "001_a", SUM_A, "2024-01-01", false },
		{ 2, "002_b", SUM_A, "2024-01-02", false },
	};
	struct migplan p;

	ok(migplan_build(&p, &set, rows, 3, OOO_FAIL) == 0, "builds");
	ok(p.n == 5, "files and the row without a file: %zu entries", p.n);
	is_str(state_of(&p, 1), "applied", "same checksum: applied");
	is_str(state_of(&p, 2), "changed", "other checksum: changed");
	is_str(state_of(&p, 4), "file-missing", "row without file: file-missing");
	is_str(migplan_find(&p, 4)->name, "004_gone", "its name is the row's");
	ok(migplan_find(&p, 4)->file == NULL, "and it has no file");
	is_str(state_of(&p, 3), "out-of-order", "older than the newest applied (4)");
	is_str(state_of(&p, 5), "pending", "newer: pending");
	ok(p.applied == 3 && p.newest_applied == 4, "3 applied, newest 4");
	ok(p.blocked, "a changed file blocks");
	ok(p.entries[0].version == 1 && p.entries[3].version == 4 && p.entries[4].version == 5,
	   "entries by version");
	is_str(migplan_find(&p, 1)->applied->at, "2024-01-01", "the tracking row is kept");
	ok(migplan_find(&p, 6) == NULL, "no entry for an unknown version");
	migplan_free(&p);
}

static void test_out_of_order_policies(void)
{
	struct migplan_row rows[] = { { 3, "003_c", SUM_A, "", false } };
	struct migplan p;

	ok(migplan_build(&p, &set, rows, 1, OOO_FAIL) == 0 && p.blocked && p.to_apply == 1,
	   "fail: blocked; 005 would apply");
	ok(!migplan_find(&p, 1)->apply && migplan_find(&p, 1)->older_than_applied, "fail: 001 not applied");
	migplan_free(&p);
	ok(migplan_build(&p, &set, rows, 1, OOO_IGNORE) == 0 && !p.blocked && p.to_apply == 1,
	   "ignore: not blocked, only 005 applies");
	is_str(state_of(&p, 2), "out-of-order", "ignore: the state stays out-of-order");
	migplan_free(&p);
	ok(migplan_build(&p, &set, rows, 1, OOO_APPLY) == 0 && !p.blocked && p.to_apply == 3,
	   "apply: 001, 002 and 005 apply");
	ok(migplan_find(&p, 1)->apply && migplan_find(&p, 1)->older_than_applied, "apply: 001 older, applied");
	migplan_free(&p);
}

static void test_interrupted(void)
{
	struct migplan_row rows[] = {
		{ 2, "002_b", NULL, "2024-02-02", true },
		{ 1, "001_a", SUM_A, "", false },
		{ 7, "007_gone", NULL, "2024-02-07", true },
	};
	struct migplan p;
	const struct migplan_entry *e;

	ok(migplan_build(&p, &set, rows, 3, OOO_FAIL) == 0, "builds");
	e = migplan_find(&p, 2);
	is_str(migplan_state_name(e->state), "interrupted", "a mark: interrupted");
	ok(e->apply && e->mark == &rows[0] && e->applied == NULL, "run again from the top");
	e = migplan_find(&p, 7);
	ok(e != NULL && e->state == MIGPLAN_INTERRUPTED && e->file == NULL && !e->apply,
	   "a mark without a file: listed, not applied");
	ok(p.applied == 1 && p.to_apply == 3 && !p.blocked, "marks are not applied rows; 002, 003, 005 apply");
	migplan_free(&p);
}

static void test_interrupted_and_out_of_order(void)
{
	struct migplan_row rows[] = { { 3, "003_c", SUM_A, "", false }, { 2, "002_b", "", "", true } };
	struct migplan p;

	ok(migplan_build(&p, &set, rows, 2, OOO_FAIL) == 0, "builds");
	is_str(state_of(&p, 2), "interrupted", "the mark's state wins over out-of-order");
	ok(migplan_find(&p, 2)->older_than_applied && p.blocked, "but it is older: blocked under fail");
	migplan_free(&p);
}

static void test_bad_input(void)
{
	struct migplan_row dup[] = {
		{ 1, "001_a", "ffff", "given first", false },
		{ 1, "001_a", SUM_A, "given second", false },
		{ 1, "001_a", NULL, "mark", true },
		{ 2, NULL, NULL, NULL, false },
		{ 9, NULL, NULL, NULL, true },
		{ -3, "neg", "x", "", false },
	};
	struct migration_set empty = { NULL, 0 };
	struct migplan p;

	errno = 0;
	ok(migplan_build(&p, NULL, NULL, 0, OOO_FAIL) == -1 && errno == EINVAL, "no set: EINVAL");
	ok(p.entries == NULL && p.n == 0, "and an empty plan");
	migplan_free(&p);
	errno = 0;
	ok(migplan_build(&p, &set, NULL, 2, OOO_FAIL) == -1 && errno == EINVAL, "rows NULL with nrows 2: EINVAL");
	migplan_free(&p);

	ok(migplan_build(&p, &set, dup, 6, OOO_FAIL) == 0, "duplicates and NULLs: builds");
	is_str(migplan_find(&p, 1)->applied->at, "given first", "duplicate tracking rows: the first given wins");
	is_str(state_of(&p, 1), "changed", "and is compared");
	ok(migplan_find(&p, 1)->mark == &dup[2], "a mark beside a tracking row is kept");
	is_str(state_of(&p, 2), "changed", "a NULL checksum never matches");
	is_str(migplan_find(&p, 9)->name, "", "a NULL name reads as empty");
	is_str(state_of(&p, -3), "file-missing", "a negative version is just a version");
	ok(p.entries[0].version == -3 && p.applied == 3, "sorted; duplicates count once");
	migplan_free(&p);

	ok(migplan_build(&p, &empty, dup, 1, OOO_FAIL) == 0 && p.n == 1, "no files: the rows only");
	is_str(state_of(&p, 1), "file-missing", "file-missing");
	ok(p.to_apply == 0, "nothing to apply");
	migplan_free(&p);
	migplan_free(&p);
	ok(p.entries == NULL, "free twice is harmless");
	is_str(migplan_state_name((enum migplan_state)99), "?", "unknown state");
}

int main(void)
{
	test_nothing_applied();
	test_applied_changed_missing();
	test_out_of_order_policies();
	test_interrupted();
	test_interrupted_and_out_of_order();
	test_bad_input();
	return done_testing();
}
