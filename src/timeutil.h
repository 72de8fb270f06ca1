/* Small clock helpers that every module measures with. */
#ifndef MOMENTUM_TIMEUTIL_H
#define MOMENTUM_TIMEUTIL_H

#include <time.h>

/* Seconds on CLOCK_MONOTONIC since t0 (taken with clock_gettime). */
double elapsed_since(const struct timespec *t0);

/* Wait before retry number attempt (1-based): base_ms doubling each time,
 * capped at cap_ms, never overflowing however large attempt is. */
long backoff_ms(int attempt, long base_ms, long cap_ms);

#endif
