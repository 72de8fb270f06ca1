/* The verification job: the pass every verification shares (verify.c:
 * the checks on the job's connection while the probe runs on its own),
 * then the findings' lifecycle recorded, so that each finding is logged
 * once, reminded, and logged when resolved.
 *
 * The probe runs code the database holds (policies, triggers) on a
 * connection of its own as an unprivileged login, under a client-side
 * deadline: past it, it is cancelled, then its backend is terminated from
 * the job's connection (once the checks have answered there), so that a
 * probe that does not end cannot hold the job's lock forever. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "checks.h"
#include "conf.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "msgid.h"
#include "sql_text.h"
#include "verify.h"

struct verify_job {
	struct verify_pass pass;      /* this pass's, until recorded */
	struct db *probe;             /* the probe's connection, during a pass */
	struct event *deadline;       /* the probe's: cancel, then terminate */
	bool connecting;              /* the probe's connection is being made */
	bool cancel_sent;             /* the deadline passed once: the probe is cancelled */
	bool terminating;             /* its backend is being terminated */
	bool terminate_when_free;     /* ... as soon as the checks answer on the job's connection */
	bool login_said;              /* the log said the daemon makes the probe's login */
	int counts[3];                /* the last recorded pass's, by level */
	time_t verified_at;           /* when it ended; 0: no pass yet */
};

static void verify_schedule(const struct conf *c, struct job_schedule *out)
{
	out->schedule = c->verify_schedule;
	out->timezone = "UTC";
	out->enabled = true;
	out->catch_up = false;
}

static void verify_notice(const char *message, void *arg)
{
	const char *p = strstr(message, "verify: ");

	(void)arg;
	log_info("%s", p != NULL ? p : message);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);

static void *verify_new(struct job *j)
{
	struct verify_job *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->deadline = evtimer_new(job_base(j), on_deadline, j);
	if (v->deadline == NULL) {
		free(v);
		return NULL;
	}
	db_set_notice_cb(job_db(j), verify_notice, NULL);
	return v;
}

/* The probe's connection goes with its pass (closing it from its own
 * callback is allowed; it is freed later). */
static void probe_close(struct verify_job *v)
{
	evtimer_del(v->deadline);
	v->connecting = false;
	if (v->probe != NULL)
		db_close(v->probe);
}

static void verify_free(void *state)
{
	struct verify_job *v = state;

	probe_close(v);
	db_free(v->probe);
	event_free(v->deadline);
	verify_pass_free(&v->pass);
	free(v);
}

static void verify_configured(const struct conf *c)
{
	verify_log_ignored(c->verify_ignore);
}

static void record(struct job *j);
static void pass_step(struct job *j, PGresult *res);

