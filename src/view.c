/*
 * view: the text of every generated file in the mount.
 *
 * Status files are `key: value` lines like /proc; each has a JSON twin
 * built from the same values, so the two never disagree.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "engine.h"
#include "provider.h"
#include "gitwork.h"
#include "mergeq.h"
#include "overlay.h"
#include "pai.h"
#include "quote.h"
#include "review.h"
#include "sandbox.h"
#include "approvals.h"
#include "policy.h"
#include "scheduler.h"
#include "runner.h"
#include "sim.h"
#include "store.h"
#include "view.h"

/* Emit a key both as a "key: value" line and as a JSON member. */
struct kv {
	struct buf *text;
	cJSON *json;
};

static void kv_num(struct kv *kv, const char *key, long long v)
{
	if (kv->json)
		cJSON_AddNumberToObject(kv->json, key, (double)v);
	else
		buf_printf(kv->text, "%s: %lld\n", key, v);
}

static void kv_str(struct kv *kv, const char *key, const char *v)
{
	if (!v || !*v)
		return;
	if (kv->json) {
		cJSON_AddStringToObject(kv->json, key, v);
		return;
	}
	/* A value is one line, whatever an agent or a user put in it. */
	buf_printf(kv->text, "%s: ", key);
	quote_text_buf(kv->text, v);
	buf_puts(kv->text, "\n");
}

static void kv_time(struct kv *kv, const char *key, int64_t ms)
{
	char t[32];

	if (!ms)
		return;
	pai_format_time(ms, t, sizeof(t));
	kv_str(kv, key, t);
}

/* -o simulate, said wherever an engine is: nobody takes a rehearsal for
 * work. */
static void kv_simulate(struct kv *kv, struct pai *p, const char *line)
{
	if (!p->cfg.simulate)
		return;
	if (kv->json)
		cJSON_AddBoolToObject(kv->json, "simulate", 1);
	else
		kv_str(kv, "simulate", line);
}

/* Dollars, when some engine reported a price. */
static void kv_cost(struct kv *kv, double usd)
{
	char v[32];

	if (usd < 0)
		return;
	if (kv->json) {
		cJSON_AddNumberToObject(kv->json, "cost_usd", usd);
		return;
	}
	snprintf(v, sizeof(v), "%.4f", usd);
	kv_str(kv, "cost_usd", v);
}

/* Dollars with a key of their own. */
static void kv_usd(struct kv *kv, const char *key, double usd)
{
	char v[32];

	if (kv->json) {
		cJSON_AddNumberToObject(kv->json, key, usd);
		return;
	}
	snprintf(v, sizeof(v), "%.4f", usd);
	kv_str(kv, key, v);
}

/*
 * The budgets that are set: budget_usd, budget_spent_usd,
 * budget_left_usd (and budget_reached) for the total, the same with
 * _ENGINE for an engine's; and the window they count over.
 */
static void kv_budgets(struct kv *kv, struct pai *p)
{
	struct budget_info b[32];
	size_t n = sched_budgets(p->sched, b, 32), i;
	char key[128], win[32];

	for (i = 0; i < n; i++) {
		const char *sfx = *b[i].engine ? "_" : "";
		double left = b[i].limit - b[i].spent;

		snprintf(key, sizeof(key), "budget_usd%s%.63s", sfx, b[i].engine);
		kv_usd(kv, key, b[i].limit);
		snprintf(key, sizeof(key), "budget_spent_usd%s%.63s", sfx,
			 b[i].engine);
		kv_usd(kv, key, b[i].spent);
		snprintf(key, sizeof(key), "budget_left_usd%s%.63s", sfx,
			 b[i].engine);
		kv_usd(kv, key, left > 0 ? left : 0);
		snprintf(key, sizeof(key), "budget_reached%s%.63s", sfx,
			 b[i].engine);
		if (b[i].reached)
			kv_str(kv, key, "yes");
	}
	if (!n)
		return;
	if (p->cfg.budget_window)
		snprintf(win, sizeof(win), "%llds",
			 (long long)p->cfg.budget_window);
	else
		snprintf(win, sizeof(win), "mount");
	kv_str(kv, "budget_window", win);
}

