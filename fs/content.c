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

#include <fuse_lowlevel.h>

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

/* A generated file's text, or a link's target, from its row; tp: its
 * task's record when the caller has it, or NULL. */
static int render_with(struct pai *p, const struct node *n,
		       const struct task *tp, struct buf *out)
{
	struct task t;
	int r;

	if (n->e->render)
		return n->e->render(p, n, out);
	if (!n->e->task_render)
		return 0;	/* new: nothing to read */
	if (tp)
		return n->e->task_render(p, tp, out);
	if ((r = store_task_get(p->store, n->task, &t)) < 0)
		return r;
	r = n->e->task_render(p, &t, out);
	task_release(&t);
	return r;
}

int fs_render(struct pai *p, const struct node *n, struct buf *out)
{
	return render_with(p, n, NULL, out);
}

/* The real file behind a log node. */
int fs_real_path(struct pai *p, const struct node *n, char *out, size_t len)
{
	return n->e->real ? n->e->real(p, n, out, len) : -EINVAL;
}

bool fs_is_real(const struct entry *e)
{
	return e->real != NULL;
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
	struct plan pl;

	*ms = p->started;
	if (n->e->kind == K_TASKS || (n->e->flags & F_STORE)) {
		*ms = store_last_change(p->store);
		if (!*ms)
			*ms = p->started;
	} else if ((n->e->flags & F_OF_PLAN) &&
		   store_plan_get(p->store, n->task, &pl) == 0) {
		*ms = n->e->flags & F_BORN ? pl.created : pl.updated;
		plan_release(&pl);
	} else if (t) {
		*ms = n->e->flags & F_BORN ? t->created : t->updated;
	}
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

bool fs_clocked(const struct entry *e)
{
	return e->flags & F_CLOCKED;
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
	return n->task && (n->e->flags & F_OF_TASK);
}

/* The stamp under which a task's file size may be kept, or 0. A queued
 * task's status moves without the task (waiting_for: budget). */
static int64_t size_stamp(const struct node *n, const struct task *t)
{
	if (!t || !(n->e->flags & F_SIZED) || t->state == TASK_RUNNING ||
	    t->state == TASK_QUEUED ||
	    (t->worktree && access(t->worktree, F_OK) < 0))
		return 0;
	return t->updated;
}

/* A task that no engine, check or schedule moves until a command does. */
static bool task_ended(const struct task *t)
{
	switch (t->state) {
	case TASK_DONE:
	case TASK_FAILED:
	case TASK_CANCELLED:
	case TASK_MERGED:
	case TASK_REJECTED:
		return true;
	default:
		return false;
	}
}

/*
 * The kernel keeps a node's attributes only where every change to them
 * comes with a change of its task's record, which the watch's listener
 * tells the kernel of (fs_cache_changed): a task's directory; the files
 * of a task that no engine runs for, but those that move with other
 * things (conflicts with the base branch, approvals and audit with tool
 * calls, wait, the check file the merge queue writes, a waiting task's
 * status with its dependencies, a queued one's with the budget, a
 * running task's timeline with the clock). Everything else is asked for
 * at each use, as sizes must never lie (tail -f reads up to st_size).
 */
double fs_attr_ttl(const struct node *n, const struct task *t)
{
	if (!t || !fs_task_node(n))
		return 0;
	if (n->e->kind == K_TASK)
		return FS_ATTR_TTL;
	if (n->e->flags & (F_WAIT | F_CLOCKED) || n->e->kind == K_T_CHECK ||
	    t->state == TASK_RUNNING ||
	    (t->worktree && access(t->worktree, F_OK) < 0))
		return 0;
	switch (n->e->kind) {
	case K_T_STATUS:
	case K_T_JSON:
	case K_T_DEPENDS:
	case K_T_TIMELINE:
		return task_ended(t) ? FS_ATTR_TTL : 0;
	default:
		return FS_ATTR_TTL;
	}
}

/*
 * Whether an open of this file may keep the kernel's page cache: the
 * files of a task that cannot change until a command changes the task
 * (its record's updated stamp moves, and the watch's listener
 * invalidates them: fs_cache_changed). Live files (status, log, events)
 * never: their sizes and text must be fresh at every read.
 */
bool fs_keep_cache(const struct node *n, const struct task *t)
{
	switch (n->e->kind) {
	case K_T_LOG:
	case K_T_RAW:
		/* an ended task's log: written no more until it runs again,
		 * which is a change of its record */
		return fs_attr_ttl(n, t) > 0 && task_ended(t);
	case K_T_PROMPT:
	case K_T_JSON:
	case K_T_DIFF:
	case K_T_FILES:
		break;
	default:
		return false;
	}
	return t && t->state != TASK_WAITING && t->state != TASK_BLOCKED &&
	       size_stamp(n, t) != 0;
}

/* A task's listing may be kept while no engine runs for it: which of
 * its files are there (log.jsonl, result, check, worktree, worker) moves
 * only with its record then (the merge queue writes a check and then
 * records the task's end). */
bool fs_list_keep(const struct node *n, const struct task *t)
{
	return t && n->e->kind == K_TASK && t->state != TASK_RUNNING;
}

static struct size_slot *size_slot(struct size_cache *c, const struct node *n)
{
	uint64_t h = (uint64_t)n->task * 31 + (uint64_t)n->e->kind;

	return &c->slot[(h * 0x9E3779B97F4A7C15ULL) >> 51 & (SIZE_SLOTS - 1)];
}

static int file_size(struct pai_fs *fs, const struct node *n,
		     const struct task *t, off_t *size)
{
	struct size_cache *c = &fs->sizes;
	int64_t stamp = size_stamp(n, t);
	struct size_slot *sl = size_slot(c, n);
	struct buf b;
	int r;

	if (stamp) {
		pthread_mutex_lock(&c->lock);
		if (sl->task == n->task && sl->kind == (int)n->e->kind &&
		    sl->updated == stamp) {
			*size = sl->size;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		pthread_mutex_unlock(&c->lock);
	}
	buf_init(&b, BUF_NOMAX);
	r = render_with(fs->p, n, t, &b);
	*size = (off_t)b.len;
	buf_release(&b);
	if (r < 0 && r != -EFBIG)
		return r;
	if (stamp) {
		pthread_mutex_lock(&c->lock);
		sl->task = n->task;
		sl->kind = (int)n->e->kind;
		sl->updated = stamp;
		sl->size = *size;
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

int fs_getattr_node(struct pai_fs *fs, const struct node *nd,
		    const struct task *tp, struct stat *st)
{
	struct pai *p = fs->p;
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
	} else if (fs_clocked(n.e)) {
		buf_init(&b, BUF_NOMAX);
		r = render_with(p, &n, tp, &b);
		st->st_size = (off_t)b.len;
		fill_times(st, fs_content_time(p, &n, &b));
		buf_release(&b);
		if (r < 0 && r != -EFBIG)
			return r;
	} else if (fs_is_real(n.e)) {
		char rp[PATH_MAX];
		struct stat real;

		/* read a request's worth at a time (cat, cp, less) */
		st->st_blksize = FS_IO_SIZE;
		if (fs_real_path(p, &n, rp, sizeof(rp)) == 0 &&
		    stat(rp, &real) == 0) {
			st->st_size = real.st_size;
			st->st_mtim = real.st_mtim;
			st->st_ctim = real.st_ctim;
			st->st_atim = real.st_atim;
		}
	} else if (S_ISREG(n.e->mode)) {
		if ((r = file_size(fs, &n, tp, &st->st_size)) < 0)
			return r;
	} else if (S_ISLNK(n.e->mode)) {
		buf_init(&b, PATH_MAX);
		r = fs_render(p, &n, &b);
		st->st_size = (off_t)b.len;
		buf_release(&b);
		if (r < 0)
			return r;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}
