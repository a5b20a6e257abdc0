/*
 * runner/slurm: the SLURM backend. A task's run is one batch job:
 * `sbatch --parsable --hold` of a job that runs `parallelai job` (the
 * wrapper, runner/slurmjob.c) in the task's worktree; the job id goes to
 * the store (runner_task.submitted) and only then `scontrol release` lets
 * it start, so a daemon that dies at any point leaves no job it does not
 * know of. The wrapper writes the engine's output to the task's log and
 * its wait status to the exit file (tmp + rename): the exit file is the
 * truth. squeue (the poller, slurmcmd.c) says when a job is over without
 * one: "slurm job 123 ended without an exit status (NODE_FAIL)".
 * A signal is `scancel --full` (the whole process tree of the job), on a
 * thread of its own; SIGKILL cancels the job.
 *
 *	start ─► exit file ─► sbatch --hold ─► submitted(id) ─► release
 *	wait  ◄─ exit file, or squeue: ended, gone
 *	recover: exit file, or the stored job id adopted (RUNNER_ALIVE)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quote.h"
#include "runnerint.h"
#include "slurmint.h"

/* How long a job may be seen ended with no exit status before it counts
 * as lost: the wrapper's rename may reach a shared file system late. */
#define LOST_GRACE_MS 3000
/* How often SIGKILL goes out again to a job that is not over. */
#define KILL_EVERY_MS 5000
/* How often a waiting run reads its exit file. */
#define EXIT_READ_MS 200

extern char **environ;

struct slurm_run {
	long job;
	char *exit_path;	/* malloc'd */
	int ended;
	int status;
	int64_t lost_at;	/* first seen over without an exit status */
	int64_t read_at;	/* the exit file read last */
	int64_t term_at, kill_at;	/* scancel sent */
	char reason[112];
};

_Static_assert(sizeof(struct slurm_run) <= RUNNER_STATE_SIZE,
	       "struct slurm_run does not fit in runner_proc.state");

#define SLURM_RUN(p) RUNNER_STATE(p, struct slurm_run)

static struct {
	char *partition, *account, *args;
	int kill_grace_ms;
} conf;

static void slurm_configure(const struct runner_settings *s)
{
	free(conf.partition);
	free(conf.account);
	free(conf.args);
	conf.partition = s->partition ? strdup(s->partition) : NULL;
	conf.account = s->account ? strdup(s->account) : NULL;
	conf.args = s->args ? strdup(s->args) : NULL;
	conf.kill_grace_ms = s->kill_grace_ms;
}

/* ---- the words of sbatch ------------------------------------------------ */

struct words {
	char **v;
	size_t n, cap;
	int oom;
};

