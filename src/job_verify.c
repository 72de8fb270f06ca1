/* The verification job: the pass every verification shares (verify.c:
 * snapshot, checks, probe, rollback), driven on the job's connection, then
 * the findings' lifecycle recorded, so that each finding is logged once,
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

struct verify_job {
	struct verify_pass pass;      /* this pass's, until recorded */
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

/* The pass says what comes next; res is the result it was given. */
static void pass_next(struct job *j, enum verify_next next, PGresult *res)
{
	struct verify_pass *p = &((struct verify_job *)job_state(j))->pass;

	switch (next) {
	case VERIFY_SEND:
		if (p->cancellable)
			job_work(j, p->sql, 0, NULL, pass_step);
		else
			job_query(j, p->sql, 0, NULL, pass_step);
		return;
	case VERIFY_DONE:
		record(j);
		return;
	case VERIFY_FAILED:
		pass_failed(j, res);
		return;
	case VERIFY_CANCELLED:
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	case VERIFY_NOMEM:
		job_finish(j, RUN_FAILED, "out of memory");
		return;
	}
}

static void pass_step(struct job *j, PGresult *res)
{
	struct verify_job *v = job_state(j);

	pass_next(j, verify_pass_result(&v->pass, res, db_connected(job_db(j)), job_stopping(j)), res);
}

static void verify_begin(struct job *j)
{
	struct verify_job *v = job_state(j);

	verify_pass_free(&v->pass);
	if (job_stopping(j)) {
		job_finish(j, RUN_CANCELLED, JOB_STOPPED);
		return;
	}
	verify_pass_init(&v->pass, job_conf(j), true);
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
	.log_end = verify_log_end,
	.ended = verify_ended,
	.findings = verify_findings,
};
