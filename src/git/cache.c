/*
 * git/cache: the pair cache (a pair of commits is merged once, and a
 * pair whose changed paths cannot meet is known clean without a merge)
 * and the conflict matrix of the finished tasks built from it.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/mempack.h>

#include "gitmsg.h"
#include "merge.h"
#include "quote.h"
#include "gitint.h"

/* The paths that differ between two trees, renames as delete and add. */
int mg_changed_paths(struct merge_paths *out, git_repository *repo,
		     git_tree *from, git_tree *to)
{
	git_diff_options dopts;
	git_diff *diff = NULL;
	size_t i, n;
	int error;

	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	dopts.flags = GIT_DIFF_SKIP_BINARY_CHECK | GIT_DIFF_INCLUDE_TYPECHANGE;
	if ((error = git_diff_tree_to_tree(&diff, repo, from, to,
					   &dopts)) < 0)
		return -EIO;
	n = git_diff_num_deltas(diff);
	for (i = 0; i < n && error == 0; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);

		error = mg_paths_add(out, d->old_file.path);
		if (error == 0 && strcmp(d->old_file.path, d->new_file.path))
			error = mg_paths_add(out, d->new_file.path);
	}
	git_diff_free(diff);
	mg_paths_finish(out);
	return error;
}

/*
 * The paths where trees a and b differ, below prefix (len bytes of a
 * PATH_MAX buffer), into out (unsorted). Unlike git_diff_tree_to_tree,
 * which walks every file, subtrees with the same id are skipped: the cost
 * is that of the change, not of the repository. A directory on one side
 * only is recorded as itself, not as its files, which only makes more
 * pairs look as though they meet.
 */
