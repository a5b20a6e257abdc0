/*
 * store/db: the task database's connection: the schema and its
 * migrations, the statement table and cache, and the helpers every other
 * file of the store uses. The store is the only part that speaks SQL.
 *
 * Every statement is a row of stmt_sql, prepared once on first use, and
 * run through the binder, which binds its arguments by a format and
 * steps it: a one-statement write is a line,
 *
 *	return st_write(st, S_SET_PID, "IiI", id, pid, st_now_ms());
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
#include <stdarg.h>
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
	/* 6: a plan's tasks as rows, in the plan's order, instead of the
	 * JSON array "[3,4,5]" in plans.tasks. The recursive split reads
	 * the arrays version 5 wrote (ids and commas, nothing else) without
	 * needing SQLite's JSON functions. The column stays, NULL from now
	 * on: DROP COLUMN needs SQLite 3.35. */
	"CREATE TABLE plan_tasks (plan INTEGER NOT NULL, seq INTEGER NOT NULL,"
	"  task INTEGER NOT NULL, PRIMARY KEY (plan, seq)) WITHOUT ROWID;"
	"WITH RECURSIVE split(plan, seq, task, rest) AS ("
	"  SELECT id, -1, NULL, substr(tasks, 2, length(tasks) - 2) || ','"
	"    FROM plans WHERE tasks IS NOT NULL AND tasks <> '[]'"
	"  UNION ALL"
	"  SELECT plan, seq + 1,"
	"    CAST(substr(rest, 1, instr(rest, ',') - 1) AS INTEGER),"
	"    substr(rest, instr(rest, ',') + 1) FROM split WHERE rest <> '')"
	"INSERT INTO plan_tasks (plan, seq, task)"
	"  SELECT plan, seq, task FROM split WHERE seq >= 0;"
	"UPDATE plans SET tasks = NULL;",
	/* 7: runs, one row per attempt: the worker it ran on, when it
	 * started and ended, and how (done, failed, cancelled, blocked,
	 * requeued by a restart or an unmount; running while it runs), for
	 * the timeline. Triggers keep it, so every way into and out of
	 * running is recorded in the statement that makes it. Attempts
	 * from before this version get a row with worker 0 (not known). */
	"CREATE TABLE runs ("
	"  task INTEGER NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  worker INTEGER NOT NULL DEFAULT 0,"
	"  started INTEGER NOT NULL,"
	"  finished INTEGER NOT NULL DEFAULT 0,"
	"  outcome TEXT NOT NULL DEFAULT 'running',"
	"  PRIMARY KEY (task, attempt)) WITHOUT ROWID;"
	"CREATE INDEX runs_by_started ON runs(started);"
	"INSERT INTO runs (task, attempt, worker, started, finished, outcome)"
	"  SELECT id, attempts, worker, started,"
	"    CASE WHEN state = 'running' THEN 0"
	"    WHEN finished >= started THEN finished ELSE updated END,"
	"    CASE WHEN state IN ('queued', 'waiting') THEN 'requeued'"
	"    WHEN state = 'merged' THEN 'done' ELSE state END"
	"  FROM tasks WHERE attempts > 0 AND started > 0;"
	"CREATE TRIGGER runs_start AFTER UPDATE OF state ON tasks"
	"  WHEN new.state = 'running' AND old.state <> 'running' BEGIN"
	"  INSERT OR REPLACE INTO runs (task, attempt, worker, started)"
	"    VALUES (new.id, new.attempts, new.worker, new.started);"
	"  END;"
	/* Back to queued is a failed attempt waiting out its backoff when
	 * the backoff was set (not_before moved) or an exit code kept, else
	 * a requeue (retry of an ended task, restart, unmount). */
	"CREATE TRIGGER runs_end AFTER UPDATE OF state ON tasks"
	"  WHEN old.state = 'running' AND new.state <> 'running' BEGIN"
	"  UPDATE runs SET finished = new.updated, outcome ="
	"    CASE WHEN new.state <> 'queued' THEN new.state"
	"    WHEN new.not_before <> old.not_before OR new.exit_code <> -1"
	"    THEN 'failed' ELSE 'requeued' END"
	"  WHERE task = new.id AND attempt = old.attempts;"
	"  END;",
	/* 8: a check gate: the command run after the engine (NULL: none),
	 * the fix rounds it allows, and how the last check went (state
	 * running, passed, failed or timeout; its exit code; the round). */
	"ALTER TABLE tasks ADD COLUMN check_cmd TEXT;"
	"ALTER TABLE tasks ADD COLUMN fix_rounds INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN check_state TEXT;"
	"ALTER TABLE tasks ADD COLUMN check_exit INTEGER NOT NULL DEFAULT -1;"
	"ALTER TABLE tasks ADD COLUMN check_round INTEGER NOT NULL DEFAULT 0;",
	/* 9: the merge queue: a row per task in it, in order (mergeq.c). */
	"CREATE TABLE merge_queue ("
	"  task INTEGER PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"
	"  batch INTEGER NOT NULL DEFAULT 0,"
	"  result TEXT,"
	"  updated INTEGER NOT NULL DEFAULT 0,"
	"  fix_of INTEGER NOT NULL DEFAULT 0"
	");",
	/* 10: the notification outbox: one row per event and notifier
	 * ([notify "NAME"]), until it is delivered or given up. The payload
	 * is the JSON sent, its "id" the event's (event_id); the url and
	 * headers stay in the config, never here. */
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  event_id TEXT NOT NULL,"
	"  sink TEXT NOT NULL,"
	"  payload BLOB NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  not_before INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX outbox_due ON outbox(not_before, id);",
	/* 11: spend, a row per report of an engine that has a cost (its
	 * own or by the price table), for the budgets over a window. */
	"CREATE TABLE spend ("
	"  at INTEGER NOT NULL,"
	"  task INTEGER NOT NULL,"
	"  engine TEXT NOT NULL,"
	"  cost_usd REAL NOT NULL"
	");"
	"CREATE INDEX spend_by_at ON spend(at);",
	/* 12: the paths a task owns, a JSON array of globs (NULL: none;
	 * the scheduler's path locks, sched/locks.c). */
	"ALTER TABLE tasks ADD COLUMN paths TEXT;"
	/* and what its last run changed outside them (a JSON array), and
	 * the paths it locks: its globs, those that matched files of its
	 * base commit replaced by the files (NULL: its paths). */
	"ALTER TABLE tasks ADD COLUMN outside TEXT;"
	"ALTER TABLE tasks ADD COLUMN locks TEXT;",
	/* 13: the job a backend runs an attempt as (a SLURM job id), and
	 * the attempt it belongs to: kept before the job can start. */
	"ALTER TABLE tasks ADD COLUMN job TEXT;"
	"ALTER TABLE tasks ADD COLUMN job_attempt INTEGER NOT NULL DEFAULT 0;",
	/* 14: the policy's approvals (a tool call held for a person:
	 * waiting, approved, denied or expired, by whom, and whether an
	 * engine was given the answer) and the audit
	 * log, a row per decision, kept when its task is pruned. */
	"CREATE TABLE approvals ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  task INTEGER NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  engine TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  why TEXT NOT NULL,"
	"  detail TEXT,"
	"  state TEXT NOT NULL DEFAULT 'waiting',"
	"  always INTEGER NOT NULL DEFAULT 0,"
	"  decider TEXT,"
	"  reason TEXT,"
	"  created INTEGER NOT NULL,"
	"  deadline INTEGER NOT NULL,"
	"  decided INTEGER NOT NULL DEFAULT 0,"
	"  answered INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX approvals_task ON approvals(task, id);"
	"CREATE INDEX approvals_state ON approvals(state, id);"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  task INTEGER NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  engine TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  decision TEXT NOT NULL,"
	"  by TEXT NOT NULL,"
	"  rule TEXT,"
	"  who TEXT,"
	"  reason TEXT,"
	"  approval INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX audit_task ON audit(task, id);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const char *const stmt_sql[S_COUNT] = {
	[S_APPROVAL_ADD] = "INSERT INTO approvals (task, attempt, engine,"
		" action, why, created, deadline, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[S_APPROVAL_GET] = "SELECT id, task, attempt, engine, action, why,"
		" state, always, decider, reason, created, deadline, decided,"
		" detail FROM approvals WHERE id = ?1",
	/* waiting, or decided while no engine waited (a restart) */
	[S_APPROVAL_WAITING] = "SELECT id FROM approvals WHERE task = ?1"
		" AND action = ?2 AND (state = 'waiting' OR answered = 0)"
		" ORDER BY id LIMIT 1",
	[S_APPROVAL_ANSWERED] = "UPDATE approvals SET answered = 1"
		" WHERE id = ?1",
	[S_APPROVAL_ALWAYS] = "SELECT id FROM approvals WHERE task = ?1"
		" AND action = ?2 AND state = 'approved' AND always = 1"
		" ORDER BY id LIMIT 1",
	[S_APPROVAL_DECIDE] = "UPDATE approvals SET state = ?2, always = ?3,"
		" decider = ?4, reason = ?5, decided = ?6"
		" WHERE id = ?1 AND state = 'waiting'",
	[S_APPROVAL_PENDING] = "SELECT id FROM approvals"
		" WHERE state = 'waiting' ORDER BY id",
	[S_APPROVAL_ALL] = "SELECT id FROM approvals ORDER BY id",
	[S_APPROVAL_OF_TASK] = "SELECT id FROM approvals WHERE task = ?1"
		" ORDER BY id",
	[S_APPROVAL_OVERDUE] = "SELECT id FROM approvals"
		" WHERE state = 'waiting' AND deadline <= ?1 ORDER BY id",
	[S_AUDIT_ADD] = "INSERT INTO audit (at, task, attempt, engine, action,"
		" decision, by, rule, who, reason, approval)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[S_AUDIT_LIST] = "SELECT id, at, task, attempt, engine, action,"
		" decision, by, rule, who, reason, approval FROM audit"
		" WHERE ?1 = 0 OR task = ?1 ORDER BY id",
	[S_AUDIT_JUDGED] = "SELECT decision, rule FROM audit WHERE task = ?1"
		" AND action = ?2 AND by = 'judge' ORDER BY id LIMIT 1",
	[S_AUDIT_COUNTS] = "SELECT decision, by, count(*) FROM audit"
		" GROUP BY decision, by",
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
	[S_PLAN_GET] = "SELECT id, request, state, engine, approve, plan,"
		       " reason, created, updated FROM plans WHERE id = ?1",
	[S_PLAN_IDS] = "SELECT id FROM plans ORDER BY id",
	[S_PLAN_IDS_IN_STATE] = "SELECT id FROM plans WHERE state = ?1"
				" ORDER BY id",
	/* A NULL plan keeps the one recorded. */
	[S_PLAN_UPDATE] = "UPDATE plans SET state = ?2,"
			  " plan = coalesce(?3, plan), reason = ?4,"
			  " updated = ?5 WHERE id = ?1",
	[S_PLAN_CREATED] = "UPDATE plans SET state = 'created', reason = NULL,"
			   " updated = ?2 WHERE id = ?1",
	[S_PLAN_TASK_CLEAR] = "DELETE FROM plan_tasks WHERE plan = ?1",
	[S_PLAN_TASK_ADD] = "INSERT INTO plan_tasks (plan, seq, task)"
			    " VALUES (?1, ?2, ?3)",
	[S_PLAN_TASK_IDS] = "SELECT task FROM plan_tasks WHERE plan = ?1"
			    " ORDER BY seq",
	/* Only over the commit read: a retry in between clears it. */
	[S_SET_COMMIT] = "UPDATE tasks SET commit_oid = ?3, updated = ?4"
			 " WHERE id = ?1 AND commit_oid = ?2"
			 " AND state IN ('done', 'failed', 'cancelled')",
	[S_OUTBOX_ADD] = "INSERT INTO outbox (event_id, sink, payload, created)"
			 " VALUES (?1, ?2, ?3, ?4)",
	[S_OUTBOX_NEXT] = "SELECT id, event_id, sink, payload, attempts,"
			  " not_before FROM outbox"
			  " ORDER BY not_before, id LIMIT 1",
	[S_OUTBOX_RETRY] = "UPDATE outbox SET attempts = ?2, not_before = ?3"
			   " WHERE id = ?1",
	[S_OUTBOX_REMOVE] = "DELETE FROM outbox WHERE id = ?1",
	[S_TOTALS] = "SELECT coalesce(sum(input_tokens), 0),"
		     " coalesce(sum(output_tokens), 0), sum(cost_usd)"
		     " FROM tasks",
	[S_SPEND_ADD] = "INSERT INTO spend (at, task, engine, cost_usd)"
			" SELECT ?3, id, engine, ?2 FROM tasks WHERE id = ?1",
	/* all engines when ?2 is NULL */
	[S_SPEND_SUM] = "SELECT coalesce(sum(cost_usd), 0) FROM spend"
			" WHERE at >= ?1 AND (?2 IS NULL OR engine = ?2)",
	/* The newest runs first (the index breaks ties by task, attempt). */
	[S_RUNS] = "SELECT task, attempt, worker, started, finished, outcome"
		   " FROM runs ORDER BY started DESC LIMIT ?1",
	[S_TASK_RUNS] = "SELECT task, attempt, worker, started, finished,"
			" outcome FROM runs WHERE task = ?1"
			" ORDER BY attempt DESC LIMIT ?2",
	[S_RECENT] = "SELECT id FROM tasks ORDER BY updated DESC, id DESC"
		     " LIMIT ?1",
	[S_SET_CHECK_SPEC] = "UPDATE tasks SET check_cmd = ?2, fix_rounds = ?3"
			     " WHERE id = ?1",
	[S_GET_CHECK] = "SELECT check_cmd, fix_rounds, check_state,"
			" check_exit, check_round FROM tasks WHERE id = ?1",
	[S_SET_CHECK] = "UPDATE tasks SET check_state = ?2, check_exit = ?3,"
			" check_round = ?4, updated = ?5 WHERE id = ?1",
	[S_SET_PATHS] = "UPDATE tasks SET paths = ?2, locks = ?3 WHERE id = ?1",
	[S_GET_PATHS] = "SELECT paths, outside, coalesce(locks, paths)"
			" FROM tasks WHERE id = ?1",
	[S_SET_OUTSIDE] = "UPDATE tasks SET outside = ?2 WHERE id = ?1",
	/* The merge queue (mergeq.c). A task ended in the queue (landed,
	 * rejected, dropped) may join it again at its end; one in it
	 * keeps its place (no row changes: -EEXIST). */
	[S_MQ_ADD] = "INSERT INTO merge_queue (task, seq, state, batch, result,"
		     " updated, fix_of) VALUES (?1, (SELECT coalesce(max(seq),"
		     " 0) + 1 FROM merge_queue), ?2, 0, NULL, ?3, ?4)"
		     " ON CONFLICT (task) DO UPDATE SET seq = excluded.seq,"
		     " state = excluded.state, batch = 0, result = NULL,"
		     " updated = excluded.updated, fix_of = excluded.fix_of"
		     " WHERE state IN ('landed', 'rejected', 'dropped')",
	[S_MQ_SET] = "UPDATE merge_queue SET state = ?2, batch = ?3,"
		     " result = ?4, updated = ?5 WHERE task = ?1",
	[S_MQ_RESUME] = "UPDATE merge_queue SET state = 'waiting', batch = 0"
			" WHERE state = 'checking'",
	/* those still to go, then the last ?1 ended ones, in order */
	[S_MQ_LIST] = "SELECT task, seq, state, batch, result, updated, fix_of"
		      " FROM (SELECT * FROM merge_queue WHERE state IN"
		      " ('pending', 'waiting', 'checking') UNION ALL"
		      " SELECT * FROM (SELECT * FROM merge_queue WHERE state"
		      " NOT IN ('pending', 'waiting', 'checking')"
		      " ORDER BY seq DESC LIMIT ?1)) ORDER BY seq",
	[S_SET_JOB] = "UPDATE tasks SET job = ?2, job_attempt = attempts,"
		      " updated = ?3 WHERE id = ?1",
	[S_GET_JOB] = "SELECT job FROM tasks WHERE id = ?1"
		      " AND job_attempt = attempts AND state = 'running'",
};

