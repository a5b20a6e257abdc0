/*
 * checkrun: run a check command under the runner and judge it; see
 * include/checkrun.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "checkrun.h"
#include "runner.h"

static int64_t check_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for the check, ending it at its timeout or when asked to stop:
 * SIGTERM to its group and its tagged processes, SIGKILL once the grace
 * is over. */
static void wait_check(const struct check_spec *c, struct runner_proc *p,
		       struct check_outcome *out, int64_t start)
{
	int64_t term_at = 0, now;
	int status = 0;

	out->end = CHECK_EXITED;
	while (runner_wait(p, CHECK_POLL_MS, &status) == -ETIMEDOUT) {
		now = check_now_ms();
		if (!term_at) {
			if (c->timeout && now - start >= c->timeout * 1000LL)
				out->end = CHECK_TIMEOUT;
			else if (c->stop && c->stop(c->arg))
				out->end = CHECK_STOPPED;
			if (out->end != CHECK_EXITED) {
				runner_signal(p, SIGTERM);
				term_at = now;
			}
		} else if (now - term_at >= c->kill_grace_ms) {
			runner_signal(p, SIGKILL);
		}
	}
	out->code = runner_exit_code(status);
	out->ms = check_now_ms() - start;
}

int check_run(const struct check_spec *c, struct check_outcome *out,
	      char *err, size_t errlen)
{
	char *argv[] = { "/bin/sh", "-c", (char *)c->cmd, NULL };
	struct runner_proc p;
	int64_t start = check_now_ms();
	int r;

	memset(out, 0, sizeof(*out));
	r = runner_spawn(&p, c->argv ? c->argv : argv, c->envp, c->cwd,
			 c->out_fd, c->out_cap,
			 NULL, err, errlen);
	if (r < 0)
		return r;
	wait_check(c, &p, out, start);
	runner_release(&p);
	return 0;
}

bool check_passed(const struct check_outcome *o)
{
	return o->end == CHECK_EXITED && o->code == 0;
}

void check_describe(const struct check_outcome *o, int timeout, char *out,
		    size_t len)
{
	if (o->end == CHECK_TIMEOUT)
		snprintf(out, len, "timed out after %d s", timeout);
	else if (o->end == CHECK_STOPPED)
		snprintf(out, len, "stopped");
	else if (o->code > 128)
		snprintf(out, len, "killed by signal %d", o->code - 128);
	else
		snprintf(out, len, "exited %d", o->code);
}

int check_tail(int fd, off_t from, size_t max, struct buf *out)
{
	char chunk[65536];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= from || !max)
		return 0;
	if ((size_t)(st.st_size - from) > max)
		from = st.st_size - (off_t)max;
	while (from < st.st_size &&
	       (n = pread(fd, chunk, sizeof(chunk) < (size_t)(st.st_size - from)
			  ? sizeof(chunk) : (size_t)(st.st_size - from),
			  from)) > 0) {
		int r = buf_add(out, chunk, (size_t)n);

		if (r < 0)
			return r;
		from += n;
	}
	return 0;
}

static int copy_range(int out, int in, off_t from)
{
	char chunk[65536];
	ssize_t n;

	while ((n = pread(in, chunk, sizeof(chunk), from)) > 0) {
		if (write(out, chunk, (size_t)n) != n)
			return -EIO;
		from += n;
	}
	return n < 0 ? -errno : 0;
}

int check_save(const char *path, const char *head, int src_fd, off_t from)
{
	char tmp[PATH_MAX];
	size_t hl = strlen(head);
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, head, hl) != (ssize_t)hl || write(fd, "\n", 1) != 1)
		r = -EIO;
	if (!r)
		r = copy_range(fd, src_fd, from);
	if (close(fd) < 0 && !r)
		r = -EIO;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

void check_head(const struct check_outcome *o, int timeout, char *out,
		size_t len)
{
	if (o->end == CHECK_TIMEOUT)
		snprintf(out, len, "exit %d (timed out after %d s)", o->code,
			 timeout);
	else
		snprintf(out, len, "exit %d", o->code);
}

int check_comment(struct buf *b, const char *s, size_t len)
{
	size_t i, start = 0, from = b->len;
	int r = 0;

	for (i = 0; r == 0 && i <= len; i++) {
		if (i < len && s[i] != '\n')
			continue;
		if (i == len && start == len)
			break;
		if ((r = buf_puts(b, "#   ")) == 0)
			r = buf_add(b, s + start, i - start);
		if (r == 0)
			r = buf_puts(b, "\n");
		start = i + 1;
	}
	for (i = from; r == 0 && i < b->len; i++)
		if (!b->ptr[i])
			b->ptr[i] = '?';
	return r;
}

char *check_fix_prompt(const char *cmd, const char *how, int round,
		       int rounds, const char *tail, size_t tail_len,
		       const char *prompt, size_t prompt_len, size_t *len)
{
	struct buf b;
	int r;

	buf_init(&b, BUF_NOMAX);
	r = buf_puts(&b, "# parallelai: the check failed: `");
	/* The command on one line, whatever it holds. */
	for (const char *s = cmd; r == 0 && *s; s++)
		r = buf_add(&b, *s == '\n' || *s == '\r' ? " " : s, 1);
	if (r == 0)
		r = buf_printf(&b, "` %s.\n# This is round %d of %d: make the"
			       " check pass, then the task is done.\n", how,
			       round, rounds);
	if (r == 0 && tail_len)
		r = buf_printf(&b, "# The last %zu bytes of its output:\n",
			       tail_len);
	if (r == 0 && tail_len)
		r = check_comment(&b, tail, tail_len);
	if (r == 0)
		r = buf_puts(&b, "# The task:\n\n");
	if (r == 0)
		r = buf_add(&b, prompt, prompt_len);
	if (r < 0) {
		buf_release(&b);
		return NULL;
	}
	*len = b.len;
	return buf_detach(&b);
}
