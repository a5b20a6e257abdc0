/*
 * test_gitwork: gitwork against real repositories made with the git
 * command line in a temporary directory, checked with git itself.
 *
 *	$ ./test_gitwork
 *	ok test_check_repo_refuses_a_plain_directory
 *	...
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "gitfix.h"
#include "gitrepo.h"
#include "gitwork.h"
#include "worktree.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * tmp/name: a repository with one commit of a.txt, b.txt, lib/c.txt and a
 * .gitignore for *.log; its HEAD in head.
 */
static void make_repo(const char *name, char head[41])
{
	char *h;

	sh("cd %s && git init -q -b main %s && cd %s && "
	   "printf 'alpha\\n' > a.txt && printf 'beta\\n' > b.txt && "
	   "mkdir lib && printf 'gamma\\n' > lib/c.txt && "
	   "printf '*.log\\n' > .gitignore && "
	   "git add -A && git commit -q -m base", tmp, name, name);
	h = out("git -C %s/%s rev-parse HEAD", tmp, name);
	snprintf(head, 41, "%s", h);
	free(h);
}

static void test_check_repo_refuses_a_plain_directory(void)
{
	char path[PATH_MAX], want[PATH_MAX + 64], *gitdir = (char *)"x";

	snprintf(path, sizeof(path), "%s/plain", tmp);
	mkdir(path, 0755);
	CHECK(gitrepo_check(&gitdir, path, err, sizeof(err)) == -ENOENT);
	CHECK(gitdir == NULL);
	snprintf(want, sizeof(want), "not a git repository: '%s'", path);
	CHECK_STR(err, want);
}

static void test_check_repo_refuses_a_repo_without_commits(void)
{
	char path[PATH_MAX], want[PATH_MAX + 64], *gitdir = NULL;

	snprintf(path, sizeof(path), "%s/empty", tmp);
	sh("git init -q %s", path);
	CHECK(gitrepo_check(&gitdir, path, err, sizeof(err)) == -ENOENT);
	snprintf(want, sizeof(want), "repository '%s' has no commit yet",
		 path);
	CHECK_STR(err, want);
	free(gitdir);
}

