/*
 * fsutil: the few file system chores several modules need, each written
 * once: mkdir -p, rm -rf, a file's or a tree's copy (by reflink where
 * the file system can), a file written or replaced whole, du.
 *
 *	if ((r = mkdir_p("/var/lib/pai/logs", 0700)) < 0)
 *		die("cannot create '%s': %s", dir, strerror(-r));
 *	rm_rf(wt);				// best effort: result ignored
 *	write_file_atomic("/x/result.json", json, len, 0600);
 *	disk_usage("/src/app/.git/parallelai/worktrees", &bytes);
 *
 * Results are 0 or a negative errno; none keeps state between calls, so
 * any thread may call them (rm_rf and disk_usage keep their walk's state per
 * thread: nftw takes no payload).
 */
#ifndef PAI_FSUTIL_H
#define PAI_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * mkdir -p: every missing directory up to and including path; the last
 * one gets mode, those above it 0755. One that exists already is no
 * error. -ENAMETOOLONG past PATH_MAX.
 */
int mkdir_p(const char *path, mode_t mode);

/*
 * rm -rf, symbolic links not followed: removes all it can and returns
 * the first failure. What is not there is no error.
 */
int rm_rf(const char *path);

/*
 * (fscopy.c) Copy the regular file from to to (its mode kept, to
 * truncated), making the directories above to first. -EINVAL when from
 * is not a regular file. The first way that works: a reflink (FICLONE:
 * the copy shares the original's extents until either is written, on
 * btrfs, XFS with reflink=1, bcachefs ...), copy_file_range (in the
 * kernel, which may share extents too), read and write.
 */
int copy_file(const char *from, const char *to);

/* The ways copy_file may take, as a mask of those allowed and as what
 * copy_file_with returns: the way it took, or -errno. */
enum { COPY_CLONE = 1, COPY_RANGE = 2, COPY_PLAIN = 4, COPY_ANY = 7 };
int copy_file_with(const char *from, const char *to, int allow);

/*
 * (fscopy.c) cp -R: from, a regular file or a directory (followed when a
 * symbolic link), into to; directories made with their modes, regular
 * files by copy_file_with(allow), symbolic links inside made anew,
 * devices, fifos and sockets left out, the directory to itself never
 * copied into itself. Copies all it can and returns the first failure;
 * -EINVAL when from is neither a file nor a directory.
 */
int copy_tree(const char *from, const char *to, int allow);

/* write(2) until all of p is written, through EINTR. */
int write_all(int fd, const void *p, size_t n);

/* path (created with mode, or truncated) holding data and nothing else. */
int write_file(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Replace path with data, whole: written to PATH.tmp, then renamed, so a
 * reader sees the old content or the new, never half of it. mode: of a
 * file created. PATH.tmp is removed on failure.
 */
int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode);
/*
 * write_file_atomic, or, where path's directory is read-only and path
 * itself writable (a sandbox binds a report file alone), path written
 * over in place.
 */
int write_file_replace(const char *path, const void *data, size_t len,
		       mode_t mode);

/*
 * Disk used by the tree at path, in bytes, like du -s -B1: allocated
 * blocks, each hard-linked file counted once, symlinks not followed,
 * mount points under path not entered (du -x). On file systems that
 * share extents between files (btrfs, XFS, bcachefs, OCFS2), the extents
 * FIEMAP marks shared count once, however many files of the tree use
 * them (the union of their physical ranges): reflinked copies are not
 * counted twice. An extent shared with a file outside the tree (the
 * original of a copy) still counts once. Unreadable directories count
 * what can be seen. -ENOENT when path does not exist.
 */
int disk_usage(const char *path, uint64_t *bytes);

/* A path field of /proc/self/mountinfo as it was: its octal escapes
 * (\040 for a space) undone in place. */
void mountinfo_unescape(char *s);

#endif
