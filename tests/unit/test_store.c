/*
 * Unit tests for the task store, against real SQLite files in a
 * temporary directory.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "schema.h"
#include "store.h"

#define BASE "0123456789abcdef0123456789abcdef01234567"
#define COMMIT "89abcdef0123456789abcdef0123456789abcdef"

static char tmpdir[64];

static int64_t now_ms_for_test(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
static int dbcount;

/* A fresh database path for each test. */
static void new_path(char *path, size_t len)
{
	snprintf(path, len, "%s/state-%d.db", tmpdir, ++dbcount);
}

static struct store *open_new(char *path, size_t len)
{
	struct store *st = NULL;
	char err[256];

	new_path(path, len);
	if (store_open(&st, path, err, sizeof(err)) < 0)
		fprintf(stderr, "store_open: %s\n", err);
	return st;
}

static void test_create_and_get_round_trip(void)
{
	const char prompt[] = "fix the tests\n\nthen run them: \xc3\xa9t\xc3\xa9 \xe2\x9c\x93\n";
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task t;
	int64_t id = 0;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = prompt, .len = sizeof(prompt) - 1,
		.engine = "sh", .base = BASE }, &id) == 0);
	CHECK(id > 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.id == id);
	CHECK(t.prompt_len == sizeof(prompt) - 1);
	CHECK(!memcmp(t.prompt, prompt, sizeof(prompt)));	/* NUL too */
	CHECK_STR(t.engine, "sh");
	CHECK(t.state == TASK_QUEUED);
	CHECK_STR(t.base, BASE);
	CHECK_STR(t.commit, "");
	CHECK(t.branch && !strncmp(t.branch, "pai/task-", 9) &&
	      strtoll(t.branch + 9, NULL, 10) == id);
	CHECK(t.worktree == NULL);
	CHECK(t.reason == NULL);
	CHECK(t.exit_code == -1);
	CHECK(t.attempts == 0);
	CHECK(t.worker == 0);
	CHECK(t.pid == 0);
	CHECK(t.created > 0);
	CHECK(t.started == 0);
	CHECK(t.finished == 0);
	CHECK(t.updated == t.created);
	task_release(&t);
	CHECK(t.prompt == NULL);
	store_close(st);
}

static void test_empty_prompt_round_trips(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task t;
	int64_t id;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "", .len = 0,
		.engine = "sh", .base = BASE }, &id) == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.prompt_len == 0);
	CHECK_STR(t.prompt, "");
	task_release(&t);
	store_close(st);
}

static void test_ids_ascend_and_next_queued_is_fifo(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	int64_t ids[5], id, *all = NULL;
	size_t n = 99;
	int i;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_ids(st, &all, &n) == 0);
	CHECK(n == 0 && all == NULL);
	CHECK(store_task_next_queued(st, &id) == -ENOENT);

	for (i = 0; i < 5; i++) {
		CHECK(store_task_create(st, &(struct task_new){ .prompt = "p", .len = 1,
		.engine = "sh", .base = BASE }, &ids[i]) == 0);
		if (i)
			CHECK(ids[i] > ids[i - 1]);
	}
	CHECK(store_task_ids(st, &all, &n) == 0);
	CHECK(n == 5);
	for (i = 0; i < 5 && (size_t)i < n; i++)
		CHECK(all[i] == ids[i]);
	free(all);

	for (i = 0; i < 5; i++) {
		CHECK(store_task_next_queued(st, &id) == 0);
		CHECK(id == ids[i]);
		CHECK(store_task_start(st, id, i + 1) == 0);
	}
	CHECK(store_task_next_queued(st, &id) == -ENOENT);

	/* A requeued task goes back in line by its id, not at the end. */
	CHECK(store_task_requeue(st, ids[3], NULL) == 0);
	CHECK(store_task_requeue(st, ids[1], NULL) == 0);
	CHECK(store_task_next_queued(st, &id) == 0);
	CHECK(id == ids[1]);
	store_close(st);
}

