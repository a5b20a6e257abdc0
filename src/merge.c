/*
 * merge: conflicts, merge orders, merges, push and worktree clean-up
 * through libgit2; see include/merge.h for the contract.
 *
 * The daemon's use of it, roughly:
 *
 *	merge_matrix_compute(&m, &cache, repo, "main", done, n, ...)
 *		files conflicts, conflicts.json, tasks/N/conflicts
 *	merge_order_compute(&o, repo, "main", done, n, ...)
 *		merge-order; merge all walks o.ids with merge_into
 *	merge_into(&r, repo, "pai/task-7", "main", &opts, ...)
 *		tasks/7/ctl merge
 *	merge_push(repo, "origin", "pai/task-7", 0, ...)
 *	merge_worktree_remove(repo, "pai-task-7", wt, "pai/task-7", ...)
 *
 * Conflict checks never write: git_merge_commits gives an in-memory
 * index. The merge order writes the commits it simulates into an
 * in-memory object backend (mempack) that dies with its repository
 * handle, so each simulated merge has a real commit whose merge base the
 * next one can find. Every function opens and frees its own repository.
 * One cleanup path per function: the goto out ladder.
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

#define DEFAULT_NAME "parallelai"
#define DEFAULT_EMAIL "parallelai@localhost"


/* ---- paths ---- */

void merge_paths_release(struct merge_paths *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* Append a copy of path; the set is put in order by paths_finish. */
static int paths_add(struct merge_paths *p, const char *path)
{
	char **v, *s;

	/* capacity is implied: 8, then doubled whenever n reaches a power of 2 */
	if (p->n == 0 || (p->n >= 8 && !(p->n & (p->n - 1)))) {
		size_t cap = p->n < 8 ? 8 : p->n * 2;

		if (!(v = realloc(p->v, cap * sizeof(*v))))
			return -ENOMEM;
		p->v = v;
	}
	if (!(s = strdup(path)))
		return -ENOMEM;
	p->v[p->n++] = s;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void paths_finish(struct merge_paths *p)
{
	size_t i, j;

	if (p->n < 2)
		return;
	qsort(p->v, p->n, sizeof(*p->v), cmp_str);
	for (i = 1, j = 1; i < p->n; i++) {
		if (!strcmp(p->v[i], p->v[j - 1]))
			free(p->v[i]);
		else
			p->v[j++] = p->v[i];
	}
	p->n = j;
}

static int paths_copy(struct merge_paths *dst, const struct merge_paths *src)
{
	size_t i;
	int error;

	dst->v = NULL;
	dst->n = 0;
	for (i = 0; i < src->n; i++)
		if ((error = paths_add(dst, src->v[i])) < 0) {
			merge_paths_release(dst);
			return error;
		}
	return 0;
}

/* "a b c" into buf, cut short with "..." when it does not fit. */
static const char *paths_join(char *buf, size_t len,
			      const struct merge_paths *p)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < p->n; i++) {
		char q[1024];
		int w;

		/* As git quotes them: a newline in a name forges no line. */
		quote_path(q, sizeof(q), p->v[i]);
		w = snprintf(buf + used, len - used, "%s%s", i ? " " : "", q);

		if (w < 0 || (size_t)w >= len - used) {
			if (len > 4)
				strcpy(buf + len - 4, "...");
			break;
		}
		used += (size_t)w;
	}
	return buf;
}

/* ---- repositories and commits ---- */

/* The commit spec names (anything git rev-parse takes). */
static int resolve(git_commit **out, git_repository *repo, const char *spec,
		   char *err, size_t errlen)
{
	git_object *obj = NULL;
	int error;

	*out = NULL;
	if (!spec || !*spec) {
		gitmsg_set(err, errlen, "not a commit: ''");
		return -EINVAL;
	}
	error = git_revparse_single(&obj, repo, spec);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot find commit '%s': %s", spec,
		       gitmsg_last());
		return error == GIT_EAMBIGUOUS || error == GIT_EINVALIDSPEC ?
		       -EINVAL : -ENOENT;
	}
	error = git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT);
	git_object_free(obj);
	if (error < 0) {
		gitmsg_set(err, errlen, "'%s' is not a commit: %s", spec,
		       gitmsg_last());
		return -EINVAL;
	}
	return 0;
}

/* The conflicting paths of a merged index: every side's path, once. */
static int index_conflicts(struct merge_paths *out, git_index *index)
{
	git_index_conflict_iterator *it = NULL;
	const git_index_entry *anc, *ours, *theirs;
	int error;

	if (!git_index_has_conflicts(index))
		return 0;
	if ((error = git_index_conflict_iterator_new(&it, index)) < 0)
		return -EIO;
	while ((error = git_index_conflict_next(&anc, &ours, &theirs,
						it)) == 0) {
		if ((anc && (error = paths_add(out, anc->path)) < 0) ||
		    (ours && (error = paths_add(out, ours->path)) < 0) ||
		    (theirs && (error = paths_add(out, theirs->path)) < 0))
			break;
	}
	git_index_conflict_iterator_free(it);
	if (error == GIT_ITEROVER)
		error = 0;
	else if (error > 0 || (error < 0 && error != -ENOMEM))
		error = -EIO;
	paths_finish(out);
	return error;
}

/*
 * The paths of a merged index where a file (or symbolic link, at any
 * stage) has entries below it as though it were a directory: the file
 * itself when it is at stage 0, and the stage 0 entries below it.
 */
static int clash_paths(struct merge_paths *out, git_index *index)
{
	size_t i, pos, len, n = git_index_entrycount(index);
	char dir[PATH_MAX];
	int error = 0;

	for (i = 0; i < n && error == 0; i++) {
		const git_index_entry *e = git_index_get_byindex(index, i);

		len = strlen(e->path);
		if (len + 2 > sizeof(dir))
			continue;
		memcpy(dir, e->path, len);
		memcpy(dir + len, "/", 2);
		if (git_index_find_prefix(&pos, index, dir) < 0)
			continue;
		if (git_index_entry_stage(e) == 0)
			error = paths_add(out, e->path);
		for (; pos < n && error == 0; pos++) {
			const git_index_entry *u = git_index_get_byindex(index,
									 pos);

			if (strncmp(u->path, dir, len + 1))
				break;
			if (git_index_entry_stage(u) == 0)
				error = paths_add(out, u->path);
		}
	}
	git_error_clear();	/* what find_prefix did not find */
	paths_finish(out);
	return error;
}

/*
 * Turn a merged index's file/directory clashes into conflicts. libgit2
 * (1.5) sees one only where both sides add the path: a directory turned
 * file (or symbolic link) on one side, with a file added in it on the
 * other, comes out as two clean entries, "e" and "e/two", and the tree
 * written from them keeps one and silently drops the other. git calls
 * it CONFLICT (file/directory); so do we: each clashing entry becomes
 * a conflict on the side it came from (ours when ours has it as it is),
 * and every caller refuses the merge as it does any other conflict.
 */
static int mark_clashes(git_index *index, git_tree *ours)
{
	struct merge_paths p = { NULL, 0 };
	git_tree_entry *te = NULL;
	size_t i;
	int error;

	if ((error = clash_paths(&p, index)) < 0) {
		git_error_set_oom();
		return -1;
	}
	for (i = 0; i < p.n && error == 0; i++) {
		const git_index_entry *e = git_index_get_bypath(index, p.v[i],
								0);
		git_index_entry copy;
		int is_ours;

		if (!e)
			continue;
		copy = *e;
		/* e goes when the conflict replaces it: keep our own path */
		copy.path = p.v[i];
		is_ours = git_tree_entry_bypath(&te, ours, p.v[i]) == 0 &&
			  git_oid_equal(git_tree_entry_id(te), &e->id) &&
			  git_tree_entry_filemode(te) == (git_filemode_t)e->mode;
		git_tree_entry_free(te);
		te = NULL;
		error = git_index_conflict_add(index, NULL,
					       is_ours ? &copy : NULL,
					       is_ours ? NULL : &copy);
	}
	merge_paths_release(&p);
	return error;
}

/* The three-way merge of two commits, in memory, clashes marked. */
static int merge_two(git_index **out, git_repository *repo,
		     const git_commit *ours, const git_commit *theirs)
{
	git_merge_options mo;
	git_tree *tree = NULL;
	int error;

	/* the _init functions: the macros leave fields to -Wextra's dismay */
	git_merge_options_init(&mo, GIT_MERGE_OPTIONS_VERSION);
	/* renames found (the default); no resolve-undo data: never checked out */
	mo.flags |= GIT_MERGE_SKIP_REUC;
	if ((error = git_merge_commits(out, repo, ours, theirs, &mo)) < 0)
		return error;
	if ((error = git_commit_tree(&tree, ours)) < 0 ||
	    (error = mark_clashes(*out, tree)) < 0) {
		git_index_free(*out);
		*out = NULL;
	}
	git_tree_free(tree);
	return error;
}

