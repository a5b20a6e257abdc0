/*
 * fsutil: mkdir -p, rm -rf, replace whole, du; see include/fsutil.h
 * (copies: fscopy.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
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
 * files are remembered by (dev, ino) so that each counts once; on a file
 * system that shares extents, the shared ones are gathered by their
 * physical ranges and counted once at the end.
 */
struct du_range {
	uint64_t start, len;
};

struct du_state {
	uint64_t bytes;
	struct { dev_t dev; ino_t ino; } *seen;
	size_t nseen, cap;
	struct du_range *shared;
	size_t nshared, capshared;
	dev_t fs_dev;		/* the file system last asked about */
	int fs_known, fs_shares;
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

/* The file systems whose files may share extents (reflinks); elsewhere
 * FIEMAP is not asked, which would cost an open and an ioctl a file. */
static int du_fs_shares(struct du_state *d, const char *fpath,
			const struct stat *sb)
{
	struct statfs fs;

	if (d->fs_known && d->fs_dev == sb->st_dev)
		return d->fs_shares;
	d->fs_known = 1;
	d->fs_dev = sb->st_dev;
	d->fs_shares = statfs(fpath, &fs) == 0 &&
		       (fs.f_type == BTRFS_SUPER_MAGIC ||
			fs.f_type == XFS_SUPER_MAGIC ||
			fs.f_type == 0xca451a4e ||	/* bcachefs */
			fs.f_type == 0x7461636f);	/* OCFS2 */
	return d->fs_shares;
}

static int du_range_cmp(const void *a, const void *b)
{
	const struct du_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* d's shared ranges sorted, those that overlap or touch made one. */
static void du_merge_shared(struct du_state *d)
{
	size_t i, k = 0;

	if (!d->nshared)
		return;		/* d->shared may be NULL: qsort must not see it */
	qsort(d->shared, d->nshared, sizeof(*d->shared), du_range_cmp);
	for (i = 0; i < d->nshared; i++) {
		struct du_range *last = k ? &d->shared[k - 1] : NULL;
		uint64_t end = d->shared[i].start + d->shared[i].len;

		if (last && d->shared[i].start <= last->start + last->len) {
			if (end > last->start + last->len)
				last->len = end - last->start;
		} else {
			d->shared[k++] = d->shared[i];
		}
	}
	d->nshared = k;
}

/* The bytes of the union of d's shared ranges. */
static uint64_t du_shared_total(struct du_state *d)
{
	uint64_t total = 0;
	size_t i;

	du_merge_shared(d);
	for (i = 0; i < d->nshared; i++)
		total += d->shared[i].len;
	return total;
}

/* A range of a shared extent. The same extents come back once per
 * worktree: when the array is full it is merged first, and grows only
 * when that frees less than half of it. */
static void du_add_shared(struct du_state *d, uint64_t start, uint64_t len)
{
	if (d->nshared == d->capshared && d->nshared)
		du_merge_shared(d);
	if (d->nshared == d->capshared || d->nshared > d->capshared / 2) {
		size_t cap = d->capshared ? d->capshared * 2 : 256;
		void *p = realloc(d->shared, cap * sizeof(*d->shared));

		if (!p) {
			d->nomem = 1;
			return;
		}
		d->shared = p;
		d->capshared = cap;
	}
	d->shared[d->nshared].start = start;
	d->shared[d->nshared].len = len;
	d->nshared++;
}

/*
 * Of a file's allocated bytes, those not in extents FIEMAP marks shared;
 * the shared ones are gathered in d. A file that cannot be asked counts
 * whole.
 */
static uint64_t du_unshared(struct du_state *d, const char *fpath,
			    uint64_t bytes)
{
	union {
		struct fiemap fm;
		char space[sizeof(struct fiemap) +
			   64 * sizeof(struct fiemap_extent)];
	} u;
	uint64_t shared = 0, next = 0;
	int fd = open(fpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return bytes;
	for (;;) {
		struct fiemap_extent *e = NULL;
		uint32_t i;

		memset(&u.fm, 0, sizeof(u.fm));
		u.fm.fm_start = next;
		u.fm.fm_length = FIEMAP_MAX_OFFSET - next;
		u.fm.fm_extent_count = 64;
		if (ioctl(fd, FS_IOC_FIEMAP, &u.fm) < 0 ||
		    !u.fm.fm_mapped_extents)
			break;
		for (i = 0; i < u.fm.fm_mapped_extents; i++) {
			e = &u.fm.fm_extents[i];
			if ((e->fe_flags & FIEMAP_EXTENT_SHARED) &&
			    !(e->fe_flags & (FIEMAP_EXTENT_UNKNOWN |
					     FIEMAP_EXTENT_DELALLOC))) {
				du_add_shared(d, e->fe_physical, e->fe_length);
				shared += e->fe_length;
			}
		}
		/* the last, or a map that would not move on */
		if ((e->fe_flags & FIEMAP_EXTENT_LAST) ||
		    e->fe_logical + e->fe_length <= next)
			break;
		next = e->fe_logical + e->fe_length;
	}
	close(fd);
	return bytes > shared ? bytes - shared : 0;
}

static int du_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	uint64_t bytes = (uint64_t)sb->st_blocks * 512;
	int seen;

	(void)ftw;
	if (type == FTW_NS)
		return 0;
	if (!S_ISDIR(sb->st_mode) && sb->st_nlink > 1 &&
	    (seen = du_seen(du_walk, sb)) != 0)
		return seen < 0 ? 1 : 0;
	if (S_ISREG(sb->st_mode) && bytes &&
	    du_fs_shares(du_walk, fpath, sb))
		bytes = du_unshared(du_walk, fpath, bytes);
	du_walk->bytes += bytes;
	return du_walk->nomem;
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
	*bytes = state.bytes + du_shared_total(&state);
	free(state.seen);
	free(state.shared);
	if (state.nomem) {
		*bytes = 0;
		return -ENOMEM;
	}
	return error == -EACCES ? 0 : error;
}

void mountinfo_unescape(char *s)
{
	char *o = s;

	for (; *s; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				    (s[3] - '0'));
			s += 3;
		} else {
			*o = *s;
		}
	}
	*o = '\0';
}