/* What failed, for the message on stderr; NULL: the statement's text. */
static const char *const stmt_what[S_COUNT] = {
	[S_INSERT] = "cannot insert task",
	[S_SET_BRANCH] = "cannot name task branch",
	[S_GET] = "cannot read task",
	[S_EXISTS] = "cannot read task",
	[S_BRANCH_OWNER] = "cannot look up a branch",
	[S_IDS] = "cannot list tasks",
	[S_IDS_IN_STATE] = "cannot list tasks",
	[S_NEXT_QUEUED] = "cannot find queued task",
	[S_START] = "cannot start task",
	[S_SET_WORKTREE] = "cannot set worktree",
	[S_SET_PID] = "cannot set pid",
	[S_FINISH] = "cannot finish task",
	[S_REQUEUE] = "cannot requeue task",
	[S_COUNTS] = "cannot count tasks",
	[S_LAST_CHANGE] = "cannot read the last change",
	[S_SET_USAGE] = "cannot record usage",
	[S_TOTALS] = "cannot add up usage",
	[S_SPEND_ADD] = "cannot record spend",
	[S_SPEND_SUM] = "cannot add up spend",
	[S_ADD_DEP] = "cannot add dependency",
	[S_STATE_OF] = "cannot read task state",
	[S_DEPS] = "cannot list tasks",
	[S_DEPENDENTS] = "cannot list tasks",
	[S_SET_STATE] = "cannot set task state",
	[S_SET_PRIORITY] = "cannot set priority",
	[S_NEXT_DUE] = "cannot read the next backoff",
	[S_BACKOFF] = "cannot schedule a retry",
	[S_SET_BASE] = "cannot set base",
	[S_PLAN_INSERT] = "cannot insert plan",
	[S_PLAN_GET] = "cannot read plan",
	[S_PLAN_IDS] = "cannot list plans",
	[S_PLAN_IDS_IN_STATE] = "cannot list plans",
	[S_PLAN_UPDATE] = "cannot update plan",
	[S_PLAN_CREATED] = "cannot record the plan's tasks",
	[S_PLAN_TASK_CLEAR] = "cannot record the plan's tasks",
	[S_PLAN_TASK_ADD] = "cannot record the plan's tasks",
	[S_PLAN_TASK_IDS] = "cannot list the plan's tasks",
	[S_SET_COMMIT] = "cannot set commit",
	[S_SET_CHECK_SPEC] = "cannot record task check",
	[S_GET_CHECK] = "cannot read task check",
	[S_SET_CHECK] = "cannot record task check",
	[S_SET_PATHS] = "cannot record the task's paths",
	[S_GET_PATHS] = "cannot read the task's paths",
	[S_SET_OUTSIDE] = "cannot record the task's paths",
	[S_MQ_ADD] = "cannot add to the merge queue",
	[S_SET_JOB] = "cannot record the task's job",
	[S_GET_JOB] = "cannot read the task's job",
	[S_MQ_SET] = "cannot update the merge queue",
	[S_MQ_RESUME] = "cannot resume the merge queue",
	[S_MQ_LIST] = "cannot read the merge queue",
	[S_OUTBOX_ADD] = "cannot queue a notification",
	[S_OUTBOX_NEXT] = "cannot read the outbox",
	[S_OUTBOX_RETRY] = "cannot update the outbox",
	[S_OUTBOX_REMOVE] = "cannot update the outbox",
};

