#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>
#include <libpq-fe.h>

#include "conf.h"
#include "cron.h"
#include "duration.h"
#include "log.h"
#include "safety.h"

#define ENV_PREFIX "MOMENTUM_MAINTD_"
/* A configuration file sets a few dozen keys; libconfig's scanner is
 * quadratic in the length of a string, so a huge file could take minutes. */
#define CONF_FILE_MAX_SIZE (1024 * 1024)

/* Where a value came from when nothing set it. */
#define ORIGIN_DEFAULT "default"
#define ORIGIN_DEFAULT_DEVELOPMENT "default in development"
#define ORIGIN_DEFAULT_PRODUCTION "default in production"

static const struct conf_choice environment_choices[] = {
	{ "development", ENV_DEVELOPMENT }, { "staging", ENV_STAGING }, { "production", ENV_PRODUCTION },
	{ NULL, 0 },
};
static const struct conf_choice out_of_order_choices[] = {
	{ "fail", OOO_FAIL }, { "apply", OOO_APPLY }, { "ignore", OOO_IGNORE }, { NULL, 0 },
};
static const struct conf_choice safety_choices[] = {
	{ "warn", SAFETY_WARN }, { "refuse", SAFETY_REFUSE }, { NULL, 0 },
};
static const struct conf_choice log_level_choices[] = {
	{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE }, { "warning", LOG_WARNING },
	{ "error", LOG_ERR }, { NULL, 0 },
};
static const struct conf_choice log_format_choices[] = {
	{ "auto", LOG_FORMAT_AUTO }, { "text", LOG_FORMAT_TEXT }, { "json", LOG_FORMAT_JSON },
	{ "journal", LOG_FORMAT_JOURNAL }, { NULL, 0 },
};

static conf_check_fn check_size, check_conninfo, check_cron, check_timezone, check_listen, check_schemas, check_instance;

#define OFF(field) offsetof(struct conf, field)
#define DAY_MS INT64_C(86400000)

