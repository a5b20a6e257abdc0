/*
 * store/plans: the planner's plans: request, state, answer and the tasks
 * made from it (table plan_tasks, one row a task, in the plan's order).
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

int store_plan_create(struct store *st, const char *request, size_t len,
		      const char *engine, int approve, int64_t *id)
{
	int error;

	if (len > INT32_MAX || !engine)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = st_run(st, S_PLAN_INSERT, "bsiI", request, len, engine,
			    approve, st_now_ms())) == 0)
		*id = sqlite3_last_insert_rowid(st->db);
	pthread_mutex_unlock(&st->lock);
	return error;
}

void plan_release(struct plan *pl)
{
	free(pl->request);
	free(pl->state);
	free(pl->engine);
	free(pl->plan);
	free(pl->tasks);
	free(pl->reason);
	memset(pl, 0, sizeof(*pl));
}

/* The plan's row, with the lock held. */
static int plan_get_locked(struct store *st, int64_t id, struct plan *out)
{
	sqlite3_stmt *s;
	int error, oom = 0;

	if ((error = st_row(st, S_PLAN_GET, &s, "I", id)) < 0)
		return error;
	out->id = sqlite3_column_int64(s, 0);
	out->request = st_column_blob(s, 1, &out->request_len, &oom);
	out->state = st_column_strdup(s, 2, &oom);
	out->engine = st_column_strdup(s, 3, &oom);
	out->approve = sqlite3_column_int(s, 4);
	out->plan = st_column_strdup(s, 5, &oom);
	out->reason = st_column_strdup(s, 6, &oom);
	out->created = sqlite3_column_int64(s, 7);
	out->updated = sqlite3_column_int64(s, 8);
	st_stmt_done(s);
	if (oom)
		return -ENOMEM;
	return st_ids(st, S_PLAN_TASK_IDS, &out->tasks, &out->n_tasks, "I", id);
}

int store_plan_get(struct store *st, int64_t id, struct plan *out)
{
	int error;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	error = plan_get_locked(st, id, out);
	pthread_mutex_unlock(&st->lock);
	if (error)
		plan_release(out);
	return error;
}

int store_plan_ids(struct store *st, const char *state, int64_t **ids,
		   size_t *n)
{
	if (state)
		return st_read_ids(st, S_PLAN_IDS_IN_STATE, ids, n, "s", state);
	return st_read_ids(st, S_PLAN_IDS, ids, n, "");
}

int store_plan_update(struct store *st, int64_t id, const char *state,
		      const char *plan, const char *reason)
{
	return st_write(st, S_PLAN_UPDATE, "IsTTI", id, state, plan, reason,
			st_now_ms());
}
