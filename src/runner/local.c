/*
 * runner/local: the local backend, the daemon's side. A run is a keeper
 * process forked from the daemon (runner/keeper.c), which forks the
 * engine; this side makes the run's exit file and pipes, forks the
 * keeper, hears from it the engine's pid and whether its exec worked,
 * and copies the engine's output into the log on a relay thread. The
 * keeper reports the end through its status pipe; a signal goes to the
 * engine's process group after a byte on the control pipe says it was
 * asked for (so the keeper does not keep the status of an end the daemon
 * caused). After a daemon died, the keeper's lock on the log says when
 * its run is over, and the exit file how it ended.
 *
 *	runner_spawn ─► exit file ─► pipes ─► fork keeper ─► engine's pid
 *		─► relay thread ─► runner_wait ◄─ keeper's report
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "localint.h"
#include "redact.h"

_Static_assert(sizeof(struct local_run) <= RUNNER_STATE_SIZE,
	       "struct local_run does not fit in runner_proc.state");

extern char **environ;

/* ---- environment -------------------------------------------------------- */

/* base plus the extras, the last of a name winning; the strings are
 * borrowed. */
static char **merge_env(char *const base[], char *const extra[])
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **env;

	while (base[n])
		n++;
	while (extra && extra[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(base[i], '=');
		size_t klen = eq ? (size_t)(eq - base[i]) + 1 : 0;
		int overridden = 0;

		for (j = 0; klen && j < m; j++)
			if (!strncmp(base[i], extra[j], klen))
				overridden = 1;
		if (!overridden)
			env[k++] = base[i];
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

/* ---- the relay: output pipe to log -------------------------------------- */

/* Copy the engine's output into the log, up to the cap, the secrets the
 * daemon knows redacted. Runs until the pipe's last writer is gone, or
 * until told to stop and nothing is left to read. */
static void *relay_main(void *arg)
{
	struct local_run *run = arg;
	struct pollfd pfd[2] = { { run->out_rd, POLLIN, 0 },
				 { run->stop_fd[0], POLLIN, 0 } };
	struct log_relay rl;
	char buf[65536];
	int stopping = 0;
	ssize_t n;

	log_relay_init(&rl, run->log_fd, run->cap, redact_global());
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
		n = read(run->out_rd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		log_relay_feed(&rl, buf, (size_t)n);
	}
	log_relay_end(&rl);
	return NULL;
}

/* The output left in the pipe is copied, then the relay ends even if a
 * process nobody could find still holds the pipe open. */
static void stop_relay(struct local_run *run)
{
	if (!run->relaying)
		return;
	if (write(run->stop_fd[1], "x", 1) < 0)
		return;
	pthread_join(run->relay, NULL);
	run->relaying = 0;
}

static int read_int(int fd, int *v)
{
	ssize_t n;

	do
		n = read(fd, v, sizeof(*v));
	while (n < 0 && errno == EINTR);
	return n == sizeof(*v) ? 0 : -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* envp (the whole environment; NULL: the daemon's) and the tag, which
 * goes last: it wins over any PAI_RUN the caller passed. The result
 * borrows its strings, tag included. */
static char **tagged_env(char *const envp[], char *tag)
{
	char *const extra[] = { tag, NULL };

	return merge_env(envp ? envp : environ, extra);
}

/* ---- starting: one step a function -------------------------------------- */

/* What one start holds until the keeper has it: the keeper's ends of the
 * pipes, the exit file, the environment; -1 and NULL once handed over. */
struct start {
	int errp[2];	/* the engine's exec error, close-on-exec */
	int out[2];	/* the engine's output */
	int st[2];	/* the keeper's reports */
	int ctl[2];	/* the daemon's signals */
	int devnull, exit_fd;
	char **env;
	char tagvar[64];	/* "PAI_RUN=<tag>" */
};

static void start_init(struct start *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++)
		s->errp[i] = s->out[i] = s->st[i] = s->ctl[i] = -1;
	s->devnull = s->exit_fd = -1;
}

static void start_release(struct start *s)
{
	free(s->env);
	s->env = NULL;
	close_fd(&s->devnull);
	close_fd(&s->exit_fd);
	for (int i = 0; i < 2; i++) {
		close_fd(&s->errp[i]);
		close_fd(&s->out[i]);
		close_fd(&s->st[i]);
		close_fd(&s->ctl[i]);
	}
}

static int cannot_start(const struct runner_job *job, int e, char *err,
			size_t errlen)
{
	snprintf(err, errlen, "cannot start '%s': %s", job->argv[0],
		 strerror(e));
	return -e;
}

/* A run with its own tag, nothing open yet. */
static void run_init(struct runner_proc *p, const struct runner_job *job)
{
	static atomic_ulong runs;
	struct local_run *run = LOCAL_RUN(p);

	memset(run, 0, sizeof(*run));
	run->out_rd = run->status_rd = run->ctl_wr = -1;
	run->stop_fd[0] = run->stop_fd[1] = -1;
	run->log_fd = job->log_fd;
	run->cap = job->log_cap;
	snprintf(run->tag, sizeof(run->tag), "%d-%lu", (int)getpid(),
		 (unsigned long)atomic_fetch_add(&runs, 1) + 1);
}

/* Without room for its status, a run could not keep its promise to run
 * once: it does not start. */
static int make_exit_file(const struct runner_job *job, struct start *s,
			  char *err, size_t errlen)
{
	if (!job->exit_path ||
	    (s->exit_fd = runner_exit_file_make(job->exit_path)) >= 0)
		return 0;
	snprintf(err, errlen, "cannot make exit file '%s': %s",
		 job->exit_path, strerror(-s->exit_fd));
	return s->exit_fd;
}

/* The engine's environment, tag included, and the pipes between the
 * daemon, the keeper and the engine. */
static int make_channels(struct runner_proc *p, const struct runner_job *job,
			 struct start *s, char *err, size_t errlen)
{
	struct local_run *run = LOCAL_RUN(p);

	snprintf(s->tagvar, sizeof(s->tagvar), "PAI_RUN=%s", run->tag);
	if (!(s->env = tagged_env(job->envp, s->tagvar)))
		return cannot_start(job, ENOMEM, err, errlen);
	s->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->devnull < 0 || pipe2(s->errp, O_CLOEXEC) < 0 ||
	    pipe2(s->out, O_CLOEXEC) < 0 ||
	    pipe2(run->stop_fd, O_CLOEXEC) < 0 ||
	    pipe2(s->st, O_CLOEXEC) < 0 || pipe2(s->ctl, O_CLOEXEC) < 0)
		return cannot_start(job, errno, err, errlen);
	/* The daemon writes a byte per signal it sends; it never waits. */
	fcntl(s->ctl[1], F_SETFL, O_NONBLOCK);
	return 0;
}

/* Fork the keeper; the daemon keeps the read ends of the output and of
 * the reports, and the write end of the control pipe. */
static int fork_keeper(struct runner_proc *p, const struct runner_job *job,
		       struct start *s, char *err, size_t errlen)
{
	struct local_run *run = LOCAL_RUN(p);
	struct launch l;
	pid_t keeper;
	int e;

	/* Taken here and kept by the keeper after the daemon is gone: the
	 * next daemon waits for it before it looks. */
	if (job->exit_path)
		while (flock(job->log_fd, LOCK_EX) < 0 && errno == EINTR)
			;
	l = (struct launch){ .argv = job->argv, .env = s->env,
			     .cwd = job->cwd, .devnull = s->devnull,
			     .out_w = s->out[1], .out_r = s->out[0],
			     .err_w = s->errp[1], .status_w = s->st[1],
			     .ctl_r = s->ctl[0],
			     .lock_fd = job->exit_path ? job->log_fd : -1,
			     .exit_fd = s->exit_fd, .tag_entry = s->tagvar };
	keeper = fork();
	if (keeper == 0)
		runner_keeper_main(&l);
	e = errno;
	close_fd(&s->errp[1]);
	close_fd(&s->out[1]);
	close_fd(&s->st[1]);
	close_fd(&s->ctl[0]);
	close_fd(&s->devnull);
	close_fd(&s->exit_fd);
	free(s->env);
	s->env = NULL;
	run->out_rd = s->out[0];
	run->status_rd = s->st[0];
	run->ctl_wr = s->ctl[1];
	s->out[0] = s->st[0] = s->ctl[1] = -1;
	if (keeper < 0)
		return cannot_start(job, e, err, errlen);
	run->keeper = keeper;
	return 0;
}

/* The keeper says the engine's pid, then the exec's error pipe says
 * whether it runs: closed without a word, it does. */
static int hear_engine(struct runner_proc *p, const struct runner_job *job,
		       struct start *s, char *err, size_t errlen)
{
	int engine = 0, child_errno = 0;
	ssize_t n;

	if (read_int(LOCAL_RUN(p)->status_rd, &engine) < 0 || engine <= 0)
		return cannot_start(job, engine < 0 ? -engine : ECHILD, err,
				    errlen);
	p->pid = engine;
	do
		n = read(s->errp[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close_fd(&s->errp[0]);
	if (n != sizeof(child_errno))
		return 0;
	if (child_errno == ENOENT)
		snprintf(err, errlen, "command not found: '%s'",
			 job->argv[0]);
	else
		snprintf(err, errlen, "cannot run '%s': %s", job->argv[0],
			 strerror(child_errno));
	return -child_errno;
}

static int local_wait(struct runner_proc *p, int timeout_ms, int *status);
static void local_release(struct runner_proc *p);

static int local_start(struct runner_proc *p, const struct runner_job *job,
		       char *err, size_t errlen)
{
	struct local_run *run = LOCAL_RUN(p);
	struct start s;
	int e;

	run_init(p, job);
	start_init(&s);
	if ((e = make_exit_file(job, &s, err, errlen)) < 0)
		return e;
	if ((e = make_channels(p, job, &s, err, errlen)) < 0 ||
	    (e = fork_keeper(p, job, &s, err, errlen)) < 0)
		goto undo;
	if ((e = hear_engine(p, job, &s, err, errlen)) < 0)
		goto reap;
	if (pthread_create(&run->relay, NULL, relay_main, run) == 0)
		run->relaying = 1;
	return 0;
reap:
	local_wait(p, -1, NULL);
undo:
	start_release(&s);
	if (job->exit_path)
		unlink(job->exit_path);
	local_release(p);
	return e;
}

/* ---- a run's life ------------------------------------------------------- */

static int local_wait(struct runner_proc *p, int timeout_ms, int *status)
{
	struct local_run *run = LOCAL_RUN(p);
	struct pollfd pfd = { .fd = run->status_rd, .events = POLLIN };
	int n, reported;

	if (run->reaped)
		goto done;
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ETIMEDOUT;
	reported = read_int(run->status_rd, &run->status) == 0;
	while (waitpid(run->keeper, NULL, 0) < 0 && errno == EINTR)
		;
	run->reaped = 1;
	if (!reported) {
		/* The keeper was killed, and the engine with it
		 * (PR_SET_PDEATHSIG); what it started may not be. */
		run->status = SIGKILL;
		if (p->pid > 0)
			kill(-p->pid, SIGKILL);
		runner_kill_tagged(run->tag);
	}
	stop_relay(run);
done:
	if (status)
		*status = run->status;
	return 0;
}

static void local_signal(struct runner_proc *p, int sig)
{
	struct local_run *run = LOCAL_RUN(p);

	if (p->pid > 0 && !run->reaped) {
		/* First the keeper hears it was asked for: this end is not
		 * the engine's own. A full pipe holds that news already; a
		 * closed one has no keeper left to tell. */
		ssize_t n = write(run->ctl_wr, "t", 1);

		(void)n;
		kill(-p->pid, sig);
		/* Escaped descendants get no second chance to clean up. */
		if (sig == SIGKILL)
			runner_kill_tagged(run->tag);
	}
}

static void local_release(struct runner_proc *p)
{
	struct local_run *run = LOCAL_RUN(p);

	stop_relay(run);
	close_fd(&run->out_rd);
	close_fd(&run->status_rd);
	close_fd(&run->ctl_wr);
	for (int i = 0; i < 2; i++)
		close_fd(&run->stop_fd[i]);
}

/* ---- after a daemon died ------------------------------------------------ */

int runner_await_keeper(const char *log_path, int timeout_ms)
{
	int64_t end = runner_now_ms() + timeout_ms;
	int fd = open(log_path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			r = -errno;
			break;
		}
		if (runner_now_ms() >= end) {
			r = -ETIMEDOUT;
			break;
		}
		usleep(10000);
	}
	close(fd);
	return r;
}

/*
 * Its keeper ends the engine, after a linger in which it may finish;
 * only then does the exit file say all. What the run started, in its
 * group or not, still carries the mark in its environment. A run never
 * outlives its keeper here: never RUNNER_ALIVE.
 */
static int local_recover(struct runner_proc *p, const struct runner_ref *ref,
			 int timeout_ms, int *status, char *err,
			 size_t errlen)
{
	int r = runner_await_keeper(ref->log_path, timeout_ms);

	if (r < 0)
		snprintf(err, errlen, "the engine of the last run is still"
			 " there: %s", strerror(-r));
	if (ref->mark)
		runner_kill_env(ref->mark);
	if (r < 0 || !ref->exit_path)
		return -ENOENT;
	return runner_read_exit(ref->exit_path, status);
}

const struct runner_backend runner_local = {
	.name = "local",
	.start = local_start,
	.wait = local_wait,
	.signal = local_signal,
	.release = local_release,
	.recover = local_recover,
};
