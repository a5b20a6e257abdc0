/*
 * git/conflicts: whether two commits merge cleanly, by a real three-way
 * merge in memory (renames found, file/directory clashes marked), and the
 * combination of several tasks' work as the base of a dependent task.
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

/* The commit spec names (anything git rev-parse takes). */
int mg_resolve(git_commit **out, git_repository *repo, const char *spec,
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

/*
 * Whether c is the commit want (40 hex digits) names, when want is set:
 * a branch that moved from it since is -EBUSY, with why ("it moved to
 * 3f2a1b0 from 9c8d7e6").
 */
int mg_is_wanted(const git_oid *c, const char *want, char *why,
		 size_t whylen)
{
	char now[GIT_OID_HEXSZ + 1];
	git_oid id;

	if (!want)
		return 0;
	if (git_oid_fromstr(&id, want) < 0) {
		snprintf(why, whylen, "not a commit id: '%s'", want);
		return -EINVAL;
	}
	if (git_oid_equal(c, &id))
		return 0;
	git_oid_tostr(now, sizeof(now), c);
	snprintf(why, whylen, "it moved to %.7s from %.7s", now, want);
	return -EBUSY;
}

/* The conflicting paths of a merged index: every side's path, once. */
int mg_index_conflicts(struct merge_paths *out, git_index *index)
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
		if ((anc && (error = mg_paths_add(out, anc->path)) < 0) ||
		    (ours && (error = mg_paths_add(out, ours->path)) < 0) ||
		    (theirs && (error = mg_paths_add(out, theirs->path)) < 0))
			break;
	}
	git_index_conflict_iterator_free(it);
	if (error == GIT_ITEROVER)
		error = 0;
	else if (error > 0 || (error < 0 && error != -ENOMEM))
		error = -EIO;
	mg_paths_finish(out);
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
			error = mg_paths_add(out, e->path);
		for (; pos < n && error == 0; pos++) {
			const git_index_entry *u = git_index_get_byindex(index,
									 pos);

			if (strncmp(u->path, dir, len + 1))
				break;
			if (git_index_entry_stage(u) == 0)
				error = mg_paths_add(out, u->path);
		}
	}
	git_error_clear();	/* what find_prefix did not find */
	mg_paths_finish(out);
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
int mg_mark_clashes(git_index *index, git_tree *ours)
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
int mg_merge_two(git_index **out, git_repository *repo,
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
	    (error = mg_mark_clashes(*out, tree)) < 0) {
		git_index_free(*out);
		*out = NULL;
	}
	git_tree_free(tree);
	return error;
}

int mg_pair_conflicts(struct merge_paths *out, git_repository *repo,
		      const git_commit *a, const git_commit *b,
		      char *err, size_t errlen)
{
	git_index *index = NULL;
	char ha[GIT_OID_HEXSZ + 1], hb[GIT_OID_HEXSZ + 1];
	int error;

	if (git_oid_equal(git_commit_id(a), git_commit_id(b)))
		return 0;
	if ((error = mg_merge_two(&index, repo, a, b)) < 0) {
		git_oid_tostr(ha, sizeof(ha), git_commit_id(a));
		git_oid_tostr(hb, sizeof(hb), git_commit_id(b));
		gitmsg_set(err, errlen, "cannot merge '%s' and '%s': %s", ha, hb,
		       gitmsg_last());
		return gitmsg_errno(error);
	}
	error = mg_index_conflicts(out, index);
	git_index_free(index);
	if (error < 0) {
		merge_paths_release(out);
		gitmsg_set(err, errlen, "cannot list conflicts: %s",
		       strerror(-error));
	}
	return error;
}

int merge_combine(char out[OID_HEX_SIZE], struct merge_paths *paths,
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
	if ((error = mg_resolve(&cur, repo, base, err, errlen)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		const git_commit *parents[2];

		if ((error = mg_resolve(&dep, repo, commits[i], err, errlen)) < 0)
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
		if ((error = mg_pair_conflicts(paths, repo, cur, dep, err,
					       errlen)) < 0)
			goto out;
		if (paths->n) {
			char list[512];

			gitmsg_set(err, errlen, "dependencies conflict in %s",
			       mg_paths_join(list, sizeof(list), paths));
			error = -EBUSY;
			goto out;
		}
		if ((error = mg_merge_two(&index, repo, cur, dep)) < 0 ||
		    (error = git_index_write_tree_to(&tree_id, index,
						     repo)) < 0 ||
		    (error = git_tree_lookup(&tree, repo, &tree_id)) < 0 ||
		    (!who && (error = mg_signatures(&who, &committer, repo,
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
	git_oid_tostr(out, OID_HEX_SIZE, git_commit_id(cur));
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
	    (error = mg_resolve(&ca, repo, a, err, errlen)) < 0 ||
	    (error = mg_resolve(&cb, repo, b, err, errlen)) < 0)
		goto out;
	error = mg_pair_conflicts(paths, repo, ca, cb, err, errlen);
out:
	git_commit_free(cb);
	git_commit_free(ca);
	git_repository_free(repo);
	return error;
}
