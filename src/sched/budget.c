/*
 * sched/budget: what engines may spend. A task's own limits (its spec's
 * max_cost_usd, max_tokens, max_turns) hold for one attempt and stop the
 * engine as a cancel does once passed; the budgets per engine
 * (engine.NAME.budgetUsd) and in total (parallelai.budgetUsd) hold over a
 * window (parallelai.budgetWindow, the mount's life by default) and keep
 * new tasks from starting once reached, until `budget` in ctl raises them
 * or the window moves on.
 *
 * The figures come from the engines' result files, which `parallelai
 * stream` and the built-in agent rewrite whole (by rename) whenever their
 * totals move: the run thread looks at the file's size and time every
 * tick (sched_budget_poll) and reads it again when they changed. What a
 * round reported in the end goes to the store (store_task_add_usage, a
 * row of spend when it has a cost) and leaves the live figures; what was
 * spent is the store's rows in the window plus the running rounds' live
 * figures. A cost is the engine's own or its tokens times [price "MODEL"].
 *
 *	budget: 1.02 USD spent, limit 1.00		(a task's reason)
 *	{"event":"budget_reached","scope":"total","limit":5,"spent":5.01}
 *
 * Locking: the live figures and the budgets are s->lock's; the store is
 * asked inside it, as everywhere in sched/.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "engine.h"
#include "events.h"
#include "pai.h"
#include "scheduler.h"
#include "store.h"
#include "schedint.h"

/* The task's limits from its options; where its figures appear is
 * told by sched_budget_watch once the engine's result file is fresh (a
 * setup command before it sees none). */
void sched_budget_begin(struct run *r, const struct task *t)
{
	struct run_budget *b = &r->budget;
	cJSON *o = t->options ? cJSON_Parse(t->options) : NULL;
	const cJSON *v;

	memset(b, 0, sizeof(*b));
	b->live.cost_usd = -1;
	b->done.cost_usd = -1;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "max_cost_usd")) &&
	    cJSON_IsNumber(v))
		b->max_cost = v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "max_tokens")) &&
	    cJSON_IsNumber(v))
		b->max_tokens = (int64_t)v->valuedouble;
	if ((v = cJSON_GetObjectItemCaseSensitive(o, "max_turns")) &&
	    cJSON_IsNumber(v))
		b->max_turns = (int)v->valuedouble;
	cJSON_Delete(o);
	b->price = config_price(&r->s->p->cfg,
				engine_model(&r->s->p->cfg, t->engine,
					     t->model));
}

void sched_budget_watch(struct run *r, const char *result_file)
{
	snprintf(r->budget.path, sizeof(r->budget.path), "%s", result_file);
	r->budget.size = -1;
}

void sched_budget_cost(const struct price_def *price, struct task_usage *u)
{
	if (u->cost_usd < 0 && price)
		u->cost_usd = ((double)u->input_tokens * price->input +
			       (double)u->output_tokens * price->output) / 1e6;
}

/* Past a limit: its reason in b->why. Called with s->lock. */
static bool over_limit(struct run_budget *b, double *limit, double *spent)
{
	double cost = (b->done.cost_usd > 0 ? b->done.cost_usd : 0) +
		      (b->live.cost_usd > 0 ? b->live.cost_usd : 0);
	int64_t tokens = b->done.input_tokens + b->done.output_tokens +
			 b->live.input_tokens + b->live.output_tokens;
	int turns = b->done.turns + b->live.turns;

	if (b->max_cost > 0 && cost > b->max_cost) {
		snprintf(b->why, sizeof(b->why),
			 "budget: %.2f USD spent, limit %.2f", cost,
			 b->max_cost);
		*limit = b->max_cost;
		*spent = cost;
	} else if (b->max_tokens > 0 && tokens > b->max_tokens) {
		snprintf(b->why, sizeof(b->why),
			 "budget: %lld tokens used, limit %lld",
			 (long long)tokens, (long long)b->max_tokens);
		*limit = (double)b->max_tokens;
		*spent = (double)tokens;
	} else if (b->max_turns > 0 && turns > b->max_turns) {
		snprintf(b->why, sizeof(b->why),
			 "budget: %d turns taken, limit %d", turns,
			 b->max_turns);
		*limit = b->max_turns;
		*spent = turns;
	} else {
		return false;
	}
	return true;
}