static int pair_conflicts(struct merge_paths *out, git_repository *repo,
			  const git_commit *a, const git_commit *b,
			  char *err, size_t errlen)
{
	git_index *index = NULL;
	char ha[GIT_OID_HEXSZ + 1], hb[GIT_OID_HEXSZ + 1];
	int error;

	if (git_oid_equal(git_commit_id(a), git_commit_id(b)))
		return 0;
	if ((error = merge_two(&index, repo, a, b)) < 0) {
		git_oid_tostr(ha, sizeof(ha), git_commit_id(a));
		git_oid_tostr(hb, sizeof(hb), git_commit_id(b));
		gitmsg_set(err, errlen, "cannot merge '%s' and '%s': %s", ha, hb,
		       gitmsg_last());
		return gitmsg_errno(error);
	}
	error = index_conflicts(out, index);
	git_index_free(index);
	if (error < 0) {
		merge_paths_release(out);
		gitmsg_set(err, errlen, "cannot list conflicts: %s",
		       strerror(-error));
	}
	return error;
}

static int signatures(git_signature **author, git_signature **committer,
		      git_repository *repo, const struct merge_options *o);

int merge_combine(char out[41], struct merge_paths *paths,
		  const char *repo_path, const char *base,
		  const char *const *commits, size_t n,
		  const char *message, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *cur = NULL, *dep = NULL, *made = NULL;
	git_signature *who = NULL, *committer = NULL;
	git_index *index = NULL;
	git_tree *tree = NULL;
	git_oid tree_id, oid;
	struct merge_options none = { 0 };
	size_t i;
	int error;

	memset(paths, 0, sizeof(*paths));
	out[0] = '\0';
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		return error;
	if ((error = resolve(&cur, repo, base, err, errlen)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const git_commit *parents[2];

		if ((error = resolve(&dep, repo, commits[i], err, errlen)) < 0)
			goto out;
		/* Already in, or simply ahead: no merge commit needed. */
		if (git_graph_descendant_of(repo, git_commit_id(cur),
					    git_commit_id(dep)) == 1 ||
		    git_oid_equal(git_commit_id(cur), git_commit_id(dep))) {
			git_commit_free(dep);
			dep = NULL;
			continue;
		}
		if (git_graph_descendant_of(repo, git_commit_id(dep),
					    git_commit_id(cur)) == 1) {
			git_commit_free(cur);
			cur = dep;
			dep = NULL;
			continue;
		}
		if ((error = pair_conflicts(paths, repo, cur, dep, err,
					    errlen)) < 0)
			goto out;
		if (paths->n) {
			char list[512];

			gitmsg_set(err, errlen, "dependencies conflict in %s",
			       paths_join(list, sizeof(list), paths));
			error = -EBUSY;
			goto out;
		}
		if ((error = merge_two(&index, repo, cur, dep)) < 0 ||
		    (error = git_index_write_tree_to(&tree_id, index,
						     repo)) < 0 ||
		    (error = git_tree_lookup(&tree, repo, &tree_id)) < 0 ||
		    (!who && (error = signatures(&who, &committer, repo,
						 &none)) < 0)) {
			gitmsg_set(err, errlen, "cannot merge dependency '%s': %s",
			       commits[i], gitmsg_last());
			error = gitmsg_errno(error);
			goto out;
		}
		parents[0] = cur;
		parents[1] = dep;
		error = git_commit_create(&oid, repo, NULL, who, committer, NULL,
					  message ? message :
					  "Merge dependencies", tree, 2,
					  parents);
		if (error == 0)
			error = git_commit_lookup(&made, repo, &oid);
		if (error < 0) {
			gitmsg_set(err, errlen, "cannot commit merged dependencies:"
			       " %s", gitmsg_last());
			error = gitmsg_errno(error);
			goto out;
		}
		git_commit_free(cur);
		cur = made;
		made = NULL;
		git_commit_free(dep);
		dep = NULL;
		git_index_free(index);
		index = NULL;
		git_tree_free(tree);
		tree = NULL;
	}
	git_oid_tostr(out, 41, git_commit_id(cur));
out:
	git_commit_free(made);
	git_commit_free(dep);
	git_commit_free(cur);
	git_index_free(index);
	git_tree_free(tree);
	git_signature_free(who);
	git_signature_free(committer);
	git_repository_free(repo);
	return error;
}

int merge_conflicts(struct merge_paths *paths, const char *repo_path,
		    const char *a, const char *b, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *ca = NULL, *cb = NULL;
	int error;

	paths->v = NULL;
	paths->n = 0;
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0 ||
	    (error = resolve(&ca, repo, a, err, errlen)) < 0 ||
	    (error = resolve(&cb, repo, b, err, errlen)) < 0)
		goto out;
	error = pair_conflicts(paths, repo, ca, cb, err, errlen);
out:
	git_commit_free(cb);
	git_commit_free(ca);
	git_repository_free(repo);
	return error;
}

/* ---- the pair cache ---- */

/* The paths that differ between two trees, renames as delete and add. */
static int changed_paths(struct merge_paths *out, git_repository *repo,
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

		error = paths_add(out, d->old_file.path);
		if (error == 0 && strcmp(d->old_file.path, d->new_file.path))
			error = paths_add(out, d->new_file.path);
	}
	git_diff_free(diff);
	paths_finish(out);
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
		error = paths_add(out, prefix);
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
	paths_finish(out);
	return error;
}

/* Whether the sorted set p has the first len bytes of s as a path. */
static int has_path(const struct merge_paths *p, const char *s, size_t len)
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
		if (has_path(b, p, strlen(p)) || has_under(b, p))
			return 1;
		for (slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/'))
			if (has_path(b, p, (size_t)(slash - p)))
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
	return pair_conflicts(out, repo, a, b, err, errlen);
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

/* ---- the conflict matrix ---- */

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
	if (paths_copy(&m->v[m->n].paths, paths) < 0)
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
		if ((error = resolve(&tip, repo, base, err, errlen)) < 0)
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
		if ((error = resolve(&commits[i], repo, e[i].commit, err,
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

/* ---- the merge order ---- */

void merge_order_release(struct merge_order *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->nleft; i++)
		merge_paths_release(&o->left[i].paths);
	free(o->left);
	free(o->ids);
	o->left = NULL;
	o->ids = NULL;
	o->n = o->nleft = 0;
}

enum { PENDING, IN, LEFT };

/* The index in tasks of id, or -1 when it is not in the list. */
static ssize_t task_index(const struct merge_task *t, size_t n, int64_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].id == id)
			return (ssize_t)i;
	return -1;
}

/*
 * The tree of a merged index, made as base plus the entries that differ
 * from it. git_index_write_tree_to would build every tree of the
 * repository again (and, with libgit2's strict object creation, which
 * gitwork_init turns off, read a header of every blob), which for a
 * 5,000-file tree costs far more than the merge; unchanged subtrees are
 * kept here by id, unread.
 */
static int tree_of_index(git_oid *out, git_repository *repo,
			 git_tree *base, git_index *index)
{
	git_diff_options dopts;
	git_diff *diff = NULL;
	git_tree_update *up = NULL;
	size_t i, n;
	int error;

	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	dopts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
	if ((error = git_diff_tree_to_index(&diff, repo, base, index,
					    &dopts)) < 0)
		return error;
	n = git_diff_num_deltas(diff);
	if (n && !(up = calloc(n, sizeof(*up)))) {
		error = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);

		if (d->status == GIT_DELTA_DELETED) {
			up[i].action = GIT_TREE_UPDATE_REMOVE;
			up[i].path = d->old_file.path;
		} else {
			up[i].action = GIT_TREE_UPDATE_UPSERT;
			up[i].path = d->new_file.path;
			up[i].id = d->new_file.id;
			up[i].filemode = d->new_file.mode;
		}
	}
	error = git_tree_create_updated(out, repo, base, n, up);
out:
	free(up);
	git_diff_free(diff);
	return error;
}

/*
 * Merge c into *side, in the repository's (in-memory) object store:
 * *side becomes the merge commit, or c itself when it fast-forwards.
 * conflicts gets the paths when it cannot merge (and *side stays).
 */
