/*
 * gitrev: commits of the user's repository named by HEAD or a revision,
 * read through one long-lived libgit2 handle.
 *
 * Every submission asks for the commit its task starts from. Opening the
 * repository for that reads three configuration files and looks at some
 * forty paths; the handle does it once per mount. Refs are read afresh
 * on every call, so a commit or checkout in the repository is seen at
 * once.
 *
 *	struct gitrev *gr;
 *	if (gitrev_open(&gr, "/src/app", err, sizeof(err)) < 0)
 *		die("%s", err);
 *	gitrev_head(gr, oid, err, sizeof(err));		// "3f2a..."
 *	gitrev_resolve(gr, "v1.2~1", oid, err, sizeof(err));
 *	gitrev_branch(gr, "pai/task-7", oid, err, sizeof(err));
 *	gitrev_close(gr);
 *
 * Safe to call from any thread. Results are 0 or a negative errno with
 * a message in err: -ENOENT for a repository without a commit, -EINVAL
 * for a revision that names no commit.
 */
#ifndef PAI_GITREV_H
#define PAI_GITREV_H

#include <stddef.h>

#include "oid.h"

struct gitrev;

int gitrev_open(struct gitrev **out, const char *repo, char *err,
		size_t errlen);
void gitrev_close(struct gitrev *gr);

/* The commit HEAD points at, as 40 hex digits. */
int gitrev_head(struct gitrev *gr, char oid[OID_HEX_SIZE], char *err, size_t errlen);
/* The commit rev names (anything git rev-parse takes), as hex. */
int gitrev_resolve(struct gitrev *gr, const char *rev, char oid[OID_HEX_SIZE],
		   char *err, size_t errlen);
/* The commit the local branch name ("pai/task-7") points at; -ENOENT
 * when there is no such branch (deleted, or never made), with err
 * "branch 'pai/task-7' is missing". */
int gitrev_branch(struct gitrev *gr, const char *name, char oid[OID_HEX_SIZE],
		  char *err, size_t errlen);

#endif
