/*
 * sched/prepare: a run's worktree made ready before its engine starts:
 * the one the task has (its overlay mounted again, HEAD reattached), or
 * a new one (a full checkout or an overlay, -o checkout=) with the work
 * of the task's dependencies merged in; then what git does not track:
 * worktree.copy from the user's checkout and the worktree.setup command.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "fsutil.h"
#include "gitwork.h"
#include "merge.h"
#include "overlay.h"
#include "pai.h"
#include "runner.h"
#include "store.h"
#include "worktree.h"
#include "schedint.h"

/*
 * A task with dependencies starts from its base with their work merged
 * in, so a pipeline step sees what the steps before it wrote. The merged
 * commit becomes the task's base: its diff shows its own work only.
 */
static int merge_dependencies(struct pai *p, struct task *t, char *err,
			      size_t errlen)
{
	int64_t *ids = NULL;
	const char **commits = NULL;
	struct task *deps = NULL;
	struct merge_paths paths;
	char merged[OID_HEX_SIZE], msg[96];
	size_t n = 0, k = 0, i;
	int r;

	if ((r = store_task_deps(p->store, t->id, &ids, &n)) < 0 || !n)
		goto out;
	commits = calloc(n, sizeof(*commits));
	deps = calloc(n, sizeof(*deps));
	if (!commits || !deps) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = store_task_get(p->store, ids[i], &deps[i])) < 0)
			goto out;
		if (*deps[i].commit)
			commits[k++] = deps[i].commit;
	}
	snprintf(msg, sizeof(msg), "parallelai: dependencies of task %lld",
		 (long long)t->id);
	r = merge_combine(merged, &paths, p->repo, t->base, commits, k, msg,
			  err, errlen);
	merge_paths_release(&paths);
	if (r == 0 && strcmp(merged, t->base)) {
		if ((r = store_task_set_base(p->store, t->id, merged)) == 0)
			snprintf(t->base, sizeof(t->base), "%s", merged);
	}
out:
	for (i = 0; deps && i < n; i++)
		task_release(&deps[i]);
	free(deps);
	free(commits);
	free(ids);
	return r;
}

/* Not ".", "./" or ".git" (alone or at the front): a copy of those
 * would be the checkout itself or would overwrite the worktree's .git. */
static int copy_path_ok(const char *rel)
{
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	if (!*rel || !strcmp(rel, "."))
		return 0;
	return strncmp(rel, ".git", 4) || (rel[4] && rel[4] != '/');
}

/* worktree.copy's rel from the checkout's from to the worktree's to, and
 * its line in the log: a directory that fails part way was copied in
 * part, not skipped. */
static void copy_logged(int logfd, const char *rel, const char *from,
			const char *to)
{
	struct stat st;
	int dir = stat(from, &st) == 0 && S_ISDIR(st.st_mode);
	int code = copy_tree(from, to, COPY_ANY);

	if (code >= 0)
		sched_log_line(logfd, "parallelai: worktree.copy: '%s'", rel);
	else if (dir)
		sched_log_line(logfd, "parallelai: worktree.copy: '%s'"
			       " copied in part: %s", rel, strerror(-code));
	else
		sched_log_line(logfd, "parallelai: worktree.copy: '%s'"
			       " skipped: %s", rel, code == -EINVAL ?
			       "not a regular file or directory" :
			       strerror(-code));
}

/* worktree.copy into a worktree's files at root: the worktree, or its
 * overlay's upper directory. */
struct copy_job {
	struct pai *p;
	int logfd;
};

static void copy_into(const char *root, void *arg)
{
	const struct copy_job *job = arg;
	struct pai *p = job->p;
	char from[PATH_MAX * 2], to[PATH_MAX * 2];
	size_t i;

	for (i = 0; i < p->cfg.n_copy; i++) {
		const char *rel = p->cfg.copy[i];

		snprintf(from, sizeof(from), "%s/%s", p->repo, rel);
		snprintf(to, sizeof(to), "%s/%s", root, rel);
		/* Within the checkout and the worktree only, and never
		 * the checkout whole or its .git. */
		if (rel[0] == '/' || strstr(rel, "..")) {
			sched_log_line(job->logfd, "parallelai: worktree.copy:"
				       " '%s' skipped: not a relative path",
				       rel);
			continue;
		}
		if (!copy_path_ok(rel)) {
			sched_log_line(job->logfd, "parallelai: worktree.copy:"
				       " '%s' skipped: the checkout or its "
				       ".git", rel);
			continue;
		}
		copy_logged(job->logfd, rel, from, to);
	}
}

