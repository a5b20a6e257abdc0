/*
 * fscopy: a file's copy by reflink where the file system shares extents,
 * else in the kernel, else by read and write; a tree's copy. See
 * include/fsutil.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fsutil.h"

/* The directories above path: mkdir_p of its dirname, failures left to
 * the open that follows. */
static void mkdir_parents(const char *path)
{
	char dir[PATH_MAX], *slash;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
		return;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	mkdir_p(dir, 0755);
}

/* Errors that say "not this way here", after which the next way is
 * tried: no support in the file system or kernel, two file systems. */
static int try_next(int e)
{
	return e == EOPNOTSUPP || e == ENOTTY || e == EXDEV || e == EINVAL ||
	       e == ENOSYS;
}

/*
 * copy_file_range until the end of in: 0 when done, 1 when this kernel
 * or file system cannot (the offsets of both are where it stopped, so a
 * plain copy carries on from there), or -errno.
 */
static int copy_range(int in, int out)
{
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);

		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		return try_next(errno) ? 1 : -errno;
	}
}

static int copy_plain(int in, int out)
{
	char buf[65536];
	ssize_t n;
	int r;

	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if ((r = write_all(out, buf, (size_t)n)) < 0)
			return r;
	}
}

/*
 * in's bytes into out, the first way of allow that works here. A clone
 * that fails has written nothing, whatever the reason: the next way
 * says the error that counts.
 */
static int copy_fd(int in, int out, int allow)
{
	int r;

	if ((allow & COPY_CLONE) && ioctl(out, FICLONE, in) == 0)
		return COPY_CLONE;
	if (allow & COPY_RANGE) {
		if ((r = copy_range(in, out)) <= 0)
			return r < 0 ? r : COPY_RANGE;
	}
	if (!(allow & COPY_PLAIN))
		return -EOPNOTSUPP;
	return (r = copy_plain(in, out)) < 0 ? r : COPY_PLAIN;
}

int copy_file_with(const char *from, const char *to, int allow)
{
	int in, out, r;
	struct stat st;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return -EINVAL;
	}
	mkdir_parents(to);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		   st.st_mode & 07777);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	r = copy_fd(in, out, allow);
	close(in);
	if (close(out) < 0 && r >= 0)
		r = -EIO;
	return r;
}

int copy_file(const char *from, const char *to)
{
	int r = copy_file_with(from, to, COPY_ANY);

	return r < 0 ? r : 0;
}

/* A symbolic link made anew at to, whatever was there. */
static int copy_link(const char *from, const char *to)
{
	char target[PATH_MAX];
	ssize_t n = readlink(from, target, sizeof(target) - 1);

	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (symlink(target, to) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (unlink(to) < 0 || symlink(target, to) < 0)
		return -errno;
	return 0;
}

/* copy_tree's walk: the two paths grow and shrink by a name a level, so
 * that a deep tree costs little stack. */
struct tree_copy {
	char from[PATH_MAX], to[PATH_MAX];
	int allow;
	dev_t stop_dev;		/* the destination's top: never copied */
	ino_t stop_ino;
	int error;		/* the first failure */
};

static void tree_fail(struct tree_copy *tc, int r)
{
	if (r < 0 && !tc->error)
		tc->error = r;
}

/* name appended to both paths; 0, or -ENAMETOOLONG with both as they
 * were. */
static int tree_push(struct tree_copy *tc, const char *name, size_t *lf,
		     size_t *lt)
{
	*lf = strlen(tc->from);
	*lt = strlen(tc->to);
	if ((size_t)snprintf(tc->from + *lf, sizeof(tc->from) - *lf, "/%s",
			     name) >= sizeof(tc->from) - *lf ||
	    (size_t)snprintf(tc->to + *lt, sizeof(tc->to) - *lt, "/%s",
			     name) >= sizeof(tc->to) - *lt) {
		tc->from[*lf] = '\0';
		tc->to[*lt] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

static void copy_dir(struct tree_copy *tc, mode_t mode);

/* The entry name of the directory tc->from into tc->to. */
static void copy_entry(struct tree_copy *tc, const char *name)
{
	struct stat st;
	size_t lf, lt;
	int r;

	if ((r = tree_push(tc, name, &lf, &lt)) < 0) {
		tree_fail(tc, r);
		return;
	}
	if (lstat(tc->from, &st) < 0) {
		tree_fail(tc, -errno);
	} else if (S_ISDIR(st.st_mode)) {
		if (st.st_dev != tc->stop_dev || st.st_ino != tc->stop_ino)
			copy_dir(tc, st.st_mode);
	} else if (S_ISREG(st.st_mode)) {
		r = copy_file_with(tc->from, tc->to, tc->allow);
		tree_fail(tc, r < 0 ? r : 0);
	} else if (S_ISLNK(st.st_mode)) {
		tree_fail(tc, copy_link(tc->from, tc->to));
	}
	/* devices, fifos and sockets are not copied */
	tc->from[lf] = '\0';
	tc->to[lt] = '\0';
}

static void copy_dir(struct tree_copy *tc, mode_t mode)
{
	struct dirent *e;
	DIR *d;
	int r;

	if ((r = mkdir_p(tc->to, mode & 07777)) < 0 ||
	    !(d = opendir(tc->from))) {
		tree_fail(tc, r < 0 ? r : -errno);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			copy_entry(tc, e->d_name);
	closedir(d);
}

int copy_tree(const char *from, const char *to, int allow)
{
	struct tree_copy *tc;
	struct stat st, top;
	int r;

	if (stat(from, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return (r = copy_file_with(from, to, allow)) < 0 ? r : 0;
	if (!S_ISDIR(st.st_mode))
		return -EINVAL;
	if ((r = mkdir_p(to, st.st_mode & 07777)) < 0)
		return r;
	if (stat(to, &top) < 0)
		return -errno;
	if (!(tc = calloc(1, sizeof(*tc))))
		return -ENOMEM;
	if ((size_t)snprintf(tc->from, sizeof(tc->from), "%s", from) >=
	    sizeof(tc->from) ||
	    (size_t)snprintf(tc->to, sizeof(tc->to), "%s", to) >=
	    sizeof(tc->to)) {
		free(tc);
		return -ENAMETOOLONG;
	}
	tc->allow = allow;
	tc->stop_dev = top.st_dev;
	tc->stop_ino = top.st_ino;
	copy_dir(tc, st.st_mode);
	r = tc->error;
	free(tc);
	return r;
}
