/*
 * sched/scheduler: worker slots and the scheduler thread, which starts the
 * next queued tasks (priority, then age; breakers and per-engine limits
 * respected) whenever a slot is free; and what the views read of it.
 *
 * Locking: s->lock guards the slots, the run records and every decision
 * that reads a task's state and then changes it (cancel, retry, start), so
 * two such decisions never interleave. The store has its own lock; it is
 * always taken inside s->lock, never the other way round. Slow work (git,
 * waiting for the engine) happens in run threads without s->lock held.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "breaker.h"
#include "ctl.h"
#include "engine.h"
#include "events.h"
#include "gitwork.h"
#include "merge.h"
#include "pai.h"
#include "review.h"
#include "runner.h"
#include "overlay.h"
#include "scheduler.h"
#include "spec.h"
#include "submit.h"
#include "store.h"
#include "wlog.h"
#include "schedint.h"

static char *engine_of(struct sched *s, int64_t id)
{
	struct task t;
	char *e;

	if (store_task_get(s->p->store, id, &t) < 0)
		return NULL;
	e = t.engine;
	t.engine = NULL;
	task_release(&t);
	return e;
}

/* Engines with [engine "NAME"] max = N and N tasks running already. */
static size_t engines_at_max(struct sched *s, const char **out, size_t room)
{
	const struct config *c = &s->p->cfg;
	size_t i, n = 0;
	int k, running;

	for (i = 0; i < c->n_engines && n < room; i++) {
		if (!c->engines[i].max)
			continue;
		running = 0;
		for (k = 0; k < s->n_slots; k++)
			if (s->slots[k].run && s->slots[k].run->engine &&
			    !strcmp(s->slots[k].run->engine,
				    c->engines[i].name))
				running++;
		if (running >= c->engines[i].max)
			out[n++] = c->engines[i].name;
	}
	return n;
}

/* Start queued tasks on free slots, by priority then age, within the
 * limits per engine and around open breakers. Called with s->lock. */
static void start_runnable(struct sched *s)
{
	const char *open[48];
	size_t n_open, n_budget;
	bool all;
	int k;

	if (s->paused || s->stopping)
		return;
	/* The backend cannot take runs (the SLURM controller is down): the
	 * tasks wait queued; its poller never blocks this thread. */
	if (runner_health(NULL, 0))
		return;
	/* A reached budget holds back its engine, or everything; starting
	 * a task spends nothing yet, so once is enough. */
	n_budget = sched_budget_gate(s, open, 16, &all);
	if (all)
		return;
	for (k = 1; k <= s->workers && !s->paused && !s->stopping; k++) {
		struct run *r;
		struct owned owned;
		pthread_t th;
		int64_t id;

		if (s->slots[k - 1].run)
			continue;
		n_open = n_budget;
		n_open += breakers_open(&s->breakers, pai_now_ms(),
					open + n_open, 16);
		n_open += engines_at_max(s, open + n_open, 16);
		/* Path locks: a task whose paths are held waits. */
		if (sched_pick(s, open, n_open, &id, &owned) < 0)
			return;
		if (store_task_start(s->p->store, id, k) < 0) {
			sched_owned_release(&owned);
			return;
		}
		r = calloc(1, sizeof(*r));
		if (!r) {
			sched_owned_release(&owned);
			goto undo;
		}
		r->owned = owned;
		r->s = s;
		r->id = id;
		r->slot = k;
		r->logfd = -1;
		r->engine = engine_of(s, id);
		s->slots[k - 1].run = r;
		s->slots[k - 1].since = pai_now_ms();
		s->runs++;
		if (pthread_create(&th, NULL, sched_run_main, r) != 0) {
			s->slots[k - 1].run = NULL;
			s->runs--;
			sched_owned_release(&r->owned);
			free(r);
			goto undo;
		}
		pthread_detach(th);
		continue;
undo:
		store_task_requeue(s->p->store, id, NULL);
		fprintf(stderr, "parallelai: cannot start a run thread\n");
		return;
	}
}

