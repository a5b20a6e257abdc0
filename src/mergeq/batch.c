/*
 * mergeq/batch: one batch of the merge queue:
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
#include "fsutil.h"
#include "events.h"
#include "gitrev.h"
#include "merge.h"
#include "pai.h"
#include "review.h"
#include "sandbox.h"
#include "store.h"
#include "worktree.h"
#include "mqint.h"

void mq_cands_release(struct cand *c, size_t n)
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
		mq_auto_fix(q, c->id);
}

/* The candidate left the queue for a reason of its own (it is no longer
 * done: cancelled, retried, merged by hand). */
void mq_dropped(struct mergeq *q, int64_t id, const char *why)
{
	store_mq_set(q->p->store, id, "dropped", 0, why);
	events_reason(q->p->events, "dequeued", id, why);
}

/* The rows that wait, in order, loaded as candidates (those no longer
 * fit to go are dropped); at most max. */
int mq_load_waiting(struct mergeq *q, struct cand **out, size_t *n,
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
			mq_dropped(q, v[i].task, "the task is gone");
			continue;
		}
		if (mq_admissible(q->p, &t, why, sizeof(why)) < 0) {
			mq_dropped(q, t.id, why);
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
		  const char *tip, struct cand *c, size_t n,
		  char top[OID_HEX_SIZE],
		  struct cand **good, size_t *ngood)
{
	struct pai *p = q->p;
	struct merge_paths paths;
	char next[OID_HEX_SIZE], err[768], msg[512];
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
			/* a conflict with the tip (or what went in before it
			 * in this batch): err names the paths */
			reject(q, &c[i], batch, err, NULL, -1);
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

void mq_scratch_remove(struct mergeq *q)
{
	char path[PATH_MAX], e[512];

	snprintf(path, sizeof(path), "%s/%s", q->p->worktrees_dir,
		 SCRATCH_NAME);
	worktree_remove(q->p->repo, SCRATCH_NAME, path, SCRATCH_BRANCH,
			      e, sizeof(e));
}

/*
 * The check runs the code the candidates wrote: in the sandbox an `sh`
 * task gets (the mount's and engine.sh's choice), with a home and tmp of
 * the queue's own (STATE/box/queue). The scratch worktree and its own
 * part of the git directory are writable, nothing else: the user's
 * checkout, the branches and the other worktrees are not. *argv becomes
 * bubblewrap's words around sh -c CMD; with the sandbox off it stays
 * NULL (check_run's own sh -c).
 */
static int contain(struct mergeq *q, const char *path, const char *cmd,
		   char *const *env, char ***argv, char *err, size_t errlen)
{
	struct pai *p = q->p;
	char box[PATH_MAX], home[PATH_MAX + 8], tmp[PATH_MAX + 8];
	const char *rw[1] = { NULL }, *epath = "/usr/bin:/bin";
	char *sh[4] = { "/bin/sh", "-c", (char *)cmd, NULL };
	struct sandbox_choice ch;
	struct sandbox_git g;
	struct sandbox_paths sp;
	int r;

	*argv = NULL;
	if ((r = sandbox_choose(&p->cfg, &p->sandbox, "sh", NULL, &ch, err,
				errlen)) < 0 || !ch.on)
		return r;
	sandbox_git_paths(&g, p->gitdir, path, SCRATCH_NAME);
	snprintf(box, sizeof(box), "%s/box", p->state_dir);
	mkdir_p(box, 0700);
	snprintf(box, sizeof(box), "%s/box/queue", p->state_dir);
	snprintf(home, sizeof(home), "%s/home", box);
	snprintf(tmp, sizeof(tmp), "%s/tmp", box);
	/* a home and tmp afresh for each check: nothing carried over */
	sandbox_remove_dir(box);
	if ((r = mkdir_p(home, 0700)) < 0 || (r = mkdir_p(tmp, 0700)) < 0) {
		snprintf(err, errlen, "sandbox: cannot make the queue's home:"
			 " %s", strerror(-r));
		return r;
	}
	for (; env && *env; env++)
		if (!strncmp(*env, "PATH=", 5))
			epath = *env + 5;
	sp = (struct sandbox_paths){ .worktree = path, .commondir = g.common,
				     .admin = g.admin, .home = home, .tmp = tmp,
				     .user_home = getenv("HOME"),
				     .self_exe = p->self_exe, .ro = g.ro,
				     .rw = rw };
	return sandbox_argv(&p->cfg, &p->sandbox, &ch, "sh", &sp, sh, epath,
			    argv, err, errlen);
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
	char path[PATH_MAX], **env = NULL, **argv = NULL;
	int tries = p->cfg.queue_retries + 1, r = 0, k;

	/* the allow-list of an sh engine: no API key reaches a check */
	if ((r = engine_env(&p->cfg, "sh", NULL, NULL, NULL, &env)) < 0) {
		snprintf(err, errlen, "cannot make the check's environment: "
			 "%s", strerror(-r));
		return r;
	}
	if ((r = scratch_make(q, commit, path, sizeof(path), err, errlen)) < 0 ||
	    (r = contain(q, path, queue_check(p), env, &argv, err,
			 errlen)) < 0) {
		mq_scratch_remove(q);
		engine_argv_free(env);
		return r;
	}
	for (k = 0; k < tries; k++) {
		struct check_spec cs = {
			.cmd = queue_check(p), .cwd = path, .out_fd = out_fd,
			.out_cap = p->cfg.log_max,
			.timeout = p->cfg.check_timeout,
			.kill_grace_ms = p->cfg.kill_grace_ms,
			.argv = argv, .envp = env, .stop = mq_stopping,
			.arg = q,
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
	mq_scratch_remove(q);
	engine_argv_free(argv);
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
	}
	/* a refusal's paths in the way too */
	merge_result_release(&res);
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
int mq_run_batch(struct mergeq *q, struct cand **v, size_t n,
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
	mq_doing(q, batch, what);
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
		if ((r = mq_run_batch(q, good, half, out_fd)) == 0)
			r = mq_run_batch(q, good + half, ngood - half, out_fd);
		else
			/* the first half stalled: the second waits again */
			set_rows(q, good + half, ngood - half, "waiting", 0);
	}
out:
	free(good);
	return r;
}
