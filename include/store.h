/*
 * store: the task database. The only module that speaks SQL.
 *
 * One SQLite file (WAL mode, synchronous=FULL so that an acknowledged task
 * survives kill -9 and power loss), schema versioned with PRAGMA user_version
 * and upgraded by forward migrations at open. One connection guarded by a
 * mutex: every function is safe to call from any thread, takes the mutex
 * for the whole of its work and holds no lock when it returns, so a caller
 * may hold any lock of its own across a call (the scheduler's does); the
 * store calls nothing outside itself with its mutex held. (The details:
 * src/store/storeint.h.)
 *
 *	struct store *st;
 *	char err[256];
 *	if (store_open(&st, "/repo/.git/parallelai/state.db", err, sizeof(err)) < 0)
 *		die("%s", err);
 *	int64_t id;
 *	store_task_create(st, "make test", 9, "sh", base_oid, &id);
 *
 * Results are 0 or a negative errno (-ENOENT for a missing task, -EIO for a
 * database error, -ENOSPC when the disk is full).
 * Times are milliseconds since the epoch.
 */
#ifndef PAI_STORE_H
#define PAI_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oid.h"

enum task_state {
	TASK_QUEUED,
	TASK_RUNNING,
	TASK_DONE,
	TASK_FAILED,
	TASK_CANCELLED,
	TASK_MERGED,
	TASK_WAITING,
	TASK_BLOCKED,
	TASK_REJECTED,		/* the merge queue would not land it */
	TASK_STATE_COUNT
};

/* "queued", "running", ... */
const char *task_state_name(enum task_state s);
int task_state_parse(const char *name, enum task_state *out);
/* An end state: done, failed, cancelled, merged or blocked (nothing
 * moves it on but a person: retry, or a dependency retried). */
bool task_state_ended(enum task_state s);

struct task {
	int64_t id;
	char *prompt;		/* NUL-terminated; prompt_len bytes */
	size_t prompt_len;
	char *engine;
	enum task_state state;
	char base[OID_HEX_SIZE];		/* base commit, hex */
	char commit[OID_HEX_SIZE];	/* commit made after the run, "" if none */
	char *branch;		/* "pai/task-N" */
	char *worktree;		/* absolute path, NULL until made */
	char *reason;		/* why it failed or was cancelled, NULL if none */
	int exit_code;		/* -1 when none yet; 128+sig when killed */
	int attempts;		/* times it was started */
	int worker;		/* slot 1..N while running, else 0 */
	int pid;		/* engine pid while running, else 0 */
	int64_t created, started, finished, updated; /* ms; 0 = never */
	char *model;		/* asked for in the spec, NULL: engine's own */
	char *options;		/* per-task engine options (JSON), or NULL */
	int priority;		/* higher runs first */
	int timeout;		/* seconds of wall time, 0: none */
	int stall;		/* seconds without output, 0: none */
	int retries;		/* extra attempts after a failure */
	char *labels;		/* JSON array of strings, or NULL */
	int64_t not_before;	/* ms: a retry's backoff ends; 0: none */
	int64_t plan;		/* the plan it came from, 0: none */
	int64_t input_tokens;	/* summed over attempts */
	int64_t output_tokens;
	int turns;
	double cost_usd;	/* < 0 when no engine reported a price */
};

/* What one run of an agent reported. */
struct task_usage {
	int64_t input_tokens;
	int64_t output_tokens;
	int turns;
	double cost_usd;	/* < 0: unknown */
};

void task_release(struct task *t);

struct store;

int store_open(struct store **out, const char *path, char *err, size_t errlen);
void store_close(struct store *st);

/* What a new task is made of; NULL members are left empty. */
struct task_new {
	const char *prompt;
	size_t len;
	const char *engine;
	const char *model;
	const char *options;	/* per-task engine options, JSON */
	const char *base;	/* base commit, hex */
	const char *branch;	/* NULL: pai/task-ID */
	int priority, timeout, stall, retries;
	const char *labels;	/* JSON array */
	/* ids it waits for; -k is the k-th task of the same batch */
	const int64_t *depends;
	size_t n_depends;
	int64_t plan;		/* 0: none */
	const char *check;	/* the check command, NULL: none */
	int fix_rounds;		/* engine runs after a failed check */
	const char *paths;	/* JSON array of the globs it owns, or NULL */
	const char *locks;	/* what it locks, if not paths (JSON) */
};

/*
 * A plan: a request split into tasks by a planner engine. States:
 * planning, waiting (for approval), created, failed, cancelled.
 */
