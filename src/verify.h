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
 *           role lands on that login, never on the daemon's role; it
 *           runs while the checks run;
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
 * The pass does no I/O.  Its driver holds two connections, and the pass
 * keeps one line of steps for each:
 *   the driver's own: the probe's login (when the daemon makes it), then
 *     whether a snapshot exists (the read-only pass), then the checks;
 *   the probe's own: connected once its login exists, then the probe's
 *     transaction, then its ROLLBACK.
 * The two lines run at the same time: the probe connects as soon as its
 * login is made (at once with verify.probe_conninfo), and the checks run
 * on the driver's connection while the probe runs on its own, so that the
 * server works on both at once.  Nothing the probe does depends on the
 * checks, nor the other way round.
 *
 * The driver tells the pass what happened: verify_pass_start(), a result
 * on either connection (verify_pass_result(), saying which), the probe's
 * connection made or not (verify_pass_connected()), its statement not sent
 * (verify_pass_probe_down()), a shutdown (verify_pass_stop()).  Each says
 * what to do next; after a VERIFY_SEND or a VERIFY_CONNECT_PROBE the
 * driver asks verify_pass_next() for more, until VERIFY_WAIT (a result or
 * a connection is awaited) or the end of the pass.  The pass ends when
 * both lines are over, or at once when the checks fail.  Its findings are
 * the checks' then the probe's, as if the two had run one after the
 * other. */
struct conf;

/* Where each connection is in the pass. */
enum verify_step {
	VERIFY_LOGIN,             /* the driver's: the probe's login is made */
	VERIFY_SNAPSHOT,          /* the driver's: is there a snapshot for drift? */
	VERIFY_CHECKS,            /* the driver's: lints and drift (after recording the snapshot) */
	VERIFY_AWAIT_PROBE,       /* the driver's: waits for the probe to log in with the
				   * password VERIFY_LOGIN set, before letting go of its lock */
	VERIFY_AWAIT_LOGIN,       /* the probe's: waits for VERIFY_LOGIN on the driver's */
	VERIFY_CONNECT,           /* the probe's: its connection is made */
	VERIFY_PROBE,             /* the probe's: its transaction */
	VERIFY_ROLLBACK,          /* the probe's: the transaction's end */
	VERIFY_OVER,              /* either: nothing (more) runs on it */
};

/* What the driver does next. */
enum verify_next {
	VERIFY_SEND,              /* send p->sql, on the probe's connection when p->on_probe */
	VERIFY_CONNECT_PROBE,     /* connect the probe's connection (p->probe_conninfo,
				   * p->probe_password), then verify_pass_connected() */
	VERIFY_WAIT,              /* nothing until a result or the probe's connection */
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
	/* what each connection runs, or is to run (VERIFY_SEND with
	 * p->on_probe and probe_step VERIFY_PROBE: the probe itself) */
	enum verify_step main_step, probe_step;
	/* the rest is the pass's own */
	bool main_told, probe_told;  /* the driver was given that step */
	struct findings probe_found; /* the probe's, after the checks' at the end */
	bool record_snapshot, isolation, drift, probe_failed, nomem, stopping;
	bool make_login;          /* no verify.probe_conninfo: the daemon's role makes it */
	char *probe_error;        /* the probe cannot run (its password file) */
	PGconn *main;             /* the driver's connection (to hash the login's password) */
	char *const *ignore;
	const char *schemas;      /* verify.schemas */
	char *login_sql;          /* the login's statement, with this pass's password */
	char *checks_sql;         /* the daemon's: the snapshot recorded, then the checks */
	bool login_locked;        /* VERIFY_LOGIN holds the login's lock: the driver's next
				   * statement lets go of it (in unlock_sql) */
	char *unlock_sql;
};

/* record_snapshot (the daemon's pass): record the bookkeeping tables and
 * the snapshot first, so that drift is always checked, under a statement
 * timeout (nobody watches the pass).  Otherwise the pass is read-only and
 * checks drift only when a snapshot exists. */
void verify_pass_init(struct verify_pass *p, const struct conf *c, bool record_snapshot, PGconn *main);
enum verify_next verify_pass_start(struct verify_pass *p);
/* What else to do now (see above). */
enum verify_next verify_pass_next(struct verify_pass *p);
/* res answers the statement sent on the probe's connection (on_probe) or
 * on the driver's; connected: that connection is still up after it. */
enum verify_next verify_pass_result(struct verify_pass *p, bool on_probe, const PGresult *res, bool connected);
/* The probe's connection is up (ok) or could not be made (error says why). */
enum verify_next verify_pass_connected(struct verify_pass *p, bool ok, const char *error);
/* The probe's statement could not be sent (error says why): its
 * connection is gone, and its transaction with it. */
enum verify_next verify_pass_probe_down(struct verify_pass *p, const char *error);
/* A shutdown: nothing more is sent but the probe's ROLLBACK, and the pass
 * ends (VERIFY_CANCELLED) when nothing runs on either connection. */
void verify_pass_stop(struct verify_pass *p);
/* The probe read everything: its absent findings mean resolved. */
bool verify_pass_complete(const struct verify_pass *p);
void verify_pass_free(struct verify_pass *p);

#endif
