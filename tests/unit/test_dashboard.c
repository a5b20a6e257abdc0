/*
 * test_dashboard: the store's runs (one row per attempt, kept by
 * triggers: every way into and out of running, and the rows made for the
 * attempts of a database from before them), the tasks changed last, and
 * the dashboard's escaping, first lines and fixed-width durations.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "check.h"
#include "schema.h"
#include "store.h"
#include "../../src/dash/dashint.h"

static char tmpdir[64];
static int dbcount;

static struct store *open_new(char *path, size_t len)
{
	struct store *st = NULL;
	char err[256];

	snprintf(path, len, "%s/state-%d.db", tmpdir, ++dbcount);
	if (store_open(&st, path, err, sizeof(err)) < 0)
		fprintf(stderr, "store_open: %s\n", err);
	return st;
}

static int remove_one(const char *path, const struct stat *sb, int flag,
		      struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int64_t make(struct store *st)
{
	int64_t id = 0;

	CHECK(store_task_create(st, &(struct task_new){ .prompt = "go",
		.len = 2, .engine = "sh" }, &id) == 0);
	return id;
}

static void test_every_way_out_of_running_ends_the_run(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	struct task_run *r = NULL;
	size_t n = 0;
	int64_t a, b, c;

	CHECK(st);
	if (!st)
		return;
	a = make(st), b = make(st), c = make(st);
	CHECK(store_task_start(st, a, 2) == 0);
	CHECK(store_runs(st, a, 10, &r, &n) == 0);
	CHECK(n == 1 && r[0].worker == 2 && r[0].attempt == 1 &&
	      !strcmp(r[0].outcome, "running") && r[0].finished == 0 &&
	      r[0].started > 0);
	free(r);
	/* failed with a retry to come, then requeued by an unmount, then
	 * done: three attempts, each with its own worker and outcome */
	CHECK(store_task_backoff(st, a, 1, 1, "exit status 1") == 0);
	CHECK(store_task_start(st, a, 1) == 0);
	CHECK(store_task_requeue(st, a, "stopped by unmount") == 0);
	CHECK(store_task_start(st, a, 3) == 0);
	CHECK(store_task_finish(st, a, TASK_DONE, 0, NULL, NULL) == 0);
	CHECK(store_task_start(st, b, 1) == 0);
	CHECK(store_task_finish(st, b, TASK_CANCELLED, -1, NULL, "cancelled")
	      == 0);
	CHECK(store_task_start(st, c, 2) == 0);
	CHECK(store_task_finish(st, c, TASK_FAILED, 3, NULL, "exit status 3")
	      == 0);
	/* a merge does not start or end a run */
	CHECK(store_task_finish(st, a, TASK_MERGED, 0, NULL, NULL) == 0);

	CHECK(store_runs(st, a, 10, &r, &n) == 0);
	CHECK(n == 3);
	if (n == 3) {
		/* newest first */
		CHECK(r[0].attempt == 3 && r[0].worker == 3);
		CHECK_STR(r[0].outcome, "done");
		CHECK(r[1].attempt == 2 && r[1].worker == 1);
		CHECK_STR(r[1].outcome, "requeued");
		CHECK(r[2].attempt == 1 && r[2].worker == 2);
		CHECK_STR(r[2].outcome, "failed");
		CHECK(r[2].finished >= r[2].started && r[2].finished > 0);
	}
	free(r);
	CHECK(store_runs(st, 0, 10, &r, &n) == 0);
	CHECK(n == 5);
	if (n == 5) {
		CHECK(r[0].task == c);
		CHECK_STR(r[0].outcome, "failed");
		CHECK(r[1].task == b);
		CHECK_STR(r[1].outcome, "cancelled");
	}
	free(r);
	/* bounded by max */
	CHECK(store_runs(st, 0, 2, &r, &n) == 0);
	CHECK(n == 2 && r[0].task == c);
	free(r);
	CHECK(store_runs(st, 999, 10, &r, &n) == 0);
	CHECK(n == 0 && r == NULL);
	store_close(st);
}

static void test_recent_is_newest_change_first(void)
{
	char path[128];
	struct store *st = open_new(path, sizeof(path));
	int64_t *ids = NULL, a, b, c;
	size_t n = 0;

	CHECK(st);
	if (!st)
		return;
	a = make(st), b = make(st), c = make(st);
	usleep(2000);
	CHECK(store_task_start(st, a, 1) == 0);
	CHECK(store_task_ids_recent(st, 2, &ids, &n) == 0);
	CHECK(n == 2 && ids[0] == a && ids[1] == c);
	free(ids);
	CHECK(store_task_ids_recent(st, 10, &ids, &n) == 0);
	CHECK(n == 3 && ids[2] == b);
	free(ids);
	store_close(st);
}

