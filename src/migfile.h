/* Migration files on disk: names, content, checksums.  Pure file handling,
 * no database, so it is unit-tested alone. */
#ifndef MOMENTUM_MIGFILE_H
#define MOMENTUM_MIGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqlsplit.h"

#define MIGRATION_VERSION_MAX_DIGITS 18

struct migration {
	int64_t version;
	char *name;            /* file name without ".sql": "001_initial_schema" */
	char *path;            /* directory/name.sql */
	char *rollback_path;   /* directory/rollback_name.sql, or NULL */
	char *sql;             /* file content, NUL-terminated */
	size_t sql_len;
	char checksum[65];     /* SHA-256 of the content, lower-case hex */
	struct sql_script script; /* its statements and directives */
};

struct migration_set {
	struct migration *items; /* sorted by version */
	size_t n;
};

enum migfile_kind { MIGFILE_IGNORED, MIGFILE_MIGRATION, MIGFILE_ROLLBACK };

/* Classifies a directory entry.  Files not ending in ".sql" are ignored;
 * a ".sql" file must be NNN_name.sql or rollback_NNN_name.sql, or
 * golang-migrate's pair NNN_name.up.sql (a migration named "NNN_name.up")
 * and NNN_name.down.sql (its rollback), else -1 with *why set.  NNN is 1
 * to 18 digits (the Supabase CLI's and dbmate's 14-digit timestamps fit).
 * On success *version and *stem_off (where "NNN_name" starts inside
 * filename) are filled for migrations and rollbacks. */
int migfile_classify(const char *filename, enum migfile_kind *kind, int64_t *version,
		     size_t *stem_off, const char **why);

/* The rollback file name that goes with migration name ("NNN_x" or
 * "NNN_x.up"): rollback_NNN_x.sql or NNN_x.down.sql. */
void migfile_rollback_name(const char *name, char *out, size_t size);

/* Byte offset of dbmate's "-- migrate:down" line in text (at the start of
 * a line, blanks allowed after "--"), or -1.  A migration with a statement
 * after it is refused: its undo belongs in its rollback file. */
long migfile_down_marker(const char *text);

/* Reads every migration and rollback in dir.  On error returns -1 with a
 * message naming the file in err, or -2 when dir itself cannot be read
 * (a configuration problem rather than a bad file). */
int migration_set_load(const char *dir, struct migration_set *set, char *err, size_t errsize);
void migration_set_free(struct migration_set *set);
struct migration *migration_set_find(const struct migration_set *set, int64_t version);

/* Reads and splits m's rollback file; -1 with err naming the file. */
int migration_read_rollback(const struct migration *m, char **sql, struct sql_script *script,
			    char *err, size_t errsize);

/* Whether sql may define a custom setting ("app.tenant") in its session,
 * which PostgreSQL keeps defined (reading '' instead of NULL) until the
 * connection ends: a SET, SET LOCAL or RESET of a qualified name, or such
 * a SET clause of a function or role, or a call of set_config().  Read
 * from the text, comments and strings too: a word too many costs a new
 * connection, no more.  A call of a function defined elsewhere with such
 * a SET clause is not seen. */
bool migfile_may_define_setting(const char *sql, size_t len);
/* SHA-256 of data as 64 lower-case hex digits plus NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);

/* Returns the byte offset of the first invalid UTF-8 sequence, or -1. */
long utf8_invalid_offset(const char *s, size_t len);

/* Converts a 1-based character position in text (as PostgreSQL reports
 * error positions) into a 1-based line and column, and the line's bounds
 * (without the \r of a CRLF line end). */
void text_position(const char *text, long charpos, int *line, int *column,
		   const char **line_start, size_t *line_len);

/* len without a trailing \r (a CRLF file's line, to echo). */
size_t line_length(const char *line, size_t len);

/* Writes into out (NUL-terminated) what puts a caret under column col
 * (1-based, characters) of line: its tabs kept, each other character as
 * many spaces as it is wide on a terminal (2 for wide characters, 0 for
 * combining ones).  Returns the bytes written. */
size_t caret_indent(const char *line, size_t len, int col, char *out, size_t outsize);

#endif
