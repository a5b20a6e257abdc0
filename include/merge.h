/*
 * merge: bringing tasks' work back together, through libgit2. Conflicts
 * between tasks and against the base branch, computed by real three-way
 * merges in memory; an order in which finished tasks merge cleanly; the
 * merge itself into the base branch, the user's checkout kept safe; and
 * push.
 *
 *	struct merge_cache cache;		// kept for the daemon's life
 *	struct merge_matrix m;
 *	struct merge_entry e[] = { { 7, "3f2a..." }, { 9, "pai/task-9" } };
 *	merge_cache_init(&cache);
 *	merge_matrix_compute(&m, &cache, "/src/app", "main", e, 2, err, n);
 *	for (i = 0; i < m.n; i++)		// "7 9 src/cli.c" or "7 main ..."
 *		print(m.v[i].a, m.v[i].b, m.v[i].paths);
 *	merge_matrix_release(&m);
 *
 *	struct merge_options o = { .strategy = MERGE_STRATEGY_MERGE };
 *	struct merge_result r;
 *	if (merge_into(&r, "/src/app", "pai/task-7", "main", &o, err, n)
 *	    == -EBUSY)
 *		... err says why; r.paths are the conflicting or dirty paths
 *	merge_result_release(&r);
 *
 * which is, in git commands, roughly
 *
 *	$ git merge-tree --write-tree pai/task-7 pai/task-9	# conflicts
 *	$ git checkout main && git merge pai/task-7		# merge_into
 *
 * except that nothing but merge_into and merge_push writes anything:
 * conflicts and merge orders are computed in memory (merge order's
 * simulated commits live in an in-memory object store).
 *
 * Commits are named by anything git rev-parse takes: 40 hex digits, a
 * branch ("pai/task-7", "main"), "refs/heads/main". Every function opens
 * and frees its own git_repository (libgit2 handles are not shared
 * between threads); libgit2 must be initialised (gitrepo_init). Results
 * are 0 or a negative errno; err gets a one-line message in git's style
 * ("cannot merge 'pai/task-7' into 'main': conflict in a.txt").
 */
#ifndef PAI_MERGE_H
#define PAI_MERGE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "oid.h"

/* A set of repository paths: sorted (strcmp), unique, malloc'd. */
struct merge_paths {
	char **v;
	size_t n;
};

void merge_paths_release(struct merge_paths *p);

/*
 * Whether merging commits a and b would conflict: a three-way merge of
 * the two with their merge base (a virtual one for criss-cross
 * histories), renames detected, in memory. paths gets the conflicting
 * paths, empty when the merge is clean. Two sides changing different
 * hunks of one file, or different files, are clean; the same lines,
 * add/add with different contents, delete/modify and rename/rename
 * conflict, and so does a file or symbolic link on one side where the
 * other has a directory or a file (git's CONFLICT (file/directory): both
 * paths are listed, "e e/two"). One that is an ancestor of the other
 * never conflicts. Every merge here (combine, matrix, order, merge_into)
 * sees conflicts the same way.
 */
int merge_conflicts(struct merge_paths *paths, const char *repo,
		    const char *a, const char *b, char *err, size_t errlen);

/*
 * The commit a dependent task starts from: base with each of commits (its
 * dependencies' work) merged in, in memory, one after another. A commit
 * already contained is skipped, one that contains the result is taken
 * as it is (fast-forward), otherwise a merge commit is written (not on
 * any branch). out gets the result. -EBUSY when two of them conflict,
 * with the paths in paths and in err.
 */
int merge_combine(char out[OID_HEX_SIZE], struct merge_paths *paths, const char *repo,
		  const char *base, const char *const *commits, size_t n,
		  const char *message, char *err, size_t errlen);

/*
 * Pairwise conflicts among tasks and against the tip of a base branch.
 *
 * A pair whose sides, from their one merge base, changed different paths
 * (no file on one side where the other has a directory) is clean without
 * a merge: two tree diffs that skip unchanged subtrees tell, where a
 * three-way merge walks every file. Any other pair is merged in memory.
 *
 * The cache remembers each pair's result keyed by the two commit ids
 * (order does not matter), so a recomputation after one task finished
 * merges only its pairs, and one after the base branch moved only each
 * task against the new tip. merge_matrix_compute forgets the pairs it did
 * not need, so the cache holds at most n(n+1)/2 results. The cache has
 * its own lock: any thread may use it; concurrent computations take
 * turns, the later one finding the earlier one's results.
 */
