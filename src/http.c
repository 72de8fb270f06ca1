#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netdb.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "http.h"
#include "verify.h"
#include "log.h"
#include "scheduler.h"
#include "timeutil.h"

/* A small HTTP/1.1 responder of our own rather than libevent's evhttp: 2.1's
 * evhttp has no connection limit, buffers any request body before the
 * handler sees it, and logs every failed accept() while it spins on it.
 * Here every connection costs one fixed buffer, and a port any local
 * process can reach cannot take descriptors, memory or the loop's time from
 * the watchdog, the jobs and the database.
 *
 * At most HTTP_MAX_CONNECTIONS, and never more than the file limit minus
 * HTTP_FD_RESERVE (for the database connections, sd_notify, the journal,
 * the migration files and the backup command): a new connection beyond the
 * cap closes the one that has waited longest for its request. */
#define HTTP_MAX_CONNECTIONS 64
#define HTTP_FD_RESERVE 32
/* request line and headers, blank line included; no request body at all */
#define HTTP_MAX_HEAD 4096
/* to send a whole request head, and to start the next one on a kept-alive
 * connection: a client that sends a byte at a time is still closed */
#define HTTP_REQUEST_TIMEOUT 5.0
/* accept() failed (EMFILE, ENFILE, ENOBUFS): stop accepting this long, as
 * PgBouncer does, and say so at most once per HTTP_ACCEPT_LOG_EVERY */
#define HTTP_ACCEPT_PAUSE_SEC 1
#define HTTP_ACCEPT_LOG_EVERY 60.0

enum conn_state {
	CONN_READING,  /* waiting for (the rest of) a request head */
	CONN_WRITING,  /* an answer is on its way; nothing more is read */
	CONN_CLOSING,  /* answered with "Connection: close"; input is discarded until EOF */
};

struct conn {
	struct http *server;
	struct conn *older, *newer;   /* by since: the oldest is closed first */
	struct timespec since;        /* when the wait for the current request began */
	evutil_socket_t fd;
	struct event *readable, *writable;
	struct evbuffer *out;
	enum conn_state state;
	bool close_after;             /* the answer says "Connection: close" */
	size_t len;                   /* bytes in head */
	char head[HTTP_MAX_HEAD];
};

struct http {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *expire;         /* closes connections past HTTP_REQUEST_TIMEOUT */
	struct event *resume;         /* accepts again after a failed accept() */
	const struct daemon_health *health;
	struct conn *oldest, *newest;
	size_t nconns, max_conns;
	unsigned long accept_failures; /* not logged yet */
	bool accept_logged;
	struct timespec accept_logged_at;
};

enum method { METHOD_GET, METHOD_HEAD, METHOD_OTHER };
enum endpoint { ENDPOINT_NONE, ENDPOINT_HEALTHZ, ENDPOINT_READYZ, ENDPOINT_METRICS };

struct request {
	enum method method;
	enum endpoint endpoint;
	int minor;                    /* HTTP/1.minor */
	bool want_close, want_keep_alive;
	bool has_body;                /* Content-Length other than 0, or Transfer-Encoding */
	int refused;                  /* a status that answers a malformed head */
};

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

/* ---- the connection list, oldest first ---------------------------------- */

static void conn_unlink(struct conn *c)
{
	struct http *h = c->server;

	if (c->older)
		c->older->newer = c->newer;
	else
		h->oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else
		h->newest = c->older;
	c->older = c->newer = NULL;
}

/* Arms the expiry timer for the oldest connection.  The list is in the
 * order of since, so one timer serves them all. */
static void expire_arm(struct http *h)
{
	long ms;
	struct timeval tv;

	if (h->oldest == NULL)
		return;
	ms = (long)((HTTP_REQUEST_TIMEOUT - elapsed_since(&h->oldest->since)) * 1000) + 1;
	if (ms < 1)
		ms = 1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_add(h->expire, &tv);
}

/* The wait for a request starts now: the connection becomes the newest. */
static void conn_renew(struct conn *c)
{
	struct http *h = c->server;
	bool was_empty;

	if (c->older != NULL || c->newer != NULL || h->oldest == c)
		conn_unlink(c);
	was_empty = h->oldest == NULL;
	clock_gettime(CLOCK_MONOTONIC, &c->since);
	c->older = h->newest;
	if (h->newest)
		h->newest->newer = c;
	else
		h->oldest = c;
	h->newest = c;
	/* a timer already armed fires for an older connection first */
	if (was_empty)
		expire_arm(h);
}

/* Closes the socket at once, not at the next turn of the loop: the
 * descriptor is free for the next accept(). */
