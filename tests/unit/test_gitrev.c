/*
 * test_gitrev: HEAD and revisions through the long-lived handle, against
 * real repositories changed by the git command line between calls.
 */
#include <errno.h>

#include "check.h"
#include "gitfix.h"
#include "gitrepo.h"
#include "gitrev.h"

static void make_repo(const char *name)
{
	sh("git init -q -b main %s/%s && cd %s/%s && echo 1 > f && "
	   "git add f && git commit -q -m one", tmp, name, tmp, name);
}

static void test_head_follows_commits_and_checkouts(void)
{
	struct gitrev *gr;
	char oid[41], path[512], *want;

	make_repo("follow");
	snprintf(path, sizeof(path), "%s/follow", tmp);
	CHECK(gitrev_open(&gr, path, err, sizeof(err)) == 0);
	if (!gr)
		return;
	want = out("git -C %s/follow rev-parse HEAD | tr -d '\\n'", tmp);
	CHECK(gitrev_head(gr, oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	free(want);
	/* a commit, then a branch switch, each seen by the next call */
	sh("cd %s/follow && echo 2 > f && git commit -qam two", tmp);
	want = out("git -C %s/follow rev-parse HEAD | tr -d '\\n'", tmp);
	CHECK(gitrev_head(gr, oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	free(want);
	sh("cd %s/follow && git checkout -q -b side HEAD~1", tmp);
	want = out("git -C %s/follow rev-parse HEAD | tr -d '\\n'", tmp);
	CHECK(gitrev_head(gr, oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	free(want);
	/* packed away by gc: still found */
	sh("cd %s/follow && git gc -q --prune=now", tmp);
	CHECK(gitrev_resolve(gr, "main", oid, err, sizeof(err)) == 0);
	want = out("git -C %s/follow rev-parse main | tr -d '\\n'", tmp);
	CHECK_STR(oid, want);
	free(want);
	gitrev_close(gr);
}

static void test_resolve_and_its_errors(void)
{
	struct gitrev *gr;
	char oid[41], path[512], *want;

	make_repo("resolve");
	sh("cd %s/resolve && echo 2 > f && git commit -qam two && "
	   "git tag v1 HEAD~1", tmp);
	snprintf(path, sizeof(path), "%s/resolve", tmp);
	CHECK(gitrev_open(&gr, path, err, sizeof(err)) == 0);
	if (!gr)
		return;
	want = out("git -C %s/resolve rev-parse v1 | tr -d '\\n'", tmp);
	CHECK(gitrev_resolve(gr, "v1", oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	CHECK(gitrev_resolve(gr, "HEAD~1", oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	free(want);
	CHECK(gitrev_resolve(gr, "no-such-branch", oid, err,
			     sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "unknown revision 'no-such-branch'") != NULL);
	CHECK(oid[0] == '\0');
	gitrev_close(gr);
}

static void test_empty_repository_and_not_a_repository(void)
{
	struct gitrev *gr = NULL;
	char oid[41], path[512];

	sh("git init -q %s/empty", tmp);
	snprintf(path, sizeof(path), "%s/empty", tmp);
	CHECK(gitrev_open(&gr, path, err, sizeof(err)) == 0);
	if (gr) {
		CHECK(gitrev_head(gr, oid, err, sizeof(err)) == -ENOENT);
		CHECK(strstr(err, "has no commit yet") != NULL);
		/* the first commit is seen */
		sh("cd %s/empty && echo x > x && git add x && "
		   "git commit -q -m first", tmp);
		CHECK(gitrev_head(gr, oid, err, sizeof(err)) == 0);
		gitrev_close(gr);
	}
	sh("mkdir -p %s/plain", tmp);
	snprintf(path, sizeof(path), "%s/plain", tmp);
	gr = NULL;
	CHECK(gitrev_open(&gr, path, err, sizeof(err)) == -ENOENT);
	CHECK(gr == NULL);
	CHECK(strstr(err, "not a git repository") != NULL);
}

/* A branch is read afresh on every call: made, moved, packed, deleted
 * (loose and packed), each seen by the next call; a missing one is
 * -ENOENT with the branch named. */
static void test_branch_made_moved_and_deleted(void)
{
	struct gitrev *gr;
	char oid[41], path[512], *want;

	make_repo("branch");
	snprintf(path, sizeof(path), "%s/branch", tmp);
	CHECK(gitrev_open(&gr, path, err, sizeof(err)) == 0);
	if (!gr)
		return;
	CHECK(gitrev_branch(gr, "pai/task-3", oid, err, sizeof(err)) ==
	      -ENOENT);
	CHECK_STR(err, "branch 'pai/task-3' is missing");
	CHECK(oid[0] == '\0');
	sh("cd %s/branch && git branch pai/task-3", tmp);
	want = out("git -C %s/branch rev-parse main | tr -d '\\n'", tmp);
	CHECK(gitrev_branch(gr, "pai/task-3", oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	free(want);
	sh("cd %s/branch && git checkout -q pai/task-3 && echo 2 > f && "
	   "git commit -qam two && git checkout -q main", tmp);
	want = out("git -C %s/branch rev-parse pai/task-3 | tr -d '\\n'",
		   tmp);
	CHECK(gitrev_branch(gr, "pai/task-3", oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	free(want);
	/* a tag of that name is not the branch */
	sh("cd %s/branch && git branch -q -D pai/task-3 && "
	   "git tag pai/task-3", tmp);
	CHECK(gitrev_branch(gr, "pai/task-3", oid, err, sizeof(err)) ==
	      -ENOENT);
	/* packed, then deleted from packed-refs */
	sh("cd %s/branch && git branch side && git pack-refs --all", tmp);
	CHECK(gitrev_branch(gr, "side", oid, err, sizeof(err)) == 0);
	sh("cd %s/branch && git branch -q -D side", tmp);
	CHECK(gitrev_branch(gr, "side", oid, err, sizeof(err)) == -ENOENT);
	CHECK_STR(err, "branch 'side' is missing");
	gitrev_close(gr);
}

/* The repository removed and made anew under an open handle: the next
 * call answers for the new one. */
static void test_replaced_repository_is_reopened(void)
{
	struct gitrev *gr;
	char oid[41], path[512], *want;

	make_repo("moved");
	snprintf(path, sizeof(path), "%s/moved", tmp);
	CHECK(gitrev_open(&gr, path, err, sizeof(err)) == 0);
	if (!gr)
		return;
	CHECK(gitrev_head(gr, oid, err, sizeof(err)) == 0);
	sh("rm -rf %s/moved && git init -q -b main %s/moved && cd %s/moved &&"
	   " echo other > g && git add g && git commit -q -m other",
	   tmp, tmp, tmp);
	want = out("git -C %s/moved rev-parse HEAD | tr -d '\\n'", tmp);
	CHECK(gitrev_head(gr, oid, err, sizeof(err)) == 0);
	CHECK_STR(oid, want);
	free(want);
	gitrev_close(gr);
}

int main(void)
{
	char dir[] = "/tmp/test_gitrev.XXXXXX";

	if (gitfix_setup(dir) < 0)
		return 1;
	CHECK(gitrepo_init() == 0);
	RUN(test_head_follows_commits_and_checkouts);
	RUN(test_resolve_and_its_errors);
	RUN(test_empty_repository_and_not_a_repository);
	RUN(test_branch_made_moved_and_deleted);
	RUN(test_replaced_repository_is_reopened);
	gitrepo_shutdown();
	if (!check_failures)
		sh("rm -rf %s", tmp);
	return check_done();
}
