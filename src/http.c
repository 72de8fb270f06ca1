#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "verify.h"
#include "log.h"
#include "scheduler.h"

struct http {
	struct evhttp *server;
	const struct daemon_health *health;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type,
		  struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

static void metric(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metrics(const struct daemon_health *h, struct evbuffer *b)
{
	struct job_stats st[SCHEDULER_MAX_JOBS];
	static const char *const statuses[] = { "ok", "failed", "skipped", "cancelled" };
	int i, counts[3];
	size_t j, n;
	time_t at = 0;
	bool have;

	metric(b, "momentum_maintd_build_info", "gauge", "Version of momentum-maintd; always 1.");
	evbuffer_add_printf(b, "momentum_maintd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	metric(b, "momentum_maintd_ready", "gauge", "1 once the migrations are done (READY=1 was sent).");
	evbuffer_add_printf(b, "momentum_maintd_ready %d\n", h->ready);
	metric(b, "momentum_maintd_database_up", "gauge", "1 while the daemon's database connection is up.");
	evbuffer_add_printf(b, "momentum_maintd_database_up %d\n", h->db_up);
	metric(b, "momentum_maintd_database_reconnects_total", "counter",
	       "Times the database connection was lost after startup.");
	evbuffer_add_printf(b, "momentum_maintd_database_reconnects_total %" PRIu64 "\n", h->reconnects);
	metric(b, "momentum_maintd_migrations_applied", "gauge", "Migrations recorded as applied.");
	evbuffer_add_printf(b, "momentum_maintd_migrations_applied %zu\n", h->migrations_applied);
	metric(b, "momentum_maintd_migrations_pending", "gauge", "Migration files not applied yet.");
	evbuffer_add_printf(b, "momentum_maintd_migrations_pending %zu\n", h->migrations_pending);

	n = scheduler_stats(h->sched, st);
	metric(b, "momentum_maintd_job_last_success_timestamp_seconds", "gauge",
	       "Unix time the job last finished successfully (0: never, since start).");
	for (j = 0; j < n; j++)
		evbuffer_add_printf(b, "momentum_maintd_job_last_success_timestamp_seconds{job=\"%s\"} %lld\n",
				    st[j].job, (long long)st[j].last_success);
	metric(b, "momentum_maintd_job_last_duration_seconds", "gauge", "Duration of the job's last run.");
	for (j = 0; j < n; j++)
		evbuffer_add_printf(b, "momentum_maintd_job_last_duration_seconds{job=\"%s\"} %.3f\n", st[j].job,
				    st[j].last_duration);
	metric(b, "momentum_maintd_job_last_rows", "gauge",
	       "Rows affected by the job's last run (verify: findings, ignored ones left out).");
	for (j = 0; j < n; j++)
		evbuffer_add_printf(b, "momentum_maintd_job_last_rows{job=\"%s\"} %" PRId64 "\n", st[j].job,
				    st[j].last_rows);
	metric(b, "momentum_maintd_job_runs_total", "counter", "Runs of the job since start, by outcome.");
	for (j = 0; j < n; j++)
		for (i = 0; i < 4; i++)
			evbuffer_add_printf(b, "momentum_maintd_job_runs_total{job=\"%s\",status=\"%s\"} %" PRIu64 "\n",
					    st[j].job, statuses[i], st[j].runs[i]);

	have = scheduler_verify_counts(h->sched, counts, &at);
	metric(b, "momentum_maintd_verify_findings", "gauge",
	       "Findings of the last verification pass, by level (verify.ignore left out).");
	if (have)
		for (i = 0; i < 3; i++)
			evbuffer_add_printf(b, "momentum_maintd_verify_findings{level=\"%s\"} %d\n",
					    vlevel_name((enum vlevel)i), counts[i]);
	metric(b, "momentum_maintd_verify_last_pass_timestamp_seconds", "gauge",
	       "Unix time the last verification pass ended (0: none yet, since start).");
	evbuffer_add_printf(b, "momentum_maintd_verify_last_pass_timestamp_seconds %lld\n", (long long)at);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *body = evbuffer_new();
	size_t n;

	if (body == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	n = strcspn(uri, "?");
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evbuffer_add_printf(body, "only GET\n");
		reply(req, 405, "Method Not Allowed", "text/plain; charset=utf-8", body);
	} else if (n == 8 && strncmp(uri, "/healthz", n) == 0) {
		/* answered from the event loop: if it answers, the loop runs */
		evbuffer_add_printf(body, "ok\n");
		reply(req, 200, "OK", "text/plain; charset=utf-8", body);
	} else if (n == 7 && strncmp(uri, "/readyz", n) == 0) {
		const struct daemon_health *s = h->health;

		if (s->ready && s->db_up) {
			evbuffer_add_printf(body, "ready\n");
			reply(req, 200, "OK", "text/plain; charset=utf-8", body);
		} else {
			evbuffer_add_printf(body, "%s\n", !s->ready ? "not ready: migrations are not done"
					    : "not ready: the database is unreachable");
			reply(req, 503, "Service Unavailable", "text/plain; charset=utf-8", body);
		}
	} else if (n == 8 && strncmp(uri, "/metrics", n) == 0) {
		metrics(h->health, body);
		reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
	} else {
		evbuffer_add_printf(body, "not found: try /healthz, /readyz or /metrics\n");
		reply(req, 404, "Not Found", "text/plain; charset=utf-8", body);
	}
	evbuffer_free(body);
}

struct http *http_new(struct event_base *base, const char *listen, const struct daemon_health *health)
{
	struct http *h = calloc(1, sizeof(*h));
	char host[256];
	const char *colon = strrchr(listen, ':');
	int port = atoi(colon + 1);
	size_t hl = (size_t)(colon - listen);

	if (h == NULL)
		return NULL;
	/* "[::1]:9187" -> "::1" */
	if (listen[0] == '[')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), listen + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hl, listen);
	h->health = health;
	h->server = evhttp_new(base);
	if (h->server == NULL) {
		free(h);
		return NULL;
	}
	evhttp_set_allowed_methods(h->server, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(h->server, 10);
	evhttp_set_gencb(h->server, on_request, h);
	if (evhttp_bind_socket(h->server, host, (ev_uint16_t)port) != 0) {
		log_error("http.listen = \"%s\": cannot listen there (address in use, or not an address of this "
			  "machine)", listen);
		http_free(h);
		return NULL;
	}
	log_info("serving /healthz /readyz /metrics on %s", listen);
	return h;
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	if (h->server)
		evhttp_free(h->server);
	free(h);
}
