/*
 * store/checks: a task's check gate, its command and fix rounds from the
 * spec, and how its last check went.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "storeint.h"

int st_set_check_spec_locked(struct store *st, int64_t id,
			     const struct task_new *n)
{
	if (!n->check)
		return 0;
	return st_update(st, S_SET_CHECK_SPEC, "Isi", id, n->check,
			 n->fix_rounds);
}

int st_set_paths_locked(struct store *st, int64_t id,
			const struct task_new *n)
{
	return n->paths ? st_update(st, S_SET_PATHS, "Iss", id, n->paths,
				    n->locks) : 0;
}

int store_task_paths(struct store *st, int64_t id, char **json)
{
	return store_task_outside(st, id, json, NULL);
}

int store_task_locks(struct store *st, int64_t id, char **json)
{
	sqlite3_stmt *s;
	int error, oom = 0;

	*json = NULL;
	pthread_mutex_lock(&st->lock);
	if ((error = st_row(st, S_GET_PATHS, &s, "I", id)) == 0) {
		*json = st_column_strdup(s, 2, &oom);
		st_stmt_done(s);
		if (oom)
			error = -ENOMEM;
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_outside(struct store *st, int64_t id, char **paths,
		       char **outside)
{
	sqlite3_stmt *s;
	int error, oom = 0;

	*paths = NULL;
	if (outside)
		*outside = NULL;
	pthread_mutex_lock(&st->lock);
	if ((error = st_row(st, S_GET_PATHS, &s, "I", id)) == 0) {
		*paths = st_column_strdup(s, 0, &oom);
		if (outside)
			*outside = st_column_strdup(s, 1, &oom);
		st_stmt_done(s);
		if (oom)
			error = -ENOMEM;
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_outside(struct store *st, int64_t id, const char *json)
{
	return st_write(st, S_SET_OUTSIDE, "Is", id, json);
}

void task_check_release(struct task_check *c)
{
	free(c->command);
	memset(c, 0, sizeof(*c));
}

int store_task_check_get(struct store *st, int64_t id, struct task_check *out)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *state;
	int error, oom = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	if ((error = st_row(st, S_GET_CHECK, &s, "I", id)) < 0)
		goto out;
	out->command = st_column_strdup(s, 0, &oom);
	out->fix_rounds = sqlite3_column_int(s, 1);
	state = sqlite3_column_text(s, 2);
	snprintf(out->state, sizeof(out->state), "%s",
		 state ? (const char *)state : "");
	out->exit_code = sqlite3_column_int(s, 3);
	out->round = sqlite3_column_int(s, 4);
	st_stmt_done(s);
	if (oom)
		error = -ENOMEM;
out:
	pthread_mutex_unlock(&st->lock);
	if (error)
		task_check_release(out);
	return error;
}

int store_task_set_check(struct store *st, int64_t id, const char *state,
			 int exit_code, int round)
{
	return st_write(st, S_SET_CHECK, "ITiiI", id,
			state && *state ? state : NULL, exit_code, round,
			st_now_ms());
}
