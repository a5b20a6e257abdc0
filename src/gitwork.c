/*
 * gitwork: parallelai's git operations through libgit2; see
 * include/gitwork.h for the contract.
 *
 * A task's life in git, as the scheduler drives it:
 *
 *	gitwork_check_repo("/src/app", &gitdir, ...)	 at mount
 *	gitrev_head(rev, base, ...)			 the task's base commit
 *	gitwork_worktree_create("/src/app", "pai-task-7",
 *		"/src/app/.git/parallelai/worktrees/7", "pai/task-7", base, ...)
 *	... the engine edits files in the worktree ...
 *	gitwork_diff("/src/app", base, NULL, wt, &b, ...)	 while it runs
 *	gitwork_commit_all(wt, "parallelai: task 7", &author, NULL, commit,
 *			   ...)
 *	gitwork_files("/src/app", base, commit, NULL, &b, ...) once it is done
 *
 * which is, in git commands, roughly
 *
 *	$ git branch pai/task-7 $base
 *	$ git worktree add .git/parallelai/worktrees/7 pai/task-7
 *	$ git -C .git/parallelai/worktrees/7 add -A && git commit -m ...
 *	$ git diff --name-status $base $commit
 *
 * Every function opens and frees its own git_repository: libgit2 objects
 * must not be shared between threads, and the scheduler calls in here
 * from several. Errors are negative errnos with a one-line message in
 * err; libgit2's own message is appended after a colon.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <git2.h>

#include "buf.h"
#include "gitmsg.h"
#include "gitwork.h"
#include "quote.h"

#define DEFAULT_NAME "parallelai"
#define DEFAULT_EMAIL "parallelai@localhost"


int gitwork_init(void)
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

void gitwork_shutdown(void)
{
	git_libgit2_shutdown();
}

/* Look up a commit given as 40 hex digits. */
static int lookup_commit(git_commit **out, git_repository *repo,
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

int gitwork_check_repo(const char *path, char **gitdir_out,
		       char *err, size_t errlen)
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

int gitwork_head(const char *path, char oid[41], char *err, size_t errlen)
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
	git_oid_tostr(oid, 41, git_commit_id(head));
out:
	git_commit_free(head);
	git_repository_free(repo);
	return error;
}

