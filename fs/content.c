/*
 * fs/content: what a node holds and what stat says of it: generated text
 * from the views, real files from the state directory (logs, events),
 * link targets, sizes that never lie and times that move only with the
 * content.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse.h>

#include "buf.h"
#include "events.h"
#include "metrics.h"
#include "pai.h"
#include "planner.h"
#include "review.h"
#include "scheduler.h"
#include "store.h"
#include "view.h"
#include "wlog.h"
#include "fsint.h"

/* A plan's request, plan.json, or its tasks one id per line. */
static int render_plan(struct pai *p, const struct node *n, struct buf *out)
{
	struct plan pl;
	const char *s;
	int r;

	if ((r = store_plan_get(p->store, n->task, &pl)) < 0)
		return r;
	if (n->e->kind == K_P_REQUEST) {
		r = buf_add(out, pl.request, pl.request_len);
	} else if (n->e->kind == K_P_PLAN) {
		r = pl.plan ? buf_printf(out, "%s\n", pl.plan) : 0;
	} else {
		/* "[3,4,5]" */
		for (s = pl.tasks; s && *s && r == 0; s++)
			if (*s >= '0' && *s <= '9')
				r = buf_add(out, s, 1);
			else if (*s == ',' || *s == ']')
				r = buf_add(out, "\n", 1);
	}
	plan_release(&pl);
	return r;
}

/* Render a generated regular file. -ENOENT if its task went away. */
int fs_render(struct pai *p, const struct node *n, struct buf *out)
{
	struct task t;
	int r;

	switch (n->e->kind) {
	case K_README:
		return view_readme(p, out);
	case K_STATUS:
	case K_STATUS_JSON:
		return view_root_status(p, out, n->e->kind == K_STATUS_JSON);
	case K_METRICS:
		return metrics_render(p, out);
	case K_W_STATUS:
		return view_worker_status(p, n->worker, out);
	case K_CONFLICTS:
	case K_CONFLICTS_JSON:
		return review_conflicts(p, out, n->e->kind == K_CONFLICTS_JSON);
	case K_MERGE_ORDER:
		return review_merge_order(p, out);
	case K_T_CONFLICTS:
		return review_task_conflicts(p, n->task, out);
	case K_P_STATUS:
		return planner_status(p->planner, n->task, out);
	case K_P_REQUEST:
	case K_P_PLAN:
	case K_P_TASKS:
		return render_plan(p, n, out);
	case K_CTL:
	case K_T_CTL:
		return buf_puts(out, sched_ctl_commands(n->task));
	case K_P_CTL:
		return buf_puts(out, planner_ctl_commands());
	case K_T_PROMPT:
	case K_T_STATUS:
	case K_T_JSON:
	case K_T_DIFF:
	case K_T_FILES:
	case K_T_RESULT:
	case K_T_DEPENDS:
		break;
	default:
		return 0;	/* new: nothing to read */
	}
	if ((r = store_task_get(p->store, n->task, &t)) < 0)
		return r;
	switch (n->e->kind) {
	case K_T_PROMPT:
		r = buf_add(out, t.prompt, t.prompt_len);
		break;
	case K_T_STATUS:
	case K_T_JSON:
		r = view_task_status(p, &t, out, n->e->kind == K_T_JSON);
		break;
	case K_T_DIFF:
		r = view_task_diff(p, &t, out);
		break;
	case K_T_RESULT:
		r = view_task_result(p, &t, out);
		break;
	case K_T_DEPENDS:
		r = view_task_depends(p, &t, out);
		break;
	default:
		r = view_task_files(p, &t, out);
		break;
	}
	task_release(&t);
	return r;
}

/* The real file behind a log node: the task's, or the worker's task's. */
int fs_real_path(struct pai *p, const struct node *n, char *out,
		     size_t len)
{
	switch (n->e->kind) {
	case K_EVENTS:
		snprintf(out, len, "%s", events_path(p->events));
		return 0;
	case K_T_LOG:
		pai_log_path(p, n->task, out, len);
		return 0;
	case K_T_RAW:
		pai_raw_path(p, n->task, out, len);
		return 0;
	case K_P_LOG:
		planner_log_path(p->planner, n->task, out, len);
		return 0;
	default:
		return -EINVAL;
	}
}

bool fs_is_real(enum kind k)
{
	return k == K_EVENTS || k == K_T_LOG || k == K_T_RAW || k == K_P_LOG;
}

