/* Unit tests for overlap: which ownership globs may share a path. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "overlap.h"

/* Both ways round: overlap is symmetric. */
#define OVER(a, b) CHECK(overlap_globs(a, b) && overlap_globs(b, a))
#define APART(a, b) CHECK(!overlap_globs(a, b) && !overlap_globs(b, a))

static void test_the_issues_pairs(void)
{
	OVER("src/**", "src/a/*.c");
	APART("*.md", "docs/x.md");
	APART("a/*", "b/*");
}

static void test_fixed_names(void)
{
	OVER("src/a.c", "src/a.c");
	APART("src/a.c", "src/b.c");
	OVER("src/*.c", "src/a.c");
	APART("src/*.c", "src/a.h");
	APART("src/?.c", "src/ab.c");
	OVER("src/[ab].c", "src/b.c");
	APART("src/[ab].c", "src/c.c");
	/* '*' does not match a leading dot, as in `each`. */
	APART("*", ".github");
	OVER("**", ".github/x.yml");
}

static void test_directories_own_what_is_under_them(void)
{
	OVER("backend/app/services/trading", "backend/app/services/trading/x.py");
	OVER("backend/**", "backend/app/services/trading");
	APART("backend/app/services/trading", "agent");
	APART("agent", "infrastructure/main.tf");
	OVER("src", "src/**/*.c");
	/* A pattern at the end names files, not what is under them. */
	APART("src/*", "src/ui/a.c");
	APART("**/*.c", "**/*.h");
	OVER("src/*", "src/ui");
	CHECK(overlap_owns("src/ui", "src/ui/a.c"));
	CHECK(overlap_owns("src/*.c", "src/a.c"));
	CHECK(!overlap_owns("src/ui", "src/uix/a.c"));
	CHECK(!overlap_owns("*.md", "docs/x.md"));
}

static void test_patterns_by_their_literal_ends(void)
{
	APART("src/ui_*", "src/db_*");
	OVER("src/ui_*", "src/u*");
	APART("*.md", "*.c");
	OVER("*.c", "*a.c");
	OVER("a*z", "ab*");
	APART("a*z", "ab*y");
	/* Classes and escapes: only the beginning is read; conservative. */
	OVER("x[ab]*.c", "x*.h");
}

static void test_double_stars(void)
{
	OVER("**/*.c", "src/a/b/c.c");
	APART("**/*.c", "*.h");
	OVER("**/test/**", "src/test/x/y.c");
	APART("src/**/*.c", "lib/**/*.c");
	OVER("src/**/*.c", "**/a.c");
	/* Many "**": still a bounded walk. */
	OVER("**/a/**/b/**/c/**/d/**/e/**/f", "a/b/c/d/e/f");
	APART("**/a/**/b/**/c/**/d/**/e/**/f.c", "a/b/c/d/e/*.h");
}

static void test_bad_globs_overlap_everything(void)
{
	char *big = malloc(2000);

	memset(big, 'a', 1999);
	big[1999] = '\0';
	CHECK(overlap_globs(big, "x"));
	CHECK(overlap_globs("a//b", "x"));
	free(big);
}

static void test_sets(void)
{
	const char *a[] = { "docs/**", "src/ui/*.c" };
	const char *b[] = { "README.md", "src/db/*.c", "src/ui/main.c" };
	const char *c[] = { "tests/**" };
	size_t ia = 9, ib = 9;

	CHECK(overlap_sets(a, 2, b, 3, &ia, &ib));
	CHECK(ia == 1 && ib == 2);
	CHECK(!overlap_sets(a, 2, c, 1, NULL, NULL));
	CHECK(!overlap_sets(a, 2, b, 0, NULL, NULL));
}

int main(void)
{
	RUN(test_the_issues_pairs);
	RUN(test_fixed_names);
	RUN(test_directories_own_what_is_under_them);
	RUN(test_patterns_by_their_literal_ends);
	RUN(test_double_stars);
	RUN(test_bad_globs_overlap_everything);
	RUN(test_sets);
	return check_done();
}
