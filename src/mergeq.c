/*
 * mergeq: the merge queue (see include/mergeq.h). One thread takes the
 * waiting candidates in order, a batch at a time:
 *
 *	build	each candidate merged in memory onto the tip, one after
 *		another (merge_combine); one that conflicts is rejected
 *	check	the result checked out in a scratch worktree, the check
 *		run there (check_run), again on failure (queueRetries)
 *	land	the branch fast-forwarded to exactly that commit
 *		(merge_into with ff_only), the user's checkout following
 *		under the rule of every merge
 *	bisect	a failing batch split in halves, each half a batch of its
 *		own on the tip as it is then
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
#include "checkrun.h"
#include "engine.h"
#include "events.h"
#include "gitrev.h"
#include "worktree.h"
#include "merge.h"
#include "mergeq.h"
#include "pai.h"
#include "review.h"
#include "scheduler.h"
#include "store.h"

/* The scratch worktree's name and branch; the branch exists only while
 * a check runs there. */
#define SCRATCH_NAME "merge-queue"
#define SCRATCH_BRANCH "pai/merge-queue"
/* Ended rows the queue file shows. */
#define SHOWN_ENDED 50

struct cand {
	int64_t id;
	char commit[OID_HEX_SIZE];	/* the task's recorded commit */
	char *branch;
	int64_t fix_of;		/* the rejected task it fixes, 0 none */
};

struct mergeq {
	struct pai *p;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* held while candidates are added, so that a batch never takes
	 * half of what one merge all adds */
	pthread_mutex_t adding;
	bool stop, kicked, busy;
	/* for the queue file, under lock */
	int64_t batch;		/* the batch being checked, 0 none */
	char doing[256];	/* what the thread does now */
	unsigned long checks;	/* check runs since the mount */
	int64_t next_batch;
};

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

static void doing(struct mergeq *q, int64_t batch, const char *what)
{
	pthread_mutex_lock(&q->lock);
	q->batch = batch;
	snprintf(q->doing, sizeof(q->doing), "%s", what);
	pthread_mutex_unlock(&q->lock);
}

static bool stopping(void *arg)
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
static int admissible(struct pai *p, const struct task *t, char *err,
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

static int add_one(struct mergeq *q, int64_t id, const char *state,
		   int64_t fix_of, char *err, size_t errlen)
{
	struct task t;
	int r;

	if (store_task_get(q->p->store, id, &t) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return -ENOENT;
	}
	r = strcmp(state, "pending") ? admissible(q->p, &t, err, errlen) : 0;
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
	int r = add_one(q, id, "waiting", 0, err, errlen);

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
		add_one(q, ids[i], "waiting", 0, why, sizeof(why));
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

/* ---- one batch ---------------------------------------------------------- */

static void cands_release(struct cand *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(c[i].branch);
}

/* The check a batch runs: parallelai.check. */
static const char *queue_check(struct pai *p)
{
	return p->cfg.check;
}

static void auto_fix(struct mergeq *q, int64_t id);

static void reject(struct mergeq *q, const struct cand *c, int64_t batch,
		   const char *reason, const char *check_head, int out_fd)
{
	struct pai *p = q->p;
	char path[PATH_MAX];
	cJSON *f;

	if (check_head && out_fd >= 0) {
		pai_check_path(p, c->id, path, sizeof(path));
		check_save(path, check_head, out_fd, 0);
	}
	store_task_finish(p->store, c->id, TASK_REJECTED, 0, NULL, reason);
	store_mq_set(p->store, c->id, "rejected", batch, reason);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "reason", reason);
	cJSON_AddNumberToObject(f, "batch", (double)batch);
	events_add(p->events, "rejected", c->id, f);
	/* handed back by itself once: a fix that is rejected again waits
	 * for a person */
	if (p->cfg.queue_auto_fix && !c->fix_of)
		auto_fix(q, c->id);
}

/* The candidate left the queue for a reason of its own (it is no longer
 * done: cancelled, retried, merged by hand). */
static void dropped(struct mergeq *q, int64_t id, const char *why)
{
	store_mq_set(q->p->store, id, "dropped", 0, why);
	events_reason(q->p->events, "dequeued", id, why);
}

/* The rows that wait, in order, loaded as candidates (those no longer
 * fit to go are dropped); at most max. */
static int load_waiting(struct mergeq *q, struct cand **out, size_t *n,
			size_t max)
{
	struct mq_row *v;
	struct cand *c;
	struct task t;
	char why[512];
	size_t nv, i;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = store_mq_list(q->p->store, 0, &v, &nv)) < 0)
		return r;
	if (!(c = calloc(nv + 1, sizeof(*c)))) {
		store_mq_rows_release(v, nv);
		return -ENOMEM;
	}
	for (i = 0; i < nv && *n < max; i++) {
		if (strcmp(v[i].state, "waiting"))
			continue;
		if (store_task_get(q->p->store, v[i].task, &t) < 0) {
			dropped(q, v[i].task, "the task is gone");
			continue;
		}
		if (admissible(q->p, &t, why, sizeof(why)) < 0) {
			dropped(q, t.id, why);
		} else {
			c[*n].id = t.id;
			memcpy(c[*n].commit, t.commit, sizeof(c[*n].commit));
			c[*n].branch = t.branch;
			c[*n].fix_of = v[i].fix_of;
			t.branch = NULL;
			(*n)++;
		}
		task_release(&t);
	}
	store_mq_rows_release(v, nv);
	*out = c;
	return 0;
}

