/*
 * store/mergeq: the merge queue's rows, one per task in it, so that a
 * queue run survives the daemon: what waits, what is being checked, what
 * landed or was rejected and why. The queue is rare work next to the
 * tasks table (a row per candidate, a few updates per check), so its
 * statements are prepared per call rather than cached.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "storeint.h"

/* Prepare sql with st->lock held; the caller finalizes. */
static int prepare(struct store *st, const char *sql, sqlite3_stmt **s)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);

	return rc == SQLITE_OK ? 0 : st_db_error(st, rc, sql);
}

/* Step a statement that returns no row, then finalize it. */
static int run(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : st_db_error(st, rc, what);
}

int store_mq_add(struct store *st, int64_t task, const char *state,
		 int64_t fix_of)
{
	/* A task ended in the queue (landed, rejected) may join it again;
	 * one in it already keeps its place. */
	static const char sql[] =
		"INSERT INTO merge_queue (task, seq, state, batch, result,"
		" updated, fix_of) VALUES (?1, (SELECT coalesce(max(seq), 0)"
		" + 1 FROM merge_queue), ?2, 0, NULL, ?3, ?4)"
		" ON CONFLICT (task) DO UPDATE"
		" SET seq = excluded.seq, state = excluded.state, batch = 0,"
		" result = NULL, updated = excluded.updated"
		" WHERE state IN ('landed', 'rejected', 'dropped')";
	sqlite3_stmt *s;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = prepare(st, sql, &s)) == 0) {
		sqlite3_bind_int64(s, 1, task);
		sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, st_now_ms());
		sqlite3_bind_int64(s, 4, fix_of);
		if ((error = run(st, s, "cannot add to the merge queue")) == 0
		    && sqlite3_changes(st->db) == 0)
			error = -EEXIST;
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_mq_set(struct store *st, int64_t task, const char *state,
		 int64_t batch, const char *result)
{
	static const char sql[] =
		"UPDATE merge_queue SET state = ?2, batch = ?3, result = ?4,"
		" updated = ?5 WHERE task = ?1";
	sqlite3_stmt *s;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = prepare(st, sql, &s)) == 0) {
		sqlite3_bind_int64(s, 1, task);
		sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, batch);
		st_bind_text_or_null(s, 4, result);
		sqlite3_bind_int64(s, 5, st_now_ms());
		if ((error = run(st, s, "cannot update the merge queue")) == 0
		    && sqlite3_changes(st->db) == 0)
			error = -ENOENT;
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_mq_resume(struct store *st)
{
	static const char sql[] =
		"UPDATE merge_queue SET state = 'waiting', batch = 0"
		" WHERE state = 'checking'";
	sqlite3_stmt *s;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = prepare(st, sql, &s)) == 0)
		error = run(st, s, "cannot resume the merge queue");
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

static int read_rows(struct store *st, sqlite3_stmt *s, struct mq_row **out,
		     size_t *n)
{
	struct mq_row *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc, oom = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				oom = 1;
				break;
			}
			v = nv;
		}
		memset(&v[len], 0, sizeof(v[len]));
		v[len].task = sqlite3_column_int64(s, 0);
		v[len].seq = sqlite3_column_int64(s, 1);
		snprintf(v[len].state, sizeof(v[len].state), "%s",
			 (const char *)sqlite3_column_text(s, 2));
		v[len].batch = sqlite3_column_int64(s, 3);
		v[len].result = st_column_strdup(s, 4, &oom);
		v[len].updated = sqlite3_column_int64(s, 5);
		v[len].fix_of = sqlite3_column_int64(s, 6);
		len++;
	}
	if (!oom && rc != SQLITE_ROW && rc != SQLITE_DONE)
		oom = st_db_error(st, rc, "cannot read the merge queue");
	else if (oom)
		oom = -ENOMEM;
	if (oom) {
		store_mq_rows_release(v, len);
		return oom;
	}
	*out = v;
	*n = len;
	return 0;
}

int store_mq_list(struct store *st, size_t ended_max, struct mq_row **out,
		  size_t *n)
{
	/* Those still to go in their order, then the last ended ones. */
	static const char sql[] =
		"SELECT task, seq, state, batch, result, updated, fix_of FROM ("
		" SELECT * FROM merge_queue WHERE state IN ('pending',"
		"  'waiting', 'checking')"
		" UNION ALL SELECT * FROM (SELECT * FROM merge_queue WHERE"
		"  state NOT IN ('pending', 'waiting', 'checking')"
		"  ORDER BY seq DESC LIMIT ?1))"
		" ORDER BY seq";
	sqlite3_stmt *s;
	int error;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	if ((error = prepare(st, sql, &s)) == 0) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)ended_max);
		error = read_rows(st, s, out, n);
		sqlite3_finalize(s);
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}
