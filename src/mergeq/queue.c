/*
 * mergeq/queue: the merge queue's front (see include/mergeq.h): what
 * goes into it, the thread that takes the waiting candidates a batch at a
 * time (mergeq/batch.c does each), and the queue file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "events.h"
#include "mergeq.h"
#include "pai.h"
#include "review.h"
#include "store.h"
#include "mqint.h"

bool mergeq_enabled(const struct pai *p)
{
	if (p->cfg.merge_queue >= 0)
		return p->cfg.merge_queue;
	return p->cfg.check != NULL;
}

static void kick(struct mergeq *q)
{
	pthread_mutex_lock(&q->lock);
	q->kicked = true;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

void mq_doing(struct mergeq *q, int64_t batch, const char *what)
{
	pthread_mutex_lock(&q->lock);
	q->batch = batch;
	snprintf(q->doing, sizeof(q->doing), "%s", what);
	pthread_mutex_unlock(&q->lock);
}

bool mq_stopping(void *arg)
{
	struct mergeq *q = arg;
	bool s;

	pthread_mutex_lock(&q->lock);
	s = q->stop;
	pthread_mutex_unlock(&q->lock);
	return s;
}

/* ---- adding ------------------------------------------------------------ */

/* Can task t go into the queue? 0, or why not in err. */
int mq_admissible(struct pai *p, const struct task *t, char *err,
		  size_t errlen)
{
	if (t->state != TASK_DONE) {
		snprintf(err, errlen, "cannot queue task %lld: it is %s",
			 (long long)t->id, task_state_name(t->state));
		return -EBUSY;
	}
	if (!*t->commit || !strcmp(t->commit, t->base)) {
		snprintf(err, errlen, "cannot queue task %lld: it changed "
			 "nothing", (long long)t->id);
		return -EBUSY;
	}
	if (review_branch_missing(p, t)) {
		snprintf(err, errlen, "cannot queue task %lld: branch '%s' is "
			 "missing", (long long)t->id, t->branch);
		return -ENOENT;
	}
	return 0;
}

int mq_add_one(struct mergeq *q, int64_t id, const char *state,
	       int64_t fix_of, char *err, size_t errlen)
{
	struct task t;
	int r;

	if (store_task_get(q->p->store, id, &t) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return -ENOENT;
	}
	r = strcmp(state, "pending") ? mq_admissible(q->p, &t, err, errlen) : 0;
	task_release(&t);
	if (r < 0)
		return r;
	if ((r = store_mq_add(q->p->store, id, state, fix_of)) == -EEXIST)
		snprintf(err, errlen, "task %lld is in the merge queue already",
			 (long long)id);
	else if (r < 0)
		snprintf(err, errlen, "cannot queue task %lld: %s",
			 (long long)id, strerror(-r));
	else
		events_add(q->p->events, "queued_merge", id, NULL);
	return r;
}

int mergeq_add(struct mergeq *q, int64_t id, char *err, size_t errlen)
{
	int r = mq_add_one(q, id, "waiting", 0, err, errlen);

	if (r == 0)
		kick(q);
	return r;
}

int mergeq_add_all(struct mergeq *q, char *err, size_t errlen)
{
	int64_t *ids;
	size_t n, i;
	char why[512];
	int r;

	if ((r = review_candidates(q->p, &ids, &n, err, errlen)) < 0)
		return r;
	pthread_mutex_lock(&q->adding);
	for (i = 0; i < n; i++)
		mq_add_one(q, ids[i], "waiting", 0, why, sizeof(why));
	pthread_mutex_unlock(&q->adding);
	free(ids);
	kick(q);
	return 0;
}

bool mergeq_idle(struct mergeq *q)
{
	struct mq_row *v;
	size_t n, i;
	bool idle = true;

	if (store_mq_list(q->p->store, 0, &v, &n) < 0)
		return true;
	for (i = 0; i < n; i++)
		if (strcmp(v[i].state, "pending"))
			idle = false;
	store_mq_rows_release(v, n);
	return idle;
}

/* ---- the thread --------------------------------------------------------- */

/* Pending rows (fix tasks) whose task is done join the queue; those that
 * ended otherwise leave it. */
