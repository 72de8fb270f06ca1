#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-journal.h>
#endif

#include "log.h"

#define LOG_MAX_FIELDS 16

static int log_level = LOG_INFO;
static enum log_format log_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(int level, enum log_format format)
{
	log_level = level;
	if (format == LOG_FORMAT_AUTO)
		format = log_stderr_is_journal() ? LOG_FORMAT_JOURNAL : LOG_FORMAT_TEXT;
#ifndef HAVE_LIBSYSTEMD
	if (format == LOG_FORMAT_JOURNAL)
		format = LOG_FORMAT_TEXT;
#endif
	log_format = format;
}

void log_set_level(int level)
{
	log_level = level;
}

int log_enabled(int priority)
{
	return priority <= log_level;
}

enum log_format log_active_format(void)
{
	return log_format;
}

static void lower_key(char *dst, size_t size, const char *key)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i + 1 < size; i++)
		dst[i] = (char)tolower((unsigned char)key[i]);
	dst[i] = '\0';
}

/* logfmt: bare value when it is simple, else double-quoted with escapes. */
static void put_logfmt_value(FILE *f, const char *v)
{
	const char *p;
	int bare = *v != '\0';

	for (p = v; *p != '\0' && bare; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p >= 0x7f)
			bare = 0;
	if (bare) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (p = v; *p != '\0'; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if ((unsigned char)*p < ' ')
				fprintf(f, "\\x%02x", (unsigned char)*p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void json_fputs(FILE *f, const char *v)
{
	const char *p;

	fputc('"', f);
	for (p = v; *p != '\0'; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if ((unsigned char)*p < ' ')
				fprintf(f, "\\u%04x", (unsigned char)*p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void format_time(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void emit_stream(int priority, const char *message_id,
			const struct log_field *fields, size_t nfields, const char *msg)
{
	char ts[40], key[64], *line = NULL;
	size_t i, len = 0;
	/* the event is put together first and written in one write(2):
	 * stderr is unbuffered, and a line written piecemeal costs a system
	 * call per character and can interleave with a child's output */
	FILE *f = open_memstream(&line, &len);

	if (f == NULL) {
		fprintf(stderr, "%s\n", msg);
		return;
	}
	format_time(ts, sizeof(ts));
	if (log_format == LOG_FORMAT_JSON) {
		fprintf(f, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[priority]);
		json_fputs(f, msg);
		if (message_id != NULL)
			fprintf(f, ",\"message_id\":\"%s\"", message_id);
		for (i = 0; i < nfields; i++) {
			if (fields[i].value == NULL)
				continue;
			lower_key(key, sizeof(key), fields[i].key);
			fprintf(f, ",\"%s\":", key);
			json_fputs(f, fields[i].value);
		}
		fputs("}\n", f);
	} else {
		/* At a terminal a person reads it: the first line is the event,
		 * the rest (a caret under the failing SQL, detail, hint) follows
		 * as is.  Anywhere else it stays one line per event. */
		const char *nl = strchr(msg, '\n');
		char *first = NULL;

		if (nl != NULL && isatty(STDERR_FILENO))
			first = strndup(msg, (size_t)(nl - msg));
		fprintf(f, "time=%s level=%s msg=", ts, level_names[priority]);
		put_logfmt_value(f, first ? first : msg);
		for (i = 0; i < nfields; i++) {
			if (fields[i].value == NULL)
				continue;
			lower_key(key, sizeof(key), fields[i].key);
			fprintf(f, " %s=", key);
			put_logfmt_value(f, fields[i].value);
		}
		fputc('\n', f);
		if (first != NULL) {
			for (const char *p = nl + 1; *p != '\0';) {
				size_t n = strcspn(p, "\n");

				fprintf(f, "  %.*s\n", (int)n, p);
				p += n + (p[n] == '\n');
			}
			free(first);
		}
	}
	if (fclose(f) == 0) {
		fwrite(line, 1, len, stderr);
		fflush(stderr);
	} else {
		fprintf(stderr, "%s\n", msg);
	}
	free(line);
}

#ifdef HAVE_LIBSYSTEMD
static int emit_journal(int priority, const char *message_id,
			const struct log_field *fields, size_t nfields, const char *msg)
{
	struct iovec iov[LOG_MAX_FIELDS + 4];
	char *bufs[LOG_MAX_FIELDS + 4];
	size_t n = 0, i;
	int r = -ENOMEM;

	if (asprintf(&bufs[n++], "MESSAGE=%s", msg) < 0)
		return -ENOMEM;
	if (asprintf(&bufs[n], "PRIORITY=%d", priority) < 0)
		goto out;
	n++;
	if (asprintf(&bufs[n], "SYSLOG_IDENTIFIER=%s", PACKAGE_NAME) < 0)
		goto out;
	n++;
	if (message_id != NULL) {
		if (asprintf(&bufs[n], "MESSAGE_ID=%s", message_id) < 0)
			goto out;
		n++;
	}
	for (i = 0; i < nfields && n < LOG_MAX_FIELDS + 4; i++) {
		if (fields[i].value == NULL)
			continue;
		if (asprintf(&bufs[n], "%s=%s", fields[i].key, fields[i].value) < 0)
			goto out;
		n++;
	}
	for (i = 0; i < n; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = strlen(bufs[i]);
	}
	r = sd_journal_sendv(iov, (int)n);
out:
	for (i = 0; i < n; i++)
		free(bufs[i]);
	return r;
}
#endif

void log_emit(int priority, const char *message_id,
	      const struct log_field *fields, size_t nfields, const char *fmt, ...)
{
	char stackbuf[1024];
	char *msg = stackbuf;
	va_list ap;
	int n, saved_errno = errno;

	if (priority > log_level)
		return;
	if (priority < LOG_EMERG || priority > LOG_DEBUG)
		priority = LOG_ERR;
	if (nfields > LOG_MAX_FIELDS)
		nfields = LOG_MAX_FIELDS;

	va_start(ap, fmt);
	n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(stackbuf)) {
		msg = malloc((size_t)n + 1);
		if (msg == NULL) {
			msg = stackbuf;
		} else {
			va_start(ap, fmt);
			vsnprintf(msg, (size_t)n + 1, fmt, ap);
			va_end(ap);
		}
	}

#ifdef HAVE_LIBSYSTEMD
	/* sd_journal_send() cannot tell whether the journal took the entry;
	 * when it fails outright, stderr is the only place left. */
	if (log_format != LOG_FORMAT_JOURNAL ||
	    emit_journal(priority, message_id, fields, nfields, msg) < 0)
#endif
		emit_stream(priority, message_id, fields, nfields, msg);

	if (msg != stackbuf)
		free(msg);
	errno = saved_errno;
}
