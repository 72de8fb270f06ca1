/* Findings: levels, ignore keys, order, summary, JSON; the pass's SQL texts. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "verify.h"

static char *ignore_none[] = { NULL };

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
		const char *texts[] = { verify_sql_record(), verify_sql_checks(true), verify_sql_checks(false),
					verify_sql_probe(true, 1000), verify_sql_probe(false, 60000) };
		size_t i;

		for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
			ok(texts[i] != NULL, "SQL text %zu built", i);
			ok(texts[i] && strstr(texts[i], "@MANIFEST@") == NULL && strstr(texts[i], "@FINGERPRINT@") == NULL &&
			   strstr(texts[i], "@ISOLATION@") == NULL && strstr(texts[i], "@TIMEOUT@") == NULL,
			   "SQL text %zu has no placeholder left", i);
		}
		contains(verify_sql_checks(true), "momentum_maintd.verify_snapshot", "checks with drift read the snapshot");
		ok(strstr(verify_sql_checks(false), "verify_snapshot") == NULL, "checks without drift do not");
		contains(verify_sql_probe(true, 1000), "isolation constant boolean := true", "isolation on");
		contains(verify_sql_probe(false, 1000), "isolation constant boolean := false", "isolation off");
		contains(verify_sql_probe(false, 1500), "statement_timeout = 1500", "the timeout");
		contains(verify_sql_probe(false, 1500), "BEGIN;", "in a transaction");
	}
	return done_testing();
}