static int simulate(git_commit **side, git_repository *repo, git_commit *c,
		    const git_signature *sig, struct merge_paths *conflicts)
{
	git_index *index = NULL;
	git_tree *tree = NULL, *side_tree = NULL;
	git_commit *merged = NULL;
	const git_commit *parents[2];
	git_oid tree_id, id;
	int error;

	error = git_graph_descendant_of(repo, git_commit_id(*side),
					git_commit_id(c));
	if (error == 1 || git_oid_equal(git_commit_id(*side),
					git_commit_id(c)))
		return 0;	/* in it already */
	if (error < 0)
		return -EIO;
	error = git_graph_descendant_of(repo, git_commit_id(c),
					git_commit_id(*side));
	if (error == 1) {
		if (git_commit_dup(&merged, c) < 0)
			return -EIO;
		goto done;
	}
	if (error < 0 || (error = merge_two(&index, repo, *side, c)) < 0) {
		error = -EIO;
		goto out;
	}
	if (git_index_has_conflicts(index)) {
		error = index_conflicts(conflicts, index);
		goto out;
	}
	parents[0] = *side;
	parents[1] = c;
	/* a file turned directory may be beyond tree updates: the slow way */
	if (git_commit_tree(&side_tree, *side) < 0 ||
	    tree_of_index(&tree_id, repo, side_tree, index) < 0)
		error = git_index_write_tree_to(&tree_id, index, repo);
	if (error < 0 ||
	    (error = git_tree_lookup(&tree, repo, &tree_id)) < 0 ||
	    (error = git_commit_create(&id, repo, NULL, sig, sig, NULL,
				       "simulated merge\n", tree, 2,
				       parents)) < 0 ||
	    (error = git_commit_lookup(&merged, repo, &id)) < 0) {
		error = -EIO;
		goto out;
	}
done:
	git_commit_free(*side);
	*side = merged;
	error = 0;
out:
	git_tree_free(side_tree);
	git_tree_free(tree);
	git_index_free(index);
	return error;
}

static int cmp_left(const void *x, const void *y)
{
	const struct merge_left *p = x, *q = y;

	return p->id < q->id ? -1 : p->id > q->id;
}

int merge_order_compute(struct merge_order *out, const char *repo_path,
			const char *base, const struct merge_task *t,
			size_t n, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_odb_backend *mempack = NULL;
	git_signature *sig = NULL;
	git_commit *side = NULL, **commits = NULL;
	unsigned char *state = NULL;
	size_t i, k, done = 0;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	/*
	 * Simulated commits go to memory: the backend with the highest
	 * priority takes every write, and it dies with repo.
	 */
	if (git_repository_odb(&odb, repo) < 0 ||
	    git_mempack_new(&mempack) < 0 ||
	    git_odb_add_backend(odb, mempack, 999) < 0 ||
	    git_signature_new(&sig, DEFAULT_NAME, DEFAULT_EMAIL, 0, 0) < 0) {
		gitmsg_set(err, errlen, "cannot simulate merges in '%s': %s",
		       repo_path, gitmsg_last());
		error = -EIO;
		goto out;
	}
	if ((error = resolve(&side, repo, base, err, errlen)) < 0)
		goto out;
	git_oid_tostr(out->tip, sizeof(out->tip), git_commit_id(side));
	commits = calloc(n ? n : 1, sizeof(*commits));
	state = calloc(n ? n : 1, 1);
	out->ids = malloc((n ? n : 1) * sizeof(*out->ids));
	out->left = calloc(n ? n : 1, sizeof(*out->left));
	if (!commits || !state || !out->ids || !out->left) {
		error = -ENOMEM;
		gitmsg_set(err, errlen, "cannot compute merge order: %s",
		       strerror(ENOMEM));
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((error = resolve(&commits[i], repo, t[i].commit, err,
				     errlen)) < 0)
			goto out;

	while (done < n) {
		ssize_t next = -1;
		struct merge_left *l;

		/* the lowest id whose dependencies are all in (or absent) */
		for (i = 0; i < n; i++) {
			int ready = state[i] == PENDING;

			for (k = 0; ready && k < t[i].ndeps; k++) {
				ssize_t d = task_index(t, n, t[i].deps[k]);

				if (d >= 0 && state[d] != IN)
					ready = 0;
			}
			if (ready && (next < 0 || t[i].id < t[next].id))
				next = (ssize_t)i;
		}
		if (next >= 0) {
			l = &out->left[out->nleft];
			error = simulate(&side, repo, commits[next], sig,
					 &l->paths);
			if (error < 0) {
				gitmsg_set(err, errlen, "cannot simulate merge of "
				       "'%s': %s", t[next].commit,
				       error == -ENOMEM ? strerror(ENOMEM) :
				       gitmsg_last());
				goto out;
			}
			if (l->paths.n) {
				l->id = t[next].id;
				out->nleft++;
				state[next] = LEFT;
			} else {
				out->ids[out->n++] = t[next].id;
				state[next] = IN;
			}
			done++;
			continue;
		}
		/*
		 * Nothing ready: what is pending waits on a task left out,
		 * or on another pending one in a cycle. Leave out the first
		 * that waits on one left out, else every pending one.
		 */
		for (i = 0; i < n; i++) {
			for (k = 0; state[i] == PENDING && k < t[i].ndeps; k++) {
				ssize_t d = task_index(t, n, t[i].deps[k]);

				if (d >= 0 && state[d] == LEFT)
					break;
			}
			if (state[i] == PENDING && k < t[i].ndeps)
				break;
		}
		for (k = 0; k < n; k++) {
			size_t m;

			if (i < n && k != i)
				continue;
			if (state[k] != PENDING)
				continue;
			l = &out->left[out->nleft++];
			l->id = t[k].id;
			/* name one left out rather than one pending */
			for (m = 0; m < t[k].ndeps; m++) {
				ssize_t d = task_index(t, n, t[k].deps[m]);

				if (d >= 0 && state[d] != IN &&
				    (!l->blocked_by || state[d] == LEFT))
					l->blocked_by = t[k].deps[m];
			}
			state[k] = LEFT;
			done++;
		}
	}
	qsort(out->left, out->nleft, sizeof(*out->left), cmp_left);
out:
	if (error < 0)
		merge_order_release(out);
	for (i = 0; commits && i < n; i++)
		git_commit_free(commits[i]);
	free(commits);
	free(state);
	git_commit_free(side);
	git_signature_free(sig);
	git_odb_free(odb);
	git_repository_free(repo);
	return error;
}

/* ---- merging into the base branch ---- */

static const char *const strategy_names[] = { "merge", "squash", "rebase" };
static const char *const how_names[] = {
	"up to date", "fast-forward", "merge", "squash", "rebase"
};

const char *merge_strategy_name(enum merge_strategy s)
{
	return (unsigned)s < 3 ? strategy_names[s] : "unknown";
}

int merge_strategy_parse(const char *name, enum merge_strategy *out)
{
	unsigned i;

	for (i = 0; name && i < 3; i++)
		if (!strcmp(name, strategy_names[i])) {
			*out = (enum merge_strategy)i;
			return 0;
		}
	return -EINVAL;
}

const char *merge_how_name(enum merge_how h)
{
	return (unsigned)h < 5 ? how_names[h] : "unknown";
}

void merge_result_release(struct merge_result *r)
{
	if (!r)
		return;
	free(r->checkout);
	r->checkout = NULL;
	merge_paths_release(&r->paths);
}

static int nonempty(const char *s)
{
	return s && *s;
}

/* Author and committer: the options, else user.name/email, else ours. */
static int signatures(git_signature **author, git_signature **committer,
		      git_repository *repo, const struct merge_options *o)
{
	git_signature *def = NULL;
	const char *name, *email;
	int error;

	*author = *committer = NULL;
	if (git_signature_default(&def, repo) < 0)
		def = NULL;
	name = nonempty(o->author_name) ? o->author_name :
	       def ? def->name : DEFAULT_NAME;
	email = nonempty(o->author_email) ? o->author_email :
		def ? def->email : DEFAULT_EMAIL;
	if ((error = git_signature_now(author, name, email)) < 0)
		goto out;
	if (nonempty(o->committer_name))
		name = o->committer_name;
	if (nonempty(o->committer_email))
		email = o->committer_email;
	error = git_signature_now(committer, name, email);
out:
	git_signature_free(def);
	if (error < 0) {
		git_signature_free(*author);
		*author = NULL;
	}
	return error;
}

/* The default message of a merge or squash commit of what (tip..c). */
static int default_message(git_buf *out, git_repository *repo,
			   const char *what, const git_commit *tip,
			   const git_commit *c, int squash)
{
	git_revwalk *walk = NULL;
	git_commit *one = NULL;
	git_oid id;
	int count = 0, error;
	char *text = NULL;
	size_t len, used;

	if (!squash) {
		len = strlen(what) + 32;
		if (!(text = malloc(len)))
			return -ENOMEM;
		git_reference *ref = NULL;
		int branch = git_branch_lookup(&ref, repo, what,
					       GIT_BRANCH_LOCAL) == 0;

		git_reference_free(ref);
		snprintf(text, len, "Merge %s '%s'", branch ? "branch" :
			 "commit", what);
		goto pretty;
	}
	if ((error = git_revwalk_new(&walk, repo)) < 0 ||
	    (error = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL |
					 GIT_SORT_REVERSE)) < 0 ||
	    (error = git_revwalk_push(walk, git_commit_id(c))) < 0 ||
	    (error = git_revwalk_hide(walk, git_commit_id(tip))) < 0)
		goto out;
	len = strlen(what) + 64;
	used = 0;
	if (!(text = malloc(len))) {
		error = -ENOMEM;
		goto out;
	}
	used = (size_t)snprintf(text, len, "Squashed branch '%s'\n\n", what);
	while ((error = git_revwalk_next(&id, walk)) == 0) {
		const char *summary;
		size_t need;
		char *t;

		git_commit_free(one);
		if ((error = git_commit_lookup(&one, repo, &id)) < 0)
			goto out;
		if (git_commit_parentcount(one) > 1)
			continue;
		count++;
		summary = git_commit_summary(one);
		need = used + strlen(summary ? summary : "") + 4;
		if (need > len) {
			len = need * 2;
			if (!(t = realloc(text, len))) {
				error = -ENOMEM;
				goto out;
			}
			text = t;
		}
		used += (size_t)snprintf(text + used, len - used, "* %s\n",
					 summary ? summary : "");
	}
	if (error != GIT_ITEROVER)
		goto out;
	if (count == 1) {
		/* one commit: its own message says it best */
		free(text);
		text = strdup(git_commit_message(one));
		if (!text) {
			error = -ENOMEM;
			goto out;
		}
	}
pretty:
	error = git_message_prettify(out, text, 0, 0);
out:
	free(text);
	git_commit_free(one);
	git_revwalk_free(walk);
	return error;
}

