/*
 * git/worktree: a task's worktree from birth to removal: made on its
 * branch, discarded when a killed daemon left it half-made, its stale
 * locks cleared, and removed with its branch; see include/worktree.h.
 *
 *	worktree_create("/src/app", "pai-task-7",
 *		"/src/app/.git/parallelai/worktrees/7", "pai/task-7", base, ...)
 *	... the engine edits files in the worktree, gitwork commits ...
 *	worktree_remove("/src/app", "pai-task-7",
 *		"/src/app/.git/parallelai/worktrees/7", "pai/task-7", ...)
 *
 * which is, in git commands, roughly
 *
 *	$ git branch pai/task-7 $base
 *	$ git worktree add .git/parallelai/worktrees/7 pai/task-7
 *	$ git worktree remove .git/parallelai/worktrees/7
 *	$ git branch -D pai/task-7
 *
 * Every function opens and frees its own git_repository. Worktrees are
 * added and removed one at a time (worktree_lock).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <git2.h>

#include "fsutil.h"
#include "gitmsg.h"
#include "worktree.h"
#include "gitint.h"

/*
 * One worktree is made at a time: whether a branch is checked out is
 * read from the other entries' HEAD files, and an entry another thread
 * is half-way through writing would answer wrong (libgit2 1.5's own
 * git_worktree_add failed so with "reference is already checked out").
 */
static pthread_mutex_t worktrees = PTHREAD_MUTEX_INITIALIZER;

void worktree_lock(void)
{
	pthread_mutex_lock(&worktrees);
}

void worktree_unlock(void)
{
	pthread_mutex_unlock(&worktrees);
}

/*
 * The common directory of the repository at repo_path ("/src/app/.git/"),
 * found by opening it once and then kept: clearing locks and discarding
 * a half-made worktree happen before every run and need nothing else of
 * the repository (an open reads its config files: 7 opens a run cost a
 * fifth of the daemon's instructions).
 */
static int common_dir(char out[PATH_MAX], const char *repo_path, char *err,
		      size_t errlen)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char known_repo[PATH_MAX], known_common[PATH_MAX];
	git_repository *repo = NULL;
	int error = 0;

	pthread_mutex_lock(&lock);
	if (*known_repo && !strcmp(known_repo, repo_path))
		goto out;
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if (strlen(repo_path) >= PATH_MAX ||
	    strlen(git_repository_commondir(repo)) >= PATH_MAX) {
		/* not kept: asked afresh next time */
		snprintf(out, PATH_MAX, "%s", git_repository_commondir(repo));
		git_repository_free(repo);
		pthread_mutex_unlock(&lock);
		return 0;
	}
	snprintf(known_repo, PATH_MAX, "%s", repo_path);
	snprintf(known_common, PATH_MAX, "%s",
		 git_repository_commondir(repo));
	git_repository_free(repo);
out:
	if (error == 0)
		memcpy(out, known_common, PATH_MAX);
	pthread_mutex_unlock(&lock);
	return error;
}

