/* systemd notification protocol (sd_notify): READY, STATUS, STOPPING,
 * RELOADING, WATCHDOG and EXTEND_TIMEOUT_USEC.  Built without libsystemd,
 * every call is a no-op. */
#ifndef MOMENTUM_NOTIFY_H
#define MOMENTUM_NOTIFY_H

#include <stdint.h>

struct event_base;

/* Starts the watchdog timer when systemd asked for one (WATCHDOG_USEC). */
int notify_setup(struct event_base *base);
void notify_teardown(void);

void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* READY=1 together with a STATUS= line. */
void notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_stopping(const char *status);
/* RELOADING=1 with MONOTONIC_USEC=; READY=1 follows when the reload is done. */
void notify_reloading(void);
/* Asks the service manager for usec more time to start or stop. */
void notify_extend_timeout(uint64_t usec);

#endif
