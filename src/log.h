/* Logging: journald when stderr is connected to the journal, otherwise one
 * event per line on stderr (logfmt or JSON).  Every event may carry a
 * MESSAGE_ID and upper-case structured fields (MIGRATION=, SQLSTATE=, ...). */
#ifndef MOMENTUM_LOG_H
#define MOMENTUM_LOG_H

#include <stddef.h>
#include <stdio.h>
#include <syslog.h>

enum log_format { LOG_FORMAT_AUTO, LOG_FORMAT_TEXT, LOG_FORMAT_JSON, LOG_FORMAT_JOURNAL };

struct log_field {
	const char *key;   /* upper case, journald field name */
	const char *value; /* NULL fields are skipped */
};

/* level: a syslog priority (LOG_ERR .. LOG_DEBUG); events above it are dropped. */
void log_setup(int level, enum log_format format);
void log_set_level(int level);
/* Would an event at this priority be written? */
int log_enabled(int priority);
/* Every event carries INSTANCE=name (instance= in text and JSON): which
 * of several daemons on one host wrote it (log.instance, the template
 * unit's %i).  NULL or "" for none; the name is copied (at most 127 bytes). */
void log_set_instance(const char *name);
/* Which sink log_setup() chose (never LOG_FORMAT_AUTO). */
enum log_format log_active_format(void);
/* True when stderr is the journal according to $JOURNAL_STREAM and fstat(2). */
int log_stderr_is_journal(void);

void log_emit(int priority, const char *message_id,
	      const struct log_field *fields, size_t nfields,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* How fputs_escaped() shows what the daemon did not write (text from the
 * database, a migration file, the environment): control characters (C0,
 * DEL, C1 in UTF-8) and bytes that are not UTF-8 never reach the reader as
 * they are, so such text cannot move a terminal's cursor, recolour it or
 * forge a line.  Valid UTF-8 letters are kept. */
enum escape_style {
	ESCAPE_TEXT,    /* newline and tab kept, the rest as \xNN */
	ESCAPE_LINE,    /* one line: \n, \t, \r, \xNN */
	ESCAPE_LOGFMT,  /* ESCAPE_LINE with " and \ escaped: inside a quoted value */
	ESCAPE_JSON,    /* inside a JSON string: \uXXXX, " and \ escaped */
};

void fputs_escaped(FILE *f, const char *s, enum escape_style style);
/* The same in a malloc'ed string; NULL when out of memory. */
char *escaped_dup(const char *s, enum escape_style style);

/* Writes v as a JSON string, quotes included (escaped as ESCAPE_JSON). */
void json_fputs(FILE *f, const char *v);

#define LOG_FIELDS(arr) (arr), (sizeof(arr) / sizeof((arr)[0]))

#define log_error(...)   log_emit(LOG_ERR, NULL, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_emit(LOG_WARNING, NULL, NULL, 0, __VA_ARGS__)
#define log_notice(...)  log_emit(LOG_NOTICE, NULL, NULL, 0, __VA_ARGS__)
#define log_info(...)    log_emit(LOG_INFO, NULL, NULL, 0, __VA_ARGS__)
#define log_debug(...)   log_emit(LOG_DEBUG, NULL, NULL, 0, __VA_ARGS__)

#endif
