/*
 * metrics: MNT/metrics in the Prometheus text exposition format; see
 * include/metrics.h.
 *
 * Only what the daemon really knows is shown. There is no uptime: a
 * number that ticks every second would make the size stat reports
 * differ from what a read a moment later returns; a scraper has
 * time() - parallelai_start_time_seconds instead.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"
#include "pai.h"
#include "review.h"
#include "scheduler.h"
#include "store.h"

#ifndef PAI_VERSION
#define PAI_VERSION "unknown"
#endif

#define N_PLAN_STATES 5

/* The states of a plan (struct plan in include/store.h). */
static const char *const plan_states[N_PLAN_STATES] = {
	"planning", "waiting", "created", "failed", "cancelled",
};

/* The open breakers looked at; more than this many engines failing at
 * once is not a case worth a bigger array. */
#define MAX_OPEN 32

int metrics_label_value(struct buf *out, const char *value)
{
	const char *s, *run;
	int r = 0;

	for (s = run = value; *s && r == 0; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" :
				  *s == '\n' ? "\\n" : NULL;

		if (!esc)
			continue;
		if ((r = buf_add(out, run, (size_t)(s - run))) == 0)
			r = buf_puts(out, esc);
		run = s + 1;
	}
	if (r == 0)
		r = buf_add(out, run, (size_t)(s - run));
	return r;
}

/* The writer: its first error sticks and later writes are skipped, so
 * the rendering below reads as a list. */
struct expo {
	struct buf *out;
	int err;
};

static void family(struct expo *e, const char *name, const char *type,
		   const char *help)
{
	if (!e->err)
		e->err = buf_printf(e->out, "# HELP %s %s\n# TYPE %s %s\n",
				    name, help, name, type);
}

/* A sample up to its value: "name " or "name{key=\"value\"} ". */
static void series(struct expo *e, const char *name, const char *key,
		   const char *value)
{
	if (e->err)
		return;
	if (!key) {
		e->err = buf_printf(e->out, "%s ", name);
		return;
	}
	if ((e->err = buf_printf(e->out, "%s{%s=\"", name, key)) == 0 &&
	    (e->err = metrics_label_value(e->out, value)) == 0)
		e->err = buf_puts(e->out, "\"} ");
}

static void sample_int(struct expo *e, const char *name, const char *key,
		       const char *value, long long v)
{
	series(e, name, key, value);
	if (!e->err)
		e->err = buf_printf(e->out, "%lld\n", v);
}

static void sample_num(struct expo *e, const char *name, const char *key,
		       const char *value, double v)
{
	series(e, name, key, value);
	if (!e->err)
		e->err = buf_printf(e->out, "%.12g\n", v);
}

/* What the metrics say about one engine. */
struct engine_row {
	char *name;
	long long running;
	int open;		/* its breaker */
};

struct engine_rows {
	struct engine_row *v;
	size_t n;
};

static struct engine_row *row(struct engine_rows *rows, const char *name)
{
	struct engine_row *v;
	size_t i;

