/*
 * choose: what a mount runs with, settled before it mounts: the engines
 * (configured, or chosen and why), the sandbox and the secrets it keeps
 * out of logs, the backend, and the checkout tasks get (and why). Each
 * returns 0, or -1 with the reason in err, for the command line to say.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "choose.h"
#include "config.h"
#include "engine.h"
#include "gitrepo.h"
#include "overlay.h"
#include "pai.h"
#include "redact.h"
#include "runner.h"
#include "sandbox.h"
#include "sim.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The engine prompts go to: configured, else chosen (and why); the
 * planner: configured, else the default engine when it is an agent (it
 * answers in words), else the built-in agent. */
int choose_engines(struct pai *p, char *err, size_t errlen)
{
	/* A rehearsal: sim everywhere, whatever else was configured. */
	if (p->cfg.simulate) {
		free(p->cfg.engine);
		free(p->cfg.planner);
		p->cfg.engine = strdup(SIM_ENGINE);
		p->cfg.planner = strdup(SIM_ENGINE);
		snprintf(p->engine_why, sizeof(p->engine_why), "simulate");
		return p->cfg.engine && p->cfg.planner ? 0 :
		       fail(err, errlen, "out of memory");
	}
	if (p->cfg.engine) {
		snprintf(p->engine_why, sizeof(p->engine_why), "configured");
		if (!engine_known(&p->cfg, p->cfg.engine))
			return fail(err, errlen, "unknown engine '%s'",
				    p->cfg.engine);
	} else {
		p->cfg.engine = strdup(engine_choose_default(
			p->engine_why, sizeof(p->engine_why)));
	}
	if (!p->cfg.planner)
		p->cfg.planner = strdup(engine_has_result(&p->cfg, p->cfg.engine) ?
					p->cfg.engine : "anthropic");
	return p->cfg.engine && p->cfg.planner ? 0 :
	       fail(err, errlen, "out of memory");
}

/* Is bubblewrap there and does it work? Asked once: sandbox=bwrap
 * without it is refused here. And the secrets whose values never reach
 * the disk: the keys of our environment and of the config's env. */
int choose_sandbox(struct pai *p, char *err, size_t errlen)
{
	extern char **environ;
	size_t i;

	sandbox_probe(&p->sandbox, p->cfg.bwrap);
	if (p->cfg.sandbox && !strcmp(p->cfg.sandbox, "bwrap") &&
	    !p->sandbox.works)
		return fail(err, errlen, "sandbox=bwrap: %s; install "
			    "bubblewrap (Debian: apt-get install bubblewrap) "
			    "or mount with -o sandbox=auto or none",
			    p->sandbox.why);
	if (redact_add_env(&p->secrets, environ) < 0)
		return fail(err, errlen, "out of memory");
	for (i = 0; i < p->cfg.n_engines; i++)
		for (size_t j = 0; j < p->cfg.engines[i].n_env; j++) {
			char *const one[] = { p->cfg.engines[i].env[j], NULL };

			if (redact_add_env(&p->secrets, one) < 0)
				return fail(err, errlen, "out of memory");
		}
	redact_set_global(&p->secrets);
	return 0;
}

/* A directory on a file system only this machine sees: its type's name,
 * else NULL. */
static const char *local_only_fs(const char *dir)
{
	struct statfs sf;

	if (statfs(dir, &sf) < 0)
		return NULL;
	if (sf.f_type == TMPFS_MAGIC)
		return "tmpfs";
	if (sf.f_type == OVERLAYFS_SUPER_MAGIC)
		return "overlay";
	if (sf.f_type == RAMFS_MAGIC)
		return "ramfs";
	return NULL;
}

/* A program on PATH, as execvp would find it. */
static int on_path(const char *prog)
{
	const char *path = getenv("PATH"), *p = path;
	char full[PATH_MAX];

	while (p && *p) {
		size_t n = strcspn(p, ":");

		snprintf(full, sizeof(full), "%.*s/%s", (int)n, p, prog);
		if (access(full, X_OK) == 0)
			return 1;
		p += n + (p[n] == ':');
	}
	return 0;
}

/*
 * backend=slurm: the jobs run on other machines, which must see the
 * worktrees and the logs at the same paths; SLURM's clients must be here.
 * The number of jobs at once is slurm.maxJobs, else workers.
 */
