/* One-shot subcommands: they share the daemon's modules, connect once
 * (exit 69 when the database is unavailable) and exit. */
#ifndef MOMENTUM_CLI_H
#define MOMENTUM_CLI_H

#include <stdbool.h>
#include <stdint.h>

struct conf;

int cli_migrate_up(const struct conf *conf, const char *password, bool dry_run, bool locks);
int cli_migrate_status(const struct conf *conf, const char *password, bool json);
/* Runs rollback files newest first down to (not including) version to. */
int cli_migrate_down(const struct conf *conf, const char *password, int64_t to, bool yes);
/* Records migrations up to version as applied without running them. */
int cli_migrate_baseline(const struct conf *conf, const char *password, int64_t version);

/* Runs one scheduled job now (run-job NAME) and prints what it did. */
int cli_run_job(const struct conf *conf, const char *password, const char *name);

/* One verification pass (lints); exit 0 clean, 1 findings at or above
 * fail_on ("error", "warn" or "info"), 69 database down. */
int cli_verify(const struct conf *conf, const char *password, bool json, const char *fail_on);

#endif
