/*
 * worktree_probe: one worktree_create, timed, for profiling the
 * "worktree" benchmark case without a mount or a scheduler around it.
 * Not built by meson; link it against a build's static library:
 *
 *	$ cc -O2 -g -Iinclude bench/worktree_probe.c build-bench/src/libpai.a \
 *		$(pkg-config --cflags --libs libgit2 sqlite3 libcjson) \
 *		-lpthread -o /tmp/worktree_probe
 *	$ /tmp/worktree_probe REPO WT1
 *	create: 0.590 s
 *	$ valgrind --tool=callgrind /tmp/worktree_probe REPO WT2
 *	$ strace -c -f /tmp/worktree_probe REPO WT3
 *
 * REPO is made as bench/run's make_repo makes it (20,000 small files in
 * src/dNNN/, one commit); WT must not exist. The branch, pai/probe-N
 * for WT's last path component N, is made at REPO's HEAD like a task's.
 *
 *	-s	libgit2's strict hash and object checks back on, as they
 *		were before gitrepo_init turned them off: before and after
 *		with one binary
 *	-c	then add a file and commit it with gitwork_commit_all
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "gitrepo.h"
#include "gitwork.h"
#include "worktree.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char head[GIT_OID_HEXSZ + 1], oid[GIT_OID_HEXSZ + 1], err[512];
	char name[NAME_MAX + 16], branch[NAME_MAX + 16], path[PATH_MAX];
	const char *repo, *wt, *base;
	int c, strict = 0, commit = 0;
	double t;
	FILE *f;

	while ((c = getopt(argc, argv, "sc")) != -1) {
		if (c == 's')
			strict = 1;
		else if (c == 'c')
			commit = 1;
		else
			goto usage;
	}
	if (argc - optind != 2)
		goto usage;
	repo = argv[optind];
	wt = argv[optind + 1];
	base = strrchr(wt, '/') ? strrchr(wt, '/') + 1 : wt;
	snprintf(name, sizeof(name), "probe-%s", base);
	snprintf(branch, sizeof(branch), "pai/probe-%s", base);

	if (gitrepo_init() < 0) {
		fprintf(stderr, "worktree_probe: cannot start libgit2\n");
		return 1;
	}
	if (strict) {
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 1);
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);
	}
	if (gitrepo_head(repo, head, err, sizeof(err)) < 0)
		goto fail;
	t = now();
	if (worktree_create(repo, name, wt, branch, head, err,
				    sizeof(err)) < 0)
		goto fail;
	printf("create: %.3f s\n", now() - t);
	if (commit) {
		snprintf(path, sizeof(path), "%s/probe-new.txt", wt);
		if (!(f = fopen(path, "w")) || fputs("new\n", f) < 0 ||
		    fclose(f) != 0) {
			perror(path);
			return 1;
		}
		t = now();
		if (gitwork_commit_all(wt, "probe", NULL, NULL, oid, err,
				       sizeof(err)) < 0)
			goto fail;
		printf("commit_all: %.3f s\n", now() - t);
	}
	gitrepo_shutdown();
	return 0;
fail:
	fprintf(stderr, "worktree_probe: %s\n", err);
	return 1;
usage:
	fprintf(stderr, "usage: worktree_probe [-s] [-c] REPO WORKTREE\n");
	return 2;
}
