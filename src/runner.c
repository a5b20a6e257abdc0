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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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

static const char capped_note[] =
	"\nparallelai: log cap reached; the rest of the output is dropped\n";

/* Copy the engine's output into the log, up to the cap. Runs until the
 * pipe's last writer is gone, or until told to stop and nothing is
 * left to read. */
static void *relay_main(void *arg)
{
	struct runner_proc *p = arg;
	struct pollfd pfd[2] = { { p->out_rd, POLLIN, 0 },
				 { p->stop_fd[0], POLLIN, 0 } };
	char buf[65536];
	int stopping = 0, noted = 0;
	ssize_t n;

	for (;;) {
		if (poll(pfd, stopping ? 1 : 2, stopping ? 0 : -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!stopping && (pfd[1].revents & POLLIN))
			stopping = 1;
		if (!(pfd[0].revents & (POLLIN | POLLHUP))) {
			if (stopping)
				break;
			continue;
		}
		n = read(p->out_rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (p->cap && p->written + (uint64_t)n > p->cap) {
			size_t keep = (size_t)(p->cap - p->written);

			if (keep && write(p->log_fd, buf, keep) > 0)
				p->written += keep;
			if (!noted++ &&
			    write(p->log_fd, capped_note,
				  sizeof(capped_note) - 1) < 0)
				noted = 1;
			continue;
		}
		if (write(p->log_fd, buf, (size_t)n) == n)
			p->written += (uint64_t)n;
	}
	return NULL;
}

void runner_kill_tagged(const char *tag)
{
	char want[80];

	if (!tag || !*tag)
		return;
	snprintf(want, sizeof(want), "PAI_RUN=%s", tag);
	runner_kill_env(want);
}

void runner_kill_env(const char *entry)
{
	char path[64], env[65536];
	const char *want = entry;
	struct dirent *d;
	size_t wlen = strlen(entry) + 1;
	ssize_t n;
	DIR *proc;
	int fd;

	if (!*entry || wlen > sizeof(env) / 2)
		return;
	proc = opendir("/proc");
	if (!proc)
		return;
	while ((d = readdir(proc))) {
		pid_t pid = (pid_t)atoi(d->d_name);

		if (pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, env, sizeof(env) - 1);
		close(fd);
		if (n <= 0)
			continue;
		env[n] = '\0';
		/* environ is NUL-separated: want NUL-terminated matches one
		 * entry exactly, at the start or after a NUL. */
		for (ssize_t i = 0; i + (ssize_t)wlen <= n; i++)
			if ((i == 0 || env[i - 1] == '\0') &&
			    !memcmp(env + i, want, wlen)) {
				kill(pid, SIGKILL);
				break;
			}
	}
	closedir(proc);
}

int runner_spawn(struct runner_proc *p, char *const argv[],
		 char *const envp[], const char *cwd, int log_fd,
		 uint64_t log_cap, char *err, size_t errlen)
{
	static atomic_ulong runs;
	int pipefd[2], out[2] = { -1, -1 }, child_errno = 0, devnull;
	char **env, **all, tagvar[64];
	ssize_t n;
	pid_t pid, parent;
	size_t m = 0;

	memset(p, 0, sizeof(*p));
	p->pidfd = -1;
	p->out_rd = -1;
	p->stop_fd[0] = p->stop_fd[1] = -1;
	p->log_fd = log_fd;
	p->cap = log_cap;
	snprintf(p->tag, sizeof(p->tag), "%d-%lu", (int)getpid(),
		 (unsigned long)atomic_fetch_add(&runs, 1) + 1);
	/* The tag goes last: it wins over any PAI_RUN the caller passed.
	 * env borrows its strings, tagvar included, until the exec. */
	while (envp && envp[m])
		m++;
	all = calloc(m + 2, sizeof(*all));
	if (!all)
		return -ENOMEM;
	if (m)
		memcpy(all, envp, m * sizeof(*all));
	snprintf(tagvar, sizeof(tagvar), "PAI_RUN=%s", p->tag);
	all[m] = tagvar;
	env = merge_env(all);
	free(all);
	if (!env)
		return -ENOMEM;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0 ||
	    pipe2(out, O_CLOEXEC) < 0 || pipe2(p->stop_fd, O_CLOEXEC) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot start '%s': %s", argv[0],
			 strerror(e));
		if (devnull >= 0)
			close(devnull);
		for (int i = 0; i < 2; i++) {
			if (out[i] >= 0)
				close(out[i]);
			if (p->stop_fd[i] >= 0)
				close(p->stop_fd[i]);
		}
		free(env);
		return -e;
	}
	parent = getpid();
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. A daemon
		 * that died before prctl sends no signal: its child must
		 * see the new parent and go by itself. */
		if (setsid() < 0 ||
		    prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    getppid() != parent ||
		    chdir(cwd) < 0 ||
		    dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(out[1], 2) < 0)
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
	close(out[1]);
	close(devnull);
	free(env);
	p->out_rd = out[0];
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
		runner_release(p);
		if (child_errno == ENOENT)
			snprintf(err, errlen, "command not found: '%s'",
				 argv[0]);
		else
			snprintf(err, errlen, "cannot run '%s': %s", argv[0],
				 strerror(child_errno));
		return -child_errno;
	}
	p->pidfd = pidfd_open_compat(pid);
	if (pthread_create(&p->relay, NULL, relay_main, p) == 0)
		p->relaying = 1;
	return 0;
}

/* The output left in the pipe is copied, then the relay ends even if a
 * process nobody could find still holds the pipe open. */
static void stop_relay(struct runner_proc *p)
{
	if (!p->relaying)
		return;
	if (write(p->stop_fd[1], "x", 1) < 0)
		return;
	pthread_join(p->relay, NULL);
	p->relaying = 0;
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
	/* Whatever the engine left running goes with it: its group, and
	 * what escaped the group but still carries the run's tag. */
	kill(-p->pid, SIGKILL);
	runner_kill_tagged(p->tag);
	stop_relay(p);
done:
	if (status)
		*status = p->status;
	return 0;
}

void runner_signal(struct runner_proc *p, int sig)
{
	if (p->pid > 0 && !p->reaped) {
		kill(-p->pid, sig);
		/* Escaped descendants get no second chance to clean up. */
		if (sig == SIGKILL)
			runner_kill_tagged(p->tag);
	}
}

void runner_release(struct runner_proc *p)
{
	stop_relay(p);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	if (p->out_rd >= 0)
		close(p->out_rd);
	p->out_rd = -1;
	for (int i = 0; i < 2; i++) {
		if (p->stop_fd[i] >= 0)
			close(p->stop_fd[i]);
		p->stop_fd[i] = -1;
	}
}

int runner_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}
