/*
 * review: conflicts, merge order, merge, push and prune over the tasks;
 * see include/review.h.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "events.h"
#include "fsutil.h"
#include "gitrepo.h"
#include "gitrev.h"
#include "merge.h"
#include "overlay.h"
#include "pai.h"
#include "quote.h"
#include "review.h"
#include "store.h"
#include "worktree.h"

/* How long the disk usage of the worktrees is reused: a du of many
 * large worktrees is too slow for every read of status. */
#define DU_TTL_MS 10000

struct review {
	struct merge_cache cache;	/* pairs already merged in memory */
	pthread_mutex_t lock;		/* merges one at a time; du cache */
	uint64_t du_bytes;
	int64_t du_at;
};

int review_new(struct review **out)
{
	struct review *rv = calloc(1, sizeof(*rv));

	if (!rv)
		return -ENOMEM;
	if (merge_cache_init(&rv->cache) < 0) {
		free(rv);
		return -ENOMEM;
	}
	pthread_mutex_init(&rv->lock, NULL);
	*out = rv;
	return 0;
}

void review_free(struct review *rv)
{
	if (!rv)
		return;
	merge_cache_release(&rv->cache);
	pthread_mutex_destroy(&rv->lock);
	free(rv);
}

int review_base_branch(struct pai *p, char *name, size_t len, char *err,
		       size_t errlen)
{
	if (p->cfg.merge_into) {
		snprintf(name, len, "%s", p->cfg.merge_into);
		return 0;
	}
	return gitrepo_head_branch(p->repo, name, len, err, errlen);
}

bool review_branch_missing(struct pai *p, const struct task *t)
{
	char oid[OID_HEX_SIZE], err[512];

	/* Only a task that ended with a commit surely made its branch: a
	 * queued one has not yet, a running one has it checked out. */
	if (!*t->commit || !t->branch || t->state == TASK_RUNNING)
		return false;
	return gitrev_branch(p->rev, t->branch, oid, err, sizeof(err)) ==
	       -ENOENT;
}

bool review_branch_moved(struct pai *p, const struct task *t,
			 char now[OID_HEX_SIZE])
{
	char oid[OID_HEX_SIZE], err[512];

	if (now)
		*now = '\0';
	/* The same tasks as above: a running one's branch is its engine's
	 * to move. */
	if (!*t->commit || !t->branch || t->state == TASK_RUNNING ||
	    gitrev_branch(p->rev, t->branch, oid, err, sizeof(err)) < 0 ||
	    !strcmp(oid, t->commit))
		return false;
	if (now)
		memcpy(now, oid, sizeof(oid));
	return true;
}

/* The branch of task t moved to now: refused, said, and in events. */
static int refuse_moved(struct pai *p, const struct task *t,
			const char *now, const char *verb, char *err,
			size_t errlen)
{
	cJSON *f = cJSON_CreateObject();

	snprintf(err, errlen, "cannot %s task %lld: branch '%s' moved (now"
		 " %.7s) from its recorded commit %.7s; rescan to take it",
		 verb, (long long)t->id, t->branch, now, t->commit);
	cJSON_AddStringToObject(f, "branch", t->branch);
	cJSON_AddStringToObject(f, "from", t->commit);
	cJSON_AddStringToObject(f, "to", now);
	events_add(p->events, "branch_moved", t->id, f);
	return -EBUSY;
}

/*
 * The finished, unmerged tasks that changed something. Those whose
 * branch was deleted outside parallelai are not among them, whatever
 * their commit: nothing can merge them, and a deleted branch is the
 * user saying so. They are in gone, for merge all to report.
 */
struct finished {
	struct task *v;
	size_t n;
	struct task *gone;
	size_t ngone;
};

static void finished_release(struct finished *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		task_release(&f->v[i]);
	for (i = 0; i < f->ngone; i++)
		task_release(&f->gone[i]);
	free(f->v);
	free(f->gone);
	memset(f, 0, sizeof(*f));
}