static void test_start_finish_requeue_transitions(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task t;
	int64_t id;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "go", .len = 2,
		.engine = "claude", .base = BASE }, &id) == 0);

	CHECK(store_task_start(st, id, 3) == 0);
	CHECK(store_task_start(st, id, 4) == -EBUSY);
	CHECK(store_task_set_worktree(st, id, "/tmp/wt/1") == 0);
	CHECK(store_task_set_pid(st, id, 4242) == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.state == TASK_RUNNING);
	CHECK(t.attempts == 1);
	CHECK(t.worker == 3);
	CHECK(t.pid == 4242);
	CHECK(t.started > 0);
	CHECK_STR(t.worktree, "/tmp/wt/1");
	CHECK(t.updated >= t.started);
	task_release(&t);

	CHECK(store_task_finish(st, id, TASK_FAILED, 2, COMMIT,
				"exit status 2") == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.state == TASK_FAILED);
	CHECK(t.exit_code == 2);
	CHECK_STR(t.commit, COMMIT);
	CHECK_STR(t.reason, "exit status 2");
	CHECK(t.worker == 0);
	CHECK(t.pid == 0);
	CHECK(t.finished >= t.started);
	CHECK(t.attempts == 1);
	task_release(&t);
	CHECK(store_task_start(st, id, 1) == -EBUSY);

	CHECK(store_task_requeue(st, id, "retry 2 of 3") == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.state == TASK_QUEUED);
	CHECK(t.exit_code == -1);
	CHECK_STR(t.commit, "");
	CHECK_STR(t.reason, "retry 2 of 3");
	CHECK(t.worker == 0);
	CHECK(t.pid == 0);
	CHECK(t.attempts == 1);
	CHECK_STR(t.worktree, "/tmp/wt/1");
	task_release(&t);

	CHECK(store_task_start(st, id, 2) == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.attempts == 2);
	CHECK(t.pid == 0);
	task_release(&t);

	CHECK(store_task_set_pid(st, id, 77) == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.state == TASK_RUNNING);
	CHECK(t.pid == 77);
	task_release(&t);

	/* NULL reason clears it; NULL commit keeps the recorded one. */
	CHECK(store_task_finish(st, id, TASK_DONE, 0, COMMIT, NULL) == 0);
	CHECK(store_task_finish(st, id, TASK_MERGED, 0, NULL, NULL) == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.state == TASK_MERGED);
	CHECK_STR(t.commit, COMMIT);
	CHECK(t.reason == NULL);
	task_release(&t);

	CHECK(store_task_finish(st, id, TASK_RUNNING, 0, NULL, NULL) ==
	      -EINVAL);
	/* A backoff keeps the failed attempt's code; the next start, whose
	 * engine has not exited yet, has none. */
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "b",
		.len = 1, .engine = "sh", .base = BASE }, &id) == 0);
	CHECK(store_task_start(st, id, 1) == 0);
	CHECK(store_task_backoff(st, id, 1, 9, "exit status 9") == 0);
	CHECK(store_task_start(st, id, 1) == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.exit_code == -1);
	task_release(&t);
	store_close(st);
}

static void test_missing_task_is_enoent(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task t;
	int64_t id;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_get(st, 12345, &t) == -ENOENT);
	CHECK(t.prompt == NULL);
	CHECK(store_task_exists(st, 12345) == 0);
	CHECK(store_task_start(st, 12345, 1) == -ENOENT);
	CHECK(store_task_set_worktree(st, 12345, "/x") == -ENOENT);
	CHECK(store_task_set_pid(st, 12345, 1) == -ENOENT);
	CHECK(store_task_finish(st, 12345, TASK_DONE, 0, NULL, NULL) ==
	      -ENOENT);
	CHECK(store_task_requeue(st, 12345, NULL) == -ENOENT);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "x", .len = 1,
		.engine = "sh", .base = BASE }, &id) == 0);
	CHECK(store_task_exists(st, id) == 1);
	store_close(st);
}

