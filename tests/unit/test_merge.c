/*
 * test_merge: conflicts, merge orders, merges, push and clean-up against
 * real repositories made with the git command line in a temporary
 * directory, the results checked with git itself.
 *
 *	$ ./test_merge
 *	ok test_same_lines_conflict
 *	...
 *
 * Each repository has f.txt ("line 1" .. "line 20"), a.txt, b.txt and
 * dir/c.txt on main; task N is a branch pai/task-N with a commit made in
 * its own linked worktree, as the daemon makes them.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "buf.h"
#include "check.h"
#include "fsutil.h"
#include "gitfix.h"
#include "merge.h"
#include "worktree.h"

/* git rev-parse spec in tmp/name, into oid. */
static void rev(const char *name, const char *spec, char oid[41])
{
	char *h = out("git -C %s/%s rev-parse --verify -q '%s'", tmp, name,
		      spec);

	snprintf(oid, 41, "%s", h);
	free(h);
}

static void make_repo(const char *name)
{
	sh("cd %s && git init -q -b main %s && cd %s && "
	   "seq -f 'line %%g' 1 20 > f.txt && printf 'alpha\\n' > a.txt && "
	   "printf 'beta\\n' > b.txt && mkdir dir && "
	   "printf 'gamma\\n' > dir/c.txt && printf '*.log\\n' > .gitignore && "
	   "git add -A && git commit -q -m base", tmp, name, name);
}

/*
 * Task n of repo: branch pai/task-n from from, in the linked worktree
 * tmp/repo.wt/n, where cmds run and their result is committed.
 */
static void task(const char *name, int n, const char *from,
		 const char *cmds, char oid[41])
{
	char branch[32];

	snprintf(branch, sizeof(branch), "pai/task-%d", n);
	sh("cd %s/%s && git worktree add -q -b %s ../%s.wt/%d %s && "
	   "cd ../%s.wt/%d && { %s ; } && git add -A && "
	   "git commit -q -m 'task %d'", tmp, name, branch, name, n, from,
	   name, n, cmds, n);
	rev(name, branch, oid);
}

/* A commit in the user's checkout of repo. */
static void user_commit(const char *name, const char *cmds)
{
	sh("cd %s/%s && { %s ; } && git add -A && git commit -q -m user",
	   tmp, name, cmds);
}

static char *repo_path(const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	return path;
}

/* The paths as one space-separated string, for CHECK_STR. */
static const char *joined(const struct merge_paths *p)
{
	static char s[4096];
	size_t i, used = 0;

	s[0] = '\0';
	for (i = 0; i < p->n && used < sizeof(s); i++)
		used += (size_t)snprintf(s + used, sizeof(s) - used, "%s%s",
					 i ? " " : "", p->v[i]);
	return s;
}

/* ---- conflicts ---- */

static void test_same_lines_conflict(void)
{
	struct merge_paths p;
	char t1[41], t2[41];

	make_repo("same");
	task("same", 1, "main", "sed -i '2s/.*/one/' f.txt && "
	     "echo one > a.txt", t1);
	task("same", 2, "main", "sed -i '2s/.*/two/' f.txt && "
	     "echo two > a.txt && echo two > b.txt", t2);
	CHECK(merge_conflicts(&p, repo_path("same"), t1, t2, err,
			      sizeof(err)) == 0);
	CHECK_STR(joined(&p), "a.txt f.txt");
	merge_paths_release(&p);
	/* either way round, and by branch name */
	CHECK(merge_conflicts(&p, repo_path("same"), "pai/task-2",
			      "pai/task-1", err, sizeof(err)) == 0);
	CHECK_STR(joined(&p), "a.txt f.txt");
	merge_paths_release(&p);
}

static void test_different_hunks_of_one_file_merge_clean(void)
{
	struct merge_paths p;
	char t1[41], t2[41];

	make_repo("hunks");
	task("hunks", 1, "main", "sed -i '2s/.*/one/' f.txt", t1);
	task("hunks", 2, "main", "sed -i '18s/.*/two/' f.txt", t2);
	CHECK(merge_conflicts(&p, repo_path("hunks"), t1, t2, err,
			      sizeof(err)) == 0);
	CHECK(p.n == 0);
	merge_paths_release(&p);
}

static void test_different_files_merge_clean(void)
{
	struct merge_paths p;
	char t1[41], t2[41];

	make_repo("files");
	task("files", 1, "main", "echo one > a.txt && echo new > n1.txt", t1);
	task("files", 2, "main", "echo two > b.txt && git rm -q dir/c.txt",
	     t2);
	CHECK(merge_conflicts(&p, repo_path("files"), t1, t2, err,
			      sizeof(err)) == 0);
	CHECK(p.n == 0);
	merge_paths_release(&p);
}

static void test_add_and_delete_files(void)
{
	struct merge_paths p;
	char t1[41], t2[41], t3[41], t4[41], t5[41], t6[41];
	const char *r = "adddel";

	make_repo(r);
	task(r, 1, "main", "echo x > new.txt", t1);
	task(r, 2, "main", "echo y > new.txt", t2);
	task(r, 3, "main", "git rm -q b.txt", t3);
	task(r, 4, "main", "echo changed > b.txt", t4);
	task(r, 5, "main", "echo x > new.txt", t5);
	task(r, 6, "main", "git rm -q a.txt", t6);

	/* add/add with different contents */
	CHECK(merge_conflicts(&p, repo_path(r), t1, t2, err, sizeof(err)) == 0);
	CHECK_STR(joined(&p), "new.txt");
	merge_paths_release(&p);
	/* delete/modify */
	CHECK(merge_conflicts(&p, repo_path(r), t3, t4, err, sizeof(err)) == 0);
	CHECK_STR(joined(&p), "b.txt");
	merge_paths_release(&p);
	/* the same file added twice, and two different deletions: clean */
	CHECK(merge_conflicts(&p, repo_path(r), t1, t5, err, sizeof(err)) == 0);
	CHECK(p.n == 0);
	merge_paths_release(&p);
	CHECK(merge_conflicts(&p, repo_path(r), t3, t6, err, sizeof(err)) == 0);
	CHECK(p.n == 0);
	merge_paths_release(&p);
	/* the same deletion twice: clean */
	CHECK(merge_conflicts(&p, repo_path(r), t3, t3, err, sizeof(err)) == 0);
	CHECK(p.n == 0);
	merge_paths_release(&p);
}

static void test_conflicts_of_an_unknown_commit(void)
{
	struct merge_paths p;

	make_repo("unknown");
	CHECK(merge_conflicts(&p, repo_path("unknown"), "main", "nosuch",
			      err, sizeof(err)) == -ENOENT);
	CHECK(!strncmp(err, "cannot find commit 'nosuch'", 27));
	CHECK(p.n == 0);
}

