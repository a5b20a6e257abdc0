/*
 * git/merge: a task's work into the base branch (merge, squash or rebase),
 * the user's checkout brought along only when that is safe (git/checkout),
 * the branch moved last, everything rolled back on failure.
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
int mg_signatures(git_signature **author, git_signature **committer,
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
		    (error = mg_mark_clashes(index, head_tree)) < 0)
			goto out;
		git_tree_free(head_tree);
		head_tree = NULL;
		git_commit_free(head);
		head = NULL;
		if (git_index_has_conflicts(index)) {
			error = mg_index_conflicts(conflicts, index);
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

/* Merges into a branch and its checkout are one at a time. */
static pthread_mutex_t merge_lock = PTHREAD_MUTEX_INITIALIZER;

/* One merge in the making: what merge_locked's steps share. */
struct landing {
	struct merge_result *r;
	const struct merge_options *o;
	const char *what, *into;
	char refname[1024];
	git_repository *repo, *wt;
	git_commit *tip, *c;
	git_tree *tip_tree, *tree;
	struct merge_paths touched;
	git_oid new_id;
};

static void landing_release(struct landing *l)
{
	merge_paths_release(&l->touched);
	git_tree_free(l->tree);
	git_tree_free(l->tip_tree);
	git_commit_free(l->c);
	git_commit_free(l->tip);
	git_repository_free(l->wt);
	git_repository_free(l->repo);
}

/* The branch into and its tip, and the commit what names: the task's
 * recorded one (o->commit), or -EBUSY. */
static int find_sides(struct landing *l, const char *repo_path, char *err,
		      size_t errlen)
{
	git_reference *ref = NULL;
	char why[768];
	int error;

	if ((size_t)snprintf(l->refname, sizeof(l->refname), "%s%s",
			     strncmp(l->into, "refs/heads/", 11) ?
			     "refs/heads/" : "", l->into) >=
	    sizeof(l->refname)) {
		gitmsg_set(err, errlen, "invalid branch name '%s'", l->into);
		return -EINVAL;
	}
	if ((error = gitmsg_open_repo(&l->repo, repo_path, err, errlen)) < 0)
		return error;
	error = git_reference_lookup(&ref, l->repo, l->refname);
	if (error == 0)
		error = git_reference_peel((git_object **)&l->tip, ref,
					   GIT_OBJECT_COMMIT);
	git_reference_free(ref);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot merge into '%s': %s", l->into,
			   error == GIT_ENOTFOUND ? "no such branch" :
			   gitmsg_last());
		return gitmsg_errno(error);
	}
	git_oid_tostr(l->r->old, sizeof(l->r->old), git_commit_id(l->tip));
	git_oid_tostr(l->r->oid, sizeof(l->r->oid), git_commit_id(l->tip));
	if ((error = mg_resolve(&l->c, l->repo, l->what, err, errlen)) < 0)
		return error;
	if ((error = mg_is_wanted(git_commit_id(l->c), l->o->commit, why,
				  sizeof(why))) < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s': %s", l->what, why);
		return error;
	}
	return 0;
}

/* What make_tip found besides a new tip. */
enum { TIP_MADE, TIP_IN_ALREADY, TIP_CONFLICT };

/* A libgit2 failure of the merge of l, as a message and an errno. */
static int merge_failed(struct landing *l, int error, char *err,
			size_t errlen)
{
	gitmsg_set(err, errlen, "cannot merge '%s' into '%s': %s", l->what,
		   l->into, error == -ENOMEM ? strerror(ENOMEM) :
		   gitmsg_last());
	return error == -ENOMEM ? error : gitmsg_errno(error);
}

/* The tree of a true merge (or a squash) of c into tip, in tree_id;
 * TIP_CONFLICT with r->paths when it conflicts. */
static int merged_tree(struct landing *l, git_oid *tree_id, int ff,
		       char *err, size_t errlen)
{
	git_index *index = NULL;
	int error;

	if (ff) {
		git_oid_cpy(tree_id, git_commit_tree_id(l->c));
		return TIP_MADE;
	}
	if ((error = mg_merge_two(&index, l->repo, l->tip, l->c)) < 0)
		return merge_failed(l, error, err, errlen);
	if (!git_index_has_conflicts(index))
		error = git_index_write_tree_to(tree_id, index, l->repo);
	else if ((error = mg_index_conflicts(&l->r->paths, index)) == 0)
		error = TIP_CONFLICT;
	git_index_free(index);
	return error < 0 ? merge_failed(l, error, err, errlen) : error;
}

