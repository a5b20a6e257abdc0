/*
 * store/plans: the planner's plans: request, state, answer and the tasks
 * made from it.
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
	sqlite3_stmt *s = NULL;
	int rc, error;

	if (len > INT32_MAX || !engine)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_PLAN_INSERT, &s)) < 0)
		goto out;
	sqlite3_bind_blob(s, 1, request, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, engine, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, approve);
	sqlite3_bind_int64(s, 4, st_now_ms());
	rc = sqlite3_step(s);
	st_stmt_done(s);
	if (rc != SQLITE_DONE) {
		error = st_db_error(st, rc, "cannot insert plan");
		goto out;
	}
	*id = sqlite3_last_insert_rowid(st->db);
out:
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

int store_plan_get(struct store *st, int64_t id, struct plan *out)
{
	sqlite3_stmt *s = NULL;
	int error, oom = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	if ((error = st_row_by_id(st, S_PLAN_GET, id, "cannot read plan",
				  &s)) < 0)
		goto out;
	out->id = sqlite3_column_int64(s, 0);
	out->request = st_column_blob(s, 1, &out->request_len, &oom);
	out->state = st_column_strdup(s, 2, &oom);
	out->engine = st_column_strdup(s, 3, &oom);
	out->approve = sqlite3_column_int(s, 4);
	out->plan = st_column_strdup(s, 5, &oom);
	out->tasks = st_column_strdup(s, 6, &oom);
	out->reason = st_column_strdup(s, 7, &oom);
	out->created = sqlite3_column_int64(s, 8);
	out->updated = sqlite3_column_int64(s, 9);
	if (oom)
		error = -ENOMEM;
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	if (error)
		plan_release(out);
	return error;
}

int store_plan_ids(struct store *st, const char *state, int64_t **ids,
		   size_t *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, state ? S_PLAN_IDS_IN_STATE : S_PLAN_IDS,
				 &s)) < 0)
		goto out;
	if (state)
		sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	error = st_collect_ids(st, s, ids, n);
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_plan_update(struct store *st, int64_t id, const char *state,
		      const char *plan, const char *reason)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_PLAN_UPDATE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	st_bind_text_or_null(s, 3, plan);
	st_bind_text_or_null(s, 4, reason);
	sqlite3_bind_int64(s, 5, st_now_ms());
	error = st_step_update(st, s, "cannot update plan");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}
