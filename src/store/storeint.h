/*
 * storeint: what the files of src/store/ share: the connection, the
 * statement ids and the helpers. Not for use outside src/store/; the
 * interface is include/store.h.
 *
 * Threads and locks. The store has one SQLite connection (opened
 * NOMUTEX) and one mutex, st->lock, that serialises every use of it:
 * the cached statements, sqlite3_errmsg, sqlite3_changes,
 * last_insert_rowid and any open transaction belong to whoever holds it.
 *   - Every store_* function of include/store.h takes st->lock itself
 *     and releases it before it returns; none calls another store_*
 *     function with it held, and none calls out of the store.
 *   - Every st_* helper below runs with st->lock held by its caller,
 *     except st_write and st_read_ids, which take it themselves (one
 *     statement as the whole of a call); the *_locked names say so too.
 *   - A transaction (S_BEGIN ... S_COMMIT, or st_rollback) opens and
 *     ends under one holding of the lock: no other thread ever sees it
 *     open.
 *   - Lock order: there is none to keep, because no thread ever holds
 *     two locks of the store. The other one, st->creates.lock (the
 *     group commit queue, group.h), is released before the group's
 *     writer, write_batches (create.c), takes st->lock; store_group_stats
 *     takes only the queue's. A change that must nest them takes the
 *     queue's first, st->lock second.
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
	S_IDS_AFTER,
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
	S_SPEND_ADD,
	S_SPEND_SUM,
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
	S_PLAN_CREATED,
	S_PLAN_TASK_CLEAR,
	S_PLAN_TASK_ADD,
	S_PLAN_TASK_IDS,
	S_SET_COMMIT,
	S_RUNS,
	S_TASK_RUNS,
	S_RECENT,
	S_SET_CHECK_SPEC,
	S_GET_CHECK,
	S_SET_CHECK,
	S_MQ_ADD,
	S_MQ_SET,
	S_MQ_RESUME,
	S_MQ_LIST,
	S_OUTBOX_ADD,
	S_OUTBOX_NEXT,
	S_OUTBOX_RETRY,
	S_OUTBOX_REMOVE,
	S_SET_PATHS,
	S_GET_PATHS,
	S_SET_OUTSIDE,
	S_SET_JOB,
	S_GET_JOB,
	S_APPROVAL_ADD,
	S_APPROVAL_GET,
	S_APPROVAL_WAITING,
	S_APPROVAL_ALWAYS,
	S_APPROVAL_ANSWERED,
	S_APPROVAL_DECIDE,
	S_APPROVAL_PENDING,
	S_APPROVAL_ALL,
	S_APPROVAL_OF_TASK,
	S_APPROVAL_OVERDUE,
	S_AUDIT_ADD,
	S_AUDIT_LIST,
	S_AUDIT_JUDGED,
	S_AUDIT_COUNTS,
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

/* schema.c */
extern const char *const st_migrations[];
extern const int st_schema_version;	/* entries of st_migrations */
extern const char *const st_stmt_sql[S_COUNT];
extern const char *const st_stmt_what[S_COUNT];

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
/* Roll back after a failure; the first error is the one to report. */
void st_rollback(struct store *st);

/*
 * The binder: statement id with fmt's arguments bound to ?1, ?2, ...,
 * one letter each:
 *	i  int			I  int64_t
 *	s  const char *, text	T  const char *, text or NULL
 *	b  const void *, size_t: a blob (non-NULL even when empty)
 *	D  double, NULL when < 0 (an unknown cost)
 * A format that does not fit the statement fails with -EIO. Errors say
 * on stderr what failed (stmt_what in db.c) and return as st_db_error.
 *
 *	st_run(st, S_ADD_DEP, "II", id, dep);
 *	if (st_row(st, S_STATE_OF, &s, "I", id) == 0) {
 *		... sqlite3_column_text(s, 0) ...
 *		st_stmt_done(s);
 *	}
 */
/* Bound and ready to step; the caller ends with st_stmt_done. */
int st_query(struct store *st, enum stmt_id id, sqlite3_stmt **out,
	     const char *fmt, ...);
/* Run to its end (no rows wanted). */
int st_run(struct store *st, enum stmt_id id, const char *fmt, ...);
/* Run an UPDATE: -ENOENT when it matched no row. */
int st_update(struct store *st, enum stmt_id id, const char *fmt, ...);
/* st_update as the whole of a call: takes and releases st->lock. */
int st_write(struct store *st, enum stmt_id id, const char *fmt, ...);
/* st_write not waited for on the disk (a killed daemon keeps it, a power
 * cut may not): for what no crash needs, such as a pid shown. */
int st_write_unsynced(struct store *st, enum stmt_id id, const char *fmt,
		      ...);
/* Stepped to its first row: 0 and *out at the row (the caller ends
 * with st_stmt_done), -ENOENT when there is none, or the error; on
 * anything but 0 the statement is already reset and *out NULL. */
int st_row(struct store *st, enum stmt_id id, sqlite3_stmt **out,
	   const char *fmt, ...);
/* The first column of every row as ids, malloc'd (NULL when none). */
int st_ids(struct store *st, enum stmt_id id, int64_t **ids, size_t *n,
	   const char *fmt, ...);
/* st_ids as the whole of a call: takes and releases st->lock. */
int st_read_ids(struct store *st, enum stmt_id id, int64_t **ids,
		size_t *n, const char *fmt, ...);

char *st_column_strdup(sqlite3_stmt *s, int col, int *oom);
/* A blob column as a NUL-terminated copy, its length in *len. */
char *st_column_blob(sqlite3_stmt *s, int col, size_t *len, int *oom);
void st_column_oid(sqlite3_stmt *s, int col, char oid[OID_HEX_SIZE]);

/* tasks.c */
/* The state of a task, with the lock held; -ENOENT when there is none. */
int st_state_locked(struct store *st, int64_t id, enum task_state *out);
int st_set_state_locked(struct store *st, int64_t id, enum task_state to,
			const char *reason);
/* The task whose branch is name: 1 and *id, 0 when none; the lock is
 * held. */
int st_branch_owner_locked(struct store *st, const char *name,
			   int64_t *id);

/* checks.c */
/* Record a new task's check command and fix rounds (none: nothing). */
/* The paths a new task owns (checks.c). */
int st_set_paths_locked(struct store *st, int64_t id,
			const struct task_new *n);
int st_set_check_spec_locked(struct store *st, int64_t id,
			     const struct task_new *n);

/* deps.c */
/*
 * What a task's dependencies make it: blocked when one failed, was
 * cancelled or is blocked itself; waiting while one is not done; else
 * queued. reason names the dependency that decides.
 */
int st_state_from_deps(struct store *st, int64_t id,
		       enum task_state *out, char *reason, size_t len);

#endif