static void pass_failed(struct job *j, PGresult *res)
{
	if (job_stopping(j) && strcmp(db_sqlstate(res), "57014") == 0) {
		/* our own cancel at shutdown: not an error */
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	if (strcmp(db_sqlstate(res), "55P03") == 0) {
		/* the catalog functions wait behind an ACCESS EXCLUSIVE lock (a
		 * migration, DDL): nothing was checked, nothing is resolved */
		job_finish(j, RUN_SKIPPED, "a table is locked (by a migration or DDL?); the next pass checks");
		return;
	}
	job_query_failed(j, res);
}

#define PROBE_CONNECT_TIMEOUT_SEC 10

static void probe_step(struct db *db, PGresult *res, void *arg);
static enum verify_next probe_connect(struct job *j);
static void arm_deadline(struct verify_job *v, long ms);
static void terminate_probe(struct job *j);

/* The pass is over (res: the result that ended it, if any): the probe's
 * connection goes (a probe still running is rolled back by the server). */
static void pass_over(struct job *j, enum verify_next next, PGresult *res)
{
	probe_close(job_state(j));
	switch (next) {
	case VERIFY_DONE:
		record(j);
		return;
	case VERIFY_FAILED:
		pass_failed(j, res);
		return;
	case VERIFY_CANCELLED:
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	default:
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
}

/* Does what the pass says, and what it says next, until it waits for a
 * result (on either connection) or is over; res is the result it was
 * given. */
static void pass_next(struct job *j, enum verify_next next, PGresult *res)
{
	struct verify_job *v = job_state(j);
	struct verify_pass *p = &v->pass;

	for (;;) {
		switch (next) {
		case VERIFY_SEND:
			if (!p->on_probe) {
				/* (a connection lost here is the scheduler's: it
				 * retries, or ends the run) */
				if (p->cancellable)
					job_work(j, p->sql, 0, NULL, pass_step);
				else
					job_query(j, p->sql, 0, NULL, pass_step);
				next = verify_pass_next(p);
				continue;
			}
			if (db_query(v->probe, p->sql, 0, NULL, probe_step, j) < 0) {
				next = verify_pass_probe_down(p, db_error(v->probe));
				continue;
			}
			if (p->probe_step == VERIFY_PROBE) {
				v->cancel_sent = false;
				arm_deadline(v, p->probe_timeout_ms + VERIFY_PROBE_GRACE_MS);
			}
			next = verify_pass_next(p);
			continue;
		case VERIFY_CONNECT_PROBE:
			next = probe_connect(j);
			continue;
		case VERIFY_WAIT:
			return;
		default:
			pass_over(j, next, res);
			return;
		}
	}
}

/* A result on the job's connection. */
static void pass_step(struct job *j, PGresult *res)
{
	struct verify_job *v = job_state(j);

	if (v->terminate_when_free) {
		v->terminate_when_free = false;
		if (v->probe != NULL && db_busy(v->probe)) {
			/* the probe did not end (or a shutdown came): what the
			 * checks found is not recorded */
			terminate_probe(j);
			return;
		}
	}
	pass_next(j, verify_pass_result(&v->pass, false, res, db_connected(job_db(j))), res);
}

/* ---- the probe's own connection ---------------------------------------------- */

static void arm_deadline(struct verify_job *v, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(v->deadline, &tv);
}

/* A result on the probe's connection. */
static void probe_step(struct db *db, PGresult *res, void *arg)
{
	struct job *j = arg;
	struct verify_job *v = job_state(j);

	if (v->terminating)
		/* its end is the termination's: terminated() goes on */
		return;
	evtimer_del(v->deadline);
	pass_next(j, verify_pass_result(&v->pass, true, res, db_connected(db)), res);
}

static void probe_connected(struct db *db, bool ok, void *arg)
{
	struct job *j = arg;
	struct verify_job *v = job_state(j);
	struct verify_pass *p = &v->pass;

	v->connecting = false;
	if (ok && p->made_login && !v->login_said && !job_stopping(j)) {
		v->login_said = true;
		log_notice("verify: the probe connects as %s, a login this daemon made (LOGIN NOINHERIT, a member of "
			   "anon, authenticated and service_role only) with a password it sets at each pass and keeps "
			   "only in memory; set verify.probe_conninfo to use a login of your own", VERIFY_PROBE_LOGIN);
	}
	pass_next(j, verify_pass_connected(p, ok, db_error(db)), NULL);
}

/* Starts making the probe's connection; what the pass says next. */
static enum verify_next probe_connect(struct job *j)
{
	struct verify_job *v = job_state(j);
	struct verify_pass *p = &v->pass;

	db_free(v->probe);
	v->terminating = v->terminate_when_free = false;
	v->probe = db_new(job_base(j), p->probe_conninfo, p->probe_password);
	if (v->probe == NULL) {
		p->nomem = true;
		return verify_pass_connected(p, false, "out of memory");
	}
	db_set_notice_cb(v->probe, verify_notice, NULL);
	if (db_connect(v->probe, PROBE_CONNECT_TIMEOUT_SEC, probe_connected, j) < 0)
		return verify_pass_connected(p, false, db_error(v->probe));
	v->connecting = true;
	return verify_pass_next(p);
}

static void terminated(struct job *j, PGresult *res)
{
	struct verify_job *v = job_state(j);
	int pid = PQbackendPID(db_pgconn(v->probe));
	bool ended = job_res_ok(res) && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	probe_close(v);
	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	job_finish(j, RUN_FAILED, "the probe did not end within %ld ms of its %ld ms statement timeout, nor when "
		   "cancelled (a policy or trigger that catches query_canceled?): its backend (PID %d) %s",
		   (long)VERIFY_PROBE_GRACE_MS, v->pass.probe_timeout_ms, pid,
		   ended ? "was terminated" : job_res_ok(res) ? "could not be terminated"
		   : "could not be terminated (the daemon's role needs pg_signal_backend)");
}

/* Ends the probe's backend from the job's connection (its own may be
 * stuck): pg_terminate_backend waits up to 5 s for it to exit.  The
 * checks may hold the job's connection: then it is sent when they answer
 * (pass_step). */
static void terminate_probe(struct job *j)
{
	struct verify_job *v = job_state(j);
	char pid[16];
	const char *params[1] = { pid };

	evtimer_del(v->deadline);
	if (db_busy(job_db(j))) {
		v->terminate_when_free = true;
		return;
	}
	v->terminating = true;
	snprintf(pid, sizeof(pid), "%d", PQbackendPID(db_pgconn(v->probe)));
	job_query(j, "SELECT pg_catalog.pg_terminate_backend($1::int, 5000)", 1, params, terminated);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct verify_job *v = job_state(j);

	(void)fd; (void)what;
	if (v->probe == NULL || !db_busy(v->probe))
		return;
	if (!v->cancel_sent) {
		log_warning("verify: the probe still runs %ld ms after its statement timeout: cancelling it",
			    (long)VERIFY_PROBE_GRACE_MS);
		v->cancel_sent = true;
		db_cancel(v->probe);
		arm_deadline(v, VERIFY_PROBE_CANCEL_GRACE_MS);
		return;
	}
	log_warning("verify: the probe ignored its cancel: terminating its backend");
	terminate_probe(j);
}

/* A shutdown: the probe's connection is not the scheduler's to cancel. */
static void verify_stop(struct job *j)
{
	struct verify_job *v = job_state(j);

	/* nothing more is sent; the checks are cancelled by the scheduler */
	verify_pass_stop(&v->pass);
	if (v->probe == NULL || v->terminating)
		return;
	if (db_busy(v->probe)) {
		terminate_probe(j);
	} else if (v->connecting) {
		/* nothing ran on it yet: the pass ends now, or when the checks
		 * answer their cancel */
		probe_close(v);
		pass_next(j, verify_pass_probe_down(&v->pass, "stopped"), NULL);
	}
}

static void verify_begin(struct job *j)
{
	struct verify_job *v = job_state(j);

	/* (a retry after the job's connection was lost: its probe goes too) */
	probe_close(v);
	v->terminating = v->terminate_when_free = false;
	verify_pass_free(&v->pass);
	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	verify_pass_init(&v->pass, job_conf(j), true, db_pgconn(job_db(j)));
	pass_next(j, verify_pass_start(&v->pass), NULL);
}

static int level_priority(const char *level)
{
	int l = vlevel_parse(level);

	return l == VL_ERROR ? LOG_ERR : l == VL_WARN ? LOG_WARNING : LOG_INFO;
}

/* Logs what is new, what is reminded and what went away. */
static void report(const PGresult *res)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		const char *action = PQgetvalue(res, i, 0), *key = PQgetvalue(res, i, 1);
		const char *check = PQgetvalue(res, i, 2), *level = PQgetvalue(res, i, 3);
		const char *object = PQgetvalue(res, i, 4), *detail = PQgetvalue(res, i, 5);
		const char *remedy = PQgetvalue(res, i, 6), *since = PQgetvalue(res, i, 7);
		struct log_field f[] = { { "CHECK", check }, { "OBJECT", object }, { "FINDING_LEVEL", level },
					 { "FINDING_KEY", key }, { "STATE", action }, { "REMEDY", *remedy ? remedy : NULL },
					 { "FINDING_CATEGORIES", check_categories(check) },
					 { "FINDING_FACING", check_facing(check) } };

		if (strcmp(action, "resolved") == 0)
			log_emit(LOG_NOTICE, MSGID_VERIFY_RESOLVED, LOG_FIELDS(f),
				 "verify: resolved: %s %s (present since %s)", check, object, since);
		else if (strcmp(action, "new") == 0)
			log_emit(level_priority(level), MSGID_VERIFY_FINDING, LOG_FIELDS(f),
				 "verify: %s %s %s: %s; fix: %s", level, check, object, detail, remedy);
		else
			log_emit(level_priority(level), MSGID_VERIFY_FINDING, LOG_FIELDS(f),
				 "verify: still present since %s: %s %s %s: %s; fix: %s", since, level, check, object,
				 detail, remedy);
	}
}

