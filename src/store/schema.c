/*
 * store/schema: the store's two tables of SQL. st_migrations: each entry
 * takes the database from version i to i + 1 (append; never edit one
 * that has shipped); store/db.c applies the missing ones in one
 * transaction. st_stmt_sql: every statement, by its id in storeint.h,
 * and st_stmt_what: what a failure of it is called in a message.
 */
#include <stddef.h>

#include "storeint.h"

const char *const st_migrations[] = {
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

const int st_schema_version =
	(int)(sizeof(st_migrations) / sizeof(st_migrations[0]));

const char *const st_stmt_sql[S_COUNT] = {
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
	[S_IDS_AFTER] = "SELECT id FROM tasks WHERE id > ?1 ORDER BY id"
			" LIMIT ?2",
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
const char *const st_stmt_what[S_COUNT] = {
	[S_INSERT] = "cannot insert task",
	[S_SET_BRANCH] = "cannot name task branch",
	[S_GET] = "cannot read task",
	[S_EXISTS] = "cannot read task",
	[S_BRANCH_OWNER] = "cannot look up a branch",
	[S_IDS] = "cannot list tasks",
	[S_IDS_AFTER] = "cannot list tasks",
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
