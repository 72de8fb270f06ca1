#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "adopt.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "oneshot.h"
#include "sql_text.h"

struct adopt_run;
struct migration;
static void check_statements(struct adopt_run *r, const struct migration *m, const char *recorded);
static void check_flyway_checksum(struct adopt_run *r, const struct migration *m, const char *recorded);

/* Each tool: where it keeps its tracking (resolved with the connection's
 * search_path, as the tool itself does), the statement that reads it as
 * rows of version, name, state, and what the tool recorded of the file's
 * content (src/sql/adopt_*.sql), and how that is compared with the file.
 * Only the table goes through the search_path: every function, operator
 * and type in these statements is pg_catalog's by name. */
static const struct adopt_tool {
	const char *name;
	const char *table;
	const char *sql;
	void (*check_content)(struct adopt_run *r, const struct migration *m, const char *recorded);
} tools[] = {
	{ "supabase", "supabase_migrations.schema_migrations", sql_adopt_supabase, check_statements },
	{ "dbmate", "schema_migrations", sql_adopt_dbmate, NULL },
	{ "golang-migrate", "schema_migrations", sql_adopt_golang_migrate, NULL },
	{ "flyway", "flyway_schema_history", sql_adopt_flyway, check_flyway_checksum },
};

static const struct adopt_tool *find_tool(const char *from)
{
	size_t i;

	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (strcmp(tools[i].name, from) == 0)
			return &tools[i];
	return NULL;
}

bool adopt_tool_known(const char *from)
{
	return from != NULL && find_tool(from) != NULL;
}

/* ---- comparing SQL as two splitters may have cut it ---- */

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* Length of the quoted token at p ('...', E'...', "..."), quotes included;
 * an unterminated one runs to the end. */
static size_t quoted_len(const char *p, bool backslashes)
{
	char q = *p;
	size_t i = 1;

	while (p[i] != '\0') {
		if (backslashes && p[i] == '\\' && p[i + 1] != '\0') {
			i += 2;
			continue;
		}
		if (p[i] == q)
			return i + 1;
		i++;
	}
	return i;
}

/* Length of the dollar-quoted string at p, or 0 when p starts none. */
static size_t dollar_len(const char *p)
{
	size_t tag = 1;
	const char *end;
	char *delim;

	if (isdigit((unsigned char)p[1]))
		return 0;
	while (p[tag] != '\0' && p[tag] != '$' && (isalnum((unsigned char)p[tag]) || p[tag] == '_' ||
						  (unsigned char)p[tag] >= 0x80))
		tag++;
	if (p[tag] != '$')
		return 0;
	delim = strndup(p, tag + 1);
	if (delim == NULL)
		return 0;
	end = strstr(p + tag + 1, delim);
	free(delim);
	return end != NULL ? (size_t)(end - p) + tag + 1 : strlen(p);
}

/* Length of the comment at p, or 0. */
static size_t comment_len(const char *p)
{
	size_t i = 2;
	int depth = 1;

	if (p[0] == '-' && p[1] == '-')
		return strcspn(p, "\n");
	if (p[0] != '/' || p[1] != '*')
		return 0;
	while (p[i] != '\0' && depth > 0) {
		if (p[i] == '/' && p[i + 1] == '*') {
			depth++;
			i += 2;
		} else if (p[i] == '*' && p[i + 1] == '/') {
			depth--;
			i += 2;
		} else {
			i++;
		}
	}
	return i;
}

/* The token at p: a quoted string, a comment or one character. */
static size_t token_len(const char *text, const char *p, bool *comment)
{
	size_t n;

	*comment = false;
	if (*p == '\'' || *p == '"') {
		bool e = *p == '\'' && p > text && (p[-1] == 'E' || p[-1] == 'e') &&
			 (p - 1 == text || !ident_char(p[-2]));

		return quoted_len(p, e);
	}
	if (*p == '$' && (p == text || !ident_char(p[-1])) && (n = dollar_len(p)) > 0)
		return n;
	if ((n = comment_len(p)) > 0) {
		*comment = true;
		return n;
	}
	return 1;
}

