#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "db.h"
#include "log.h"
#include "sql_text.h"
#include "verify.h"

/* tmpl with every @NAME@ replaced by its value (pairs, NULL-terminated) */
static char *subst(const char *tmpl, ...)
{
	va_list ap;
	size_t len = 0;
	char *out = NULL;
	FILE *f = open_memstream(&out, &len);
	const char *p = tmpl;

	if (f == NULL)
		return NULL;
	while (*p != '\0') {
		const char *at = strchr(p, '@'), *name, *value;
		bool done = false;

		if (at == NULL) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(at - p), f);
		va_start(ap, tmpl);
		while ((name = va_arg(ap, const char *)) != NULL) {
			size_t n = strlen(name);

			value = va_arg(ap, const char *);
			if (strncmp(at + 1, name, n) == 0 && at[1 + n] == '@') {
				fputs(value, f);
				p = at + n + 2;
				done = true;
				break;
			}
		}
		va_end(ap);
		if (!done) {
			fputc('@', f);
			p = at + 1;
		}
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* The texts are built once and kept for the life of the process. */
const char *verify_sql_record(void)
{
	static char *sql;

	if (sql == NULL)
		sql = subst(sql_record, "MANIFEST", sql_manifest, "FINGERPRINT", sql_fingerprint,
			    (char *)NULL);
	return sql;
}

const char *verify_sql_checks(bool drift)
{
	static char *sql[2];

	if (sql[drift] == NULL) {
		char *d = NULL, *part = NULL;

		if (drift) {
			d = subst(sql_drift, "MANIFEST", sql_manifest, "FINGERPRINT", sql_fingerprint,
				  (char *)NULL);
			part = d ? subst("UNION ALL SELECT * FROM (\n@D@\n) d\n", "D", d, (char *)NULL) : NULL;
			free(d);
			if (part == NULL)
				return NULL;
		}
		sql[drift] = subst("SET search_path = ''; SET jit = off;\n"
				   "SELECT * FROM (\n@LINTS@\n@DRIFT@) f(check_name, level, object, detail, remedy)\n"
				   "ORDER BY CASE level WHEN 'error' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, 1, 3",
				   "LINTS", sql_lints, "DRIFT", part ? part : "", (char *)NULL);
		free(part);
	}
	return sql[drift];
}

const char *verify_sql_probe(bool isolation, long timeout_ms)
{
	static char *sql[2];
	static long built_for[2];

	if (sql[isolation] == NULL || built_for[isolation] != timeout_ms) {
		char t[32];

		free(sql[isolation]);
		snprintf(t, sizeof(t), "%ld", timeout_ms);
		sql[isolation] = subst("BEGIN;\n"
				       "SET LOCAL statement_timeout = @TIMEOUT@; SET LOCAL lock_timeout = '2s';\n"
				       "SET LOCAL search_path = ''; SET LOCAL jit = off;\n"
				       "@PROBE@;\n"
				       "SELECT x.check_name, x.level, x.object, x.detail, x.remedy\n"
				       "FROM jsonb_to_recordset(current_setting('momentum_maintd.probe')::jsonb)\n"
				       "  AS x(check_name text, level text, object text, detail text, remedy text)",
				       "TIMEOUT", t, "PROBE", sql_probe, (char *)NULL);
		if (sql[isolation] != NULL) {
			char *full = subst(sql[isolation], "ISOLATION", isolation ? "true" : "false", (char *)NULL);

			free(sql[isolation]);
			sql[isolation] = full;
		}
		built_for[isolation] = timeout_ms;
	}
	return sql[isolation];
}

int vlevel_parse(const char *s)
{
	return strcmp(s, "error") == 0 ? VL_ERROR : strcmp(s, "warn") == 0 ? VL_WARN
		: strcmp(s, "info") == 0 ? VL_INFO : -1;
}

const char *vlevel_name(enum vlevel l)
{
	static const char *const names[] = { "error", "warn", "info" };

	return names[l];
}

int findings_push(struct findings *f, const char *check, enum vlevel level, const char *object,
		  const char *detail, const char *remedy)
{
	struct finding *x;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct finding *v = realloc(f->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		f->v = v;
		f->cap = cap;
	}
	x = &f->v[f->n];
	x->check = strdup(check);
	x->object = strdup(object);
	x->detail = strdup(detail);
	x->remedy = strdup(remedy);
	x->level = level;
	if (!x->check || !x->object || !x->detail || !x->remedy) {
		free(x->check); free(x->object); free(x->detail); free(x->remedy);
		return -1;
	}
	f->n++;
	f->counts[level]++;
	return 0;
}

int findings_add(struct findings *f, const PGresult *res)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++) {
		int level = vlevel_parse(PQgetvalue(res, i, 1));

		if (findings_push(f, PQgetvalue(res, i, 0), level < 0 ? VL_ERROR : (enum vlevel)level,
				  PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), PQgetvalue(res, i, 4)) < 0)
			return -1;
	}
	return 0;
}

