/*
 * fs/files: every file of the mount, one row each, with its behaviour:
 * what it says (render, or task_render from the task's record), the real
 * file behind it (real), whether it is there now (present), and its flags.
 * A new file is one row here and its render function.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "approvals.h"
#include "buf.h"
#include "ctl.h"
#include "dashboard.h"
#include "events.h"
#include "mergeq.h"
#include "metrics.h"
#include "pai.h"
#include "planner.h"
#include "review.h"
#include "scheduler.h"
#include "store.h"
#include "view.h"
#include "fsint.h"

/* A row: name, kind, mode, flags, then the behaviour it has. */
#define ROW(nm, k, m, f, ...) \
	{ .name = (nm), .kind = (k), .mode = (m), .flags = (f), __VA_ARGS__ }

/* ---- the root ------------------------------------------------------ */

static int r_readme(struct pai *p, const struct node *n, struct buf *out)
{
	return view_readme(p, out);
}

static int r_status(struct pai *p, const struct node *n, struct buf *out)
{
	return view_root_status(p, out, false);
}

static int r_status_json(struct pai *p, const struct node *n,
			 struct buf *out)
{
	return view_root_status(p, out, true);
}

static int r_metrics(struct pai *p, const struct node *n, struct buf *out)
{
	return metrics_render(p, out);
}

static int r_conflicts(struct pai *p, const struct node *n, struct buf *out)
{
	return review_conflicts(p, out, false);
}

static int r_conflicts_json(struct pai *p, const struct node *n,
			    struct buf *out)
{
	return review_conflicts(p, out, true);
}

static int r_merge_order(struct pai *p, const struct node *n,
			 struct buf *out)
{
	return review_merge_order(p, out);
}

static int r_index_html(struct pai *p, const struct node *n,
			struct buf *out)
{
	return dashboard_html(p, out);
}

static int r_timeline(struct pai *p, const struct node *n, struct buf *out)
{
	return dashboard_timeline(p, 0, out);
}

static int r_queue(struct pai *p, const struct node *n, struct buf *out)
{
	return mergeq_render(p->mergeq, out, false);
}

static int r_queue_json(struct pai *p, const struct node *n,
			struct buf *out)
{
	return mergeq_render(p->mergeq, out, true);
}

/* Nothing until no task is queued, waiting or running (fs/wait blocks). */
static int r_wait(struct pai *p, const struct node *n, struct buf *out)
{
	return view_root_wait(p, out);
}

static int r_audit(struct pai *p, const struct node *n, struct buf *out)
{
	return approvals_render_audit(p->approvals, n->task, out);
}

/* A read of a ctl file lists the commands it takes. */
static int r_ctl(struct pai *p, const struct node *n, struct buf *out)
{
	return ctl_commands(n->task ? CTL_TASK : CTL_ROOT, out);
}

static int real_events(struct pai *p, const struct node *n, char *out,
		       size_t len)
{
	snprintf(out, len, "%s", events_path(p->events));
	return 0;
}

/*
 * Modes are the owner's alone (group bits too with allow_group): the
 * daemon lets in only the owner, root and whom the mount names, whatever
 * the bits say. README and the root directory are everybody's.
 */
