#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>
#include <libpq-fe.h>

#include "conf.h"
#include "cron.h"
#include "duration.h"
#include "log.h"

#define ENV_PREFIX "MOMENTUM_MAINTD_"
/* A configuration file sets a few dozen keys; libconfig's scanner is
 * quadratic in the length of a string, so a huge file could take minutes. */
#define CONF_FILE_MAX_SIZE (1024 * 1024)

static const char *const environment_choices[] = { "development", "staging", "production", NULL };
static const char *const out_of_order_choices[] = { "fail", "apply", "ignore", NULL };
static const char *const log_level_choices[] = { "debug", "info", "notice", "warning", "error", NULL };
static const char *const log_format_choices[] = { "auto", "text", "json", "journal", NULL };

#define OFF(field) offsetof(struct conf, field)
#define DAY_MS INT64_C(86400000)

const struct conf_key conf_keys[] = {
	{ "environment", CT_ENUM, OFF(environment), "production", 0, 0, environment_choices, 0,
	  "development | staging | production: the seed's per-environment rules" },
	{ "database.conninfo", CT_STRING, OFF(db_conninfo), "", 0, 0, NULL, CK_SECRET,
	  "libpq conninfo or URI; \"\" uses libpq's PG* environment (DATABASE_URL also sets it)" },
	{ "database.password_file", CT_STRING, OFF(db_password_file), "", 0, 0, NULL, 0,
	  "file whose first line is the password; default $CREDENTIALS_DIRECTORY/db-password" },
	{ "migrations.directory", CT_STRING, OFF(mig_directory), PKGDATADIR "/migrations", 0, 0, NULL, 0,
	  "directory of NNN_name.sql and rollback_NNN_name.sql files" },
	{ "migrations.backup_command", CT_STRING, OFF(mig_backup_command), "", 0, 0, NULL, CK_RELOADABLE,
	  "shell command run before applying migrations in production" },
	{ "migrations.on_out_of_order", CT_ENUM, OFF(mig_on_out_of_order), "fail", 0, 0, out_of_order_choices, 0,
	  "a pending migration older than the newest applied one: fail | apply | ignore" },
	{ "migrations.supabase_compat", CT_BOOL, OFF(mig_supabase_compat), "true", 0, 0, NULL, 0,
	  "create the Supabase objects the migrations use (auth, storage, roles) where missing" },
	{ "migrations.lock_timeout", CT_DURATION, OFF(mig_lock_timeout_ms), "2 s", 10, 3600000, NULL, 0,
	  "longest a migration statement waits for a lock before it is rolled back and retried" },
	{ "migrations.lock_retries", CT_INT, OFF(mig_lock_retries), "10", 0, 1000, NULL, 0,
	  "retries after a lock timeout, with backoff, before the migration fails" },
	{ "jobs.history_retention", CT_DURATION, OFF(jobs_history_retention_ms), "90 days", 1000, 3650 * DAY_MS, NULL, CK_RELOADABLE,
	  "job_runs rows older than this are pruned" },
	{ "jobs.zoom_token_cleanup.enabled", CT_BOOL, OFF(cleanup_enabled), "true", 0, 0, NULL, CK_RELOADABLE,
	  "run the expired Zoom token cleanup on its schedule" },
	{ "jobs.zoom_token_cleanup.catch_up", CT_BOOL, OFF(cleanup_catch_up), "true", 0, 0, NULL, CK_RELOADABLE,
	  "run once after start if a scheduled run was missed while the daemon was down" },
	{ "jobs.zoom_token_cleanup.schedule", CT_STRING, OFF(cleanup_schedule), "0 2 * * *", 0, 0, NULL, CK_RELOADABLE,
	  "cron expression of the expired Zoom token cleanup" },
	{ "jobs.zoom_token_cleanup.timezone", CT_STRING, OFF(cleanup_timezone), "UTC", 0, 0, NULL, CK_RELOADABLE,
	  "IANA time zone the schedule is read in" },
	{ "jobs.zoom_token_cleanup.retention", CT_DURATION, OFF(cleanup_retention_ms), "7 days", 60000, 3650 * DAY_MS, NULL, CK_RELOADABLE,
	  "tokens that expired longer ago than this are deleted" },
	{ "jobs.zoom_token_cleanup.batch_size", CT_INT, OFF(cleanup_batch_size), "5000", 1, 1000000, NULL, CK_RELOADABLE,
	  "most rows deleted by one batch transaction" },
	{ "jobs.zoom_token_cleanup.max_runtime", CT_DURATION, OFF(cleanup_max_runtime_ms), "30 min", 1000, 7 * DAY_MS, NULL, CK_RELOADABLE,
	  "a run stops after this long; the rest waits for the next run" },
	{ "jobs.zoom_token_cleanup.max_replica_lag", CT_DURATION, OFF(cleanup_max_replica_lag_ms), "30 s", 1000, DAY_MS, NULL, CK_RELOADABLE,
	  "pause between batches while a streaming replica's replay is further behind than this" },
	{ "jobs.verify.schedule", CT_STRING, OFF(verify_schedule), "*/15 * * * *", 0, 0, NULL, CK_RELOADABLE,
	  "cron expression of the verification pass" },
	{ "verify.remind_every", CT_DURATION, OFF(verify_remind_every_ms), "24 h", 60000, 365 * DAY_MS, NULL, CK_RELOADABLE,
	  "a finding still present is logged again at most this often" },
	{ "verify.ignore", CT_STRLIST, OFF(verify_ignore), "", 0, 0, NULL, CK_RELOADABLE,
	  "finding keys to silence" },
	{ "log.level", CT_ENUM, OFF(log_level), "info", 0, 0, log_level_choices, CK_RELOADABLE,
	  "debug | info | notice | warning | error" },
	{ "log.format", CT_ENUM, OFF(log_format), "auto", 0, 0, log_format_choices, 0,
	  "auto (journal when stderr is the journal, else text) | text | json | journal" },
	{ "http.listen", CT_STRING, OFF(http_listen), "", 0, 0, NULL, 0,
	  "address:port for /healthz /readyz /metrics; \"\" = off" },
};
const size_t conf_nkeys = sizeof(conf_keys) / sizeof(conf_keys[0]);