static void test_check_repo_refuses_worktree_config(void)
{
	char path[PATH_MAX], head[41], *gitdir = NULL;

	make_repo("sparse", head);
	snprintf(path, sizeof(path), "%s/sparse", tmp);
	sh("git -C %s config core.repositoryformatversion 1 && "
	   "git -C %s config extensions.worktreeConfig true", path, path);
	CHECK(gitrepo_check(&gitdir, path, err, sizeof(err)) < 0);
	CHECK(strstr(err, "extensions.worktreeConfig") != NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK(gitdir == NULL);
}

static void test_check_repo_gives_the_git_directory(void)
{
	char path[PATH_MAX], want[PATH_MAX + 16], head[41], *gitdir = NULL;

	make_repo("good", head);
	snprintf(path, sizeof(path), "%s/good", tmp);
	CHECK(gitrepo_check(&gitdir, path, err, sizeof(err)) == 0);
	snprintf(want, sizeof(want), "%s/.git", path);
	CHECK_STR(gitdir, want);
	free(gitdir);

	/* from a linked worktree: the common directory */
	sh("git -C %s worktree add -q %s/good-wt -b other", path, tmp);
	snprintf(path, sizeof(path), "%s/good-wt", tmp);
	CHECK(gitrepo_check(&gitdir, path, err, sizeof(err)) == 0);
	CHECK_STR(gitdir, want);
	free(gitdir);
}

static void test_head_is_what_git_says(void)
{
	char path[PATH_MAX], head[41], oid[41];
	char *git;

	make_repo("head", head);
	snprintf(path, sizeof(path), "%s/head", tmp);
	sh("cd %s && echo more >> a.txt && git commit -q -am second", path);
	git = out("git -C %s rev-parse HEAD | tr -d '\\n'", path);
	CHECK(gitrepo_head(path, oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, git);
	CHECK(strcmp(oid, head) != 0);
	free(git);
}

static void test_worktree_create_leaves_the_checkout_alone(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];
	char *status0, *status1, *head0, *head1, *branch, *wtstatus, *wtbranch;

	make_repo("user", head);
	snprintf(repo, sizeof(repo), "%s/user", tmp);
	snprintf(wt, sizeof(wt), "%s/user/.git/parallelai/worktrees/1", tmp);
	/* the user's work in progress: staged, unstaged and untracked */
	sh("cd %s && echo staged >> a.txt && git add a.txt && "
	   "echo unstaged >> b.txt && echo new > notes.txt", repo);
	status0 = out("git -C %s status --porcelain", repo);
	head0 = out("git -C %s rev-parse HEAD; git -C %s symbolic-ref HEAD",
		    repo, repo);

	CHECK(worktree_create(repo, "pai-task-1", wt, "pai/task-1",
				      head, err, sizeof(err)) == 0);
	CHECK(exists("%s/a.txt", wt));
	CHECK(exists("%s/lib/c.txt", wt));
	CHECK(!exists("%s/notes.txt", wt));
	branch = out("git -C %s rev-parse pai/task-1 | tr -d '\\n'", repo);
	CHECK_STR(branch, head);
	wtbranch = out("git -C %s symbolic-ref HEAD", wt);
	CHECK_STR(wtbranch, "refs/heads/pai/task-1\n");
	wtstatus = out("git -C %s status --porcelain", wt);
	CHECK_STR(wtstatus, "");

	status1 = out("git -C %s status --porcelain", repo);
	head1 = out("git -C %s rev-parse HEAD; git -C %s symbolic-ref HEAD",
		    repo, repo);
	CHECK_STR(status1, status0);
	CHECK_STR(head1, head0);
	CHECK(sh("git -C %s diff --cached --quiet", repo) == 1);
	free(status0);
	free(status1);
	free(head0);
	free(head1);
	free(branch);
	free(wtbranch);
	free(wtstatus);
}

static void test_worktree_create_again_reuses_it(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];

	make_repo("again", head);
	snprintf(repo, sizeof(repo), "%s/again", tmp);
	snprintf(wt, sizeof(wt), "%s/wts/again-2", tmp);
	CHECK(worktree_create(repo, "pai-task-2", wt, "pai/task-2",
				      head, err, sizeof(err)) == 0);
	sh("echo work > %s/work.txt", wt);
	CHECK(worktree_create(repo, "pai-task-2", wt, "pai/task-2",
				      head, err, sizeof(err)) == 0);
	CHECK(exists("%s/work.txt", wt));
	CHECK(exists("%s/a.txt", wt));

	/* the same path on another branch is not a re-run */
	CHECK(worktree_create(repo, "pai-task-3", wt, "pai/task-3",
				      head, err, sizeof(err)) == -EEXIST);
	CHECK(sh("git -C %s rev-parse -q --verify refs/heads/pai/task-3 "
		 ">/dev/null", repo) != 0);
}

static void test_worktree_create_refuses_an_existing_directory(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41], want[PATH_MAX + 64];

	make_repo("busy", head);
	snprintf(repo, sizeof(repo), "%s/busy", tmp);
	snprintf(wt, sizeof(wt), "%s/busy-wt", tmp);
	sh("mkdir -p %s && echo mine > %s/mine.txt", wt, wt);
	CHECK(worktree_create(repo, "pai-task-4", wt, "pai/task-4",
				      head, err, sizeof(err)) == -EEXIST);
	snprintf(want, sizeof(want),
		 "cannot create worktree '%s': directory exists", wt);
	CHECK_STR(err, want);
	CHECK(exists("%s/mine.txt", wt));
	CHECK(!exists("%s/a.txt", wt));
	CHECK(!exists("%s/.git/worktrees/pai-task-4", repo));
	CHECK(sh("git -C %s rev-parse -q --verify refs/heads/pai/task-4 "
		 ">/dev/null", repo) != 0);
}

