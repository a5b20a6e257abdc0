/*
 * schedint: what the files of src/sched/ share: a run, a slot, the
 * scheduler, and the few steps one file takes from another. Not for use
 * outside src/sched/; the interface is include/scheduler.h.
 *
 * Locking: see sched/scheduler.c.
 */
#ifndef PAI_SCHEDINT_H
#define PAI_SCHEDINT_H

#include <pthread.h>
#include <stdint.h>

#include "breaker.h"
#include "runner.h"
#include "store.h"

/* How often a run thread wakes to look at cancel and kill deadlines. */
#define RUN_POLL_MS 100

struct run {
	struct sched *s;
	int64_t id;
	char *engine;		/* for limits per engine and the breaker */
	int attempt;		/* this one, from 1 */
	int retries;		/* the task's, for the retry policy */
	int timeout;		/* seconds, 0: none */
	int stall;		/* seconds without output, 0: none */
	int logfd;
	const char *killed_for;	/* "timeout" or "stalled", once sent */
	int slot;
	int cancel;		/* cancel requested */
	int64_t term_at;	/* ms when SIGTERM went out, 0 if not yet */
	int has_proc;
	struct runner_proc proc;
	int ended;		/* the engine has ended: cancel is too late */
	int record_err;		/* why its end cannot be recorded, or 0 */
	int unrecorded;		/* given up: the exit file must stay */
	char check_failed[512];	/* why its check gate failed it, or "" */
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
	pthread_t thread;
};

/* run.c */
void sched_log_line(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The run thread: pthread_create(..., sched_run_main, run). */
void *sched_run_main(void *arg);
/* Release or block the dependents of task id, as its end decides. */
void sched_settle(struct sched *s, int64_t id);
/* Commit what the engine left in wt and record the task's end. */
void sched_conclude(struct run *r, const struct task *t, const char *wt,
		    int code, int cancel, const char *agent_error);

/* "pai-REPO-N": the name of task id's jobs (runner_task.name). */
struct pai;
void sched_job_name(const struct pai *p, int64_t id, char *name,
		    size_t len);

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

/* scheduler.c */
int sched_resize_slots(struct sched *s, int n);

/* recover.c */
void sched_recover(struct sched *s);

#endif
