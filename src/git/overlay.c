/*
 * git/overlay: a task's worktree as an overlay of a shared checkout of its
 * base commit; see include/overlay.h. In git commands, roughly
 *
 *	$ git --work-tree=WORKTREES/.overlay/base/OID/tree checkout -f OID  (once)
 *	$ git branch pai/task-7 $base
 *	$ mount -t overlay ... WORKTREES/7	(ovmount.c)
 *	$ echo "gitdir: .git/worktrees/pai-task-7" > WORKTREES/7/.git
 *	$ cp WORKTREES/.overlay/base/OID/index .git/worktrees/pai-task-7/index
 *	$ git worktree lock WORKTREES/7
 *
 * The copied index keeps the stat data of the base's files; overlayfs
 * shows a file of the lower layer with its own inode number, size and
 * times (only st_dev differs, which git does not compare), so `git
 * status` in a new worktree finds it clean without reading a file.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/repository.h>

#include "fsutil.h"
#include "gitmsg.h"
#include "overlay.h"
#include "worktree.h"
#include "gitint.h"

static void task_dir(char out[PATH_MAX], const char *wtdir, int64_t id)
{
	snprintf(out, PATH_MAX, "%s/.overlay/tasks/%lld", wtdir,
		 (long long)id);
}

bool overlay_is(const char *wtdir, int64_t id)
{
	char dir[PATH_MAX], info[PATH_MAX + 8];

	task_dir(dir, wtdir, id);
	snprintf(info, sizeof(info), "%s/info", dir);
	return access(info, F_OK) == 0;
}

int ov_read_info(const char *dir, char oid[OV_OID_SIZE], char path[PATH_MAX])
{
	char file[PATH_MAX + 8], line[PATH_MAX + 2];
	size_t n;
	FILE *f;
	int r = -EINVAL;

	snprintf(file, sizeof(file), "%s/info", dir);
	if (!(f = fopen(file, "re")))
		return -errno;
	if (fgets(line, sizeof(line), f) && (n = strcspn(line, "\n")) > 0 &&
	    n < OV_OID_SIZE) {
		memcpy(oid, line, n);
		oid[n] = '\0';
		if (fgets(line, sizeof(line), f) &&
		    (n = strcspn(line, "\n")) > 0 && line[0] == '/') {
			memcpy(path, line, n);
			path[n] = '\0';
			r = 0;
		}
	}
	fclose(f);
	return r;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return write_file(path, text, strlen(text), 0644);
}

/*
 * The checkout of commit into dir/tree with its index in dir/index:
 * libgit2's checkout, forced into an empty directory, on a handle of
 * the repository whose work tree and index are ours (nothing of the
 * repository's own is written).
 */
static int checkout_base(git_repository *main, const git_commit *commit,
			 const char *dir, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_tree *tree = NULL;
	git_commit *own = NULL;
	git_checkout_options opts;
	char tree_dir[PATH_MAX + 16], index_path[PATH_MAX + 16];
	int error;

	snprintf(tree_dir, sizeof(tree_dir), "%s/tree", dir);
	snprintf(index_path, sizeof(index_path), "%s/index", dir);
	if ((error = mkdir_p(tree_dir, 0755)) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", tree_dir,
			 strerror(-error));
		return error;
	}
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy = GIT_CHECKOUT_FORCE;
	if ((error = git_repository_open_bare(&repo,
			git_repository_commondir(main))) == 0 &&
	    (error = git_repository_set_workdir(repo, tree_dir, 0)) == 0 &&
	    (error = git_index_open(&index, index_path)) == 0 &&
	    (error = git_repository_set_index(repo, index)) == 0 &&
	    (error = git_commit_lookup(&own, repo, git_commit_id(commit))) == 0 &&
	    (error = git_commit_tree(&tree, own)) == 0) {
		/* as worktree_create's: no filters where none can apply */
		opts.disable_filters = !mg_filters_needed(repo, tree);
		/* read_tree keeps the stat data of the entries checked out
		 * and adds the tree cache: a task's commit then rebuilds
		 * only the directories it changed */
		if ((error = git_checkout_tree(repo, (git_object *)tree,
					       &opts)) == 0 &&
		    (error = git_index_read_tree(index, tree)) == 0)
			error = git_index_write(index);
	}
	if (error < 0) {
		gitmsg_set(err, errlen, "cannot check out %s in '%s': %s",
			   git_oid_tostr_s(git_commit_id(commit)), tree_dir,
			   gitmsg_last());
		error = gitmsg_errno(error);
	}
	git_tree_free(tree);
	git_commit_free(own);
	git_index_free(index);
	git_repository_free(repo);
	return error;
}