/* A task's own limits, from its spec (kept with its options). */
static void kv_task_budget(struct kv *kv, const struct task *t)
{
	static const char *const keys[] = { "max_cost_usd", "max_tokens",
					    "max_turns" };
	cJSON *o = t->options ? cJSON_Parse(t->options) : NULL;
	const cJSON *v;
	char num[32];
	size_t i;

	for (i = 0; o && i < 3; i++) {
		v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
		if (!cJSON_IsNumber(v))
			continue;
		if (kv->json) {
			cJSON_AddNumberToObject(kv->json, keys[i],
						v->valuedouble);
			continue;
		}
		snprintf(num, sizeof(num), i ? "%.0f" : "%.2f",
			 v->valuedouble);
		kv_str(kv, keys[i], num);
	}
	cJSON_Delete(o);
}

/* What the last run's result file adds: cache tokens and tool calls,
 * where the engine reports them. */
static void kv_last_run(struct kv *kv, struct pai *p, int64_t id)
{
	static const char *const keys[] = { "cache_read_tokens",
					    "cache_write_tokens", "tool_calls" };
	long long v[3];
	char path[PATH_MAX];
	size_t i;

	pai_result_path(p, id, path, sizeof(path));
	if (engine_read_numbers(path, keys, v, 3) < 0)
		return;
	for (i = 0; i < 3; i++)
		if (v[i] > 0)
			kv_num(kv, keys[i], v[i]);
}

/*
 * branch: pai/task-7, or "branch: moved (now 3f2a1b0)" when it points
 * elsewhere than the recorded commit (task.json: the name, and the new
 * tip in branch_moved): merge and push wait for a rescan.
 */
static void kv_branch(struct kv *kv, struct pai *p, const struct task *t)
{
	char now[OID_HEX_SIZE], v[64];

	if (!review_branch_moved(p, t, now)) {
		kv_str(kv, "branch", t->branch);
		return;
	}
	if (kv->json) {
		kv_str(kv, "branch", t->branch);
		kv_str(kv, "branch_moved", now);
		return;
	}
	snprintf(v, sizeof(v), "moved (now %.7s)", now);
	kv_str(kv, "branch", v);
}

/*
 * check_command: make test
 * check: failed (exit 2), round 2 of 3
 * (task.json: check_command, check, check_exit, check_round and
 * check_rounds apart.) The round is the engine's run under way or the
 * last; the state the last check's in it or before it.
 */
static void kv_check(struct kv *kv, struct pai *p, int64_t id)
{
	struct task_check c;
	const char *st;
	char v[96];

	if (store_task_check_get(p->store, id, &c) < 0 || !c.command) {
		task_check_release(&c);
		return;
	}
	st = *c.state ? c.state : c.round ? "pending" : "not run";
	kv_str(kv, "check_command", c.command);
	if (kv->json) {
		kv_str(kv, "check", st);
		if (c.exit_code >= 0)
			kv_num(kv, "check_exit", c.exit_code);
		if (c.round)
			kv_num(kv, "check_round", c.round);
		kv_num(kv, "check_rounds", c.fix_rounds + 1);
	} else {
		if (!strcmp(st, "failed") && c.exit_code >= 0)
			snprintf(v, sizeof(v), "failed (exit %d)", c.exit_code);
		else if (!strcmp(st, "timeout"))
			snprintf(v, sizeof(v), "timed out (exit %d)",
				 c.exit_code);
		else
			snprintf(v, sizeof(v), "%s", st);
		if (c.round)
			snprintf(v + strlen(v), sizeof(v) - strlen(v),
				 ", round %d of %d", c.round, c.fix_rounds + 1);
		else
			snprintf(v + strlen(v), sizeof(v) - strlen(v),
				 ", %d round%s", c.fix_rounds + 1,
				 c.fix_rounds ? "s" : "");
		kv_str(kv, "check", v);
	}
	task_check_release(&c);
}

/* depends: 3 4 (a JSON array in task.json) */
static void kv_deps(struct kv *kv, struct pai *p, int64_t id)
{
	int64_t *ids = NULL;
	size_t n = 0, i;
	cJSON *a;

	if (store_task_deps(p->store, id, &ids, &n) < 0 || !n) {
		free(ids);
		return;
	}
	if (kv->json) {
		a = cJSON_AddArrayToObject(kv->json, "depends");
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNumber((double)ids[i]));
	} else {
		buf_puts(kv->text, "depends:");
		for (i = 0; i < n; i++)
			buf_printf(kv->text, " %lld", (long long)ids[i]);
		buf_puts(kv->text, "\n");
	}
	free(ids);
}

