/*
 * git/repo: libgit2 started for the process, and what is asked of the
 * repository as a whole: is it usable, its HEAD, whether a branch name
 * is free, the paths of a commit's tree; see include/gitrepo.h.
 *
 * Every function opens and frees its own git_repository: libgit2 objects
 * must not be shared between threads. Errors are negative errnos with a
 * one-line message in err; libgit2's own message is appended after a
 * colon.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "gitmsg.h"
#include "gitrepo.h"
#include "gitint.h"

int gitrepo_init(void)
{
	if (git_libgit2_init() < 0)
		return -EIO;
	/*
	 * The daemon may run as root (allow_other mounts) over a repository
	 * owned by the user who asked for the mount: git's safe.directory
	 * ownership check would refuse every such repository.
	 */
	git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
	/*
	 * Two checks git itself does not make on these paths, each a cost
	 * per file (bench/notes.md, a worktree of 20,000 files). Strict
	 * hash verification hashes every object read back to its id: a
	 * SHA-1 per blob, a fifth of a checkout's instructions. Strict
	 * object creation reads the header of every blob put in an index
	 * or a tree to prove it exists: a second open of each loose object
	 * in a checkout, and of every file's blob in each commit's
	 * git_index_write_tree. The ids we write were all just read from
	 * or written to the same object database.
	 */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	return 0;
}

void gitrepo_shutdown(void)
{
	git_libgit2_shutdown();
}

int mg_lookup_commit(git_commit **out, git_repository *repo,
			 const char *hex, char *err, size_t errlen)
{
	git_oid oid;
	int error;

	*out = NULL;
	if (!hex || strlen(hex) != GIT_OID_HEXSZ ||
	    git_oid_fromstr(&oid, hex) < 0) {
		gitmsg_set(err, errlen, "not a commit id: '%s'", hex ? hex : "");
		return -EINVAL;
	}
	error = git_commit_lookup(out, repo, &oid);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot find commit '%s': %s", hex,
		       gitmsg_last());
		return gitmsg_errno(error);
	}
	return 0;
}

int gitrepo_check(char **gitdir_out, const char *path, char *err,
		  size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *head = NULL;
	const char *common;
	char *gitdir = NULL;
	size_t len;
	int error;

	if (gitdir_out)
		*gitdir_out = NULL;
	if ((error = gitmsg_open_repo(&repo, path, err, errlen)) < 0)
		goto out;
	if ((error = gitmsg_head_commit(&head, repo, path, err,
					       errlen)) < 0)
		goto out;
	if (!gitdir_out)
		goto out;

	/* libgit2 resolves it with realpath and ends it with a slash */
	common = git_repository_commondir(repo);
	if (common[0] == '/') {
		gitdir = strdup(common);
	} else {
		gitdir = realpath(common, NULL);
	}
	if (!gitdir) {
		gitmsg_set(err, errlen, "cannot resolve git directory of '%s': %s",
		       path, strerror(errno));
		error = -errno;
		goto out;
	}
	len = strlen(gitdir);
	while (len > 1 && gitdir[len - 1] == '/')
		gitdir[--len] = '\0';
	*gitdir_out = gitdir;
out:
	git_commit_free(head);
	git_repository_free(repo);
	return error;
}

int gitrepo_head(const char *path, char oid[OID_HEX_SIZE], char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *head = NULL;
	int error;

	oid[0] = '\0';
	if ((error = gitmsg_open_repo(&repo, path, err, errlen)) < 0)
		goto out;
	if ((error = gitmsg_head_commit(&head, repo, path, err,
					       errlen)) < 0)
		goto out;
	git_oid_tostr(oid, OID_HEX_SIZE, git_commit_id(head));
out:
	git_commit_free(head);
	git_repository_free(repo);
	return error;
}

int gitrepo_branch_free(const char *path, const char *name, char *err,
			size_t errlen)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	int valid = 0, error;

	if (git_branch_name_is_valid(&valid, name) < 0 || !valid) {
		gitmsg_set(err, errlen, "invalid branch name '%s'", name);
		return -EINVAL;
	}
	if ((error = gitmsg_open_repo(&repo, path, err, errlen)) < 0)
		return error;
	/* rev-parse's own lookup: the branch itself, but also a tag or a
	 * remote-tracking branch of that name would be found for it, and
	 * a merge or push of the task would take that one. */
	error = git_reference_dwim(&ref, repo, name);
	if (error == 0) {
		if (!strncmp(git_reference_name(ref), "refs/heads/", 11))
			gitmsg_set(err, errlen, "branch '%s' already exists",
				   name);
		else
			gitmsg_set(err, errlen, "branch name '%s' is taken:"
				   " git reads it as '%s'", name,
				   git_reference_name(ref));
		error = -EEXIST;
	} else if (error == GIT_ENOTFOUND) {
		error = 0;
	} else {
		gitmsg_set(err, errlen, "cannot read branch '%s': %s", name,
		       gitmsg_last());
		error = gitmsg_errno(error);
	}
	git_reference_free(ref);
	git_repository_free(repo);
	return error;
}

struct walk {
	int (*fn)(const char *path, void *arg);
	void *arg;
};

static int walk_one(const char *root, const git_tree_entry *e, void *payload)
{
	struct walk *w = payload;
	char path[4096];

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	snprintf(path, sizeof(path), "%s%s", root, git_tree_entry_name(e));
	return w->fn(path, w->arg);
}

int gitrepo_each_path(const char *path, const char *commit_oid,
		      int (*fn)(const char *path, void *arg), void *arg,
		      char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	struct walk w = { fn, arg };
	int error;

	if ((error = gitmsg_open_repo(&repo, path, err, errlen)) < 0)
		return error;
	if ((error = mg_lookup_commit(&commit, repo, commit_oid, err,
				   errlen)) < 0)
		goto out;
	if ((error = git_commit_tree(&tree, commit)) < 0) {
		gitmsg_set(err, errlen, "cannot read tree of '%s': %s", commit_oid,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	/* The callback's own negative result stops the walk and is
	 * returned as it is. */
	error = git_tree_walk(tree, GIT_TREEWALK_PRE, walk_one, &w);
out:
	git_tree_free(tree);
	git_commit_free(commit);
	git_repository_free(repo);
	return error;
}

int gitrepo_head_branch(const char *path, char *name, size_t len,
			char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_reference *head = NULL;
	const char *target;
	int error;

	if ((error = gitmsg_open_repo(&repo, path, err, errlen)) < 0)
		return error;
	error = git_reference_lookup(&head, repo, "HEAD");
	if (error < 0 || git_reference_type(head) != GIT_REFERENCE_SYMBOLIC ||
	    strncmp((target = git_reference_symbolic_target(head)),
		    "refs/heads/", 11)) {
		gitmsg_set(err, errlen, "HEAD of '%s' is not on a branch", path);
		error = -EINVAL;
		goto out;
	}
	snprintf(name, len, "%s", target + 11);
	error = 0;
out:
	git_reference_free(head);
	git_repository_free(repo);
	return error;
}

int gitrepo_file_count(const char *path, size_t *n, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	int error;

	*n = 0;
	if ((error = gitmsg_open_repo(&repo, path, err, errlen)) < 0)
		return error;
	if (git_repository_index(&index, repo) < 0) {
		gitmsg_set(err, errlen, "cannot read the index of '%s': %s",
			   path, gitmsg_last());
		error = -EIO;
	} else {
		*n = git_index_entrycount(index);
	}
	git_index_free(index);
	git_repository_free(repo);
	return error;
}