/* A database from before the runs table (version 6), with a task done
 * on worker 0 (not known) and one running: each attempt gets its row. */
static void test_old_attempts_get_rows(void)
{
	char path[128], err[256];
	struct store *st = open_new(path, sizeof(path));
	struct task_run *r = NULL;
	sqlite3 *db = NULL;
	size_t n = 0;
	int64_t a, b;

	CHECK(st);
	if (!st)
		return;
	a = make(st), b = make(st);
	CHECK(store_task_start(st, a, 1) == 0);
	CHECK(store_task_finish(st, a, TASK_DONE, 0, NULL, NULL) == 0);
	CHECK(store_task_start(st, b, 2) == 0);
	store_close(st);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(schema_downgrade(db, 6) == SQLITE_OK);
	sqlite3_close(db);

	CHECK(store_open(&st, path, err, sizeof(err)) == 0);
	if (!st)
		return;
	CHECK(store_runs(st, 0, 10, &r, &n) == 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK(r[0].task == b && r[0].worker == 2 && !r[0].finished);
		CHECK_STR(r[0].outcome, "running");
		CHECK(r[1].task == a && r[1].worker == 0 &&
		      r[1].finished >= r[1].started);
		CHECK_STR(r[1].outcome, "done");
	}
	free(r);
	/* the triggers are there again */
	CHECK(store_task_finish(st, b, TASK_FAILED, 1, NULL, NULL) == 0);
	CHECK(store_runs(st, b, 10, &r, &n) == 0);
	CHECK(n == 1 && !strcmp(r[0].outcome, "failed"));
	free(r);
	store_close(st);
}

static void escaped(const char *in, size_t len, const char *want)
{
	struct buf b;

	buf_init(&b, BUF_NOMAX);
	CHECK(dash_escape(&b, in, len) == 0);
	CHECK_STR(buf_cstr(&b), want);
	buf_release(&b);
}

static void test_escape_makes_well_formed_text(void)
{
	escaped("<script>a&b</script>", 20,
		"&lt;script&gt;a&amp;b&lt;/script&gt;");
	escaped("\"x\" 'y'", 7, "&quot;x&quot; &#39;y&#39;");
	escaped("tab\tnl\n", 7, "tab\tnl\n");
	/* control characters, a NUL, invalid UTF-8, a surrogate and an
	 * overlong form become U+FFFD; valid UTF-8 stays */
	escaped("a\x01" "b\x1b", 4, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
	escaped("a\0b", 3, "a\xEF\xBF\xBD" "b");
	escaped("\xff\xfe", 2, "\xEF\xBF\xBD\xEF\xBF\xBD");
	escaped("\xed\xa0\x80", 3,
		"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	escaped("\xc0\xaf", 2, "\xEF\xBF\xBD\xEF\xBF\xBD");
	escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	escaped("cut \xe2\x82", 6, "cut \xEF\xBF\xBD\xEF\xBF\xBD");
}

static void test_first_line(void)
{
	const char *s = "\n  \n  make test  \nsecond\n", *l;
	size_t n;

	l = dash_first_line(s, strlen(s), 100, &n);
	CHECK(n == 9 && !strncmp(l, "make test", 9));
	l = dash_first_line(s, strlen(s), 4, &n);
	CHECK(n == 4 && !strncmp(l, "make", 4));
	/* never cut inside a character */
	s = "\xc3\xa9\xc3\xa9";
	l = dash_first_line(s, 4, 3, &n);
	CHECK(n == 2);
	l = dash_first_line("", 0, 10, &n);
	CHECK(n == 0);
}

static void test_durations_keep_their_width(void)
{
	static const int64_t ms[] = {
		0, 999, 9000, 10000, 59999, 60000, 3599000, 3600000,
		86399000, 86400000, 99 * 86400000LL, 1000000 * 86400000LL,
	};
	static const char *const want[] = {
		"      0s", "      0s", "      9s", "     10s", "     59s",
		"   1m00s", "  59m59s", "   1h00m", "  23h59m", "   1d00h",
		"  99d00h", " >99999d",
	};
	char out[16];
	size_t i;

	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		dash_duration(ms[i], out);
		CHECK_STR(out, want[i]);
	}
	dash_duration(-5, out);
	CHECK_STR(out, "      0s");
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pai-dash-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_every_way_out_of_running_ends_the_run);
	RUN(test_recent_is_newest_change_first);
	RUN(test_old_attempts_get_rows);
	RUN(test_escape_makes_well_formed_text);
	RUN(test_first_line);
	RUN(test_durations_keep_their_width);
	if (nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "cannot remove '%s'\n", tmpdir);
	return check_done();
}
