#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "daemon.h"
#include "db.h"
#include "log.h"
#include "migfile.h"
#include "migrate.h"
#include "msgid.h"
#include "http.h"
#include "notify.h"
#include "scheduler.h"
#include "timeutil.h"

#define CONNECT_TIMEOUT_SEC 10
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 30000
/* A connection that lived shorter than this does not reset the backoff:
 * a server that drops every session at once must not be hammered. */
#define STABLE_CONNECTION_SEC 10
/* the start timeout systemd is asked for beyond the next retry */
#define START_MARGIN_MS 30000
/* SIGTERM must end the process within systemd's and the 5 s */
#define STOP_DEADLINE_SEC 3

enum phase { PHASE_CONNECTING, PHASE_MIGRATING, PHASE_READY, PHASE_RECONNECTING, PHASE_STOPPING };

struct daemon {
	struct event_base *base;
	const struct conf *conf;
	struct conf *reloaded;    /* the configuration since the last reload, ours to free */
	conf_reload_fn reload;
	void *reload_arg;
	struct migration_set migrations;
	struct db *db;
	struct migrator *migrator;
	struct event *sig_term, *sig_int, *sig_hup, *sig_usr1, *retry, *deadline;
	struct scheduler *sched;
	struct http *http;
	struct daemon_health health;

	enum phase phase;
	bool migrated;
	struct daemon_retry backoff;
	char last_error[512];     /* logged once per distinct error */
	int exit_code;
};

static void try_connect(struct daemon *d);

static void stop(struct daemon *d, int code)
{
	d->exit_code = code;
	d->phase = PHASE_STOPPING;
	event_base_loopexit(d->base, NULL);
}

static void jobs_stopped(void *arg)
{
	stop(arg, EX_OK);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	log_warning("a job did not stop within %d s; exiting anyway", STOP_DEADLINE_SEC);
	stop(arg, EX_OK);
}

static void on_job_done(const char *job, enum run_status st, int64_t rows, const char *error, void *arg)
{
	struct daemon *d = arg;

	struct job_stats stats[SCHEDULER_MAX_JOBS];

	(void)job; (void)st; (void)rows; (void)error;
	if (d->phase == PHASE_READY)
		notify_jobs(stats, scheduler_stats(d->sched, stats));
}

static void restart_needed(const char *path, void *arg)
{
	struct log_field f[] = { { "KEY", path } };

	(void)arg;
	log_emit(LOG_WARNING, MSGID_CONFIG_INVALID, LOG_FIELDS(f),
		 "reload: %s changed; it takes effect only after a restart (the running value is kept)", path);
}

/* SIGHUP: the whole configuration again; the old one stays if the new one
 * is invalid.  Log level, schedules and job settings apply at once; keys
 * that need a restart keep their running value and say so. */