/* ---- the matrix and its cache ---- */

static void test_matrix_computes_only_new_pairs(void)
{
	struct merge_cache cache;
	struct merge_matrix m;
	struct merge_entry e[4];
	char t[4][41];
	unsigned long before;
	const char *r = "matrix";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt", t[0]);
	task(r, 2, "main", "sed -i '2s/.*/two/' f.txt", t[1]);
	task(r, 3, "main", "echo three > a.txt", t[2]);
	task(r, 4, "main", "sed -i '2s/.*/four/' f.txt && echo four > a.txt",
	     t[3]);
	e[0] = (struct merge_entry){ 1, t[0] };
	e[1] = (struct merge_entry){ 2, t[1] };
	e[2] = (struct merge_entry){ 3, t[2] };
	e[3] = (struct merge_entry){ 4, t[3] };

	CHECK(merge_cache_init(&cache) == 0);
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, 3,
				   err, sizeof(err)) == 0);
	/* 3 pairs and 3 tasks against the tip; only 1 and 2 meet in a file */
	CHECK(cache.pairs == 6);
	CHECK(cache.merges == 1);
	CHECK(m.n == 1);
	if (m.n == 1) {
		CHECK(m.v[0].a == 1 && m.v[0].b == 2);
		CHECK_STR(joined(&m.v[0].paths), "f.txt");
	}
	CHECK(strlen(m.tip) == 40);
	merge_matrix_release(&m);

	/* task 4 finishes: only its 3 pairs and its tip pair are new */
	before = cache.pairs;
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, 4,
				   err, sizeof(err)) == 0);
	CHECK(cache.pairs - before == 4);
	CHECK(cache.merges == 4);
	CHECK(m.n == 4);
	if (m.n == 4) {
		CHECK(m.v[0].a == 1 && m.v[0].b == 2);
		CHECK(m.v[1].a == 1 && m.v[1].b == 4);
		CHECK_STR(joined(&m.v[1].paths), "f.txt");
		CHECK(m.v[2].a == 2 && m.v[2].b == 4);
		CHECK(m.v[3].a == 3 && m.v[3].b == 4);
		CHECK_STR(joined(&m.v[3].paths), "a.txt");
	}
	merge_matrix_release(&m);

	/* nothing new: nothing merged; entries in another order: same pairs */
	before = cache.pairs;
	e[0] = (struct merge_entry){ 4, t[3] };
	e[3] = (struct merge_entry){ 1, t[0] };
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, 4,
				   err, sizeof(err)) == 0);
	CHECK(cache.pairs == before);
	CHECK(m.n == 4 && m.v[0].a == 1 && m.v[0].b == 2 && m.v[1].b == 4);
	merge_matrix_release(&m);

	/* task 3 to 2 entries: the rest is forgotten */
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e + 1, 2,
				   err, sizeof(err)) == 0);
	CHECK(cache.used == 3);
	merge_matrix_release(&m);

	/* a missing commit fails the whole */
	e[1].commit = "0123456789012345678901234567890123456789";
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, 4,
				   err, sizeof(err)) == -ENOENT);
	CHECK(m.n == 0 && m.v == NULL);
	merge_cache_release(&cache);
}

static void test_base_moved_by_a_commit_in_the_checkout(void)
{
	struct merge_cache cache;
	struct merge_matrix m;
	struct merge_entry e[2];
	char t1[41], t2[41], tip[41];
	unsigned long before;
	const char *r = "moved";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt", t1);
	task(r, 2, "main", "echo two > b.txt", t2);
	e[0] = (struct merge_entry){ 1, t1 };
	e[1] = (struct merge_entry){ 2, t2 };
	CHECK(merge_cache_init(&cache) == 0);
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, 2,
				   err, sizeof(err)) == 0);
	CHECK(m.n == 0);
	merge_matrix_release(&m);

	user_commit(r, "sed -i '2s/.*/mine/' f.txt");
	rev(r, "main", tip);
	before = cache.pairs;
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, 2,
				   err, sizeof(err)) == 0);
	/* each task against the new tip; the task pair from the cache */
	CHECK(cache.pairs - before == 2);
	CHECK_STR(m.tip, tip);
	CHECK(m.n == 1);
	if (m.n == 1) {
		CHECK(m.v[0].a == 1 && m.v[0].b == MERGE_TIP);
		CHECK_STR(joined(&m.v[0].paths), "f.txt");
	}
	/* the old tip's pairs are forgotten */
	CHECK(cache.used == 3);
	merge_matrix_release(&m);
	merge_cache_release(&cache);
}

/*
 * The matrix's quick answer for pairs that touch different paths must be
 * what a full merge says, also where a file meets a directory.
 */
static void test_matrix_agrees_with_full_merges(void)
{
	static const char *const cmds[] = {
		"git rm -q dir/c.txt && echo file > dir",
		"echo changed > dir/c.txt",
		"mkdir x && echo y > x/y",
		"echo x > x",
		"git mv a.txt z.txt",
		"echo changed > a.txt",
		"echo changed > b.txt",
		"sed -i '2s/.*/two/' f.txt",
	};
	enum { N = sizeof(cmds) / sizeof(cmds[0]) };
	struct merge_cache cache;
	struct merge_matrix m;
	struct merge_paths p;
	struct merge_entry e[N];
	char c[N][41];
	size_t i, j, k;
	const char *r = "agree";

	make_repo(r);
	user_commit(r, "sed -i '2s/.*/mine/' f.txt");
	for (i = 0; i < N; i++) {
		task(r, (int)i + 1, "main~1", cmds[i], c[i]);
		e[i] = (struct merge_entry){ (int64_t)i + 1, c[i] };
	}
	CHECK(merge_cache_init(&cache) == 0);
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, N,
				   err, sizeof(err)) == 0);
	CHECK(cache.merges < cache.pairs);
	for (i = 0; i < N; i++) {
		for (j = i; j < N; j++) {
			const char *other = j == i ? "main" : c[j];
			int64_t b = j == i ? MERGE_TIP : (int64_t)j + 1;
			char want[256], got[256] = "";

			CHECK(merge_conflicts(&p, repo_path(r), c[i], other,
					      err, sizeof(err)) == 0);
			snprintf(want, sizeof(want), "%s", joined(&p));
			merge_paths_release(&p);
			for (k = 0; k < m.n; k++)
				if (m.v[k].a == (int64_t)i + 1 && m.v[k].b == b)
					snprintf(got, sizeof(got), "%s",
						 joined(&m.v[k].paths));
			if (strcmp(got, want))
				fprintf(stderr, "  tasks %zu and %lld: matrix "
					"\"%s\", merge \"%s\"\n", i + 1,
					(long long)b, got, want);
			CHECK(!strcmp(got, want));
		}
	}
	/* the file/directory pairs and the line against the tip do meet */
	CHECK(m.n >= 3);
	if (getenv("PAI_TEST_VERBOSE"))
		for (k = 0; k < m.n; k++)
			fprintf(stderr, "  %lld %lld %s\n", (long long)m.v[k].a,
				(long long)m.v[k].b, joined(&m.v[k].paths));
	merge_matrix_release(&m);
	merge_cache_release(&cache);
}

