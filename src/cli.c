#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <event2/event.h>

#include "cli.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "migfile.h"
#include "migrate.h"

#define CONNECT_TIMEOUT_SEC 10

struct oneshot {
	struct event_base *base;
	struct db *db;
	struct migration_set set;
	bool connected;
	enum migrate_result result;
};

static void on_connected(struct db *db, bool ok, void *arg)
{
	struct oneshot *o = arg;

	(void)db;
	o->connected = ok;
	event_base_loopbreak(o->base);
}

/* Reads the migrations and connects once; returns 0 or an exit code. */
static int oneshot_open(struct oneshot *o, const struct conf *conf, const char *password)
{
	char err[1024];

	memset(o, 0, sizeof(*o));
	if (migration_set_load(conf->mig_directory, &o->set, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EX_DATAERR;
	}
	o->base = event_base_new();
	o->db = o->base ? db_new(o->base, conf->db_conninfo, password) : NULL;
	if (o->db == NULL) {
		log_error("out of memory");
		return EX_SOFTWARE;
	}
	if (db_connect(o->db, CONNECT_TIMEOUT_SEC, on_connected, o) == 0)
		event_base_dispatch(o->base);
	if (!db_connected(o->db)) {
		log_error("database %s unavailable: %s", db_target(o->db), db_error(o->db));
		return EX_UNAVAILABLE;
	}
	return 0;
}

static void oneshot_close(struct oneshot *o)
{
	db_free(o->db);
	if (o->base)
		event_base_free(o->base);
	migration_set_free(&o->set);
}

static void on_migrated(enum migrate_result r, void *arg)
{
	struct oneshot *o = arg;

	o->result = r;
	event_base_loopbreak(o->base);
}

int cli_migrate_up(const struct conf *conf, const char *password)
{
	struct oneshot o;
	struct migrator *m = NULL;
	int rc = oneshot_open(&o, conf, password);

	if (rc != 0)
		goto out;
	m = migrator_new(o.base, o.db, conf, &o.set, on_migrated, &o);
	if (m == NULL) {
		rc = EX_SOFTWARE;
		goto out;
	}
	migrator_start(m);
	event_base_dispatch(o.base);
	switch (o.result) {
	case MIGRATE_OK:
		printf("%zu migration(s) applied, %zu applied in all\n",
		       migrator_applied_now(m), migrator_applied_total(m));
		rc = EX_OK;
		break;
	case MIGRATE_FAILED:
		rc = EX_DATAERR;
		break;
	case MIGRATE_DB_LOST:
		rc = EX_UNAVAILABLE;
		break;
	case MIGRATE_UNSAFE:
		rc = EX_CONFIG;
		break;
	}
out:
	migrator_free(m);
	oneshot_close(&o);
	return rc;
}

int cli_migrate_status(const struct conf *conf, const char *password)
{
	struct oneshot o;
	PGresult *res = NULL;
	PGconn *c;
	int rc = oneshot_open(&o, conf, password), i, n = 0, problems = 0;
	size_t j;

	if (rc != 0)
		goto out;
	/* A one-shot command owns the process: plain blocking libpq is fine here. */
	c = db_pgconn(o.db);
	res = PQexec(c, "SELECT version, name, checksum, to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS TZ') "
			"FROM momentum_maintd.schema_migrations "
			"WHERE to_regclass('momentum_maintd.schema_migrations') IS NOT NULL ORDER BY version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (strcmp(db_sqlstate(res), "42P01") != 0) {
			log_error("reading momentum_maintd.schema_migrations: %s", db_message(res));
			rc = PQstatus(c) == CONNECTION_OK ? EX_SOFTWARE : EX_UNAVAILABLE;
			goto out;
		}
	} else {
		n = PQntuples(res);
	}
	printf("%-8s %-40s %-8s %-24s %s\n", "VERSION", "NAME", "STATE", "APPLIED_AT", "CHECKSUM");
	for (j = 0; j < o.set.n; j++) {
		const struct migration *m = &o.set.items[j];
		int row = -1;

		for (i = 0; i < n; i++)
			if (strtoll(PQgetvalue(res, i, 0), NULL, 10) == m->version)
				row = i;
		if (row < 0) {
			printf("%-8" PRId64 " %-40s %-8s %-24s %s\n", m->version, m->name, "pending", "-", "-");
		} else {
			bool same = strcmp(PQgetvalue(res, row, 2), m->checksum) == 0;

			problems += !same;
			printf("%-8" PRId64 " %-40s %-8s %-24s %s\n", m->version, m->name, "applied",
			       PQgetvalue(res, row, 3), same ? "ok" : "CHANGED since applied");
		}
	}
	for (i = 0; i < n; i++) {
		if (migration_set_find(&o.set, strtoll(PQgetvalue(res, i, 0), NULL, 10)) == NULL) {
			problems++;
			printf("%-8s %-40s %-8s %-24s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
			       "applied", PQgetvalue(res, i, 3), "FILE MISSING");
		}
	}
	rc = problems ? EX_DATAERR : EX_OK;
out:
	PQclear(res);
	oneshot_close(&o);
	return rc;
}