static void conn_close(struct conn *c)
{
	conn_unlink(c);
	c->server->nconns--;
	event_free(c->readable);
	event_free(c->writable);
	evutil_closesocket(c->fd);
	evbuffer_free(c->out);
	free(c);
}

static void on_expire(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	(void)fd; (void)what;
	while (h->oldest != NULL && elapsed_since(&h->oldest->since) >= HTTP_REQUEST_TIMEOUT)
		conn_close(h->oldest);
	expire_arm(h);
}

/* ---- reading a request head ----------------------------------------------- */

/* Length of the head (request line, headers, blank line) at the start of
 * buf, or 0 while the blank line has not arrived.  Lines end in CRLF or LF. */
static size_t head_length(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && *p == '\n')
			return (size_t)(p + 1 - buf);
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - buf);
	}
	return 0;
}

static enum endpoint endpoint_of(const char *target)
{
	size_t n = strcspn(target, "?");

	if (n == 8 && strncmp(target, "/healthz", n) == 0)
		return ENDPOINT_HEALTHZ;
	if (n == 7 && strncmp(target, "/readyz", n) == 0)
		return ENDPOINT_READYZ;
	if (n == 8 && strncmp(target, "/metrics", n) == 0)
		return ENDPOINT_METRICS;
	return ENDPOINT_NONE;
}

/* "METHOD TARGET HTTP/1.x": 0, or the status that refuses it. */
static int parse_request_line(char *line, struct request *r)
{
	char *target = strchr(line, ' '), *version;

	if (target == NULL)
		return 400;
	*target++ = '\0';
	version = strchr(target, ' ');
	if (version == NULL || line[0] == '\0' || target[0] == '\0')
		return 400;
	*version++ = '\0';
	if (strcmp(version, "HTTP/1.1") == 0)
		r->minor = 1;
	else if (strcmp(version, "HTTP/1.0") == 0)
		r->minor = 0;
	else
		return strncmp(version, "HTTP/", 5) == 0 && strchr(version, ' ') == NULL ? 505 : 400;
	r->method = strcmp(line, "GET") == 0 ? METHOD_GET : strcmp(line, "HEAD") == 0 ? METHOD_HEAD : METHOD_OTHER;
	r->endpoint = endpoint_of(target);
	return 0;
}

static char *trim(char *s)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* "Name: value": 0, or the status that refuses it.  Only the headers that
 * decide whether a body follows and whether the connection stays open
 * matter here. */
static int parse_header(char *line, struct request *r)
{
	char *colon = strchr(line, ':'), *value, *token, *save;

	/* no whitespace in a name, no obsolete line folding (RFC 9112 5.1, 5.2) */
	if (colon == NULL || colon == line || strcspn(line, " \t") < (size_t)(colon - line))
		return 400;
	*colon = '\0';
	value = trim(colon + 1);
	if (strcasecmp(line, "Content-Length") == 0) {
		if (value[0] == '\0' || value[strspn(value, "0123456789")] != '\0')
			return 400;
		if (value[strspn(value, "0")] != '\0')
			r->has_body = true;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		r->has_body = true;
	} else if (strcasecmp(line, "Connection") == 0) {
		for (token = strtok_r(value, ",", &save); token != NULL; token = strtok_r(NULL, ",", &save)) {
			token = trim(token);
			if (strcasecmp(token, "close") == 0)
				r->want_close = true;
			else if (strcasecmp(token, "keep-alive") == 0)
				r->want_keep_alive = true;
		}
	}
	return 0;
}

/* Parses the head of n bytes in place (it is consumed afterwards). */
static void parse_head(char *head, size_t n, struct request *r)
{
	char *line = head, *end = head + n, *nl;
	int status = 0;

	memset(r, 0, sizeof(*r));
	r->minor = 1;
	if (memchr(head, '\0', n) != NULL) {
		r->refused = 400;
		return;
	}
	for (; status == 0 && (nl = memchr(line, '\n', (size_t)(end - line))) != NULL; line = nl + 1) {
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (line[0] == '\0')
			break;
		status = line == head ? parse_request_line(line, r) : parse_header(line, r);
	}
	r->refused = status;
}

/* ---- answering ---------------------------------------------------------- */