/*
 * Replay tip..c onto tip in memory; *out gets the last commit (tip itself
 * when every commit was applied already). conflicts gets the paths of
 * the first commit that does not apply.
 */
static int rebase_onto(git_oid *out, git_repository *repo,
		       const git_commit *tip, const git_commit *c,
		       const git_signature *committer,
		       struct merge_paths *conflicts)
{
	git_rebase_options ro;
	git_rebase *rebase = NULL;
	git_rebase_operation *op;
	git_annotated_commit *branch = NULL, *upstream = NULL;
	git_index *index = NULL;
	git_commit *head = NULL;
	git_tree *head_tree = NULL;
	git_oid id;
	int error;

	git_rebase_options_init(&ro, GIT_REBASE_OPTIONS_VERSION);
	ro.inmemory = 1;
	git_oid_cpy(out, git_commit_id(tip));
	if ((error = git_annotated_commit_lookup(&branch, repo,
						 git_commit_id(c))) < 0 ||
	    (error = git_annotated_commit_lookup(&upstream, repo,
						 git_commit_id(tip))) < 0 ||
	    (error = git_rebase_init(&rebase, repo, branch, upstream, NULL,
				     &ro)) < 0)
		goto out;
	while ((error = git_rebase_next(&op, rebase)) == 0) {
		/* ours: what the replay has made so far */
		if ((error = git_rebase_inmemory_index(&index, rebase)) < 0 ||
		    (error = git_commit_lookup(&head, repo, out)) < 0 ||
		    (error = git_commit_tree(&head_tree, head)) < 0 ||
		    (error = mark_clashes(index, head_tree)) < 0)
			goto out;
		git_tree_free(head_tree);
		head_tree = NULL;
		git_commit_free(head);
		head = NULL;
		if (git_index_has_conflicts(index)) {
			error = index_conflicts(conflicts, index);
			if (error == 0)
				error = GIT_ECONFLICT;
			goto out;
		}
		git_index_free(index);
		index = NULL;
		/* the original author and message; us as the committer */
		error = git_rebase_commit(&id, rebase, NULL, committer, NULL,
					  NULL);
		if (error == GIT_EAPPLIED)
			continue;
		if (error < 0)
			goto out;
		git_oid_cpy(out, &id);
	}
	if (error == GIT_ITEROVER)
		error = 0;
out:
	git_tree_free(head_tree);
	git_commit_free(head);
	git_index_free(index);
	git_rebase_free(rebase);
	git_annotated_commit_free(upstream);
	git_annotated_commit_free(branch);
	return error;
}

/* ---- the last check before a merge lands ---- */

/* base..side, renames found as a merge finds them (base NULL: empty). */
static int side_diff(git_diff **out, git_repository *repo, git_tree *base,
		     git_tree *side)
{
	git_diff_options dopts;
	git_diff_find_options fopts;
	int error;

	git_diff_options_init(&dopts, GIT_DIFF_OPTIONS_VERSION);
	dopts.flags = GIT_DIFF_SKIP_BINARY_CHECK | GIT_DIFF_INCLUDE_TYPECHANGE;
	git_diff_find_options_init(&fopts, GIT_DIFF_FIND_OPTIONS_VERSION);
	fopts.flags = GIT_DIFF_FIND_RENAMES;
	/* git_merge_options' target_limit: no rename the merge saw missed */
	fopts.rename_limit = 1000;
	if ((error = git_diff_tree_to_tree(out, repo, base, side, &dopts)) < 0)
		return error;
	if ((error = git_diff_find_similar(*out, &fopts)) < 0) {
		git_diff_free(*out);
		*out = NULL;
	}
	return error;
}

/* Whether tree has something other than a directory at path. */
static int has_file(git_tree *tree, const char *path)
{
	git_tree_entry *e = NULL;
	int yes = git_tree_entry_bypath(&e, tree, path) == 0 &&
		  git_tree_entry_type(e) != GIT_OBJECT_TREE;

	git_tree_entry_free(e);
	git_error_clear();
	return yes;
}

/*
 * The paths side wrote (added, changed, renamed to) that result has no
 * file at, into lost; not those that other renamed away, whose change
 * the merge carries to the new name.
 */
static int lost_by(struct merge_paths *lost, git_diff *side,
		   git_diff *other, git_tree *result)
{
	struct merge_paths moved = { NULL, 0 };
	size_t i, n = git_diff_num_deltas(other);
	int error = 0;

	for (i = 0; i < n && error == 0; i++) {
		const git_diff_delta *d = git_diff_get_delta(other, i);

		if (d->status == GIT_DELTA_RENAMED)
			error = paths_add(&moved, d->old_file.path);
	}
	paths_finish(&moved);
	n = git_diff_num_deltas(side);
	for (i = 0; i < n && error == 0; i++) {
		const git_diff_delta *d = git_diff_get_delta(side, i);
		const char *path = d->new_file.path;

		if (d->status == GIT_DELTA_DELETED || has_file(result, path) ||
		    has_path(&moved, path, strlen(path)))
			continue;
		error = paths_add(lost, path);
	}
	merge_paths_release(&moved);
	return error;
}

/*
 * The paths the merge of ours and theirs into result would lose: each
 * one either side wrote since their merge base must be in result. A
 * merge without conflicts loses none; this is the last check before
 * one lands, against any clash that libgit2 does not see (as it did not
 * see a directory turned file). -ENOMEM, or a libgit2 error.
 */
static int lost_paths(struct merge_paths *lost, git_repository *repo,
		      const git_commit *ours, const git_commit *theirs,
		      git_tree *result)
{
	git_commit *base = NULL;
	git_tree *tb = NULL, *to = NULL, *tt = NULL;
	git_diff *dours = NULL, *dtheirs = NULL;
	git_oid id;
	int error;

	/* unrelated histories: both sides wrote all they have */
	error = git_merge_base(&id, repo, git_commit_id(ours),
			       git_commit_id(theirs));
	if (error == GIT_ENOTFOUND)
		git_error_clear();
	else if (error < 0 ||
		 (error = git_commit_lookup(&base, repo, &id)) < 0 ||
		 (error = git_commit_tree(&tb, base)) < 0)
		goto out;
	if ((error = git_commit_tree(&to, ours)) < 0 ||
	    (error = git_commit_tree(&tt, theirs)) < 0 ||
	    (error = side_diff(&dours, repo, tb, to)) < 0 ||
	    (error = side_diff(&dtheirs, repo, tb, tt)) < 0 ||
	    (error = lost_by(lost, dours, dtheirs, result)) < 0 ||
	    (error = lost_by(lost, dtheirs, dours, result)) < 0)
		goto out;
	paths_finish(lost);
out:
	git_diff_free(dtheirs);
	git_diff_free(dours);
	git_tree_free(tt);
	git_tree_free(to);
	git_tree_free(tb);
	git_commit_free(base);
	return error;
}

/* Whether repo's working tree has refname checked out. */
/*
 * Whether repo is rebasing refname. A rebase detaches HEAD, yet the
 * branch is still that checkout's: moving it meanwhile would make the
 * rebase's end fail or drop the merge (git refuses to check out a branch
 * being rebased elsewhere for the same reason).
 */
