/*
 * store/deps: dependencies between tasks: what a task waits for, and who
 * is released or blocked when a task ends.
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

/*
 * What a task's dependencies make it: blocked when one failed, was
 * cancelled or is blocked itself; waiting while one is not done; else
 * queued. reason names the dependency that decides.
 */
int st_state_from_deps(struct store *st, int64_t id,
		       enum task_state *out, char *reason, size_t len)
{
	int64_t *deps = NULL;
	size_t n = 0, i;
	int error;

	*out = TASK_QUEUED;
	*reason = '\0';
	if ((error = st_ids(st, S_DEPS, &deps, &n, "I", id)) < 0)
		return error;
	for (i = 0; i < n; i++) {
		enum task_state ds;

		if ((error = st_state_locked(st, deps[i], &ds)) < 0)
			break;
		if (ds == TASK_FAILED || ds == TASK_CANCELLED ||
		    ds == TASK_BLOCKED) {
			*out = TASK_BLOCKED;
			snprintf(reason, len, "dependency %" PRId64 " %s",
				 deps[i], ds == TASK_BLOCKED ? "is blocked" :
				 ds == TASK_FAILED ? "failed" : "was cancelled");
			break;
		}
		if (ds != TASK_DONE && ds != TASK_MERGED &&
		    *out == TASK_QUEUED) {
			*out = TASK_WAITING;
			snprintf(reason, len, "waiting for task %" PRId64,
				 deps[i]);
		}
	}
	free(deps);
	return error;
}

int store_deps_settle(struct store *st, int64_t id, struct dep_change **out,
		      size_t *n_out)
{
	int64_t *todo = NULL, *kids = NULL, *grown;
	size_t n_todo = 0, cap = 0, head = 0, n_kids, i;
	struct dep_change *ch = NULL, *gch;
	size_t n_ch = 0;
	int error;

	*out = NULL;
	*n_out = 0;
	pthread_mutex_lock(&st->lock);
	if ((error = st_run(st, S_BEGIN, "")) < 0)
		goto out;
	/* Breadth first over dependents: a change can ripple down chains. */
	if (!(todo = malloc(16 * sizeof(*todo)))) {
		error = -ENOMEM;
		goto out;
	}
	cap = 16;
	todo[n_todo++] = id;
	while (head < n_todo) {
		int64_t cur = todo[head++];

		if ((error = st_ids(st, S_DEPENDENTS, &kids, &n_kids, "I",
				    cur)) < 0)
			goto out;
		for (i = 0; i < n_kids; i++) {
			enum task_state now_st, want;
			char reason[96];

			if ((error = st_state_locked(st, kids[i], &now_st)) < 0)
				goto out;
			if (now_st != TASK_WAITING && now_st != TASK_BLOCKED)
				continue;
			if ((error = st_state_from_deps(st, kids[i], &want, reason,
							sizeof(reason))) < 0)
				goto out;
			if (want == now_st)
				continue;
			if ((error = st_set_state_locked(st, kids[i], want,
							 reason)) < 0)
				goto out;
			gch = realloc(ch, (n_ch + 1) * sizeof(*ch));
			if (!gch) {
				error = -ENOMEM;
				goto out;
			}
			ch = gch;
			ch[n_ch].task = kids[i];
			ch[n_ch].state = want;
			snprintf(ch[n_ch].reason, sizeof(ch[n_ch].reason), "%s",
				 reason);
			n_ch++;
			if (n_todo == cap) {
				grown = realloc(todo, cap * 2 * sizeof(*todo));
				if (!grown) {
					error = -ENOMEM;
					goto out;
				}
				todo = grown;
				cap *= 2;
			}
			todo[n_todo++] = kids[i];
		}
		free(kids);
		kids = NULL;
	}
	error = st_run(st, S_COMMIT, "");
out:
	if (error) {
		st_rollback(st);
		free(ch);
		ch = NULL;
		n_ch = 0;
	}
	pthread_mutex_unlock(&st->lock);
	free(kids);
	free(todo);
	*out = ch;
	*n_out = n_ch;
	return error;
}

int store_task_deps(struct store *st, int64_t id, int64_t **ids, size_t *n)
{
	return st_read_ids(st, S_DEPS, ids, n, "I", id);
}
