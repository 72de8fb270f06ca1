/* /healthz, /readyz and /metrics on http.listen, served from the daemon's
 * own loop (a stuck loop fails /healthz) by a small HTTP/1.1 responder that
 * caps connections, head size and time, and never reads a request body. */
#ifndef MOMENTUM_HTTP_H
#define MOMENTUM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct scheduler;
struct http;

/* What the daemon knows about itself, read on each request. */
struct daemon_health {
	bool ready;                /* migrations done */
	bool db_up;                /* the main connection is up */
	uint64_t reconnects;
	size_t migrations_applied;
	size_t migrations_pending;
	const struct scheduler *sched;
};

/* listen is "ADDRESS:PORT" (validated by the configuration). NULL on error,
 * with the reason logged. */
struct http *http_new(struct event_base *base, const char *listen, const struct daemon_health *h);
void http_free(struct http *h);

#endif