/*
 * One tick of the run thread: the result file read again when it moved,
 * the live figures kept, the engine stopped when it passed a limit (the
 * wait loop sends SIGTERM, then SIGKILL, as for a timeout).
 */
void sched_budget_poll(struct run *r)
{
	struct run_budget *b = &r->budget;
	struct task_usage u;
	struct stat st;
	char *error = NULL;
	double limit = 0, spent = 0;
	bool over;
	cJSON *f;

	if (!*b->path || stat(b->path, &st) < 0 ||
	    (st.st_size == b->size && st.st_mtim.tv_sec == b->mtime.tv_sec &&
	     st.st_mtim.tv_nsec == b->mtime.tv_nsec && st.st_ino == b->ino))
		return;
	b->size = st.st_size;
	b->mtime = st.st_mtim;
	b->ino = st.st_ino;
	if (engine_read_result(b->path, &u, &error) < 0)
		return;
	free(error);
	sched_budget_cost(b->price, &u);
	pthread_mutex_lock(&r->s->lock);
	b->live = u;
	over = !r->killed_for && !r->term_at && over_limit(b, &limit, &spent);
	if (over)
		r->killed_for = "budget";
	pthread_mutex_unlock(&r->s->lock);
	if (!over)
		return;
	sched_log_line(r->logfd, "parallelai: %s; stopping the engine",
		       b->why);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "scope", "task");
	cJSON_AddNumberToObject(f, "limit", limit);
	cJSON_AddNumberToObject(f, "spent", spent);
	events_add(r->s->p->events, "budget_reached", r->id, f);
}

/* A round's report is in the store: it leaves the live figures. */
void sched_budget_round_end(struct run *r, const struct task_usage *u)
{
	struct run_budget *b = &r->budget;

	pthread_mutex_lock(&r->s->lock);
	b->done.input_tokens += u->input_tokens;
	b->done.output_tokens += u->output_tokens;
	b->done.turns += u->turns;
	if (u->cost_usd >= 0)
		b->done.cost_usd = (b->done.cost_usd > 0 ? b->done.cost_usd :
				    0) + u->cost_usd;
	memset(&b->live, 0, sizeof(b->live));
	b->live.cost_usd = -1;
	b->size = -1;
	pthread_mutex_unlock(&r->s->lock);
}

/* ---- budgets per engine and in total -------------------------------- */

int sched_budget_init(struct sched *s)
{
	const struct config *c = &s->p->cfg;
	size_t i;

	s->budget.total.limit = c->budget_usd;
	for (i = 0; i < c->n_engines; i++) {
		struct budget_scope *e;

		if (c->engines[i].budget_usd <= 0)
			continue;
		if (!(e = sched_budget_engine(s, c->engines[i].name)))
			return -ENOMEM;
		e->limit = c->engines[i].budget_usd;
	}
	return 0;
}

void sched_budget_release(struct sched *s)
{
	free(s->budget.engines);
}

/* The scope of engine name, made when missing. Called with s->lock (or
 * before the threads start). */
struct budget_scope *sched_budget_engine(struct sched *s, const char *name)
{
	struct budget_scope *v;
	size_t i;

