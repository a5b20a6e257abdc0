/*
 * run: a shell command in a directory, as the run tool does it.
 *
 *	run_command(rootfd, "make test", 120, 0, "ANTHROPIC_API_KEY",
 *		    &out, &status, err, sizeof(err));
 *	// out: the output, its first 16 KiB and its last ~47 KiB when long,
 *	// then "[exit status 2]"; status: 2, or RUN_TIMED_OUT
 *
 * The command stays in our process group, so a signal the runner sends to
 * the group reaches it. On a timeout the whole tree below it is killed:
 * we are a child subreaper (set in agent_main), so even orphans it left
 * are still ours to find through /proc.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define RUN_HEAD (16 * 1024)	/* the first and the last bytes are kept */
#define RUN_TAIL (TOOL_OUTPUT_MAX - RUN_HEAD - 256)

extern char **environ;

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Kill pid and every process descending from it (found through /proc by
 * parent pid), leaves first is not needed: SIGKILL cannot be caught. */
static void kill_tree(pid_t pid)
{
	pid_t set[4096];
	size_t n = 1, before;
	int round;

	set[0] = pid;
	for (round = 0; round < 16; round++) {
		DIR *d = opendir("/proc");
		struct dirent *de;

		if (!d)
			break;
		before = n;
		while ((de = readdir(d)) && n < sizeof(set) / sizeof(set[0])) {
			char path[64], stat[512], *rp;
			pid_t p = (pid_t)atoi(de->d_name), pp;
			size_t i;
			ssize_t len;
			int fd;

			if (p <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/stat", (int)p);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			len = read(fd, stat, sizeof(stat) - 1);
			close(fd);
			if (len <= 0)
				continue;
			stat[len] = '\0';
			if (!(rp = strrchr(stat, ')')) ||
			    sscanf(rp + 1, " %*c %d", &pp) != 1)
				continue;
			for (i = 0; i < n && set[i] != p; i++)
				;
			if (i < n)
				continue;
			for (i = 0; i < n && set[i] != pp; i++)
				;
			if (i < n)
				set[n++] = p;
		}
		closedir(d);
		if (n == before)
			break;
	}
	for (size_t i = 0; i < n; i++)
		kill(set[i], SIGKILL);
}

struct capture {
	struct buf head;
	char *tail;
	size_t tpos, tlen;	/* ring position and fill */
	size_t total;
};

static void capture_add(struct capture *c, const char *p, size_t n)
{
	size_t room = RUN_HEAD - c->head.len;

	c->total += n;
	if (room) {
		size_t k = n < room ? n : room;

		buf_add(&c->head, p, k);
		p += k;
		n -= k;
	}
	for (; n; n--, p++) {
		c->tail[c->tpos] = *p;
		c->tpos = (c->tpos + 1) % RUN_TAIL;
		if (c->tlen < RUN_TAIL)
			c->tlen++;
	}
}

static void capture_out(struct capture *c, struct buf *out)
{
	size_t dropped = c->total - c->head.len - c->tlen;
	size_t start = (c->tpos + RUN_TAIL - c->tlen) % RUN_TAIL;

	buf_add(out, c->head.ptr ? c->head.ptr : "", c->head.len);
	if (dropped)
		buf_printf(out, "\n[... %zu bytes of output omitted ...]\n", dropped);
	if (start + c->tlen <= RUN_TAIL) {
		buf_add(out, c->tail + start, c->tlen);
	} else {
		buf_add(out, c->tail + start, RUN_TAIL - start);
		buf_add(out, c->tail, c->tlen - (RUN_TAIL - start));
	}
}

/* The environment for run: ours without the API key, and no pagers or
 * prompts that would wait for a terminal nobody is at. */
static char **run_env(const char *hide)
{
	static const char *const extra[] = {
		"PAGER=cat", "GIT_PAGER=cat", "GIT_TERMINAL_PROMPT=0", NULL
	};
	size_t n = 0, i, k = 0, hlen = hide ? strlen(hide) : 0;
	char **env;

	while (environ[n])
		n++;
	if (!(env = calloc(n + 4, sizeof(*env))))
		return NULL;
	for (i = 0; i < n; i++) {
		if (hide && !strncmp(environ[i], hide, hlen) && environ[i][hlen] == '=')
			continue;
		if (!strncmp(environ[i], "PAGER=", 6) ||
		    !strncmp(environ[i], "GIT_PAGER=", 10) ||
		    !strncmp(environ[i], "GIT_TERMINAL_PROMPT=", 20))
			continue;
		env[k++] = environ[i];
	}
	for (i = 0; extra[i]; i++)
		env[k++] = (char *)extra[i];
	env[k] = NULL;
	return env;
}

int run_command(int dirfd, const char *cmd, double timeout, double deadline,
		const char *hide_env, struct buf *out, int *status_out,
		char *err, size_t errlen)
{
	struct capture c;
	double start, limit, exit_time = 0;
	bool exited = false, timed_out = false, eof = false;
	int pipefd[2], devnull, status = 0;
	char **env;
	pid_t pid, parent;

	start = now_mono();
	limit = start + timeout;
	if (deadline && deadline < limit)
		limit = deadline;
	if (!(env = run_env(hide_env))) {
		snprintf(err, errlen, "cannot run: out of memory");
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot run: pipe: %s", strerror(errno));
		free(env);
		return -1;
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	parent = getpid();
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. It stays in
		 * the agent's process group, so a cancel of the task (a signal
		 * to the group) reaches it; a timeout kills its tree below. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
		    getppid() != parent ||	/* it died before prctl */
		    fchdir(dirfd) < 0 || devnull < 0 ||
		    dup2(devnull, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execve("/bin/sh", (char *const[]){ "sh", "-c", (char *)cmd, NULL }, env);
		_exit(127);
	}
	close(pipefd[1]);
	if (devnull >= 0)
		close(devnull);
	free(env);
	if (pid < 0) {
		close(pipefd[0]);
		snprintf(err, errlen, "cannot run: fork: %s", strerror(errno));
		return -1;
	}
	buf_init(&c.head, RUN_HEAD);
	c.tail = malloc(RUN_TAIL);
	c.tpos = c.tlen = c.total = 0;
	for (;;) {
		struct pollfd pfd = { pipefd[0], POLLIN, 0 };
		double now = now_mono();
		char chunk[16384];

		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			exit_time = now;
		}
		/* Once the shell is gone, a background process may keep the
		 * pipe open forever: take what is there, then stop. */
		if (eof || (exited && now - exit_time > 0.3))
			break;
		if (!exited && now >= limit) {
			timed_out = true;
			kill_tree(pid);
			waitpid(pid, &status, 0);
			break;
		}
		if (poll(&pfd, 1, 50) > 0) {
			ssize_t n = read(pipefd[0], chunk, sizeof(chunk));

			if (n > 0 && c.tail)
				capture_add(&c, chunk, (size_t)n);
			else if (n == 0)
				eof = true;
		}
	}
	close(pipefd[0]);
	if (!exited && !timed_out)
		waitpid(pid, &status, 0);
	if (c.tail)
		capture_out(&c, out);
	if (out->len && out->ptr[out->len - 1] != '\n')
		buf_add(out, "\n", 1);
	if (timed_out) {
		buf_printf(out, "[command timed out after %.0f s and was killed]",
			   limit - start);
		*status_out = RUN_TIMED_OUT;
	} else if (WIFEXITED(status)) {
		*status_out = WEXITSTATUS(status);
		buf_printf(out, "[exit status %d]", *status_out);
	} else {
		*status_out = 128 + WTERMSIG(status);
		buf_printf(out, "[killed by signal %d]", WTERMSIG(status));
	}
	buf_release(&c.head);
	free(c.tail);
	return 0;
}
