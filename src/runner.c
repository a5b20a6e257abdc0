/*
 * runner: start an engine process and watch it.
 *
 * The child gets its own session (so the whole job can be signalled as a
 * group and never reads our terminal), SIGKILL when the thread that
 * started it dies (the daemon was killed), stdin from /dev/null, the log
 * as stdout and stderr, and no other descriptor of ours. A failed exec is
 * reported back through a close-on-exec pipe, so "command not found" is
 * known before runner_spawn returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

extern char **environ;

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* environ plus the extras, the last of a name winning; the strings are
 * borrowed. */
static char **merge_env(char *const extra[])
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **env;

	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t klen = eq ? (size_t)(eq - environ[i]) + 1 : 0;
		int overridden = 0;

		for (j = 0; klen && j < m; j++)
			if (!strncmp(environ[i], extra[j], klen))
				overridden = 1;
		if (!overridden)
			env[k++] = environ[i];
	}
	/* A later extra of the same name wins over an earlier one. */
	for (j = 0; j < m; j++) {
		const char *eq = strchr(extra[j], '=');
		size_t klen = eq ? (size_t)(eq - extra[j]) + 1 : 0, l;
		int later = 0;

		for (l = j + 1; klen && l < m; l++)
			if (!strncmp(extra[j], extra[l], klen))
				later = 1;
		if (!later)
			env[k++] = extra[j];
	}
	env[k] = NULL;
	return env;
}

int runner_spawn(struct runner_proc *p, char *const argv[],
		 char *const envp[], const char *cwd, int log_fd,
		 char *err, size_t errlen)
{
	int pipefd[2], child_errno = 0, devnull;
	char **env;
	ssize_t n;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	p->pidfd = -1;
	env = merge_env(envp);
	if (!env)
		return -ENOMEM;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot start '%s': %s", argv[0],
			 strerror(e));
		if (devnull >= 0)
			close(devnull);
		free(env);
		return -e;
	}
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		if (setsid() < 0 ||
		    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    chdir(cwd) < 0 ||
		    dup2(devnull, 0) < 0 || dup2(log_fd, 1) < 0 ||
		    dup2(log_fd, 2) < 0)
			goto fail;
		{
			sigset_t none;

			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			signal(SIGPIPE, SIG_DFL);
		}
		/* Keep only 0-2 and the error pipe (close-on-exec). */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != pipefd[1])
				close(fd);
		execvpe(argv[0], argv, env);
fail:
		child_errno = errno;
		if (write(pipefd[1], &child_errno, sizeof(child_errno)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pipefd[1]);
	close(devnull);
	free(env);
	if (pid < 0) {
		int e = errno;

		close(pipefd[0]);
		snprintf(err, errlen, "cannot start '%s': %s", argv[0],
			 strerror(e));
		return -e;
	}
	p->pid = pid;
	do
		n = read(pipefd[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == sizeof(child_errno)) {
		waitpid(pid, &p->status, 0);
		p->reaped = 1;
		if (child_errno == ENOENT)
			snprintf(err, errlen, "command not found: '%s'",
				 argv[0]);
		else
			snprintf(err, errlen, "cannot run '%s': %s", argv[0],
				 strerror(child_errno));
		return -child_errno;
	}
	p->pidfd = pidfd_open_compat(pid);
	return 0;
}

int runner_wait(struct runner_proc *p, int timeout_ms, int *status)
{
	struct timespec start, now;
	pid_t r;

	if (p->reaped)
		goto done;
	if (p->pidfd >= 0) {
		struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };
		int n;

		do
			n = poll(&pfd, 1, timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n == 0)
			return -ETIMEDOUT;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		r = waitpid(p->pid, &p->status, p->pidfd >= 0 ? 0 : WNOHANG);
		if (r == p->pid)
			break;
		if (r < 0 && errno != EINTR) {
			/* Someone else reaped it: report a plain failure. */
			p->status = 1 << 8;
			break;
		}
		if (r == 0) {
			long ms;

			clock_gettime(CLOCK_MONOTONIC, &now);
			ms = (now.tv_sec - start.tv_sec) * 1000 +
			     (now.tv_nsec - start.tv_nsec) / 1000000;
			if (timeout_ms >= 0 && ms >= timeout_ms)
				return -ETIMEDOUT;
			usleep(20000);
		}
	}
	p->reaped = 1;
	/* Whatever the engine left running in its group goes with it. */
	kill(-p->pid, SIGKILL);
done:
	if (status)
		*status = p->status;
	return 0;
}

void runner_signal(struct runner_proc *p, int sig)
{
	if (p->pid > 0 && !p->reaped)
		kill(-p->pid, sig);
}

void runner_release(struct runner_proc *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
}

int runner_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}
