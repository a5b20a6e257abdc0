/*
 * fs/inode: the nodes the kernel holds, by number and by path.
 *
 * The low-level FUSE API speaks in node numbers; the mount's files are
 * named by paths (fs/ns). Each path the kernel was told of (a lookup, an
 * entry of readdirplus) has one record here, whose address is its number,
 * counted up at each telling and down by the kernel's forgets; at zero it
 * goes. The root is number 1 and never goes. No file of the mount is
 * ever renamed, linked or removed by a request (all are refused), so a
 * record's path never changes.
 *
 * By path they are found to tell the kernel that a file changed
 * (fs_cache_changed): a number the kernel forgot meanwhile is harmless,
 * the kernel answers ENOENT to a notice about it.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fuse_lowlevel.h>

#include "fsint.h"

struct inode {
	struct inode *next;	/* in its hash chain */
	uint64_t nlookup;
	uint64_t hash;
	size_t len;
	char path[];
};

static pthread_mutex_t ino_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inode **table;	/* by path */
static size_t slots, count;

static uint64_t hash_path(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static struct inode *find(const char *path, size_t len, uint64_t h)
{
	struct inode *in;

	if (!slots)
		return NULL;
	for (in = table[h & (slots - 1)]; in; in = in->next)
		if (in->hash == h && in->len == len &&
		    !memcmp(in->path, path, len))
			return in;
	return NULL;
}

/* Twice the slots once there are more records than slots. */
static int grow(void)
{
	size_t n = slots ? slots * 2 : 1024, i;
	struct inode **t = calloc(n, sizeof(*t)), *in, *next;

	if (!t)
		return -ENOMEM;
	for (i = 0; i < slots; i++)
		for (in = table[i]; in; in = next) {
			next = in->next;
			in->next = t[in->hash & (n - 1)];
			t[in->hash & (n - 1)] = in;
		}
	free(table);
	table = t;
	slots = n;
	return 0;
}

fuse_ino_t ino_hold(const char *path)
{
	size_t len = strlen(path);
	uint64_t h = hash_path(path, len);
	struct inode *in = NULL;

	if (len == 1 && path[0] == '/')
		return FUSE_ROOT_ID;
	pthread_mutex_lock(&ino_lock);
	if ((in = find(path, len, h))) {
		in->nlookup++;
		goto out;
	}
	if (count >= slots && grow() < 0)
		goto out;
	if (!(in = malloc(sizeof(*in) + len + 1)))
		goto out;
	in->nlookup = 1;
	in->hash = h;
	in->len = len;
	memcpy(in->path, path, len + 1);
	in->next = table[h & (slots - 1)];
	table[h & (slots - 1)] = in;
	count++;
out:
	pthread_mutex_unlock(&ino_lock);
	return (fuse_ino_t)(uintptr_t)in;
}

int ino_path(fuse_ino_t ino, char *out, size_t size)
{
	const struct inode *in = (const struct inode *)(uintptr_t)ino;
	int r = 0;

	if (ino == FUSE_ROOT_ID) {
		if (size < 2)
			return -ENAMETOOLONG;
		memcpy(out, "/", 2);
		return 0;
	}
	pthread_mutex_lock(&ino_lock);
	if (in->len + 1 > size)
		r = -ENAMETOOLONG;
	else
		memcpy(out, in->path, in->len + 1);
	pthread_mutex_unlock(&ino_lock);
	return r;
}

void ino_forget(fuse_ino_t ino, uint64_t n)
{
	struct inode *in = (struct inode *)(uintptr_t)ino, **pp;

	if (ino == FUSE_ROOT_ID)
		return;
	pthread_mutex_lock(&ino_lock);
	if (in->nlookup > n) {
		in->nlookup -= n;
		pthread_mutex_unlock(&ino_lock);
		return;
	}
	for (pp = &table[in->hash & (slots - 1)]; *pp != in; pp = &(*pp)->next)
		;
	*pp = in->next;
	count--;
	pthread_mutex_unlock(&ino_lock);
	free(in);
}

fuse_ino_t ino_find(const char *path)
{
	size_t len = strlen(path);
	struct inode *in;

	pthread_mutex_lock(&ino_lock);
	in = find(path, len, hash_path(path, len));
	pthread_mutex_unlock(&ino_lock);
	return (fuse_ino_t)(uintptr_t)in;
}

int ino_under(const char *prefix, fuse_ino_t **out, size_t *n)
{
	size_t plen = strlen(prefix), i, k = 0;
	struct inode *in;
	fuse_ino_t *v;

	pthread_mutex_lock(&ino_lock);
	if (!(v = malloc((count ? count : 1) * sizeof(*v)))) {
		pthread_mutex_unlock(&ino_lock);
		return -ENOMEM;
	}
	for (i = 0; i < slots; i++)
		for (in = table[i]; in; in = in->next)
			if (in->len >= plen && !memcmp(in->path, prefix, plen))
				v[k++] = (fuse_ino_t)(uintptr_t)in;
	pthread_mutex_unlock(&ino_lock);
	*out = v;
	*n = k;
	return 0;
}

void ino_clear(void)
{
	struct inode *in, *next;
	size_t i;

	pthread_mutex_lock(&ino_lock);
	for (i = 0; i < slots; i++)
		for (in = table[i]; in; in = next) {
			next = in->next;
			free(in);
		}
	free(table);
	table = NULL;
	slots = count = 0;
	pthread_mutex_unlock(&ino_lock);
}