/*
 * Wait into the next second (once per base). git, which compares whole
 * seconds, takes a file written in the same second as the index for
 * "racily clean" and reads it: a task's index copied within the second
 * the base was written would have its first `git status` read every
 * file. (The file system's clock lags the real one by a tick at most.)
 */
static void next_second(void)
{
	struct timespec now, nap = { 0, 0 };

	clock_gettime(CLOCK_REALTIME, &now);
	nap.tv_nsec = 1000000000L - now.tv_nsec + 20000000L;
	if (nap.tv_nsec >= 1000000000L) {
		nap.tv_sec = 1;
		nap.tv_nsec -= 1000000000L;
	}
	nanosleep(&nap, NULL);
}

/* WORKTREES/.overlay/base/OID, made (under .new, then renamed) unless it is
 * there. */
static int make_base(char base[PATH_MAX], git_repository *repo,
		     const char *wtdir, const git_commit *commit,
		     char *err, size_t errlen)
{
	char tmp[PATH_MAX + 8], index[PATH_MAX + 8];
	int error;

	snprintf(base, PATH_MAX, "%s/.overlay/base/%s", wtdir,
		 git_oid_tostr_s(git_commit_id(commit)));
	snprintf(index, sizeof(index), "%s/index", base);
	if (access(index, F_OK) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.new", base);
	rm_rf(tmp);
	rm_rf(base);
	if ((error = checkout_base(repo, commit, tmp, err, errlen)) == 0)
		next_second();
	if (error < 0 || (rename(tmp, base) < 0 && (error = -errno))) {
		if (!*err)
			snprintf(err, errlen, "cannot rename '%s': %s", tmp,
				 strerror(-error));
		rm_rf(tmp);
	}
	return error;
}

/* The worktree entry NAME: what git worktree add writes, the base's index
 * and a lock. */
static int write_entry(const char *entry, const char *path,
		       const char *branch, const char *base, char *err,
		       size_t errlen)
{
	char text[PATH_MAX + 64], from[PATH_MAX + 8], to[PATH_MAX + 8];
	char *slash;
	int r;

	/* worktrees/ itself, which no worktree made yet */
	snprintf(text, sizeof(text), "%s", entry);
	if ((slash = strrchr(text, '/'))) {
		*slash = '\0';
		mkdir(text, 0755);
	}
	if (mkdir(entry, 0755) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create worktree entry '%s': %s",
			 entry, strerror(errno));
		return r;
	}
	snprintf(from, sizeof(from), "%s/index", base);
	snprintf(to, sizeof(to), "%s/index", entry);
	snprintf(text, sizeof(text), "%s/.git\n", path);
	if ((r = write_text(entry, "gitdir", text)) < 0 ||
	    (r = write_text(entry, "commondir", "../..\n")) < 0)
		goto fail;
	snprintf(text, sizeof(text), "ref: refs/heads/%s\n", branch);
	if ((r = write_text(entry, "HEAD", text)) < 0 ||
	    (r = write_text(entry, "locked", "parallelai: an overlay "
			    "checkout, mounted by the daemon\n")) < 0 ||
	    (r = copy_file(from, to)) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot write worktree entry '%s': %s", entry,
		 strerror(-r));
	return r;
}

/* The task's branch, made at base_oid when it is not there; its commit. */
static int task_branch(git_commit **tip, int *created, git_repository *repo,
		       const char *branch, const char *base_oid, char *err,
		       size_t errlen)
{
	git_reference *ref = NULL;
	git_commit *base = NULL;
	int error;

	*created = 0;
	error = git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL);
	if (error == GIT_ENOTFOUND) {
		if ((error = mg_lookup_commit(&base, repo, base_oid, err,
					      errlen)) < 0)
			return error;
		error = git_branch_create(&ref, repo, branch, base, 0);
		*created = error == 0;
	}
	if (error < 0 || (error = git_reference_peel((git_object **)tip, ref,
						     GIT_OBJECT_COMMIT)) < 0) {
		gitmsg_set(err, errlen, "cannot create branch '%s': %s",
			   branch, gitmsg_last());
		error = gitmsg_errno(error);
	}
	git_commit_free(base);
	git_reference_free(ref);
	return error;
}

static void delete_branch(git_repository *repo, const char *branch)
{
	git_reference *ref = NULL;

	if (git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL) == 0)
		git_reference_delete(ref);
	git_reference_free(ref);
}

/* Task dir's upper, work and info, its entry, the mount point, the
 * mount: every step with the base's checkout made. */