struct merge_cache_slot;

struct merge_cache {
	pthread_mutex_t lock;
	struct merge_cache_slot *slots;
	size_t cap, used;
	unsigned gen;
	unsigned long pairs;	/* pairs computed so far (not from the cache) */
	unsigned long merges;	/* of which by a full three-way merge */
	unsigned long hits;	/* pairs answered from the cache */
};

int merge_cache_init(struct merge_cache *c);
void merge_cache_release(struct merge_cache *c);

struct merge_entry {
	int64_t id;		/* a task id, > 0, unique in the list */
	const char *commit;
};

/* The base tip's side of a pair: b == MERGE_TIP. */
#define MERGE_TIP 0

struct merge_conflict {
	int64_t a, b;		/* a < b, or b == MERGE_TIP: a against the tip */
	struct merge_paths paths;	/* never empty */
};

struct merge_matrix {
	char tip[OID_HEX_SIZE];		/* the base tip used, "" when base was NULL */
	struct merge_conflict *v;	/* conflicting pairs only, sorted by
					 * (a, b): a's tip entry first */
	size_t n;
};

/*
 * Every pair of entries, and each entry against the commit base names
 * now (skipped when base is NULL). Pairs of one commit with itself are
 * clean without a merge. A commit that cannot be found fails the whole
 * computation (-ENOENT).
 */
int merge_matrix_compute(struct merge_matrix *out, struct merge_cache *cache,
			 const char *repo, const char *base,
			 const struct merge_entry *entries, size_t n,
			 char *err, size_t errlen);
void merge_matrix_release(struct merge_matrix *m);

/*
 * An order in which finished tasks merge one after another cleanly into
 * base, simulated in memory: each merge's result becomes the next one's
 * side, so a task that conflicts only with one already in the order is
 * left out. Among the tasks whose dependencies are in the order (or not
 * in the list at all: taken as merged already) the lowest id goes next.
 * Left out are the tasks that conflict, with the paths in the way, and
 * the tasks that depend on one left out (or on each other in a cycle),
 * with that dependency in blocked_by. The simulation merges like the
 * merge strategy; squash and rebase give the same trees in nearly every
 * case (rebase replays commit by commit and can conflict where the
 * merge did not).
 */
struct merge_task {
	int64_t id;		/* > 0, unique in the list */
	const char *commit;
	const int64_t *deps;	/* ids this task depends on */
	size_t ndeps;
};

struct merge_left {
	int64_t id;
	int64_t blocked_by;	/* a dependency not in the order, or 0 */
	struct merge_paths paths;	/* the conflicting paths, when it conflicts */
};

struct merge_order {
	char tip[OID_HEX_SIZE];		/* the base tip the order starts from */
	int64_t *ids;		/* the order */
	size_t n;
	struct merge_left *left;	/* sorted by id */
	size_t nleft;
};

int merge_order_compute(struct merge_order *out, const char *repo,
			const char *base, const struct merge_task *tasks,
			size_t n, char *err, size_t errlen);
void merge_order_release(struct merge_order *o);

/*
 * Merging a task into the base branch.
 *
 * merge: fast-forward when the base is an ancestor of the task, else a
 * merge commit with the base tip and the task as parents. squash: one new
 * commit on the base tip with the merged tree (always, even when a
 * fast-forward was possible). rebase: the task's commits (merges skipped)
 * replayed onto the base tip in memory, keeping their authors and
 * messages, then a fast-forward to the last one.
 */
enum merge_strategy {
	MERGE_STRATEGY_MERGE,
	MERGE_STRATEGY_SQUASH,
	MERGE_STRATEGY_REBASE
};

/* "merge", "squash", "rebase"; parse gives -EINVAL for anything else. */
const char *merge_strategy_name(enum merge_strategy s);
int merge_strategy_parse(const char *name, enum merge_strategy *out);

