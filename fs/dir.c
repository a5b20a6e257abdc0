/*
 * fs/dir: directory listings, a kernel buffer at a time. Entries come
 * from the rows of fs/files and the store; with readdirplus each may
 * carry its attributes, and then its node is held (fs/inode) and the
 * kernel keeps them for as long as fs_attr_ttl says. A task's listing is
 * kept by the kernel (cache_readdir) while no engine runs for it.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "approvals.h"
#include "pai.h"
#include "scheduler.h"
#include "store.h"
#include "template.h"
#include "fsint.h"

/* d_ino of an entry listed without its attributes (as libfuse's own) */
#define UNKNOWN_INO 0xffffffffu

/* A reply being filled: entries before from are skipped where the
 * listing counts them itself (next 0 from the filler). */
struct dirbuf {
	fuse_req_t req;
	const char *dir;	/* its path */
	char *buf;
	size_t size, len;
	off_t from, count;
	bool plus;
};

static int held_entry(struct dirbuf *d, const char *name,
		      struct fuse_entry_param *e, off_t next)
{
	char path[PATH_MAX];
	size_t need = fuse_add_direntry_plus(d->req, NULL, 0, name, e, next);

	if (need > d->size - d->len)
		return 1;
	snprintf(path, sizeof(path), "%s/%s", strcmp(d->dir, "/") ? d->dir :
		 "", name);
	if (!(e->ino = ino_hold(path)))
		return 1;
	e->attr.st_ino = e->ino;
	d->len += fuse_add_direntry_plus(d->req, d->buf + d->len,
					 d->size - d->len, name, e, next);
	return 0;
}

static int dir_fill(void *arg, const char *name, const struct stat *st,
		off_t next, double ttl)
{
	struct dirbuf *d = arg;
	struct fuse_entry_param e;
	size_t need;

	if (!next && (next = ++d->count) <= d->from)
		return 0;
	memset(&e, 0, sizeof(e));
	e.attr = *st;
	e.attr.st_ino = UNKNOWN_INO;
	if (!d->plus) {
		need = fuse_add_direntry(d->req, d->buf + d->len,
					 d->size - d->len, name, &e.attr, next);
	} else if (ttl >= 0 && strcmp(name, ".") && strcmp(name, "..")) {
		e.attr_timeout = ttl;
		e.entry_timeout = FS_ENTRY_TTL;
		return held_entry(d, name, &e, next);
	} else {
		/* no node: the kernel takes the name and type only */
		need = fuse_add_direntry_plus(d->req, d->buf + d->len,
					      d->size - d->len, name, &e, next);
	}
	if (need > d->size - d->len)
		return 1;
	d->len += need;
	return 0;
}

/*
 * tasks/ is listed a kernel buffer at a time, each entry with its offset
 * (., .., new, then a task N at N + TASKS_OFF), so that libfuse keeps no
 * copy of a whole listing (100,000 tasks: tens of MiB) and a readdirplus
 * renders the attributes of the tasks it sends, not of all of them.
 */
#define TASKS_OFF 3
#define TASKS_PAGE 256

/* A task's directory with its attributes (readdirplus), or without
 * when it went meanwhile. 1 when the buffer is full. */
static int add_task(void *buf, fs_fill_t fill, int64_t id, bool plus)
{
	struct pai_fs *fs = fs_self();
	struct node n = { .e = &ns_task_dir, .task = id };
	struct stat st = { .st_mode = S_IFDIR };
	off_t next = (off_t)id + TASKS_OFF;
	double ttl = -1;
	struct task t;
	char name[32];

	snprintf(name, sizeof(name), "%lld", (long long)id);
	if (plus && store_task_get(fs->p->store, id, &t) == 0) {
		if (fs_getattr_node(fs, &n, &t, &st) == 0)
			ttl = fs_attr_ttl(&n, &t);
		task_release(&t);
	}
	return fill(buf, name, &st, next, ttl);
}

static int list_tasks(void *buf, fs_fill_t fill, off_t off, bool plus)
{
	static const char *const head[TASKS_OFF] = { ".", "..", "new" };
	struct pai *p = fs_pai();
	int64_t after, *ids;
	size_t count, i;
	int r;

	for (; off < TASKS_OFF; off++) {
		struct stat st = { .st_mode = off < 2 ? S_IFDIR : S_IFREG };

		if (fill(buf, head[off], &st, off + 1, -1))
			return 0;
	}
	after = (int64_t)off - TASKS_OFF;
	for (;;) {
		if ((r = store_task_ids_after(p->store, after, TASKS_PAGE, &ids,
					      &count)) < 0)
			return r;
		for (i = 0; i < count; i++)
			if (add_task(buf, fill, ids[i], plus))
				break;
		after = count ? ids[count - 1] : after;
		free(ids);
		if (i < count || count < TASKS_PAGE)
			return 0;
	}
}

