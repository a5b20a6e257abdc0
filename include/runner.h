/*
 * runner: starts and supervises engine processes, through a backend.
 *
 * Callers (the scheduler's runs, the setup command, the planner, crash
 * recovery) see one interface: start a run, wait for its end and learn
 * how it ended (a wait status: an exit code or a signal), signal it, and
 * after a daemon died find the last daemon's run again. Which backend
 * runs it is the runner's choice (runner_use, at mount); nothing above
 * knows. The backends live in src/runner/ (runnerint.h is their
 * contract); today there is one, "local".
 *
 * The local backend: an engine runs in its own session and process group
 * (so a signal to the group reaches its children), with stdin from
 * /dev/null and stdout and stderr going through a pipe that a relay
 * thread copies into the task's log, up to a cap. Every process it starts
 * carries PAI_RUN=<tag> in its environment, so descendants that left the
 * group (a daemon that double-forked and called setsid) are found and
 * ended too.
 *
 * A keeper process stands between the daemon and each engine. It is a
 * child subreaper: every process the engine leaves behind becomes its
 * child, and when the engine has ended it kills them all, whatever they
 * did to their session or environment, before it reports the end. So
 * when runner_wait returns 0, no process of the run is left.
 *
 * If the daemon dies, the keeper gives the engine RUNNER_LINGER_MS to finish,
 * then ends it and everything carrying its tag; an engine that exited by
 * itself (nobody signalled it) has its wait status written to exit_path.
 * Until it is gone the keeper holds a lock on the log (flock), which
 * runner_await_keeper waits for.
 *
 * The exit file is made by runner_spawn, before the engine starts, with
 * room for the status (a full disk then refuses the run, not its end);
 * until the keeper writes the status over it, it says "running". An
 * engine that ended by itself but whose status could not be written even
 * so leaves the file empty: runner_read_exit says -ENODATA.
 *
 *	struct runner_proc p;
 *	if (runner_spawn(&p, argv, envp, worktree, logfd, cap, exit_path,
 *			 err, sizeof(err)) < 0)
 *		...;	// -ENOENT: "command not found: 'mytool'"
 *	while (runner_wait(&p, 1000, &status) == -ETIMEDOUT)
 *		...;	// check for cancel, deadlines
 *	runner_release(&p);
 *
 * Threads. A struct runner_proc belongs to the thread that spawned it:
 * runner_spawn, runner_wait and runner_release run there, one at a time.
 * runner_signal may run on any other thread, also while runner_wait
 * waits; callers serialise it with their own lock and call it only
 * after a successful runner_spawn (the scheduler: under its lock, with
 * has_proc); on a run that has ended, released or not, it does nothing,
 * until the caller reuses p. runner_signal never blocks
 * for long (a byte to a non-blocking pipe, kill(2), a walk of /proc for
 * SIGKILL), so it may be called under a lock. p->pid may be read under
 * the same lock. runner_use runs once, at mount, before any run starts;
 * runner_recover runs at mount, before the scheduler starts, on one
 * thread; the other functions hold no state and run anywhere.
 */
#ifndef PAI_RUNNER_H
#define PAI_RUNNER_H

#include <stddef.h>
#include <sys/types.h>

#include <stdint.h>

/* How long an engine may go on after its daemon died, to finish by
 * itself and have its end kept. */
#define RUNNER_LINGER_MS 1000
/* How long a keeper tries to write a status that would not go down; the
 * next daemon waits for it (RUNNER_RECOVER_MS). */
#define RUNNER_EXIT_RETRY_MS 5000
/* How long the next daemon waits for a dead one's runs to settle, all of
 * them together: their linger, and time for the engines to die. */
#define RUNNER_RECOVER_MS (RUNNER_LINGER_MS + 9000)
/* An exit file's one record: text padded with blanks, then a newline. */
#define RUNNER_EXIT_LEN 16
#define RUNNER_EXIT_RUNNING "running"
/* Room for a backend's state of one run (runnerint.h). */
#define RUNNER_STATE_SIZE 256

struct runner_backend;

/* One run. The backend's state lives inside it, so the struct may sit on
 * a stack or in a run record, and stays valid (and runner_signal a no-op
 * on an ended run) until the caller reuses it. */
struct runner_proc {
	const struct runner_backend *backend;	/* NULL: none started */
	/* The run's id: the engine's pid (local), which is also its
	 * process group id, or what a backend without one knows the run
	 * by; 0 before it starts. Callers show it and store it, and hand
	 * it back to runner_recover. */
	pid_t pid;
	union {
		unsigned char bytes[RUNNER_STATE_SIZE];
		long double align_;
		void *align_ptr_;
	} state;
};

/* envp: the engine's whole environment ("KEY=VALUE", NULL-terminated;
 * engine_env builds it from an allow-list), or NULL for the daemon's.
 * log_cap: the most bytes of output kept (0: all); past it the log says
 * so once and the rest is dropped. exit_path: where the keeper writes the
 * wait status of an engine that exited by itself, or NULL; given one, the
 * keeper holds a lock on log_fd's file, and a file that cannot be made
 * there (ENOSPC) is the spawn's error: "cannot make exit file '...'". */
int runner_spawn(struct runner_proc *p, char *const argv[],
		 char *const envp[], const char *cwd, int log_fd,
		 uint64_t log_cap, const char *exit_path, char *err,
		 size_t errlen);
/* Wait up to timeout_ms (-1: forever); 0 once reaped (the engine and
 * every descendant gone), -ETIMEDOUT before. */
