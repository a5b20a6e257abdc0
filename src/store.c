/*
 * store: the task database; see include/store.h. The only file that speaks
 * SQL.
 *
 * One SQLite connection, serialised by a mutex, in WAL mode with
 * synchronous=FULL: a COMMIT that returned has reached the disk, which is
 * what lets close() on tasks/new promise that the task survives kill -9.
 *
 * The schema is versioned with PRAGMA user_version. Each entry of
 * `migrations` takes the database from version i to i + 1; store_open
 * applies the missing ones in a single transaction, so a crash half way
 * leaves the old version intact. To change the schema, append an entry;
 * never edit one that has shipped.
 *
 *	$ sqlite3 .git/parallelai/state.db 'select id, state, branch from tasks'
 *	1|done|pai/task-1
 *	2|running|pai/task-2
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

/* How long a statement waits for another process holding the write lock. */
#define STORE_BUSY_TIMEOUT_MS 5000

static const char *const migrations[] = {
	/* 1: the tasks table, one column per field of struct task. The state
	 * is stored by name, not by enum value, so that reordering the enum
	 * can never silently change what is on disk. The prompt is a BLOB so
	 * that its bytes and length come back exactly as written. */
	"CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  prompt BLOB NOT NULL,"
	"  engine TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  base TEXT NOT NULL DEFAULT '',"
	"  commit_oid TEXT NOT NULL DEFAULT '',"
	"  branch TEXT NOT NULL DEFAULT '',"
	"  worktree TEXT,"
	"  reason TEXT,"
	"  exit_code INTEGER NOT NULL DEFAULT -1,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  worker INTEGER NOT NULL DEFAULT 0,"
	"  pid INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL DEFAULT 0,"
	"  started INTEGER NOT NULL DEFAULT 0,"
	"  finished INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tasks_by_state ON tasks(state, id);"
	"CREATE INDEX tasks_by_updated ON tasks(updated);",
	/* 2: the model asked for, and what a run cost: agent engines
	 * report tokens, turns and (some) a price. cost_usd is NULL when
	 * the engine does not say. */
	"ALTER TABLE tasks ADD COLUMN model TEXT;"
	"ALTER TABLE tasks ADD COLUMN input_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN output_tokens INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN turns INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN cost_usd REAL;",
	/* 3: per-task engine options from the spec (args, env, permission
	 * mode), as the JSON object the spec gave. */
	"ALTER TABLE tasks ADD COLUMN options TEXT;",
	/* 4: scheduling. Priority (higher first), limits in seconds (0:
	 * none), retries left to the policy, labels as a JSON array, the
	 * time a backoff ends, and the dependencies between tasks. */
	"ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN timeout INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN stall INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN labels TEXT;"
	"ALTER TABLE tasks ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE deps (task INTEGER NOT NULL, dep INTEGER NOT NULL,"
	"  PRIMARY KEY (task, dep)) WITHOUT ROWID;"
	"CREATE INDEX deps_by_dep ON deps(dep, task);"
	"CREATE INDEX tasks_queue ON tasks(state, priority DESC, id);",
	/* 5: plans, a request split into tasks by a planner engine, and the
	 * plan a task came from. */
	"CREATE TABLE plans ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  request BLOB NOT NULL,"
	"  state TEXT NOT NULL,"
	"  engine TEXT NOT NULL,"
	"  approve INTEGER NOT NULL DEFAULT 0,"
	"  plan TEXT,"
	"  tasks TEXT,"
	"  reason TEXT,"
	"  created INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL DEFAULT 0"
	");"
	"ALTER TABLE tasks ADD COLUMN plan INTEGER NOT NULL DEFAULT 0;",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

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

static const char *const stmt_sql[S_COUNT] = {
	/* IMMEDIATE takes the write lock up front, so a read-then-write
	 * transaction cannot fail half way with SQLITE_BUSY. */
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT batch",
	[S_RELEASE] = "RELEASE batch",
	[S_ROLLBACK_TO] = "ROLLBACK TO batch",
	[S_INSERT] = "INSERT INTO tasks (prompt, engine, state, base,"
		     " created, updated, model, options, priority, timeout,"
		     " stall, retries, labels, plan)"
		     " VALUES (?1, ?2, 'queued', ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9,"
		     " ?10, ?11, ?12)",
	[S_SET_BRANCH] = "UPDATE tasks SET branch = ?2 WHERE id = ?1",
	[S_GET] = "SELECT id, prompt, engine, state, base, commit_oid, branch,"
		  " worktree, reason, exit_code, attempts, worker, pid,"
		  " created, started, finished, updated, model, input_tokens,"
		  " output_tokens, turns, cost_usd, options, priority, timeout,"
		  " stall, retries, labels, not_before, plan"
		  " FROM tasks WHERE id = ?1",
	[S_EXISTS] = "SELECT 1 FROM tasks WHERE id = ?1",
	/* Only named branches are looked up, a few per submission at most:
	 * a scan of the table costs less than an index on every insert. */
	[S_BRANCH_OWNER] = "SELECT id FROM tasks WHERE branch = ?1"
			   " ORDER BY id LIMIT 1",
	[S_IDS] = "SELECT id FROM tasks ORDER BY id",
	[S_IDS_IN_STATE] = "SELECT id FROM tasks WHERE state = ?1 ORDER BY id",
	[S_NEXT_QUEUED] = "SELECT id FROM tasks WHERE state = 'queued'"
			  " AND not_before <= ?1"
			  " ORDER BY priority DESC, id LIMIT 1",
	[S_START] = "UPDATE tasks SET state = 'running',"
		    " attempts = attempts + 1, started = ?3, worker = ?2,"
		    " pid = 0, exit_code = -1, updated = ?3"
		    " WHERE id = ?1 AND state = 'queued'",
	[S_SET_WORKTREE] = "UPDATE tasks SET worktree = ?2, updated = ?3"
			   " WHERE id = ?1",
	[S_SET_PID] = "UPDATE tasks SET pid = ?2, updated = ?3 WHERE id = ?1",
	[S_FINISH] = "UPDATE tasks SET state = ?2, exit_code = ?3,"
		     " commit_oid = coalesce(?4, commit_oid), reason = ?5,"
		     " finished = ?6, worker = 0, pid = 0, updated = ?6"
		     " WHERE id = ?1",
	/* finished goes back to 0 too: a queued task has not finished. */
	[S_REQUEUE] = "UPDATE tasks SET state = 'queued', worker = 0, pid = 0,"
		      " exit_code = -1, commit_oid = '', reason = ?2,"
		      " finished = 0, updated = ?3 WHERE id = ?1",
	[S_COUNTS] = "SELECT state, count(*) FROM tasks GROUP BY state",
	[S_LAST_CHANGE] = "SELECT coalesce(max(updated), 0) FROM tasks",
	/* Usage adds up over attempts: every run was paid for. */
	[S_SET_USAGE] = "UPDATE tasks SET input_tokens = input_tokens + ?2,"
			" output_tokens = output_tokens + ?3,"
			" turns = turns + ?4,"
			" cost_usd = CASE WHEN ?5 IS NULL THEN cost_usd"
			" ELSE coalesce(cost_usd, 0) + ?5 END, updated = ?6"
			" WHERE id = ?1",
	[S_ADD_DEP] = "INSERT OR IGNORE INTO deps (task, dep) VALUES (?1, ?2)",
	[S_STATE_OF] = "SELECT state FROM tasks WHERE id = ?1",
	[S_DEPS] = "SELECT dep FROM deps WHERE task = ?1 ORDER BY dep",
	[S_DEPENDENTS] = "SELECT task FROM deps WHERE dep = ?1 ORDER BY task",
	[S_SET_STATE] = "UPDATE tasks SET state = ?2, reason = ?3, updated = ?4"
			" WHERE id = ?1",
	[S_SET_PRIORITY] = "UPDATE tasks SET priority = ?2, updated = ?3"
			   " WHERE id = ?1 AND state IN ('queued', 'waiting')",
	[S_NEXT_DUE] = "SELECT min(not_before) FROM tasks"
		       " WHERE state = 'queued' AND not_before > ?1",
	/* A failed attempt waits out its backoff queued, its worktree and
	 * everything else kept. */
	[S_BACKOFF] = "UPDATE tasks SET state = 'queued', worker = 0, pid = 0,"
		      " exit_code = ?3, reason = ?4, not_before = ?2,"
		      " finished = 0, updated = ?5 WHERE id = ?1",
	[S_SET_BASE] = "UPDATE tasks SET base = ?2, updated = ?3 WHERE id = ?1",
	[S_PLAN_INSERT] = "INSERT INTO plans (request, state, engine, approve,"
			  " created, updated)"
			  " VALUES (?1, 'planning', ?2, ?3, ?4, ?4)",
	[S_PLAN_GET] = "SELECT id, request, state, engine, approve, plan, tasks,"
		       " reason, created, updated FROM plans WHERE id = ?1",
	[S_PLAN_IDS] = "SELECT id FROM plans ORDER BY id",
	[S_PLAN_IDS_IN_STATE] = "SELECT id FROM plans WHERE state = ?1"
				" ORDER BY id",
	/* A NULL plan keeps the one recorded. */
	[S_PLAN_UPDATE] = "UPDATE plans SET state = ?2,"
			  " plan = coalesce(?3, plan), reason = ?4,"
			  " updated = ?5 WHERE id = ?1",
	[S_PLAN_TASKS] = "UPDATE plans SET state = 'created', tasks = ?2,"
			 " reason = NULL, updated = ?3 WHERE id = ?1",
	/* Only over the commit read: a retry in between clears it. */
	[S_SET_COMMIT] = "UPDATE tasks SET commit_oid = ?3, updated = ?4"
			 " WHERE id = ?1 AND commit_oid = ?2"
			 " AND state IN ('done', 'failed', 'cancelled')",
	[S_TOTALS] = "SELECT coalesce(sum(input_tokens), 0),"
		     " coalesce(sum(output_tokens), 0), sum(cost_usd)"
		     " FROM tasks",
};

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
	sqlite3_stmt *stmt[S_COUNT];	/* prepared on first use */
	struct group creates;	/* new tasks, committed in groups */
};

