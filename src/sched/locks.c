/*
 * sched/locks: path locks. A running task holds the paths it owns (its
 * spec's `paths`, a fan-out task's {file}); a queued task whose paths
 * may overlap those of a running task, or of a task ahead of it in the
 * queue that waits for paths itself, is passed over and waits. A task
 * takes all its locks at once when it starts and holds nothing while it
 * waits, so no cycle of waits can form (no deadlock); one ahead in the
 * queue keeps the paths it wants from those behind it (no starvation).
 *
 * The locks are the running tasks' paths, held in their struct run: a
 * daemon killed while a task runs leaves none behind, and the next mount
 * starts from the tasks it runs. Called with s->lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "overlap.h"
#include "pai.h"
#include "scheduler.h"
#include "schedint.h"

void sched_owned_release(struct owned *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->globs[i]);
	free(o->globs);
	memset(o, 0, sizeof(*o));
}

/* The paths task id owns: its own; everything (strict) or nothing when
 * it names none. */
static int owned_load(struct sched *s, int64_t id, struct owned *o)
{
	cJSON *a = NULL, *e;
	char *json = NULL;
	int r;

	memset(o, 0, sizeof(*o));
	if ((r = store_task_locks(s->p->store, id, &json)) < 0)
		return r;
	if (!json || !(a = cJSON_Parse(json)) || !cJSON_GetArraySize(a)) {
		o->all = s->p->cfg.path_locks == PATH_LOCKS_STRICT;
		goto out;
	}
	if (!(o->globs = calloc((size_t)cJSON_GetArraySize(a),
				sizeof(*o->globs)))) {
		r = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(e, a)
		if (cJSON_IsString(e) &&
		    !(o->globs[o->n++] = strdup(e->valuestring))) {
			r = -ENOMEM;
			break;
		}
out:
	cJSON_Delete(a);
	free(json);
	if (r < 0)
		sched_owned_release(o);
	return r;
}

static bool locks(const struct owned *o)
{
	return o->all || o->n;
}

static bool conflict(const struct owned *a, const struct owned *b)
{
	if (!locks(a) || !locks(b))
		return false;
	return a->all || b->all ||
	       overlap_sets((const char *const *)a->globs, a->n,
			    (const char *const *)b->globs, b->n, NULL, NULL);
}

/* The running task that holds paths o wants, or 0. */
static int64_t held_by(struct sched *s, const struct owned *o)
{
	int k;

	for (k = 0; k < s->n_slots; k++)
		if (s->slots[k].run && conflict(&s->slots[k].run->owned, o))
			return s->slots[k].run->id;
	return 0;
}

static void wait_note(struct sched *s, int64_t id, int64_t holder,
		      bool ahead)
{
	struct path_wait *w;

	if (s->n_waits == s->max_waits) {
		size_t max = s->max_waits ? 2 * s->max_waits : 16;

		if (!(w = realloc(s->waits, max * sizeof(*w))))
			return;
		s->waits = w;
		s->max_waits = max;
	}
	w = &s->waits[s->n_waits++];
	w->task = id;
	w->holder = holder;
	w->ahead = ahead;
}

int sched_pick(struct sched *s, const char *const *engines, size_t n,
	       int64_t *id, struct owned *out)
{
	int64_t skip[STORE_SKIP_MAX];
	struct owned wants[STORE_SKIP_MAX], o;
	size_t n_skip = 0, i;
	int r;

	memset(out, 0, sizeof(*out));
	s->n_waits = 0;
	for (;;) {
		int64_t holder;
		bool ahead = false;

		r = store_task_next_queued_skip(s->p->store, engines, n, skip,
						n_skip, id);
		if (r < 0 || s->p->cfg.path_locks == PATH_LOCKS_OFF)
			break;
		if ((r = owned_load(s, *id, &o)) < 0)
			break;
		holder = held_by(s, &o);
		for (i = 0; !holder && i < n_skip; i++)
			if (conflict(&wants[i], &o)) {
				holder = skip[i];
				ahead = true;
			}
		if (!holder) {
			*out = o;
			break;
		}
		wait_note(s, *id, holder, ahead);
		/* Past what one look can pass over: the rest wait. */
		if (n_skip == STORE_SKIP_MAX) {
			sched_owned_release(&o);
			r = -ENOENT;
			break;
		}
		skip[n_skip] = *id;
		wants[n_skip++] = o;
	}
	for (i = 0; i < n_skip; i++)
		sched_owned_release(&wants[i]);
	return r;
}

int sched_waiting_for(struct sched *s, int64_t id, char *out, size_t len)
{
	int ret = -ENOENT;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n_waits; i++)
		if (s->waits[i].task == id) {
			snprintf(out, len, s->waits[i].ahead ?
				 "paths wanted by task %lld, ahead in the queue" :
				 "paths held by task %lld",
				 (long long)s->waits[i].holder);
			ret = 0;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return ret;
}