/* labels: ui fast (the array itself in task.json); paths alike */
static void kv_words(struct kv *kv, const char *key, const char *labels)
{
	cJSON *a = labels ? cJSON_Parse(labels) : NULL, *e;

	if (!cJSON_IsArray(a) || !cJSON_GetArraySize(a)) {
		cJSON_Delete(a);
		return;
	}
	if (kv->json) {
		cJSON_AddItemToObject(kv->json, key, a);
		return;
	}
	buf_printf(kv->text, "%s:", key);
	cJSON_ArrayForEach(e, a)
		if (cJSON_IsString(e)) {
			buf_puts(kv->text, " ");
			quote_text_buf(kv->text, e->valuestring);
		}
	buf_puts(kv->text, "\n");
	cJSON_Delete(a);
}

/* paths: src/ui docs/a.md, what its last run changed outside them
 * (outside_paths: a.c), and while it waits for them, who holds them:
 * waiting_for: paths held by task 7 */
static void kv_paths(struct kv *kv, struct pai *p, const struct task *t)
{
	char *json = NULL, *outside = NULL, why[96];

	if (store_task_outside(p->store, t->id, &json, &outside) == 0) {
		kv_words(kv, "paths", json);
		kv_words(kv, "outside_paths", outside);
	}
	free(json);
	free(outside);
	if (t->state == TASK_QUEUED &&
	    sched_waiting_for(p->sched, t->id, why, sizeof(why)) == 0)
		kv_str(kv, "waiting_for", why);
}

int view_task_depends(struct pai *p, const struct task *t, struct buf *out)
{
	int64_t *ids = NULL;
	size_t n = 0, i;
	int r = store_task_deps(p->store, t->id, &ids, &n);

	for (i = 0; r == 0 && i < n; i++)
		r = buf_printf(out, "%lld\n", (long long)ids[i]);
	free(ids);
	return r;
}

static int kv_finish(struct kv *kv)
{
	char *s;
	int r;

	if (!kv->json)
		return 0;
	s = cJSON_PrintUnformatted(kv->json);
	cJSON_Delete(kv->json);
	if (!s)
		return -ENOMEM;
	r = buf_printf(kv->text, "%s\n", s);
	cJSON_free(s);
	return r;
}

/* Which sandbox a run of engine with these options gets, and why none;
 * its network. */
static void kv_sandbox(struct kv *kv, struct pai *p, const char *engine,
		       const char *options)
{
	struct sandbox_choice ch;
	char err[512];

	if (sandbox_choose(&p->cfg, &p->sandbox, engine, options, &ch, err,
			   sizeof(err)) < 0) {
		kv_str(kv, "sandbox", "none");
		kv_str(kv, "sandbox_reason", err);
		return;
	}
	kv_str(kv, "sandbox", ch.on ? "bwrap" : "none");
	if (!ch.on)
		kv_str(kv, "sandbox_reason", ch.reason);
	kv_str(kv, "network", sandbox_net_name(ch.net));
}

/* policy: enforced, or not enforced for ENGINE (no per-call hook). */
static void kv_policy(struct kv *kv, struct pai *p, const char *engine)
{
	char why[128];

	if (engine && engine_enforced(&p->cfg, engine))
		kv_str(kv, "policy", "enforced");
	else {
		snprintf(why, sizeof(why), "not enforced for %s",
			 engine ? engine : "?");
		kv_str(kv, "policy", why);
	}
}

/* permission_mode: the claude preset's, and why (engine_mode.c). */
static void kv_permission_mode(struct kv *kv, struct pai *p,
			       const char *engine, const char *options)
{
	struct sandbox_choice ch;
	char mode[256], why[128], err[512], line[400];
	bool on;

	if (!engine || !engine_policy_hook(&p->cfg, engine))
		return;
	on = sandbox_choose(&p->cfg, &p->sandbox, engine, options, &ch, err,
			    sizeof(err)) == 0 && ch.on;
	engine_permission_mode(&p->cfg, engine, options, on,
			       p->approvals != NULL, mode, sizeof(mode), why,
			       sizeof(why));
	snprintf(line, sizeof(line), "%s (%s)", mode, why);
	kv_str(kv, "permission_mode", line);
}

/* The rules active, of each kind, and the approvals that wait. */
static void kv_policy_rules(struct kv *kv, struct pai *p)
{
	size_t n[3], waiting = 0;
	int64_t *ids = NULL;

	if (!p->approvals)
		return;
	approvals_counts(p->approvals, n);
	kv_num(kv, "policy_deny", (long long)n[POLICY_DENY]);
	kv_num(kv, "policy_ask", (long long)n[POLICY_ASK]);
	kv_num(kv, "policy_allow", (long long)n[POLICY_ALLOW]);
	kv_str(kv, "policy_default", policy_decision_name(p->cfg.policy_default));
	if (approvals_pending_ids(p->approvals, &ids, &waiting) == 0)
		kv_num(kv, "approvals_waiting", (long long)waiting);
	free(ids);
}

