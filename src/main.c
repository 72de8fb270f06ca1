/* momentum-maintd: keeps the Momentum backend's PostgreSQL database in shape.
 * main() is the life of the process: options, the command, configuration,
 * logging, then the daemon or a one-shot command. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stdint.h>
#include <sysexits.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "adopt.h"
#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "msgid.h"

#define DEFAULT_CONFIG SYSCONFDIR "/momentum-maintd/momentum-maintd.conf"
#define MAX_SETS 64
/* -d's connection string; a longer one is a usage error */
#define CONNINFO_MAX ((size_t)4077)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern char **environ;

/* One --set KEY=VALUE (or -d CONNINFO), pointing into argv. */
struct setting {
	const char *key;
	int key_len;
	const char *value;
	char *copy;                 /* a secret's own copy (argv's is overwritten) */
};

/* Where the configuration comes from, kept to read it again on SIGHUP. */
struct conf_sources {
	const char *path;
	bool explicit_path;
	struct setting sets[MAX_SETS];
	int nsets;
};

/* Options that belong to some commands only. */
enum {
	OPT_DRY_RUN = 1 << 0,
	OPT_LOCKS = 1 << 1,
	OPT_TO = 1 << 2,
	OPT_YES = 1 << 3,
	OPT_FORMAT = 1 << 4,
	OPT_FAIL_ON = 1 << 5,
};

/* What the command line asks for. */
struct invocation {
	struct conf_sources src;
	const char *command;
	const char *subcommand;     /* of migrate */
	const char *operand;        /* run-job NAME, migrate baseline VERSION */
	unsigned options;           /* OPT_* given */
	const char *to, *format, *fail_on;
	int64_t version;            /* --to or baseline's VERSION */
};

