/* Splits a migration file into statements: with PostgreSQL's own parser
 * where it parses, else the way psql does (semicolons end statements
 * except inside quotes ('', E'', ""), dollar quotes ($$, $tag$), comments
 * (--, nested slash-star), parentheses and BEGIN ATOMIC ... END bodies of
 * CREATE FUNCTION/PROCEDURE).  Also reads the directive
 * "-- momentum-maintd: no-transaction" before the first statement.  Pure:
 * unit-tested alone. */
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

/* A syntax error PostgreSQL 15's parser found: where, in the file. */
struct sql_syntax_error {
	char *message;            /* the parser's, e.g. syntax error at or near "x" */
	size_t offset;            /* byte offset in the text */
	int line;                 /* 1-based */
	int column;               /* 1-based, characters */
};

struct sql_script {
	struct sql_stmt *stmts;
	size_t n;
	bool no_transaction;      /* -- momentum-maintd: no-transaction */
	unsigned allow_unsafe;    /* -- momentum-maintd: allow-unsafe CHECK, bit = index in safety_checks */
	struct sql_syntax_error syntax; /* message NULL: the parser found none */
};

/* Splits with PostgreSQL 15's own parser (libpg_query).  Where it finds a
 * syntax error, or after SET standard_conforming_strings = off, the
 * scanner below splits instead.  The parser's syntax error is kept in
 * out->syntax (not after such a SET, where the parser reads strings
 * differently from the server): the caller reports it before sending
 * anything when the server's major version is the parser's, and lets a
 * newer server, which may know the syntax, judge the statements.  A UTF-8
 * byte order mark at the start is skipped, as psql does.  On error returns
 * -1 and writes "line N: what" into err. */
int sql_split(const char *text, size_t len, struct sql_script *out, char *err, size_t errsize);

/* The major version of PostgreSQL whose parser sql_split uses (15). */
int sql_parser_major(void);

/* The scanner alone, psql's rules: quotes, dollar quotes, comments,
 * parentheses, BEGIN ATOMIC bodies, standard_conforming_strings. */
int sql_split_scanner(const char *text, size_t len, struct sql_script *out, char *err, size_t errsize);

/* 3 when text starts with a UTF-8 byte order mark, else 0. */
size_t sql_bom_len(const char *text, size_t len);

/* True for COPY ... FROM STDIN / TO STDOUT (by its tokens: a table whose
 * name contains "stdin" is not). */
bool sql_is_copy_stdio(const char *text, const struct sql_stmt *stmt);

/* 0 when stmt sets standard_conforming_strings off, 1 when on (or RESET),
 * -1 when it is not such a SET. */
int sql_sets_standard_strings(const char *text, const struct sql_stmt *stmt);
void sql_script_free(struct sql_script *s);

/* True when stmt ends or begins a transaction (not allowed inside a
 * transactional migration, which the daemon wraps itself). */
bool sql_is_transaction_control(const char *text, const struct sql_stmt *stmt);

#endif