static int rebasing(git_repository *repo, const char *refname)
{
	static const char *const dirs[] = { "rebase-merge", "rebase-apply" };
	char path[PATH_MAX], name[1024];
	size_t i;
	FILE *f;
	int yes = 0;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !yes; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s/head-name",
				     git_repository_path(repo), dirs[i]) >=
		    sizeof(path) || !(f = fopen(path, "re")))
			continue;
		if (fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = '\0';
			yes = !strcmp(name, refname);
		}
		fclose(f);
	}
	return yes;
}

static int has_checked_out(git_repository *repo, const char *refname)
{
	git_reference *head = NULL;
	int yes;

	if (git_repository_is_bare(repo) ||
	    git_reference_lookup(&head, repo, "HEAD") < 0)
		return 0;
	yes = (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
	       !strcmp(git_reference_symbolic_target(head), refname)) ||
	      rebasing(repo, refname);
	git_reference_free(head);
	return yes;
}

/*
 * The working tree that has refname checked out, opened on its own
 * (*out NULL when none has): the repository's own, the main one when repo
 * is a linked worktree, or one of the linked worktrees.
 */
static int find_checkout(git_repository **out, git_repository *repo,
			 const char *refname)
{
	git_strarray names = { NULL, 0 };
	git_repository *r = NULL;
	git_worktree *wt = NULL;
	size_t i;

	*out = NULL;
	if (!git_repository_is_bare(repo) &&
	    git_repository_open_ext(&r, git_repository_workdir(repo),
				    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0) {
		if (has_checked_out(r, refname))
			goto found;
		git_repository_free(r);
		r = NULL;
	}
	if (git_repository_is_worktree(repo) &&
	    git_repository_open_ext(&r, git_repository_commondir(repo),
				    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) == 0) {
		if (has_checked_out(r, refname))
			goto found;
		git_repository_free(r);
		r = NULL;
	}
	if (git_worktree_list(&names, repo) < 0)
		return 0;
	for (i = 0; i < names.count; i++) {
		if (git_worktree_lookup(&wt, repo, names.strings[i]) == 0 &&
		    git_worktree_validate(wt) == 0 &&
		    git_repository_open_from_worktree(&r, wt) == 0) {
			if (has_checked_out(r, refname))
				break;
			git_repository_free(r);
		}
		r = NULL;
		git_worktree_free(wt);
		wt = NULL;
	}
	git_worktree_free(wt);
	git_strarray_dispose(&names);
	if (!r)
		return 0;
found:
	*out = r;
	return 0;
}

/*
 * The paths among touched with anything uncommitted in wt: staged or
 * unstaged changes, conflicts, untracked or ignored files.
 */
static int dirty_paths(struct merge_paths *out, git_repository *wt,
		       const struct merge_paths *touched)
{
	git_status_options so;
	git_status_list *list = NULL;
	size_t i, n;
	int error;

	git_status_options_init(&so, GIT_STATUS_OPTIONS_VERSION);
	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED |
		   GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
		   GIT_STATUS_OPT_INCLUDE_IGNORED |
		   GIT_STATUS_OPT_RECURSE_IGNORED_DIRS |
		   GIT_STATUS_OPT_DISABLE_PATHSPEC_MATCH |
		   GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	so.pathspec.strings = touched->v;
	so.pathspec.count = touched->n;
	if ((error = git_status_list_new(&list, wt, &so)) < 0)
		return -EIO;
	n = git_status_list_entrycount(list);
	for (i = 0; i < n && error == 0; i++) {
		const git_status_entry *s = git_status_byindex(list, i);
		const git_diff_delta *d = s->head_to_index ? s->head_to_index :
					  s->index_to_workdir;

		if (s->status == GIT_STATUS_CURRENT || !d)
			continue;
		error = paths_add(out, d->new_file.path ? d->new_file.path :
				  d->old_file.path);
	}
	git_status_list_free(list);
	paths_finish(out);
	return error;
}

static int note_conflict(git_checkout_notify_t why, const char *path,
			 const git_diff_file *baseline,
			 const git_diff_file *target,
			 const git_diff_file *workdir, void *payload)
{
	(void)why;
	(void)baseline;
	(void)target;
	(void)workdir;
	return paths_add(payload, path) < 0 ? -1 : 0;
}

static const char *kind_name(mode_t mode)
{
	return S_ISLNK(mode) ? "symbolic link" : S_ISDIR(mode) ? "directory" :
	       "file";
}

/* Whether tree has a directory at path. */
static int has_dir(git_tree *tree, const char *path)
{
	git_tree_entry *e = NULL;
	int yes = git_tree_entry_bypath(&e, tree, path) == 0 &&
		  git_tree_entry_type(e) == GIT_OBJECT_TREE;

	git_tree_entry_free(e);
	git_error_clear();
	return yes;
}

/*
 * Whether the checkout may write path (a repository path) where the
 * working tree is full[0..dirlen) (ending in '/'): 1 when something is
 * in the way, with why naming it; 0 when not; -errno when lstat fails.
 * Each leading directory must be a directory, or be missing (the rest
 * is made fresh), or be a file or symbolic link that from tracks and to
 * turns into a directory (the checkout removes it first, and nothing
 * below it is looked at). The path itself must be missing or tracked in
 * from (its uncommitted changes are dirty_paths' to find). lstat only:
 * a symbolic link is never followed.
 */
static int one_blocked(char *why, size_t whylen, char *full, size_t dirlen,
		       const char *path, git_tree *from, git_tree *to)
{
	size_t len = strlen(path), k;
	struct stat st;
	char c;

	if (dirlen + len >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(full + dirlen, path, len + 1);
	for (k = dirlen; ; k++) {
		if ((c = full[k]) != '/' && c != '\0')
			continue;
		full[k] = '\0';
		if (lstat(full, &st) < 0)
			return errno == ENOENT ? 0 : -errno;
		if (c == '\0') {
			if (has_file(from, path) || has_dir(from, path))
				return 0;
			gitmsg_set(why, whylen, "untracked %s '%s' is in the way",
			       kind_name(st.st_mode), path);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			const char *lead = full + dirlen;

			if (has_file(from, lead) && has_dir(to, lead))
				return 0;
			gitmsg_set(why, whylen, "%s%s '%s' is in the way of '%s'",
			       has_file(from, lead) || has_dir(from, lead) ?
			       "" : "untracked ", kind_name(st.st_mode), lead,
			       path);
			return 1;
		}
		full[k] = c;
	}
}

/*
 * Whether the touched paths can be written in the working tree at dir
 * without leaving it or overwriting what git does not know of there.
 * libgit2's checkout makes a path's directories the way mkdir -p does,
 * through a symbolic link where a directory should be, and writes a
 * file over what it finds: an untracked link "newdir" to a directory
 * outside took a merge's "newdir/other" out of the repository.
 * blocked gets the first path in the way, why says what it is.
 */
static int paths_blocked(struct merge_paths *blocked, char *why,
			 size_t whylen, const char *dir, git_tree *from,
			 git_tree *to, const struct merge_paths *touched)
{
	char full[PATH_MAX];
	size_t i, dirlen = strlen(dir);
	int error = 0;

	if (dirlen >= sizeof(full))
		return -ENAMETOOLONG;
	memcpy(full, dir, dirlen + 1);
	for (i = 0; i < touched->n && error == 0; i++)
		error = one_blocked(why, whylen, full, dirlen, touched->v[i],
				    from, to);
	if (error == 1)
		error = paths_add(blocked, full + dirlen);
	return error;
}

/*
 * Bring wt's files and index from tree from to tree to, for the touched
 * paths only, never overwriting anything that differs from from; with
 * dry, only find out whether it could (conflicts gets what is in the way).
 */
static int checkout_paths(git_repository *wt, const git_oid *from_id,
			  const git_oid *to_id,
			  const struct merge_paths *touched, int dry,
			  struct merge_paths *conflicts)
{
	git_checkout_options co;
	git_tree *from = NULL, *to = NULL;
	int error;

	/* trees of wt's own: libgit2 refuses another handle's objects */
	if ((error = git_tree_lookup(&from, wt, from_id)) < 0 ||
	    (error = git_tree_lookup(&to, wt, to_id)) < 0)
		goto out;

	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_SAFE |
			       GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH |
			       GIT_CHECKOUT_DONT_OVERWRITE_IGNORED;
	if (dry)
		co.checkout_strategy |= GIT_CHECKOUT_DRY_RUN;
	/* the branch may have moved already: say what the files should be */
	co.baseline = from;
	co.paths.strings = touched->v;
	co.paths.count = touched->n;
	co.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT;
	co.notify_cb = note_conflict;
	co.notify_payload = conflicts;
	error = git_checkout_tree(wt, (git_object *)to, &co);
	paths_finish(conflicts);
out:
	git_tree_free(to);
	git_tree_free(from);
	return error;
}

static const char *state_name(int state)
{
	switch (state) {
	case GIT_REPOSITORY_STATE_MERGE:
		return "a merge";
	case GIT_REPOSITORY_STATE_REVERT:
	case GIT_REPOSITORY_STATE_REVERT_SEQUENCE:
		return "a revert";
	case GIT_REPOSITORY_STATE_CHERRYPICK:
	case GIT_REPOSITORY_STATE_CHERRYPICK_SEQUENCE:
		return "a cherry-pick";
	case GIT_REPOSITORY_STATE_BISECT:
		return "a bisect";
	case GIT_REPOSITORY_STATE_APPLY_MAILBOX:
	case GIT_REPOSITORY_STATE_APPLY_MAILBOX_OR_REBASE:
		return "git am";
	default:
		return "a rebase";
	}
}

/*
 * Whether wt's files and index can go from tree from to tree to in the
 * touched paths: no git command running there, no merge or rebase under
 * way, nothing uncommitted in those paths and nothing in their way.
 * -EBUSY with err and r->paths saying why; else r->checkout names wt's
 * directory.
 */
static int checkout_ready(struct merge_result *r, git_repository *wt,
			  git_tree *from, git_tree *to,
			  const struct merge_paths *touched, const char *what,
			  const char *into, char *err, size_t errlen)
{
	const char *dir;
	char lock[PATH_MAX], list[768], why[PATH_MAX + 128];
	struct stat st;
	size_t n;
	int state, error;

	if (!(r->checkout = strdup(git_repository_workdir(wt)))) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': %s", what,
		       into, strerror(ENOMEM));
		return -ENOMEM;
	}
	/* libgit2 ends it with a slash; paths elsewhere do not */
	n = strlen(r->checkout);
	while (n > 1 && r->checkout[n - 1] == '/')
		r->checkout[--n] = '\0';
	dir = r->checkout;

	/*
	 * A git command running there holds the index: fail now, not after
	 * the branch has moved.
	 */
	snprintf(lock, sizeof(lock), "%sindex.lock", git_repository_path(wt));
	if (lstat(lock, &st) == 0) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': '%s' exists: "
		       "another git process seems to be running there", what,
		       into, lock);
		return -EBUSY;
	}
	state = git_repository_state(wt);
	if (state != GIT_REPOSITORY_STATE_NONE) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': '%s' is in "
		       "the middle of %s", what, into, dir, state_name(state));
		return -EBUSY;
	}
	if ((error = dirty_paths(&r->paths, wt, touched)) < 0) {
		gitmsg_set(err, errlen, "cannot read status of '%s': %s", dir,
		       gitmsg_last());
		return error;
	}
	if (r->paths.n)
		goto dirty;
	error = paths_blocked(&r->paths, why, sizeof(why),
			      git_repository_workdir(wt), from, to, touched);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': cannot "
		       "look into '%s': %s", what, into, dir, strerror(-error));
		return error;
	}
	if (r->paths.n) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': %s in '%s'",
		       what, into, why, dir);
		return -EBUSY;
	}
	error = checkout_paths(wt, git_tree_id(from), git_tree_id(to), touched,
			       1, &r->paths);
	if (error < 0 && (error != GIT_ECONFLICT || !r->paths.n)) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': cannot "
		       "check out in '%s': %s", what, into, dir, gitmsg_last());
		return gitmsg_errno(error);
	}
	if (!r->paths.n)
		return 0;
