/* Applying migrations on the asynchronous connection: migration lock,
 * bookkeeping schema, checksum checks, the Supabase compatibility step,
 * then each pending file in its own transaction with its tracking row. */
#ifndef MOMENTUM_MIGRATE_H
#define MOMENTUM_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct db;
struct conf;
struct migration_set;

enum migrate_result {
	MIGRATE_OK,
	MIGRATE_FAILED,     /* a migration or a check failed: exit 65 */
	MIGRATE_DB_LOST,    /* the connection broke: reconnect and start over */
	MIGRATE_UNSAFE,     /* the connection cannot hold the migration lock: exit 78 */
};

typedef void (*migrate_done_cb)(enum migrate_result r, void *arg);

struct migrator;

struct migrator *migrator_new(struct event_base *base, struct db *db, const struct conf *conf,
			      const struct migration_set *set, migrate_done_cb done, void *arg);
void migrator_free(struct migrator *m);
/* Starts (or, after MIGRATE_DB_LOST and a reconnect, restarts) the run. */
void migrator_start(struct migrator *m);

/* After a reload. */
void migrator_set_conf(struct migrator *m, const struct conf *conf);
/* Plan only: read what is applied, run every check, change nothing. */
void migrator_set_dry_run(struct migrator *m, bool dry_run);
/* After a run: is set->items[i] pending (for a dry run: would it be applied)? */
bool migrator_is_pending(const struct migrator *m, size_t i);
bool migrator_was_interrupted(const struct migrator *m, size_t i);
size_t migrator_applied_now(const struct migrator *m);  /* by this run */
size_t migrator_applied_total(const struct migrator *m); /* tracked in the database */

struct migration;
struct sql_stmt;
struct pg_result;
/* Logs a failed statement of a migration or rollback file: file:line:column,
 * the line with a caret under the error, SQLSTATE, message, detail, hint.
 * st is the statement that failed (NULL when unknown); outcome says what
 * became of the file's changes. */
void migrate_report_error(const char *what, const struct migration *mig, const char *path,
			  const char *sql, const struct sql_stmt *st, const char *outcome,
			  const struct pg_result *res);

/* Creates the momentum_maintd schema and its tables if missing. */
extern const char migrate_bootstrap_sql[];

/* Advisory lock that serialises migration runs across instances. */
#define MIGRATION_LOCK_CLASSID "1835885684"  /* 'mmdt' */
#define MIGRATION_LOCK_OBJID   "1"
/* pid of the server session, and whether it holds the migration lock:
 * behind a transaction-mode pooler the next query may run elsewhere. */
#define MIGRATION_LOCK_HELD_SQL \
	"SELECT pg_backend_pid(), EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() " \
	"AND locktype = 'advisory' AND granted AND classid = " MIGRATION_LOCK_CLASSID \
	" AND objid = " MIGRATION_LOCK_OBJID " AND objsubid = 2)"
/* Logs that the connection cannot hold the lock (a transaction pooler). */
void migrate_report_pooler(int server_pid);

#endif