static void recorded(struct job *j, PGresult *res)
{
	if (!job_res_ok(res)) {
		job_query_failed(j, res);
		return;
	}
	report(res);
	job_finish(j, RUN_OK, NULL);
}

/* verify.ignore's keys as a JSON array; NULL on ENOMEM.  free() it. */
static char *ignored_json(char *const *ignore)
{
	char *out = NULL, *const *k;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);

	if (m == NULL)
		return NULL;
	fputc('[', m);
	for (k = ignore; k != NULL && *k != NULL; k++) {
		fputs(k == ignore ? "" : ",", m);
		json_fputs(m, *k);
	}
	fputc(']', m);
	if (fclose(m) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The findings against the ones already known. */
static void record(struct job *j)
{
	struct verify_job *v = job_state(j);
	const struct conf *c = job_conf(j);
	char remind[48], *json, *ignored;

	snprintf(remind, sizeof(remind), "%lld milliseconds", (long long)c->verify_remind_every_ms);
	ignored = ignored_json(c->verify_ignore);
	json = findings_json(&v->pass.found);
	if (json == NULL || ignored == NULL) {
		free(json);
		free(ignored);
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
	{
		const char *params[4] = { json, remind, ignored, verify_pass_complete(&v->pass) ? "true" : "false" };

		job_set_rows(j, (int64_t)v->pass.found.n);
		job_query(j, sql_verify_lifecycle, 4, params, recorded);
	}
	free(json);
	free(ignored);
}

static void verify_log_end(struct job *j, enum run_status st, const char *ms, const char *error)
{
	struct verify_job *v = job_state(j);
	char counts[96];
	struct log_field f[] = { { "JOB", job_name(j) }, { "STATUS", run_status_name(st) },
				 { "DURATION_MS", ms }, { "ERROR", *error ? error : NULL } };

	/* quiet when it went well (the findings speak for themselves) or was
	 * only interrupted (the next pass checks the same) */
	findings_summary(v->pass.found.counts, counts, sizeof(counts));
	log_emit(st == RUN_FAILED ? LOG_ERR : st == RUN_OK ? LOG_DEBUG : LOG_INFO, MSGID_JOB_FINISHED,
		 LOG_FIELDS(f), "job %s %s: %s in %s ms%s%s", job_name(j),
		 st == RUN_OK ? "finished" : run_status_name(st), st == RUN_OK ? counts : "no pass", ms,
		 *error ? ": " : "", error);
}

static void verify_ended(struct job *j, enum run_status st)
{
	struct verify_job *v = job_state(j);

	if (st == RUN_OK) {
		memcpy(v->counts, v->pass.found.counts, sizeof(v->counts));
		v->verified_at = time(NULL);
	}
	probe_close(v);
	verify_pass_free(&v->pass);
}

static bool verify_findings(const struct job *j, int counts[3], time_t *at)
{
	const struct verify_job *v = job_state(j);

	memcpy(counts, v->counts, sizeof(v->counts));
	*at = v->verified_at;
	return v->verified_at != 0;
}

const struct job_ops verify_job_ops = {
	.name = "verify",
	.lock_objid = "3",
	.run_at_start = true,
	.wait_for_migrations = true,
	.schedule = verify_schedule,
	.state_new = verify_new,
	.state_free = verify_free,
	.configured = verify_configured,
	.begin = verify_begin,
	.stop = verify_stop,
	.log_end = verify_log_end,
	.ended = verify_ended,
	.findings = verify_findings,
};
