/*
 * runnerint: the contract between the runner's front (runner.c) and its
 * backends. Not for use outside src/runner/; callers see include/runner.h.
 *
 * A backend is one file that defines a struct runner_backend and keeps
 * its state of a run in runner_proc.state (RUNNER_STATE_SIZE bytes; check
 * the fit with a _Static_assert). A second backend is that file, a row
 * in runner.c's backends[] and a line in src/meson.build.
 *
 *	static const struct runner_backend slurm = {
 *		.name = "slurm", .start = slurm_start, .wait = slurm_wait,
 *		.signal = slurm_signal, .release = slurm_release,
 *		.recover = slurm_recover,
 *	};
 *
 * Threads: the front calls each operation under the rules of runner.h.
 * start, wait and release run on the run's own thread, one at a time;
 * signal on any thread, concurrently with wait (never with start,
 * release or itself: the caller's lock sees to that), and must not block
 * (the scheduler holds its lock), so it only asks (a byte in a pipe,
 * kill(2), a command started and not waited for) and wait learns the
 * end. signal after the run has ended, released or not, does nothing.
 * wait blocks at most timeout_ms. recover runs at mount, one run at a
 * time, before the scheduler starts, and may block up to its timeout.
 * A backend that forks from the threaded daemon makes only
 * async-signal-safe calls in the child until exec.
 */
#ifndef PAI_RUNNERINT_H
#define PAI_RUNNERINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "redact.h"
#include "runner.h"

/* What to run: runner_spawn's arguments, as runner.h describes them. */
struct runner_job {
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int log_fd;
	uint64_t log_cap;
	const char *exit_path;
	const struct runner_task *task;	/* NULL: not a task's run */
};

struct runner_backend {
	const char *name;
	/* Start the job; p is zeroed but for p->backend. 0, or -errno
	 * with the reason in err ("command not found: 'x'"); on failure
	 * nothing of the run is left and p needs no release. */
	int (*start)(struct runner_proc *p, const struct runner_job *job,
		     char *err, size_t errlen);
	/* runner_wait: 0 with the wait status once the run and all its
	 * processes are over, -ETIMEDOUT before. */
	int (*wait)(struct runner_proc *p, int timeout_ms, int *status);
	/* runner_signal: deliver sig to everything of the run. */
	void (*signal)(struct runner_proc *p, int sig);
	/* runner_release: what the run held in the daemon (descriptors,
	 * threads) goes; the state stays readable. */
	void (*release)(struct runner_proc *p);
	/* runner_recover, which see. */
	int (*recover)(struct runner_proc *p, const struct runner_ref *ref,
		       int timeout_ms, int *status, char *err,
		       size_t errlen);
	int detachable;		/* runner_detachable */
	/* Optional (NULL: never), as runner.h's functions of the name. */
	const char *(*reason)(const struct runner_proc *p);
	void (*configure)(const struct runner_settings *s);
	int (*health)(char *msg, size_t len);
	int (*job_info)(const char *job, struct runner_job_info *out);
};

extern const struct runner_backend runner_local;
extern const struct runner_backend runner_slurm;

/* A backend's state of run p. */
#define RUNNER_STATE(p, type) ((type *)(void *)(p)->state.bytes)

/* A monotonic clock in ms; async-signal-safe. */
static inline int64_t runner_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- exitfile.c: where a run's end is kept across a daemon's death ------ */

/* A record of the exit file: text padded with blanks to its fixed
 * length, then a newline; async-signal-safe. */
void runner_exit_record(char rec[RUNNER_EXIT_LEN], const char *text,
			size_t len);
/* The run's exit file, made afresh with the placeholder ("running"): the
 * room its status takes later, written over in place. A descriptor, or
 * -errno. */
int runner_exit_file_make(const char *path);

/* relay.c: an engine's output into the log, secrets redacted, the
 * log's growth capped (0: no cap). Feed it what was read; end it once. */
struct log_relay {
	int log_fd;
	uint64_t cap, written;
	int noted;			/* the cap's note is written */
	struct redact_stream *rs;	/* NULL: no memory, nothing goes out */
	struct buf out;
};

void log_relay_init(struct log_relay *rl, int log_fd, uint64_t cap,
		    const struct redact *r);
void log_relay_feed(struct log_relay *rl, const char *p, size_t n);
void log_relay_end(struct log_relay *rl);

#endif
