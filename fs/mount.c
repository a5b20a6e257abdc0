/*
 * fs/mount: mounting, the request loop and unmounting; the list of open
 * handles, so that none outlives the mount.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "buf.h"
#include "fs.h"
#include "pai.h"
#include "fsint.h"

/*
 * Every open handle, so that those the kernel never released are freed at
 * unmount: a RELEASE still queued when the connection ends never comes.
 */
static struct handle open_handles = { .prev = &open_handles,
				       .next = &open_handles };
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

void fs_handle_link(struct handle *h)
{
	pthread_mutex_lock(&open_lock);
	h->next = &open_handles;
	h->prev = open_handles.prev;
	h->prev->next = h;
	open_handles.prev = h;
	pthread_mutex_unlock(&open_lock);
}

void fs_handle_free(struct handle *h)
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

/* ---- what the kernel keeps ---------------------------------------------- */

/*
 * The session whose kernel caches fs_cache_changed drops: set once
 * mounted, cleared before unmounting (and the watch's listener is gone by
 * then: fs_wait_stop waits for a call under way).
 */
static struct fuse_session *_Atomic cached_se;

/* Drop what the kernel keeps of the node at path, if it holds it. */
static void drop(struct fuse_session *se, const char *path)
{
	fuse_ino_t ino = ino_find(path);

	/* -ENOENT: the kernel forgot it meanwhile */
	if (ino)
		fuse_lowlevel_notify_inval_inode(se, ino, 0, 0);
}

void fs_cache_changed(int64_t id)
{
	struct fuse_session *se = cached_se;
	const struct entry *e;
	fuse_ino_t *v;
	char path[64];
	size_t i, n;

	if (!se)
		return;
	/* id 0 (many at once): every task's node the kernel holds */
	if (!id) {
		if (ino_under("/tasks/", &v, &n) < 0)
			return;
		for (i = 0; i < n; i++)
			fuse_lowlevel_notify_inval_inode(se, v[i], 0, 0);
		free(v);
		return;
	}
	snprintf(path, sizeof(path), "/tasks/%lld", (long long)id);
	drop(se, path);
	for (e = ns_task_tab; e->name; e++) {
		snprintf(path, sizeof(path), "/tasks/%lld/%s", (long long)id,
			 e->name);
		drop(se, path);
	}
}

/* ---- the watch on the mount table ---------------------------------------- */

/*
 * A sandbox's mount namespace holds a copy of the mount. Where the mount's
 * parent is private (no "shared:" in mountinfo: containers), an unmount
 * here does not reach those copies, the kernel keeps the connection, and
 * the request loop would never end while a sandboxed run lives. So the
 * mount table is watched (poll on /proc/self/mountinfo): once our mount
 * is gone from it, the daemon stops as SIGTERM stops it, its runs
 * requeued, and closing /dev/fuse ends the copies.
 */

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] &&
		    s[3]) {
			*o++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) |
				      (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The id of the last parallelai mount at path (want_id < 0), or whether
 * the mount want_id is there (1, else 0); -1 when unreadable. */
static long scan_mounts(FILE *f, const char *path, long want_id)
{
	char line[PATH_MAX * 2 + 512], point[PATH_MAX * 2];
	long id, found = want_id < 0 ? -1 : 0;

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - ");

		if (sscanf(line, "%ld %*d %*s %*s %8191s", &id, point) != 2)
			continue;
		if (want_id >= 0) {
			if (id == want_id)
				found = 1;
			continue;
		}
		unescape(point);
		if (dash && !strncmp(dash + 3, "fuse.parallelai ", 16) &&
		    !strcmp(point, path))
			found = id;
	}
	return found;
}

static void *mtab_main(void *arg)
{
	struct pai_fs *fs = arg;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct pollfd pfd[2];

	if (!f)
		return NULL;
	pfd[0] = (struct pollfd){ fileno(f), POLLPRI, 0 };
	pfd[1] = (struct pollfd){ fs->watch_stop[0], POLLIN, 0 };
	for (;;) {
		if (scan_mounts(f, NULL, fs->mount_id) == 0) {
			kill(getpid(), SIGTERM);
			break;
		}
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
	}
	fclose(f);
	return NULL;
}

