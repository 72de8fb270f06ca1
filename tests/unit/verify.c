/* Findings: levels, ignore keys, order, summary, JSON; the pass's SQL
 * texts, and the pass's steps fed with made-up results. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tap.h"
#include "verify.h"

static char *ignore_none[] = { NULL };

/* A result as the server would give it: rows of (check, level, object,
 * detail, remedy), or one value, or an error. */
static PGresult *rows(int n, const char *const *cells, int ncols)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc att[5] = { { 0 } };
	int i, k;

	for (k = 0; k < ncols; k++)
		att[k].name = (char *)"c";
	PQsetResultAttrs(r, ncols, att);
	for (i = 0; i < n; i++)
		for (k = 0; k < ncols; k++)
			PQsetvalue(r, i, k, (char *)cells[i * ncols + k], (int)strlen(cells[i * ncols + k]));
	return r;
}

static enum verify_next feed(struct verify_pass *p, bool on_probe, PGresult *r, bool connected)
{
	enum verify_next n = verify_pass_result(p, on_probe, r, connected);

	PQclear(r);
	return n;
}

#define MAIN false
#define PROBE true

static PGresult *status(ExecStatusType s)
{
	return PQmakeEmptyPGresult(NULL, s);
}

/* A pass up to the probe running (its connection made) and the checks
 * sent (after the snapshot test, without record_snapshot). */
static void start_both(struct verify_pass *p, const struct conf *c, bool record_snapshot)
{
	const char *yes[] = { "t" };

	verify_pass_init(p, c, record_snapshot, NULL);
	verify_pass_start(p);
	verify_pass_next(p);
	verify_pass_connected(p, true, NULL);
	if (!record_snapshot)
		feed(p, MAIN, rows(1, yes, 1), true);
}

/* Two passes' findings, the same in the same order. */
static bool same_findings(const struct findings *a, const struct findings *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i].check, b->v[i].check) != 0 || strcmp(a->v[i].object, b->v[i].object) != 0 ||
		    strcmp(a->v[i].detail, b->v[i].detail) != 0)
			return false;
	return true;
}

