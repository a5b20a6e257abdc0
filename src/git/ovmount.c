/*
 * git/ovmount: the kernel side of overlay checkouts (include/overlay.h):
 * mounting, unmounting, what /proc/self/mountinfo says is mounted, the
 * probe at mount, and the sweep at mount and at unmount.
 *
 *	mount -t overlay overlay -o lowerdir=WORKTREES/.overlay/base/OID/tree,\
 *	    upperdir=WORKTREES/.overlay/tasks/7/upper,\
 *	    workdir=WORKTREES/.overlay/tasks/7/work,redirect_dir=on WORKTREES/7
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "overlay.h"
#include "gitint.h"


/*
 * Each overlay mount whose upperdir lies under prefix (or at path, when
 * path is set): fn(mount point, upperdir, arg). The count of those seen.
 */
int ov_each_mount(const char *prefix, const char *path,
		  void (*fn)(const char *, const char *, void *), void *arg)
{
	char *line = NULL, *f[6], *sep, *opt, *save;
	size_t cap = 0, plen = strlen(prefix);
	int i, n = 0;
	FILE *m = fopen("/proc/self/mountinfo", "re");

	if (!m)
		return -errno;
	while (getline(&line, &cap, m) > 0) {
		/* ID PARENT MAJ:MIN ROOT POINT OPTS ... - TYPE SOURCE SUPER */
		if (!(sep = strstr(line, " - ")))
			continue;
		*sep = '\0';
		f[0] = strtok_r(line, " ", &save);
		for (i = 1; i < 5 && f[i - 1]; i++)
			f[i] = strtok_r(NULL, " ", &save);
		f[5] = strtok_r(sep + 3, " \n", &save);	/* type */
		if (!f[0] || !f[4] || !f[5] || strcmp(f[5], "overlay") ||
		    !strtok_r(NULL, " \n", &save) ||	/* source */
		    !(opt = strtok_r(NULL, " \n", &save)))
			continue;
		mountinfo_unescape(f[4]);
		if (path && strcmp(f[4], path))
			continue;
		for (opt = strtok_r(opt, ",", &save); opt;
		     opt = strtok_r(NULL, ",", &save))
			if (!strncmp(opt, "upperdir=", 9))
				break;
		if (!opt)
			continue;
		mountinfo_unescape(opt += 9);
		if (strncmp(opt, prefix, plen))
			continue;
		n++;
		if (fn)
			fn(f[4], opt, arg);
	}
	free(line);
	fclose(m);
	return n;
}

/* Unmount path; a mount still in use is detached (gone from the table,
 * the kernel keeps it until its last user leaves). */
int ov_umount(const char *path)
{
	if (umount2(path, UMOUNT_NOFOLLOW) == 0)
		return 0;
	if (errno == EBUSY && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return 0;
	return errno == EINVAL || errno == ENOENT ? 0 : -errno;
}

/* Whether an overlay with its upper directory at upper is mounted at
 * path. */
bool ov_mounted(const char *path, const char *upper)
{
	return ov_each_mount(upper, path, NULL, NULL) > 0;
}

/* A path overlayfs's option string can carry. */
static bool plain(const char *p)
{
	return !strpbrk(p, ",:\\\n");
}

int ov_mount(const char *lower, const char *upper, const char *work,
	     const char *path, char *err, size_t errlen)
{
	char opts[3 * PATH_MAX + 64];

	if (!plain(lower) || !plain(upper) || !plain(work)) {
		snprintf(err, errlen, "cannot mount an overlay at '%s': a "
			 "directory's name holds ',', ':' or '\\'", path);
		return -EINVAL;
	}
	if ((size_t)snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,"
			     "workdir=%s,redirect_dir=on", lower, upper,
			     work) >= sizeof(opts) ||
	    strlen(opts) >= (size_t)sysconf(_SC_PAGESIZE)) {
		snprintf(err, errlen, "cannot mount an overlay at '%s': %s",
			 path, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	if (mount("overlay", path, "overlay", MS_NOSUID, opts) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot mount an overlay at '%s': %s%s",
			 path, strerror(e), e == EPERM ?
			 " (overlay checkouts need root)" : "");
		return -e;
	}
	return 0;
}

/* overlay_probe's directories under WORKTREES/.overlay/probe. */
static int probe_in(const char *dir, char *err, size_t errlen)
{
	char l[PATH_MAX + 16], u[PATH_MAX + 16], w[PATH_MAX + 16];
	char m[PATH_MAX + 16], a[PATH_MAX + 32], b[PATH_MAX + 32];
	int r;

	snprintf(l, sizeof(l), "%s/lower/dir", dir);
	snprintf(u, sizeof(u), "%s/upper", dir);
	snprintf(w, sizeof(w), "%s/work", dir);
	snprintf(m, sizeof(m), "%s/mnt", dir);
	if ((r = mkdir_p(l, 0700)) < 0 || (r = mkdir_p(u, 0700)) < 0 ||
	    (r = mkdir_p(w, 0700)) < 0 || (r = mkdir_p(m, 0700)) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", dir,
			 strerror(-r));
		return r;
	}
	snprintf(l, sizeof(l), "%s/lower", dir);
	if ((r = ov_mount(l, u, w, m, err, errlen)) < 0)
		return r;
	snprintf(a, sizeof(a), "%s/dir", m);
	snprintf(b, sizeof(b), "%s/moved", m);
	if (rename(a, b) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot rename a directory in an overlay"
			 " at '%s': %s", m, strerror(errno));
	}
	ov_umount(m);
	return r;
}

