/*
 * store/tasks: a task's record, its state changes and what the scheduler
 * and the views ask of the tasks.
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

static const char *const state_names[TASK_STATE_COUNT] = {
	[TASK_QUEUED] = "queued",
	[TASK_RUNNING] = "running",
	[TASK_DONE] = "done",
	[TASK_FAILED] = "failed",
	[TASK_CANCELLED] = "cancelled",
	[TASK_MERGED] = "merged",
	[TASK_WAITING] = "waiting",
	[TASK_BLOCKED] = "blocked",
};

const char *task_state_name(enum task_state s)
{
	if ((unsigned)s >= TASK_STATE_COUNT)
		return "unknown";
	return state_names[s];
}

bool task_state_ended(enum task_state s)
{
	return s == TASK_DONE || s == TASK_FAILED || s == TASK_CANCELLED ||
	       s == TASK_MERGED || s == TASK_BLOCKED;
}

int task_state_parse(const char *name, enum task_state *out)
{
	int i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < TASK_STATE_COUNT; i++) {
		if (!strcmp(name, state_names[i])) {
			*out = (enum task_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

void task_release(struct task *t)
{
	if (!t)
		return;
	free(t->prompt);
	free(t->engine);
	free(t->branch);
	free(t->worktree);
	free(t->reason);
	free(t->model);
	free(t->options);
	free(t->labels);
	t->prompt = t->engine = t->branch = t->worktree = t->reason = NULL;
	t->model = t->options = t->labels = NULL;
	t->prompt_len = 0;
}

/* The state of a task, with the lock held; -ENOENT when there is none. */
int st_state_locked(struct store *st, int64_t id, enum task_state *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = st_stmt_get(st, S_STATE_OF, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		error = task_state_parse((const char *)sqlite3_column_text(s, 0),
					 out) < 0 ? -EIO : 0;
	else if (rc == SQLITE_DONE)
		error = -ENOENT;
	else
		error = st_db_error(st, rc, "cannot read task state");
	st_stmt_done(s);
	return error;
}

int st_set_state_locked(struct store *st, int64_t id, enum task_state to,
			const char *reason)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = st_stmt_get(st, S_SET_STATE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state_names[to], -1, SQLITE_STATIC);
	st_bind_text_or_null(s, 3, reason && *reason ? reason : NULL);
	sqlite3_bind_int64(s, 4, st_now_ms());
	if ((error = st_step_update(st, s, "cannot set task state")) == 0)
		st_changed(st, id);
	return error;
}

/* The task whose branch is name: 1 and *id, 0 when none; the lock is
 * held. */
int st_branch_owner_locked(struct store *st, const char *name,
			   int64_t *id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = st_stmt_get(st, S_BRANCH_OWNER, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		error = 1;
	} else if (rc == SQLITE_DONE) {
		error = 0;
	} else {
		error = st_db_error(st, rc, "cannot look up a branch");
	}
	st_stmt_done(s);
	return error;
}

int store_branch_owner(struct store *st, const char *name, int64_t *id)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_branch_owner_locked(st, name, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

/* Whether a task exists, with the lock already held. */
static int exists_locked(struct store *st, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = st_stmt_get(st, S_EXISTS, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	st_stmt_done(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return st_db_error(st, rc, "cannot read task");
}

int store_task_set_priority(struct store *st, int64_t id, int priority)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_SET_PRIORITY, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, priority);
	sqlite3_bind_int64(s, 3, st_now_ms());
	error = st_step_update(st, s, "cannot set priority");
	if (error == -ENOENT)
		error = exists_locked(st, id) == 1 ? -EBUSY : -ENOENT;
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_backoff(struct store *st, int64_t id, int64_t not_before,
		       int exit_code, const char *reason)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_BACKOFF, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, not_before);
	sqlite3_bind_int(s, 3, exit_code);
	st_bind_text_or_null(s, 4, reason);
	sqlite3_bind_int64(s, 5, st_now_ms());
	error = st_step_update(st, s, "cannot schedule a retry");
	if (error == 0)
		st_changed(st, id);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_base(struct store *st, int64_t id, const char *base)
{
	sqlite3_stmt *s = NULL;
	int error;

	if (!base || strlen(base) > 40)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_SET_BASE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, base, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, st_now_ms());
	error = st_step_update(st, s, "cannot set base");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int64_t store_next_due(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t t = 0;

	pthread_mutex_lock(&st->lock);
	if (st_stmt_get(st, S_NEXT_DUE, &s) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, st_now_ms());
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL)
		t = sqlite3_column_int64(s, 0);
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return t;
}

