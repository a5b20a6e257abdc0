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
	sqlite3_stmt *s;
	int error;

	if (!n->check)
		return 0;
	if ((error = st_stmt_get(st, S_SET_CHECK_SPEC, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, n->check, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, n->fix_rounds);
	return st_step_update(st, s, "cannot record task check");
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
	if ((error = st_row_by_id(st, S_GET_CHECK, id, "cannot read task check",
				  &s)) < 0)
		goto out;
	out->command = st_column_strdup(s, 0, &oom);
	out->fix_rounds = sqlite3_column_int(s, 1);
	state = sqlite3_column_text(s, 2);
	snprintf(out->state, sizeof(out->state), "%s",
		 state ? (const char *)state : "");
	out->exit_code = sqlite3_column_int(s, 3);
	out->round = sqlite3_column_int(s, 4);
	if (oom)
		error = -ENOMEM;
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	if (error)
		task_check_release(out);
	return error;
}

int store_task_set_check(struct store *st, int64_t id, const char *state,
			 int exit_code, int round)
{
	sqlite3_stmt *s;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_SET_CHECK, &s)) == 0) {
		sqlite3_bind_int64(s, 1, id);
		st_bind_text_or_null(s, 2, state && *state ? state : NULL);
		sqlite3_bind_int(s, 3, exit_code);
		sqlite3_bind_int(s, 4, round);
		sqlite3_bind_int64(s, 5, st_now_ms());
		error = st_step_update(st, s, "cannot record task check");
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}
