/*
 * fs/wait: the wait files (tasks/N/wait, wait). A read blocks until the
 * row's render says something (the task ended, the queue drained) and
 * then returns that; poll(2) and select(2) say readable once a read
 * would not block.
 *
 *	$ cat tasks/7/wait && cat tasks/7/diff
 *	done
 *
 * A read is answered when its callback returns (the low-level API could
 * defer the reply; these reads do not), so a blocked read holds one
 * thread of the loop. The loop's pool grows on demand (fs/mount: up to FS_WAIT_MAX
 * threads more than it had) and at most FS_WAIT_MAX reads block at once
 * (EAGAIN past that, with an event), so however many readers block,
 * FS_SPARE_THREADS threads stay free for ls, cat status and tasks/new.
 *
 * A blocked read sleeps on the watch (src/watch.c), woken at each state
 * change, and looks every WAIT_TICK_MS at what no watch tells: the
 * reader's ^C (an interrupt of its request: -EINTR) and the end of the
 * session (SIGTERM, or the mount gone from the mount table: -EIO, with an
 * event). A lazy unmount (fusermount3 -u -z) leaves the connection up
 * while a read waits in it, so no request says so; the mount table does.
 * Poll handles are kept here and notified from the watch's thread, never
 * from a request handler; the same call drops what the kernel keeps of
 * the task's files (fs_cache_changed in fs/mount).
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_lowlevel.h>

#include "buf.h"
#include "events.h"
#include "fsutil.h"
#include "pai.h"
#include "watch.h"
#include "fsint.h"

/* How often a blocked read looks for ^C and unmount. */
#define WAIT_TICK_MS 100
/* How often the mount table is read while reads wait (by one of them). */
#define MOUNTS_EVERY_MS 500

/* A poll(2) of a wait file that was not ready: told when it may be. */
struct poller {
	struct poller *next;
	const struct handle *h;
	int64_t task;		/* 0: the root's wait, told of every change */
	struct fuse_pollhandle *ph;
};

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static struct poller *pollers;
static int blocked;		/* reads blocked now */
static bool told_unmount;	/* the event said so, once */

static pthread_mutex_t mounts_lock = PTHREAD_MUTEX_INITIALIZER;
static char mountpoint[PATH_MAX];	/* absolute; "" when unknown */
static int64_t mounts_read;	/* ms, when the table was last read */
static bool detached;		/* the table no longer has us */

bool fs_is_wait(const struct entry *e)
{
	return e->flags & F_WAIT;
}

static bool take_slot(void)
{
	bool ok;

	pthread_mutex_lock(&wait_lock);
	ok = blocked < FS_WAIT_MAX;
	if (ok)
		blocked++;
	pthread_mutex_unlock(&wait_lock);
	return ok;
}

static void drop_slot(void)
{
	pthread_mutex_lock(&wait_lock);
	blocked--;
	pthread_mutex_unlock(&wait_lock);
}

/* Whether a parallelai mount is on the mountpoint, per the table. */
static bool still_mounted(void)
{
	char line[2 * PATH_MAX + 512], mnt[PATH_MAX + 1], *sep;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	if (!f)
		return true;	/* cannot tell: do not end reads */
	while (!found && fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS ... - TYPE SRC OPTS */
		sep = strstr(line, " - ");
		if (sscanf(line, "%*s %*s %*s %*s %4096s", mnt) != 1 || !sep ||
		    strncmp(sep + 3, "fuse.parallelai ", 16) != 0)
			continue;
		mountinfo_unescape(mnt);
		found = strcmp(mnt, mountpoint) == 0;
	}
	fclose(f);
	return found;
}

/* The mount left the mount table (read at most every MOUNTS_EVERY_MS). */
static bool mount_gone(void)
{
	int64_t now = pai_now_ms();
	bool gone;

	pthread_mutex_lock(&mounts_lock);
	if (mountpoint[0] && !detached && now - mounts_read >= MOUNTS_EVERY_MS) {
		mounts_read = now;
		detached = !still_mounted();
	}
	gone = detached;
	pthread_mutex_unlock(&mounts_lock);
	return gone;
}

static bool session_ending(void)
{
	return fs_session_ending() || mount_gone();
}

/* The mount goes while reads wait: they end with EIO, the event once. */
static int unmounted(struct pai *p)
{
	char msg[128];
	int n;

	pthread_mutex_lock(&wait_lock);
	n = told_unmount ? 0 : blocked;
	told_unmount = true;
	pthread_mutex_unlock(&wait_lock);
	if (n) {
		snprintf(msg, sizeof(msg), "unmounted: %d blocked read%s of "
			 "wait end with EIO", n, n == 1 ? "" : "s");
		events_reason(p->events, "wait_ended", 0, msg);
	}
	return -EIO;
}

