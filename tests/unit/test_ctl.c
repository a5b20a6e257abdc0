/* Unit tests for ctl: the words of a command line. */
#include "check.h"
#include "ctl.h"

static void test_verbs_and_numbers(void)
{
	char verb[16];
	long num = 0;

	CHECK(ctl_parse("pause", verb, sizeof(verb), &num) == 1);
	CHECK_STR(verb, "pause");
	CHECK(ctl_parse("  workers\t4  ", verb, sizeof(verb), &num) == 2);
	CHECK_STR(verb, "workers");
	CHECK(num == 4);
	CHECK(ctl_parse("priority -5", verb, sizeof(verb), &num) == 2);
	CHECK(num == -5);
}

static void test_junk_is_refused(void)
{
	char verb[8];
	long num;

	CHECK(ctl_parse("", verb, sizeof(verb), &num) == 0);
	CHECK(ctl_parse("   ", verb, sizeof(verb), &num) == 0);
	CHECK(ctl_parse("workers x", verb, sizeof(verb), &num) == 0);
	CHECK(ctl_parse("workers 4 5", verb, sizeof(verb), &num) == 0);
	CHECK(ctl_parse("workers 4x", verb, sizeof(verb), &num) == 0);
	CHECK(ctl_parse("workers 99999999999999999999", verb, sizeof(verb),
			&num) == 0);
	CHECK(ctl_parse("averylongverb", verb, sizeof(verb), &num) == 0);
	CHECK(ctl_parse("cancel -", verb, sizeof(verb), &num) == 0);
}

int main(void)
{
	RUN(test_verbs_and_numbers);
	RUN(test_junk_is_refused);
	return check_done();
}