struct merge_options {
	enum merge_strategy strategy;
	/*
	 * The merge or squash commit's message. NULL: "Merge branch
	 * 'pai/task-7'" for a merge; for a squash the task's commit message
	 * when it has one commit, else "Squashed branch 'pai/task-7'" and a
	 * list of its commits.
	 */
	const char *message;
	/*
	 * Who makes the merge or squash commit and commits the rebased
	 * ones. NULL or "": the repository's user.name and user.email, else
	 * "parallelai" <parallelai@localhost>; the committer defaults to the
	 * author.
	 */
	const char *author_name, *author_email;
	const char *committer_name, *committer_email;
	/*
	 * The commit (40 hex digits) what must name, or NULL. A task's
	 * recorded result is merged, never what its branch became since:
	 * a branch that moved from it is refused with -EBUSY ("cannot
	 * merge 'pai/task-7': it moved to 3f2a1b0 from 9c8d7e6").
	 */
	const char *commit;
	/*
	 * Land what only as a fast-forward of into (the merge queue lands
	 * exactly the commit its check passed on): -EBUSY when into's tip
	 * is no longer an ancestor of it ("the branch moved since").
	 */
	int ff_only;
};

enum merge_how {
	MERGE_HOW_UP_TO_DATE,	/* the task was in the base already */
	MERGE_HOW_FAST_FORWARD,
	MERGE_HOW_MERGE,	/* a merge commit */
	MERGE_HOW_SQUASH,
	MERGE_HOW_REBASE	/* rebased, then fast-forwarded */
};

/* "up to date", "fast-forward", "merge", "squash", "rebase" */
const char *merge_how_name(enum merge_how h);

struct merge_result {
	char old[OID_HEX_SIZE];		/* the base branch's tip before */
	char oid[OID_HEX_SIZE];		/* and after: the commit the task became */
	enum merge_how how;
	/* the working tree that has the base branch checked out and was
	 * updated (malloc'd), NULL when none has it */
	char *checkout;
	/* with -EBUSY: the conflicting paths, or the paths with
	 * uncommitted changes in the checkout that the merge would touch */
	struct merge_paths paths;
};

/*
 * Merge what (the task's branch or commit) into the local branch into
 * ("main" or "refs/heads/main"), and return the new tip in r->oid.
 *
 * When into is checked out in a working tree of the repository (the
 * user's checkout, or a linked worktree), that working tree and its index
 * are updated for the paths the merge changes, and only for those: a
 * checkout clean before is clean after (git status), and uncommitted
 * changes, staged or not, in other paths are kept as they are. When any
 * path the merge changes has uncommitted changes there (staged, unstaged,
 * untracked or ignored files in the way), or the checkout is in the
 * middle of a merge, rebase or the like, nothing is changed and -EBUSY is
 * returned with the paths. Nothing is ever written through a symbolic
 * link or over what git does not track: when a leading directory of a
 * path the merge writes is a symbolic link or file (other than a tracked
 * one the merge replaces by a directory), or an untracked file or
 * directory is where the merge writes a file, -EBUSY with that path
 * ("untracked symbolic link 'newdir' is in the way of 'newdir/other'").
 * A conflicting merge is refused the same way, with the conflicting
 * paths; so is one whose result would lack a path either side wrote
 * since their merge base ("the merge would lose e"), the last check
 * before anything lands. The branch is moved only if it still points
 * where it did when the merge began (-EBUSY otherwise).
 *
 * Merges are serialised within the process. Objects written for a merge
 * that is then refused are left unreferenced, for git gc.
 * -ENOENT: no such branch or commit.
 */
int merge_into(struct merge_result *r, const char *repo, const char *what,
	       const char *into, const struct merge_options *opts,
	       char *err, size_t errlen);
void merge_result_release(struct merge_result *r);

/*
 * Push the local branch to the same branch at remote: a configured
 * remote's name, or a URL or path. Not forced, a non-fast-forward is
 * refused by the remote (-EBUSY), unless force. SSH remotes authenticate
 * through ssh-agent. -ENOENT: no such branch, or no such remote.
 * commit: NULL, or the commit (40 hex digits) the branch must point at;
 * what is sent is checked to be exactly it (-EBUSY when the branch
 * moved: "cannot push 'pai/task-7': it moved to 3f2a1b0 from 9c8d7e6").
 */
int merge_push(const char *repo, const char *remote, const char *branch,
	       const char *commit, int force, char *err, size_t errlen);

#endif
