/*
 * store/db: the task database's connection: the schema and its
 * migrations, the statement table and cache, and the helpers every other
 * file of the store uses. The store is the only part that speaks SQL.
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
#include "storeint.h"

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

int64_t st_now_ms(void)
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
int st_db_error(struct store *st, int rc, const char *what)
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
int st_stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out)
{
	int rc;

	if (!st->stmt[id]) {
		rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT,
					&st->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return st_db_error(st, rc, "cannot prepare statement");
	}
	*out = st->stmt[id];
	return 0;
}

/* Reset a statement after use so it holds no read lock and no bindings. */
void st_stmt_done(sqlite3_stmt *s)
{
	if (!s)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Run a statement that returns no rows, with nothing to bind. */
int st_exec_stmt(struct store *st, enum stmt_id id)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = st_stmt_get(st, id, &s)) < 0)
		return rc;
	rc = sqlite3_step(s);
	st_stmt_done(s);
	if (rc != SQLITE_DONE)
		return st_db_error(st, rc, stmt_sql[id]);
	return 0;
}

/* Roll back after a failure; the first error is the one to report. */
void st_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		st_exec_stmt(st, S_ROLLBACK);
}

/* Run one UPDATE bound by the caller; -ENOENT when no row matched. */
int st_step_update(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	st_stmt_done(s);
	if (rc != SQLITE_DONE)
		return st_db_error(st, rc, what);
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

void store_set_watch(struct store *st, struct watch *w)
{
	pthread_mutex_lock(&st->lock);
	st->watch = w;
	pthread_mutex_unlock(&st->lock);
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

void st_bind_text_or_null(sqlite3_stmt *s, int col, const char *v)
{
	if (v)
		sqlite3_bind_text(s, col, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, col);
}

char *st_column_strdup(sqlite3_stmt *s, int col, int *oom)
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

char *st_column_blob(sqlite3_stmt *s, int col, size_t *len, int *oom)
{
	/* Ask for the blob before its size, as the SQLite docs advise. */
	const void *blob = sqlite3_column_blob(s, col);
	char *p;

	*len = (size_t)sqlite3_column_bytes(s, col);
	if (!(p = malloc(*len + 1))) {
		*oom = 1;
		return NULL;
	}
	if (*len)
		memcpy(p, blob, *len);
	p[*len] = '\0';
	return p;
}

int st_row_by_id(struct store *st, enum stmt_id q, int64_t id,
		 const char *what, sqlite3_stmt **out)
{
	int rc, error;

	if ((error = st_stmt_get(st, q, out)) < 0)
		return error;
	sqlite3_bind_int64(*out, 1, id);
	rc = sqlite3_step(*out);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return rc == SQLITE_ROW ? 0 : st_db_error(st, rc, what);
}

void st_column_oid(sqlite3_stmt *s, int col, char oid[41])
{
	const unsigned char *text = sqlite3_column_text(s, col);

	snprintf(oid, 41, "%s", text ? (const char *)text : "");
}

/* Collect the first column of every row of a bound statement as ids. */
int st_collect_ids(struct store *st, sqlite3_stmt *s, int64_t **ids,
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
		error = st_db_error(st, rc, "cannot list tasks");

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

int store_totals(struct store *st, struct task_usage *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error = 0;

	memset(out, 0, sizeof(*out));
	out->cost_usd = -1;
	pthread_mutex_lock(&st->lock);
	if ((error = st_stmt_get(st, S_TOTALS, &s)) < 0)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->input_tokens = sqlite3_column_int64(s, 0);
		out->output_tokens = sqlite3_column_int64(s, 1);
		if (sqlite3_column_type(s, 2) != SQLITE_NULL)
			out->cost_usd = sqlite3_column_double(s, 2);
	} else {
		error = st_db_error(st, rc, "cannot add up usage");
	}
out:
	st_stmt_done(s);
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
	if ((error = st_stmt_get(st, S_COUNTS, &s)) < 0)
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* Unknown names cannot be written by this program; skip any
		 * rather than fail every count. */
		if (task_state_parse((const char *)sqlite3_column_text(s, 0),
				     &state) == 0)
			counts[state] = (size_t)sqlite3_column_int64(s, 1);
	}
	if (rc != SQLITE_DONE)
		error = st_db_error(st, rc, "cannot count tasks");
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return error;
}

int64_t store_last_change(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t t = 0;

	pthread_mutex_lock(&st->lock);
	if (st_stmt_get(st, S_LAST_CHANGE, &s) < 0)
		goto out;
	/* On an error, 0 ("never") is the safest mtime to show. */
	if (sqlite3_step(s) == SQLITE_ROW)
		t = sqlite3_column_int64(s, 0);
out:
	st_stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return t;
}