dirty:
	gitmsg_set(err, errlen, "cannot merge '%s' into '%s': uncommitted "
	       "changes in '%s' would be overwritten: %s", what, into, dir,
	       paths_join(list, sizeof(list), &r->paths));
	return -EBUSY;
}

/* Merges into a branch and its checkout are one at a time. */
static pthread_mutex_t merge_lock = PTHREAD_MUTEX_INITIALIZER;

static int merge_locked(struct merge_result *r, const char *repo_path,
			const char *what, const char *into,
			const struct merge_options *o, char *err,
			size_t errlen)
{
	git_repository *repo = NULL, *wt = NULL;
	git_reference *ref = NULL, *moved = NULL;
	git_commit *tip = NULL, *c = NULL, *result = NULL;
	git_tree *tip_tree = NULL, *tree = NULL;
	git_index *index = NULL;
	git_signature *author = NULL, *committer = NULL;
	git_buf msg = { 0 };
	struct merge_paths touched = { NULL, 0 };
	char refname[1024], logmsg[1200], list[768];
	const char *strat = merge_strategy_name(o->strategy);
	git_oid new_id, tree_id;
	int ff, error;

	if ((size_t)snprintf(refname, sizeof(refname), "%s%s",
			     strncmp(into, "refs/heads/", 11) ?
			     "refs/heads/" : "", into) >= sizeof(refname)) {
		gitmsg_set(err, errlen, "invalid branch name '%s'", into);
		return -EINVAL;
	}
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	error = git_reference_lookup(&ref, repo, refname);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot merge into '%s': %s", into,
		       error == GIT_ENOTFOUND ? "no such branch" : gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	if ((error = git_reference_peel((git_object **)&tip, ref,
					GIT_OBJECT_COMMIT)) < 0) {
		gitmsg_set(err, errlen, "cannot merge into '%s': %s", into,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	git_oid_tostr(r->old, sizeof(r->old), git_commit_id(tip));
	git_oid_tostr(r->oid, sizeof(r->oid), git_commit_id(tip));
	if ((error = resolve(&c, repo, what, err, errlen)) < 0)
		goto out;

	/* in it already: nothing to do */
	if (git_oid_equal(git_commit_id(c), git_commit_id(tip)) ||
	    git_graph_descendant_of(repo, git_commit_id(tip),
				    git_commit_id(c)) == 1) {
		r->how = MERGE_HOW_UP_TO_DATE;
		goto out;
	}
	ff = git_graph_descendant_of(repo, git_commit_id(c),
				     git_commit_id(tip)) == 1;
	if ((error = signatures(&author, &committer, repo, o)) < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s': %s", what, gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}

	/* the new tip, written to the object store but not referenced yet */
	if (ff && o->strategy != MERGE_STRATEGY_SQUASH) {
		git_oid_cpy(&new_id, git_commit_id(c));
		r->how = MERGE_HOW_FAST_FORWARD;
	} else if (o->strategy == MERGE_STRATEGY_REBASE) {
		error = rebase_onto(&new_id, repo, tip, c, committer,
				    &r->paths);
		if (error == GIT_ECONFLICT)
			goto conflict;
		if (error < 0) {
			gitmsg_set(err, errlen, "cannot rebase '%s' onto '%s': %s",
			       what, into, error == -ENOMEM ?
			       strerror(ENOMEM) : gitmsg_last());
			error = error == -ENOMEM ? error : gitmsg_errno(error);
			goto out;
		}
		if (git_oid_equal(&new_id, git_commit_id(tip))) {
			r->how = MERGE_HOW_UP_TO_DATE;
			goto out;
		}
		r->how = MERGE_HOW_REBASE;
	} else {
		const git_commit *parents[2] = { tip, c };

		if (ff) {
			git_oid_cpy(&tree_id, git_commit_tree_id(c));
		} else {
			if ((error = merge_two(&index, repo, tip, c)) < 0) {
				gitmsg_set(err, errlen, "cannot merge '%s' into "
				       "'%s': %s", what, into, gitmsg_last());
				error = gitmsg_errno(error);
				goto out;
			}
			if (git_index_has_conflicts(index)) {
				if ((error = index_conflicts(&r->paths,
							     index)) < 0)
					goto nomem;
				goto conflict;
			}
			if ((error = git_index_write_tree_to(&tree_id, index,
							     repo)) < 0)
				goto giterror;
		}
		if (o->message)
			error = git_message_prettify(&msg, o->message, 0, 0);
		else
			error = default_message(&msg, repo, what, tip, c,
						o->strategy ==
						MERGE_STRATEGY_SQUASH);
		if (error < 0 ||
		    (error = git_tree_lookup(&tree, repo, &tree_id)) < 0 ||
		    (error = git_commit_create(&new_id, repo, NULL, author,
					       committer, NULL, msg.ptr, tree,
					       o->strategy ==
					       MERGE_STRATEGY_SQUASH ? 1 : 2,
					       parents)) < 0)
			goto giterror;
		r->how = o->strategy == MERGE_STRATEGY_SQUASH ?
			 MERGE_HOW_SQUASH : MERGE_HOW_MERGE;
	}
	git_tree_free(tree);
	tree = NULL;
	if ((error = git_commit_lookup(&result, repo, &new_id)) < 0 ||
	    (error = git_commit_tree(&tree, result)) < 0 ||
	    (error = git_commit_tree(&tip_tree, tip)) < 0)
		goto giterror;
	/* a merge that drops what a side wrote must not land */
	if (r->how != MERGE_HOW_FAST_FORWARD &&
	    (error = lost_paths(&r->paths, repo, tip, c, tree)) < 0)
		goto giterror;
	if (r->paths.n) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': the merge "
		       "would lose %s", what, into,
		       paths_join(list, sizeof(list), &r->paths));
		error = -EBUSY;
		goto out;
	}
	if ((error = changed_paths(&touched, repo, tip_tree, tree)) < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': cannot diff: "
		       "%s", what, into, gitmsg_last());
		goto out;
	}

	/* the checkout that shows the branch: safe to update? */
	find_checkout(&wt, repo, refname);
	if (wt && !touched.n) {
		/* nothing to change there; and no paths would mean all */
		git_repository_free(wt);
		wt = NULL;
	}
	if (wt && (error = checkout_ready(r, wt, tip_tree, tree, &touched,
					  what, into, err, errlen)) < 0)
		goto out;

	/* only if it did not move meanwhile (a commit in the checkout) */
	snprintf(logmsg, sizeof(logmsg), "parallelai: %s %s: %s", strat,
		 what, merge_how_name(r->how));
	error = git_reference_create_matching(&moved, repo, refname, &new_id,
					      1, git_commit_id(tip), logmsg);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot update '%s': %s", into,
		       error == GIT_EMODIFIED ? "the branch moved during the "
		       "merge" : gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	if (wt && (error = checkout_paths(wt, git_tree_id(tip_tree),
					  git_tree_id(tree), &touched, 0,
					  &r->paths)) < 0) {
		git_reference *back = NULL;

		gitmsg_set(err, errlen, "cannot check out merge of '%s' in '%s': "
		       "%s", what, r->checkout, gitmsg_last());
		/* put the branch back: files and index are as they were */
		if (git_reference_create_matching(&back, repo, refname,
						  git_commit_id(tip), 1,
						  &new_id, logmsg) == 0)
			git_reference_free(back);
		error = gitmsg_errno(error);
		goto out;
	}
	git_oid_tostr(r->oid, sizeof(r->oid), &new_id);
	goto out;

conflict:
	gitmsg_set(err, errlen, "cannot merge '%s' into '%s': conflict in %s",
	       what, into, paths_join(list, sizeof(list), &r->paths));
	error = -EBUSY;
	goto out;
giterror:
	gitmsg_set(err, errlen, "cannot merge '%s' into '%s': %s", what, into,
	       gitmsg_last());
	error = error == -ENOMEM ? error : gitmsg_errno(error);
	goto out;
nomem:
	gitmsg_set(err, errlen, "cannot merge '%s' into '%s': %s", what, into,
	       strerror(-error));
out:
	/* r->oid still names the tip unless the merge went through */
	if (error < 0) {
		free(r->checkout);
		r->checkout = NULL;
	}
	merge_paths_release(&touched);
	git_buf_dispose(&msg);
	git_signature_free(committer);
	git_signature_free(author);
	git_index_free(index);
	git_tree_free(tree);
	git_tree_free(tip_tree);
	git_commit_free(result);
	git_commit_free(c);
	git_commit_free(tip);
	git_reference_free(moved);
	git_reference_free(ref);
	git_repository_free(wt);
	git_repository_free(repo);
	return error;
}