/*
 * A fresh worktree lacks what git does not track: worktree.copy brings
 * files such as .env from the user's checkout (into an overlay's upper
 * directory from below, so that reflinks still share extents), and
 * worktree.setup runs a command (npm ci) before the engine, its output at
 * the top of the log.
 */
static int setup_worktree(struct run *r, const char *wt, int logfd,
			  char *err, size_t errlen)
{
	struct pai *p = r->s->p;
	struct copy_job job = { p, logfd };
	char *argv[] = { "/bin/sh", "-c", p->cfg.setup, NULL };
	int status, code;

	if (p->cfg.n_copy && overlay_is(p->worktrees_dir, r->id)) {
		if (overlay_seed(p->worktrees_dir, r->id, copy_into, &job, err,
				 errlen) < 0)
			return -EIO;
	} else if (p->cfg.n_copy) {
		copy_into(wt, &job);
	}
	if (!p->cfg.setup)
		return 0;
	sched_log_line(logfd, "parallelai: setup: %s", p->cfg.setup);
	if (runner_spawn(&r->proc, argv, NULL, wt, logfd, p->cfg.log_max,
			 NULL, err, errlen) < 0)
		return -EIO;
	pthread_mutex_lock(&r->s->lock);
	r->has_proc = 1;
	pthread_mutex_unlock(&r->s->lock);
	status = sched_wait_engine(r);
	pthread_mutex_lock(&r->s->lock);
	r->has_proc = 0;
	pthread_mutex_unlock(&r->s->lock);
	runner_release(&r->proc);
	code = runner_exit_code(status);
	if (code != 0) {
		snprintf(err, errlen, "setup failed: exit status %d", code);
		return -EIO;
	}
	return 0;
}

/*
 * The task's worktree in wt: the one it has, or a new one with its
 * dependencies' work merged in, then set up (copy, setup command).
 * SCHED_BLOCKED when the dependencies' work cannot come together: the task
 * waits for a person, it did not fail.
 */
int sched_prepare_worktree(struct run *r, struct task *t, char *wt,
			   size_t wtlen, int logfd, char *err, size_t errlen)
{
	struct pai *p = r->s->p;
	char name[64];
	int deps_r;

	/* A worktree made under another setting stays where it is. */
	if (t->worktree)
		snprintf(wt, wtlen, "%s", t->worktree);
	else
		pai_worktree_path(p, t->id, wt, wtlen);
	snprintf(name, sizeof(name), "pai-task-%lld", (long long)t->id);
	/* This task runs nowhere else, so locks on its refs are a killed
	 * daemon's; and a worktree it never recorded is what a daemon
	 * killed during git_worktree_add left: nobody worked in it. */
	worktree_clear_locks(p->repo, name, t->branch, err, errlen);
	if (!t->worktree) {
		overlay_discard(p->worktrees_dir, t->id);
		worktree_discard(p->repo, name, wt, err, errlen);
	} else if (overlay_is(p->worktrees_dir, t->id) &&
		   overlay_mount(p->worktrees_dir, t->id, err, errlen) < 0) {
		return -EIO;
	}
	/* A run stopped in its sandbox left HEAD detached. */
	if (t->worktree && access(wt, F_OK) == 0 &&
		 gitwork_reattach(wt, t->branch, err, errlen) < 0)
		sched_log_line(logfd, "parallelai: %s", err);
	if (!t->worktree &&
	    (deps_r = merge_dependencies(p, t, err, errlen)) < 0) {
		if (deps_r != -EBUSY)
			return deps_r;
		sched_log_line(logfd, "parallelai: %s", err);
		store_task_finish(p->store, t->id, TASK_BLOCKED, -1, NULL, err);
		events_reason(p->events, "blocked", t->id, err);
		sched_settle(r->s, t->id);
		return SCHED_BLOCKED;
	}
	if (!t->worktree && p->cfg.checkout &&
	    !strcmp(p->cfg.checkout, "overlay") &&
	    overlay_create(p->repo, p->worktrees_dir, t->id, name, wt, t->branch,
			   t->base, err, errlen) < 0)
		return -EIO;
	if (worktree_create(p->repo, name, wt, t->branch, t->base, err,
				    errlen) < 0)
		return -EIO;
	if (!t->worktree || strcmp(t->worktree, wt)) {
		store_task_set_worktree(p->store, t->id, wt);
		free(t->worktree);
		t->worktree = strdup(wt);
		return setup_worktree(r, wt, logfd, err, errlen);
	}
	return 0;
}