static void test_worktree_create_failing_checkout_leaves_nothing(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];

	/* a commit whose blob is missing: the checkout fails half way */
	make_repo("broken", head);
	snprintf(repo, sizeof(repo), "%s/broken", tmp);
	snprintf(wt, sizeof(wt), "%s/broken-wts/5", tmp);
	sh("cd %s && blob=$(git rev-parse HEAD:lib/c.txt) && "
	   "rm -f .git/objects/$(echo $blob | cut -c1-2)/$(echo $blob | cut -c3-)",
	   repo);
	CHECK(worktree_create(repo, "pai-task-5", wt, "pai/task-5",
				      head, err, sizeof(err)) < 0);
	CHECK(strncmp(err, "cannot create worktree '", 24) == 0);
	CHECK(!exists("%s", wt));
	CHECK(!exists("%s/.git/worktrees/pai-task-5", repo));
	CHECK(sh("git -C %s rev-parse -q --verify refs/heads/pai/task-5 "
		 ">/dev/null", repo) != 0);

	/* a branch that existed before is not deleted by the cleanup */
	sh("git -C %s branch pai/task-6 %s", repo, head);
	CHECK(worktree_create(repo, "pai-task-6", wt, "pai/task-6",
				      head, err, sizeof(err)) < 0);
	CHECK(!exists("%s", wt));
	CHECK(sh("git -C %s rev-parse -q --verify refs/heads/pai/task-6 "
		 ">/dev/null", repo) == 0);

	/* the user's own checked-out branch is refused */
	snprintf(wt, sizeof(wt), "%s/broken-wts/7", tmp);
	CHECK(worktree_create(repo, "pai-task-7", wt, "main",
				      head, err, sizeof(err)) < 0);
	CHECK(!exists("%s", wt));
	CHECK(!exists("%s/.git/worktrees/pai-task-7", repo));
	CHECK(sh("git -C %s rev-parse -q --verify refs/heads/main "
		 ">/dev/null", repo) == 0);
}

static void test_worktree_create_prunes_a_removed_worktree(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];

	make_repo("stale", head);
	snprintf(repo, sizeof(repo), "%s/stale", tmp);
	snprintf(wt, sizeof(wt), "%s/stale-wt", tmp);
	CHECK(worktree_create(repo, "pai-task-8", wt, "pai/task-8",
				      head, err, sizeof(err)) == 0);
	sh("rm -rf %s", wt);
	/* run again: the branch is kept, the stale entry pruned */
	CHECK(worktree_create(repo, "pai-task-8", wt, "pai/task-8",
				      head, err, sizeof(err)) == 0);
	CHECK(exists("%s/a.txt", wt));
	CHECK(sh("git -C %s worktree list | grep -q stale-wt", repo) == 0);
}

/* A branch another worktree has checked out is refused, as git does;
 * worktree_create reads the other entries' HEAD files for it. */
static void test_worktree_create_refuses_a_branch_checked_out_elsewhere(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], wt2[PATH_MAX], head[41];
	char want[PATH_MAX + 64];

	make_repo("twice", head);
	snprintf(repo, sizeof(repo), "%s/twice", tmp);
	snprintf(wt, sizeof(wt), "%s/twice-wts/9", tmp);
	snprintf(wt2, sizeof(wt2), "%s/twice-wts/10", tmp);
	CHECK(worktree_create(repo, "pai-task-9", wt, "pai/task-9",
				      head, err, sizeof(err)) == 0);
	CHECK(worktree_create(repo, "pai-task-10", wt2, "pai/task-9",
				      head, err, sizeof(err)) == -EEXIST);
	snprintf(want, sizeof(want), "cannot create worktree '%s': "
		 "reference is already checked out", wt2);
	CHECK_STR(err, want);
	CHECK(!exists("%s", wt2));
	CHECK(!exists("%s/.git/worktrees/pai-task-10", repo));
	/* the first is untouched, and git sees it as before */
	CHECK(sh("git -C %s worktree list | grep -q 'twice-wts/9 .*"
		 "\\[pai/task-9\\]'", repo) == 0);
	CHECK(sh("git -C %s status --porcelain | grep -q .", wt) != 0);
}