static int finished_load(struct finished *f, struct pai *p)
{
	int64_t *ids = NULL;
	size_t n = 0, i;
	int r;

	memset(f, 0, sizeof(*f));
	if ((r = store_tasks_in_state(p->store, TASK_DONE, &ids, &n)) < 0)
		return r;
	f->v = calloc(n ? n : 1, sizeof(*f->v));
	f->gone = calloc(n ? n : 1, sizeof(*f->gone));
	if (!f->v || !f->gone) {
		free(ids);
		finished_release(f);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct task *t = &f->v[f->n];

		if (store_task_get(p->store, ids[i], t) < 0)
			continue;
		if (!*t->commit || !strcmp(t->commit, t->base)) {
			task_release(t);
			continue;
		}
		if (review_branch_missing(p, t)) {
			f->gone[f->ngone++] = *t;
			memset(t, 0, sizeof(*t));
			continue;
		}
		f->n++;
	}
	free(ids);
	return 0;
}

static int matrix(struct merge_matrix *m, struct pai *p, char *branch,
		  size_t blen, struct finished *f, char *err, size_t errlen)
{
	struct merge_entry *e;
	size_t i;
	int r;

	if ((r = review_base_branch(p, branch, blen, err, errlen)) < 0)
		return r;
	if ((r = finished_load(f, p)) < 0)
		return r;
	e = calloc(f->n ? f->n : 1, sizeof(*e));
	if (!e) {
		finished_release(f);
		return -ENOMEM;
	}
	for (i = 0; i < f->n; i++) {
		e[i].id = f->v[i].id;
		e[i].commit = f->v[i].commit;
	}
	r = merge_matrix_compute(m, &p->review->cache, p->repo, branch, e,
				 f->n, err, errlen);
	free(e);
	if (r < 0)
		finished_release(f);
	return r;
}

static void add_paths(struct buf *out, const struct merge_paths *paths)
{
	size_t i;

	for (i = 0; i < paths->n; i++) {
		buf_puts(out, " ");
		quote_path_buf(out, paths->v[i]);
	}
	buf_puts(out, "\n");
}

/* The finished tasks' pairs their paths predicted (predict.c). */
static void predicted(struct pai *p, const struct finished *f,
		      const struct merge_matrix *m, struct buf *out,
		      cJSON *arr)
{
	int64_t *ids = calloc(f->n ? f->n : 1, sizeof(*ids));
	size_t i;

	if (!ids)
		return;
	for (i = 0; i < f->n; i++)
		ids[i] = f->v[i].id;
	review_predicted(p, ids, f->n, m, out, arr);
	free(ids);
}

