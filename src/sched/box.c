/*
 * sched/box: a run's sandbox made ready: its home and tmp in the state
 * directory, the files it reports through, the worktree's HEAD
 * detached, and the engine's argv wrapped in bubblewrap's (sandbox.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "approvals.h"
#include "engine.h"
#include "fsutil.h"
#include "gitwork.h"
#include "pai.h"
#include "sandbox.h"
#include "store.h"
#include "schedint.h"

/* A file the engine writes through a bind: it must exist, as a file. */
static int make_file(const char *path, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
		      flags, 0600);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* What the engine needs that the sandbox must let it see or write. */
struct box_files {
	const char *engine;		/* whose reports: raw and result */
	const char *home, *tmp;		/* the task's, made here */
	const char *raw, *result;	/* made here for agent engines */
	const char *prompt_file;
	const char *path;		/* the engine's PATH */
};

/* Make the sandbox ready (home, tmp, files, HEAD detached) and wrap
 * *argv in bubblewrap's words. */
static int box_wrap(struct pai *p, const struct task *t,
		    const struct sandbox_choice *ch, const struct box_files *f,
		    char ***argv, char *err, size_t errlen)
{
	char boxdir[PATH_MAX], settings[PATH_MAX], name[64];
	const char *ro[6] = { NULL }, *rw[4] = { NULL };
	struct sandbox_git g;
	struct sandbox_paths sp;
	size_t k = 0, i;
	char **wrapped = NULL;
	const char *path;
	int r;

	snprintf(name, sizeof(name), "pai-task-%lld", (long long)t->id);
	sandbox_git_paths(&g, p->gitdir, t->worktree, name);
	/* STATE/box and STATE/box/N are the owner's alone too (mkdir_p
	 * would make them 0755) */
	snprintf(boxdir, sizeof(boxdir), "%s/box", p->state_dir);
	mkdir_p(boxdir, 0700);
	snprintf(boxdir, sizeof(boxdir), "%s/box/%lld", p->state_dir,
		 (long long)t->id);
	mkdir_p(boxdir, 0700);
	if ((r = mkdir_p(f->home, 0700)) < 0 ||
	    (r = mkdir_p(f->tmp, 0700)) < 0) {
		snprintf(err, errlen, "sandbox: cannot make '%s': %s",
			 r == 0 ? f->tmp : f->home, strerror(-r));
		return r;
	}
	if (engine_has_result(&p->cfg, f->engine) &&
	    ((r = make_file(f->raw, 0)) < 0 ||
	     (r = make_file(f->result, O_TRUNC)) < 0)) {
		snprintf(err, errlen, "sandbox: cannot make '%s': %s", f->raw,
			 strerror(-r));
		return r;
	}
	if (engine_has_result(&p->cfg, f->engine)) {
		rw[0] = f->raw;
		rw[1] = f->result;
	}
	/* where the built-in agent (or claude's hook) asks before a tool
	 * call, and claude's settings that name the hook */
	if (p->approvals && engine_enforced(&p->cfg, f->engine))
		rw[2] = approvals_socket(p->approvals);
	if (p->approvals && engine_policy_hook(&p->cfg, f->engine)) {
		pai_settings_path(p, t->id, settings, sizeof(settings));
		ro[k++] = settings;
	}
	/* Where git would look for the repository, and the prompt: seen,
	 * never changed, so the daemon's own git work after the run goes
	 * to this repository, whatever the run wrote. */
	if (f->prompt_file)
		ro[k++] = f->prompt_file;
	for (i = 0; g.ro[i]; i++)
		ro[k++] = g.ro[i];
	if ((r = gitwork_detach(t->worktree, err, errlen)) < 0)
		return r;
	sp = (struct sandbox_paths){ .worktree = t->worktree,
				     .commondir = g.common, .admin = g.admin,
				     .home = f->home, .tmp = f->tmp,
				     .user_home = getenv("HOME"),
				     .self_exe = p->self_exe, .ro = ro,
				     .rw = rw };
	path = f->path ? f->path : "/usr/bin:/bin";
	r = sandbox_argv(&p->cfg, &p->sandbox, ch, f->engine, &sp, *argv,
			 path, &wrapped, err, errlen);
	if (r < 0)
		return r;
	engine_argv_free(*argv);
	*argv = wrapped;
	return 0;
}

/* The value of NAME in env ("NAME=VALUE" entries), or NULL. */
static const char *env_value(char **env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/*
 * What engine runs in task t's sandbox (the task's and its engine's
 * choice) gets: *env, the allow-list of engine's environment then extra,
 * and, when the sandbox is on, *argv wrapped in bubblewrap's words with
 * the files f names (f->home, f->tmp and f->path are filled here).
 */
static int contain(struct run *r, const struct task *t, const char *engine,
		   char **extra, struct box_files *f, char ***argv,
		   char ***env, char *err, size_t errlen)
{
	struct pai *p = r->s->p;
	struct sandbox_choice ch;
	char home[PATH_MAX], tmp[PATH_MAX];
	int ret;

	ret = sandbox_choose(&p->cfg, &p->sandbox, t->engine, t->options,
			     &ch, err, errlen);
	if (ret < 0)
		return ret;
	pai_box_path(p, t->id, "home", home, sizeof(home));
	pai_box_path(p, t->id, "tmp", tmp, sizeof(tmp));
	if (engine_env(&p->cfg, engine, extra, ch.on ? home : NULL,
		       ch.on ? tmp : NULL, env) < 0) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (!ch.on)
		return 0;
	f->engine = engine;
	f->home = home;
	f->tmp = tmp;
	f->path = env_value(*env, "PATH");
	return box_wrap(p, t, &ch, f, argv, err, errlen);
}

/* The engine's environment (an allow-list of the daemon's, then extra)
 * and, in a sandbox, its argv wrapped in bubblewrap's. */
int sched_contain(struct run *r, const struct task *t, char **extra,
		  const char *prompt_file, const char *raw,
		  const char *result, char ***argv, char ***env,
		  char *err, size_t errlen)
{
	struct box_files f = { .raw = raw, .result = result,
			       .prompt_file = prompt_file };

	return contain(r, t, t->engine, extra, &f, argv, env, err, errlen);
}

/* The task's check: /bin/sh -c CMD with an sh engine's environment (no
 * API key), in the sandbox the task's runs get (its spec's and engine's
 * choice): the check runs the code the engine wrote. */
int sched_contain_check(struct run *r, const struct task *t, char **extra,
			const char *cmd, char ***argv, char ***env,
			char *err, size_t errlen)
{
	struct box_files f = { .engine = "sh" };

	*env = NULL;
	if (!(*argv = calloc(4, sizeof(**argv))) ||
	    !((*argv)[0] = strdup("/bin/sh")) ||
	    !((*argv)[1] = strdup("-c")) || !((*argv)[2] = strdup(cmd))) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	return contain(r, t, "sh", extra, &f, argv, env, err, errlen);
}