int runner_wait(struct runner_proc *p, int timeout_ms, int *status);
/* Signal the whole process group and every process carrying the run's
 * tag; no-op once reaped. */
void runner_signal(struct runner_proc *p, int sig);
void runner_release(struct runner_proc *p);

/*
 * A task's run, through the backend in use (runner_use): what a backend
 * that runs it elsewhere needs besides runner_spawn's arguments. The
 * other spawns (a worktree's setup, a check, the planner) run on this
 * machine, with the local backend, whatever the backend in use.
 */
struct runner_task {
	const char *name;	/* "pai-REPO-7": the job's name */
	const char *log_path;	/* the file log_fd writes */
	const char *self_exe;	/* this program, for `parallelai job` */
	const char *args;	/* extra words for the backend (an engine's
				 * slurmArgs), or NULL */
	int timeout;		/* seconds the run may take, 0: any */
	/* Told the run's id (a job id) once the backend has it and before
	 * the run may start; nonzero refuses the run. */
	int (*submitted)(void *arg, const char *job);
	void *arg;
};
int runner_spawn_task(struct runner_proc *p, char *const argv[],
		      char *const envp[], const char *cwd, int log_fd,
		      uint64_t log_cap, const char *exit_path,
		      const struct runner_task *task, char *err,
		      size_t errlen);
/* runner_spawn_task's error when the backend cannot be reached (the SLURM
 * controller is down): the run did not start, nothing of it is left;
 * the task waits, queued. */
#define RUNNER_UNREACHABLE EAGAIN
/* Why a run that has ended did so without a status of its own ("slurm
 * job 123 ended without an exit status (NODE_FAIL)"), or NULL. */
const char *runner_reason(const struct runner_proc *p);

/* 1 when run p goes on without this daemon and the next mount adopts it
 * (a SLURM job): an unmount leaves it running instead of ending it. */
int runner_detachable(const struct runner_proc *p);

/* The backend's settings, from the config (slurm.*); before runner_use. */
struct runner_settings {
	const char *partition, *account, *args;	/* NULL: none */
	int kill_grace_ms;
};
void runner_configure(const struct runner_settings *s);
/* Whether the backend can take runs now: 0, or 1 with the reason in msg
 * ("slurm: Unable to contact slurm controller"); never blocks. */
int runner_health(char *msg, size_t len);
/* What the backend knows of a job by its id (the store's job): its state
 * ("RUNNING") and node; 0, or -ENOENT. Never blocks. */
struct runner_job_info {
	char state[32];
	char node[64];
};
int runner_job_info(const char *job, struct runner_job_info *out);
/* `parallelai job --log FILE --exit FILE -- ARGV...`: the wrapper a SLURM
 * job runs (runner/slurmjob.c); its exit code. */
int runner_job_main(int argc, char **argv);

/* Exit code to record for a wait status: the code, or 128 + signal. */
int runner_exit_code(int status);

/* The backend that runs what is spawned from now on: "local" (the
 * default). -ENOENT for a name no backend has. */
int runner_use(const char *name);
/* The name of the backend in use. */
const char *runner_backend_name(void);

/* ---- after a daemon died ------------------------------------------------ */

/* What the next daemon knows of a run the last one left running. */
struct runner_ref {
	pid_t pid;		/* runner_proc.pid as it was stored, or 0 */
	const char *log_path;	/* the log it was spawned with */
	const char *exit_path;	/* its exit file; NULL: no status to read */
	const char *mark;	/* "KEY=VALUE" in the environment of every
				 * process of the run, or NULL */
	const char *job;	/* the job it was recorded as, or NULL */
	const char *name;	/* runner_task.name it was started with */
};

/* runner_recover: the run is still going; p is attached to it. */
#define RUNNER_ALIVE 1

/*
 * Settle a run a dead daemon left: wait up to timeout_ms for it to be
 * over, end whatever of it is left, and say how it ended. 0 with *status
 * when it ended by itself (finish it, do not run it again); -ENODATA when
 * it ended by itself but its status was lost; RUNNER_ALIVE when it goes
 * on and p is attached to it (runner_wait, runner_signal, runner_release
 * as after runner_spawn; the local backend never says so: its keeper
 * ends a run whose daemon died); any other -errno (-ENOENT mostly) when
 * it did not end by itself, is over now, and may run again. A problem on
 * the way that did not stop it (a keeper that outlived the wait) is
 * described in err ("" when none).
 */
int runner_recover(struct runner_proc *p, const struct runner_ref *ref,
		   int timeout_ms, int *status, char *err, size_t errlen);

/* ---- the local backend's parts, for its tests and tools ----------------- */

/* SIGKILL every process whose environment holds PAI_RUN=tag. */
void runner_kill_tagged(const char *tag);
/* SIGKILL every process whose environment holds the entry "KEY=VALUE". */
void runner_kill_env(const char *entry);
/* After a daemon died: wait up to timeout_ms for the keeper of the run
 * whose log this is to be gone. 0, -ETIMEDOUT, or another -errno. */
int runner_await_keeper(const char *log_path, int timeout_ms);
/* The wait status a keeper wrote. -ENOENT when it wrote none (the file
 * is missing or still says "running": the engine did not end by itself,
 * or the keeper was killed with it); -ENODATA when the engine ended by
 * itself but its status was lost; -EINVAL for anything else. */
int runner_read_exit(const char *exit_path, int *status);

#endif