int overlay_probe(const char *wtdir, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int r;

	snprintf(dir, sizeof(dir), "%s/.overlay/probe", wtdir);
	if (ov_mounted(dir, dir))
		ov_umount(dir);
	rm_rf(dir);
	r = probe_in(dir, err, errlen);
	rm_rf(dir);
	/* nothing left behind before a task needs it (ENOTEMPTY: some do) */
	snprintf(dir, sizeof(dir), "%s/.overlay", wtdir);
	rmdir(dir);
	return r;
}

/* ov_each_mount's callback: unmount it. */
static void drop(const char *point, const char *upper, void *arg)
{
	(void)upper;
	(void)arg;
	ov_umount(point);
}

void overlay_unmount_all(const char *wtdir)
{
	char prefix[PATH_MAX];
	int tries;

	snprintf(prefix, sizeof(prefix), "%s/.overlay/", wtdir);
	/* stacked mounts come off one a pass */
	for (tries = 0; tries < 8; tries++)
		if (ov_each_mount(prefix, NULL, drop, NULL) <= 0)
			break;
}

int overlay_count_mounted(const char *wtdir)
{
	char prefix[PATH_MAX];

	snprintf(prefix, sizeof(prefix), "%s/.overlay/", wtdir);
	return ov_each_mount(prefix, NULL, NULL, NULL);
}

/* ov_each_mount's callback at mount: an overlay of ours whose task is
 * gone, or mounted somewhere else than its task's info says. */
static void drop_stray(const char *point, const char *upper, void *arg)
{
	const char *wtdir = arg;
	char info[PATH_MAX], oid[OV_OID_SIZE], path[PATH_MAX];
	char want[PATH_MAX + 16];
	long long id;
	int used;

	if (sscanf(upper + strlen(wtdir), "/.overlay/tasks/%lld/upper%n",
		   &id, &used) == 1 && !upper[strlen(wtdir) + used]) {
		snprintf(info, sizeof(info), "%s/.overlay/tasks/%lld",
			 wtdir, id);
		if (ov_read_info(info, oid, path) == 0 &&
		    !strcmp(path, point)) {
			snprintf(want, sizeof(want), "%s/upper", info);
			if (!strcmp(want, upper))
				return;
		}
	}
	ov_umount(point);
}

int overlay_recover(const char *wtdir)
{
	char dir[PATH_MAX], prefix[PATH_MAX], err[PATH_MAX + 256];
	struct dirent *e;
	DIR *d;
	int failed = 0;

	snprintf(prefix, sizeof(prefix), "%s/.overlay/", wtdir);
	ov_each_mount(prefix, NULL, drop_stray, (void *)wtdir);
	snprintf(dir, sizeof(dir), "%s/.overlay/tasks", wtdir);
	if ((d = opendir(dir))) {
		while ((e = readdir(d))) {
			char *end;
			long long id = strtoll(e->d_name, &end, 10);

			if (*end || end == e->d_name)
				continue;
			if (overlay_mount(wtdir, id, err, sizeof(err)) < 0) {
				fprintf(stderr, "parallelai: task %lld: %s\n",
					id, err);
				failed++;
			}
		}
		closedir(d);
	}
	ov_prune_bases(wtdir);
	return failed;
}
