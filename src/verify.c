#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "checks.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
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

/* Objids of the daemon's advisory locks (MIGRATION_LOCK_CLASSID): one
 * recorder of the snapshot at a time (record.sql, a transaction lock); one
 * pass logging the probe in at a time (probe_login.sql, a session lock) */
#define RECORD_LOCK      MIGRATION_LOCK_CLASSID ", 100"
#define PROBE_LOGIN_LOCK MIGRATION_LOCK_CLASSID ", 101"

/* The texts are built once and kept for the life of the process. */
const char *verify_sql_record(void)
{
	static char *sql;

	if (sql == NULL)
		sql = subst(sql_record, "MANIFEST", sql_manifest, "FINGERPRINT", sql_fingerprint,
			    "LOCK", RECORD_LOCK, (char *)NULL);
	return sql;
}

/* verify.schemas ("a, b") as a SQL array, NULL when it is empty (conf.c
 * let only plain identifiers through: nothing to quote) */
static char *schemas_literal(const char *schemas)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	const char *p = schemas;
	bool first = true;

	if (schemas == NULL || schemas[0] == '\0')
		return strdup("NULL");
	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	fputs("ARRAY[", f);
	while (*p != '\0') {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n > 0) {
			fprintf(f, "%s'%.*s'", first ? "" : ", ", (int)n, p);
			first = false;
		}
		p += n;
	}
	fputs("]", f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* exposed_schemas.sql for verify.schemas ("" when not set): the text[]
 * expression of the schemas the API exposes, shared by lints and probe */
static char *exposed_sql(const char *schemas)
{
	char *lit = schemas_literal(schemas), *out;

	if (lit == NULL)
		return NULL;
	out = subst(sql_exposed_schemas, "SCHEMAS", lit, (char *)NULL);
	free(lit);
	return out;
}

/* when migrations last ran, for unused_index (lints_perf.sql) */
#define VERIFY_MIGRATED_AT "(SELECT max(applied_at) FROM momentum_maintd.schema_migrations)"

const char *verify_sql_checks(bool drift, const char *schemas)
{
	static char *sql[2], *built_for[2];

	if (schemas == NULL)
		schemas = "";
	if (sql[drift] == NULL || strcmp(built_for[drift], schemas) != 0) {
		char *d = NULL, *part = NULL, *lints = NULL, *perf, *exposed = exposed_sql(schemas);

		free(sql[drift]);
		sql[drift] = NULL;
		free(built_for[drift]);
		built_for[drift] = strdup(schemas);
		lints = exposed ? subst(sql_lints, "EXPOSED", exposed, (char *)NULL) : NULL;
		free(exposed);
		if (drift && lints) {
			d = subst(sql_drift, "MANIFEST", sql_manifest, "FINGERPRINT", sql_fingerprint,
				  (char *)NULL);
			part = d ? subst("UNION ALL SELECT * FROM (\n@D@\n) d\n", "D", d, (char *)NULL) : NULL;
			free(d);
		}
		/* no merge joins: drift's full join of manifest and snapshot (thousands
		 * of rows each) is cheaper hashed than sorted on their names */
		/* the bookkeeping exists when drift is checked */
		perf = subst(sql_lints_perf, "MIGRATED_AT", drift ? VERIFY_MIGRATED_AT : "NULL::timestamptz",
			     (char *)NULL);
		if (lints != NULL && perf != NULL && built_for[drift] != NULL && (!drift || part != NULL))
			sql[drift] = subst("SET search_path = ''; SET jit = off; SET enable_mergejoin = off;\n"
					   "SELECT * FROM (\n@LINTS@\nUNION ALL SELECT * FROM (\n@PERF@\n) p\n@DRIFT@)"
					   " f(check_name, level, object, detail, remedy)\n"
					   "ORDER BY CASE level WHEN 'error' THEN 0 WHEN 'warn' THEN 1 ELSE 2 END, 1, 3",
					   "LINTS", lints, "PERF", perf, "DRIFT", part ? part : "", (char *)NULL);
		free(perf);
		free(lints);
		free(part);
		if (sql[drift] == NULL) {
			free(built_for[drift]);
			built_for[drift] = NULL;
		}
	}
	return sql[drift];
}

const char *verify_sql_probe(bool isolation, long timeout_ms, const char *schemas)
{
	static char *sql[2], *built_schemas[2];
	static long built_for[2];

	if (schemas == NULL)
		schemas = "";
	if (sql[isolation] == NULL || built_for[isolation] != timeout_ms || strcmp(built_schemas[isolation], schemas) != 0) {
		char t[32], *exposed = exposed_sql(schemas), *probe;

		free(sql[isolation]);
		sql[isolation] = NULL;
		free(built_schemas[isolation]);
		built_schemas[isolation] = strdup(schemas);
		snprintf(t, sizeof(t), "%ld", timeout_ms);
		probe = exposed ? subst(sql_probe, "ISOLATION", isolation ? "true" : "false", "EXPOSED", exposed,
					(char *)NULL) : NULL;
		free(exposed);
		if (probe != NULL && built_schemas[isolation] != NULL)
			sql[isolation] = subst("BEGIN;\n"
					       "SET LOCAL statement_timeout = @TIMEOUT@; SET LOCAL lock_timeout = '2s';\n"
					       "SET LOCAL search_path = ''; SET LOCAL jit = off;\n"
					       "@PROBE@;\n"
					       "SELECT x.check_name, x.level, x.object, x.detail, x.remedy\n"
					       "FROM jsonb_to_recordset(current_setting('momentum_maintd.probe')::jsonb)\n"
					       "  AS x(check_name text, level text, object text, detail text, remedy text)",
					       "TIMEOUT", t, "PROBE", probe, (char *)NULL);
		free(probe);
		built_for[isolation] = timeout_ms;
		if (sql[isolation] == NULL) {
			free(built_schemas[isolation]);
			built_schemas[isolation] = NULL;
		}
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

/* Checks renamed to splinter's name: a verify.ignore key that uses the old
 * name still silences the finding. */
static const char *const renamed[][2] = {
	{ "security_definer_search_path", "function_search_path_mutable" },
	{ "unindexed_foreign_key", "unindexed_foreign_keys" },
};

static bool ignored_by_old_name(const char *key, const struct finding *x)
{
	size_t i, n;

	for (i = 0; i < sizeof(renamed) / sizeof(renamed[0]); i++) {
		n = strlen(renamed[i][0]);
		if (strcmp(x->check, renamed[i][1]) == 0 && strncmp(key, renamed[i][0], n) == 0 && key[n] == ':' &&
		    strcmp(key + n + 1, x->object) == 0)
			return true;
	}
	return false;
}

void verify_log_ignored(char *const *ignore)
{
	char *const *k;

	for (k = ignore; k != NULL && *k != NULL; k++) {
		struct log_field f[] = { { "FINDING_KEY", *k } };

		size_t i;

		log_emit(LOG_INFO, NULL, LOG_FIELDS(f),
			 "verify: finding %s is ignored (verify.ignore): it is neither logged nor counted", *k);
		for (i = 0; i < sizeof(renamed) / sizeof(renamed[0]); i++)
			if (strncmp(*k, renamed[i][0], strlen(renamed[i][0])) == 0 && (*k)[strlen(renamed[i][0])] == ':')
				log_emit(LOG_NOTICE, NULL, LOG_FIELDS(f), "verify: check %s is now called %s (as in "
					 "Supabase's advisor): the key %s still works; write %s%s", renamed[i][0],
					 renamed[i][1], *k, renamed[i][1], *k + strlen(renamed[i][0]));
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
			drop = strcmp(*k, key) == 0 || ignored_by_old_name(*k, &f->v[i]);
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
	fputs(", \"categories\": [", out);
	json_fputs(out, check_categories(x->check));
	fputs("], \"facing\": ", out);
	json_fputs(out, check_facing(x->check));
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
		fprintf(out, "%-5s [%s %s] ", vlevel_name(x->level), check_categories(x->check), check_facing(x->check));
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

/* ---- the probe's connection ------------------------------------------------- */

static void conninfo_put(FILE *f, const char *keyword, const char *value)
{
	const char *q;

	fprintf(f, "%s='", keyword);
	for (q = value; *q != '\0'; q++) {
		if (*q == '\'' || *q == '\\')
			fputc('\\', f);
		fputc(*q, f);
	}
	fputs("' ", f);
}

static bool conninfo_sets(const PQconninfoOption *opts, const char *keyword)
{
	for (; opts != NULL && opts->keyword != NULL; opts++)
		if (opts->val != NULL && strcmp(opts->keyword, keyword) == 0)
			return true;
	return false;
}

char *verify_probe_conninfo(const char *main, const char *probe, const char *user)
{
	static const char *const inherited[] = { "host", "hostaddr", "port", "dbname", NULL };
	PQconninfoOption *m = PQconninfoParse(main, NULL), *q = PQconninfoParse(probe, NULL), *o;
	char *out = NULL;
	size_t len = 0, i;
	FILE *f = m && q ? open_memstream(&out, &len) : NULL;

	if (f != NULL) {
		for (o = m; o->keyword != NULL; o++)
			for (i = 0; inherited[i] != NULL; i++)
				if (o->val != NULL && strcmp(o->keyword, inherited[i]) == 0 &&
				    !conninfo_sets(q, o->keyword))
					conninfo_put(f, o->keyword, o->val);
		for (o = q; o->keyword != NULL; o++)
			if (o->val != NULL && !(user != NULL && strcmp(o->keyword, "user") == 0))
				conninfo_put(f, o->keyword, o->val);
		if (user != NULL)
			conninfo_put(f, "user", user);
		if (!conninfo_sets(q, "application_name"))
			conninfo_put(f, "application_name", "momentum-maintd probe");
		/* a backend whose client went away (a killed "verify") ends, even
		 * in a loop that catches the cancel */
		if (!conninfo_sets(q, "options"))
			conninfo_put(f, "options", "-c client_connection_check_interval=2000");
		if (fclose(f) != 0) {
			free(out);
			out = NULL;
		}
	}
	PQconninfoFree(m);
	PQconninfoFree(q);
	return out;
}

/* The first line of a password file (conf.c checked its mode and owner);
 * NULL with err set. */
static char *read_password_file(const char *path, char *err, size_t size)
{
	char buf[1024], *out;
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		snprintf(err, size, "verify.probe_password_file: cannot read \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	out = n > 0 ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof(buf));
	if (out == NULL)
		snprintf(err, size, "verify.probe_password_file: \"%s\" %s", path, n ? "cannot be read: out of memory"
			 : "is empty");
	return out;
}

static void forget(char **secret)
{
	if (*secret != NULL) {
		explicit_bzero(*secret, strlen(*secret));
		free(*secret);
		*secret = NULL;
	}
}

/* A new random password for the login, and the statement that sets it
 * (as a SCRAM verifier); -1 when there is no randomness or memory. */
static int login_statement(struct verify_pass *p)
{
	unsigned char raw[24];
	char hex[2 * sizeof(raw) + 1], *verifier;
	size_t i;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	forget(&p->probe_password);
	p->probe_password = strdup(hex);
	explicit_bzero(hex, sizeof(hex));
	verifier = p->probe_password && p->main
		? PQencryptPasswordConn(p->main, p->probe_password, VERIFY_PROBE_LOGIN, "scram-sha-256") : NULL;
	if (verifier == NULL || strpbrk(verifier, "'\\") != NULL) {
		PQfreemem(verifier);
		return -1;
	}
	{
		char literal[512];

		snprintf(literal, sizeof(literal), "'%s'", verifier);
		PQfreemem(verifier);
		free(p->login_sql);
		p->login_sql = subst(sql_probe_login, "VERIFIER", literal, "LOCK", PROBE_LOGIN_LOCK,
				     (char *)NULL);
	}
	return p->login_sql ? 0 : -1;
}

/* ---- one pass -------------------------------------------------------------- */

/* the daemon's catalog checks end within this (the probe has its own) */
#define VERIFY_CHECKS_TIMEOUT "5min"

void verify_pass_init(struct verify_pass *p, const struct conf *c, bool record_snapshot, PGconn *main)
{
	const char *probe = c->verify_probe_conninfo, *pwfile = c->verify_probe_password_file;
	char err[512];

	memset(p, 0, sizeof(*p));
	p->main_step = p->probe_step = VERIFY_OVER;
	p->main_told = p->probe_told = true;
	p->record_snapshot = record_snapshot;
	/* the probe's users A and B: not in production's auth.users */
	p->isolation = c->environment == ENV_STAGING || c->environment == ENV_DEVELOPMENT;
	p->ignore = c->verify_ignore;
	p->schemas = c->verify_schemas;
	p->main = main;
	p->probe_timeout_ms = (long)c->verify_probe_timeout_ms;
	p->make_login = probe[0] == '\0';
	p->probe_conninfo = verify_probe_conninfo(c->db_conninfo, probe, p->make_login ? VERIFY_PROBE_LOGIN : NULL);
	if (p->probe_conninfo == NULL)
		p->nomem = true;
	if (!p->make_login && pwfile[0] != '\0' && (p->probe_password = read_password_file(pwfile, err, sizeof(err))) == NULL)
		p->probe_error = strdup(err);
}

void verify_pass_free(struct verify_pass *p)
{
	findings_free(&p->found);
	findings_free(&p->probe_found);
	free(p->login_sql);
	p->login_sql = NULL;
	free(p->checks_sql);
	p->checks_sql = NULL;
	free(p->unlock_sql);
	p->unlock_sql = NULL;
	free(p->probe_conninfo);
	p->probe_conninfo = NULL;
	forget(&p->probe_password);
	free(p->probe_error);
	p->probe_error = NULL;
}

bool verify_pass_complete(const struct verify_pass *p)
{
	return !p->probe_failed && !findings_probe_partial(&p->found);
}

/* The next step on one connection, not yet given to the driver.  After a
 * shutdown, only the probe's ROLLBACK is still sent. */
static void go(struct verify_pass *p, bool on_probe, enum verify_step step)
{
	if (p->stopping && step != VERIFY_ROLLBACK && step != VERIFY_AWAIT_LOGIN)
		step = VERIFY_OVER;
	if (on_probe) {
		p->probe_step = step;
		p->probe_told = step == VERIFY_OVER || step == VERIFY_AWAIT_LOGIN;
	} else {
		p->main_step = step;
		p->main_told = step == VERIFY_OVER || step == VERIFY_AWAIT_PROBE;
	}
}

/* The main connection's checks: a pass that records the snapshot goes
 * straight to them; another first asks whether there is one for drift. */
static void go_check(struct verify_pass *p)
{
	go(p, false, p->record_snapshot ? VERIFY_CHECKS : VERIFY_SNAPSHOT);
}

/* The probe does not run (any more) this pass: its absent findings prove
 * nothing. */
static void probe_not_run(struct verify_pass *p, const char *check, enum vlevel level, const char *detail,
			  const char *remedy)
{
	p->probe_failed = true;
	p->nomem |= findings_push(&p->probe_found, check, level, "momentum-maintd probe", detail, remedy) < 0;
	go(p, true, VERIFY_OVER);
}

enum verify_next verify_pass_start(struct verify_pass *p)
{
	if (p->nomem)
		return VERIFY_NOMEM;
	/* the login first: the probe's connection waits for it */
	if (p->probe_error != NULL) {
		probe_not_run(p, "probe_failed", VL_WARN, p->probe_error,
			      "make the file readable by the daemon's user only (chmod 600), with the password on its "
			      "first line");
		go_check(p);
	} else if (p->make_login) {
		if (login_statement(p) < 0)
			return VERIFY_NOMEM;
		go(p, true, VERIFY_AWAIT_LOGIN);
		go(p, false, VERIFY_LOGIN);
	} else {
		go(p, true, VERIFY_CONNECT);
		go_check(p);
	}
	return verify_pass_next(p);
}

/* The login's lock (probe_login.sql), let go of before the statement that
 * follows the probe's login */
#define LOGIN_UNLOCK_SQL "SELECT pg_catalog.pg_advisory_unlock(" PROBE_LOGIN_LOCK ");\n"

static const char *step_sql(struct verify_pass *p);

/* The statement of the driver's connection's step; NULL on ENOMEM. */
static const char *main_sql(struct verify_pass *p)
{
	const char *sql = step_sql(p);

	if (sql == NULL || !p->login_locked)
		return sql;
	p->login_locked = false;
	free(p->unlock_sql);
	if (asprintf(&p->unlock_sql, LOGIN_UNLOCK_SQL "%s", sql) < 0)
		p->unlock_sql = NULL;
	return p->unlock_sql;
}

static const char *step_sql(struct verify_pass *p)
{
	const char *record, *checks;

	switch (p->main_step) {
	case VERIFY_LOGIN:
		return p->login_sql;
	case VERIFY_SNAPSHOT:
		/* drift needs the snapshot the daemon (or "migrate up") records */
		return "SELECT pg_catalog.to_regclass('momentum_maintd.verify_snapshot') IS NOT NULL "
			"AND pg_catalog.to_regclass('momentum_maintd.schema_migrations') IS NOT NULL";
	case VERIFY_CHECKS:
		if (!p->record_snapshot)
			return verify_sql_checks(p->drift, p->schemas);
		p->drift = true;
		record = verify_sql_record();
		checks = verify_sql_checks(true, p->schemas);
		free(p->checks_sql);
		p->checks_sql = NULL;
		if (record == NULL || checks == NULL ||
		    asprintf(&p->checks_sql, "SET statement_timeout = '" VERIFY_CHECKS_TIMEOUT "';\n%s;\n%s",
			     record, checks) < 0)
			p->checks_sql = NULL;
		return p->checks_sql;
	default:
		return NULL;
	}
}

/* The findings are complete: the checks', then the probe's, ignored ones
 * dropped, sorted. */
static enum verify_next pass_end(struct verify_pass *p)
{
	size_t i;

	if (p->stopping)
		return VERIFY_CANCELLED;
	for (i = 0; i < p->probe_found.n && !p->nomem; i++) {
		const struct finding *x = &p->probe_found.v[i];

		p->nomem |= findings_push(&p->found, x->check, x->level, x->object, x->detail, x->remedy) < 0;
	}
	findings_free(&p->probe_found);
	if (p->nomem)
		return VERIFY_NOMEM;
	findings_ignore(&p->found, p->ignore);
	findings_sort(&p->found);
	return VERIFY_DONE;
}

enum verify_next verify_pass_next(struct verify_pass *p)
{
	/* the probe's connection first: its line is the longer one */
	if (!p->probe_told) {
		p->probe_told = true;
		if (p->probe_step == VERIFY_CONNECT)
			return VERIFY_CONNECT_PROBE;
		p->on_probe = true;
		p->cancellable = p->probe_step == VERIFY_PROBE;
		p->sql = p->probe_step == VERIFY_ROLLBACK ? "ROLLBACK"
			: verify_sql_probe(p->isolation, p->probe_timeout_ms, p->schemas);
		if (p->sql != NULL)
			return VERIFY_SEND;
		/* (said when the checks are over: the driver's connection is
		 * not left with a statement running) */
		p->nomem = true;
		go(p, true, VERIFY_OVER);
	}
	if (!p->main_told) {
		p->main_told = true;
		p->on_probe = false;
		p->cancellable = p->main_step == VERIFY_CHECKS;
		p->sql = main_sql(p);
		return p->sql != NULL ? VERIFY_SEND : VERIFY_NOMEM;
	}
	if (p->main_step != VERIFY_OVER || p->probe_step != VERIFY_OVER)
		return VERIFY_WAIT;
	return pass_end(p);
}

#define PROBE_LOGIN_SQL \
	"CREATE ROLE " VERIFY_PROBE_LOGIN " LOGIN NOINHERIT PASSWORD '...'; " \
	"GRANT anon, authenticated, service_role TO " VERIFY_PROBE_LOGIN "; " \
	"then set verify.probe_conninfo = \"user=" VERIFY_PROBE_LOGIN "\" and verify.probe_password_file " \
	"(or let the daemon's role create roles: it then makes this login itself)"

static void login_done(struct verify_pass *p, const PGresult *res, bool ok)
{
	char detail[768];

	if (ok) {
		/* no other pass changes the password before the probe used it */
		p->made_login = p->login_locked = true;
		go(p, false, VERIFY_AWAIT_PROBE);
		go(p, true, VERIFY_CONNECT);
		return;
	}
	go_check(p);
	forget(&p->probe_password);
	if (strcmp(db_sqlstate(res), "MMD04") == 0) {
		probe_not_run(p, "probe_failed", VL_WARN, db_message(res),
			      "look for a verification pass that does not end (pg_stat_activity, application_name "
			      "momentum-maintd)");
		return;
	}
	snprintf(detail, sizeof(detail), "the probe runs policies and triggers as an unprivileged login of its "
		 "own, and there is none: verify.probe_conninfo is not set, and %s; the lints and drift checks "
		 "ran", db_message(res));
	probe_not_run(p, "probe_unchecked", VL_INFO, detail, PROBE_LOGIN_SQL);
}

static void checks_done(struct verify_pass *p, const PGresult *res)
{
	go(p, false, VERIFY_OVER);
	if (findings_add(&p->found, res) < 0)
		p->nomem = true;
	else if (!p->drift)
		p->nomem |= findings_push(&p->found, "drift_unchecked", VL_INFO, "momentum_maintd.verify_snapshot",
					  "no snapshot of the schema has been recorded, so drift is not checked",
					  "start the daemon (or run \"migrate up\"): it records the snapshot after "
					  "migrating") < 0;
}

static void probe_done(struct verify_pass *p, const PGresult *res, bool ok, bool connected)
{
	if (ok) {
		p->nomem |= findings_add(&p->probe_found, res) < 0;
	} else if (!p->stopping) {
		/* the checks stand; the probe's failure is a finding */
		p->probe_failed = true;
		p->nomem |= findings_probe_failed(&p->probe_found, res) < 0;
	}
	/* its connection gone rolled it back */
	go(p, true, connected ? VERIFY_ROLLBACK : VERIFY_OVER);
}

enum verify_next verify_pass_result(struct verify_pass *p, bool on_probe, const PGresult *res, bool connected)
{
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	/* each connection's result answers that connection's own step */
	switch (on_probe ? p->probe_step : p->main_step) {
	case VERIFY_LOGIN:
		if (!ok && !connected)
			return VERIFY_FAILED;
		login_done(p, res, ok);
		break;
	case VERIFY_SNAPSHOT:
		if (!ok)
			return VERIFY_FAILED;
		p->drift = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		go(p, false, VERIFY_CHECKS);
		break;
	case VERIFY_CHECKS:
		if (!ok)
			return VERIFY_FAILED;
		checks_done(p, res);
		break;
	case VERIFY_PROBE:
		probe_done(p, res, ok, connected);
		break;
	case VERIFY_ROLLBACK:
		go(p, true, VERIFY_OVER);
		break;
	case VERIFY_AWAIT_LOGIN:
	case VERIFY_AWAIT_PROBE:
	case VERIFY_CONNECT:
	case VERIFY_OVER:
		/* nothing was sent there */
		break;
	}
	return verify_pass_next(p);
}

enum verify_next verify_pass_connected(struct verify_pass *p, bool ok, const char *error)
{
	char detail[768];

	/* the password did its work: it is not kept, and another pass may
	 * change it */
	forget(&p->probe_password);
	if (p->main_step == VERIFY_AWAIT_PROBE)
		go_check(p);
	if (ok) {
		/* the probe: its transaction is rolled back whatever happens */
		go(p, true, VERIFY_PROBE);
	} else {
		snprintf(detail, sizeof(detail), "cannot connect as the probe's login: %s", error);
		probe_not_run(p, "probe_failed", VL_WARN, detail,
			      "check verify.probe_conninfo and verify.probe_password_file");
	}
	return verify_pass_next(p);
}

enum verify_next verify_pass_probe_down(struct verify_pass *p, const char *error)
{
	char detail[768];

	if (p->probe_step == VERIFY_ROLLBACK) {
		go(p, true, VERIFY_OVER);
	} else {
		snprintf(detail, sizeof(detail), "the probe's connection broke: %s", error);
		probe_not_run(p, "probe_failed", VL_WARN, detail, "check the server's log");
	}
	return verify_pass_next(p);
}

void verify_pass_stop(struct verify_pass *p)
{
	p->stopping = true;
	/* what is not sent yet is not sent (the login's lock goes with the
	 * session, or with the job's end) */
	if (!p->main_told || p->main_step == VERIFY_AWAIT_PROBE)
		go(p, false, VERIFY_OVER);
	if (!p->probe_told && p->probe_step != VERIFY_ROLLBACK)
		go(p, true, VERIFY_OVER);
}
