/*
 * gitmsg: libgit2 errors as messages and errnos; see include/gitmsg.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <git2.h>

#include "gitmsg.h"

void gitmsg_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *gitmsg_last(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown error";
}

int gitmsg_errno(int gerr)
{
	switch (gerr) {
	case 0:
		return 0;
	case GIT_ENOTFOUND:
	case GIT_EUNBORNBRANCH:
		return -ENOENT;
	case GIT_EEXISTS:
		return -EEXIST;
	case GIT_EINVALIDSPEC:
	case GIT_EINVALID:
	case GIT_EAMBIGUOUS:
		return -EINVAL;
	case GIT_ELOCKED:
	case GIT_EMODIFIED:
	case GIT_ECONFLICT:
	case GIT_EUNMERGED:
		return -EBUSY;
	default:
		return -EIO;
	}
}