struct plan {
	int64_t id;
	char *request;		/* request_len bytes, NUL-terminated */
	size_t request_len;
	char *state;
	char *engine;
	int approve;		/* tasks only after "approve" */
	char *plan;		/* what the planner returned, JSON, or NULL */
	int64_t *tasks;		/* the tasks made from it, in the plan's
				 * order; NULL (n_tasks 0) until created */
	size_t n_tasks;
	char *reason;
	int64_t created, updated;
};

void plan_release(struct plan *pl);
int store_plan_create(struct store *st, const char *request, size_t len,
		      const char *engine, int approve, int64_t *id);
int store_plan_get(struct store *st, int64_t id, struct plan *out);
/* All plans (state NULL) or those in state, ascending. */
int store_plan_ids(struct store *st, const char *state, int64_t **ids,
		   size_t *n);
/* plan NULL keeps the recorded one; reason NULL clears it. */
int store_plan_update(struct store *st, int64_t id, const char *state,
		      const char *plan, const char *reason);
/* Create a plan's tasks and mark it created, in one transaction. */
int store_plan_create_tasks(struct store *st, int64_t plan,
			    const struct task_new *v, size_t count,
			    int64_t *ids);

/* A dependent task whose state store_deps_settle changed. */
struct dep_change {
	int64_t task;
	enum task_state state;	/* waiting, blocked or queued */
	char reason[96];
};

/*
 * Insert a task in one committed transaction. It is queued, or waiting
 * while a dependency is not done, or blocked when one failed or was
 * cancelled. -ENOENT when a dependency does not exist.
 */
int store_task_create(struct store *st, const struct task_new *n,
		      int64_t *id_out);
/* Insert count tasks in one transaction: all of them, or none.
 * -EEXIST when a task's branch is another task's already. */
int store_tasks_create(struct store *st, const struct task_new *v,
		       size_t count, int64_t *ids);
/* The tasks id depends on, ascending. */
int store_task_deps(struct store *st, int64_t id, int64_t **ids, size_t *n);
/*
 * After id's state changed, bring its waiting and blocked dependents (and
 * theirs) in line: queued once every dependency is done, blocked when
 * one failed or was cancelled, waiting otherwise. *out lists the changes
 * (malloc'd).
 */
int store_deps_settle(struct store *st, int64_t id, struct dep_change **out,
		      size_t *n);
/* Only while queued or waiting: -EBUSY otherwise. */
int store_task_set_priority(struct store *st, int64_t id, int priority);
/* A failed attempt to be retried at not_before (ms): queued, kept. */
int store_task_backoff(struct store *st, int64_t id, int64_t not_before,
		       int exit_code, const char *reason);
/* A dependent task starts from its dependencies' merged work. */
int store_task_set_base(struct store *st, int64_t id, const char *base);
/* The earliest backoff still to end, or 0. */
int64_t store_next_due(struct store *st);
int store_task_get(struct store *st, int64_t id, struct task *out);
int store_task_exists(struct store *st, int64_t id);	/* 1, 0, or <0 */
/* The task that holds or held branch name: 1 and *id, 0 when none. */
int store_branch_owner(struct store *st, const char *name, int64_t *id);
/* All task ids, ascending; *ids is malloc'd (NULL when none). */
int store_task_ids(struct store *st, int64_t **ids, size_t *n);
/* At most max ids above after, in order: a listing a page at a time. */
int store_task_ids_after(struct store *st, int64_t after, size_t max,
			 int64_t **ids, size_t *n);
int store_tasks_in_state(struct store *st, enum task_state s,
			 int64_t **ids, size_t *n);
/* The queued task to run next: highest priority, then oldest, its
 * backoff over; -ENOENT when none. */
int store_task_next_queued(struct store *st, int64_t *id);
/* The same, skipping tasks of the given engines (at most 32). */
int store_task_next_queued_except(struct store *st,
				  const char *const *engines, size_t n,
				  int64_t *id);
/* The same, skipping the tasks skip[0..n_skip) too (at most
 * STORE_SKIP_MAX): those that wait for paths held by others. */
#define STORE_SKIP_MAX 64
int store_task_next_queued_skip(struct store *st,
				const char *const *engines, size_t n,
				const int64_t *skip, size_t n_skip,
				int64_t *id);

/* queued -> running: attempts += 1, started = now, worker set, pid 0,
 * exit_code -1. */
int store_task_start(struct store *st, int64_t id, int worker);
int store_task_set_worktree(struct store *st, int64_t id, const char *path);
int store_task_set_pid(struct store *st, int64_t id, int pid);
/* The job a backend runs the task's current attempt as (a SLURM job id),
 * recorded before the job may start; store_task_job gives it while the
 * task runs that attempt: 0, or -ENOENT (none, or an older attempt's). */