int gitwork_branch_free(const char *path, const char *name, char *err,
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

int gitwork_each_path(const char *path, const char *commit_oid,
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
	if ((error = lookup_commit(&commit, repo, commit_oid, err,
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

int gitwork_head_branch(const char *path, char *name, size_t len,
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

/* mkdir -p: every missing directory up to and including path. */
static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	char *p, c;

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (p = tmp + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

static int rm_one(const char *fpath, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	remove(fpath);
	return 0;
}

/* rm -rf, best effort: used only to undo what this module created. */
static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Whether path is a worktree of repo with branch checked out: the one case
 * in which an existing path is reused (the task is being run again).
 */
static int is_our_worktree(git_repository *repo, const char *path,
			   const char *branch)
{
	git_repository *wt = NULL;
	git_reference *head = NULL;
	const char *target;
	char want[PATH_MAX], *a = NULL, *b = NULL;
	int ours = 0;

	if (git_repository_open_ext(&wt, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
				    NULL) < 0)
		goto out;
	if (!git_repository_is_worktree(wt))
		goto out;
	/* the same repository: compare the common directories on disk */
	a = realpath(git_repository_commondir(wt), NULL);
	b = realpath(git_repository_commondir(repo), NULL);
	if (!a || !b || strcmp(a, b))
		goto out;
	if (git_reference_lookup(&head, wt, "HEAD") < 0 ||
	    git_reference_type(head) != GIT_REFERENCE_SYMBOLIC)
		goto out;
	target = git_reference_symbolic_target(head);
	if ((size_t)snprintf(want, sizeof(want), "refs/heads/%s", branch) <
	    sizeof(want) && !strcmp(target, want))
		ours = 1;
out:
	free(a);
	free(b);
	git_reference_free(head);
	git_repository_free(wt);
	return ours;
}

/*
 * A .git/worktrees/NAME left behind by a worktree whose directory was
 * removed (rm -rf instead of git worktree remove): prune it so the name
 * can be used again. One whose directory still exists is a real worktree
 * elsewhere and is refused.
 */
static int prune_stale(git_repository *repo, const char *name,
		       const char *path, char *err, size_t errlen)
{
	git_worktree *wt = NULL;
	git_worktree_prune_options popts = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
	int error;

	error = git_worktree_lookup(&wt, repo, name);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s", path,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}
	if (git_worktree_validate(wt) == 0) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': "
		       "worktree '%s' already exists at '%s'", path, name,
		       git_worktree_path(wt));
		error = -EEXIST;
		goto out;
	}
	/* flags 0: only an invalid, unlocked entry; the directory is gone */
	if ((error = git_worktree_prune(wt, &popts)) < 0) {
		gitmsg_set(err, errlen, "cannot prune stale worktree '%s': %s",
		       name, gitmsg_last());
		error = gitmsg_errno(error);
	}
out:
	git_worktree_free(wt);
	return error;
}

static int find_attributes(const char *root, const git_tree_entry *entry,
			   void *payload)
{
	(void)root;
	if (!strcmp(git_tree_entry_name(entry), ".gitattributes")) {
		*(int *)payload = 1;
		return 1;	/* found one: stop the walk */
	}
	return 0;
}

static int file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (!dir || !*dir)
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return 1;	/* cannot tell: assume it is there */
	return stat(path, &st) == 0;
}

/* Whether name is set (or cannot be read). */
static int config_has(git_config *cfg, const char *name)
{
	git_config_entry *entry = NULL;
	int error = git_config_get_entry(&entry, cfg, name);

	git_config_entry_free(entry);
	return error != GIT_ENOTFOUND;
}

/*
 * Whether checking out tree could change any file's content on the way:
 * line-ending conversion, ident or filter drivers, all of which need an
 * attribute or core.autocrlf/core.eol. Without them checkout's filters do
 * nothing, yet looking them up costs a realpath (a readlink per path
 * component) for every file: most of the time a 20,000-file checkout
 * takes. Any doubt answers yes.
 */
static int filters_needed(git_repository *repo, git_tree *tree)
{
	git_config *cfg = NULL;
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char info[PATH_MAX];
	int value, error, found = 0;

	if (git_repository_config_snapshot(&cfg, repo) < 0)
		return 1;
	error = git_config_get_bool(&value, cfg, "core.autocrlf");
	if ((error == 0 && value) || (error < 0 && error != GIT_ENOTFOUND) ||
	    config_has(cfg, "core.eol") || config_has(cfg, "core.attributesfile"))
		found = 1;
	git_config_free(cfg);
	if (found)
		return 1;

	snprintf(info, sizeof(info), "%sinfo",
		 git_repository_commondir(repo));
	if (file_exists(info, "attributes") ||
	    file_exists(xdg, "git/attributes") ||
	    file_exists(home, ".config/git/attributes") ||
	    file_exists("/etc", "gitattributes"))
		return 1;
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, find_attributes,
			  &found) < 0 && !found)
		return 1;
	return found;
}

static int worktree_create(const char *repo_path, const char *name,
			   const char *path, const char *branch,
			   const char *base_oid, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *base = NULL;
	git_reference *ref = NULL;
	git_worktree *wt = NULL;
	git_object *tree = NULL;
	git_worktree_add_options opts;
	char entry[PATH_MAX], parent[PATH_MAX], *slash;
	struct stat st;
	int created_branch = 0, entry_existed = 1, added = 0;
	int error;

	/* the _init functions: the macros leave fields to -Wextra's dismay */
	git_worktree_add_options_init(&opts, GIT_WORKTREE_ADD_OPTIONS_VERSION);
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;

	if (lstat(path, &st) == 0) {
		if (is_our_worktree(repo, path, branch))
			goto out;
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s", path,
		       S_ISDIR(st.st_mode) ? "directory exists" :
		       "file exists");
		error = -EEXIST;
		goto out;
	}

	if ((size_t)snprintf(entry, sizeof(entry), "%sworktrees/%s",
			     git_repository_commondir(repo), name) >=
	    sizeof(entry) ||
	    (size_t)snprintf(parent, sizeof(parent), "%s", path) >=
	    sizeof(parent)) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s", path,
		       strerror(ENAMETOOLONG));
		error = -ENAMETOOLONG;
		goto out;
	}
	if ((error = lookup_commit(&base, repo, base_oid, err, errlen)) < 0)
		goto out;
	/* only when there is one: 1.5 fails a lookup without a message */
	if (lstat(entry, &st) == 0 &&
	    (error = prune_stale(repo, name, path, err, errlen)) < 0)
		goto out;
	entry_existed = lstat(entry, &st) == 0;

	/*
	 * git_worktree_add would create a branch named after the worktree;
	 * create ours at the base commit and hand it over instead. A branch
	 * that already exists belongs to an earlier run of the task and may
	 * hold its commits: check it out as it is, never move it.
	 */
	error = git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL);
	if (error == GIT_ENOTFOUND) {
		error = git_branch_create(&ref, repo, branch, base, 0);
		if (error < 0) {
			gitmsg_set(err, errlen, "cannot create branch '%s': %s",
			       branch, gitmsg_last());
			error = gitmsg_errno(error);
			goto out;
		}
		created_branch = 1;
	} else if (error < 0) {
		gitmsg_set(err, errlen, "cannot read branch '%s': %s", branch,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}

	/* the worktree's parent directories, which libgit2 does not make */
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if ((error = mkdir_p(parent)) < 0) {
			gitmsg_set(err, errlen, "cannot create directory '%s': %s",
			       parent, strerror(-error));
			goto fail;
		}
	}

	/*
	 * libgit2 makes .git/worktrees with O_EXCL after checking it is
	 * missing: two tasks starting at once would race for it.
	 */
	slash = strrchr(entry, '/');
	*slash = '\0';
	error = mkdir(entry, 0755) < 0 && errno != EEXIST ? -errno : 0;
	*slash = '/';
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot create directory '%.*s': %s",
		       (int)(slash - entry), entry, strerror(-error));
		goto fail;
	}

	opts.ref = ref;
	/*
	 * The directory is new and empty, so a forced checkout loses nothing
	 * and spares libgit2 the comparisons a safe one makes per file.
	 */
	opts.checkout_options.checkout_strategy = GIT_CHECKOUT_FORCE;
	/* the branch's own tree: a re-run checks out its earlier commits */
	if (git_reference_peel(&tree, ref, GIT_OBJECT_TREE) == 0 &&
	    !filters_needed(repo, (git_tree *)tree))
		opts.checkout_options.disable_filters = 1;
	added = 1;
	error = git_worktree_add(&wt, repo, name, path, &opts);
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s", path,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto fail;
	}
	goto out;