/* ---- file/directory clashes ---- */

/*
 * One side has a file or a symbolic link where the other has a
 * directory, or a link where the other has a file: git merge-tree calls
 * each a conflict, and so must every merge here rather than drop a side.
 */
static const struct clash {
	const char *a, *b, *paths;
} clashes[] = {
	/* a directory turned file; a file added in the directory */
	{ "git rm -qr dir && echo file > dir", "echo two > dir/two",
	  "dir dir/two" },
	/* a directory turned symbolic link; a file added in the directory */
	{ "git rm -qr dir && ln -s a.txt dir", "echo two > dir/two",
	  "dir dir/two" },
	/* a new file and a new directory of one name */
	{ "echo x > x", "mkdir x && echo y > x/y", "x x/y" },
	/* a new symbolic link and a new directory of one name */
	{ "ln -s b.txt x", "mkdir -p x/z && echo y > x/z/y", "x x/z/y" },
	/* a file turned symbolic link; the file changed */
	{ "rm a.txt && ln -s b.txt a.txt", "echo more >> a.txt", "a.txt" },
	/* a new symbolic link and a new file of one name */
	{ "ln -s a.txt n", "echo n > n", "n" },
};
enum { NCLASH = sizeof(clashes) / sizeof(clashes[0]) };

static void test_file_directory_clashes_conflict(void)
{
	struct merge_paths p;
	char a[41], b[41];
	size_t i;
	const char *r = "clash";

	make_repo(r);
	for (i = 0; i < NCLASH; i++) {
		task(r, (int)(2 * i + 1), "main", clashes[i].a, a);
		task(r, (int)(2 * i + 2), "main", clashes[i].b, b);
		/* git agrees that it is a conflict */
		CHECK(sh("git -C %s/%s merge-tree --write-tree %s %s "
			 ">/dev/null", tmp, r, a, b) == 1);
		CHECK(merge_conflicts(&p, repo_path(r), a, b, err,
				      sizeof(err)) == 0);
		if (strcmp(joined(&p), clashes[i].paths))
			fprintf(stderr, "  %s | %s: \"%s\"\n", clashes[i].a,
				clashes[i].b, joined(&p));
		CHECK_STR(joined(&p), clashes[i].paths);
		merge_paths_release(&p);
		CHECK(merge_conflicts(&p, repo_path(r), b, a, err,
				      sizeof(err)) == 0);
		CHECK_STR(joined(&p), clashes[i].paths);
		merge_paths_release(&p);
	}
}

/* The case: a directory turned file, then a file added in it. */
static void test_file_directory_clash_in_matrix_order_and_merge(void)
{
	struct merge_cache cache;
	struct merge_matrix m;
	struct merge_order o;
	struct merge_result res;
	struct merge_entry e[2];
	struct merge_task t[2];
	struct merge_paths p;
	const char *deps[1];
	char c2[41], c3[41], out_oid[41], tip[41];
	enum merge_strategy s;
	const char *r = "dfclash";

	make_repo(r);
	task(r, 2, "main", "git rm -qr dir && echo 'i am a file' > dir", c2);
	task(r, 3, "main", "echo two > dir/two", c3);

	e[0] = (struct merge_entry){ 2, c2 };
	e[1] = (struct merge_entry){ 3, c3 };
	CHECK(merge_cache_init(&cache) == 0);
	CHECK(merge_matrix_compute(&m, &cache, repo_path(r), "main", e, 2,
				   err, sizeof(err)) == 0);
	CHECK(m.n == 1);
	if (m.n == 1) {
		CHECK(m.v[0].a == 2 && m.v[0].b == 3);
		CHECK_STR(joined(&m.v[0].paths), "dir dir/two");
	}
	merge_matrix_release(&m);
	merge_cache_release(&cache);

	t[0] = (struct merge_task){ 2, c2, NULL, 0 };
	t[1] = (struct merge_task){ 3, c3, NULL, 0 };
	CHECK(merge_order_compute(&o, repo_path(r), "main", t, 2, err,
				  sizeof(err)) == 0);
	CHECK(o.n == 1 && o.ids[0] == 2);
	CHECK(o.nleft == 1 && o.left[0].id == 3);
	if (o.nleft == 1)
		CHECK_STR(joined(&o.left[0].paths), "dir dir/two");
	merge_order_release(&o);

	/* a dependent task cannot start from both */
	deps[0] = c3;
	CHECK(merge_combine(out_oid, &p, repo_path(r), c2, deps, 1, NULL, err,
			    sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&p), "dir dir/two");
	merge_paths_release(&p);

	/* merged one after the other: the second is refused, nothing lost */
	CHECK(merge_into(&res, repo_path(r), "pai/task-2", "main", NULL, err,
			 sizeof(err)) == 0);
	merge_result_release(&res);
	rev(r, "main", tip);
	CHECK(merge_into(&res, repo_path(r), "pai/task-3", "main", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&res.paths), "dir dir/two");
	CHECK(strstr(err, "conflict in dir dir/two") != NULL);
	CHECK_STR(res.oid, tip);
	merge_result_release(&res);
	/* and by the other strategies */
	for (s = MERGE_STRATEGY_SQUASH; s <= MERGE_STRATEGY_REBASE; s++) {
		struct merge_options how = { .strategy = s };

		CHECK(merge_into(&res, repo_path(r), "pai/task-3", "main", &how,
				 err, sizeof(err)) == -EBUSY);
		CHECK_STR(joined(&res.paths), "dir dir/two");
		CHECK_STR(res.oid, tip);
		merge_result_release(&res);
	}
	CHECK(out_is("i am a file\n", "git -C %s/%s show main:dir", tmp, r));
	CHECK(out_is("i am a file\n", "cat %s/%s/dir", tmp, r));
	CHECK(out_is("", "git -C %s/%s status --porcelain", tmp, r));
}

/* The last check before a merge lands lets a change follow a rename. */
static void test_merge_carries_a_change_across_a_rename(void)
{
	struct merge_result res;
	char c[41];
	const char *r = "renamed";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/two/' f.txt && echo new > dir/n.txt",
	     c);
	user_commit(r, "git mv f.txt g.txt && git mv dir top");
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", NULL, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_MERGE);
	merge_result_release(&res);
	CHECK(out_is("two\n", "sed -n 2p %s/%s/g.txt", tmp, r));
	CHECK(!exists("%s/%s/f.txt", tmp, r));
	CHECK(out_is("new\n", "cat %s/%s/dir/n.txt", tmp, r));
	CHECK(out_is("", "git -C %s/%s status --porcelain", tmp, r));
}