static const char *const state_names[TASK_STATE_COUNT] = {
	[TASK_QUEUED] = "queued",
	[TASK_RUNNING] = "running",
	[TASK_DONE] = "done",
	[TASK_FAILED] = "failed",
	[TASK_CANCELLED] = "cancelled",
	[TASK_MERGED] = "merged",
	[TASK_WAITING] = "waiting",
	[TASK_BLOCKED] = "blocked",
};

const char *task_state_name(enum task_state s)
{
	if ((unsigned)s >= TASK_STATE_COUNT)
		return "unknown";
	return state_names[s];
}

int task_state_parse(const char *name, enum task_state *out)
{
	int i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < TASK_STATE_COUNT; i++) {
		if (!strcmp(name, state_names[i])) {
			*out = (enum task_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

void task_release(struct task *t)
{
	if (!t)
		return;
	free(t->prompt);
	free(t->engine);
	free(t->branch);
	free(t->worktree);
	free(t->reason);
	free(t->model);
	free(t->options);
	free(t->labels);
	t->prompt = t->engine = t->branch = t->worktree = t->reason = NULL;
	t->model = t->options = t->labels = NULL;
	t->prompt_len = 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Turn an SQLite result code into our negative errno, and say what went
 * wrong on stderr: callers only see -EIO, so this is where the detail is
 * kept. Must be called with the lock held (sqlite3_errmsg is per
 * connection).
 */
static int db_error(struct store *st, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		fprintf(stderr, "parallelai: store: %s: %s\n", what,
			sqlite3_errmsg(st->db));
		return -EIO;
	}
}

/* The cached statement `id`, ready to bind; the lock must be held. */
static int stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out)
{
	int rc;

	if (!st->stmt[id]) {
		rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT,
					&st->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return db_error(st, rc, "cannot prepare statement");
	}
	*out = st->stmt[id];
	return 0;
}

/* Reset a statement after use so it holds no read lock and no bindings. */
static void stmt_done(sqlite3_stmt *s)
{
	if (!s)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Run a statement that returns no rows, with nothing to bind. */
static int exec_stmt(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = stmt_get(st, id, &s)) < 0)
		return rc;
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, stmt_sql[id]);
	return 0;
}