fail:
	/*
	 * Undo, in reverse order, what exists only because of this call:
	 * git_worktree_add leaves its directory and entry behind when the
	 * checkout fails, and the branch must go after the entry that
	 * checks it out.
	 */
	if (added) {
		rm_rf(path);
		if (!entry_existed)
			rm_rf(entry);
	}
	if (created_branch)
		git_reference_delete(ref);
out:
	git_object_free(tree);
	git_worktree_free(wt);
	git_reference_free(ref);
	git_commit_free(base);
	git_repository_free(repo);
	return error;
}

/*
 * One worktree is made at a time. libgit2 1.5 asks every worktree entry
 * whether it has the branch checked out before adding one, and an entry
 * another thread is half-way through writing answers "yes": the add then
 * fails with "reference is already checked out".
 */
static pthread_mutex_t worktree_lock = PTHREAD_MUTEX_INITIALIZER;

void gitwork_worktrees_lock(void)
{
	pthread_mutex_lock(&worktree_lock);
}

void gitwork_worktrees_unlock(void)
{
	pthread_mutex_unlock(&worktree_lock);
}

int gitwork_worktree_create(const char *repo_path, const char *name,
			    const char *path, const char *branch,
			    const char *base_oid, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&worktree_lock);
	r = worktree_create(repo_path, name, path, branch, base_oid, err,
			    errlen);
	pthread_mutex_unlock(&worktree_lock);
	return r;
}

