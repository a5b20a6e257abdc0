/*
 * git/work: a task's work in git: committed in its worktree, and shown
 * as a diff and as the list of changed files; see include/gitwork.h.
 *
 *	gitwork_diff("/src/app", base, NULL, wt, &b, ...)	 while it runs
 *	gitwork_commit_all(wt, "parallelai: task 7", &author, NULL, commit,
 *			   ...)
 *	gitwork_files("/src/app", base, commit, NULL, &b, ...) once it is done
 *
 * which is, in git commands, roughly
 *
 *	$ git -C .git/parallelai/worktrees/7 add -A && git commit -m ...
 *	$ git diff --name-status $base $commit
 *
 * Every function opens and frees its own git_repository: libgit2 objects
 * must not be shared between threads, and the scheduler calls in here
 * from several. Errors are negative errnos with a one-line message in
 * err; libgit2's own message is appended after a colon.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "buf.h"
#include "gitmsg.h"
#include "gitwork.h"
#include "quote.h"
#include "gitint.h"

/* git_message_prettify's cleanup: trailing whitespace gone, one newline. */
static int prettify(git_buf *out, const char *message)
{
	int error;

	error = git_message_prettify(out, message ? message : "", 0, 0);
	if (error == 0 && out->size == 0) {
		git_buf_dispose(out);
		error = git_message_prettify(out, DEFAULT_NAME, 0, 0);
	}
	return error;
}

/* git_index_add_all's filter: > 0 leaves a path out, one listed or
 * one under a directory listed ("node_modules" or "node_modules/"). */
static int skip_listed(const char *path, const char *spec, void *payload)
{
	const char *const *skip = payload;

	for (; skip && *skip; skip++) {
		size_t n = strlen(*skip);

		while (n > 1 && (*skip)[n - 1] == '/')
			n--;
		if (!strncmp(path, *skip, n) &&
		    (path[n] == '\0' || path[n] == '/'))
			return 1;
	}
	return 0;
}

/* A path libgit2's pathspec takes literally (see git/ovchanged.c). */
static int literal(const char *path)
{
	return !strpbrk(path, "*?[]\\!# \t\n\r:");
}

/*
 * The pathspec of a commit limited to paths (an overlay's upper
 * directory), with every path where the index no longer matches the base
 * tree added: what git itself did to the index (git rm --cached) lies
 * outside the upper directory, yet a full add -A would see it. The
 * strings point into paths and into *diff (freed by the caller). 1 when
 * the whole worktree must be looked at instead; spec->count 0 when
 * nothing changed.
 */
static int limited_spec(git_strarray *spec, git_diff **diff,
			git_repository *repo, git_index *index,
			const char *base_oid, const char *const *paths)
{
	git_commit *base = NULL;
	git_tree *tree = NULL;
	char err[256];
	size_t n = 0, i, k;
	int r = 1;

	for (; paths[n]; n++)
		;
	if (mg_lookup_commit(&base, repo, base_oid, err, sizeof(err)) < 0 ||
	    git_commit_tree(&tree, base) < 0 ||
	    git_diff_tree_to_index(diff, repo, tree, index, NULL) < 0)
		goto out;
	k = git_diff_num_deltas(*diff);
	if (!(spec->strings = calloc(n + 2 * k + 1, sizeof(char *))))
		goto out;
	for (i = 0; i < n; i++)
		spec->strings[spec->count++] = (char *)paths[i];
	for (i = 0; i < k; i++) {
		const git_diff_delta *d = git_diff_get_delta(*diff, i);

		if (!literal(d->old_file.path) || !literal(d->new_file.path))
			goto out;
		spec->strings[spec->count++] = (char *)d->old_file.path;
		spec->strings[spec->count++] = (char *)d->new_file.path;
	}
	r = 0;
out:
	git_tree_free(tree);
	git_commit_free(base);
	return r;
}

int gitwork_commit_all(const char *worktree, const char *message,
		       const struct gitwork_author *author,
		       const char *const *skip, char oid_out[OID_HEX_SIZE],
		       char *err, size_t errlen)
{
	return gitwork_commit_paths(worktree, message, author, skip, NULL,
				    NULL, oid_out, err, errlen);
}

