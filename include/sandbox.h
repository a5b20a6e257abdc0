/*
 * sandbox: where an engine runs. With bubblewrap (bwrap), the whole file
 * system is read-only to it but for the task's worktree, the parts of
 * the git directory a commit in that worktree writes (objects/ and
 * worktrees/NAME/; the worktree's HEAD is detached while it runs, so no
 * branch ref need be writable), the files it reports through (raw
 * stream, result), a home and a tmp of its own in the state directory,
 * and the paths configured with engine.NAME.bindRw. It has a PID
 * namespace of its own, dies with its parent, and, with network=none or
 * loopback, a network namespace with only its own lo.
 *
 * The keeper stays outside: the argv this module makes is run by the
 * runner as the engine, so signals to its process group and the PAI_RUN
 * tag still reach everything inside.
 *
 *	struct sandbox_probe pr;
 *	sandbox_probe(&pr, cfg.bwrap);	// once, at mount
 *	sandbox_choose(&cfg, &pr, "claude", task->options, &ch, err, len);
 *	if (ch.on)
 *		sandbox_argv(&cfg, &pr, "claude", &paths, argv, &full, ...);
 */
#ifndef PAI_SANDBOX_H
#define PAI_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct config;

enum sandbox_net { SANDBOX_NET_ON, SANDBOX_NET_LOOPBACK, SANDBOX_NET_NONE };

struct sandbox_probe {
	char *bwrap;		/* absolute path, malloc'd; NULL: not found */
	char *env;		/* env(1) with --ignore-signal and
				 * --default-signal (coreutils 8.31), or NULL:
				 * `parallelai sandbox-exec` does it, slower */
	bool works;		/* a trial run succeeded */
	char why[256];		/* when it does not work: why */
};

/* Find bubblewrap (path, else "bwrap" on PATH) and run it once. */
void sandbox_probe(struct sandbox_probe *pr, const char *path);
void sandbox_probe_release(struct sandbox_probe *pr);

struct sandbox_choice {
	bool on;
	enum sandbox_net net;
	char reason[256];	/* with on false: why none */
};

/*
 * The sandbox of a run of engine with the task's options (its spec's
 * JSON: "sandbox", "network"): the task's own choice, else the engine's
 * (engine.NAME.sandbox, .network), else the mount's. -EINVAL with the
 * reason in err when it cannot be had: sandbox=bwrap without a working
 * bubblewrap, network=none or loopback without a sandbox.
 */
int sandbox_choose(const struct config *c, const struct sandbox_probe *pr,
		   const char *engine, const char *options,
		   struct sandbox_choice *out, char *err, size_t errlen);

const char *sandbox_net_name(enum sandbox_net n);

struct sandbox_paths {
	const char *worktree;
	const char *commondir;	/* the git common directory */
	const char *admin;	/* commondir's worktrees/NAME */
	const char *home;	/* the task's own home (exists) */
	const char *tmp;	/* the task's own tmp (exists) */
	const char *user_home;	/* where ~/ of engine binds is, or NULL */
	const char *self_exe;	/* this program (sandbox-exec) */
	const char *const *ro;	/* more paths shown read-only, NULL-ended */
	const char *const *rw;	/* files made writable, NULL-ended */
};

/*
 * The whole argv of a sandboxed run: bubblewrap's words, then the
 * engine's argv. engine_path is the PATH the engine searches its
 * program in: a program not found there is -ENOENT,
 * "command not found: 'NAME'", as the runner says without a sandbox.
 * Free *out with engine_argv_free.
 */
int sandbox_argv(const struct config *c, const struct sandbox_probe *pr,
		 const struct sandbox_choice *ch, const char *engine,
		 const struct sandbox_paths *sp, char *const argv[],
		 const char *engine_path, char ***out, char *err,
		 size_t errlen);

/*
 * Where git looks for a linked worktree's repository: the common
 * directory (without its trailing slash), its worktrees/NAME entry, and
 * the files a run must see but never change (the worktree's .git, the
 * entry's gitdir and commondir), NULL-ended in ro.
 */
struct sandbox_git {
	char common[PATH_MAX], admin[PATH_MAX + 64], dotgit[PATH_MAX + 8];
	char admin_gitdir[PATH_MAX + 128], admin_common[PATH_MAX + 128];
	const char *ro[4];
};

void sandbox_git_paths(struct sandbox_git *g, const char *gitdir,
		       const char *worktree, const char *name);

/* rm -rf of a task's sandbox directory (home, tmp), once it is pruned. */
void sandbox_remove_dir(const char *dir);

/*
 * `parallelai sandbox-exec [--ignore] -- PROGRAM ARGS` (or env(1), which
 * starts faster, where it can): run PROGRAM with
 * SIGTERM, SIGINT and SIGHUP ignored (--ignore: bubblewrap's own
 * process, which would die of the cancel's SIGTERM before the engine
 * has finished with it) or back to their default (the engine inside).
 */
int sandbox_exec_main(int argc, char **argv);

#endif
