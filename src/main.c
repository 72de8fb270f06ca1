/* momentum-maintd: keeps the Momentum backend's PostgreSQL database in shape.
 * main() is the life of the process: options, configuration, logging, then
 * the daemon or a one-shot command. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stdint.h>
#include <sysexits.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "cli.h"
#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "msgid.h"

#define DEFAULT_CONFIG SYSCONFDIR "/momentum-maintd/momentum-maintd.conf"
#define MAX_SETS 64

extern char **environ;

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s [OPTIONS] [COMMAND]\n"
		"\n"
		"Keeps the Momentum backend's PostgreSQL database in shape: applies pending\n"
		"migrations at startup and reports to systemd.\n"
		"\n"
		"Commands:\n"
		"  run                 the daemon, in the foreground (default)\n"
		"  check-config        validate and print the effective configuration (secrets masked)\n"
		"  migrate status [--format text|json]\n"
		"                      each migration: version, name, state, applied_at, checksum\n"
		"  migrate up [--dry-run [--locks]]\n"
		"                      apply pending migrations and exit (--dry-run: the plan, nothing changed;\n"
		"                      --locks: also run them in a rolled-back transaction and list the\n"
		"                      tables each one locks, with the lock mode, size and rows)\n"
		"  migrate down --to VERSION [--yes]\n"
		"                      run rollback files newest first, down to (not including) VERSION\n"
		"  run-job NAME        run one scheduled job now and exit (NAME: zoom-token-cleanup, verify)\n"
		"  verify [--format text|json] [--fail-on error|warn|info]\n"
		"                      one verification pass (RLS, policies, indexes, roles); exit 0 clean,\n"
		"                      1 findings at or above --fail-on (default error), 69 database down\n"
		"  migrate reset [--yes]\n"
		"                      development only: every rollback, then every migration again\n"
		"  migrate baseline VERSION\n"
		"                      record migrations up to VERSION as applied without running them\n"
		"                      (for a database where they were applied by hand)\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   configuration file (default %s,\n"
		"                      or $MOMENTUM_MAINTD_CONFIG; a missing default file is not an error)\n"
		"  -d, --database CONNINFO\n"
		"                      libpq connection string or URI (same as --set database.conninfo=...)\n"
		"  -s, --set KEY=VALUE set a configuration key, e.g. --set log.level=debug\n"
		"  -h, --help          show this help\n"
		"  -V, --version       show the version\n"
		"\n"
		"Configuration keys (file < environment MOMENTUM_MAINTD_<SECTION>_<KEY> < command line):\n",
		PACKAGE_NAME, DEFAULT_CONFIG);
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

/* Options that belong to one subcommand are refused elsewhere. */
static int check_subcommand_options(const char *sub, bool dry_run, const char *to, bool yes,
				    const char *format, const char *baseline, int64_t *version)
{
	const char *bad = NULL;

	if (dry_run && (sub == NULL || strcmp(sub, "up") != 0))
		bad = "--dry-run belongs to 'migrate up'";
	else if (to != NULL && (sub == NULL || strcmp(sub, "down") != 0))
		bad = "--to belongs to 'migrate down'";
	else if (yes && (sub == NULL || (strcmp(sub, "down") != 0 && strcmp(sub, "reset") != 0)))
		bad = "--yes belongs to 'migrate down' and 'migrate reset'";
	else if (format != NULL && (sub == NULL || strcmp(sub, "status") != 0))
		bad = "--format belongs to 'migrate status'";
	else if (format != NULL && strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
		bad = "--format: expected text or json";
	else if (sub != NULL && strcmp(sub, "down") == 0 && (to == NULL || parse_version(to, version) < 0))
		bad = "migrate down needs --to VERSION (a migration version number, 0 for all)";
	else if (sub != NULL && strcmp(sub, "baseline") == 0 &&
		 (baseline == NULL || parse_version(baseline, version) < 0))
		bad = "migrate baseline needs a VERSION (a migration version number)";
	if (bad == NULL)
		return EX_OK;
	fprintf(stderr, "%s: %s\nTry '%s --help'.\n", PACKAGE_NAME, bad, PACKAGE_NAME);
	return EX_USAGE;
}

struct conf_sources {
	const char *path;
	bool explicit_path;
	const char **sets;
	int nsets;
};

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
		const char *eq = strchr(src->sets[i], '=');
		char key[256];

		snprintf(key, sizeof(key), "%.*s", (int)(eq - src->sets[i]), src->sets[i]);
		if (conf_set(conf, key, eq + 1, "command line", err) < 0)
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

int main(int argc, char **argv)
{
	struct conf_sources src;
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
	const char *config_path = getenv("MOMENTUM_MAINTD_CONFIG");
	const char *sets[MAX_SETS];
	const char *fail_on = NULL, *format_verify = NULL;
	const char *cmd, *sub = NULL, *job_arg = NULL, *to_arg = NULL, *format = NULL, *baseline_arg = NULL;
	bool dry_run = false, yes = false, locks = false;
	int64_t version = 0;
	int nsets = 0, opt, rc, explicit_config;
	struct conf *conf = NULL;
	struct conf_error err;
	char *password = NULL;

	explicit_config = config_path != NULL && config_path[0] != '\0';
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:d:s:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			explicit_config = 1;
			break;
		case 'd':
		case 's':
			if (nsets == MAX_SETS) {
				fprintf(stderr, "%s: too many --set options\n", PACKAGE_NAME);
				return EX_USAGE;
			}
			if (opt == 'd') {
				static char buf[MAX_SETS][4096];

				if (snprintf(buf[nsets], sizeof(buf[nsets]), "database.conninfo=%s", optarg) >=
				    (int)sizeof(buf[nsets])) {
					fprintf(stderr, "%s: -d: the connection string is longer than %zu bytes\n",
						PACKAGE_NAME, sizeof(buf[nsets]) - sizeof("database.conninfo="));
					return EX_USAGE;
				}
				sets[nsets] = buf[nsets];
				nsets++;
			} else {
				if (strchr(optarg, '=') == NULL || optarg[0] == '=') {
					fprintf(stderr, "%s: --set %s: expected KEY=VALUE\n", PACKAGE_NAME, optarg);
					return EX_USAGE;
				}
				sets[nsets++] = optarg;
			}
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			print_version();
			return EX_OK;
		case 'n':
			dry_run = true;
			break;
		case 'L':
			locks = true;
			break;
		case 't':
			to_arg = optarg;
			break;
		case 'y':
			yes = true;
			break;
		case 'f':
			format = optarg;
			break;
		case 'F':
			fail_on = optarg;
			break;
		case ':':
			fprintf(stderr, "%s: option '%s' needs an argument\nTry '%s --help'.\n", PACKAGE_NAME,
				argv[optind - 1], PACKAGE_NAME);
			return EX_USAGE;
		default:
			fprintf(stderr, "%s: unknown option '%s'\nTry '%s --help'.\n", PACKAGE_NAME,
				argv[optind - 1], PACKAGE_NAME);
			return EX_USAGE;
		}
	}
	cmd = optind < argc ? argv[optind++] : "run";
	if (strcmp(cmd, "migrate") == 0) {
		sub = optind < argc ? argv[optind++] : NULL;
		if (sub == NULL || (strcmp(sub, "up") != 0 && strcmp(sub, "status") != 0 &&
				    strcmp(sub, "down") != 0 && strcmp(sub, "baseline") != 0 &&
				    strcmp(sub, "reset") != 0)) {
			fprintf(stderr, "%s: migrate: expected status, up, down, baseline or reset%s%s\nTry '%s --help'.\n",
				PACKAGE_NAME, sub ? ", got " : "", sub ? sub : "", PACKAGE_NAME);
			return EX_USAGE;
		}
		if (strcmp(sub, "baseline") == 0)
			baseline_arg = optind < argc ? argv[optind++] : NULL;
	} else if (strcmp(cmd, "run-job") == 0) {
		job_arg = optind < argc ? argv[optind++] : NULL;
		if (job_arg == NULL) {
			fprintf(stderr, "%s: run-job needs a job name (zoom-token-cleanup, verify)\nTry '%s --help'.\n",
				PACKAGE_NAME, PACKAGE_NAME);
			return EX_USAGE;
		}
	} else if (strcmp(cmd, "run") != 0 && strcmp(cmd, "check-config") != 0 && strcmp(cmd, "verify") != 0) {
		fprintf(stderr, "%s: unknown command '%s'\nTry '%s --help'.\n", PACKAGE_NAME, cmd, PACKAGE_NAME);
		return EX_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", PACKAGE_NAME, argv[optind],
			PACKAGE_NAME);
		return EX_USAGE;
	}

	if (locks && !dry_run) {
		fprintf(stderr, "%s: --locks goes with 'migrate up --dry-run'\n", PACKAGE_NAME);
		return EX_USAGE;
	}
	if (strcmp(cmd, "verify") == 0) {
		if ((format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0) ||
		    (fail_on && strcmp(fail_on, "error") != 0 && strcmp(fail_on, "warn") != 0 &&
		     strcmp(fail_on, "info") != 0)) {
			fprintf(stderr, "%s: verify: --format text|json, --fail-on error|warn|info\n", PACKAGE_NAME);
			return EX_USAGE;
		}
		format_verify = format;
		format = NULL;
	} else if (fail_on != NULL) {
		fprintf(stderr, "%s: --fail-on belongs to 'verify'\n", PACKAGE_NAME);
		return EX_USAGE;
	}
	rc = check_subcommand_options(sub, dry_run, to_arg, yes, format, baseline_arg, &version);
	if (rc != EX_OK)
		return rc;

	/* defaults < file < environment < command line */
	if (!explicit_config)
		config_path = DEFAULT_CONFIG;
	src.path = config_path;
	src.explicit_path = explicit_config;
	src.sets = sets;
	src.nsets = nsets;
	conf = load_configuration(&src, &err);
	if (conf == NULL)
		goto config_error;
	if (load_password(conf, &password) < 0) {
		conf_free(conf);
		return EX_CONFIG;
	}

	log_setup(conf_syslog_level(conf), (enum log_format)conf->log_format);
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(cmd, "check-config") == 0) {
		conf_print(conf, stdout);
		rc = EX_OK;
	} else if (strcmp(cmd, "run") == 0) {
		rc = daemon_run(conf, password, reload_configuration, &src);
	} else if (strcmp(cmd, "run-job") == 0) {
		rc = cli_run_job(conf, password, job_arg);
	} else if (strcmp(cmd, "verify") == 0) {
		rc = cli_verify(conf, password, format_verify != NULL && strcmp(format_verify, "json") == 0, fail_on);
	} else if (strcmp(sub, "up") == 0) {
		rc = cli_migrate_up(conf, password, dry_run, locks);
	} else if (strcmp(sub, "down") == 0) {
		rc = cli_migrate_down(conf, password, version, yes);
	} else if (strcmp(sub, "baseline") == 0) {
		rc = cli_migrate_baseline(conf, password, version);
	} else if (strcmp(sub, "reset") == 0) {
		if (conf->environment != ENV_DEVELOPMENT) {
			fprintf(stderr, "%s: migrate reset drops everything the migrations made; it is allowed only "
				"with environment = \"development\" (this is %s)\n", PACKAGE_NAME,
				conf_environment_name(conf->environment));
			rc = EX_USAGE;
		} else {
			rc = cli_migrate_down(conf, password, 0, yes);
			if (rc == EX_OK)
				rc = cli_migrate_up(conf, password, false, false);
		}
	} else {
		rc = cli_migrate_status(conf, password, format != NULL && strcmp(format, "json") == 0);
	}
	if (password != NULL) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	conf_free(conf);
	return rc;

config_error:
	/* Logging is not set up yet (the configuration decides where it goes):
	 * the journal when stderr is the journal, else plain stderr. */
	log_setup(LOG_ERR, LOG_FORMAT_AUTO);
	if (log_active_format() == LOG_FORMAT_JOURNAL)
		log_emit(LOG_ERR, MSGID_CONFIG_INVALID, NULL, 0, "configuration error: %s", err.msg);
	else
		fprintf(stderr, "%s: configuration error: %s\n", PACKAGE_NAME, err.msg);
	conf_free(conf);
	return EX_CONFIG;
}
