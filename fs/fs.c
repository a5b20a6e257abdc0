/*
 * fs: the FUSE layer of parallelai (libfuse 3, high-level API).
 *
 * The namespace is data: one table per directory kind (root, task,
 * worker) lists each file's name, kind and mode; a path resolves to a
 * node, and a node's content comes from the views, the scheduler or a real
 * file in the state directory (logs, events). Nothing here schedules or
 * touches git.
 *
 * Sizes never lie: getattr renders a generated file to learn its length,
 * logs are stat'ed fresh, and attribute caching is off, because tail -f
 * polls fstat and reads only up to st_size. Every open uses direct_io so
 * a read returns what the node holds now, not what the page cache saw.
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

#include <cjson/cJSON.h>

#include "access.h"
#include "buf.h"
#include "events.h"
#include "fs.h"
#include "metrics.h"
#include "pai.h"
#include "planner.h"
#include "review.h"
#include "scheduler.h"
#include "store.h"
#include "view.h"
#include "wlog.h"

enum kind {
	K_ROOT, K_README, K_CTL, K_STATUS, K_STATUS_JSON, K_EVENTS, K_METRICS,
	K_CONFLICTS, K_CONFLICTS_JSON, K_MERGE_ORDER,
	K_TASKS, K_NEW,
	K_PLANS, K_PLANS_NEW, K_PLAN, K_P_REQUEST, K_P_STATUS, K_P_PLAN,
	K_P_TASKS, K_P_LOG, K_P_CTL,
	K_TASK, K_T_PROMPT, K_T_STATUS, K_T_JSON, K_T_LOG, K_T_RAW, K_T_DIFF,
	K_T_FILES, K_T_RESULT, K_T_DEPENDS, K_T_CONFLICTS, K_T_CTL,
	K_T_WORKTREE, K_T_WORKER,
	K_WORKERS,
	K_WORKER, K_W_STATUS, K_W_LOG, K_W_WORKTREE, K_W_TASK,
};

struct entry {
	const char *name;
	enum kind kind;
	mode_t mode;
};

/*
 * Modes are the owner's alone (group bits too with allow_group): the
 * daemon lets in only the owner, root and whom the mount names, whatever
 * the bits say. README and the root directory are everybody's.
 */
static const struct entry root_tab[] = {
	{ "README", K_README, S_IFREG | 0444 },
	{ "ctl", K_CTL, S_IFREG | 0600 },
	{ "status", K_STATUS, S_IFREG | 0400 },
	{ "status.json", K_STATUS_JSON, S_IFREG | 0400 },
	{ "events", K_EVENTS, S_IFREG | 0400 },
	{ "metrics", K_METRICS, S_IFREG | 0400 },
	{ "conflicts", K_CONFLICTS, S_IFREG | 0400 },
	{ "conflicts.json", K_CONFLICTS_JSON, S_IFREG | 0400 },
	{ "merge-order", K_MERGE_ORDER, S_IFREG | 0400 },
	{ "tasks", K_TASKS, S_IFDIR | 0700 },
	{ "plans", K_PLANS, S_IFDIR | 0700 },
	{ "workers", K_WORKERS, S_IFDIR | 0500 },
	{ NULL, 0, 0 }
};

static const struct entry task_tab[] = {
	{ "prompt", K_T_PROMPT, S_IFREG | 0400 },
	{ "status", K_T_STATUS, S_IFREG | 0400 },
	{ "task.json", K_T_JSON, S_IFREG | 0400 },
	{ "log", K_T_LOG, S_IFREG | 0400 },
	{ "log.jsonl", K_T_RAW, S_IFREG | 0400 },
	{ "diff", K_T_DIFF, S_IFREG | 0400 },
	{ "files", K_T_FILES, S_IFREG | 0400 },
	{ "result", K_T_RESULT, S_IFREG | 0400 },
	{ "depends", K_T_DEPENDS, S_IFREG | 0400 },
	{ "conflicts", K_T_CONFLICTS, S_IFREG | 0400 },
	{ "ctl", K_T_CTL, S_IFREG | 0600 },
	{ "worktree", K_T_WORKTREE, S_IFLNK | 0777 },
	{ "worker", K_T_WORKER, S_IFLNK | 0777 },
	{ NULL, 0, 0 }
};

static const struct entry worker_tab[] = {
	{ "status", K_W_STATUS, S_IFREG | 0400 },
	{ "log", K_W_LOG, S_IFREG | 0400 },
	{ "worktree", K_W_WORKTREE, S_IFLNK | 0777 },
	{ "task", K_W_TASK, S_IFLNK | 0777 },
	{ NULL, 0, 0 }
};