int store_task_get(struct store *st, int64_t id, struct task *out)
{
	sqlite3_stmt *s = NULL;
	int error, oom = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	if ((error = st_row_by_id(st, S_GET, id, "cannot read task", &s)) < 0)
		goto out;
	out->id = sqlite3_column_int64(s, 0);
	out->prompt = st_column_blob(s, 1, &out->prompt_len, &oom);
	out->engine = st_column_strdup(s, 2, &oom);
	if (task_state_parse((const char *)sqlite3_column_text(s, 3),
			     &out->state) < 0) {
		fprintf(stderr, "parallelai: store: task %" PRId64
			" has unknown state '%s'\n", id,
			(const char *)sqlite3_column_text(s, 3));
		error = -EIO;
		goto out;
	}
	st_column_oid(s, 4, out->base);
	st_column_oid(s, 5, out->commit);
	out->branch = st_column_strdup(s, 6, &oom);
	out->worktree = st_column_strdup(s, 7, &oom);
	out->reason = st_column_strdup(s, 8, &oom);
	out->exit_code = sqlite3_column_int(s, 9);
	out->attempts = sqlite3_column_int(s, 10);
	out->worker = sqlite3_column_int(s, 11);
	out->pid = sqlite3_column_int(s, 12);
	out->created = sqlite3_column_int64(s, 13);
	out->started = sqlite3_column_int64(s, 14);
	out->finished = sqlite3_column_int64(s, 15);
	out->updated = sqlite3_column_int64(s, 16);
	out->model = st_column_strdup(s, 17, &oom);
	out->input_tokens = sqlite3_column_int64(s, 18);
	out->output_tokens = sqlite3_column_int64(s, 19);
	out->turns = sqlite3_column_int(s, 20);
	out->cost_usd = sqlite3_column_type(s, 21) == SQLITE_NULL ? -1 :
			sqlite3_column_double(s, 21);
	out->options = st_column_strdup(s, 22, &oom);
	out->priority = sqlite3_column_int(s, 23);
	out->timeout = sqlite3_column_int(s, 24);
	out->stall = sqlite3_column_int(s, 25);
	out->retries = sqlite3_column_int(s, 26);
	out->labels = st_column_strdup(s, 27, &oom);
	out->not_before = sqlite3_column_int64(s, 28);
	out->plan = sqlite3_column_int64(s, 29);
	if (oom || !out->engine || !out->branch)
		error = -ENOMEM;

out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	if (error)
		task_release(out);
	return error;
}

int store_task_exists(struct store *st, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_EXISTS, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		error = 1;
	else if (rc == SQLITE_DONE)
		error = 0;
	else
		error = st_db_error(st, rc, "cannot read task");
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_ids(struct store *st, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_IDS, &s)) < 0)
		goto out;
	error = st_collect_ids(st, s, ids, n);
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_tasks_in_state(struct store *st, enum task_state state,
			 int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	*ids = NULL;
	*n = 0;
	if ((unsigned)state >= TASK_STATE_COUNT)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_IDS_IN_STATE, &s)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, state_names[state], -1, SQLITE_STATIC);
	error = st_collect_ids(st, s, ids, n);
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_next_queued(struct store *st, int64_t *id)
{
	return store_task_next_queued_except(st, NULL, 0, id);
}

