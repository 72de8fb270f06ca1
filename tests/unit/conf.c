/* Unit tests for the configuration loader: file, environment, --set, errors. */
#include "config.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "tap.h"

static char path[64];

static int load_text(struct conf *c, const char *text, struct conf_error *err)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/conf-test-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -2;
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	int rc = conf_load_file(c, path, true, err);
	unlink(path);
	return rc;
}

/* Loads text into fresh defaults; returns the error message or NULL. */
static const char *try_file(const char *text)
{
	static struct conf_error err;
	struct conf *c = conf_new();
	int rc = load_text(c, text, &err);

	conf_free(c);
	return rc == 0 ? NULL : err.msg;
}

static char *printed(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	conf_print(c, f);
	fclose(f);
	return buf;
}

/* conf_hide_password() on a copy of s */
static const char *hidden(const char *s)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s", s);
	conf_hide_password(buf);
	return buf;
}

static const char *escaped(const char *s, enum escape_style style)
{
	static char buf[256];
	char *e = escaped_dup(s, style);

	snprintf(buf, sizeof(buf), "%s", e ? e : "(out of memory)");
	free(e);
	return buf;
}

/* A file holding text, with this mode; its path in path[]. */
static int file_with_mode(const char *text, mode_t mode)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/conf-test-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) < 0 || fchmod(fd, mode) < 0)
		return -1;
	return close(fd);
}

/* Issue 14, item 6: control characters in what is printed. */
static void escapes(void)
{
	struct conf *c;
	struct conf_error err;
	char *out;

	is_str(escaped("boom\n\x1b[2J\x1b[31mFORGED", ESCAPE_LINE), "boom\\n\\x1b[2J\\x1b[31mFORGED", "ESC and newline shown");
	is_str(escaped("a\x7f" "b\xc2\x9b" "c\xff", ESCAPE_LINE), "a\\x7fb\\xc2\\x9bc\\xff", "DEL, C1 and non-UTF-8 shown");
	is_str(escaped("Grüße, 日本 \xf0\x9f\x98\x80", ESCAPE_LINE), "Grüße, 日本 \xf0\x9f\x98\x80", "UTF-8 letters kept");
	is_str(escaped("l1\n\tl2\x1b", ESCAPE_TEXT), "l1\n\tl2\\x1b", "text keeps newline and tab");
	is_str(escaped("\"\\\x1b\xc2\x9b\n", ESCAPE_JSON), "\\\"\\\\\\u001b\\u009b\\n", "JSON uses \\u escapes");

	/* check-config shows control characters, as libconfig escapes */
	c = conf_new();
	ok(conf_set(c, "migrations.backup_command", "x\x1b[2Jy", "command line", &err) == 0, "set a value with ESC");
	out = printed(c);
	contains(out, "backup_command = \"x\\x1b[2Jy\";", "check-config escapes it");
	free(out);
	conf_free(c);
}

/* Issue 14, item 5: secrets in files and on the command line. */
static void secrets(void)
{
	static const mode_t refused[] = { 0640, 0660, 0644, 0604 };
	struct conf *c;
	struct conf_error err;

	is_str(hidden("host=h password=s3cret user=u"), "host=h password=****** user=u", "conninfo password hidden");
	is_str(hidden("password = 'it\\'s a b' sslpassword=kp dbname=d"),
	       "password = '*********' sslpassword=** dbname=d", "quoted password and sslpassword hidden");
	is_str(hidden("postgresql://app:pw@db.example/m?sslmode=require&sslpassword=kp"),
	       "postgresql://app:**@db.example/m?sslmode=require&sslpassword=**", "URI password and sslpassword hidden");
	is_str(hidden("postgres://app@h/m?password=x"), "postgres://app@h/m?password=*", "URI query password hidden");
	is_str(hidden("host=h user=u"), "host=h user=u", "nothing to hide: unchanged");

	/* a file holding a secret: its owner's alone, as ssh wants keys */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		c = conf_new();
		ok(file_with_mode("database: { conninfo = \"host=h sslpassword=kp\"; };\n", refused[i]) == 0 &&
		   conf_load_file(c, path, true, &err) < 0, "sslpassword in a %04o file refused", (unsigned)refused[i]);
		contains(err.msg, "holds a password in database.conninfo and is", "says why");
		contains(err.msg, "run chmod 600", "and the fix");
		unlink(path);
		conf_free(c);

		c = conf_new();
		ok(file_with_mode("pw\n", refused[i]) == 0 &&
		   conf_set(c, "database.password_file", path, "command line", &err) == 0 &&
		   conf_validate(c, &err) < 0, "a %04o password file refused", (unsigned)refused[i]);
		contains(err.msg, "by other users (mode 0", "names the mode: %s", err.msg);
		unlink(path);
		conf_free(c);
	}
	c = conf_new();
	ok(file_with_mode("pw\n", 0400) == 0 && conf_set(c, "database.password_file", path, "command line", &err) == 0 &&
	   conf_validate(c, &err) == 0, "a 0400 password file accepted");
	unlink(path);
	conf_free(c);
	c = conf_new();
	ok(file_with_mode("database: { conninfo = \"host=h\"; };\n", 0644) == 0 &&
	   conf_load_file(c, path, true, &err) == 0, "a 0644 file without a secret accepted");
	unlink(path);
	conf_free(c);
}

