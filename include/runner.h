/*
 * runner: starts and supervises engine processes.
 *
 * An engine runs in its own session and process group (so a signal to the
 * group reaches its children), with stdin from /dev/null and stdout and
 * stderr going through a pipe that a relay thread copies into the task's
 * log, up to a cap. Every process it starts carries PAI_RUN=<tag> in its
 * environment, so descendants that left the group (a daemon that
 * double-forked and called setsid) are found and ended too.
 *
 * A keeper process stands between the daemon and each engine. It is a
 * child subreaper: every process the engine leaves behind becomes its
 * child, and when the engine has ended it kills them all, whatever they
 * did to their session or environment, before it reports the end. So
 * when runner_wait returns 0, no process of the run is left.
 *
 * If the daemon dies, the keeper gives the engine RUNNER_LINGER_MS to finish,
 * then ends it and everything carrying its tag; an engine that exited by
 * itself (nobody signalled it) has its wait status written to exit_path.
 * Until it is gone the keeper holds a lock on the log (flock), which
 * runner_await_keeper waits for.
 *
 * The exit file is made by runner_spawn, before the engine starts, with
 * room for the status (a full disk then refuses the run, not its end);
 * until the keeper writes the status over it, it says "running". An
 * engine that ended by itself but whose status could not be written even
 * so leaves the file empty: runner_read_exit says -ENODATA.
 *
 *	struct runner_proc p;
 *	if (runner_spawn(&p, argv, envp, worktree, logfd, cap, exit_path,
 *			 err, sizeof(err)) < 0)
 *		...;	// -ENOENT: "command not found: 'mytool'"
 *	while (runner_wait(&p, 1000, &status) == -ETIMEDOUT)
 *		...;	// check for cancel, deadlines
 *	runner_release(&p);
 */
#ifndef PAI_RUNNER_H
#define PAI_RUNNER_H

#include <stddef.h>
#include <sys/types.h>

#include <pthread.h>
#include <stdint.h>

/* How long an engine may go on after its daemon died, to finish by
 * itself and have its end kept. */
#define RUNNER_LINGER_MS 1000
/* How long a keeper tries to write a status that would not go down; the
 * next daemon waits for it (KEEPER_WAIT_MS, in the scheduler). */
#define RUNNER_EXIT_RETRY_MS 5000
/* An exit file's one record: text padded with blanks, then a newline. */
#define RUNNER_EXIT_LEN 16
#define RUNNER_EXIT_RUNNING "running"

struct runner_proc {
	pid_t pid;	/* the engine's, also its process group id */
	pid_t keeper;
	int status_rd;	/* the keeper's reports: the engine's pid, its status */
	int ctl_wr;	/* a byte per signal the daemon sends; closed: gone */
	int reaped;
	int status;	/* wait status once reaped */
	char tag[48];	/* PAI_RUN's value */
	/* the relay from the output pipe to the log */
	pthread_t relay;
	int relaying;
	int out_rd;	/* the pipe's read end */
	int stop_fd[2];	/* written when the relay must stop waiting */
	int log_fd;
	uint64_t cap;	/* bytes the log may grow by, 0: no cap */
	uint64_t written;
};

/* envp: the engine's whole environment ("KEY=VALUE", NULL-terminated;
 * engine_env builds it from an allow-list), or NULL for the daemon's.
 * log_cap: the most bytes of output kept (0: all); past it the log says
 * so once and the rest is dropped. exit_path: where the keeper writes the
 * wait status of an engine that exited by itself, or NULL; given one, the
 * keeper holds a lock on log_fd's file, and a file that cannot be made
 * there (ENOSPC) is the spawn's error: "cannot make exit file '...'". */
int runner_spawn(struct runner_proc *p, char *const argv[],
		 char *const envp[], const char *cwd, int log_fd,
		 uint64_t log_cap, const char *exit_path, char *err,
		 size_t errlen);
/* Wait up to timeout_ms (-1: forever); 0 once reaped (the engine and
 * every descendant gone), -ETIMEDOUT before. */
int runner_wait(struct runner_proc *p, int timeout_ms, int *status);
/* Signal the whole process group and every process carrying the run's
 * tag; no-op once reaped. */
void runner_signal(struct runner_proc *p, int sig);
/* SIGKILL every process whose environment holds PAI_RUN=tag. */
void runner_kill_tagged(const char *tag);
/* SIGKILL every process whose environment holds the entry "KEY=VALUE". */
void runner_kill_env(const char *entry);
void runner_release(struct runner_proc *p);

/* Exit code to record for a wait status: the code, or 128 + signal. */
int runner_exit_code(int status);

/* After a daemon died: wait up to timeout_ms for the keeper of the run
 * whose log this is to be gone. 0, -ETIMEDOUT, or another -errno. */
int runner_await_keeper(const char *log_path, int timeout_ms);
/* The wait status a keeper wrote. -ENOENT when it wrote none (the file
 * is missing or still says "running": the engine did not end by itself,
 * or the keeper was killed with it); -ENODATA when the engine ended by
 * itself but its status was lost; -EINVAL for anything else. */
int runner_read_exit(const char *exit_path, int *status);

#endif
