/*
 * breaker: circuit breakers per engine; see include/breaker.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"

void breakers_init(struct breakers *b, int threshold, int64_t cooldown_ms)
{
	memset(b, 0, sizeof(*b));
	b->threshold = threshold > 0 ? threshold : 1;
	b->cooldown_ms = cooldown_ms;
}

static struct breaker *find(struct breakers *b, const char *engine)
{
	struct breaker *v;
	size_t i;

	for (i = 0; i < b->n; i++)
		if (!strcmp(b->v[i].engine, engine))
			return &b->v[i];
	v = realloc(b->v, (b->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	b->v = v;
	v += b->n;
	memset(v, 0, sizeof(*v));
	if (!(v->engine = strdup(engine)))
		return NULL;
	b->n++;
	return v;
}

int breakers_record(struct breakers *b, const char *engine, bool failed,
		    int64_t now)
{
	struct breaker *br = find(b, engine);

	if (!br)
		return -ENOMEM;
	if (!failed) {
		br->failures = 0;
		br->open_until = 0;
		return 0;
	}
	br->failures++;
	/* Each failure past the threshold (a task that started before the
	 * breaker opened) keeps it open a full cool-down from now. */
	if (br->failures >= b->threshold) {
		int opened = br->open_until <= now;

		br->open_until = now + b->cooldown_ms;
		return opened;
	}
	return 0;
}

size_t breakers_open(const struct breakers *b, int64_t now,
		     const char **engines, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < b->n && n < max; i++)
		if (b->v[i].open_until > now)
			engines[n++] = b->v[i].engine;
	return n;
}

int64_t breakers_next_close(const struct breakers *b, int64_t now)
{
	int64_t t = 0;
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->v[i].open_until > now &&
		    (!t || b->v[i].open_until < t))
			t = b->v[i].open_until;
	return t;
}

void breakers_release(struct breakers *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->v[i].engine);
	free(b->v);
	memset(b, 0, sizeof(*b));
}
