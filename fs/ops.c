/*
 * fs/ops: the FUSE callbacks (libfuse 3, low-level API). Each finds the
 * path of its node (fs/inode), resolves it to a row of the mount
 * (fs/ns), asks who may use it, and hands the work to fs/content or
 * fs/write. Nothing here schedules or touches git.
 *
 * Sizes never lie, and the kernel keeps only what it is told of: every
 * reply says how long the kernel may keep a node's attributes, per node
 * (fs_attr_ttl): a task's directory and the files of a task that no
 * engine runs for, whose every change is a change of the task's record,
 * and the watch's listener tells the kernel of each (fs_cache_changed:
 * their attributes and pages dropped). Every other node (a running
 * task's files, logs being written, conflicts that move with the base
 * branch, templates with the repository, the timeline with the clock,
 * logs written on SLURM nodes) is asked for at each use, as tail -f
 * polls fstat and reads only up to st_size. The high-level API could not
 * say this: it has one attr_timeout for every node.
 *
 * Opens use direct_io so a read returns what the node holds now, not
 * what the page cache saw; except the files of a task that cannot change
 * until a command changes it (fs_keep_cache), whose pages the kernel
 * keeps until told. Names are kept (FS_ENTRY_TTL): a name that went
 * still costs a getattr before any use where its attributes are not
 * kept, which says ENOENT, and a name that comes is looked up (no
 * negative entries). Logs and events are read by splice from their
 * descriptor: no copy of their bytes passes through the daemon.
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

#include <fuse_lowlevel.h>

#include "approvals.h"
#include "buf.h"
#include "events.h"
#include "pai.h"
#include "planner.h"
#include "scheduler.h"
#include "store.h"
#include "wlog.h"
#include "fsint.h"

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

static int pai_read(struct handle *h, char *out, size_t size, off_t off)
{
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

static int pai_write(struct handle *h, const char *data, size_t size,
		     off_t off)
{
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
static int pai_flush(struct handle *h)
{
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

static void pai_release(struct handle *h)
{
	if (ns_is_new(h->n.e) && h->writable && !h->wrote)
		events_reason(fs_pai()->events, "refused", 0, h->n.e->kind ==
			      K_NEW ? "empty prompt" : "empty request");
	if (h->n.e->kind == K_W_LOG)
		wlog_drop(fs_pai()->wlog, h->n.worker);
	if (fs_is_wait(h->n.e))
		fs_wait_forget(h);
	fs_handle_free(h);
}

/* Only a wait file can block; the others read at once, as they did
 * without a poll callback. */
