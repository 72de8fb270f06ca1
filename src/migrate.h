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
/* After a run (or a dry run): set->items[i]'s safety findings, judged;
 * NULL before. */
struct safety_report;
struct safety_finding;
const struct safety_report *migrator_safety(const struct migrator *m, size_t i);
/* The safe way to write finding f, for the table the catalog found (a
 * partitioned table's index is built another way than a plain one's). */
const char *safety_safe_way(const struct safety_finding *f);
/* How many findings migrations.safety = refuse refused (a dry run too). */
size_t migrator_safety_refused(const struct migrator *m);
/* A dry run: MIGRATE_OK, or what the environment's rules (production's
 * rollback files and backup command) would make a real run end with. */
enum migrate_result migrator_dry_run_refusal(const struct migrator *m);
size_t migrator_applied_now(const struct migrator *m);  /* by this run */
size_t migrator_applied_total(const struct migrator *m); /* tracked in the database */

struct migration;
struct sql_stmt;
struct pg_result;
struct pg_conn;
/* Logs a failed statement of a migration or rollback file: file:line:column,
 * the line with a caret under the error, SQLSTATE, message, detail, hint.
 * st is the statement that failed (NULL when unknown); outcome says what
 * became of the file's changes. */
void migrate_report_error(const char *what, const struct migration *mig, const char *path,
			  const char *sql, const struct sql_stmt *st, const char *outcome,
			  const struct pg_result *res);

/* Reports mig's syntax error, which PostgreSQL's parser found when the
 * file was split, as migrate_report_error reports the server's, when the
 * server (server_version: PQserverVersion's) is of the parser's major
 * version; true when it reported one.  A newer server judges the file. */
bool migrate_syntax_error(const struct migration *mig, int server_version);

struct migplan_row;
/* Which bookkeeping tables exist: schema_migrations, and
 * migrations_in_progress (bookkeeping from before it lacks it). */
#define MIGRATE_BOOKKEEPING_EXISTS_SQL \
	"SELECT pg_catalog.to_regclass('momentum_maintd.schema_migrations') IS NOT NULL, " \
	"pg_catalog.to_regclass('momentum_maintd.migrations_in_progress') IS NOT NULL"
/* The statement that reads what is applied and in progress, for bookkeeping
 * with or without migrations_in_progress. */
const char *migrate_read_applied_sql(bool with_in_progress);
/* Its answer as the plan's input (rows with a NULL version, another
 * query's, left out), pointing into res; the count, or -1 (out of memory). */
int migrate_applied_rows(const struct pg_result *res, struct migplan_row **rows);

/* Advisory lock that serialises migration runs across instances, taken the
 * same way by the daemon (asynchronously) and by migrate down and baseline
 * (blocking): try, else wait; then check that the server session holds it.
 *
 * It is held twice: taken, then taken again by the session that holds it,
 * which the server grants at once.  So a migration file's first statement
 * can prove cheaply that its server session holds the lock
 * (MIGRATION_LOCK_STILL_HELD_EXPR): it lets go of one hold and takes it
 * back, which never frees the lock for another session in between.  A
 * session that does not hold it (behind a transaction-mode pooler, or
 * after a DISCARD ALL) fails to let go (the server warns) and takes
 * nothing.  Reading pg_lock_status() copies the server's whole lock table
 * instead, some 0.1 ms, too much for every file. */
#define MIGRATION_LOCK_CLASSID "1835885684"  /* 'mmdt' */
#define MIGRATION_LOCK_OBJID   "1"
#define MIGRATION_LOCK_ARGS MIGRATION_LOCK_CLASSID ", " MIGRATION_LOCK_OBJID
#define MIGRATION_LOCK_TRY_SQL \
	"SELECT CASE WHEN pg_catalog.pg_try_advisory_lock(" MIGRATION_LOCK_ARGS ") " \
	"THEN pg_catalog.pg_try_advisory_lock(" MIGRATION_LOCK_ARGS ") ELSE false END"
#define MIGRATION_LOCK_WAIT_SQL \
	"SELECT pg_catalog.pg_advisory_lock(" MIGRATION_LOCK_ARGS "), " \
	"pg_catalog.pg_advisory_lock(" MIGRATION_LOCK_ARGS ")"
#define MIGRATION_UNLOCK_SQL \
	"SELECT pg_catalog.pg_advisory_unlock(" MIGRATION_LOCK_ARGS "), " \
	"pg_catalog.pg_advisory_unlock(" MIGRATION_LOCK_ARGS ")"
#define MIGRATION_LOCK_STILL_HELD_EXPR \
	"CASE WHEN pg_catalog.pg_advisory_unlock(" MIGRATION_LOCK_ARGS ") " \
	"THEN pg_catalog.pg_try_advisory_lock(" MIGRATION_LOCK_ARGS ") ELSE false END"
/* Whether this session holds the migration lock (pg_lock_status() is what
 * pg_locks shows, without the view).  These statements run in the files'
 * session, under the database's search_path, which may put another schema
 * before pg_catalog: every function, operator and type they name is
 * pg_catalog's, by name, so that nothing in the database can answer in
 * their place. */
#define PG_EQ " OPERATOR(pg_catalog.=) "
#define MIGRATION_LOCK_HELD_EXPR \
	"EXISTS (SELECT 1 FROM pg_catalog.pg_lock_status() l WHERE l.pid" PG_EQ "pg_catalog.pg_backend_pid() " \
	"AND l.locktype" PG_EQ "'advisory' AND l.granted AND l.classid" PG_EQ MIGRATION_LOCK_CLASSID \
	" AND l.objid" PG_EQ MIGRATION_LOCK_OBJID " AND l.objsubid" PG_EQ "2)"
/* pid of the server session, and whether it holds the migration lock:
 * behind a transaction-mode pooler the next query may run elsewhere. */
#define MIGRATION_LOCK_HELD_SQL "SELECT pg_catalog.pg_backend_pid(), " MIGRATION_LOCK_HELD_EXPR
/* Reads that check's answer: server_pid, and held ('t', or 'true' as text).
 * Not held: logs that a transaction-mode pooler is in the way, returns
 * false.  A server pid other than the connection's own (client_pid) is a
 * pooler that keeps the session: noted once in *noted (unless NULL). */
bool migration_lock_held(int client_pid, const char *server_pid, const char *held, bool *noted);
/* Behind a pooler (server pid not the connection's own): whether the
 * pooler gives the server session that holds the migration lock to another
 * client, as a transaction-mode pooler does; logs why and what to do.
 * Blocks for up to 2 s (a second connection made as c was). */
bool migration_pooler_shares_session(struct pg_conn *c);

#endif
