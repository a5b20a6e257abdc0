/*
 * store/runs: what the timeline and the dashboard ask of the store: the
 * newest attempts (the runs table, kept by triggers, see db.c's migration
 * 7) and the tasks changed last. Both are bounded by the caller's max, so
 * their cost does not grow with the number of tasks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "storeint.h"

static int collect_runs(struct store *st, sqlite3_stmt *s, size_t max,
			struct task_run *v, size_t *n)
{
	const unsigned char *o;
	int rc;

	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct task_run *r = &v[(*n)++];

		r->task = sqlite3_column_int64(s, 0);
		r->attempt = sqlite3_column_int(s, 1);
		r->worker = sqlite3_column_int(s, 2);
		r->started = sqlite3_column_int64(s, 3);
		r->finished = sqlite3_column_int64(s, 4);
		o = sqlite3_column_text(s, 5);
		snprintf(r->outcome, sizeof(r->outcome), "%s",
			 o ? (const char *)o : "");
	}
	if (*n == max)
		return 0;
	return rc == SQLITE_DONE ? 0 : st_db_error(st, rc, "cannot list runs");
}

int store_runs(struct store *st, int64_t task, size_t max,
	       struct task_run **out, size_t *n)
{
	sqlite3_stmt *s = NULL;
	struct task_run *v;
	int error;

	*out = NULL;
	*n = 0;
	if (!max)
		return 0;
	if (!(v = calloc(max, sizeof(*v))))
		return -ENOMEM;
	pthread_mutex_lock(&st->lock);
	error = task ? st_query(st, S_TASK_RUNS, &s, "II", task, (int64_t)max)
		     : st_query(st, S_RUNS, &s, "I", (int64_t)max);
	if (error == 0) {
		error = collect_runs(st, s, max, v, n);
		st_stmt_done(s);
	}
	pthread_mutex_unlock(&st->lock);
	if (error < 0 || !*n) {
		free(v);
		*n = 0;
		return error;
	}
	*out = v;
	return 0;
}

int store_task_ids_recent(struct store *st, size_t max, int64_t **ids,
			  size_t *n)
{
	return st_read_ids(st, S_RECENT, ids, n, "I", (int64_t)max);
}