static void test_counts_and_states(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	size_t counts[TASK_STATE_COUNT], n;
	int64_t ids[4], *list;
	int i;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_counts(st, counts) == 0);
	for (i = 0; i < TASK_STATE_COUNT; i++)
		CHECK(counts[i] == 0);
	CHECK(store_last_change(st) == 0);

	for (i = 0; i < 4; i++)
		CHECK(store_task_create(st, &(struct task_new){ .prompt = "p", .len = 1,
		.engine = "sh", .base = BASE }, &ids[i]) == 0);
	CHECK(store_task_start(st, ids[0], 1) == 0);
	CHECK(store_task_start(st, ids[1], 2) == 0);
	CHECK(store_task_finish(st, ids[1], TASK_DONE, 0, COMMIT, NULL) == 0);
	CHECK(store_task_finish(st, ids[2], TASK_CANCELLED, -1, NULL,
				"cancelled by user") == 0);

	CHECK(store_counts(st, counts) == 0);
	CHECK(counts[TASK_QUEUED] == 1);
	CHECK(counts[TASK_RUNNING] == 1);
	CHECK(counts[TASK_DONE] == 1);
	CHECK(counts[TASK_CANCELLED] == 1);
	CHECK(counts[TASK_FAILED] == 0);

	CHECK(store_tasks_in_state(st, TASK_QUEUED, &list, &n) == 0);
	CHECK(n == 1 && list[0] == ids[3]);
	free(list);
	CHECK(store_tasks_in_state(st, TASK_MERGED, &list, &n) == 0);
	CHECK(n == 0 && list == NULL);
	CHECK(store_last_change(st) > 0);
	store_close(st);
}

static void test_state_names(void)
{
	static const char *const names[] = {
		"queued", "running", "done", "failed", "cancelled", "merged",
		"waiting", "blocked", "rejected",
	};
	enum task_state s;
	int i;

	for (i = 0; i < TASK_STATE_COUNT; i++) {
		CHECK_STR(task_state_name((enum task_state)i), names[i]);
		CHECK(task_state_parse(names[i], &s) == 0 && (int)s == i);
	}
	CHECK(task_state_parse("Queued", &s) == -EINVAL);
	CHECK(task_state_parse("", &s) == -EINVAL);
}

static void test_reopen_keeps_everything(void)
{
	char path[128], err[256];
	struct store *st = open_new(path, sizeof(path));
	struct task t;
	int64_t a, b, c;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "first", .len = 5,
		.engine = "sh", .base = BASE }, &a) == 0);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "second", .len = 6,
		.engine = "sh", .base = BASE }, &b) == 0);
	CHECK(store_task_start(st, b, 1) == 0);
	CHECK(store_task_finish(st, b, TASK_DONE, 0, COMMIT, NULL) == 0);
	store_close(st);

	st = NULL;
	CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	if (!st)
		return;
	CHECK(store_task_get(st, a, &t) == 0);
	CHECK(t.state == TASK_QUEUED);
	CHECK(t.prompt_len == 5 && !memcmp(t.prompt, "first", 5));
	task_release(&t);
	CHECK(store_task_get(st, b, &t) == 0);
	CHECK(t.state == TASK_DONE);
	CHECK_STR(t.commit, COMMIT);
	task_release(&t);
	/* Ids are never reused, even after a reopen. */
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "third", .len = 5,
		.engine = "sh", .base = BASE }, &c) == 0);
	CHECK(c > b);
	store_close(st);
}

static void test_kill_9_keeps_created_task(void)
{
	char path[128], err[256];
	struct store *st = NULL;
	struct task t;
	int64_t id = 0;
	int fds[2], status;
	pid_t pid;

	new_path(path, sizeof(path));
	CHECK(pipe(fds) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The child dies without closing anything, as after kill -9. */
		if (store_open(&st, path, err, sizeof(err)) == 0 &&
		    store_task_create(st, &(struct task_new){ .prompt = "survive", .len = 7,
		.engine = "sh", .base = BASE }, &id) == 0 &&
		    write(fds[1], &id, sizeof(id)) == sizeof(id))
			kill(getpid(), SIGKILL);
		_exit(1);
	}
	close(fds[1]);
	CHECK(read(fds[0], &id, sizeof(id)) == sizeof(id));
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	if (!st)
		return;
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK(t.prompt_len == 7 && !memcmp(t.prompt, "survive", 7));
	task_release(&t);
	store_close(st);
}

static void test_schema_version_and_wal(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	CHECK(st);
	store_close(st);

	CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	      SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
	      SQLITE_OK);
	CHECK(sqlite3_step(s) == SQLITE_ROW);
	CHECK(sqlite3_column_int(s, 0) >= 1);
	sqlite3_finalize(s);
	CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL) ==
	      SQLITE_OK);
	CHECK(sqlite3_step(s) == SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void test_model_and_options_round_trip(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task t;
	int64_t id;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "p", .len = 1,
		.engine = "claude", .model = "opus",
		.options = "{\"args\":[\"-x\"]}", .base = BASE }, &id) == 0);
	CHECK(store_task_get(st, id, &t) == 0);
	CHECK_STR(t.model, "opus");
	CHECK_STR(t.options, "{\"args\":[\"-x\"]}");
	task_release(&t);
	store_close(st);
}