int review_conflicts(struct pai *p, struct buf *out, bool json)
{
	struct merge_matrix m;
	struct finished f;
	char branch[256], err[512];
	cJSON *root = NULL, *arr = NULL;
	size_t i, j;
	int r;

	if ((r = matrix(&m, p, branch, sizeof(branch), &f, err,
			sizeof(err))) < 0)
		return buf_printf(out, json ? "{\"error\":\"%s\"}\n" :
				  "! %s\n", err), 0;
	if (json) {
		root = cJSON_CreateObject();
		cJSON_AddStringToObject(root, "branch", branch);
		cJSON_AddStringToObject(root, "tip", m.tip);
		arr = cJSON_AddArrayToObject(root, "conflicts");
	}
	for (i = 0; i < m.n; i++) {
		const struct merge_conflict *c = &m.v[i];

		if (json) {
			cJSON *o = cJSON_CreateObject(), *ps;

			cJSON_AddNumberToObject(o, "a", (double)c->a);
			if (c->b == MERGE_TIP)
				cJSON_AddStringToObject(o, "b", branch);
			else
				cJSON_AddNumberToObject(o, "b", (double)c->b);
			ps = cJSON_AddArrayToObject(o, "paths");
			for (j = 0; j < c->paths.n; j++)
				cJSON_AddItemToArray(ps,
					cJSON_CreateString(c->paths.v[j]));
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		if (c->b == MERGE_TIP)
			buf_printf(out, "%lld %s", (long long)c->a, branch);
		else
			buf_printf(out, "%lld %lld", (long long)c->a,
				   (long long)c->b);
		add_paths(out, &c->paths);
	}
	predicted(p, &f, &m, out, json ? cJSON_AddArrayToObject(root,
							 "predicted") : NULL);
	if (json) {
		char *s;

		/* Only when some task had paths: as it was without them. */
		if (!cJSON_GetArraySize(cJSON_GetObjectItem(root, "predicted")))
			cJSON_DeleteItemFromObject(root, "predicted");
		s = cJSON_PrintUnformatted(root);

		if (s)
			buf_printf(out, "%s\n", s);
		cJSON_free(s);
		cJSON_Delete(root);
	}
	merge_matrix_release(&m);
	finished_release(&f);
	return 0;
}

/* A done task whose branch is gone has no conflicts to show: say why. */
/* True when the task's conflicts are already said: its branch went, or
 * it is none of the finished tasks with a commit (finished_load), so no
 * pair of the matrix names it and it has nothing to say; the matrix (a
 * repository opened, the base branch resolved) is spared to every stat
 * of a queued or failed task's conflicts. */
static bool said_without_matrix(struct pai *p, int64_t id, struct buf *out)
{
	struct task t;
	bool said;

	if (store_task_get(p->store, id, &t) < 0)
		return false;
	said = t.state != TASK_DONE || !*t.commit ||
	       !strcmp(t.commit, t.base);
	if (!said && review_branch_missing(p, &t)) {
		buf_printf(out, "! branch '%s' is missing\n", t.branch);
		said = true;
	}
	task_release(&t);
	return said;
}

int review_task_conflicts(struct pai *p, int64_t id, struct buf *out)
{
	struct merge_matrix m;
	struct finished f;
	char branch[256], err[512];
	size_t i;

	if (said_without_matrix(p, id, out))
		return 0;
	if (matrix(&m, p, branch, sizeof(branch), &f, err, sizeof(err)) < 0)
		return buf_printf(out, "! %s\n", err), 0;
	for (i = 0; i < m.n; i++) {
		const struct merge_conflict *c = &m.v[i];

		if (c->a != id && c->b != id)
			continue;
		if (c->b == MERGE_TIP)
			buf_printf(out, "%s", branch);
		else
			buf_printf(out, "%lld",
				   (long long)(c->a == id ? c->b : c->a));
		add_paths(out, &c->paths);
	}
	merge_matrix_release(&m);
	finished_release(&f);
	return 0;
}

/* The merge order of the finished tasks, which are left in f (to be
 * released by the caller, also on failure). */
static int order(struct merge_order *o, struct pai *p, char *branch,
		 size_t blen, struct finished *f, char *err, size_t errlen)
{
	struct merge_task *mt = NULL;
	int64_t **deps = NULL;
	size_t i;
	int r;

	memset(f, 0, sizeof(*f));
	if ((r = review_base_branch(p, branch, blen, err, errlen)) < 0)
		return r;
	if ((r = finished_load(f, p)) < 0)
		return r;
	mt = calloc(f->n ? f->n : 1, sizeof(*mt));
	deps = calloc(f->n ? f->n : 1, sizeof(*deps));
	if (!mt || !deps) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < f->n; i++) {
		mt[i].id = f->v[i].id;
		mt[i].commit = f->v[i].commit;
		store_task_deps(p->store, f->v[i].id, &deps[i], &mt[i].ndeps);
		mt[i].deps = deps[i];
	}
	r = merge_order_compute(o, p->repo, branch, mt, f->n, err, errlen);
out:
	for (i = 0; deps && i < f->n; i++)
		free(deps[i]);
	free(deps);
	free(mt);
	return r;
}

