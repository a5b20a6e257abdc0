/*
 * runner: the front. It picks the backend that runs what is spawned
 * (runner_use, at mount; "local" unless told) and hands each call on to
 * the backend the run was started with. The backends and their rules are
 * in runnerint.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>

#include "runnerint.h"

static const struct runner_backend *const backends[] = {
	&runner_local,
	&runner_slurm,
};

/* Set once at mount, before any run thread starts; read by them after. */
static _Atomic(const struct runner_backend *) current = &runner_local;

int runner_use(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (name && !strcmp(name, backends[i]->name)) {
			atomic_store(&current, backends[i]);
			return 0;
		}
	return -ENOENT;
}

const char *runner_backend_name(void)
{
	return atomic_load(&current)->name;
}

int runner_spawn(struct runner_proc *p, char *const argv[],
		 char *const envp[], const char *cwd, int log_fd,
		 uint64_t log_cap, const char *exit_path, char *err,
		 size_t errlen)
{
	const struct runner_job job = { .argv = argv, .envp = envp,
					.cwd = cwd, .log_fd = log_fd,
					.log_cap = log_cap,
					.exit_path = exit_path };

	/* Setup, checks and the planner run here, whatever the backend. */
	memset(p, 0, sizeof(*p));
	p->backend = &runner_local;
	return p->backend->start(p, &job, err, errlen);
}

int runner_spawn_task(struct runner_proc *p, char *const argv[],
		      char *const envp[], const char *cwd, int log_fd,
		      uint64_t log_cap, const char *exit_path,
		      const struct runner_task *task, char *err,
		      size_t errlen)
{
	const struct runner_job job = { .argv = argv, .envp = envp,
					.cwd = cwd, .log_fd = log_fd,
					.log_cap = log_cap,
					.exit_path = exit_path,
					.task = task };

	memset(p, 0, sizeof(*p));
	p->backend = atomic_load(&current);
	return p->backend->start(p, &job, err, errlen);
}

const char *runner_reason(const struct runner_proc *p)
{
	return p->backend && p->backend->reason ? p->backend->reason(p) :
	       NULL;
}

int runner_detachable(const struct runner_proc *p)
{
	return p->backend && p->backend->detachable;
}

void runner_configure(const struct runner_settings *s)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i]->configure)
			backends[i]->configure(s);
}

int runner_health(char *msg, size_t len)
{
	const struct runner_backend *b = atomic_load(&current);

	if (len)
		msg[0] = '\0';
	return b->health ? b->health(msg, len) : 0;
}

int runner_job_info(const char *job, struct runner_job_info *out)
{
	const struct runner_backend *b = atomic_load(&current);

	memset(out, 0, sizeof(*out));
	return b->job_info && job && *job ? b->job_info(job, out) : -ENOENT;
}

int runner_wait(struct runner_proc *p, int timeout_ms, int *status)
{
	return p->backend->wait(p, timeout_ms, status);
}

void runner_signal(struct runner_proc *p, int sig)
{
	if (p->backend)
		p->backend->signal(p, sig);
}

void runner_release(struct runner_proc *p)
{
	if (p->backend)
		p->backend->release(p);
}

int runner_recover(struct runner_proc *p, const struct runner_ref *ref,
		   int timeout_ms, int *status, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	memset(p, 0, sizeof(*p));
	p->backend = atomic_load(&current);
	return p->backend->recover(p, ref, timeout_ms, status, err, errlen);
}

int runner_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}
