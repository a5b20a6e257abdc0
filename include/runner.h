/*
 * runner: starts and supervises engine processes.
 *
 * An engine runs in its own session and process group (so a signal to the
 * group reaches its children), with stdin from /dev/null and stdout and
 * stderr appended to the task's log file.
 *
 *	struct runner_proc p;
 *	if (runner_spawn(&p, argv, envp, worktree, logfd, err, sizeof(err)) < 0)
 *		...;	// -ENOENT: "command not found: 'mytool'"
 *	while (runner_wait(&p, 1000, &status) == -ETIMEDOUT)
 *		...;	// check for cancel, deadlines
 *	runner_release(&p);
 */
#ifndef PAI_RUNNER_H
#define PAI_RUNNER_H

#include <stddef.h>
#include <sys/types.h>

struct runner_proc {
	pid_t pid;	/* also the process group id */
	int pidfd;	/* -1 where pidfd_open is missing */
	int reaped;
	int status;	/* wait status once reaped */
};

/* envp: extra "KEY=VALUE" entries added to the daemon's environment. */
int runner_spawn(struct runner_proc *p, char *const argv[],
		 char *const envp[], const char *cwd, int log_fd,
		 char *err, size_t errlen);
/* Wait up to timeout_ms (-1: forever); 0 once reaped, -ETIMEDOUT before. */
int runner_wait(struct runner_proc *p, int timeout_ms, int *status);
/* Signal the whole process group; no-op once reaped. */
void runner_signal(struct runner_proc *p, int sig);
void runner_release(struct runner_proc *p);

/* Exit code to record for a wait status: the code, or 128 + signal. */
int runner_exit_code(int status);

#endif