static void set_error(struct conf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct conf_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

static void *field(struct conf *c, const struct conf_key *k)
{
	return (char *)c + k->offset;
}

static const void *cfield(const struct conf *c, const struct conf_key *k)
{
	return (const char *)c + k->offset;
}

static void strlist_free(char **list)
{
	char **p;

	if (list == NULL)
		return;
	for (p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

static void list_choices(const char *const *choices, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; *choices != NULL; choices++) {
		int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", *choices);

		if (w < 0 || (size_t)w >= size - used)
			return;
		used += (size_t)w;
	}
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
		if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
	}
	return -1;
}

/* A conninfo may hold a password, so errors never quote it: libpq's own
 * parse errors do ("missing "=" after "Secret""), and a URI whose password
 * has an unencoded '/' or '@' parses into a host or port made of it. */
static int check_conninfo(const struct conf_key *k, const char *s, const char *where,
			  struct conf_error *err)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(s, &perr), *o;
	int rc = 0;

	if (opts == NULL) {
		PQfreemem(perr);
		set_error(err, "%s: %s: not a valid libpq connection string or URI (libpq's message is not "
			  "shown, it may quote the password); check the syntax, and percent-encode special "
			  "characters of a URI's password (or use database.password_file)", where, k->path);
		return -1;
	}
	if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
		/* "postgresql://u:1/x@host/db" parses as host u, port 1 and database
		 * "x@host/db": an '@' after the host is a password's '/' unencoded */
		const char *auth = strstr(s, "://") + 3;
		size_t end = strcspn(auth, "?");
		const char *slash = memchr(auth, '/', end);

		if (slash != NULL && memchr(slash, '@', end - (size_t)(slash - auth)) != NULL) {
			set_error(err, "%s: %s: the URI has an '@' after its host: if the URI's password "
				  "contains '/', '@' or ':', percent-encode them (%%2F, %%40, %%3A) or use "
				  "database.password_file", where, k->path);
			PQconninfoFree(opts);
			return -1;
		}
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0 && o->val[0] != '/' && strpbrk(o->val, "@/") != NULL) {
			set_error(err, "%s: %s: the host contains '@' or '/': if the URI's password contains "
				  "'/', '@' or ':', percent-encode them (%%2F, %%40, %%3A) or use database.password_file",
				  where, k->path);
			rc = -1;
			break;
		}
		if (strcmp(o->keyword, "port") == 0 && strspn(o->val, "0123456789,") != strlen(o->val)) {
			set_error(err, "%s: %s: the port is not a number (a URI password with an unencoded "
				  "'/' or '@' looks like this; percent-encode it or use database.password_file)",
				  where, k->path);
			rc = -1;
			break;
		}
	}
	PQconninfoFree(opts);
	return rc;
}

/* "127.0.0.1:9187", "[::1]:9187", "localhost:9187" */
static int check_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s)
		return -1;
	if (s[0] == '[' && colon[-1] != ']')
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
		return -1;
	return 0;
}

