/*
 * fs/mount: mounting, the request loop and unmounting; the list of open
 * handles, so that none outlives the mount.
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
	fs->fuse = fuse_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->fuse) {
		snprintf(err, errlen, "invalid mount options: '%s'",
			 fuse_opts ? fuse_opts : "");
		r = -EINVAL;
		goto fail;
	}
	/* Its path resolved now: once mounted, a lookup there is ours. */
	fs_wait_start(p, mountpoint);
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
	/* Each blocked read of a wait file holds a thread (fs/wait.c):
	 * room for all of them and FS_SPARE_THREADS more, created as they
	 * are needed; idle ones beyond the spare go, so a burst of waiters
	 * leaves no thousand threads behind. */
	fuse_loop_cfg_set_max_threads(cfg, FS_SPARE_THREADS + FS_WAIT_MAX);
	fuse_loop_cfg_set_idle_threads(cfg, FS_SPARE_THREADS);
	r = fuse_loop_mt(fs->fuse, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

void pai_fs_free(struct pai_fs *fs)
{
	if (!fs)
		return;
	fs_wait_stop(fs->p);
	while (open_handles.next != &open_handles)
		fs_handle_free(open_handles.next);
	if (fs->fuse) {
		fuse_remove_signal_handlers(fuse_get_session(fs->fuse));
		if (fs->mounted)
			fuse_unmount(fs->fuse);
		fuse_destroy(fs->fuse);
	}
	free(fs);
}