/* The repository's worktrees/NAME entry into entry; -ENAMETOOLONG. */
static int entry_path(char entry[PATH_MAX], git_repository *repo,
		      const char *name)
{
	if ((size_t)snprintf(entry, PATH_MAX, "%sworktrees/%s",
			     git_repository_commondir(repo), name) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Whether path is a worktree of repo: its .git file names a directory in
 * repo's worktrees/ (a relative name is taken from path, as git does).
 */
static int is_worktree_of(git_repository *repo, const char *path)
{
	char file[PATH_MAX], line[PATH_MAX + 16], *gitdir = NULL;
	char *common = NULL;
	size_t len;
	FILE *f;
	int yes = 0;

	if ((size_t)snprintf(file, sizeof(file), "%s/.git", path) >=
	    sizeof(file) || !(f = fopen(file, "r")))
		return 0;
	if (fgets(line, sizeof(line), f) && !strncmp(line, "gitdir: ", 8)) {
		len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (line[8] != '/' && (size_t)snprintf(file, sizeof(file),
				"%s/%s", path, line + 8) < sizeof(file))
			gitdir = realpath(file, NULL);
		else if (line[8] == '/')
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

/*
 * Whether path is a worktree of repo with branch checked out: the one case
 * in which an existing path is reused (the task is being run again).
 */
static int is_our_worktree(git_repository *repo, const char *path,
			   const char *branch)
{
	git_repository *wt = NULL;
	git_reference *head = NULL;
	char want[PATH_MAX];
	int ours = 0;

	if (!is_worktree_of(repo, path) ||
	    git_repository_open_ext(&wt, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
				    NULL) < 0 ||
	    !git_repository_is_worktree(wt))
		goto out;
	if (git_reference_lookup(&head, wt, "HEAD") < 0 ||
	    git_reference_type(head) != GIT_REFERENCE_SYMBOLIC)
		goto out;
	if ((size_t)snprintf(want, sizeof(want), "refs/heads/%s", branch) <
	    sizeof(want) && !strcmp(git_reference_symbolic_target(head), want))
		ours = 1;
out:
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
int mg_filters_needed(git_repository *repo, git_tree *tree)
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

/*
 * Where a new worktree goes: 0 when path is free, 1 when it holds this
 * task's worktree already (a re-run: reused as it is), else -EEXIST.
 */
static int path_free(git_repository *repo, const char *path,
		     const char *branch, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (is_our_worktree(repo, path, branch))
		return 1;
	gitmsg_set(err, errlen, "cannot create worktree '%s': %s", path,
		   S_ISDIR(st.st_mode) ? "directory exists" : "file exists");
	return -EEXIST;
}

/*
 * The branch to check out. git_worktree_add would create a branch named
 * after the worktree; create ours at the base commit and hand it over
 * instead. A branch that already exists belongs to an earlier run of the
 * task and may hold its commits: check it out as it is, never move it.
 * *created says whether it was made here.
 */
static int branch_at(git_reference **ref, int *created, git_repository *repo,
		     const char *branch, const git_commit *base, char *err,
		     size_t errlen)
{
	int error;

	*created = 0;
	error = git_branch_lookup(ref, repo, branch, GIT_BRANCH_LOCAL);
	if (error == GIT_ENOTFOUND) {
		error = git_branch_create(ref, repo, branch, base, 0);
		if (error < 0) {
			gitmsg_set(err, errlen, "cannot create branch '%s': %s",
			       branch, gitmsg_last());
			return gitmsg_errno(error);
		}
		*created = 1;
	} else if (error < 0) {
		gitmsg_set(err, errlen, "cannot read branch '%s': %s", branch,
		       gitmsg_last());
		return gitmsg_errno(error);
	}
	return 0;
}

/*
 * The directories libgit2 does not make: the worktree's parents, and the
 * repository's worktrees/ above entry. libgit2 makes worktrees/ with
 * O_EXCL after checking it is missing: two tasks starting at once would
 * race for it.
 */
static int make_dirs(const char *path, char entry[PATH_MAX], char *err,
		     size_t errlen)
{
	char parent[PATH_MAX], *slash;
	int error;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if ((error = mkdir_p(parent, 0755)) < 0) {
			gitmsg_set(err, errlen, "cannot create directory '%s': %s",
			       parent, strerror(-error));
			return error;
		}
	}
	slash = strrchr(entry, '/');
	*slash = '\0';
	error = mkdir(entry, 0755) < 0 && errno != EEXIST ? -errno : 0;
	*slash = '/';
	if (error < 0)
		gitmsg_set(err, errlen, "cannot create directory '%.*s': %s",
		       (int)(slash - entry), entry, strerror(-error));
	return error;
}

/* The first line of a HEAD file, without its newline; -errno. */
static int read_head(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -errno;
	ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

/*
 * Whether refname is the HEAD of the repository or of any of its
 * worktrees: their HEAD files read as text. git_branch_is_checked_out
 * (which git_worktree_add asks) opens every worktree as a repository,
 * its config files and all: with a worktree per task, each new one cost
 * more than the last (12 ms at 100 worktrees, under worktree_lock).
 */
static int checked_out_anywhere(git_repository *repo, const char *refname)
{
	const char *common = git_repository_commondir(repo);
	char path[PATH_MAX], want[PATH_MAX], head[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int found = 0;

	if ((size_t)snprintf(want, sizeof(want), "ref: %s", refname) >=
	    sizeof(want))
		return 1;	/* cannot tell: refuse */
	snprintf(path, sizeof(path), "%sHEAD", common);
	if (read_head(path, head, sizeof(head)) == 0 && !strcmp(head, want))
		return 1;
	snprintf(path, sizeof(path), "%sworktrees", common);
	if (!(dir = opendir(path)))
		return 0;
	while (!found && (d = readdir(dir))) {
		if (d->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "%sworktrees/%s/HEAD",
				     common, d->d_name) >= sizeof(path))
			continue;
		found = read_head(path, head, sizeof(head)) == 0 &&
			!strcmp(head, want);
	}
	closedir(dir);
	return found;
}

/* dir/name holding line and a newline, as git_worktree_add writes it. */
static int put_line(const char *dir, const char *name, const char *line)
{
	char path[PATH_MAX], text[PATH_MAX + 16];
	int n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) ||
	    (n = snprintf(text, sizeof(text), "%s\n", line)) < 0 ||
	    (size_t)n >= sizeof(text))
		return -ENAMETOOLONG;
	return write_file(path, text, (size_t)n, 0644);
}

/*
 * The files of a linked worktree, what git_worktree_add writes: path/.git
 * names entry, entry names the common directory, path's .git and the
 * branch as HEAD. Absolute, real paths, directories with a slash.
 */
static int write_link(git_repository *repo, const char *entry,
		      const char *path, const char *refname)
{
	char *real_entry = NULL, *real_path = NULL, *common = NULL;
	char line[PATH_MAX + 16];
	int error = -ENOMEM;

	if (!(real_entry = realpath(entry, NULL)) ||
	    !(real_path = realpath(path, NULL)) ||
	    !(common = realpath(git_repository_commondir(repo), NULL))) {
		error = -errno;
		goto out;
	}
	snprintf(line, sizeof(line), "gitdir: %s/", real_entry);
	if ((error = put_line(path, ".git", line)) < 0)
		goto out;
	snprintf(line, sizeof(line), "%s/", common);
	if ((error = put_line(entry, "commondir", line)) < 0)
		goto out;
	snprintf(line, sizeof(line), "%s/.git", real_path);
	if ((error = put_line(entry, "gitdir", line)) < 0)
		goto out;
	snprintf(line, sizeof(line), "ref: %s", refname);
	error = put_line(entry, "HEAD", line);
out:
	free(real_entry);
	free(real_path);
	free(common);
	return error;
}

/* The new worktree's HEAD checked out into its empty directory. */
static int check_out(git_repository *repo, const char *path,
		     git_reference *ref)
{
	git_checkout_options opts;
	git_repository *wt = NULL;
	git_object *tree = NULL;
	int error;

	/* the _init functions: the macros leave fields to -Wextra's dismay */
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	/*
	 * The directory is new and empty, so a forced checkout loses nothing
	 * and spares libgit2 the comparisons a safe one makes per file.
	 */
	opts.checkout_strategy = GIT_CHECKOUT_FORCE;
	/* the branch's own tree: a re-run checks out its earlier commits */
	if (git_reference_peel(&tree, ref, GIT_OBJECT_TREE) == 0 &&
	    !mg_filters_needed(repo, (git_tree *)tree))
		opts.disable_filters = 1;
	if ((error = git_repository_open(&wt, path)) == 0)
		error = git_checkout_head(wt, &opts);
	git_object_free(tree);
	git_repository_free(wt);
	return error;
}

/*
 * git worktree add path, on the branch ref, into a new directory: what
 * git_worktree_add does, but asking whether the branch is checked out
 * elsewhere only when it existed before (a branch made a moment ago is
 * nobody's HEAD), and then from the HEAD files.
 */
static int add_worktree(git_repository *repo, const char *entry,
			const char *path, git_reference *ref, int new_branch,
			char *err, size_t errlen)
{
	const char *refname = git_reference_name(ref);
	int error;

	if (!new_branch && checked_out_anywhere(repo, refname)) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': "
			   "reference is already checked out", path);
		return -EEXIST;
	}
	if (mkdir(entry, 0755) < 0 || mkdir(path, 0755) < 0) {
		error = -errno;
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s",
			   path, strerror(-error));
		return error;
	}
	if ((error = write_link(repo, entry, path, refname)) < 0) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s",
			   path, strerror(-error));
		return error;
	}
	if ((error = check_out(repo, path, ref)) < 0) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s",
			   path, gitmsg_last());
		return gitmsg_errno(error);
	}
	return 0;
}

