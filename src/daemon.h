/* The long-running service: connect (retrying), migrate, READY, stay up,
 * reconnect when the database goes away, stop on SIGTERM/SIGINT. */
#ifndef MOMENTUM_DAEMON_H
#define MOMENTUM_DAEMON_H

struct conf;
struct conf_error;

/* Reads the configuration again (SIGHUP); NULL with err when invalid. */
typedef struct conf *(*conf_reload_fn)(void *arg, struct conf_error *err);

/* Returns the process exit code. */
int daemon_run(const struct conf *conf, const char *password, conf_reload_fn reload, void *reload_arg);

#endif