static const char *reason_of(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* IMF-fixdate (RFC 9110 5.6.7), in English whatever the locale. */
static void http_date(char *buf, size_t size)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Queues the answer; HEAD gets the same headers and no body. */
static void respond(struct conn *c, const struct request *r, int status, const char *type,
		    const char *extra_headers, struct evbuffer *body)
{
	char date[40];
	const char *connection = "";

	if (c->close_after)
		connection = "Connection: close\r\n";
	else if (r->minor == 0)
		connection = "Connection: keep-alive\r\n";
	http_date(date, sizeof(date));
	evbuffer_add_printf(c->out, "HTTP/1.%d %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
			    "Date: %s\r\nContent-Length: %zu\r\n%s%s\r\n", r->minor, status, reason_of(status),
			    type, date, evbuffer_get_length(body), extra_headers, connection);
	if (r->method != METHOD_HEAD)
		evbuffer_add_buffer(c->out, body);
}

/* The three endpoints; the body goes into body, the status is returned. */
static int serve_endpoint(const struct http *h, enum endpoint e, struct evbuffer *body, const char **type)
{
	const struct daemon_health *s = h->health;

	*type = "text/plain; charset=utf-8";
	switch (e) {
	case ENDPOINT_HEALTHZ:
		/* answered from the event loop: if it answers, the loop runs */
		evbuffer_add_printf(body, "ok\n");
		return 200;
	case ENDPOINT_READYZ:
		if (s->ready && s->db_up) {
			evbuffer_add_printf(body, "ready\n");
			return 200;
		}
		evbuffer_add_printf(body, "%s\n", !s->ready ? "not ready: migrations are not done"
				    : "not ready: the database is unreachable");
		return 503;
	case ENDPOINT_METRICS:
		metrics(s, body);
		*type = "text/plain; version=0.0.4; charset=utf-8";
		return 200;
	case ENDPOINT_NONE:
		break;
	}
	evbuffer_add_printf(body, "not found: try /healthz, /readyz or /metrics\n");
	return 404;
}

/* Answers the request whose head is the first n bytes of c->head (n == 0:
 * the head does not fit in HTTP_MAX_HEAD). */
static void answer(struct conn *c, size_t n)
{
	struct evbuffer *body = evbuffer_new();
	const char *type = "text/plain; charset=utf-8", *allow = "";
	struct request r;
	int status;

	if (n > 0) {
		parse_head(c->head, n, &r);
	} else {
		memset(&r, 0, sizeof(r));
		r.minor = 1;
		r.refused = 431;
	}
	/* a body is never read, so after one the next request cannot be found */
	c->close_after = r.refused != 0 || r.has_body || r.want_close || (r.minor == 0 && !r.want_keep_alive);
	if (body == NULL) {
		c->close_after = true;
		return;
	}
	if (r.refused != 0) {
		status = r.refused;
		if (status == 431)
			evbuffer_add_printf(body, "request head too large: at most %d bytes\n", HTTP_MAX_HEAD);
		else
			evbuffer_add_printf(body, "%s\n", status == 505 ? "only HTTP/1.0 and HTTP/1.1"
					    : "malformed request");
	} else if (r.method == METHOD_OTHER) {
		status = 405;
		allow = "Allow: GET, HEAD\r\n";
		evbuffer_add_printf(body, "method not allowed: only GET and HEAD\n");
	} else if (r.has_body) {
		status = 413;
		evbuffer_add_printf(body, "a request body is not accepted here\n");
	} else {
		status = serve_endpoint(c->server, r.endpoint, body, &type);
	}
	respond(c, &r, status, type, allow, body);
	evbuffer_free(body);
}

/* ---- the connection's life -------------------------------------------------- */

/* Writes what the socket takes.  Once the answer is out, the connection
 * waits for its next request, or for the client to close.  -1: closed. */
static int conn_send(struct conn *c)
{
	if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(c);
		return -1;
	}
	if (evbuffer_get_length(c->out) > 0) {
		if (c->state != CONN_WRITING) {
			c->state = CONN_WRITING;
			event_del(c->readable);
			event_add(c->writable, NULL);
		}
		return 0;
	}
	event_del(c->writable);
	if (c->close_after) {
		/* a close with unread input would reset the connection, and
		 * the client could lose the answer: read until it closes */
		c->state = CONN_CLOSING;
		shutdown(c->fd, SHUT_WR);
	} else {
		c->state = CONN_READING;
		conn_renew(c);
	}
	event_add(c->readable, NULL);
	return 0;
}

/* Answers each complete request in the buffer, one at a time: the next one
 * is read only once the answer to the previous one is out. */
