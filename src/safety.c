#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <pg_query.h>

#include "safety.h"
#include "sqlsplit.h"

const char *const safety_checks[] = {
	"create_index_not_concurrently",
	"alter_column_type",
	"add_column_not_null_no_default",
	"add_constraint_not_valid",
	"set_not_null",
	"volatile_default",
	"rename_column",
	"rename_table",
	"drop_column",
	"drop_table",
	NULL,
};

int safety_check_index(const char *name, size_t len)
{
	int i;

	for (i = 0; safety_checks[i] != NULL; i++)
		if (strlen(safety_checks[i]) == len && strncmp(safety_checks[i], name, len) == 0)
			return i;
	return -1;
}

/* ---- libpg_query's parse tree, read with json-c ----------------------------
 * An expression nests three or four JSON levels per level of the SQL, and
 * libpg_query accepts some 5000 nested calls or subscripts (its parser stack
 * is 10000 deep), more for chains such as 1+1+... or x::int::int...  json-c's
 * tokener keeps its own stack (no recursion) of this many levels; a deeper
 * tree is refused by it (json_tokener_error_depth) and its statement is
 * reported unchecked (safety_report.unchecked).  The checks below recurse
 * (volatile_call) at most this deep. */
#define TREE_MAX_DEPTH 10000

static struct json_object *jparse(struct json_tokener *tok, const char *text)
{
	size_t len = strlen(text);

	if (len > INT_MAX)
		return NULL;
	json_tokener_reset(tok);
	return json_tokener_parse_ex(tok, text, (int)len);
}

/* j's member key; NULL if j is no object, has no such member or it is null */
static struct json_object *jget(struct json_object *j, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(j, key, &v) ? v : NULL;
}

/* the number of j's elements: 0 if j is no array */
static size_t jlen(struct json_object *j)
{
	return json_object_is_type(j, json_type_array) ? json_object_array_length(j) : 0;
}

static struct json_object *jat(struct json_object *j, size_t i)
{
	return json_object_array_get_idx(j, i);
}

