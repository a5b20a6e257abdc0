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
	[TASK_REJECTED] = "rejected",
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
	       s == TASK_MERGED || s == TASK_BLOCKED || s == TASK_REJECTED;
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
	sqlite3_stmt *s;
	int error;

	if ((error = st_row(st, S_STATE_OF, &s, "I", id)) < 0)
		return error;
	error = task_state_parse((const char *)sqlite3_column_text(s, 0),
				 out) < 0 ? -EIO : 0;
	st_stmt_done(s);
	return error;
}

int st_set_state_locked(struct store *st, int64_t id, enum task_state to,
			const char *reason)
{
	int error = st_update(st, S_SET_STATE, "IsTI", id, state_names[to],
			      reason && *reason ? reason : NULL, st_now_ms());

	if (error == 0)
		st_changed(st, id);
	return error;
}

/* The task whose branch is name: 1 and *id, 0 when none; the lock is
 * held. */
int st_branch_owner_locked(struct store *st, const char *name,
			   int64_t *id)
{
	sqlite3_stmt *s;
	int error;

	if ((error = st_row(st, S_BRANCH_OWNER, &s, "s", name)) < 0)
		return error == -ENOENT ? 0 : error;
	*id = sqlite3_column_int64(s, 0);
	st_stmt_done(s);
	return 1;
}