static void test_worktree_create_honours_gitattributes(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];
	char *content;

	/* checkout's filters are skipped only when they would do nothing */
	make_repo("attrs", head);
	snprintf(repo, sizeof(repo), "%s/attrs", tmp);
	snprintf(wt, sizeof(wt), "%s/attrs-wt", tmp);
	sh("cd %s && mkdir -p win && printf '*.txt eol=crlf\\n' > "
	   "win/.gitattributes && printf 'one\\n' > win/x.txt && "
	   "git add -A && git commit -q -m attrs", repo);
	CHECK(gitrepo_head(repo, head, err, sizeof(err)) == 0);
	CHECK(worktree_create(repo, "pai-task-13", wt, "pai/task-13",
				      head, err, sizeof(err)) == 0);
	content = out("od -c %s/win/x.txt | head -1", wt);
	CHECK(strstr(content, "\\r  \\n") != NULL);
	free(content);
	content = out("od -c %s/a.txt | head -1", wt);
	CHECK(strstr(content, "\\r") == NULL);
	free(content);
}

/*
 * The checkout's index is what git would have written: every entry
 * with its file's stat data, so git trusts it without reading the files,
 * and modes as committed. gitrepo_init turns off libgit2's strict hash
 * and object checks; the objects must come out the same without them.
 */
static void test_worktree_create_writes_a_clean_index(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];
	char *want, *got, *stale;

	make_repo("modes", head);
	snprintf(repo, sizeof(repo), "%s/modes", tmp);
	snprintf(wt, sizeof(wt), "%s/modes-wt", tmp);
	sh("cd %s && printf '#!/bin/sh\\n' > run.sh && chmod 755 run.sh && "
	   "ln -s lib/c.txt c-link && mkdir -p deep/er && "
	   "printf 'x\\n' > deep/er/x.txt && "
	   "git add -A && git commit -q -m modes", repo);
	CHECK(gitrepo_head(repo, head, err, sizeof(err)) == 0);
	CHECK(worktree_create(repo, "pai-task-15", wt, "pai/task-15",
				      head, err, sizeof(err)) == 0);

	/* modes, ids and paths as in the commit */
	want = out("git -C %s ls-tree -r %s", repo, head);
	got = out("git -C %s ls-files -s | "
		  "awk '{ printf \"%%s blob %%s\\t%%s\\n\", $1, $2, $4 }'", wt);
	CHECK_STR(got, want);
	free(want);
	free(got);
	CHECK((lmode("%s/run.sh", wt) & 0111) == 0111);
	CHECK(S_ISREG(lmode("%s/a.txt", wt)) &&
	      (lmode("%s/a.txt", wt) & 0111) == 0);
	CHECK(S_ISLNK(lmode("%s/c-link", wt)));
	got = out("readlink %s/c-link", wt);
	CHECK_STR(got, "lib/c.txt\n");
	free(got);

	/* stat data: diff-files compares it alone, without refreshing */
	got = out("git -C %s diff-files", wt);
	CHECK_STR(got, "");
	free(got);
	stale = out("git -C %s ls-files --debug | "
		    "awk '/^  size:/ && $2 == 0' | wc -l", wt);
	CHECK_STR(stale, "0\n");
	free(stale);
	got = out("git -C %s status --porcelain", wt);
	CHECK_STR(got, "");
	free(got);
}

