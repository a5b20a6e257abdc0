/*
 * submit: prepare a batch of tasks from a submission; see include/submit.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine.h"
#include "gitrepo.h"
#include "gitrev.h"
#include "overlap.h"
#include "pai.h"
#include "sim.h"
#include "submit.h"
#include "template.h"

void submit_check(const struct config *c, const char *engine,
		  const char *check, int fix_rounds, struct task_new *t)
{
	if (!check)
		check = c->check;
	t->check = check && *check ? check : NULL;
	if (fix_rounds < 0)
		fix_rounds = c->fix_rounds;
	/* An agent can read why the check failed; sh and a command
	 * template would run the same thing again. */
	if (fix_rounds < 0)
		fix_rounds = engine_reads_text(c, engine) ? 2 : 0;
	t->fix_rounds = fix_rounds;
}

/* What a spec's fields become in a task_new (prompt and deps aside). */
static void fill(struct task_new *t, const struct spec *sp,
		 const char *engine, const char *base,
		 const struct config *c)
{
	t->prompt = sp->prompt;
	t->len = sp->prompt_len;
	t->engine = engine;
	t->model = sp->model;
	t->options = sp->options;
	t->base = base;
	t->branch = sp->branch;
	t->priority = sp->priority;
	t->timeout = sp->timeout;
	t->stall = sp->stall;
	t->retries = sp->retries;
	t->labels = sp->labels;
	t->paths = sp->paths;
	t->depends = sp->depends;
	t->n_depends = sp->n_depends;
	submit_check(c, engine, sp->check, sp->fix_rounds, t);
}

static int check_engine(struct pai *p, const struct spec *sp,
			const char **engine, char *err, size_t errlen)
{
	*engine = sp->engine ? sp->engine : p->cfg.engine;
	/* A rehearsal runs everything with sim, and says so. */
	if (p->cfg.simulate)
		*engine = SIM_ENGINE;
	if (!engine_known(&p->cfg, *engine)) {
		snprintf(err, errlen, "unknown engine '%s'", *engine);
		return -EINVAL;
	}
	return 0;
}

static int check_depends(struct pai *p, const struct spec *sp, char *err,
			 size_t errlen)
{
	size_t i;

	for (i = 0; i < sp->n_depends; i++)
		if (store_task_exists(p->store, sp->depends[i]) != 1) {
			snprintf(err, errlen, "no such task: %lld",
				 (long long)sp->depends[i]);
			return -EINVAL;
		}
	return 0;
}

/*
 * A branch of the spec's own: a name no other task holds or held, and
 * that is free in the repository (no such branch, and nothing git would
 * read the name as instead). The syntax was spec_parse's to check.
 */
static int check_branch(struct pai *p, const struct spec *sp, char *err,
			size_t errlen)
{
	int64_t owner;
	int r;

	if (!sp->branch)
		return 0;
	if (sp->each) {
		snprintf(err, errlen, "'branch' cannot name the branch of every"
			 " task of an 'each'");
		return -EINVAL;
	}
	if ((r = store_branch_owner(p->store, sp->branch, &owner)) < 0) {
		snprintf(err, errlen, "cannot look up branch '%s': %s",
			 sp->branch, strerror(-r));
		return r;
	}
	if (r == 1) {
		snprintf(err, errlen, "branch '%s' is task %lld's", sp->branch,
			 (long long)owner);
		return -EINVAL;
	}
	if ((r = gitrepo_branch_free(p->repo, sp->branch, err, errlen)) < 0)
		return r == -EEXIST ? -EINVAL : r;
	return 0;
}

struct fanout {
	const char *glob;
	char **paths;
	size_t n;
	size_t max;
	const struct pai_cancel *cancel;
	size_t seen;
};

/* How many paths of the walk go by between two looks at cancel. */
#define FANOUT_CANCEL_EVERY 256

