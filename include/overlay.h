/*
 * overlay: a task's worktree as a kernel overlay mount (-o
 * checkout=overlay). One read-only checkout per base commit is made once
 * with libgit2's checkout and shared by every task on that base; each
 * task gets an overlay of it (its own upper and work directories,
 * redirect_dir=on so that directories can be renamed) mounted at its
 * worktree path, and a worktree entry in the repository (the .git file
 * in the upper directory, the base's index copied, the entry locked so
 * that `git worktree prune` leaves it while it is not mounted). Making
 * one is a mount, whatever the repository's size. All of it lives beside
 * the worktrees (WORKTREES is -o worktrees=, see pai.h), on their disk,
 * as a full checkout's files would:
 *
 *	WORKTREES/.overlay/base/OID/tree	the checkout of commit OID (lowerdir)
 *	WORKTREES/.overlay/base/OID/index	its index, with the files' stat data
 *	WORKTREES/.overlay/tasks/N/info	"OID\nWORKTREE\n": written first, so
 *					that a half-made one is found again
 *	WORKTREES/.overlay/tasks/N/upper	what the task changed (upperdir)
 *	WORKTREES/.overlay/tasks/N/work	overlayfs's workdir
 *
 *	overlay_create(repo, worktrees, 7, "pai-task-7", wt, "pai/task-7", base,
 *		       err, sizeof(err));
 *	... worktree_create() finds it as the task's worktree and reuses it
 *	overlay_release(repo, worktrees, 7, "pai-task-7", ...);  unmounted
 *	worktree_remove(...);  overlay_forget(worktrees, 7);
 *
 * The daemon runs as root; where the kernel refuses, overlay_probe says
 * why and the mount is refused (checkout=overlay is never a silent
 * fallback). Functions that add or remove take worktree_lock
 * themselves. Results are 0 or a negative errno with a message in err.
 */
#ifndef PAI_OVERLAY_H
#define PAI_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether an overlay with a renamed directory mounts in WORKTREES/.overlay. */
int overlay_probe(const char *wtdir, char *err, size_t errlen);

/* Whether task id's worktree is an overlay (WORKTREES/.overlay/tasks/N/info). */
bool overlay_is(const char *wtdir, int64_t id);

/*
 * Task id's worktree at path (which must not exist, or be an empty
 * directory) on branch, made at base_oid when it does not exist: the
 * base's checkout made if no task has it yet, the entry written, the
 * overlay mounted. Nothing is left behind on failure.
 */
int overlay_create(const char *repo, const char *wtdir, int64_t id,
		   const char *name, const char *path, const char *branch,
		   const char *base_oid, char *err, size_t errlen);

/* Mount task id's overlay again where it is not mounted (after an
 * unmount of parallelai); 0 when it is. */
int overlay_mount(const char *wtdir, int64_t id, char *err,
		  size_t errlen);

/*
 * Files put into task id's worktree from below: its overlay unmounted,
 * fill(upper, arg) writes its upper directory (where a reflink from the
 * user's checkout can share extents, which through the overlay's own
 * mount it cannot), and the overlay mounted again.
 */
int overlay_seed(const char *wtdir, int64_t id,
		 void (*fill)(const char *upper, void *arg), void *arg,
		 char *err, size_t errlen);

/* Unmount task id's overlay and unlock its worktree entry, so that
 * worktree_remove may take both. */
int overlay_release(const char *repo, const char *wtdir, int64_t id,
		    const char *name, char *err, size_t errlen);

/* Task id's upper and work directories removed (after worktree_remove),
 * and its base's checkout with them when no other task uses it. */
void overlay_forget(const char *wtdir, int64_t id);

/* What a daemon killed while making task id's overlay left: unmounted,
 * removed. */
void overlay_discard(const char *wtdir, int64_t id);

/* At mount: overlays of ours that no task has unmounted, every task's
 * overlay mounted (one a dead daemon left mounted is kept: a job it
 * left may still run in it), base checkouts no task uses removed. The
 * number of tasks whose overlay could not be mounted. */
int overlay_recover(const char *wtdir);

/* At unmount: every overlay of ours unmounted. */
void overlay_unmount_all(const char *wtdir);

/* A commit id in hex, its NUL included. */
#define OVERLAY_OID_SIZE 65

/*
 * What task id changed in its overlay, from its upper directory alone, as
 * a NULL-terminated list of repository paths (a directory stands for
 * everything under it) to give the commit as its pathspec; base_oid gets
 * the commit the overlay lies on. -E2BIG when a pathspec would not do
 * (thousands of paths, or a name with a glob character): commit
 * everything. Free the list with overlay_changed_free.
 */
int overlay_changed(char ***paths, char base_oid[OVERLAY_OID_SIZE],
		    const char *worktrees, int64_t id);
void overlay_changed_free(char **paths);

/* How many of ours are mounted now (for tests and status). */
int overlay_count_mounted(const char *wtdir);

#endif