/* ---- merge order ---- */

static long objects(const char *name)
{
	char *n = out("find %s/%s/.git/objects -type f | wc -l", tmp, name);
	long v = atol(n);

	free(n);
	return v;
}

static void test_merge_order_leaves_out_a_conflict(void)
{
	struct merge_order o;
	struct merge_task t[3];
	char c[3][41];
	long before;
	const char *r = "order";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt", c[0]);
	task(r, 2, "main", "sed -i '2s/.*/two/' f.txt && echo two > b.txt",
	     c[1]);
	task(r, 3, "main", "sed -i '18s/.*/three/' f.txt && echo 3 > a.txt",
	     c[2]);
	/* listed out of order: the order goes by id */
	t[0] = (struct merge_task){ 3, c[2], NULL, 0 };
	t[1] = (struct merge_task){ 2, c[1], NULL, 0 };
	t[2] = (struct merge_task){ 1, c[0], NULL, 0 };
	before = objects(r);
	CHECK(merge_order_compute(&o, repo_path(r), "main", t, 3, err,
				  sizeof(err)) == 0);
	CHECK(o.n == 2 && o.ids[0] == 1 && o.ids[1] == 3);
	CHECK(o.nleft == 1);
	if (o.nleft == 1) {
		CHECK(o.left[0].id == 2 && o.left[0].blocked_by == 0);
		CHECK_STR(joined(&o.left[0].paths), "f.txt");
	}
	/* simulated in memory: not one object written */
	CHECK(objects(r) == before);
	merge_order_release(&o);
}

static void test_merge_order_puts_dependencies_first(void)
{
	struct merge_order o;
	struct merge_task t[6];
	int64_t d1[] = { 3 }, d2[] = { 1, 99 }, d5[] = { 4 }, d6[] = { 3 };
	char c[6][41];
	const char *r = "deps";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt", c[0]);
	task(r, 2, "main", "echo two > b.txt", c[1]);
	task(r, 3, "main", "sed -i '10s/.*/three/' f.txt", c[2]);
	task(r, 4, "main", "sed -i '2s/.*/four/' f.txt", c[3]);
	task(r, 5, "main", "echo five > dir/c.txt", c[4]);
	/* built on task 3's work, changing its line again */
	task(r, 6, "pai/task-3", "sed -i '10s/.*/six/' f.txt", c[5]);
	t[0] = (struct merge_task){ 1, c[0], d1, 1 };
	t[1] = (struct merge_task){ 2, c[1], d2, 2 };	/* 99: merged */
	t[2] = (struct merge_task){ 3, c[2], NULL, 0 };
	t[3] = (struct merge_task){ 4, c[3], NULL, 0 };
	t[4] = (struct merge_task){ 5, c[4], d5, 1 };
	t[5] = (struct merge_task){ 6, c[5], d6, 1 };
	CHECK(merge_order_compute(&o, repo_path(r), "main", t, 6, err,
				  sizeof(err)) == 0);
	CHECK(o.n == 4);
	if (o.n == 4)
		CHECK(o.ids[0] == 3 && o.ids[1] == 1 && o.ids[2] == 2 &&
		      o.ids[3] == 6);
	CHECK(o.nleft == 2);
	if (o.nleft == 2) {
		CHECK(o.left[0].id == 4 && o.left[0].blocked_by == 0);
		CHECK_STR(joined(&o.left[0].paths), "f.txt");
		CHECK(o.left[1].id == 5 && o.left[1].blocked_by == 4);
		CHECK(o.left[1].paths.n == 0);
	}
	merge_order_release(&o);

	/* a cycle: both left out, each blocked by the other */
	t[0] = (struct merge_task){ 1, c[0], (int64_t[]){ 2 }, 1 };
	t[1] = (struct merge_task){ 2, c[1], (int64_t[]){ 1 }, 1 };
	CHECK(merge_order_compute(&o, repo_path(r), "main", t, 3, err,
				  sizeof(err)) == 0);
	CHECK(o.n == 1 && o.ids[0] == 3);
	CHECK(o.nleft == 2 && o.left[0].id == 1 && o.left[0].blocked_by == 2 &&
	      o.left[1].id == 2 && o.left[1].blocked_by == 1);
	merge_order_release(&o);
}

/* ---- merging ---- */

/* Everything a refused merge must leave alone, as one string. */
static char *snapshot(const char *name)
{
	return out("cd %s/%s && git rev-parse HEAD main && git ls-files -s && "
		   "git status --porcelain && cat f.txt a.txt b.txt && "
		   "ls -a .git", tmp, name);
}

static void test_merge_fast_forward(void)
{
	struct merge_result res;
	char t1[41], old[41];
	const char *r = "ff";

	make_repo(r);
	rev(r, "main", old);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt && echo new > n.txt", t1);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", NULL, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_FAST_FORWARD);
	CHECK_STR(res.oid, t1);
	CHECK_STR(res.old, old);
	CHECK_STR(res.checkout, repo_path(r));
	CHECK(res.paths.n == 0);
	CHECK(out_is("", "git -C %s/%s status --porcelain", tmp, r));
	CHECK(out_is("one\n", "sed -n 2p %s/%s/f.txt", tmp, r));
	CHECK(out_is("new\n", "cat %s/%s/n.txt", tmp, r));
	CHECK(out_is("", "cd %s/%s && git rev-parse main | grep -v %s", tmp,
		     r, t1));
	merge_result_release(&res);

	/* again: nothing to do */
	CHECK(merge_into(&res, repo_path(r), t1, "main", NULL, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_UP_TO_DATE);
	CHECK_STR(res.oid, t1);
	merge_result_release(&res);
}

static void test_merge_commit(void)
{
	struct merge_options o = { .strategy = MERGE_STRATEGY_MERGE,
				   .author_name = "Merger",
				   .author_email = "merger@example.com" };
	struct merge_result res;
	char t1[41], tip[41], head[41];
	const char *r = "mcommit";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt && git rm -q a.txt", t1);
	user_commit(r, "sed -i '18s/.*/mine/' f.txt && echo mine > b.txt");
	rev(r, "main", tip);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", &o, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_MERGE);
	rev(r, "HEAD", head);
	CHECK_STR(res.oid, head);
	CHECK(out_is(tip, "git -C %s/%s rev-parse HEAD^1 | tr -d '\\n'", tmp,
		     r));
	CHECK(out_is(t1, "git -C %s/%s rev-parse HEAD^2 | tr -d '\\n'", tmp,
		     r));
	CHECK(out_is("Merge branch 'pai/task-1'\n"
		     "Merger <merger@example.com>\n"
		     "Merger <merger@example.com>\n",
		     "git -C %s/%s log -1 --format='%%s%%n%%an <%%ae>%%n"
		     "%%cn <%%ce>'", tmp, r));
	CHECK(out_is("", "git -C %s/%s status --porcelain", tmp, r));
	CHECK(out_is("one\nmine\n", "sed -n '2p;18p' %s/%s/f.txt", tmp, r));
	CHECK(!exists("%s/%s/a.txt", tmp, r));
	merge_result_release(&res);
}