char *adopt_normalize_sql(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;
	const char *p = text;
	bool space = false;

	if (out == NULL)
		return NULL;
	if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (*p != '\0') {
		bool comment;
		size_t n = token_len(text, p, &comment);

		if (comment || isspace((unsigned char)*p)) {
			space = true;
		} else if (*p == ';') {
			if (o > out && o[-1] != ';')
				*o++ = ';';
			space = false;
		} else {
			if (space && o > out && o[-1] != ';')
				*o++ = ' ';
			space = false;
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	while (o > out && o[-1] == ';')
		o--;
	*o = '\0';
	return out;
}

/* ---- reading the tool's tracking ---- */

struct adopt_run {
	const struct adopt_tool *tool;
	const struct conf *conf;
	struct oneshot o;
	bool *take;          /* per file of o.set: the tool applied it */
	bool *recorded;      /* per file: already in momentum_maintd.schema_migrations */
	size_t refusals;
};

static void refuse(struct adopt_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct adopt_run *r, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("adopt %s: %s", r->tool->name, msg);
	r->refusals++;
}

/* A version as the daemon numbers files: 1 to 18 digits. */
static bool parse_tool_version(const char *s, int64_t *v)
{
	size_t i;

	*v = 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (!isdigit((unsigned char)s[i]) || i >= MIGRATION_VERSION_MAX_DIGITS)
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return i > 0;
}

static void take_up_to(struct adopt_run *r, int64_t v)
{
	size_t i;

	for (i = 0; i < r->o.set.n && r->o.set.items[i].version <= v; i++)
		r->take[i] = true;
}

/* Where two normalized texts first differ, for the message. */
static void first_difference(const char *a, const char *b, char *out, size_t size)
{
	size_t i = 0, from;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	from = i > 30 ? i - 30 : 0;
	snprintf(out, size, "file: \"...%.60s\", recorded: \"...%.60s\"", a + from, b + from);
}

/* The Supabase CLI kept the statements it ran: the file must still say the
 * same, or adopting would record as applied SQL that never ran. */
static void check_statements(struct adopt_run *r, const struct migration *m, const char *recorded)
{
	char *file = adopt_normalize_sql(m->sql), *rec = adopt_normalize_sql(recorded), where[256];

	if (file == NULL || rec == NULL) {
		refuse(r, "out of memory");
	} else if (strcmp(file, rec) != 0) {
		first_difference(file, rec, where, sizeof(where));
		refuse(r, "%s differs from the statements the Supabase CLI recorded when it applied version %" PRId64
		       " (compared without comments and white space): %s; restore the file as it was applied, or "
		       "put the change in a new migration", m->path, m->version, where);
	}
	free(file);
	free(rec);
}

int32_t adopt_flyway_checksum(const char *text)
{
	uint32_t crc = 0xffffffffu;
	const unsigned char *p = (const unsigned char *)text;
	int k;

	if (strncmp(text, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	for (; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			continue;
		crc ^= *p;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
	}
	return (int32_t)~crc;
}

/* Flyway keeps a checksum of each file it ran: a file edited since would
 * be recorded as applied with SQL that never ran. */
static void check_flyway_checksum(struct adopt_run *r, const struct migration *m, const char *recorded)
{
	int32_t now = adopt_flyway_checksum(m->sql);

	if (strtol(recorded, NULL, 10) != (long)now)
		refuse(r, "%s changed since Flyway applied version %" PRId64 " (its checksum %s, the file's now %" PRId32
		       "); restore the file as it was applied, or put the change in a new migration",
		       m->path, m->version, recorded, now);
}

/* States that refuse the adoption whatever the version. */
static bool refused_state(struct adopt_run *r, const char *ver, const char *label, const char *state)
{
	if (strcmp(state, "wrong-tool") == 0)
		refuse(r, "%s %s golang-migrate's dirty column: it is not %s's table (try migrate adopt %s)",
		       r->tool->table, strcmp(r->tool->name, "dbmate") == 0 ? "has" : "lacks",
		       r->tool->name, strcmp(r->tool->name, "dbmate") == 0 ? "golang-migrate" : "dbmate");
	else if (strcmp(state, "dirty") == 0)
		refuse(r, "version %s is dirty: golang-migrate stopped half-way through it; repair the database by "
		       "hand, mark it clean with golang-migrate's force command, then adopt again", ver);
	else if (strcmp(state, "failed") == 0)
		refuse(r, "%s (version %s) failed (success = false in flyway_schema_history); repair it with "
		       "Flyway (flyway repair, then migrate) before adopting", label, ver ? ver : "none");
	else if (strcmp(state, "repeatable") == 0)
		refuse(r, "%s is a repeatable migration: the daemon has no equivalent; turn it into a versioned "
		       "migration (or leave it to a migration of its own) and remove its row", label);
	else if (strncmp(state, "type ", 5) == 0)
		refuse(r, "%s (version %s) is of %s: only SQL migrations can be adopted", label,
		       ver ? ver : "none", state);
	else
		return false;
	return true;
}

static void check_row(struct adopt_run *r, const PGresult *res, int row)
{
	const char *ver = PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0);
	const char *label = PQgetvalue(res, row, 1), *state = PQgetvalue(res, row, 2);
	const struct migration *m;
	int64_t v;

	if (strcmp(state, "skip") == 0 || refused_state(r, ver, label, state))
		return;
	if (ver == NULL || !parse_tool_version(ver, &v)) {
		refuse(r, "version \"%s\"%s%s is not a whole number of at most %d digits, as the daemon numbers "
		       "its files: rename the file and its version (see README, \"Coming from ...\")",
		       ver ? ver : "", label[0] ? " of " : "", label, MIGRATION_VERSION_MAX_DIGITS);
		return;
	}
	if (strcmp(state, "baseline") == 0) {
		take_up_to(r, v);
		return;
	}
	m = migration_set_find(&r->o.set, v);
	if (m == NULL) {
		refuse(r, "version %s%s%s was applied but has no file in %s (expected %" PRId64 "_NAME.sql)",
		       ver, label[0] ? " " : "", label, r->conf->mig_directory, v);
		return;
	}
	if (strcmp(state, "up-to") == 0)
		take_up_to(r, v);
	else
		r->take[m - r->o.set.items] = true;
	if (!PQgetisnull(res, row, 3) && r->tool->check_content != NULL)
		r->tool->check_content(r, m, PQgetvalue(res, row, 3));
}

/* 0, or an exit code after saying why. */
static int read_tracking(struct adopt_run *r, PGconn *c)
{
	const char *params[1] = { r->tool->table };
	PGresult *res = PQexecParams(c, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", 1, NULL, params, NULL, NULL, 0);
	int i, rc = EX_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("adopt %s: looking for %s: %s", r->tool->name, r->tool->table, db_message(res));
		rc = PQstatus(c) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		refuse(r, "no table %s in this database (search_path: as the connection sets it): nothing that "
		       "%s applied to adopt; nothing changed", r->tool->table, r->tool->name);
		rc = EX_DATAERR;
	}
	PQclear(res);
	if (rc != EX_OK)
		return rc;
	res = PQexec(c, r->tool->sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("adopt %s: reading %s: ERROR %s: %s", r->tool->name, r->tool->table,
			  db_sqlstate(res), db_message(res));
		PQclear(res);
		return PQstatus(c) == CONNECTION_OK ? EX_DATAERR : EX_UNAVAILABLE;
	}
	for (i = 0; i < PQntuples(res); i++)
		check_row(r, res, i);
	PQclear(res);
	return EX_OK;
}

/* Which files the daemon already tracks: adopting twice changes nothing. */
static int read_recorded(struct adopt_run *r, PGconn *c)
{
	PGresult *res = PQexec(c, "SELECT pg_catalog.to_regclass('momentum_maintd.schema_migrations') IS NOT NULL");
	int i;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		return EX_OK;
	}
	PQclear(res);
	res = PQexec(c, "SELECT version, checksum FROM momentum_maintd.schema_migrations");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("reading momentum_maintd.schema_migrations: %s", db_message(res));
		PQclear(res);
		return PQstatus(c) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
	}
	for (i = 0; i < PQntuples(res); i++) {
		const struct migration *m = migration_set_find(&r->o.set, strtoll(PQgetvalue(res, i, 0), NULL, 10));

		if (m != NULL)
			r->recorded[m - r->o.set.items] = true;
	}
	PQclear(res);
	return EX_OK;
}

/* ---- recording ---- */

static int record_one(struct adopt_run *r, PGconn *c, const struct migration *m)
{
	char v[24];
	const char *params[4] = { v, m->name, m->checksum, r->tool->name };
	PGresult *res;
	int rc = EX_OK;

	snprintf(v, sizeof(v), "%" PRId64, m->version);
	res = PQexecParams(c, "INSERT INTO momentum_maintd.schema_migrations (version, name, checksum, duration, applied_by) "
			      "VALUES ($1, $2, $3, '0', current_user OPERATOR(pg_catalog.||) ' (adopted from ' "
			      "OPERATOR(pg_catalog.||) $4 OPERATOR(pg_catalog.||) ')') "
			      "ON CONFLICT (version) DO NOTHING", 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_error("adopt %s: recording %s: %s", r->tool->name, m->name, db_message(res));
		rc = PQstatus(c) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
	}
	PQclear(res);
	return rc;
}

/* One transaction: the bookkeeping where missing, then a row per file. */
static int record_all(struct adopt_run *r, PGconn *c)
{
	size_t i;
	int rc;

	if (!oneshot_exec_ok(c, "BEGIN; SET LOCAL search_path = pg_catalog", "starting the adoption transaction") ||
	    !oneshot_exec_ok(c, sql_migrate_bootstrap, "creating momentum_maintd"))
		goto failed;
	for (i = 0; i < r->o.set.n; i++) {
		if (!r->take[i] || r->recorded[i])
			continue;
		rc = record_one(r, c, &r->o.set.items[i]);
		if (rc != EX_OK) {
			oneshot_exec_ok(c, "ROLLBACK", "rolling back");
			return rc;
		}
	}
	if (!oneshot_exec_ok(c, "COMMIT", "committing the adoption"))
		goto failed;
	return EX_OK;
failed:
	oneshot_exec_ok(c, "ROLLBACK", "rolling back");
	return PQstatus(c) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
}

/* What will be (or was) recorded, and what stays pending; the count of
 * files to record. */
static size_t report_plan(const struct adopt_run *r, bool dry_run)
{
	size_t i, n = 0;
	int64_t newest = -1;

	for (i = 0; i < r->o.set.n; i++) {
		const struct migration *m = &r->o.set.items[i];

		if (!r->take[i] || r->recorded[i])
			continue;
		printf("%s %s as applied (adopted from %s, not run)\n", dry_run ? "would record" : "recorded",
		       m->name, r->tool->name);
		n++;
	}
	for (i = 0; i < r->o.set.n; i++)
		if (r->take[i])
			newest = r->o.set.items[i].version;
	for (i = 0; i < r->o.set.n && r->o.set.items[i].version < newest; i++)
		if (!r->take[i] && !r->recorded[i])
			log_warning("adopt %s: %s is older than the newest migration %s applied but was not applied: "
				    "run and migrate up treat it as out of order (migrations.on_out_of_order)",
				    r->tool->name, r->o.set.items[i].name, r->tool->name);
	return n;
}

static int adopt(struct adopt_run *r, bool dry_run)
{
	PGconn *c = db_pgconn(r->o.db);
	size_t n, tool_applied = 0, i;
	int rc = oneshot_take_lock(&r->o);

	if (rc == EX_OK)
		rc = read_tracking(r, c);
	if (rc == EX_OK && r->refusals > 0) {
		log_error("adopt %s: refused (%zu problem(s) above); nothing changed", r->tool->name, r->refusals);
		rc = EX_DATAERR;
	}
	if (rc == EX_OK)
		rc = read_recorded(r, c);
	if (rc != EX_OK)
		return rc;
	for (i = 0; i < r->o.set.n; i++)
		tool_applied += r->take[i];
	n = report_plan(r, dry_run);
	if (n == 0) {
		printf("nothing to adopt: the %zu migration(s) %s applied are already recorded\n", tool_applied,
		       r->tool->name);
		return EX_OK;
	}
	if (dry_run) {
		printf("dry run: %zu migration(s) would be recorded; nothing changed\n", n);
		return EX_OK;
	}
	rc = record_all(r, c);
	if (rc != EX_OK)
		return rc;
	oneshot_record_snapshot(c);
	for (i = 0, tool_applied = 0; i < r->o.set.n; i++)
		tool_applied += !r->take[i] && !r->recorded[i];
	printf("adopted %zu migration(s) from %s; %zu file(s) left pending for run or migrate up\n", n,
	       r->tool->name, tool_applied);
	return EX_OK;
}

int cli_migrate_adopt(const struct conf *conf, const char *password, const char *from, bool dry_run)
{
	struct adopt_run r = { .tool = find_tool(from), .conf = conf };
	int rc;

	if (r.tool == NULL) {
		log_error("migrate adopt: unknown tool '%s' (known: " ADOPT_TOOLS ")", from);
		return EX_USAGE;
	}
	rc = oneshot_open(&r.o, conf, password);
	if (rc == 0) {
		r.take = calloc(r.o.set.n + 1, sizeof(bool));
		r.recorded = calloc(r.o.set.n + 1, sizeof(bool));
		rc = r.take && r.recorded ? adopt(&r, dry_run) : EX_SOFTWARE;
	}
	free(r.take);
	free(r.recorded);
	oneshot_close(&r.o);
	return rc;
}
