/*
 * runner/keeper: the local backend's forked side, the keeper and the
 * engine it starts.
 *
 * Between the daemon and the engine stands a keeper: a process forked
 * from the daemon that starts the engine (vfork-like, spawn_engine),
 * waits for it, and reports its wait status back through a pipe. The
 * keeper exists for the moment the daemon dies. It notices (the daemon's
 * end of its control pipe closes), gives the engine a short while
 * (RUNNER_LINGER_MS) to finish by itself, then kills it, its process
 * group and whatever carries the run's tag.
 *
 * The keeper is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever the
 * engine starts and leaves behind is reparented to it, not to init, even
 * a process that cleared its environment and left the session. When the
 * engine has ended, the keeper kills its children until it has none
 * left, and only then reports the end: a run's last process is gone
 * before the daemon commits what it did. Orphans that end by themselves
 * during the run are reaped as they go (SIGCHLD through a signalfd).
 *
 * An engine that exited by itself, with nobody asking it to, has its
 * wait status written over the run's exit file (runner/exitfile.c), so
 * the next daemon finishes that run instead of running it again. A write
 * that fails all the same is tried again for RUNNER_EXIT_RETRY_MS; if the
 * status cannot be kept after that, the keeper empties the file (which
 * needs no space), and an empty exit file says "ended by itself, status
 * lost": that run is failed, never run again.
 *
 * The engine gets its own session (so the whole job can be signalled as a
 * group and never reads our terminal), SIGKILL when the keeper dies,
 * stdin from /dev/null, the output pipe as stdout and stderr, and no
 * other descriptor of ours. A failed exec is reported back through a
 * close-on-exec pipe, so "command not found" is known before
 * runner_spawn returns.
 *
 * Keeper and engine are forked from a threaded daemon: from fork to exec
 * (and in the keeper, to its end) they make async-signal-safe calls only.
 * The same holds for the killing by tag here, which the daemon's threads
 * call too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "localint.h"

/* ---- async-signal-safe helpers ------------------------------------------ */

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}


/* Decimal digits of v into out (room for 12); their count. */
static size_t put_int(char *out, long v)
{
	char tmp[24];
	size_t n = 0, k = 0;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;

	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10) && n < sizeof(tmp));
	if (v < 0)
		out[k++] = '-';
	while (n)
		out[k++] = tmp[--n];
	return k;
}

static void close_range_compat(unsigned int lo, unsigned int hi)
{
	if (lo > hi)
		return;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
#endif
	for (unsigned int fd = lo; fd <= hi && fd < 4096; fd++)
		close((int)fd);
}

/* Close every descriptor from 3 up but those in keep[] (ascending). */
static void close_others(const int *keep, size_t n)
{
	unsigned int from = 3;

	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)from)
			continue;
		close_range_compat(from, (unsigned int)keep[i] - 1);
		from = (unsigned int)keep[i] + 1;
	}
	close_range_compat(from, ~0U);
}

static void sort_fds(int *fd, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && fd[j - 1] > fd[j]; j--) {
			int t = fd[j];

			fd[j] = fd[j - 1];
			fd[j - 1] = t;
		}
}