/* path: the mount point's real path, taken before mounting (a lookup in
 * the mount now would wait for the loop, which has not started). */
static void mtab_watch_start(struct pai_fs *fs, const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");

	fs->mount_id = -1;
	if (path && f)
		fs->mount_id = scan_mounts(f, path, -1);
	if (f)
		fclose(f);
	if (fs->mount_id < 0 || pipe2(fs->watch_stop, O_CLOEXEC) < 0)
		return;
	if (pthread_create(&fs->watcher, NULL, mtab_main, fs) == 0) {
		fs->watching = 1;
		return;
	}
	close(fs->watch_stop[0]);
	close(fs->watch_stop[1]);
}

static void mtab_watch_stop(struct pai_fs *fs)
{
	if (!fs->watching)
		return;
	if (write(fs->watch_stop[1], "x", 1) == 1)
		pthread_join(fs->watcher, NULL);
	close(fs->watch_stop[0]);
	close(fs->watch_stop[1]);
	fs->watching = 0;
}

int pai_fs_mount(struct pai_fs **out, struct pai *p, const char *mountpoint,
		 const char *fuse_opts, char *err, size_t errlen)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct pai_fs *fs = calloc(1, sizeof(*fs));
	char opts[PATH_MAX + 256];
	int r = -EIO;

	if (!fs)
		return -ENOMEM;
	if ((r = -pthread_mutex_init(&fs->sizes.lock, NULL)) < 0) {
		free(fs);
		return r;
	}
	fs->p = p;
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=parallelai%s%s",
		 p->repo, fuse_opts && *fuse_opts ? "," : "",
		 fuse_opts ? fuse_opts : "");
	if (fuse_opt_add_arg(&args, "parallelai") ||
	    fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts)) {
		r = -ENOMEM;
		goto fail;
	}
	fs->se = fuse_session_new(&args, &fs_ll_ops, sizeof(fs_ll_ops), fs);
	if (!fs->se) {
		snprintf(err, errlen, "invalid mount options: '%s'",
			 fuse_opts ? fuse_opts : "");
		r = -EINVAL;
		goto fail;
	}
	/* Its path resolved now: once mounted, a lookup there is ours. */
	fs_wait_start(p, mountpoint);
	if (fuse_session_mount(fs->se, mountpoint) != 0) {
		snprintf(err, errlen, "cannot mount on '%s'", mountpoint);
		goto fail;
	}
	fs->mounted = 1;
	cached_se = fs->se;
	if (fuse_set_signal_handlers(fs->se) != 0) {
		snprintf(err, errlen, "cannot set signal handlers");
		goto fail;
	}
	fuse_opt_free_args(&args);
	mtab_watch_start(fs, p->mountpoint);
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
	/* Each blocked read of a wait file holds a thread (fs/wait.c):
	 * room for all of them and FS_SPARE_THREADS more, created as they
	 * are needed; idle ones beyond the spare go, so a burst of waiters
	 * leaves no thousand threads behind. */
	fuse_loop_cfg_set_max_threads(cfg, FS_SPARE_THREADS + FS_WAIT_MAX);
	fuse_loop_cfg_set_idle_threads(cfg, FS_SPARE_THREADS);
	r = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

void pai_fs_free(struct pai_fs *fs)
{
	if (!fs)
		return;
	/* before the signal handlers go: its SIGTERM must not kill us */
	mtab_watch_stop(fs);
	fs_wait_stop(fs->p);
	if (cached_se == fs->se)
		cached_se = NULL;
	while (open_handles.next != &open_handles)
		fs_handle_free(open_handles.next);
	if (fs->se) {
		fuse_remove_signal_handlers(fs->se);
		if (fs->mounted)
			fuse_session_unmount(fs->se);
		fuse_session_destroy(fs->se);
	}
	ino_clear();
	pthread_mutex_destroy(&fs->sizes.lock);
	free(fs);
}