const struct conf_key conf_keys[] = {
	{ .path = "environment", .type = CT_ENUM, .offset = OFF(environment), .def = "production",
	  .choices = environment_choices,
	  .help = "development | staging | production: the seed's per-environment rules" },
	{ .path = "database.conninfo", .type = CT_STRING, .offset = OFF(db_conninfo), .def = "",
	  .check = check_conninfo, .flags = CK_SECRET,
	  .help = "libpq conninfo or URI; \"\" uses libpq's PG* environment (DATABASE_URL also sets it)" },
	{ .path = "database.password_file", .type = CT_STRING, .offset = OFF(db_password_file), .def = "",
	  .help = "file whose first line is the password; default $CREDENTIALS_DIRECTORY/db-password" },
	{ .path = "migrations.directory", .type = CT_STRING, .offset = OFF(mig_directory),
	  .def = PKGDATADIR "/migrations", .flags = CK_NONEMPTY,
	  .help = "directory of NNN_name.sql and rollback_NNN_name.sql files" },
	{ .path = "migrations.backup_command", .type = CT_STRING, .offset = OFF(mig_backup_command), .def = "",
	  .flags = CK_RELOADABLE,
	  .help = "shell command run before applying migrations in production" },
	{ .path = "migrations.on_out_of_order", .type = CT_ENUM, .offset = OFF(mig_on_out_of_order), .def = "fail",
	  .choices = out_of_order_choices,
	  .help = "a pending migration older than the newest applied one: fail | apply | ignore" },
	{ .path = "migrations.supabase_compat", .type = CT_BOOL, .offset = OFF(mig_supabase_compat), .def = "true",
	  .help = "create the Supabase objects the migrations use (auth, storage, roles) where missing" },
	{ .path = "migrations.lock_timeout", .type = CT_DURATION, .offset = OFF(mig_lock_timeout_ms), .def = "2 s",
	  .min = 10, .max = 3600000,
	  .help = "longest a migration statement waits for a lock before it is rolled back and retried" },
	{ .path = "migrations.lock_retries", .type = CT_INT, .offset = OFF(mig_lock_retries), .def = "10",
	  .min = 0, .max = 1000,
	  .help = "retries after a lock timeout, with backoff, before the migration fails" },
	{ .path = "migrations.safety", .type = CT_ENUM, .offset = OFF(mig_safety), .def = "warn",
	  .def_production = "refuse", .choices = safety_choices,
	  .help = "a pending migration that would lock or break a table above safety_min_size: warn (and "
		  "apply) | refuse (apply nothing); default refuse in production, warn elsewhere" },
	{ .path = "migrations.safety_min_size", .type = CT_STRING, .offset = OFF(mig_safety_min_size),
	  .def = "10 MB", .check = check_size, .flags = CK_NONEMPTY,
	  .help = "safety findings on tables smaller than this (table and indexes) are only noted" },
	{ .path = "jobs.history_retention", .type = CT_DURATION, .offset = OFF(jobs_history_retention_ms),
	  .def = "90 days", .min = 1000, .max = 3650 * DAY_MS, .flags = CK_RELOADABLE,
	  .help = "job_runs rows older than this are pruned" },
	{ .path = "jobs.zoom_token_cleanup.enabled", .type = CT_BOOL, .offset = OFF(cleanup_enabled), .def = "true",
	  .flags = CK_RELOADABLE,
	  .help = "run the expired Zoom token cleanup on its schedule" },
	{ .path = "jobs.zoom_token_cleanup.catch_up", .type = CT_BOOL, .offset = OFF(cleanup_catch_up), .def = "true",
	  .flags = CK_RELOADABLE,
	  .help = "run once after start if a scheduled run was missed while the daemon was down" },
	{ .path = "jobs.zoom_token_cleanup.schedule", .type = CT_STRING, .offset = OFF(cleanup_schedule),
	  .def = "0 2 * * *", .check = check_cron, .flags = CK_NONEMPTY | CK_RELOADABLE,
	  .help = "cron expression of the expired Zoom token cleanup" },
	{ .path = "jobs.zoom_token_cleanup.timezone", .type = CT_STRING, .offset = OFF(cleanup_timezone),
	  .def = "UTC", .check = check_timezone, .flags = CK_NONEMPTY | CK_RELOADABLE,
	  .help = "IANA time zone the schedule is read in" },
	{ .path = "jobs.zoom_token_cleanup.retention", .type = CT_DURATION, .offset = OFF(cleanup_retention_ms),
	  .def = "7 days", .min = 60000, .max = 3650 * DAY_MS, .flags = CK_RELOADABLE,
	  .help = "tokens that expired longer ago than this are deleted" },
	{ .path = "jobs.zoom_token_cleanup.batch_size", .type = CT_INT, .offset = OFF(cleanup_batch_size),
	  .def = "5000", .min = 1, .max = 1000000, .flags = CK_RELOADABLE,
	  .help = "most rows deleted by one batch transaction" },
	{ .path = "jobs.zoom_token_cleanup.max_runtime", .type = CT_DURATION, .offset = OFF(cleanup_max_runtime_ms),
	  .def = "30 min", .min = 1000, .max = 7 * DAY_MS, .flags = CK_RELOADABLE,
	  .help = "a run stops after this long; the rest waits for the next run" },
	{ .path = "jobs.zoom_token_cleanup.max_replica_lag", .type = CT_DURATION,
	  .offset = OFF(cleanup_max_replica_lag_ms), .def = "30 s", .min = 1000, .max = DAY_MS,
	  .flags = CK_RELOADABLE,
	  .help = "pause between batches while a streaming replica's replay is further behind than this" },
	{ .path = "jobs.verify.schedule", .type = CT_STRING, .offset = OFF(verify_schedule), .def = "*/15 * * * *",
	  .check = check_cron, .flags = CK_NONEMPTY | CK_RELOADABLE,
	  .help = "cron expression of the verification pass" },
	{ .path = "verify.remind_every", .type = CT_DURATION, .offset = OFF(verify_remind_every_ms), .def = "24 h",
	  .min = 60000, .max = 365 * DAY_MS, .flags = CK_RELOADABLE,
	  .help = "a finding still present is logged again at most this often" },
	{ .path = "verify.ignore", .type = CT_STRLIST, .offset = OFF(verify_ignore), .def = "",
	  .flags = CK_RELOADABLE,
	  .help = "finding keys to silence" },
	{ .path = "verify.schemas", .type = CT_STRING, .offset = OFF(verify_schemas), .def = "",
	  .check = check_schemas, .flags = CK_RELOADABLE,
	  .help = "comma list of the schemas the API exposes; \"\": read pgrst.db_schemas from the "
		  "authenticator role (else public, graphql_public)" },
	{ .path = "verify.probe_conninfo", .type = CT_STRING, .offset = OFF(verify_probe_conninfo), .def = "",
	  .check = check_conninfo, .flags = CK_SECRET,
	  .help = "libpq conninfo of the probe's unprivileged login (host, port, dbname default to "
		  "database.conninfo's); \"\": the daemon makes momentum_maintd_probe where its role may" },
	{ .path = "verify.probe_password_file", .type = CT_STRING, .offset = OFF(verify_probe_password_file),
	  .def = "",
	  .help = "file whose first line is the probe login's password (mode 0600 or 0400)" },
	{ .path = "verify.probe_timeout", .type = CT_DURATION, .offset = OFF(verify_probe_timeout_ms), .def = "60 s",
	  .min = 1000, .max = 3600000, .flags = CK_RELOADABLE,
	  .help = "the probe's statement timeout; a probe still running 10 s later is cancelled, then ended" },
	/* the seed: development "enables verbose logging for debugging" */
	{ .path = "log.level", .type = CT_ENUM, .offset = OFF(log_level), .def = "info", .def_development = "debug",
	  .choices = log_level_choices, .flags = CK_RELOADABLE,
	  .help = "debug | info | notice | warning | error" },
	{ .path = "log.format", .type = CT_ENUM, .offset = OFF(log_format), .def = "auto",
	  .choices = log_format_choices,
	  .help = "auto (journal when stderr is the journal, else text) | text | json | journal" },
	{ .path = "log.instance", .type = CT_STRING, .offset = OFF(log_instance), .def = "",
	  .check = check_instance,
	  .help = "INSTANCE= field of every log event (the template unit sets %i); \"\" = none" },
	{ .path = "http.listen", .type = CT_STRING, .offset = OFF(http_listen), .def = "", .check = check_listen,
	  .help = "address:port for /healthz /readyz /metrics; \"\" = off" },
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

static void list_choices(const struct conf_choice *choices, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; choices->name != NULL; choices++) {
		int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", choices->name);

		if (w < 0 || (size_t)w >= size - used)
			return;
		used += (size_t)w;
	}
}