/*
 * Merge the candidates onto tip one after another, in memory: top gets
 * the result, good the ones that went in (in order). One that conflicts
 * is rejected; one whose work is in the tip already has landed before
 * (the daemon died between the landing and its record) and is recorded
 * as merged now.
 */
static void build(struct mergeq *q, int64_t batch, const char *branch,
		  const char *tip, struct cand *c, size_t n, char top[OID_HEX_SIZE],
		  struct cand **good, size_t *ngood)
{
	struct pai *p = q->p;
	struct merge_paths paths;
	char next[OID_HEX_SIZE], err[768], msg[512], reason[1024];
	size_t i;
	int r;

	snprintf(top, OID_HEX_SIZE, "%s", tip);
	*ngood = 0;
	for (i = 0; i < n; i++) {
		const char *one[1] = { c[i].commit };

		snprintf(msg, sizeof(msg), "Merge branch '%s' into %s\n\n"
			 "Landed by the parallelai merge queue (task %lld).",
			 c[i].branch, branch, (long long)c[i].id);
		memset(&paths, 0, sizeof(paths));
		r = merge_combine(next, &paths, p->repo, top, one, 1, msg,
				  err, sizeof(err));
		merge_paths_release(&paths);
		if (r < 0) {
			snprintf(reason, sizeof(reason), "%s",
				 r == -EBUSY ? err : err);
			reject(q, &c[i], batch, reason, NULL, -1);
			continue;
		}
		if (!strcmp(next, top)) {
			/* in the branch already */
			store_task_finish(p->store, c[i].id, TASK_MERGED, 0,
					  NULL, NULL);
			store_mq_set(p->store, c[i].id, "landed", batch, top);
			events_add(p->events, "landed", c[i].id, NULL);
			continue;
		}
		memcpy(top, next, OID_HEX_SIZE);
		good[(*ngood)++] = &c[i];
	}
}

/* A scratch worktree at commit, made afresh. */
static int scratch_make(struct mergeq *q, const char *commit, char *path,
			size_t len, char *err, size_t errlen)
{
	struct pai *p = q->p;
	char e[512];

	snprintf(path, len, "%s/%s", p->worktrees_dir, SCRATCH_NAME);
	worktree_remove(p->repo, SCRATCH_NAME, path, SCRATCH_BRANCH, e,
			      sizeof(e));
	return worktree_create(p->repo, SCRATCH_NAME, path,
				       SCRATCH_BRANCH, commit, err, errlen);
}

static void scratch_remove(struct mergeq *q)
{
	char path[PATH_MAX], e[512];

	snprintf(path, sizeof(path), "%s/%s", q->p->worktrees_dir,
		 SCRATCH_NAME);
	worktree_remove(q->p->repo, SCRATCH_NAME, path, SCRATCH_BRANCH,
			      e, sizeof(e));
}

/*
 * Run the check on commit in the scratch worktree, retries times again
 * while it fails. 1 passed, 0 failed (out_fd holds the last output and
 * head says how it ended), <0 could not run (err), -EINTR stopped.
 */
