/* Unit tests for the reconnect backoff: exponential, capped; and the
 * daemon's own schedule, which no caller can pass a cap to. */
#include "config.h"

#include "daemon.h"
#include "timeutil.h"
#include "tap.h"

int main(void)
{
	struct daemon_retry r = { 0 };

	ok(backoff_ms(1, 500, 30000) == 500, "first retry waits the base");
	ok(backoff_ms(2, 500, 30000) == 1000, "doubles");
	ok(backoff_ms(5, 500, 30000) == 8000, "keeps doubling");
	ok(backoff_ms(7, 500, 30000) == 30000, "capped");
	ok(backoff_ms(1000, 500, 30000) == 30000, "stays capped without overflow");

	/* the daemon's main connection: 0.5 s doubling, never more than 30 s */
	ok(daemon_retry_ms(1) == 500, "the daemon retries after 0.5 s first");
	ok(daemon_retry_ms(2) == 1000 && daemon_retry_ms(6) == 16000, "then doubles");
	ok(daemon_retry_ms(7) == 30000, "up to 30 s");
	ok(daemon_retry_ms(100) == 30000 && daemon_retry_ms(1 << 30) == 30000, "and stays there");

	/* six failed attempts at start, connected at 1000 */
	r.attempt = 7;
	r.waiting_since = 900;
	r.connected_at = 1000;
	daemon_retry_lost(&r, 1003);
	ok(r.attempt == 8 && daemon_retry_ms(r.attempt) == 30000,
	   "a connection lost after 3 s goes on with the backoff");
	ok(r.waiting_since == 1003, "and says it waits since the loss");
	r.connected_at = 2000;
	daemon_retry_lost(&r, 2010);
	ok(r.attempt == 1 && daemon_retry_ms(r.attempt) == 500, "one that lasted 10 s starts over at 0.5 s");
	ok(r.waiting_since == 2010, "since the loss");
	return done_testing();
}
