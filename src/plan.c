/*
 * plan: the planner's side that needs no daemon: the prompt a planner
 * engine gets, and the parsing and checking of its answer into steps
 * (include/planner.h: plan_prompt, plan_request, plan_parse). The
 * daemon's part, a plan's run, is planner.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "engine.h"
#include "planner.h"
#include "spec.h"

/* ---- prompts and answers ------------------------------------------- */

static const char plan_head[] =
"Split the request below into tasks for coding agents. Each task runs in\n"
"its own git worktree of the repository, in parallel with the others\n"
"unless it depends on them; a task that depends on others starts from\n"
"their work merged together. Prefer tasks that touch different files.\n"
"\n"
"Answer with one JSON object and nothing else, in this form:\n"
"{\"tasks\": [{\"name\": \"short-name\", \"prompt\": \"what the agent must do\",\n"
"            \"paths\": [\"src/ui\", \"docs/ui.md\"],\n"
"            \"depends\": [\"name of another task\", ...]}]}\n"
"Names are unique; depends names only tasks of this list; no cycles.\n"
"Give every task its paths: the files and directories it may change, as\n"
"globs (src/ui owns all under it, src/*.c the .c files of src). Keep\n"
"them apart: tasks whose paths overlap never run at the same time.\n"
"\n"
"Request:\n";
static const char plan_again[] = "\n\nYour previous answer was:\n";

char *plan_prompt(const char *request, const char *previous,
		  const char *error)
{
	struct buf b;

	buf_init(&b, BUF_NOMAX);
	buf_puts(&b, plan_head);
	buf_puts(&b, request);
	if (previous) {
		buf_puts(&b, plan_again);
		buf_puts(&b, previous);
		buf_printf(&b, "\n\nIt cannot be used: %s. Answer again, with"
			   " the JSON object only.\n", error ? error : "");
	}
	if (!b.ptr)
		buf_puts(&b, "");
	return buf_detach(&b);
}

const char *plan_request(const char *prompt, size_t *len)
{
	const char *req, *again;

	if (strncmp(prompt, plan_head, sizeof(plan_head) - 1))
		return NULL;
	req = prompt + sizeof(plan_head) - 1;
	again = strstr(req, plan_again);
	*len = again ? (size_t)(again - req) : strlen(req);
	return req;
}

void plan_steps_release(struct plan_steps *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].prompt);
		free(s->v[i].engine);
		free(s->v[i].paths);
		free(s->v[i].deps);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* The outermost {...} of an answer: models like fences and a preamble. */
static cJSON *find_object(const char *answer)
{
	const char *start = strchr(answer, '{'), *end = strrchr(answer, '}');

	if (!start || !end || end < start)
		return NULL;
	return cJSON_ParseWithLength(start, (size_t)(end - start + 1));
}

static ssize_t index_of(cJSON *tasks, const char *name)
{
	const cJSON *t;
	ssize_t i = 0;

	cJSON_ArrayForEach(t, tasks) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");

		if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
			return i;
		i++;
	}
	return -1;
}

/* Check one task object; its dependency names become indexes. */
static int check_step(cJSON *tasks, const cJSON *t, size_t i,
		      const struct config *c, size_t **deps, size_t *n_deps,
		      char *err, size_t errlen)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
	const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(t, "prompt");
	const cJSON *dep = cJSON_GetObjectItemCaseSensitive(t, "depends");
	const cJSON *engine = cJSON_GetObjectItemCaseSensitive(t, "engine");
	const cJSON *d, *field;
	size_t k = 0;

	cJSON_ArrayForEach(field, t)
		if (strcmp(field->string, "name") &&
		    strcmp(field->string, "prompt") &&
		    strcmp(field->string, "depends") &&
		    strcmp(field->string, "paths") &&
		    strcmp(field->string, "engine")) {
			snprintf(err, errlen, "task %zu: unknown field '%s'",
				 i + 1, field->string);
			return -EINVAL;
		}
	if (!cJSON_IsString(name) || !*name->valuestring) {
		snprintf(err, errlen, "task %zu: 'name' must be a non-empty"
			 " string", i + 1);
		return -EINVAL;
	}
	if ((size_t)index_of(tasks, name->valuestring) != i) {
		snprintf(err, errlen, "task name '%s' is used twice",
			 name->valuestring);
		return -EINVAL;
	}
	if (!cJSON_IsString(prompt) || !*prompt->valuestring) {
		snprintf(err, errlen, "task '%s': 'prompt' must be a non-empty"
			 " string", name->valuestring);
		return -EINVAL;
	}
	if (engine && (!cJSON_IsString(engine) ||
		       !engine_known(c, engine->valuestring))) {
		snprintf(err, errlen, "task '%s': unknown engine",
			 name->valuestring);
		return -EINVAL;
	}
	if (dep && !cJSON_IsArray(dep)) {
		snprintf(err, errlen, "task '%s': 'depends' must be an array of"
			 " names", name->valuestring);
		return -EINVAL;
	}
	*deps = calloc((size_t)cJSON_GetArraySize(dep) + 1, sizeof(**deps));
	if (!*deps)
		return -ENOMEM;
	cJSON_ArrayForEach(d, dep) {
		ssize_t j = cJSON_IsString(d) ? index_of(tasks, d->valuestring)
					      : -1;

		if (j < 0) {
			snprintf(err, errlen, "task '%s' depends on unknown"
				 " task '%s'", name->valuestring,
				 cJSON_IsString(d) ? d->valuestring : "?");
			return -EINVAL;
		}
		(*deps)[k++] = (size_t)j;
	}
	*n_deps = k;
	return 0;
}

