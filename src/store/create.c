/*
 * store/create: new tasks, all of a submission or none, in group commits
 * (concurrent writers share one transaction and one fsync).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "group.h"
#include "store.h"
#include "storeint.h"

/* Insert one task inside an open transaction. A negative dependency -k
 * is the k-th task of this batch, already in ids[]. */
static int create_locked(struct store *st, const struct task_new *n,
			 const int64_t *batch, size_t made, int64_t *id_out)
{
	const char *base = n->base ? n->base : "";
	enum task_state state;
	char branch[48], reason[96];
	int64_t id, owner, now = st_now_ms();
	size_t i;
	int error;

	if ((!n->prompt && n->len) || !n->engine || n->len > INT32_MAX ||
	    strlen(base) > 40)
		return -EINVAL;
	/* A branch is one task's for good: submit checked it was free, and
	 * this check, in the transaction, settles a race between two. */
	if (n->branch && (error = st_branch_owner_locked(st, n->branch,
							 &owner)) != 0)
		return error < 0 ? error : -EEXIST;
	/* A zero-length blob must still be a blob, not NULL. */
	if ((error = st_run(st, S_INSERT, "bssITTiiiiTI",
			    n->prompt ? n->prompt : "", n->len, n->engine,
			    base, now, n->model, n->options, n->priority,
			    n->timeout, n->stall, n->retries, n->labels,
			    n->plan)) < 0)
		return error;
	id = sqlite3_last_insert_rowid(st->db);
	if ((error = st_set_check_spec_locked(st, id, n)) < 0 ||
	    (error = st_set_paths_locked(st, id, n)) < 0)
		return error;

	/* The branch name needs the id, which only exists after the insert;
	 * both happen in the same transaction, so nobody sees it unnamed. */
	snprintf(branch, sizeof(branch), "pai/task-%" PRId64, id);
	if ((error = st_update(st, S_SET_BRANCH, "Is", id,
			       n->branch ? n->branch : branch)) < 0)
		return error;

	for (i = 0; i < n->n_depends; i++) {
		int64_t dep = n->depends[i];
		enum task_state ds;

		if (dep < 0) {
			if ((size_t)-dep > made)
				return -EINVAL;
			dep = batch[-dep - 1];
		} else if ((error = st_state_locked(st, dep, &ds)) < 0) {
			return error;
		}
		if (dep == id)
			return -EINVAL;
		if ((error = st_run(st, S_ADD_DEP, "II", id, dep)) < 0)
			return error;
	}
	if (n->n_depends) {
		if ((error = st_state_from_deps(st, id, &state, reason,
						sizeof(reason))) < 0)
			return error;
		if (state != TASK_QUEUED &&
		    (error = st_set_state_locked(st, id, state, reason)) < 0)
			return error;
	}
	*id_out = id;
	return 0;
}

/* A batch of new tasks: what one submission makes. */
struct batch {
	const struct task_new *v;
	size_t count;
	int64_t *ids;
	int64_t plan;		/* the plan whose tasks they are, or 0 */
};

/* The batch's tasks, and when they are a plan's, the plan's record of
 * them. Called inside a transaction. */
static int batch_locked(struct store *st, const struct batch *b)
{
	size_t i;
	int error = 0;

	for (i = 0; i < b->count; i++)
		if ((error = create_locked(st, &b->v[i], b->ids, i,
					   &b->ids[i])) < 0)
			return error;
	if (!b->plan)
		return 0;
	/* A plan's tasks are the last batch made for it, as when they were
	 * one string (two approves at once can make two). */
	if ((error = st_run(st, S_PLAN_TASK_CLEAR, "I", b->plan)) < 0)
		return error;
	for (i = 0; i < b->count; i++)
		if ((error = st_run(st, S_PLAN_TASK_ADD, "III", b->plan,
				    (int64_t)i, b->ids[i])) < 0)
			return error;
	return st_update(st, S_PLAN_CREATED, "II", b->plan, st_now_ms());
}

/*
 * The group writer: every queued batch in one transaction, one fsync.
 * Each batch is a savepoint of its own, so a batch that fails (a
 * dependency gone, a branch taken) leaves the others in. Should the
 * transaction itself be lost (a full disk, an I/O error: SQLite then
 * rolls all of it back) or the commit fail, no batch is in and each
 * says so.
 */
static void write_batches(void *ctx, struct group_item *first)
{
	struct store *st = ctx;
	struct group_item *it;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_run(st, S_BEGIN, "")) < 0)
		goto fail;
	for (it = first; it; it = it->next) {
		if ((error = st_run(st, S_SAVEPOINT, "")) < 0)
			goto fail;
		it->result = batch_locked(st, it->arg);
		if (sqlite3_get_autocommit(st->db)) {
			error = it->result ? it->result : -EIO;
			goto fail;
		}
		if (it->result && (error = st_run(st, S_ROLLBACK_TO, "")) < 0)
			goto fail;
		if ((error = st_run(st, S_RELEASE, "")) < 0)
			goto fail;
	}
	if ((error = st_run(st, S_COMMIT, "")) == 0)
		goto out;
fail:
	st_rollback(st);
	for (it = first; it; it = it->next)
		it->result = error;
out:
	pthread_mutex_unlock(&st->lock);
}

void store_group_stats(struct store *st, uint64_t *batches,
		       uint64_t *commits)
{
	pthread_mutex_lock(&st->creates.lock);
	*batches = st->creates.items;
	*commits = st->creates.groups;
	pthread_mutex_unlock(&st->creates.lock);
}

static int create_batch(struct store *st, const struct task_new *v,
			size_t count, int64_t *ids, int64_t plan)
{
	struct batch b = { v, count, ids, plan };
	struct group_item it = { .arg = &b };

	return group_submit(&st->creates, &it, write_batches, st);
}

int store_tasks_create(struct store *st, const struct task_new *v,
		       size_t count, int64_t *ids)
{
	return create_batch(st, v, count, ids, 0);
}

int store_plan_create_tasks(struct store *st, int64_t plan,
			    const struct task_new *v, size_t count,
			    int64_t *ids)
{
	return create_batch(st, v, count, ids, plan);
}

int store_task_create(struct store *st, const struct task_new *n,
		      int64_t *id_out)
{
	int64_t id;
	int error = store_tasks_create(st, n, 1, &id);

	if (error == 0 && id_out)
		*id_out = id;
	return error;
}
