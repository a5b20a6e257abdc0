/*
 * worktree: a task's git worktree from birth to removal: made on its own
 * branch, discarded when a killed daemon left it half-made, its stale
 * lock files cleared, removed with its branch.
 *
 *	char err[512];
 *	worktree_create("/src/app", "pai-task-7",
 *			"/src/app/.git/parallelai/worktrees/7",
 *			"pai/task-7", base, err, sizeof(err));
 *	... the engine runs in the worktree, gitwork commits its work ...
 *	worktree_remove("/src/app", "pai-task-7",
 *			"/src/app/.git/parallelai/worktrees/7",
 *			"pai/task-7", err, sizeof(err));
 *
 * Every function opens its own git_repository and frees it before
 * returning. Worktrees are added and removed one at a time: create and
 * discard take worktree_lock themselves; a caller of worktree_remove
 * takes it around the call. The user's checkout, index and branches are
 * never written. Results are 0 or a negative errno; err gets a one-line
 * message in git's style ("cannot create worktree '/x': directory
 * exists").
 */
#ifndef PAI_WORKTREE_H
#define PAI_WORKTREE_H

#include <stddef.h>

/*
 * Make a linked worktree at path (which must not exist) on a new branch
 * created at base_oid. If path already holds a worktree of this repository
 * on that branch (a task that is run again), it is reused as it is and 0
 * is returned. On failure nothing is left behind: no directory, no
 * .git/worktrees/NAME entry, no branch that was created here.
 */
int worktree_create(const char *repo, const char *name, const char *path,
		    const char *branch, const char *base_oid, char *err,
		    size_t errlen);

/* Hold off worktree creation while another module adds or removes a
 * worktree (libgit2 reads every worktree entry when adding one). */
void worktree_lock(void);
void worktree_unlock(void);

/*
 * Remove what an interrupted worktree_create left at path and in the
 * repository's worktrees/NAME entry (the daemon was killed during the
 * checkout). The branch stays: it may hold commits.
 */
int worktree_discard(const char *repo, const char *name, const char *path,
		     char *err, size_t errlen);

/*
 * Remove the lock files a killed daemon may have left on a task's own
 * refs: refs/heads/BRANCH.lock and the worktree NAME's HEAD.lock and
 * index.lock. Only for a task no one else is running.
 */
int worktree_clear_locks(const char *repo, const char *name,
			 const char *branch, char *err, size_t errlen);

/*
 * Remove a task's worktree: its directory at path (rm -rf, refused with
 * -EINVAL when path exists but is not a worktree of repo), and its
 * worktrees/NAME entry in the git directory (git worktree prune); then
 * its branch, when branch is not NULL and is not checked out anywhere.
 * What is gone already (a worktree removed by hand, a branch deleted) is
 * no error. A locked worktree is refused with -EBUSY.
 */
int worktree_remove(const char *repo, const char *name, const char *path,
		    const char *branch, char *err, size_t errlen);

#endif
