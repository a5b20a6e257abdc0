/*
 * group: group commit; see include/group.h.
 *
 * A leader is whoever finds no write under way: it takes the whole queue
 * (its own item included), writes it without the group's lock, and on
 * its way out marks the items written and wakes every waiter. A waiter
 * whose item was not in that group finds the group idle and leads the
 * next one.
 */
#include "group.h"

int group_init(struct group *g)
{
	int r;

	g->head = NULL;
	g->tail = &g->head;
	g->waiting = 0;
	g->busy = 0;
	g->groups = g->items = 0;
	if ((r = pthread_mutex_init(&g->lock, NULL)) != 0)
		return -r;
	if ((r = pthread_cond_init(&g->written, NULL)) != 0) {
		pthread_mutex_destroy(&g->lock);
		return -r;
	}
	return 0;
}

void group_destroy(struct group *g)
{
	pthread_cond_destroy(&g->written);
	pthread_mutex_destroy(&g->lock);
}

int group_submit(struct group *g, struct group_item *it,
		 group_write_fn *write, void *ctx)
{
	struct group_item *first, *next;

	it->next = NULL;
	it->done = 0;
	it->result = 0;
	pthread_mutex_lock(&g->lock);
	*g->tail = it;
	g->tail = &it->next;
	g->waiting++;
	while (!it->done) {
		if (g->busy) {
			pthread_cond_wait(&g->written, &g->lock);
			continue;
		}
		g->busy = 1;
		first = g->head;
		g->head = NULL;
		g->tail = &g->head;
		g->waiting = 0;
		pthread_mutex_unlock(&g->lock);

		write(ctx, first);

		pthread_mutex_lock(&g->lock);
		g->groups++;
		for (; first; first = next) {
			/* A waiter may return (and its item go) once done
			 * is set and the lock is released: read next first. */
			next = first->next;
			first->done = 1;
			g->items++;
		}
		g->busy = 0;
		pthread_cond_broadcast(&g->written);
	}
	pthread_mutex_unlock(&g->lock);
	return it->result;
}

size_t group_waiting(struct group *g)
{
	size_t n;

	pthread_mutex_lock(&g->lock);
	n = g->waiting;
	pthread_mutex_unlock(&g->lock);
	return n;
}
