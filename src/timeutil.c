#include "config.h"

#include "timeutil.h"

double elapsed_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

long backoff_ms(int attempt, long base_ms, long cap_ms)
{
	long ms = base_ms;

	while (--attempt > 0 && ms < cap_ms)
		ms *= 2;
	return ms < cap_ms ? ms : cap_ms;
}