/* A merge or squash commit of c onto tip, in l->new_id. */
static int commit_merge(struct landing *l, int ff, git_signature *author,
			git_signature *committer, char *err, size_t errlen)
{
	const git_commit *parents[2] = { l->tip, l->c };
	int squash = l->o->strategy == MERGE_STRATEGY_SQUASH;
	git_tree *tree = NULL;
	git_buf msg = { 0 };
	git_oid tree_id;
	int error;

	if ((error = merged_tree(l, &tree_id, ff, err, errlen)) != TIP_MADE)
		return error;
	if (l->o->message)
		error = git_message_prettify(&msg, l->o->message, 0, 0);
	else
		error = default_message(&msg, l->repo, l->what, l->tip, l->c,
					squash);
	if (error == 0 &&
	    (error = git_tree_lookup(&tree, l->repo, &tree_id)) == 0)
		error = git_commit_create(&l->new_id, l->repo, NULL, author,
					  committer, NULL, msg.ptr, tree,
					  squash ? 1 : 2, parents);
	git_tree_free(tree);
	git_buf_dispose(&msg);
	if (error < 0)
		return merge_failed(l, error, err, errlen);
	l->r->how = squash ? MERGE_HOW_SQUASH : MERGE_HOW_MERGE;
	return TIP_MADE;
}

/* c rebased onto tip, in l->new_id. */
static int commit_rebase(struct landing *l, git_signature *committer,
			 char *err, size_t errlen)
{
	int error = rebase_onto(&l->new_id, l->repo, l->tip, l->c, committer,
				&l->r->paths);

	if (error == GIT_ECONFLICT)
		return TIP_CONFLICT;
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot rebase '%s' onto '%s': %s",
			   l->what, l->into, error == -ENOMEM ?
			   strerror(ENOMEM) : gitmsg_last());
		return error == -ENOMEM ? error : gitmsg_errno(error);
	}
	if (git_oid_equal(&l->new_id, git_commit_id(l->tip))) {
		l->r->how = MERGE_HOW_UP_TO_DATE;
		return TIP_IN_ALREADY;
	}
	l->r->how = MERGE_HOW_REBASE;
	return TIP_MADE;
}

/*
 * The new tip, written to the object store but referenced by nothing
 * yet: a fast-forward, a rebase, a merge or a squash. TIP_MADE,
 * TIP_IN_ALREADY (nothing to do), TIP_CONFLICT (r->paths say where), or
 * a negative errno with err set.
 */
static int make_tip(struct landing *l, char *err, size_t errlen)
{
	git_signature *author = NULL, *committer = NULL;
	int ff, error;

	if (git_oid_equal(git_commit_id(l->c), git_commit_id(l->tip)) ||
	    git_graph_descendant_of(l->repo, git_commit_id(l->tip),
				    git_commit_id(l->c)) == 1) {
		l->r->how = MERGE_HOW_UP_TO_DATE;
		return TIP_IN_ALREADY;
	}
	ff = git_graph_descendant_of(l->repo, git_commit_id(l->c),
				     git_commit_id(l->tip)) == 1;
	if (l->o->ff_only && !ff) {
		gitmsg_set(err, errlen, "cannot land '%s' on '%s': the branch "
			   "moved since it was checked", l->what, l->into);
		return -EBUSY;
	}
	if ((error = mg_signatures(&author, &committer, l->repo, l->o)) < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s': %s", l->what,
			   gitmsg_last());
		return gitmsg_errno(error);
	}
	if (ff && (l->o->ff_only ||
		   l->o->strategy != MERGE_STRATEGY_SQUASH)) {
		git_oid_cpy(&l->new_id, git_commit_id(l->c));
		l->r->how = MERGE_HOW_FAST_FORWARD;
		error = TIP_MADE;
	} else if (l->o->strategy == MERGE_STRATEGY_REBASE) {
		error = commit_rebase(l, committer, err, errlen);
	} else {
		error = commit_merge(l, ff, author, committer, err, errlen);
	}
	git_signature_free(committer);
	git_signature_free(author);
	return error;
}