static void *sched_main(void *arg)
{
	struct sched *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		int64_t close, due;

		start_runnable(s);
		/* Open breakers and backoffs end by time alone: wake up. */
		close = breakers_next_close(&s->breakers, pai_now_ms());
		due = store_next_due(s->p->store);
		if (due && (!close || due < close))
			close = due;
		/* Spend leaves a budget's window by time alone too. */
		due = s->budget.blocked && s->p->cfg.budget_window ?
		      pai_now_ms() + 1000 : 0;
		if (due && (!close || due < close))
			close = due;
		/* A backend that is down comes back by time alone too. */
		if (runner_health(NULL, 0) && (!close ||
		    close > pai_now_ms() + 1000))
			close = pai_now_ms() + 1000;
		if (close) {
			struct timespec ts = { .tv_sec = close / 1000,
					       .tv_nsec = (close % 1000) * 1000000 };

			pthread_cond_timedwait(&s->wake, &s->lock, &ts);
		} else {
			pthread_cond_wait(&s->wake, &s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int sched_resize_slots(struct sched *s, int n)
{
	struct slot *sl;

	if (n > s->n_slots) {
		sl = realloc(s->slots, (size_t)n * sizeof(*sl));
		if (!sl)
			return -ENOMEM;
		memset(sl + s->n_slots, 0,
		       (size_t)(n - s->n_slots) * sizeof(*sl));
		s->slots = sl;
		s->n_slots = n;
	}
	s->workers = n;
	return 0;
}

int sched_start(struct sched **out, struct pai *p)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->p = p;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->idle, NULL);
	breakers_init(&s->breakers, p->cfg.breaker_failures,
		      (int64_t)p->cfg.breaker_cooldown * 1000);
	if (sched_resize_slots(s, p->cfg.workers) < 0 ||
	    sched_budget_init(s) < 0)
		goto fail;
	/* the tasks' overlays first: a run finished now commits in its own */
	overlay_recover(p->worktrees_dir);
	sched_recover(s);
	if (pthread_create(&s->thread, NULL, sched_main, s) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	sched_budget_release(s);
	free(s->slots);
	free(s);
	return -ENOMEM;
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->wake);
	/* Run threads see stopping, end their engines and requeue. */
	while (s->runs > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	breakers_release(&s->breakers);
	sched_budget_release(s);
	free(s->waits);
	free(s->slots);
	free(s);
}

void sched_kick(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

int sched_workers(struct sched *s)
{
	int k, n;

	pthread_mutex_lock(&s->lock);
	n = s->workers;
	/* A shrunk pool still shows slots that finish their task. */
	for (k = s->workers; k < s->n_slots; k++)
		if (s->slots[k].run)
			n = k + 1;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int sched_busy(struct sched *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->runs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool sched_paused(struct sched *s)
{
	bool b;

	pthread_mutex_lock(&s->lock);
	b = s->paused;
	pthread_mutex_unlock(&s->lock);
	return b;
}

int sched_worker_info(struct sched *s, int k, struct worker_info *out)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	if (k >= 1 && k <= s->n_slots &&
	    (k <= s->workers || s->slots[k - 1].run)) {
		struct slot *sl = &s->slots[k - 1];

		memset(out, 0, sizeof(*out));
		out->last_task = sl->last_task;
		if (sl->run) {
			out->task = sl->run->id;
			out->pid = sl->run->has_proc ? sl->run->proc.pid : 0;
			out->since = sl->since;
			out->last_task = sl->run->id;
		}
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

size_t sched_breakers(struct sched *s, struct breaker_info *out, size_t max)
{
	int64_t now = pai_now_ms();
	size_t i, n = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->breakers.n && n < max; i++) {
		const struct breaker *b = &s->breakers.v[i];

		if (b->open_until <= now)
			continue;
		snprintf(out[n].engine, sizeof(out[n].engine), "%s",
			 b->engine);
		out[n].failures = b->failures;
		out[n].open_until = b->open_until;
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}