static int check_commit(struct mergeq *q, const char *commit, int out_fd,
			char *head, size_t headlen, char *err, size_t errlen)
{
	struct pai *p = q->p;
	struct check_outcome o;
	char path[PATH_MAX], **env = NULL;
	int tries = p->cfg.queue_retries + 1, r = 0, k;

	/* the allow-list of an sh engine: no API key reaches a check */
	if ((r = engine_env(&p->cfg, "sh", NULL, NULL, NULL, &env)) < 0) {
		snprintf(err, errlen, "cannot make the check's environment: "
			 "%s", strerror(-r));
		return r;
	}
	if ((r = scratch_make(q, commit, path, sizeof(path), err, errlen)) < 0) {
		engine_argv_free(env);
		return r;
	}
	for (k = 0; k < tries; k++) {
		struct check_spec cs = {
			.cmd = queue_check(p), .cwd = path, .out_fd = out_fd,
			.out_cap = p->cfg.log_max,
			.timeout = p->cfg.check_timeout,
			.kill_grace_ms = p->cfg.kill_grace_ms,
			.envp = env, .stop = stopping, .arg = q,
		};

		if (ftruncate(out_fd, 0) < 0 || lseek(out_fd, 0, SEEK_SET) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot reset the check's output:"
				 " %s", strerror(errno));
			break;
		}
		pthread_mutex_lock(&q->lock);
		q->checks++;
		pthread_mutex_unlock(&q->lock);
		if ((r = check_run(&cs, &o, err, errlen)) < 0)
			break;
		if (o.end == CHECK_STOPPED) {
			r = -EINTR;
			break;
		}
		check_head(&o, p->cfg.check_timeout, head, headlen);
		if ((r = check_passed(&o))) {
			if (k > 0)
				events_reason(p->events, "flaky", 0, commit);
			break;
		}
	}
	scratch_remove(q);
	engine_argv_free(env);
	return r;
}

/* Fast-forward the branch from tip to top, the tested commit, and record
 * the landing of each of good. */
static int land(struct mergeq *q, int64_t batch, const char *branch,
		const char *top, struct cand **good, size_t n, char *err,
		size_t errlen)
{
	struct pai *p = q->p;
	struct merge_options o = { .strategy = MERGE_STRATEGY_MERGE,
				   .ff_only = 1, .commit = top };
	struct merge_result res;
	size_t i;
	cJSON *f;
	int r;

	review_lock(p);
	r = merge_into(&res, p->repo, top, branch, &o, err, errlen);
	if (r == 0) {
		for (i = 0; i < n; i++) {
			store_task_finish(p->store, good[i]->id, TASK_MERGED,
					  0, NULL, NULL);
			store_mq_set(p->store, good[i]->id, "landed", batch,
				     top);
			f = cJSON_CreateObject();
			cJSON_AddStringToObject(f, "branch", branch);
			cJSON_AddStringToObject(f, "commit", top);
			cJSON_AddNumberToObject(f, "batch", (double)batch);
			events_add(p->events, "landed", good[i]->id, f);
		}
		merge_result_release(&res);
	}
	review_unlock(p);
	return r;
}

static void set_rows(struct mergeq *q, struct cand **v, size_t n,
		     const char *state, int64_t batch)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_mq_set(q->p->store, v[i]->id, state, batch, NULL);
}

/*
 * One batch: build it on the tip, check it, land it, or split it. 0, or
 * -EINTR when the queue is stopping, -EAGAIN when it cannot go on now
 * (the checkout is in the way; said in events), the rows left waiting.
 */