int main(void)
{
	struct conf *c;
	struct conf_error err;
	const char *msg;
	char expect[128];

	/* defaults */
	c = conf_new();
	ok(c != NULL, "defaults load");
	ok(c->environment == ENV_PRODUCTION, "environment defaults to production");
	ok(c->cleanup_batch_size == 5000, "batch_size default 5000");
	ok(c->cleanup_retention_ms == 7LL * 86400000, "retention default 7 days");
	ok(c->jobs_history_retention_ms == 90LL * 86400000, "history_retention default 90 days");
	is_str(c->cleanup_schedule, "0 2 * * *", "cleanup schedule default is the seed's cron line");
	ok(c->verify_ignore != NULL && c->verify_ignore[0] == NULL, "verify.ignore defaults to empty");
	conf_free(c);

	/* a full valid file */
	c = conf_new();
	ok(load_text(c,
		     "environment = \"staging\";\n"
		     "database: { conninfo = \"host=/tmp dbname=x password=hunter2\"; };\n"
		     "migrations: { directory = \"/srv/m\"; on_out_of_order = \"apply\"; };\n"
		     "jobs: { history_retention = 3600;\n"
		     "  zoom_token_cleanup: { batch_size = 100; retention = \"1 h 30 min\"; };\n"
		     "  verify: { schedule = \"*/5 * * * *\"; }; };\n"
		     "verify: { ignore = [\"a\", \"b\"]; };\n"
		     "log: { level = \"debug\"; format = \"json\"; };\n", &err) == 0,
	   "valid file loads");
	ok(c->environment == ENV_STAGING, "environment read");
	is_str(c->mig_directory, "/srv/m", "migrations.directory read");
	ok(c->mig_on_out_of_order == OOO_APPLY, "enum read");
	ok(c->jobs_history_retention_ms == 3600000, "integer duration is seconds");
	ok(c->cleanup_retention_ms == 5400000, "compound duration");
	ok(c->cleanup_batch_size == 100, "int read");
	ok(c->verify_ignore && c->verify_ignore[1] && c->verify_ignore[2] == NULL, "string list read");
	ok(c->log_level == LOG_DEBUG && c->log_format == LOG_FORMAT_JSON, "log section read");
	{
		char *out = printed(c);

		contains(out, "password=********", "check-config masks the password");
		ok(strstr(out, "hunter2") == NULL, "check-config never prints the password");
		contains(out, "zoom_token_cleanup: {", "printed as nested libconfig groups");
		contains(out, "batch_size = 100;  # /tmp/conf-test-", "origin of a value is shown");
		free(out);
	}
	conf_free(c);

	/* errors name file and line */
	msg = try_file("environment = \"prod\";\n");
	contains(msg, ":1: environment: invalid value \"prod\" (allowed: development, staging, production)",
		 "bad enum names line and allowed values");
	msg = try_file("log: {\n  level = \"info\";\n  colour = true;\n};\n");
	contains(msg, ":3: unknown key \"log.colour\" (allowed in log: level, format, instance)",
		 "unknown key names line and the allowed keys");
	msg = try_file("nosuch: { a = 1; };\n");
	contains(msg, ":1: unknown section \"nosuch\"", "unknown section");
	msg = try_file("jobs: {\n zoom_token_cleanup: {\n  batch_size = \"big\";\n };\n};\n");
	contains(msg, ":3: jobs.zoom_token_cleanup.batch_size: expected an integer, got a string",
		 "wrong type names line and expected type");
	msg = try_file("jobs: { zoom_token_cleanup: { batch_size = 0; }; };\n");
	contains(msg, "batch_size: invalid value 0 (min 1, max 1000000)", "out of range names the range");
	msg = try_file("jobs: { zoom_token_cleanup: { retention = \"7 fortnights\"; }; };\n");
	contains(msg, "retention: invalid duration \"7 fortnights\": unknown unit", "bad duration unit");
	msg = try_file("jobs: { zoom_token_cleanup: { retention = \"10 s\"; }; };\n");
	contains(msg, "out of range (min 1 min, max 3650 days)", "duration below minimum");
	msg = try_file("log: { level = \"info\" }\nenvironment = ;\n");
	ok(msg != NULL && strstr(msg, ":2: syntax error") != NULL, "syntax error names the line: %s", msg ? msg : "");
	msg = try_file("database: { conninfo = \"host=x nosuchoption=1\"; };\n");
	contains(msg, "database.conninfo: not a valid libpq connection string", "bad conninfo");
	msg = try_file("jobs: {\n verify: {\n  schedule = \"61 * * * *\";\n };\n};\n");
	contains(msg, ":3: jobs.verify.schedule: invalid cron expression \"61 * * * *\": field 1 (minute)",
		 "bad cron expression names line and field");
	msg = try_file("jobs: { zoom_token_cleanup: { timezone = \"Not/AZone\"; }; };\n");
	contains(msg, "jobs.zoom_token_cleanup.timezone: unknown time zone \"Not/AZone\"", "unknown time zone");
	ok(try_file("jobs: { zoom_token_cleanup: { timezone = \"Europe/Berlin\"; schedule = \"@daily\"; }; };\n") == NULL,
	   "a real time zone and a macro are fine");
	msg = try_file("http: { listen = \"127.0.0.1:99999\"; };\n");
	contains(msg, "http.listen: expected ADDRESS:PORT", "bad listen port");
	msg = try_file("http: { listen = \"garbage\"; };\n");
	contains(msg, "http.listen: expected ADDRESS:PORT", "listen without a port");
	ok(try_file("http: { listen = \"[::1]:9187\"; };\n") == NULL, "IPv6 listen address");
	msg = try_file("log = \"debug\";\n");
	contains(msg, "log: is a section", "a section given as a value");
	msg = try_file("log: { level = { x = 1; }; };\n");
	contains(msg, "log.level: expected a string, got a group", "a key given as a group");
	msg = try_file("verify: { ignore = [1, 2]; };\n");
	ok(msg != NULL && strstr(msg, "verify.ignore") != NULL, "list of non-strings is refused");

	/* missing files */
	c = conf_new();
	ok(conf_load_file(c, "/nonexistent/momentum.conf", false, &err) == 0,
	   "a missing default file is not an error");
	ok(conf_load_file(c, "/nonexistent/momentum.conf", true, &err) < 0, "a missing named file is an error");
	contains(err.msg, "/nonexistent/momentum.conf: cannot open configuration file", "names the file");
	ok(conf_load_file(c, "/tmp", true, &err) < 0, "a directory is refused");
	conf_free(c);

	/* environment */
	c = conf_new();
	{
		char *env[] = {
			"MOMENTUM_MAINTD_LOG_LEVEL=warning",
			"MOMENTUM_MAINTD_JOBS_ZOOM_TOKEN_CLEANUP_BATCH_SIZE=42",
			"DATABASE_URL=postgresql://u:secret@localhost/db",
			"MOMENTUM_MAINTD_CONFIG=/ignored",
			"PATH=/bin",
			NULL,
		};
		ok(conf_load_env(c, env, &err) == 0, "environment applies");
		ok(c->log_level == LOG_WARNING, "MOMENTUM_MAINTD_LOG_LEVEL");
		ok(c->cleanup_batch_size == 42, "nested key from the environment");
		is_str(c->db_conninfo, "postgresql://u:secret@localhost/db", "DATABASE_URL fills conninfo");
		char *out = printed(c);
		ok(strstr(out, "secret") == NULL, "URI password is masked too");
		contains(out, "# environment DATABASE_URL", "origin of DATABASE_URL");
		free(out);
	}
	{
		char *env[] = { "DATABASE_URL=host=a", "MOMENTUM_MAINTD_DATABASE_CONNINFO=host=b", NULL };

		ok(conf_load_env(c, env, &err) == 0, "both DATABASE_URL and conninfo");
		is_str(c->db_conninfo, "host=b", "MOMENTUM_MAINTD_DATABASE_CONNINFO wins over DATABASE_URL");
	}
	{
		char *env[] = { "MOMENTUM_MAINTD_LOG_LEVL=debug", NULL };

		ok(conf_load_env(c, env, &err) < 0, "unknown MOMENTUM_MAINTD_ variable is an error");
		contains(err.msg, "environment MOMENTUM_MAINTD_LOG_LEVL: no such configuration key", "names it");
	}
	{
		char *env[] = { "MOMENTUM_MAINTD_JOBS_ZOOM_TOKEN_CLEANUP_BATCH_SIZE=12x", NULL };

		ok(conf_load_env(c, env, &err) < 0, "bad value from the environment");
		contains(err.msg, "environment MOMENTUM_MAINTD_JOBS_ZOOM_TOKEN_CLEANUP_BATCH_SIZE: "
			 "jobs.zoom_token_cleanup.batch_size: expected an integer", "names the variable");
	}
	{
		char *env[] = { "MOMENTUM_MAINTD_VERIFY_IGNORE=a, b ,c", NULL };

		ok(conf_load_env(c, env, &err) == 0 && c->verify_ignore[2] != NULL &&
		   strcmp(c->verify_ignore[1], "b") == 0 && c->verify_ignore[3] == NULL,
		   "comma-separated list from the environment");
	}
	{
		char *env[] = { "MOMENTUM_MAINTD_VERIFY_IGNORE=[\"duplicate_index:public.a, public.b\", \"x\\\"y\"]", NULL };

		ok(conf_load_env(c, env, &err) == 0 && c->verify_ignore[0] && c->verify_ignore[1] &&
		   c->verify_ignore[2] == NULL, "a list of quoted strings from the environment");
		is_str(c->verify_ignore[0], "duplicate_index:public.a, public.b", "an item keeps its comma");
		is_str(c->verify_ignore[1], "x\"y", "an escaped quote");
	}
	ok(conf_set(c, "verify.ignore", "[]", "command line", &err) == 0 && c->verify_ignore[0] == NULL, "[] is empty");
	ok(conf_set(c, "verify.ignore", "[\"a\"", "command line", &err) < 0, "unclosed list refused");
	contains(err.msg, "command line: verify.ignore: the list must end with ]", "says how it is wrong");
	ok(conf_set(c, "verify.ignore", "[a]", "command line", &err) < 0, "unquoted item refused");
	contains(err.msg, "expected a list of double-quoted strings", "says what is expected");
	ok(conf_set(c, "verify.ignore", "[\"a]", "command line", &err) < 0, "unterminated string refused");
	contains(err.msg, "unterminated string", "says so");
	ok(conf_set(c, "verify.ignore", "[\"a\"] x", "command line", &err) < 0, "trailing text refused");

	/* command line */
	ok(conf_set(c, "log.level", "error", "command line", &err) == 0 && c->log_level == LOG_ERR,
	   "--set log.level=error");
	ok(conf_set(c, "log.nope", "x", "command line", &err) < 0, "--set unknown key");
	contains(err.msg, "command line: unknown key \"log.nope\"", "names the key");
	ok(conf_set(c, "migrations.supabase_compat", "maybe", "command line", &err) < 0, "bad bool");
	ok(conf_set(c, "migrations.supabase_compat", "off", "command line", &err) == 0 &&
	   !c->mig_supabase_compat, "bool off");
	ok(conf_set(c, "migrations.directory", "", "command line", &err) < 0, "empty directory refused");
	conf_free(c);

	/* masking */
	{
		char out[256];

		conf_mask_conninfo("host=h password='a b' user=u", out, sizeof(out));
		ok(strstr(out, "a b") == NULL && strstr(out, "password=********"), "quoted password masked: %s", out);
		conf_mask_conninfo("postgres://u:p%40ss@h:5/d?sslmode=disable", out, sizeof(out));
		ok(strstr(out, "p@ss") == NULL && strstr(out, "p%40ss") == NULL, "URI password masked: %s", out);
		snprintf(expect, sizeof(expect), "user=u");
		contains(out, expect, "URI user kept");
	}

	/* a default that depends on the environment follows it while nothing set the key */
	c = conf_new();
	ok(conf_syslog_level(c) == LOG_INFO, "production logs at info");
	ok(conf_set(c, "environment", "development", "command line", &err) == 0 &&
	   conf_syslog_level(c) == LOG_DEBUG && c->log_level == LOG_DEBUG, "development logs at debug");
	is_str(conf_origin(c, "log.level"), "default in development", "and says the default is development's");
	{
		char *out = printed(c);

		contains(out, "level = \"debug\";  # default in development", "check-config prints the level in force");
		free(out);
	}
	ok(conf_set(c, "environment", "staging", "command line", &err) == 0 && c->log_level == LOG_INFO,
	   "leaving development restores the table's default");
	is_str(conf_origin(c, "log.level"), "default", "with the plain default's origin");
	ok(conf_set(c, "log.level", "warning", "command line", &err) == 0 &&
	   conf_set(c, "environment", "development", "command line", &err) == 0 && c->log_level == LOG_WARNING,
	   "a log.level that was set stays in development");
	conf_free(c);
	c = conf_new();
	ok(load_text(c, "log: { level = \"notice\"; };\nenvironment = \"development\";\n", &err) == 0 &&
	   c->log_level == LOG_NOTICE, "also when the file sets log.level before the environment");
	ok(c->log_format == LOG_FORMAT_AUTO, "log.format stores log.h's enum");
	is_str(conf_environment_name(c->environment), "development", "environment name");
	conf_free(c);

	/* migrations.safety: refuse in production, warn elsewhere, unless set */
	c = conf_new();
	ok(c->mig_safety == SAFETY_REFUSE, "production refuses unsafe migrations by default");
	is_str(conf_origin(c, "migrations.safety"), "default in production", "and says so");
	ok(conf_set(c, "environment", "staging", "command line", &err) == 0 && c->mig_safety == SAFETY_WARN,
	   "staging warns");
	ok(conf_set(c, "environment", "development", "command line", &err) == 0 && c->mig_safety == SAFETY_WARN,
	   "development warns");
	ok(conf_set(c, "migrations.safety", "refuse", "command line", &err) == 0 &&
	   conf_set(c, "environment", "staging", "command line", &err) == 0 && c->mig_safety == SAFETY_REFUSE,
	   "a migrations.safety that was set stays");
	is_str(c->mig_safety_min_size, "10 MB", "safety_min_size default");
	ok(conf_set(c, "migrations.safety_min_size", "64 kB", "command line", &err) == 0, "a size is accepted");
	ok(conf_set(c, "migrations.safety_min_size", "ten MB", "f.conf:3", &err) < 0, "a bad size is refused");
	contains(err.msg, "f.conf:3: migrations.safety_min_size: expected a number", "naming where and the key");
	ok(conf_set(c, "migrations.safety", "maybe", "f.conf:4", &err) < 0, "an unknown policy is refused");
	conf_free(c);

	/* the password file must be readable */
	c = conf_new();
	ok(conf_set(c, "database.password_file", "/nonexistent/pw", "command line", &err) == 0, "set password_file");
	ok(conf_validate(c, &err) < 0, "unreadable password_file refused");
	contains(err.msg, "command line: database.password_file: cannot read \"/nonexistent/pw\"", "names it");
	conf_free(c);

	escapes();
	secrets();
	return done_testing();
}