static void test_squash(void)
{
	struct merge_options o = { .strategy = MERGE_STRATEGY_SQUASH };
	struct merge_result res;
	char t1[41], t2[41], tip[41];
	const char *r = "squash";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt", t1);
	/* two commits */
	task(r, 2, "main", "echo two > b.txt", t2);
	sh("cd %s/%s.wt/2 && echo more > n.txt && git add n.txt && "
	   "git commit -q -m 'task 2 more'", tmp, r);
	rev(r, "pai/task-2", t2);

	/* squashed even when it could fast-forward: one new commit */
	rev(r, "main", tip);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", &o, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_SQUASH);
	CHECK(strcmp(res.oid, t1) != 0);
	CHECK(out_is("1\n", "git -C %s/%s rev-list --count %s..main", tmp, r,
		     tip));
	CHECK(out_is("task 1\nparallelai\n", "git -C %s/%s log -1 "
		     "--format='%%B%%cn'", tmp, r));
	CHECK(out_is("", "git -C %s/%s diff main pai/task-1", tmp, r));
	merge_result_release(&res);

	rev(r, "main", tip);
	CHECK(merge_into(&res, repo_path(r), "pai/task-2", "main", &o, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_SQUASH);
	CHECK(out_is("1\n", "git -C %s/%s rev-list --count %s..main", tmp, r,
		     tip));
	CHECK(out_is("1\n", "git -C %s/%s log -1 --format=%%P | wc -w", tmp,
		     r));
	CHECK(out_is("Squashed branch 'pai/task-2'\n\n* task 2\n"
		     "* task 2 more\n", "git -C %s/%s cat-file commit main | "
		     "sed '1,/^$/d'", tmp, r));
	CHECK(out_is("", "git -C %s/%s status --porcelain", tmp, r));
	CHECK(out_is("one\nmore\ntwo\n", "cd %s/%s && sed -n 2p f.txt && "
		     "cat n.txt b.txt", tmp, r));
	merge_result_release(&res);
}

static void test_rebase(void)
{
	struct merge_options o = { .strategy = MERGE_STRATEGY_REBASE,
				   .committer_name = "Rebaser",
				   .committer_email = "rebaser@example.com" };
	struct merge_result res;
	char t1[41], tip[41];
	const char *r = "rebase";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt && git add f.txt && "
	     "git commit -q --author='Agent <agent@example.com>' -m first && "
	     "echo second > b.txt", t1);
	user_commit(r, "echo mine > a.txt");
	rev(r, "main", tip);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", &o, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_REBASE);
	/* two commits on the tip, in a line, no merge */
	CHECK(out_is("2\n", "git -C %s/%s rev-list --count %s..main", tmp, r,
		     tip));
	CHECK(out_is("0\n", "git -C %s/%s rev-list --merges --count main",
		     tmp, r));
	CHECK(out_is("task 1|Test|Rebaser\nfirst|Agent|Rebaser\n",
		     "git -C %s/%s log -2 --format='%%s|%%an|%%cn' main", tmp,
		     r));
	CHECK(out_is("", "git -C %s/%s diff pai/task-1 main -- f.txt b.txt",
		     tmp, r));
	CHECK(out_is("mine\n", "cat %s/%s/a.txt", tmp, r));
	CHECK(out_is("", "git -C %s/%s status --porcelain", tmp, r));
	merge_result_release(&res);

	/* the same lines: refused, nothing changed */
	task(r, 2, tip, "sed -i '2s/.*/two/' f.txt", t1);
	rev(r, "main", tip);
	CHECK(merge_into(&res, repo_path(r), "pai/task-2", "main", &o, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&res.paths), "f.txt");
	CHECK_STR(res.oid, tip);
	CHECK(out_is(tip, "git -C %s/%s rev-parse main | tr -d '\\n'", tmp, r));
	merge_result_release(&res);
}

static void test_merge_refused_when_a_touched_path_is_dirty(void)
{
	struct merge_result res;
	char t1[41], *before, *after;
	const char *r = "dirty";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt && echo one > a.txt && "
	     "echo new > n.txt", t1);

	/* unstaged */
	sh("cd %s/%s && echo mine >> f.txt", tmp, r);
	before = snapshot(r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&res.paths), "f.txt");
	CHECK(strstr(err, "uncommitted changes") && strstr(err, "f.txt"));
	after = snapshot(r);
	CHECK_STR(after, before);
	free(before);
	free(after);
	merge_result_release(&res);

	/* staged, and an untracked file where the task adds one */
	sh("cd %s/%s && git checkout -q f.txt && echo staged > a.txt && "
	   "git add a.txt && echo mine > n.txt", tmp, r);
	before = snapshot(r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&res.paths), "a.txt n.txt");
	after = snapshot(r);
	CHECK_STR(after, before);
	CHECK(out_is("mine\n", "cat %s/%s/n.txt", tmp, r));
	free(before);
	free(after);
	merge_result_release(&res);

	/* an ignored file in the way is kept too */
	sh("cd %s/%s && git reset -q a.txt && git checkout -q a.txt && "
	   "rm n.txt", tmp, r);
	task(r, 2, "main", "echo tracked > x.log && git add -f x.log", t1);
	sh("cd %s/%s && echo mine > x.log", tmp, r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-2", "main", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&res.paths), "x.log");
	CHECK(out_is("mine\n", "cat %s/%s/x.log", tmp, r));
	merge_result_release(&res);
}

/* What tmp/outside holds, as one string: file names and contents. */
static char *outside(void)
{
	return out("cd %s/outside && find . | sort && find . -type f | sort | "
		   "xargs cat", tmp);
}

/*
 * Task n of repo r, made from main by cmds, does not merge: -EBUSY, path
 * is what is in the way, err says why, and nothing has changed in the
 * checkout or outside it.
 */
static void merge_is_blocked(const char *r, int n, const char *cmds,
			     const char *path, const char *why)
{
	struct merge_result res;
	char c[41], branch[32], *before, *after, *out_before, *out_after;

	task(r, n, "main", cmds, c);
	snprintf(branch, sizeof(branch), "pai/task-%d", n);
	before = snapshot(r);
	out_before = outside();
	CHECK(merge_into(&res, repo_path(r), branch, "main", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&res.paths), path);
	if (!strstr(err, why))
		fprintf(stderr, "  err \"%s\", want \"%s\"\n", err, why);
	CHECK(strstr(err, why) != NULL);
	after = snapshot(r);
	out_after = outside();
	CHECK_STR(after, before);
	CHECK_STR(out_after, out_before);
	free(out_after);
	free(out_before);
	free(after);
	free(before);
	merge_result_release(&res);
}

