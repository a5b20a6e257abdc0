/*
 * sched/recover: what a mount does first about the last daemon's runs:
 * worktrees it never recorded are discarded, runs whose engine ended by
 * itself (its keeper wrote the exit file) are finished, not run again, and
 * the rest are queued again, their attempt counted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "breaker.h"
#include "ctl.h"
#include "engine.h"
#include "events.h"
#include "merge.h"
#include "pai.h"
#include "review.h"
#include "overlay.h"
#include "runner.h"
#include "scheduler.h"
#include "spec.h"
#include "submit.h"
#include "store.h"
#include "wlog.h"
#include "worktree.h"
#include "schedint.h"

/*
 * A daemon killed inside git_worktree_add leaves a broken worktree entry
 * that makes libgit2 refuse every later worktree, not only its own task's:
 * discard the partial worktree of every task that never recorded one,
 * before anything starts.
 */
static void discard_partial_worktrees(struct sched *s)
{
	static const enum task_state states[] = {
		TASK_QUEUED, TASK_RUNNING, TASK_FAILED, TASK_CANCELLED
	};
	char wt[PATH_MAX], entry[PATH_MAX], name[64], err[PATH_MAX + 256];
	size_t k, i, n;
	int64_t *ids;

	for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
		ids = NULL;
		n = 0;
		if (store_tasks_in_state(s->p->store, states[k], &ids, &n) < 0)
			continue;
		for (i = 0; i < n; i++) {
			struct task t;

			if (store_task_get(s->p->store, ids[i], &t) < 0)
				continue;
			pai_worktree_path(s->p, t.id, wt, sizeof(wt));
			snprintf(name, sizeof(name), "pai-task-%lld",
				 (long long)t.id);
			snprintf(entry, sizeof(entry), "%s/worktrees/%s",
				 s->p->gitdir, name);
			if (!t.worktree)
				overlay_discard(s->p->worktrees_dir, t.id);
			if (!t.worktree && (access(wt, F_OK) == 0 ||
					    access(entry, F_OK) == 0))
				worktree_discard(s->p->repo, name, wt,
							 err, sizeof(err));
			task_release(&t);
		}
		free(ids);
	}
}

/*
 * A run whose engine had exited by itself when the daemon died, or did so
 * while its keeper lingered (the keeper wrote its exit file): it is
 * finished now as it would have been then, committed and done or failed,
 * not run again. Only its tokens may go uncounted, if the daemon died
 * before it read the engine's report. lost: the engine ended by itself
 * but its keeper could not keep the status (code is -1): what it did is
 * committed and the task fails for that reason, without a retry, for the
 * run may well have done its work.
 */
static void conclude_recovered(struct sched *s, struct task *t, int code,
			       const char *lost)
{
	struct run r = { .s = s, .id = t->id, .engine = t->engine,
			 .attempt = t->attempts,
			 .retries = lost ? 0 : t->retries,
			 .timeout = t->timeout, .stall = t->stall,
			 .logfd = -1 };
	char path[PATH_MAX], name[64], err[PATH_MAX + 256];
	struct task_usage u;
	char *agent_error = NULL;

	/* The dead daemon may have been committing: its locks go. */
	snprintf(name, sizeof(name), "pai-task-%lld", (long long)t->id);
	worktree_clear_locks(s->p->repo, name, t->branch, err, sizeof(err));
	pai_log_path(s->p, t->id, path, sizeof(path));
	r.logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lost)
		sched_log_line(r.logfd, "parallelai: %s", lost);
	else
		sched_log_line(r.logfd, "parallelai: the daemon restarted after the"
			 " engine exited (%d); finishing the run", code);
	/* Its error, not its tokens: the dead daemon may have counted
	 * those already. */
	pai_result_path(s->p, t->id, path, sizeof(path));
	if (!lost)
		engine_read_result(path, &u, &agent_error);
	events_reason(s->p->events, "recovered", t->id, lost ? lost :
		      "engine had exited; finished without running again");
	sched_conclude(&r, t, t->worktree, code, 0, lost ? lost : agent_error);
	free(agent_error);
	if (r.logfd >= 0)
		close(r.logfd);
}

/* A task with a check is not done on its engine's word: whatever its
 * engine's end, it runs again, engine and check. */
static bool has_check(struct sched *s, int64_t id)
{
	struct task_check c;
	bool yes;

	if (store_task_check_get(s->p->store, id, &c) < 0)
		return false;
	yes = c.command != NULL;
	task_check_release(&c);
	return yes;
}

/* A free slot for an adopted run, past the workers when none is free (it
 * shows there until its run ends, as after a shrink); 0 when out of
 * memory. Called with s->lock. */
