/* Unit tests for breaker: opening, cooling down, closing on success. */
#include "breaker.h"
#include "check.h"

static void test_opens_after_k_failures_in_a_row(void)
{
	struct breakers b;
	const char *open[4];

	breakers_init(&b, 3, 1000);
	CHECK(breakers_record(&b, "anthropic", true, 0) == 0);
	CHECK(breakers_record(&b, "anthropic", true, 10) == 0);
	CHECK(breakers_record(&b, "sh", true, 10) == 0);
	CHECK(breakers_open(&b, 10, open, 4) == 0);
	CHECK(breakers_record(&b, "anthropic", true, 20) == 1);
	CHECK(breakers_open(&b, 21, open, 4) == 1);
	CHECK_STR(open[0], "anthropic");
	CHECK(breakers_next_close(&b, 21) == 1020);
	/* a straggler's failure extends, but does not "open" again */
	CHECK(breakers_record(&b, "anthropic", true, 500) == 0);
	CHECK(breakers_next_close(&b, 501) == 1500);
	/* after the cool-down it lets tasks through again */
	CHECK(breakers_open(&b, 1500, open, 4) == 0);
	CHECK(breakers_next_close(&b, 1500) == 0);
	breakers_release(&b);
}

static void test_success_closes_and_resets(void)
{
	struct breakers b;
	const char *open[4];

	breakers_init(&b, 2, 1000);
	CHECK(breakers_record(&b, "openai", true, 0) == 0);
	CHECK(breakers_record(&b, "openai", false, 1) == 0);
	CHECK(breakers_record(&b, "openai", true, 2) == 0);
	CHECK(breakers_open(&b, 3, open, 4) == 0);
	CHECK(breakers_record(&b, "openai", true, 3) == 1);
	CHECK(breakers_record(&b, "openai", false, 4) == 0);
	CHECK(breakers_open(&b, 5, open, 4) == 0);
	breakers_release(&b);
}

int main(void)
{
	RUN(test_opens_after_k_failures_in_a_row);
	RUN(test_success_closes_and_resets);
	return check_done();
}