const struct entry ns_root_tab[] = {
	ROW("README", K_README, S_IFREG | 0444, F_PUBLIC, .render = r_readme),
	ROW("ctl", K_CTL, S_IFREG | 0600, F_WRITE, .render = r_ctl),
	ROW("status", K_STATUS, S_IFREG | 0400, F_CLOCKED, .render = r_status),
	ROW("status.json", K_STATUS_JSON, S_IFREG | 0400, F_CLOCKED,
	  .render = r_status_json),
	ROW("events", K_EVENTS, S_IFREG | 0400, 0, .real = real_events),
	ROW("metrics", K_METRICS, S_IFREG | 0400, F_CLOCKED,
	  .render = r_metrics),
	ROW("conflicts", K_CONFLICTS, S_IFREG | 0400, F_CLOCKED,
	  .render = r_conflicts),
	ROW("conflicts.json", K_CONFLICTS_JSON, S_IFREG | 0400, F_CLOCKED,
	  .render = r_conflicts_json),
	ROW("merge-order", K_MERGE_ORDER, S_IFREG | 0400, F_CLOCKED,
	  .render = r_merge_order),
	/* Dated by the store: what moves with the clock alone (a running
	 * task's duration) keeps their size and does not move their time,
	 * so tar and rsync of a busy mount see them hold still. */
	ROW("index.html", K_INDEX_HTML, S_IFREG | 0400, F_STORE,
	  .render = r_index_html),
	ROW("timeline.svg", K_TIMELINE, S_IFREG | 0400, F_STORE,
	  .render = r_timeline),
	ROW("queue", K_QUEUE, S_IFREG | 0400, F_CLOCKED, .render = r_queue),
	ROW("queue.json", K_QUEUE_JSON, S_IFREG | 0400, F_CLOCKED,
	  .render = r_queue_json),
	ROW("wait", K_WAIT, S_IFREG | 0400, F_WAIT, .render = r_wait),
	ROW("tasks", K_TASKS, S_IFDIR | 0700, 0),
	ROW("plans", K_PLANS, S_IFDIR | 0700, 0),
	ROW("approvals", K_APPROVALS, S_IFDIR | 0500, 0),
	ROW("audit", K_AUDIT, S_IFREG | 0400, F_CLOCKED, .render = r_audit),
	ROW("workers", K_WORKERS, S_IFDIR | 0500, 0),
	ROW("templates", K_TEMPLATES, S_IFDIR | 0500, 0),
	{ .name = NULL }
};

/* ---- templates/: NAME, NAME.status, README ------------------------- */

static int r_template(struct pai *p, const struct node *n, struct buf *out)
{
	return template_render(p->repo, n->name, out);
}

static int r_template_status(struct pai *p, const struct node *n,
			     struct buf *out)
{
	return template_render_status(p->repo, n->name, out);
}

static int r_templates_readme(struct pai *p, const struct node *n,
			      struct buf *out)
{
	return template_readme(out);
}

const struct entry ns_template = ROW("", K_TEMPLATE, S_IFREG | 0400, 0,
				     .render = r_template);
const struct entry ns_template_status = ROW("", K_TPL_STATUS,
					    S_IFREG | 0400, 0,
					    .render = r_template_status);
const struct entry ns_templates_readme = ROW("README", K_TPL_README,
					     S_IFREG | 0444, F_PUBLIC,
					     .render = r_templates_readme);

const struct entry ns_tasks_new = ROW("new", K_NEW, S_IFREG | 0600,
				     F_WRITE | F_NEW);
const struct entry ns_plans_new = ROW("new", K_PLANS_NEW, S_IFREG | 0600,
				     F_WRITE | F_NEW);

/* ---- a task -------------------------------------------------------- */

static int t_prompt(struct pai *p, const struct task *t, struct buf *out)
{
	return buf_add(out, t->prompt, t->prompt_len);
}

static int t_status(struct pai *p, const struct task *t, struct buf *out)
{
	return view_task_status(p, t, out, false);
}

static int t_json(struct pai *p, const struct task *t, struct buf *out)
{
	return view_task_status(p, t, out, true);
}

static int t_timeline(struct pai *p, const struct task *t, struct buf *out)
{
	return dashboard_timeline(p, t->id, out);
}

static int r_t_conflicts(struct pai *p, const struct node *n,
			 struct buf *out)
{
	return review_task_conflicts(p, n->task, out);
}

static int real_t_log(struct pai *p, const struct node *n, char *out,
		      size_t len)
{
	pai_log_path(p, n->task, out, len);
	return 0;
}

static int real_t_raw(struct pai *p, const struct node *n, char *out,
		      size_t len)
{
	pai_raw_path(p, n->task, out, len);
	return 0;
}