/* Checks a value that passed its type against the key's own rules. */
static int check_string(const struct conf_key *k, const char *s, const char *where, struct conf_error *err)
{
	if (strcmp(k->path, "database.conninfo") == 0 && s[0] != '\0')
		return check_conninfo(k, s, where, err);
	if (strstr(k->path, ".schedule") != NULL) {
		struct cron_expr e;
		char why[256];

		if (cron_parse(s, &e, why, sizeof(why)) < 0) {
			set_error(err, "%s: %s: invalid cron expression \"%s\": %s", where, k->path, s, why);
			return -1;
		}
		/* "0 0 31 2 *" parses but never runs: say so rather than never run the job */
		if (cron_next(&e, "UTC", time(NULL)) == (time_t)-1) {
			set_error(err, "%s: %s: cron expression \"%s\" never matches a date (no such day "
				  "of the month in the months it names)", where, k->path, s);
			return -1;
		}
	}
	if (strstr(k->path, ".timezone") != NULL && !cron_timezone_valid(s)) {
		set_error(err, "%s: %s: unknown time zone \"%s\" (an IANA name such as \"UTC\" or "
			  "\"Europe/Berlin\", from /usr/share/zoneinfo)", where, k->path, s);
		return -1;
	}
	if (strcmp(k->path, "http.listen") == 0 && s[0] != '\0' && check_listen(s) < 0) {
		set_error(err, "%s: %s: expected ADDRESS:PORT with a port from 1 to 65535, e.g. "
			  "\"127.0.0.1:9187\" or \"[::1]:9187\", got \"%s\"", where, k->path, s);
		return -1;
	}
	if ((strcmp(k->path, "jobs.zoom_token_cleanup.schedule") == 0 ||
	     strcmp(k->path, "jobs.verify.schedule") == 0 ||
	     strcmp(k->path, "jobs.zoom_token_cleanup.timezone") == 0 ||
	     strcmp(k->path, "migrations.directory") == 0) && s[0] == '\0') {
		set_error(err, "%s: %s: must not be empty", where, k->path);
		return -1;
	}
	return 0;
}

/* Stores a value given as text (environment, command line, defaults). */
static int set_from_string(struct conf *c, const struct conf_key *k, const char *s,
			   const char *where, struct conf_error *err)
{
	void *p = field(c, k);
	char buf[256];

	switch (k->type) {
	case CT_STRING: {
		char *dup;

		if (check_string(k, s, where, err) < 0)
			return -1;
		dup = strdup(s);
		if (dup == NULL)
			goto oom;
		free(*(char **)p);
		*(char **)p = dup;
		return 0;
	}
	case CT_ENUM: {
		int i;

		for (i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(k->choices[i], s) == 0) {
				*(int *)p = i;
				return 0;
			}
		}
		list_choices(k->choices, buf, sizeof(buf));
		set_error(err, "%s: %s: invalid value \"%s\" (allowed: %s)", where, k->path, s, buf);
		return -1;
	}
	case CT_INT: {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || end == s || *end != '\0') {
			set_error(err, "%s: %s: expected an integer, got \"%s\"", where, k->path, s);
			return -1;
		}
		if (v < k->min || v > k->max) {
			set_error(err, "%s: %s: invalid value %lld (min %" PRId64 ", max %" PRId64 ")",
				  where, k->path, v, k->min, k->max);
			return -1;
		}
		*(int64_t *)p = v;
		return 0;
	}
	case CT_BOOL:
		if (parse_bool(s, (bool *)p) < 0) {
			set_error(err, "%s: %s: expected true or false, got \"%s\"", where, k->path, s);
			return -1;
		}
		return 0;
	case CT_DURATION: {
		const char *why;
		int64_t ms;
		char lo[64], hi[64];

		if (duration_parse(s, &ms, &why) < 0) {
			set_error(err, "%s: %s: invalid duration \"%s\": %s", where, k->path, s, why);
			return -1;
		}
		if (ms < k->min || ms > k->max) {
			duration_format(k->min, lo, sizeof(lo));
			duration_format(k->max, hi, sizeof(hi));
			set_error(err, "%s: %s: duration \"%s\" out of range (min %s, max %s)",
				  where, k->path, s, lo, hi);
			return -1;
		}
		*(int64_t *)p = ms;
		return 0;
	}
	case CT_STRLIST: {
		/* in the environment and on the command line: a, b, c  or, for
		 * items that contain commas, ["a, b", "c"] */
		size_t n = 0, cap = 4;
		char **list = calloc(cap + 1, sizeof(*list));
		const char *q = s;
		bool quoted;

		if (list == NULL)
			goto oom;
		while (isspace((unsigned char)*q))
			q++;
		quoted = *q == '[';
		if (quoted)
			q++;
		while (*q != '\0') {
			const char *start, *end;
			char *item = NULL;

			while (*q == ',' || isspace((unsigned char)*q))
				q++;
			if (*q == '\0' || (quoted && *q == ']'))
				break;
			if (quoted) {
				size_t len = 0;

				if (*q != '"' || (item = malloc(strlen(q) + 1)) == NULL) {
					strlist_free(list);
					if (item == NULL && *q == '"')
						goto oom;
					set_error(err, "%s: %s: expected a list of double-quoted strings, e.g. [\"a\", \"b, c\"]",
						  where, k->path);
					return -1;
				}
				for (q++; *q != '\0' && *q != '"'; q++)
					item[len++] = *q == '\\' && (q[1] == '"' || q[1] == '\\') ? *++q : *q;
				item[len] = '\0';
				if (*q != '"') {
					free(item);
					strlist_free(list);
					set_error(err, "%s: %s: unterminated string in the list", where, k->path);
					return -1;
				}
				q++;
				start = end = NULL;
			} else {
				start = q;
				while (*q != '\0' && *q != ',')
					q++;
				end = q;
				while (end > start && isspace((unsigned char)end[-1]))
					end--;
			}
			if (n == cap) {
				char **grown = realloc(list, (cap * 2 + 1) * sizeof(*list));

				if (grown == NULL) {
					free(item);
					strlist_free(list);
					goto oom;
				}
				list = grown;
				cap *= 2;
			}
			list[n] = item != NULL ? item : strndup(start, (size_t)(end - start));
			if (list[n] == NULL) {
				strlist_free(list);
				goto oom;
			}
			list[++n] = NULL;
		}
		if (quoted) {
			while (isspace((unsigned char)*q))
				q++;
			if (*q != ']' || q[1 + strspn(q + 1, " \t\n")] != '\0') {
				strlist_free(list);
				set_error(err, "%s: %s: the list must end with ]", where, k->path);
				return -1;
			}
		}
		strlist_free(*(char ***)p);
		*(char ***)p = list;
		return 0;
	}
	}
	set_error(err, "%s: %s: unsupported type", where, k->path);
	return -1;