static void test_merge_never_writes_through_a_symbolic_link(void)
{
	const char *r = "beyond";

	make_repo(r);
	sh("mkdir %s/outside && echo precious > %s/outside/other", tmp, tmp);
	/* the case: an untracked link to a directory outside */
	sh("ln -s %s/outside %s/%s/newdir", tmp, tmp, r);
	merge_is_blocked(r, 1, "mkdir -p newdir && echo BAD > newdir/other",
			 "newdir", "untracked symbolic link 'newdir' is in the "
			 "way of 'newdir/other' in '");
	/* deeper: in a directory git tracks, and in one it does not */
	sh("ln -s %s/outside %s/%s/dir/b", tmp, tmp, r);
	merge_is_blocked(r, 2, "mkdir -p dir/b && echo BAD > dir/b/other",
			 "dir/b", "untracked symbolic link 'dir/b' is in the "
			 "way of 'dir/b/other'");
	sh("mkdir %s/%s/a && ln -s %s/outside %s/%s/a/b", tmp, r, tmp, tmp, r);
	merge_is_blocked(r, 3, "mkdir -p a/b/c && echo BAD > a/b/c/other",
			 "a/b", "untracked symbolic link 'a/b' is in the way "
			 "of 'a/b/c/other'");
	/* the link is where the task adds a file: not replaced, not followed */
	merge_is_blocked(r, 4, "echo BAD > newdir", "newdir",
			 "uncommitted changes in '");
	/* a directory git tracks turned link by the user, a file in it deleted */
	sh("cd %s/%s && mv dir ../dir.away && ln -s %s/outside dir && "
	   "cp ../dir.away/c.txt %s/outside/", tmp, r, tmp, tmp);
	merge_is_blocked(r, 5, "git rm -q dir/c.txt", "dir/c.txt",
			 "uncommitted changes in '");
	CHECK(out_is("gamma\n", "cat %s/outside/c.txt", tmp));
	CHECK(out_is("precious\n", "cat %s/outside/other", tmp));
}

static void test_merge_never_writes_over_untracked_files(void)
{
	const char *r = "inway";

	make_repo(r);
	sh("mkdir -p %s/outside", tmp);
	/* a file where the task needs a directory */
	sh("echo mine > %s/%s/u", tmp, r);
	merge_is_blocked(r, 1, "mkdir -p u/w && echo new > u/w/v", "u",
			 "untracked file 'u' is in the way of 'u/w/v'");
	/* a file where the task adds one */
	sh("echo mine > %s/%s/n.txt", tmp, r);
	merge_is_blocked(r, 2, "echo new > n.txt", "n.txt",
			 "uncommitted changes in '");
	/* a directory where the task adds a file, not empty or empty */
	sh("mkdir %s/%s/x && echo mine > %s/%s/x/mine", tmp, r, tmp, r);
	merge_is_blocked(r, 3, "echo new > x", "x/mine",
			 "uncommitted changes in '");
	sh("mkdir %s/%s/e", tmp, r);
	merge_is_blocked(r, 4, "echo new > e", "e",
			 "untracked directory 'e' is in the way in '");
	CHECK(out_is("mine\nmine\nmine\n", "cat %s/%s/u %s/%s/n.txt "
		     "%s/%s/x/mine", tmp, r, tmp, r, tmp, r));
}

/* A link git tracks, replaced by the task, goes; what it pointed at stays. */
static void test_merge_replaces_a_tracked_symbolic_link(void)
{
	struct merge_result res;
	char c[41];
	const char *r = "tracklink";

	make_repo(r);
	sh("mkdir -p %s/outside && echo precious > %s/outside/other", tmp, tmp);
	user_commit(r, "ln -s ../outside lnk && ln -s ../outside/other lf");
	task(r, 1, "main", "rm lnk && mkdir lnk && echo inside > lnk/other",
	     c);
	task(r, 2, "main", "rm lf && echo mine > lf", c);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", NULL, err,
			 sizeof(err)) == 0);
	merge_result_release(&res);
	CHECK(merge_into(&res, repo_path(r), "pai/task-2", "main", NULL, err,
			 sizeof(err)) == 0);
	merge_result_release(&res);
	CHECK(S_ISDIR(lmode("%s/%s/lnk", tmp, r)));
	CHECK(S_ISREG(lmode("%s/%s/lf", tmp, r)));
	CHECK(out_is("inside\nmine\n", "cat %s/%s/lnk/other %s/%s/lf", tmp, r,
		     tmp, r));
	CHECK(out_is("precious\n", "cat %s/outside/other", tmp));
	CHECK(out_is("", "git -C %s/%s status --porcelain", tmp, r));
}

static void test_merge_keeps_dirty_untouched_paths(void)
{
	struct merge_result res;
	char t1[41];
	const char *r = "untouched";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt && git rm -q a.txt", t1);
	user_commit(r, "echo mine > dir/c.txt");	/* so that it merges */
	sh("cd %s/%s && echo 'my work' >> b.txt", tmp, r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", NULL, err,
			 sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_MERGE);
	CHECK(out_is(" M b.txt\n", "git -C %s/%s status --porcelain", tmp, r));
	CHECK(out_is("beta\nmy work\n", "cat %s/%s/b.txt", tmp, r));
	CHECK(out_is("one\n", "sed -n 2p %s/%s/f.txt", tmp, r));
	CHECK(!exists("%s/%s/a.txt", tmp, r));
	merge_result_release(&res);

	/* staged work in an untouched path stays staged */
	task(r, 2, "main", "echo two > n.txt", t1);
	sh("cd %s/%s && echo staged > dir/c.txt && git add dir/c.txt", tmp, r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-2", "main", NULL, err,
			 sizeof(err)) == 0);
	CHECK(out_is("M  dir/c.txt\n M b.txt\n",
		     "git -C %s/%s status --porcelain | sort -k2", tmp, r));
	CHECK(out_is("two\n", "cat %s/%s/n.txt", tmp, r));
	merge_result_release(&res);
}

