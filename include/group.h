/*
 * group: group commit. Threads that each need a durable write queue up
 * here; one of them, the leader, writes every queued item in one go (one
 * transaction, one fsync) while the others wait, then wakes each with its
 * own result. Items that arrive while it writes make the next group, so
 * the more writers there are, the bigger the groups and the fewer the
 * fsyncs, and a lone writer waits for nobody.
 *
 *	static void write(void *ctx, struct group_item *first)
 *	{
 *		BEGIN;
 *		for (it = first; it; it = it->next)
 *			it->result = insert(it->arg);	// SAVEPOINT each
 *		COMMIT;		// on failure, every it->result = error
 *	}
 *	struct group_item it = { .arg = &task };
 *	r = group_submit(&g, &it, write, db);	// it.result, once durable
 */
#ifndef PAI_GROUP_H
#define PAI_GROUP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct group_item {
	void *arg;		/* the caller's */
	int result;		/* set by the writer */
	/* private */
	struct group_item *next;
	int done;
};

/* Writes every item from first on (a list through ->next) and sets
 * each one's result. Called with no lock of the group's held. */
typedef void group_write_fn(void *ctx, struct group_item *first);

struct group {
	pthread_mutex_t lock;
	pthread_cond_t written;
	struct group_item *head, **tail;	/* waiting for a leader */
	size_t waiting;
	int busy;			/* a leader is writing */
	uint64_t groups, items;		/* written so far */
};

int group_init(struct group *g);
void group_destroy(struct group *g);

/* Queue it, wait until a group holding it is written, and return its
 * result. */
int group_submit(struct group *g, struct group_item *it,
		 group_write_fn *write, void *ctx);

/* Items queued and not yet taken by a leader. */
size_t group_waiting(struct group *g);

#endif