	for (i = 0; i < s->budget.n; i++)
		if (!strcmp(s->budget.engines[i].engine, name))
			return &s->budget.engines[i];
	if (strlen(name) >= sizeof(v->engine))
		return NULL;
	v = realloc(s->budget.engines, (s->budget.n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	s->budget.engines = v;
	v += s->budget.n++;
	memset(v, 0, sizeof(*v));
	snprintf(v->engine, sizeof(v->engine), "%s", name);
	return v;
}

/* Where the window starts, ms. */
static int64_t window_start(struct sched *s)
{
	int64_t w = s->p->cfg.budget_window;

	return w ? pai_now_ms() - w * 1000 : s->p->started;
}

/* Spent in the window by engine (NULL: all), the running rounds' live
 * figures included. Called with s->lock. */
static double spent(struct sched *s, const char *engine)
{
	double usd = 0;
	int k;

	if (store_spend(s->p->store, window_start(s), engine, &usd) < 0)
		return 0;
	for (k = 0; k < s->n_slots; k++) {
		const struct run *r = s->slots[k].run;

		if (r && r->budget.live.cost_usd > 0 &&
		    (!engine || (r->engine && !strcmp(r->engine, engine))))
			usd += r->budget.live.cost_usd;
	}
	return usd;
}

/* A scope's figures brought up to date; budget_reached when it has just
 * been reached. Called with s->lock. */
static bool settle(struct sched *s, struct budget_scope *b)
{
	bool reached;
	cJSON *f;

	if (b->limit <= 0)
		return b->reached = false;
	b->spent = spent(s, *b->engine ? b->engine : NULL);
	reached = b->spent >= b->limit;
	if (reached && !b->reached) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "scope", *b->engine ? "engine" :
					"total");
		if (*b->engine)
			cJSON_AddStringToObject(f, "engine", b->engine);
		cJSON_AddNumberToObject(f, "limit", b->limit);
		cJSON_AddNumberToObject(f, "spent", b->spent);
		events_add(s->p->events, "budget_reached", 0, f);
	}
	return b->reached = reached;
}

/*
 * Before a start: the engines whose budget is reached, for the queue to
 * pass over (at most room of them), and whether the total is; either
 * makes s->budget.blocked, which has the scheduler look again as the
 * window moves. Called with s->lock.
 */
size_t sched_budget_gate(struct sched *s, const char **out, size_t room,
			 bool *all)
{
	size_t i, n = 0;

	*all = settle(s, &s->budget.total);
	for (i = 0; i < s->budget.n; i++)
		if (settle(s, &s->budget.engines[i]) && n < room)
			out[n++] = s->budget.engines[i].engine;
	s->budget.blocked = *all || n;
	return n;
}

int sched_set_budget(struct sched *s, const char *engine, double usd,
		     char *err, size_t errlen)
{
	struct budget_scope *b;
	cJSON *f;

	if (!(usd > 0) || usd > 1e12) {
		snprintf(err, errlen, "a budget is a positive number of"
			 " dollars");
		return -EINVAL;
	}
	if (engine && !engine_known(&s->p->cfg, engine)) {
		snprintf(err, errlen, "unknown engine '%s'", engine);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	b = engine ? sched_budget_engine(s, engine) : &s->budget.total;
	if (b) {
		b->limit = usd;
		b->reached = false;
		pthread_cond_broadcast(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	f = cJSON_CreateObject();
	if (engine)
		cJSON_AddStringToObject(f, "engine", engine);
	cJSON_AddNumberToObject(f, "limit", usd);
	events_add(s->p->events, "budget", 0, f);
	return 0;
}

size_t sched_budgets(struct sched *s, struct budget_info *out, size_t max)
{
	size_t i, n = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i <= s->budget.n && n < max; i++) {
		struct budget_scope *b = i ? &s->budget.engines[i - 1] :
					 &s->budget.total;

		if (b->limit <= 0)
			continue;
		settle(s, b);
		snprintf(out[n].engine, sizeof(out[n].engine), "%s",
			 b->engine);
		out[n].limit = b->limit;
		out[n].spent = b->spent;
		out[n].reached = b->reached;
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool sched_budget_holds(struct sched *s, const char *engine)
{
	bool held = false;
	size_t i;

	pthread_mutex_lock(&s->lock);
	if (s->budget.total.reached)
		held = true;
	for (i = 0; !held && engine && i < s->budget.n; i++)
		held = s->budget.engines[i].reached &&
		       !strcmp(s->budget.engines[i].engine, engine);
	pthread_mutex_unlock(&s->lock);
	return held;
}
