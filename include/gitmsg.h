/*
 * gitmsg: the error helpers every module that calls libgit2 shares.
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

/* snprintf into err, when there is one. */
void gitmsg_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* libgit2's last message, for appending after "...: ". */
const char *gitmsg_last(void);
/* A libgit2 result as a negative errno: not found -ENOENT, exists
 * -EEXIST, invalid -EINVAL, locked/modified/conflict -EBUSY, else -EIO. */
int gitmsg_errno(int gerr);

#endif
