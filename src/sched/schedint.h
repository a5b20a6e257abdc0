/*
 * schedint: what the files of src/sched/ share: a run, a slot, the
 * scheduler, and the few steps one file takes from another. Not for use
 * outside src/sched/; the interface is include/scheduler.h.
 *
 * Locking: see sched/scheduler.c.
 */
#ifndef PAI_SCHEDINT_H
#define PAI_SCHEDINT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "breaker.h"
#include "runner.h"
#include "store.h"

/* How often a run thread wakes to look at cancel and kill deadlines. */
#define RUN_POLL_MS 100

/* A run's own budget (sched/budget.c): the task's limits for this
 * attempt (0: none) and what its rounds reported, then and now. */
struct run_budget {
	double max_cost;
	int64_t max_tokens;
	int max_turns;
	const struct price_def *price;	/* for its model, or NULL */
	struct task_usage done;		/* earlier rounds of the attempt */
	struct task_usage live;		/* this round's result file so far */
	char path[PATH_MAX];		/* the result file */
	off_t size;			/* the file as last read */
	struct timespec mtime;
	ino_t ino;
	char why[160];			/* "budget: 1.02 USD spent, limit 1.00" */
};

/* A budget per engine or in total (engine ""): 0 when there is none. */
struct budget_scope {
	char engine[64];
	double limit;
	double spent;		/* in the window, as last added up */
	bool reached;
};

/* The paths a task owns (sched/locks.c): globs, or all of them. */
struct owned {
	char **globs;
	size_t n;
	bool all;		/* pathLocks = strict and it names none */
};

/* A queued task passed over for paths: held by a running task, or
 * wanted by one ahead of it in the queue (ahead). */
struct path_wait {
	int64_t task;
	int64_t holder;
	bool ahead;
};

struct run {
	struct sched *s;
	int64_t id;
	char *engine;		/* for limits per engine and the breaker */
	struct owned owned;	/* the paths it holds while it runs */
	int attempt;		/* this one, from 1 */
	int retries;		/* the task's, for the retry policy */
	int timeout;		/* seconds, 0: none */
	int stall;		/* seconds without output, 0: none */
	int logfd;
	const char *killed_for;	/* "timeout", "stalled" or "budget", once
				 * sent */
	int slot;
	int cancel;		/* cancel requested */
	int64_t term_at;	/* ms when SIGTERM went out, 0 if not yet */
	int has_proc;
	struct runner_proc proc;
	int ended;		/* the engine has ended: cancel is too late */
	int record_err;		/* why its end cannot be recorded, or 0 */
	int unrecorded;		/* given up: the exit file must stay */
	char check_failed[512];	/* why its check gate failed it, or "" */
	struct run_budget budget;
	const char *requeue_why;	/* queued again for this, not unmount */
	int adopted;		/* a job the last daemon left running */
	int detached;		/* left running at unmount, for the next */
};

struct slot {
	struct run *run;	/* NULL when idle */
	int64_t last_task;
	int64_t since;
};

struct sched {
	struct pai *p;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* work for the scheduler thread */
	pthread_cond_t idle;	/* a run thread ended */
	struct slot *slots;
	int n_slots;		/* allocated */
	int workers;		/* wanted */
	int runs;		/* run threads alive */
	int paused;
	int stopping;
	struct breakers breakers;	/* per engine, for agent engines */
	struct {
		struct budget_scope total;
		struct budget_scope *engines;
		size_t n;
		bool blocked;	/* a start was held back by one */
	} budget;
	struct path_wait *waits;	/* from the last look at the queue */
	size_t n_waits, max_waits;
	pthread_t thread;
};

