/* One asynchronous PostgreSQL connection on libevent.  Connecting
 * (PQconnectStart/PQconnectPoll) and every query (PQsendQuery*) go through
 * the connection's socket on the event loop: nothing here blocks, except
 * db_cancel(), which libpq 15 only offers as a short blocking call. */
#ifndef MOMENTUM_DB_H
#define MOMENTUM_DB_H

#include <stdbool.h>
#include <libpq-fe.h>

struct event_base;
struct db;

/* ok: connected; otherwise db_error() says why. */
typedef void (*db_connect_cb)(struct db *db, bool ok, void *arg);
/* res is never NULL: the first error result of the query, or its last
 * result.  It is freed when the callback returns. */
typedef void (*db_result_cb)(struct db *db, PGresult *res, void *arg);
/* The connection broke while no query was running. */
typedef void (*db_lost_cb)(struct db *db, void *arg);

struct db *db_new(struct event_base *base, const char *conninfo, const char *password);
void db_free(struct db *db);

void db_set_lost_cb(struct db *db, db_lost_cb cb, void *arg);
/* Server NOTICEs go to cb (one line, no trailing newline) instead of the
 * debug log; NULL restores the default. */
typedef void (*db_notice_cb)(const char *message, void *arg);
void db_set_notice_cb(struct db *db, db_notice_cb cb, void *arg);
int db_connect(struct db *db, int timeout_sec, db_connect_cb cb, void *arg);
/* Simple protocol when nparams is 0 (several statements allowed),
 * extended protocol otherwise.  Returns -1 when nothing could be sent;
 * the callback is then not called. */
int db_query(struct db *db, const char *sql, int nparams, const char *const *params,
	     db_result_cb cb, void *arg);
/* Asks the server to cancel the running query. */
void db_cancel(struct db *db);
void db_close(struct db *db);

bool db_connected(const struct db *db);
bool db_busy(const struct db *db);
/* Last connection error, one line. */
const char *db_error(const struct db *db);
/* The last connection failed because the server refused our credentials
 * (a wrong password, a missing role, no pg_hba.conf entry): retrying
 * alone does not fix it. */
bool db_auth_failed(const struct db *db);
/* In a result callback: the tag of the query's first COMMIT or ROLLBACK
 * ("COMMIT", or "ROLLBACK" for a COMMIT of a failed transaction), "" if
 * it ran none.  A query of several statements hands the callback only
 * its last result, or its first error. */
const char *db_transaction_end_tag(const struct db *db);
/* "host:port/dbname" (or the socket directory), never the password. */
const char *db_target(const struct db *db);
PGconn *db_pgconn(struct db *db);
/* The password given to db_new (from a file or credential), or NULL. */
const char *db_password(const struct db *db);

/* Fields of an error result, never NULL ("" when absent). */
const char *db_sqlstate(const PGresult *res);
const char *db_message(const PGresult *res);

#endif