static const struct entry plan_tab[] = {
	{ "request", K_P_REQUEST, S_IFREG | 0400 },
	{ "status", K_P_STATUS, S_IFREG | 0400 },
	{ "plan.json", K_P_PLAN, S_IFREG | 0400 },
	{ "tasks", K_P_TASKS, S_IFREG | 0400 },
	{ "log", K_P_LOG, S_IFREG | 0400 },
	{ "ctl", K_P_CTL, S_IFREG | 0600 },
	{ NULL, 0, 0 }
};

static const struct entry tasks_new = { "new", K_NEW, S_IFREG | 0600 };
static const struct entry plans_new = { "new", K_PLANS_NEW, S_IFREG | 0600 };
static const struct entry dir_entry = { NULL, K_TASK, S_IFDIR | 0500 };

struct node {
	const struct entry *e;
	int64_t task;		/* K_TASK.. and K_T_*; the plan for K_P_* */
	int worker;		/* K_WORKER.. and K_W_* */
};

struct pai_fs {
	struct pai *p;
	struct fuse *fuse;
	int mounted;
};

/* An open file. Handles can be used by several threads at once. */
struct handle {
	struct handle *prev, *next;	/* open_handles */
	pthread_mutex_t lock;
	struct node n;
	int fd;			/* logs and events: the real file, or -1 */
	struct buf data;	/* generated content, or what was written */
	struct buf line;	/* ctl: a command line not yet ended */
	int skip;		/* ctl: drop bytes up to the next newline */
	int writable;
	int wrote;
	int writes;		/* tasks/new: how many write()s so far */
	int64_t created;	/* tasks/new: the task this handle made */
	int result;		/* tasks/new: outcome of the first submit */
	size_t id_pos;		/* tasks/new: how much of the id was read */
};

/*
 * Every open handle, so that those the kernel never released are freed at
 * unmount: a RELEASE still queued when the connection ends never comes.
 */
static struct handle open_handles = { .prev = &open_handles,
				       .next = &open_handles };
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

static void handle_link(struct handle *h)
{
	pthread_mutex_lock(&open_lock);
	h->next = &open_handles;
	h->prev = open_handles.prev;
	h->prev->next = h;
	open_handles.prev = h;
	pthread_mutex_unlock(&open_lock);
}