static int real_t_check(struct pai *p, const struct node *n, char *out,
			size_t len)
{
	pai_check_path(p, n->task, out, len);
	return 0;
}

/* The last check's output, once a check ran. */
static bool has_check(struct pai *p, const struct node *n)
{
	char path[PATH_MAX];

	return real_t_check(p, n, path, sizeof(path)) == 0 &&
	       access(path, F_OK) == 0;
}

/* An agent's raw stream exists for agent engines only. */
static bool has_raw(struct pai *p, const struct node *n)
{
	char path[PATH_MAX];

	return real_t_raw(p, n, path, sizeof(path)) == 0 &&
	       access(path, F_OK) == 0;
}

/* A result exists once an agent engine gave one. */
static bool has_result(struct pai *p, const struct node *n)
{
	struct task t;
	struct buf b;
	bool ok;

	if (store_task_get(p->store, n->task, &t) < 0)
		return false;
	buf_init(&b, BUF_NOMAX);
	ok = view_task_result(p, &t, &b) == 0;
	buf_release(&b);
	task_release(&t);
	return ok;
}

static int l_t_worktree(struct pai *p, const struct node *n, struct buf *out)
{
	struct task t;
	int r;

	if ((r = store_task_get(p->store, n->task, &t)) < 0)
		return r;
	r = t.worktree ? buf_puts(out, t.worktree) : -ENOENT;
	task_release(&t);
	return r;
}

static bool has_worktree(struct pai *p, const struct node *n)
{
	struct task t;
	bool ok;

	if (store_task_get(p->store, n->task, &t) < 0)
		return false;
	ok = t.worktree != NULL;
	task_release(&t);
	return ok;
}

static int l_t_worker(struct pai *p, const struct node *n, struct buf *out)
{
	struct task t;
	int r;

	if ((r = store_task_get(p->store, n->task, &t)) < 0)
		return r;
	r = t.worker ? buf_printf(out, "../../workers/%d", t.worker) :
	    -ENOENT;
	task_release(&t);
	return r;
}

static bool runs_on_worker(struct pai *p, const struct node *n)
{
	struct task t;
	bool ok;

	if (store_task_get(p->store, n->task, &t) < 0)
		return false;
	ok = t.state == TASK_RUNNING && t.worker > 0;
	task_release(&t);
	return ok;
}

static int r_t_approvals(struct pai *p, const struct node *n,
			 struct buf *out)
{
	return approvals_render_task(p->approvals, n->task, out);
}

#define TASK_FILE (F_OF_TASK | F_SIZED)

