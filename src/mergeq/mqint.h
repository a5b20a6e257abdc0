/*
 * mqint: what the files of src/mergeq/ share. Not for use outside it;
 * the interface is include/mergeq.h. The queue's thread (queue.c) runs
 * the batches (batch.c); q->lock guards what the queue file shows and
 * the stop flag, q->adding what candidates a batch may take.
 */
#ifndef PAI_MQINT_H
#define PAI_MQINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oid.h"

struct buf;
struct pai;
struct task;

/* The scratch worktree's name and branch; the branch exists only while
 * a check runs there. */
#define SCRATCH_NAME "merge-queue"
#define SCRATCH_BRANCH "pai/merge-queue"
/* Ended rows the queue file shows. */
#define SHOWN_ENDED 50

struct cand {
	int64_t id;
	char commit[OID_HEX_SIZE];	/* the task's recorded commit */
	char *branch;
	int64_t fix_of;		/* the rejected task it fixes, 0 none */
};

struct mergeq {
	struct pai *p;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* held while candidates are added, so that a batch never takes
	 * half of what one merge all adds */
	pthread_mutex_t adding;
	bool stop, kicked, busy;
	/* for the queue file, under lock */
	int64_t batch;		/* the batch being checked, 0 none */
	char doing[256];	/* what the thread does now */
	unsigned long checks;	/* check runs since the mount */
	int64_t next_batch;
};

/* queue.c */
/* What the thread does now, for the queue file. */
void mq_doing(struct mergeq *q, int64_t batch, const char *what);
/* Is the queue stopping (unmount)? A check_spec's stop. */
bool mq_stopping(void *arg);
/* Can task t go into the queue? 0, or why not in err. */
int mq_admissible(struct pai *p, const struct task *t, char *err,
		  size_t errlen);
/* A row for task id in state (waiting, pending) and an event. */
int mq_add_one(struct mergeq *q, int64_t id, const char *state,
	       int64_t fix_of, char *err, size_t errlen);

/* batch.c */
void mq_cands_release(struct cand *c, size_t n);
/* The task left the queue for a reason of its own. */
void mq_dropped(struct mergeq *q, int64_t id, const char *why);
/* The rows that wait, in order, as candidates (those no longer fit to
 * go are dropped); at most max. */
int mq_load_waiting(struct mergeq *q, struct cand **out, size_t *n,
		    size_t max);
/* One batch: build, check, land or split. 0, -EINTR (stopping), -EAGAIN
 * (cannot go on now: the checkout in the way), rows left waiting. */
int mq_run_batch(struct mergeq *q, struct cand **v, size_t n, int out_fd);
void mq_scratch_remove(struct mergeq *q);

/* fix.c */
/* queueAutoFix: hand task id back, or say in events why not. */
void mq_auto_fix(struct mergeq *q, int64_t id);

#endif
