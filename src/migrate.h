/* Applying migrations on the asynchronous connection: migration lock,
 * bookkeeping schema, checksum checks, the Supabase compatibility step,
 * then each pending file in its own transaction with its tracking row. */
#ifndef MOMENTUM_MIGRATE_H
#define MOMENTUM_MIGRATE_H

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

size_t migrator_applied_now(const struct migrator *m);  /* by this run */
size_t migrator_applied_total(const struct migrator *m); /* tracked in the database */

/* Advisory lock that serialises migration runs across instances. */
#define MIGRATION_LOCK_CLASSID "1835885684"  /* 'mmdt' */
#define MIGRATION_LOCK_OBJID   "1"

#endif