int store_task_set_job(struct store *st, int64_t id, const char *job);
int store_task_job(struct store *st, int64_t id, char *out, size_t len);
/* The recorded commit of an ended (done, failed, cancelled) task from
 * from to to (40 hex digits); -EBUSY when it is no longer from or the
 * task is queued or running again. */
int store_task_set_commit(struct store *st, int64_t id, const char *from,
			  const char *to);
/* -> done/failed/cancelled: finished = now, worker 0, pid 0.
 * commit and reason may be NULL. */
int store_task_finish(struct store *st, int64_t id, enum task_state state,
		      int exit_code, const char *commit, const char *reason);
/* -> queued again (retry, crash recovery, unmount): worker 0, pid 0,
 * exit_code -1, reason kept as given (may be NULL), commit cleared. */
int store_task_requeue(struct store *st, int64_t id, const char *reason);

/*
 * A task's check gate: the command run after its engine exits 0 and how
 * the last one went. state: "" (none ran in this run yet), "running",
 * "passed", "failed", "timeout"; round: the engine run under way or the
 * last, from 1 (of fix_rounds + 1); 0 before the first.
 */
struct task_check {
	char *command;		/* NULL: the task has no check */
	int fix_rounds;
	char state[16];
	int exit_code;		/* the last check's, -1: none */
	int round;
};

void task_check_release(struct task_check *c);
int store_task_check_get(struct store *st, int64_t id,
			 struct task_check *out);
/* state NULL or "": none yet. */
int store_task_set_check(struct store *st, int64_t id, const char *state,
			 int exit_code, int round);

/* The globs a task owns, as the JSON array it was given (malloc'd), or
 * *json NULL when none; -ENOENT when there is no such task. */
int store_task_paths(struct store *st, int64_t id, char **json);
/* The same, and what its last run changed outside them (a JSON array
 * of paths, NULL: nothing); outside may be NULL. */
int store_task_outside(struct store *st, int64_t id, char **paths,
		       char **outside);
/* The paths it locks: its globs, with those that matched files of its
 * base commit when it was made replaced by those files; as
 * store_task_paths. */
int store_task_locks(struct store *st, int64_t id, char **json);
/* json NULL: nothing outside. */
int store_task_set_outside(struct store *st, int64_t id, const char *json);

/* Add one run's tokens, turns and cost to the task's totals. */
int store_task_add_usage(struct store *st, int64_t id,
			 const struct task_usage *u);
/* What engines spent since `since` (ms): all of them when engine is
 * NULL; each report with a cost is a row (store_task_add_usage). */
int store_spend(struct store *st, int64_t since, const char *engine,
		double *usd);
/* Tokens and cost over all tasks (cost_usd < 0 when none reported one). */
int store_totals(struct store *st, struct task_usage *out);

/*
 * Since open: the batches store_tasks_create was given (refused ones
 * too) and the transactions they were written in. Concurrent callers
 * share a transaction and its fsync (group commit), so commits <=
 * batches.
 */
void store_group_stats(struct store *st, uint64_t *batches,
		       uint64_t *commits);

/*
 * One attempt of a task: the worker it ran on (0: not known, from before
 * runs were kept), when it started and ended (0 while it runs), and its
 * outcome: "running", "done", "failed", "cancelled", "blocked" or
 * "requeued" (stopped by an unmount or a restart, or retried).
 */
struct task_run {
	int64_t task;
	int attempt;
	int worker;
	int64_t started, finished;	/* ms */
	char outcome[16];
};

/* The newest max runs (by start), newest first; task 0: every task's,
 * else that task's. *out is malloc'd (NULL when none). */
int store_runs(struct store *st, int64_t task, size_t max,
	       struct task_run **out, size_t *n);
/* The max tasks changed last, newest first. */
int store_task_ids_recent(struct store *st, size_t max, int64_t **ids,
			  size_t *n);

/*
 * The merge queue (mergeq.h), one row per task in it. States: pending
 * (joins once the task is done: a fix task), waiting, checking, landed,
 * rejected, dropped (left the queue: cancelled, merged by hand). result
 * is the landed commit or why it was rejected or dropped.
 */
struct mq_row {
	int64_t task;
	int64_t seq;		/* order of arrival */
	char state[16];
	int64_t batch;		/* the batch it was last checked in, 0 none */
	char *result;
	int64_t updated;	/* ms since the epoch */
	int64_t fix_of;		/* the rejected task it fixes, 0 none */
};

/* Add a task at the end of the queue in state (pending or waiting);
 * -EEXIST when it is in it already and not ended. */
int store_mq_add(struct store *st, int64_t task, const char *state,
		 int64_t fix_of);
/* -ENOENT when the task is not in the queue. result may be NULL. */
int store_mq_set(struct store *st, int64_t task, const char *state,
		 int64_t batch, const char *result);