int review_candidates(struct pai *p, int64_t **ids, size_t *n, char *err,
		      size_t errlen)
{
	struct merge_order o;
	struct finished f;
	char branch[256];
	size_t i;
	int r;

	*ids = NULL;
	*n = 0;
	r = order(&o, p, branch, sizeof(branch), &f, err, errlen);
	finished_release(&f);
	if (r < 0)
		return r;
	if (!(*ids = calloc(o.n + o.nleft + 1, sizeof(**ids)))) {
		merge_order_release(&o);
		return -ENOMEM;
	}
	for (i = 0; i < o.n; i++)
		(*ids)[(*n)++] = o.ids[i];
	for (i = 0; i < o.nleft; i++)
		(*ids)[(*n)++] = o.left[i].id;
	merge_order_release(&o);
	return 0;
}

void review_lock(struct pai *p)
{
	pthread_mutex_lock(&p->review->lock);
}

void review_unlock(struct pai *p)
{
	pthread_mutex_unlock(&p->review->lock);
}

int review_merge_order(struct pai *p, struct buf *out)
{
	struct merge_order o;
	struct finished f;
	char branch[256], err[512];
	size_t i;
	int r;

	r = order(&o, p, branch, sizeof(branch), &f, err, sizeof(err));
	finished_release(&f);
	if (r < 0)
		return buf_printf(out, "! %s\n", err), 0;
	for (i = 0; i < o.n; i++)
		buf_printf(out, "%lld\n", (long long)o.ids[i]);
	for (i = 0; i < o.nleft; i++) {
		const struct merge_left *l = &o.left[i];

		if (l->blocked_by) {
			buf_printf(out, "! %lld waits for %lld\n",
				   (long long)l->id, (long long)l->blocked_by);
		} else {
			buf_printf(out, "! %lld conflicts:", (long long)l->id);
			add_paths(out, &l->paths);
		}
	}
	merge_order_release(&o);
	return 0;
}

/* One merge; *gone says it was refused because the task's branch is
 * missing (-ENOENT), which merge all goes on after. */
static int merge_one(struct pai *p, int64_t id, bool *gone, char *err,
		     size_t errlen)
{
	struct merge_options opts = { .strategy = MERGE_STRATEGY_MERGE,
				      .author_name = p->cfg.author_name,
				      .author_email = p->cfg.author_email };
	struct merge_result res;
	struct task t;
	char branch[256], reason[640], now[OID_HEX_SIZE];
	cJSON *f;
	int r;

	*gone = false;
	if ((r = store_task_get(p->store, id, &t)) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return r;
	}
	if (t.state != TASK_DONE) {
		snprintf(err, errlen, "cannot merge task %lld: it is %s",
			 (long long)id, task_state_name(t.state));
		r = -EBUSY;
		goto out;
	}
	/* Its status says branch_missing already: no reason to record,
	 * which would outlive a branch made again. */
	if ((*gone = review_branch_missing(p, &t))) {
		snprintf(err, errlen, "cannot merge task %lld: branch '%s' is"
			 " missing", (long long)id, t.branch);
		r = -ENOENT;
		goto out;
	}
	/* What was reviewed is what merges, or nothing: a branch moved
	 * since waits for a rescan (its status says so already). */
	if (review_branch_moved(p, &t, now)) {
		r = refuse_moved(p, &t, now, "merge", err, errlen);
		goto out;
	}
	if ((r = review_base_branch(p, branch, sizeof(branch), err, errlen)) < 0) {
		r = -EBUSY;
		goto out;
	}
	if (p->cfg.merge_strategy)
		merge_strategy_parse(p->cfg.merge_strategy, &opts.strategy);
	/* And exactly it, should the branch move from here on. */
	opts.commit = t.commit;
	r = merge_into(&res, p->repo, t.branch, branch, &opts, err, errlen);
	if (r < 0) {
		/* the paths in the way, said in err already */
		merge_result_release(&res);
		/* The task stays done; its status says why it did not go. */
		snprintf(reason, sizeof(reason), "merge refused: %s", err);
		store_task_finish(p->store, id, TASK_DONE, t.exit_code, NULL,
				  reason);
		if (r != -ENOENT)
			r = -EBUSY;
		goto out;
	}
	store_task_finish(p->store, id, TASK_MERGED, t.exit_code, NULL, NULL);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "branch", branch);
	cJSON_AddStringToObject(f, "commit", res.oid);
	cJSON_AddStringToObject(f, "how", merge_how_name(res.how));
	events_add(p->events, "merged", id, f);
	merge_result_release(&res);