static const char *choice_name(const struct conf_choice *choices, int value)
{
	for (; choices->name != NULL; choices++)
		if (choices->value == value)
			return choices->name;
	return "?";
}

static int bool_word(const char *s, bool *out)
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

/* ---- each key's own rules (conf_keys[].check) ---- */

/* A conninfo may hold a password, so errors never quote it: libpq's own
 * parse errors do ("missing "=" after "Secret""), and a URI whose password
 * has an unencoded '/' or '@' parses into a host or port made of it. */
static int check_conninfo(const struct conf_key *k, const char *s, const char *where,
			  struct conf_error *err)
{
	char *perr = NULL;
	PQconninfoOption *opts, *o;
	int rc = 0;

	if (s[0] == '\0')
		return 0;
	opts = PQconninfoParse(s, &perr);

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
static bool listen_address_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s)
		return false;
	if (s[0] == '[' && colon[-1] != ']')
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return errno == 0 && end != colon + 1 && *end == '\0' && port >= 1 && port <= 65535;
}

static int check_size(const struct conf_key *k, const char *s, const char *where, struct conf_error *err)
{
	int64_t bytes;
	const char *why;

	if (size_parse(s, &bytes, &why) == 0)
		return 0;
	set_error(err, "%s: %s: %s, got \"%s\"", where, k->path, why, s);
	return -1;
}

static int check_listen(const struct conf_key *k, const char *s, const char *where, struct conf_error *err)
{
	if (s[0] == '\0' || listen_address_valid(s))
		return 0;
	set_error(err, "%s: %s: expected ADDRESS:PORT with a port from 1 to 65535, e.g. "
		  "\"127.0.0.1:9187\" or \"[::1]:9187\", got \"%s\"", where, k->path, s);
	return -1;
}

/* A comma list of plain identifiers (they go into the checks' SQL as
 * literals: nothing that needs quoting). */
static int check_schemas(const struct conf_key *k, const char *s, const char *where, struct conf_error *err)
{
	const char *p = s;

	if (s[0] == '\0')
		return 0;
	for (;;) {
		size_t n;

		p += strspn(p, " \t");
		n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$");
		if (n == 0 || n > 63 || (p[0] >= '0' && p[0] <= '9') || p[0] == '$')
			break;
		p += n;
		p += strspn(p, " \t");
		if (*p == '\0')
			return 0;
		if (*p++ != ',')
			break;
	}
	set_error(err, "%s: %s: expected a comma list of schema names (letters, digits, _ and $, not starting "
		  "with a digit, at most 63 each), e.g. \"public, api\", got \"%s\"", where, k->path, s);
	return -1;
}

/* a name to search the journal by: one line of letters, digits and -_.:@ */
static int check_instance(const struct conf_key *k, const char *s, const char *where, struct conf_error *err)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@\\");

	if (s[n] == '\0' && n < 128)
		return 0;
	set_error(err, "%s: %s: expected at most 127 letters, digits and - _ . : @ \\ (a systemd "
		  "instance name), got \"%s\"", where, k->path, s);
	return -1;
}

static int check_cron(const struct conf_key *k, const char *s, const char *where, struct conf_error *err)
{
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
	return 0;
}

static int check_timezone(const struct conf_key *k, const char *s, const char *where, struct conf_error *err)
{
	if (cron_timezone_valid(s))
		return 0;
	set_error(err, "%s: %s: unknown time zone \"%s\" (an IANA name such as \"UTC\" or "
		  "\"Europe/Berlin\", from /usr/share/zoneinfo)", where, k->path, s);
	return -1;
}

static int out_of_memory(struct conf_error *err, const char *where, const char *path)
{
	set_error(err, "%s: %s: out of memory", where, path);
	return -1;
}

/* ---- values given as text (environment, command line, defaults), one
 * function per type ---- */

static int parse_string(struct conf *c, const struct conf_key *k, const char *s, const char *where,
			struct conf_error *err)
{
	char *dup;

	if (k->check != NULL && k->check(k, s, where, err) < 0)
		return -1;
	if ((k->flags & CK_NONEMPTY) && s[0] == '\0') {
		set_error(err, "%s: %s: must not be empty", where, k->path);
		return -1;
	}
	dup = strdup(s);
	if (dup == NULL)
		return out_of_memory(err, where, k->path);
	free(*(char **)field(c, k));
	*(char **)field(c, k) = dup;
	return 0;
}

static int parse_enum(struct conf *c, const struct conf_key *k, const char *s, const char *where,
		      struct conf_error *err)
{
	const struct conf_choice *ch;
	char allowed[256];

	for (ch = k->choices; ch->name != NULL; ch++) {
		if (strcmp(ch->name, s) == 0) {
			*(int *)field(c, k) = ch->value;
			return 0;
		}
	}
	list_choices(k->choices, allowed, sizeof(allowed));
	set_error(err, "%s: %s: invalid value \"%s\" (allowed: %s)", where, k->path, s, allowed);
	return -1;
}

static int parse_int(struct conf *c, const struct conf_key *k, const char *s, const char *where,
		     struct conf_error *err)
{
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
	*(int64_t *)field(c, k) = v;
	return 0;
}