/* Before it lands: nothing either side wrote is lost, and the checkout
 * that shows the branch (if any) can follow safely. */
static int check_landing(struct landing *l, char *err, size_t errlen)
{
	git_commit *result = NULL;
	char list[768];
	int error;

	if ((error = git_commit_lookup(&result, l->repo, &l->new_id)) < 0 ||
	    (error = git_commit_tree(&l->tree, result)) < 0 ||
	    (error = git_commit_tree(&l->tip_tree, l->tip)) < 0 ||
	    (l->r->how != MERGE_HOW_FAST_FORWARD &&
	     (error = mg_lost_paths(&l->r->paths, l->repo, l->tip, l->c,
				    l->tree)) < 0)) {
		git_commit_free(result);
		return merge_failed(l, error, err, errlen);
	}
	git_commit_free(result);
	if (l->r->paths.n) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': the merge "
			   "would lose %s", l->what, l->into,
			   mg_paths_join(list, sizeof(list), &l->r->paths));
		return -EBUSY;
	}
	if ((error = mg_changed_paths(&l->touched, l->repo, l->tip_tree,
				      l->tree)) < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': cannot "
			   "diff: %s", l->what, l->into, gitmsg_last());
		return error;
	}
	mg_find_checkout(&l->wt, l->repo, l->refname);
	if (l->wt && !l->touched.n) {
		/* nothing to change there; and no paths would mean all */
		git_repository_free(l->wt);
		l->wt = NULL;
	}
	if (l->wt)
		return mg_checkout_ready(l->r, l->wt, l->tip_tree, l->tree,
					 &l->touched, l->what, l->into, err,
					 errlen);
	return 0;
}

/* Move the branch, only if it did not move meanwhile (a commit in the
 * checkout), then the checkout; the branch goes back if that fails. */
static int land(struct landing *l, char *err, size_t errlen)
{
	git_reference *moved = NULL, *back = NULL;
	char logmsg[1200];
	int error;

	snprintf(logmsg, sizeof(logmsg), "parallelai: %s %s: %s",
		 merge_strategy_name(l->o->strategy), l->what,
		 merge_how_name(l->r->how));
	error = git_reference_create_matching(&moved, l->repo, l->refname,
					      &l->new_id, 1,
					      git_commit_id(l->tip), logmsg);
	git_reference_free(moved);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot update '%s': %s", l->into,
			   error == GIT_EMODIFIED ? "the branch moved during "
			   "the merge" : gitmsg_last());
		return gitmsg_errno(error);
	}
	if (l->wt && (error = mg_checkout_paths(&l->r->paths, l->wt,
						git_tree_id(l->tip_tree),
						git_tree_id(l->tree),
						&l->touched, 0)) < 0) {
		gitmsg_set(err, errlen, "cannot check out merge of '%s' in "
			   "'%s': %s", l->what, l->r->checkout, gitmsg_last());
		/* files and index are as they were: so is the branch */
		if (git_reference_create_matching(&back, l->repo, l->refname,
						  git_commit_id(l->tip), 1,
						  &l->new_id, logmsg) == 0)
			git_reference_free(back);
		return gitmsg_errno(error);
	}
	git_oid_tostr(l->r->oid, sizeof(l->r->oid), &l->new_id);
	return 0;
}

static int merge_locked(struct merge_result *r, const char *repo_path,
			const char *what, const char *into,
			const struct merge_options *o, char *err,
			size_t errlen)
{
	struct landing l = { .r = r, .o = o, .what = what, .into = into };
	char list[768];
	int error;

	if ((error = find_sides(&l, repo_path, err, errlen)) < 0)
		goto out;
	error = make_tip(&l, err, errlen);
	if (error == TIP_IN_ALREADY) {
		error = 0;
	} else if (error == TIP_CONFLICT) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': "
			   "conflict in %s", what, into,
			   mg_paths_join(list, sizeof(list), &r->paths));
		error = -EBUSY;
	} else if (error == TIP_MADE &&
		   (error = check_landing(&l, err, errlen)) == 0) {
		error = land(&l, err, errlen);
	}
out:
	/* r->oid still names the tip unless the merge went through */
	if (error < 0) {
		free(r->checkout);
		r->checkout = NULL;
	}
	landing_release(&l);
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