static void promote_pending(struct mergeq *q)
{
	struct mq_row *v;
	struct task t;
	size_t n, i;

	if (store_mq_list(q->p->store, 0, &v, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		if (strcmp(v[i].state, "pending") ||
		    store_task_get(q->p->store, v[i].task, &t) < 0)
			continue;
		if (t.state == TASK_DONE)
			store_mq_set(q->p->store, t.id, "waiting", 0, NULL);
		else if (t.state != TASK_QUEUED && t.state != TASK_RUNNING &&
			 t.state != TASK_WAITING)
			mq_dropped(q, t.id, "it did not finish");
		task_release(&t);
	}
	store_mq_rows_release(v, n);
}

/* One round: the next batch of waiting candidates. 1 when there was
 * work, 0 when none, <0 when the queue must wait for a kick. */
static int one_round(struct mergeq *q, int out_fd)
{
	struct cand *c;
	struct cand **v;
	size_t n, i, k = q->p->cfg.queue_batch > 0 ?
			 (size_t)q->p->cfg.queue_batch : 1;
	int r;

	promote_pending(q);
	pthread_mutex_lock(&q->adding);
	r = mq_load_waiting(q, &c, &n, k);
	pthread_mutex_unlock(&q->adding);
	if (r < 0)
		return r;
	if (!n) {
		free(c);
		return 0;
	}
	if (!(v = calloc(n, sizeof(*v)))) {
		mq_cands_release(c, n);
		free(c);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		v[i] = &c[i];
	r = mq_run_batch(q, v, n, out_fd);
	free(v);
	mq_cands_release(c, n);
	free(c);
	mq_doing(q, 0, "");
	return r < 0 ? r : 1;
}

static void *queue_main(void *arg)
{
	struct mergeq *q = arg;
	char path[PATH_MAX];
	struct timespec until;
	int fd, r;

	/* the last check's output, while it is being judged */
	snprintf(path, sizeof(path), "%s/logs/merge-queue.check",
		 q->p->state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	mq_scratch_remove(q);
	while (!mq_stopping(q)) {
		r = fd < 0 ? -EIO : one_round(q, fd);
		if (r > 0)
			continue;
		/* nothing to do, or stalled: until kicked, or a second
		 * passes (pending fix tasks end without a kick) */
		pthread_mutex_lock(&q->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += r < 0 ? 5 : 1;
		while (!q->stop && !q->kicked &&
		       pthread_cond_timedwait(&q->wake, &q->lock, &until) == 0)
			;
		q->kicked = false;
		pthread_mutex_unlock(&q->lock);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

int mergeq_start(struct mergeq **out, struct pai *p)
{
	struct mergeq *q = calloc(1, sizeof(*q));

	*out = NULL;
	if (!q)
		return -ENOMEM;
	q->p = p;
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->adding, NULL);
	pthread_cond_init(&q->wake, NULL);
	/* a check the last daemon did not finish runs again */
	store_mq_resume(p->store);
	if (pthread_create(&q->thread, NULL, queue_main, q) != 0) {
		pthread_cond_destroy(&q->wake);
		pthread_mutex_destroy(&q->adding);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return -EAGAIN;
	}
	q->started = true;
	*out = q;
	return 0;
}

void mergeq_stop(struct mergeq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	if (q->started)
		pthread_join(q->thread, NULL);
	pthread_cond_destroy(&q->wake);
	pthread_mutex_destroy(&q->adding);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* ---- the queue file --------------------------------------------------- */

int mergeq_render(struct mergeq *q, struct buf *out, bool json)
{
	struct mq_row *v;
	size_t n, i;
	char doing_now[256];
	int64_t batch;
	unsigned long checks;
	int r;

	if ((r = store_mq_list(q->p->store, SHOWN_ENDED, &v, &n)) < 0)
		return r;
	pthread_mutex_lock(&q->lock);
	batch = q->batch;
	checks = q->checks;
	snprintf(doing_now, sizeof(doing_now), "%s", q->doing);
	pthread_mutex_unlock(&q->lock);
	if (json) {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
		char *s;

		cJSON_AddStringToObject(o, "doing", doing_now);
		cJSON_AddNumberToObject(o, "batch", (double)batch);
		cJSON_AddNumberToObject(o, "checks", (double)checks);
		for (i = 0; i < n; i++) {
			cJSON *e = cJSON_CreateObject();

			cJSON_AddNumberToObject(e, "task", (double)v[i].task);
			cJSON_AddStringToObject(e, "state", v[i].state);
			cJSON_AddNumberToObject(e, "batch", (double)v[i].batch);
			if (v[i].result)
				cJSON_AddStringToObject(e, "result",
							v[i].result);
			cJSON_AddItemToArray(a, e);
		}
		cJSON_AddItemToObject(o, "candidates", a);
		s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		r = s ? buf_printf(out, "%s\n", s) : -ENOMEM;
		free(s);
	} else {
		r = buf_printf(out, "%s\nchecks: %lu\n", *doing_now ? doing_now
			       : "idle", checks);
		for (i = 0; i < n && r == 0; i++)
			r = buf_printf(out, "%lld %s%s%s\n",
				       (long long)v[i].task, v[i].state,
				       v[i].result ? " " : "",
				       v[i].result ? v[i].result : "");
	}
	store_mq_rows_release(v, n);
	return r;
}