out:
	task_release(&t);
	return r;
}

int review_merge(struct pai *p, int64_t id, char *err, size_t errlen)
{
	bool gone;
	int r;

	pthread_mutex_lock(&p->review->lock);
	r = merge_one(p, id, &gone, err, errlen);
	pthread_mutex_unlock(&p->review->lock);
	return r;
}

/* A task merge all leaves behind and goes on without. */
static void skipped(struct pai *p, int64_t id, const char *reason)
{
	fprintf(stderr, "parallelai: merge all: skipped task %lld: %s\n",
		(long long)id, reason);
	events_reason(p->events, "skipped", id, reason);
}

/* merge all stopped by its caller before task next: said in events
 * (which task is next, how many went) and in err. */
static int merge_all_interrupted(struct pai *p, int64_t next, size_t merged,
				 size_t total, char *err, size_t errlen)
{
	cJSON *f = cJSON_CreateObject();

	snprintf(err, errlen, "merge all interrupted: merged %zu of %zu;"
		 " task %lld and those after it are not merged", merged, total,
		 (long long)next);
	cJSON_AddStringToObject(f, "command", "merge all");
	cJSON_AddNumberToObject(f, "merged", (double)merged);
	cJSON_AddNumberToObject(f, "left", (double)(total - merged));
	cJSON_AddNumberToObject(f, "next", (double)next);
	cJSON_AddStringToObject(f, "reason", err);
	events_add(p->events, "interrupted", 0, f);
	return -EINTR;
}

int review_merge_all(struct pai *p, const struct pai_cancel *cancel,
		     char *err, size_t errlen)
{
	struct merge_order o;
	struct finished f;
	char branch[256], why[512];
	size_t i, merged = 0;
	bool gone;
	int r;

	pthread_mutex_lock(&p->review->lock);
	if ((r = order(&o, p, branch, sizeof(branch), &f, err, errlen)) < 0)
		goto out;
	for (i = 0; i < f.ngone; i++) {
		snprintf(why, sizeof(why), "cannot merge task %lld: branch "
			 "'%s' is missing", (long long)f.gone[i].id,
			 f.gone[i].branch);
		skipped(p, f.gone[i].id, why);
	}
	for (i = 0; i < o.n && r == 0; i++) {
		/* Each merge is whole or not at all: between two is where
		 * a caller who gave up is heard. */
		if (pai_cancel_asked(cancel)) {
			r = merge_all_interrupted(p, o.ids[i], merged, o.n, err,
						  errlen);
			break;
		}
		r = merge_one(p, o.ids[i], &gone, err, errlen);
		if (r == 0)
			merged++;
		/* Deleted since the order was made: the same as above. */
		if (r == -ENOENT && gone) {
			skipped(p, o.ids[i], err);
			r = 0;
		}
	}
	if (r == 0 && o.nleft) {
		snprintf(err, errlen, "merged %zu; task %lld cannot go: %s",
			 o.n, (long long)o.left[0].id,
			 o.left[0].blocked_by ? "its dependency is not merged" :
			 "it conflicts");
		r = -EBUSY;
	}
	merge_order_release(&o);
out:
	finished_release(&f);
	pthread_mutex_unlock(&p->review->lock);
	return r;
}

