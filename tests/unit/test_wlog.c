/*
 * test_wlog: a worker's log, task after task, from real log files in a
 * temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "wlog.h"

static char dir[] = "/tmp/test_wlog.XXXXXX";

static void append(int64_t task, const char *text)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%lld.log", dir, (long long)task);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

static off_t log_size(int64_t task)
{
	char path[512];
	off_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%lld.log", dir, (long long)task);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = lseek(fd, 0, SEEK_END);
	close(fd);
	return n;
}

/* The whole worker log as a C string (static). */
static const char *all(struct wlog *wl, int k)
{
	static char out[1 << 16];
	off_t size;
	int64_t ms;
	ssize_t n;

	wlog_stat(wl, k, &size, &ms);
	n = wlog_read(wl, k, out, sizeof(out) - 1, 0);
	CHECK(n == size);
	out[n < 0 ? 0 : n] = '\0';
	return out;
}

static void test_tasks_follow_each_other_while_held(void)
{
	struct wlog *wl;
	off_t before, after;
	int64_t ms;

	CHECK(wlog_new(&wl, dir) == 0);
	wlog_hold(wl, 1);
	append(1, "one-a\n");
	CHECK(wlog_begin(wl, 1, 1, "echo one\nmore", 13, 0) == 0);
	CHECK_STR(all(wl, 1), "--- task 1: echo one ---\none-a\n");
	append(1, "one-b\n");
	wlog_stat(wl, 1, &before, &ms);
	CHECK(wlog_begin(wl, 1, 2, "echo two", 8, log_size(2)) == 0);
	append(2, "two\n");
	append(1, "late\n");	/* after the worker moved on: not shown */
	wlog_stat(wl, 1, &after, &ms);
	CHECK(after > before);
	CHECK_STR(all(wl, 1), "--- task 1: echo one ---\none-a\none-b\n"
		  "--- task 2: echo two ---\ntwo\n");
	/* a retry of task 1: only this attempt's part */
	CHECK(wlog_begin(wl, 1, 1, "echo one", 8, log_size(1)) == 0);
	append(1, "again\n");
	CHECK(strstr(all(wl, 1), "--- task 1: echo one ---\nagain\n") != NULL);
	wlog_drop(wl, 1);
	wlog_free(wl);
}

static void test_nobody_holding_it_starts_afresh(void)
{
	struct wlog *wl;

	CHECK(wlog_new(&wl, dir) == 0);
	append(3, "three\n");
	CHECK(wlog_begin(wl, 2, 3, "x", 1, 0) == 0);
	append(4, "four\n");
	CHECK(wlog_begin(wl, 2, 4, "y\x01z", 3, 0) == 0);
	CHECK_STR(all(wl, 2), "--- task 4: y z ---\nfour\n");
	CHECK_STR(all(wl, 3), "");
	wlog_free(wl);
}

static void test_bounded_while_held(void)
{
	struct wlog *wl;
	char buf[64];
	off_t size;
	int64_t ms;
	int i;

	CHECK(wlog_new(&wl, dir) == 0);
	wlog_hold(wl, 1);
	for (i = 0; i < WLOG_MAX_SEGS + 10; i++)
		CHECK(wlog_begin(wl, 1, 5, "p", 1, 0) == 0);
	wlog_stat(wl, 1, &size, &ms);
	/* every segment counted, though the first ten are forgotten */
	CHECK(size == (off_t)(WLOG_MAX_SEGS + 10) * (off_t)strlen("--- task 5: p ---\n"));
	CHECK(wlog_read(wl, 1, buf, 4, 0) == 4);
	CHECK(!memcmp(buf, "\n\n\n\n", 4));
	CHECK(wlog_read(wl, 1, buf, 18, size - 18) == 18);
	CHECK(!memcmp(buf, "--- task 5: p ---\n", 18));
	CHECK(wlog_read(wl, 1, buf, 18, size) == 0);
	wlog_drop(wl, 1);
	wlog_free(wl);
}

static void test_a_removed_log_reads_as_newlines(void)
{
	struct wlog *wl;
	char path[512];

	CHECK(wlog_new(&wl, dir) == 0);
	wlog_hold(wl, 1);
	append(6, "six\n");
	CHECK(wlog_begin(wl, 1, 6, "s", 1, 0) == 0);
	CHECK_STR(all(wl, 1), "--- task 6: s ---\nsix\n");
	snprintf(path, sizeof(path), "%s/6.log", dir);
	unlink(path);
	CHECK_STR(all(wl, 1), "--- task 6: s ---\n\n\n\n\n");
	wlog_drop(wl, 1);
	wlog_free(wl);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(test_tasks_follow_each_other_while_held);
	RUN(test_nobody_holding_it_starts_afresh);
	RUN(test_bounded_while_held);
	RUN(test_a_removed_log_reads_as_newlines);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return check_done();
}