/* backend: slurm, and its breaker while the controller is unreachable;
 * nothing for the local backend. */
static void view_backend(struct kv *kv)
{
	char why[320];

	if (!strcmp(runner_backend_name(), "local"))
		return;
	kv_str(kv, "backend", runner_backend_name());
	if (runner_health(why, sizeof(why)))
		kv_str(kv, "breaker_slurm", why);
}

/* A running task's job: its id, and its state and node as squeue said. */
static void view_task_job(struct kv *kv, struct pai *p, const struct task *t)
{
	struct runner_job_info info;
	char job[64];

	if (!strcmp(runner_backend_name(), "local"))
		return;
	kv_str(kv, "backend", runner_backend_name());
	if (t->state != TASK_RUNNING ||
	    store_task_job(p->store, t->id, job, sizeof(job)) < 0)
		return;
	kv_str(kv, "slurm_job", job);
	if (runner_job_info(job, &info) < 0)
		return;
	kv_str(kv, "slurm_state", info.state);
	if (*info.node)
		kv_str(kv, "node", info.node);
}

int view_root_status(struct pai *p, struct buf *out, bool json)
{
	struct kv kv = { out, json ? cJSON_CreateObject() : NULL };
	size_t counts[TASK_STATE_COUNT] = { 0 }, total = 0, ended;
	struct task_usage usage;
	struct breaker_info open[16];
	size_t n_open, j;
	int i, r;

	r = store_counts(p->store, counts);
	if (r < 0) {
		cJSON_Delete(kv.json);
		return r;
	}
	for (i = 0; i < TASK_STATE_COUNT; i++)
		total += counts[i];
	kv_str(&kv, "state", sched_paused(p->sched) ? "paused" : "running");
	kv_num(&kv, "workers", sched_workers(p->sched));
	kv_str(&kv, "engine", p->cfg.engine);
	kv_str(&kv, "engine_reason", p->engine_why);
	if (provider_of(&p->cfg, p->cfg.engine))
		kv_str(&kv, "provider", provider_of(&p->cfg, p->cfg.engine));
	kv_sandbox(&kv, p, p->cfg.engine, NULL);
	kv_simulate(&kv, p, "yes: every engine, the planner and the judge are"
		    " sim; a rehearsal, not real work");
	kv_policy(&kv, p, p->cfg.engine);
	kv_permission_mode(&kv, p, p->cfg.engine, NULL);
	kv_policy_rules(&kv, p);
	kv_num(&kv, "busy", sched_busy(p->sched));
	kv_num(&kv, "tasks", (long long)total);
	for (i = 0; i < TASK_STATE_COUNT; i++)
		kv_num(&kv, task_state_name(i), (long long)counts[i]);
	ended = counts[TASK_DONE] + counts[TASK_MERGED] + counts[TASK_FAILED];
	if (ended) {
		char rate[16];

		snprintf(rate, sizeof(rate), "%.2f",
			 (double)(counts[TASK_DONE] + counts[TASK_MERGED]) /
			 (double)ended);
		if (kv.json)
			cJSON_AddNumberToObject(kv.json, "success_rate",
				(double)(counts[TASK_DONE] + counts[TASK_MERGED]) /
				(double)ended);
		else
			kv_str(&kv, "success_rate", rate);
	}
	n_open = sched_breakers(p->sched, open, 16);
	for (j = 0; j < n_open; j++) {
		char key[96], val[128], t[32];

		pai_format_time(open[j].open_until, t, sizeof(t));
		snprintf(key, sizeof(key), "breaker_%.63s", open[j].engine);
		snprintf(val, sizeof(val), "open until %s after %d failures",
			 t, open[j].failures);
		kv_str(&kv, key, val);
	}
	view_backend(&kv);
	if (store_totals(p->store, &usage) == 0) {
		kv_num(&kv, "input_tokens", usage.input_tokens);
		kv_num(&kv, "output_tokens", usage.output_tokens);
		kv_cost(&kv, usage.cost_usd);
	}
	kv_budgets(&kv, p);
	kv_time(&kv, "started", p->started);
	kv_str(&kv, "repository", p->repo);
	kv_str(&kv, "state_dir", p->state_dir);
	kv_str(&kv, "worktree_dir", p->worktrees_dir);
	kv_str(&kv, "checkout", p->cfg.checkout ? p->cfg.checkout : "full");
	if (*p->checkout_why)
		kv_str(&kv, "checkout_reason", p->checkout_why);
	kv_num(&kv, "worktree_bytes", (long long)review_worktree_bytes(p));
	return kv_finish(&kv);
}

