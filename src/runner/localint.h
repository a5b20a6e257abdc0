/*
 * localint: what the local backend's two halves share: local.c, the
 * daemon's side (start, the relay to the log, wait, signal, recovery),
 * and keeper.c, the forked side (the keeper and the engine). Not for use
 * outside src/runner/ (and the runner's unit test).
 */
#ifndef PAI_LOCALINT_H
#define PAI_LOCALINT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "runnerint.h"

/* The local backend's state of a run, in runner_proc.state; the engine's
 * pid (also its process group id) is runner_proc.pid. */
struct local_run {
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
};

#define LOCAL_RUN(p) RUNNER_STATE(p, struct local_run)

/* Everything the keeper and the engine need, prepared before the fork. */
struct launch {
	char *const *argv;
	char **env;
	const char *cwd;
	int devnull, out_w, out_r, err_w;	/* err_w: close-on-exec */
	int status_w, ctl_r, lock_fd;		/* lock_fd: -1 or the log */
	int exit_fd;				/* -1: no exit file */
	const char *tag_entry;			/* "PAI_RUN=..." */
};

/* The keeper, in the child of the fork: it reports the engine's pid (or
 * -errno) on status_w, then its wait status, and exits. */
__attribute__((noreturn)) void runner_keeper_main(const struct launch *l);

#endif
