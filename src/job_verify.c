/* The verification job: a pass (checks, probe, rollback), then the
 * findings' lifecycle recorded, so that each finding is logged once,
 * reminded, and logged when resolved. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "db.h"
#include "job.h"
#include "log.h"
#include "msgid.h"
#include "sql_text.h"
#include "verify.h"

/* a verification pass: the catalog checks, and the probe's transaction */
#define VERIFY_CHECKS_TIMEOUT "5min"

struct verify_job {
	struct findings found;        /* this pass's, until recorded */
	bool probe_failed;
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

static void *verify_new(struct job *j)
{
	struct verify_job *v = calloc(1, sizeof(*v));

	if (v != NULL)
		db_set_notice_cb(job_db(j), verify_notice, NULL);
	return v;
}

static void verify_free(void *state)
{
	struct verify_job *v = state;

	findings_free(&v->found);
	free(v);
}

static void verify_configured(const struct conf *c)
{
	verify_log_ignored(c->verify_ignore);
}

static void checks_done(struct job *j, PGresult *res);

static void verify_begin(struct job *j)
{
	struct verify_job *v = job_state(j);
	char *sql = NULL;
	const char *record = verify_sql_record(), *checks = verify_sql_checks(true);

	findings_free(&v->found);
	v->probe_failed = false;
	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	if (record == NULL || checks == NULL ||
	    asprintf(&sql, "SET statement_timeout = '" VERIFY_CHECKS_TIMEOUT "';\n%s;\n%s", record, checks) < 0) {
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
	job_work(j, sql, 0, NULL, checks_done);
	free(sql);
}

static void probe_done(struct job *j, PGresult *res);

static void checks_failed(struct job *j, PGresult *res)
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

static void checks_done(struct job *j, PGresult *res)
{
	struct verify_job *v = job_state(j);
	int env = job_conf(j)->environment;
	const char *sql;

	if (!job_res_ok(res)) {
		checks_failed(j, res);
		return;
	}
	if (findings_add(&v->found, res) < 0) {
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	sql = verify_sql_probe(env == ENV_STAGING || env == ENV_DEVELOPMENT, VERIFY_PROBE_TIMEOUT_MS);
	if (sql == NULL) {
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
	job_work(j, sql, 0, NULL, probe_done);
}

static void record(struct job *j);

static void rolled_back(struct job *j, PGresult *res)
{
	(void)res;
	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	record(j);
}

static void probe_done(struct job *j, PGresult *res)
{
	struct verify_job *v = job_state(j);

	if (job_res_ok(res)) {
		if (findings_add(&v->found, res) < 0)
			v->probe_failed = true;
	} else if (!job_stopping(j)) {
		/* the checks stand; the probe's failure is a finding */
		v->probe_failed = true;
		findings_probe_failed(&v->found, res);
	}
	job_query(j, "ROLLBACK", 0, NULL, rolled_back);
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
		struct log_field f[] = { { "CHECK", check }, { "OBJECT", object }, { "LEVEL", level },
					 { "FINDING_KEY", key }, { "STATE", action }, { "REMEDY", *remedy ? remedy : NULL } };

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

	findings_ignore(&v->found, c->verify_ignore);
	findings_sort(&v->found);
	snprintf(remind, sizeof(remind), "%lld milliseconds", (long long)c->verify_remind_every_ms);
	ignored = ignored_json(c->verify_ignore);
	json = findings_json(&v->found);
	if (json == NULL || ignored == NULL) {
		free(json);
		free(ignored);
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
	{
		const char *params[4] = { json, remind, ignored,
					  v->probe_failed || findings_probe_partial(&v->found) ? "false" : "true" };

		job_set_rows(j, (int64_t)v->found.n);
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
	findings_summary(v->found.counts, counts, sizeof(counts));
	log_emit(st == RUN_FAILED ? LOG_ERR : st == RUN_OK ? LOG_DEBUG : LOG_INFO, MSGID_JOB_FINISHED,
		 LOG_FIELDS(f), "job %s %s: %s in %s ms%s%s", job_name(j),
		 st == RUN_OK ? "finished" : run_status_name(st), st == RUN_OK ? counts : "no pass", ms,
		 *error ? ": " : "", error);
}

static void verify_ended(struct job *j, enum run_status st)
{
	struct verify_job *v = job_state(j);

	if (st == RUN_OK) {
		memcpy(v->counts, v->found.counts, sizeof(v->counts));
		v->verified_at = time(NULL);
	}
	findings_free(&v->found);
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
	.log_end = verify_log_end,
	.ended = verify_ended,
	.findings = verify_findings,
};
