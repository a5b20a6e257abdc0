/*
 * sim/knobs: the stand-in's knobs (config and spec), its random streams
 * and the decisions the daemon takes for it (a check failing by design).
 * Pure but for getrandom when no seed is set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "sim.h"

#define SIM_MAX_SECONDS 86400.0
#define SIM_MAX_SEED 9007199254740991.0	/* 2^53 - 1: exact in JSON */

static int knob_value(struct sim_knobs *k, const char *name, double v)
{
	if (!strcasecmp(name, "seconds")) {
		if (!(v >= 0 && v <= SIM_MAX_SECONDS))
			return -EINVAL;
		k->seconds = v;
	} else if (!strcasecmp(name, "failRate") ||
		   !strcasecmp(name, "checkFailRate")) {
		if (!(v >= 0 && v <= 1))
			return -EINVAL;
		if (!strcasecmp(name, "failRate"))
			k->fail_rate = v;
		else
			k->check_fail_rate = v;
	} else if (!strcasecmp(name, "seed")) {
		if (!(v >= 0 && v <= SIM_MAX_SEED) || v != (double)(uint64_t)v)
			return -EINVAL;
		k->seed = (uint64_t)v;
		k->seeded = true;
	} else {
		return -EINVAL;
	}
	return 0;
}

int sim_knob_set(struct sim_knobs *k, const char *name, const char *value)
{
	char *end;
	double v;

	if (!value || !*value)
		return -EINVAL;
	errno = 0;
	v = strtod(value, &end);
	if (errno || *end)
		return -EINVAL;
	return knob_value(k, name, v);
}

int sim_knobs_check_json(const cJSON *obj, char *err, size_t errlen)
{
	struct sim_knobs k = { 0 };
	const cJSON *e;

	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "task spec: 'sim' must be an object");
		return -EINVAL;
	}
	cJSON_ArrayForEach(e, obj) {
		if (strcmp(e->string, "seconds") && strcmp(e->string, "failRate") &&
		    strcmp(e->string, "checkFailRate") &&
		    strcmp(e->string, "seed")) {
			snprintf(err, errlen, "task spec: unknown field 'sim.%s'"
				 " (seconds, failRate, checkFailRate, seed)",
				 e->string);
			return -EINVAL;
		}
		if (!cJSON_IsNumber(e) || knob_value(&k, e->string,
						     e->valuedouble) < 0) {
			snprintf(err, errlen, "task spec: 'sim.%s' must be %s",
				 e->string, !strcmp(e->string, "seconds") ?
				 "a number of seconds from 0 to 86400" :
				 !strcmp(e->string, "seed") ?
				 "a whole number from 0 to 2^53-1" :
				 "a number from 0 to 1");
			return -EINVAL;
		}
	}
	return 0;
}

void sim_knobs_get(struct sim_knobs *out, const struct config *c,
		   const char *options)
{
	cJSON *opts = options ? cJSON_Parse(options) : NULL;
	const cJSON *sim = cJSON_GetObjectItemCaseSensitive(opts, "sim"), *e;

	*out = c->sim;
	cJSON_ArrayForEach(e, sim)
		if (cJSON_IsNumber(e))
			knob_value(out, e->string, e->valuedouble);
	cJSON_Delete(opts);
}

/* FNV-1a over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--) {
		h ^= *b++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void sim_rng_init(struct sim_rng *r, const struct sim_knobs *k,
		  int64_t task, int attempt, int round, const char *what)
{
	uint64_t seed = k->seed, h = 0xcbf29ce484222325ULL;

	if (!k->seeded && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed ^= (uint64_t)(uintptr_t)r;
	h = fnv(h, &seed, sizeof(seed));
	h = fnv(h, &task, sizeof(task));
	h = fnv(h, &attempt, sizeof(attempt));
	h = fnv(h, &round, sizeof(round));
	h = fnv(h, what, strlen(what));
	r->s = h;
}

void sim_rng_mix(struct sim_rng *r, const void *p, size_t n)
{
	r->s = fnv(r->s, p, n);
}

/* splitmix64 */
uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double sim_rng_unit(struct sim_rng *r)
{
	return (double)(sim_rng_next(r) >> 11) / 9007199254740992.0;
}

bool sim_check_fails(const struct sim_knobs *k, int64_t task, int attempt)
{
	struct sim_rng r;

	if (k->check_fail_rate <= 0)
		return false;
	sim_rng_init(&r, k, task, attempt, 1, "check");
	return sim_rng_unit(&r) < k->check_fail_rate;
}