static int pai_poll(struct handle *h, struct fuse_pollhandle *ph,
		    unsigned *reventsp)
{
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

/* touch(1) and editors set times: accept on writable files, else refuse. */
static int pai_utimens(const char *path)
{
	struct node n;
	int r;

	if ((r = ns_resolve(path, &n)) < 0)
		return r;
	return ns_can_write(n.e) ? 0 : -EACCES;
}

/* ---- the low-level requests ------------------------------------------- */

/* The request this thread serves: who asks, and whether they gave up. */
static __thread fuse_req_t cur;

struct pai_fs *fs_self(void)
{
	return fuse_req_userdata(cur);
}

const struct fuse_ctx *fs_caller(void)
{
	return fuse_req_ctx(cur);
}

bool fs_interrupted(void)
{
	return cur && fuse_req_interrupted(cur);
}

int fs_caller_groups(int size, gid_t list[])
{
	return fuse_req_getgroups(cur, size, list);
}

bool fs_session_ending(void)
{
	struct pai_fs *fs = cur ? fuse_req_userdata(cur) : NULL;

	return fs && fs->se && fuse_session_exited(fs->se);
}

/* The request taken up, and ino's path into path (PATH_MAX). */
static int begin(fuse_req_t req, fuse_ino_t ino, char *path)
{
	cur = req;
	return ino_path(ino, path, PATH_MAX);
}

/* Done with the request but for its reply. */
static fuse_req_t end(void)
{
	fuse_req_t req = cur;

	cur = NULL;
	return req;
}

static void reply_err(int r)
{
	fuse_reply_err(end(), -r);
}

static int child_path(fuse_req_t req, fuse_ino_t parent, const char *name,
		      char *path)
{
	int r;
	size_t len;

	if ((r = begin(req, parent, path)) < 0)
		return r;
	len = strlen(path);
	if (len + 1 + strlen(name) >= PATH_MAX)
		return -ENAMETOOLONG;
	snprintf(path + len, PATH_MAX - len, "%s%s",
		 len == 1 ? "" : "/", name);
	return 0;
}

/* The stat of path and how long the kernel may keep it (fs_attr_ttl). */
static int stat_path(const char *path, struct stat *st, double *ttl)
{
	struct task t;
	struct node n;
	int r;

	/* One fetch of the task's record: the resolve's is the stat's. */
	*ttl = 0;
	if ((r = ns_resolve_task(path, &n, &t)) == 0) {
		const struct task *tp = t.id && fs_task_node(&n) ? &t : NULL;

		r = fs_getattr_node(fs_self(), &n, tp, st);
		if (r == 0)
			*ttl = fs_attr_ttl(&n, tp);
	}
	task_release(&t);
	return r;
}

static void pai_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
		conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* libfuse 3.14 does not ask for it by default: without it a log's
	 * descriptor (ll_read) is read into memory and copied out.
	 * Not SPLICE_MOVE: its pages belong to the log's page cache, which
	 * a move would take them from (and direct_io reads copy anyway). */
	conn->want |= conn->capable & FUSE_CAP_SPLICE_WRITE;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	char path[PATH_MAX];
	double ttl;
	int r;

	memset(&e, 0, sizeof(e));
	if ((r = child_path(req, parent, name, path)) == 0 &&
	    (r = stat_path(path, &e.attr, &ttl)) == 0 &&
	    !(e.ino = ino_hold(path)))
		r = -ENOMEM;
	if (r < 0) {
		reply_err(r);
		return;
	}
	e.attr.st_ino = e.ino;
	e.attr_timeout = ttl;
	e.entry_timeout = FS_ENTRY_TTL;
	/* -ENOENT: the request was interrupted, the kernel took nothing */
	if (fuse_reply_entry(end(), &e) == -ENOENT)
		ino_forget(e.ino, 1);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ino_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *v)
{
	size_t i;

	for (i = 0; i < count; i++)
		ino_forget(v[i].ino, v[i].nlookup);
	fuse_reply_none(req);
}

static void reply_attr(const char *path, fuse_ino_t ino)
{
	struct stat st;
	double ttl;
	int r;

	if ((r = stat_path(path, &st, &ttl)) < 0) {
		reply_err(r);
	} else {
		st.st_ino = ino;
		fuse_reply_attr(end(), &st, ttl);
	}
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	int r;

	(void)fi;
	if ((r = begin(req, ino, path)) < 0)
		reply_err(r);
	else
		reply_attr(path, ino);
}

/* chmod and chown are refused; a size (O_TRUNC) and times (touch,
 * editors) are taken where a write is. */
static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	int r;

	if ((r = begin(req, ino, path)) < 0)
		goto fail;
	r = -EPERM;
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
		      FUSE_SET_ATTR_GID))
		goto fail;
	if ((to_set & FUSE_SET_ATTR_SIZE) &&
	    (r = pai_truncate(path, attr->st_size, fi)) < 0)
		goto fail;
	if ((to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)) &&
	    (r = pai_utimens(path)) < 0)
		goto fail;
	reply_attr(path, ino);
	return;
fail:
	reply_err(r);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char path[PATH_MAX], target[PATH_MAX];
	int r;

	if ((r = begin(req, ino, path)) < 0 ||
	    (r = pai_readlink(path, target, sizeof(target))) < 0)
		reply_err(r);
	else
		fuse_reply_readlink(end(), target);
}