static void test_check_round_trip(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task_check c;
	int64_t id, plain;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "p", .len = 1,
		.engine = "sh", .base = BASE, .check = "make test",
		.fix_rounds = 2 }, &id) == 0);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "q", .len = 1,
		.engine = "sh", .base = BASE }, &plain) == 0);
	CHECK(store_task_check_get(st, id, &c) == 0);
	CHECK_STR(c.command, "make test");
	CHECK(c.fix_rounds == 2 && !*c.state && c.exit_code == -1 &&
	      c.round == 0);
	task_check_release(&c);
	CHECK(store_task_set_check(st, id, "failed", 2, 2) == 0);
	CHECK(store_task_check_get(st, id, &c) == 0);
	CHECK_STR(c.state, "failed");
	CHECK(c.exit_code == 2 && c.round == 2);
	task_check_release(&c);
	CHECK(store_task_set_check(st, id, NULL, -1, 1) == 0);
	CHECK(store_task_check_get(st, id, &c) == 0);
	CHECK(!*c.state && c.exit_code == -1 && c.round == 1);
	task_check_release(&c);
	CHECK(store_task_check_get(st, plain, &c) == 0);
	CHECK(c.command == NULL);
	task_check_release(&c);
	CHECK(store_task_check_get(st, 99, &c) == -ENOENT);
	CHECK(store_task_set_check(st, 99, "passed", 0, 1) == -ENOENT);
	store_close(st);
}

static enum task_state state_of(struct store *st, int64_t id)
{
	struct task t;
	enum task_state s = TASK_STATE_COUNT;

	if (store_task_get(st, id, &t) == 0) {
		s = t.state;
		task_release(&t);
	}
	return s;
}

static void test_dependencies_wait_block_and_release(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct dep_change *ch = NULL;
	size_t n = 0;
	int64_t a, b, c, d, missing = 999;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "a", .len = 1,
		.engine = "sh", .base = BASE }, &a) == 0);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "b", .len = 1,
		.engine = "sh", .base = BASE, .depends = &a, .n_depends = 1 },
		&b) == 0);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "c", .len = 1,
		.engine = "sh", .base = BASE, .depends = &b, .n_depends = 1 },
		&c) == 0);
	CHECK(state_of(st, b) == TASK_WAITING && state_of(st, c) == TASK_WAITING);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "x", .len = 1,
		.engine = "sh", .base = BASE, .depends = &missing,
		.n_depends = 1 }, &d) == -ENOENT);

	/* a fails: b and c are blocked, down the chain */
	CHECK(store_task_start(st, a, 1) == 0);
	CHECK(store_task_finish(st, a, TASK_FAILED, 1, NULL, "boom") == 0);
	CHECK(store_deps_settle(st, a, &ch, &n) == 0);
	CHECK(n == 2 && ch[0].task == b && ch[0].state == TASK_BLOCKED);
	CHECK_STR(ch[0].reason, "dependency 1 failed");
	CHECK(ch[1].task == c && ch[1].state == TASK_BLOCKED);
	free(ch);
	/* a new task on a failed dependency is blocked from the start */
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "d", .len = 1,
		.engine = "sh", .base = BASE, .depends = &a, .n_depends = 1 },
		&d) == 0);
	CHECK(state_of(st, d) == TASK_BLOCKED);

	/* retried, they wait again; done, b is released, c still waits */
	CHECK(store_task_requeue(st, a, NULL) == 0);
	CHECK(store_deps_settle(st, a, &ch, &n) == 0);
	CHECK(n == 3);
	free(ch);
	CHECK(state_of(st, c) == TASK_WAITING);
	CHECK(store_task_start(st, a, 1) == 0);
	CHECK(store_task_finish(st, a, TASK_DONE, 0, COMMIT, NULL) == 0);
	CHECK(store_deps_settle(st, a, &ch, &n) == 0);
	CHECK(state_of(st, b) == TASK_QUEUED && state_of(st, d) == TASK_QUEUED);
	CHECK(state_of(st, c) == TASK_WAITING);
	free(ch);
	store_close(st);
}