/* Numbered directories (approvals, plans), ids freed. */
static int list_ids(void *buf, fs_fill_t fill, int64_t *ids, size_t count)
{
	char name[32];
	size_t i;

	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "%lld", (long long)ids[i]);
		if (ns_add_entry(buf, fill, name, S_IFDIR))
			break;
	}
	free(ids);
	return 0;
}

static int list(const char *path, void *buf, fs_fill_t fill, off_t off,
		bool plus)
{
	struct pai *p = fs_pai();
	int64_t *ids = NULL;
	size_t count = 0;
	struct node n;
	char name[32];
	int r;

	if ((r = ns_resolve(path, &n)) < 0)
		return r;
	if (!S_ISDIR(n.e->mode))
		return -ENOTDIR;
	if ((r = fs_guard(path, &n, "list")) < 0)
		return r;
	if (n.e->kind == K_TASKS)
		return list_tasks(buf, fill, off, plus);
	ns_add_entry(buf, fill, ".", S_IFDIR);
	ns_add_entry(buf, fill, "..", S_IFDIR);
	switch (n.e->kind) {
	case K_ROOT:
		return ns_fill_tab(buf, fill, ns_root_tab, &n);
	case K_TASK:
		return ns_fill_tab(buf, fill, ns_task_tab, &n);
	case K_WORKER:
		return ns_fill_tab(buf, fill, ns_worker_tab, &n);
	case K_PLAN:
		return ns_fill_tab(buf, fill, ns_plan_tab, &n);
	case K_APPROVAL:
		return ns_fill_tab(buf, fill, ns_approval_tab, &n);
	case K_APPROVALS:
		ns_add_entry(buf, fill, "pending", S_IFREG);
		if ((r = approvals_ids(p->approvals, &ids, &count)) < 0)
			return r;
		return list_ids(buf, fill, ids, count);
	case K_PLANS:
		ns_add_entry(buf, fill, "new", S_IFREG);
		if ((r = store_plan_ids(p->store, NULL, &ids, &count)) < 0)
			return r;
		return list_ids(buf, fill, ids, count);
	case K_TEMPLATES: {
		struct template_info *v;
		char st[TEMPLATE_NAME_MAX + 8];
		size_t i;

		ns_add_entry(buf, fill, "README", S_IFREG);
		if ((r = template_list(p->repo, &v, &count)) < 0)
			return r;
		for (i = 0; i < count; i++) {
			snprintf(st, sizeof(st), "%s.status", v[i].name);
			if (ns_add_entry(buf, fill, v[i].name, S_IFREG) ||
			    ns_add_entry(buf, fill, st, S_IFREG))
				break;
		}
		template_list_release(v, count);
		return 0;
	}
	case K_WORKERS: {
		int k, w = sched_workers(p->sched);

		for (k = 1; k <= w; k++) {
			snprintf(name, sizeof(name), "%d", k);
			if (ns_add_entry(buf, fill, name, S_IFDIR))
				break;
		}
		return 0;
	}
	default:
		return -ENOTDIR;
	}
}


void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi, bool plus)
{
	struct dirbuf d = { .req = req, .size = size, .from = off,
			    .plus = plus };
	char path[PATH_MAX];
	int r;

	(void)fi;
	if ((r = ino_path(ino, path, sizeof(path))) < 0)
		goto fail;
	d.dir = path;
	if (!(d.buf = malloc(size ? size : 1))) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = list(path, &d, dir_fill, off, plus)) < 0) {
		free(d.buf);
		goto fail;
	}
	fuse_reply_buf(req, d.buf, d.len);
	free(d.buf);
	return;
fail:
	fuse_reply_err(req, -r);
}

/* A task's listing is kept by the kernel while nothing but a change of
 * its record changes which of its files are there (fs_list_keep):
 * dropped with its attributes when it changes (fs_cache_changed). */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	struct task t;
	struct node n;
	int r;

	memset(&t, 0, sizeof(t));
	if ((r = ino_path(ino, path, sizeof(path))) == 0 &&
	    (r = ns_resolve_task(path, &n, &t)) == 0 &&
	    fs_list_keep(&n, t.id ? &t : NULL)) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	task_release(&t);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		fuse_reply_open(req, fi);
}
