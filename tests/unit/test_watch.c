/*
 * test_watch: the count that waiters sleep on, and the listener told from
 * watch's own thread, one id at a time or 0 for a burst.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "watch.h"

static void test_count_and_wait(void)
{
	struct watch *w;
	uint64_t g;

	CHECK(watch_new(&w) == 0);
	g = watch_gen(w);
	/* nothing changed: the limit ends the wait, the count is the same */
	CHECK(watch_wait(w, g, 10) == g);
	watch_changed(w, 7);
	CHECK(watch_gen(w) == g + 1);
	/* changed since seen: returns at once, even without a limit */
	CHECK(watch_wait(w, g, -1) == g + 1);
	watch_free(w);
	/* a NULL watch (a store without one) is no watch at all */
	watch_changed(NULL, 1);
	CHECK(watch_gen(NULL) == 0);
}

static void *change_later(void *arg)
{
	watch_changed(arg, 3);
	return NULL;
}

static void test_wait_wakes_on_change(void)
{
	struct watch *w;
	pthread_t t;
	uint64_t g;

	CHECK(watch_new(&w) == 0);
	g = watch_gen(w);
	CHECK(pthread_create(&t, NULL, change_later, w) == 0);
	/* no limit: only the change ends it (a hang is the failure) */
	CHECK(watch_wait(w, g, -1) == g + 1);
	pthread_join(t, NULL);
	watch_free(w);
}

struct heard {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int64_t ids[256];
	int n;
	bool hold;		/* the first call waits until released */
	bool other_thread;
	pthread_t caller;
};

static void listener(void *arg, int64_t id)
{
	struct heard *h = arg;

	pthread_mutex_lock(&h->lock);
	if (pthread_equal(pthread_self(), h->caller))
		h->other_thread = false;
	if (h->n < 256)
		h->ids[h->n++] = id;
	pthread_cond_broadcast(&h->cond);
	while (h->hold)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static void wait_heard(struct heard *h, int n)
{
	pthread_mutex_lock(&h->lock);
	while (h->n < n)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static void test_listener_from_its_own_thread(void)
{
	struct heard h = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			   .other_thread = true };
	struct watch *w;
	int i;

	h.caller = pthread_self();
	CHECK(watch_new(&w) == 0);
	watch_listen(w, listener, &h);
	h.hold = true;
	watch_changed(w, 5);
	wait_heard(&h, 1);
	CHECK(h.ids[0] == 5);
	/* while the listener is busy, a burst past what is kept one by one
	 * is told as 0, once */
	for (i = 1; i <= 100; i++)
		watch_changed(w, i);
	pthread_mutex_lock(&h.lock);
	h.hold = false;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.lock);
	wait_heard(&h, 2);
	watch_listen(w, NULL, NULL);
	/* once watch_listen returned, no call is under way */
	CHECK(h.n == 2);
	CHECK(h.ids[1] == 0);
	CHECK(h.other_thread);
	watch_changed(w, 9);
	watch_free(w);
	CHECK(h.n == 2);
}

int main(void)
{
	RUN(test_count_and_wait);
	RUN(test_wait_wakes_on_change);
	RUN(test_listener_from_its_own_thread);
	return check_done();
}