static void test_batch_is_all_or_nothing(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	int64_t ids[3], one = -1, two[2] = { -1, -2 }, bad = 12345, all = 0;
	struct task_new v[3] = {
		{ .prompt = "m1", .len = 2, .engine = "sh", .base = BASE },
		{ .prompt = "m2", .len = 2, .engine = "sh", .base = BASE,
		  .depends = &one, .n_depends = 1 },
		{ .prompt = "r", .len = 1, .engine = "sh", .base = BASE,
		  .depends = two, .n_depends = 2 },
	};
	int64_t *deps = NULL;
	size_t n = 0;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_tasks_create(st, v, 3, ids) == 0);
	CHECK(state_of(st, ids[1]) == TASK_WAITING);
	CHECK(store_task_deps(st, ids[2], &deps, &n) == 0);
	CHECK(n == 2 && deps[0] == ids[0] && deps[1] == ids[1]);
	free(deps);
	v[2].depends = &bad;
	v[2].n_depends = 1;
	CHECK(store_tasks_create(st, v, 3, ids) == -ENOENT);
	CHECK(store_task_ids(st, &deps, &n) == 0);
	CHECK(n == 3);		/* nothing of the failed batch */
	free(deps);
	(void)all;
	store_close(st);
}

static void test_priority_then_age_and_backoff(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	int64_t lo, hi, id = 0;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "lo", .len = 2,
		.engine = "sh", .base = BASE }, &lo) == 0);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "hi", .len = 2,
		.engine = "sh", .base = BASE, .priority = 5 }, &hi) == 0);
	CHECK(store_task_next_queued(st, &id) == 0 && id == hi);
	CHECK(store_task_set_priority(st, lo, 9) == 0);
	CHECK(store_task_next_queued(st, &id) == 0 && id == lo);
	CHECK(store_task_start(st, lo, 1) == 0);
	CHECK(store_task_set_priority(st, lo, 1) == -EBUSY);
	CHECK(store_task_set_priority(st, 777, 1) == -ENOENT);
	/* a backoff keeps it out of the queue until its time */
	CHECK(store_task_backoff(st, lo, now_ms_for_test() + 60000, 1,
				 "exit status 1") == 0);
	CHECK(store_task_next_queued(st, &id) == 0 && id == hi);
	CHECK(store_next_due(st) > now_ms_for_test());
	store_close(st);
}

static void test_next_queued_skips_engines(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	const char *claude[] = { "claude" }, *both[] = { "claude", "sh" };
	int64_t a, b, id = 0;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "x", .len = 1,
		.engine = "claude", .base = BASE }, &a) == 0);
	CHECK(store_task_create(st, &(struct task_new){ .prompt = "y", .len = 1,
		.engine = "sh", .base = BASE }, &b) == 0);
	CHECK(store_task_next_queued_except(st, NULL, 0, &id) == 0 && id == a);
	CHECK(store_task_next_queued_except(st, claude, 1, &id) == 0 && id == b);
	CHECK(store_task_next_queued_except(st, both, 2, &id) == -ENOENT);
	store_close(st);
}

