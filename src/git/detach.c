/*
 * git/detach: a worktree's HEAD detached for a sandboxed run, and put
 * back on the task's branch after it.
 *
 * Inside the sandbox only objects/ and worktrees/NAME/ of the git
 * directory are writable: a commit on a branch would need the ref's
 * directory, and with it every sibling branch (FACTS.md). Detached, a
 * commit lands in worktrees/NAME/HEAD; the daemon moves the branch
 * afterwards, outside.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <git2.h>

#include "gitmsg.h"
#include "gitwork.h"

int gitwork_detach(const char *worktree, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	int error;

	if ((error = gitmsg_open_repo(&repo, worktree, err, errlen)) < 0)
		return error;
	if ((error = git_repository_detach_head(repo)) < 0) {
		gitmsg_set(err, errlen, "cannot detach HEAD of '%s': %s",
			   worktree, gitmsg_last());
		error = gitmsg_errno(error);
	}
	git_repository_free(repo);
	return error;
}

/* Is HEAD on refs/heads/branch already? */
static int on_branch(git_repository *repo, const char *ref)
{
	git_reference *head = NULL;
	int yes;

	if (git_reference_lookup(&head, repo, "HEAD") < 0)
		return 0;
	yes = git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	      !strcmp(git_reference_symbolic_target(head), ref);
	git_reference_free(head);
	return yes;
}

int gitwork_reattach(const char *worktree, const char *branch, char *err,
		     size_t errlen)
{
	git_repository *repo = NULL;
	git_reference *moved = NULL;
	git_object *commit = NULL;
	char ref[1024];
	int error;

	if ((size_t)snprintf(ref, sizeof(ref), "refs/heads/%s", branch) >=
	    sizeof(ref))
		return -ENAMETOOLONG;
	if ((error = gitmsg_open_repo(&repo, worktree, err, errlen)) < 0)
		return error;
	if (on_branch(repo, ref))
		goto out;
	/* Wherever the run left HEAD (detached, or on another branch), its
	 * commit is the task's; a HEAD that names no commit moves nothing. */
	if (git_revparse_single(&commit, repo, "HEAD^{commit}") == 0 &&
	    (error = git_reference_create(&moved, repo, ref,
					  git_object_id(commit), 1,
					  "parallelai: the run's commits")) < 0)
		goto fail;
	if ((error = git_repository_set_head(repo, ref)) < 0)
		goto fail;
	goto out;
fail:
	gitmsg_set(err, errlen, "cannot put HEAD of '%s' back on '%s': %s",
		   worktree, branch, gitmsg_last());
	error = gitmsg_errno(error);
out:
	git_reference_free(moved);
	git_object_free(commit);
	git_repository_free(repo);
	return error;
}
