/* Unit tests for the reconnect backoff: exponential, capped. */
#include "config.h"

#include "timeutil.h"
#include "tap.h"

int main(void)
{
	ok(backoff_ms(1, 500, 30000) == 500, "first retry waits the base");
	ok(backoff_ms(2, 500, 30000) == 1000, "doubles");
	ok(backoff_ms(5, 500, 30000) == 8000, "keeps doubling");
	ok(backoff_ms(7, 500, 30000) == 30000, "capped");
	ok(backoff_ms(1000, 500, 30000) == 30000, "stays capped without overflow");
	return done_testing();
}