	for (i = 0; i < rows->n; i++)
		if (!strcmp(rows->v[i].name, name))
			return &rows->v[i];
	v = realloc(rows->v, (rows->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	rows->v = v;
	v += rows->n;
	memset(v, 0, sizeof(*v));
	if (!(v->name = strdup(name)))
		return NULL;
	rows->n++;
	return v;
}

static void rows_release(struct engine_rows *rows)
{
	size_t i;

	for (i = 0; i < rows->n; i++)
		free(rows->v[i].name);
	free(rows->v);
	rows->v = NULL;
	rows->n = 0;
}

static int cmp_row(const void *a, const void *b)
{
	return strcmp(((const struct engine_row *)a)->name,
		      ((const struct engine_row *)b)->name);
}

/* Running tasks by engine, from the store, and the open breakers.
 * The default and the configured engines are listed even when idle, so
 * that their series do not come and go between scrapes. */
static int gather_engines(struct pai *p, struct engine_rows *rows)
{
	struct breaker_info open[MAX_OPEN];
	struct engine_row *er;
	int64_t *ids = NULL;
	size_t n = 0, i;
	struct task t;
	int r = 0;

	if (p->cfg.engine && !row(rows, p->cfg.engine))
		return -ENOMEM;
	for (i = 0; i < p->cfg.n_engines; i++)
		if (!row(rows, p->cfg.engines[i].name))
			return -ENOMEM;
	if ((r = store_tasks_in_state(p->store, TASK_RUNNING, &ids, &n)) < 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		r = store_task_get(p->store, ids[i], &t);
		if (r == -ENOENT) {
			r = 0;
			continue;
		}
		if (r < 0)
			break;
		/* It may have ended since the list was made. */
		if (t.state == TASK_RUNNING && t.engine) {
			if ((er = row(rows, t.engine)))
				er->running++;
			else
				r = -ENOMEM;
		}
		task_release(&t);
	}
	free(ids);
	if (r < 0)
		return r;
	n = sched_breakers(p->sched, open, MAX_OPEN);
	for (i = 0; i < n; i++) {
		if (!(er = row(rows, open[i].engine)))
			return -ENOMEM;
		er->open = 1;
	}
	if (rows->n)
		qsort(rows->v, rows->n, sizeof(*rows->v), cmp_row);
	return 0;
}

static int count_plans(struct pai *p, size_t counts[N_PLAN_STATES])
{
	int64_t *ids;
	size_t i, n;
	int r;

	for (i = 0; i < N_PLAN_STATES; i++) {
		ids = NULL;
		n = 0;
		r = store_plan_ids(p->store, plan_states[i], &ids, &n);
		free(ids);
		if (r < 0)
			return r;
		counts[i] = n;
	}
	return 0;
}

/* The budgets that are set, the total with engine="". */
static void metrics_budgets(struct expo *e, struct pai *p)
{
	struct budget_info b[32];
	size_t n = sched_budgets(p->sched, b, 32), i;

	if (!n)
		return;
	family(e, "parallelai_budget_usd", "gauge",
	       "A budget in US dollars over its window; engine=\"\" is the"
	       " total.");
	for (i = 0; i < n; i++)
		sample_num(e, "parallelai_budget_usd", "engine", b[i].engine,
			   b[i].limit);
	family(e, "parallelai_budget_left_usd", "gauge",
	       "What is left of a budget in its window; at 0 its tasks wait.");
	for (i = 0; i < n; i++)
		sample_num(e, "parallelai_budget_left_usd", "engine",
			   b[i].engine, b[i].limit > b[i].spent ?
			   b[i].limit - b[i].spent : 0);
}

static void policy_sample(void *arg, const char *decision, const char *by,
			  long long n)
{
	char kind[64];

	snprintf(kind, sizeof(kind), "%s_%s", decision ? decision : "?",
		 by ? by : "?");
	sample_int(arg, "parallelai_policy_decisions_total", "kind", kind, n);
}

int metrics_render(struct pai *p, struct buf *out)
{
	struct expo e = { out, 0 };
	struct engine_rows rows = { NULL, 0 };
	size_t counts[TASK_STATE_COUNT], plans[N_PLAN_STATES], total = 0;
	struct task_usage usage;
	uint64_t batches, commits;
	size_t i;
	int r;

	if ((r = store_counts(p->store, counts)) < 0 ||
	    (r = store_totals(p->store, &usage)) < 0 ||
	    (r = count_plans(p, plans)) < 0 ||
	    (r = gather_engines(p, &rows)) < 0)
		goto out;

	family(&e, "parallelai_build_info", "gauge",
	       "Always 1; the daemon's version is in the label.");
	sample_int(&e, "parallelai_build_info", "version", PAI_VERSION, 1);
	family(&e, "parallelai_start_time_seconds", "gauge",
	       "When the daemon started, in seconds since the epoch.");
	series(&e, "parallelai_start_time_seconds", NULL, NULL);
	if (!e.err)
		e.err = buf_printf(out, "%lld.%03lld\n",
				   (long long)(p->started / 1000),
				   (long long)(p->started % 1000));
	family(&e, "parallelai_paused", "gauge",
	       "1 while the queue is paused, else 0.");
	sample_int(&e, "parallelai_paused", NULL, NULL,
		   sched_paused(p->sched));
	family(&e, "parallelai_workers", "gauge", "Worker slots.");
	sample_int(&e, "parallelai_workers", NULL, NULL,
		   sched_workers(p->sched));
	family(&e, "parallelai_workers_busy", "gauge",
	       "Worker slots running a task.");
	sample_int(&e, "parallelai_workers_busy", NULL, NULL,
		   sched_busy(p->sched));

	family(&e, "parallelai_tasks", "gauge", "Tasks in each state.");
	for (i = 0; i < TASK_STATE_COUNT; i++) {
		sample_int(&e, "parallelai_tasks", "state",
			   task_state_name((enum task_state)i),
			   (long long)counts[i]);
		total += counts[i];
	}
	/* The store never deletes a task (prune removes only worktrees and
	 * branches), so the sum over the states only grows. */
	family(&e, "parallelai_tasks_created_total", "counter",
	       "Tasks created.");
	sample_int(&e, "parallelai_tasks_created_total", NULL, NULL,
		   (long long)total);

	store_group_stats(p->store, &batches, &commits);
	family(&e, "parallelai_submit_batches_total", "counter",
	       "Submissions written to the store since the mount, refused"
	       " ones included.");
	sample_int(&e, "parallelai_submit_batches_total", NULL, NULL,
		   (long long)batches);
	family(&e, "parallelai_submit_commits_total", "counter",
	       "Transactions (each one fsync) those submissions were written"
	       " in: concurrent ones share one.");
	sample_int(&e, "parallelai_submit_commits_total", NULL, NULL,
		   (long long)commits);

	family(&e, "parallelai_input_tokens_total", "counter",
	       "Input tokens engines reported, over all tasks and attempts.");
	sample_int(&e, "parallelai_input_tokens_total", NULL, NULL,
		   usage.input_tokens);
	family(&e, "parallelai_output_tokens_total", "counter",
	       "Output tokens engines reported, over all tasks and attempts.");
	sample_int(&e, "parallelai_output_tokens_total", NULL, NULL,
		   usage.output_tokens);
	/* Absent rather than 0 while no engine reported a price. */
	if (usage.cost_usd >= 0) {
		family(&e, "parallelai_cost_usd_total", "counter",
		       "Cost in US dollars engines reported or prices gave, "
		       "over all tasks.");
		sample_num(&e, "parallelai_cost_usd_total", NULL, NULL,
			   usage.cost_usd);
	}

	family(&e, "parallelai_engine_running", "gauge",
	       "Running tasks of each engine.");
	for (i = 0; i < rows.n; i++)
		sample_int(&e, "parallelai_engine_running", "engine",
			   rows.v[i].name, rows.v[i].running);
	family(&e, "parallelai_engine_breaker_open", "gauge",
	       "1 while the engine's circuit breaker is open and its tasks "
	       "wait, else 0.");
	for (i = 0; i < rows.n; i++)
		sample_int(&e, "parallelai_engine_breaker_open", "engine",
			   rows.v[i].name, rows.v[i].open);

	metrics_budgets(&e, p);

	family(&e, "parallelai_plans", "gauge", "Plans in each state.");
	for (i = 0; i < N_PLAN_STATES; i++)
		sample_int(&e, "parallelai_plans", "state", plan_states[i],
			   (long long)plans[i]);

	family(&e, "parallelai_policy_decisions_total", "counter",
	       "Tool calls decided by the policy, by decision and by whom:"
	       " allow_rule, deny_rule, allow_person, deny_person,"
	       " deny_timeout, allow_always (the audit log's rows).");
	store_audit_counts(p->store, policy_sample, &e);

	family(&e, "parallelai_worktree_bytes", "gauge",
	       "Disk used by all worktrees, recomputed at most every 10 s.");
	sample_int(&e, "parallelai_worktree_bytes", NULL, NULL,
		   (long long)review_worktree_bytes(p));
	r = e.err;
out:
	rows_release(&rows);
	return r;
}