const struct entry ns_task_tab[] = {
	ROW("prompt", K_T_PROMPT, S_IFREG | 0400, TASK_FILE | F_BORN,
	  .task_render = t_prompt),
	ROW("status", K_T_STATUS, S_IFREG | 0400, TASK_FILE,
	  .task_render = t_status),
	ROW("task.json", K_T_JSON, S_IFREG | 0400, TASK_FILE,
	  .task_render = t_json),
	ROW("log", K_T_LOG, S_IFREG | 0400, F_OF_TASK, .real = real_t_log),
	ROW("log.jsonl", K_T_RAW, S_IFREG | 0400, F_OF_TASK, .real = real_t_raw,
	  .present = has_raw),
	ROW("diff", K_T_DIFF, S_IFREG | 0400, TASK_FILE,
	  .task_render = view_task_diff),
	ROW("files", K_T_FILES, S_IFREG | 0400, TASK_FILE,
	  .task_render = view_task_files),
	ROW("result", K_T_RESULT, S_IFREG | 0400, TASK_FILE,
	  .task_render = view_task_result, .present = has_result),
	ROW("check", K_T_CHECK, S_IFREG | 0400, F_OF_TASK,
	  .real = real_t_check, .present = has_check),
	ROW("depends", K_T_DEPENDS, S_IFREG | 0400, TASK_FILE,
	  .task_render = view_task_depends),
	ROW("conflicts", K_T_CONFLICTS, S_IFREG | 0400, F_OF_TASK | F_CLOCKED,
	  .render = r_t_conflicts),
	ROW("ctl", K_T_CTL, S_IFREG | 0600, F_OF_TASK | F_WRITE,
	  .render = r_ctl),
	ROW("worktree", K_T_WORKTREE, S_IFLNK | 0777, F_OF_TASK,
	  .render = l_t_worktree, .present = has_worktree),
	ROW("worker", K_T_WORKER, S_IFLNK | 0777, F_OF_TASK,
	  .render = l_t_worker, .present = runs_on_worker),
	ROW("timeline.svg", K_T_TIMELINE, S_IFREG | 0400, TASK_FILE,
	  .task_render = t_timeline),
	/* Nothing until the task ended (fs/wait blocks). */
	ROW("wait", K_T_WAIT, S_IFREG | 0400, F_OF_TASK | F_WAIT,
	  .task_render = view_task_wait),
	ROW("approvals", K_T_APPROVALS, S_IFREG | 0400, F_OF_TASK | F_CLOCKED,
	  .render = r_t_approvals),
	ROW("audit", K_T_AUDIT, S_IFREG | 0400, F_OF_TASK | F_CLOCKED,
	  .render = r_audit),
	{ .name = NULL }
};

const struct entry ns_task_dir = ROW(NULL, K_TASK, S_IFDIR | 0500, F_OF_TASK);

/* ---- a worker ------------------------------------------------------ */

static int r_w_status(struct pai *p, const struct node *n, struct buf *out)
{
	return view_worker_status(p, n->worker, out);
}

static int l_w_task(struct pai *p, const struct node *n, struct buf *out)
{
	struct worker_info w;

	if (sched_worker_info(p->sched, n->worker, &w) < 0 || !w.task)
		return -ENOENT;
	return buf_printf(out, "../../tasks/%lld", (long long)w.task);
}

static int l_w_worktree(struct pai *p, const struct node *n, struct buf *out)
{
	struct worker_info w;
	struct task t;
	int r;

	if (sched_worker_info(p->sched, n->worker, &w) < 0 || !w.task)
		return -ENOENT;
	if ((r = store_task_get(p->store, w.task, &t)) < 0)
		return r;
	r = t.worktree ? buf_puts(out, t.worktree) : -ENOENT;
	task_release(&t);
	return r;
}

static bool worker_busy(struct pai *p, const struct node *n)
{
	struct worker_info w;

	return sched_worker_info(p->sched, n->worker, &w) == 0 && w.task > 0;
}

const struct entry ns_worker_tab[] = {
	ROW("status", K_W_STATUS, S_IFREG | 0400, F_CLOCKED,
	  .render = r_w_status),
	ROW("log", K_W_LOG, S_IFREG | 0400, F_WLOG),
	ROW("worktree", K_W_WORKTREE, S_IFLNK | 0777, 0, .render = l_w_worktree,
	  .present = worker_busy),
	ROW("task", K_W_TASK, S_IFLNK | 0777, 0, .render = l_w_task,
	  .present = worker_busy),
	{ .name = NULL }
};

const struct entry ns_worker_dir = ROW(NULL, K_WORKER, S_IFDIR | 0500, 0);

/* ---- a plan -------------------------------------------------------- */

/* A plan's request, plan.json, or its tasks one id per line. */
static int render_plan(struct pai *p, const struct node *n, struct buf *out)
{
	struct plan pl;
	size_t i;
	int r;

	if ((r = store_plan_get(p->store, n->task, &pl)) < 0)
		return r;
	if (n->e->kind == K_P_REQUEST) {
		r = buf_add(out, pl.request, pl.request_len);
	} else if (n->e->kind == K_P_PLAN) {
		r = pl.plan ? buf_printf(out, "%s\n", pl.plan) : 0;
	} else {
		for (i = 0; i < pl.n_tasks && r == 0; i++)
			r = buf_printf(out, "%lld\n", (long long)pl.tasks[i]);
	}
	plan_release(&pl);
	return r;
}