oom:
	set_error(err, "%s: %s: out of memory", where, k->path);
	return -1;
}

static const struct conf_key *key_lookup(const char *path)
{
	size_t i;

	for (i = 0; i < conf_nkeys; i++)
		if (strcmp(conf_keys[i].path, path) == 0)
			return &conf_keys[i];
	return NULL;
}

static int set_origin(struct conf *c, const struct conf_key *k, const char *origin)
{
	size_t i = (size_t)(k - conf_keys);
	char *dup = strdup(origin);

	if (dup == NULL)
		return -1;
	free(c->origin[i]);
	c->origin[i] = dup;
	return 0;
}

struct conf *conf_new(void)
{
	struct conf *c = calloc(1, sizeof(*c));
	struct conf_error err;
	size_t i;

	if (c == NULL)
		return NULL;
	c->origin = calloc(conf_nkeys, sizeof(*c->origin));
	if (c->origin == NULL)
		goto fail;
	for (i = 0; i < conf_nkeys; i++) {
		if (set_from_string(c, &conf_keys[i], conf_keys[i].def, "default", &err) < 0 &&
		    conf_keys[i].type != CT_STRING) {
			fprintf(stderr, "internal error: %s\n", err.msg);
			goto fail;
		}
		/* defaults that fail a string check ("" conninfo is fine) still get stored */
		if (conf_keys[i].type == CT_STRING && *(char **)field(c, &conf_keys[i]) == NULL)
			*(char **)field(c, &conf_keys[i]) = strdup(conf_keys[i].def);
		if (set_origin(c, &conf_keys[i], "default") < 0)
			goto fail;
	}
	return c;
fail:
	conf_free(c);
	return NULL;
}

void conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->type == CT_STRING)
			free(*(char **)field(c, k));
		else if (k->type == CT_STRLIST)
			strlist_free(*(char ***)field(c, k));
		if (c->origin != NULL)
			free(c->origin[i]);
	}
	free(c->origin);
	free(c->file);
	free(c);
}

static const char *type_name(int t)
{
	switch (t) {
	case CONFIG_TYPE_GROUP: return "a group";
	case CONFIG_TYPE_INT: case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a number with a fraction";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean";
	case CONFIG_TYPE_ARRAY: return "an array";
	case CONFIG_TYPE_LIST: return "a list";
	default: return "an unknown type";
	}
}

static const char *expected_name(enum conf_type t)
{
	switch (t) {
	case CT_STRING: return "a string";
	case CT_ENUM: return "a string";
	case CT_INT: return "an integer";
	case CT_BOOL: return "true or false";
	case CT_DURATION: return "a duration string such as \"30 min\" (or an integer number of seconds)";
	case CT_STRLIST: return "an array of strings, e.g. [\"a\", \"b\"]";
	}
	return "?";
}

/* Is path a section (a prefix of some key followed by a dot)? */
static int is_section(const char *path)
{
	size_t i, n = strlen(path);

	for (i = 0; i < conf_nkeys; i++)
		if (strncmp(conf_keys[i].path, path, n) == 0 && conf_keys[i].path[n] == '.')
			return 1;
	return 0;
}

/* Lists the keys and sections directly below section ("" = top level). */
static void list_children(const char *section, char *buf, size_t size)
{
	size_t i, used = 0, n = strlen(section);
	char prev[64] = "";

	buf[0] = '\0';
	for (i = 0; i < conf_nkeys; i++) {
		const char *rest = conf_keys[i].path, *dot;
		char name[64];
		int w;

		if (n > 0) {
			if (strncmp(rest, section, n) != 0 || rest[n] != '.')
				continue;
			rest += n + 1;
		}
		dot = strchr(rest, '.');
		snprintf(name, sizeof(name), "%.*s", (int)(dot ? (size_t)(dot - rest) : strlen(rest)), rest);
		/* the table keeps each section's keys together */
		if (strcmp(name, prev) == 0)
			continue;
		snprintf(prev, sizeof(prev), "%s", name);
		w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name);
		if (w < 0 || (size_t)w >= size - used)
			return;
		used += (size_t)w;
	}
}

/* libconfig 1.5 keeps only 32 bits of an integer written without an L
 * suffix: compare what it parsed with the decimal literal on the line. */