/* Says what is wrong with the command line; returns EX_USAGE. */
static int usage_error(bool hint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(bool hint, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", PACKAGE_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (hint)
		fprintf(stderr, "Try '%s --help'.\n", PACKAGE_NAME);
	return EX_USAGE;
}

static void print_version(void)
{
	printf("%s %s (libpq %d, libevent %s, systemd %s)\n", PACKAGE_NAME, PACKAGE_VERSION,
	       PQlibVersion(), event_get_version(),
#ifdef HAVE_LIBSYSTEMD
	       "yes"
#else
	       "no"
#endif
	);
}

/* The password from database.password_file or $CREDENTIALS_DIRECTORY/db-password
 * (systemd's LoadCredential=); NULL when neither is there. */
static int load_password(const struct conf *c, char **out)
{
	char path[4096], buf[1024];
	const char *file = c->db_password_file, *cred = getenv("CREDENTIALS_DIRECTORY");
	FILE *f;
	size_t n;

	*out = NULL;
	if (file[0] == '\0') {
		if (cred == NULL || cred[0] == '\0')
			return 0;
		snprintf(path, sizeof(path), "%s/db-password", cred);
		file = path;
		f = fopen(file, "r");
		if (f == NULL && errno == ENOENT)
			return 0;
	} else {
		f = fopen(file, "r");
	}
	if (f == NULL) {
		fprintf(stderr, "%s: cannot read the database password: %s\n", file, strerror(errno));
		return -1;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0) {
		fprintf(stderr, "%s: the database password file is empty\n", file);
		return -1;
	}
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *out ? 0 : -1;
}

static int parse_version(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}


/* The whole configuration, from every source in order; NULL with err set. */
static struct conf *load_configuration(const struct conf_sources *src, struct conf_error *err)
{
	struct conf *conf = conf_new();
	int i;

	if (conf == NULL) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	if (conf_load_file(conf, src->path, src->explicit_path, err) < 0 ||
	    conf_load_env(conf, environ, err) < 0)
		goto fail;
	for (i = 0; i < src->nsets; i++) {
		const struct setting *s = &src->sets[i];
		char key[256];

		snprintf(key, sizeof(key), "%.*s", s->key_len, s->key);
		if (conf_set(conf, key, s->value, "command line", err) < 0)
			goto fail;
	}
	if (conf_validate(conf, err) < 0)
		goto fail;
	return conf;
fail:
	conf_free(conf);
	return NULL;
}

/* SIGHUP: the same sources, read again. */
static struct conf *reload_configuration(void *arg, struct conf_error *err)
{
	return load_configuration(arg, err);
}

/* ---- the commands ---- */

static bool wants_json(const struct invocation *inv)
{
	return inv->format != NULL && strcmp(inv->format, "json") == 0;
}

static int run_daemon(struct invocation *inv, const struct conf *conf, const char *password)
{
	return daemon_run(conf, password, reload_configuration, &inv->src);
}

static int run_check_config(struct invocation *inv, const struct conf *conf, const char *password)
{
	(void)inv;
	(void)password;
	conf_print(conf, stdout);
	return EX_OK;
}

static int run_migrate_status(struct invocation *inv, const struct conf *conf, const char *password)
{
	return cli_migrate_status(conf, password, wants_json(inv));
}

static int run_migrate_up(struct invocation *inv, const struct conf *conf, const char *password)
{
	return cli_migrate_up(conf, password, (inv->options & OPT_DRY_RUN) != 0, (inv->options & OPT_LOCKS) != 0);
}

static int run_migrate_down(struct invocation *inv, const struct conf *conf, const char *password)
{
	return cli_migrate_down(conf, password, inv->version, (inv->options & OPT_YES) != 0);
}

static int run_migrate_reset(struct invocation *inv, const struct conf *conf, const char *password)
{
	int rc;

	if (conf->environment != ENV_DEVELOPMENT) {
		fprintf(stderr, "%s: migrate reset drops everything the migrations made; it is allowed only "
			"with environment = \"development\" (this is %s)\n", PACKAGE_NAME,
			conf_environment_name(conf->environment));
		return EX_USAGE;
	}
	rc = cli_migrate_down(conf, password, 0, (inv->options & OPT_YES) != 0);
	if (rc == EX_OK)
		rc = cli_migrate_up(conf, password, false, false);
	return rc;
}

static int run_migrate_baseline(struct invocation *inv, const struct conf *conf, const char *password)
{
	return cli_migrate_baseline(conf, password, inv->version);
}

static int run_migrate_adopt(struct invocation *inv, const struct conf *conf, const char *password)
{
	return cli_migrate_adopt(conf, password, inv->operand, (inv->options & OPT_DRY_RUN) != 0);
}

static int run_job(struct invocation *inv, const struct conf *conf, const char *password)
{
	return cli_run_job(conf, password, inv->operand);
}

static int run_verify(struct invocation *inv, const struct conf *conf, const char *password)
{
	return cli_verify(conf, password, wants_json(inv), inv->fail_on);
}

/* ---- the values of the options a command takes ---- */

static bool text_or_json(const char *format)
{
	return format == NULL || strcmp(format, "text") == 0 || strcmp(format, "json") == 0;
}

static int check_status(struct invocation *inv)
{
	return text_or_json(inv->format) ? EX_OK : usage_error(true, "--format: expected text or json");
}

static int check_down(struct invocation *inv)
{
	if (inv->to == NULL || parse_version(inv->to, &inv->version) < 0)
		return usage_error(true, "migrate down needs --to VERSION (a migration version number, 0 for all)");
	return EX_OK;
}

static int check_baseline(struct invocation *inv)
{
	if (inv->operand == NULL || parse_version(inv->operand, &inv->version) < 0)
		return usage_error(true, "migrate baseline needs a VERSION (a migration version number)");
	return EX_OK;
}

static int check_adopt(struct invocation *inv)
{
	if (!adopt_tool_known(inv->operand))
		return usage_error(true, "migrate adopt needs the tool whose tracking to adopt (" ADOPT_TOOLS ")");
	return EX_OK;
}

static int check_run_job(struct invocation *inv)
{
	if (inv->operand == NULL)
		return usage_error(true, "run-job needs a job name (zoom-token-cleanup, verify)");
	return EX_OK;
}

static int check_verify(struct invocation *inv)
{
	const char *f = inv->fail_on;

	if (!text_or_json(inv->format) ||
	    (f != NULL && strcmp(f, "error") != 0 && strcmp(f, "warn") != 0 && strcmp(f, "info") != 0))
		return usage_error(false, "verify: --format text|json, --fail-on error|warn|info");
	return EX_OK;
}

/* Every command: its words, the options it takes, the check of their
 * values, what runs it, and its lines of --help (in this order). */
static const struct command {
	const char *name;
	const char *subcommand;     /* of migrate */
	bool operand;               /* one word follows: run-job NAME, baseline VERSION */
	unsigned options;           /* OPT_* it takes */
	int (*check)(struct invocation *inv);
	int (*run)(struct invocation *inv, const struct conf *conf, const char *password);
	const char *synopsis;
	const char *help;           /* lines separated by \n */
} commands[] = {
	{ .name = "run", .run = run_daemon,
	  .synopsis = "run", .help = "the daemon, in the foreground (default)" },
	{ .name = "check-config", .run = run_check_config,
	  .synopsis = "check-config", .help = "validate and print the effective configuration (secrets masked)" },
	{ .name = "migrate", .subcommand = "status", .options = OPT_FORMAT,
	  .check = check_status, .run = run_migrate_status,
	  .synopsis = "migrate status [--format text|json]",
	  .help = "each migration: version, name, state, applied_at, checksum" },
	{ .name = "migrate", .subcommand = "up", .options = OPT_DRY_RUN | OPT_LOCKS, .run = run_migrate_up,
	  .synopsis = "migrate up [--dry-run [--locks]]",
	  .help = "apply pending migrations and exit (--dry-run: the plan, nothing changed;\n"
		  "--locks: also run them in a rolled-back transaction and list the\n"
		  "tables each one locks, with the lock mode, size and rows)" },
	{ .name = "migrate", .subcommand = "down", .options = OPT_TO | OPT_YES,
	  .check = check_down, .run = run_migrate_down,
	  .synopsis = "migrate down --to VERSION [--yes]",
	  .help = "run rollback files newest first, down to (not including) VERSION" },
	{ .name = "run-job", .operand = true, .check = check_run_job, .run = run_job,
	  .synopsis = "run-job NAME",
	  .help = "run one scheduled job now and exit (NAME: zoom-token-cleanup, verify)" },
	{ .name = "verify", .options = OPT_FORMAT | OPT_FAIL_ON, .check = check_verify, .run = run_verify,
	  .synopsis = "verify [--format text|json] [--fail-on error|warn|info]",
	  .help = "one verification pass (RLS, policies, indexes, roles); exit 0 clean,\n"
		  "1 findings at or above --fail-on (default error), 69 database down" },
	{ .name = "migrate", .subcommand = "reset", .options = OPT_YES, .run = run_migrate_reset,
	  .synopsis = "migrate reset [--yes]",
	  .help = "development only: every rollback, then every migration again" },
	{ .name = "migrate", .subcommand = "baseline", .operand = true,
	  .check = check_baseline, .run = run_migrate_baseline,
	  .synopsis = "migrate baseline VERSION",
	  .help = "record migrations up to VERSION as applied without running them\n"
		  "(for a database where they were applied by hand)" },
	{ .name = "migrate", .subcommand = "adopt", .operand = true, .options = OPT_DRY_RUN,
	  .check = check_adopt, .run = run_migrate_adopt,
	  .synopsis = "migrate adopt FROM [--dry-run]",
	  .help = "take over from another tool (FROM: " ADOPT_TOOLS "):\n"
		  "record what it applied, matched to the files, as applied; refuses,\n"
		  "changing nothing, on a version without file or a failed/dirty one" },
};

/* Refusals of an option without the option it goes with, or on a command
 * that does not take it; checked in this order. */
static const struct option_rule {
	unsigned option;
	unsigned needs;             /* the options it goes with */
	bool hint;                  /* "Try --help" after the refusal */
	const char *refusal;
} option_rules[] = {
	{ OPT_FAIL_ON, 0, false, "--fail-on belongs to 'verify'" },
	{ OPT_DRY_RUN, 0, true, "--dry-run belongs to 'migrate up' and 'migrate adopt'" },
	{ OPT_TO, 0, true, "--to belongs to 'migrate down'" },
	{ OPT_YES, 0, true, "--yes belongs to 'migrate down' and 'migrate reset'" },
	{ OPT_FORMAT, 0, true, "--format belongs to 'migrate status'" },
	{ OPT_LOCKS, OPT_DRY_RUN, false, "--locks goes with 'migrate up --dry-run'" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s [OPTIONS] [COMMAND]\n"
		"\n"
		"Keeps the Momentum backend's PostgreSQL database in shape: applies pending\n"
		"migrations at startup and reports to systemd.\n"
		"\n"
		"Commands:\n", PACKAGE_NAME);
	for (i = 0; i < ARRAY_SIZE(commands); i++) {
		const char *line = commands[i].help, *nl;
		int column = fprintf(f, "  %s", commands[i].synopsis);

		for (; line != NULL; line = nl ? nl + 1 : NULL, column = 0) {
			nl = strchr(line, '\n');
			if (column >= 22) {
				fputc('\n', f);
				column = 0;
			}
			fprintf(f, "%*s%.*s\n", 22 - column, "", nl ? (int)(nl - line) : (int)strlen(line), line);
		}
	}
	fprintf(f,
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default %s,\n"
		"                      or $MOMENTUM_MAINTD_CONFIG; a missing default file is not an error)\n"
		"  -d, --database CONNINFO\n"
		"                      libpq connection string or URI (same as --set database.conninfo=...);\n"
		"                      its password is hidden from ps once read, but another user can\n"
		"                      see it for a moment: with a password, -d is for one-off use\n"
		"                      (a daemon reads it from database.password_file or PGPASSFILE)\n"
		"  -s, --set KEY=VALUE set a configuration key, e.g. --set log.level=debug\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Configuration keys (file < environment MOMENTUM_MAINTD_<SECTION>_<KEY> < command line):\n",
		DEFAULT_CONFIG);
	for (i = 0; i < conf_nkeys; i++)
		fprintf(f, "  %-34s %s (default \"%s\")\n", conf_keys[i].path, conf_keys[i].help,
			conf_keys[i].def);
	fprintf(f,
		"\n"
		"The connection also reads DATABASE_URL and libpq's PG* variables; the password can come\n"
		"from database.password_file, $CREDENTIALS_DIRECTORY/db-password or PGPASSFILE.\n"
		"\n"
		"Exit status: 0 ok, 64 usage, 65 data error (a migration failed, a checksum mismatch),\n"
		"69 database unavailable (one-shot commands), 70 internal error, 78 configuration error.\n");
}

/* ---- the command line ---- */

static bool is_secret_key(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < conf_nkeys; i++)
		if ((conf_keys[i].flags & CK_SECRET) && strlen(conf_keys[i].path) == len &&
		    strncmp(conf_keys[i].path, key, len) == 0)
			return true;
	return false;
}

