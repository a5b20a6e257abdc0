/*
 * git/msg: libgit2 errors as messages and errnos, and opening a
 * repository; see include/gitmsg.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include <git2.h>

#include "gitmsg.h"
#include "oid.h"

_Static_assert(OID_HEX_SIZE == GIT_OID_HEXSZ + 1,
	       "OID_HEX_SIZE is a commit id in hex and its NUL");

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

/*
 * Whether the repository at path sets extensions.worktreeConfig, which
 * libgit2 1.5 does not support (git sparse-checkout turns it on). Read the
 * config file ourselves: libgit2 will not open the repository to tell us,
 * and its own message ("unsupported extension name") does not say why.
 */
static int has_worktree_config(const char *path)
{
	static const char *const where[] = { "/.git/config", "/config" };
	git_config *cfg = NULL;
	char file[PATH_MAX];
	size_t i;
	int on = 0;

	for (i = 0; i < sizeof(where) / sizeof(where[0]) && !on; i++) {
		struct stat st;

		if ((size_t)snprintf(file, sizeof(file), "%s%s", path,
				     where[i]) >= sizeof(file))
			continue;
		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (git_config_open_ondisk(&cfg, file) < 0)
			continue;
		if (git_config_get_bool(&on, cfg, "extensions.worktreeconfig") < 0)
			on = 0;
		git_config_free(cfg);
		cfg = NULL;
	}
	return on;
}

/*
 * Open exactly the repository at path (no search upwards: a worktree
 * path that is not one must not find the user's repository around it).
 */
int gitmsg_open_repo(git_repository **out, const char *path,
		     char *err, size_t errlen)
{
	int error;

	*out = NULL;
	/*
	 * Asked before opening: libgit2 1.5 leaks a little on the way out
	 * of git_repository_open_ext when it refuses the extension.
	 */
	if (has_worktree_config(path)) {
		gitmsg_set(err, errlen, "cannot open repository '%s': "
		       "extensions.worktreeConfig is not supported "
		       "(set by git sparse-checkout)", path);
		return -ENOTSUP;
	}
	error = git_repository_open_ext(out, path,
					GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (error == GIT_ENOTFOUND) {
		gitmsg_set(err, errlen, "not a git repository: '%s'", path);
		return -ENOENT;
	}
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot open repository '%s': %s", path,
		       gitmsg_last());
		return gitmsg_errno(error);
	}
	return 0;
}

int gitmsg_head_commit(git_commit **out, git_repository *repo,
		       const char *path, char *err, size_t errlen)
{
	git_reference *head = NULL;
	git_object *obj = NULL;
	int error;

	*out = NULL;
	error = git_repository_head(&head, repo);
	if (error == GIT_EUNBORNBRANCH || error == GIT_ENOTFOUND) {
		gitmsg_set(err, errlen, "repository '%s' has no commit yet",
			   path);
		return -ENOENT;
	}
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot read HEAD of '%s': %s", path,
			   gitmsg_last());
		return gitmsg_errno(error);
	}
	error = git_reference_peel(&obj, head, GIT_OBJECT_COMMIT);
	if (error < 0) {
		gitmsg_set(err, errlen, "HEAD of '%s' is not a commit: %s",
			   path, gitmsg_last());
		error = gitmsg_errno(error);
	} else {
		*out = (git_commit *)obj;
	}
	git_reference_free(head);
	return error;
}
