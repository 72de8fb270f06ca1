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
static char log_instance[128];

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

void log_set_instance(const char *name)
{
	snprintf(log_instance, sizeof(log_instance), "%s", name != NULL ? name : "");
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

/* Length of the valid UTF-8 sequence at p that is not a C1 control
 * (U+0080..U+009F), else 0: such a sequence is written as it is. */
static size_t utf8_printable(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xc2)
		lo = 0xa0;          /* C2 80..C2 9F are the C1 controls */
	else if (p[0] == 0xe0)
		lo = 0xa0;          /* overlong */
	else if (p[0] == 0xed)
		hi = 0x9f;          /* surrogates */
	else if (p[0] == 0xf0)
		lo = 0x90;          /* overlong */
	else if (p[0] == 0xf4)
		hi = 0x8f;          /* above U+10FFFF */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Writes one byte the reader must not receive as it is (a control
 * character, or part of one, or not UTF-8). */
static void put_escaped_byte(FILE *f, unsigned char ch, enum escape_style style)
{
	const char *named = ch == '\n' ? "\\n" : ch == '\t' ? "\\t" : ch == '\r' ? "\\r" : NULL;

	if (named != NULL)
		fputs(named, f);
	else if (style == ESCAPE_JSON)
		fprintf(f, "\\u%04x", ch);
	else
		fprintf(f, "\\x%02x", ch);
}

void fputs_escaped(FILE *f, const char *s, enum escape_style style)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n;

		if ((*p == '"' || *p == '\\') && (style == ESCAPE_LOGFMT || style == ESCAPE_JSON)) {
			fputc('\\', f);
			fputc(*p++, f);
		} else if ((*p == '\n' || *p == '\t') && style == ESCAPE_TEXT) {
			fputc(*p++, f);
		} else if (*p >= ' ' && *p < 0x7f) {
			fputc(*p++, f);
		} else if (*p >= 0x80 && (n = utf8_printable(p)) > 0) {
			fwrite(p, 1, n, f);
			p += n;
		} else if (style == ESCAPE_JSON && *p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			put_escaped_byte(f, p[1], style);   /* the C1 control U+0080..U+009F */
			p += 2;
		} else {
			put_escaped_byte(f, *p++, style);
		}
	}
}

char *escaped_dup(const char *s, enum escape_style style)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return NULL;
	fputs_escaped(f, s, style);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
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
	fputs_escaped(f, v, ESCAPE_LOGFMT);
	fputc('"', f);
}

void json_fputs(FILE *f, const char *v)
{
	fputc('"', f);
	fputs_escaped(f, v, ESCAPE_JSON);
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
		fputs_escaped(stderr, msg, ESCAPE_LINE);
		fputc('\n', stderr);
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

				char *more = strndup(p, n);

				fputs("  ", f);
				fputs_escaped(f, more ? more : "", ESCAPE_LINE);
				fputc('\n', f);
				free(more);
				p += n + (p[n] == '\n');
			}
			free(first);
		}
	}
	if (fclose(f) == 0) {
		fwrite(line, 1, len, stderr);
		fflush(stderr);
	} else {
		fputs_escaped(stderr, msg, ESCAPE_LINE);
		fputc('\n', stderr);
	}
	free(line);
}

#ifdef HAVE_LIBSYSTEMD
static int emit_journal(int priority, const char *message_id,
			const struct log_field *fields, size_t nfields, const char *msg)
{
	struct iovec iov[LOG_MAX_FIELDS + 5];
	char *bufs[LOG_MAX_FIELDS + 5];
	size_t n = 0, i;
	int r = -ENOMEM;
	char *text = escaped_dup(msg, ESCAPE_TEXT);

	/* journalctl shows MESSAGE and fields as they are (with -a, or when a
	 * field is printed on its own): they are escaped like every output */
	if (text == NULL || asprintf(&bufs[n++], "MESSAGE=%s", text) < 0) {
		free(text);
		return -ENOMEM;
	}
	free(text);
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
	for (i = 0; i < nfields && n < LOG_MAX_FIELDS + 5; i++) {
		if (fields[i].value == NULL)
			continue;
		text = escaped_dup(fields[i].value, ESCAPE_TEXT);
		if (text == NULL || asprintf(&bufs[n], "%s=%s", fields[i].key, text) < 0) {
			free(text);
			goto out;
		}
		free(text);
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
	struct log_field all[LOG_MAX_FIELDS + 1];
	va_list ap;
	int n, saved_errno = errno;

	if (priority > log_level)
		return;
	if (priority < LOG_EMERG || priority > LOG_DEBUG)
		priority = LOG_ERR;
	if (nfields > LOG_MAX_FIELDS)
		nfields = LOG_MAX_FIELDS;
	if (log_instance[0] != '\0') {
		all[0] = (struct log_field){ "INSTANCE", log_instance };
		if (nfields > 0)
			memcpy(all + 1, fields, nfields * sizeof(*fields));
		fields = all;
		nfields++;
	}

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
