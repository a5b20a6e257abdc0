/*
 * fs/ops: the FUSE callbacks (libfuse 3, high-level API). Each resolves
 * its path to a node (fs/ns), asks who may use it, and hands the work to
 * fs/content or fs/write. Nothing here schedules or touches git.
 *
 * Sizes never lie: getattr renders a generated file to learn its length,
 * logs are stat'ed fresh, and attribute caching is off, because tail -f
 * polls fstat and reads only up to st_size (the high-level API has one
 * attr_timeout for every node, so none can have one). Opens use direct_io
 * so a read returns what the node holds now, not what the page cache
 * saw; except the files of a task that cannot change until a command
 * changes it (fs_keep_cache), whose pages the kernel keeps: a moved mtime
 * drops them at the next getattr (auto_inval_data), and the watch's
 * listener drops them when the task changes (fs_cache_changed).
 *
 * Why no attribute is kept, not even for a while: the one attr_timeout
 * would cover every node, and not every change can be told to the kernel
 * when it happens. A task's conflicts move with the base branch (a commit
 * in the repository), templates with the repository's files, a running
 * task's timeline with the clock, a log under the SLURM backend with
 * writes on another node; a stale size cuts reads short and stops tail -f.
 *
 * Names are kept (entry_timeout): a name that went still costs a getattr
 * before any use (attr_timeout is 0), which says ENOENT, and a name that
 * comes is looked up (negative_timeout is 0). readdirplus answers the
 * tasks' directories' attributes with their listing, so ls -l and find
 * need no lookup of each; tasks/ is listed a kernel buffer at a time
 * (list_tasks), never whole into libfuse's memory.
 *
 * Logs and events are read by splice from their descriptor (read_buf):
 * no copy of their bytes passes through the daemon.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse.h>

#include "approvals.h"
#include "buf.h"
#include "events.h"
#include "pai.h"
#include "planner.h"
#include "scheduler.h"
#include "store.h"
#include "wlog.h"
#include "fsint.h"

static int pai_getattr(const char *path, struct stat *st,
		       struct fuse_file_info *fi)
{
	struct pai_fs *fs = fs_self();
	struct task t;
	struct node n;
	int r;

	/* One fetch of the task's record: the resolve's is the stat's. */
	if ((r = ns_resolve_task(path, &n, &t)) == 0)
		r = fs_getattr_node(fs, &n, t.id && fs_task_node(&n) ? &t :
				    NULL, st);
	task_release(&t);
	return r;
}