static void handle_free(struct handle *h)
{
	pthread_mutex_lock(&open_lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&open_lock);
	if (h->fd >= 0)
		close(h->fd);
	buf_release(&h->data);
	buf_release(&h->line);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* A command line longer than this is refused, that line alone. */
#define CTL_LINE_MAX 4096

static struct pai *pai(void)
{
	return ((struct pai_fs *)fuse_get_context()->private_data)->p;
}

/* Editors try lock, swap and backup files beside what they edit (vim's
 * .name.swp and 4913, emacs's .#name and #name#, name~): refusing those
 * is expected, not news for events. */
static bool editor_litter(const char *path)
{
	const char *name = strrchr(path, '/');
	size_t len;

	name = name ? name + 1 : path;
	len = strlen(name);
	if (!len)
		return false;
	return !strncmp(name, ".#", 2) || name[len - 1] == '~' ||
	       (name[0] == '#' && len > 1 && name[len - 1] == '#') ||
	       !strcmp(name, "4913") ||
	       (name[0] == '.' && len > 4 && !strncmp(name + len - 4, ".sw", 3));
}

static void refuse(const char *path, const char *what, int err)
{
	char msg[PATH_MAX + 128];

	if (editor_litter(path))
		return;
	snprintf(msg, sizeof(msg), "cannot %s '%s': %s", what, path,
		 strerror(err));
	events_reason(pai()->events, "refused", 0, msg);
}

/* ---- who may use the mount ------------------------------------------ */

static bool caller_allowed(struct pai *p)
{
	struct fuse_context *c = fuse_get_context();
	gid_t groups[256];
	int n = 0;

	if (c->uid == 0 || c->uid == p->acl.owner)
		return true;
	if (p->acl.has_group) {
		n = fuse_getgroups(256, groups);
		if (n < 0)
			n = 0;
		else if (n > 256)
			n = 256;
	}
	return access_allows(&p->acl, c->uid, c->gid, groups, (size_t)n);
}

/*
 * Whoever may write tasks/new runs commands as the owner, and logs,
 * prompts and diffs are the owner's business: every use but stat, the
 * root's listing and README needs the caller to be let in. The mode
 * bits cannot say it all (allow_users), so the daemon decides.
 */
static int guard(const char *path, const struct node *n, const char *what)
{
	struct pai *p = pai();
	char msg[PATH_MAX + 128];

	if (n->e->kind == K_ROOT || n->e->kind == K_README ||
	    caller_allowed(p))
		return 0;
	snprintf(msg, sizeof(msg), "cannot %s '%s': permission denied for "
		 "uid %u", what, path, (unsigned)fuse_get_context()->uid);
	events_reason(p->events, "refused", 0, msg);
	return -EACCES;
}

/* Group bits follow the owner's when the mount names a group. */
static void show_owner(struct pai *p, struct stat *st)
{
	st->st_uid = p->acl.owner;
	st->st_gid = getgid();
	if (p->acl.has_group && st->st_mode & 0700) {
		st->st_mode |= (st->st_mode & 0700) >> 3;
		st->st_gid = p->acl.group;
	}
}

/* ---- path resolution ----------------------------------------------- */

static const struct entry *find(const struct entry *tab, const char *name,
				size_t len)
{
	for (; tab->name; tab++)
		if (strlen(tab->name) == len && !strncmp(tab->name, name, len))
			return tab;
	return NULL;
}

/* A positive decimal number with no sign, leading zero or junk. */
static int64_t parse_id(const char *s, size_t len)
{
	int64_t v = 0;
	size_t i;

	if (!len || len > 18 || s[0] == '0')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int real_path(struct pai *p, const struct node *n, char *out,
		     size_t len);

/* Does the entry exist right now? Links come and go with the task, and
 * an agent's raw stream and result only exist for agent engines. */
static bool present(struct pai *p, struct node *n)
{
	struct worker_info w;
	struct task t;
	struct buf b;
	char path[PATH_MAX];
	bool ok = true;

	switch (n->e->kind) {
	case K_P_PLAN:
	case K_P_TASKS: {
		struct plan pl;

		if (store_plan_get(p->store, n->task, &pl) < 0)
			return false;
		ok = n->e->kind == K_P_PLAN ? pl.plan != NULL :
		     pl.tasks != NULL;
		plan_release(&pl);
		return ok;
	}
	case K_T_RAW:
		return real_path(p, n, path, sizeof(path)) == 0 &&
		       access(path, F_OK) == 0;
	case K_T_RESULT:
		if (store_task_get(p->store, n->task, &t) < 0)
			return false;
		buf_init(&b, BUF_NOMAX);
		ok = view_task_result(p, &t, &b) == 0;
		buf_release(&b);
		task_release(&t);
		return ok;
	case K_T_WORKTREE:
	case K_T_WORKER:
		if (store_task_get(p->store, n->task, &t) < 0)
			return false;
		ok = n->e->kind == K_T_WORKTREE ? t.worktree != NULL :
			t.state == TASK_RUNNING && t.worker > 0;
		task_release(&t);
		return ok;
	case K_W_WORKTREE:
	case K_W_TASK:
		return sched_worker_info(p->sched, n->worker, &w) == 0 &&
		       w.task > 0;
	default:
		return true;
	}
}

static int resolve(const char *path, struct node *n)
{
	struct pai *p = pai();
	const char *c[4];
	size_t len[4];
	int depth = 0;
	const char *s = path;

	memset(n, 0, sizeof(*n));
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		if (depth == 4)
			return -ENOENT;
		c[depth] = s;
		while (*s && *s != '/')
			s++;
		len[depth] = (size_t)(s - c[depth]);
		depth++;
	}
	if (depth == 0) {
		static const struct entry root = { "", K_ROOT, S_IFDIR | 0755 };

		n->e = &root;
		return 0;
	}
	n->e = find(root_tab, c[0], len[0]);
	if (!n->e)
		return -ENOENT;
	if (depth == 1)
		return 0;
	if (n->e->kind == K_TASKS) {
		if (len[1] == 3 && !strncmp(c[1], "new", 3)) {
			n->e = &tasks_new;
			return depth == 2 ? 0 : -ENOTDIR;
		}
		n->task = parse_id(c[1], len[1]);
		if (!n->task || store_task_exists(p->store, n->task) != 1)
			return -ENOENT;
		n->e = &dir_entry;
		if (depth == 2)
			return 0;
		n->e = depth == 3 ? find(task_tab, c[2], len[2]) : NULL;
	} else if (n->e->kind == K_PLANS) {
		static const struct entry pdir = { NULL, K_PLAN,
						   S_IFDIR | 0500 };
		struct plan pl;

		if (len[1] == 3 && !strncmp(c[1], "new", 3)) {
			n->e = &plans_new;
			return depth == 2 ? 0 : -ENOTDIR;
		}
		n->task = parse_id(c[1], len[1]);
		if (!n->task || store_plan_get(p->store, n->task, &pl) < 0)
			return -ENOENT;
		plan_release(&pl);
		n->e = &pdir;
		if (depth == 2)
			return 0;
		n->e = depth == 3 ? find(plan_tab, c[2], len[2]) : NULL;
	} else if (n->e->kind == K_WORKERS) {
		struct worker_info w;
		static const struct entry wdir = { NULL, K_WORKER,
						   S_IFDIR | 0500 };

		n->worker = (int)parse_id(c[1], len[1]);
		if (!n->worker ||
		    sched_worker_info(p->sched, n->worker, &w) < 0)
			return -ENOENT;
		n->e = &wdir;
		if (depth == 2)
			return 0;
		n->e = depth == 3 ? find(worker_tab, c[2], len[2]) : NULL;
	} else {
		return -ENOTDIR;
	}
	if (!n->e || !present(p, n))
		return -ENOENT;
	return 0;
}

/* ---- content ------------------------------------------------------- */

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
static int render(struct pai *p, const struct node *n, struct buf *out)
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
static int real_path(struct pai *p, const struct node *n, char *out,
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

static bool is_real(enum kind k)
{
	return k == K_EVENTS || k == K_T_LOG || k == K_T_RAW || k == K_P_LOG;
}

static int link_target(struct pai *p, const struct node *n, struct buf *out)
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

/* ---- operations ---------------------------------------------------- */

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

static bool clocked_kind(enum kind k)
{
	return k == K_STATUS || k == K_STATUS_JSON || k == K_METRICS ||
	       k == K_CONFLICTS || k == K_CONFLICTS_JSON ||
	       k == K_MERGE_ORDER || k == K_W_STATUS || k == K_T_CONFLICTS;
}

static int64_t content_time(struct pai *p, const struct node *n,
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

static bool task_node(const struct node *n)
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
	r = render(p, n, &b);
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

static int getattr_node(struct pai *p, const struct node *nd,
			const struct task *tp, struct stat *st);

static int pai_getattr(const char *path, struct stat *st,
		       struct fuse_file_info *fi)
{
	struct pai *p = pai();
	struct task t, *tp = NULL;
	struct node n;
	int r;

	if ((r = resolve(path, &n)) < 0)
		return r;
	if (task_node(&n) && store_task_get(p->store, n.task, &t) == 0)
		tp = &t;
	r = getattr_node(p, &n, tp, st);
	if (tp)
		task_release(tp);
	return r;
}

static int getattr_node(struct pai *p, const struct node *nd,
			const struct task *tp, struct stat *st)
{
	struct node n = *nd;
	struct buf b;
	int64_t ms;
	int r;

	memset(st, 0, sizeof(*st));
	st->st_mode = n.e->mode;
	st->st_nlink = S_ISDIR(n.e->mode) ? 2 : 1;
	show_owner(p, st);
	st->st_blksize = 4096;
	node_times(p, &n, tp, &ms);
	fill_times(st, ms);

	if (n.e->kind == K_W_LOG) {
		wlog_stat(p->wlog, n.worker, &st->st_size, &ms);
		fill_times(st, ms ? ms : p->started);
	} else if (clocked_kind(n.e->kind)) {
		buf_init(&b, BUF_NOMAX);
		r = render(p, &n, &b);
		st->st_size = (off_t)b.len;
		fill_times(st, content_time(p, &n, &b));
		buf_release(&b);
		if (r < 0 && r != -EFBIG)
			return r;
	} else if (is_real(n.e->kind)) {
		char rp[PATH_MAX];
		struct stat real;

		if (real_path(p, &n, rp, sizeof(rp)) == 0 &&
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
		r = link_target(p, &n, &b);
		st->st_size = (off_t)b.len;
		buf_release(&b);
		if (r < 0)
			return r;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}

static int pai_readlink(const char *path, char *out, size_t size)
{
	struct node n;
	struct buf b;
	int r;

	if ((r = resolve(path, &n)) < 0)
		return r;
	if (!S_ISLNK(n.e->mode))
		return -EINVAL;
	if ((r = guard(path, &n, "read link")) < 0)
		return r;
	buf_init(&b, PATH_MAX);
	r = link_target(pai(), &n, &b);
	if (r == 0)
		snprintf(out, size, "%s", buf_cstr(&b));
	buf_release(&b);
	return r;
}

/* The entry's type goes along (d_type), so find and ls need no lstat
 * just to tell files from directories. */
static int add_entry(void *buf, fuse_fill_dir_t filler, const char *name,
		     mode_t mode)
{
	struct stat st = { .st_mode = mode };

	return filler(buf, name, &st, 0, 0);
}

static int fill_tab(void *buf, fuse_fill_dir_t filler,
		    const struct entry *tab, struct node *parent)
{
	struct node n = *parent;

	for (; tab->name; tab++) {
		n.e = tab;
		if (present(pai(), &n) &&
		    add_entry(buf, filler, tab->name, tab->mode))
			return 0;
	}
	return 0;
}

static int pai_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		       off_t off, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct pai *p = pai();
	struct node n;
	char name[32];
	int r;

	if ((r = resolve(path, &n)) < 0)
		return r;
	if (!S_ISDIR(n.e->mode))
		return -ENOTDIR;
	if ((r = guard(path, &n, "list")) < 0)
		return r;
	add_entry(buf, filler, ".", S_IFDIR);
	add_entry(buf, filler, "..", S_IFDIR);
	switch (n.e->kind) {
	case K_ROOT:
		return fill_tab(buf, filler, root_tab, &n);
	case K_TASK:
		return fill_tab(buf, filler, task_tab, &n);
	case K_WORKER:
		return fill_tab(buf, filler, worker_tab, &n);
	case K_PLAN:
		return fill_tab(buf, filler, plan_tab, &n);
	case K_PLANS:
	case K_TASKS: {
		int64_t *ids = NULL;
		size_t count = 0, i;

		add_entry(buf, filler, "new", S_IFREG);
		r = n.e->kind == K_PLANS ?
		    store_plan_ids(p->store, NULL, &ids, &count) :
		    store_task_ids(p->store, &ids, &count);
		if (r < 0)
			return r;
		for (i = 0; i < count; i++) {
			snprintf(name, sizeof(name), "%lld",
				 (long long)ids[i]);
			if (add_entry(buf, filler, name, S_IFDIR))
				break;
		}
		free(ids);
		return 0;
	}
	case K_WORKERS: {
		int k, w = sched_workers(p->sched);

		for (k = 1; k <= w; k++) {
			snprintf(name, sizeof(name), "%d", k);
			if (add_entry(buf, filler, name, S_IFDIR))
				break;
		}
		return 0;
	}
	default:
		return -ENOTDIR;
	}
}

static bool is_new(enum kind k)
{
	return k == K_NEW || k == K_PLANS_NEW;
}

static bool can_write(enum kind k)
{
	return k == K_CTL || k == K_T_CTL || k == K_P_CTL || is_new(k);
}

static int pai_access(const char *path, int mask)
{
	struct node n;
	int r;

	if ((r = resolve(path, &n)) < 0)
		return r;
	if (mask != F_OK && (n.e->kind == K_ROOT || n.e->kind == K_README ?
			     (mask & W_OK) != 0 : !caller_allowed(pai())))
		return -EACCES;
	if (S_ISDIR(n.e->mode) || S_ISLNK(n.e->mode))
		return (mask & W_OK) && n.e->kind != K_TASKS &&
		       n.e->kind != K_PLANS ? -EACCES : 0;
	if ((mask & W_OK) && !can_write(n.e->kind))
		return -EACCES;
	if (mask & X_OK)
		return -EACCES;
	return 0;
}

static int pai_open(const char *path, struct fuse_file_info *fi)
{
	struct pai *p = pai();
	int acc = fi->flags & O_ACCMODE, r;
	struct handle *h;
	struct node n;

	if ((r = resolve(path, &n)) < 0)
		return r;
	if (!S_ISREG(n.e->mode))
		return -EISDIR;
	if ((r = guard(path, &n, acc == O_RDONLY ? "read" : "write")) < 0)
		return r;
	if (acc != O_RDONLY && !can_write(n.e->kind)) {
		refuse(path, "write", EACCES);
		return -EACCES;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	h->n = n;
	h->fd = -1;
	h->writable = acc != O_RDONLY;
	if (is_new(n.e->kind))
		buf_init(&h->data, p->cfg.max_prompt + 65536);
	else
		buf_init(&h->data, BUF_NOMAX);
	buf_init(&h->line, CTL_LINE_MAX);
	if (n.e->kind == K_W_LOG) {
		wlog_hold(p->wlog, n.worker);
	} else if (is_real(n.e->kind)) {
		char rp[PATH_MAX];

		if (real_path(p, &n, rp, sizeof(rp)) == 0)
			h->fd = open(rp, O_RDONLY | O_CLOEXEC);
	} else if (acc != O_WRONLY && !is_new(n.e->kind)) {
		r = render(p, &n, &h->data);
		if (r < 0 && r != -EFBIG) {
			buf_release(&h->data);
			free(h);
			return r;
		}
		/* What is read now is what stat says next. */
		if (clocked_kind(n.e->kind))
			content_time(p, &n, &h->data);
	}
	handle_link(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	return 0;
}

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* The writer's signal (^C of `echo 'merge all' > ctl`) reaches us as an
 * interrupt of its request; long work in src/ asks between its steps. */
static bool writer_gave_up(void *arg)
{
	(void)arg;
	return fuse_interrupted() != 0;
}

static const struct pai_cancel writer_cancel = { writer_gave_up, NULL };

/* Submit what a tasks/new handle holds, once. Called with h->lock. */
static int submit(struct handle *h)
{
	struct pai *p = pai();
	char err[512];
	int64_t id;

	if (h->created || h->result)
		return h->result;
	/* Nothing written yet: shells dup2() the file onto stdout and close
	 * the original before writing, which flushes. Refuse this close
	 * without deciding; release() records an empty submission. */
	if (!h->wrote)
		return -EINVAL;
	if (h->data.len > p->cfg.max_prompt + 65535) {
		snprintf(err, sizeof(err), "prompt too long: over %zu bytes",
			 p->cfg.max_prompt);
		events_reason(p->events, "refused", 0, err);
		return h->result = -EFBIG;
	}
	if (h->n.e->kind == K_PLANS_NEW)
		h->result = planner_submit(p->planner, buf_cstr(&h->data),
					   h->data.len, &id, err, sizeof(err));
	else
		h->result = sched_submit(p->sched, buf_cstr(&h->data),
					 h->data.len, &writer_cancel, &id, err,
					 sizeof(err));
	if (h->result == 0)
		h->created = id;
	return h->result;
}

static int pai_read(const char *path, char *out, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (h->n.e->kind == K_W_LOG) {
		ssize_t n = wlog_read(pai()->wlog, h->n.worker, out, size, off);

		r = (int)n;
		goto out;
	}
	if (is_real(h->n.e->kind)) {
		/* A log that did not exist at open may exist now. */
		if (h->fd < 0) {
			char rp[PATH_MAX];

			if (real_path(pai(), &h->n, rp, sizeof(rp)) == 0)
				h->fd = open(rp, O_RDONLY | O_CLOEXEC);
		}
		if (h->fd >= 0) {
			ssize_t n = pread(h->fd, out, size, off);

			r = n < 0 ? -errno : (int)n;
		}
		goto out;
	}
	if (is_new(h->n.e->kind)) {
		/* Clone convention: a read-write handle reads its new id. */
		char id[32];
		size_t len;

		if (h->wrote && (r = submit(h)) < 0)
			goto out;
		if (!h->created)
			goto out;
		/* The id is a stream of its own: the file offset is past
		 * the prompt just written, and that must not hide it. */
		len = (size_t)snprintf(id, sizeof(id), "%lld\n",
				       (long long)h->created);
		if (h->id_pos < len) {
			r = (int)(len - h->id_pos < size ?
				  len - h->id_pos : size);
			memcpy(out, id + h->id_pos, (size_t)r);
			h->id_pos += (size_t)r;
		}
		goto out;
	}
	if ((size_t)off < h->data.len) {
		size_t n = h->data.len - (size_t)off;

		if (n > size)
			n = size;
		memcpy(out, h->data.ptr + off, n);
		r = (int)n;
	}
out:
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* One command line, blanks at its end dropped; blank lines are no
 * command. */
static int run_line(struct handle *h, char *line)
{
	struct pai *p = pai();
	size_t n = strlen(line);
	char err[512];

	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' ||
		     line[n - 1] == '\r'))
		line[--n] = '\0';
	if (!n)
		return 0;
	if (h->n.e->kind == K_P_CTL)
		return planner_ctl(p->planner, h->n.task, line, err,
				   sizeof(err));
	return sched_ctl(p->sched, h->n.task, line, &writer_cancel, err,
			 sizeof(err));
}

static int line_too_long(struct handle *h)
{
	events_reason(pai()->events, "refused", h->n.task,
		      "command line too long");
	buf_truncate(&h->line, 0);
	h->skip = 1;
	return -EINVAL;
}

/*
 * A ctl handle is a stream of command lines: each runs when its newline
 * arrives, however the writer cut its writes (cat writes 128 KiB at a
 * time, so "merge 12" can arrive as "merge 1" and "2"); the last line
 * runs at close. The first command that fails ends the write with its
 * error, and the rest of that write is dropped, up to a newline.
 */
static int ctl_write(struct handle *h, const char *data, size_t size)
{
	const char *s = data, *end = data + size, *nl;
	int r = 0;

	if (memchr(data, '\0', size)) {
		events_reason(pai()->events, "refused", h->n.task,
			      "command contains a NUL byte");
		return -EINVAL;
	}
	while (s < end && r == 0) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (h->skip) {
			h->skip = !nl;
		} else if (buf_add(&h->line, s, (size_t)((nl ? nl : end) -
							 s)) < 0) {
			r = line_too_long(h);
			h->skip = !nl;
		} else if (nl) {
			r = run_line(h, h->line.ptr ? h->line.ptr : (char *)"");
			buf_truncate(&h->line, 0);
		}
		s = nl ? nl + 1 : end;
	}
	if (r < 0 && s < end) {
		/* The rest of this write is dropped with the failure. */
		buf_truncate(&h->line, 0);
		h->skip = end[-1] != '\n';
	}
	return r;
}

static bool blank(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/*
 * bash ignores close()'s error, so a submission refused only there is
 * silent at a prompt. Judge it as soon as it can be judged: a JSON spec
 * once what was written is a whole JSON value (echo writes it in one
 * write()), and a first write of nothing but blanks. The write fails,
 * and the shell says so; close fails the same way and makes nothing.
 * What arrives in pieces is judged at close, as always.
 */
static int judge_early(struct handle *h)
{
	struct pai *p = pai();
	const char *s = h->data.ptr, *end;
	size_t len = h->data.len, i = 0, j = len;
	char err[512];
	cJSON *v;

	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len && blank(s[i]))
		i++;
	while (j > i && blank(s[j - 1]))
		j--;
	if (i == len) {
		if (h->writes > 1)
			return 0;
		snprintf(err, sizeof(err), "%s", h->n.e->kind == K_NEW ?
			 "empty prompt" : "empty request");
		events_reason(p->events, "refused", 0, err);
		return h->result = -EINVAL;
	}
	/* Only a write that ends a value can make it whole. */
	if (s[i] != '{' || s[j - 1] != '}')
		return 0;
	v = cJSON_ParseWithLengthOpts(s + i, j - i, &end, 0);
	if (!v)
		return 0;
	cJSON_Delete(v);
	h->result = h->n.e->kind == K_NEW ?
		    sched_check(p->sched, s, len, &writer_cancel, err,
				sizeof(err)) :
		    planner_check(p->planner, s, len, err, sizeof(err));
	return h->result;
}

static int pai_write(const char *path, const char *data, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int r;

	pthread_mutex_lock(&h->lock);
	if (!is_new(h->n.e->kind)) {
		r = ctl_write(h, data, size);
		goto out;
	}
	if (h->created) {
		/* One handle, one task: the clone convention. */
		r = -EBUSY;
		goto out;
	}
	h->wrote = 1;
	h->writes++;
	r = buf_write_at(&h->data, (size_t)off, data, size);
	if (r == -EFBIG)
		h->result = -EFBIG;
	else if (r == 0)
		r = judge_early(h);
out:
	pthread_mutex_unlock(&h->lock);
	if (r == -EFBIG) {
		char msg[128];

		snprintf(msg, sizeof(msg), "prompt too long: over %zu bytes",
			 pai()->cfg.max_prompt);
		events_reason(pai()->events, "refused", 0, msg);
	}
	return r < 0 ? r : (int)size;
}

/* close() gets flush's result: this is where a task is created. */
static int pai_flush(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int r = 0;

	if (!h->writable)
		return 0;
	pthread_mutex_lock(&h->lock);
	if (is_new(h->n.e->kind)) {
		r = submit(h);
	} else if (h->line.len) {
		/* The last line, without its newline: flush can come more
		 * than once, so it runs once. */
		r = run_line(h, h->line.ptr);
		buf_truncate(&h->line, 0);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int pai_fsync(const char *path, int datasync,
		     struct fuse_file_info *fi)
{
	return pai_flush(path, fi);
}

static int pai_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	if (is_new(h->n.e->kind) && h->writable && !h->wrote)
		events_reason(pai()->events, "refused", 0, h->n.e->kind ==
			      K_NEW ? "empty prompt" : "empty request");
	if (h->n.e->kind == K_W_LOG)
		wlog_drop(pai()->wlog, h->n.worker);
	handle_free(h);
	return 0;
}

static int pai_truncate(const char *path, off_t size,
			struct fuse_file_info *fi)
{
	struct node n;
	int r;

	if ((r = resolve(path, &n)) < 0)
		return r;
	if (!can_write(n.e->kind)) {
		refuse(path, "truncate", EACCES);
		return -EACCES;
	}
	/* O_TRUNC on new or ctl: nothing stored to cut. */
	if (fi && is_new(n.e->kind)) {
		struct handle *h = handle_of(fi);

		pthread_mutex_lock(&h->lock);
		if (!h->created)
			buf_truncate(&h->data, (size_t)size);
		pthread_mutex_unlock(&h->lock);
	}
	return 0;
}

static int pai_create(const char *path, mode_t mode,
		      struct fuse_file_info *fi)
{
	refuse(path, "create", EACCES);
	return -EACCES;
}

static int pai_mknod(const char *path, mode_t mode, dev_t dev)
{
	refuse(path, "create", EACCES);
	return -EACCES;
}

static int pai_mkdir(const char *path, mode_t mode)
{
	refuse(path, "create directory", EACCES);
	return -EACCES;
}

static int pai_unlink(const char *path)
{
	refuse(path, "remove", EACCES);
	return -EACCES;
}

static int pai_rmdir(const char *path)
{
	refuse(path, "remove directory", EACCES);
	return -EACCES;
}

static int pai_rename(const char *from, const char *to, unsigned int flags)
{
	refuse(from, "rename", EACCES);
	return -EACCES;
}

static int pai_symlink(const char *target, const char *path)
{
	refuse(path, "create link", EACCES);
	return -EACCES;
}

static int pai_link(const char *from, const char *to)
{
	refuse(to, "create link", EACCES);
	return -EACCES;
}

static int pai_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EPERM;
}

static int pai_chown(const char *path, uid_t uid, gid_t gid,
		     struct fuse_file_info *fi)
{
	return -EPERM;
}

/* touch(1) and editors set times: accept on writable files, else refuse. */
static int pai_utimens(const char *path, const struct timespec tv[2],
		       struct fuse_file_info *fi)
{
	struct node n;
	int r;

	if ((r = resolve(path, &n)) < 0)
		return r;
	return can_write(n.e->kind) ? 0 : -EACCES;
}

static void *pai_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Everything here changes behind the kernel's back. */
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	cfg->direct_io = 1;
	cfg->use_ino = 0;
	return fuse_get_context()->private_data;
}

static const struct fuse_operations pai_ops = {
	.init = pai_init,
	.getattr = pai_getattr,
	.readlink = pai_readlink,
	.readdir = pai_readdir,
	.access = pai_access,
	.open = pai_open,
	.read = pai_read,
	.write = pai_write,
	.flush = pai_flush,
	.fsync = pai_fsync,
	.release = pai_release,
	.truncate = pai_truncate,
	.create = pai_create,
	.mknod = pai_mknod,
	.mkdir = pai_mkdir,
	.unlink = pai_unlink,
	.rmdir = pai_rmdir,
	.rename = pai_rename,
	.symlink = pai_symlink,
	.link = pai_link,
	.chmod = pai_chmod,
	.chown = pai_chown,
	.utimens = pai_utimens,
};

int pai_fs_mount(struct pai_fs **out, struct pai *p, const char *mountpoint,
		 const char *fuse_opts, char *err, size_t errlen)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct pai_fs *fs = calloc(1, sizeof(*fs));
	char opts[PATH_MAX + 256];
	int r = -EIO;

	if (!fs)
		return -ENOMEM;
	fs->p = p;
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=parallelai%s%s",
		 p->repo, fuse_opts && *fuse_opts ? "," : "",
		 fuse_opts ? fuse_opts : "");
	if (fuse_opt_add_arg(&args, "parallelai") ||
	    fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts)) {
		r = -ENOMEM;
		goto fail;
	}
	fs->fuse = fuse_new(&args, &pai_ops, sizeof(pai_ops), fs);
	if (!fs->fuse) {
		snprintf(err, errlen, "invalid mount options: '%s'",
			 fuse_opts ? fuse_opts : "");
		r = -EINVAL;
		goto fail;
	}
	if (fuse_mount(fs->fuse, mountpoint) != 0) {
		snprintf(err, errlen, "cannot mount on '%s'", mountpoint);
		goto fail;
	}
	fs->mounted = 1;
	if (fuse_set_signal_handlers(fuse_get_session(fs->fuse)) != 0) {
		snprintf(err, errlen, "cannot set signal handlers");
		goto fail;
	}
	fuse_opt_free_args(&args);
	*out = fs;
	return 0;
fail:
	fuse_opt_free_args(&args);
	pai_fs_free(fs);
	return r;
}

int pai_fs_loop(struct pai_fs *fs)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r;

	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, 64);
	r = fuse_loop_mt(fs->fuse, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

void pai_fs_free(struct pai_fs *fs)
{
	if (!fs)
		return;
	while (open_handles.next != &open_handles)
		handle_free(open_handles.next);
	if (fs->fuse) {
		fuse_remove_signal_handlers(fuse_get_session(fs->fuse));
		if (fs->mounted)
			fuse_unmount(fs->fuse);
		fuse_destroy(fs->fuse);
	}
	free(fs);
}