static bool int_literal_truncated(const char *file, int line, const char *name, long long parsed)
{
	char buf[1024];
	FILE *f = fopen(file, "r");
	int n = 0;
	bool truncated = false;

	if (f == NULL)
		return false;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char *p;

		if (++n != line)
			continue;
		/* the name, then '=' or ':', then the literal */
		for (p = strstr(buf, name); p != NULL; p = strstr(p + 1, name)) {
			char *q = p + strlen(name), *end;
			long long v;

			if (p > buf && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
				continue;
			q += strspn(q, " \t");
			if (*q != '=' && *q != ':')
				continue;
			q++;
			q += strspn(q, " \t");
			if (!(isdigit((unsigned char)*q) || *q == '-') || (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')))
				break;
			errno = 0;
			v = strtoll(q, &end, 10);
			truncated = errno == ERANGE || v != parsed;
			break;
		}
		break;
	}
	fclose(f);
	return truncated;
}

static int load_setting(struct conf *c, const char *file, config_setting_t *s,
			const char *prefix, struct conf_error *err)
{
	const char *name = config_setting_name(s);
	int line = (int)config_setting_source_line(s);
	int t = config_setting_type(s);
	const struct conf_key *k;
	char path[256], where[512], buf[512];

	if (prefix[0] != '\0')
		snprintf(path, sizeof(path), "%s.%s", prefix, name);
	else
		snprintf(path, sizeof(path), "%s", name);
	snprintf(where, sizeof(where), "%s:%d", file, line);

	if (t == CONFIG_TYPE_GROUP) {
		int i, n = config_setting_length(s);

		if (!is_section(path)) {
			k = key_lookup(path);
			if (k != NULL) {
				set_error(err, "%s: %s: expected %s, got a group", where, path, expected_name(k->type));
			} else {
				list_children(prefix, buf, sizeof(buf));
				set_error(err, "%s: unknown section \"%s\" (allowed here: %s)", where, path, buf);
			}
			return -1;
		}
		for (i = 0; i < n; i++)
			if (load_setting(c, file, config_setting_get_elem(s, (unsigned)i), path, err) < 0)
				return -1;
		return 0;
	}

	k = key_lookup(path);
	if (k == NULL) {
		list_children(prefix, buf, sizeof(buf));
		if (is_section(path))
			set_error(err, "%s: %s: is a section; write it as %s: { ... }", where, path, name);
		else
			set_error(err, "%s: unknown key \"%s\" (allowed %s%s: %s)", where, path,
				  prefix[0] ? "in " : "here", prefix, buf);
		return -1;
	}

	switch (k->type) {
	case CT_STRING:
	case CT_ENUM:
		if (t != CONFIG_TYPE_STRING)
			goto wrong_type;
		if (set_from_string(c, k, config_setting_get_string(s), where, err) < 0)
			return -1;
		break;
	case CT_INT:
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			goto wrong_type;
		if (int_literal_truncated(file, line, name, config_setting_get_int64(s))) {
			set_error(err, "%s: %s: integer too large", where, path);
			return -1;
		}
		snprintf(buf, sizeof(buf), "%lld", config_setting_get_int64(s));
		if (set_from_string(c, k, buf, where, err) < 0)
			return -1;
		break;
	case CT_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			goto wrong_type;
		*(bool *)field(c, k) = config_setting_get_bool(s) != 0;
		break;
	case CT_DURATION:
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
			long long v = config_setting_get_int64(s);

			if (int_literal_truncated(file, line, name, v)) {
				set_error(err, "%s: %s: integer too large", where, path);
				return -1;
			}
			if (v < 0) {
				set_error(err, "%s: %s: duration must not be negative", where, path);
				return -1;
			}
			snprintf(buf, sizeof(buf), "%lld s", v);
		} else if (t == CONFIG_TYPE_STRING) {
			snprintf(buf, sizeof(buf), "%s", config_setting_get_string(s));
		} else {
			goto wrong_type;
		}
		if (set_from_string(c, k, buf, where, err) < 0)
			return -1;
		break;
	case CT_STRLIST: {
		int i, n;
		char **list;

		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
			goto wrong_type;
		n = config_setting_length(s);
		list = calloc((size_t)n + 1, sizeof(*list));
		if (list == NULL) {
			set_error(err, "%s: %s: out of memory", where, path);
			return -1;
		}
		for (i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			const char *v = config_setting_get_string(e);

			if (v == NULL || (list[i] = strdup(v)) == NULL) {
				strlist_free(list);
				set_error(err, "%s: %s: element %d: expected a string, got %s", where, path,
					  i + 1, type_name(config_setting_type(e)));
				return -1;
			}
		}
		strlist_free(*(char ***)field(c, k));
		*(char ***)field(c, k) = list;
		break;
	}
	}
	return set_origin(c, k, where);

wrong_type:
	set_error(err, "%s: %s: expected %s, got %s", where, path, expected_name(k->type), type_name(t));
	return -1;
}

static bool conninfo_has_password(const char *conninfo)
{
	PQconninfoOption *opts, *o;
	bool has = false;

	if (conninfo[0] == '\0' || (opts = PQconninfoParse(conninfo, NULL)) == NULL)
		return false;
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			has = true;
	PQconninfoFree(opts);
	return has;
}

/* Does line n of f start with a dotted name ("log.level = ...")?  People
 * write that after using --set log.level=...; libconfig only says
 * "syntax error". */
static bool dotted_name_on_line(FILE *f, int n)
{
	char line[512];
	int i = 0;
	const char *p;

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (++i == n)
			break;
	if (i != n)
		return false;
	p = line + strspn(line, " \t");
	p += strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
	return *p == '.' && p != line;
}

int conf_load_file(struct conf *c, const char *path, bool must_exist, struct conf_error *err)
{
	config_t lc;
	FILE *f;
	int i, n, rc = -1;
	struct stat st;
	int fd, ch, lineno = 1;

	if (path[0] == '\0') {
		set_error(err, "\"\": cannot open configuration file: the file name is empty");
		return -1;
	}
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		set_error(err, "%s: cannot open configuration file: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		set_error(err, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_size > CONF_FILE_MAX_SIZE) {
		close(fd);
		set_error(err, "%s: configuration file too large (%lld bytes, at most %d); is it the right file?",
			  path, (long long)st.st_size, CONF_FILE_MAX_SIZE);
		return -1;
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		set_error(err, "%s: cannot open configuration file: %s", path, strerror(errno));
		return -1;
	}
	/* libconfig stops at a NUL byte and ignores the rest of the file */
	while ((ch = getc(f)) != EOF) {
		if (ch == '\n') {
			lineno++;
		} else if (ch == '\0') {
			set_error(err, "%s:%d: contains a NUL byte; a configuration file is text", path, lineno);
			fclose(f);
			return -1;
		}
	}
	rewind(f);
	config_init(&lc);
	if (config_read(&lc, f) != CONFIG_TRUE) {
		set_error(err, "%s:%d: %s%s", path, config_error_line(&lc), config_error_text(&lc),
			  dotted_name_on_line(f, config_error_line(&lc))
			  ? " (names cannot contain '.': write a section as log: { level = \"debug\"; };)" : "");
		goto out;
	}
	n = config_setting_length(config_root_setting(&lc));
	for (i = 0; i < n; i++)
		if (load_setting(c, path, config_setting_get_elem(config_root_setting(&lc), (unsigned)i), "", err) < 0)
			goto out;
	if (strcmp(c->origin[key_lookup("database.conninfo") - conf_keys], "default") != 0 &&
	    strncmp(c->origin[key_lookup("database.conninfo") - conf_keys], path, strlen(path)) == 0 &&
	    conninfo_has_password(c->db_conninfo) && (st.st_mode & (S_IROTH | S_IWOTH))) {
		set_error(err, "%s: holds a password in database.conninfo and is readable by other users "
			  "(mode %04o); run chmod o-rwx %s, or move the password to database.password_file, "
			  "systemd's LoadCredential=db-password or PGPASSFILE", path,
			  (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	free(c->file);
	c->file = strdup(path);
	rc = 0;
out:
	config_destroy(&lc);
	fclose(f);
	return rc;
}

/* "jobs.zoom_token_cleanup.batch_size" -> "MOMENTUM_MAINTD_JOBS_ZOOM_TOKEN_CLEANUP_BATCH_SIZE" */
static void env_name(const char *path, char *buf, size_t size)
{
	size_t i = 0, j;

	j = (size_t)snprintf(buf, size, "%s", ENV_PREFIX);
	for (; path[i] != '\0' && j + 1 < size; i++, j++)
		buf[j] = path[i] == '.' ? '_' : (char)toupper((unsigned char)path[i]);
	buf[j] = '\0';
}

static const char *env_lookup(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

int conf_load_env(struct conf *c, char *const *envp, struct conf_error *err)
{
	char *const *scan;
	const char *url = NULL;
	char name[160], where[200];
	size_t i;

	for (scan = envp; *scan != NULL; scan++) {
		const char *e = *scan, *eq = strchr(e, '=');
		const struct conf_key *k = NULL;

		if (eq == NULL)
			continue;
		if (strncmp(e, "DATABASE_URL=", 13) == 0) {
			url = eq + 1;
			continue;
		}
		if (strncmp(e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 ||
		    strncmp(e, ENV_PREFIX "CONFIG=", strlen(ENV_PREFIX) + 7) == 0)
			continue;
		for (i = 0; i < conf_nkeys && k == NULL; i++) {
			env_name(conf_keys[i].path, name, sizeof(name));
			if (strlen(name) == (size_t)(eq - e) && strncmp(name, e, (size_t)(eq - e)) == 0)
				k = &conf_keys[i];
		}
		if (k == NULL) {
			set_error(err, "environment %.*s: no such configuration key "
				  "(variables are " ENV_PREFIX "<SECTION>_<KEY>, e.g. " ENV_PREFIX "LOG_LEVEL)",
				  (int)(eq - e), e);
			return -1;
		}
	}
	/* DATABASE_URL first, so MOMENTUM_MAINTD_DATABASE_CONNINFO wins over it. */
	if (url != NULL && url[0] != '\0') {
		const struct conf_key *k = key_lookup("database.conninfo");

		if (set_from_string(c, k, url, "environment DATABASE_URL", err) < 0 ||
		    set_origin(c, k, "environment DATABASE_URL") < 0)
			return -1;
	}
	for (i = 0; i < conf_nkeys; i++) {
		const char *v;

		env_name(conf_keys[i].path, name, sizeof(name));
		v = env_lookup(envp, name);
		if (v == NULL)
			continue;
		snprintf(where, sizeof(where), "environment %s", name);
		if (set_from_string(c, &conf_keys[i], v, where, err) < 0 ||
		    set_origin(c, &conf_keys[i], where) < 0)
			return -1;
	}
	return 0;
}

int conf_set(struct conf *c, const char *path, const char *value, const char *origin,
	     struct conf_error *err)
{
	const struct conf_key *k = key_lookup(path);
	char buf[512];

	if (k == NULL) {
		char section[256];
		const char *dot = strrchr(path, '.');

		/* name the keys of the deepest section that exists */
		snprintf(section, sizeof(section), "%.*s", dot ? (int)(dot - path) : 0, path);
		while (section[0] != '\0' && !is_section(section)) {
			char *d = strrchr(section, '.');

			if (d != NULL)
				*d = '\0';
			else
				section[0] = '\0';
		}
		list_children(section, buf, sizeof(buf));
		set_error(err, "%s: unknown key \"%s\" (allowed %s%s: %s)", origin, path,
			  section[0] ? "in " : "here", section, buf);
		return -1;
	}
	if (set_from_string(c, k, value, origin, err) < 0)
		return -1;
	return set_origin(c, k, origin);
}

int conf_validate(const struct conf *c, struct conf_error *err)
{
	const char *pwf = c->db_password_file;

	struct stat st;

	if (pwf[0] != '\0' && access(pwf, R_OK) < 0) {
		set_error(err, "%s: database.password_file: cannot read \"%s\": %s",
			  c->origin[key_lookup("database.password_file") - conf_keys], pwf, strerror(errno));
		return -1;
	}
	if (pwf[0] != '\0' && stat(pwf, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
		set_error(err, "%s: database.password_file: \"%s\" is readable by other users (mode %04o); "
			  "run chmod o-rwx %s", c->origin[key_lookup("database.password_file") - conf_keys], pwf,
			  (unsigned)(st.st_mode & 07777), pwf);
		return -1;
	}
	return 0;
}

void conf_mask_conninfo(const char *conninfo, char *out, size_t size)
{
	PQconninfoOption *opts, *o;
	size_t used = 0;

	out[0] = '\0';
	if (conninfo[0] == '\0')
		return;
	opts = PQconninfoParse(conninfo, NULL);
	if (opts == NULL) {
		snprintf(out, size, "(unparsable, not shown)");
		return;
	}
	for (o = opts; o->keyword != NULL; o++) {
		const char *v = o->val;
		const char *q;
		int w, plain = 1;

		if (v == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0)
			v = "********";
		for (q = v; *q != '\0'; q++)
			if (isspace((unsigned char)*q) || *q == '\'' || *q == '\\')
				plain = 0;
		if (plain && v[0] != '\0') {
			w = snprintf(out + used, size - used, "%s%s=%s", used ? " " : "", o->keyword, v);
		} else {
			/* quote per libpq rules: '...' with \' and \\ escaped */
			char quoted[1024];
			size_t j = 0;

			quoted[j++] = '\'';
			for (q = v; *q != '\0' && j + 3 < sizeof(quoted); q++) {
				if (*q == '\'' || *q == '\\')
					quoted[j++] = '\\';
				quoted[j++] = *q;
			}
			quoted[j++] = '\'';
			quoted[j] = '\0';
			w = snprintf(out + used, size - used, "%s%s=%s", used ? " " : "", o->keyword, quoted);
		}
		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
	PQconninfoFree(opts);
}

static void print_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Length of the section part of a path: "jobs.verify.schedule" -> 11 ("jobs.verify"). */
static size_t section_len(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? (size_t)(dot - path) : 0;
}

/* Number of leading sections a and b share ("jobs.verify", "jobs.zoom" -> 1). */
static int common_depth(const char *a, size_t alen, const char *b, size_t blen)
{
	int depth = 0;
	size_t i = 0;

	while (i < alen && i < blen) {
		size_t j = i;

		while (j < alen && j < blen && a[j] == b[j] && a[j] != '.')
			j++;
		if (j == i || !(j == alen || a[j] == '.') || !(j == blen || b[j] == '.'))
			break;
		depth++;
		i = j + 1;
	}
	return depth;
}

static int depth_of(const char *s, size_t len)
{
	int d = len > 0;
	size_t i;

	for (i = 0; i < len; i++)
		d += s[i] == '.';
	return d;
}

static void print_value(const struct conf *c, const struct conf_key *k, FILE *f)
{
	const void *p = cfield(c, k);
	char buf[1024];

	switch (k->type) {
	case CT_STRING:
		if (k->flags & CK_SECRET) {
			conf_mask_conninfo(*(char *const *)p, buf, sizeof(buf));
			print_string(f, buf);
		} else {
			print_string(f, *(char *const *)p);
		}
		break;
	case CT_ENUM:
		print_string(f, k->choices[*(const int *)p]);
		break;
	case CT_INT:
		fprintf(f, "%" PRId64, *(const int64_t *)p);
		break;
	case CT_BOOL:
		fputs(*(const bool *)p ? "true" : "false", f);
		break;
	case CT_DURATION:
		duration_format(*(const int64_t *)p, buf, sizeof(buf));
		print_string(f, buf);
		break;
	case CT_STRLIST: {
		char *const *l = *(char **const *)p;

		fputc('[', f);
		for (; l != NULL && *l != NULL; l++) {
			print_string(f, *l);
			if (l[1] != NULL)
				fputs(", ", f);
		}
		fputc(']', f);
		break;
	}
	}
}

/* Prints libconfig syntax that can be pasted back into a file: sections as
 * nested groups, each value followed by where it came from. */
void conf_print(const struct conf *c, FILE *f)
{
	const char *open = "";
	size_t open_len = 0, i;
	int depth = 0;

	fprintf(f, "# momentum-maintd effective configuration (file: %s)\n",
		c->file ? c->file : "none, built-in defaults and environment");
	for (i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		size_t slen = section_len(k->path);
		int keep = common_depth(open, open_len, k->path, slen);
		const char *p;

		while (depth > keep) {
			depth--;
			fprintf(f, "%*s};\n", depth * 2, "");
		}
		/* open the sections of this key below the shared ones */
		p = k->path;
		for (int d = 0; d < depth; d++)
			p = strchr(p, '.') + 1;
		while (depth < depth_of(k->path, slen)) {
			const char *dot = strchr(p, '.');

			fprintf(f, "%*s%.*s: {\n", depth * 2, "", (int)(dot - p), p);
			p = dot + 1;
			depth++;
		}
		fprintf(f, "%*s%s = ", depth * 2, "", p);
		print_value(c, k, f);
		fprintf(f, ";  # %s\n", c->origin[i]);
		open = k->path;
		open_len = slen;
	}
	while (depth > 0) {
		depth--;
		fprintf(f, "%*s};\n", depth * 2, "");
	}
}

const char *conf_environment_name(int env)
{
	return environment_choices[env];
}

static bool same_value(const struct conf *a, const struct conf *b, const struct conf_key *k)
{
	const void *x = cfield(a, k), *y = cfield(b, k);
	char *const *l1, *const *l2;

	switch (k->type) {
	case CT_STRING:
		return strcmp(*(char *const *)x, *(char *const *)y) == 0;
	case CT_ENUM:
		return *(const int *)x == *(const int *)y;
	case CT_INT:
	case CT_DURATION:
		return *(const int64_t *)x == *(const int64_t *)y;
	case CT_BOOL:
		return *(const bool *)x == *(const bool *)y;
	case CT_STRLIST:
		l1 = *(char **const *)x;
		l2 = *(char **const *)y;
		for (; *l1 != NULL && *l2 != NULL; l1++, l2++)
			if (strcmp(*l1, *l2) != 0)
				return false;
		return *l1 == NULL && *l2 == NULL;
	}
	return false;
}

int conf_keep_restart_only(struct conf *newc, const struct conf *oldc,
			   void (*changed)(const char *path, void *arg), void *arg)
{
	size_t i;

	for (i = 0; i < conf_nkeys; i++) {
		const struct conf_key *k = &conf_keys[i];
		char *dup;

		if ((k->flags & CK_RELOADABLE) || same_value(newc, oldc, k))
			continue;
		changed(k->path, arg);
		switch (k->type) {
		case CT_STRING:
			dup = strdup(*(char *const *)cfield(oldc, k));
			if (dup == NULL)
				return -1;
			free(*(char **)field(newc, k));
			*(char **)field(newc, k) = dup;
			break;
		case CT_STRLIST:
			/* no restart-only list keys today; keep the new one */
			break;
		case CT_ENUM:
			*(int *)field(newc, k) = *(const int *)cfield(oldc, k);
			break;
		case CT_INT:
		case CT_DURATION:
			*(int64_t *)field(newc, k) = *(const int64_t *)cfield(oldc, k);
			break;
		case CT_BOOL:
			*(bool *)field(newc, k) = *(const bool *)cfield(oldc, k);
			break;
		}
	}
	return 0;
}

const char *conf_origin(const struct conf *c, const char *path)
{
	const struct conf_key *k = key_lookup(path);

	return k ? c->origin[k - conf_keys] : NULL;
}

/* development logs at debug unless log.level was set (the seed: "enable
 * verbose logging for debugging") */
int conf_syslog_level(const struct conf *c)
{
	static const int map[] = { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR };

	if (c->environment == ENV_DEVELOPMENT && strcmp(conf_origin(c, "log.level"), "default") == 0)
		return LOG_DEBUG;
	return map[c->log_level];
}