/* Until n's render says something: 0 and out, or -EINTR, -EIO, ... */
static int block(struct pai *p, const struct node *n, struct buf *out)
{
	char msg[96];
	int r;

	if (!take_slot()) {
		snprintf(msg, sizeof(msg), "too many blocked reads of wait "
			 "(%d)", FS_WAIT_MAX);
		events_reason(p->events, "refused", n->task, msg);
		return -EAGAIN;
	}
	for (;;) {
		/* The count before the state: a change in between is seen. */
		uint64_t seen = watch_gen(p->watch);

		buf_truncate(out, 0);
		r = fs_render(p, n, out);
		if (r < 0 || out->len)
			break;
		if (fs_interrupted()) {
			r = -EINTR;
			break;
		}
		if (session_ending()) {
			r = unmounted(p);
			break;
		}
		watch_wait(p->watch, seen, WAIT_TICK_MS);
	}
	drop_slot();
	return r;
}

int fs_wait_read(struct handle *h, char *out, size_t size, off_t off)
{
	struct buf b;
	size_t len;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	len = h->data.len;
	pthread_mutex_unlock(&h->lock);
	/* Not under h->lock: poll and release of this handle go on. */
	if (!len) {
		buf_init(&b, BUF_NOMAX);
		r = block(fs_pai(), &h->n, &b);
		pthread_mutex_lock(&h->lock);
		if (r == 0 && !h->data.len)
			r = buf_add(&h->data, b.ptr, b.len);
		pthread_mutex_unlock(&h->lock);
		buf_release(&b);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&h->lock);
	if ((size_t)off < h->data.len) {
		len = h->data.len - (size_t)off;
		if (len > size)
			len = size;
		memcpy(out, h->data.ptr + off, len);
		r = (int)len;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* h's poller out of the list (its handle destroyed), with wait_lock. */
static void unlink_poller(const struct handle *h)
{
	struct poller **pp = &pollers, *q;

	while ((q = *pp)) {
		if (q->h == h) {
			*pp = q->next;
			fuse_pollhandle_destroy(q->ph);
			free(q);
		} else {
			pp = &q->next;
		}
	}
}

static bool ready(struct pai *p, struct handle *h)
{
	struct buf b;
	bool ok;

	pthread_mutex_lock(&h->lock);
	ok = h->data.len > 0;
	pthread_mutex_unlock(&h->lock);
	if (ok)
		return true;
	buf_init(&b, BUF_NOMAX);
	ok = fs_render(p, &h->n, &b) != 0 || b.len > 0;
	buf_release(&b);
	return ok;
}

int fs_wait_poll(struct handle *h, struct fuse_pollhandle *ph,
		 unsigned *revents)
{
	struct poller *q = NULL;

	/* Kept before the state is read: a change after it is told. */
	if (ph && !(q = calloc(1, sizeof(*q)))) {
		fuse_pollhandle_destroy(ph);
		return -ENOMEM;
	}
	pthread_mutex_lock(&wait_lock);
	unlink_poller(h);
	if (q) {
		q->h = h;
		q->task = h->n.e->flags & F_OF_TASK ? h->n.task : 0;
		q->ph = ph;
		q->next = pollers;
		pollers = q;
	}
	pthread_mutex_unlock(&wait_lock);
	*revents = 0;
	if (ready(fs_pai(), h)) {
		*revents = POLLIN | POLLRDNORM;
		pthread_mutex_lock(&wait_lock);
		unlink_poller(h);
		pthread_mutex_unlock(&wait_lock);
	}
	return 0;
}

void fs_wait_forget(struct handle *h)
{
	pthread_mutex_lock(&wait_lock);
	unlink_poller(h);
	pthread_mutex_unlock(&wait_lock);
}

/* From the watch's thread: drop the kernel's pages of task id's files,
 * tell the kernel to poll again whoever waits on task id (0: some task),
 * and every poller of the root's wait. */
static void changed(void *arg, int64_t id)
{
	struct poller **pp = &pollers, *q;

	(void)arg;
	fs_cache_changed(id);
	pthread_mutex_lock(&wait_lock);
	while ((q = *pp)) {
		if (!id || !q->task || q->task == id) {
			*pp = q->next;
			fuse_lowlevel_notify_poll(q->ph);
			fuse_pollhandle_destroy(q->ph);
			free(q);
		} else {
			pp = &q->next;
		}
	}
	pthread_mutex_unlock(&wait_lock);
}

void fs_wait_start(struct pai *p, const char *mnt)
{
	char *abs = realpath(mnt, NULL);

	pthread_mutex_lock(&mounts_lock);
	snprintf(mountpoint, sizeof(mountpoint), "%s", abs ? abs : "");
	mounts_read = 0;
	detached = false;
	pthread_mutex_unlock(&mounts_lock);
	free(abs);
	pthread_mutex_lock(&wait_lock);
	told_unmount = false;
	pthread_mutex_unlock(&wait_lock);
	watch_listen(p->watch, changed, NULL);
}

void fs_wait_stop(struct pai *p)
{
	watch_listen(p->watch, NULL, NULL);
	pthread_mutex_lock(&wait_lock);
	while (pollers) {
		struct poller *q = pollers;

		pollers = q->next;
		fuse_pollhandle_destroy(q->ph);
		free(q);
	}
	pthread_mutex_unlock(&wait_lock);
}
