/*
 * git/rev: HEAD and revisions through one long-lived libgit2 handle; see
 * include/gitrev.h.
 *
 * libgit2 reads a loose ref from its file on every lookup and reloads
 * packed-refs when its stamp changes; a missing object makes the object
 * database look for new packs. So a handle kept open sees the user's
 * commits, checkouts and gc as they happen. What it would not see is the
 * repository moved or replaced under it: a lookup that fails for any
 * reason other than the answer itself is tried once more on a fresh
 * handle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gitmsg.h"
#include "gitrev.h"

struct gitrev {
	pthread_mutex_t lock;	/* a libgit2 repository is not shared */
	char *path;
	git_repository *repo;	/* NULL until (re)opened */
};

int gitrev_open(struct gitrev **out, const char *repo, char *err,
		size_t errlen)
{
	struct gitrev *gr = calloc(1, sizeof(*gr));
	int error;

	*out = NULL;
	if (!gr || !(gr->path = strdup(repo))) {
		free(gr);
		gitmsg_set(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&gr->lock, NULL);
	if ((error = gitmsg_open_repo(&gr->repo, repo, err, errlen)) < 0) {
		gitrev_close(gr);
		return error;
	}
	*out = gr;
	return 0;
}

void gitrev_close(struct gitrev *gr)
{
	if (!gr)
		return;
	git_repository_free(gr->repo);
	pthread_mutex_destroy(&gr->lock);
	free(gr->path);
	free(gr);
}

/* What a lookup asks for: HEAD's commit, a revision's, a branch's. */
enum ask_kind { ASK_HEAD, ASK_REV, ASK_BRANCH };

/* refs/heads/NAME's commit; -ENOENT, an answer, when there is no such
 * branch. */
static int lookup_branch(git_repository *repo, const char *name,
			 char oid[OID_HEX_SIZE], char *err, size_t errlen)
{
	git_reference *ref = NULL;
	git_object *commit = NULL;
	int error;

	error = git_branch_lookup(&ref, repo, name, GIT_BRANCH_LOCAL);
	if (error == GIT_ENOTFOUND) {
		gitmsg_set(err, errlen, "branch '%s' is missing", name);
		return -ENOENT;
	}
	if (error == 0)
		error = git_reference_peel(&commit, ref, GIT_OBJECT_COMMIT);
	if (error == 0)
		git_oid_tostr(oid, OID_HEX_SIZE, git_object_id(commit));
	else
		gitmsg_set(err, errlen, "cannot read branch '%s': %s", name,
			   gitmsg_last());
	git_object_free(commit);
	git_reference_free(ref);
	return error < 0 ? -EIO : 0;
}

/* The commit rev names, or HEAD's when rev is NULL. */
static int lookup(git_repository *repo, const char *path, const char *rev,
		  char oid[OID_HEX_SIZE], char *err, size_t errlen)
{
	git_object *obj = NULL, *commit = NULL;
	int error;

	if (!rev) {
		if ((error = gitmsg_head_commit((git_commit **)&commit, repo,
						path, err, errlen)) == 0)
			git_oid_tostr(oid, OID_HEX_SIZE, git_object_id(commit));
		git_object_free(commit);
		return error;
	}
	error = git_revparse_single(&obj, repo, rev);
	if (error == 0)
		error = git_object_peel(&commit, obj, GIT_OBJECT_COMMIT);
	if (error == 0)
		git_oid_tostr(oid, OID_HEX_SIZE, git_object_id(commit));
	else
		gitmsg_set(err, errlen, "unknown revision '%s': %s", rev,
			   gitmsg_last());
	git_object_free(commit);
	git_object_free(obj);
	return error < 0 ? -EINVAL : 0;
}

static int lookup_kind(git_repository *repo, const char *path,
		       enum ask_kind kind, const char *name, char oid[OID_HEX_SIZE],
		       char *err, size_t errlen)
{
	if (kind == ASK_BRANCH)
		return lookup_branch(repo, name, oid, err, errlen);
	return lookup(repo, path, kind == ASK_HEAD ? NULL : name, oid, err,
		      errlen);
}

/* A lookup on the kept handle; when it fails, once more on a new one,
 * whose answer stands. A repository without a commit, and a branch
 * that does not exist, are answers (-ENOENT): asking again would reopen
 * the repository on every look at a deleted branch. */
static int ask(struct gitrev *gr, enum ask_kind kind, const char *name,
	       char oid[OID_HEX_SIZE], char *err, size_t errlen)
{
	git_repository *fresh;
	int error = -EIO;

	oid[0] = '\0';
	pthread_mutex_lock(&gr->lock);
	if (gr->repo &&
	    ((error = lookup_kind(gr->repo, gr->path, kind, name, oid, err,
				  errlen)) == 0 ||
	     (error == -ENOENT && kind != ASK_REV)))
		goto out;
	if ((error = gitmsg_open_repo(&fresh, gr->path, err, errlen)) < 0)
		goto out;
	git_repository_free(gr->repo);
	gr->repo = fresh;
	error = lookup_kind(gr->repo, gr->path, kind, name, oid, err, errlen);
out:
	pthread_mutex_unlock(&gr->lock);
	return error;
}

int gitrev_head(struct gitrev *gr, char oid[OID_HEX_SIZE], char *err, size_t errlen)
{
	return ask(gr, ASK_HEAD, NULL, oid, err, errlen);
}

int gitrev_resolve(struct gitrev *gr, const char *rev, char oid[OID_HEX_SIZE],
		   char *err, size_t errlen)
{
	return ask(gr, ASK_REV, rev, oid, err, errlen);
}

int gitrev_branch(struct gitrev *gr, const char *name, char oid[OID_HEX_SIZE],
		  char *err, size_t errlen)
{
	return ask(gr, ASK_BRANCH, name, oid, err, errlen);
}