static int parse_bool(struct conf *c, const struct conf_key *k, const char *s, const char *where,
		      struct conf_error *err)
{
	if (bool_word(s, (bool *)field(c, k)) < 0) {
		set_error(err, "%s: %s: expected true or false, got \"%s\"", where, k->path, s);
		return -1;
	}
	return 0;
}

static int parse_duration(struct conf *c, const struct conf_key *k, const char *s, const char *where,
			  struct conf_error *err)
{
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
		set_error(err, "%s: %s: duration \"%s\" out of range (min %s, max %s)", where, k->path, s, lo, hi);
		return -1;
	}
	*(int64_t *)field(c, k) = ms;
	return 0;
}

/* A NULL-terminated list of strings that grows. */
struct strlist {
	char **items;
	size_t n, cap;              /* cap counts the terminating NULL */
};

static int strlist_init(struct strlist *l)
{
	l->n = 0;
	l->cap = 5;
	l->items = calloc(l->cap, sizeof(*l->items));
	return l->items != NULL ? 0 : -1;
}

/* Appends item, which the list now owns (freed when it cannot grow). */
static int strlist_push(struct strlist *l, char *item)
{
	if (item == NULL)
		return -1;
	if (l->n + 1 == l->cap) {
		char **grown = realloc(l->items, l->cap * 2 * sizeof(*grown));

		if (grown == NULL) {
			free(item);
			return -1;
		}
		l->items = grown;
		l->cap *= 2;
	}
	l->items[l->n++] = item;
	l->items[l->n] = NULL;
	return 0;
}

/* The "..." item at *q, with \" and \\ unescaped; *q moves past it.
 * 0, -1 when the closing quote is missing, -2 when out of memory. */
static int quoted_item(const char **q, char **out)
{
	const char *p = *q + 1;
	char *item = malloc(strlen(p) + 1);
	size_t len = 0;

	*out = NULL;
	if (item == NULL)
		return -2;
	for (; *p != '\0' && *p != '"'; p++)
		item[len++] = *p == '\\' && (p[1] == '"' || p[1] == '\\') ? *++p : *p;
	item[len] = '\0';
	if (*p != '"') {
		free(item);
		return -1;
	}
	*q = p + 1;
	*out = item;
	return 0;
}

/* The item at *q up to the next comma, without trailing blanks. */
static char *plain_item(const char **q)
{
	const char *start = *q, *end;

	while (**q != '\0' && **q != ',')
		(*q)++;
	end = *q;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	return strndup(start, (size_t)(end - start));
}

/* In the environment and on the command line: a, b, c  or, for items that
 * contain commas, ["a, b", "c"] */
static int parse_strlist(struct conf *c, const struct conf_key *k, const char *s, const char *where,
			 struct conf_error *err)
{
	const char *q = s, *why = NULL;
	struct strlist l;
	bool quoted;

	if (strlist_init(&l) < 0)
		return out_of_memory(err, where, k->path);
	while (isspace((unsigned char)*q))
		q++;
	quoted = *q == '[';
	q += quoted;
	while (*q != '\0') {
		char *item = NULL;

		while (*q == ',' || isspace((unsigned char)*q))
			q++;
		if (*q == '\0' || (quoted && *q == ']'))
			break;
		if (!quoted)
			item = plain_item(&q);
		else if (*q != '"')
			why = "expected a list of double-quoted strings, e.g. [\"a\", \"b, c\"]";
		else if (quoted_item(&q, &item) == -1)
			why = "unterminated string in the list";
		if (why != NULL)
			break;
		if (strlist_push(&l, item) < 0) {
			strlist_free(l.items);
			return out_of_memory(err, where, k->path);
		}
	}
	while (why == NULL && quoted && isspace((unsigned char)*q))
		q++;
	if (why == NULL && quoted && (*q != ']' || q[1 + strspn(q + 1, " \t\n")] != '\0'))
		why = "the list must end with ]";
	if (why != NULL) {
		strlist_free(l.items);
		set_error(err, "%s: %s: %s", where, k->path, why);
		return -1;
	}
	strlist_free(*(char ***)field(c, k));
	*(char ***)field(c, k) = l.items;
	return 0;
}