static int tree_paths(struct merge_paths *out, git_repository *repo,
		      const git_tree *a, const git_tree *b, char *prefix,
		      size_t len)
{
	size_t i = 0, j = 0, na = git_tree_entrycount(a),
	       nb = git_tree_entrycount(b);
	int error = 0;

	while (error == 0 && (i < na || j < nb)) {
		const git_tree_entry *ea = i < na ? git_tree_entry_byindex(a, i)
					   : NULL;
		const git_tree_entry *eb = j < nb ? git_tree_entry_byindex(b, j)
					   : NULL;
		const git_tree_entry *e;
		int c = !ea ? 1 : !eb ? -1 : git_tree_entry_cmp(ea, eb);
		const char *name;
		size_t n;

		e = c <= 0 ? ea : eb;
		i += c <= 0;
		j += c >= 0;
		if (c == 0 && git_oid_equal(git_tree_entry_id(ea),
					    git_tree_entry_id(eb)) &&
		    git_tree_entry_filemode(ea) == git_tree_entry_filemode(eb))
			continue;
		name = git_tree_entry_name(e);
		n = strlen(name);
		if (len + n + 2 > PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(prefix + len, name, n + 1);
		if (c == 0 && git_tree_entry_type(ea) == GIT_OBJECT_TREE &&
		    git_tree_entry_type(eb) == GIT_OBJECT_TREE) {
			git_tree *ta = NULL, *tb = NULL;

			prefix[len + n] = '/';
			prefix[len + n + 1] = '\0';
			if (git_tree_lookup(&ta, repo, git_tree_entry_id(ea)) < 0 ||
			    git_tree_lookup(&tb, repo, git_tree_entry_id(eb)) < 0)
				error = -EIO;
			else
				error = tree_paths(out, repo, ta, tb, prefix,
						   len + n + 1);
			git_tree_free(tb);
			git_tree_free(ta);
			continue;
		}
		error = mg_paths_add(out, prefix);
	}
	prefix[len] = '\0';
	return error;
}

/* The paths two commits' trees differ in, sorted. */
static int commit_paths(struct merge_paths *out, git_repository *repo,
			const git_commit *from, const git_commit *to)
{
	git_tree *a = NULL, *b = NULL;
	char prefix[PATH_MAX] = "";
	int error = -EIO;

	if (git_commit_tree(&a, from) == 0 && git_commit_tree(&b, to) == 0)
		error = tree_paths(out, repo, a, b, prefix, 0);
	git_tree_free(b);
	git_tree_free(a);
	mg_paths_finish(out);
	return error;
}

/* Whether the sorted set p has the first len bytes of s as a path. */
int mg_has_path(const struct merge_paths *p, const char *s, size_t len)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(p->v[mid], s, len);

		if (c == 0 && p->v[mid][len])
			c = 1;
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Whether the sorted set p has a path inside directory dir. */
static int has_under(const struct merge_paths *p, const char *dir)
{
	size_t len = strlen(dir), lo = 0, hi = p->n;

	/* the first path not below dir + "/" in strcmp order */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(p->v[mid], dir, len);

		if (c == 0)
			c = (unsigned char)p->v[mid][len] - '/';
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->n && !strncmp(p->v[lo], dir, len) &&
	       p->v[lo][len] == '/';
}

/*
 * Whether changes to the paths a and to the paths b can meet in a merge:
 * one path changed on both sides, or a file on one side where the other
 * has a directory.
 */
static int may_meet(const struct merge_paths *a, const struct merge_paths *b)
{
	size_t i;
	const char *p, *slash;

	for (i = 0; i < a->n; i++) {
		p = a->v[i];
		if (mg_has_path(b, p, strlen(p)) || has_under(b, p))
			return 1;
		for (slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/'))
			if (mg_has_path(b, p, (size_t)(slash - p)))
				return 1;
	}
	return 0;
}

/*
 * The conflicts of a pair, the quick way when it can be had: with one
 * merge base, sides whose changes from it touch different paths (and no
 * file where the other has a directory) merge cleanly, found by two tree
 * comparisons that skip unchanged subtrees, where a three-way merge walks
 * every file of the repository. Everything else is merged. *merged says which.
 */
static int pair_quick(struct merge_paths *out, int *merged,
		      git_repository *repo, const git_commit *a,
		      const git_commit *b, char *err, size_t errlen)
{
	git_oidarray bases = { NULL, 0 };
	git_commit *base = NULL;
	struct merge_paths pa = { NULL, 0 }, pb = { NULL, 0 };
	const git_oid *ida = git_commit_id(a), *idb = git_commit_id(b);
	int quick = 0;

	*merged = 0;
	if (git_merge_bases(&bases, repo, ida, idb) == 0 && bases.count == 1) {
		if (git_oid_equal(&bases.ids[0], ida) ||
		    git_oid_equal(&bases.ids[0], idb))
			quick = 1;	/* one contains the other */
		else if (git_commit_lookup(&base, repo, &bases.ids[0]) == 0 &&
			 commit_paths(&pa, repo, base, a) == 0 &&
			 commit_paths(&pb, repo, base, b) == 0)
			quick = !may_meet(&pa, &pb);
	}
	git_error_clear();
	merge_paths_release(&pb);
	merge_paths_release(&pa);
	git_commit_free(base);
	git_oidarray_dispose(&bases);
	if (quick)
		return 0;
	*merged = 1;
	return mg_pair_conflicts(out, repo, a, b, err, errlen);
}

struct merge_cache_slot {
	git_oid a, b;		/* a < b */
	unsigned gen;		/* the computation that last used it */
	int full;
	struct merge_paths paths;
};

int merge_cache_init(struct merge_cache *c)
{
	memset(c, 0, sizeof(*c));
	return -pthread_mutex_init(&c->lock, NULL);
}

static void slots_free(struct merge_cache_slot *slots, size_t cap)
{
	size_t i;

	for (i = 0; i < cap; i++)
		if (slots[i].full)
			merge_paths_release(&slots[i].paths);
	free(slots);
}

void merge_cache_release(struct merge_cache *c)
{
	if (!c)
		return;
	slots_free(c->slots, c->cap);
	c->slots = NULL;
	c->cap = c->used = 0;
	pthread_mutex_destroy(&c->lock);
}

static size_t slot_hash(const git_oid *a, const git_oid *b, size_t cap)
{
	uint64_t x, y;

	/* object ids are SHA-1s: their first bytes are hash enough */
	memcpy(&x, a->id, sizeof(x));
	memcpy(&y, b->id, sizeof(y));
	x ^= y * 0x9e3779b97f4a7c15ULL;
	return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

/* The slot of the pair (a < b), or the empty one where it would go. */
static struct merge_cache_slot *slot_find(struct merge_cache_slot *slots,
					  size_t cap, const git_oid *a,
					  const git_oid *b)
{
	size_t i = slot_hash(a, b, cap);

	while (slots[i].full && (!git_oid_equal(&slots[i].a, a) ||
				 !git_oid_equal(&slots[i].b, b)))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Rehash into cap slots, keeping those used by generation keep (or all). */
static int cache_rehash(struct merge_cache *c, size_t cap, int all)
{
	struct merge_cache_slot *slots, *s;
	size_t i;

	if (!(slots = calloc(cap, sizeof(*slots))))
		return -ENOMEM;
	c->used = 0;
	for (i = 0; i < c->cap; i++) {
		if (!c->slots[i].full)
			continue;
		if (!all && c->slots[i].gen != c->gen) {
			merge_paths_release(&c->slots[i].paths);
			continue;
		}
		s = slot_find(slots, cap, &c->slots[i].a, &c->slots[i].b);
		*s = c->slots[i];
		c->used++;
	}
	free(c->slots);
	c->slots = slots;
	c->cap = cap;
	return 0;
}

/*
 * The conflicts of a pair of commits, from the cache or merged now. The
 * returned set belongs to the cache.
 */
static int cache_pair(const struct merge_paths **out, struct merge_cache *c,
		      git_repository *repo, const git_commit *ca,
		      const git_commit *cb, char *err, size_t errlen)
{
	static const struct merge_paths none;
	const git_oid *a = git_commit_id(ca), *b = git_commit_id(cb);
	struct merge_cache_slot *s;
	struct merge_paths paths = { NULL, 0 };
	int merged, error;

	*out = &none;
	if (git_oid_equal(a, b))
		return 0;
	if (git_oid_cmp(a, b) > 0) {
		const git_oid *t = a;

		a = b;
		b = t;
	}
	if (c->cap) {
		s = slot_find(c->slots, c->cap, a, b);
		if (s->full) {
			s->gen = c->gen;
			c->hits++;
			*out = &s->paths;
			return 0;
		}
	}
	if ((error = pair_quick(&paths, &merged, repo, ca, cb, err,
				errlen)) < 0)
		return error;
	c->pairs++;
	c->merges += (unsigned long)merged;
	/* at most half full, so that probes stay short */
	if ((c->used + 1) * 2 > c->cap &&
	    (error = cache_rehash(c, c->cap ? c->cap * 2 : 64, 1)) < 0) {
		merge_paths_release(&paths);
		gitmsg_set(err, errlen, "cannot cache conflicts: %s",
		       strerror(-error));
		return error;
	}
	s = slot_find(c->slots, c->cap, a, b);
	s->a = *a;
	s->b = *b;
	s->gen = c->gen;
	s->full = 1;
	s->paths = paths;
	c->used++;
	*out = &s->paths;
	return 0;
}

void merge_matrix_release(struct merge_matrix *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		merge_paths_release(&m->v[i].paths);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static int matrix_add(struct merge_matrix *m, size_t *cap, int64_t a,
		      int64_t b, const struct merge_paths *paths)
{
	struct merge_conflict *v;

	if (m->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		if (!(v = realloc(m->v, ncap * sizeof(*v))))
			return -ENOMEM;
		m->v = v;
		*cap = ncap;
	}
	m->v[m->n].a = a;
	m->v[m->n].b = b;
	if (mg_paths_copy(&m->v[m->n].paths, paths) < 0)
		return -ENOMEM;
	m->n++;
	return 0;
}

static int cmp_conflict(const void *x, const void *y)
{
	const struct merge_conflict *p = x, *q = y;

	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	if (p->b != q->b)
		return p->b < q->b ? -1 : 1;
	return 0;
}

int merge_matrix_compute(struct merge_matrix *out, struct merge_cache *cache,
			 const char *repo_path, const char *base,
			 const struct merge_entry *e, size_t n,
			 char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *tip = NULL, **commits = NULL;
	const struct merge_paths *paths;
	size_t i, j, cap = 0;
	int error;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&cache->lock);
	cache->gen++;
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if (base) {
		if ((error = mg_resolve(&tip, repo, base, err, errlen)) < 0)
			goto out;
		git_oid_tostr(out->tip, sizeof(out->tip), git_commit_id(tip));
	}
	if (n && !(commits = calloc(n, sizeof(*commits)))) {
		error = -ENOMEM;
		gitmsg_set(err, errlen, "cannot compute conflicts: %s",
		       strerror(ENOMEM));
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((error = mg_resolve(&commits[i], repo, e[i].commit, err,
					errlen)) < 0)
			goto out;

	for (i = 0; i < n; i++) {
		if (tip) {
			if ((error = cache_pair(&paths, cache, repo,
						commits[i], tip, err,
						errlen)) < 0)
				goto out;
			if (paths->n && (error = matrix_add(out, &cap, e[i].id,
							    MERGE_TIP,
							    paths)) < 0)
				goto nomem;
		}
		for (j = i + 1; j < n; j++) {
			if ((error = cache_pair(&paths, cache, repo,
						commits[i], commits[j], err,
						errlen)) < 0)
				goto out;
			if (!paths->n)
				continue;
			error = e[i].id < e[j].id ?
				matrix_add(out, &cap, e[i].id, e[j].id, paths) :
				matrix_add(out, &cap, e[j].id, e[i].id, paths);
			if (error < 0)
				goto nomem;
		}
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_conflict);
	/* forget the pairs of tasks merged away and of tips moved past */
	for (i = 0; i < cache->cap; i++)
		if (cache->slots[i].full && cache->slots[i].gen != cache->gen)
			break;
	if (i < cache->cap)
		cache_rehash(cache, cache->cap, 0);
	goto out;
nomem:
	gitmsg_set(err, errlen, "cannot compute conflicts: %s", strerror(-error));
out:
	if (error < 0)
		merge_matrix_release(out);
	for (i = 0; commits && i < n; i++)
		git_commit_free(commits[i]);
	free(commits);
	git_commit_free(tip);
	git_repository_free(repo);
	pthread_mutex_unlock(&cache->lock);
	return error;
}
