/* Verification: what a pass asks the database, and the findings it gets.
 *
 * A pass is three statements, whatever the number of tables:
 *   checks  splinter-style lints, and drift against the snapshot recorded
 *           after the last migration run (one catalog query);
 *   probe   act as anon and authenticated in a transaction that is always
 *           rolled back (one DO block; then ROLLBACK), on a connection of
 *           its own whose session user is an unprivileged login (LOGIN
 *           NOINHERIT, member of anon, authenticated and service_role
 *           only): code the probe runs (policies, triggers) that resets its
 *           role lands on that login, never on the daemon's role;
 *   record  (the daemon only) the findings against the ones already known,
 *           so each is logged once, reminded, and logged when resolved.
 * Each finding has a stable check name, a level, the object, a detail and a
 * one-line remedy; its key, "check:object", is what verify.ignore names. */
#ifndef MOMENTUM_VERIFY_H
#define MOMENTUM_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

enum vlevel { VL_ERROR, VL_WARN, VL_INFO };

struct finding {
	char *check, *object, *detail, *remedy;
	enum vlevel level;
};

struct findings {
	struct finding *v;
	size_t n, cap;
	int counts[3];            /* by enum vlevel */
	size_t ignored;
};

/* Bookkeeping tables and the snapshot, recorded again when the applied
 * migrations changed (a DO block: no result rows). */
const char *verify_sql_record(void);
/* The checks; with drift, momentum_maintd.verify_snapshot must exist.
 * Several statements (session settings first): read the last result. */
/* schemas: verify.schemas ("" or NULL: what the database says). */
const char *verify_sql_checks(bool drift, const char *schemas);
/* BEGIN, the probe, and the SELECT of its findings: the transaction stays
 * open, and the caller sends ROLLBACK whatever happened. */
const char *verify_sql_probe(bool isolation, long timeout_ms, const char *schemas);
/* The login the daemon makes when verify.probe_conninfo is "" and its
 * role may create roles, with a new random password at each pass. */
#define VERIFY_PROBE_LOGIN "momentum_maintd_probe"
/* A probe still running this long after its statement timeout is
 * cancelled; this long after the cancel, its backend is terminated. */
#define VERIFY_PROBE_GRACE_MS 10000
#define VERIFY_PROBE_CANCEL_GRACE_MS 5000
/* The probe's connection string: database.conninfo's host, hostaddr, port
 * and dbname, then probe's own keywords, then user= when user is given;
 * NULL when either does not parse or on ENOMEM.  free() it. */
char *verify_probe_conninfo(const char *main, const char *probe, const char *user);
/* The findings' lifecycle is src/sql/verify_lifecycle.sql (sql_verify_lifecycle). */

/* "error", "warn", "info"; -1 for anything else */
int vlevel_parse(const char *s);
const char *vlevel_name(enum vlevel l);

/* Appends the rows (check, level, object, detail, remedy); -1 on ENOMEM. */
int findings_add(struct findings *f, const PGresult *res);
/* Adds one finding; -1 on ENOMEM. */
int findings_push(struct findings *f, const char *check, enum vlevel level, const char *object,
		  const char *detail, const char *remedy);
/* The probe's statement failed (res): probe_timeout or probe_failed, so
 * that its earlier findings are kept; -1 on ENOMEM. */
int findings_probe_failed(struct findings *f, const PGresult *res);
/* Logs each verify.ignore key once (at startup and after a reload). */
void verify_log_ignored(char *const *ignore);
/* Drops the findings whose key is in ignore (NULL-terminated). */
void findings_ignore(struct findings *f, char *const *ignore);
/* Orders by level, check, object. */
void findings_sort(struct findings *f);
/* A JSON array of {key, check_name, level, categories, facing, object, detail, remedy};
 * NULL on ENOMEM.  free() it. */
char *findings_json(const struct findings *f);
/* True when the probe did not read everything (a timeout, a busy table,
 * a failure): its absent findings prove nothing. */
bool findings_probe_partial(const struct findings *f);
/* "check:object" into buf */
void finding_key(const struct finding *x, char *buf, size_t size);
/* "1 error, 3 warnings" (or "no findings") */
void findings_summary(const int counts[3], char *buf, size_t size);
void findings_free(struct findings *f);

/* Output of the verify command. */
void findings_print_text(FILE *out, const struct findings *f);
void findings_print_json(FILE *out, const struct findings *f);

/* One verification pass, whoever drives it: the daemon's verify job (and
 * so run-job verify), the verify command, and migrate up after applying.
 * The pass does no I/O: its driver sends p->sql on its connection, hands
 * the result to verify_pass_result(), and so on until the pass is over.
 * The probe is steps of its own (the probe's transaction, its ROLLBACK):
 * it can move to a connection of its own without touching the checks. */
struct conf;

enum verify_step { VERIFY_SNAPSHOT, VERIFY_CHECKS, VERIFY_LOGIN, VERIFY_PROBE, VERIFY_ROLLBACK };

/* What the driver does next. */
enum verify_next {
	VERIFY_SEND,              /* send p->sql, on the probe's connection when p->on_probe */
	VERIFY_CONNECT_PROBE,     /* connect the probe's connection (p->probe_conninfo,
				   * p->probe_password), then verify_pass_connected() */
	VERIFY_DONE,              /* p->found: the findings, ignored ones dropped, sorted */
	VERIFY_FAILED,            /* the result says why (the connection, or the checks failed) */
	VERIFY_CANCELLED,         /* stopping: the probe was rolled back, nothing is recorded */
	VERIFY_NOMEM,
};

struct verify_pass {
	const char *sql;          /* the statement to send on VERIFY_SEND */
	bool cancellable;         /* a shutdown may cancel it (the checks, the probe) */
	bool on_probe;            /* p->sql goes to the probe's connection */
	long probe_timeout_ms;    /* the probe's statement timeout (the driver's deadline
				   * adds VERIFY_PROBE_GRACE_MS) */
	char *probe_conninfo;     /* for VERIFY_CONNECT_PROBE */
	char *probe_password;     /* NULL: none (libpq's own: .pgpass, ...) */
	bool made_login;          /* the daemon's role made (or updated) the login */
	struct findings found;
	/* the rest is the pass's own */
	enum verify_step step;
	bool record_snapshot, isolation, drift, probe_failed, nomem;
	bool make_login;          /* no verify.probe_conninfo: the daemon's role makes it */
	char *probe_error;        /* the probe cannot run (its password file) */
	PGconn *main;             /* the driver's connection (to hash the login's password) */
	char *const *ignore;
	const char *schemas;      /* verify.schemas */
	char *built;              /* a statement built for this pass */
};

/* record_snapshot (the daemon's pass): record the bookkeeping tables and
 * the snapshot first, so that drift is always checked, under a statement
 * timeout (nobody watches the pass).  Otherwise the pass is read-only and
 * checks drift only when a snapshot exists. */
void verify_pass_init(struct verify_pass *p, const struct conf *c, bool record_snapshot, PGconn *main);
enum verify_next verify_pass_start(struct verify_pass *p);
/* connected: the driver's connection is still up after res; stopping: a
 * shutdown asked the pass to end (it ends after the probe's rollback). */
enum verify_next verify_pass_result(struct verify_pass *p, const PGresult *res, bool connected, bool stopping);
/* The probe's connection is up (ok) or could not be made (error says why). */
enum verify_next verify_pass_connected(struct verify_pass *p, bool ok, const char *error);
/* The probe read everything: its absent findings mean resolved. */
bool verify_pass_complete(const struct verify_pass *p);
void verify_pass_free(struct verify_pass *p);

#endif
