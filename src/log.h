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
/* Which sink log_setup() chose (never LOG_FORMAT_AUTO). */
enum log_format log_active_format(void);
/* True when stderr is the journal according to $JOURNAL_STREAM and fstat(2). */
int log_stderr_is_journal(void);

void log_emit(int priority, const char *message_id,
	      const struct log_field *fields, size_t nfields,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Writes v as a JSON string, quotes included. */
void json_fputs(FILE *f, const char *v);

#define LOG_FIELDS(arr) (arr), (sizeof(arr) / sizeof((arr)[0]))

#define log_error(...)   log_emit(LOG_ERR, NULL, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_emit(LOG_WARNING, NULL, NULL, 0, __VA_ARGS__)
#define log_notice(...)  log_emit(LOG_NOTICE, NULL, NULL, 0, __VA_ARGS__)
#define log_info(...)    log_emit(LOG_INFO, NULL, NULL, 0, __VA_ARGS__)
#define log_debug(...)   log_emit(LOG_DEBUG, NULL, NULL, 0, __VA_ARGS__)

#endif