/* "waiting for approval 7: Bash(...)" under the state while one waits */
static void kv_waiting(struct kv *kv, struct pai *p, const struct task *t)
{
	struct buf b;

	if (!p->approvals || t->state != TASK_RUNNING)
		return;
	buf_init(&b, 1 << 20);
	if (approvals_task_waiting(p->approvals, t->id, &b) == 0 && b.len) {
		buf_truncate(&b, b.len - 1);	/* its newline */
		if (kv->json)
			cJSON_AddStringToObject(kv->json, "waiting",
						buf_cstr(&b));
		else
			buf_printf(kv->text, "%s\n", buf_cstr(&b));
	}
	buf_release(&b);
}

int view_task_status(struct pai *p, const struct task *t, struct buf *out,
		     bool json)
{
	struct kv kv = { out, json ? cJSON_CreateObject() : NULL };

	if (json)
		cJSON_AddStringToObject(kv.json, "state",
					task_state_name(t->state));
	else
		buf_printf(out, "%s\n", task_state_name(t->state));
	kv_waiting(&kv, p, t);
	kv_num(&kv, "id", t->id);
	kv_str(&kv, "engine", t->engine);
	if (provider_of(&p->cfg, t->engine))
		kv_str(&kv, "provider", provider_of(&p->cfg, t->engine));
	kv_sandbox(&kv, p, t->engine, t->options);
	kv_simulate(&kv, p, "yes: sim stands in for the engine; a rehearsal,"
		    " not real work");
	kv_policy(&kv, p, t->engine);
	kv_permission_mode(&kv, p, t->engine, t->options);
	kv_num(&kv, "attempts", t->attempts);
	if (t->exit_code >= 0)
		kv_num(&kv, "exit", t->exit_code);
	if (t->worker)
		kv_num(&kv, "worker", t->worker);
	if (t->pid)
		kv_num(&kv, "pid", t->pid);
	view_task_job(&kv, p, t);
	kv_time(&kv, "created", t->created);
	kv_time(&kv, "started", t->started);
	kv_time(&kv, "finished", t->finished);
	/* Once it ended: a running task's file stays still while it runs
	 * (started says since when), as its mtime says. */
	if (t->started && t->finished >= t->started &&
	    t->state != TASK_RUNNING)
		kv_num(&kv, "duration_ms", t->finished - t->started);
	kv_str(&kv, "base", t->base);
	kv_branch(&kv, p, t);
	/* Deleted outside parallelai, or by prune branches: it no longer
	 * merges, and a retry runs it again on a new one. */
	if (review_branch_missing(p, t))
		kv_str(&kv, "branch_missing", "yes");
	kv_str(&kv, "commit", t->commit);
	kv_str(&kv, "worktree", t->worktree);
	/* full: a checkout of its own; overlay: a mount over the base's */
	if (t->worktree)
		kv_str(&kv, "checkout", overlay_is(p->worktrees_dir, t->id) ?
		       "overlay" : "full");
	/* Removed by hand: say so; a retry makes it anew. */
	if (t->worktree && access(t->worktree, F_OK) < 0)
		kv_str(&kv, "worktree_missing", "yes");
	kv_str(&kv, "reason", t->reason);
	kv_check(&kv, p, t->id);
	if (t->priority)
		kv_num(&kv, "priority", t->priority);
	if (t->timeout)
		kv_num(&kv, "timeout", t->timeout);
	if (t->stall)
		kv_num(&kv, "stall", t->stall);
	if (t->retries)
		kv_num(&kv, "retries", t->retries);
	if (t->state == TASK_QUEUED && t->not_before > pai_now_ms())
		kv_time(&kv, "retry_at", t->not_before);
	if (t->state == TASK_QUEUED &&
	    sched_budget_holds(p->sched, t->engine))
		kv_str(&kv, "waiting_for", "budget");
	kv_task_budget(&kv, t);
	kv_deps(&kv, p, t->id);
	kv_words(&kv, "labels", t->labels);
	kv_paths(&kv, p, t);
	kv_str(&kv, "model", t->model);
	if (t->input_tokens || t->output_tokens) {
		kv_num(&kv, "input_tokens", t->input_tokens);
		kv_num(&kv, "output_tokens", t->output_tokens);
	}
	if (t->turns)
		kv_num(&kv, "turns", t->turns);
	kv_cost(&kv, t->cost_usd);
	kv_last_run(&kv, p, t->id);
	if (json)
		cJSON_AddStringToObject(kv.json, "prompt", t->prompt);
	return kv_finish(&kv);
}