static const char *jstr(struct json_object *j, const char *key)
{
	struct json_object *v = jget(j, key);

	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool jtrue(struct json_object *j, const char *key)
{
	struct json_object *v = jget(j, key);

	return json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

static bool jis(struct json_object *j, const char *key, const char *value)
{
	const char *s = jstr(j, key);

	return s != NULL && strcmp(s, value) == 0;
}

/* The last {"String":{"sval":...}} of a list such as funcname or a type's
 * names. */
static const char *last_name(struct json_object *list)
{
	const char *s = NULL;
	size_t i;

	for (i = 0; i < jlen(list); i++) {
		const char *v = jstr(jget(jat(list, i), "String"), "sval");

		if (v != NULL)
			s = v;
	}
	return s;
}

/* ---- the checks ------------------------------------------------------------ */

struct table_name {
	const char *schema, *name;
};

/* A CHECK (col IS NOT NULL) this file added: once validated, SET NOT NULL
 * on col uses it instead of scanning. */
struct not_null_check {
	struct table_name table;
	const char *conname;          /* NULL when unnamed */
	const char *column;
	bool validated;
	size_t validated_in;          /* the statement (checker.nstmt) that validated it */
};

struct checker {
	struct safety_report *out;
	const struct sql_script *script;
	int line;
	size_t nstmt;                 /* statements checked so far */
	struct table_name *created;   /* tables this file created so far */
	size_t ncreated;
	struct not_null_check *checks; /* CHECK (col IS NOT NULL) added so far */
	size_t nchecks;
	bool oom;
};

/* Names as the parser gives them (unquoted ones folded to lower case),
 * schema as written: an unqualified name matches only an unqualified one
 * (search_path may resolve them differently: a temp table, another
 * schema), a qualified one only the same qualification. */
static bool same_table(const struct table_name *a, const char *schema, const char *name)
{
	return strcmp(a->name, name) == 0 && strcmp(a->schema, schema) == 0;
}

static bool listed(const struct table_name *list, size_t n, const char *schema, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (same_table(&list[i], schema, name))
			return true;
	return false;
}

static void remember(struct checker *c, struct table_name **list, size_t *n, struct json_object *rel)
{
	const char *name = jstr(rel, "relname");
	struct table_name *l;

	if (name == NULL)
		return;
	if ((l = realloc(*list, (*n + 1) * sizeof(*l))) == NULL) {
		c->oom = true;
		return;
	}
	*list = l;
	l[*n].schema = jstr(rel, "schemaname") ? jstr(rel, "schemaname") : "";
	l[*n].name = name;
	(*n)++;
}

static void add(struct checker *c, const char *check, const char *schema, const char *table,
		const char *column, const char *safe, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static void add(struct checker *c, const char *check, const char *schema, const char *table,
		const char *column, const char *safe, const char *fmt, ...)
{
	struct safety_finding *f, *items;
	va_list ap;
	char what[512];
	int idx = safety_check_index(check, strlen(check));

	if (table == NULL || idx < 0)
		return;
	if (schema == NULL)
		schema = "";
	if (listed(c->created, c->ncreated, schema, table))
		return;
	items = realloc(c->out->items, (c->out->n + 1) * sizeof(*items));
	if (items == NULL) {
		c->oom = true;
		return;
	}
	c->out->items = items;
	f = &items[c->out->n];
	memset(f, 0, sizeof(*f));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	f->check = safety_checks[idx];
	f->line = c->line;
	f->schema = strdup(schema);
	f->table = strdup(table);
	f->column = column ? strdup(column) : NULL;
	f->what = strdup(what);
	f->safe = safe;
	f->allowed = idx >= 0 && (c->script->allow_unsafe & (1u << idx)) != 0;
	f->rows = -1;
	c->out->n++;
	if (f->schema == NULL || f->table == NULL || (column && f->column == NULL) || f->what == NULL)
		c->oom = true;
}

/* Functions whose value differs per row: as a new column's default they
 * make ALTER TABLE ADD COLUMN fill every row, rewriting the table.  (A
 * stable one such as now() is evaluated once and stored as the default
 * for the existing rows: no rewrite.) */
static const char *const volatile_functions[] = {
	"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
	"clock_timestamp", "timeofday", "nextval", "gen_random_bytes", "random_normal", "setseed",
	NULL,
};

static const char *volatile_call(struct json_object *j)
{
	size_t i;

	if (json_object_is_type(j, json_type_object)) {
		struct json_object *call = jget(j, "FuncCall");
		const char *name = call ? last_name(jget(call, "funcname")) : NULL;

		for (i = 0; name != NULL && volatile_functions[i] != NULL; i++)
			if (strcmp(name, volatile_functions[i]) == 0)
				return name;
		json_object_object_foreach(j, key, member) {
			const char *v = volatile_call(member);

			(void)key;
			if (v != NULL)
				return v;
		}
	}
	for (i = 0; i < jlen(j); i++) {
		const char *v = volatile_call(jat(j, i));

		if (v != NULL)
			return v;
	}
	return NULL;
}

static bool is_serial(const char *type)
{
	static const char *const serials[] = { "serial", "serial2", "serial4", "serial8", "smallserial",
					       "bigserial", NULL };
	size_t i;

	for (i = 0; type != NULL && serials[i] != NULL; i++)
		if (strcmp(type, serials[i]) == 0)
			return true;
	return false;
}

#define SAFE_INDEX "CREATE INDEX CONCURRENTLY in a file with \"-- momentum-maintd: no-transaction\""
#define SAFE_INDEX_CONSTRAINT "CREATE UNIQUE INDEX CONCURRENTLY (a no-transaction file), then ADD " \
	"CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX)"
#define SAFE_COLUMN_INDEX "add the column without it, CREATE UNIQUE INDEX CONCURRENTLY (a no-transaction " \
	"file), then ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX)"
#define SAFE_COLUMN_CONSTRAINT "add the column without it, then ADD CONSTRAINT ... NOT VALID and VALIDATE " \
	"CONSTRAINT in a later migration (a constraint declared with the column cannot be NOT VALID)"
#define SAFE_EXCLUSION "an exclusion constraint always builds its index under the lock: build it on a " \
	"new table, or in a maintenance window"
#define SAFE_TYPE "add a new column of the new type, backfill it in batches, switch the application, " \
	"then drop the old column"
#define SAFE_NOT_NULL_COLUMN "add the column with a constant DEFAULT (no rewrite since PostgreSQL 11), " \
	"or nullable first, backfill, then add the NOT NULL"
#define SAFE_CONSTRAINT "ADD CONSTRAINT ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a " \
	"later migration (it does not block writes)"
#define SAFE_SET_NOT_NULL "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT c, " \
	"then SET NOT NULL (it uses the validated check, no scan) and drop c"
#define SAFE_VOLATILE "add the column without a default (or with a constant one), backfill it in " \
	"batches, then SET DEFAULT for new rows"
#define SAFE_RENAME_COLUMN "add the new column, write both, move the readers, then drop the old one " \
	"in a later release"
#define SAFE_RENAME_TABLE "create a view under the old name (or rename in a release where no code " \
	"reads the old name)"
#define SAFE_DROP "release code that no longer reads it first, then drop it in a later migration"

static void remember_check(struct checker *c, const char *schema, const char *table, struct json_object *k);

static void check_add_column(struct checker *c, struct json_object *rel, struct json_object *def)
{
	const char *schema = jstr(rel, "schemaname"), *table = jstr(rel, "relname");
	struct json_object *col = jget(def, "ColumnDef"), *cons = jget(col, "constraints");
	const char *name = jstr(col, "colname");
	const char *type = last_name(jget(jget(col, "typeName"), "names"));
	bool not_null = false, has_default = false, fk = false, ck = false, pk = false, uq = false;
	const char *vol = NULL;
	size_t i;

	for (i = 0; i < jlen(cons); i++) {
		struct json_object *k = jget(jat(cons, i), "Constraint");
		const char *ct = jstr(k, "contype");

		if (ct == NULL)
			continue;
		if (strcmp(ct, "CONSTR_NOTNULL") == 0)
			not_null = true;
		else if (strcmp(ct, "CONSTR_PRIMARY") == 0)
			not_null = pk = true;
		else if (strcmp(ct, "CONSTR_UNIQUE") == 0)
			uq = true;
		else if (strcmp(ct, "CONSTR_FOREIGN") == 0)
			fk = true;
		else if (strcmp(ct, "CONSTR_CHECK") == 0) {
			ck = true;
			remember_check(c, schema, table, k);
		}
		else if (strcmp(ct, "CONSTR_DEFAULT") == 0) {
			has_default = true;
			vol = volatile_call(jget(k, "raw_expr"));
		} else if (strcmp(ct, "CONSTR_IDENTITY") == 0) {
			has_default = true;
			vol = "an identity sequence";
		} else if (strcmp(ct, "CONSTR_GENERATED") == 0) {
			has_default = true;
			vol = "a stored generated expression";
		}
	}
	if (is_serial(type)) {
		has_default = true;
		vol = type;
	}
	if (not_null && !has_default)
		add(c, "add_column_not_null_no_default", schema, table, name, SAFE_NOT_NULL_COLUMN,
		    "ADD COLUMN %s NOT NULL without a default fails on a table with rows, or needs its rows "
		    "checked under an ACCESS EXCLUSIVE lock", name ? name : "?");
	if (vol != NULL)
		add(c, "volatile_default", schema, table, name, SAFE_VOLATILE,
		    "ADD COLUMN %s with a value per row (%s) rewrites the table under an ACCESS EXCLUSIVE lock",
		    name ? name : "?", vol);
	/* A column's constraints are added as ADD CONSTRAINT would: a
	 * foreign key or check validated over every row (even a nullable
	 * column without default: PostgreSQL evaluates the check per row), a
	 * unique or primary key index built, all under the lock.  Inline
	 * ones cannot be NOT VALID or USING INDEX. */
	if (pk || uq)
		add(c, "create_index_not_concurrently", schema, table, name, SAFE_COLUMN_INDEX,
		    "ADD COLUMN %s %s builds its index while it blocks writes to the table", name ? name : "?",
		    pk ? "PRIMARY KEY" : "UNIQUE");
	if (fk || ck)
		add(c, "add_constraint_not_valid", schema, table, name, SAFE_COLUMN_CONSTRAINT,
		    "ADD COLUMN %s %s checks every row while it blocks writes", name ? name : "?",
		    fk && ck ? "REFERENCES ... CHECK" : fk ? "REFERENCES" : "CHECK");
}

/* col when k is CHECK (col IS NOT NULL), else NULL */
static const char *not_null_check_column(struct json_object *k)
{
	struct json_object *nt = jget(jget(k, "raw_expr"), "NullTest");
	struct json_object *fields = jget(jget(jget(nt, "arg"), "ColumnRef"), "fields");

	if (!jis(k, "contype", "CONSTR_CHECK") || nt == NULL || !jis(nt, "nulltesttype", "IS_NOT_NULL") ||
	    jlen(fields) != 1)
		return NULL;
	return jstr(jget(jat(fields, 0), "String"), "sval");
}

static void remember_check(struct checker *c, const char *schema, const char *table, struct json_object *k)
{
	const char *col = not_null_check_column(k);
	struct not_null_check *l;

	if (col == NULL || table == NULL)
		return;
	if ((l = realloc(c->checks, (c->nchecks + 1) * sizeof(*l))) == NULL) {
		c->oom = true;
		return;
	}
	c->checks = l;
	l += c->nchecks++;
	l->table.schema = schema ? schema : "";
	l->table.name = table;
	l->conname = jstr(k, "conname");
	l->column = col;
	/* without NOT VALID it is validated as it is added */
	l->validated = !jtrue(k, "skip_validation");
	l->validated_in = c->nstmt;
}

static void validate_check(struct checker *c, const char *schema, const char *table, const char *conname)
{
	size_t i;

	for (i = 0; i < c->nchecks && table != NULL && conname != NULL; i++)
		if (c->checks[i].conname != NULL && strcmp(c->checks[i].conname, conname) == 0 &&
		    same_table(&c->checks[i].table, schema ? schema : "", table))
		{
			c->checks[i].validated = true;
			c->checks[i].validated_in = c->nstmt;
		}
}

/* A CHECK (col IS NOT NULL) validated by an earlier statement: within one
 * ALTER TABLE, PostgreSQL sets NOT NULL before it adds or validates
 * constraints, so it would not use one of the same statement. */
static bool validated_check(struct checker *c, const char *schema, const char *table, const char *col)
{
	size_t i;

	for (i = 0; i < c->nchecks && table != NULL && col != NULL; i++)
		if (c->checks[i].validated && c->checks[i].validated_in < c->nstmt && strcmp(c->checks[i].column, col) == 0 &&
		    same_table(&c->checks[i].table, schema ? schema : "", table))
			return true;
	return false;
}

static void check_alter_table(struct checker *c, struct json_object *st)
{
	struct json_object *rel = jget(st, "relation"), *cmds = jget(st, "cmds");
	const char *schema = jstr(rel, "schemaname"), *table = jstr(rel, "relname");
	size_t i;

	if (jstr(st, "objtype") != NULL && !jis(st, "objtype", "OBJECT_TABLE"))
		return;
	for (i = 0; i < jlen(cmds); i++) {
		struct json_object *cmd = jget(jat(cmds, i), "AlterTableCmd"), *def = jget(cmd, "def");
		const char *sub = jstr(cmd, "subtype"), *col = jstr(cmd, "name");

		if (sub == NULL)
			continue;
		if (strcmp(sub, "AT_AddColumn") == 0) {
			check_add_column(c, rel, def);
		} else if (strcmp(sub, "AT_AlterColumnType") == 0) {
			add(c, "alter_column_type", schema, table, col, SAFE_TYPE,
			    "ALTER COLUMN %s TYPE rewrites the table and its indexes under an ACCESS EXCLUSIVE lock "
			    "(unless the new type is binary-compatible)", col ? col : "?");
		} else if (strcmp(sub, "AT_AddConstraint") == 0) {
			struct json_object *k = jget(def, "Constraint");
			bool fk = jis(k, "contype", "CONSTR_FOREIGN"), ck = jis(k, "contype", "CONSTR_CHECK");
			bool pk = jis(k, "contype", "CONSTR_PRIMARY"), uq = jis(k, "contype", "CONSTR_UNIQUE");
			bool ex = jis(k, "contype", "CONSTR_EXCLUSION");

			if ((pk || uq) && jstr(k, "indexname") == NULL)
				add(c, "create_index_not_concurrently", schema, table, NULL, SAFE_INDEX_CONSTRAINT,
				    "ADD %s builds its index while it blocks writes to the table",
				    pk ? "PRIMARY KEY" : "UNIQUE");
			if (ex)
				add(c, "create_index_not_concurrently", schema, table, NULL, SAFE_EXCLUSION,
				    "ADD CONSTRAINT%s%s EXCLUDE builds its index while it blocks writes to the table",
				    jstr(k, "conname") ? " " : "", jstr(k, "conname") ? jstr(k, "conname") : "");
			if (ck)
				remember_check(c, schema, table, k);
			if ((fk || ck) && !jtrue(k, "skip_validation"))
				add(c, "add_constraint_not_valid", schema, table, NULL, SAFE_CONSTRAINT,
				    "ADD CONSTRAINT %s%s%s without NOT VALID checks every row while it blocks writes",
				    fk ? "FOREIGN KEY" : "CHECK", jstr(k, "conname") ? " " : "",
				    jstr(k, "conname") ? jstr(k, "conname") : "");
		} else if (strcmp(sub, "AT_SetNotNull") == 0) {
			if (!validated_check(c, schema, table, col))
				add(c, "set_not_null", schema, table, col, SAFE_SET_NOT_NULL,
				    "ALTER COLUMN %s SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock "
				    "unless a validated CHECK (%s IS NOT NULL) exists", col ? col : "?", col ? col : "?");
		} else if (strcmp(sub, "AT_DropColumn") == 0) {
			add(c, "drop_column", schema, table, col, SAFE_DROP,
			    "DROP COLUMN %s breaks application code that still reads it", col ? col : "?");
		} else if (strcmp(sub, "AT_ValidateConstraint") == 0) {
			validate_check(c, schema, table, col);
		}
	}
}

static void check_statement(struct checker *c, struct json_object *stmt)
{
	struct json_object *st;
	size_t i;

	c->nstmt++;

	/* IF NOT EXISTS: the table may be an existing one, the later checks stand */
	if ((st = jget(stmt, "CreateStmt")) != NULL) {
		if (!jtrue(st, "if_not_exists"))
			remember(c, &c->created, &c->ncreated, jget(st, "relation"));
	} else if ((st = jget(stmt, "CreateTableAsStmt")) != NULL) {
		if (!jtrue(st, "if_not_exists"))
			remember(c, &c->created, &c->ncreated, jget(jget(st, "into"), "rel"));
	} else if ((st = jget(stmt, "IndexStmt")) != NULL) {
		struct json_object *rel = jget(st, "relation");

		if (!jtrue(st, "concurrent"))
			add(c, "create_index_not_concurrently", jstr(rel, "schemaname"), jstr(rel, "relname"), NULL,
			    SAFE_INDEX, "CREATE %sINDEX without CONCURRENTLY blocks writes to the table while it builds",
			    jtrue(st, "unique") ? "UNIQUE " : "");
	} else if ((st = jget(stmt, "AlterTableStmt")) != NULL) {
		check_alter_table(c, st);
	} else if ((st = jget(stmt, "RenameStmt")) != NULL) {
		struct json_object *rel = jget(st, "relation");

		if (jis(st, "renameType", "OBJECT_COLUMN") && jis(st, "relationType", "OBJECT_TABLE"))
			add(c, "rename_column", jstr(rel, "schemaname"), jstr(rel, "relname"), jstr(st, "subname"),
			    SAFE_RENAME_COLUMN, "RENAME COLUMN %s TO %s breaks application code that still reads %s",
			    jstr(st, "subname") ? jstr(st, "subname") : "?",
			    jstr(st, "newname") ? jstr(st, "newname") : "?",
			    jstr(st, "subname") ? jstr(st, "subname") : "?");
		else if (jis(st, "renameType", "OBJECT_TABLE"))
			add(c, "rename_table", jstr(rel, "schemaname"), jstr(rel, "relname"), NULL, SAFE_RENAME_TABLE,
			    "RENAME TO %s breaks application code that still reads the old name",
			    jstr(st, "newname") ? jstr(st, "newname") : "?");
	} else if ((st = jget(stmt, "DropStmt")) != NULL && jis(st, "removeType", "OBJECT_TABLE")) {
		struct json_object *objs = jget(st, "objects");

		for (i = 0; i < jlen(objs); i++) {
			struct json_object *items = jget(jget(jat(objs, i), "List"), "items");
			const char *parts[3] = { NULL, NULL, NULL };
			size_t k, np = 0;

			for (k = 0; k < jlen(items) && np < 3; k++)
				parts[np++] = jstr(jget(jat(items, k), "String"), "sval");
			if (np == 1)
				add(c, "drop_table", NULL, parts[0], NULL, SAFE_DROP,
				    "DROP TABLE breaks application code that still reads it");
			else if (np >= 2)
				add(c, "drop_table", parts[np - 2], parts[np - 1], NULL, SAFE_DROP,
				    "DROP TABLE breaks application code that still reads it");
		}
	}
}

/* Only these statements can be flagged (RENAME is ALTER ... RENAME) or
 * create a table the later checks leave out; others (INSERT, COPY, UPDATE,
 * SELECT ...) are not parsed at all, which keeps big data files cheap.
 * The splitter's statement starts at its first token, past any comment. */
static bool may_flag(const char *text, size_t len)
{
	static const char *const first[] = { "ALTER", "CREATE", "DROP", NULL };
	size_t i, n;

	for (i = 0; first[i] != NULL; i++) {
		n = strlen(first[i]);
		if (len >= n && strncasecmp(text, first[i], n) == 0 &&
		    (len == n || !(isalnum((unsigned char)text[n]) || text[n] == '_' || text[n] == '$' ||
				   (unsigned char)text[n] >= 0x80)))
			return true;
	}
	return false;
}

/* libpg_query's JSON output recurses once per level of the tree, some 250
 * bytes of stack a level, and an expression such as 1+1+1... nests a
 * level for every two bytes of text: a 140 kB DEFAULT overflows the 8 MB
 * of the main thread.  So the statements are parsed (and their trees
 * walked) in a thread whose stack is sized for the longest of them; one
 * that would need more than STACK_MAX is not parsed but reported
 * unchecked.  One thread for all the files of a run: a thread each cost
 * more than the parse of a short statement (and libpg_query sets up its
 * memory once a thread). */
#define STACK_PER_BYTE 256
#define STACK_BASE ((size_t)1 << 20)
#define STACK_MIN ((size_t)8 << 20)
#define STACK_MAX ((size_t)512 << 20)
#define LEN_MAX ((STACK_MAX - STACK_BASE) / STACK_PER_BYTE)

/* One statement: its tree, or NULL when the parser or json-c refused it;
 * *too_deep when parsed but json-c refused a tree that deep. */
static struct json_object *parse_tree(struct json_tokener *tok, const char *text, bool *too_deep)
{
	PgQueryParseResult r = pg_query_parse(text);
	struct json_object *tree = NULL;

	*too_deep = false;
	if (r.error == NULL && r.parse_tree != NULL) {
		tree = jparse(tok, r.parse_tree);
		*too_deep = tree == NULL && json_tokener_get_error(tok) == json_tokener_error_depth;
	}
	pg_query_free_parse_result(r);
	return tree;
}

static int unchecked_add(struct safety_report *out, int line)
{
	int *u = realloc(out->unchecked, (out->nunchecked + 1) * sizeof(*u));

	if (u == NULL)
		return -1;
	out->unchecked = u;
	u[out->nunchecked++] = line;
	return 0;
}

/* One file, on the parsing thread's stack: 0, or -1 when out of memory
 * (out is then freed). */
static int check_script(struct json_tokener *tok, const struct safety_input *in, size_t len_max,
			struct safety_report *out)
{
	const struct sql_script *script = in->script;
	struct checker c = { .out = out, .script = script };
	/* the parse trees stay alive until the end: remembered names point into them */
	struct json_object **trees = calloc(script->n + 1, sizeof(*trees));
	size_t i;

	memset(out, 0, sizeof(*out));
	if (trees == NULL)
		return -1;
	for (i = 0; i < script->n && !c.oom; i++) {
		const struct sql_stmt *st = &script->stmts[i];
		struct json_object *stmts;
		bool too_deep;
		char *text;

		if (!may_flag(in->sql + st->start, st->len))
			continue;
		if (st->len > len_max) {
			if (unchecked_add(out, st->line) < 0)
				c.oom = true;
			continue;
		}
		if ((text = strndup(in->sql + st->start, st->len)) == NULL) {
			c.oom = true;
			break;
		}
		c.line = st->line;
		trees[i] = parse_tree(tok, text, &too_deep);
		free(text);
		/* parsed, but its tree deeper than json-c reads: not checked either */
		if (too_deep && unchecked_add(out, st->line) < 0)
			c.oom = true;
		stmts = jget(trees[i], "stmts");
		for (size_t k = 0; k < jlen(stmts) && !c.oom; k++)
			check_statement(&c, jget(jat(stmts, k), "stmt"));
	}
	for (i = 0; i < script->n; i++)
		json_object_put(trees[i]);
	free(trees);
	free(c.created);
	free(c.checks);
	if (c.oom) {
		safety_report_free(out);
		return -1;
	}
	return 0;
}

struct batch {
	const struct safety_input *in;
	struct safety_report *out;
	size_t n;
	size_t len_max;       /* longer statements are reported unchecked */
	int rc;
};

static void *check_batch(void *arg)
{
	struct batch *b = arg;
	struct json_tokener *tok = json_tokener_new_ex(TREE_MAX_DEPTH);
	size_t i;

	b->rc = tok == NULL ? -1 : 0;
	for (i = 0; i < b->n && b->rc == 0; i++)
		b->rc = check_script(tok, &b->in[i], b->len_max, &b->out[i]);
	/* no pg_query_exit(): libpg_query frees this thread's memory context
	 * when the thread exits (calling it too frees it twice) */
	if (tok != NULL)
		json_tokener_free(tok);
	return NULL;
}

/* The stack the longest statement that will be parsed needs. */
static size_t stack_for(const struct safety_input *in, size_t n)
{
	size_t stack = STACK_MIN;

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < in[i].script->n; k++) {
			const struct sql_stmt *st = &in[i].script->stmts[k];

			if (st->len <= LEN_MAX && st->len * STACK_PER_BYTE + STACK_BASE > stack &&
			    may_flag(in[i].sql + st->start, st->len))
				stack = st->len * STACK_PER_BYTE + STACK_BASE;
		}
	return stack;
}

/* The parsing thread, on a stack of this size: 0, or an errno. */
static int start_batch(pthread_t *th, struct batch *b, size_t stack)
{
	pthread_attr_t attr;
	int rc = pthread_attr_init(&attr);

	if (rc != 0)
		return rc;
	rc = pthread_attr_setstacksize(&attr, stack);
	if (rc == 0)
		rc = pthread_create(th, &attr, check_batch, b);
	pthread_attr_destroy(&attr);
	return rc;
}

int safety_check_scripts(const struct safety_input *in, size_t n, struct safety_report *out)
{
	struct batch b = { .in = in, .out = out, .n = n, .len_max = LEN_MAX, .rc = -1 };
	size_t stack = stack_for(in, n), i;
	pthread_t th;
	int rc;

	for (i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	rc = start_batch(&th, &b, stack);
	if (rc != 0 && stack > STACK_MIN) {
		/* the system would not give the longest statement's stack
		 * (an address space limit, say): the usual one, and what
		 * needs more is reported unchecked */
		b.len_max = (STACK_MIN - STACK_BASE) / STACK_PER_BYTE;
		rc = start_batch(&th, &b, STACK_MIN);
	}
	if (rc != 0)
		return -1;
	pthread_join(th, NULL);
	if (b.rc < 0) {
		for (i = 0; i < n; i++)
			safety_report_free(&out[i]);
		return -1;
	}
	return 0;
}

int safety_check_script(const char *sql, const struct sql_script *script, struct safety_report *out)
{
	struct safety_input in = { .sql = sql, .script = script };

	return safety_check_scripts(&in, 1, out);
}

void safety_report_free(struct safety_report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->items[i].schema);
		free(r->items[i].table);
		free(r->items[i].column);
		free(r->items[i].what);
	}
	free(r->items);
	r->items = NULL;
	r->n = 0;
	free(r->unchecked);
	r->unchecked = NULL;
	r->nunchecked = 0;
}

static size_t quote_ident(const char *s, char *out, size_t size, size_t o)
{
	if (o + 1 < size)
		out[o++] = '"';
	for (; *s && o + 2 < size; s++) {
		if (*s == '"')
			out[o++] = '"';
		out[o++] = *s;
	}
	if (o + 1 < size)
		out[o++] = '"';
	out[o < size ? o : size - 1] = '\0';
	return o;
}

void safety_qualified_name(const struct safety_finding *f, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	out[0] = '\0';
	if (f->schema[0] != '\0') {
		o = quote_ident(f->schema, out, size, 0);
		if (o + 1 < size)
			out[o++] = '.';
	}
	quote_ident(f->table, out, size, o);
}

void safety_display_name(const struct safety_finding *f, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s", f->schema, f->schema[0] ? "." : "", f->table);
}

/* ---- sizes ------------------------------------------------------------------- */

int size_parse(const char *s, int64_t *bytes, const char **why)
{
	static const struct { const char *unit; int64_t mult; } units[] = {
		{ "", 1 }, { "b", 1 }, { "byte", 1 }, { "bytes", 1 }, { "kb", INT64_C(1) << 10 },
		{ "mb", INT64_C(1) << 20 }, { "gb", INT64_C(1) << 30 }, { "tb", INT64_C(1) << 40 },
	};
	const char *p = s;
	char *end;
	unsigned long long n;
	size_t i, len;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p)) {
		*why = "expected a number and a unit, e.g. \"10 MB\" or \"64 kB\"";
		return -1;
	}
	n = strtoull(p, &end, 10);
	p = end;
	while (isspace((unsigned char)*p))
		p++;
	len = strlen(p);
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].unit) != len || strncasecmp(p, units[i].unit, len) != 0)
			continue;
		if (n > (unsigned long long)(INT64_MAX / units[i].mult)) {
			*why = "too large";
			return -1;
		}
		*bytes = (int64_t)n * units[i].mult;
		return 0;
	}
	*why = "unknown unit (allowed: bytes, kB, MB, GB, TB)";
	return -1;
}

