/*
 * git/cleanup: removing a task's worktree and branch, and the disk used
 * by worktrees (du).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/mempack.h>

#include "gitmsg.h"
#include "merge.h"
#include "quote.h"
#include "gitint.h"

static int rm_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(fpath) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(fpath) < 0 && errno != ENOENT ? -1 : 0;
}

/*
 * Whether path is a worktree of repo: its .git file names a directory in
 * repo's worktrees/. An empty directory counts too (a checkout that was
 * interrupted before it wrote anything).
 */
static int is_worktree_of(git_repository *repo, const char *path)
{
	char file[PATH_MAX], line[PATH_MAX + 16], *gitdir = NULL;
	char *common = NULL;
	size_t len;
	FILE *f;
	int yes = 0;

	if (rmdir(path) == 0) {
		/* it was empty; the caller finds it gone */
		return 1;
	}
	if ((size_t)snprintf(file, sizeof(file), "%s/.git", path) >=
	    sizeof(file) || !(f = fopen(file, "r")))
		return 0;
	if (fgets(line, sizeof(line), f) && !strncmp(line, "gitdir: ", 8)) {
		len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		gitdir = realpath(line + 8, NULL);
	}
	fclose(f);
	common = realpath(git_repository_commondir(repo), NULL);
	if (gitdir && common) {
		len = strlen(common);
		yes = !strncmp(gitdir, common, len) &&
		      !strncmp(gitdir + len, "/worktrees/", 11);
	}
	free(gitdir);
	free(common);
	return yes;
}

int merge_worktree_remove(const char *repo_path, const char *name,
			  const char *path, const char *branch,
			  char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_worktree *wt = NULL;
	git_reference *ref = NULL;
	git_worktree_prune_options popts;
	char entry[PATH_MAX];
	struct stat st;
	int error;

	git_worktree_prune_options_init(&popts,
					GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if ((size_t)snprintf(entry, sizeof(entry), "%sworktrees/%s",
			     git_repository_commondir(repo), name) >=
	    sizeof(entry)) {
		gitmsg_set(err, errlen, "cannot remove worktree '%s': %s", path,
		       strerror(ENAMETOOLONG));
		error = -ENAMETOOLONG;
		goto out;
	}
	/* 1.5 fails a lookup of a missing entry without a message: ask first */
	if (lstat(entry, &st) == 0 && git_worktree_lookup(&wt, repo, name) == 0 &&
	    git_worktree_is_locked(NULL, wt) > 0) {
		gitmsg_set(err, errlen, "cannot remove worktree '%s': it is locked",
		       path);
		error = -EBUSY;
		goto out;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || !is_worktree_of(repo, path)) {
			gitmsg_set(err, errlen, "cannot remove '%s': not a "
			       "worktree of '%s'", path, repo_path);
			error = -EINVAL;
			goto out;
		}
		if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
		    errno != ENOENT) {
			error = -errno;
			gitmsg_set(err, errlen, "cannot remove worktree '%s': %s",
			       path, strerror(errno));
			goto out;
		}
	}
	/*
	 * The directory is gone: prune the entry (flags 0 prunes only an
	 * invalid, unlocked one). One that does not even parse is removed
	 * as files.
	 */
	if (wt && git_worktree_prune(wt, &popts) < 0 && lstat(entry, &st) == 0)
		nftw(entry, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else if (!wt && lstat(entry, &st) == 0)
		nftw(entry, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (lstat(entry, &st) == 0) {
		gitmsg_set(err, errlen, "cannot prune worktree '%s'", name);
		error = -EIO;
		goto out;
	}

	if (!branch)
		goto out;
	error = git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL);
	if (error == GIT_ENOTFOUND) {
		error = 0;
		goto out;
	}
	if (error == 0 && git_branch_is_checked_out(ref) == 1) {
		gitmsg_set(err, errlen, "cannot delete branch '%s': checked out",
		       branch);
		error = -EBUSY;
		goto out;
	}
	/*
	 * The ref only: git_branch_delete's removal of the branch's config
	 * section leaks in libgit2 1.5.1 (its regex), and task branches
	 * have none.
	 */
	if (error < 0 || (error = git_reference_delete(ref)) < 0) {
		gitmsg_set(err, errlen, "cannot delete branch '%s': %s", branch,
		       gitmsg_last());
		error = gitmsg_errno(error);
	}
out:
	git_reference_free(ref);
	git_worktree_free(wt);
	git_repository_free(repo);
	return error;
}

/*
 * du's walk: nftw has no payload, so the sum is per thread. Hard-linked
 * files are remembered by (dev, ino) so that each counts once.
 */
struct du_state {
	uint64_t bytes;
	struct { dev_t dev; ino_t ino; } *seen;
	size_t nseen, cap;
	int nomem;
};

static __thread struct du_state *du;

static int du_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	size_t i;

	(void)fpath;
	(void)ftw;
	if (type == FTW_NS)
		return 0;
	if (!S_ISDIR(sb->st_mode) && sb->st_nlink > 1) {
		for (i = 0; i < du->nseen; i++)
			if (du->seen[i].dev == sb->st_dev &&
			    du->seen[i].ino == sb->st_ino)
				return 0;
		if (du->nseen == du->cap) {
			size_t cap = du->cap ? du->cap * 2 : 64;
			void *p = realloc(du->seen, cap * sizeof(*du->seen));

			if (!p) {
				du->nomem = 1;
				return 1;
			}
			du->seen = p;
			du->cap = cap;
		}
		du->seen[du->nseen].dev = sb->st_dev;
		du->seen[du->nseen].ino = sb->st_ino;
		du->nseen++;
	}
	du->bytes += (uint64_t)sb->st_blocks * 512;
	return 0;
}

int merge_disk_usage(const char *path, uint64_t *bytes)
{
	struct du_state state;
	struct stat st;
	int error = 0;

	*bytes = 0;
	if (lstat(path, &st) < 0)
		return -errno;
	memset(&state, 0, sizeof(state));
	du = &state;
	if (nftw(path, du_one, 16, FTW_PHYS) < 0)
		error = -errno;
	du = NULL;
	free(state.seen);
	if (state.nomem)
		return -ENOMEM;
	*bytes = state.bytes;
	return error == -EACCES ? 0 : error;
}
