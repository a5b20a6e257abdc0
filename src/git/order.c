/*
 * git/order: an order in which the finished tasks merge cleanly, by
 * simulating the merges one after another in an in-memory object store
 * (mempack) that dies with its repository handle.
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
 * gitrepo_init turns off, read a header of every blob), which for a
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
	if (error < 0 || (error = mg_merge_two(&index, repo, *side, c)) < 0) {
		error = -EIO;
		goto out;
	}
	if (git_index_has_conflicts(index)) {
		error = mg_index_conflicts(conflicts, index);
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

/* The simulation's state: each task PENDING, IN the order or LEFT out. */
struct walk {
	const struct merge_task *t;
	size_t n;
	unsigned char *state;
	struct merge_order *out;
};

/* The lowest pending id whose dependencies are all in (or absent); -1. */
static ssize_t next_ready(const struct walk *w)
{
	ssize_t next = -1;
	size_t i, k;

	for (i = 0; i < w->n; i++) {
		int ready = w->state[i] == PENDING;

		for (k = 0; ready && k < w->t[i].ndeps; k++) {
			ssize_t d = task_index(w->t, w->n, w->t[i].deps[k]);

			if (d >= 0 && w->state[d] != IN)
				ready = 0;
		}
		if (ready && (next < 0 || w->t[i].id < w->t[next].id))
			next = (ssize_t)i;
	}
	return next;
}

/* Task i merged into *side: in the order, or left out with its paths. */
static int place(struct walk *w, size_t i, git_commit **side,
		 git_repository *repo, git_commit *c,
		 const git_signature *sig, char *err, size_t errlen)
{
	struct merge_left *l = &w->out->left[w->out->nleft];
	int error;

	error = simulate(side, repo, c, sig, &l->paths);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot simulate merge of '%s': %s",
			   w->t[i].commit, error == -ENOMEM ?
			   strerror(ENOMEM) : gitmsg_last());
		return error;
	}
	if (l->paths.n) {
		l->id = w->t[i].id;
		w->out->nleft++;
		w->state[i] = LEFT;
	} else {
		w->out->ids[w->out->n++] = w->t[i].id;
		w->state[i] = IN;
	}
	return 0;
}

/*
 * Nothing ready: what is pending waits on a task left out, or on another
 * pending one in a cycle. Leave out the first that waits on one left
 * out, else every pending one. How many were left out.
 */
static size_t leave_blocked(struct walk *w)
{
	const struct merge_task *t = w->t;
	size_t i, k, m, n = w->n, left = 0;

	for (i = 0; i < n; i++) {
		for (k = 0; w->state[i] == PENDING && k < t[i].ndeps; k++) {
			ssize_t d = task_index(t, n, t[i].deps[k]);

			if (d >= 0 && w->state[d] == LEFT)
				break;
		}
		if (w->state[i] == PENDING && k < t[i].ndeps)
			break;
	}
	for (k = 0; k < n; k++) {
		struct merge_left *l;

		if ((i < n && k != i) || w->state[k] != PENDING)
			continue;
		l = &w->out->left[w->out->nleft++];
		l->id = t[k].id;
		/* name one left out rather than one pending */
		for (m = 0; m < t[k].ndeps; m++) {
			ssize_t d = task_index(t, n, t[k].deps[m]);

			if (d >= 0 && w->state[d] != IN &&
			    (!l->blocked_by || w->state[d] == LEFT))
				l->blocked_by = t[k].deps[m];
		}
		w->state[k] = LEFT;
		left++;
	}
	return left;
}

/*
 * The repository opened for a simulation: simulated commits go to
 * memory (the backend with the highest priority takes every write, and
 * it dies with repo), made by sig.
 */
static int open_simulation(git_repository **repo, git_odb **odb,
			   git_signature **sig, const char *repo_path,
			   char *err, size_t errlen)
{
	git_odb_backend *mempack = NULL;
	int error;

	if ((error = gitmsg_open_repo(repo, repo_path, err, errlen)) < 0)
		return error;
	if (git_repository_odb(odb, *repo) < 0 ||
	    git_mempack_new(&mempack) < 0 ||
	    git_odb_add_backend(*odb, mempack, 999) < 0 ||
	    git_signature_new(sig, DEFAULT_NAME, DEFAULT_EMAIL, 0, 0) < 0) {
		gitmsg_set(err, errlen, "cannot simulate merges in '%s': %s",
		       repo_path, gitmsg_last());
		return -EIO;
	}
	return 0;
}

int merge_order_compute(struct merge_order *out, const char *repo_path,
			const char *base, const struct merge_task *t,
			size_t n, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	git_signature *sig = NULL;
	git_commit *side = NULL, **commits = NULL;
	struct walk w = { t, n, NULL, out };
	size_t i, done = 0;
	ssize_t next;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = open_simulation(&repo, &odb, &sig, repo_path, err,
				     errlen)) < 0 ||
	    (error = mg_resolve(&side, repo, base, err, errlen)) < 0)
		goto out;
	git_oid_tostr(out->tip, sizeof(out->tip), git_commit_id(side));
	commits = calloc(n ? n : 1, sizeof(*commits));
	w.state = calloc(n ? n : 1, 1);
	out->ids = malloc((n ? n : 1) * sizeof(*out->ids));
	out->left = calloc(n ? n : 1, sizeof(*out->left));
	if (!commits || !w.state || !out->ids || !out->left) {
		error = -ENOMEM;
		gitmsg_set(err, errlen, "cannot compute merge order: %s",
		       strerror(ENOMEM));
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((error = mg_resolve(&commits[i], repo, t[i].commit, err,
					errlen)) < 0)
			goto out;

	while (done < n) {
		if ((next = next_ready(&w)) < 0) {
			done += leave_blocked(&w);
			continue;
		}
		if ((error = place(&w, (size_t)next, &side, repo,
				   commits[next], sig, err, errlen)) < 0)
			goto out;
		done++;
	}
	qsort(out->left, out->nleft, sizeof(*out->left), cmp_left);
out:
	if (error < 0)
		merge_order_release(out);
	for (i = 0; commits && i < n; i++)
		git_commit_free(commits[i]);
	free(commits);
	free(w.state);
	git_commit_free(side);
	git_signature_free(sig);
	git_odb_free(odb);
	git_repository_free(repo);
	return error;
}