static int pai_readlink(const char *path, char *out, size_t size)
{
	struct node n;
	struct buf b;
	int r;

	if ((r = ns_resolve(path, &n)) < 0)
		return r;
	if (!S_ISLNK(n.e->mode))
		return -EINVAL;
	if ((r = fs_guard(path, &n, "read link")) < 0)
		return r;
	buf_init(&b, PATH_MAX);
	r = fs_render(fs_pai(), &n, &b);
	if (r == 0)
		snprintf(out, size, "%s", buf_cstr(&b));
	buf_release(&b);
	return r;
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
static int add_task(void *buf, fuse_fill_dir_t filler, int64_t id, bool plus)
{
	struct pai_fs *fs = fs_self();
	struct node n = { .e = &ns_task_dir, .task = id };
	struct stat st = { .st_mode = S_IFDIR };
	off_t next = (off_t)id + TASKS_OFF;
	struct task t;
	char name[32];
	int r = -1;

	snprintf(name, sizeof(name), "%lld", (long long)id);
	if (plus && store_task_get(fs->p->store, id, &t) == 0) {
		r = fs_getattr_node(fs, &n, &t, &st);
		task_release(&t);
	}
	if (r < 0)
		return filler(buf, name, &st, next, 0);
	return filler(buf, name, &st, next, FUSE_FILL_DIR_PLUS);
}

static int list_tasks(void *buf, fuse_fill_dir_t filler, off_t off,
		      bool plus)
{
	static const char *const head[TASKS_OFF] = { ".", "..", "new" };
	struct pai *p = fs_pai();
	int64_t after, *ids;
	size_t count, i;
	int r;

	for (; off < TASKS_OFF; off++) {
		struct stat st = { .st_mode = off < 2 ? S_IFDIR : S_IFREG };

		if (filler(buf, head[off], &st, off + 1, 0))
			return 0;
	}
	after = (int64_t)off - TASKS_OFF;
	for (;;) {
		if ((r = store_task_ids_after(p->store, after, TASKS_PAGE, &ids,
					      &count)) < 0)
			return r;
		for (i = 0; i < count; i++)
			if (add_task(buf, filler, ids[i], plus))
				break;
		after = count ? ids[count - 1] : after;
		free(ids);
		if (i < count || count < TASKS_PAGE)
			return 0;
	}
}

static int pai_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		       off_t off, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct pai *p = fs_pai();
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
		return list_tasks(buf, filler, off, flags & FUSE_READDIR_PLUS);
	ns_add_entry(buf, filler, ".", S_IFDIR);
	ns_add_entry(buf, filler, "..", S_IFDIR);
	switch (n.e->kind) {
	case K_ROOT:
		return ns_fill_tab(buf, filler, ns_root_tab, &n);
	case K_TASK:
		return ns_fill_tab(buf, filler, ns_task_tab, &n);
	case K_WORKER:
		return ns_fill_tab(buf, filler, ns_worker_tab, &n);
	case K_PLAN:
		return ns_fill_tab(buf, filler, ns_plan_tab, &n);
	case K_APPROVAL:
		return ns_fill_tab(buf, filler, ns_approval_tab, &n);
	case K_APPROVALS: {
		int64_t *ids = NULL;
		size_t count = 0, i;

		ns_add_entry(buf, filler, "pending", S_IFREG);
		if ((r = approvals_ids(p->approvals, &ids, &count)) < 0)
			return r;
		for (i = 0; i < count; i++) {
			snprintf(name, sizeof(name), "%lld",
				 (long long)ids[i]);
			if (ns_add_entry(buf, filler, name, S_IFDIR))
				break;
		}
		free(ids);
		return 0;
	}
	case K_PLANS: {
		int64_t *ids = NULL;
		size_t count = 0, i;

		ns_add_entry(buf, filler, "new", S_IFREG);
		if ((r = store_plan_ids(p->store, NULL, &ids, &count)) < 0)
			return r;
		for (i = 0; i < count; i++) {
			snprintf(name, sizeof(name), "%lld",
				 (long long)ids[i]);
			if (ns_add_entry(buf, filler, name, S_IFDIR))
				break;
		}
		free(ids);
		return 0;
	}
	case K_TEMPLATES: {
		struct template_info *v;
		size_t count, i;
		char st[TEMPLATE_NAME_MAX + 8];

		ns_add_entry(buf, filler, "README", S_IFREG);
		if ((r = template_list(p->repo, &v, &count)) < 0)
			return r;
		for (i = 0; i < count; i++) {
			snprintf(st, sizeof(st), "%s.status", v[i].name);
			if (ns_add_entry(buf, filler, v[i].name, S_IFREG) ||
			    ns_add_entry(buf, filler, st, S_IFREG))
				break;
		}
		template_list_release(v, count);
		return 0;
	}
	case K_WORKERS: {
		int k, w = sched_workers(p->sched);

		for (k = 1; k <= w; k++) {
			snprintf(name, sizeof(name), "%d", k);
			if (ns_add_entry(buf, filler, name, S_IFDIR))
				break;
		}
		return 0;
	}
	default:
		return -ENOTDIR;
	}
}

static int pai_access(const char *path, int mask)
{
	struct node n;
	int r;

	if ((r = ns_resolve(path, &n)) < 0)
		return r;
	if (mask != F_OK && (ns_public(n.e) ?
			     (mask & W_OK) != 0 : !fs_allowed(fs_pai())))
		return -EACCES;
	if (S_ISDIR(n.e->mode) || S_ISLNK(n.e->mode))
		return (mask & W_OK) && n.e->kind != K_TASKS &&
		       n.e->kind != K_PLANS ? -EACCES : 0;
	if ((mask & W_OK) && !ns_can_write(n.e))
		return -EACCES;
	if (mask & X_OK)
		return -EACCES;
	return 0;
}

static bool keeps_cache(struct pai *p, const struct node *n)
{
	struct task t;
	bool keep;

	if (!fs_task_node(n) || store_task_get(p->store, n->task, &t) < 0)
		return false;
	keep = fs_keep_cache(n, &t);
	task_release(&t);
	return keep;
}