/* -d CONNINFO and --set KEY=VALUE, kept as pointers into argv, except a
 * connection string's: /proc/PID/cmdline is readable by every user, so it
 * is copied (for the life of the process: SIGHUP reads it again) and its
 * password overwritten in argv. */
static int add_setting(struct conf_sources *src, int opt, char *arg)
{
	char *eq = strchr(arg, '='), *copy;
	struct setting *s;

	if (src->nsets == MAX_SETS) {
		fprintf(stderr, "%s: too many --set options\n", PACKAGE_NAME);
		return -1;
	}
	s = &src->sets[src->nsets];
	if (opt == 'd' && strlen(arg) > CONNINFO_MAX) {
		fprintf(stderr, "%s: -d: the connection string is longer than %zu bytes\n", PACKAGE_NAME, CONNINFO_MAX);
		return -1;
	}
	if (opt == 'd') {
		s->key = "database.conninfo";
		s->key_len = (int)strlen(s->key);
		s->value = arg;
	} else if (eq == NULL || eq == arg) {
		fprintf(stderr, "%s: --set %s: expected KEY=VALUE\n", PACKAGE_NAME, arg);
		return -1;
	} else {
		s->key = arg;
		s->key_len = (int)(eq - arg);
		s->value = eq + 1;
	}
	if (is_secret_key(s->key, (size_t)s->key_len)) {
		size_t at = (size_t)(s->value - arg);

		copy = strdup(arg);
		if (copy == NULL) {
			fprintf(stderr, "%s: out of memory\n", PACKAGE_NAME);
			return -1;
		}
		if (opt != 'd')
			s->key = copy;
		s->value = copy + at;
		s->copy = copy;
		conf_hide_password(arg + at);
	}
	src->nsets++;
	return 0;
}