int review_push(struct pai *p, int64_t id, char *err, size_t errlen)
{
	const char *remote = p->cfg.remote ? p->cfg.remote : "origin";
	struct task t;
	char now[OID_HEX_SIZE];
	cJSON *f;
	int r;

	if ((r = store_task_get(p->store, id, &t)) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return r;
	}
	/* The recorded commit is the task's result; until there is one,
	 * the branch is work in progress. */
	if (!*t.commit || t.state == TASK_RUNNING) {
		snprintf(err, errlen, "cannot push task %lld: it is %s and has"
			 " no result yet", (long long)id,
			 task_state_name(t.state));
		r = -EBUSY;
		goto out;
	}
	if (review_branch_missing(p, &t)) {
		snprintf(err, errlen, "cannot push task %lld: branch '%s' is"
			 " missing", (long long)id, t.branch);
		r = -ENOENT;
		goto out;
	}
	if (review_branch_moved(p, &t, now)) {
		r = refuse_moved(p, &t, now, "push", err, errlen);
		goto out;
	}
	r = merge_push(p->repo, remote, t.branch, t.commit, 0, err, errlen);
	if (r == 0) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "remote", remote);
		cJSON_AddStringToObject(f, "branch", t.branch);
		cJSON_AddStringToObject(f, "commit", t.commit);
		events_add(p->events, "pushed", id, f);
	}
out:
	task_release(&t);
	return r;
}

int review_rescan(struct pai *p, int64_t id, char *err, size_t errlen)
{
	struct task t;
	char now[OID_HEX_SIZE], why[512];
	cJSON *f;
	int r;

	if ((r = store_task_get(p->store, id, &t)) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return r;
	}
	/* Not while a merge of it may be under way. */
	pthread_mutex_lock(&p->review->lock);
	if (t.state != TASK_DONE && t.state != TASK_FAILED &&
	    t.state != TASK_CANCELLED) {
		snprintf(err, errlen, "cannot rescan task %lld: it is %s",
			 (long long)id, task_state_name(t.state));
		r = -EBUSY;
		goto out;
	}
	if (!*t.commit) {
		snprintf(err, errlen, "cannot rescan task %lld: it ended"
			 " without a commit", (long long)id);
		r = -EBUSY;
		goto out;
	}
	if ((r = gitrev_branch(p->rev, t.branch, now, why,
			       sizeof(why))) < 0) {
		snprintf(err, errlen, "cannot rescan task %lld: %s",
			 (long long)id, why);
		goto out;
	}
	if ((r = store_task_set_commit(p->store, id, t.commit, now)) < 0) {
		snprintf(err, errlen, "cannot rescan task %lld: %s",
			 (long long)id, r == -EBUSY ? "it changed meanwhile" :
			 strerror(-r));
		goto out;
	}
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "branch", t.branch);
	cJSON_AddStringToObject(f, "from", t.commit);
	cJSON_AddStringToObject(f, "to", now);
	events_add(p->events, "rescanned", id, f);
out:
	pthread_mutex_unlock(&p->review->lock);
	task_release(&t);
	return r;
}

static int prune_task(struct pai *p, struct task *t, bool branches,
		      char *err, size_t errlen)
{
	char name[64], path[PATH_MAX], box[PATH_MAX];
	bool overlay;
	cJSON *f;
	int r;

	/* A worktree pruned before may still leave its branch to go. */
	if (!t->worktree && !branches)
		return 0;
	if (t->worktree)
		snprintf(path, sizeof(path), "%s", t->worktree);
	else
		pai_worktree_path(p, t->id, path, sizeof(path));
	snprintf(name, sizeof(name), "pai-task-%lld", (long long)t->id);
	overlay = overlay_is(p->worktrees_dir, t->id);
	if (overlay && (r = overlay_release(p->repo, p->worktrees_dir, t->id,
					    name, err, errlen)) < 0)
		return r;
	worktree_lock();
	r = worktree_remove(p->repo, name, path,
				  branches ? t->branch : NULL, err, errlen);
	worktree_unlock();
	if (r < 0)
		return r;
	if (overlay)
		overlay_forget(p->worktrees_dir, t->id);
	/* its sandbox's home and tmp go with the worktree */
	pai_box_path(p, t->id, "", box, sizeof(box));
	sandbox_remove_dir(box);
	store_task_set_worktree(p->store, t->id, NULL);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "worktree", path);
	if (branches)
		cJSON_AddStringToObject(f, "branch", t->branch);
	events_add(p->events, "pruned", t->id, f);
	return 0;
}

/*
 * What a prune without an ID takes: merged and cancelled tasks, and done
 * or failed ones whose branch was deleted outside parallelai: with the
 * branch the user threw their work away, and what is left of its
 * worktree (git's record of it, the task's link) is stale.
 */