static void test_conflicting_merge_is_refused(void)
{
	struct merge_result res;
	char t1[41], tip[41], *before, *after;
	const char *r = "conflict";

	make_repo(r);
	task(r, 1, "main", "sed -i '2s/.*/one/' f.txt && echo one > b.txt", t1);
	user_commit(r, "sed -i '2s/.*/mine/' f.txt");
	rev(r, "main", tip);
	before = snapshot(r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(err, "cannot merge 'pai/task-1' into 'main': conflict in "
		  "f.txt");
	CHECK_STR(joined(&res.paths), "f.txt");
	CHECK_STR(res.oid, tip);
	CHECK(res.checkout == NULL);
	after = snapshot(r);
	CHECK_STR(after, before);
	free(after);
	merge_result_release(&res);

	/* a git command at work in the checkout */
	task(r, 2, "main", "echo two > b.txt", t1);
	sh("touch %s/%s/.git/index.lock", tmp, r);
	CHECK(merge_into(&res, repo_path(r), t1, "main", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK(strstr(err, "index.lock' exists") != NULL);
	sh("rm %s/%s/.git/index.lock", tmp, r);
	after = snapshot(r);
	CHECK_STR(after, before);
	free(before);
	free(after);
	merge_result_release(&res);
}

static void test_merge_into_a_branch_checked_out_nowhere(void)
{
	struct merge_result res;
	char t1[41];
	const char *r = "nowhere";

	make_repo(r);
	sh("git -C %s/%s branch dev", tmp, r);
	task(r, 1, "dev", "echo one > a.txt", t1);
	sh("cd %s/%s && echo 'my work' >> a.txt", tmp, r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "refs/heads/dev",
			 NULL, err, sizeof(err)) == 0);
	CHECK(res.how == MERGE_HOW_FAST_FORWARD);
	CHECK(res.checkout == NULL);
	CHECK(out_is(t1, "git -C %s/%s rev-parse dev | tr -d '\\n'", tmp, r));
	CHECK(out_is(" M a.txt\n", "git -C %s/%s status --porcelain", tmp, r));
	merge_result_release(&res);

	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "nosuch", NULL, err,
			 sizeof(err)) == -ENOENT);
	CHECK_STR(err, "cannot merge into 'nosuch': no such branch");
	merge_result_release(&res);
}

static void test_merge_into_a_linked_worktree(void)
{
	struct merge_result res;
	char t1[41];
	const char *r = "linked";

	make_repo(r);
	/* the user works on dev in a linked worktree */
	sh("cd %s/%s && git worktree add -q -b dev ../%s-dev main", tmp, r, r);
	task(r, 1, "dev", "echo one > a.txt", t1);
	sh("cd %s/%s-dev && echo mine > a.txt", tmp, r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "dev", NULL, err,
			 sizeof(err)) == -EBUSY);
	CHECK_STR(joined(&res.paths), "a.txt");
	merge_result_release(&res);
	sh("cd %s/%s-dev && git checkout -q a.txt", tmp, r);
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "dev", NULL, err,
			 sizeof(err)) == 0);
	CHECK(res.checkout && strstr(res.checkout, "linked-dev"));
	CHECK(out_is("", "git -C %s/%s-dev status --porcelain", tmp, r));
	CHECK(out_is("one\n", "cat %s/%s-dev/a.txt", tmp, r));
	CHECK(out_is("alpha\n", "cat %s/%s/a.txt", tmp, r));
	merge_result_release(&res);
}

static void test_strategy_names(void)
{
	enum merge_strategy s = MERGE_STRATEGY_MERGE;

	CHECK(merge_strategy_parse("squash", &s) == 0 &&
	      s == MERGE_STRATEGY_SQUASH);
	CHECK(merge_strategy_parse("rebase", &s) == 0 &&
	      s == MERGE_STRATEGY_REBASE);
	CHECK(merge_strategy_parse("octopus", &s) == -EINVAL);
	CHECK_STR(merge_strategy_name(MERGE_STRATEGY_MERGE), "merge");
	CHECK_STR(merge_how_name(MERGE_HOW_FAST_FORWARD), "fast-forward");
}

static void test_merge_of_a_moved_branch_is_refused(void)
{
	struct merge_options o = { .strategy = MERGE_STRATEGY_MERGE };
	struct merge_result res;
	char t1[41], moved[41], tip[41], want[128];
	const char *r = "brmoved";

	make_repo(r);
	task(r, 1, "main", "echo one > one.txt", t1);
	/* moved after the task ended: what it would merge is unseen */
	sh("cd %s/%s.wt/1 && echo evil > backdoor.sh && git add -A && "
	   "git commit -q -m evil", tmp, r);
	rev(r, "pai/task-1", moved);
	rev(r, "main", tip);
	o.commit = t1;
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", &o, err,
			 sizeof(err)) == -EBUSY);
	snprintf(want, sizeof(want), "cannot merge 'pai/task-1': it moved to"
		 " %.7s from %.7s", moved, t1);
	CHECK_STR(err, want);
	CHECK(out_is(tip, "git -C %s/%s rev-parse main | tr -d '\\n'", tmp,
		     r));
	CHECK(!exists("%s/%s/backdoor.sh", tmp, r));
	merge_result_release(&res);
	/* the commit it names: merged, whatever name it is reached by */
	o.commit = moved;
	CHECK(merge_into(&res, repo_path(r), "pai/task-1", "main", &o, err,
			 sizeof(err)) == 0);
	CHECK_STR(res.oid, moved);
	merge_result_release(&res);
}

/* ---- push ---- */

static void test_push_to_a_bare_repository(void)
{
	char t1[41], remote[PATH_MAX], main_oid[41], want[128];
	const char *r = "push";

	make_repo(r);
	snprintf(remote, sizeof(remote), "%s/push-remote.git", tmp);
	sh("git init -q --bare %s && git -C %s/%s remote add origin %s",
	   remote, tmp, r, remote);
	task(r, 1, "main", "echo one > a.txt", t1);
	CHECK(merge_push(repo_path(r), "origin", "pai/task-1", NULL, 0, err,
			 sizeof(err)) == 0);
	CHECK(out_is(t1, "git -C %s rev-parse pai/task-1 | tr -d '\\n'",
		     remote));
	/* by path, another branch */
	CHECK(merge_push(repo_path(r), remote, "main", NULL, 0, err,
			 sizeof(err)) == 0);
	CHECK(out_is("", "git -C %s rev-parse main | grep -v $(git -C %s/%s "
		     "rev-parse main)", remote, tmp, r));

	/* rewritten: refused, unless forced */
	sh("cd %s/%s.wt/1 && echo other > a.txt && git commit -q -a --amend "
	   "-m amended", tmp, r);
	rev(r, "pai/task-1", t1);
	CHECK(merge_push(repo_path(r), "origin", "pai/task-1", NULL, 0, err,
			 sizeof(err)) == -EBUSY);
	CHECK(strstr(err, "cannot push 'pai/task-1' to 'origin'") == err);
	CHECK(merge_push(repo_path(r), "origin", "pai/task-1", NULL, 1, err,
			 sizeof(err)) == 0);
	CHECK(out_is(t1, "git -C %s rev-parse pai/task-1 | tr -d '\\n'",
		     remote));

	/* a URL rewritten by url.<base>.insteadOf */
	sh("git -C %s/%s config url.%s/.insteadOf mirror: && "
	   "git -C %s/%s branch other main", tmp, r, tmp, tmp, r);
	CHECK(merge_push(repo_path(r), "mirror:push-remote.git", "other",
			 NULL, 0, err, sizeof(err)) == 0);
	CHECK(out_is("other\n", "git -C %s branch --list other | tr -d ' '",
		     remote));

	CHECK(merge_push(repo_path(r), "upstream", "main", NULL, 0, err,
			 sizeof(err)) == -ENOENT);
	CHECK_STR(err, "cannot push 'main': no such remote 'upstream'");
	CHECK(merge_push(repo_path(r), "origin", "nosuch", NULL, 0, err,
			 sizeof(err)) == -ENOENT);

	/* a commit named: pushed only when the branch is exactly it */
	sh("git -C %s/%s branch -f other %s", tmp, r, t1);
	rev(r, "main", main_oid);
	CHECK(merge_push(repo_path(r), "origin", "other", main_oid, 0, err,
			 sizeof(err)) == -EBUSY);
	snprintf(want, sizeof(want), "cannot push 'other': it moved to %.7s"
		 " from %.7s", t1, main_oid);
	CHECK_STR(err, want);
	CHECK(out_is("", "git -C %s rev-parse -q --verify other | grep %s",
		     remote, t1));
	CHECK(merge_push(repo_path(r), "origin", "other", t1, 1, err,
			 sizeof(err)) == 0);
	CHECK(out_is(t1, "git -C %s rev-parse other | tr -d '\\n'", remote));
}

