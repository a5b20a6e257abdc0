/*
 * storeint: what the files of src/store/ share: the connection, the
 * statement ids and the helpers. Not for use outside src/store/; the
 * interface is include/store.h. Every function but the *_locked ones
 * takes st->lock; the *_locked ones run with it held.
 */
#ifndef PAI_STOREINT_H
#define PAI_STOREINT_H

#include <pthread.h>
#include <stdint.h>

#include <sqlite3.h>

#include "group.h"
#include "store.h"
#include "watch.h"

/* How long a statement waits for another process holding the write lock. */
#define STORE_BUSY_TIMEOUT_MS 5000

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_INSERT,
	S_SET_BRANCH,
	S_GET,
	S_EXISTS,
	S_BRANCH_OWNER,
	S_IDS,
	S_IDS_IN_STATE,
	S_NEXT_QUEUED,
	S_START,
	S_SET_WORKTREE,
	S_SET_PID,
	S_FINISH,
	S_REQUEUE,
	S_COUNTS,
	S_LAST_CHANGE,
	S_SET_USAGE,
	S_TOTALS,
	S_ADD_DEP,
	S_STATE_OF,
	S_DEPS,
	S_DEPENDENTS,
	S_SET_STATE,
	S_SET_PRIORITY,
	S_NEXT_DUE,
	S_BACKOFF,
	S_SET_BASE,
	S_PLAN_INSERT,
	S_PLAN_GET,
	S_PLAN_IDS,
	S_PLAN_IDS_IN_STATE,
	S_PLAN_UPDATE,
	S_PLAN_TASKS,
	S_SET_COMMIT,
	S_COUNT
};

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *stmt[S_COUNT];	/* prepared on first use */
	struct group creates;	/* new tasks, committed in groups */
	struct watch *watch;	/* told of state changes, or NULL */
};

/* Task id changed state (watch_changed: cheap, safe with the lock held;
 * a change rolled back later is a spurious call, which waiters allow). */
static inline void st_changed(struct store *st, int64_t id)
{
	if (st->watch)
		watch_changed(st->watch, id);
}

/* db.c */
int64_t st_now_ms(void);
/*
 * Turn an SQLite result code into our negative errno, and say what went
 * wrong on stderr: callers only see -EIO, so this is where the detail is
 * kept. Must be called with the lock held (sqlite3_errmsg is per
 * connection).
 */
int st_db_error(struct store *st, int rc, const char *what);
/* The cached statement `id`, ready to bind; the lock must be held. */
int st_stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out);
/* Reset a statement after use so it holds no read lock and no bindings. */
void st_stmt_done(sqlite3_stmt *s);
/* Run a statement that returns no rows, with nothing to bind. */
int st_exec_stmt(struct store *st, enum stmt_id id);
/* Roll back after a failure; the first error is the one to report. */
void st_rollback(struct store *st);
/* Run one UPDATE bound by the caller; -ENOENT when no row matched. */
int st_step_update(struct store *st, sqlite3_stmt *s, const char *what);
void st_bind_text_or_null(sqlite3_stmt *s, int col, const char *v);
char *st_column_strdup(sqlite3_stmt *s, int col, int *oom);
/* A blob column as a NUL-terminated copy, its length in *len. */
char *st_column_blob(sqlite3_stmt *s, int col, size_t *len, int *oom);
/* Statement q (one parameter: an id) stepped to its row: 0, -ENOENT when
 * there is none, or the error, "what" saying what failed. With st->lock;
 * the caller finishes *out with st_stmt_done. */
int st_row_by_id(struct store *st, enum stmt_id q, int64_t id,
		 const char *what, sqlite3_stmt **out);
void st_column_oid(sqlite3_stmt *s, int col, char oid[41]);
/* Collect the first column of every row of a bound statement as ids. */
int st_collect_ids(struct store *st, sqlite3_stmt *s, int64_t **ids,
		   size_t *n);

/* tasks.c */
/* The state of a task, with the lock held; -ENOENT when there is none. */
int st_state_locked(struct store *st, int64_t id, enum task_state *out);
int st_set_state_locked(struct store *st, int64_t id, enum task_state to,
			const char *reason);
/* The task whose branch is name: 1 and *id, 0 when none; the lock is
 * held. */
int st_branch_owner_locked(struct store *st, const char *name,
			   int64_t *id);

/* deps.c */
/*
 * What a task's dependencies make it: blocked when one failed, was
 * cancelled or is blocked itself; waiting while one is not done; else
 * queued. reason names the dependency that decides.
 */
int st_state_from_deps(struct store *st, int64_t id,
		       enum task_state *out, char *reason, size_t len);

#endif