/* A database written by schema 1 opens, keeps its task, gains usage. */
static void test_version_1_database_is_migrated(void)
{
	char path[128], err[256];
	struct store *st = NULL;
	struct task_usage u = { 100, 20, 3, 0.25 }, tot;
	struct task t;
	sqlite3 *db = NULL;

	new_path(path, sizeof(path));
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db,
		"CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT,"
		" prompt BLOB NOT NULL, engine TEXT NOT NULL, state TEXT NOT NULL,"
		" base TEXT NOT NULL DEFAULT '', commit_oid TEXT NOT NULL DEFAULT '',"
		" branch TEXT NOT NULL DEFAULT '', worktree TEXT, reason TEXT,"
		" exit_code INTEGER NOT NULL DEFAULT -1,"
		" attempts INTEGER NOT NULL DEFAULT 0,"
		" worker INTEGER NOT NULL DEFAULT 0, pid INTEGER NOT NULL DEFAULT 0,"
		" created INTEGER NOT NULL DEFAULT 0,"
		" started INTEGER NOT NULL DEFAULT 0,"
		" finished INTEGER NOT NULL DEFAULT 0,"
		" updated INTEGER NOT NULL DEFAULT 0);"
		"INSERT INTO tasks (prompt, engine, state, branch)"
		" VALUES ('old', 'sh', 'done', 'pai/task-1');"
		"PRAGMA user_version = 1;", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	if (!st)
		return;
	CHECK(store_task_get(st, 1, &t) == 0);
	CHECK_STR(t.prompt, "old");
	CHECK(t.model == NULL && t.input_tokens == 0 && t.cost_usd < 0);
	task_release(&t);
	CHECK(store_task_add_usage(st, 1, &u) == 0);
	CHECK(store_task_add_usage(st, 1, &u) == 0);
	CHECK(store_task_get(st, 1, &t) == 0);
	CHECK(t.input_tokens == 200 && t.output_tokens == 40 && t.turns == 6);
	CHECK(t.cost_usd > 0.49 && t.cost_usd < 0.51);
	task_release(&t);
	CHECK(store_totals(st, &tot) == 0);
	CHECK(tot.input_tokens == 200 && tot.output_tokens == 40);
	CHECK(store_task_add_usage(st, 99, &u) == -ENOENT);
	/* each report with a cost is a row of spend, by engine and time */
	{
		double usd = 0;
		struct task_usage nocost = { 5, 5, 1, -1 };

		CHECK(store_task_add_usage(st, 1, &nocost) == 0);
		CHECK(store_spend(st, 0, NULL, &usd) == 0);
		CHECK(usd > 0.49 && usd < 0.51);
		CHECK(store_spend(st, 0, "sh", &usd) == 0);
		CHECK(usd > 0.49 && usd < 0.51);
		CHECK(store_spend(st, 0, "claude", &usd) == 0 && usd == 0);
		CHECK(store_spend(st, now_ms_for_test() + 60000, NULL, &usd) == 0 &&
		      usd == 0);
	}
	/* a task from before check gates has none */
	{
		struct task_check c;

		CHECK(store_task_check_get(st, 1, &c) == 0);
		CHECK(c.command == NULL && c.round == 0);
		task_check_release(&c);
	}
	store_close(st);
}

/* A plan's tasks come back as ids, in the order they were made; a plan
 * without tasks has none. */
static void test_plan_tasks_are_ids_in_order(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task_new v[3] = {
		{ .prompt = "a", .len = 1, .engine = "sh", .base = BASE },
		{ .prompt = "b", .len = 1, .engine = "sh", .base = BASE },
		{ .prompt = "c", .len = 1, .engine = "sh", .base = BASE },
	};
	int64_t ids[3], other, plan, empty;
	struct plan pl;

	CHECK(st);
	if (!st)
		return;
	CHECK(store_plan_create(st, "req", 3, "sh", 0, &plan) == 0);
	CHECK(store_plan_create(st, "none", 4, "sh", 1, &empty) == 0);
	CHECK(store_task_create(st, &v[0], &other) == 0);
	v[0].plan = v[1].plan = v[2].plan = plan;
	CHECK(store_plan_create_tasks(st, plan, v, 3, ids) == 0);

	CHECK(store_plan_get(st, plan, &pl) == 0);
	CHECK_STR(pl.state, "created");
	CHECK(pl.n_tasks == 3 && pl.tasks);
	CHECK(pl.tasks && pl.tasks[0] == ids[0] && pl.tasks[1] == ids[1] &&
	      pl.tasks[2] == ids[2] && ids[0] == other + 1);
	plan_release(&pl);
	CHECK(store_plan_get(st, empty, &pl) == 0);
	CHECK(pl.n_tasks == 0 && pl.tasks == NULL);
	plan_release(&pl);
	/* Tasks for a plan that does not exist are refused, none made. */
	CHECK(store_plan_create_tasks(st, 99, v, 1, ids) == -ENOENT);
	CHECK(store_plan_get(st, 99, &pl) == -ENOENT);
	store_close(st);
}

/*
 * A database of schema 5 kept a plan's tasks as the JSON array
 * "[3,4,5]" in plans.tasks; it opens with the same tasks as ids. Schema
 * 6 only added plan_tasks and emptied the column, so dropping the one
 * and filling the other, as version 5 did, makes a version 5 database.
 */
