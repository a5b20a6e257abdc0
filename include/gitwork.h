/*
 * gitwork: everything parallelai does with git, through libgit2.
 *
 * Every function opens its own git_repository and frees it before
 * returning, so calls from different threads never share a handle
 * (libgit2 docs/threading.md). The user's checkout, index and branches
 * are never written.
 *
 *	char head[41], err[512];
 *	gitwork_head("/src/app", head, err, sizeof(err));
 *	gitwork_worktree_create("/src/app", "pai-task-7",
 *				"/src/app/.git/parallelai/worktrees/7",
 *				"pai/task-7", head, err, sizeof(err));
 *	... the engine runs in the worktree ...
 *	gitwork_commit_all(wt, "parallelai: task 7: make test", &author,
 *			   NULL, commit, err, sizeof(err));
 *
 * Results are 0 or a negative errno; err gets a one-line message in git's
 * style ("cannot create worktree '/x': directory exists").
 */
#ifndef PAI_GITWORK_H
#define PAI_GITWORK_H

#include <stddef.h>

struct buf;

struct gitwork_author {
	const char *name;
	const char *email;
};

/*
 * Start libgit2 for the whole process, with settings every caller gets:
 * no ownership check (safe.directory), and neither strict hash
 * verification of objects read nor strict existence checks of objects
 * referred to, which git does not make either.
 */
int gitwork_init(void);
void gitwork_shutdown(void);

/*
 * Check that path is a usable repository: it opens (refusing
 * extensions.worktreeConfig with a clear message) and HEAD points at a
 * commit. *gitdir_out gets the absolute git
 * directory (for a linked worktree: the common directory), malloc'd.
 */
int gitwork_check_repo(const char *path, char **gitdir_out,
		       char *err, size_t errlen);

/* The commit HEAD points at, as 40 hex digits, opening the repository
 * for it; the daemon asks through gitrev's long-lived handle instead. */
int gitwork_head(const char *repo, char oid[41], char *err, size_t errlen);

/* The branch HEAD is on ("main"); -EINVAL when HEAD is detached. */
int gitwork_head_branch(const char *repo, char *name, size_t len,
			char *err, size_t errlen);


/* 0 when name is a valid branch name that does not exist yet and that
 * git would not read as another ref (a tag, a remote-tracking branch);
 * -EINVAL or -EEXIST with the reason otherwise. */
int gitwork_branch_free(const char *repo, const char *name, char *err,
			size_t errlen);

/* Call fn for the path of every file in the commit's tree, in tree
 * order; a negative result from fn stops the walk and is returned. */
int gitwork_each_path(const char *repo, const char *commit_oid,
		      int (*fn)(const char *path, void *arg), void *arg,
		      char *err, size_t errlen);

/*
 * Make a linked worktree at path (which must not exist) on a new branch
 * created at base_oid. If path already holds a worktree of this repository
 * on that branch (a task that is run again), it is reused as it is and 0
 * is returned. On failure nothing is left behind: no directory, no
 * .git/worktrees/NAME entry, no branch that was created here.
 */
int gitwork_worktree_create(const char *repo, const char *name,
			    const char *path, const char *branch,
			    const char *base_oid, char *err, size_t errlen);

/* Hold off worktree creation while another module adds or removes a
 * worktree (libgit2 reads every worktree entry when adding one). */
void gitwork_worktrees_lock(void);
void gitwork_worktrees_unlock(void);

/*
 * Remove what an interrupted gitwork_worktree_create left at path and in
 * the repository's worktrees/NAME entry (the daemon was killed during
 * the checkout). The branch stays: it may hold commits.
 */
int gitwork_worktree_discard(const char *repo, const char *name,
			     const char *path, char *err, size_t errlen);

/*
 * Remove the lock files a killed daemon may have left on a task's own
 * refs: refs/heads/BRANCH.lock and the worktree NAME's HEAD.lock and
 * index.lock. Only for a task no one else is running.
 */
int gitwork_clear_locks(const char *repo, const char *name,
			const char *branch, char *err, size_t errlen);

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
		       const char *const *skip, char oid_out[41],
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