static void test_discard_and_clear_locks_after_a_kill(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];

	make_repo("killed", head);
	snprintf(repo, sizeof(repo), "%s/killed", tmp);
	snprintf(wt, sizeof(wt), "%s/killed-wt", tmp);
	CHECK(worktree_create(repo, "pai-task-14", wt, "pai/task-14",
				      head, err, sizeof(err)) == 0);
	/* what a daemon killed mid-commit leaves */
	sh("touch %s/.git/refs/heads/pai/task-14.lock "
	   "%s/.git/worktrees/pai-task-14/HEAD.lock "
	   "%s/.git/worktrees/pai-task-14/index.lock", repo, repo, repo);
	CHECK(worktree_clear_locks(repo, "pai-task-14", "pai/task-14", err,
				  sizeof(err)) == 0);
	CHECK(!exists("%s/.git/refs/heads/pai/task-14.lock", repo));
	CHECK(!exists("%s/.git/worktrees/pai-task-14/index.lock", repo));
	CHECK(!exists("%s/.git/worktrees/pai-task-14/HEAD.lock", repo));

	/* an interrupted create: gone, the branch kept, create works again */
	CHECK(worktree_discard(repo, "pai-task-14", wt, err,
				       sizeof(err)) == 0);
	CHECK(!exists("%s", wt));
	CHECK(!exists("%s/.git/worktrees/pai-task-14", repo));
	CHECK(sh("git -C %s rev-parse -q --verify refs/heads/pai/task-14 "
		 ">/dev/null", repo) == 0);
	CHECK(worktree_create(repo, "pai-task-14", wt, "pai/task-14",
				      head, err, sizeof(err)) == 0);
	CHECK(exists("%s/a.txt", wt));
}

static void test_commit_all_commits_added_modified_and_deleted(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41], oid[41];
	struct gitwork_author author = { "Task Seven", "t7@example.com" };
	struct buf b;
	char *branch, *who, *git_diff, *parents;

	make_repo("commit", head);
	snprintf(repo, sizeof(repo), "%s/commit", tmp);
	snprintf(wt, sizeof(wt), "%s/commit-wt", tmp);
	CHECK(worktree_create(repo, "pai-task-9", wt, "pai/task-9",
				      head, err, sizeof(err)) == 0);
	sh("cd %s && printf 'hello new file\\n' > new.txt && "
	   "echo changed >> a.txt && rm b.txt && echo noise > build.log",
	   wt);
	CHECK(gitwork_commit_all(wt, "parallelai: task 9", &author, NULL, oid,
				 err, sizeof(err)) == 0);
	CHECK(strlen(oid) == 40 && strcmp(oid, head) != 0);
	branch = out("git -C %s rev-parse pai/task-9 | tr -d '\\n'", repo);
	CHECK_STR(branch, oid);
	who = out("git -C %s log -1 --format='%%an <%%ae> %%cn|%%s|%%b' %s",
		  repo, oid);
	CHECK_STR(who, "Task Seven <t7@example.com> Task Seven|"
		  "parallelai: task 9|\n");
	parents = out("git -C %s rev-parse %s^@ | tr -d '\\n'", repo, oid);
	CHECK_STR(parents, head);

	buf_init(&b, 1 << 20);
	CHECK(gitwork_files(repo, head, oid, NULL, &b, err, sizeof(err)) == 0);
	CHECK_STR(buf_cstr(&b), "M\ta.txt\nD\tb.txt\nA\tnew.txt\n");
	buf_release(&b);

	CHECK(gitwork_diff(repo, head, oid, NULL, &b, err, sizeof(err)) == 0);
	CHECK(strstr(buf_cstr(&b), "+hello new file\n") != NULL);
	CHECK(strstr(buf_cstr(&b), "-beta\n") != NULL);
	CHECK(strstr(buf_cstr(&b), " alpha\n+changed\n") != NULL);
	CHECK(strstr(buf_cstr(&b), "build.log") == NULL);
	git_diff = out("git -C %s diff %s %s", repo, head, oid);
	CHECK_STR(buf_cstr(&b), git_diff);
	buf_release(&b);

	/* the worktree is clean after the commit, ignored file aside */
	free(who);
	who = out("git -C %s status --porcelain", wt);
	CHECK_STR(who, "");
	free(who);
	free(branch);
	free(git_diff);
	free(parents);
}