static bool prunable(struct pai *p, const struct task *t)
{
	if (t->state == TASK_MERGED || t->state == TASK_CANCELLED)
		return true;
	return (t->state == TASK_DONE || t->state == TASK_FAILED) &&
	       review_branch_missing(p, t);
}

/* Between two worktrees, a caller who gave up is heard: those removed
 * stay removed, the others stay. */
static int prune_interrupted(struct pai *p, size_t pruned, char *err,
			     size_t errlen)
{
	cJSON *f = cJSON_CreateObject();

	snprintf(err, errlen, "prune interrupted: %zu pruned, the rest"
		 " left as they were", pruned);
	cJSON_AddStringToObject(f, "command", "prune");
	cJSON_AddNumberToObject(f, "pruned", (double)pruned);
	cJSON_AddStringToObject(f, "reason", err);
	events_add(p->events, "interrupted", 0, f);
	return -EINTR;
}

static int prune_all(struct pai *p, bool branches,
		     const struct pai_cancel *cancel, char *err, size_t errlen)
{
	static const enum task_state states[] = { TASK_MERGED, TASK_CANCELLED,
						  TASK_DONE, TASK_FAILED };
	int64_t *ids;
	size_t i, k, n, pruned = 0;
	int r = 0;

	for (k = 0; k < sizeof(states) / sizeof(states[0]) && r == 0; k++) {
		if ((r = store_tasks_in_state(p->store, states[k], &ids,
					      &n)) < 0)
			break;
		for (i = 0; i < n && r == 0; i++) {
			struct task t;

			if (store_task_get(p->store, ids[i], &t) < 0)
				continue;
			if (prunable(p, &t) && pai_cancel_asked(cancel))
				r = prune_interrupted(p, pruned, err, errlen);
			else if (prunable(p, &t) &&
				 (r = prune_task(p, &t, branches, err,
						 errlen)) == 0)
				pruned++;
			task_release(&t);
		}
		free(ids);
	}
	return r;
}

int review_prune(struct pai *p, const char *args,
		 const struct pai_cancel *cancel, char *err, size_t errlen)
{
	bool branches = false;
	int64_t only = 0;
	char word[32];
	const char *s = args;
	int r = 0, consumed;

	while (sscanf(s, "%31s%n", word, &consumed) == 1) {
		char *end;

		s += consumed;
		if (!strcmp(word, "branches")) {
			branches = true;
			continue;
		}
		only = strtoll(word, &end, 10);
		if (*end || only <= 0) {
			snprintf(err, errlen, "usage: prune [branches] [ID]");
			return -EINVAL;
		}
	}
	if (only) {
		struct task t;

		if ((r = store_task_get(p->store, only, &t)) < 0) {
			snprintf(err, errlen, "no such task: %lld",
				 (long long)only);
			return r;
		}
		/* Named, a done or failed task may go too; a running one
		 * never. */
		if (t.state == TASK_RUNNING) {
			snprintf(err, errlen, "cannot prune task %lld: it is"
				 " running", (long long)only);
			r = -EBUSY;
		} else {
			r = prune_task(p, &t, branches, err, errlen);
		}
		task_release(&t);
		return r;
	}
	r = prune_all(p, branches, cancel, err, errlen);
	pthread_mutex_lock(&p->review->lock);
	p->review->du_at = 0;
	pthread_mutex_unlock(&p->review->lock);
	return r;
}

uint64_t review_worktree_bytes(struct pai *p)
{
	struct review *rv = p->review;
	uint64_t bytes;
	int64_t now = pai_now_ms();

	pthread_mutex_lock(&rv->lock);
	if (!rv->du_at || now - rv->du_at > DU_TTL_MS) {
		if (disk_usage(p->worktrees_dir, &rv->du_bytes) < 0)
			rv->du_bytes = 0;
		rv->du_at = now;
	}
	bytes = rv->du_bytes;
	pthread_mutex_unlock(&rv->lock);
	return bytes;
}
