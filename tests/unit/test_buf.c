/* Unit tests for buf: caps, offsets, strings. */
#include <errno.h>
#include <stdlib.h>

#include "buf.h"
#include "check.h"

static void test_printf_grows_and_terminates(void)
{
	struct buf b;
	int i;

	buf_init(&b, BUF_NOMAX);
	for (i = 0; i < 1000; i++)
		CHECK(buf_printf(&b, "%d,", i) == 0);
	CHECK(b.len == strlen(b.ptr));
	CHECK(!strncmp(b.ptr, "0,1,2,", 6));
	buf_release(&b);
	CHECK_STR(buf_cstr(&b), "");
}

static void test_cap_is_enforced(void)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK(buf_add(&b, "12345678", 8) == 0);
	CHECK(buf_add(&b, "9", 1) == -EFBIG);
	CHECK(b.len == 8);
	CHECK(buf_write_at(&b, 7, "xy", 2) == -EFBIG);
	CHECK(buf_printf(&b, "%s", "") == 0);
	buf_release(&b);
}

static void test_write_at_fills_gaps(void)
{
	struct buf b;

	buf_init(&b, 100);
	CHECK(buf_write_at(&b, 3, "abc", 3) == 0);
	CHECK(b.len == 6);
	CHECK(b.ptr[0] == '\0' && b.ptr[3] == 'a');
	CHECK(buf_write_at(&b, 0, "xyz", 3) == 0);
	CHECK_STR(b.ptr, "xyzabc");
	buf_truncate(&b, 2);
	CHECK_STR(b.ptr, "xy");
	free(buf_detach(&b));
	CHECK(b.len == 0 && b.ptr == NULL);
}

int main(void)
{
	RUN(test_printf_grows_and_terminates);
	RUN(test_cap_is_enforced);
	RUN(test_write_at_fills_gaps);
	return check_done();
}