static void test_pass(void)
{
	struct conf *c = conf_new();
	struct verify_pass p, q;
	char *ci;
	const char *no[] = { "f" };
	const char *lint[] = { "rls_disabled_in_public", "error", "public.t", "d", "r" };
	const char *lints[] = { "rls_disabled_in_public", "error", "public.t", "from the checks", "r",
				"auth_rls_initplan", "warn", "public.u", "d", "r" };
	const char *probe[] = { "probe_policy_error", "error", "public.u (as anon)", "d", "r",
				"rls_disabled_in_public", "error", "public.t", "from the probe", "r" };
	struct conf_error err;

	/* a probe login of the user's own: no login made, a connection of its own */
	ok(conf_set(c, "verify.probe_conninfo", "user=probe", "test", &err) == 0, "a probe login");

	/* the verify command: read-only, no snapshot yet, the probe fails */
	verify_pass_init(&p, c, false, NULL);
	ok(verify_pass_start(&p) == VERIFY_CONNECT_PROBE && strstr(p.probe_conninfo, "user='probe'"),
	   "the probe's connection first: it waits for nothing");
	ok(verify_pass_next(&p) == VERIFY_SEND && strstr(p.sql, "to_regclass") && !p.cancellable && !p.on_probe,
	   "and meanwhile, read-only: whether a snapshot exists");
	ok(verify_pass_next(&p) == VERIFY_WAIT, "then both are awaited");
	ok(verify_pass_connected(&p, true, NULL) == VERIFY_SEND && strstr(p.sql, "BEGIN;") && p.cancellable &&
	   p.on_probe && p.probe_step == VERIFY_PROBE, "the probe, on its connection");
	ok(verify_pass_next(&p) == VERIFY_WAIT, "while the snapshot's test runs");
	ok(feed(&p, MAIN, rows(1, no, 1), true) == VERIFY_SEND && strstr(p.sql, "verify_snapshot") == NULL &&
	   p.cancellable && !p.on_probe, "no snapshot: the checks without drift, while the probe runs");
	ok(verify_pass_next(&p) == VERIFY_WAIT, "both run");
	ok(feed(&p, PROBE, status(PGRES_FATAL_ERROR), true) == VERIFY_SEND && strcmp(p.sql, "ROLLBACK") == 0 &&
	   !p.cancellable && p.on_probe, "a failed probe is rolled back");
	ok(verify_pass_next(&p) == VERIFY_WAIT, "the checks still run");
	ok(feed(&p, MAIN, rows(1, lint, 5), true) == VERIFY_WAIT, "the checks answer: the rollback is awaited");
	ok(feed(&p, PROBE, status(PGRES_COMMAND_OK), true) == VERIFY_DONE, "done when both are");
	ok(p.found.n == 3 && p.found.counts[VL_ERROR] == 1 && p.found.counts[VL_WARN] == 1 &&
	   p.found.counts[VL_INFO] == 1, "the lint, probe_failed and drift_unchecked");
	is_str(p.found.v[0].check, "rls_disabled_in_public", "sorted by level");
	ok(!verify_pass_complete(&p), "a failed probe makes the pass incomplete");
	verify_pass_free(&p);

	/* whichever answers first, the findings are the same, in the same
	 * order: the checks', then the probe's (an equal key is kept in that
	 * order whatever the sort) */
	start_both(&p, c, false);
	feed(&p, MAIN, rows(2, lints, 5), true);
	feed(&p, PROBE, rows(2, probe, 5), true);
	ok(feed(&p, PROBE, status(PGRES_COMMAND_OK), true) == VERIFY_DONE, "checks first");
	start_both(&q, c, false);
	feed(&q, PROBE, rows(2, probe, 5), true);
	ok(feed(&q, PROBE, status(PGRES_COMMAND_OK), true) == VERIFY_WAIT, "probe first: the checks are awaited");
	ok(feed(&q, MAIN, rows(2, lints, 5), true) == VERIFY_DONE, "then done");
	ok(p.found.n == 4 && same_findings(&p.found, &q.found), "the same findings, the same order");
	verify_pass_free(&p);
	verify_pass_free(&q);

	/* the daemon's pass: the snapshot recorded first, stopped by a shutdown */
	verify_pass_init(&p, c, true, NULL);
	ok(verify_pass_start(&p) == VERIFY_CONNECT_PROBE, "the probe's connection");
	ok(verify_pass_next(&p) == VERIFY_SEND && strstr(p.sql, "statement_timeout = '5min'") &&
	   strstr(p.sql, "verify_snapshot") && p.cancellable && !p.on_probe,
	   "recording: snapshot and checks with drift at once, meanwhile");
	ok(verify_pass_connected(&p, true, NULL) == VERIFY_SEND && strstr(p.sql, "BEGIN;") && p.on_probe,
	   "the probe, while the checks run");
	verify_pass_stop(&p);
	ok(feed(&p, PROBE, rows(1, probe, 5), true) == VERIFY_SEND && strcmp(p.sql, "ROLLBACK") == 0,
	   "stopping: the probe is still rolled back");
	ok(feed(&p, PROBE, status(PGRES_COMMAND_OK), true) == VERIFY_WAIT, "the checks are awaited");
	ok(feed(&p, MAIN, rows(1, lint, 5), true) == VERIFY_CANCELLED, "then cancelled");
	verify_pass_free(&p);
	start_both(&p, c, true);
	verify_pass_stop(&p);
	ok(feed(&p, MAIN, rows(1, lint, 5), true) == VERIFY_WAIT, "stopping, the checks over: the probe is awaited");
	ok(feed(&p, PROBE, status(PGRES_FATAL_ERROR), false) == VERIFY_CANCELLED,
	   "its connection gone (terminated): cancelled");
	verify_pass_free(&p);
	verify_pass_init(&p, c, true, NULL);
	verify_pass_start(&p);
	verify_pass_next(&p);
	verify_pass_stop(&p);
	ok(verify_pass_probe_down(&p, "stopped") == VERIFY_WAIT, "stopped while connecting: the checks are awaited");
	ok(feed(&p, MAIN, status(PGRES_FATAL_ERROR), true) == VERIFY_FAILED, "their cancel fails them");
	verify_pass_free(&p);
	verify_pass_init(&p, c, true, NULL);
	verify_pass_start(&p);
	verify_pass_next(&p);
	feed(&p, MAIN, rows(1, lint, 5), true);
	verify_pass_stop(&p);
	ok(verify_pass_connected(&p, true, NULL) == VERIFY_CANCELLED, "stopping after the checks: no probe");
	verify_pass_free(&p);

	/* failures */
	start_both(&p, c, true);
	ok(feed(&p, MAIN, status(PGRES_FATAL_ERROR), true) == VERIFY_FAILED,
	   "failed checks fail the pass, the probe still running");
	verify_pass_free(&p);
	start_both(&p, c, true);
	ok(feed(&p, PROBE, status(PGRES_FATAL_ERROR), false) == VERIFY_WAIT &&
	   feed(&p, MAIN, rows(0, NULL, 5), true) == VERIFY_DONE && !verify_pass_complete(&p),
	   "a probe that lost its connection: no rollback, the checks stand, the pass is incomplete");
	verify_pass_free(&p);
	verify_pass_init(&p, c, true, NULL);
	verify_pass_start(&p);
	verify_pass_next(&p);
	ok(verify_pass_connected(&p, false, "no such role") == VERIFY_WAIT &&
	   feed(&p, MAIN, rows(0, NULL, 5), true) == VERIFY_DONE && !verify_pass_complete(&p) &&
	   strcmp(p.found.v[0].check, "probe_failed") == 0, "no probe connection: probe_failed");
	verify_pass_free(&p);
	start_both(&p, c, true);
	ok(verify_pass_probe_down(&p, "not connected") == VERIFY_WAIT &&
	   feed(&p, MAIN, rows(0, NULL, 5), true) == VERIFY_DONE && strstr(p.found.v[0].detail, "not connected") &&
	   !verify_pass_complete(&p), "the probe's statement not sent: probe_failed");
	verify_pass_free(&p);
	conf_free(c);
	ci = verify_probe_conninfo("postgresql://u:secret@db.example:6543/app?sslmode=require", "user=p password=x", NULL);
	is_str(ci, "dbname='app' host='db.example' port='6543' user='p' password='x' application_name='momentum-maintd probe' "
	       "options='-c client_connection_check_interval=2000' ",
	       "the probe's conninfo: host, port and dbname from database.conninfo, never its password");
	free(ci);
	ci = verify_probe_conninfo("host=/tmp dbname=a user=postgres", "", "momentum_maintd_probe");
	is_str(ci, "dbname='a' host='/tmp' user='momentum_maintd_probe' application_name='momentum-maintd probe' "
	       "options='-c client_connection_check_interval=2000' ",
	       "the login the daemon makes");
	free(ci);
}