/* Roll back after a failure; the first error is the one to report. */
static void rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		exec_stmt(st, S_ROLLBACK);
}

/* Run one UPDATE bound by the caller; -ENOENT when no row matched. */
static int step_update(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	stmt_done(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, what);
	return sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
}

static int setup_error(sqlite3 *db, const char *path, const char *what,
		       char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot %s database '%s': %s", what, path,
		 db ? sqlite3_errmsg(db) : "out of memory");
	return -EIO;
}

/* Bring the schema up to SCHEMA_VERSION in one transaction. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	char sql[64];
	int version, i, error = 0;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return setup_error(db, path, "lock", err, errlen);

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL)
	    != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		error = setup_error(db, path, "read", err, errlen);
		goto out;
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;

	if (version > SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "cannot use database '%s': schema version %d is newer"
			 " than this program's %d", path, version,
			 SCHEMA_VERSION);
		error = -EPROTO;
		goto out;
	}
	if (version == SCHEMA_VERSION)
		goto out;

	for (i = version; i < SCHEMA_VERSION; i++) {
		if (sqlite3_exec(db, migrations[i], NULL, NULL, NULL)
		    != SQLITE_OK) {
			error = setup_error(db, path, "upgrade", err, errlen);
			goto out;
		}
	}
	/* PRAGMA takes no bound parameters, hence the formatted string. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		error = setup_error(db, path, "upgrade", err, errlen);
		goto out;
	}

out:
	sqlite3_finalize(s);
	if (error) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return error;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		error = setup_error(db, path, "upgrade", err, errlen);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	return error;
}

/* WAL mode; the pragma answers with the mode actually in effect. */
static int set_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const char *mode;
	int error = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL)
	    != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		error = setup_error(db, path, "open", err, errlen);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (!mode || strcmp(mode, "wal")) {
		snprintf(err, errlen,
			 "cannot open database '%s': journal mode is '%s',"
			 " not 'wal'", path, mode ? mode : "");
		error = -EIO;
	}
out:
	sqlite3_finalize(s);
	return error;
}

int store_open(struct store **out, const char *path, char *err, size_t errlen)
{
	struct store *st = NULL;
	sqlite3 *db = NULL;
	int rc, error = 0, fd;
	char scratch[1];

	*out = NULL;
	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';

	/* The database is its owner's alone, and SQLite gives its -wal and
	 * -shm files the database's mode: create it 0600 first. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	/* NOMUTEX: our own mutex already serialises every use. */
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		error = setup_error(db, path, "open", err, errlen);
		if ((rc & 0xff) == SQLITE_FULL)
			error = -ENOSPC;
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);

	/* Opening is lazy: the journal mode is the first real access, so a
	 * file that cannot be created or read fails here. */
	if ((error = set_wal(db, path, err, errlen)) < 0)
		goto out;
	if (sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL)
	    != SQLITE_OK) {
		error = setup_error(db, path, "open", err, errlen);
		goto out;
	}
	if ((error = migrate(db, path, err, errlen)) < 0)
		goto out;

	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "cannot open database '%s': out of memory",
			 path);
		error = -ENOMEM;
		goto out;
	}
	if ((rc = pthread_mutex_init(&st->lock, NULL)) != 0 ||
	    (rc = -group_init(&st->creates)) != 0) {
		snprintf(err, errlen, "cannot open database '%s': %s", path,
			 strerror(rc));
		free(st);
		st = NULL;
		error = -rc;
		goto out;
	}
	st->db = db;
	db = NULL;
	*out = st;

