/*
 * gitrepo: libgit2 for the process, and the user's repository as a
 * whole: whether it is usable, its HEAD, whether a branch name is free,
 * the paths of a commit's tree.
 *
 *	char *gitdir, err[512];
 *	gitrepo_init();
 *	if (gitrepo_check(&gitdir, "/src/app", err, sizeof(err)) < 0)
 *		die("%s", err);	// "not a git repository: '/x'"
 *	gitrepo_branch_free("/src/app", "fix-login", err, sizeof(err));
 *
 * Every function opens its own git_repository and frees it before
 * returning, so calls from different threads never share a handle
 * (libgit2 docs/threading.md); the daemon's long-lived handle is
 * gitrev's. Results are 0 or a negative errno; err gets a one-line
 * message in git's style.
 */
#ifndef PAI_GITREPO_H
#define PAI_GITREPO_H

#include <stddef.h>

#include "oid.h"

/*
 * Start libgit2 for the whole process, with settings every caller gets:
 * no ownership check (safe.directory), and neither strict hash
 * verification of objects read nor strict existence checks of objects
 * referred to, which git does not make either.
 */
int gitrepo_init(void);
void gitrepo_shutdown(void);

/*
 * Check that path is a usable repository: it opens (refusing
 * extensions.worktreeConfig with a clear message) and HEAD points at a
 * commit. *gitdir_out gets the absolute git
 * directory (for a linked worktree: the common directory), malloc'd.
 */
int gitrepo_check(char **gitdir_out, const char *path, char *err,
		  size_t errlen);

/* The commit HEAD points at, as 40 hex digits, opening the repository
 * for it; the daemon asks through gitrev's long-lived handle instead. */
int gitrepo_head(const char *repo, char oid[OID_HEX_SIZE], char *err,
		 size_t errlen);

/* The branch HEAD is on ("main"); -EINVAL when HEAD is detached. */
int gitrepo_head_branch(const char *repo, char *name, size_t len,
			char *err, size_t errlen);

/* 0 when name is a valid branch name that does not exist yet and that
 * git would not read as another ref (a tag, a remote-tracking branch);
 * -EINVAL or -EEXIST with the reason otherwise. */
int gitrepo_branch_free(const char *repo, const char *name, char *err,
			size_t errlen);

/* Call fn for the path of every file in the commit's tree, in tree
 * order; a negative result from fn stops the walk and is returned. */
int gitrepo_each_path(const char *repo, const char *commit_oid,
		      int (*fn)(const char *path, void *arg), void *arg,
		      char *err, size_t errlen);

/* How many files the repository's index holds (its checkout's size). */
int gitrepo_file_count(const char *repo, size_t *n, char *err,
		       size_t errlen);

#endif