int plan_parse(struct plan_steps *out, const char *answer,
	       const struct config *c, size_t max, char **normalized,
	       char *err, size_t errlen)
{
	cJSON *root = find_object(answer), *tasks;
	const cJSON *t;
	size_t n, i, total, done = 0, *rank = NULL, **deps = NULL;
	size_t *n_deps = NULL;
	int r = -EINVAL;

	memset(out, 0, sizeof(*out));
	*normalized = NULL;
	if (!root) {
		snprintf(err, errlen, "the answer holds no JSON object");
		return -EINVAL;
	}
	tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
	if (!cJSON_IsArray(tasks) || !cJSON_GetArraySize(tasks)) {
		snprintf(err, errlen, "'tasks' must be a non-empty array");
		goto out;
	}
	n = (size_t)cJSON_GetArraySize(tasks);
	if (n > max) {
		snprintf(err, errlen, "%zu tasks, more than the limit of %zu",
			 n, max);
		goto out;
	}
	deps = calloc(n, sizeof(*deps));
	n_deps = calloc(n, sizeof(*n_deps));
	rank = calloc(n, sizeof(*rank));
	out->v = calloc(n, sizeof(*out->v));
	if (!deps || !n_deps || !rank || !out->v) {
		r = -ENOMEM;
		goto out;
	}
	i = 0;
	cJSON_ArrayForEach(t, tasks) {
		if (!cJSON_IsObject(t)) {
			snprintf(err, errlen, "task %zu is not an object",
				 i + 1);
			goto out;
		}
		if ((r = check_step(tasks, t, i, c, &deps[i], &n_deps[i], err,
				    errlen)) < 0)
			goto out;
		i++;
	}
	/* Kahn's order: a step goes once all it depends on went; what
	 * never can is a cycle. rank[i] is i's place, or 0 while unplaced. */
	while (done < n) {
		size_t before = done, k;

		for (i = 0; i < n; i++) {
			if (rank[i])
				continue;
			for (k = 0; k < n_deps[i] && rank[deps[i][k]] &&
			     rank[deps[i][k]] <= before; k++)
				;
			if (k == n_deps[i])
				rank[i] = ++done;
		}
		if (done == before) {
			for (i = 0; rank[i]; i++)
				;
			snprintf(err, errlen, "the dependencies of task '%s'"
				 " form a cycle", cJSON_GetObjectItemCaseSensitive(
				 cJSON_GetArrayItem(tasks, (int)i),
				 "name")->valuestring);
			r = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		struct plan_step *st = &out->v[rank[i] - 1];
		const cJSON *ti = cJSON_GetArrayItem(tasks, (int)i);
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(ti, "engine");
		size_t k;

		st->name = strdup(cJSON_GetObjectItemCaseSensitive(ti,
				  "name")->valuestring);
		st->prompt = strdup(cJSON_GetObjectItemCaseSensitive(ti,
				    "prompt")->valuestring);
		st->engine = e ? strdup(e->valuestring) : NULL;
		if ((r = plan_step_paths(ti, st->name ? st->name : "?",
					 &st->paths, err, errlen)) < 0)
			goto out;
		/* Dependencies as places in the new order. */
		st->deps = deps[i];
		deps[i] = NULL;
		st->n_deps = n_deps[i];
		for (k = 0; k < st->n_deps; k++)
			st->deps[k] = rank[st->deps[k]] - 1;
		if (!st->name || !st->prompt || (e && !st->engine)) {
			r = -ENOMEM;
			goto out;
		}
	}
	out->n = n;
	*normalized = cJSON_PrintUnformatted(root);
	r = *normalized ? 0 : -ENOMEM;
out:
	total = cJSON_IsArray(tasks) ? (size_t)cJSON_GetArraySize(tasks) : 0;
	for (i = 0; deps && i < total; i++)
		free(deps[i]);
	free(deps);
	free(n_deps);
	free(rank);
	cJSON_Delete(root);
	if (r < 0) {
		/* Steps may be half filled: release all that were allocated. */
		out->n = out->v ? total : 0;
		plan_steps_release(out);
	}
	return r;
}