int gitwork_commit_paths(const char *worktree, const char *message,
			 const struct gitwork_author *author,
			 const char *const *skip, const char *base_oid,
			 const char *const *paths, char oid_out[OID_HEX_SIZE],
			 char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_commit *head = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_buf msg = { 0 };
	git_oid tree_id, commit_id;
	git_diff *changed = NULL;
	char *all = "*";
	git_strarray spec = { &all, 1 }, some = { NULL, 0 };
	const char *name = DEFAULT_NAME, *email = DEFAULT_EMAIL;
	const git_commit *parents[1];
	int error;

	oid_out[0] = '\0';
	if ((error = gitmsg_open_repo(&repo, worktree, err, errlen)) < 0)
		goto out;
	if ((error = gitmsg_head_commit(&head, repo, worktree, err,
					       errlen)) < 0)
		goto out;
	if ((error = git_repository_index(&index, repo)) < 0) {
		gitmsg_set(err, errlen, "cannot add changes in '%s': %s",
			   worktree, gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	/* an overlay: only what its upper directory holds (and what the
	 * index says changed) is looked at */
	if (paths && base_oid &&
	    limited_spec(&some, &changed, repo, index, base_oid, paths) == 0)
		spec = some;

	/*
	 * git add -A: add_all picks up new, modified and deleted files
	 * (skipping ignored ones and those listed to skip), comparing
	 * against the index's stat data, so unchanged files are not read.
	 * (An update_all after it found nothing more to do: the mutation
	 * harness showed deletions recorded without it.)
	 */
	if ((spec.count && (error = git_index_add_all(index, &spec,
				GIT_INDEX_ADD_DEFAULT, skip ? skip_listed : NULL,
				(void *)skip)) < 0) ||
	    (error = git_index_write(index)) < 0 ||
	    (error = git_index_write_tree(&tree_id, index)) < 0) {
		gitmsg_set(err, errlen, "cannot add changes in '%s': %s", worktree,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}

	if (git_oid_equal(&tree_id, git_commit_tree_id(head))) {
		git_oid_tostr(oid_out, OID_HEX_SIZE, git_commit_id(head));
		goto out;
	}

	if (author && author->name && *author->name)
		name = author->name;
	if (author && author->email && *author->email)
		email = author->email;
	parents[0] = head;
	if ((error = git_tree_lookup(&tree, repo, &tree_id)) < 0 ||
	    (error = git_signature_now(&sig, name, email)) < 0 ||
	    (error = prettify(&msg, message)) < 0 ||
	    (error = git_commit_create(&commit_id, repo, "HEAD", sig, sig,
				       NULL, msg.ptr, tree, 1,
				       parents)) < 0) {
		gitmsg_set(err, errlen, "cannot commit in '%s': %s", worktree,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	git_oid_tostr(oid_out, OID_HEX_SIZE, &commit_id);
out:
	free(some.strings);
	git_diff_free(changed);
	git_buf_dispose(&msg);
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(head);
	git_index_free(index);
	git_repository_free(repo);
	return error;
}

/*
 * The diff behind gitwork_diff and gitwork_files: base tree against the
 * commit's tree, or against the worktree's files. *empty_out is set (and
 * no diff made) when a finished task has no commit to compare with.
 */
static int make_diff(git_diff **out, git_repository **repo_out,
		     const char *repo_path, const char *base_oid,
		     const char *commit_oid, const char *worktree,
		     uint32_t flags, char *err, size_t errlen)
{
	git_diff_options opts;
	git_repository *repo = NULL;
	git_commit *base = NULL, *commit = NULL;
	git_tree *base_tree = NULL, *tree = NULL;
	const char *where = worktree ? worktree : repo_path;
	int error;

	*out = NULL;
	*repo_out = NULL;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	if (!worktree && (!commit_oid || !*commit_oid))
		return 0;

	/* a worktree shares the object database, so it alone will do */
	if ((error = gitmsg_open_repo(&repo, where, err, errlen)) < 0)
		goto out;
	if ((error = mg_lookup_commit(&base, repo, base_oid, err, errlen)) < 0)
		goto out;
	if ((error = git_commit_tree(&base_tree, base)) < 0) {
		gitmsg_set(err, errlen, "cannot read tree of '%s': %s", base_oid,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}

	opts.flags = flags;
	if (worktree) {
		/*
		 * New files are untracked until the task is committed; the
		 * worktree's submodules are never checked out, so looking at
		 * them would only report every one as deleted.
		 */
		opts.flags |= GIT_DIFF_INCLUDE_UNTRACKED |
			      GIT_DIFF_RECURSE_UNTRACKED_DIRS;
		opts.ignore_submodules = GIT_SUBMODULE_IGNORE_ALL;
		/*
		 * With the index as a stat cache, files the task did not
		 * touch are not read and hashed: a 20,000-file worktree
		 * costs stat calls, not content reads.
		 */
		error = git_diff_tree_to_workdir_with_index(out, repo,
							    base_tree, &opts);
	} else {
		if ((error = mg_lookup_commit(&commit, repo, commit_oid, err,
					   errlen)) < 0)
			goto out;
		if ((error = git_commit_tree(&tree, commit)) < 0) {
			gitmsg_set(err, errlen, "cannot read tree of '%s': %s",
			       commit_oid, gitmsg_last());
			error = gitmsg_errno(error);
			goto out;
		}
		error = git_diff_tree_to_tree(out, repo, base_tree, tree,
					      &opts);
	}
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot diff '%s': %s", where, gitmsg_last());
		error = gitmsg_errno(error);
	}
out:
	if (error < 0) {
		git_repository_free(repo);
		repo = NULL;
	}
	*repo_out = repo;
	git_tree_free(tree);
	git_tree_free(base_tree);
	git_commit_free(commit);
	git_commit_free(base);
	return error;
}

struct print_state {
	struct buf *out;
	int error;
};

static int print_line(const git_diff_delta *delta, const git_diff_hunk *hunk,
		      const git_diff_line *line, void *payload)
{
	struct print_state *ps = payload;
	char origin = line->origin;
	int error = 0;

	(void)delta;
	(void)hunk;
	/* as git prints them: the origin only before content lines */
	if (origin == GIT_DIFF_LINE_CONTEXT ||
	    origin == GIT_DIFF_LINE_ADDITION ||
	    origin == GIT_DIFF_LINE_DELETION)
		error = buf_add(ps->out, &origin, 1);
	if (error == 0)
		error = buf_add(ps->out, line->content, line->content_len);
	if (error < 0) {
		ps->error = error;
		return GIT_EUSER;
	}
	return 0;
}

int gitwork_diff(const char *repo_path, const char *base_oid,
		 const char *commit_oid, const char *worktree,
		 struct buf *out, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_diff *diff = NULL;
	struct print_state ps = { out, 0 };
	size_t start = out->len;
	int error;

	error = make_diff(&diff, &repo, repo_path, base_oid, commit_oid,
			  worktree, worktree ? GIT_DIFF_SHOW_UNTRACKED_CONTENT : 0,
			  err, errlen);
	if (error < 0 || !diff)
		goto out;
	error = git_diff_print(diff, GIT_DIFF_FORMAT_PATCH, print_line, &ps);
	if (ps.error < 0) {
		error = ps.error;
		gitmsg_set(err, errlen, "cannot show diff of '%s': %s",
		       worktree ? worktree : commit_oid,
		       error == -EFBIG ? "too large" : strerror(-error));
	} else if (error < 0) {
		gitmsg_set(err, errlen, "cannot show diff of '%s': %s",
		       worktree ? worktree : commit_oid, gitmsg_last());
		error = gitmsg_errno(error);
	}
out:
	/* all or nothing: a half diff must not pass for the whole one */
	if (error < 0)
		buf_truncate(out, start);
	git_diff_free(diff);
	git_repository_free(repo);
	return error;
}

int gitwork_files(const char *repo_path, const char *base_oid,
		  const char *commit_oid, const char *worktree,
		  struct buf *out, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_diff *diff = NULL;
	size_t start = out->len, i, n;
	int error;

	/*
	 * Only names and statuses: skip the binary check, which would read
	 * every changed file's content, and keep type changes as one entry.
	 */
	error = make_diff(&diff, &repo, repo_path, base_oid, commit_oid,
			  worktree, GIT_DIFF_SKIP_BINARY_CHECK |
			  GIT_DIFF_INCLUDE_TYPECHANGE, err, errlen);
	if (error < 0 || !diff)
		goto out;
	n = git_diff_num_deltas(diff);
	for (i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *path = d->new_file.path;
		char status;

		switch (d->status) {
		case GIT_DELTA_ADDED:
		case GIT_DELTA_UNTRACKED:
			status = 'A';
			break;
		case GIT_DELTA_DELETED:
			status = 'D';
			path = d->old_file.path;
			break;
		case GIT_DELTA_MODIFIED:
		case GIT_DELTA_TYPECHANGE:
			status = 'M';
			break;
		default:
			continue;
		}
		/* As git prints them: a newline in a name forges no line. */
		if ((error = buf_printf(out, "%c\t", status)) < 0 ||
		    (error = quote_path_buf(out, path)) < 0 ||
		    (error = buf_puts(out, "\n")) < 0) {
			gitmsg_set(err, errlen, "cannot list files of '%s': %s",
			       worktree ? worktree : commit_oid,
			       error == -EFBIG ? "too many" : strerror(-error));
			goto out;
		}
	}
out:
	if (error < 0)
		buf_truncate(out, start);
	git_diff_free(diff);
	git_repository_free(repo);
	return error;
}