struct dirent64_raw {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Up to len - 1 bytes of /proc/PID/NAME into buf, NUL-terminated; the
 * count, or -1. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t len)
{
	static const char prefix[] = "/proc/";
	char path[64];
	size_t k = sizeof(prefix) - 1, nlen = strlen(name) + 1;
	ssize_t n;
	int fd;

	if (nlen > sizeof(path) - k - 14)
		return -1;
	memcpy(path, prefix, k);
	k += put_int(path + k, pid);
	path[k++] = '/';
	memcpy(path + k, name, nlen);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* fn(pid, arg) for every process in /proc but init; raw system calls. */
static void each_pid(void (*fn)(pid_t, void *), void *arg)
{
	char dents[8192] __attribute__((aligned(8)));
	long got;
	int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (proc < 0)
		return;
	while ((got = syscall(SYS_getdents64, proc, dents, sizeof(dents))) > 0)
		for (long off = 0; off < got;) {
			struct dirent64_raw *d = (void *)(dents + off);
			const char *c = d->d_name;
			pid_t pid = 0;

			off += d->d_reclen;
			while (*c >= '0' && *c <= '9' && pid < 100000000)
				pid = pid * 10 + (*c++ - '0');
			if (!*c && pid > 1)
				fn(pid, arg);
		}
	close(proc);
}

struct env_match {
	const char *entry;	/* "KEY=VALUE" */
	size_t wlen;		/* its length with the NUL */
	pid_t skip1, skip2;
	char env[65536];	/* the environment read */
};

static void kill_if_env(pid_t pid, void *arg)
{
	struct env_match *m = arg;
	const char *env = m->env;
	ssize_t n;

	if (pid == m->skip1 || pid == m->skip2 ||
	    (n = read_proc(pid, "environ", m->env, sizeof(m->env))) <= 0)
		return;
	/* NUL-separated entries: a match starts the buffer or follows a
	 * NUL, and ends with one. */
	for (ssize_t i = 0; i + (ssize_t)m->wlen <= n; i++)
		if ((i == 0 || env[i - 1] == '\0') &&
		    !memcmp(env + i, m->entry, m->wlen)) {
			kill(pid, SIGKILL);
			return;
		}
}

/* SIGKILL every process but skip1 and skip2 whose environment holds the
 * NUL-terminated entry "KEY=VALUE"; raw system calls only. */
static void kill_env_raw(const char *entry, pid_t skip1, pid_t skip2)
{
	struct env_match m = { .entry = entry, .wlen = strlen(entry) + 1,
			       .skip1 = skip1, .skip2 = skip2 };

	if (m.wlen < 2 || m.wlen > sizeof(m.env) / 2)
		return;
	each_pid(kill_if_env, &m);
}

/* The keeper's children, found in /proc, but one. */
struct children {
	pid_t self, skip;
	pid_t v[256];	/* the first of them; the rest are found again */
	size_t n;
};

/* SIGKILL pid, and note it, when it is a child of ch->self's. */
static void kill_if_child(pid_t pid, void *arg)
{
	struct children *ch = arg;
	char stat[512], *c, *end = NULL;
	pid_t ppid = 0;
	ssize_t n;

	if (pid == ch->skip || (n = read_proc(pid, "stat", stat,
					      sizeof(stat))) <= 0)
		return;
	/* "PID (COMM) S PPID ...": COMM may hold anything, ')' too. */
	for (c = stat; *c; c++)
		if (*c == ')')
			end = c;
	if (!end || end[1] != ' ' || !end[2] || end[3] != ' ')
		return;
	for (c = end + 4; *c >= '0' && *c <= '9' && ppid < 100000000; c++)
		ppid = ppid * 10 + (*c - '0');
	if (ppid != ch->self)
		return;
	kill(pid, SIGKILL);
	if (ch->n < sizeof(ch->v) / sizeof(ch->v[0]))
		ch->v[ch->n++] = pid;
}
/* ---- killing by tag ----------------------------------------------------- */

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
	kill_env_raw(entry, getpid(), 0);
}

/* ---- keeper and engine -------------------------------------------------- */

/* Every signal to its default action (the daemon's handlers are not
 * ours), those in ignore[] ignored, none blocked. */
static void reset_signals(const int *ignore, size_t n)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	for (size_t i = 0; i < n; i++)
		signal(ignore[i], SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void report(int fd, int v)
{
	ssize_t n;

	do
		n = write(fd, &v, sizeof(v));
	while (n < 0 && errno == EINTR);
}

static void engine_exec(const struct launch *l, pid_t keeper)
{
	int child_errno;

	if (setsid() < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    getppid() != keeper || chdir(l->cwd) < 0 ||
	    dup2(l->devnull, 0) < 0 || dup2(l->out_w, 1) < 0 ||
	    dup2(l->out_w, 2) < 0)
		goto fail;
	reset_signals(NULL, 0);
	close_others(&l->err_w, 1);
	execvpe(l->argv[0], l->argv, l->env);
fail:
	child_errno = errno;
	report(l->err_w, child_errno);
	_exit(127);
}

#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer cannot follow a switch to a stack of our own (it
 * warns, and may report falsely): a build with it forks. */
static pid_t spawn_engine(const struct launch *l, pid_t self)
{
	pid_t pid = fork();

	if (pid == 0)
		engine_exec(l, self);
	return pid;
}
#else
struct engine_start {
	const struct launch *l;
	pid_t keeper;
};

static int engine_main(void *arg)
{
	struct engine_start *e = arg;

	engine_exec(e->l, e->keeper);
	return 127;	/* not reached: engine_exec ends in exec or _exit */
}