/* After a restart: what was being checked waits again. */
int store_mq_resume(struct store *st);
/* Rows still to go (pending, waiting, checking) and the last ended_max
 * ended ones, in queue order. */
int store_mq_list(struct store *st, size_t ended_max, struct mq_row **out,
		  size_t *n);
void store_mq_rows_release(struct mq_row *v, size_t n);

/*
 * The notification outbox (include/notify.h): one row per event and
 * notifier, from the event until its delivery or the last retry, so that
 * a remount delivers what the last daemon could not.
 */
struct outbox_row {
	int64_t id;
	char *event_id;		/* the "id" in the payload */
	char *sink;		/* the [notify "NAME"] it goes to */
	char *payload;		/* the event's JSON object */
	int attempts;		/* failed deliveries so far */
	int64_t not_before;	/* ms since the epoch: not due before */
};

void outbox_row_release(struct outbox_row *r);
/* One row per sink (n of them) for the event, in one transaction. */
int store_outbox_add(struct store *st, const char *event_id,
		     const char *const *sinks, size_t n, const char *payload);
/* The row due first (it may lie in the future); -ENOENT: none. */
int store_outbox_next(struct store *st, struct outbox_row *out);
/* A failed delivery: attempts so far, and when to try again. */
int store_outbox_retry(struct store *st, int64_t id, int attempts,
		       int64_t not_before);
/* Delivered, or given up. */
int store_outbox_remove(struct store *st, int64_t id);

/* Whom to tell when a task changes state (start, finish, requeue,
 * backoff, dependencies settled): watch_changed(w, id). Set before the
 * threads that change states start. */
struct watch;
void store_set_watch(struct store *st, struct watch *w);

/*
 * The policy's approvals and audit log (include/approvals.h). An audit
 * row is written in the same transaction as what it records.
 */
struct audit_row {
	int64_t id, at, task, approval;	/* approval: 0 when none */
	int attempt;
	char *engine, *action;
	char *decision;		/* allow | deny */
	char *by;		/* rule | judge | person | timeout | always */
	char *rule, *who, *reason;	/* each may be NULL */
};

struct approval_row {
	int64_t id, task;
	int attempt;
	char *engine, *action;
	char *why;		/* the rule that held it */
	char *detail;		/* a Write's or Edit's change, or NULL */
	char *state;		/* waiting | approved | denied | expired */
	bool always;
	char *decider, *reason;	/* NULL while waiting */
	int64_t created, deadline, decided;	/* ms since the epoch */
};

void approval_row_release(struct approval_row *r);
void audit_row_release(struct audit_row *r);
/* A new waiting approval; its id in *id. */
int store_approval_add(struct store *st, const struct approval_row *a,
		       int64_t *id);
int store_approval_get(struct store *st, int64_t id, struct approval_row *out);
/* The waiting approval of task for action (or one decided while no
 * engine waited for it), or an approved-always one (always): 0 and the
 * id in *id, -ENOENT when none. */
int store_approval_find(struct store *st, int64_t task, const char *action,
			bool always, int64_t *id);
/* Decides a waiting approval (state approved, denied or expired) and
 * writes its audit row, in one transaction: -EBUSY when it is decided
 * already, -ENOENT when there is none. */
int store_approval_decide(struct store *st, int64_t id, const char *state,
			  bool always, const char *decider,
			  const char *reason, const struct audit_row *audit);
/* An engine was given its answer: a later ask makes a new one. */
int store_approval_answered(struct store *st, int64_t id);
/* Waiting ones (task 0), all of one task, or all (task -1); overdue: waiting ones whose
 * deadline is <= now. */
int store_approval_ids(struct store *st, int64_t task, int64_t **ids,
		       size_t *n);
int store_approval_overdue(struct store *st, int64_t now, int64_t **ids,
			   size_t *n);
int store_audit_add(struct store *st, const struct audit_row *a);
/* Every row (task 0) or one task's, oldest first. */
int store_audit_list(struct store *st, int64_t task, struct audit_row **out,
		     size_t *n);
void store_audit_rows_release(struct audit_row *v, size_t n);
/* The judge's first decision (allow or deny) on action in task, and its
 * rule: 0, or -ENOENT when it has judged none. */
int store_audit_judged(struct store *st, int64_t task, const char *action,
		       char **decision, char *rule, size_t rulelen);
/* fn for each (decision, by, count). */
int store_audit_counts(struct store *st,
		       void (*fn)(void *arg, const char *decision,
				  const char *by, long long n), void *arg);

/* Number of tasks in each state. */
int store_counts(struct store *st, size_t counts[TASK_STATE_COUNT]);
/* Time of the last change to any task (for directory mtimes). */
int64_t store_last_change(struct store *st);

#endif
