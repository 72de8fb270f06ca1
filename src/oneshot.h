/* What the one-shot commands share (cli.c): one connection, the migrations
 * read, the migration lock taken the daemon's way.  Blocking libpq is fine
 * here: a one-shot command owns the process. */
#ifndef MOMENTUM_ONESHOT_H
#define MOMENTUM_ONESHOT_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "migfile.h"
#include "migrate.h"

struct conf;

struct oneshot {
	struct event_base *base;
	struct db *db;
	struct migration_set set;
	bool connected;
	enum migrate_result result;
	int signal;               /* the signal that interrupted the command */
};

/* Reads the migrations and connects once; returns 0 or an exit code. */
int oneshot_open(struct oneshot *o, const struct conf *conf, const char *password);
void oneshot_close(struct oneshot *o);
/* Takes the migration lock (migrate.h); 0 or an exit code. */
int oneshot_take_lock(struct oneshot *o);
/* Runs sql; false after logging "what: ERROR ...". */
bool oneshot_exec_ok(PGconn *c, const char *sql, const char *what);
/* The schema as the migrations left it, for verify's drift check. */
void oneshot_record_snapshot(PGconn *c);

#endif