static int run_batch(struct mergeq *q, struct cand **v, size_t n,
		     int out_fd)
{
	struct pai *p = q->p;
	struct cand **good;
	char branch[256], tip[OID_HEX_SIZE], top[OID_HEX_SIZE], err[1024], head[160];
	char reason[1400], what[256];
	struct cand *flat;
	size_t ngood, i, half;
	int64_t batch;
	int r;

	if (!n)
		return 0;
	if (review_base_branch(p, branch, sizeof(branch), err, sizeof(err)) < 0
	    || gitrev_branch(p->rev, branch, tip, err, sizeof(err)) < 0) {
		events_reason(p->events, "queue_stalled", 0, err);
		return -EAGAIN;
	}
	pthread_mutex_lock(&q->lock);
	batch = ++q->next_batch;
	pthread_mutex_unlock(&q->lock);
	if (!(flat = calloc(n, sizeof(*flat))) ||
	    !(good = calloc(n, sizeof(*good)))) {
		free(flat);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		flat[i] = *v[i];
	build(q, batch, branch, tip, flat, n, top, good, &ngood);
	/* good points into flat: map back to the caller's candidates */
	for (i = 0; i < ngood; i++)
		good[i] = v[good[i] - flat];
	free(flat);
	r = 0;
	if (!ngood)
		goto out;
	set_rows(q, good, ngood, "checking", batch);
	snprintf(what, sizeof(what), "checking batch %lld (%zu task%s)",
		 (long long)batch, ngood, ngood == 1 ? "" : "s");
	doing(q, batch, what);
	r = queue_check(p) ? check_commit(q, top, out_fd, head, sizeof(head),
					  err, sizeof(err)) : 1;
	if (r == -EINTR)
		goto out;
	if (r < 0) {
		/* the check could not run at all: nothing can land */
		snprintf(reason, sizeof(reason), "check could not run: %s", err);
		for (i = 0; i < ngood; i++)
			reject(q, good[i], batch, reason, NULL, -1);
		r = 0;
	} else if (r == 1) {
		r = land(q, batch, branch, top, good, ngood, err, sizeof(err));
		if (r < 0) {
			set_rows(q, good, ngood, "waiting", 0);
			events_reason(p->events, "queue_stalled", 0, err);
			r = -EAGAIN;
		}
	} else if (ngood == 1) {
		snprintf(reason, sizeof(reason), "check failed: %s %s",
			 queue_check(p), head);
		reject(q, good[0], batch, reason, head, out_fd);
		r = 0;
	} else {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddNumberToObject(f, "batch", (double)batch);
		cJSON_AddNumberToObject(f, "size", (double)ngood);
		events_add(p->events, "bisect", 0, f);
		half = ngood / 2;
		if ((r = run_batch(q, good, half, out_fd)) == 0)
			r = run_batch(q, good + half, ngood - half, out_fd);
	}
out:
	free(good);
	return r;
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
			dropped(q, t.id, "it did not finish");
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
	r = load_waiting(q, &c, &n, k);
	pthread_mutex_unlock(&q->adding);
	if (r < 0)
		return r;
	if (!n) {
		free(c);
		return 0;
	}
	if (!(v = calloc(n, sizeof(*v)))) {
		cands_release(c, n);
		free(c);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		v[i] = &c[i];
	r = run_batch(q, v, n, out_fd);
	free(v);
	cands_release(c, n);
	free(c);
	doing(q, 0, "");
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
	scratch_remove(q);
	while (!stopping(q)) {
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

/* ---- fix ------------------------------------------------------------------ */

/* The prompt of a fix task: why task t was rejected and the check's
 * output, as comments, then its own prompt. */
static int fix_prompt(struct pai *p, const struct task *t, struct buf *out)
{
	char path[PATH_MAX];
	struct buf tail = { 0 };
	int fd, r;

	r = buf_printf(out, "# parallelai: the merge queue rejected task %lld:"
		       "\n", (long long)t->id);
	if (r == 0)
		r = check_comment(out, t->reason ? t->reason : "",
				  t->reason ? strlen(t->reason) : 0);
	if (r == 0)
		r = buf_puts(out, "# You start from its work. Make it land: "
			     "the check must pass on the branch it merges "
			     "into.\n");
	pai_check_path(p, t->id, path, sizeof(path));
	if (r == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		buf_init(&tail, BUF_NOMAX);
		if (check_tail(fd, 0, p->cfg.fix_tail, &tail) == 0 &&
		    tail.len) {
			r = buf_puts(out, "# The check's output (the end of "
				     "it):\n");
			if (r == 0)
				r = check_comment(out, tail.ptr, tail.len);
		}
		buf_release(&tail);
		close(fd);
	}
	if (r == 0)
		r = buf_puts(out, "# The task:\n\n");
	if (r == 0)
		r = buf_add(out, t->prompt, t->prompt_len);
	return r;
}

int mergeq_fix(struct mergeq *q, int64_t id, int64_t *made, char *err,
	       size_t errlen)
{
	struct pai *p = q->p;
	struct buf prompt = { 0 };
	struct task t;
	cJSON *spec;
	char *text;
	int r;

	if (store_task_get(p->store, id, &t) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return -ENOENT;
	}
	if (t.state != TASK_REJECTED) {
		snprintf(err, errlen, "cannot fix task %lld: it is %s, not "
			 "rejected", (long long)id, task_state_name(t.state));
		task_release(&t);
		return -EBUSY;
	}
	buf_init(&prompt, BUF_NOMAX);
	if ((r = fix_prompt(p, &t, &prompt)) < 0)
		goto out;
	spec = cJSON_CreateObject();
	cJSON_AddStringToObject(spec, "prompt", buf_cstr(&prompt));
	cJSON_AddStringToObject(spec, "engine", t.engine);
	cJSON_AddStringToObject(spec, "base", t.commit);
	text = cJSON_PrintUnformatted(spec);
	cJSON_Delete(spec);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	r = sched_submit(p->sched, text, strlen(text), NULL, made, err,
			 errlen);
	free(text);
	if (r == 0 &&
	    (r = add_one(q, *made, "pending", id, err, errlen)) == 0) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddNumberToObject(f, "fix", (double)*made);
		events_add(p->events, "fix", id, f);
	}
out:
	buf_release(&prompt);
	task_release(&t);
	return r;
}

static void auto_fix(struct mergeq *q, int64_t id)
{
	char err[512];
	int64_t made;

	if (mergeq_fix(q, id, &made, err, sizeof(err)) < 0)
		events_reason(q->p->events, "fix_failed", id, err);
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
