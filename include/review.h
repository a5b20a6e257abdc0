/*
 * review: bringing finished tasks back together. Renders the conflicts
 * between finished, unmerged tasks (and each against the tip of the base
 * branch) and an order in which they merge cleanly, and carries out
 * merge, merge all, push and prune. The git work is merge.c's; this
 * module picks the tasks, records the outcome and says it in events.
 *
 *	review_conflicts(pai, &buf, false);	// "7 9 src/cli.c"
 *	review_merge(pai, 7, err, sizeof(err));	// -EBUSY: conflict, dirty
 *
 * The base branch is parallelai.mergeInto, else the branch the
 * repository's HEAD is on.
 */
#ifndef PAI_REVIEW_H
#define PAI_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cancel.h"
#include "oid.h"

struct buf;
struct pai;
struct task;

struct review;

int review_new(struct review **out);
void review_free(struct review *rv);

/*
 * Whether task t ended with a commit and its branch is gone now: deleted
 * outside parallelai (git branch -D), or by prune branches. Such a task
 * is not among the finished tasks of conflicts and merge-order; merging
 * it is -ENOENT.
 */
bool review_branch_missing(struct pai *p, const struct task *t);

/*
 * Whether task t ended with a commit and its branch points at another
 * one now (now gets it, when not NULL): moved by a person, another task,
 * or a process of its own. What merges and pushes is the recorded commit,
 * the one diff shows: merge and push of such a task are refused (-EBUSY,
 * event "branch_moved" with from and to) until review_rescan.
 */
bool review_branch_moved(struct pai *p, const struct task *t,
			 char now[OID_HEX_SIZE]);

/* The branch tasks merge into: parallelai.mergeInto, else the one the
 * repository's HEAD is on. */
int review_base_branch(struct pai *p, char *name, size_t len, char *err,
		       size_t errlen);
/* The done tasks merge all would take, in merge order, then those the
 * order leaves out (they conflict, or wait for one that does). */
int review_candidates(struct pai *p, int64_t **ids, size_t *n, char *err,
		      size_t errlen);
/* Merges land one at a time: the merge queue takes review's turn too. */
void review_lock(struct pai *p);
void review_unlock(struct pai *p);

/* conflicts / conflicts.json: one line per conflicting pair
 * ("7 9 a.c b.c", "7 main a.c" against the base tip). */
int review_conflicts(struct pai *p, struct buf *out, bool json);
/* (predict.c) After them, the pairs of ids whose paths may overlap:
 * "predicted 7 9 (src, src/ui/a.c): conflicts" (or "merges cleanly"),
 * or into arr (JSON objects a, b, paths, conflict) when it is not NULL. */
struct merge_matrix;
struct cJSON;
int review_predicted(struct pai *p, const int64_t *ids, size_t n,
		     const struct merge_matrix *m, struct buf *out,
		     struct cJSON *arr);
/* tasks/N/conflicts: "9 a.c" per conflicting task, "main a.c". */
int review_task_conflicts(struct pai *p, int64_t id, struct buf *out);
/* merge-order: the ids in order, then "! ID conflicts: PATHS" and
 * "! ID waits for ID" for the tasks that cannot join it. */
int review_merge_order(struct pai *p, struct buf *out);

/* The task's recorded commit into the base branch. -EBUSY (conflict,
 * uncommitted work in the way, wrong state, branch moved), -ENOENT (no
 * such task, its branch is missing). */
int review_merge(struct pai *p, int64_t id, char *err, size_t errlen);
/* In merge order, stopping at the first that cannot go (-EBUSY), a task
 * whose branch moved included. Done tasks whose branch is missing are
 * passed over, each with an event "skipped". Asked to stop (cancel), it
 * does so between two merges: -EINTR, and an event "interrupted" says how
 * many went and which task is next. */
int review_merge_all(struct pai *p, const struct pai_cancel *cancel,
		     char *err, size_t errlen);
/* The task's recorded commit to its branch at the remote; refused like
 * merge when the branch moved (-EBUSY) or is missing (-ENOENT), and for
 * a task without a result yet (-EBUSY). */
int review_push(struct pai *p, int64_t id, char *err, size_t errlen);
/* Record the tip of an ended task's branch as its result (its diff
 * changes accordingly), event "rescanned" with from and to. -EBUSY for a
 * task without a recorded commit or not done, failed or cancelled,
 * -ENOENT when its branch is missing. */
int review_rescan(struct pai *p, int64_t id, char *err, size_t errlen);
/* "", "branches", "ID" or "branches ID": see parallelai(1). Asked to
 * stop (cancel), it does so between two worktrees: -EINTR, event
 * "interrupted". */
int review_prune(struct pai *p, const char *args,
		 const struct pai_cancel *cancel, char *err, size_t errlen);
/* Bytes used by all worktrees, cached for a few seconds. */
uint64_t review_worktree_bytes(struct pai *p);

#endif