int gitwork_worktree_discard(const char *repo_path, const char *name,
			     const char *path, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	char entry[PATH_MAX];
	int error;

	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		return error;
	pthread_mutex_lock(&worktree_lock);
	rm_rf(path);
	/* A half-written entry may not even parse as a worktree, so it is
	 * removed as files rather than through git_worktree_prune. */
	if ((size_t)snprintf(entry, sizeof(entry), "%sworktrees/%s",
			     git_repository_commondir(repo), name) <
	    sizeof(entry))
		rm_rf(entry);
	pthread_mutex_unlock(&worktree_lock);
	git_repository_free(repo);
	return 0;
}

int gitwork_clear_locks(const char *repo_path, const char *name,
			const char *branch, char *err, size_t errlen)
{
	static const char *const files[] = { "HEAD.lock", "index.lock" };
	git_repository *repo = NULL;
	const char *dir;
	char path[PATH_MAX];
	size_t i;
	int error;

	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		return error;
	dir = git_repository_commondir(repo);
	if ((size_t)snprintf(path, sizeof(path), "%srefs/heads/%s.lock", dir,
			     branch) < sizeof(path))
		unlink(path);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if ((size_t)snprintf(path, sizeof(path), "%sworktrees/%s/%s",
				     dir, name, files[i]) < sizeof(path))
			unlink(path);
	git_repository_free(repo);
	return 0;
}

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

/* git_index_add_all's filter: > 0 leaves a path out. */
static int skip_listed(const char *path, const char *spec, void *payload)
{
	const char *const *skip = payload;

	for (; skip && *skip; skip++)
		if (!strcmp(path, *skip))
			return 1;
	return 0;
}

int gitwork_commit_all(const char *worktree, const char *message,
		       const struct gitwork_author *author,
		       const char *const *skip, char oid_out[41],
		       char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_commit *head = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_buf msg = { 0 };
	git_oid tree_id, commit_id;
	char *all = "*";
	git_strarray spec = { &all, 1 };
	const char *name = DEFAULT_NAME, *email = DEFAULT_EMAIL;
	const git_commit *parents[1];
	int error;

	oid_out[0] = '\0';
	if ((error = gitmsg_open_repo(&repo, worktree, err, errlen)) < 0)
		goto out;
	if ((error = gitmsg_head_commit(&head, repo, worktree, err,
					       errlen)) < 0)
		goto out;

	/*
	 * git add -A: add_all picks up new, modified and deleted files
	 * (skipping ignored ones and those listed to skip), comparing
	 * against the index's stat data, so unchanged files are not read.
	 * (An update_all after it found nothing more to do: the mutation
	 * harness showed deletions recorded without it.)
	 */
	if ((error = git_repository_index(&index, repo)) < 0 ||
	    (error = git_index_add_all(index, &spec, GIT_INDEX_ADD_DEFAULT,
				       skip ? skip_listed : NULL,
				       (void *)skip)) < 0 ||
	    (error = git_index_write(index)) < 0 ||
	    (error = git_index_write_tree(&tree_id, index)) < 0) {
		gitmsg_set(err, errlen, "cannot add changes in '%s': %s", worktree,
		       gitmsg_last());
		error = gitmsg_errno(error);
		goto out;
	}

	if (git_oid_equal(&tree_id, git_commit_tree_id(head))) {
		git_oid_tostr(oid_out, 41, git_commit_id(head));
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
	git_oid_tostr(oid_out, 41, &commit_id);
out:
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
	if ((error = lookup_commit(&base, repo, base_oid, err, errlen)) < 0)
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
		if ((error = lookup_commit(&commit, repo, commit_oid, err,
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