int store_branch_owner(struct store *st, const char *name, int64_t *id)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_branch_owner_locked(st, name, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

/* Whether a task exists, with the lock already held: 1, 0 or the error. */
static int exists_locked(struct store *st, int64_t id)
{
	sqlite3_stmt *s;
	int error = st_row(st, S_EXISTS, &s, "I", id);

	st_stmt_done(s);
	return error == 0 ? 1 : error == -ENOENT ? 0 : error;
}

/* An UPDATE that matches only a task in some states found nothing: a
 * task in another state is -EBUSY, a missing one -ENOENT. */
static int busy_or_missing_locked(struct store *st, int64_t id)
{
	int error = exists_locked(st, id);

	return error == 1 ? -EBUSY : error == 0 ? -ENOENT : error;
}

/* Every change of a task's record is told (st_changed), not only of its
 * state: the mount lets the kernel keep what a record shows until told. */
static int told(struct store *st, int64_t id, int error)
{
	if (error == 0)
		st_changed(st, id);
	return error;
}

int store_task_set_priority(struct store *st, int64_t id, int priority)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_update(st, S_SET_PRIORITY, "IiI", id, priority, st_now_ms());
	if (error == 0)
		st_changed(st, id);
	else if (error == -ENOENT)
		error = busy_or_missing_locked(st, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_backoff(struct store *st, int64_t id, int64_t not_before,
		       int exit_code, const char *reason)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_update(st, S_BACKOFF, "IIiTI", id, not_before, exit_code,
			  reason, st_now_ms());
	if (error == 0)
		st_changed(st, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_base(struct store *st, int64_t id, const char *base)
{
	if (!base || strlen(base) > 40)
		return -EINVAL;
	return told(st, id, st_write(st, S_SET_BASE, "IsI", id, base,
				     st_now_ms()));
}

int64_t store_next_due(struct store *st)
{
	sqlite3_stmt *s;
	int64_t t = 0;

	pthread_mutex_lock(&st->lock);
	if (st_row(st, S_NEXT_DUE, &s, "I", st_now_ms()) == 0 &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL)
		t = sqlite3_column_int64(s, 0);
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
	if ((error = st_row(st, S_GET, &s, "I", id)) < 0)
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
	int error;

	pthread_mutex_lock(&st->lock);
	error = exists_locked(st, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_ids(struct store *st, int64_t **ids, size_t *n)
{
	return st_read_ids(st, S_IDS, ids, n, "");
}

int store_task_ids_after(struct store *st, int64_t after, size_t max,
			 int64_t **ids, size_t *n)
{
	return st_read_ids(st, S_IDS_AFTER, ids, n, "II", after, (int64_t)max);
}

int store_tasks_in_state(struct store *st, enum task_state state,
			 int64_t **ids, size_t *n)
{
	*ids = NULL;
	*n = 0;
	if ((unsigned)state >= TASK_STATE_COUNT)
		return -EINVAL;
	return st_read_ids(st, S_IDS_IN_STATE, ids, n, "s", state_names[state]);
}

int store_task_next_queued(struct store *st, int64_t *id)
{
	return store_task_next_queued_except(st, NULL, 0, id);
}

/* The next queued task but for some engines' (a provider is cooling
 * down): rare, so its statement is made for the call, not cached. */
static int next_queued_except_locked(struct store *st,
				     const char *const *engines, size_t n,
				     const int64_t *skip, size_t n_skip,
				     int64_t *id)
{
	sqlite3_stmt *s = NULL;
	char sql[1024];
	size_t i, len;
	int rc, error = 0;

	len = (size_t)snprintf(sql, sizeof(sql), "SELECT id FROM tasks"
			       " WHERE state = 'queued' AND"
			       " not_before <= ?1 AND engine NOT IN (''");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	len += (size_t)snprintf(sql + len, sizeof(sql) - len,
				") AND id NOT IN (0");
	for (i = 0; i < n_skip; i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, ",?");
	snprintf(sql + len, sizeof(sql) - len,
		 ") ORDER BY priority DESC, id LIMIT 1");
	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, st_now_ms());
		for (i = 0; i < n; i++)
			sqlite3_bind_text(s, (int)i + 2, engines[i], -1,
					  SQLITE_STATIC);
		for (i = 0; i < n_skip; i++)
			sqlite3_bind_int64(s, (int)(i + n) + 2, skip[i]);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(s, 0);
	}
	if (rc == SQLITE_DONE)
		error = -ENOENT;
	else if (rc != SQLITE_ROW)
		error = st_db_error(st, rc, "cannot find queued task");
	sqlite3_finalize(s);
	return error;
}

int store_task_next_queued_except(struct store *st,
				  const char *const *engines, size_t n,
				  int64_t *id)
{
	return store_task_next_queued_skip(st, engines, n, NULL, 0, id);
}

int store_task_next_queued_skip(struct store *st,
				const char *const *engines, size_t n,
				const int64_t *skip, size_t n_skip,
				int64_t *id)
{
	sqlite3_stmt *s;
	int error;

	if (n > 32 || n_skip > STORE_SKIP_MAX)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (n || n_skip) {
		error = next_queued_except_locked(st, engines, n, skip, n_skip,
						  id);
	} else if ((error = st_row(st, S_NEXT_QUEUED, &s, "I",
				   st_now_ms())) == 0) {
		*id = sqlite3_column_int64(s, 0);
		st_stmt_done(s);
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_start(struct store *st, int64_t id, int worker)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_update(st, S_START, "IiI", id, worker, st_now_ms());
	if (error == 0)
		st_changed(st, id);
	/* The UPDATE only matches a queued task; tell a task in another
	 * state apart from one that does not exist. */
	if (error == -ENOENT)
		error = busy_or_missing_locked(st, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

/*
 * Neither needs the disk before the run goes on: a daemon killed after
 * either keeps it (it is in the WAL), and after a power cut the worktree
 * made or removed (never synced either) and the engine are as likely
 * gone; a run's start and end are the writes waited for.
 */
int store_task_set_worktree(struct store *st, int64_t id, const char *path)
{
	return told(st, id, st_write_unsynced(st, S_SET_WORKTREE, "ITI", id,
					      path, st_now_ms()));
}

int store_task_set_commit(struct store *st, int64_t id, const char *from,
			  const char *to)
{
	int error;

	if (!from || !*from || !to || strlen(to) != 40)
		return -EINVAL;
	error = st_write(st, S_SET_COMMIT, "IssI", id, from, to, st_now_ms());
	/* Not a new state, but new diff and files: the mount drops what the
	 * kernel keeps of them (fs_cache_changed). */
	if (error == 0)
		st_changed(st, id);
	return error == -ENOENT ? -EBUSY : error;
}

int store_task_set_pid(struct store *st, int64_t id, int pid)
{
	return told(st, id, st_write_unsynced(st, S_SET_PID, "IiI", id, pid,
					      st_now_ms()));
}

/* The task's figures and, when it has a cost, a row of spend for the
 * budgets: both or neither. */
int store_task_add_usage(struct store *st, int64_t id,
			 const struct task_usage *u)
{
	int64_t now = st_now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_run(st, S_BEGIN, "")) < 0)
		goto out;
	if ((error = st_update(st, S_SET_USAGE, "IIIiDI", id, u->input_tokens,
			       u->output_tokens, u->turns, u->cost_usd,
			       now)) < 0 ||
	    (u->cost_usd > 0 &&
	     (error = st_run(st, S_SPEND_ADD, "IDI", id, u->cost_usd,
			     now)) < 0))
		goto fail;
	error = st_run(st, S_COMMIT, "");
fail:
	if (error)
		st_rollback(st);
	else
		st_changed(st, id);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_spend(struct store *st, int64_t since, const char *engine,
		double *usd)
{
	sqlite3_stmt *s;
	int error;

	*usd = 0;
	pthread_mutex_lock(&st->lock);
	if ((error = st_row(st, S_SPEND_SUM, &s, "IT", since, engine)) == 0)
		*usd = sqlite3_column_double(s, 0);
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_finish(struct store *st, int64_t id, enum task_state state,
		      int exit_code, const char *commit, const char *reason)
{
	int error;

	/* queued and running have their own transitions, which keep
	 * attempts, started and the worker slot straight. */
	if ((unsigned)state >= TASK_STATE_COUNT || state == TASK_QUEUED ||
	    state == TASK_RUNNING)
		return -EINVAL;
	if (commit && strlen(commit) > 40)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	error = st_update(st, S_FINISH, "IsiTTI", id, state_names[state],
			  exit_code, commit, reason, st_now_ms());
	if (error == 0)
		st_changed(st, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_requeue(struct store *st, int64_t id, const char *reason)
{
	enum task_state want;
	char why[96];
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_run(st, S_BEGIN, "")) < 0)
		goto out;
	if ((error = st_update(st, S_REQUEUE, "ITI", id, reason,
			       st_now_ms())) < 0)
		goto fail;
	/* Back in line, but still behind its dependencies: a task
	 * cancelled while it waited waits again when retried. */
	if ((error = st_state_from_deps(st, id, &want, why, sizeof(why))) < 0 ||
	    (want != TASK_QUEUED &&
	     (error = st_set_state_locked(st, id, want, why)) < 0))
		goto fail;
	error = st_run(st, S_COMMIT, "");
fail:
	if (error)
		st_rollback(st);
	else
		st_changed(st, id);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_totals(struct store *st, struct task_usage *out)
{
	sqlite3_stmt *s;
	int error;

	memset(out, 0, sizeof(*out));
	out->cost_usd = -1;
	pthread_mutex_lock(&st->lock);
	/* An aggregate always has its one row. */
	if ((error = st_row(st, S_TOTALS, &s, "")) == 0) {
		out->input_tokens = sqlite3_column_int64(s, 0);
		out->output_tokens = sqlite3_column_int64(s, 1);
		if (sqlite3_column_type(s, 2) != SQLITE_NULL)
			out->cost_usd = sqlite3_column_double(s, 2);
	}
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_counts(struct store *st, size_t counts[TASK_STATE_COUNT])
{
	sqlite3_stmt *s;
	enum task_state state;
	int rc, error;

	memset(counts, 0, sizeof(size_t) * TASK_STATE_COUNT);
	pthread_mutex_lock(&st->lock);
	if ((error = st_query(st, S_COUNTS, &s, "")) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* Unknown names cannot be written by this program; skip any
		 * rather than fail every count. */
		if (task_state_parse((const char *)sqlite3_column_text(s, 0),
				     &state) == 0)
			counts[state] = (size_t)sqlite3_column_int64(s, 1);
	}
	if (rc != SQLITE_DONE)
		error = st_db_error(st, rc, "cannot count tasks");
	st_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int64_t store_last_change(struct store *st)
{
	sqlite3_stmt *s;
	int64_t t = 0;

	pthread_mutex_lock(&st->lock);
	/* On an error, 0 ("never") is the safest mtime to show. */
	if (st_row(st, S_LAST_CHANGE, &s, "") == 0)
		t = sqlite3_column_int64(s, 0);
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return t;
}