int merge_into(struct merge_result *r, const char *repo_path,
	       const char *what, const char *into,
	       const struct merge_options *opts, char *err, size_t errlen)
{
	static const struct merge_options defaults;
	int error;

	memset(r, 0, sizeof(*r));
	if (!what || !*what || !into || !*into) {
		gitmsg_set(err, errlen, "cannot merge: no %s given",
		       what && *what ? "branch to merge into" : "commit");
		return -EINVAL;
	}
	pthread_mutex_lock(&merge_lock);
	error = merge_locked(r, repo_path, what, into,
			     opts ? opts : &defaults, err, errlen);
	pthread_mutex_unlock(&merge_lock);
	return error;
}

/* ---- push ---- */

struct push_state {
	int tries;
	char rejected[1200];
};

static int push_credentials(git_credential **out, const char *url,
			    const char *user, unsigned int allowed,
			    void *payload)
{
	struct push_state *ps = payload;

	(void)url;
	/* one attempt: libgit2 asks again for as long as we answer */
	if (ps->tries++)
		return GIT_PASSTHROUGH;
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && user)
		return git_credential_ssh_key_from_agent(out, user);
	if ((allowed & GIT_CREDENTIAL_USERNAME) && user)
		return git_credential_username_new(out, user);
	return GIT_PASSTHROUGH;
}

static int push_status(const char *refname, const char *status, void *data)
{
	struct push_state *ps = data;

	if (status && !ps->rejected[0])
		snprintf(ps->rejected, sizeof(ps->rejected), "%s (%s)",
			 refname, status);
	return 0;
}

/*
 * A non-fast-forward is refused by git's receive-pack, but libgit2's
 * transport to a local path updates the ref regardless: check here what
 * the remote advertises. why gets the reason when it is not one.
 */
static int check_fast_forward(git_remote *remote, git_repository *repo,
			      git_reference *ref, const char *refname,
			      char *why, size_t whylen)
{
	const git_remote_head **heads;
	const git_oid *local = git_reference_target(ref);
	size_t i, n;
	int error;

	if (!local)
		return 0;
	if ((error = git_remote_ls(&heads, &n, remote)) < 0)
		return error;
	for (i = 0; i < n; i++) {
		if (strcmp(heads[i]->name, refname) ||
		    git_oid_equal(&heads[i]->oid, local))
			continue;
		/* an object we do not have cannot be an ancestor */
		if (git_graph_descendant_of(repo, local, &heads[i]->oid) != 1)
			snprintf(why, whylen, "%s (non-fast-forward)",
				 refname);
		break;
	}
	git_error_clear();
	return 0;
}

/*
 * The longest of cfg's url.<base>.<key> values that prefixes url, and its
 * base (malloc'd), as git picks an insteadOf rewrite.
 */
static int find_instead(char **base, size_t *matched, git_config *cfg,
			const char *key, const char *url)
{
	git_config_iterator *it = NULL;
	git_config_entry *e;
	size_t klen = strlen(key), len, vlen;

	if (git_config_iterator_new(&it, cfg) < 0)
		return -EIO;
	while (git_config_next(&e, it) == 0) {
		len = strlen(e->name);
		vlen = strlen(e->value);
		if (strncmp(e->name, "url.", 4) || len < 4 + klen + 1 ||
		    strcmp(e->name + len - klen, key) ||
		    e->name[len - klen - 1] != '.' ||
		    strncmp(url, e->value, vlen) || vlen <= *matched)
			continue;
		free(*base);
		if (!(*base = strndup(e->name + 4, len - 4 - klen - 1))) {
			git_config_iterator_free(it);
			return -ENOMEM;
		}
		*matched = vlen;
	}
	git_config_iterator_free(it);
	return 0;
}

/*
 * Where a push to remote goes: remote.NAME.pushurl, else remote.NAME.url
 * rewritten by url.*.pushInsteadOf or insteadOf; a name that is not
 * configured but looks like a URL or path is one. Read here rather than
 * by git_remote_lookup, whose regex matching leaks in libgit2 1.5.1
 * (fixed upstream by libgit2 PR #6382).
 */
static int push_url(char **out, git_repository *repo, const char *name)
{
	git_config *cfg = NULL;
	git_buf v = { 0 };
	char key[512], *base = NULL;
	const char *url = name;
	size_t matched = 0;
	int error = 0;

	*out = NULL;
	if (git_repository_config_snapshot(&cfg, repo) < 0)
		return -EIO;
	snprintf(key, sizeof(key), "remote.%s.pushurl", name);
	if (git_config_get_string_buf(&v, cfg, key) == 0) {
		/* a pushurl is taken as it is */
		url = v.ptr;
		goto copy;
	}
	snprintf(key, sizeof(key), "remote.%s.url", name);
	if (git_config_get_string_buf(&v, cfg, key) == 0) {
		url = v.ptr;
	} else if (!strchr(name, '/') && !strchr(name, ':')) {
		error = -ENOENT;
		goto out;
	}
	error = find_instead(&base, &matched, cfg, "pushinsteadof", url);
	if (error == 0 && !base)
		error = find_instead(&base, &matched, cfg, "insteadof", url);
	if (error < 0)
		goto out;
	if (base) {
		size_t len = strlen(base) + strlen(url + matched) + 1;

		if ((*out = malloc(len)))
			snprintf(*out, len, "%s%s", base, url + matched);
		goto done;
	}
copy:
	*out = strdup(url);
done:
	if (!*out)
		error = -ENOMEM;
out:
	free(base);
	git_buf_dispose(&v);
	git_config_free(cfg);
	return error;
}

