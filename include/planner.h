/*
 * planner: plans/new takes a request in words; a planner engine (the
 * built-in agent by default, parallelai.planner) is asked to split it into
 * tasks with dependencies and to answer in JSON:
 *
 *	{"tasks": [{"name": "api", "prompt": "...", "depends": []},
 *		   {"name": "cli", "prompt": "...", "depends": ["api"],
 *		    "engine": "claude"}]}
 *
 * The answer is checked (schema, unknown dependency names, cycles, at most
 * parallelai.maxFanout tasks); a bad one is sent back to the planner once
 * with the error, then the plan fails with the reason. A good one creates
 * its tasks all at once, linked to the plan, or waits for
 * `echo approve > plans/N/ctl` when the plan asked for approval.
 *
 *	planner_submit(pai, "build a todo app", 16, &id, err, sizeof(err));
 */
#ifndef PAI_PLANNER_H
#define PAI_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct pai;
struct planner;

/* ---- the pure part: prompts and answers ---------------------------- */

struct plan_step {
	char *name;
	char *prompt;
	char *engine;		/* NULL: the default engine */
	char *paths;		/* JSON array of globs it owns, or NULL */
	size_t *deps;		/* indexes of steps it depends on */
	size_t n_deps;
};

struct plan_steps {
	struct plan_step *v;	/* in an order where deps come first */
	size_t n;
};

/* The prompt for the planner; previous and error (may be NULL) are its
 * last answer and what was wrong with it. malloc'd. */
char *plan_prompt(const char *request, const char *previous,
		  const char *error);
/* The request inside a prompt plan_prompt made (len bytes of it, its
 * previous answer left out), or NULL when prompt is not one. */
const char *plan_request(const char *prompt, size_t *len);
/* Find the JSON object in an answer (fences and prose around it are
 * allowed), check it and order it. max bounds the number of tasks. */
int plan_parse(struct plan_steps *out, const char *answer,
	       const struct config *c, size_t max, char **normalized,
	       char *err, size_t errlen);
void plan_steps_release(struct plan_steps *s);

/* (planpaths.c) A task object's "paths", checked, as JSON in *json
 * (NULL when it has none); -EINVAL with why in err. */
struct cJSON;
int plan_step_paths(const struct cJSON *t, const char *name, char **json,
		    char *err, size_t errlen);
struct buf;
/* "overlap: a b (src/ui, src/ui/a.c)" for each pair of the plan's tasks
 * whose paths may overlap: they will not run at the same time. */
int plan_overlaps(const char *plan_json, struct buf *out);

/* ---- the daemon part ------------------------------------------------- */

int planner_start(struct planner **out, struct pai *p);
/* Stop planning (engines are ended); plans being made stay "planning"
 * and are made again by the next planner_start. */
void planner_stop(struct planner *pl);

/* plans/new: a request, or {"request": "...", "approve": true,
 * "engine": "NAME"}. -EINVAL / -EFBIG with the reason. */
/* planner_submit's checks alone: nothing is made; a refusal is an
 * event. */
int planner_check(struct planner *pl, const char *text, size_t len,
		  char *err, size_t errlen);
int planner_submit(struct planner *pl, const char *text, size_t len,
		   int64_t *id, char *err, size_t errlen);
/* plans/N/ctl: approve | cancel. -EBUSY in the wrong state. */
/* plans/N/ctl (src/ctl.c routes them): 0, -ENOENT, -EBUSY (not waiting,
 * or already made), -EINVAL (a plan that fails its check). */
int planner_approve(struct planner *pl, int64_t id, char *err,
		    size_t errlen);
int planner_cancel(struct planner *pl, int64_t id, char *err, size_t errlen);

/* plans/N/status (json: false) and the plan's log path. */
int planner_status(struct planner *pl, int64_t id, struct buf *out);
void planner_log_path(struct planner *pl, int64_t id, char *out, size_t len);

#endif