static void test_version_5_plan_tasks_are_migrated(void)
{
	char path[128], err[256];
	struct store *st = open_new(path, sizeof(path));
	int64_t id;
	struct plan pl;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int i;

	CHECK(st);
	if (!st)
		return;
	for (i = 0; i < 3; i++)
		CHECK(store_plan_create(st, "req", 3, "sh", 0, &id) == 0);
	store_close(st);
	st = NULL;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(schema_downgrade(db, 5) == SQLITE_OK);
	CHECK(sqlite3_exec(db,
		"UPDATE plans SET state = 'created', tasks = '[3,4,12]'"
		" WHERE id = 1;"
		"UPDATE plans SET state = 'created', tasks = '[7]' WHERE id = 2;",
		NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	if (!st)
		return;
	CHECK(store_plan_get(st, 1, &pl) == 0);
	CHECK(pl.n_tasks == 3);
	CHECK(pl.tasks && pl.tasks[0] == 3 && pl.tasks[1] == 4 &&
	      pl.tasks[2] == 12);
	CHECK_STR(pl.state, "created");
	plan_release(&pl);
	CHECK(store_plan_get(st, 2, &pl) == 0);
	CHECK(pl.n_tasks == 1 && pl.tasks && pl.tasks[0] == 7);
	plan_release(&pl);
	CHECK(store_plan_get(st, 3, &pl) == 0);
	CHECK(pl.n_tasks == 0 && pl.tasks == NULL);
	CHECK_STR(pl.state, "planning");
	plan_release(&pl);
	store_close(st);

	/* The rows are the one record now: the old column is emptied. */
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM plans"
				 " WHERE tasks IS NOT NULL", -1, &s, NULL) ==
	      SQLITE_OK);
	CHECK(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void test_newer_schema_is_refused(void)
{
	char path[128], err[256];
	struct store *st = NULL;
	sqlite3 *db = NULL;

	new_path(path, sizeof(path));
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL,
			   NULL) == SQLITE_OK);
	sqlite3_close(db);

	CHECK(store_open(&st, path, err, sizeof(err)) < 0);
	CHECK(st == NULL);
	CHECK(strstr(err, "schema version 999") != NULL);
}

