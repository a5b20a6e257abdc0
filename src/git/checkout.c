/*
 * git/checkout: the last checks before a merge lands: no path either side
 * wrote is lost, and the checkout can follow without losing uncommitted
 * work, writing through a symbolic link or over untracked files.
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
			error = mg_paths_add(&moved, d->old_file.path);
	}
	mg_paths_finish(&moved);
	n = git_diff_num_deltas(side);
	for (i = 0; i < n && error == 0; i++) {
		const git_diff_delta *d = git_diff_get_delta(side, i);
		const char *path = d->new_file.path;

		if (d->status == GIT_DELTA_DELETED || has_file(result, path) ||
		    mg_has_path(&moved, path, strlen(path)))
			continue;
		error = mg_paths_add(lost, path);
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
int mg_lost_paths(struct merge_paths *lost, git_repository *repo,
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
	mg_paths_finish(lost);
out:
	git_diff_free(dtheirs);
	git_diff_free(dours);
	git_tree_free(tt);
	git_tree_free(to);
	git_tree_free(tb);
	git_commit_free(base);
	return error;
}

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

/* Whether repo's working tree has refname checked out (or is rebasing
 * it). */
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
int mg_find_checkout(git_repository **out, git_repository *repo,
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
		error = mg_paths_add(out, d->new_file.path ? d->new_file.path :
				     d->old_file.path);
	}
	git_status_list_free(list);
	mg_paths_finish(out);
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
	return mg_paths_add(payload, path) < 0 ? -1 : 0;
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
		error = mg_paths_add(blocked, full + dirlen);
	return error;
}

/*
 * Bring wt's files and index from tree from to tree to, for the touched
 * paths only, never overwriting anything that differs from from; with
 * dry, only find out whether it could (conflicts gets what is in the way).
 */
int mg_checkout_paths(struct merge_paths *conflicts, git_repository *wt,
		      const git_oid *from_id, const git_oid *to_id,
		      const struct merge_paths *touched, int dry)
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
	mg_paths_finish(conflicts);
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
int mg_checkout_ready(struct merge_result *r, git_repository *wt,
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
	error = mg_checkout_paths(&r->paths, wt, git_tree_id(from),
				  git_tree_id(to), touched, 1);
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
	       mg_paths_join(list, sizeof(list), &r->paths));
	return -EBUSY;
}