static void test_commit_all_without_changes_keeps_head(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41], oid[41];
	struct buf b;
	char *count;

	make_repo("nochange", head);
	snprintf(repo, sizeof(repo), "%s/nochange", tmp);
	snprintf(wt, sizeof(wt), "%s/nochange-wt", tmp);
	CHECK(worktree_create(repo, "pai-task-10", wt, "pai/task-10",
				      head, err, sizeof(err)) == 0);
	sh("echo ignored > %s/x.log", wt);
	CHECK(gitwork_commit_all(wt, "nothing", NULL, NULL, oid, err,
				 sizeof(err)) == 0);
	CHECK_STR(oid, head);
	count = out("git -C %s rev-list --count pai/task-10", repo);
	CHECK_STR(count, "1\n");
	free(count);

	/* and the default author when there is a change */
	sh("echo x > %s/x.txt", wt);
	CHECK(gitwork_commit_all(wt, "", NULL, NULL, oid, err, sizeof(err)) == 0);
	count = out("git -C %s log -1 --format='%%an <%%ae>|%%s' %s", repo, oid);
	CHECK_STR(count, "parallelai <parallelai@localhost>|parallelai\n");
	free(count);

	/* a finished task without a commit has no diff */
	buf_init(&b, 1 << 20);
	CHECK(gitwork_diff(repo, head, "", NULL, &b, err, sizeof(err)) == 0);
	CHECK(gitwork_files(repo, head, NULL, NULL, &b, err, sizeof(err)) == 0);
	CHECK(b.len == 0);
	buf_release(&b);
}

static void test_diff_of_a_running_task_shows_new_files(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41];
	struct buf b;

	make_repo("running", head);
	snprintf(repo, sizeof(repo), "%s/running", tmp);
	snprintf(wt, sizeof(wt), "%s/running-wt", tmp);
	CHECK(worktree_create(repo, "pai-task-11", wt, "pai/task-11",
				      head, err, sizeof(err)) == 0);
	sh("cd %s && mkdir -p src/deep && printf 'int x;\\n' > src/deep/new.c "
	   "&& echo more >> lib/c.txt && rm a.txt && echo z > z.log", wt);

	buf_init(&b, 1 << 20);
	CHECK(gitwork_diff(repo, head, NULL, wt, &b, err, sizeof(err)) == 0);
	CHECK(strstr(buf_cstr(&b), "+++ b/src/deep/new.c\n") != NULL);
	CHECK(strstr(buf_cstr(&b), "+int x;\n") != NULL);
	CHECK(strstr(buf_cstr(&b), "-alpha\n") != NULL);
	CHECK(strstr(buf_cstr(&b), "+more\n") != NULL);
	CHECK(strstr(buf_cstr(&b), "z.log") == NULL);
	buf_release(&b);

	CHECK(gitwork_files(repo, head, NULL, wt, &b, err, sizeof(err)) == 0);
	CHECK_STR(buf_cstr(&b), "D\ta.txt\nM\tlib/c.txt\nA\tsrc/deep/new.c\n");
	buf_release(&b);

	/* a diff past the buffer's cap is an error, and nothing is added */
	buf_init(&b, 16);
	CHECK(gitwork_diff(repo, head, NULL, wt, &b, err, sizeof(err)) ==
	      -EFBIG);
	CHECK(b.len == 0);
	buf_release(&b);
}

