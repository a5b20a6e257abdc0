/*
 * git/ovchanged: what a task changed in its overlay worktree, from its
 * upper directory alone (include/overlay.h, overlay_changed): every file,
 * link and whiteout (a deletion) in it, and every directory the base does
 * not have as a directory, or that hides the base's (opaque: removed and
 * made again), as one prefix. What is not in the upper directory is the
 * base's file, untouched: the commit need not look at it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "overlay.h"
#include "gitint.h"

/* More paths than this, and a pathspec costs more than the full walk. */
#define MAX_CHANGED 4096

struct changed {
	char **paths;
	size_t n, cap;
	char lower[PATH_MAX];	/* the base's checkout */
};

/* A name libgit2's pathspec takes literally (no glob, no negation, no
 * blank it would trim): else the caller walks everything. */
static int literal(const char *rel)
{
	return !strpbrk(rel, "*?[]\\!# \t\n\r:");
}

static int add(struct changed *c, const char *rel)
{
	char **p;

	if (!literal(rel) || c->n + 1 >= MAX_CHANGED)
		return -E2BIG;
	if (c->n + 2 > c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		if (!(p = realloc(c->paths, c->cap * sizeof(*p))))
			return -ENOMEM;
		c->paths = p;
	}
	if (!(c->paths[c->n] = strdup(rel)))
		return -ENOMEM;
	c->paths[++c->n] = NULL;
	return 0;
}

/* Whether the base has rel as a directory that the upper one (at path)
 * merges with rather than hides. */
static int merges_with_base(const struct changed *c, const char *path,
			    const char *rel)
{
	char lower[PATH_MAX * 2 + 2], v[8];
	struct stat st;
	ssize_t n;

	snprintf(lower, sizeof(lower), "%s/%s", c->lower, rel);
	if (lstat(lower, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	n = lgetxattr(path, "trusted.overlay.opaque", v, sizeof(v));
	if (n > 0 && v[0] == 'y')
		return 0;
	n = lgetxattr(path, "trusted.overlay.redirect", v, sizeof(v));
	return n < 0;
}

static int walk(struct changed *c, const char *dir, const char *rel)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);
	int r = 0;

	if (!d)
		return -errno;
	while (r == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (!*rel && !strcmp(e->d_name, ".git")))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     e->d_name) >= sizeof(path) ||
		    (size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel,
				     *rel ? "/" : "", e->d_name) >= sizeof(sub)) {
			r = -ENAMETOOLONG;
			break;
		}
		if (lstat(path, &st) < 0) {
			r = -errno;
			break;
		}
		if (S_ISDIR(st.st_mode) && merges_with_base(c, path, sub))
			r = walk(c, path, sub);
		else
			r = add(c, sub);
	}
	closedir(d);
	return r;
}

void overlay_changed_free(char **paths)
{
	char **p;

	for (p = paths; p && *p; p++)
		free(*p);
	free(paths);
}

int overlay_changed(char ***out, char base_oid[OVERLAY_OID_SIZE],
		    const char *wtdir, int64_t id)
{
	struct changed c = { 0 };
	char dir[PATH_MAX], upper[PATH_MAX + 8], path[PATH_MAX];
	int r;

	*out = NULL;
	snprintf(dir, sizeof(dir), "%s/.overlay/tasks/%lld", wtdir,
		 (long long)id);
	if ((r = ov_read_info(dir, base_oid, path)) < 0)
		return r;
	snprintf(upper, sizeof(upper), "%s/upper", dir);
	snprintf(c.lower, sizeof(c.lower), "%s/.overlay/base/%s/tree", wtdir,
		 base_oid);
	/* an empty list is a list: nothing changed */
	if (!(c.paths = calloc(1, sizeof(*c.paths))))
		return -ENOMEM;
	c.cap = 1;
	if ((r = walk(&c, upper, "")) < 0) {
		overlay_changed_free(c.paths);
		return r;
	}
	*out = c.paths;
	return 0;
}
