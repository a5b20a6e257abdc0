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

/* The README, in two parts: this mount's default engine goes between. */
static const char readme_intro[] =
"parallelai: a job queue of coding agents, as files\n"
"\n"
"Write a prompt into tasks/new and it becomes a task: it gets its own git\n"
"worktree and branch (pai/task-N), an engine runs in it, whatever it\n"
"changed is committed on the branch, and its diff is shown here.\n";

static const char readme_text[] =
"\n"
"  echo 'make test' > tasks/new          create a task (its id: tasks/N)\n"
"  tail -f tasks/1/log                   follow its output\n"
"  cat tasks/1/status                    state word, then key: value lines\n"
"  cat tasks/1/diff                      what it changed, against its base\n"
"  echo cancel > tasks/1/ctl             stop it\n"
"\n"
"Files\n"
"  README          this text\n"
"  ctl             write a command: pause | resume | workers N |\n"
"                  budget [ENGINE] USD | cancel ID | retry ID |\n"
"                  merge ID|all | queue ID | fix ID | prune [branches] [ID] |\n"
"                  policy (rules read again);\n"
"                  a read lists them (each ctl file lists its own)\n"
"  status          workers, tasks per state, success rate, budgets, start\n"
"                  time\n"
"  status.json     the same as one JSON object\n"
"  events          JSON Lines, one event per line, growing live\n"
"  metrics         the numbers in the Prometheus text format: tasks per\n"
"                  state, workers, tokens, cost, engines, plans\n"
"  index.html      the run at a glance in a browser (xdg-open index.html):\n"
"                  workers, tasks by state, conflicts, merge order, last\n"
"                  events; no script, reloads itself every 5 s\n"
"  timeline.svg    the attempts as a Gantt chart: a row per worker, a bar\n"
"                  per attempt coloured by outcome, running ones to now\n"
"  tasks/new       write a prompt, or {\"prompt\": \"...\", \"engine\": \"NAME\"};\n"
"                  the task exists once close() returns 0; a read-write\n"
"                  handle reads back the new id\n"
"  tasks/N/prompt     what was written\n"
"  tasks/N/status     queued | waiting | blocked | running | done |\n"
"                     failed | cancelled | merged | rejected, then key:\n"
"                     value lines\n"
"  tasks/N/task.json  the same, and the prompt, as one JSON object\n"
"  tasks/N/depends    the ids of the tasks it waits for, one per line\n"
"  tasks/N/log        the engine's output; grows while it runs\n"
"  tasks/N/log.jsonl  an agent engine's raw event stream\n"
"  tasks/N/result     an agent engine's final message\n"
"  tasks/N/check      the last check's output, its exit status first\n"
"  tasks/N/diff       unified diff of the task against its base commit\n"
"  tasks/N/files      changed paths with A (added), M (modified), D (deleted)\n"
"  tasks/N/ctl        write cancel | retry | priority N | merge | queue |\n"
"                     fix | push | rescan\n"
"  tasks/N/conflicts  the tasks (and base branch) it conflicts with\n"
"  tasks/N/worktree   link to the task's worktree\n"
"  tasks/N/worker     link to its worker while it runs\n"
"  tasks/N/timeline.svg  its attempts on a time axis\n"
"  tasks/N/wait       blocks until the task ended, then its state word:\n"
"                     cat tasks/1/wait && cat tasks/1/diff; poll(2) and\n"
"                     select(2) say when; ^C ends the read (EINTR)\n"
"  plans/new          write a request in words, or {\"request\": \"...\",\n"
"                     \"approve\": true}: a planner splits it into tasks\n"
"  plans/N/request    what was asked\n"
"  plans/N/status     planning | waiting | created | failed | cancelled\n"
"  plans/N/plan.json  the planner's answer; plans/N/tasks the ids made\n"
"  plans/N/log        the planner's transcript\n"
"  plans/N/ctl        write approve | cancel\n"
"  conflicts          finished tasks whose changes conflict: \"7 9 PATHS\",\n"
"                     \"7 main PATHS\" against the base branch (and .json)\n"
"  merge-order        an order in which finished tasks merge cleanly\n"
"  queue              the merge queue: what it does, then \"ID STATE\" per\n"
"                     candidate (and queue.json)\n"
"  wait               blocks until no task is queued, waiting or running\n"
"                     and the merge queue is idle, then \"STATE: N\" for\n"
"                     every state (not listed, as\n"
"                     tasks/N/wait: cp -r, tar and grep -r never block)\n"
"  approvals/pending  ids of tool calls held for a person, one per line\n"
"  approvals/N/request  task, engine, attempt, the action, the rule\n"
"  approvals/N/status   waiting | approved | denied | expired, by, when\n"
"  approvals/N/ctl    write approve | approve always | deny [REASON]\n"
"  tasks/N/approvals  its approvals' ids; tasks/N/audit its decisions\n"
"  audit              every policy decision, JSON Lines (kept by prune)\n"
"  workers/K/status   idle, or running N with task, pid and since\n"
"  workers/K/log      follows the worker: each task it runs from the time\n"
"                     you open it, after a header line \"--- task N: ... ---\"\n"
"                     (tail -f sees task after task); cat shows the last\n"
"  workers/K/task     link to that task; workers/K/worktree to its worktree\n"
"Paths in files, conflicts and merge-order are quoted as git quotes them\n"
"(core.quotePath): \"a\\nb\" for a name with a newline in it.\n"
"\n"
"A task whose branch was deleted outside parallelai (git branch -D) shows\n"
"branch_missing: yes in its status; its diff stays its recorded commit's\n"
"while git keeps it. It leaves conflicts and merge-order: merge of it fails\n"
"(ENOENT), merge all goes on without it (event skipped), retry runs it\n"
"again on a new branch from its base, and prune clears its worktree away.\n"
"\n"
"What merges and pushes is the commit a task recorded when it ended, the\n"
"one its diff shows. A branch moved since (a person, another task, a\n"
"script) shows as branch: moved (now 3f2a1b0) in the status; merge, merge\n"
"all and push refuse it (EBUSY, event branch_moved) until `echo rescan >\n"
"tasks/N/ctl` records the branch's tip as the task's result (event\n"
"rescanned, from and to; the diff shows it). No process of a run outlives\n"
"it: what the engine leaves behind is ended before the result is\n"
"committed.\n"
"\n"
"Check gates: a task's check ({\"check\": \"make test\"} in its spec, or\n"
"git config parallelai.check 'make test'; \"\" for none) runs with /bin/sh -c\n"
"in its worktree once the engine exits 0, its output in the log between\n"
"--- parallelai: check (make test) --- lines and in tasks/N/check; it may\n"
"run parallelai.checkTimeout seconds (600). A failed check with fix rounds\n"
"left (fix_rounds, parallelai.fixRounds; 2 for agent presets, 0 for sh and\n"
"command templates) runs the engine again in the same worktree, its prompt\n"
"the check's command, exit status and last parallelai.fixTail bytes of\n"
"output (16384) as # lines, then the task's prompt. Out of rounds: failed,\n"
"reason check failed: make test exited 2; the commit is made either way.\n"
"status shows check: failed (exit 2), round 2 of 3; events check_started,\n"
"check_passed, check_failed.\n"
"\n"
"Budgets: {\"max_cost_usd\": 1, \"max_tokens\": 200000, \"max_turns\": 30}\n"
"in a spec hold for each attempt: past one the engine is stopped as a\n"
"cancel stops it and the task fails with budget: 1.02 USD spent, limit\n"
"1.00. engine.NAME.budgetUsd and parallelai.budgetUsd are dollars over\n"
"parallelai.budgetWindow (24h; the mount's life by default): once spent,\n"
"no new task of that engine (or none) starts, queued ones show\n"
"waiting_for: budget, event budget_reached; echo 'budget 50' > ctl (or\n"
"budget ENGINE 50) raises it. Costs are the engines' own or their tokens\n"
"times [price \"MODEL\"]; an engine that reports nothing spends nothing.\n"
"\n"
"Paths: {\"paths\": [\"src/ui\", \"docs/*.md\"]} in a spec says what a task may\n"
"change (globs as in each; src/ui owns all under it; a fan-out task owns\n"
"its {file}). Tasks whose paths may overlap never run at once\n"
"(parallelai.pathLocks on | off | strict: then a task without paths owns\n"
"everything): the later stays queued, waiting_for: paths held by task 7.\n"
"Changes outside its paths (outside_paths in status, event outside_paths)\n"
"fail the task (parallelai.outsidePaths fail), are kept (keep) or left\n"
"uncommitted in its worktree (drop); nothing is deleted.\n"
"\n"
"Templates: {\"template\": \"tests\", \"vars\": {\"files\": \"src/*.c\"}} in\n"
"tasks/new fills a template's {variables}; the spec's other fields win.\n"
"templates/ lists them (repository's .parallelai/templates/, then the\n"
"user's ~/.config/parallelai/templates/, then the shipped ones: review,\n"
"tests, docs, types, security-review); templates/README says how to\n"
"write one.\n"
"\n"
"The merge queue: with a check set, merge all (or queue in tasks/N/ctl)\n"
"queues finished tasks; in batches of parallelai.queueBatch (4) it merges\n"
"them onto the base branch's tip in memory, runs the check in a scratch\n"
"worktree, and fast-forwards the branch to exactly that commit when it\n"
"passes (merged, event landed). A conflict or a failing check (retried\n"
"parallelai.queueRetries times, then bisected) makes a task rejected, its\n"
"check output in tasks/N/check; fix hands it back to its engine as a new\n"
"task that joins the queue when done. A restart resumes the queue.\n"
"\n"
"Engines: sh runs the prompt with /bin/sh -c in the worktree; claude,\n"
"codex, gemini, aider and opencode run those CLIs headless; anthropic,\n"
"openai and bedrock are the built-in agent; sim is an offline stand-in;\n"
"others are configured with [engine \"NAME\"] command = ... (see\n"
"parallelai(1)).\n"
"Backends: with -o backend=slurm each task's run is a SLURM batch job\n"
"(pai-REPO-N, in the worktree, which must be on storage the nodes share);\n"
"status and tasks/N/status show backend, slurm_job, slurm_state and node,\n"
"and breaker_slurm while the controller cannot be reached.\n"
"Notifications: [notify \"NAME\"] sections send the events they name\n"
"(finished, failed, needs_input, landed, ... or *) to a command or an\n"
"HTTP POST, retried and kept across remounts; needs_input in events says\n"
"a run was refused tools or a plan waits for approve (see parallelai(1)).\n"
"\n"
"Sandbox (bubblewrap, -o sandbox=auto|bwrap|none, a task's \"sandbox\"):\n"
"an engine can write only its worktree, the objects and its own worktree\n"
"entry of the git directory (it commits on a detached HEAD; its branch\n"
"takes the commit after the run), a private /tmp and its own HOME and\n"
"TMPDIR; the rest (your checkout, other tasks, main, /etc, the state) is\n"
"read-only. network=none|loopback (a task's \"network\") cuts it off.\n"
"It gets PATH, HOME, LANG, TERM, PAI_* and its preset's keys, not the\n"
"daemon's whole environment; known keys are written as [redacted].\n"
"Not protected: it runs as you and can read what you can (and send it\n"
"out with network=on), and it can damage the shared objects.\n"
"\n"
"Rehearsals: engine sim (or -o simulate, which makes every engine, the\n"
"planner and the judge sim, and says so in status) acts as an agent with\n"
"no model and no network: a log with tool calls, tokens and a cost\n"
"([price \"sim\"], else $3/$15 per million), a comment line added to the\n"
"files the prompt names (or NOTES-N.md). Knobs in [sim] or a spec's\n"
"\"sim\": {...}: seconds (2, +-50%), failRate, checkFailRate (first rounds\n"
"whose check fails without running, to rehearse fix rounds), seed (the\n"
"same seed, the same diffs). As planner it makes a task per line or\n"
"bullet; a line saying \"after\" waits for the one before (or \"after 2\",\n"
"\"after all\", \"after the api\").\n"
"Clouds: bedrock signs its requests to Amazon Bedrock with the AWS\n"
"credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, or\n"
"AWS_PROFILE of ~/.aws/credentials) in the region of AWS_REGION,\n"
"~/.aws/config or bedrock.region; its model is a Bedrock id\n"
"(engine.bedrock.model = us.anthropic.claude-sonnet-4-5-20250929-v1:0).\n"
"git config engine.claude.provider bedrock (or vertex, with vertex.project\n"
"and vertex.region) runs claude on Bedrock or Vertex AI; status then says\n"
"provider: bedrock. The cloud's credentials reach only the engines that\n"
"use it, its files (~/.aws) read-only in the sandbox; secret keys and\n"
"tokens are never shown here.\n"
"\n"
"Policy: every tool call of the built-in agent (anthropic, openai) and of\n"
"claude (a PreToolUse hook, parallelai hook) is an\n"
"action (Bash(make test), Write(src/a.c), Edit, Read, Fetch ...) judged\n"
"by policy.deny, policy.ask, policy.allow (Claude Code's patterns, deny\n"
"first), then the built-in rules (deny git push, writes in .git, rm -r\n"
"outside the worktree; ask for | sh, sudo, chmod -R 777, docker\n"
"--privileged), then policy.default (allow; judge asks the model of\n"
"policy.judge). ask holds the call in\n"
"approvals/N (event needs_input, the task's status says waiting for\n"
"approval N) until approvals/N/ctl decides or policy.askTimeout (3600 s)\n"
"expires it. Not enforced for codex, gemini, aider, opencode, sh\n"
"or command templates: status says policy: not enforced for ENGINE.\n"
"Errors: EINVAL bad prompt or command, EFBIG prompt too long, ENOENT no\n"
"such task, EBUSY wrong state, EACCES read-only or not yours, EINTR a long\n"
"command (merge all, prune) stopped by ^C between two of its steps (event\n"
"interrupted); each refusal is an event. A JSON spec is judged at the write() that completes it, so\n"
"`echo` at a shell prompt reports it; what comes in pieces, at close().\n"
"\n"
"Access: only the user who mounted this (and root) may submit, command or\n"
"read tasks, unless the mount names others (-o allow_users=NAME,\n"
"-o allow_group=NAME). Whoever may write tasks/new runs commands as the\n"
"user who mounted it.\n";

int view_readme(struct pai *p, struct buf *out)
{
	int r;

	struct sandbox_choice ch;
	char why[512];

	if (p->cfg.simulate && (r = buf_printf(out, "%s\n\n", SIM_BANNER)) < 0)
		return r;
	if ((r = buf_puts(out, readme_intro)) < 0 ||
	    (r = buf_printf(out, "\nThis mount's default engine: %s (%s);\n%s.\n",
			    p->cfg.engine, p->engine_why,
			    engine_default_hint(p->cfg.engine))) < 0)
		return r;
	if (sandbox_choose(&p->cfg, &p->sandbox, p->cfg.engine, NULL, &ch, why,
			   sizeof(why)) < 0)
		r = buf_printf(out, "Its runs' sandbox: none (%s).\n", why);
	else if (ch.on)
		r = buf_printf(out, "Its runs' sandbox: bwrap, network %s.\n",
			       sandbox_net_name(ch.net));
	else
		r = buf_printf(out, "Its runs' sandbox: none (%s).\n",
			       ch.reason);
	if (r < 0)
		return r;
	return buf_puts(out, readme_text);
}

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