out:
	sqlite3_close(db);
	return error;
}

void store_close(struct store *st)
{
	int i;

	if (!st)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	group_destroy(&st->creates);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

static void bind_text_or_null(sqlite3_stmt *s, int col, const char *v)
{
	if (v)
		sqlite3_bind_text(s, col, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, col);
}

static int collect_ids(struct store *st, sqlite3_stmt *s, int64_t **ids,
		       size_t *n);
static int exists_locked(struct store *st, int64_t id);
static char *column_strdup(sqlite3_stmt *s, int col, int *oom);

/* The state of a task, with the lock held; -ENOENT when there is none. */
static int state_locked(struct store *st, int64_t id, enum task_state *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = stmt_get(st, S_STATE_OF, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		error = task_state_parse((const char *)sqlite3_column_text(s, 0),
					 out) < 0 ? -EIO : 0;
	else if (rc == SQLITE_DONE)
		error = -ENOENT;
	else
		error = db_error(st, rc, "cannot read task state");
	stmt_done(s);
	return error;
}

static int ids_of_locked(struct store *st, enum stmt_id q, int64_t id,
			 int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	*ids = NULL;
	*n = 0;
	if ((error = stmt_get(st, q, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	error = collect_ids(st, s, ids, n);
	stmt_done(s);
	return error;
}

/*
 * What a task's dependencies make it: blocked when one failed, was
 * cancelled or is blocked itself; waiting while one is not done; else
 * queued. reason names the dependency that decides.
 */
static int state_from_deps(struct store *st, int64_t id,
			   enum task_state *out, char *reason, size_t len)
{
	int64_t *deps = NULL;
	size_t n = 0, i;
	int error;

	*out = TASK_QUEUED;
	*reason = '\0';
	if ((error = ids_of_locked(st, S_DEPS, id, &deps, &n)) < 0)
		return error;
	for (i = 0; i < n; i++) {
		enum task_state ds;

		if ((error = state_locked(st, deps[i], &ds)) < 0)
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

static int set_state_locked(struct store *st, int64_t id, enum task_state to,
			    const char *reason)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = stmt_get(st, S_SET_STATE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state_names[to], -1, SQLITE_STATIC);
	bind_text_or_null(s, 3, reason && *reason ? reason : NULL);
	sqlite3_bind_int64(s, 4, now_ms());
	return step_update(st, s, "cannot set task state");
}

/* The task whose branch is name: 1 and *id, 0 when none; the lock is
 * held. */
static int branch_owner_locked(struct store *st, const char *name,
			       int64_t *id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = stmt_get(st, S_BRANCH_OWNER, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(s, 0);
		error = 1;
	} else if (rc == SQLITE_DONE) {
		error = 0;
	} else {
		error = db_error(st, rc, "cannot look up a branch");
	}
	stmt_done(s);
	return error;
}

int store_branch_owner(struct store *st, const char *name, int64_t *id)
{
	int error;

	pthread_mutex_lock(&st->lock);
	error = branch_owner_locked(st, name, id);
	pthread_mutex_unlock(&st->lock);
	return error;
}

/* Insert one task inside an open transaction. A negative dependency -k
 * is the k-th task of this batch, already in ids[]. */
static int create_locked(struct store *st, const struct task_new *n,
			 const int64_t *batch, size_t made, int64_t *id_out)
{
	const char *base = n->base ? n->base : "";
	sqlite3_stmt *s = NULL;
	enum task_state state;
	char branch[48], reason[96];
	int64_t id, owner, now = now_ms();
	size_t i;
	int rc, error;

	if ((!n->prompt && n->len) || !n->engine || n->len > INT32_MAX ||
	    strlen(base) > 40)
		return -EINVAL;
	/* A branch is one task's for good: submit checked it was free, and
	 * this check, in the transaction, settles a race between two. */
	if (n->branch && (error = branch_owner_locked(st, n->branch,
						      &owner)) != 0)
		return error < 0 ? error : -EEXIST;
	if ((error = stmt_get(st, S_INSERT, &s)) < 0)
		return error;
	/* A zero-length blob must still be a blob, not NULL. */
	sqlite3_bind_blob(s, 1, n->prompt ? n->prompt : "", (int)n->len,
			  SQLITE_STATIC);
	sqlite3_bind_text(s, 2, n->engine, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, base, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	bind_text_or_null(s, 5, n->model);
	bind_text_or_null(s, 6, n->options);
	sqlite3_bind_int(s, 7, n->priority);
	sqlite3_bind_int(s, 8, n->timeout);
	sqlite3_bind_int(s, 9, n->stall);
	sqlite3_bind_int(s, 10, n->retries);
	bind_text_or_null(s, 11, n->labels);
	sqlite3_bind_int64(s, 12, n->plan);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "cannot insert task");
	id = sqlite3_last_insert_rowid(st->db);

	/* The branch name needs the id, which only exists after the insert;
	 * both happen in the same transaction, so nobody sees it unnamed. */
	if (n->branch)
		snprintf(branch, sizeof(branch), "%s", n->branch);
	else
		snprintf(branch, sizeof(branch), "pai/task-%" PRId64, id);
	if ((error = stmt_get(st, S_SET_BRANCH, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, n->branch ? n->branch : branch, -1,
			  SQLITE_TRANSIENT);
	if ((error = step_update(st, s, "cannot name task branch")) < 0)
		return error;

	for (i = 0; i < n->n_depends; i++) {
		int64_t dep = n->depends[i];
		enum task_state ds;

		if (dep < 0) {
			if ((size_t)-dep > made)
				return -EINVAL;
			dep = batch[-dep - 1];
		} else if ((error = state_locked(st, dep, &ds)) < 0) {
			return error;
		}
		if (dep == id)
			return -EINVAL;
		if ((error = stmt_get(st, S_ADD_DEP, &s)) < 0)
			return error;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, dep);
		rc = sqlite3_step(s);
		stmt_done(s);
		if (rc != SQLITE_DONE)
			return db_error(st, rc, "cannot add dependency");
	}
	if (n->n_depends) {
		if ((error = state_from_deps(st, id, &state, reason,
					     sizeof(reason))) < 0)
			return error;
		if (state != TASK_QUEUED &&
		    (error = set_state_locked(st, id, state, reason)) < 0)
			return error;
	}
	*id_out = id;
	return 0;
}

/* A batch of new tasks: what one submission makes. */
struct batch {
	const struct task_new *v;
	size_t count;
	int64_t *ids;
	int64_t plan;		/* the plan whose tasks they are, or 0 */
};

/* The batch's tasks, and when they are a plan's, the plan's record of
 * them. Called inside a transaction. */
static int batch_locked(struct store *st, const struct batch *b)
{
	sqlite3_stmt *s = NULL;
	char *list = NULL;
	size_t i, len = 0;
	int error = 0;

	for (i = 0; i < b->count; i++)
		if ((error = create_locked(st, &b->v[i], b->ids, i,
					   &b->ids[i])) < 0)
			return error;
	if (!b->plan)
		return 0;
	/* "[3,4,5]" */
	if (!(list = malloc(b->count * 21 + 3)))
		return -ENOMEM;
	list[len++] = '[';
	for (i = 0; i < b->count; i++)
		len += (size_t)sprintf(list + len, "%s%" PRId64, i ? "," : "",
				       b->ids[i]);
	list[len++] = ']';
	list[len] = '\0';
	if ((error = stmt_get(st, S_PLAN_TASKS, &s)) == 0) {
		sqlite3_bind_int64(s, 1, b->plan);
		sqlite3_bind_text(s, 2, list, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, now_ms());
		error = step_update(st, s, "cannot record the plan's tasks");
	}
	free(list);
	return error;
}

/*
 * The group writer: every queued batch in one transaction, one fsync.
 * Each batch is a savepoint of its own, so a batch that fails (a
 * dependency gone, a branch taken) leaves the others in. Should the
 * transaction itself be lost (a full disk, an I/O error: SQLite then
 * rolls all of it back) or the commit fail, no batch is in and each
 * says so.
 */
static void write_batches(void *ctx, struct group_item *first)
{
	struct store *st = ctx;
	struct group_item *it;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = exec_stmt(st, S_BEGIN)) < 0)
		goto fail;
	for (it = first; it; it = it->next) {
		if ((error = exec_stmt(st, S_SAVEPOINT)) < 0)
			goto fail;
		it->result = batch_locked(st, it->arg);
		if (sqlite3_get_autocommit(st->db)) {
			error = it->result ? it->result : -EIO;
			goto fail;
		}
		if (it->result && (error = exec_stmt(st, S_ROLLBACK_TO)) < 0)
			goto fail;
		if ((error = exec_stmt(st, S_RELEASE)) < 0)
			goto fail;
	}
	if ((error = exec_stmt(st, S_COMMIT)) == 0)
		goto out;
fail:
	rollback(st);
	for (it = first; it; it = it->next)
		it->result = error;
out:
	pthread_mutex_unlock(&st->lock);
}

void store_group_stats(struct store *st, uint64_t *batches,
		       uint64_t *commits)
{
	pthread_mutex_lock(&st->creates.lock);
	*batches = st->creates.items;
	*commits = st->creates.groups;
	pthread_mutex_unlock(&st->creates.lock);
}

static int create_batch(struct store *st, const struct task_new *v,
			size_t count, int64_t *ids, int64_t plan)
{
	struct batch b = { v, count, ids, plan };
	struct group_item it = { .arg = &b };

	return group_submit(&st->creates, &it, write_batches, st);
}

int store_tasks_create(struct store *st, const struct task_new *v,
		       size_t count, int64_t *ids)
{
	return create_batch(st, v, count, ids, 0);
}

int store_plan_create_tasks(struct store *st, int64_t plan,
			    const struct task_new *v, size_t count,
			    int64_t *ids)
{
	return create_batch(st, v, count, ids, plan);
}

int store_plan_create(struct store *st, const char *request, size_t len,
		      const char *engine, int approve, int64_t *id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if (len > INT32_MAX || !engine)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_PLAN_INSERT, &s)) < 0)
		goto out;
	sqlite3_bind_blob(s, 1, request, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, engine, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, approve);
	sqlite3_bind_int64(s, 4, now_ms());
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		error = db_error(st, rc, "cannot insert plan");
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
	const void *blob;
	int rc, error = 0, oom = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_PLAN_GET, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		error = -ENOENT;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		error = db_error(st, rc, "cannot read plan");
		goto out;
	}
	out->id = sqlite3_column_int64(s, 0);
	blob = sqlite3_column_blob(s, 1);
	out->request_len = (size_t)sqlite3_column_bytes(s, 1);
	if ((out->request = malloc(out->request_len + 1))) {
		if (out->request_len)
			memcpy(out->request, blob, out->request_len);
		out->request[out->request_len] = '\0';
	} else {
		oom = 1;
	}
	out->state = column_strdup(s, 2, &oom);
	out->engine = column_strdup(s, 3, &oom);
	out->approve = sqlite3_column_int(s, 4);
	out->plan = column_strdup(s, 5, &oom);
	out->tasks = column_strdup(s, 6, &oom);
	out->reason = column_strdup(s, 7, &oom);
	out->created = sqlite3_column_int64(s, 8);
	out->updated = sqlite3_column_int64(s, 9);
	if (oom)
		error = -ENOMEM;
out:
	stmt_done(s);
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
	if ((error = stmt_get(st, state ? S_PLAN_IDS_IN_STATE : S_PLAN_IDS,
			      &s)) < 0)
		goto out;
	if (state)
		sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	error = collect_ids(st, s, ids, n);
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_plan_update(struct store *st, int64_t id, const char *state,
		      const char *plan, const char *reason)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_PLAN_UPDATE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	bind_text_or_null(s, 3, plan);
	bind_text_or_null(s, 4, reason);
	sqlite3_bind_int64(s, 5, now_ms());
	error = step_update(st, s, "cannot update plan");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_create(struct store *st, const struct task_new *n,
		      int64_t *id_out)
{
	int64_t id;
	int error = store_tasks_create(st, n, 1, &id);

	if (error == 0 && id_out)
		*id_out = id;
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
	if ((error = exec_stmt(st, S_BEGIN)) < 0)
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

		if ((error = ids_of_locked(st, S_DEPENDENTS, cur, &kids,
					   &n_kids)) < 0)
			goto out;
		for (i = 0; i < n_kids; i++) {
			enum task_state now_st, want;
			char reason[96];

			if ((error = state_locked(st, kids[i], &now_st)) < 0)
				goto out;
			if (now_st != TASK_WAITING && now_st != TASK_BLOCKED)
				continue;
			if ((error = state_from_deps(st, kids[i], &want, reason,
						     sizeof(reason))) < 0)
				goto out;
			if (want == now_st)
				continue;
			if ((error = set_state_locked(st, kids[i], want,
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
	error = exec_stmt(st, S_COMMIT);
out:
	if (error) {
		rollback(st);
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
	int error;

	pthread_mutex_lock(&st->lock);
	error = ids_of_locked(st, S_DEPS, id, ids, n);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_priority(struct store *st, int64_t id, int priority)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_SET_PRIORITY, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, priority);
	sqlite3_bind_int64(s, 3, now_ms());
	error = step_update(st, s, "cannot set priority");
	if (error == -ENOENT)
		error = exists_locked(st, id) == 1 ? -EBUSY : -ENOENT;
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_backoff(struct store *st, int64_t id, int64_t not_before,
		       int exit_code, const char *reason)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_BACKOFF, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, not_before);
	sqlite3_bind_int(s, 3, exit_code);
	bind_text_or_null(s, 4, reason);
	sqlite3_bind_int64(s, 5, now_ms());
	error = step_update(st, s, "cannot schedule a retry");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_base(struct store *st, int64_t id, const char *base)
{
	sqlite3_stmt *s = NULL;
	int error;

	if (!base || strlen(base) > 40)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_SET_BASE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, base, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms());
	error = step_update(st, s, "cannot set base");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int64_t store_next_due(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t t = 0;

	pthread_mutex_lock(&st->lock);
	if (stmt_get(st, S_NEXT_DUE, &s) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, now_ms());
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) != SQLITE_NULL)
		t = sqlite3_column_int64(s, 0);
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return t;
}

static char *column_strdup(sqlite3_stmt *s, int col, int *oom)
{
	const unsigned char *text;
	char *p;

	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return NULL;
	text = sqlite3_column_text(s, col);
	if (!text || !(p = strdup((const char *)text))) {
		*oom = 1;
		return NULL;
	}
	return p;
}

static void column_oid(sqlite3_stmt *s, int col, char oid[41])
{
	const unsigned char *text = sqlite3_column_text(s, col);

	snprintf(oid, 41, "%s", text ? (const char *)text : "");
}

int store_task_get(struct store *st, int64_t id, struct task *out)
{
	sqlite3_stmt *s = NULL;
	const void *blob;
	int rc, error = 0, oom = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_GET, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		error = -ENOENT;
		goto out;
	}
	if (rc != SQLITE_ROW) {
		error = db_error(st, rc, "cannot read task");
		goto out;
	}

	out->id = sqlite3_column_int64(s, 0);
	/* Ask for the blob before its size, as the SQLite docs advise. */
	blob = sqlite3_column_blob(s, 1);
	out->prompt_len = (size_t)sqlite3_column_bytes(s, 1);
	out->prompt = malloc(out->prompt_len + 1);
	if (!out->prompt) {
		oom = 1;
	} else {
		if (out->prompt_len)
			memcpy(out->prompt, blob, out->prompt_len);
		out->prompt[out->prompt_len] = '\0';
	}
	out->engine = column_strdup(s, 2, &oom);
	if (task_state_parse((const char *)sqlite3_column_text(s, 3),
			     &out->state) < 0) {
		fprintf(stderr, "parallelai: store: task %" PRId64
			" has unknown state '%s'\n", id,
			(const char *)sqlite3_column_text(s, 3));
		error = -EIO;
		goto out;
	}
	column_oid(s, 4, out->base);
	column_oid(s, 5, out->commit);
	out->branch = column_strdup(s, 6, &oom);
	out->worktree = column_strdup(s, 7, &oom);
	out->reason = column_strdup(s, 8, &oom);
	out->exit_code = sqlite3_column_int(s, 9);
	out->attempts = sqlite3_column_int(s, 10);
	out->worker = sqlite3_column_int(s, 11);
	out->pid = sqlite3_column_int(s, 12);
	out->created = sqlite3_column_int64(s, 13);
	out->started = sqlite3_column_int64(s, 14);
	out->finished = sqlite3_column_int64(s, 15);
	out->updated = sqlite3_column_int64(s, 16);
	out->model = column_strdup(s, 17, &oom);
	out->input_tokens = sqlite3_column_int64(s, 18);
	out->output_tokens = sqlite3_column_int64(s, 19);
	out->turns = sqlite3_column_int(s, 20);
	out->cost_usd = sqlite3_column_type(s, 21) == SQLITE_NULL ? -1 :
			sqlite3_column_double(s, 21);
	out->options = column_strdup(s, 22, &oom);
	out->priority = sqlite3_column_int(s, 23);
	out->timeout = sqlite3_column_int(s, 24);
	out->stall = sqlite3_column_int(s, 25);
	out->retries = sqlite3_column_int(s, 26);
	out->labels = column_strdup(s, 27, &oom);
	out->not_before = sqlite3_column_int64(s, 28);
	out->plan = sqlite3_column_int64(s, 29);
	if (oom || !out->engine || !out->branch)
		error = -ENOMEM;

out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	if (error)
		task_release(out);
	return error;
}

int store_task_exists(struct store *st, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_EXISTS, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		error = 1;
	else if (rc == SQLITE_DONE)
		error = 0;
	else
		error = db_error(st, rc, "cannot read task");
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

/* Collect the first column of every row of a bound statement as ids. */
static int collect_ids(struct store *st, sqlite3_stmt *s, int64_t **ids,
		       size_t *n)
{
	int64_t *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc, error = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				error = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[len++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE)
		error = db_error(st, rc, "cannot list tasks");

out:
	if (error) {
		free(v);
		v = NULL;
		len = 0;
	}
	*ids = v;
	*n = len;
	return error;
}

int store_task_ids(struct store *st, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	*ids = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_IDS, &s)) < 0)
		goto out;
	error = collect_ids(st, s, ids, n);
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_tasks_in_state(struct store *st, enum task_state state,
			 int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	*ids = NULL;
	*n = 0;
	if ((unsigned)state >= TASK_STATE_COUNT)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_IDS_IN_STATE, &s)) < 0)
		goto out;
	sqlite3_bind_text(s, 1, state_names[state], -1, SQLITE_STATIC);
	error = collect_ids(st, s, ids, n);
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_next_queued(struct store *st, int64_t *id)
{
	return store_task_next_queued_except(st, NULL, 0, id);
}

