#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "db.h"
#include "log.h"

enum db_state { DB_IDLE_CLOSED, DB_CONNECTING, DB_READY, DB_QUERY };

struct db {
	struct event_base *base;
	char *conninfo;
	char *password;
	PGconn *conn;
	enum db_state state;
	struct event *io;          /* the connection's socket; re-assigned as it changes */
	struct event *timer;       /* connect timeout */
	struct event *deferred;    /* delivers a result outside the caller's stack */

	db_connect_cb connect_cb;
	db_result_cb result_cb;
	void *cb_arg;
	PGresult *first_error;
	PGresult *last;
	char end_tag[16];          /* the query's first COMMIT or ROLLBACK, for the callback */

	db_lost_cb lost_cb;
	void *lost_arg;
	db_notice_cb notice_cb;
	void *notice_arg;

	char error[512];
	char target[256];
};

static void io_event(evutil_socket_t fd, short what, void *arg);

static void set_error_line(struct db *db, const char *msg)
{
	size_t n;

	snprintf(db->error, sizeof(db->error), "%s", msg && *msg ? msg : "unknown error");
	/* libpq messages end in a newline and may have several lines, the
	 * later ones indented with a tab: make it one line with single spaces */
	for (n = 0; db->error[n] != '\0'; n++)
		if (db->error[n] == '\n' || db->error[n] == '\t')
			db->error[n] = ' ';
	for (n = 0; db->error[n] != '\0';) {
		if (db->error[n] == ' ' && (db->error[n + 1] == ' ' || db->error[n + 1] == '\0'))
			memmove(db->error + n, db->error + n + 1, strlen(db->error + n));
		else
			n++;
	}
}

static void notice_processor(void *arg, const char *message)
{
	struct db *db = arg;
	char buf[512];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", message);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (db->notice_cb != NULL)
		db->notice_cb(buf, db->notice_arg);
	else
		log_debug("server: %s", buf);
}

void db_set_notice_cb(struct db *db, db_notice_cb cb, void *arg)
{
	db->notice_cb = cb;
	db->notice_arg = arg;
}

static void deferred_event(evutil_socket_t fd, short what, void *arg);

struct db *db_new(struct event_base *base, const char *conninfo, const char *password)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	db->base = base;
	db->conninfo = strdup(conninfo ? conninfo : "");
	db->password = password ? strdup(password) : NULL;
	db->timer = evtimer_new(base, io_event, db);
	db->deferred = event_new(base, -1, 0, deferred_event, db);
	db->io = event_new(base, -1, 0, io_event, db);
	if (db->conninfo == NULL || (password && db->password == NULL) ||
	    db->timer == NULL || db->deferred == NULL || db->io == NULL) {
		db_free(db);
		return NULL;
	}
	return db;
}

void db_close(struct db *db)
{
	event_del(db->io);
	event_del(db->timer);
	event_del(db->deferred);
	if (db->conn != NULL) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	PQclear(db->first_error);
	PQclear(db->last);
	db->first_error = db->last = NULL;
	db->state = DB_IDLE_CLOSED;
}

void db_free(struct db *db)
{
	if (db == NULL)
		return;
	if (db->io)
		db_close(db);
	if (db->io)
		event_free(db->io);
	if (db->timer)
		event_free(db->timer);
	if (db->deferred)
		event_free(db->deferred);
	free(db->conninfo);
	if (db->password) {
		explicit_bzero(db->password, strlen(db->password));
		free(db->password);
	}
	free(db);
}

void db_set_lost_cb(struct db *db, db_lost_cb cb, void *arg)
{
	db->lost_cb = cb;
	db->lost_arg = arg;
}

bool db_connected(const struct db *db)
{
	return db->conn != NULL && (db->state == DB_READY || db->state == DB_QUERY) &&
	       PQstatus(db->conn) == CONNECTION_OK;
}

bool db_busy(const struct db *db)
{
	return db->state == DB_QUERY;
}

const char *db_error(const struct db *db)
{
	return db->error;
}

const char *db_transaction_end_tag(const struct db *db)
{
	return db->end_tag;
}

const char *db_target(const struct db *db)
{
	return db->target;
}

const char *db_password(const struct db *db)
{
	return db->password;
}

PGconn *db_pgconn(struct db *db)
{
	return db->conn;
}

/* libpq 15 gives no SQLSTATE for a failed connection, only its text: the
 * server's invalid_password (28P01) and invalid_authorization_specification
 * (28000) reports, and libpq's own when it has no password to send. */