/* Stores a value given as text, after its type's and its key's checks. */
static int set_from_string(struct conf *c, const struct conf_key *k, const char *s,
			   const char *where, struct conf_error *err)
{
	switch (k->type) {
	case CT_STRING: return parse_string(c, k, s, where, err);
	case CT_ENUM: return parse_enum(c, k, s, where, err);
	case CT_INT: return parse_int(c, k, s, where, err);
	case CT_BOOL: return parse_bool(c, k, s, where, err);
	case CT_DURATION: return parse_duration(c, k, s, where, err);
	case CT_STRLIST: return parse_strlist(c, k, s, where, err);
	}
	set_error(err, "%s: %s: unsupported type", where, k->path);
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

static bool is_default(const struct conf *c, const struct conf_key *k)
{
	const char *origin = c->origin[k - conf_keys];

	return strcmp(origin, ORIGIN_DEFAULT) == 0 || strcmp(origin, ORIGIN_DEFAULT_DEVELOPMENT) == 0 ||
	       strcmp(origin, ORIGIN_DEFAULT_PRODUCTION) == 0;
}

/* Stores k's default for the environment c has now.  A string default that
 * fails its key's check (a time zone this system's zoneinfo lacks) is
 * stored all the same: the check speaks when a user sets the key. */
static int set_default(struct conf *c, const struct conf_key *k, struct conf_error *err)
{
	bool development = c->environment == ENV_DEVELOPMENT && k->def_development != NULL;
	bool production = c->environment == ENV_PRODUCTION && k->def_production != NULL;
	const char *def = development ? k->def_development : production ? k->def_production : k->def;
	const char *origin = development ? ORIGIN_DEFAULT_DEVELOPMENT
			     : production ? ORIGIN_DEFAULT_PRODUCTION : ORIGIN_DEFAULT;

	if (set_from_string(c, k, def, origin, err) < 0) {
		if (k->type != CT_STRING)
			return -1;
		free(*(char **)field(c, k));
		*(char **)field(c, k) = strdup(def);
		if (*(char **)field(c, k) == NULL)
			return out_of_memory(err, origin, k->path);
	}
	if (set_origin(c, k, origin) < 0)
		return out_of_memory(err, origin, k->path);
	return 0;
}

/* k got its value from where.  When k is the environment, the keys whose
 * default depends on it and that nothing else set take its default. */
static int key_set(struct conf *c, const struct conf_key *k, const char *where, struct conf_error *err)
{
	size_t i;

	if (set_origin(c, k, where) < 0)
		return out_of_memory(err, where, k->path);
	if (k->offset != OFF(environment))
		return 0;
	for (i = 0; i < conf_nkeys; i++)
		if ((conf_keys[i].def_development != NULL || conf_keys[i].def_production != NULL) &&
		    is_default(c, &conf_keys[i]) &&
		    set_default(c, &conf_keys[i], err) < 0)
			return -1;
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
		if (set_default(c, &conf_keys[i], &err) < 0) {
			fprintf(stderr, "internal error: %s\n", err.msg);
			goto fail;
		}
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

/* "file:line: unknown key ..." for a path that is no key, naming the keys
 * and sections of section ("" = the top level). */
static int unknown_key(struct conf_error *err, const char *where, const char *path, const char *section)
{
	char allowed[512];

	list_children(section, allowed, sizeof(allowed));
	set_error(err, "%s: unknown key \"%s\" (allowed %s%s: %s)", where, path,
		  section[0] ? "in " : "here", section, allowed);
	return -1;
}

/* ---- values from a libconfig file, one function per type ---- */

/* One setting of the file being read, and where it is. */
struct file_setting {
	config_setting_t *s;
	const char *file;
	const char *name;           /* its own name, without its sections */
	int line;
	int type;                   /* CONFIG_TYPE_* */
	char where[512];            /* "file:line" */
};

static int wrong_type(const struct conf_key *k, const struct file_setting *fs, struct conf_error *err)
{
	set_error(err, "%s: %s: expected %s, got %s", fs->where, k->path, expected_name(k->type),
		  type_name(fs->type));
	return -1;
}

static bool is_int(const struct file_setting *fs)
{
	return fs->type == CONFIG_TYPE_INT || fs->type == CONFIG_TYPE_INT64;
}

/* The integer libconfig read, refused when it lost bits on the way. */
static int file_int(const struct conf_key *k, const struct file_setting *fs, long long *out,
		    struct conf_error *err)
{
	*out = config_setting_get_int64(fs->s);
	if (int_literal_truncated(fs->file, fs->line, fs->name, *out)) {
		set_error(err, "%s: %s: integer too large", fs->where, k->path);
		return -1;
	}
	return 0;
}

static int load_text(struct conf *c, const struct conf_key *k, const struct file_setting *fs,
		     struct conf_error *err)
{
	if (fs->type != CONFIG_TYPE_STRING)
		return wrong_type(k, fs, err);
	return set_from_string(c, k, config_setting_get_string(fs->s), fs->where, err);
}

static int load_int(struct conf *c, const struct conf_key *k, const struct file_setting *fs,
		    struct conf_error *err)
{
	long long v;
	char buf[32];

	if (!is_int(fs))
		return wrong_type(k, fs, err);
	if (file_int(k, fs, &v, err) < 0)
		return -1;
	snprintf(buf, sizeof(buf), "%lld", v);
	return set_from_string(c, k, buf, fs->where, err);
}

static int load_bool(struct conf *c, const struct conf_key *k, const struct file_setting *fs,
		     struct conf_error *err)
{
	if (fs->type != CONFIG_TYPE_BOOL)
		return wrong_type(k, fs, err);
	*(bool *)field(c, k) = config_setting_get_bool(fs->s) != 0;
	return 0;
}

/* A duration is a string ("30 min") or an integer number of seconds. */
static int load_duration(struct conf *c, const struct conf_key *k, const struct file_setting *fs,
			 struct conf_error *err)
{
	long long v;
	char buf[512];

	if (fs->type == CONFIG_TYPE_STRING) {
		snprintf(buf, sizeof(buf), "%s", config_setting_get_string(fs->s));
		return set_from_string(c, k, buf, fs->where, err);
	}
	if (!is_int(fs))
		return wrong_type(k, fs, err);
	if (file_int(k, fs, &v, err) < 0)
		return -1;
	if (v < 0) {
		set_error(err, "%s: %s: duration must not be negative", fs->where, k->path);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%lld s", v);
	return set_from_string(c, k, buf, fs->where, err);
}

static int load_strlist(struct conf *c, const struct conf_key *k, const struct file_setting *fs,
			struct conf_error *err)
{
	int i, n;
	char **list;

	if (fs->type != CONFIG_TYPE_ARRAY && fs->type != CONFIG_TYPE_LIST)
		return wrong_type(k, fs, err);
	n = config_setting_length(fs->s);
	list = calloc((size_t)n + 1, sizeof(*list));
	if (list == NULL)
		return out_of_memory(err, fs->where, k->path);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(fs->s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (v == NULL || (list[i] = strdup(v)) == NULL) {
			strlist_free(list);
			set_error(err, "%s: %s: element %d: expected a string, got %s", fs->where, k->path,
				  i + 1, type_name(config_setting_type(e)));
			return -1;
		}
	}
	strlist_free(*(char ***)field(c, k));
	*(char ***)field(c, k) = list;
	return 0;
}

static int load_value(struct conf *c, const struct conf_key *k, const struct file_setting *fs,
		      struct conf_error *err)
{
	switch (k->type) {
	case CT_STRING:
	case CT_ENUM: return load_text(c, k, fs, err);
	case CT_INT: return load_int(c, k, fs, err);
	case CT_BOOL: return load_bool(c, k, fs, err);
	case CT_DURATION: return load_duration(c, k, fs, err);
	case CT_STRLIST: return load_strlist(c, k, fs, err);
	}
	set_error(err, "%s: %s: unsupported type", fs->where, k->path);
	return -1;
}

static int load_setting(struct conf *c, const char *file, config_setting_t *s,
			const char *prefix, struct conf_error *err);

/* A group: a section whose settings are read in turn, or a mistake. */
static int load_group(struct conf *c, const struct file_setting *fs, const char *path,
		      const char *prefix, struct conf_error *err)
{
	const struct conf_key *k;
	char allowed[512];
	int i, n = config_setting_length(fs->s);

	if (is_section(path)) {
		for (i = 0; i < n; i++)
			if (load_setting(c, fs->file, config_setting_get_elem(fs->s, (unsigned)i), path, err) < 0)
				return -1;
		return 0;
	}
	k = key_lookup(path);
	if (k != NULL)
		return wrong_type(k, fs, err);
	list_children(prefix, allowed, sizeof(allowed));
	set_error(err, "%s: unknown section \"%s\" (allowed here: %s)", fs->where, path, allowed);
	return -1;
}

/* Reads one setting named prefix.NAME (a group or a key) into c. */
static int load_setting(struct conf *c, const char *file, config_setting_t *s,
			const char *prefix, struct conf_error *err)
{
	struct file_setting fs = {
		.s = s, .file = file, .name = config_setting_name(s),
		.line = (int)config_setting_source_line(s), .type = config_setting_type(s),
	};
	const struct conf_key *k;
	char path[256];

	if (prefix[0] != '\0')
		snprintf(path, sizeof(path), "%s.%s", prefix, fs.name);
	else
		snprintf(path, sizeof(path), "%s", fs.name);
	snprintf(fs.where, sizeof(fs.where), "%s:%d", file, fs.line);
	if (fs.type == CONFIG_TYPE_GROUP)
		return load_group(c, &fs, path, prefix, err);
	k = key_lookup(path);
	if (k == NULL && is_section(path)) {
		set_error(err, "%s: %s: is a section; write it as %s: { ... }", fs.where, path, fs.name);
		return -1;
	}
	if (k == NULL)
		return unknown_key(err, fs.where, path, prefix);
	if (load_value(c, k, &fs, err) < 0)
		return -1;
	return key_set(c, k, fs.where, err);
}

/* password= or sslpassword= (the client key's passphrase): a secret */
static bool conninfo_has_password(const char *conninfo)
{
	PQconninfoOption *opts, *o;
	bool has = false;

	if (conninfo[0] == '\0' || (opts = PQconninfoParse(conninfo, NULL)) == NULL)
		return false;
	for (o = opts; o->keyword != NULL; o++)
		if ((strcmp(o->keyword, "password") == 0 || strcmp(o->keyword, "sslpassword") == 0) &&
		    o->val != NULL && o->val[0] != '\0')
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

/* Opens a configuration file: a regular file of sane size, without
 * waiting on a FIFO.  1 when it is missing and may be, 0 with *out open,
 * -1 with err set. */
static int open_config_file(const char *path, bool must_exist, struct stat *st, FILE **out,
			    struct conf_error *err)
{
	int fd;

	if (path[0] == '\0') {
		set_error(err, "\"\": cannot open configuration file: the file name is empty");
		return -1;
	}
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 1;
		set_error(err, "%s: cannot open configuration file: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		set_error(err, "%s: not a regular file", path);
		return -1;
	}
	if (st->st_size > CONF_FILE_MAX_SIZE) {
		close(fd);
		set_error(err, "%s: configuration file too large (%lld bytes, at most %d); is it the right file?",
			  path, (long long)st->st_size, CONF_FILE_MAX_SIZE);
		return -1;
	}
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*out = fdopen(fd, "r");
	if (*out == NULL) {
		close(fd);
		set_error(err, "%s: cannot open configuration file: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* libconfig stops at a NUL byte and ignores the rest of the file */
static int refuse_nul_bytes(FILE *f, const char *path, struct conf_error *err)
{
	int ch, lineno = 1;

	while ((ch = getc(f)) != EOF) {
		if (ch == '\n') {
			lineno++;
		} else if (ch == '\0') {
			set_error(err, "%s:%d: contains a NUL byte; a configuration file is text", path, lineno);
			return -1;
		}
	}
	rewind(f);
	return 0;
}

static void user_name(uid_t uid, char *buf, size_t size)
{
	const struct passwd *pw = getpwuid(uid);

	snprintf(buf, size, "%s", pw != NULL ? pw->pw_name : "?");
}

/* A file holding a secret must be the daemon user's (or root's) and no one
 * else's, as ssh requires of a private key: others could read it, or put
 * their own password in it.  True, with why set to "is ...; run FIX", when
 * it is not. */
static bool secret_file_refused(const char *path, const struct stat *st, char *why, size_t size)
{
	uid_t me = geteuid();
	char owner[64], daemon_user[64];
	unsigned mode = (unsigned)(st->st_mode & 07777);

	if (st->st_uid != me && st->st_uid != 0) {
		user_name(st->st_uid, owner, sizeof(owner));
		user_name(me, daemon_user, sizeof(daemon_user));
		snprintf(why, size, "is owned by %s (uid %u), not by the daemon's user %s (uid %u)%s; "
			 "run chown %s %s", owner, (unsigned)st->st_uid, daemon_user, (unsigned)me,
			 me != 0 ? " or root" : "", daemon_user, path);
		return true;
	}
	if ((mode & 077) == 0)
		return false;
	snprintf(why, size, "is %s by other users (mode %04o); run chmod 600 %s",
		 mode & 044 ? "readable" : mode & 022 ? "writable" : "usable", mode, path);
	return true;
}

/* A password (or sslpassword) in a conninfo makes the file it is in a
 * secret: refused unless only its owner may read it. */
static int check_file_secrets(const struct conf *c, const char *path, const struct stat *st,
			      struct conf_error *err)
{
	const struct conf_key *k;
	char why[512];

	for (k = conf_keys; k < conf_keys + conf_nkeys; k++) {
		const char *origin = c->origin[k - conf_keys];

		if (!(k->flags & CK_SECRET) || k->type != CT_STRING || is_default(c, k) ||
		    strncmp(origin, path, strlen(path)) != 0 ||
		    !conninfo_has_password(*(char *const *)cfield(c, k)) ||
		    !secret_file_refused(path, st, why, sizeof(why)))
			continue;
		set_error(err, "%s: holds a password in %s and %s, or move the password to "
			  "database.password_file, systemd's LoadCredential=db-password or PGPASSFILE",
			  path, k->path, why);
		return -1;
	}
	return 0;
}

int conf_load_file(struct conf *c, const char *path, bool must_exist, struct conf_error *err)
{
	config_t lc;
	config_setting_t *root;
	FILE *f;
	struct stat st;
	int i, n, rc;

	rc = open_config_file(path, must_exist, &st, &f, err);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	if (refuse_nul_bytes(f, path, err) < 0) {
		fclose(f);
		return -1;
	}
	rc = -1;
	config_init(&lc);
	if (config_read(&lc, f) != CONFIG_TRUE) {
		set_error(err, "%s:%d: %s%s", path, config_error_line(&lc), config_error_text(&lc),
			  dotted_name_on_line(f, config_error_line(&lc))
			  ? " (names cannot contain '.': write a section as log: { level = \"debug\"; };)" : "");
		goto out;
	}
	root = config_root_setting(&lc);
	n = config_setting_length(root);
	for (i = 0; i < n; i++)
		if (load_setting(c, path, config_setting_get_elem(root, (unsigned)i), "", err) < 0)
			goto out;
	if (check_file_secrets(c, path, &st, err) < 0)
		goto out;
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

/* Every MOMENTUM_MAINTD_* variable names a key (or the file); a typo is an
 * error, not a setting silently ignored.  Also finds DATABASE_URL. */
static int env_check_names(char *const *envp, const char **url, struct conf_error *err)
{
	char name[160];
	size_t i;

	*url = NULL;
	for (; *envp != NULL; envp++) {
		const char *e = *envp, *eq = strchr(e, '=');
		bool known = false;

		if (eq == NULL)
			continue;
		if (strncmp(e, "DATABASE_URL=", 13) == 0) {
			*url = eq + 1;
			continue;
		}
		if (strncmp(e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 ||
		    strncmp(e, ENV_PREFIX "CONFIG=", strlen(ENV_PREFIX) + 7) == 0)
			continue;
		for (i = 0; i < conf_nkeys && !known; i++) {
			env_name(conf_keys[i].path, name, sizeof(name));
			known = strlen(name) == (size_t)(eq - e) && strncmp(name, e, (size_t)(eq - e)) == 0;
		}
		if (!known) {
			set_error(err, "environment %.*s: no such configuration key "
				  "(variables are " ENV_PREFIX "<SECTION>_<KEY>, e.g. " ENV_PREFIX "LOG_LEVEL)",
				  (int)(eq - e), e);
			return -1;
		}
	}
	return 0;
}

int conf_load_env(struct conf *c, char *const *envp, struct conf_error *err)
{
	const char *url;
	char name[160], where[200];
	size_t i;

	if (env_check_names(envp, &url, err) < 0)
		return -1;
	/* DATABASE_URL first, so MOMENTUM_MAINTD_DATABASE_CONNINFO wins over it. */
	if (url != NULL && url[0] != '\0') {
		const struct conf_key *k = key_lookup("database.conninfo");

		if (set_from_string(c, k, url, "environment DATABASE_URL", err) < 0 ||
		    key_set(c, k, "environment DATABASE_URL", err) < 0)
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
		    key_set(c, &conf_keys[i], where, err) < 0)
			return -1;
	}
	return 0;
}

int conf_set(struct conf *c, const char *path, const char *value, const char *origin,
	     struct conf_error *err)
{
	const struct conf_key *k = key_lookup(path);

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
		return unknown_key(err, origin, path, section);
	}
	if (set_from_string(c, k, value, origin, err) < 0)
		return -1;
	return key_set(c, k, origin, err);
}

/* database.password_file, and any other *.password_file key */
static bool is_password_file(const struct conf_key *k)
{
	size_t n = strlen(k->path), suffix = strlen("password_file");

	return k->type == CT_STRING && n >= suffix && strcmp(k->path + n - suffix, "password_file") == 0;
}

int conf_validate(const struct conf *c, struct conf_error *err)
{
	const struct conf_key *k;

	for (k = conf_keys; k < conf_keys + conf_nkeys; k++) {
		const char *file, *origin = c->origin[k - conf_keys];
		char why[512];
		struct stat st;

		if (!is_password_file(k))
			continue;
		file = *(char *const *)cfield(c, k);
		if (file[0] == '\0')
			continue;
		if (access(file, R_OK) < 0 || stat(file, &st) < 0) {
			set_error(err, "%s: %s: cannot read \"%s\": %s", origin, k->path, file, strerror(errno));
			return -1;
		}
		if (secret_file_refused(file, &st, why, sizeof(why))) {
			set_error(err, "%s: %s: \"%s\" %s", origin, k->path, file, why);
			return -1;
		}
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

static bool is_password_keyword(const char *key, size_t len)
{
	return (len == 8 && strncmp(key, "password", 8) == 0) || (len == 11 && strncmp(key, "sslpassword", 11) == 0);
}

static void hide(char *from, const char *to)
{
	memset(from, '*', (size_t)(to - from));
}

/* postgresql://user:PASSWORD@host/db?sslpassword=PASSPHRASE&... */
static void hide_uri_password(char *s)
{
	char *rest = strstr(s, "://") + 3, *query = strchr(rest, '?'), *at = NULL, *p, *colon;

	/* the last '@' before the query: a password with an unencoded '@'
	 * (refused later) is hidden whole all the same */
	for (p = rest; *p != '\0' && p != query; p++)
		if (*p == '@')
			at = p;
	if (at != NULL && (colon = memchr(rest, ':', (size_t)(at - rest))) != NULL)
		hide(colon + 1, at);
	for (p = query; p != NULL && *p != '\0'; p = strchr(p, '&')) {
		char *key = ++p, *eq = strchr(key, '='), *end = key + strcspn(key, "&");

		if (eq != NULL && eq < end && is_password_keyword(key, (size_t)(eq - key)))
			hide(eq + 1, end);
	}
}

/* host=h password='it\'s' sslpassword=x ..., by libpq's rules for quotes
 * and backslashes */
static void hide_keyword_passwords(char *p)
{
	while (*p != '\0') {
		char *key, *value;
		size_t key_len;
		bool quoted;

		while (isspace((unsigned char)*p))
			p++;
		key = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		key_len = (size_t)(p - key);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=')
			return;
		p++;
		while (isspace((unsigned char)*p))
			p++;
		quoted = *p == '\'';
		if (quoted)
			p++;
		value = p;
		while (*p != '\0' && (quoted ? *p != '\'' : !isspace((unsigned char)*p)))
			p += p[0] == '\\' && p[1] != '\0' ? 2 : 1;
		if (is_password_keyword(key, key_len))
			hide(value, p);
		p += quoted && *p == '\'';
	}
}

void conf_hide_password(char *conninfo)
{
	if (strncmp(conninfo, "postgresql://", 13) == 0 || strncmp(conninfo, "postgres://", 11) == 0)
		hide_uri_password(conninfo);
	else
		hide_keyword_passwords(conninfo);
}

/* A libconfig string: its escapes (\\ \" \n \t \r \xNN) are those of
 * ESCAPE_LOGFMT, so a value from the environment or a file shows its
 * control characters and still loads again as it was. */
static void print_string(FILE *f, const char *s)
{
	fputc('"', f);
	fputs_escaped(f, s, ESCAPE_LOGFMT);
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
		print_string(f, choice_name(k->choices, *(const int *)p));
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

	fputs("# momentum-maintd effective configuration (file: ", f);
	fputs_escaped(f, c->file ? c->file : "none, built-in defaults and environment", ESCAPE_LINE);
	fputs(")\n", f);
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
		fputs(";  # ", f);
		fputs_escaped(f, c->origin[i], ESCAPE_LINE);   /* names a file: the line stays one */
		fputc('\n', f);
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
	return choice_name(environment_choices, env);
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

int conf_syslog_level(const struct conf *c)
{
	return c->log_level;
}
