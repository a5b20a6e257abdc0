/*
 * gitmsg: what every module that calls libgit2 shares: its errors as
 * messages and errnos, opening a repository and reading its HEAD.
 *
 *	if (git_branch_create(&ref, repo, name, base, 0) < 0) {
 *		gitmsg_set(err, errlen, "cannot create branch '%s': %s",
 *			   name, gitmsg_last());
 *		return gitmsg_errno(error);
 *	}
 */
#ifndef PAI_GITMSG_H
#define PAI_GITMSG_H

#include <stddef.h>

#include <git2.h>

/* snprintf into err, when there is one. */
void gitmsg_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* libgit2's last message, for appending after "...: ". */
const char *gitmsg_last(void);
/* A libgit2 result as a negative errno: not found -ENOENT, exists
 * -EEXIST, invalid -EINVAL, locked/modified/conflict -EBUSY, else -EIO. */
int gitmsg_errno(int gerr);

/*
 * Open exactly the repository at path (no search upwards), refusing
 * extensions.worktreeConfig with a message that says why (libgit2 1.5
 * does not support it): -ENOENT not a repository, -ENOTSUP, or libgit2's
 * error as an errno.
 */
int gitmsg_open_repo(git_repository **out, const char *path,
		     char *err, size_t errlen);

/* The commit HEAD of repo (found at path, for messages) points at:
 * -ENOENT when HEAD is unborn. */
int gitmsg_head_commit(git_commit **out, git_repository *repo,
		       const char *path, char *err, size_t errlen);

#endif