bool db_auth_failed(const struct db *db)
{
	static const char *const said[] = {
		"password authentication failed",            /* 28P01 */
		"authentication failed for user",            /* 28P01/28000: ident, peer, SCRAM... */
		"no pg_hba.conf entry",                      /* 28000 */
		"pg_hba.conf rejects connection",            /* 28000 */
		"fe_sendauth: no password supplied",         /* libpq */
	};
	const char *role;

	for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++)
		if (strstr(db->error, said[i]) != NULL)
			return true;
	/* 28000: FATAL:  role "x" does not exist (spaces made single) */
	role = strstr(db->error, "FATAL: role \"");
	return role != NULL && strstr(role, "\" does not exist") != NULL;
}

const char *db_sqlstate(const PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s ? s : "";
}

const char *db_message(const PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (s == NULL)
		s = PQresultErrorMessage(res);
	return s ? s : "";
}

static void watch(struct db *db, short what, const struct timeval *tv)
{
	event_del(db->io);
	event_assign(db->io, db->base, PQsocket(db->conn), what, io_event, db);
	event_add(db->io, tv);
}

/* "momentum on db.example.com:5432", "momentum on /run/postgresql/.s.PGSQL.5432" */
static void describe_target(struct db *db)
{
	const char *host = PQhost(db->conn), *port = PQport(db->conn), *name = PQdb(db->conn);

	if (port == NULL || *port == '\0')
		port = "5432";
	if (host != NULL && host[0] == '/')
		snprintf(db->target, sizeof(db->target), "%s on %s/.s.PGSQL.%s", name ? name : "?", host, port);
	else
		snprintf(db->target, sizeof(db->target), "%s on %s:%s", name ? name : "?",
			 host && *host ? host : "localhost", port);
}

static void connect_done(struct db *db, bool ok)
{
	db_connect_cb cb = db->connect_cb;

	event_del(db->timer);
	event_del(db->io);
	if (ok) {
		db->state = DB_READY;
		db->error[0] = '\0';
		PQsetnonblocking(db->conn, 1);
		/* idle: watch for the server closing the connection */
		watch(db, EV_READ | EV_PERSIST, NULL);
	} else {
		if (db->conn != NULL) {
			PQfinish(db->conn);
			db->conn = NULL;
		}
		db->state = DB_IDLE_CLOSED;
	}
	db->connect_cb = NULL;
	if (cb != NULL)
		cb(db, ok, db->cb_arg);
}

static void connect_step(struct db *db)
{
	switch (PQconnectPoll(db->conn)) {
	case PGRES_POLLING_READING:
		watch(db, EV_READ, NULL);
		return;
	case PGRES_POLLING_WRITING:
		watch(db, EV_WRITE, NULL);
		return;
	case PGRES_POLLING_OK:
		describe_target(db);
		connect_done(db, true);
		return;
	default:
		describe_target(db);
		set_error_line(db, PQerrorMessage(db->conn));
		connect_done(db, false);
		return;
	}
}

int db_connect(struct db *db, int timeout_sec, db_connect_cb cb, void *arg)
{
	const char *keys[6], *vals[6];
	int n = 0;
	struct timeval tv = { .tv_sec = timeout_sec, .tv_usec = 0 };

	db_close(db);
	keys[n] = "dbname";                    vals[n++] = db->conninfo;
	keys[n] = "fallback_application_name"; vals[n++] = PACKAGE_NAME;
	keys[n] = "client_encoding";           vals[n++] = "UTF8";
	if (db->password != NULL) {
		keys[n] = "password";          vals[n++] = db->password;
	}
	keys[n] = NULL; vals[n] = NULL;

	db->connect_cb = cb;
	db->cb_arg = arg;
	db->conn = PQconnectStartParams(keys, vals, 1);
	if (db->conn == NULL) {
		set_error_line(db, "out of memory");
		return -1;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		set_error_line(db, PQerrorMessage(db->conn));
		describe_target(db);
		PQfinish(db->conn);
		db->conn = NULL;
		db->connect_cb = NULL;
		return -1;
	}
	PQsetNoticeProcessor(db->conn, notice_processor, db);
	db->state = DB_CONNECTING;
	evtimer_add(db->timer, &tv);
	connect_step(db);
	return 0;
}

static void query_done(struct db *db)
{
	db_result_cb cb = db->result_cb;
	PGresult *res;

	if (db->first_error != NULL) {
		res = db->first_error;
		PQclear(db->last);
	} else if (db->last != NULL) {
		res = db->last;
	} else {
		/* no result at all: libpq put the reason on the connection */
		res = PQmakeEmptyPGresult(db->conn, PGRES_FATAL_ERROR);
	}
	db->first_error = db->last = NULL;
	db->result_cb = NULL;
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK) {
		db->state = DB_READY;
		watch(db, EV_READ | EV_PERSIST, NULL);
	} else {
		if (db->conn != NULL)
			set_error_line(db, PQerrorMessage(db->conn));
		event_del(db->io);
		db->state = DB_IDLE_CLOSED;
	}
	if (cb != NULL)
		cb(db, res, db->cb_arg);
	PQclear(res);
}