void verify_log_ignored(char *const *ignore)
{
	char *const *k;

	for (k = ignore; k != NULL && *k != NULL; k++) {
		struct log_field f[] = { { "FINDING_KEY", *k } };

		log_emit(LOG_INFO, NULL, LOG_FIELDS(f),
			 "verify: finding %s is ignored (verify.ignore): it is neither logged nor counted", *k);
	}
}

int findings_probe_failed(struct findings *f, const PGresult *res)
{
	char detail[768];
	bool timeout = strcmp(db_sqlstate(res), "57014") == 0;

	snprintf(detail, sizeof(detail), "the functional probe did not finish: ERROR %s: %s", db_sqlstate(res),
		 db_message(res));
	return findings_push(f, timeout ? "probe_timeout" : "probe_failed", VL_WARN, "momentum-maintd probe", detail,
			     "a timeout: look for long locks or slow policies on the RLS tables; otherwise fix what "
			     "the error says");
}

bool findings_probe_partial(const struct findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].check, "probe_timeout") == 0 || strcmp(f->v[i].check, "probe_skipped") == 0 ||
		    strcmp(f->v[i].check, "probe_failed") == 0)
			return true;
	return false;
}

void finding_key(const struct finding *x, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%s", x->check, x->object);
}

static void finding_free(struct finding *x)
{
	free(x->check);
	free(x->object);
	free(x->detail);
	free(x->remedy);
}

void findings_ignore(struct findings *f, char *const *ignore)
{
	size_t i, kept = 0;

	for (i = 0; i < f->n; i++) {
		char key[2048];
		bool drop = false;
		char *const *k;

		finding_key(&f->v[i], key, sizeof(key));
		for (k = ignore; k != NULL && *k != NULL && !drop; k++)
			drop = strcmp(*k, key) == 0;
		if (drop) {
			f->counts[f->v[i].level]--;
			f->ignored++;
			finding_free(&f->v[i]);
		} else {
			f->v[kept++] = f->v[i];
		}
	}
	f->n = kept;
}

static int cmp_finding(const void *a, const void *b)
{
	const struct finding *x = a, *y = b;
	int c;

	if (x->level != y->level)
		return (int)x->level - (int)y->level;
	if ((c = strcmp(x->check, y->check)) != 0)
		return c;
	return strcmp(x->object, y->object);
}

void findings_sort(struct findings *f)
{
	if (f->n > 1)
		qsort(f->v, f->n, sizeof(*f->v), cmp_finding);
}

static void json_finding(FILE *out, const struct finding *x, bool lifecycle)
{
	char key[2048];

	finding_key(x, key, sizeof(key));
	fputs("{\"key\": ", out);
	json_fputs(out, key);
	fputs(lifecycle ? ", \"check_name\": " : ", \"check\": ", out);
	json_fputs(out, x->check);
	fputs(", \"level\": ", out);
	json_fputs(out, vlevel_name(x->level));
	fputs(", \"object\": ", out);
	json_fputs(out, x->object);
	fputs(", \"detail\": ", out);
	json_fputs(out, x->detail);
	fputs(", \"remedy\": ", out);
	json_fputs(out, x->remedy);
	fputc('}', out);
}

