/*
 * test_checkrun: real check commands (sh, sleep) run in a scratch
 * directory through checkrun: exit status, output, timeout and stop
 * (the command and what it started both ended), the saved file, the tail
 * and the prompt of a fix round.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "checkrun.h"

static char dir[64], outp[128], pidf[128];

static char *slurp(const char *path)
{
	static char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int alive(pid_t pid)
{
	char path[64], *s;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	s = slurp(path);
	if (!s)
		return 0;
	s = strrchr(s, ')');
	return s && s[2] != 'Z';
}

static int out_fd(void)
{
	return open(outp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

static int run(const char *cmd, int timeout, bool (*stop)(void *),
	       struct check_outcome *o)
{
	char err[256] = "";
	int fd = out_fd(), r;
	struct check_spec c = { .cmd = cmd, .cwd = dir, .out_fd = fd,
				.timeout = timeout, .kill_grace_ms = 200,
				.stop = stop };

	r = check_run(&c, o, err, sizeof(err));
	close(fd);
	return r;
}

static void test_exit_status_and_output_in_its_directory(void)
{
	struct check_outcome o;
	char how[64];

	CHECK(run("pwd; echo to-stderr >&2; exit 2", 0, NULL, &o) == 0);
	CHECK(o.end == CHECK_EXITED);
	CHECK(o.code == 2);
	CHECK(!check_passed(&o));
	check_describe(&o, 0, how, sizeof(how));
	CHECK_STR(how, "exited 2");
	CHECK(strstr(slurp(outp), dir) != NULL);
	CHECK(strstr(slurp(outp), "to-stderr\n") != NULL);
	CHECK(run("true", 0, NULL, &o) == 0);
	CHECK(check_passed(&o));
}

static void test_timeout_kills_the_check_and_its_children(void)
{
	struct check_outcome o;
	char cmd[256], how[64];
	pid_t child;

	snprintf(cmd, sizeof(cmd), "sleep 300 & echo $! > %s; wait", pidf);
	CHECK(run(cmd, 1, NULL, &o) == 0);
	CHECK(o.end == CHECK_TIMEOUT);
	CHECK(!check_passed(&o));
	CHECK(o.code == 128 + SIGTERM);
	check_describe(&o, 1, how, sizeof(how));
	CHECK_STR(how, "timed out after 1 s");
	child = (pid_t)atoi(slurp(pidf));
	CHECK(child > 0 && !alive(child));
}

static int stop_calls;

static bool stop_soon(void *arg)
{
	return ++stop_calls >= 3;
}

static void test_stop_ends_it(void)
{
	struct check_outcome o;
	char cmd[256];
	pid_t child;

	/* One that ignores SIGTERM: SIGKILL after the grace. */
	snprintf(cmd, sizeof(cmd), "trap '' TERM; sleep 300 & echo $! > %s;"
		 " while :; do wait; done", pidf);
	CHECK(run(cmd, 0, stop_soon, &o) == 0);
	CHECK(o.end == CHECK_STOPPED);
	CHECK(o.code == 128 + SIGKILL);
	child = (pid_t)atoi(slurp(pidf));
	CHECK(child > 0 && !alive(child));
}

static void test_a_missing_directory_is_an_error(void)
{
	struct check_outcome o;
	char err[256] = "";
	int fd = out_fd();
	struct check_spec c = { .cmd = "true", .cwd = "/nonexistent/dir",
				.out_fd = fd, .kill_grace_ms = 200 };

	CHECK(check_run(&c, &o, err, sizeof(err)) < 0);
	CHECK(*err != '\0');
	close(fd);
}

static void test_save_and_tail_take_the_output_from_an_offset(void)
{
	char path[160];
	struct buf b;
	int fd = out_fd();

	CHECK(write(fd, "engine output\n", 14) == 14);
	CHECK(write(fd, "FAIL: one\nFAIL: two\n", 20) == 20);
	snprintf(path, sizeof(path), "%s/saved", dir);
	CHECK(check_save(path, "exit 2", fd, 14) == 0);
	CHECK_STR(slurp(path), "exit 2\nFAIL: one\nFAIL: two\n");
	buf_init(&b, BUF_NOMAX);
	CHECK(check_tail(fd, 14, 10, &b) == 0);
	CHECK_STR(buf_cstr(&b), "FAIL: two\n");
	buf_truncate(&b, 0);
	CHECK(check_tail(fd, 14, 1000, &b) == 0);
	CHECK_STR(buf_cstr(&b), "FAIL: one\nFAIL: two\n");
	buf_release(&b);
	close(fd);
}

static void test_fix_prompt_comments_the_output_then_the_prompt(void)
{
	static const char out[] = "FAIL: a\nnul\0here\nlast";
	size_t len = 0;
	char *p = check_fix_prompt("make\ntest", "exited 2", 2, 3, out,
				   sizeof(out) - 1, "do it", 5, &len);

	CHECK(p != NULL);
	CHECK(len == strlen(p));
	CHECK_STR(p, "# parallelai: the check failed: `make test` exited 2.\n"
		  "# This is round 2 of 3: make the check pass, then the"
		  " task is done.\n"
		  "# The last 21 bytes of its output:\n"
		  "#   FAIL: a\n#   nul?here\n#   last\n"
		  "# The task:\n\ndo it");
	free(p);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pai-checkrun-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(outp, sizeof(outp), "%s/out", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	RUN(test_exit_status_and_output_in_its_directory);
	RUN(test_timeout_kills_the_check_and_its_children);
	RUN(test_stop_ends_it);
	RUN(test_a_missing_directory_is_an_error);
	RUN(test_save_and_tail_take_the_output_from_an_offset);
	RUN(test_fix_prompt_comments_the_output_then_the_prompt);
	unlink(outp);
	unlink(pidf);
	{
		char p[160];

		snprintf(p, sizeof(p), "%s/saved", dir);
		unlink(p);
	}
	rmdir(dir);
	return check_done();
}
