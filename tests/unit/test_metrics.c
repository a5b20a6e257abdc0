/* Unit tests for metrics: label values quoted as the text format says. */
#include <errno.h>

#include "buf.h"
#include "check.h"
#include "metrics.h"

static const char *quoted(struct buf *b, const char *value)
{
	buf_truncate(b, 0);
	CHECK(metrics_label_value(b, value) == 0);
	return buf_cstr(b);
}

static void test_plain_value_is_unchanged(void)
{
	struct buf b;

	buf_init(&b, 1024);
	CHECK_STR(quoted(&b, "claude"), "claude");
	CHECK_STR(quoted(&b, ""), "");
	CHECK_STR(quoted(&b, "caf\xc3\xa9 {x=1}, 'y'\t"),
		  "caf\xc3\xa9 {x=1}, 'y'\t");
	buf_release(&b);
}

static void test_backslash_quote_newline_are_escaped(void)
{
	struct buf b;

	buf_init(&b, 1024);
	CHECK_STR(quoted(&b, "a\\b"), "a\\\\b");
	CHECK_STR(quoted(&b, "say \"hi\""), "say \\\"hi\\\"");
	CHECK_STR(quoted(&b, "two\nlines\n"), "two\\nlines\\n");
	CHECK_STR(quoted(&b, "\\\"\n"), "\\\\\\\"\\n");
	buf_release(&b);
}

static void test_cap_is_an_error(void)
{
	struct buf b;

	buf_init(&b, 4);
	CHECK(metrics_label_value(&b, "a\"b\"c") == -EFBIG);
	buf_release(&b);
}

int main(void)
{
	RUN(test_plain_value_is_unchanged);
	RUN(test_backslash_quote_newline_are_escaped);
	RUN(test_cap_is_an_error);
	return check_done();
}
