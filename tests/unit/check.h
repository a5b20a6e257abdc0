/*
 * check.h: the few macros the C unit tests need. A test program runs its
 * test functions, prints one line per failed check, and exits non-zero if
 * any check failed.
 *
 *	static void test_empty_prompt_is_refused(void)
 *	{
 *		CHECK(parse("") == -EINVAL);
 *		CHECK_STR(name, "sh");
 *	}
 *	int main(void) { RUN(test_empty_prompt_is_refused); return check_done(); }
 */
#ifndef PAI_CHECK_H
#define PAI_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", \
			__FILE__, __LINE__, #cond); \
		check_failures++; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *check_a_ = (a), *check_b_ = (b); \
	check_count++; \
	if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_)) { \
		fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n", \
			__FILE__, __LINE__, #a, #b, \
			check_a_ ? check_a_ : "(null)", \
			check_b_ ? check_b_ : "(null)"); \
		check_failures++; \
	} \
} while (0)

#define RUN(fn) do { \
	int check_before_ = check_failures; \
	fn(); \
	printf("%s %s\n", check_failures == check_before_ ? "ok" : "FAIL", #fn); \
} while (0)

static inline int check_done(void)
{
	printf("%d checks, %d failed\n", check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