static void add(struct words *w, char *s)
{
	if (!s || w->oom) {
		w->oom = 1;
		return;
	}
	if (w->n + 2 > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 32;
		char **v = realloc(w->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			w->oom = 1;
			return;
		}
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = s;
	w->v[w->n] = NULL;
}

/* "--opt=VALUE" */
static void addf(struct words *w, const char *opt, const char *v)
{
	char *s = NULL;

	if (asprintf(&s, "%s=%s", opt, v) < 0)
		s = NULL;
	add(w, s);
}

/* Extra words (slurm.args, an engine's slurmArgs), split at blanks. */
static void add_split(struct words *w, const char *s)
{
	const char *p = s;

	while (p && *p) {
		size_t n;

		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		if (n)
			add(w, strndup(p, n));
		p += n;
	}
}

static void words_free(struct words *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
}

/* "exec SELF job --log LOG --exit EXIT --cap N -- ARGV...", quoted for sh: the
 * script --wrap makes of it. */
static char *wrap_command(const struct runner_job *job)
{
	char cap[32];
	const char *fixed[] = { job->task->self_exe, "job", "--log",
				job->task->log_path, "--exit",
				job->exit_path, "--cap", cap, "--" };
	size_t len = 5, i;
	char *cmd = strdup("exec "), *q, *next;

	snprintf(cap, sizeof(cap), "%llu", (unsigned long long)job->log_cap);

	for (i = 0; cmd && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (!(q = quote_shell(fixed[i])))
			goto oom;
		next = realloc(cmd, len + strlen(q) + 2);
		if (!next) {
			free(q);
			goto oom;
		}
		cmd = next;
		len += (size_t)sprintf(cmd + len, "%s ", q);
		free(q);
	}
	for (i = 0; cmd && job->argv[i]; i++) {
		if (!(q = quote_shell(job->argv[i])))
			goto oom;
		next = realloc(cmd, len + strlen(q) + 2);
		if (!next) {
			free(q);
			goto oom;
		}
		cmd = next;
		len += (size_t)sprintf(cmd + len, "%s ", q);
		free(q);
	}
	return cmd;
oom:
	free(cmd);
	return NULL;
}

/* sbatch's words: a held job, named, in the worktree, SLURM's own output
 * beside the exit file, the time limit past the task's timeout and the
 * kill grace (the daemon ends it first; SLURM's limit is a backstop). */
static int sbatch_words(struct words *w, const struct runner_job *job)
{
	const struct runner_task *t = job->task;
	char tl[32], *out;

	add(w, strdup("sbatch"));
	add(w, strdup("--parsable"));
	add(w, strdup("--hold"));
	addf(w, "--job-name", t->name);
	addf(w, "--chdir", job->cwd);
	if (asprintf(&out, "--output=%s.slurm", job->exit_path) < 0)
		out = NULL;
	add(w, out);
	if (t->timeout > 0) {
		long min = ((long)t->timeout + conf.kill_grace_ms / 1000 + 59)
			   / 60 + 1;

		snprintf(tl, sizeof(tl), "%ld", min);
		addf(w, "--time", tl);
	}
	if (conf.partition)
		addf(w, "--partition", conf.partition);
	if (conf.account)
		addf(w, "--account", conf.account);
	add_split(w, conf.args);
	add_split(w, t->args);
	add(w, strdup("--wrap"));
	add(w, wrap_command(job));
	return w->oom ? -ENOMEM : 0;
}

/* The job's environment: the daemon's, the run's extras (the last of a
 * name wins), and PAI_RUN, which the wrapper ends leftovers by. sbatch
 * exports it to the job. */
static char **job_env(const struct runner_job *job, char *tag)
{
	size_t n = 0, m = 0, k = 0, i, j;
	char **env;

	while (environ[n])
		n++;
	while (job->envp && job->envp[m])
		m++;
	if (!(env = calloc(n + m + 2, sizeof(*env))))
		return NULL;
	for (i = 0; i < n + m; i++) {
		const char *s = i < n ? environ[i] : job->envp[i - n];
		size_t klen = strcspn(s, "=") + 1;
		int later = !strncmp(s, "PAI_RUN=", 8);

		for (j = i + 1; !later && j < n + m; j++)
			later = !strncmp(s, j < n ? environ[j] :
					 job->envp[j - n], klen);
		if (!later)
			env[k++] = (char *)s;
	}
	env[k++] = tag;
	env[k] = NULL;
	return env;
}

/* ---- start -------------------------------------------------------------- */

/* sbatch's answer: the job id (--parsable: "123" or "123;cluster"). */
static long parse_job(const char *out)
{
	const char *p = out;

	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end > p && v > 0 && (*end == '\n' || *end == ';' ||
					 *end == '\0'))
			return v;
		p += strcspn(p, "\n");
		if (*p)
			p++;
	}
	return 0;
}

static int refused(const char *what, const char *out, int r, char *err,
		   size_t errlen)
{
	char line[512];

	slurm_last_line(out, line, sizeof(line));
	if (r == -ENOENT) {
		snprintf(err, errlen, "%s: not installed (SLURM's client"
			 " commands are not on PATH)", what);
		return -ENOENT;
	}
	if (r == -ETIMEDOUT || slurm_unreachable(out)) {
		slurm_set_down(r == -ETIMEDOUT ? "the controller did not"
			       " answer in time" : out);
		snprintf(err, errlen, "%s: the SLURM controller cannot be"
			 " reached: %s", what, r == -ETIMEDOUT ? "timed out"
			 : line);
		return -RUNNER_UNREACHABLE;
	}
	/* "sbatch: error: invalid partition specified: x" says whose. */
	if (!strncmp(line, what, strlen(what)))
		snprintf(err, errlen, "%s", line);
	else
		snprintf(err, errlen, "%s: %s", what, *line ? line : "failed");
	return -EINVAL;
}

/* The job id recorded, then the job let go. */
static int release_job(struct runner_proc *p, const struct runner_job *job,
		       char *err, size_t errlen)
{
	struct slurm_run *run = SLURM_RUN(p);
	char id[24], out[1024];
	char *rel[] = { "scontrol", "release", id, NULL };
	const char *cancel[] = { "scancel", id, NULL };
	int r;

	snprintf(id, sizeof(id), "%ld", run->job);
	if (job->task->submitted &&
	    job->task->submitted(job->task->arg, id) != 0) {
		slurm_client_async(cancel, NULL);
		snprintf(err, errlen, "cannot record slurm job %s", id);
		return -EIO;
	}
	r = slurm_client(rel, NULL, SLURM_CMD_MS, out, sizeof(out));
	if (r == 0)
		return 0;
	slurm_client_async(cancel, NULL);
	return refused("scontrol release", out, r, err, errlen);
}