static void reload(struct daemon *d)
{
	struct conf_error err;
	struct conf *newc;

	if (!d->migrated) {
		log_notice("SIGHUP: reload ignored while starting; send it again once ready");
		return;
	}
	notify_reloading();
	newc = d->reload(d->reload_arg, &err);
	if (newc == NULL) {
		log_emit(LOG_ERR, MSGID_CONFIG_INVALID, NULL, 0,
			 "reload failed, keeping the running configuration: %s", err.msg);
		notify_reload_failed(err.msg);
		return;
	}
	if (conf_keep_restart_only(newc, d->conf, restart_needed, d) < 0 ||
	    (log_set_level(conf_syslog_level(newc)), scheduler_reconfigure(d->sched, newc) < 0)) {
		log_set_level(conf_syslog_level(d->conf));
		log_error("reload failed: out of memory; keeping the running configuration");
		conf_free(newc);
		notify_reload_failed(NULL);
		return;
	}
	migrator_set_conf(d->migrator, newc);
	d->conf = newc;
	conf_free(d->reloaded);
	d->reloaded = newc;
	log_notice("configuration reloaded");
	notify_reloaded();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	if (sig == SIGUSR1) {
		/* an operator who fixed something wants to know now */
		if (d->phase == PHASE_STOPPING)
			return;
		if (!d->migrated)
			log_notice("SIGUSR1: verification pass ignored while starting; send it again once ready");
		else if (scheduler_run_now(d->sched, "verify"))
			log_info("SIGUSR1: verification pass now");
		return;
	}
	if (d->phase == PHASE_STOPPING) {
		log_warning("second %s: exiting at once", strsignal((int)sig));
		exit(EX_OK);
	}
	log_info("%s received, stopping", strsignal((int)sig));
	notify_stopping(STOP_SIGNAL);
	/* A running statement is cancelled and its transaction rolled back by
	 * the server when the connection closes. */
	if (db_busy(d->db))
		db_cancel(d->db);
	db_close(d->db);
	d->exit_code = EX_OK;
	d->phase = PHASE_STOPPING;
	d->health.ready = false;   /* /readyz says so while the jobs wind down */
	if (scheduler_busy(d->sched)) {
		/* a running job's batch is cancelled and the run recorded as
		 * cancelled; give that a few seconds, not more */
		struct timeval tv = { .tv_sec = STOP_DEADLINE_SEC, .tv_usec = 0 };

		evtimer_add(d->deadline, &tv);
		scheduler_stop(d->sched, jobs_stopped, d);
		return;
	}
	stop(d, EX_OK);
}