int store_task_next_queued_except(struct store *st,
				  const char *const *engines, size_t n,
				  int64_t *id)
{
	sqlite3_stmt *s = NULL;
	char sql[512];
	size_t i, len;
	int rc, error = 0, own = 0;

	if (n > 32)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (!n) {
		if ((error = st_stmt_get(st, S_NEXT_QUEUED, &s)) < 0)
			goto out;
	} else {
		/* Rare (a provider is cooling down): prepared on demand. */
		len = (size_t)snprintf(sql, sizeof(sql), "SELECT id FROM tasks"
				       " WHERE state = 'queued' AND"
				       " not_before <= ?1 AND engine NOT IN (?");
		for (i = 1; i < n; i++)
			len += (size_t)snprintf(sql + len, sizeof(sql) - len,
						",?");
		snprintf(sql + len, sizeof(sql) - len,
			 ") ORDER BY priority DESC, id LIMIT 1");
		rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
		if (rc != SQLITE_OK) {
			error = st_db_error(st, rc, "cannot find queued task");
			goto out;
		}
		own = 1;
		for (i = 0; i < n; i++)
			sqlite3_bind_text(s, (int)i + 2, engines[i], -1,
					  SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, 1, st_now_ms());
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		error = -ENOENT;
	else
		error = st_db_error(st, rc, "cannot find queued task");
out:
	if (own)
		sqlite3_finalize(s);
	else
		st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_start(struct store *st, int64_t id, int worker)
{
	sqlite3_stmt *s = NULL;
	int64_t now = st_now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_START, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, worker);
	sqlite3_bind_int64(s, 3, now);
	error = st_step_update(st, s, "cannot start task");
	if (error == 0)
		st_changed(st, id);
	/* The UPDATE only matches a queued task; tell a task in another
	 * state apart from one that does not exist. */
	if (error == -ENOENT) {
		error = exists_locked(st, id);
		if (error == 1)
			error = -EBUSY;
		else if (error == 0)
			error = -ENOENT;
	}
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_worktree(struct store *st, int64_t id, const char *path)
{
	sqlite3_stmt *s = NULL;
	int64_t now = st_now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_SET_WORKTREE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	if (path)
		sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_int64(s, 3, now);
	error = st_step_update(st, s, "cannot set worktree");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_commit(struct store *st, int64_t id, const char *from,
			  const char *to)
{
	sqlite3_stmt *s = NULL;
	int64_t now = st_now_ms();
	int error;

	if (!from || !*from || !to || strlen(to) != 40)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_SET_COMMIT, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	error = st_step_update(st, s, "cannot set commit");
	if (error == -ENOENT)
		error = -EBUSY;
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_pid(struct store *st, int64_t id, int pid)
{
	sqlite3_stmt *s = NULL;
	int64_t now = st_now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_SET_PID, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, pid);
	sqlite3_bind_int64(s, 3, now);
	error = st_step_update(st, s, "cannot set pid");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_add_usage(struct store *st, int64_t id,
			 const struct task_usage *u)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_SET_USAGE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, u->input_tokens);
	sqlite3_bind_int64(s, 3, u->output_tokens);
	sqlite3_bind_int(s, 4, u->turns);
	if (u->cost_usd >= 0)
		sqlite3_bind_double(s, 5, u->cost_usd);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int64(s, 6, st_now_ms());
	error = st_step_update(st, s, "cannot record usage");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_finish(struct store *st, int64_t id, enum task_state state,
		      int exit_code, const char *commit, const char *reason)
{
	sqlite3_stmt *s = NULL;
	int64_t now = st_now_ms();
	int error;

	/* queued and running have their own transitions, which keep
	 * attempts, started and the worker slot straight. */
	if ((unsigned)state >= TASK_STATE_COUNT || state == TASK_QUEUED ||
	    state == TASK_RUNNING)
		return -EINVAL;
	if (commit && strlen(commit) > 40)
		return -EINVAL;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_FINISH, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state_names[state], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, exit_code);
	if (commit)
		sqlite3_bind_text(s, 4, commit, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 4);
	if (reason)
		sqlite3_bind_text(s, 5, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int64(s, 6, now);
	error = st_step_update(st, s, "cannot finish task");
	if (error == 0)
		st_changed(st, id);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_requeue(struct store *st, int64_t id, const char *reason)
{
	sqlite3_stmt *s = NULL;
	enum task_state want;
	char why[96];
	int64_t now = st_now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_exec_stmt(st, S_BEGIN)) < 0)
		goto out;
	if ((error = st_stmt_get(st, S_REQUEUE, &s)) < 0)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	if (reason)
		sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_int64(s, 3, now);
	if ((error = st_step_update(st, s, "cannot requeue task")) < 0)
		goto fail;
	/* Back in line, but still behind its dependencies: a task
	 * cancelled while it waited waits again when retried. */
	if ((error = st_state_from_deps(st, id, &want, why, sizeof(why))) < 0 ||
	    (want != TASK_QUEUED &&
	     (error = st_set_state_locked(st, id, want, why)) < 0))
		goto fail;
	error = st_exec_stmt(st, S_COMMIT);
fail:
	if (error)
		st_rollback(st);
	else
		st_changed(st, id);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}
