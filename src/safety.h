/* Safety checks of a migration file before it runs: PostgreSQL's own parse
 * tree of each statement (libpg_query) against the operations that lock a
 * table for long or break the application still running: an index built
 * without CONCURRENTLY, a column type change (a rewrite), a NOT NULL column
 * without a default, a foreign key or check constraint validated under
 * the lock, SET NOT NULL (a scan under the lock), a volatile default (a
 * rewrite), and renaming or dropping what the running code still reads.
 * Pure: the sizes that decide whether a finding matters come from the
 * catalog, in migrate.c. */
#ifndef MOMENTUM_SAFETY_H
#define MOMENTUM_SAFETY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sql_script;

/* What became of a finding, once the catalog's sizes are known. */
enum safety_verdict {
	SAFETY_UNJUDGED,
	SAFETY_COVERED,   /* the catalog makes it safe (a validated NOT NULL check) */
	SAFETY_SMALL,     /* table below migrations.safety_min_size (or not there yet) */
	SAFETY_ALLOWED,   /* accepted by the file's allow-unsafe directive */
	SAFETY_WARNED,    /* migrations.safety = warn */
	SAFETY_REFUSED,   /* migrations.safety = refuse: nothing is applied */
};

struct safety_finding {
	const char *check;     /* a name from safety_checks[], e.g. "alter_column_type" */
	int line;              /* 1-based line of the statement */
	char *schema;          /* as written; "" when not qualified */
	char *table;
	char *column;          /* the column it is about, or NULL */
	char *what;            /* "ALTER COLUMN b TYPE rewrites the table" */
	const char *safe;      /* the safe way to write it */
	bool allowed;          /* accepted by an allow-unsafe directive */
	/* from the catalog (migrate.c) */
	bool exists;
	int64_t bytes;         /* pg_total_relation_size */
	double rows;           /* reltuples: -1 never analyzed */
	bool covered;          /* set_not_null: a validated CHECK (col IS NOT NULL) exists */
	char relkind;          /* pg_class.relkind of the table judged ('r', 'p', 'm'), 0 if none */
	enum safety_verdict verdict;
};

struct safety_report {
	struct safety_finding *items;
	size_t n;
	int *unchecked;        /* lines of statements too large or deep to check */
	size_t nunchecked;
};

/* The check names, NULL-terminated. */
extern const char *const safety_checks[];
/* The index of check name (len bytes) in safety_checks, or -1. */
int safety_check_index(const char *name, size_t len);

/* Checks each statement of script (the split of sql).  Tables created
 * earlier in the same file are left out (nobody else uses them yet);
 * findings whose check the script allows (allow-unsafe) are marked
 * allowed.  Statements the parser does not read are skipped, and so are
 * statements that do not start with ALTER, CREATE or DROP (nothing else is
 * checked).  A statement too large to parse safely (its parse needs a
 * stack over 512 MB, or over 8 MB when the system will not give a thread
 * the stack it needs), or whose tree is deeper than the checks read, is
 * listed in out->unchecked.  0, or -1 when out of memory. */
int safety_check_script(const char *sql, const struct sql_script *script, struct safety_report *out);
/* The same for n files at once (one parsing thread for them all):
 * out[i] is in[i]'s report.  0, or -1 when out of memory (or no thread
 * could be made: then nothing is checked and every out[i] is empty). */
struct safety_input {
	const char *sql;
	const struct sql_script *script;
};
int safety_check_scripts(const struct safety_input *in, size_t n, struct safety_report *out);
void safety_report_free(struct safety_report *r);

/* The table as SQL: "schema"."table" (or "table"), quoted for to_regclass. */
void safety_qualified_name(const struct safety_finding *f, char *out, size_t size);
/* The table as written, for messages: schema.table or table. */
void safety_display_name(const struct safety_finding *f, char *out, size_t size);

/* Decides f's verdict from its sizes, the policy (refuse or warn) and the
 * threshold in bytes. */
void safety_judge(struct safety_finding *f, bool refuse, int64_t min_size);
/* "12 MB, ~150k rows" (or "not created yet"). */
void safety_describe_size(const struct safety_finding *f, char *out, size_t size);

/* "10 MB", "64 kB", "1 GB", "0", "512 bytes": bytes, with PostgreSQL's
 * units (1024-based).  -1 with *why set on failure. */
int size_parse(const char *s, int64_t *bytes, const char **why);
/* As pg_size_pretty does: "64 kB", "12 MB". */
void size_format(int64_t bytes, char *out, size_t size);

#endif