int choose_backend(struct pai *p, char *err, size_t errlen)
{
	const struct config *c = &p->cfg;
	const char *dirs[] = { p->state_dir, p->worktrees_dir };
	const char *what[] = { "state directory", "worktrees directory" };
	const struct runner_settings s = {
		.partition = c->slurm_partition, .account = c->slurm_account,
		.args = c->slurm_args, .kill_grace_ms = c->kill_grace_ms };
	const char *fs;

	if (!c->backend || !strcmp(c->backend, "local"))
		return 0;
	for (size_t i = 0; i < 2; i++)
		if ((fs = local_only_fs(dirs[i])))
			return fail(err, errlen, "backend=slurm: the %s '%s' "
				    "is on %s, which the compute nodes cannot "
				    "see; use -o %s=DIR on a file system shared"
				    " at the same path (docs/cluster.md)",
				    what[i], dirs[i], fs,
				    i ? "worktrees" : "state");
	if (!on_path("sbatch") || !on_path("squeue") || !on_path("scancel"))
		return fail(err, errlen, "backend=slurm: sbatch, squeue and "
			    "scancel must be on PATH (apt-get install "
			    "slurm-client)");
	runner_configure(&s);
	if (runner_use(c->backend) < 0)
		return fail(err, errlen, "unknown backend '%s'", c->backend);
	if (c->slurm_max_jobs)
		p->cfg.workers = c->slurm_max_jobs;
	return 0;
}

/* The checkout tasks get from now on, and why. */
static int pick_checkout(struct pai *p, const char *kind, const char *why,
			 char *err, size_t errlen)
{
	char *c = strdup(kind);
	size_t n;

	if (!c)
		return fail(err, errlen, "out of memory");
	free(p->cfg.checkout);
	p->cfg.checkout = c;
	/* cut to fit: a probe's message names paths */
	n = strlen(why);
	if (n >= sizeof(p->checkout_why))
		n = sizeof(p->checkout_why) - 1;
	memcpy(p->checkout_why, why, n);
	p->checkout_why[n] = '\0';
	return 0;
}

/*
 * checkout: full, overlay, or auto (the default): an overlay where the
 * repository is big enough for a checkout of each task to cost more than
 * a mount (overlayFrom files: below it a checkout is cheap, and every
 * overlay kept mounted is one more mount each sandbox copies), the tasks
 * run on this host, and one can be mounted in the worktrees' directory
 * (tried here, so that a kernel or a user that cannot is found at mount,
 * not by the first task); else full checkouts. The README and the root
 * status say which and why. overlay asked for by name and refused is an
 * error, never a silent fallback.
 */
int choose_checkout(struct pai *p, char *err, size_t errlen)
{
	const char *asked = p->cfg.checkout ? p->cfg.checkout : "auto";
	bool any = !strcmp(asked, "auto");
	char probe[PATH_MAX + 256], why[128];
	size_t files = 0;

	if (!strcmp(asked, "full"))
		return pick_checkout(p, "full", "asked for", err, errlen);
	if (any && p->cfg.backend && !strcmp(p->cfg.backend, "slurm"))
		return pick_checkout(p, "full", "the SLURM backend: a node "
				     "cannot see this host's overlay mounts", err,
				     errlen);
	if (any && gitrepo_file_count(p->repo, &files, probe,
				      sizeof(probe)) == 0 &&
	    files < (size_t)p->cfg.overlay_from) {
		snprintf(why, sizeof(why), "%zu files, fewer than overlayFrom "
			 "(%d): a checkout is cheap", files,
			 p->cfg.overlay_from);
		return pick_checkout(p, "full", why, err, errlen);
	}
	if (overlay_probe(p->worktrees_dir, probe, sizeof(probe)) == 0) {
		if (any)
			snprintf(why, sizeof(why), "%zu files, overlayFrom %d: "
				 "one mount instead of a checkout", files,
				 p->cfg.overlay_from);
		return pick_checkout(p, "overlay", any ? why : "asked for",
				     err, errlen);
	}
	if (!any)
		return fail(err, errlen, "checkout=overlay: %s; mount with "
			    "-o checkout=full", probe);
	return pick_checkout(p, "full", probe, err, errlen);
}