static int assemble(const char *dir, const char *base, const char *entry,
		    const char *path, const char *branch, char *err,
		    size_t errlen)
{
	char upper[PATH_MAX + 8], work[PATH_MAX + 8], lower[PATH_MAX + 8];
	char text[PATH_MAX + 64];
	const char *oid = strrchr(base, '/') + 1;
	int r;

	snprintf(upper, sizeof(upper), "%s/upper", dir);
	snprintf(work, sizeof(work), "%s/work", dir);
	snprintf(lower, sizeof(lower), "%s/tree", base);
	snprintf(text, sizeof(text), "%s\n%s\n", oid, path);
	rm_rf(dir);
	if ((r = mkdir_p(upper, 0755)) < 0 || (r = mkdir_p(work, 0700)) < 0 ||
	    (r = write_text(dir, "info", text)) < 0 ||
	    (r = mkdir_p(path, 0755)) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", dir,
			 strerror(-r));
		return r;
	}
	snprintf(text, sizeof(text), "gitdir: %s\n", entry);
	if ((r = write_text(upper, ".git", text)) < 0) {
		snprintf(err, errlen, "cannot write '%s/.git': %s", upper,
			 strerror(-r));
		return r;
	}
	if ((r = write_entry(entry, path, branch, base, err, errlen)) < 0)
		return r;
	return ov_mount(lower, upper, work, path, err, errlen);
}

/* Whether path can be a mount point: missing, or an empty directory. */
static int path_free(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0 || (S_ISDIR(st.st_mode) && rmdir(path) == 0))
		return 0;
	snprintf(err, errlen, "cannot create worktree '%s': %s", path,
		 S_ISDIR(st.st_mode) ? "directory exists" : "file exists");
	return -EEXIST;
}

static int create_locked(const char *repo_path, const char *wtdir,
			 int64_t id, const char *name, const char *path,
			 const char *branch, const char *base_oid, char *err,
			 size_t errlen)
{
	git_repository *repo = NULL;
	git_commit *tip = NULL;
	char dir[PATH_MAX], base[PATH_MAX], entry[PATH_MAX];
	struct stat st;
	int created = 0, error;

	task_dir(dir, wtdir, id);
	if ((error = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		return error;
	snprintf(entry, sizeof(entry), "%sworktrees/%s",
		 git_repository_commondir(repo), name);
	if (lstat(entry, &st) == 0) {
		snprintf(err, errlen, "cannot create worktree '%s': worktree "
			 "'%s' already exists", path, name);
		error = -EEXIST;
		goto out;
	}
	if ((error = path_free(path, err, errlen)) < 0)
		goto out;
	if ((error = task_branch(&tip, &created, repo, branch, base_oid, err,
				 errlen)) < 0 ||
	    (error = make_base(base, repo, wtdir, tip, err, errlen)) < 0)
		goto fail;
	if ((error = assemble(dir, base, entry, path, branch, err,
			      errlen)) == 0)
		goto out;
fail:
	ov_umount(path);
	rmdir(path);
	rm_rf(entry);
	rm_rf(dir);
	if (created)
		delete_branch(repo, branch);
	ov_prune_bases(wtdir);
out:
	git_commit_free(tip);
	git_repository_free(repo);
	return error;
}

int overlay_create(const char *repo, const char *wtdir, int64_t id,
		   const char *name, const char *path, const char *branch,
		   const char *base_oid, char *err, size_t errlen)
{
	int r;

	worktree_lock();
	r = create_locked(repo, wtdir, id, name, path, branch, base_oid,
			  err, errlen);
	worktree_unlock();
	return r;
}

/* Task id's directory, base and mount point (its info), and its upper
 * directory's path. */
static int task_info(const char *wtdir, int64_t id, char dir[PATH_MAX],
		     char oid[OV_OID_SIZE], char path[PATH_MAX],
		     char upper[PATH_MAX + 8], char *err, size_t errlen)
{
	int r;

	task_dir(dir, wtdir, id);
	if ((r = ov_read_info(dir, oid, path)) < 0) {
		snprintf(err, errlen, "cannot read '%s/info': %s", dir,
			 strerror(-r));
		return r;
	}
	snprintf(upper, PATH_MAX + 8, "%s/upper", dir);
	return 0;
}

int overlay_mount(const char *wtdir, int64_t id, char *err,
		  size_t errlen)
{
	char dir[PATH_MAX], oid[OV_OID_SIZE], path[PATH_MAX];
	char upper[PATH_MAX + 8], work[PATH_MAX + 8], lower[PATH_MAX + 80];
	int r;

	if ((r = task_info(wtdir, id, dir, oid, path, upper, err,
			   errlen)) < 0)
		return r;
	if (ov_mounted(path, upper))
		return 0;
	snprintf(work, sizeof(work), "%s/work", dir);
	snprintf(lower, sizeof(lower), "%s/.overlay/base/%s/tree", wtdir,
		 oid);
	if (access(lower, F_OK) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot mount the overlay at '%s': its "
			 "base '%s': %s", path, lower, strerror(errno));
		return r;
	}
	if ((r = mkdir_p(path, 0755)) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path,
			 strerror(-r));
		return r;
	}
	return ov_mount(lower, upper, work, path, err, errlen);
}