static void test_worktree_of_a_20000_file_repo(void)
{
	char repo[PATH_MAX], wt[PATH_MAX], head[41], oid[41];
	double t0, t_create, t_diff, t_commit;
	struct buf b;
	char *count;

	snprintf(repo, sizeof(repo), "%s/big", tmp);
	sh("git init -q -b main %s && cd %s && "
	   "python3 -c 'import os\n"
	   "for d in range(200):\n"
	   " os.makedirs(\"d%%03d\" %% d)\n"
	   " for f in range(100):\n"
	   "  open(\"d%%03d/f%%03d.txt\" %% (d, f), \"w\").write(\"%%d %%d\\n\" %% (d, f))\n"
	   "' && git add -A && git commit -q -m big", repo, repo);
	count = out("git -C %s ls-files | wc -l", repo);
	CHECK_STR(count, "20000\n");
	free(count);
	CHECK(gitrepo_head(repo, head, err, sizeof(err)) == 0);

	snprintf(wt, sizeof(wt), "%s/big/.git/parallelai/worktrees/12", tmp);
	t0 = now();
	CHECK(worktree_create(repo, "pai-task-12", wt, "pai/task-12",
				      head, err, sizeof(err)) == 0);
	t_create = now() - t0;
	CHECK(exists("%s/d199/f099.txt", wt));

	sh("echo new > %s/d000/new.txt && echo x >> %s/d100/f050.txt", wt, wt);
	buf_init(&b, 1 << 20);
	t0 = now();
	CHECK(gitwork_files(repo, head, NULL, wt, &b, err, sizeof(err)) == 0);
	t_diff = now() - t0;
	CHECK_STR(buf_cstr(&b), "A\td000/new.txt\nM\td100/f050.txt\n");
	buf_release(&b);

	t0 = now();
	CHECK(gitwork_commit_all(wt, "big", NULL, NULL, oid, err, sizeof(err)) == 0);
	t_commit = now() - t0;
	CHECK(strcmp(oid, head) != 0);
	CHECK(gitwork_files(repo, head, oid, NULL, &b, err, sizeof(err)) == 0);
	CHECK_STR(buf_cstr(&b), "A\td000/new.txt\nM\td100/f050.txt\n");
	buf_release(&b);
	printf("20000 files: worktree create %.2fs, files %.2fs, "
	       "commit_all %.2fs\n", t_create, t_diff, t_commit);
	CHECK(t_create < 20);
}

int main(void)
{
	char dir[] = "/tmp/test_gitwork.XXXXXX";

	if (gitfix_setup(dir) < 0)
		return 1;

	CHECK(gitrepo_init() == 0);
	RUN(test_check_repo_refuses_a_plain_directory);
	RUN(test_check_repo_refuses_a_repo_without_commits);
	RUN(test_check_repo_refuses_worktree_config);
	RUN(test_check_repo_gives_the_git_directory);
	RUN(test_head_is_what_git_says);
	RUN(test_worktree_create_leaves_the_checkout_alone);
	RUN(test_worktree_create_again_reuses_it);
	RUN(test_worktree_create_refuses_an_existing_directory);
	RUN(test_worktree_create_failing_checkout_leaves_nothing);
	RUN(test_worktree_create_prunes_a_removed_worktree);
	RUN(test_worktree_create_refuses_a_branch_checked_out_elsewhere);
	RUN(test_worktree_create_honours_gitattributes);
	RUN(test_worktree_create_writes_a_clean_index);
	RUN(test_discard_and_clear_locks_after_a_kill);
	RUN(test_commit_all_commits_added_modified_and_deleted);
	RUN(test_commit_all_without_changes_keeps_head);
	RUN(test_diff_of_a_running_task_shows_new_files);
	if (!getenv("PAI_TEST_QUICK"))
		RUN(test_worktree_of_a_20000_file_repo);
	gitrepo_shutdown();

	if (!check_failures)
		sh("rm -rf %s", tmp);
	else
		fprintf(stderr, "repositories kept in %s\n", tmp);
	return check_done();
}