/*
 * While the task runs (or when it ended without a commit) show the
 * worktree's own changes; afterwards, the recorded commit's. The commit
 * needs neither the worktree nor the branch: its diff stays after a
 * prune, and after the branch was deleted, for as long as git keeps the
 * object. What cannot be shown is said in one line, never left empty.
 */
static int diff_or_files(struct pai *p, const struct task *t,
			 struct buf *out, bool files)
{
	const char *wt = NULL;
	char err[1024];
	int r;

	if (t->state == TASK_RUNNING || !*t->commit) {
		if (!t->worktree)
			return 0;	/* not made yet, or pruned unused */
		if (access(t->worktree, F_OK) < 0)
			return buf_printf(out, "parallelai: worktree '%s' is"
					  " missing\n", t->worktree);
		wt = t->worktree;
	}
	if (files)
		r = gitwork_files(p->repo, t->base, t->commit, wt, out, err,
				  sizeof(err));
	else
		r = gitwork_diff(p->repo, t->base, t->commit, wt, out, err,
				 sizeof(err));
	if (r < 0 && r != -EFBIG) {
		buf_truncate(out, 0);
		if (!wt && review_branch_missing(p, t))
			buf_printf(out, "parallelai: branch '%s' is missing and"
				   " its commit %.12s is gone\n", t->branch,
				   t->commit);
		else
			buf_printf(out, "parallelai: %s\n", err);
		return 0;
	}
	return r;
}

int view_task_diff(struct pai *p, const struct task *t, struct buf *out)
{
	return diff_or_files(p, t, out, false);
}

int view_task_files(struct pai *p, const struct task *t, struct buf *out)
{
	return diff_or_files(p, t, out, true);
}

int view_task_result(struct pai *p, const struct task *t, struct buf *out)
{
	char path[PATH_MAX], chunk[4096];
	const cJSON *res;
	cJSON *root;
	struct buf b;
	ssize_t n;
	int fd, r = 0;

	pai_result_path(p, t->id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	buf_init(&b, 16 << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 && r == 0)
		r = buf_add(&b, chunk, (size_t)n);
	close(fd);
	root = r == 0 ? cJSON_ParseWithLength(buf_cstr(&b), b.len) : NULL;
	res = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (cJSON_IsString(res)) {
		r = buf_puts(out, res->valuestring);
		if (r == 0 && *res->valuestring &&
		    res->valuestring[strlen(res->valuestring) - 1] != '\n')
			r = buf_add(out, "\n", 1);
	} else {
		r = -ENOENT;
	}
	cJSON_Delete(root);
	buf_release(&b);
	return r;
}

int view_worker_status(struct pai *p, int k, struct buf *out)
{
	struct worker_info w;
	char t[32];
	int r = sched_worker_info(p->sched, k, &w);

	if (r < 0)
		return r;
	if (!w.task)
		return buf_printf(out, "idle\n");
	pai_format_time(w.since, t, sizeof(t));
	buf_printf(out, "running %lld\ntask: %lld\n", (long long)w.task,
		   (long long)w.task);
	if (w.pid)
		buf_printf(out, "pid: %d\n", (int)w.pid);
	return buf_printf(out, "since: %s\n", t);
}

int view_task_wait(struct pai *p, const struct task *t, struct buf *out)
{
	if (!task_state_ended(t->state))
		return 0;
	return buf_printf(out, "%s\n", task_state_name(t->state));
}

int view_root_wait(struct pai *p, struct buf *out)
{
	size_t counts[TASK_STATE_COUNT];
	int i, r;

	if ((r = store_counts(p->store, counts)) < 0)
		return r;
	if (counts[TASK_QUEUED] || counts[TASK_WAITING] ||
	    counts[TASK_RUNNING])
		return 0;
	/* nor is it while the merge queue has candidates to land */
	if (p->mergeq && !mergeq_idle(p->mergeq))
		return 0;
	for (i = 0; i < TASK_STATE_COUNT && r == 0; i++)
		r = buf_printf(out, "%s: %zu\n", task_state_name(i), counts[i]);
	return r;
}
