/*
 * store/mergeq: the merge queue's rows, one per task in it, so that a
 * queue run survives the daemon: what waits, what is being checked, what
 * landed or was rejected and why.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "storeint.h"

int store_mq_add(struct store *st, int64_t task, const char *state,
		 int64_t fix_of)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_run(st, S_MQ_ADD, "IsII", task, state, st_now_ms(), fix_of);
	if (error == 0 && sqlite3_changes(st->db) == 0)
		error = -EEXIST;
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_mq_set(struct store *st, int64_t task, const char *state,
		 int64_t batch, const char *result)
{
	return st_write(st, S_MQ_SET, "IsITI", task, state, batch, result,
			st_now_ms());
}

int store_mq_resume(struct store *st)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_run(st, S_MQ_RESUME, "");
	pthread_mutex_unlock(&st->lock);
	return error;
}

void store_mq_rows_release(struct mq_row *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].result);
	free(v);
}

/* One row of S_MQ_LIST into r. */
static void read_row(sqlite3_stmt *s, struct mq_row *r, int *oom)
{
	const unsigned char *state = sqlite3_column_text(s, 2);

	memset(r, 0, sizeof(*r));
	r->task = sqlite3_column_int64(s, 0);
	r->seq = sqlite3_column_int64(s, 1);
	snprintf(r->state, sizeof(r->state), "%s",
		 state ? (const char *)state : "");
	r->batch = sqlite3_column_int64(s, 3);
	r->result = st_column_strdup(s, 4, oom);
	r->updated = sqlite3_column_int64(s, 5);
	r->fix_of = sqlite3_column_int64(s, 6);
}

static int read_rows(struct store *st, sqlite3_stmt *s, struct mq_row **out,
		     size_t *n)
{
	struct mq_row *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc, oom = 0, error = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				oom = 1;
				break;
			}
			v = nv;
		}
		read_row(s, &v[len++], &oom);
	}
	if (oom)
		error = -ENOMEM;
	else if (rc != SQLITE_DONE)
		error = st_db_error(st, rc, "cannot read the merge queue");
	if (error) {
		store_mq_rows_release(v, len);
		return error;
	}
	*out = v;
	*n = len;
	return 0;
}

int store_mq_list(struct store *st, size_t ended_max, struct mq_row **out,
		  size_t *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	if ((error = st_query(st, S_MQ_LIST, &s, "I", (int64_t)ended_max)) == 0) {
		error = read_rows(st, s, out, n);
		st_stmt_done(s);
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}