/* run.c */
void sched_log_line(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The run thread: pthread_create(..., sched_run_main, run). */
void *sched_run_main(void *arg);
/* Release or block the dependents of task id, as its end decides. */
void sched_settle(struct sched *s, int64_t id);
/* Wait for the engine (or the setup command) under r->proc to end, and
 * end it on cancel, unmount, timeout, stall or budget: its wait status. */
int sched_wait_engine(struct run *r);
/* Commit what the engine left in wt and record the task's end. */
void sched_conclude(struct run *r, const struct task *t, const char *wt,
		    int code, int cancel, const char *agent_error);

/* prepare.c */
/* What sched_prepare_worktree found besides a worktree to run in: the
 * dependencies' work cannot come together; the task is blocked. */
#define SCHED_BLOCKED 1
/* The task's worktree in wt (made, its dependencies' work merged in, set
 * up): 0, SCHED_BLOCKED, or <0 with err. */
int sched_prepare_worktree(struct run *r, struct task *t, char *wt,
			   size_t wtlen, int logfd, char *err, size_t errlen);

/* "pai-REPO-N": the name of task id's jobs (runner_task.name). */
struct pai;
void sched_job_name(const struct pai *p, int64_t id, char *name,
		    size_t len);
/* dress.c */
/* The variables a run adds to its engine's environment, in the order in
 * which a later one wins: PAI_*, the cloud's, [engine] env, the task's
 * env. e->all borrows e's strings; free with sched_env_extra_release. */
struct env_extra {
	bool is_sandbox;	/* set before: IS_SANDBOX=1 (claude) */
	char *own[7];
	char **task_env, **prov_env;
	char **all;
};
int sched_env_extra(struct run *r, const struct task *t,
		    const struct engine_def *def, const char *prompt_file,
		    struct env_extra *e);
void sched_env_extra_release(struct env_extra *e);
/* claude's --settings for this run: the policy's PreToolUse hook. */
int sched_write_settings(struct sched *s, const struct task *t, char *path,
			 size_t len);
/* What a backend that runs the task elsewhere needs: "pai-REPO-N". */
void sched_task_job(struct run *r, const struct task *t,
		    const struct engine_def *def, char *name, size_t nlen,
		    char *logp, size_t llen, struct runner_task *out);

/* What a run step returns when the unmount stopped it: queued again. */
#define SCHED_REQUEUE 1
/* ... or left running (a SLURM job), to be adopted by the next mount. */
#define SCHED_DETACHED 2
/* One run of the engine with t's prompt, to its end: 0 with its exit
 * code, whether it was cancelled and the agent's error (malloc'd);
 * SCHED_REQUEUE; or <0 when it could not start (err says why). */
int sched_engine_round(struct run *r, const struct task *t, int *code,
		       int *cancel, char **agent_error, char *err,
		       size_t errlen);

/* gate.c */
/* The engine, its check and fix rounds, then the run concluded: 0,
 * SCHED_REQUEUE, or <0 when the engine could not start (err). */
int sched_gated_run(struct run *r, struct task *t, const char *wt,
		    char *err, size_t errlen);

/* box.c */
/* The engine's environment (an allow-list of the daemon's, then extra:
 * PAI_*, the engine's and the task's env) in *env and, when the run is
 * sandboxed, *argv wrapped in bubblewrap's words, the sandbox made
 * ready (home, tmp, report files, the worktree's HEAD detached). */
int sched_contain(struct run *r, const struct task *t, char **extra,
		  const char *prompt_file, const char *raw,
		  const char *result, char ***argv, char ***env,
		  char *err, size_t errlen);
/* The task's check command as *argv (/bin/sh -c CMD, wrapped in the
 * task's sandbox) and *env (an sh engine's allow-list, then extra);
 * both free with engine_argv_free, also on failure. */
int sched_contain_check(struct run *r, const struct task *t, char **extra,
			const char *cmd, char ***argv, char ***env,
			char *err, size_t errlen);

/* budget.c */
void sched_budget_begin(struct run *r, const struct task *t);
/* The engine's result file, removed for this round: follow it. */
void sched_budget_watch(struct run *r, const char *result_file);
/* u's cost from the price table when the engine gave none. */
void sched_budget_cost(const struct price_def *price, struct task_usage *u);
void sched_budget_poll(struct run *r);
void sched_budget_round_end(struct run *r, const struct task_usage *u);
int sched_budget_init(struct sched *s);
void sched_budget_release(struct sched *s);
struct budget_scope *sched_budget_engine(struct sched *s, const char *name);
size_t sched_budget_gate(struct sched *s, const char **out, size_t room,
			 bool *all);

/* locks.c */
/* The queued task to start next (as store_task_next_queued_except) whose
 * paths are free, with the paths it will hold; the ones passed over are
 * noted for sched_waiting_for. -ENOENT when none may start. */
int sched_pick(struct sched *s, const char *const *engines, size_t n,
	       int64_t *id, struct owned *owned);
void sched_owned_release(struct owned *o);

/* outside.c */
/* The files a run changed outside its task's paths, NULL-terminated. */
struct outside {
	char **files;		/* NULL when none */
	size_t n;
};
/* Found in wt against the task's base; none when it names no paths. */
int sched_outside(struct outside *o, struct pai *p, const struct task *t,
		  const char *wt, char *err, size_t errlen);
void sched_outside_release(struct outside *o);
/* "a.c, b/x.h" (the first 20, then "and N more") */
void sched_outside_words(const struct outside *o, char *out, size_t len);
/* As a JSON array (malloc'd). */
char *sched_outside_json(const struct outside *o);
/* outsidePaths = fail: why in why ("changed outside its paths: a.c"),
 * and no retry. */
void sched_outside_fail(struct run *r, const struct outside *o, char *why,
			size_t len);
/* Before the commit: what the run changed outside its paths found, kept
 * in the store, logged and in events (outside_paths), and what the
 * commit skips in *skip (worktree.copy's files, and those outside under
 * outsidePaths = drop; free it, not its strings). */
int sched_outside_begin(struct run *r, const struct task *t, const char *wt,
			struct outside *o, const char ***skip);

/* scheduler.c */
int sched_resize_slots(struct sched *s, int n);

/* recover.c */
void sched_recover(struct sched *s);

#endif