static void test_open_in_unwritable_directory_fails(void)
{
	char file[128], path[160], err[256], want[200];
	struct store *st = (struct store *)&st;
	FILE *f;

	/* Tests run as root, which can write anywhere; a path through a
	 * regular file fails for everyone. */
	snprintf(file, sizeof(file), "%s/not-a-dir", tmpdir);
	f = fopen(file, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/state.db", file);

	err[0] = '\0';
	CHECK(store_open(&st, path, err, sizeof(err)) < 0);
	CHECK(st == NULL);
	snprintf(want, sizeof(want), "cannot open database '%s': ", path);
	CHECK(!strncmp(err, want, strlen(want)));
	CHECK(strlen(err) > strlen(want));
	printf("# %s\n", err);
	CHECK(!strchr(err, '\n'));
	unlink(file);
}

#define THREADS 8
#define PER_THREAD 50

struct creator {
	struct store *st;
	int64_t ids[PER_THREAD];
	int failures;
};

static void *create_many(void *arg)
{
	struct creator *c = arg;
	char prompt[32];
	int i, len;

	for (i = 0; i < PER_THREAD; i++) {
		len = snprintf(prompt, sizeof(prompt), "task %d", i);
		if (store_task_create(c->st, &(struct task_new){ .prompt = prompt, .len = (size_t)len,
		.engine = "sh", .base = BASE }, &c->ids[i]) < 0)
			c->failures++;
	}
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void test_threads_create_distinct_ids(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	static struct creator c[THREADS];
	pthread_t th[THREADS];
	int64_t all[THREADS * PER_THREAD], *ids;
	size_t n, i;
	int k, distinct = 1;

	CHECK(st);
	if (!st)
		return;
	for (k = 0; k < THREADS; k++) {
		c[k].st = st;
		CHECK(pthread_create(&th[k], NULL, create_many, &c[k]) == 0);
	}
	for (k = 0; k < THREADS; k++) {
		pthread_join(th[k], NULL);
		CHECK(c[k].failures == 0);
		memcpy(all + k * PER_THREAD, c[k].ids, sizeof(c[k].ids));
	}
	qsort(all, THREADS * PER_THREAD, sizeof(all[0]), cmp_id);
	for (i = 1; i < THREADS * PER_THREAD; i++)
		if (all[i] == all[i - 1])
			distinct = 0;
	CHECK(distinct);

	CHECK(store_task_ids(st, &ids, &n) == 0);
	CHECK(n == THREADS * PER_THREAD);
	if (n == THREADS * PER_THREAD)
		CHECK(!memcmp(ids, all, sizeof(all)));
	free(ids);
	store_close(st);
}

/* Every third batch of these names a dependency that does not exist. */
struct mixed {
	struct store *st;
	int ok, refused, wrong;
};

static void *create_mixed(void *arg)
{
	struct mixed *c = arg;
	int64_t ids[2], missing = 99999999;
	int i, r;

	for (i = 0; i < PER_THREAD; i++) {
		struct task_new v[2] = {
			{ .prompt = "good", .len = 4, .engine = "sh",
			  .base = BASE },
			{ .prompt = "bad", .len = 3, .engine = "sh",
			  .base = BASE, .depends = &missing,
			  .n_depends = i % 3 == 2 },
		};

		r = store_tasks_create(c->st, v, 2, ids);
		if (i % 3 == 2)
			r == -ENOENT ? c->refused++ : c->wrong++;
		else
			r == 0 ? c->ok++ : c->wrong++;
	}
	return NULL;
}

/*
 * Concurrent batches are committed in groups: a batch refused inside a
 * group leaves nothing, and takes nothing of the others with it; all
 * that was acknowledged is there after the database is closed and
 * opened again.
 */
static void test_grouped_batches_fail_alone(void)
{
	char path[128], err[256];
	struct store *st = open_new(path, sizeof(path));
	static struct mixed c[THREADS];
	pthread_t th[THREADS];
	int64_t *ids;
	size_t n, i;
	int k, ok = 0, bad_prompts = 0;

	CHECK(st);
	if (!st)
		return;
	for (k = 0; k < THREADS; k++) {
		c[k] = (struct mixed){ .st = st };
		CHECK(pthread_create(&th[k], NULL, create_mixed, &c[k]) == 0);
	}
	for (k = 0; k < THREADS; k++) {
		pthread_join(th[k], NULL);
		CHECK(c[k].wrong == 0);
		ok += c[k].ok;
	}
	store_close(st);
	st = NULL;
	CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	if (!st)
		return;
	CHECK(store_task_ids(st, &ids, &n) == 0);
	CHECK(n == (size_t)ok * 2);
	for (i = 0; i < n; i++) {
		struct task t;

		if (store_task_get(st, ids[i], &t) == 0) {
			bad_prompts += !strcmp(t.prompt, "bad") &&
				       t.state != TASK_QUEUED;
			task_release(&t);
		}
	}
	CHECK(bad_prompts == 0);
	free(ids);
	store_close(st);
}

static int remove_one(const char *path, const struct stat *sb, int type,
		      struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pai-test-store-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	RUN(test_create_and_get_round_trip);
	RUN(test_empty_prompt_round_trips);
	RUN(test_ids_ascend_and_next_queued_is_fifo);
	RUN(test_start_finish_requeue_transitions);
	RUN(test_missing_task_is_enoent);
	RUN(test_counts_and_states);
	RUN(test_state_names);
	RUN(test_reopen_keeps_everything);
	RUN(test_kill_9_keeps_created_task);
	RUN(test_schema_version_and_wal);
	RUN(test_version_1_database_is_migrated);
	RUN(test_version_5_plan_tasks_are_migrated);
	RUN(test_plan_tasks_are_ids_in_order);
	RUN(test_next_queued_skips_engines);
	RUN(test_dependencies_wait_block_and_release);
	RUN(test_batch_is_all_or_nothing);
	RUN(test_priority_then_age_and_backoff);
	RUN(test_model_and_options_round_trip);
	RUN(test_check_round_trip);
	RUN(test_newer_schema_is_refused);
	RUN(test_open_in_unwritable_directory_fails);
	RUN(test_threads_create_distinct_ids);
	RUN(test_grouped_batches_fail_alone);

	/* Leave the directory behind on failure, for a look at the files. */
	if (!check_failures &&
	    nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "cannot remove '%s'\n", tmpdir);
	return check_done();
}
