/*
 * watch: state changes told by the store, heard by waiters and one
 * listener. See include/watch.h.
 *
 * The ids changed since the listener last ran are kept in a small set;
 * past it, "some tasks" (0) stands for all of them, so a burst of changes
 * (a fan-out of 1,000 tasks queued at once) costs one call, not 1,000.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "watch.h"

#define WATCH_IDS 64

struct watch {
	pthread_mutex_t lock;
	pthread_cond_t moved;	/* gen grew: for watch_wait */
	pthread_cond_t work;	/* ids to tell, or stop: for the thread */
	uint64_t gen;
	int64_t ids[WATCH_IDS];	/* changed, not yet told */
	size_t n_ids;
	bool some;		/* more than WATCH_IDS: tell 0 */
	bool stop;
	pthread_mutex_t call;	/* held while the listener runs */
	void (*fn)(void *arg, int64_t id);	/* under call */
	void *arg;
	pthread_t thread;
	bool started;
};

static void tell(struct watch *w, const int64_t *ids, size_t n, bool some)
{
	size_t i;

	pthread_mutex_lock(&w->call);
	if (w->fn && some)
		w->fn(w->arg, 0);
	for (i = 0; w->fn && !some && i < n; i++)
		w->fn(w->arg, ids[i]);
	pthread_mutex_unlock(&w->call);
}

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	int64_t ids[WATCH_IDS];
	size_t n;
	bool some;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stop && !w->n_ids && !w->some)
			pthread_cond_wait(&w->work, &w->lock);
		if (w->stop)
			break;
		n = w->n_ids;
		for (size_t i = 0; i < n; i++)
			ids[i] = w->ids[i];
		some = w->some;
		w->n_ids = 0;
		w->some = false;
		pthread_mutex_unlock(&w->lock);
		tell(w, ids, n, some);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int watch_new(struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->call, NULL);
	/* watch_wait's limit must not move with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->moved, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&w->work, NULL);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		watch_free(w);
		return -EAGAIN;
	}
	w->started = true;
	*out = w;
	return 0;
}

void watch_free(struct watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	w->gen++;
	pthread_cond_broadcast(&w->work);
	pthread_cond_broadcast(&w->moved);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->moved);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->call);
	free(w);
}

void watch_changed(struct watch *w, int64_t id)
{
	size_t i;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->gen++;
	pthread_cond_broadcast(&w->moved);
	for (i = 0; i < w->n_ids && w->ids[i] != id; i++)
		;
	if (!id || (i == w->n_ids && w->n_ids == WATCH_IDS))
		w->some = true;
	else if (i == w->n_ids)
		w->ids[w->n_ids++] = id;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
}

uint64_t watch_gen(struct watch *w)
{
	uint64_t g;

	if (!w)
		return 0;
	pthread_mutex_lock(&w->lock);
	g = w->gen;
	pthread_mutex_unlock(&w->lock);
	return g;
}

uint64_t watch_wait(struct watch *w, uint64_t seen, int ms)
{
	struct timespec until;
	uint64_t g;

	if (!w)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &until);
	if (ms >= 0) {
		until.tv_sec += ms / 1000;
		until.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&w->lock);
	while (w->gen == seen && !w->stop) {
		if (ms < 0)
			pthread_cond_wait(&w->moved, &w->lock);
		else if (pthread_cond_timedwait(&w->moved, &w->lock,
						&until) == ETIMEDOUT)
			break;
	}
	g = w->gen;
	pthread_mutex_unlock(&w->lock);
	return g;
}

void watch_listen(struct watch *w, void (*fn)(void *arg, int64_t id),
		  void *arg)
{
	if (!w)
		return;
	/* Once this returns, no call to the one before is under way. */
	pthread_mutex_lock(&w->call);
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_unlock(&w->call);
}