/*
 * The engine as vfork starts it: in the keeper's memory, on a stack of
 * its own, the keeper held until its exec (or _exit): no copy of the
 * keeper's page tables, which are the daemon's (under strace -T a fork
 * here took 2 ms, twice the daemon's fork of the keeper). Until its
 * exec the child makes system calls only; its descriptors and signal
 * actions are its own (no CLONE_FILES, no CLONE_SIGHAND), so what it
 * closes and resets is not the keeper's.
 */
static pid_t spawn_engine(const struct launch *l, pid_t self)
{
	static char stack[256 * 1024] __attribute__((aligned(64)));
	struct engine_start e = { .l = l, .keeper = self };

	return clone(engine_main, stack + sizeof(stack),
		     CLONE_VM | CLONE_VFORK | SIGCHLD, &e);
}
#endif

/* Reap the keeper's children that have ended, but not the engine, which
 * keeper_watch looks at and keeps a zombie while it kills its group. An
 * orphan that ends during the run holds no pid until the run's end. */
static void reap_orphans(int sigfd, pid_t engine)
{
	struct signalfd_siginfo ssi;
	siginfo_t si;

	while (read(sigfd, &ssi, sizeof(ssi)) == sizeof(ssi))
		;
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    !si.si_pid || si.si_pid == engine)
			return;
		while (waitpid(si.si_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

/* The keeper's children from /proc/self/task/SELF/children (the keeper
 * has one thread), each killed and noted as kill_if_child does; -1 when
 * the kernel has no such file (CONFIG_PROC_CHILDREN). One read instead
 * of a stat of every process on the machine. */
static int kill_listed_children(struct children *ch)
{
	static const char prefix[] = "/proc/self/task/";
	char path[64], buf[4096];
	size_t k = sizeof(prefix) - 1;
	ssize_t n, i;
	pid_t pid = 0;
	int fd;

	memcpy(path, prefix, k);
	k += put_int(path + k, ch->self);
	memcpy(path + k, "/children", sizeof("/children"));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	/* "PID PID ... " in one read; a longer list is finished on the
	 * next round, as a full scan's later pids would be. */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (buf[i] >= '0' && buf[i] <= '9') {
			pid = pid * 10 + (buf[i] - '0');
			continue;
		}
		if (pid > 0 && pid != ch->skip) {
			kill(pid, SIGKILL);
			if (ch->n < sizeof(ch->v) / sizeof(ch->v[0]))
				ch->v[ch->n++] = pid;
		}
		pid = 0;
	}
	return 0;
}

/*
 * Kill and reap the keeper's children but the engine, until it has none
 * left. Each one killed hands its own children to the keeper (the
 * subreaper), so every descendant of the run is reached, whatever it did
 * to its session or environment. The engine, a zombie by now, is reaped
 * after: until then a process watching for its end sees none. The
 * kernel's list of children is asked; without it, every process in /proc.
 * The list may miss a child added while it is read (the kernel says so),
 * never one that was there before: nothing else reaps the keeper's
 * children, and SIGCHLD is not ignored, so none leaves it meanwhile. A
 * child is added only when a descendant ends, which needs a child there
 * to descend from: an empty list is the end, and a non-empty one is read
 * again.
 */
static void end_descendants(pid_t engine)
{
	struct children ch = { .self = getpid(), .skip = engine };
	int listed = 1;

	do {
		ch.n = 0;
		if (!listed || kill_listed_children(&ch) < 0) {
			listed = 0;
			ch.n = 0;
			each_pid(kill_if_child, &ch);
		}
		for (size_t i = 0; i < ch.n; i++)
			while (waitpid(ch.v[i], NULL, 0) < 0 && errno == EINTR)
				;
	} while (ch.n);
}

/*
 * Wait for the engine to end, then end every other process of the run;
 * the engine's wait status, with *by_itself set when nobody asked it to
 * end: the daemon wrote nothing to the control pipe, and the keeper did
 * not kill it. A daemon that is gone (end of file on the control pipe)
 * leaves the engine RUNNER_LINGER_MS to finish.
 */
static int keeper_watch(const struct launch *l, pid_t engine, int sigfd,
			int *by_itself)
{
	int pidfd = pidfd_open_compat(engine), told = 0, killed = 0;
	int orphan = 0, status = 0;
	int64_t deadline = 0;
	struct pollfd pfd[3] = { { pidfd, POLLIN, 0 }, { l->ctl_r, POLLIN, 0 },
				 { sigfd, POLLIN, 0 } };
	siginfo_t si;
	char buf[64];

	for (;;) {
		int timeout = pidfd < 0 ? 20 : -1;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)engine, &si,
			   WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
			break;
		if (orphan && !killed) {
			int64_t left = deadline - runner_now_ms();

			if (left <= 0) {
				kill(-engine, SIGKILL);
				kill(engine, SIGKILL);
				killed = 1;
				continue;
			}
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		/* pfd[0] is skipped (fd -1) without a pidfd; the control
		 * pipe once it has ended. */
		pfd[1].fd = orphan ? -1 : l->ctl_r;
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
			struct timespec pause = { 0, 20 * 1000000 };

			nanosleep(&pause, NULL);
			continue;
		}
		if (pfd[2].revents & POLLIN)
			reap_orphans(sigfd, engine);
		if (!orphan && (pfd[1].revents & (POLLIN | POLLHUP))) {
			ssize_t n = read(l->ctl_r, buf, sizeof(buf));

			if (n > 0) {
				told = 1;
			} else if (n == 0 || errno != EINTR) {
				orphan = 1;
				deadline = runner_now_ms() +
					   (told ? 0 : RUNNER_LINGER_MS);
			}
		}
	}
	/* Still a zombie, so its group id is not anyone else's yet: what
	 * it left in its group goes, what escaped carrying the tag, and
	 * every other descendant, before the engine is reaped. */
	kill(-engine, SIGKILL);
	kill_env_raw(l->tag_entry, getpid(), getppid());
	end_descendants(engine);
	while (waitpid(engine, &status, 0) < 0 && errno == EINTR)
		;
	if (pidfd >= 0)
		close(pidfd);
	*by_itself = !told && !killed;
	return status;
}

