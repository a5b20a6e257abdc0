/*
 * gitwork: a task's work in git: committed in its worktree, and shown as
 * a diff and as the list of files it changed.
 *
 *	char commit[OID_HEX_SIZE], err[512];
 *	gitwork_diff("/src/app", base, NULL, wt, &b, err, sizeof(err));
 *	gitwork_commit_all(wt, "parallelai: task 7: make test", &author,
 *			   NULL, commit, err, sizeof(err));
 *	gitwork_files("/src/app", base, commit, NULL, &b, err, sizeof(err));
 *
 * Every function opens its own git_repository and frees it before
 * returning, so calls from different threads never share a handle
 * (libgit2 docs/threading.md). The user's checkout, index and branches
 * are never written. Results are 0 or a negative errno; err gets a
 * one-line message in git's style ("cannot commit in '/x': ...").
 */
#ifndef PAI_GITWORK_H
#define PAI_GITWORK_H

#include <stddef.h>

#include "oid.h"

struct buf;

struct gitwork_author {
	const char *name;
	const char *email;
};

/*
 * (git/detach.c) A sandboxed run commits on a detached HEAD, so that no
 * branch ref need be writable to it: gitwork_detach before the run,
 * gitwork_reattach after, which moves the branch to the commit HEAD is
 * at (wherever the run left it) and puts HEAD back on the branch; a
 * worktree already on its branch is left as it is.
 */
int gitwork_detach(const char *worktree, char *err, size_t errlen);
int gitwork_reattach(const char *worktree, const char *branch, char *err,
		     size_t errlen);

/*
 * Commit everything changed in the worktree (new, modified and deleted
 * files, honouring .gitignore) onto its checked-out branch. oid_out gets
 * the new commit, or the current HEAD when there was nothing to commit.
 * Untracked paths in skip (NULL-terminated, may be NULL) are left out:
 * files copied in for the engine (worktree.copy) are not its work.
 */
int gitwork_commit_all(const char *worktree, const char *message,
		       const struct gitwork_author *author,
		       const char *const *skip, char oid_out[OID_HEX_SIZE],
		       char *err, size_t errlen);

/*
 * The same, looking only at paths (a NULL-terminated pathspec: what an
 * overlay's upper directory holds, see overlay_changed) and at the paths
 * where the index differs from base_oid's tree, when the rest of the
 * worktree is known to be base_oid's checkout. paths NULL: everything.
 */
int gitwork_commit_paths(const char *worktree, const char *message,
			 const struct gitwork_author *author,
			 const char *const *skip, const char *base_oid,
			 const char *const *paths, char oid_out[OID_HEX_SIZE],
			 char *err, size_t errlen);

/*
 * The unified diff (git diff format) and the name-status list ("A\tpath\n",
 * "M\t...", "D\t...") of a task against base_oid: against the tree of
 * commit_oid when worktree is NULL, else against the files in worktree
 * (untracked files included, .gitignore honoured). Appended to out.
 */
int gitwork_diff(const char *repo, const char *base_oid,
		 const char *commit_oid, const char *worktree,
		 struct buf *out, char *err, size_t errlen);
int gitwork_files(const char *repo, const char *base_oid,
		  const char *commit_oid, const char *worktree,
		  struct buf *out, char *err, size_t errlen);

#endif
