/* Splits a migration file into statements the way psql does: semicolons
 * end statements except inside quotes ('', E'', ""), dollar quotes
 * ($$, $tag$), comments (--, nested slash-star) and BEGIN ATOMIC ... END
 * bodies of CREATE FUNCTION/PROCEDURE.  Also reads the file's leading
 * "-- momentum-maintd: ..." directives.  Pure: unit-tested alone. */
#ifndef MOMENTUM_SQLSPLIT_H
#define MOMENTUM_SQLSPLIT_H

#include <stdbool.h>
#include <stddef.h>

struct sql_stmt {
	size_t start;   /* byte offset of the statement's first token */
	size_t len;     /* up to and including its semicolon, if any */
	int line;       /* 1-based line of start */
	int column;     /* 1-based column (characters) of start */
};

struct sql_script {
	struct sql_stmt *stmts;
	size_t n;
	bool no_transaction;      /* -- momentum-maintd: no-transaction */
};

/* On error returns -1 and writes "line N: what" into err. */
int sql_split(const char *text, size_t len, struct sql_script *out, char *err, size_t errsize);
void sql_script_free(struct sql_script *s);

/* True when stmt ends or begins a transaction (not allowed inside a
 * transactional migration, which the daemon wraps itself). */
bool sql_is_transaction_control(const char *text, const struct sql_stmt *stmt);

#endif