/*
 * The status over the placeholder, in place: no new space needed, so a
 * full disk does not stop it. Anything else that fails it is tried again
 * for a while (the lock on the log keeps the next daemon waiting); then
 * the file is emptied, which says the status is lost.
 */
static void write_exit_file(const struct launch *l, int status)
{
	char digits[24], rec[RUNNER_EXIT_LEN];
	struct timespec pause = { 0, 10 * 1000000 };
	int64_t end = runner_now_ms() + RUNNER_EXIT_RETRY_MS;

	runner_exit_record(rec, digits, put_int(digits, status));
	while (pwrite(l->exit_fd, rec, sizeof(rec), 0) != (ssize_t)sizeof(rec)) {
		if (runner_now_ms() >= end) {
			while (ftruncate(l->exit_fd, 0) < 0 && errno == EINTR)
				;
			return;
		}
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 320 * 1000000)
			pause.tv_nsec *= 2;
	}
}

void runner_keeper_main(const struct launch *l)
{
	/* A write to a daemon that is gone fails, and the signals that
	 * stop a daemon (killall parallelai, ^C) are the daemon's: it ends
	 * its runs itself. The keeper's own end is the engine's, a second
	 * after the daemon's at most. */
	static const int ignore[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP,
				      SIGQUIT };
	int keep[8] = { l->devnull, l->out_w, l->out_r, l->err_w,
			l->status_w, l->ctl_r, l->lock_fd, l->exit_fd };
	int status, by_itself, sigfd;
	pid_t engine, self = getpid();
	sigset_t chld;

	/* Out of the daemon's session, rid of its handlers, and by a name
	 * of its own in ps and killall. */
	setsid();
	reset_signals(ignore, sizeof(ignore) / sizeof(ignore[0]));
	prctl(PR_SET_NAME, "pai-keeper", 0, 0, 0);
	sort_fds(keep, 8);
	close_others(keep, 8);
	/* What the engine leaves behind comes to the keeper, not to init;
	 * a run without that could not promise its processes end with it. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		report(l->status_w, -errno);
		_exit(1);
	}
	/* Blocked before the fork, so no orphan's end is missed; the
	 * engine unblocks it (reset_signals). */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	engine = spawn_engine(l, self);
	report(l->status_w, engine < 0 ? -errno : engine);
	if (engine < 0)
		_exit(1);
	/* The read end of the output stays open here: an engine writing
	 * while it lingers after the daemon is gone must not die of
	 * SIGPIPE for it. */
	close(l->err_w);
	close(l->out_w);
	close(l->devnull);
	/* The last of the run's processes is gone before anyone hears the
	 * run ended: the daemon commits the worktree once it has heard. */
	status = keeper_watch(l, engine, sigfd, &by_itself);
	/* The record first, then the report: a daemon that has the report
	 * may remove the file. */
	if (by_itself && l->exit_fd >= 0)
		write_exit_file(l, status);
	report(l->status_w, status);
	_exit(0);
}