int main(void)
{
	struct findings f = { 0 };
	char buf[256], *json;
	char *ignore[] = { "duplicate_index:public.a, public.b", "no:such", NULL };

	ok(vlevel_parse("error") == VL_ERROR && vlevel_parse("warn") == VL_WARN && vlevel_parse("info") == VL_INFO,
	   "levels parse");
	ok(vlevel_parse("warning") == -1 && vlevel_parse("") == -1 && vlevel_parse("ERROR") == -1, "others do not");
	is_str(vlevel_name(VL_WARN), "warn", "level names");

	findings_summary(f.counts, buf, sizeof(buf));
	is_str(buf, "no findings", "empty summary");

	ok(findings_push(&f, "rls_enabled_no_policy", VL_INFO, "public.t", "d", "r") == 0, "push");
	ok(findings_push(&f, "duplicate_index", VL_WARN, "public.a, public.b", "d", "r") == 0, "push");
	ok(findings_push(&f, "probe_policy_error", VL_ERROR, "public.t (as anon)", "a \"quoted\"\nline", "r") == 0,
	   "push");
	ok(findings_push(&f, "drift_dropped", VL_ERROR, "public.i", "d", "r") == 0, "push");
	ok(f.n == 4 && f.counts[VL_ERROR] == 2 && f.counts[VL_WARN] == 1 && f.counts[VL_INFO] == 1, "counted by level");
	findings_summary(f.counts, buf, sizeof(buf));
	is_str(buf, "2 errors, 1 warning, 1 info", "summary with plurals");

	finding_key(&f.v[1], buf, sizeof(buf));
	is_str(buf, "duplicate_index:public.a, public.b", "key is check:object");

	findings_ignore(&f, ignore_none);
	ok(f.n == 4 && f.ignored == 0, "nothing ignored by an empty list");
	findings_ignore(&f, NULL);
	ok(f.n == 4, "nor by no list");
	findings_ignore(&f, ignore);
	ok(f.n == 3 && f.ignored == 1 && f.counts[VL_WARN] == 0, "an ignored key is dropped and not counted");

	ok(!findings_probe_partial(&f), "a probe that read everything");
	findings_sort(&f);
	is_str(f.v[0].check, "drift_dropped", "errors first, then by check name");
	is_str(f.v[1].check, "probe_policy_error", "second error");
	is_str(f.v[2].check, "rls_enabled_no_policy", "info last");

	json = findings_json(&f);
	ok(json != NULL, "JSON built");
	contains(json, "{\"key\": \"drift_dropped:public.i\", \"check_name\": \"drift_dropped\", \"level\": \"error\"",
		 "JSON for the lifecycle query");
	contains(json, "a \\\"quoted\\\"\\nline", "strings escaped");
	ok(json && json[0] == '[' && json[strlen(json) - 1] == ']', "an array");
	free(json);
	findings_free(&f);
	ok(f.n == 0 && f.v == NULL, "freed");
	json = findings_json(&f);
	is_str(json, "[]", "empty array");
	free(json);
	ok(findings_push(&f, "probe_skipped", VL_INFO, "public.t (as anon)", "d", "r") == 0 && findings_probe_partial(&f),
	   "a skipped table makes the probe partial");
	findings_free(&f);
	ok(findings_push(&f, "probe_timeout", VL_WARN, "momentum-maintd probe", "d", "r") == 0 &&
	   findings_probe_partial(&f), "so does a timeout");
	findings_free(&f);

	/* the SQL texts: every placeholder filled */
	{
		const char *texts[] = { verify_sql_record(), verify_sql_checks(true, ""), verify_sql_checks(false, ""),
					verify_sql_probe(true, 1000, ""), verify_sql_probe(false, 60000, "") };
		size_t i;

		for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
			ok(texts[i] != NULL, "SQL text %zu built", i);
			ok(texts[i] && strstr(texts[i], "@MANIFEST@") == NULL && strstr(texts[i], "@FINGERPRINT@") == NULL &&
			   strstr(texts[i], "@ISOLATION@") == NULL && strstr(texts[i], "@TIMEOUT@") == NULL &&
			   strstr(texts[i], "@SCHEMAS@") == NULL,
			   "SQL text %zu has no placeholder left", i);
		}
		contains(verify_sql_checks(true, ""), "momentum_maintd.verify_snapshot", "checks with drift read the snapshot");
		ok(strstr(verify_sql_checks(false, ""), "verify_snapshot") == NULL, "checks without drift do not");
		contains(verify_sql_checks(false, ""), "coalesce(NULL::text[]", "no verify.schemas: the database says");
		contains(verify_sql_checks(false, " api,public ,x$1"), "coalesce(ARRAY['api', 'public', 'x$1']::text[]",
			 "verify.schemas as an array");
		contains(verify_sql_checks(false, "api"), "coalesce(ARRAY['api']::text[]", "built again when it changes");
		contains(verify_sql_probe(true, 1000, ""), "isolation constant boolean := true", "isolation on");
		contains(verify_sql_probe(false, 1000, ""), "isolation constant boolean := false", "isolation off");
		contains(verify_sql_probe(false, 1500, ""), "statement_timeout = 1500", "the timeout");
		contains(verify_sql_probe(false, 1500, ""), "BEGIN;", "in a transaction");
		contains(verify_sql_probe(false, 1500, ""), "coalesce(NULL::text[]", "probe: the database's exposed schemas");
		contains(verify_sql_probe(false, 1500, "api"), "coalesce(ARRAY['api']::text[]", "probe: verify.schemas");
		ok(strstr(verify_sql_probe(true, 1000, "api"), "@EXPOSED@") == NULL && strstr(verify_sql_probe(true, 1000, "api"), "@SCHEMAS@") == NULL,
		   "probe: every name substituted");
	}
	test_pass();
	return done_testing();
}