/* ---- clean-up ---- */

static void test_worktree_remove(void)
{
	char t1[41], wt[PATH_MAX], other[PATH_MAX];
	const char *r = "prune";

	make_repo(r);
	task(r, 1, "main", "echo one > a.txt", t1);
	task(r, 2, "main", "echo two > a.txt", t1);
	snprintf(wt, sizeof(wt), "%s/%s.wt/1", tmp, r);
	/* worktree names are the directory's last component: "1" */
	CHECK(worktree_remove(repo_path(r), "1", wt, "pai/task-1", err,
				    sizeof(err)) == 0);
	CHECK(!exists("%s", wt));
	CHECK(!exists("%s/%s/.git/worktrees/1", tmp, r));
	CHECK(out_is("", "git -C %s/%s branch --list pai/task-1", tmp, r));
	CHECK(out_is("", "git -C %s/%s worktree list | grep %s.wt/1", tmp, r,
		     r));
	/* again: nothing left to do */
	CHECK(worktree_remove(repo_path(r), "1", wt, "pai/task-1", err,
				    sizeof(err)) == 0);

	/* removed by hand; the branch is kept when not asked for */
	snprintf(wt, sizeof(wt), "%s/%s.wt/2", tmp, r);
	sh("rm -rf %s", wt);
	CHECK(worktree_remove(repo_path(r), "2", wt, NULL, err,
				    sizeof(err)) == 0);
	CHECK(!exists("%s/%s/.git/worktrees/2", tmp, r));
	CHECK(out_is("  pai/task-2\n", "git -C %s/%s branch --list pai/task-2",
		     tmp, r));
	CHECK(out_is("", "git -C %s/%s worktree prune -n -v", tmp, r));

	/* not a worktree: refused, left alone */
	snprintf(other, sizeof(other), "%s/%s-other", tmp, r);
	sh("mkdir -p %s && echo keep > %s/keep", other, other);
	CHECK(worktree_remove(repo_path(r), "3", other, NULL, err,
				    sizeof(err)) == -EINVAL);
	CHECK(exists("%s/keep", other));
	/* the checked-out branch is not deleted */
	CHECK(worktree_remove(repo_path(r), "3", "/nonexistent/x",
				    "main", err, sizeof(err)) == -EBUSY);
	CHECK(out_is("* main\n", "git -C %s/%s branch --list main", tmp, r));
}

static void test_disk_usage(void)
{
	char dir[PATH_MAX];
	uint64_t bytes = 0;
	char *du;

	snprintf(dir, sizeof(dir), "%s/du", tmp);
	sh("mkdir -p %s/sub && head -c 100000 /dev/urandom > %s/sub/big && "
	   "ln %s/sub/big %s/link && ln -s big %s/sub/sym && "
	   "echo small > %s/small", dir, dir, dir, dir, dir, dir);
	CHECK(disk_usage(dir, &bytes) == 0);
	CHECK(bytes >= 100000 && bytes < 200000);
	du = out("du -s -B1 %s | cut -f1", dir);
	CHECK((uint64_t)atoll(du) == bytes);
	free(du);
	CHECK(disk_usage("/nonexistent/x", &bytes) == -ENOENT);
}

int main(void)
{
	char dir[] = "/tmp/test_merge.XXXXXX";

	if (gitfix_setup(dir) < 0)
		return 1;

	git_libgit2_init();
	RUN(test_same_lines_conflict);
	RUN(test_different_hunks_of_one_file_merge_clean);
	RUN(test_different_files_merge_clean);
	RUN(test_add_and_delete_files);
	RUN(test_conflicts_of_an_unknown_commit);
	RUN(test_matrix_computes_only_new_pairs);
	RUN(test_base_moved_by_a_commit_in_the_checkout);
	RUN(test_matrix_agrees_with_full_merges);
	RUN(test_file_directory_clashes_conflict);
	RUN(test_file_directory_clash_in_matrix_order_and_merge);
	RUN(test_merge_carries_a_change_across_a_rename);
	RUN(test_merge_order_leaves_out_a_conflict);
	RUN(test_merge_order_puts_dependencies_first);
	RUN(test_merge_fast_forward);
	RUN(test_merge_commit);
	RUN(test_squash);
	RUN(test_rebase);
	RUN(test_merge_refused_when_a_touched_path_is_dirty);
	RUN(test_merge_keeps_dirty_untouched_paths);
	RUN(test_merge_never_writes_through_a_symbolic_link);
	RUN(test_merge_never_writes_over_untracked_files);
	RUN(test_merge_replaces_a_tracked_symbolic_link);
	RUN(test_conflicting_merge_is_refused);
	RUN(test_merge_into_a_branch_checked_out_nowhere);
	RUN(test_merge_into_a_linked_worktree);
	RUN(test_merge_of_a_moved_branch_is_refused);
	RUN(test_strategy_names);
	RUN(test_push_to_a_bare_repository);
	RUN(test_worktree_remove);
	RUN(test_disk_usage);
	git_libgit2_shutdown();

	if (!check_failures)
		sh("rm -rf %s", tmp);
	else
		fprintf(stderr, "repositories kept in %s\n", tmp);
	return check_done();
}