static int create_locked(const char *repo_path, const char *name,
			 const char *path, const char *branch,
			 const char *base_oid, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *base = NULL;
	git_reference *ref = NULL;
	char entry[PATH_MAX];
	struct stat st;
	int created_branch = 0, entry_existed = 1, added = 0;
	int error;

	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if ((error = path_free(repo, path, branch, err, errlen)) != 0) {
		error = error > 0 ? 0 : error;
		goto out;
	}
	if (entry_path(entry, repo, name) < 0 || strlen(path) >= PATH_MAX) {
		gitmsg_set(err, errlen, "cannot create worktree '%s': %s", path,
		       strerror(ENAMETOOLONG));
		error = -ENAMETOOLONG;
		goto out;
	}
	if ((error = mg_lookup_commit(&base, repo, base_oid, err, errlen)) < 0)
		goto out;
	/* only when there is one: 1.5 fails a lookup without a message */
	if (lstat(entry, &st) == 0 &&
	    (error = prune_stale(repo, name, path, err, errlen)) < 0)
		goto out;
	entry_existed = lstat(entry, &st) == 0;

	if ((error = branch_at(&ref, &created_branch, repo, branch, base, err,
			       errlen)) < 0 ||
	    (error = make_dirs(path, entry, err, errlen)) < 0)
		goto fail;
	added = 1;
	if ((error = add_worktree(repo, entry, path, ref, created_branch,
				  err, errlen)) < 0)
		goto fail;
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
	git_reference_free(ref);
	git_commit_free(base);
	git_repository_free(repo);
	return error;
}