/* plan.json once the planner answered, tasks once they are made. */
static bool plan_has(struct pai *p, const struct node *n)
{
	struct plan pl;
	bool ok;

	if (store_plan_get(p->store, n->task, &pl) < 0)
		return false;
	ok = n->e->kind == K_P_PLAN ? pl.plan != NULL : pl.n_tasks > 0;
	plan_release(&pl);
	return ok;
}

static int r_p_status(struct pai *p, const struct node *n, struct buf *out)
{
	return planner_status(p->planner, n->task, out);
}

static int r_p_ctl(struct pai *p, const struct node *n, struct buf *out)
{
	return ctl_commands(CTL_PLAN, out);
}

static int real_p_log(struct pai *p, const struct node *n, char *out,
		      size_t len)
{
	planner_log_path(p->planner, n->task, out, len);
	return 0;
}

const struct entry ns_plan_tab[] = {
	ROW("request", K_P_REQUEST, S_IFREG | 0400, F_OF_PLAN | F_BORN,
	  .render = render_plan),
	ROW("status", K_P_STATUS, S_IFREG | 0400, F_OF_PLAN,
	  .render = r_p_status),
	ROW("plan.json", K_P_PLAN, S_IFREG | 0400, F_OF_PLAN,
	  .render = render_plan, .present = plan_has),
	ROW("tasks", K_P_TASKS, S_IFREG | 0400, F_OF_PLAN,
	  .render = render_plan, .present = plan_has),
	ROW("log", K_P_LOG, S_IFREG | 0400, F_OF_PLAN, .real = real_p_log),
	ROW("ctl", K_P_CTL, S_IFREG | 0600, F_OF_PLAN | F_WRITE,
	  .render = r_p_ctl),
	{ .name = NULL }
};

const struct entry ns_plan_dir = ROW(NULL, K_PLAN, S_IFDIR | 0500, F_OF_PLAN);

/* ---- approvals ------------------------------------------------------ */

static int r_pending(struct pai *p, const struct node *n, struct buf *out)
{
	return approvals_render_pending(p->approvals, out);
}

static int r_a_request(struct pai *p, const struct node *n, struct buf *out)
{
	return approvals_render_request(p->approvals, n->task, out);
}

static int r_a_status(struct pai *p, const struct node *n, struct buf *out)
{
	return approvals_render_status(p->approvals, n->task, out);
}

static int r_a_wait(struct pai *p, const struct node *n, struct buf *out)
{
	return approvals_render_wait(p->approvals, n->task, out);
}

static int r_a_ctl(struct pai *p, const struct node *n, struct buf *out)
{
	return buf_puts(out, "approve\napprove always\ndeny [REASON]\n");
}

const struct entry ns_approvals_pending = ROW("pending", K_A_PENDING,
					      S_IFREG | 0400, F_CLOCKED,
					      .render = r_pending);

const struct entry ns_approval_tab[] = {
	ROW("request", K_A_REQUEST, S_IFREG | 0400, F_CLOCKED,
	  .render = r_a_request),
	ROW("status", K_A_STATUS, S_IFREG | 0400, F_CLOCKED,
	  .render = r_a_status),
	ROW("ctl", K_A_CTL, S_IFREG | 0600, F_WRITE, .render = r_a_ctl),
	/* Nothing until a person (or the time-out) decided: fs/wait
	 * blocks, as tasks/N/wait does. */
	ROW("wait", K_A_WAIT, S_IFREG | 0400, F_WAIT, .render = r_a_wait),
	{ .name = NULL }
};

const struct entry ns_approval_dir = ROW(NULL, K_APPROVAL, S_IFDIR | 0500, 0);