static int collect(const char *path, void *arg)
{
	struct fanout *f = arg;
	char **v;

	/* A big tree takes a while: the writer may give up meanwhile. */
	if (++f->seen % FANOUT_CANCEL_EVERY == 0 &&
	    pai_cancel_asked(f->cancel))
		return -EINTR;
	if (!spec_glob_match(f->glob, path))
		return 0;
	if (f->n == f->max)
		return -E2BIG;
	v = realloc(f->paths, (f->n + 1) * sizeof(*v));
	if (!v || !(v[f->n] = strdup(path))) {
		if (v)
			f->paths = v;
		return -ENOMEM;
	}
	f->paths = v;
	f->n++;
	return 0;
}

/* path as a glob that matches it alone: '*', '?', '[' and '\\' escaped. */
static char *glob_escape(const char *path)
{
	char *out = malloc(strlen(path) * 2 + 1), *o = out;

	if (!out)
		return NULL;
	for (; *path; path++) {
		if (strchr("*?[\\", *path))
			*o++ = '\\';
		*o++ = *path;
	}
	*o = '\0';
	return out;
}

/*
 * The paths one task of a fan-out owns, as JSON: the spec's with {file}
 * replaced by its path (as a glob of that path alone), or that path
 * alone when the spec names none.
 */
static char *fanout_paths(const struct spec *sp, const char *path)
{
	cJSON *a = NULL, *v = NULL, *e;
	char *file = glob_escape(path), *out = NULL, *g;

	if (!file || !(a = cJSON_CreateArray()))
		goto out;
	if (!sp->paths) {
		cJSON_AddItemToArray(a, cJSON_CreateString(file));
	} else if ((v = cJSON_Parse(sp->paths))) {
		cJSON_ArrayForEach(e, v) {
			if (!(g = spec_expand_file(e->valuestring, file, false)))
				goto out;
			cJSON_AddItemToArray(a, cJSON_CreateString(g));
			free(g);
		}
	}
	out = cJSON_PrintUnformatted(a);
out:
	cJSON_Delete(a);
	cJSON_Delete(v);
	free(file);
	return out;
}

static int expand_each(struct submission *sub, struct pai *p,
		       const char *engine, const char *then_engine,
		       const struct pai_cancel *cancel, char *err,
		       size_t errlen)
{
	struct spec *sp = &sub->spec;
	struct fanout f = { sp->each, NULL, 0, (size_t)p->cfg.max_fanout,
			    cancel, 0 };
	/* A path is a word for sh and command templates, text for agents. */
	bool shell = !engine_reads_text(&p->cfg, engine);
	size_t i, total;
	int r;

	r = gitrepo_each_path(p->repo, sub->base, collect, &f, err, errlen);
	if (r == -E2BIG) {
		snprintf(err, errlen, "'each' matches more than %zu files"
			 " (parallelai.maxFanout)", f.max);
		r = -EINVAL;
	} else if (r == -EINTR) {
		snprintf(err, errlen, "interrupted: 'each' stopped after %zu"
			 " paths; no task made", f.seen);
	}
	if (r < 0)
		goto out;
	if (!f.n) {
		snprintf(err, errlen, "'each' matches no file: '%s'", sp->each);
		r = -EINVAL;
		goto out;
	}
	total = f.n + (sp->then ? 1 : 0);
	sub->tasks = calloc(total, sizeof(*sub->tasks));
	sub->prompts = calloc(f.n, sizeof(*sub->prompts));
	sub->paths = calloc(f.n, sizeof(*sub->paths));
	sub->reduce_deps = calloc(f.n, sizeof(*sub->reduce_deps));
	if (!sub->tasks || !sub->prompts || !sub->paths || !sub->reduce_deps) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < f.n; i++) {
		if (!(sub->prompts[i] = spec_expand_file(sp->prompt,
							 f.paths[i], shell))) {
			r = -ENOMEM;
			goto out;
		}
		sub->n_prompts = i + 1;
		if (!(sub->paths[i] = fanout_paths(sp, f.paths[i]))) {
			r = -ENOMEM;
			goto out;
		}
		fill(&sub->tasks[i], sp, engine, sub->base, &p->cfg);
		sub->tasks[i].paths = sub->paths[i];
		sub->tasks[i].prompt = sub->prompts[i];
		sub->tasks[i].len = strlen(sub->prompts[i]);
		sub->reduce_deps[i] = -(int64_t)(i + 1);
	}
	if (sp->then) {
		/* The reduce step waits for every mapped task. */
		fill(&sub->tasks[f.n], sp->then, then_engine, sub->base,
		     &p->cfg);
		sub->tasks[f.n].depends = sub->reduce_deps;
		sub->tasks[f.n].n_depends = f.n;
	}
	sub->n = total;
