/* One-shot subcommands: they share the daemon's modules, connect once
 * (exit 69 when the database is unavailable) and exit. */
#ifndef MOMENTUM_CLI_H
#define MOMENTUM_CLI_H

#include <stdbool.h>

struct conf;

int cli_migrate_up(const struct conf *conf, const char *password);
int cli_migrate_status(const struct conf *conf, const char *password);

#endif