/* Reads the options (anywhere on the line).  -1 to go on, else the exit
 * code: --help, --version or a usage error. */
static int parse_options(int argc, char **argv, struct invocation *inv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "database", required_argument, NULL, 'd' },
		{ "set", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "locks", no_argument, NULL, 'L' },
		{ "to", required_argument, NULL, 't' },
		{ "yes", no_argument, NULL, 'y' },
		{ "format", required_argument, NULL, 'f' },
		{ "fail-on", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:d:s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			inv->src.path = optarg;
			inv->src.explicit_path = true;
			break;
		case 'd':
		case 's':
			if (add_setting(&inv->src, opt, optarg) < 0)
				return EX_USAGE;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			print_version();
			return EX_OK;
		case 'n': inv->options |= OPT_DRY_RUN; break;
		case 'L': inv->options |= OPT_LOCKS; break;
		case 't': inv->options |= OPT_TO; inv->to = optarg; break;
		case 'y': inv->options |= OPT_YES; break;
		case 'f': inv->options |= OPT_FORMAT; inv->format = optarg; break;
		case 'F': inv->options |= OPT_FAIL_ON; inv->fail_on = optarg; break;
		case ':':
			return usage_error(true, "option '%s' needs an argument", argv[optind - 1]);
		default:
			return usage_error(true, "unknown option '%s'", argv[optind - 1]);
		}
	}
	return -1;
}

/* The command the words after the options name (run when there are
 * none) and its operand; NULL after saying what is wrong. */