out:
	for (i = 0; i < f.n; i++)
		free(f.paths[i]);
	free(f.paths);
	return r;
}

/* Most files of the base commit a glob of paths is replaced by. */
#define LOCK_MATCHES_MAX 256

struct lockwalk {
	const cJSON *globs;
	cJSON **found;		/* per glob: the files it matched, or NULL */
	bool *over;		/* per glob: more than LOCK_MATCHES_MAX */
	size_t n;
	const struct pai_cancel *cancel;
	size_t seen;
};

/* A glob with a wildcard, but no "**": one that names a territory
 * ("src", "**") keeps it whole, files to come included. */
static bool has_wildcard(const char *glob)
{
	return strpbrk(glob, "*?[") != NULL && !strstr(glob, "**");
}

static int lock_collect(const char *path, void *arg)
{
	struct lockwalk *w = arg;
	const cJSON *g;
	size_t i = 0;
	char *e;

	if (++w->seen % FANOUT_CANCEL_EVERY == 0 &&
	    pai_cancel_asked(w->cancel))
		return -EINTR;
	cJSON_ArrayForEach(g, w->globs) {
		if (w->found[i] && !w->over[i] &&
		    overlap_owns(g->valuestring, path)) {
			if (cJSON_GetArraySize(w->found[i]) ==
			    LOCK_MATCHES_MAX) {
				w->over[i] = true;
			} else {
				if (!(e = glob_escape(path)))
					return -ENOMEM;
				cJSON_AddItemToArray(w->found[i],
						     cJSON_CreateString(e));
				free(e);
			}
		}
		i++;
	}
	return 0;
}

/*
 * What a task locks: its globs, each one with a wildcard (but no "**")
 * that matches files of the base commit (at most LOCK_MATCHES_MAX)
 * replaced by those files, so that two globs that could overlap in words but match
 * different files run side by side. NULL (its paths) when none is.
 */