static int free_slot(struct sched *s)
{
	struct slot *sl;
	int k;

	for (k = 0; k < s->n_slots; k++)
		if (!s->slots[k].run)
			return k + 1;
	sl = realloc(s->slots, (size_t)(s->n_slots + 1) * sizeof(*sl));
	if (!sl)
		return 0;
	memset(&sl[s->n_slots], 0, sizeof(*sl));
	s->slots = sl;
	return ++s->n_slots;
}

/* A run that goes on (a SLURM job) gets a run thread that waits for it,
 * as if this daemon had started it: no second run. 0, or -errno when it
 * could not (the caller ends it). */
static int adopt(struct sched *s, const struct task *t,
		 const struct runner_proc *proc)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t th;
	int k;

	if (!r || !(r->engine = t->engine ? strdup(t->engine) : NULL)) {
		free(r);
		return -ENOMEM;
	}
	r->s = s;
	r->id = t->id;
	r->logfd = -1;
	r->adopted = 1;
	r->has_proc = 1;
	r->proc = *proc;
	pthread_mutex_lock(&s->lock);
	if (!(k = free_slot(s)))
		goto fail;
	r->slot = k;
	s->slots[k - 1].run = r;
	s->slots[k - 1].since = pai_now_ms();
	s->runs++;
	if (pthread_create(&th, NULL, sched_run_main, r) != 0) {
		s->slots[k - 1].run = NULL;
		s->runs--;
		goto fail;
	}
	pthread_detach(th);
	pthread_mutex_unlock(&s->lock);
	return 0;
fail:
	pthread_mutex_unlock(&s->lock);
	free(r->engine);
	free(r);
	return -ENOMEM;
}

/* Tasks left running by a daemon that died: those whose engine exited by
 * itself are finished (failed, when its status was lost: the run may
 * have done its work, and runs once); the others' engines are ended,
 * what remains of them too, and they are queued again with the attempt
 * counted. */
void sched_recover(struct sched *s)
{
	static const char lost_status[] = "the engine ended by itself but its"
		" exit status could not be kept; not run again";
	char logp[PATH_MAX], path[PATH_MAX], entry[PATH_MAX + 16], err[512];
	char job[64], name[PATH_MAX];
	int64_t *ids = NULL, until = pai_now_ms() + RUNNER_RECOVER_MS, left;
	size_t n = 0, i;
	int status, kept;

	if (store_tasks_in_state(s->p->store, TASK_RUNNING, &ids, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		struct runner_ref ref;
		struct runner_proc proc;
		struct task t;

		if (store_task_get(s->p->store, ids[i], &t) < 0)
			continue;
		pai_log_path(s->p, t.id, logp, sizeof(logp));
		pai_exit_path(s->p, t.id, t.attempts, path, sizeof(path));
		/* What it started, in its group or not, still carries its
		 * worktree in the environment. */
		if (t.worktree)
			snprintf(entry, sizeof(entry), "PAI_WORKTREE=%s",
				 t.worktree);
		if (store_task_job(s->p->store, t.id, job, sizeof(job)) < 0)
			job[0] = '\0';
		ref = (struct runner_ref){
			.pid = t.pid, .log_path = logp,
			.exit_path = t.worktree ? path : NULL,
			.mark = t.worktree ? entry : NULL,
			.job = *job ? job : NULL, .name = name };
		sched_job_name(s->p, t.id, name, sizeof(name));
		left = until - pai_now_ms();
		kept = runner_recover(&proc, &ref, left > 0 ? (int)left : 0,
				      &status, err, sizeof(err));
		if (*err)
			fprintf(stderr, "parallelai: task %lld: %s\n",
				(long long)t.id, err);
		if (kept == RUNNER_ALIVE && adopt(s, &t, &proc) == 0) {
			events_reason(s->p->events, "recovered", t.id,
				      "its job goes on; waiting for it");
			task_release(&t);
			continue;
		}
		if (kept == RUNNER_ALIVE) {
			/* Not adopted: it ends, and runs again like any run
			 * that did not end by itself. */
			runner_signal(&proc, SIGKILL);
			runner_wait(&proc, -1, &status);
			runner_release(&proc);
			kept = -ENOENT;
		}
		if ((kept == 0 || kept == -ENODATA) && !has_check(s, t.id)) {
			conclude_recovered(s, &t, kept ? -1 :
					   runner_exit_code(status),
					   kept ? lost_status : NULL);
			unlink(path);
			task_release(&t);
			continue;
		}
		unlink(path);
		store_task_requeue(s->p->store, t.id, "daemon restarted");
		events_reason(s->p->events, "requeued", t.id,
			      "daemon restarted");
		task_release(&t);
	}
	free(ids);
	discard_partial_worktrees(s);
}
