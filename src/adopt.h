/* migrate adopt FROM: takes over a database that another migration tool
 * (the Supabase CLI, dbmate, golang-migrate, Flyway) kept, by recording
 * what that tool applied in the daemon's own tracking. */
#ifndef MOMENTUM_ADOPT_H
#define MOMENTUM_ADOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;

/* Is from a tool adopt knows?  The names, for messages. */
bool adopt_tool_known(const char *from);
#define ADOPT_TOOLS "supabase, dbmate, golang-migrate, flyway"

/* Reads from's tracking, matches each applied version to a file and
 * records them all in one transaction under the migration lock, or
 * refuses (exit 65) changing nothing.  dry_run: says what it would record. */
int cli_migrate_adopt(const struct conf *conf, const char *password, const char *from, bool dry_run);

/* The SQL of text with comments and white space dropped, and statements
 * told apart only by ";" (empty statements and a final ";" dropped), so
 * that two splits of the same file compare equal.  malloc'ed, or NULL. */
char *adopt_normalize_sql(const char *text);

/* Flyway's checksum of a file: CRC-32 of its lines without their line
 * breaks (and without a byte order mark), as a signed 32-bit number. */
int32_t adopt_flyway_checksum(const char *text);

#endif