int overlay_seed(const char *wtdir, int64_t id,
		 void (*fill)(const char *upper, void *arg), void *arg,
		 char *err, size_t errlen)
{
	char dir[PATH_MAX], oid[OV_OID_SIZE], path[PATH_MAX];
	char upper[PATH_MAX + 8];
	int r;

	if ((r = task_info(wtdir, id, dir, oid, path, upper, err,
			   errlen)) < 0)
		return r;
	/* a layer changed under a mounted overlay is undefined */
	if (ov_mounted(path, upper) && (r = ov_umount(path)) < 0) {
		snprintf(err, errlen, "cannot unmount the overlay at '%s': %s",
			 path, strerror(-r));
		return r;
	}
	fill(upper, arg);
	return overlay_mount(wtdir, id, err, errlen);
}

/* Every overlay at path unmounted (stacked ones too). */
static void unmount_all_at(const char *path, const char *upper)
{
	int tries;

	for (tries = 0; tries < 8 && ov_mounted(path, upper); tries++)
		ov_umount(path);
}

int overlay_release(const char *repo_path, const char *wtdir,
		    int64_t id, const char *name, char *err, size_t errlen)
{
	git_repository *repo = NULL;
	char dir[PATH_MAX], oid[OV_OID_SIZE], path[PATH_MAX];
	char upper[PATH_MAX + 8], lock[PATH_MAX];
	int r;

	task_dir(dir, wtdir, id);
	if (ov_read_info(dir, oid, path) < 0)
		return 0;
	snprintf(upper, sizeof(upper), "%s/upper", dir);
	unmount_all_at(path, upper);
	if (ov_mounted(path, upper)) {
		snprintf(err, errlen, "cannot unmount the overlay at '%s'",
			 path);
		return -EBUSY;
	}
	if ((r = gitmsg_open_repo(&repo, repo_path, err, errlen)) < 0)
		return r;
	snprintf(lock, sizeof(lock), "%sworktrees/%s/locked",
		 git_repository_commondir(repo), name);
	unlink(lock);
	git_repository_free(repo);
	return 0;
}

/* What is left of task dir: unmounted, removed. */
static void remove_task(const char *dir)
{
	char oid[OV_OID_SIZE], path[PATH_MAX], upper[PATH_MAX + 8];

	snprintf(upper, sizeof(upper), "%s/upper", dir);
	if (ov_read_info(dir, oid, path) == 0)
		unmount_all_at(path, upper);
	rm_rf(dir);
}

void overlay_forget(const char *wtdir, int64_t id)
{
	char dir[PATH_MAX];
	struct stat st;

	task_dir(dir, wtdir, id);
	/* the common case, a task that never had one: no scan of the bases */
	if (lstat(dir, &st) < 0)
		return;
	worktree_lock();
	remove_task(dir);
	ov_prune_bases(wtdir);
	worktree_unlock();
}

void overlay_discard(const char *wtdir, int64_t id)
{
	overlay_forget(wtdir, id);
}

/* Whether the base named name is one a task's info names. */
static bool base_used(const char *tasks, const char *name)
{
	char dir[PATH_MAX + 256], oid[OV_OID_SIZE], path[PATH_MAX];
	struct dirent *e;
	bool used = false;
	DIR *d = opendir(tasks);

	while (d && !used && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", tasks, e->d_name);
		used = ov_read_info(dir, oid, path) == 0 &&
		       !strcmp(oid, name);
	}
	if (d)
		closedir(d);
	return used;
}

void ov_prune_bases(const char *wtdir)
{
	char bases[PATH_MAX], tasks[PATH_MAX], dir[PATH_MAX + 256];
	struct dirent *e;
	DIR *d;

	snprintf(bases, sizeof(bases), "%s/.overlay/base", wtdir);
	snprintf(tasks, sizeof(tasks), "%s/.overlay/tasks", wtdir);
	if (!(d = opendir(bases)))
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || base_used(tasks, e->d_name))
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", bases, e->d_name);
		rm_rf(dir);
	}
	closedir(d);
}