static int resolve_locks(struct submission *sub, struct pai *p,
			 const struct pai_cancel *cancel, char *err,
			 size_t errlen)
{
	struct lockwalk w = { 0 };
	cJSON *out = NULL;
	const cJSON *g;
	bool any = false;
	size_t i = 0;
	int r = 0;

	if (!sub->spec.paths || !(w.globs = cJSON_Parse(sub->spec.paths)))
		return 0;
	w.n = (size_t)cJSON_GetArraySize(w.globs);
	w.cancel = cancel;
	w.found = calloc(w.n, sizeof(*w.found));
	w.over = calloc(w.n, sizeof(*w.over));
	if (!w.found || !w.over) {
		r = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(g, w.globs)
		if (has_wildcard(g->valuestring)) {
			w.found[i++] = cJSON_CreateArray();
			any = true;
		} else {
			i++;
		}
	if (!any)
		goto out;
	if ((r = gitrepo_each_path(p->repo, sub->base, lock_collect, &w, err,
				   errlen)) < 0) {
		if (r == -EINTR)
			snprintf(err, errlen, "interrupted: 'paths' stopped"
				 " after %zu paths; no task made", w.seen);
		goto out;
	}
	out = cJSON_CreateArray();
	i = 0;
	cJSON_ArrayForEach(g, w.globs) {
		const cJSON *f;

		if (w.found[i] && !w.over[i] &&
		    cJSON_GetArraySize(w.found[i]))
			cJSON_ArrayForEach(f, w.found[i])
				cJSON_AddItemToArray(out, cJSON_Duplicate(f, 1));
		else
			cJSON_AddItemToArray(out, cJSON_Duplicate(g, 1));
		i++;
	}
	if (!(sub->locks = cJSON_PrintUnformatted(out)))
		r = -ENOMEM;
	else
		sub->tasks[0].locks = sub->locks;
out:
	for (i = 0; w.found && i < w.n; i++)
		cJSON_Delete(w.found[i]);
	free(w.found);
	free(w.over);
	cJSON_Delete((cJSON *)w.globs);
	cJSON_Delete(out);
	return r;
}

/* The spec, or the one a template stands for ({"template": ...}). */
static int parse(struct spec *sp, struct pai *p, const char *text,
		 size_t len, char *err, size_t errlen)
{
	char *filled = NULL, msg[512];
	int r;

	if (memmem(text, len, "\"template\"", 10) &&
	    (r = template_apply(p->repo, text, len, &filled, err,
				errlen)) < 0)
		return r;
	if (!filled)
		return spec_parse(sp, text, len, p->cfg.max_prompt, err,
				  errlen);
	r = spec_parse(sp, filled, strlen(filled), p->cfg.max_prompt, msg,
		       sizeof(msg));
	if (r < 0)
		snprintf(err, errlen, "template: %s", msg);
	free(filled);
	return r;
}

int submit_prepare(struct submission *sub, struct pai *p, const char *text,
		   size_t len, const struct pai_cancel *cancel, char *err,
		   size_t errlen)
{
	struct spec *sp = &sub->spec;
	const char *engine, *then_engine = NULL;
	int r;

	memset(sub, 0, sizeof(*sub));
	if ((r = parse(sp, p, text, len, err, errlen)) < 0)
		return r;
	if ((r = check_engine(p, sp, &engine, err, errlen)) < 0 ||
	    (sp->then && (r = check_engine(p, sp->then, &then_engine, err,
					   errlen)) < 0) ||
	    (r = check_depends(p, sp, err, errlen)) < 0 ||
	    (sp->then && (r = check_depends(p, sp->then, err, errlen)) < 0))
		goto fail;
	if ((r = check_branch(p, sp, err, errlen)) < 0 ||
	    (sp->then && (r = check_branch(p, sp->then, err, errlen)) < 0))
		goto fail;
	r = sp->base ? gitrev_resolve(p->rev, sp->base, sub->base, err,
				      errlen) :
		       gitrev_head(p->rev, sub->base, err, errlen);
	if (r < 0) {
		r = sp->base ? -EINVAL : -EIO;
		goto fail;
	}
	if (sp->each) {
		if ((r = expand_each(sub, p, engine, then_engine, cancel,
				     err, errlen)) < 0)
			goto fail;
		return 0;
	}
	sub->tasks = calloc(1, sizeof(*sub->tasks));
	if (!sub->tasks) {
		r = -ENOMEM;
		goto fail;
	}
	fill(sub->tasks, sp, engine, sub->base, &p->cfg);
	sub->n = 1;
	if ((r = resolve_locks(sub, p, cancel, err, errlen)) < 0)
		goto fail;
	return 0;
fail:
	submit_release(sub);
	return r;
}

void submit_release(struct submission *sub)
{
	size_t i;

	for (i = 0; i < sub->n_prompts; i++) {
		free(sub->prompts[i]);
		free(sub->paths ? sub->paths[i] : NULL);
	}
	free(sub->prompts);
	free(sub->paths);
	free(sub->locks);
	free(sub->tasks);
	free(sub->reduce_deps);
	spec_release(&sub->spec);
	memset(sub, 0, sizeof(*sub));
}