static int slurm_start(struct runner_proc *p, const struct runner_job *job,
		       char *err, size_t errlen)
{
	struct slurm_run *run = SLURM_RUN(p);
	struct words w = { 0 };
	char out[4096], tag[64], **env = NULL;
	int fd, r;

	/* Not a task's run: here, with the local backend. */
	if (!job->task || !job->exit_path) {
		p->backend = &runner_local;
		return runner_local.start(p, job, err, errlen);
	}
	memset(run, 0, sizeof(*run));
	if ((fd = runner_exit_file_make(job->exit_path)) < 0) {
		snprintf(err, errlen, "cannot make exit file '%s': %s",
			 job->exit_path, strerror(-fd));
		return fd;
	}
	close(fd);
	snprintf(tag, sizeof(tag), "PAI_RUN=slurm-%d-%s", (int)getpid(),
		 job->task->name);
	r = -ENOMEM;
	if (!(run->exit_path = strdup(job->exit_path)) ||
	    sbatch_words(&w, job) < 0 || !(env = job_env(job, tag))) {
		snprintf(err, errlen, "cannot submit: %s", strerror(ENOMEM));
		goto fail;
	}
	r = slurm_client(w.v, env, SLURM_CMD_MS, out, sizeof(out));
	if (r != 0 || !(run->job = parse_job(out))) {
		r = refused("sbatch", out, r ? r : 1, err, errlen);
		goto fail;
	}
	if ((r = release_job(p, job, err, errlen)) < 0)
		goto fail;
	p->pid = 0;	/* no process here: the job id is in the store */
	slurm_track(run->job);
	free(env);
	words_free(&w);
	return 0;
fail:
	free(env);
	words_free(&w);
	unlink(job->exit_path);
	free(run->exit_path);
	run->exit_path = NULL;
	return r;
}

/* ---- a run's life ------------------------------------------------------- */

/* States after which nothing of the job runs any more. */
static int over(const char *state)
{
	static const char *const live[] = {
		"PENDING", "RUNNING", "SUSPENDED", "COMPLETING",
		"CONFIGURING", "RESIZING", "REQUEUED", "REQUEUE_FED",
		"REQUEUE_HOLD", "SIGNALING", "STAGE_OUT", "STOPPED",
		"RESV_DEL_HOLD", "SPECIAL_EXIT",
	};

	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (!strcmp(state, live[i]))
			return 0;
	return 1;
}

/* One look: the exit file, then what squeue said; 1 once ended. */
static int look(struct runner_proc *p)
{
	struct slurm_run *run = SLURM_RUN(p);
	char state[32], node[64];
	int64_t now = runner_now_ms();
	int st;

	if (now - run->read_at >= EXIT_READ_MS) {
		run->read_at = now;
		if (runner_read_exit(run->exit_path, &st) == 0) {
			run->status = st;
			return 1;
		}
	}
	if (slurm_lookup(run->job, state, sizeof(state), node,
			 sizeof(node)) < 0 || !over(state)) {
		run->lost_at = 0;
		return 0;
	}
	if (!run->lost_at) {
		run->lost_at = now;
		run->read_at = 0;
		return 0;
	}
	if (now - run->lost_at < LOST_GRACE_MS)
		return 0;
	if (runner_read_exit(run->exit_path, &st) == 0) {
		run->status = st;
		return 1;
	}
	/* Cancelled by us: killed, as a local run would be. */
	run->status = run->term_at || run->kill_at ? SIGKILL : 1 << 8;
	snprintf(run->reason, sizeof(run->reason), "slurm job %ld ended"
		 " without an exit status (%s)", run->job, state);
	return 1;
}

static int slurm_wait(struct runner_proc *p, int timeout_ms, int *status)
{
	struct slurm_run *run = SLURM_RUN(p);
	int64_t end = runner_now_ms() + timeout_ms;

	while (!run->ended) {
		int64_t left = end - runner_now_ms();

		if (look(p)) {
			run->ended = 1;
			slurm_untrack(run->job);
			break;
		}
		if (timeout_ms >= 0 && left <= 0)
			return -ETIMEDOUT;
		usleep(timeout_ms >= 0 && left < 50 ? (useconds_t)left * 1000
			: 50000);
	}
	if (status)
		*status = run->status;
	return 0;
}