static void conn_serve(struct conn *c)
{
	size_t skip, n;

	while (c->state == CONN_READING) {
		/* empty lines before a request line are ignored (RFC 9112 2.2) */
		skip = 0;
		while (skip < c->len && (c->head[skip] == '\r' || c->head[skip] == '\n'))
			skip++;
		memmove(c->head, c->head + skip, c->len - skip);
		c->len -= skip;
		n = head_length(c->head, c->len);
		if (n == 0 && c->len < sizeof(c->head))
			return;
		answer(c, n);
		memmove(c->head, c->head + n, c->len - n);
		c->len -= n;
		if (conn_send(c) < 0)
			return;
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	char discard[16384];
	ssize_t n;

	(void)what;
	if (c->state == CONN_CLOSING)
		n = recv(fd, discard, sizeof(discard), 0);
	else
		n = recv(fd, c->head + c->len, sizeof(c->head) - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	if (c->state == CONN_READING) {
		c->len += (size_t)n;
		conn_serve(c);
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd; (void)what;
	if (conn_send(c) == 0 && c->state == CONN_READING)
		conn_serve(c);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct http *h = arg;
	struct conn *c;

	(void)l; (void)sa; (void)salen;
	if (h->nconns >= h->max_conns)
		conn_close(h->oldest);
	c = calloc(1, sizeof(*c));
	if (c != NULL) {
		c->readable = event_new(h->base, fd, EV_READ | EV_PERSIST, on_readable, c);
		c->writable = event_new(h->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
		c->out = evbuffer_new();
	}
	if (c == NULL || c->readable == NULL || c->writable == NULL || c->out == NULL ||
	    event_add(c->readable, NULL) < 0) {
		if (c != NULL) {
			if (c->readable) event_free(c->readable);
			if (c->writable) event_free(c->writable);
			if (c->out) evbuffer_free(c->out);
			free(c);
		}
		evutil_closesocket(fd);
		return;
	}
	c->server = h;
	c->fd = fd;
	h->nconns++;
	conn_renew(c);
}

/* accept() failed: out of descriptors (EMFILE, ENFILE) or of kernel memory.
 * Retrying at once would spin on the ready listener, so stop accepting for
 * a moment, as PgBouncer does; close the oldest connection so that the
 * watchdog, the database and the journal have a descriptor meanwhile. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct http *h = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval pause = { .tv_sec = HTTP_ACCEPT_PAUSE_SEC, .tv_usec = 0 };

	evconnlistener_disable(l);
	event_add(h->resume, &pause);
	if (h->oldest != NULL)
		conn_close(h->oldest);
	h->accept_failures++;
	if (h->accept_logged && elapsed_since(&h->accept_logged_at) < HTTP_ACCEPT_LOG_EVERY)
		return;
	log_warning("http: cannot accept connections: %s; pausing for %d s (%lu time(s) since the last "
		    "such message, at most one a minute)", evutil_socket_error_to_string(err),
		    HTTP_ACCEPT_PAUSE_SEC, h->accept_failures);
	h->accept_failures = 0;
	h->accept_logged = true;
	clock_gettime(CLOCK_MONOTONIC, &h->accept_logged_at);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;

	(void)fd; (void)what;
	evconnlistener_enable(h->listener);
}

/* The file limit, less what the rest of the daemon needs. */
static size_t connection_cap(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= HTTP_MAX_CONNECTIONS + HTTP_FD_RESERVE)
		return HTTP_MAX_CONNECTIONS;
	return rl.rlim_cur > HTTP_FD_RESERVE ? (size_t)(rl.rlim_cur - HTTP_FD_RESERVE) : 1;
}

/* "127.0.0.1:9187", "[::1]:9187", "localhost:9187" (validated by conf.c) */
static struct evconnlistener *listen_on(struct http *h, const char *listen)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	struct evconnlistener *l = NULL;
	const char *colon = strrchr(listen, ':');
	size_t hl = (size_t)(colon - listen);
	char host[256];

	if (listen[0] == '[')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), listen + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hl, listen);
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return NULL;
	l = evconnlistener_new_bind(h->base, on_accept, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
				    LEV_OPT_CLOSE_ON_EXEC, -1, ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (l != NULL)
		evconnlistener_set_error_cb(l, on_accept_error);
	return l;
}

struct http *http_new(struct event_base *base, const char *listen, const struct daemon_health *health)
{
	struct http *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->base = base;
	h->health = health;
	h->max_conns = connection_cap();
	h->expire = evtimer_new(base, on_expire, h);
	h->resume = evtimer_new(base, on_resume, h);
	if (h->expire == NULL || h->resume == NULL) {
		http_free(h);
		return NULL;
	}
	h->listener = listen_on(h, listen);
	if (h->listener == NULL) {
		log_error("http.listen = \"%s\": cannot listen there (address in use, or not an address of this "
			  "machine)", listen);
		http_free(h);
		return NULL;
	}
	log_info("serving /healthz /readyz /metrics on %s (at most %zu connections)", listen, h->max_conns);
	return h;
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	while (h->oldest != NULL)
		conn_close(h->oldest);
	if (h->listener)
		evconnlistener_free(h->listener);
	if (h->expire)
		event_free(h->expire);
	if (h->resume)
		event_free(h->resume);
	free(h);
}
