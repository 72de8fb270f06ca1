/* The long-running service: connect (retrying), migrate, READY, stay up,
 * reconnect when the database goes away, stop on SIGTERM/SIGINT. */
#ifndef MOMENTUM_DAEMON_H
#define MOMENTUM_DAEMON_H

#include <time.h>

struct conf;
struct conf_error;

/* Reads the configuration again (SIGHUP); NULL with err when invalid. */
typedef struct conf *(*conf_reload_fn)(void *arg, struct conf_error *err);

/* Returns the process exit code. */
int daemon_run(const struct conf *conf, const char *password, conf_reload_fn reload, void *reload_arg);

/* The main connection's retry schedule, apart so that it is tested alone:
 * the wait before attempt n (0.5 s doubling up to 30 s, before the
 * daemon's jitter), and what a lost connection does to it. */
struct daemon_retry {
	int attempt;              /* attempts since the last connection that lasted */
	time_t waiting_since;     /* the start, or the last loss */
	time_t connected_at;
};
long daemon_retry_ms(int attempt);
/* The connection was lost at now: the backoff starts over at 0.5 s if the
 * connection had lasted (10 s), else goes on; either way the daemon waits
 * since now. */
void daemon_retry_lost(struct daemon_retry *r, time_t now);

#endif