static void slurm_signal(struct runner_proc *p, int sig)
{
	struct slurm_run *run = SLURM_RUN(p);
	int64_t now = runner_now_ms();
	char id[24], sigw[32], state[32] = "", node[64];
	const char *full[] = { "scancel", "--full", sigw, id, NULL };
	const char *cancel[] = { "scancel", id, NULL };

	if (run->ended || run->job <= 0)
		return;
	snprintf(id, sizeof(id), "%ld", run->job);
	slurm_lookup(run->job, state, sizeof(state), node, sizeof(node));
	if (sig == SIGKILL) {
		if (run->kill_at && now - run->kill_at < KILL_EVERY_MS)
			return;
		run->kill_at = now;
		snprintf(sigw, sizeof(sigw), "--signal=KILL");
		slurm_client_async(full, cancel);
		return;
	}
	if (run->term_at)
		return;
	run->term_at = now;
	snprintf(sigw, sizeof(sigw), "--signal=%d", sig);
	/* A job not started yet has nothing to signal: it goes. */
	slurm_client_async(full, !strcmp(state, "PENDING") ? cancel : NULL);
}

static void slurm_release(struct runner_proc *p)
{
	struct slurm_run *run = SLURM_RUN(p);

	char out[4096 + 8];
	struct stat st;

	if (run->job > 0)
		slurm_untrack(run->job);
	/* SLURM's own output of a job that is over: kept when it said
	 * something (a job that could not start says why there). */
	if (run->ended && run->exit_path &&
	    snprintf(out, sizeof(out), "%s.slurm", run->exit_path) <
	    (int)sizeof(out) && stat(out, &st) == 0 && st.st_size == 0)
		unlink(out);
	free(run->exit_path);
	run->exit_path = NULL;
}

static const char *slurm_reason(const struct runner_proc *p)
{
	const struct slurm_run *run = RUNNER_STATE(p, const struct slurm_run);

	return *run->reason ? run->reason : NULL;
}

/* ---- after a daemon died ------------------------------------------------ */

/* A daemon killed between sbatch's answer and the store's write left a
 * job it never recorded, held: it would never run, but it goes, before
 * this daemon submits one of the same name. */
static void cancel_unrecorded(const struct runner_ref *ref, int timeout_ms)
{
	char name[512], out[1024];
	char *argv[] = { "scancel", "--state=PENDING", name, NULL };

	if (!ref->name || timeout_ms <= 0)
		return;
	snprintf(name, sizeof(name), "--name=%s", ref->name);
	slurm_client(argv, NULL, timeout_ms < SLURM_CMD_MS ? timeout_ms :
		     SLURM_CMD_MS, out, sizeof(out));
}

/*
 * The exit file, when the job wrote it, says how the run ended. Else the
 * job recorded for the run is adopted, whatever SLURM says of it now
 * (runner_wait learns that): it was recorded before it could start, so
 * no second job runs for the run while it may. A job the last daemon
 * recorded but did not release is released now.
 */
static int slurm_recover(struct runner_proc *p, const struct runner_ref *ref,
			 int timeout_ms, int *status, char *err,
			 size_t errlen)
{
	struct slurm_run *run = SLURM_RUN(p);
	const char *rel[] = { "scontrol", "release", ref->job, NULL };
	int r;

	(void)timeout_ms;
	(void)err;
	(void)errlen;
	r = ref->exit_path ? runner_read_exit(ref->exit_path, status) :
	    -ENOENT;
	if (r == 0 || r == -ENODATA)
		return r;
	if (!ref->job || atol(ref->job) <= 0 || !ref->exit_path) {
		cancel_unrecorded(ref, timeout_ms);
		return -ENOENT;
	}
	memset(run, 0, sizeof(*run));
	if (!(run->exit_path = strdup(ref->exit_path)))
		return -ENOMEM;
	run->job = atol(ref->job);
	p->pid = 0;	/* no process here: the job id is in the store */
	slurm_track(run->job);
	slurm_client_async(rel, NULL);
	return RUNNER_ALIVE;
}

static int slurm_health(char *msg, size_t len)
{
	char why[256];

	if (!slurm_down(why, sizeof(why)))
		return 0;
	snprintf(msg, len, "slurm controller unreachable: %s", why);
	return 1;
}

static int slurm_job_info(const char *job, struct runner_job_info *out)
{
	return slurm_lookup(atol(job), out->state, sizeof(out->state),
			    out->node, sizeof(out->node));
}

const struct runner_backend runner_slurm = {
	.name = "slurm",
	.start = slurm_start,
	.wait = slurm_wait,
	.signal = slurm_signal,
	.release = slurm_release,
	.recover = slurm_recover,
	.detachable = 1,
	.reason = slurm_reason,
	.configure = slurm_configure,
	.health = slurm_health,
	.job_info = slurm_job_info,
};