char *findings_json(const struct findings *f)
{
	char *out = NULL;
	size_t len = 0, i;
	FILE *m = open_memstream(&out, &len);

	if (m == NULL)
		return NULL;
	fputc('[', m);
	for (i = 0; i < f->n; i++) {
		if (i)
			fputs(", ", m);
		json_finding(m, &f->v[i], true);
	}
	fputc(']', m);
	if (fclose(m) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

void findings_summary(const int counts[3], char *buf, size_t size)
{
	if (counts[0] + counts[1] + counts[2] == 0) {
		snprintf(buf, size, "no findings");
		return;
	}
	snprintf(buf, size, "%d error%s, %d warning%s, %d info", counts[0], counts[0] == 1 ? "" : "s",
		 counts[1], counts[1] == 1 ? "" : "s", counts[2]);
}

void findings_free(struct findings *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		finding_free(&f->v[i]);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

void findings_print_text(FILE *out, const struct findings *f)
{
	char summary[128];
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct finding *x = &f->v[i];

		/* object names, messages and remedies come from the database:
		 * one finding stays two lines, whatever they hold */
		fprintf(out, "%-5s ", vlevel_name(x->level));
		fputs_escaped(out, x->check, ESCAPE_LINE);
		fputc(' ', out);
		fputs_escaped(out, x->object, ESCAPE_LINE);
		fputs(": ", out);
		fputs_escaped(out, x->detail, ESCAPE_LINE);
		fputs("\n      fix: ", out);
		fputs_escaped(out, x->remedy, ESCAPE_LINE);
		fputc('\n', out);
	}
	findings_summary(f->counts, summary, sizeof(summary));
	fprintf(out, "%s", summary);
	if (f->ignored)
		fprintf(out, " (%zu ignored by verify.ignore)", f->ignored);
	fputc('\n', out);
}

void findings_print_json(FILE *out, const struct findings *f)
{
	size_t i;

	fputs("{\"findings\": [", out);
	for (i = 0; i < f->n; i++) {
		fputs(i ? ",\n  " : "\n  ", out);
		json_finding(out, &f->v[i], false);
	}
	fprintf(out, "\n], \"summary\": {\"error\": %d, \"warn\": %d, \"info\": %d, \"ignored\": %zu}}\n",
		f->counts[0], f->counts[1], f->counts[2], f->ignored);
}

/* ---- one pass -------------------------------------------------------------- */

/* the daemon's catalog checks end within this (the probe has its own) */
#define VERIFY_CHECKS_TIMEOUT "5min"

void verify_pass_init(struct verify_pass *p, const struct conf *c, bool record_snapshot)
{
	memset(p, 0, sizeof(*p));
	p->record_snapshot = record_snapshot;
	/* the probe's users A and B: not in production's auth.users */
	p->isolation = c->environment == ENV_STAGING || c->environment == ENV_DEVELOPMENT;
	p->ignore = c->verify_ignore;
}

void verify_pass_free(struct verify_pass *p)
{
	findings_free(&p->found);
	free(p->built);
	p->built = NULL;
}

bool verify_pass_complete(const struct verify_pass *p)
{
	return !p->probe_failed && !findings_probe_partial(&p->found);
}

static enum verify_next pass_send(struct verify_pass *p, enum verify_step step, const char *sql, bool cancellable)
{
	p->step = step;
	p->sql = sql;
	p->cancellable = cancellable;
	return sql != NULL ? VERIFY_SEND : VERIFY_NOMEM;
}

enum verify_next verify_pass_start(struct verify_pass *p)
{
	const char *record = verify_sql_record(), *checks = verify_sql_checks(true);

	if (!p->record_snapshot)
		/* drift needs the snapshot the daemon (or "migrate up") records */
		return pass_send(p, VERIFY_SNAPSHOT, "SELECT to_regclass('momentum_maintd.verify_snapshot') IS NOT NULL "
			    "AND to_regclass('momentum_maintd.schema_migrations') IS NOT NULL", false);
	p->drift = true;
	free(p->built);
	p->built = NULL;
	if (record == NULL || checks == NULL ||
	    asprintf(&p->built, "SET statement_timeout = '" VERIFY_CHECKS_TIMEOUT "';\n%s;\n%s", record, checks) < 0)
		p->built = NULL;
	return pass_send(p, VERIFY_CHECKS, p->built, true);
}

static enum verify_next checks_done(struct verify_pass *p, const PGresult *res, bool stopping)
{
	if (findings_add(&p->found, res) < 0)
		return VERIFY_NOMEM;
	if (!p->drift && findings_push(&p->found, "drift_unchecked", VL_INFO, "momentum_maintd.verify_snapshot",
				       "no snapshot of the schema has been recorded, so drift is not checked",
				       "start the daemon (or run \"migrate up\"): it records the snapshot after "
				       "migrating") < 0)
		return VERIFY_NOMEM;
	if (stopping)
		return VERIFY_CANCELLED;
	/* the probe: its transaction is rolled back whatever happens */
	return pass_send(p, VERIFY_PROBE, verify_sql_probe(p->isolation, VERIFY_PROBE_TIMEOUT_MS), true);
}

static enum verify_next probe_done(struct verify_pass *p, const PGresult *res, bool ok, bool connected,
				   bool stopping)
{
	if (ok) {
		p->nomem |= findings_add(&p->found, res) < 0;
	} else if (!connected) {
		return VERIFY_FAILED;
	} else if (!stopping) {
		/* the checks stand; the probe's failure is a finding */
		p->probe_failed = true;
		p->nomem |= findings_probe_failed(&p->found, res) < 0;
	}
	return pass_send(p, VERIFY_ROLLBACK, "ROLLBACK", false);
}

enum verify_next verify_pass_result(struct verify_pass *p, const PGresult *res, bool connected, bool stopping)
{
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	switch (p->step) {
	case VERIFY_SNAPSHOT:
		if (!ok)
			return VERIFY_FAILED;
		p->drift = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		return pass_send(p, VERIFY_CHECKS, verify_sql_checks(p->drift), true);
	case VERIFY_CHECKS:
		return ok ? checks_done(p, res, stopping) : VERIFY_FAILED;
	case VERIFY_PROBE:
		return probe_done(p, res, ok, connected, stopping);
	case VERIFY_ROLLBACK:
		break;
	}
	/* the probe is rolled back (or its connection gone, which rolls back) */
	if (stopping)
		return VERIFY_CANCELLED;
	if (p->nomem)
		return VERIFY_NOMEM;
	findings_ignore(&p->found, p->ignore);
	findings_sort(&p->found);
	return VERIFY_DONE;
}
