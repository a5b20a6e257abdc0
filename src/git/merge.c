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
	if ((error = mg_resolve(&c, repo, what, err, errlen)) < 0)
		goto out;
	if ((error = mg_is_wanted(git_commit_id(c), o->commit, list,
				  sizeof(list))) < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s': %s", what, list);
		goto out;
	}

	/* in it already: nothing to do */
	if (git_oid_equal(git_commit_id(c), git_commit_id(tip)) ||
	    git_graph_descendant_of(repo, git_commit_id(tip),
				    git_commit_id(c)) == 1) {
		r->how = MERGE_HOW_UP_TO_DATE;
		goto out;
	}
	ff = git_graph_descendant_of(repo, git_commit_id(c),
				     git_commit_id(tip)) == 1;
	if ((error = mg_signatures(&author, &committer, repo, o)) < 0) {
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
			if ((error = mg_merge_two(&index, repo, tip, c)) < 0) {
				gitmsg_set(err, errlen, "cannot merge '%s' into "
				       "'%s': %s", what, into, gitmsg_last());
				error = gitmsg_errno(error);
				goto out;
			}
			if (git_index_has_conflicts(index)) {
				if ((error = mg_index_conflicts(&r->paths,
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
	    (error = mg_lost_paths(&r->paths, repo, tip, c, tree)) < 0)
		goto giterror;
	if (r->paths.n) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': the merge "
		       "would lose %s", what, into,
		       mg_paths_join(list, sizeof(list), &r->paths));
		error = -EBUSY;
		goto out;
	}
	if ((error = mg_changed_paths(&touched, repo, tip_tree, tree)) < 0) {
		gitmsg_set(err, errlen, "cannot merge '%s' into '%s': cannot diff: "
		       "%s", what, into, gitmsg_last());
		goto out;
	}

	/* the checkout that shows the branch: safe to update? */
	mg_find_checkout(&wt, repo, refname);
	if (wt && !touched.n) {
		/* nothing to change there; and no paths would mean all */
		git_repository_free(wt);
		wt = NULL;
	}
	if (wt && (error = mg_checkout_ready(r, wt, tip_tree, tree, &touched,
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
	if (wt && (error = mg_checkout_paths(wt, git_tree_id(tip_tree),
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
	       what, into, mg_paths_join(list, sizeof(list), &r->paths));
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