static const char *what_of(enum stmt_id id)
{
	return stmt_what[id] ? stmt_what[id] : stmt_sql[id];
}

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

/*
 * The binder. fmt has one letter per parameter, ?1 first:
 *	i  int			I  int64_t
 *	s  const char *, text	T  const char *, text or NULL
 *	b  const void *, size_t: a blob (a non-NULL pointer even when empty)
 *	D  double, NULL when < 0 (an unknown cost)
 * Text and blobs are bound SQLITE_STATIC: they must outlive the step,
 * which they do as the caller's arguments.
 */
static int vbind(struct store *st, enum stmt_id id, sqlite3_stmt **out,
		 const char *fmt, va_list ap)
{
	sqlite3_stmt *s;
	const char *t;
	const void *p;
	double d;
	int rc = SQLITE_OK, i, error;

	if ((error = st_stmt_get(st, id, &s)) < 0)
		return error;
	for (i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 'i':
			rc = sqlite3_bind_int(s, i, va_arg(ap, int));
			break;
		case 'I':
			rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
			break;
		case 's':
		case 'T':
			t = va_arg(ap, const char *);
			rc = t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) :
			     sqlite3_bind_null(s, i);
			break;
		case 'b':
			p = va_arg(ap, const void *);
			rc = sqlite3_bind_blob64(s, i, p, va_arg(ap, size_t),
						 SQLITE_STATIC);
			break;
		case 'D':
			d = va_arg(ap, double);
			rc = d >= 0 ? sqlite3_bind_double(s, i, d) :
			     sqlite3_bind_null(s, i);
			break;
		default:
			rc = SQLITE_MISUSE;
		}
	}
	/* A format that does not fit the statement is this file's bug. */
	if (rc == SQLITE_OK && i - 1 != sqlite3_bind_parameter_count(s))
		rc = SQLITE_RANGE;
	if (rc != SQLITE_OK) {
		st_stmt_done(s);
		return st_db_error(st, rc, what_of(id));
	}
	*out = s;
	return 0;
}