int worktree_create(const char *repo_path, const char *name,
		    const char *path, const char *branch,
		    const char *base_oid, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&worktrees);
	r = create_locked(repo_path, name, path, branch, base_oid, err,
			  errlen);
	pthread_mutex_unlock(&worktrees);
	return r;
}

int worktree_discard(const char *repo_path, const char *name,
		     const char *path, char *err, size_t errlen)
{
	char common[PATH_MAX], entry[PATH_MAX];
	int error;

	if ((error = common_dir(common, repo_path, err, errlen)) < 0)
		return error;
	pthread_mutex_lock(&worktrees);
	rm_rf(path);
	/* A half-written entry may not even parse as a worktree, so it is
	 * removed as files rather than through git_worktree_prune. */
	if ((size_t)snprintf(entry, sizeof(entry), "%sworktrees/%s", common,
			     name) < sizeof(entry))
		rm_rf(entry);
	pthread_mutex_unlock(&worktrees);
	return 0;
}

int worktree_clear_locks(const char *repo_path, const char *name,
			 const char *branch, char *err, size_t errlen)
{
	static const char *const files[] = { "HEAD.lock", "index.lock" };
	char dir[PATH_MAX], path[PATH_MAX];
	size_t i;
	int error;

	if ((error = common_dir(dir, repo_path, err, errlen)) < 0)
		return error;
	if ((size_t)snprintf(path, sizeof(path), "%srefs/heads/%s.lock", dir,
			     branch) < sizeof(path))
		unlink(path);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if ((size_t)snprintf(path, sizeof(path), "%sworktrees/%s/%s",
				     dir, name, files[i]) < sizeof(path))
			unlink(path);
	return 0;
}

/*
 * The worktree's directory, rm -rf, when it is one of repo's: an empty
 * directory counts too (a checkout interrupted before it wrote anything).
 */
static int remove_dir(git_repository *repo, const char *repo_path,
		      const char *path, char *err, size_t errlen)
{
	struct stat st;
	int error;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode) && rmdir(path) == 0)
		return 0;
	if (!S_ISDIR(st.st_mode) || !is_worktree_of(repo, path)) {
		gitmsg_set(err, errlen, "cannot remove '%s': not a "
		       "worktree of '%s'", path, repo_path);
		return -EINVAL;
	}
	if ((error = rm_rf(path)) < 0)
		gitmsg_set(err, errlen, "cannot remove worktree '%s': %s",
		       path, strerror(-error));
	return error;
}

/*
 * The worktrees/NAME entry, once its directory is gone: pruned (flags 0
 * prunes only an invalid, unlocked one), or removed as files when it
 * does not even parse.
 */
static int prune_entry(git_worktree *wt, const char *entry, const char *name,
		       char *err, size_t errlen)
{
	git_worktree_prune_options popts;
	struct stat st;

	git_worktree_prune_options_init(&popts,
					GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
	if ((!wt || git_worktree_prune(wt, &popts) < 0) &&
	    lstat(entry, &st) == 0)
		rm_rf(entry);
	if (lstat(entry, &st) == 0) {
		gitmsg_set(err, errlen, "cannot prune worktree '%s'", name);
		return -EIO;
	}
	return 0;
}

/* The task's branch, unless it is checked out somewhere; gone is fine. */
static int delete_branch(git_repository *repo, const char *branch, char *err,
			 size_t errlen)
{
	git_reference *ref = NULL;
	int error;

	error = git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL);
	if (error == GIT_ENOTFOUND)
		return 0;
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
	return error;
}

int worktree_remove(const char *repo_path, const char *name,
		    const char *path, const char *branch,
		    char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_worktree *wt = NULL;
	char entry[PATH_MAX];
	struct stat st;
	int error;

	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		goto out;
	if (entry_path(entry, repo, name) < 0) {
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
	if ((error = remove_dir(repo, repo_path, path, err, errlen)) < 0 ||
	    (error = prune_entry(wt, entry, name, err, errlen)) < 0)
		goto out;
	if (branch)
		error = delete_branch(repo, branch, err, errlen);
out:
	git_worktree_free(wt);
	git_repository_free(repo);
	return error;
}
