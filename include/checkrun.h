/*
 * checkrun: a project's check command (`make test`), run in a directory and
 * judged by its exit status.
 *
 * The command runs with /bin/sh -c in its own process group under the
 * runner's keeper, tagged with PAI_RUN like an engine: a timeout, a stop
 * asked for (cancel, unmount) or its end kill it and everything it
 * started. Its output (stdout and stderr) goes to out_fd; the caller
 * keeps it where it wants (a task's log, a scratch file). Nothing here
 * knows about tasks: a task's run and a merge queue's scratch worktree
 * use it alike.
 *
 *	struct check_spec c = { .cmd = "make test", .cwd = wt, .out_fd = fd,
 *				.timeout = 600, .kill_grace_ms = 5000 };
 *	struct check_outcome o;
 *	if (check_run(&c, &o, err, sizeof(err)) < 0)
 *		...;	// could not start: err says why
 *	if (o.end == CHECK_EXITED && o.code == 0)
 *		...;	// passed
 */
#ifndef PAI_CHECKRUN_H
#define PAI_CHECKRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* How often a running check looks at its deadline and its stop. */
#define CHECK_POLL_MS 100

struct check_spec {
	const char *cmd;	/* run as /bin/sh -c CMD */
	const char *cwd;
	int out_fd;		/* stdout and stderr go here */
	uint64_t out_cap;	/* the most bytes of output kept, 0: all */
	int timeout;		/* seconds, 0: none */
	int kill_grace_ms;	/* SIGTERM, then SIGKILL this much later */
	char *const *envp;	/* the whole environment, "KEY=VALUE" each
				 * (engine_env's allow-list), or NULL: the
				 * daemon's */
	/* Asked every CHECK_POLL_MS while it runs: true stops it. */
	bool (*stop)(void *arg);
	void *arg;
};

enum check_end {
	CHECK_EXITED,		/* by itself: code says how */
	CHECK_TIMEOUT,		/* killed at its timeout */
	CHECK_STOPPED,		/* killed because stop said so */
};

struct check_outcome {
	enum check_end end;
	int code;		/* exit code, 128 + signal when killed */
	int64_t ms;		/* how long it ran */
};

/* Run the check to its end. 0 with *out filled, or <0 when it could not
 * start (err says why: "command not found", no such directory ...). */
int check_run(const struct check_spec *c, struct check_outcome *out,
	      char *err, size_t errlen);

/* Did it pass? Exited by itself with 0. */
bool check_passed(const struct check_outcome *o);

/* One line on how it ended: "exit 2", "timed out after 600 s (killed)",
 * "stopped (killed)". */
void check_describe(const struct check_outcome *o, int timeout, char *out,
		    size_t len);

/* The bytes of the file fd from `from` to its end, the last max of them
 * at most (0: none), appended to out. */
int check_tail(int fd, off_t from, size_t max, struct buf *out);

/*
 * Save a check's result as a file: the line head (its exit status) and
 * then the output, the bytes of src_fd from `from` to its end. Written
 * to a temporary file and renamed over path: a reader sees the last
 * check whole, never one being written.
 */
int check_save(const char *path, const char *head, int src_fd, off_t from);

/* The first line of a saved check (tasks/N/check): "exit 2", or
 * "exit 137 (timed out after 600 s)". */
void check_head(const struct check_outcome *o, int timeout, char *out,
		size_t len);

/* text appended to b as comments of a prompt: each line behind "#   ",
 * NUL bytes as '?' (an sh engine's prompt is a script: what it is told
 * must not run). */
int check_comment(struct buf *b, const char *text, size_t len);

/*
 * The prompt of a fix round: the check's command, how it ended and the
 * tail of its output, each line behind "# " (so a shell engine takes
 * them as comments), then the task's own prompt. malloc'd, NUL bytes of
 * the output shown as '?'; its length in *len.
 */
char *check_fix_prompt(const char *cmd, const char *how, int round,
		       int rounds, const char *tail, size_t tail_len,
		       const char *prompt, size_t prompt_len, size_t *len);

#endif