long daemon_retry_ms(int attempt)
{
	return backoff_ms(attempt, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
}

void daemon_retry_lost(struct daemon_retry *r, time_t now)
{
	if (now - r->connected_at >= STABLE_CONNECTION_SEC)
		r->attempt = 0;
	r->waiting_since = now;
	r->attempt++;
}

static void retry_later(struct daemon *d)
{
	long ms = daemon_retry_ms(d->backoff.attempt);
	struct timeval tv;

	/* up to 20% jitter so that many replicas do not retry in lockstep */
	ms += ms / 5 * (long)(random() % 100) / 100;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (db_auth_failed(d->db)) {
		/* Refused credentials do not fix themselves: keep trying (the
		 * password file may be corrected) but let systemd's start
		 * timeout apply, or `systemctl start` would wait forever. */
		notify_auth_failed(db_target(d->db), d->backoff.waiting_since, d->backoff.attempt, ms,
				   db_error(d->db));
	} else {
		notify_waiting(db_target(d->db), d->backoff.waiting_since, d->backoff.attempt, ms, db_error(d->db));
		/* waiting for the database is part of starting: do not let
		 * systemd's start timeout turn it into a restart loop */
		if (!d->migrated)
			notify_extend_timeout((uint64_t)(ms + START_MARGIN_MS) * 1000);
	}
	evtimer_add(d->retry, &tv);
}

static void on_connect_failed(struct daemon *d)
{
	const char *err = db_error(d->db);

	if (strcmp(err, d->last_error) != 0) {
		struct log_field f[] = { { "TARGET", db_target(d->db) } };

		log_emit(LOG_WARNING, MSGID_DB_UNAVAILABLE, LOG_FIELDS(f),
			 "database %s unavailable, retrying with backoff: %s", db_target(d->db), err);
		snprintf(d->last_error, sizeof(d->last_error), "%s", err);
	} else {
		log_debug("database still unavailable (attempt %d): %s", d->backoff.attempt, err);
	}
	retry_later(d);
}

static void on_migrated(enum migrate_result r, void *arg)
{
	struct daemon *d = arg;
	size_t now = migrator_applied_now(d->migrator), total = migrator_applied_total(d->migrator);

	switch (r) {
	case MIGRATE_OK: {
		char n1[24], n2[24];

		snprintf(n1, sizeof(n1), "%zu", now);
		snprintf(n2, sizeof(n2), "%zu", total);
		struct log_field f[] = { { "APPLIED", n1 }, { "TOTAL", n2 } };

		d->migrated = true;
		d->phase = PHASE_READY;
		d->health.ready = true;
		d->health.migrations_applied = total;
		d->health.migrations_pending = d->migrations.n > total ? d->migrations.n - total : 0;
		if (now > 0)
			log_emit(LOG_NOTICE, MSGID_MIGRATIONS_DONE, LOG_FIELDS(f),
				 "migrations done: %zu applied now, %zu applied in all", now, total);
		else
			log_emit(LOG_INFO, MSGID_MIGRATIONS_DONE, LOG_FIELDS(f),
				 "database schema is up to date (%zu migrations applied)", total);
		notify_migrated(now, total, db_target(d->db));
		scheduler_start(d->sched);
		return;
	}
	case MIGRATE_FAILED:
		log_error("stopping: migrations failed, the database was left as it was before the failing migration");
		notify_stopping(STOP_MIGRATIONS_FAILED);
		stop(d, EX_DATAERR);
		return;
	case MIGRATE_UNSAFE:
		notify_stopping(STOP_POOLER);
		stop(d, EX_CONFIG);
		return;
	case MIGRATE_DB_LOST:
		d->phase = PHASE_CONNECTING;
		d->health.db_up = false;
		daemon_retry_lost(&d->backoff, time(NULL));
		retry_later(d);
		return;
	}
}

static void on_lost(struct db *db, void *arg)
{
	struct daemon *d = arg;
	struct log_field f[] = { { "TARGET", db_target(db) } };

	log_emit(LOG_WARNING, MSGID_DB_LOST, LOG_FIELDS(f),
		 "database connection to %s lost, reconnecting: %s", db_target(db), db_error(db));
	snprintf(d->last_error, sizeof(d->last_error), "%s", db_error(db));
	d->health.db_up = false;
	d->health.reconnects++;
	d->phase = PHASE_RECONNECTING;
	daemon_retry_lost(&d->backoff, time(NULL));
	retry_later(d);
}

static void on_connected(struct db *db, bool ok, void *arg)
{
	struct daemon *d = arg;

	if (!ok) {
		on_connect_failed(d);
		return;
	}
	{
		char waited[32];
		struct log_field f[] = { { "TARGET", db_target(db) }, { "WAITED_S", waited } };

		snprintf(waited, sizeof(waited), "%ld", (long)(time(NULL) - d->backoff.waiting_since));
		log_emit(d->backoff.attempt > 1 || d->phase == PHASE_RECONNECTING ? LOG_NOTICE : LOG_INFO,
			 MSGID_DB_CONNECTED, LOG_FIELDS(f),
			 "connected to database %s (PostgreSQL %d.%d)%s", db_target(db),
			 PQserverVersion(db_pgconn(db)) / 10000, PQserverVersion(db_pgconn(db)) % 100,
			 d->backoff.attempt > 1 ? " after waiting" : "");
	}
	d->last_error[0] = '\0';
	d->backoff.connected_at = time(NULL);
	d->health.db_up = true;
	if (d->migrated) {
		d->phase = PHASE_READY;
		notify_reconnected(db_target(db));
		return;
	}
	d->phase = PHASE_MIGRATING;
	migrator_start(d->migrator);
}

static void try_connect(struct daemon *d)
{
	if (++d->backoff.attempt == 1)
		notify_connecting();
	if (db_connect(d->db, CONNECT_TIMEOUT_SEC, on_connected, d) < 0)
		on_connect_failed(d);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	try_connect(arg);
}

/* The event loop and everything on it; -1 with the reason logged. */
static int daemon_setup(struct daemon *d, const char *password)
{
	d->base = event_base_new();
	if (d->base == NULL) {
		log_error("cannot create the event loop");
		return -1;
	}
	d->db = db_new(d->base, d->conf->db_conninfo, password);
	d->migrator = d->db ? migrator_new(d->base, d->db, d->conf, &d->migrations, on_migrated, d) : NULL;
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->sig_usr1 = evsignal_new(d->base, SIGUSR1, on_signal, d);
	d->retry = evtimer_new(d->base, on_retry, d);
	d->deadline = evtimer_new(d->base, on_deadline, d);
	d->sched = scheduler_new(d->base, d->conf, password);
	if (d->migrator == NULL || d->sig_term == NULL || d->sig_int == NULL || d->sig_hup == NULL ||
	    d->sig_usr1 == NULL || d->retry == NULL || d->deadline == NULL || d->sched == NULL ||
	    event_add(d->sig_term, NULL) < 0 || event_add(d->sig_int, NULL) < 0 ||
	    event_add(d->sig_hup, NULL) < 0 || event_add(d->sig_usr1, NULL) < 0 || notify_setup(d->base) < 0) {
		log_error("cannot set up the event loop: out of memory");
		return -1;
	}
	db_set_lost_cb(d->db, on_lost, d);
	scheduler_set_done_cb(d->sched, on_job_done, d);
	d->health.sched = d->sched;
	if (d->conf->http_listen[0] != '\0') {
		d->http = http_new(d->base, d->conf->http_listen, &d->health);
		if (d->http == NULL) {
			d->exit_code = EX_CONFIG;
			return -1;
		}
	}
	return 0;
}

static void daemon_teardown(struct daemon *d)
{
	notify_teardown();
	http_free(d->http);
	scheduler_free(d->sched);
	if (d->deadline) event_free(d->deadline);
	if (d->retry) event_free(d->retry);
	if (d->sig_hup) event_free(d->sig_hup);
	if (d->sig_usr1) event_free(d->sig_usr1);
	if (d->sig_int) event_free(d->sig_int);
	if (d->sig_term) event_free(d->sig_term);
	migrator_free(d->migrator);
	db_free(d->db);
	if (d->base)
		event_base_free(d->base);
	migration_set_free(&d->migrations);
	conf_free(d->reloaded);
}

int daemon_run(const struct conf *conf, const char *password, conf_reload_fn reload_fn, void *reload_arg)
{
	struct daemon d = { .conf = conf, .exit_code = EX_SOFTWARE, .reload = reload_fn, .reload_arg = reload_arg };
	char err[1024];
	int rc;

	srandom((unsigned)getpid() ^ (unsigned)time(NULL));
	if (daemon_setup(&d, password) < 0)
		goto out;
	/* The server forks a backend for us while we read the files: start the
	 * connection first.  Its callbacks only run once the loop does. */
	d.phase = PHASE_CONNECTING;
	d.backoff.waiting_since = time(NULL);
	try_connect(&d);
	notify_reading_migrations(conf->mig_directory);
	rc = migration_set_load(conf->mig_directory, &d.migrations, err, sizeof(err));
	if (rc < 0) {
		struct log_field f[] = { { "DIRECTORY", conf->mig_directory } };

		log_emit(LOG_ERR, MSGID_MIGRATION_FAILED, LOG_FIELDS(f), "%s", err);
		d.exit_code = rc == -2 ? EX_CONFIG : EX_DATAERR;
		goto out;
	}
	{
		struct log_field f[] = { { "ENVIRONMENT", conf_environment_name(conf->environment) } };

		log_emit(LOG_INFO, MSGID_STARTED, LOG_FIELDS(f),
			 "%s %s starting (environment %s, %zu migration file(s) in %s)", PACKAGE_NAME,
			 PACKAGE_VERSION, conf_environment_name(conf->environment), d.migrations.n,
			 conf->mig_directory);
	}

	if (event_base_dispatch(d.base) < 0)
		log_error("event loop failed");
	log_emit(LOG_INFO, MSGID_STOPPED, NULL, 0, "stopped (exit status %d)", d.exit_code);
out:
	daemon_teardown(&d);
	return d.exit_code;
}