static void deferred_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	query_done(arg);
}

/* Reads every result that has arrived.  Returns true when the query is
 * finished and its callback has run: the caller must not touch db then,
 * as the callback may have started the next query. */
static bool collect_results(struct db *db)
{
	while (!PQisBusy(db->conn)) {
		PGresult *r = PQgetResult(db->conn);
		ExecStatusType st;

		if (r == NULL) {
			query_done(db);
			return true;
		}
		st = PQresultStatus(r);
		if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
			/* nothing to send: end the copy with an error, the server
			 * then fails the statement and the query goes on to its end */
			PQclear(r);
			PQputCopyEnd(db->conn, "COPY FROM STDIN is not supported by momentum-maintd");
			continue;
		}
		if (st == PGRES_COPY_OUT) {
			char *buf;
			int n;

			PQclear(r);
			/* drain and drop what the server sends; -2 is an error, 0 means
			 * wait for more input */
			while ((n = PQgetCopyData(db->conn, &buf, 1)) > 0)
				PQfreemem(buf);
			if (n == 0)
				return false;
			continue;
		}
		if (st == PGRES_COMMAND_OK && db->end_tag[0] == '\0' &&
		    (strcmp(PQcmdStatus(r), "COMMIT") == 0 || strcmp(PQcmdStatus(r), "ROLLBACK") == 0))
			snprintf(db->end_tag, sizeof(db->end_tag), "%s", PQcmdStatus(r));
		if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) && db->first_error == NULL) {
			db->first_error = r;
		} else {
			PQclear(db->last);
			db->last = r;
		}
	}
	return false;
}

static void lost(struct db *db)
{
	set_error_line(db, PQerrorMessage(db->conn));
	event_del(db->io);
	db->state = DB_IDLE_CLOSED;
	if (db->lost_cb != NULL)
		db->lost_cb(db, db->lost_arg);
}

static void io_event(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;
	PGnotify *n;

	(void)fd;
	switch (db->state) {
	case DB_CONNECTING:
		if (what & EV_TIMEOUT) {
			char msg[128];

			snprintf(msg, sizeof(msg), "timed out connecting");
			set_error_line(db, msg);
			connect_done(db, false);
			return;
		}
		connect_step(db);
		return;
	case DB_QUERY:
		if (what & EV_WRITE) {
			int f = PQflush(db->conn);

			if (f < 0) {
				query_done(db);
				return;
			}
			if (f == 0)
				watch(db, EV_READ | EV_PERSIST, NULL);
			if (!(what & EV_READ))
				return;
		}
		if (!PQconsumeInput(db->conn)) {
			/* the result callback learns of it from the error */
			if (!collect_results(db))
				query_done(db);
			return;
		}
		collect_results(db);
		return;
	case DB_READY:
		if (!PQconsumeInput(db->conn) || PQstatus(db->conn) != CONNECTION_OK) {
			lost(db);
			return;
		}
		while ((n = PQnotifies(db->conn)) != NULL)
			PQfreemem(n);
		return;
	case DB_IDLE_CLOSED:
		return;
	}
}

int db_query(struct db *db, const char *sql, int nparams, const char *const *params,
	     db_result_cb cb, void *arg)
{
	int ok, f;

	if (db->state != DB_READY) {
		/* a connection the server closed while idle keeps the reason it
		 * gave: the caller reports that, not a bare "not connected" */
		if (db->state == DB_QUERY)
			set_error_line(db, "a query is already running");
		else if (db->state != DB_IDLE_CLOSED || db->error[0] == '\0')
			set_error_line(db, "not connected");
		return -1;
	}
	db->end_tag[0] = '\0';
	if (nparams == 0)
		ok = PQsendQuery(db->conn, sql);
	else
		ok = PQsendQueryParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	db->result_cb = cb;
	db->cb_arg = arg;
	db->state = DB_QUERY;
	if (!ok) {
		/* report through the callback, but not from inside the caller */
		set_error_line(db, PQerrorMessage(db->conn));
		event_del(db->io);
		event_active(db->deferred, 0, 0);
		return 0;
	}
	f = PQflush(db->conn);
	if (f < 0) {
		event_del(db->io);
		event_active(db->deferred, 0, 0);
		return 0;
	}
	watch(db, f ? (EV_READ | EV_WRITE | EV_PERSIST) : (EV_READ | EV_PERSIST), NULL);
	return 0;
}

void db_cancel(struct db *db)
{
	char errbuf[256];
	PGcancel *c;

	if (db->conn == NULL || db->state != DB_QUERY)
		return;
	c = PQgetCancel(db->conn);
	if (c == NULL)
		return;
	if (!PQcancel(c, errbuf, sizeof(errbuf)))
		log_warning("could not cancel the running query: %s", errbuf);
	PQfreeCancel(c);
}
