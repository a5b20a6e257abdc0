/*
 * Unit tests for group: group commit's leader and waiters, with real
 * threads. The grouping checks are made deterministic by a writer that
 * holds its first group until the other threads have queued.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "group.h"

#define THREADS 8

struct log {
	struct group *g;
	pthread_mutex_t lock;
	pthread_cond_t first;	/* the first group is being written */
	size_t sizes[64];	/* items of each group written, in order */
	size_t n;
	size_t hold_until;	/* first group: wait for this many queued */
};

/* Each item's result is its own number, negated: what a waiter gets
 * back tells whether it was given its own. */
static void write_log(void *ctx, struct group_item *first)
{
	struct log *lg = ctx;
	struct group_item *it;
	size_t size = 0;

	for (it = first; it; it = it->next) {
		it->result = -(int)(intptr_t)it->arg;
		size++;
	}
	pthread_mutex_lock(&lg->lock);
	if (lg->n < 64)
		lg->sizes[lg->n] = size;
	if (++lg->n == 1)
		pthread_cond_broadcast(&lg->first);
	pthread_mutex_unlock(&lg->lock);
	if (lg->n == 1)
		while (group_waiting(lg->g) < lg->hold_until)
			sched_yield();
}

struct submitter {
	struct log *lg;
	int number;
	int result;
};

static void *submit_one(void *arg)
{
	struct submitter *s = arg;
	struct group_item it = { .arg = (void *)(intptr_t)s->number };

	s->result = group_submit(s->lg->g, &it, write_log, s->lg);
	return NULL;
}

static void test_lone_writer_waits_for_nobody(void)
{
	struct group g;
	struct log lg = { .g = &g };
	struct group_item it;
	int i;

	CHECK(group_init(&g) == 0);
	pthread_mutex_init(&lg.lock, NULL);
	pthread_cond_init(&lg.first, NULL);
	for (i = 1; i <= 5; i++) {
		it.arg = (void *)(intptr_t)i;
		CHECK(group_submit(&g, &it, write_log, &lg) == -i);
	}
	CHECK(lg.n == 5);
	for (i = 0; i < 5; i++)
		CHECK(lg.sizes[i] == 1);
	CHECK(g.groups == 5 && g.items == 5);
	pthread_cond_destroy(&lg.first);
	pthread_mutex_destroy(&lg.lock);
	group_destroy(&g);
}

/* While the first group is written, the seven others queue: they go
 * together in the second, each with its own result. */
static void test_waiters_go_in_one_group(void)
{
	struct group g;
	struct log lg = { .g = &g, .hold_until = THREADS - 1 };
	struct submitter s[THREADS];
	pthread_t th[THREADS];
	int k;

	CHECK(group_init(&g) == 0);
	pthread_mutex_init(&lg.lock, NULL);
	pthread_cond_init(&lg.first, NULL);
	for (k = 0; k < THREADS; k++) {
		s[k].lg = &lg;
		s[k].number = k + 1;
		s[k].result = 0;
	}
	CHECK(pthread_create(&th[0], NULL, submit_one, &s[0]) == 0);
	/* The others start once the first is writing its group. */
	pthread_mutex_lock(&lg.lock);
	while (lg.n == 0)
		pthread_cond_wait(&lg.first, &lg.lock);
	pthread_mutex_unlock(&lg.lock);
	for (k = 1; k < THREADS; k++)
		CHECK(pthread_create(&th[k], NULL, submit_one, &s[k]) == 0);
	for (k = 0; k < THREADS; k++)
		pthread_join(th[k], NULL);
	for (k = 0; k < THREADS; k++)
		CHECK(s[k].result == -(k + 1));
	CHECK(lg.n == 2);
	CHECK(lg.sizes[0] == 1);
	CHECK(lg.sizes[1] == THREADS - 1);
	CHECK(g.groups == 2 && g.items == THREADS);
	CHECK(group_waiting(&g) == 0);
	pthread_cond_destroy(&lg.first);
	pthread_mutex_destroy(&lg.lock);
	group_destroy(&g);
}

#define EACH 2000

struct stress {
	struct group *g;
	struct log *lg;
	int base;
	int wrong;
};

static void *submit_many(void *arg)
{
	struct stress *s = arg;
	struct group_item it;
	int i;

	for (i = 1; i <= EACH; i++) {
		it.arg = (void *)(intptr_t)(s->base + i);
		if (group_submit(s->g, &it, write_log, s->lg) !=
		    -(s->base + i))
			s->wrong++;
	}
	return NULL;
}

/* Many writers at once: every item written once, every result its own. */
static void test_many_writers_every_item_once(void)
{
	struct group g;
	struct log lg = { .g = &g };
	struct stress s[THREADS];
	pthread_t th[THREADS];
	int k;

	CHECK(group_init(&g) == 0);
	pthread_mutex_init(&lg.lock, NULL);
	pthread_cond_init(&lg.first, NULL);
	for (k = 0; k < THREADS; k++) {
		s[k] = (struct stress){ &g, &lg, k * EACH, 0 };
		CHECK(pthread_create(&th[k], NULL, submit_many, &s[k]) == 0);
	}
	for (k = 0; k < THREADS; k++) {
		pthread_join(th[k], NULL);
		CHECK(s[k].wrong == 0);
	}
	CHECK(g.items == THREADS * EACH);
	CHECK(g.groups == lg.n);
	CHECK(g.groups >= 1 && g.groups <= THREADS * EACH);
	pthread_cond_destroy(&lg.first);
	pthread_mutex_destroy(&lg.lock);
	group_destroy(&g);
}

int main(void)
{
	RUN(test_lone_writer_waits_for_nobody);
	RUN(test_waiters_go_in_one_group);
	RUN(test_many_writers_every_item_once);
	return check_done();
}
