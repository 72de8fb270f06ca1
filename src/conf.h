/* Configuration: one table of keys (type, default, range, docs), loaded
 * from a libconfig file, then MOMENTUM_MAINTD_<SECTION>_<KEY> and
 * DATABASE_URL from the environment, then --set KEY=VALUE from the command
 * line.  Errors name where the bad value came from: "file:line: key: ...". */
#ifndef MOMENTUM_CONF_H
#define MOMENTUM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum environment { ENV_DEVELOPMENT, ENV_STAGING, ENV_PRODUCTION };
enum out_of_order { OOO_FAIL, OOO_APPLY, OOO_IGNORE };
enum safety_policy { SAFETY_WARN, SAFETY_REFUSE };

struct conf {
	int environment;            /* enum environment */

	char *db_conninfo;
	char *db_password_file;

	char *mig_directory;
	char *mig_backup_command;
	int mig_on_out_of_order;    /* enum out_of_order */
	bool mig_supabase_compat;
	int64_t mig_lock_timeout_ms;
	int64_t mig_lock_retries;
	int mig_safety;             /* enum safety_policy */
	char *mig_safety_min_size;  /* "10 MB": size_parse (safety.h) reads it */

	int64_t jobs_history_retention_ms;
	bool cleanup_enabled;
	bool cleanup_catch_up;
	char *cleanup_schedule;
	char *cleanup_timezone;
	int64_t cleanup_retention_ms;
	int64_t cleanup_batch_size;
	int64_t cleanup_max_runtime_ms;
	int64_t cleanup_max_replica_lag_ms;
	char *verify_schedule;

	int64_t verify_remind_every_ms;
	char **verify_ignore;       /* NULL-terminated */
	char *verify_schemas;          /* "": pgrst.db_schemas as the database says */
	char *verify_probe_conninfo;   /* "": the login the daemon makes, where it may */
	char *verify_probe_password_file;
	int64_t verify_probe_timeout_ms;

	int log_level;              /* a syslog priority, LOG_ERR .. LOG_DEBUG (log.h) */
	int log_format;             /* enum log_format (log.h) */
	char *log_instance;         /* INSTANCE= of every event; "" for none */

	char *http_listen;

	/* Where each key's value came from ("default", "file.conf:12",
	 * "environment MOMENTUM_MAINTD_...", "command line"), by key index. */
	char **origin;
	char *file;                 /* the file that was read, or NULL */
};

struct conf_error {
	char msg[1024];
};

/* The key table, exposed for --help, check-config and the docs check. */
enum conf_type { CT_STRING, CT_ENUM, CT_INT, CT_BOOL, CT_DURATION, CT_STRLIST };

/* One word an enum key accepts and the value it stores. */
struct conf_choice {
	const char *name;
	int value;
};

struct conf_key;
/* A key's own rule for a value of the right type (a cron expression that
 * can run, a known time zone, ...): 0, or -1 with err naming where and the
 * key. */
typedef int conf_check_fn(const struct conf_key *k, const char *value, const char *where,
			  struct conf_error *err);

struct conf_key {
	const char *path;           /* "jobs.zoom_token_cleanup.batch_size" */
	enum conf_type type;
	size_t offset;
	const char *def;            /* default, in the syntax a user writes */
	const char *def_development; /* the default in development, where it differs */
	const char *def_production;  /* the default in production, where it differs */
	int64_t min, max;           /* CT_INT: value; CT_DURATION: milliseconds */
	const struct conf_choice *choices; /* CT_ENUM, ending with { NULL } */
	conf_check_fn *check;       /* CT_STRING, or NULL */
	unsigned flags;
	const char *help;
};
#define CK_SECRET     0x1      /* may hold a password: masked when printed */
#define CK_RELOADABLE 0x2      /* takes effect on SIGHUP without a restart */
#define CK_NONEMPTY   0x4      /* CT_STRING: "" is refused */

extern const struct conf_key conf_keys[];
extern const size_t conf_nkeys;

struct conf *conf_new(void);
void conf_free(struct conf *c);

/* Reads path.  When must_exist is false a missing file is not an error
 * (the built-in default path).  Returns 0, or -1 with err filled. */
int conf_load_file(struct conf *c, const char *path, bool must_exist, struct conf_error *err);
/* Applies DATABASE_URL and every MOMENTUM_MAINTD_* variable in envp.
 * Unknown MOMENTUM_MAINTD_* variables are errors. */
int conf_load_env(struct conf *c, char *const *envp, struct conf_error *err);
/* Sets one key from a string (command line --set KEY=VALUE). */
int conf_set(struct conf *c, const char *path, const char *value, const char *origin,
	     struct conf_error *err);
/* Cross-key checks once everything is loaded. */
int conf_validate(const struct conf *c, struct conf_error *err);

/* Prints the effective configuration in libconfig syntax, secrets masked. */
void conf_print(const struct conf *c, FILE *f);
/* Copies conninfo into out with any password replaced by "********". */
void conf_mask_conninfo(const char *conninfo, char *out, size_t size);
/* Overwrites with '*', in place, the values of password= and sslpassword=
 * in a conninfo or URI (the user:PASSWORD@ part too), keeping the rest
 * readable: for a string others can see, such as the command line. */
void conf_hide_password(char *conninfo);

const char *conf_environment_name(int env);
/* After a reload: keys that need a restart keep their running value in
 * newc; changed() is told each one whose new value was set aside. */
int conf_keep_restart_only(struct conf *newc, const struct conf *oldc,
			   void (*changed)(const char *path, void *arg), void *arg);
/* Where key path got its value ("default", "default in development",
 * "file:line", ...). */
const char *conf_origin(const struct conf *c, const char *path);
/* log.level as a syslog priority */
int conf_syslog_level(const struct conf *c);

#endif