void size_format(int64_t bytes, char *out, size_t size)
{
	static const char *const units[] = { "bytes", "kB", "MB", "GB", "TB" };
	int u = 0;
	int64_t v = bytes;

	/* as pg_size_pretty: the next unit from 10240 of this one, rounded */
	while (u < 4 && (v < 0 ? -v : v) >= 10240) {
		v = (v + 512) / 1024;
		u++;
	}
	snprintf(out, size, "%" PRId64 " %s", v, units[u]);
}

void safety_judge(struct safety_finding *f, bool refuse, int64_t min_size)
{
	if (f->covered)
		f->verdict = SAFETY_COVERED;
	else if (!f->exists || f->bytes < min_size)
		f->verdict = SAFETY_SMALL;
	else if (f->allowed)
		f->verdict = SAFETY_ALLOWED;
	else
		f->verdict = refuse ? SAFETY_REFUSED : SAFETY_WARNED;
}

void safety_describe_size(const struct safety_finding *f, char *out, size_t size)
{
	char bytes[32];

	if (!f->exists) {
		snprintf(out, size, "not created yet");
		return;
	}
	size_format(f->bytes, bytes, sizeof(bytes));
	if (f->rows < 0)
		snprintf(out, size, "%s, rows unknown: never analyzed", bytes);
	else if (f->rows >= 1e6)
		snprintf(out, size, "%s, ~%.1fM rows", bytes, f->rows / 1e6);
	else if (f->rows >= 1e4)
		snprintf(out, size, "%s, ~%.0fk rows", bytes, f->rows / 1e3);
	else
		snprintf(out, size, "%s, ~%.0f rows", bytes, f->rows);
}
