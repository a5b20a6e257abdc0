/*
 * planpaths: the paths of a plan's tasks: each task's checked as it is
 * parsed, and the pairs that may overlap, for plans/N/status (they run
 * one after the other: sched/locks.c). See include/planner.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "overlap.h"
#include "planner.h"
#include "spec.h"

int plan_step_paths(const cJSON *t, const char *name, char **json,
		    char *err, size_t errlen)
{
	const cJSON *paths = cJSON_GetObjectItemCaseSensitive(t, "paths"), *g;
	char msg[256];

	*json = NULL;
	if (!paths)
		return 0;
	if (!cJSON_IsArray(paths) || !cJSON_GetArraySize(paths)) {
		snprintf(err, errlen, "task '%s': 'paths' must be a non-empty"
			 " array of globs", name);
		return -EINVAL;
	}
	cJSON_ArrayForEach(g, paths)
		if (!cJSON_IsString(g) ||
		    spec_glob_check(g->valuestring, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "task '%s': 'paths' must be an"
				 " array of globs ('%s' is not one)", name,
				 cJSON_IsString(g) ? g->valuestring : "?");
			return -EINVAL;
		}
	*json = cJSON_PrintUnformatted(paths);
	return *json ? 0 : -ENOMEM;
}

/* The globs of a task object of a plan, as an array of strings. */
static size_t globs_of(const cJSON *t, const char **v, size_t max)
{
	const cJSON *g;
	size_t n = 0;

	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(t, "paths"))
		if (cJSON_IsString(g) && n < max)
			v[n++] = g->valuestring;
	return n;
}

int plan_overlaps(const char *plan_json, struct buf *out)
{
	cJSON *root = plan_json ? cJSON_Parse(plan_json) : NULL;
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
	const cJSON *a, *b;
	const char *ga[64], *gb[64];
	size_t na, nb, ia, ib;
	int r = 0;

	cJSON_ArrayForEach(a, tasks) {
		if (!(na = globs_of(a, ga, 64)))
			continue;
		for (b = a->next; b && r >= 0; b = b->next) {
			const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, "name");
			const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, "name");

			if (!(nb = globs_of(b, gb, 64)) ||
			    !overlap_sets(ga, na, gb, nb, &ia, &ib) ||
			    !cJSON_IsString(x) || !cJSON_IsString(y))
				continue;
			r = buf_printf(out, "overlap: %s %s (%s, %s)\n",
				       x->valuestring, y->valuestring, ga[ia],
				       gb[ib]);
		}
	}
	cJSON_Delete(root);
	return r < 0 ? r : 0;
}