static int pai_open(const char *path, struct fuse_file_info *fi)
{
	struct pai *p = fs_pai();
	int acc = fi->flags & O_ACCMODE, r;
	struct handle *h;
	struct node n;

	if ((r = ns_resolve(path, &n)) < 0)
		return r;
	if (!S_ISREG(n.e->mode))
		return -EISDIR;
	if ((r = fs_guard(path, &n, acc == O_RDONLY ? "read" : "write")) < 0)
		return r;
	if (acc != O_RDONLY && !ns_can_write(n.e)) {
		fs_refuse(path, "write", EACCES);
		return -EACCES;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	h->n = n;
	h->fd = -1;
	h->writable = acc != O_RDONLY;
	if (ns_is_new(n.e))
		buf_init(&h->data, p->cfg.max_prompt + 65536);
	else
		buf_init(&h->data, BUF_NOMAX);
	buf_init(&h->line, CTL_LINE_MAX);
	if (n.e->kind == K_W_LOG) {
		wlog_hold(p->wlog, n.worker);
	} else if (fs_is_real(n.e)) {
		char rp[PATH_MAX];

		if (fs_real_path(p, &n, rp, sizeof(rp)) == 0)
			h->fd = open(rp, O_RDONLY | O_CLOEXEC);
	} else if (acc != O_WRONLY && !ns_is_new(n.e)) {
		r = fs_render(p, &n, &h->data);
		if (r < 0 && r != -EFBIG) {
			buf_release(&h->data);
			free(h);
			return r;
		}
		/* What is read now is what stat says next. */
		if (fs_clocked(n.e))
			fs_content_time(p, &n, &h->data);
	}
	fs_handle_link(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	if (acc == O_RDONLY && keeps_cache(p, &n)) {
		fi->direct_io = 0;
		fi->keep_cache = 1;
	}
	return 0;
}

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* A log that did not exist at open may exist now. Under h->lock. */
static void real_open(struct handle *h)
{
	char rp[PATH_MAX];

	if (h->fd < 0 && fs_real_path(fs_pai(), &h->n, rp, sizeof(rp)) == 0)
		h->fd = open(rp, O_RDONLY | O_CLOEXEC);
}

static int pai_read(const char *path, char *out, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int r = 0;

	if (fs_is_wait(h->n.e))
		return fs_wait_read(h, out, size, off);
	pthread_mutex_lock(&h->lock);
	if (h->n.e->kind == K_W_LOG) {
		ssize_t n = wlog_read(fs_pai()->wlog, h->n.worker, out, size, off);

		r = (int)n;
		goto out;
	}
	if (fs_is_real(h->n.e)) {
		real_open(h);
		if (h->fd >= 0) {
			ssize_t n = pread(h->fd, out, size, off);

			r = n < 0 ? -errno : (int)n;
		}
		goto out;
	}
	if (ns_is_new(h->n.e)) {
		/* Clone convention: a read-write handle reads its new id. */
		char id[32];
		size_t len;

		if (h->wrote && (r = fs_new_submit(h)) < 0)
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

/*
 * Reads as buffers: a real file (a log, events) is answered with its
 * descriptor and offset, and libfuse splices the bytes from the page
 * cache to the kernel without copying them through the daemon. What is
 * in a log was redacted when it was written (runner/local.c), so its
 * bytes go out as they are. Every other file is read into memory by
 * pai_read. The descriptor stays open until release, which the kernel
 * sends only once no read of the handle is under way.
 */
static int pai_read_buf(const char *path, struct fuse_bufvec **bufp,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct fuse_bufvec *bv = malloc(sizeof(*bv));
	int fd = -1, r;
	void *mem;

	if (!bv)
		return -ENOMEM;
	*bv = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
	if (fs_is_real(h->n.e)) {
		pthread_mutex_lock(&h->lock);
		real_open(h);
		fd = h->fd;
		pthread_mutex_unlock(&h->lock);
	}
	if (fd >= 0) {
		bv->buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv->buf[0].fd = fd;
		bv->buf[0].pos = off;
		*bufp = bv;
		return 0;
	}
	if (!(mem = malloc(size ? size : 1))) {
		free(bv);
		return -ENOMEM;
	}
	if ((r = pai_read(path, mem, size, off, fi)) < 0) {
		free(mem);
		free(bv);
		return r;
	}
	bv->buf[0].mem = mem;
	bv->buf[0].size = (size_t)r;
	*bufp = bv;
	return 0;
}

static int pai_write(const char *path, const char *data, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int r;

	pthread_mutex_lock(&h->lock);
	if (!ns_is_new(h->n.e)) {
		r = fs_ctl_write(h, data, size);
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
		r = fs_new_judge(h);
out:
	pthread_mutex_unlock(&h->lock);
	if (r == -EFBIG) {
		char msg[128];

		snprintf(msg, sizeof(msg), "prompt too long: over %zu bytes",
			 fs_pai()->cfg.max_prompt);
		events_reason(fs_pai()->events, "refused", 0, msg);
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
	if (ns_is_new(h->n.e)) {
		r = fs_new_submit(h);
	} else if (h->line.len) {
		/* The last line, without its newline: flush can come more
		 * than once, so it runs once. */
		r = fs_ctl_line(h, h->line.ptr);
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

	if (ns_is_new(h->n.e) && h->writable && !h->wrote)
		events_reason(fs_pai()->events, "refused", 0, h->n.e->kind ==
			      K_NEW ? "empty prompt" : "empty request");
	if (h->n.e->kind == K_W_LOG)
		wlog_drop(fs_pai()->wlog, h->n.worker);
	if (fs_is_wait(h->n.e))
		fs_wait_forget(h);
	fs_handle_free(h);
	return 0;
}

/* Only a wait file can block; the others read at once, as they did
 * without a poll callback. */
static int pai_poll(const char *path, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph, unsigned *reventsp)
{
	struct handle *h = handle_of(fi);

	if (fs_is_wait(h->n.e))
		return fs_wait_poll(h, ph, reventsp);
	if (ph)
		fuse_pollhandle_destroy(ph);
	*reventsp = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;
	return 0;
}

static int pai_truncate(const char *path, off_t size,
			struct fuse_file_info *fi)
{
	struct node n;
	int r;

	if ((r = ns_resolve(path, &n)) < 0)
		return r;
	if (!ns_can_write(n.e)) {
		fs_refuse(path, "truncate", EACCES);
		return -EACCES;
	}
	/* O_TRUNC on new or ctl: nothing stored to cut. */
	if (fi && ns_is_new(n.e)) {
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
	fs_refuse(path, "create", EACCES);
	return -EACCES;
}

static int pai_mknod(const char *path, mode_t mode, dev_t dev)
{
	fs_refuse(path, "create", EACCES);
	return -EACCES;
}

static int pai_mkdir(const char *path, mode_t mode)
{
	fs_refuse(path, "create directory", EACCES);
	return -EACCES;
}

static int pai_unlink(const char *path)
{
	fs_refuse(path, "remove", EACCES);
	return -EACCES;
}

static int pai_rmdir(const char *path)
{
	fs_refuse(path, "remove directory", EACCES);
	return -EACCES;
}

static int pai_rename(const char *from, const char *to, unsigned int flags)
{
	fs_refuse(from, "rename", EACCES);
	return -EACCES;
}

static int pai_symlink(const char *target, const char *path)
{
	fs_refuse(path, "create link", EACCES);
	return -EACCES;
}

static int pai_link(const char *from, const char *to)
{
	fs_refuse(to, "create link", EACCES);
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

	if ((r = ns_resolve(path, &n)) < 0)
		return r;
	return ns_can_write(n.e) ? 0 : -EACCES;
}

/* Seconds the kernel keeps a name it looked up. */
#define ENTRY_TIMEOUT 60

static void *pai_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Attributes change behind the kernel's back; names seldom do
	 * (the comment at the top). */
	cfg->entry_timeout = ENTRY_TIMEOUT;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	cfg->direct_io = 0;	/* per open: pai_open */
	cfg->use_ino = 0;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* libfuse 3.14 does not ask for it by default: without it a log's
	 * descriptor (pai_read_buf) is read into memory and copied out.
	 * Not SPLICE_MOVE: its pages belong to the log's page cache, which
	 * a move would take them from (and direct_io reads copy anyway). */
	conn->want |= conn->capable & FUSE_CAP_SPLICE_WRITE;
	return fuse_get_context()->private_data;
}

const struct fuse_operations fs_ops = {
	.init = pai_init,
	.getattr = pai_getattr,
	.readlink = pai_readlink,
	.readdir = pai_readdir,
	.access = pai_access,
	.open = pai_open,
	.read = pai_read,
	.read_buf = pai_read_buf,
	.write = pai_write,
	.flush = pai_flush,
	.fsync = pai_fsync,
	.release = pai_release,
	.poll = pai_poll,
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
