/*
 * fsutil: mkdir -p, rm -rf, copy, replace whole, du; see include/fsutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fsutil.h"

int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX], *s;
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (s = tmp + 1; *s; s++)
		if (*s == '/') {
			*s = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* rm_rf's walk: the first failure, per thread (nftw has no payload). */
static __thread int rm_error;

static int rm_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	int r;

	(void)sb;
	(void)ftw;
	if (type == FTW_DP || type == FTW_DNR)
		r = rmdir(fpath);
	else
		r = unlink(fpath);
	if (r < 0 && errno != ENOENT && !rm_error)
		rm_error = -errno;
	return 0;
}

int rm_rf(const char *path)
{
	int error;

	rm_error = 0;
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    errno != ENOENT && !rm_error)
		rm_error = -errno;
	error = rm_error;
	rm_error = 0;
	return error;
}

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

int copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out, r = 0;
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
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = -errno;
	close(in);
	if (close(out) < 0 && !r)
		r = -EIO;
	return r;
}

int write_all(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode)
{
	char tmp[PATH_MAX];
	int r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	r = write_file(tmp, data, len, mode);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int write_file_replace(const char *path, const void *data, size_t len,
		       mode_t mode)
{
	int r = write_file_atomic(path, data, len, mode), fd;

	if (r != -EROFS && r != -EACCES)
		return r;
	if ((fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)) < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/*
 * du's walk: nftw has no payload, so the sum is per thread. Hard-linked
 * files are remembered by (dev, ino) so that each counts once.
 */
struct du_state {
	uint64_t bytes;
	struct { dev_t dev; ino_t ino; } *seen;
	size_t nseen, cap;
	int nomem;
};

static __thread struct du_state *du_walk;

/* Whether the hard-linked file sb was counted already; remembered if not. */
static int du_seen(struct du_state *d, const struct stat *sb)
{
	size_t i;

	for (i = 0; i < d->nseen; i++)
		if (d->seen[i].dev == sb->st_dev && d->seen[i].ino == sb->st_ino)
			return 1;
	if (d->nseen == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		void *p = realloc(d->seen, cap * sizeof(*d->seen));

		if (!p) {
			d->nomem = 1;
			return -1;
		}
		d->seen = p;
		d->cap = cap;
	}
	d->seen[d->nseen].dev = sb->st_dev;
	d->seen[d->nseen].ino = sb->st_ino;
	d->nseen++;
	return 0;
}

static int du_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	int seen;

	(void)fpath;
	(void)ftw;
	if (type == FTW_NS)
		return 0;
	if (!S_ISDIR(sb->st_mode) && sb->st_nlink > 1 &&
	    (seen = du_seen(du_walk, sb)) != 0)
		return seen < 0 ? 1 : 0;
	du_walk->bytes += (uint64_t)sb->st_blocks * 512;
	return 0;
}

int disk_usage(const char *path, uint64_t *bytes)
{
	struct du_state state;
	struct stat st;
	int error = 0;

	*bytes = 0;
	if (lstat(path, &st) < 0)
		return -errno;
	memset(&state, 0, sizeof(state));
	du_walk = &state;
	/* FTW_MOUNT: an overlay worktree (checkout=overlay) is counted by
	 * its upper directory and its shared base, beside it, not once more
	 * through its mount */
	if (nftw(path, du_one, 16, FTW_PHYS | FTW_MOUNT) < 0)
		error = -errno;
	du_walk = NULL;
	free(state.seen);
	if (state.nomem)
		return -ENOMEM;
	*bytes = state.bytes;
	return error == -EACCES ? 0 : error;
}
