/*
 * sched/outside: what a run changed outside its task's paths, found at
 * its end, before the commit (parallelai.outsidePaths decides what
 * happens to it: sched_conclude). A task that names no paths owns
 * whatever it changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "events.h"
#include "gitwork.h"
#include "overlap.h"
#include "pai.h"
#include "schedint.h"

/* Most files named in a reason or a status line; the rest are counted. */
#define OUTSIDE_SHOWN 20

static bool owned(const cJSON *globs, const char *path)
{
	const cJSON *g;

	cJSON_ArrayForEach(g, globs)
		if (cJSON_IsString(g) && overlap_owns(g->valuestring, path))
			return true;
	return false;
}

/* Each "S\tpath" line of gitwork_files not owned: into v. A name git
 * quotes (odd bytes in it) matches no glob: outside. */
static int collect(struct outside *o, char *lines, const cJSON *globs)
{
	char *line, *save = NULL, *path, **v;

	for (line = strtok_r(lines, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!(path = strchr(line, '\t')) || owned(globs, ++path))
			continue;
		v = realloc(o->files, (o->n + 2) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		o->files = v;
		if (!(v[o->n] = strdup(path)))
			return -ENOMEM;
		v[++o->n] = NULL;
	}
	return 0;
}

int sched_outside(struct outside *o, struct pai *p, const struct task *t,
		  const char *wt, char *err, size_t errlen)
{
	cJSON *globs = NULL;
	char *json = NULL, *lines = NULL;
	struct buf b;
	int r;

	memset(o, 0, sizeof(*o));
	buf_init(&b, 16 << 20);
	if ((r = store_task_paths(p->store, t->id, &json)) < 0 || !json)
		goto out;
	if (!(globs = cJSON_Parse(json)) || !cJSON_GetArraySize(globs))
		goto out;
	if ((r = gitwork_files(p->repo, t->base, NULL, wt, &b, err,
			       errlen)) < 0)
		goto out;
	if (!b.len)
		goto out;
	if (!(lines = buf_detach(&b))) {
		r = -ENOMEM;
		goto out;
	}
	r = collect(o, lines, globs);
out:
	free(lines);
	buf_release(&b);
	cJSON_Delete(globs);
	free(json);
	if (r < 0)
		sched_outside_release(o);
	return r;
}

void sched_outside_release(struct outside *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->files[i]);
	free(o->files);
	memset(o, 0, sizeof(*o));
}

void sched_outside_words(const struct outside *o, char *out, size_t len)
{
	size_t i, at = 0;

	*out = '\0';
	for (i = 0; i < o->n && i < OUTSIDE_SHOWN && at < len; i++)
		at += (size_t)snprintf(out + at, len - at, "%s%s",
				       i ? ", " : "", o->files[i]);
	if (i < o->n && at < len)
		snprintf(out + at, len - at, " and %zu more", o->n - i);
}

char *sched_outside_json(const struct outside *o)
{
	cJSON *a = cJSON_CreateArray();
	char *s;
	size_t i;

	for (i = 0; a && i < o->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(o->files[i]));
	s = a ? cJSON_PrintUnformatted(a) : NULL;
	cJSON_Delete(a);
	return s;
}

void sched_outside_fail(struct run *r, const struct outside *o, char *why,
			size_t len)
{
	char words[1024];

	sched_outside_words(o, words, sizeof(words));
	snprintf(why, len, "changed outside its paths: %s", words);
	/* The same run again would change the same files: no retry. */
	r->retries = 0;
}

/* copy (NULL-terminated, may be NULL) and, when drop, o's files. */
static const char **skip_list(char *const *copy, const struct outside *o,
			      bool drop)
{
	size_t n = 0, i, k = 0;
	const char **v;

	while (copy && copy[n])
		n++;
	if (!(v = calloc(n + (drop ? o->n : 0) + 1, sizeof(*v))))
		return NULL;
	for (i = 0; i < n; i++)
		v[k++] = copy[i];
	for (i = 0; drop && i < o->n; i++)
		v[k++] = o->files[i];
	return v;
}

int sched_outside_begin(struct run *r, const struct task *t, const char *wt,
			struct outside *o, const char ***skip)
{
	struct pai *p = r->s->p;
	int mode = p->cfg.outside_paths;
	char err[1024], *json;
	cJSON *f;

	*skip = NULL;
	if (sched_outside(o, p, t, wt, err, sizeof(err)) < 0) {
		sched_log_line(r->logfd, "parallelai: cannot tell what changed"
			       " outside the task's paths: %s", err);
		memset(o, 0, sizeof(*o));
	}
	json = o->n ? sched_outside_json(o) : NULL;
	store_task_set_outside(p->store, t->id, json);
	if (o->n) {
		sched_outside_words(o, err, sizeof(err));
		sched_log_line(r->logfd, "parallelai: changed outside its"
			       " paths (%s): %s", mode == OUTSIDE_DROP ?
			       "left uncommitted" : mode == OUTSIDE_KEEP ?
			       "kept" : "the task fails", err);
		f = cJSON_CreateObject();
		cJSON_AddItemToObject(f, "files", cJSON_Parse(json));
		cJSON_AddStringToObject(f, "action", mode == OUTSIDE_DROP ?
					"drop" : mode == OUTSIDE_KEEP ? "keep" :
					"fail");
		events_add(p->events, "outside_paths", t->id, f);
	}
	free(json);
	*skip = skip_list(p->cfg.copy, o, mode == OUTSIDE_DROP);
	return *skip ? 0 : -ENOMEM;
}
