/*
 * scheduler: the scheduler. Owns the worker slots and every state change of a
 * task after its creation.
 *
 * One scheduler thread waits for work (a new task, a freed slot, a
 * command) and starts runnable tasks, oldest first, on free slots; each
 * run has its own thread that makes the worktree, starts the engine
 * through the runner, waits for it, commits its changes and records the
 * outcome.
 *
 *	sched_start(&s, pai);			// requeues crash leftovers
 *	sched_submit(s, "make test\n", 10, NULL, &id, err, sizeof(err));
 *	sched_cancel(s, id, err, sizeof(err));
 *	sched_stop(s);		// ends engines; their tasks stay queued
 */
#ifndef PAI_SCHEDULER_H
#define PAI_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cancel.h"

struct pai;
struct sched;

int sched_start(struct sched **out, struct pai *p);
void sched_stop(struct sched *s);

/*
 * Create a task from what was written to tasks/new: a prompt, or a JSON
 * spec {"prompt": "...", "engine": "..."}. 0 and *id on success; -EINVAL
 * (empty prompt, NUL byte, bad spec, unknown engine), -EFBIG (too long),
 * -EIO/-ENOSPC (store) with the reason in err and in events; -EINTR
 * when cancel asked to stop while a fan-out was being expanded (nothing
 * is made).
 */
/* sched_submit's checks alone: nothing is made; a refusal is an
 * event. */
int sched_check(struct sched *s, const char *text, size_t len,
		const struct pai_cancel *cancel, char *err, size_t errlen);
int sched_submit(struct sched *s, const char *text, size_t len,
		 const struct pai_cancel *cancel, int64_t *id, char *err,
		 size_t errlen);

/*
 * What the ctl files ask of the queue (src/ctl.c routes them): 0, or
 * -ENOENT (no such task), -EBUSY (its state forbids it), -EINVAL, with
 * err saying why.
 */
int sched_cancel(struct sched *s, int64_t id, char *err, size_t errlen);
int sched_retry(struct sched *s, int64_t id, char *err, size_t errlen);
int sched_priority(struct sched *s, int64_t id, long prio, char *err,
		   size_t errlen);
void sched_pause(struct sched *s, bool paused);
/* 1..1024 slots, live */
int sched_set_workers(struct sched *s, long n, char *err, size_t errlen);

struct worker_info {
	int64_t task;		/* running now, 0 when idle */
	int64_t last_task;	/* the last one it ran, 0 if none */
	pid_t pid;		/* engine pid, 0 if not started yet */
	int64_t since;		/* ms, start of the current task */
};

/* New tasks were stored by someone else (the planner): look at the queue. */
void sched_kick(struct sched *s);

int sched_workers(struct sched *s);
int sched_busy(struct sched *s);
bool sched_paused(struct sched *s);
/* k is 1..sched_workers(); -ENOENT beyond. */
int sched_worker_info(struct sched *s, int k, struct worker_info *out);

/* A provider whose breaker is open: its tasks wait until open_until. */
struct breaker_info {
	char engine[64];
	int failures;
	int64_t open_until;	/* ms */
};

/* Why queued task id waits for paths ("paths held by task 7"): 0 and
 * the words in out, -ENOENT when it does not. */
int sched_waiting_for(struct sched *s, int64_t id, char *out, size_t len);

size_t sched_breakers(struct sched *s, struct breaker_info *out, size_t max);

/*
 * Budgets over the window (sched/budget.c): engine NULL sets the total
 * (`budget 50` in ctl), else that engine's; a reached budget raised lets
 * the queue go on. -EINVAL for a number that is not positive or an
 * unknown engine.
 */
int sched_set_budget(struct sched *s, const char *engine, double usd,
		     char *err, size_t errlen);

struct budget_info {
	char engine[64];	/* "": the total */
	double limit;		/* USD */
	double spent;		/* USD, in the window */
	bool reached;
};

/* The budgets that are set, the total first. */
size_t sched_budgets(struct sched *s, struct budget_info *out, size_t max);
/* Does a reached budget hold back a queued task of engine? */
bool sched_budget_holds(struct sched *s, const char *engine);

#endif