int st_query(struct store *st, enum stmt_id id, sqlite3_stmt **out,
	     const char *fmt, ...)
{
	va_list ap;
	int error;

	*out = NULL;
	va_start(ap, fmt);
	error = vbind(st, id, out, fmt, ap);
	va_end(ap);
	return error;
}

/* Step a bound statement to its end and reset it. */
static int run_bound(struct store *st, enum stmt_id id, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	st_stmt_done(s);
	return rc == SQLITE_DONE ? 0 : st_db_error(st, rc, what_of(id));
}

int st_run(struct store *st, enum stmt_id id, const char *fmt, ...)
{
	sqlite3_stmt *s;
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = vbind(st, id, &s, fmt, ap);
	va_end(ap);
	return error < 0 ? error : run_bound(st, id, s);
}

static int vupdate(struct store *st, enum stmt_id id, const char *fmt,
		   va_list ap)
{
	sqlite3_stmt *s;
	int error;

	if ((error = vbind(st, id, &s, fmt, ap)) < 0 ||
	    (error = run_bound(st, id, s)) < 0)
		return error;
	return sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
}

int st_update(struct store *st, enum stmt_id id, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = vupdate(st, id, fmt, ap);
	va_end(ap);
	return error;
}

int st_write(struct store *st, enum stmt_id id, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	pthread_mutex_lock(&st->lock);
	error = vupdate(st, id, fmt, ap);
	pthread_mutex_unlock(&st->lock);
	va_end(ap);
	return error;
}