int store_task_next_queued_except(struct store *st,
				  const char *const *engines, size_t n,
				  int64_t *id)
{
	sqlite3_stmt *s = NULL;
	char sql[512];
	size_t i, len;
	int rc, error = 0, own = 0;

	if (n > 32)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (!n) {
		if ((error = stmt_get(st, S_NEXT_QUEUED, &s)) < 0)
			goto out;
	} else {
		/* Rare (a provider is cooling down): prepared on demand. */
		len = (size_t)snprintf(sql, sizeof(sql), "SELECT id FROM tasks"
				       " WHERE state = 'queued' AND"
				       " not_before <= ?1 AND engine NOT IN (?");
		for (i = 1; i < n; i++)
			len += (size_t)snprintf(sql + len, sizeof(sql) - len,
						",?");
		snprintf(sql + len, sizeof(sql) - len,
			 ") ORDER BY priority DESC, id LIMIT 1");
		rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
		if (rc != SQLITE_OK) {
			error = db_error(st, rc, "cannot find queued task");
			goto out;
		}
		own = 1;
		for (i = 0; i < n; i++)
			sqlite3_bind_text(s, (int)i + 2, engines[i], -1,
					  SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, 1, now_ms());
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		error = -ENOENT;
	else
		error = db_error(st, rc, "cannot find queued task");
out:
	if (own)
		sqlite3_finalize(s);
	else
		stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

/* Whether a task exists, with the lock already held. */
static int exists_locked(struct store *st, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = stmt_get(st, S_EXISTS, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	stmt_done(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_error(st, rc, "cannot read task");
}

int store_task_start(struct store *st, int64_t id, int worker)
{
	sqlite3_stmt *s = NULL;
	int64_t now = now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_START, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, worker);
	sqlite3_bind_int64(s, 3, now);
	error = step_update(st, s, "cannot start task");
	/* The UPDATE only matches a queued task; tell a task in another
	 * state apart from one that does not exist. */
	if (error == -ENOENT) {
		error = exists_locked(st, id);
		if (error == 1)
			error = -EBUSY;
		else if (error == 0)
			error = -ENOENT;
	}
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_worktree(struct store *st, int64_t id, const char *path)
{
	sqlite3_stmt *s = NULL;
	int64_t now = now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_SET_WORKTREE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	if (path)
		sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_int64(s, 3, now);
	error = step_update(st, s, "cannot set worktree");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_commit(struct store *st, int64_t id, const char *from,
			  const char *to)
{
	sqlite3_stmt *s = NULL;
	int64_t now = now_ms();
	int error;

	if (!from || !*from || !to || strlen(to) != 40)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_SET_COMMIT, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	error = step_update(st, s, "cannot set commit");
	if (error == -ENOENT)
		error = -EBUSY;
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_set_pid(struct store *st, int64_t id, int pid)
{
	sqlite3_stmt *s = NULL;
	int64_t now = now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_SET_PID, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, pid);
	sqlite3_bind_int64(s, 3, now);
	error = step_update(st, s, "cannot set pid");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_add_usage(struct store *st, int64_t id,
			 const struct task_usage *u)
{
	sqlite3_stmt *s = NULL;
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_SET_USAGE, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, u->input_tokens);
	sqlite3_bind_int64(s, 3, u->output_tokens);
	sqlite3_bind_int(s, 4, u->turns);
	if (u->cost_usd >= 0)
		sqlite3_bind_double(s, 5, u->cost_usd);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int64(s, 6, now_ms());
	error = step_update(st, s, "cannot record usage");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_totals(struct store *st, struct task_usage *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error = 0;

	memset(out, 0, sizeof(*out));
	out->cost_usd = -1;
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_TOTALS, &s)) < 0)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->input_tokens = sqlite3_column_int64(s, 0);
		out->output_tokens = sqlite3_column_int64(s, 1);
		if (sqlite3_column_type(s, 2) != SQLITE_NULL)
			out->cost_usd = sqlite3_column_double(s, 2);
	} else {
		error = db_error(st, rc, "cannot add up usage");
	}
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_finish(struct store *st, int64_t id, enum task_state state,
		      int exit_code, const char *commit, const char *reason)
{
	sqlite3_stmt *s = NULL;
	int64_t now = now_ms();
	int error;

	/* queued and running have their own transitions, which keep
	 * attempts, started and the worker slot straight. */
	if ((unsigned)state >= TASK_STATE_COUNT || state == TASK_QUEUED ||
	    state == TASK_RUNNING)
		return -EINVAL;
	if (commit && strlen(commit) > 40)
		return -EINVAL;

	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_FINISH, &s)) < 0)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state_names[state], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, exit_code);
	if (commit)
		sqlite3_bind_text(s, 4, commit, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 4);
	if (reason)
		sqlite3_bind_text(s, 5, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int64(s, 6, now);
	error = step_update(st, s, "cannot finish task");
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_task_requeue(struct store *st, int64_t id, const char *reason)
{
	sqlite3_stmt *s = NULL;
	enum task_state want;
	char why[96];
	int64_t now = now_ms();
	int error;

	pthread_mutex_lock(&st->lock);
	if ((error = exec_stmt(st, S_BEGIN)) < 0)
		goto out;
	if ((error = stmt_get(st, S_REQUEUE, &s)) < 0)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	if (reason)
		sqlite3_bind_text(s, 2, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	sqlite3_bind_int64(s, 3, now);
	if ((error = step_update(st, s, "cannot requeue task")) < 0)
		goto fail;
	/* Back in line, but still behind its dependencies: a task
	 * cancelled while it waited waits again when retried. */
	if ((error = state_from_deps(st, id, &want, why, sizeof(why))) < 0 ||
	    (want != TASK_QUEUED &&
	     (error = set_state_locked(st, id, want, why)) < 0))
		goto fail;
	error = exec_stmt(st, S_COMMIT);
fail:
	if (error)
		rollback(st);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_counts(struct store *st, size_t counts[TASK_STATE_COUNT])
{
	sqlite3_stmt *s = NULL;
	enum task_state state;
	int rc, error = 0;

	memset(counts, 0, sizeof(size_t) * TASK_STATE_COUNT);
	pthread_mutex_lock(&st->lock);
	if ((error = stmt_get(st, S_COUNTS, &s)) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* Unknown names cannot be written by this program; skip any
		 * rather than fail every count. */
		if (task_state_parse((const char *)sqlite3_column_text(s, 0),
				     &state) == 0)
			counts[state] = (size_t)sqlite3_column_int64(s, 1);
	}
	if (rc != SQLITE_DONE)
		error = db_error(st, rc, "cannot count tasks");
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int64_t store_last_change(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t t = 0;

	pthread_mutex_lock(&st->lock);
	if (stmt_get(st, S_LAST_CHANGE, &s) < 0)
		goto out;
	/* On an error, 0 ("never") is the safest mtime to show. */
	if (sqlite3_step(s) == SQLITE_ROW)
		t = sqlite3_column_int64(s, 0);
out:
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return t;
}
