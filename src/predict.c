/*
 * predict: the pairs of finished tasks that their paths said might
 * collide, beside the conflicts git finds (review_conflicts): a line
 * "predicted 7 9 (src, src/ui/a.c): conflicts" or "...: merges cleanly"
 * per pair, and "predicted" in conflicts.json. See include/review.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "merge.h"
#include "overlap.h"
#include "pai.h"
#include "review.h"
#include "store.h"

#define PREDICT_GLOBS 64

struct owner {
	cJSON *json;
	const char *g[PREDICT_GLOBS];
	size_t n;
};

static void owner_load(struct pai *p, int64_t id, struct owner *o)
{
	char *s = NULL;
	const cJSON *e;

	memset(o, 0, sizeof(*o));
	if (store_task_paths(p->store, id, &s) < 0 || !s)
		return;
	o->json = cJSON_Parse(s);
	free(s);
	cJSON_ArrayForEach(e, o->json)
		if (cJSON_IsString(e) && o->n < PREDICT_GLOBS)
			o->g[o->n++] = e->valuestring;
}

static bool conflicts(const struct merge_matrix *m, int64_t a, int64_t b)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->v[i].a == a && m->v[i].b == b)
			return true;
	return false;
}

static void one(struct buf *out, cJSON *arr, int64_t a, int64_t b,
		const char *ga, const char *gb, bool real)
{
	cJSON *o, *ps;

	if (!arr) {
		buf_printf(out, "predicted %lld %lld (%s, %s): %s\n",
			   (long long)a, (long long)b, ga, gb,
			   real ? "conflicts" : "merges cleanly");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "a", (double)a);
	cJSON_AddNumberToObject(o, "b", (double)b);
	ps = cJSON_AddArrayToObject(o, "paths");
	cJSON_AddItemToArray(ps, cJSON_CreateString(ga));
	cJSON_AddItemToArray(ps, cJSON_CreateString(gb));
	cJSON_AddBoolToObject(o, "conflict", real);
	cJSON_AddItemToArray(arr, o);
}

int review_predicted(struct pai *p, const int64_t *ids, size_t n,
		     const struct merge_matrix *m, struct buf *out,
		     cJSON *arr)
{
	struct owner *o;
	size_t i, j, ia, ib;

	if (!(o = calloc(n ? n : 1, sizeof(*o))))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		owner_load(p, ids[i], &o[i]);
	for (i = 0; i < n; i++)
		for (j = i + 1; o[i].n && j < n; j++) {
			size_t x = ids[i] < ids[j] ? i : j, y = x == i ? j : i;

			if (!o[j].n || !overlap_sets(o[x].g, o[x].n, o[y].g,
						     o[y].n, &ia, &ib))
				continue;
			one(out, arr, ids[x], ids[y], o[x].g[ia], o[y].g[ib],
			    conflicts(m, ids[x], ids[y]));
		}
	for (i = 0; i < n; i++)
		cJSON_Delete(o[i].json);
	free(o);
	return 0;
}