static const struct command *find_command(int argc, char **argv, struct invocation *inv)
{
	const struct command *cmd = NULL;
	const char *sub;
	size_t i;

	inv->command = optind < argc ? argv[optind++] : "run";
	if (strcmp(inv->command, "migrate") == 0)
		inv->subcommand = optind < argc ? argv[optind++] : NULL;
	sub = inv->subcommand;
	for (i = 0; i < ARRAY_SIZE(commands) && cmd == NULL; i++)
		if (strcmp(commands[i].name, inv->command) == 0 &&
		    (commands[i].subcommand == NULL || (sub != NULL && strcmp(commands[i].subcommand, sub) == 0)))
			cmd = &commands[i];
	if (cmd == NULL && strcmp(inv->command, "migrate") == 0) {
		usage_error(true, "migrate: expected status, up, down, baseline, reset or adopt%s%s",
			    sub ? ", got " : "", sub ? sub : "");
		return NULL;
	}
	if (cmd == NULL) {
		usage_error(true, "unknown command '%s'", inv->command);
		return NULL;
	}
	if (cmd->operand && optind < argc)
		inv->operand = argv[optind++];
	if (optind < argc) {
		usage_error(true, "unexpected argument '%s'", argv[optind]);
		return NULL;
	}
	return cmd;
}

/* Refuses an option the command does not take (or without the one it goes
 * with), then checks the values of those it does. */
static int check_options(const struct command *cmd, struct invocation *inv)
{
	const struct option_rule *r;

	for (r = option_rules; r < option_rules + ARRAY_SIZE(option_rules); r++)
		if ((inv->options & r->option) && (inv->options & r->needs) != r->needs)
			return usage_error(r->hint, "%s", r->refusal);
	for (r = option_rules; r < option_rules + ARRAY_SIZE(option_rules); r++)
		if ((inv->options & r->option) && !(cmd->options & r->option))
			return usage_error(r->hint, "%s", r->refusal);
	return cmd->check != NULL ? cmd->check(inv) : EX_OK;
}

/* Logging is not set up yet (the configuration decides where it goes):
 * the journal when stderr is the journal, else plain stderr. */
static int configuration_error(const struct conf_error *err)
{
	log_setup(LOG_ERR, LOG_FORMAT_AUTO);
	/* the template unit's instance, so its journal shows this too */
	log_set_instance(getenv("MOMENTUM_MAINTD_LOG_INSTANCE"));
	if (log_active_format() == LOG_FORMAT_JOURNAL) {
		log_emit(LOG_ERR, MSGID_CONFIG_INVALID, NULL, 0, "configuration error: %s", err->msg);
	} else {
		/* the message may quote a value from the environment or a file */
		fprintf(stderr, "%s: configuration error: ", PACKAGE_NAME);
		fputs_escaped(stderr, err->msg, ESCAPE_TEXT);
		fputc('\n', stderr);
	}
	return EX_CONFIG;
}

static void forget_password(char *password)
{
	if (password == NULL)
		return;
	explicit_bzero(password, strlen(password));
	free(password);
}

/* The secrets the command line held, gone from memory. */
static void forget_settings(struct conf_sources *src)
{
	for (int i = 0; i < src->nsets; i++)
		forget_password(src->sets[i].copy);
}

int main(int argc, char **argv)
{
	struct invocation inv = { 0 };
	const struct command *cmd;
	struct conf *conf = NULL;
	struct conf_error err;
	char *password = NULL;
	int rc;

	/* the command line: options, then the command and its operand */
	inv.src.path = getenv("MOMENTUM_MAINTD_CONFIG");
	inv.src.explicit_path = inv.src.path != NULL && inv.src.path[0] != '\0';
	rc = parse_options(argc, argv, &inv);
	if (rc >= 0)
		goto out;
	cmd = find_command(argc, argv, &inv);
	rc = cmd == NULL ? EX_USAGE : check_options(cmd, &inv);
	if (rc != EX_OK)
		goto out;

	/* the configuration: defaults < file < environment < command line */
	if (!inv.src.explicit_path)
		inv.src.path = DEFAULT_CONFIG;
	conf = load_configuration(&inv.src, &err);
	if (conf == NULL) {
		rc = configuration_error(&err);
		goto out;
	}
	if (load_password(conf, &password) < 0) {
		rc = EX_CONFIG;
		goto out;
	}

	/* logging as configured, then the command */
	log_setup(conf_syslog_level(conf), conf->log_format);
	log_set_instance(conf->log_instance);
	signal(SIGPIPE, SIG_IGN);
	rc = cmd->run(&inv, conf, password);
out:
	forget_password(password);
	conf_free(conf);
	forget_settings(&inv.src);
	return rc;
}