int merge_push(const char *repo_path, const char *remote_name,
	       const char *branch, int force, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_remote *remote = NULL;
	git_reference *ref = NULL;
	git_push_options po;
	struct push_state ps;
	char spec[2060], refname[1024];
	char *specs[1] = { spec };
	git_strarray refspecs = { specs, 1 };
	char *url = NULL;
	int error;

	memset(&ps, 0, sizeof(ps));
	if (!remote_name || !*remote_name || !branch || !*branch) {
		gitmsg_set(err, errlen, "cannot push: no %s given",
		       branch && *branch ? "remote" : "branch");
		return -EINVAL;
	}
	if ((size_t)snprintf(refname, sizeof(refname), "%s%s",
			     strncmp(branch, "refs/heads/", 11) ?
			     "refs/heads/" : "", branch) >= sizeof(refname)) {
		gitmsg_set(err, errlen, "invalid branch name '%s'", branch);
		return -EINVAL;
	}
	snprintf(spec, sizeof(spec), "%s%s:%s", force ? "+" : "", refname,
		 refname);
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if ((error = git_reference_lookup(&ref, repo, refname)) < 0) {
		gitmsg_set(err, errlen, "cannot push '%s': %s", branch,
		       error == GIT_ENOTFOUND ? "no such branch" : gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	if ((error = push_url(&url, repo, remote_name)) == -ENOENT) {
		gitmsg_set(err, errlen, "cannot push '%s': no such remote '%s'",
		       branch, remote_name);
		goto out;
	}
	if (error == 0) {
		git_remote_create_options co;

		/* insteadOf is applied by push_url already */
		git_remote_create_options_init(&co,
					       GIT_REMOTE_CREATE_OPTIONS_VERSION);
		co.repository = repo;
		co.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
			   GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
		error = git_remote_create_with_opts(&remote, url, &co);
	}
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot push '%s' to '%s': %s", branch,
		       remote_name, gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks.credentials = push_credentials;
	po.callbacks.push_update_reference = push_status;
	po.callbacks.payload = &ps;
	error = git_remote_connect(remote, GIT_DIRECTION_PUSH, &po.callbacks,
				   &po.proxy_opts, &po.custom_headers);
	if (error == 0 && !force)
		error = check_fast_forward(remote, repo, ref, refname,
					   ps.rejected, sizeof(ps.rejected));
	if (error == 0 && ps.rejected[0])
		goto rejected;
	if (error == 0)
		error = git_remote_push(remote, &refspecs, &po);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot push '%s' to '%s': %s", branch,
		       remote_name, gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	if (ps.rejected[0]) {
rejected:
		gitmsg_set(err, errlen, "cannot push '%s' to '%s': rejected %s",
		       branch, remote_name, ps.rejected);
		error = -EBUSY;
	}
out:
	free(url);
	git_reference_free(ref);
	git_remote_free(remote);
	git_repository_free(repo);
	return error;
}

/* ---- clean-up ---- */

static int rm_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(fpath) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(fpath) < 0 && errno != ENOENT ? -1 : 0;
}

/*
 * Whether path is a worktree of repo: its .git file names a directory in
 * repo's worktrees/. An empty directory counts too (a checkout that was
 * interrupted before it wrote anything).
 */
static int is_worktree_of(git_repository *repo, const char *path)
{
	char file[PATH_MAX], line[PATH_MAX + 16], *gitdir = NULL;
	char *common = NULL;
	size_t len;
	FILE *f;
	int yes = 0;

	if (rmdir(path) == 0) {
		/* it was empty; the caller finds it gone */
		return 1;
	}
	if ((size_t)snprintf(file, sizeof(file), "%s/.git", path) >=
	    sizeof(file) || !(f = fopen(file, "r")))
		return 0;
	if (fgets(line, sizeof(line), f) && !strncmp(line, "gitdir: ", 8)) {
		len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		gitdir = realpath(line + 8, NULL);
	}
	fclose(f);
	common = realpath(git_repository_commondir(repo), NULL);
	if (gitdir && common) {
		len = strlen(common);
		yes = !strncmp(gitdir, common, len) &&
		      !strncmp(gitdir + len, "/worktrees/", 11);
	}
	free(gitdir);
	free(common);
	return yes;
}

int merge_worktree_remove(const char *repo_path, const char *name,
			  const char *path, const char *branch,
			  char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_worktree *wt = NULL;
	git_reference *ref = NULL;
	git_worktree_prune_options popts;
	char entry[PATH_MAX];
	struct stat st;
	int error;

	git_worktree_prune_options_init(&popts,
					GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if ((size_t)snprintf(entry, sizeof(entry), "%sworktrees/%s",
			     git_repository_commondir(repo), name) >=
	    sizeof(entry)) {
		gitmsg_set(err, errlen, "cannot remove worktree '%s': %s", path,
		       strerror(ENAMETOOLONG));
		error = -ENAMETOOLONG;
		goto out;
	}
	/* 1.5 fails a lookup of a missing entry without a message: ask first */
	if (lstat(entry, &st) == 0 && git_worktree_lookup(&wt, repo, name) == 0 &&
	    git_worktree_is_locked(NULL, wt) > 0) {
		gitmsg_set(err, errlen, "cannot remove worktree '%s': it is locked",
		       path);
		error = -EBUSY;
		goto out;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || !is_worktree_of(repo, path)) {
			gitmsg_set(err, errlen, "cannot remove '%s': not a "
			       "worktree of '%s'", path, repo_path);
			error = -EINVAL;
			goto out;
		}
		if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
		    errno != ENOENT) {
			error = -errno;
			gitmsg_set(err, errlen, "cannot remove worktree '%s': %s",
			       path, strerror(errno));
			goto out;
		}
	}
	/*
	 * The directory is gone: prune the entry (flags 0 prunes only an
	 * invalid, unlocked one). One that does not even parse is removed
	 * as files.
	 */
	if (wt && git_worktree_prune(wt, &popts) < 0 && lstat(entry, &st) == 0)
		nftw(entry, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else if (!wt && lstat(entry, &st) == 0)
		nftw(entry, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (lstat(entry, &st) == 0) {
		gitmsg_set(err, errlen, "cannot prune worktree '%s'", name);
		error = -EIO;
		goto out;
	}

	if (!branch)
		goto out;
	error = git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL);
	if (error == GIT_ENOTFOUND) {
		error = 0;
		goto out;
	}
	if (error == 0 && git_branch_is_checked_out(ref) == 1) {
		gitmsg_set(err, errlen, "cannot delete branch '%s': checked out",
		       branch);
		error = -EBUSY;
		goto out;
	}
	/*
	 * The ref only: git_branch_delete's removal of the branch's config
	 * section leaks in libgit2 1.5.1 (its regex), and task branches
	 * have none.
	 */
	if (error < 0 || (error = git_reference_delete(ref)) < 0) {
		gitmsg_set(err, errlen, "cannot delete branch '%s': %s", branch,
		       gitmsg_last());
		error = gitmsg_errno(error);
	}
out:
	git_reference_free(ref);
	git_worktree_free(wt);
	git_repository_free(repo);
	return error;
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

static __thread struct du_state *du;

static int du_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	size_t i;

	(void)fpath;
	(void)ftw;
	if (type == FTW_NS)
		return 0;
	if (!S_ISDIR(sb->st_mode) && sb->st_nlink > 1) {
		for (i = 0; i < du->nseen; i++)
			if (du->seen[i].dev == sb->st_dev &&
			    du->seen[i].ino == sb->st_ino)
				return 0;
		if (du->nseen == du->cap) {
			size_t cap = du->cap ? du->cap * 2 : 64;
			void *p = realloc(du->seen, cap * sizeof(*du->seen));

			if (!p) {
				du->nomem = 1;
				return 1;
			}
			du->seen = p;
			du->cap = cap;
		}
		du->seen[du->nseen].dev = sb->st_dev;
		du->seen[du->nseen].ino = sb->st_ino;
		du->nseen++;
	}
	du->bytes += (uint64_t)sb->st_blocks * 512;
	return 0;
}

int merge_disk_usage(const char *path, uint64_t *bytes)
{
	struct du_state state;
	struct stat st;
	int error = 0;

	*bytes = 0;
	if (lstat(path, &st) < 0)
		return -errno;
	memset(&state, 0, sizeof(state));
	du = &state;
	if (nftw(path, du_one, 16, FTW_PHYS) < 0)
		error = -errno;
	du = NULL;
	free(state.seen);
	if (state.nomem)
		return -ENOMEM;
	*bytes = state.bytes;
	return error == -EACCES ? 0 : error;
}