int st_row(struct store *st, enum stmt_id id, sqlite3_stmt **out,
	   const char *fmt, ...)
{
	va_list ap;
	int rc, error;

	*out = NULL;
	va_start(ap, fmt);
	error = vbind(st, id, out, fmt, ap);
	va_end(ap);
	if (error < 0)
		return error;
	rc = sqlite3_step(*out);
	if (rc == SQLITE_ROW)
		return 0;
	st_stmt_done(*out);
	*out = NULL;
	return rc == SQLITE_DONE ? -ENOENT : st_db_error(st, rc, what_of(id));
}

/* The first column of every row of s, as ids; s is reset after. */
static int collect_ids(struct store *st, enum stmt_id id, sqlite3_stmt *s,
		       int64_t **ids, size_t *n)
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
		error = st_db_error(st, rc, what_of(id));

out:
	st_stmt_done(s);
	if (error) {
		free(v);
		v = NULL;
		len = 0;
	}
	*ids = v;
	*n = len;
	return error;
}

static int vids(struct store *st, enum stmt_id id, int64_t **ids, size_t *n,
		const char *fmt, va_list ap)
{
	sqlite3_stmt *s;
	int error;

	*ids = NULL;
	*n = 0;
	if ((error = vbind(st, id, &s, fmt, ap)) < 0)
		return error;
	return collect_ids(st, id, s, ids, n);
}

int st_ids(struct store *st, enum stmt_id id, int64_t **ids, size_t *n,
	   const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = vids(st, id, ids, n, fmt, ap);
	va_end(ap);
	return error;
}

int st_read_ids(struct store *st, enum stmt_id id, int64_t **ids, size_t *n,
		const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	pthread_mutex_lock(&st->lock);
	error = vids(st, id, ids, n, fmt, ap);
	pthread_mutex_unlock(&st->lock);
	va_end(ap);
	return error;
}

/* Roll back after a failure; the first error is the one to report. */
void st_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		st_run(st, S_ROLLBACK, "");
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

void st_column_oid(sqlite3_stmt *s, int col, char oid[OID_HEX_SIZE])
{
	const unsigned char *text = sqlite3_column_text(s, col);

	snprintf(oid, OID_HEX_SIZE, "%s", text ? (const char *)text : "");
}
