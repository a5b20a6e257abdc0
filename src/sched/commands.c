/*
 * sched/commands: submissions (tasks/new) and ctl commands of the root and
 * of a task: cancel, retry, priority, pause, resume, workers; merge, push,
 * prune and rescan are review's, run outside the scheduler's lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
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
#include "gitwork.h"
#include "merge.h"
#include "pai.h"
#include "review.h"
#include "runner.h"
#include "scheduler.h"
#include "spec.h"
#include "submit.h"
#include "store.h"
#include "wlog.h"
#include "schedint.h"

static void refuse(struct sched *s, int64_t task, const char *reason)
{
	events_reason(s->p->events, "refused", task, reason);
}

int sched_check(struct sched *s, const char *text, size_t len,
		const struct pai_cancel *cancel, char *err, size_t errlen)
{
	struct submission sub;
	int r = submit_prepare(&sub, s->p, text, len, cancel, err, errlen);

	submit_release(&sub);
	if (r < 0)
		refuse(s, 0, err);
	return r;
}

int sched_submit(struct sched *s, const char *text, size_t len,
		 const struct pai_cancel *cancel, int64_t *id, char *err,
		 size_t errlen)
{
	struct pai *p = s->p;
	struct submission sub;
	int64_t *ids = NULL;
	size_t i;
	int r;

	r = submit_prepare(&sub, p, text, len, cancel, err, errlen);
	if (r < 0)
		goto refused;
	ids = calloc(sub.n, sizeof(*ids));
	if (!ids) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto refused;
	}
	r = store_tasks_create(p->store, sub.tasks, sub.n, ids);
	if (r < 0) {
		/* -EEXIST: another submission took the branch meanwhile. */
		snprintf(err, errlen, "cannot store the task: %s",
			 r == -ENOENT ? "a dependency no longer exists" :
			 r == -EEXIST ? "its branch is another task's" :
			 strerror(-r));
		if (r == -ENOENT || r == -EEXIST)
			r = -EINVAL;
		goto refused;
	}
	for (i = 0; i < sub.n; i++) {
		struct task t;
		cJSON *f = NULL;

		/* Say when a dependency keeps it from the queue. */
		if (store_task_get(p->store, ids[i], &t) == 0) {
			if (t.state != TASK_QUEUED) {
				f = cJSON_CreateObject();
				cJSON_AddStringToObject(f, "state",
						task_state_name(t.state));
				if (t.reason)
					cJSON_AddStringToObject(f, "reason",
								t.reason);
			}
			task_release(&t);
		}
		events_add(p->events, "created", ids[i], f);
	}
	*id = ids[0];
	free(ids);
	submit_release(&sub);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
refused:
	free(ids);
	submit_release(&sub);
	refuse(s, 0, err);
	return r;
}

static struct run *run_of(struct sched *s, int64_t id)
{
	int k;

	for (k = 0; k < s->n_slots; k++)
		if (s->slots[k].run && s->slots[k].run->id == id)
			return s->slots[k].run;
	return NULL;
}

/* Called with s->lock held; *settle_after says the dependents of id
 * must follow once it is released. */
static int task_cancel(struct sched *s, int64_t id, int *settle_after,
		       char *err, size_t errlen)
{
	struct task t;
	struct run *r;
	int ret, settle_later = 0;

	if ((ret = store_task_get(s->p->store, id, &t)) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return ret;
	}
	ret = 0;
	if (t.state == TASK_QUEUED || t.state == TASK_WAITING ||
	    t.state == TASK_BLOCKED) {
		char why[64];

		snprintf(why, sizeof(why), "cancelled while %s",
			 task_state_name(t.state));
		store_task_finish(s->p->store, id, TASK_CANCELLED, -1, NULL,
				  why);
		events_add(s->p->events, "cancelled", id, NULL);
		settle_later = 1;
	} else if (t.state == TASK_RUNNING && (r = run_of(s, id)) &&
		   r->ended) {
		/* Too late to end it: what it did is being committed. */
		if (r->record_err)
			snprintf(err, errlen, "cannot cancel task %lld: its "
				 "engine has ended and its end cannot be "
				 "recorded: %s", (long long)id,
				 strerror(-r->record_err));
		else
			snprintf(err, errlen, "cannot cancel task %lld: its "
				 "engine has ended; its end is being recorded",
				 (long long)id);
		ret = r->record_err ? r->record_err : -EBUSY;
	} else if (t.state == TASK_RUNNING && (r = run_of(s, id))) {
		if (r->cancel) {
			snprintf(err, errlen, "task %lld is being cancelled",
				 (long long)id);
			ret = -EBUSY;
		}
		r->cancel = 1;
		if (r->has_proc && !r->term_at) {
			runner_signal(&r->proc, SIGTERM);
			r->term_at = pai_now_ms();
		}
	} else if (t.state == TASK_DONE && review_branch_missing(s->p, &t)) {
		snprintf(err, errlen, "cannot cancel task %lld: it is done;"
			 " its branch '%s' is missing: retry runs it again,"
			 " prune clears it away", (long long)id, t.branch);
		ret = -EBUSY;
	} else {
		snprintf(err, errlen, "cannot cancel task %lld: it is %s",
			 (long long)id, task_state_name(t.state));
		ret = -EBUSY;
	}
	task_release(&t);
	*settle_after = settle_later;
	return ret;
}