static void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	char path[PATH_MAX];
	int r;

	if ((r = begin(req, ino, path)) == 0)
		r = pai_access(path, mask);
	reply_err(r);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[PATH_MAX];
	int r;

	if ((r = begin(req, ino, path)) < 0 || (r = pai_open(path, fi)) < 0)
		reply_err(r);
	/* interrupted: no release will come for it */
	else if (fuse_reply_open(end(), fi) == -ENOENT)
		pai_release(handle_of(fi));
}

/*
 * A real file (a log, events) is answered with its descriptor and
 * offset, and libfuse splices the bytes from the page cache to the
 * kernel without copying them through the daemon. What is in a log was
 * redacted when it was written (runner/relay.c), so its bytes go out as
 * they are. Every other file is read into memory by pai_read. The
 * descriptor stays open until release, which the kernel sends only once
 * no read of the handle is under way.
 */
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	struct handle *h = handle_of(fi);
	int fd = -1, r;
	char *mem;

	(void)ino;
	cur = req;
	if (fs_is_real(h->n.e)) {
		pthread_mutex_lock(&h->lock);
		real_open(h);
		fd = h->fd;
		pthread_mutex_unlock(&h->lock);
	}
	if (fd >= 0) {
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = fd;
		bv.buf[0].pos = off;
		fuse_reply_data(end(), &bv, 0);
		return;
	}
	if (!(mem = malloc(size ? size : 1)))
		r = -ENOMEM;
	else
		r = pai_read(h, mem, size, off);
	if (r < 0)
		reply_err(r);
	else
		fuse_reply_buf(end(), mem, (size_t)r);
	free(mem);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	int r;

	(void)ino;
	cur = req;
	if ((r = pai_write(handle_of(fi), buf, size, off)) < 0)
		reply_err(r);
	else
		fuse_reply_write(end(), (size_t)r);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	(void)ino;
	cur = req;
	reply_err(pai_flush(handle_of(fi)));
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)datasync;
	ll_flush(req, ino, fi);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	cur = req;
	pai_release(handle_of(fi));
	reply_err(0);
}

static void ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	unsigned revents = 0;
	int r;

	(void)ino;
	cur = req;
	if ((r = pai_poll(handle_of(fi), ph, &revents)) < 0)
		reply_err(r);
	else
		fuse_reply_poll(end(), revents);
}

/* Nothing is made, removed, renamed or linked by hand. */
static void refuse(fuse_req_t req, fuse_ino_t parent, const char *name,
		   const char *what)
{
	char path[PATH_MAX];
	int r;

	if ((r = child_path(req, parent, name, path)) == 0) {
		fs_refuse(path, what, EACCES);
		r = -EACCES;
	}
	reply_err(r);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	(void)fi;
	refuse(req, parent, name, "create");
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)mode;
	(void)rdev;
	refuse(req, parent, name, "create");
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)mode;
	refuse(req, parent, name, "create directory");
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	refuse(req, parent, name, "remove");
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	refuse(req, parent, name, "remove directory");
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)newparent;
	(void)newname;
	(void)flags;
	refuse(req, parent, name, "rename");
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link;
	refuse(req, parent, name, "create link");
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	refuse(req, newparent, newname, "create link");
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	cur = req;
	fs_readdir(req, ino, size, off, fi, false);
	cur = NULL;
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	cur = req;
	fs_readdir(req, ino, size, off, fi, true);
	cur = NULL;
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	cur = req;
	fs_opendir(req, ino, fi);
	cur = NULL;
}

const struct fuse_lowlevel_ops fs_ll_ops = {
	.init = pai_init,
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.readlink = ll_readlink,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.symlink = ll_symlink,
	.rename = ll_rename,
	.link = ll_link,
	.open = ll_open,
	.read = ll_read,
	.write = ll_write,
	.flush = ll_flush,
	.release = ll_release,
	.fsync = ll_fsync,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.readdirplus = ll_readdirplus,
	.access = ll_access,
	.create = ll_create,
	.poll = ll_poll,
};