int fs_link_target(struct pai *p, const struct node *n, struct buf *out)
{
	struct worker_info w;
	struct task t;
	int r;

	switch (n->e->kind) {
	case K_T_WORKTREE:
	case K_T_WORKER:
		if ((r = store_task_get(p->store, n->task, &t)) < 0)
			return r;
		if (n->e->kind == K_T_WORKTREE && t.worktree)
			r = buf_puts(out, t.worktree);
		else if (n->e->kind == K_T_WORKER && t.worker)
			r = buf_printf(out, "../../workers/%d", t.worker);
		else
			r = -ENOENT;
		task_release(&t);
		return r;
	case K_W_TASK:
	case K_W_WORKTREE:
		if (sched_worker_info(p->sched, n->worker, &w) < 0 || !w.task)
			return -ENOENT;
		if (n->e->kind == K_W_TASK)
			return buf_printf(out, "../../tasks/%lld",
					  (long long)w.task);
		if ((r = store_task_get(p->store, w.task, &t)) < 0)
			return r;
		r = t.worktree ? buf_puts(out, t.worktree) : -ENOENT;
		task_release(&t);
		return r;
	default:
		return -EINVAL;
	}
}

static void fill_times(struct stat *st, int64_t ms)
{
	st->st_mtim.tv_sec = ms / 1000;
	st->st_mtim.tv_nsec = (ms % 1000) * 1000000;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

/* t: the node's task when it has one (fetched once by the caller). */
static int node_times(struct pai *p, const struct node *n,
		      const struct task *t, int64_t *ms)
{
	switch (n->e->kind) {
	case K_TASKS:
		*ms = store_last_change(p->store);
		if (!*ms)
			*ms = p->started;
		return 0;
	default:
		break;
	}
	if (n->e->kind >= K_PLAN && n->e->kind <= K_P_CTL) {
		struct plan pl;

		*ms = p->started;
		if (store_plan_get(p->store, n->task, &pl) == 0) {
			*ms = n->e->kind == K_P_REQUEST ? pl.created :
			      pl.updated;
			plan_release(&pl);
		}
		return 0;
	}
	if (t) {
		*ms = n->e->kind == K_T_PROMPT ? t->created : t->updated;
		return 0;
	}
	*ms = p->started;
	return 0;
}

/*
 * Generated files that no record dates (status, metrics, conflicts,
 * merge-order, a worker's status, a task's conflicts) are dated by their
 * content: the time it was first seen to differ from what it was before,
 * so that find -newer lists them only when they changed and tar of an
 * idle mount sees nothing change under it.
 */
#define CLOCK_SLOTS 1024

struct clock_slot {
	int kind;
	int64_t id;
	uint64_t hash;
	int64_t ms;
};

static struct clock_slot clocks[CLOCK_SLOTS];
static pthread_mutex_t clocks_lock = PTHREAD_MUTEX_INITIALIZER;

bool fs_clocked_kind(enum kind k)
{
	return k == K_STATUS || k == K_STATUS_JSON || k == K_METRICS ||
	       k == K_CONFLICTS || k == K_CONFLICTS_JSON ||
	       k == K_MERGE_ORDER || k == K_W_STATUS || k == K_T_CONFLICTS;
}

int64_t fs_content_time(struct pai *p, const struct node *n,
			    const struct buf *b)
{
	int64_t id = n->task ? n->task : n->worker, ms, first;
	uint64_t h = 1469598103934665603ULL;
	struct clock_slot *sl;
	size_t i;

	for (i = 0; i < b->len; i++)
		h = (h ^ (unsigned char)b->ptr[i]) * 1099511628211ULL;
	/* Seen for the first time: it can be no newer than the store's
	 * last change, nor older than the mount. */
	first = store_last_change(p->store);
	if (first < p->started)
		first = p->started;
	i = (size_t)(((uint64_t)id * 31 + (uint64_t)n->e->kind) *
		     0x9E3779B97F4A7C15ULL >> 54) & (CLOCK_SLOTS - 1);
	pthread_mutex_lock(&clocks_lock);
	sl = &clocks[i];
	if (sl->kind != (int)n->e->kind || sl->id != id || !sl->ms) {
		sl->kind = (int)n->e->kind;
		sl->id = id;
		sl->hash = h;
		sl->ms = first;
	} else if (sl->hash != h) {
		sl->hash = h;
		sl->ms = pai_now_ms();
	}
	ms = sl->ms;
	pthread_mutex_unlock(&clocks_lock);
	return ms;
}

bool fs_task_node(const struct node *n)
{
	return n->task && n->e->kind >= K_TASK && n->e->kind <= K_T_WORKER;
}

/*
 * The sizes of a task's generated files, kept while the task does not
 * change: getattr must render a file to know its size, and a diff is
 * costly to render for every ls -l, find or stat. A running task's
 * files change without the task record changing, so they are never kept.
 */
#define SIZE_SLOTS 8192

struct size_slot {
	int64_t task;
	int kind;
	int64_t updated;
	off_t size;
};

static struct size_slot sizes[SIZE_SLOTS];
static pthread_mutex_t sizes_lock = PTHREAD_MUTEX_INITIALIZER;

static bool sized_kind(enum kind k)
{
	return k == K_T_PROMPT || k == K_T_STATUS || k == K_T_JSON ||
	       k == K_T_DIFF || k == K_T_FILES || k == K_T_DEPENDS ||
	       k == K_T_RESULT;
}

/* The stamp under which a task's file size may be kept, or 0. */
static int64_t size_stamp(const struct node *n, const struct task *t)
{
	if (!t || !sized_kind(n->e->kind) || t->state == TASK_RUNNING ||
	    (t->state == TASK_QUEUED && t->not_before > pai_now_ms()) ||
	    (t->worktree && access(t->worktree, F_OK) < 0))
		return 0;
	return t->updated;
}

static struct size_slot *size_slot(const struct node *n)
{
	uint64_t h = (uint64_t)n->task * 31 + (uint64_t)n->e->kind;

	return &sizes[(h * 0x9E3779B97F4A7C15ULL) >> 51 & (SIZE_SLOTS - 1)];
}

static int file_size(struct pai *p, const struct node *n,
		     const struct task *t, off_t *size)
{
	int64_t stamp = size_stamp(n, t);
	struct size_slot *sl = size_slot(n);
	struct buf b;
	int r;

	if (stamp) {
		pthread_mutex_lock(&sizes_lock);
		if (sl->task == n->task && sl->kind == (int)n->e->kind &&
		    sl->updated == stamp) {
			*size = sl->size;
			pthread_mutex_unlock(&sizes_lock);
			return 0;
		}
		pthread_mutex_unlock(&sizes_lock);
	}
	buf_init(&b, BUF_NOMAX);
	r = fs_render(p, n, &b);
	*size = (off_t)b.len;
	buf_release(&b);
	if (r < 0 && r != -EFBIG)
		return r;
	if (stamp) {
		pthread_mutex_lock(&sizes_lock);
		sl->task = n->task;
		sl->kind = (int)n->e->kind;
		sl->updated = stamp;
		sl->size = *size;
		pthread_mutex_unlock(&sizes_lock);
	}
	return 0;
}

int fs_getattr_node(struct pai *p, const struct node *nd,
			const struct task *tp, struct stat *st)
{
	struct node n = *nd;
	struct buf b;
	int64_t ms;
	int r;

	memset(st, 0, sizeof(*st));
	st->st_mode = n.e->mode;
	st->st_nlink = S_ISDIR(n.e->mode) ? 2 : 1;
	fs_show_owner(p, st);
	st->st_blksize = 4096;
	node_times(p, &n, tp, &ms);
	fill_times(st, ms);

	if (n.e->kind == K_W_LOG) {
		wlog_stat(p->wlog, n.worker, &st->st_size, &ms);
		fill_times(st, ms ? ms : p->started);
	} else if (fs_clocked_kind(n.e->kind)) {
		buf_init(&b, BUF_NOMAX);
		r = fs_render(p, &n, &b);
		st->st_size = (off_t)b.len;
		fill_times(st, fs_content_time(p, &n, &b));
		buf_release(&b);
		if (r < 0 && r != -EFBIG)
			return r;
	} else if (fs_is_real(n.e->kind)) {
		char rp[PATH_MAX];
		struct stat real;

		if (fs_real_path(p, &n, rp, sizeof(rp)) == 0 &&
		    stat(rp, &real) == 0) {
			st->st_size = real.st_size;
			st->st_mtim = real.st_mtim;
			st->st_ctim = real.st_ctim;
			st->st_atim = real.st_atim;
		}
	} else if (S_ISREG(n.e->mode)) {
		if ((r = file_size(p, &n, tp, &st->st_size)) < 0)
			return r;
	} else if (S_ISLNK(n.e->mode)) {
		buf_init(&b, PATH_MAX);
		r = fs_link_target(p, &n, &b);
		st->st_size = (off_t)b.len;
		buf_release(&b);
		if (r < 0)
			return r;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}