/*
 * A task whose branch was deleted starts over: a new worktree and branch
 * from its base, as on its first run. Its worktree record goes, so the
 * run makes them anew (copy and setup included). A worktree directory
 * still there (its branch deleted with git update-ref) holds files that
 * would be taken for the new run's work: refused until it is pruned.
 */
static int retry_fresh(struct sched *s, const struct task *t, char *err,
		       size_t errlen)
{
	if (!t->worktree)
		return 0;
	if (access(t->worktree, F_OK) == 0) {
		snprintf(err, errlen, "cannot retry task %lld: branch '%s' is"
			 " missing but worktree '%s' is still there (prune"
			 " %lld removes it)", (long long)t->id, t->branch,
			 t->worktree, (long long)t->id);
		return -EBUSY;
	}
	if (store_task_set_worktree(s->p->store, t->id, NULL) < 0) {
		snprintf(err, errlen, "cannot retry task %lld: cannot forget"
			 " worktree '%s'", (long long)t->id, t->worktree);
		return -EIO;
	}
	return 0;
}

static int task_retry(struct sched *s, int64_t id, int *settle_after,
		      char *err, size_t errlen)
{
	struct task t;
	bool missing;
	int ret;

	if ((ret = store_task_get(s->p->store, id, &t)) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return ret;
	}
	/* A done task whose branch is gone cannot merge: retry is how it
	 * does its work again. */
	missing = review_branch_missing(s->p, &t);
	if (t.state != TASK_FAILED && t.state != TASK_CANCELLED &&
	    !(t.state == TASK_DONE && missing)) {
		snprintf(err, errlen, "cannot retry task %lld: it is %s",
			 (long long)id, task_state_name(t.state));
		task_release(&t);
		return -EBUSY;
	}
	ret = missing ? retry_fresh(s, &t, err, errlen) : 0;
	task_release(&t);
	if (ret < 0)
		return ret;
	ret = store_task_requeue(s->p->store, id, NULL);
	if (ret < 0) {
		snprintf(err, errlen, "cannot requeue task %lld",
			 (long long)id);
		return ret;
	}
	events_add(s->p->events, "retried", id, NULL);
	pthread_cond_broadcast(&s->wake);
	*settle_after = 1;
	return 0;
}

static int task_priority(struct sched *s, int64_t id, long prio, char *err,
			 size_t errlen)
{
	int ret;

	if (prio < -SPEC_PRIORITY_MAX || prio > SPEC_PRIORITY_MAX) {
		snprintf(err, errlen, "priority out of range: %ld", prio);
		return -EINVAL;
	}
	ret = store_task_set_priority(s->p->store, id, (int)prio);
	if (ret == -EBUSY)
		snprintf(err, errlen, "cannot change the priority of task %lld:"
			 " it is no longer queued or waiting", (long long)id);
	else if (ret == -ENOENT)
		snprintf(err, errlen, "no such task: %lld", (long long)id);
	if (ret == 0) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddNumberToObject(f, "priority", (double)prio);
		events_add(s->p->events, "priority", id, f);
		pthread_cond_broadcast(&s->wake);
	}
	return ret;
}

/* cancel and retry decide under the lock; the dependents follow after. */
static int settled(struct sched *s, int64_t id,
		   int (*verb)(struct sched *, int64_t, int *, char *, size_t),
		   char *err, size_t errlen)
{
	int settle_after = 0, ret;

	pthread_mutex_lock(&s->lock);
	ret = verb(s, id, &settle_after, err, errlen);
	pthread_mutex_unlock(&s->lock);
	if (ret == 0 && settle_after)
		sched_settle(s, id);
	return ret;
}

int sched_cancel(struct sched *s, int64_t id, char *err, size_t errlen)
{
	return settled(s, id, task_cancel, err, errlen);
}

int sched_retry(struct sched *s, int64_t id, char *err, size_t errlen)
{
	return settled(s, id, task_retry, err, errlen);
}

int sched_priority(struct sched *s, int64_t id, long prio, char *err,
		   size_t errlen)
{
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = task_priority(s, id, prio, err, errlen);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void sched_pause(struct sched *s, bool paused)
{
	pthread_mutex_lock(&s->lock);
	s->paused = paused;
	events_add(s->p->events, paused ? "paused" : "resumed", 0, NULL);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

int sched_set_workers(struct sched *s, long n, char *err, size_t errlen)
{
	cJSON *f;
	int ret;

	if (n < 1 || n > 1024) {
		snprintf(err, errlen, "workers must be between 1 and 1024");
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	if ((ret = sched_resize_slots(s, (int)n)) == 0) {
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "workers", (double)n);
		events_add(s->p->events, "resized", 0, f);
		pthread_cond_broadcast(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}
