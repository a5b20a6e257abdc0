/*
 * mergeq: the merge queue. Finished tasks wait in it and land on the base
 * branch only when the project's check passes on exactly the commit that
 * lands: each batch of candidates is merged onto the branch's tip in
 * memory, the result checked out in a scratch worktree (never the user's
 * checkout), the check run there, and the branch fast-forwarded to that
 * very commit. A candidate that conflicts with the tip is rejected at
 * once; a batch that fails its check is checked again (flaky checks,
 * parallelai.queueRetries) and then split in halves until the failing
 * candidates are found: with one bad candidate among K, at most
 * 1 + 2 * ceil(log2 K) check runs (with no retries).
 *
 *	mergeq_start(&q, p);		// after recovery, before the mount
 *	mergeq_add(q, 7, err, n);	// ctl: queue
 *	mergeq_add_all(q, err, n);	// ctl: merge all, with a check set
 *	mergeq_render(q, &buf, false);	// MNT/queue
 *	mergeq_stop(q);			// the check running is stopped;
 *					// the next mount checks it again
 *
 * The queue is rows in the store (store_mq_*): a restart resumes it, and
 * the branch moves in one ref update, so a crash leaves it before or
 * after a landing, never half-way. One thread does the work; the other
 * functions are safe from any thread and only queue and wake it.
 */
#ifndef PAI_MERGEQ_H
#define PAI_MERGEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct pai;
struct mergeq;

int mergeq_start(struct mergeq **out, struct pai *p);
void mergeq_stop(struct mergeq *q);

/* Whether `merge all` goes through the queue: parallelai.mergeQueue
 * true, or unset and a check configured (parallelai.check). */
bool mergeq_enabled(const struct pai *p);

/* Queue one done task: -EBUSY when it is not done (or has nothing to
 * merge), -EEXIST when it is in the queue already, -ENOENT no such task
 * or its branch is missing. */
int mergeq_add(struct mergeq *q, int64_t id, char *err, size_t errlen);
/* Queue every done task in merge order; 0 when there was none. */
int mergeq_add_all(struct mergeq *q, char *err, size_t errlen);
/* A rejected task handed back: a new task whose prompt carries why
 * (the conflicting paths, or the check's output), on top of its work
 * (its base is the rejected task's commit), with the same engine; it
 * joins the queue when it is done. *made gets its id. */
int mergeq_fix(struct mergeq *q, int64_t id, int64_t *made, char *err,
	       size_t errlen);

/* MNT/queue, or queue.json: the candidates in order, the batch being
 * checked, each one's result. */
int mergeq_render(struct mergeq *q, struct buf *out, bool json);

/* Nothing waits in the queue and nothing is being checked. */
bool mergeq_idle(struct mergeq *q);

#endif
