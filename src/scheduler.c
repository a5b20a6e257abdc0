/*
 * scheduler: worker slots, the scheduler thread, and one thread per run.
 *
 * Locking: s->lock guards the slots, the run records and every decision
 * that reads a task's state and then changes it (cancel, retry, start), so
 * two such decisions never interleave. The store has its own lock; it is
 * always taken inside s->lock, never the other way round. Slow work (git,
 * waiting for the engine) happens in run threads without s->lock held.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "breaker.h"
#include "ctl.h"
#include "engine.h"
#include "events.h"
#include "gitwork.h"
#include "merge.h"
#include "pai.h"
#include "review.h"
#include "runner.h"
#include "scheduler.h"
#include "spec.h"
#include "submit.h"
#include "store.h"
#include "wlog.h"

/* How often a run thread wakes to look at cancel and kill deadlines. */
#define RUN_POLL_MS 100

struct run {
	struct sched *s;
	int64_t id;
	char *engine;		/* for limits per engine and the breaker */
	int attempt;		/* this one, from 1 */
	int retries;		/* the task's, for the retry policy */
	int timeout;		/* seconds, 0: none */
	int stall;		/* seconds without output, 0: none */
	int logfd;
	const char *killed_for;	/* "timeout" or "stalled", once sent */
	int slot;
	int cancel;		/* cancel requested */
	int64_t term_at;	/* ms when SIGTERM went out, 0 if not yet */
	int has_proc;
	struct runner_proc proc;
	int ended;		/* the engine has ended: cancel is too late */
	int record_err;		/* why its end cannot be recorded, or 0 */
	int unrecorded;		/* given up: the exit file must stay */
};

struct slot {
	struct run *run;	/* NULL when idle */
	int64_t last_task;
	int64_t since;
};

struct sched {
	struct pai *p;
	pthread_mutex_t lock;
	pthread_cond_t wake;	/* work for the scheduler thread */
	pthread_cond_t idle;	/* a run thread ended */
	struct slot *slots;
	int n_slots;		/* allocated */
	int workers;		/* wanted */
	int runs;		/* run threads alive */
	int paused;
	int stopping;
	struct breakers breakers;	/* per engine, for agent engines */
	pthread_t thread;
};

static void refuse(struct sched *s, int64_t task, const char *reason)
{
	events_reason(s->p->events, "refused", task, reason);
}

/* ---- one run ------------------------------------------------------- */

static void log_line(int fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_line(int fd, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0)
		return;
}

static int write_prompt_file(const char *path, const struct task *t)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n = -1;

	if (fd < 0)
		return -errno;
	n = write(fd, t->prompt, t->prompt_len);
	close(fd);
	return n == (ssize_t)t->prompt_len ? 0 : -EIO;
}

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
	char merged[41], msg[96];
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

static int wait_engine(struct run *r);

static void mkdir_parents(const char *path)
{
	char dir[PATH_MAX * 2], *s;

	snprintf(dir, sizeof(dir), "%s", path);
	for (s = dir + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(dir, 0755);
		*s = '/';
	}
}

/* Copy one file from the user's checkout into the new worktree. */
static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out, r = 0;
	struct stat st;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return -EINVAL;
	}
	/* config/local.json: its directory may not be tracked. */
	mkdir_parents(to);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		   st.st_mode & 07777);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = -errno;
	close(in);
	if (close(out) < 0 && !r)
		r = -EIO;
	return r;
}

/*
 * A fresh worktree lacks what git does not track: worktree.copy brings
 * files such as .env from the user's checkout, and worktree.setup runs a
 * command (npm ci) before the engine, its output at the top of the log.
 */
static int setup_worktree(struct run *r, const char *wt, int logfd,
			  char *err, size_t errlen)
{
	struct pai *p = r->s->p;
	char from[PATH_MAX * 2], to[PATH_MAX * 2];
	char *argv[] = { "/bin/sh", "-c", p->cfg.setup, NULL };
	size_t i;
	int status, code;

	for (i = 0; i < p->cfg.n_copy; i++) {
		const char *rel = p->cfg.copy[i];

		snprintf(from, sizeof(from), "%s/%s", p->repo, rel);
		snprintf(to, sizeof(to), "%s/%s", wt, rel);
		/* Within the checkout and the worktree only. */
		if (rel[0] == '/' || strstr(rel, "..")) {
			log_line(logfd, "parallelai: worktree.copy: '%s'"
				 " skipped: not a relative path", rel);
			continue;
		}
		code = copy_file(from, to);
		if (code < 0)
			log_line(logfd, "parallelai: worktree.copy: '%s'"
				 " skipped: %s", rel, code == -EINVAL ?
				 "not a regular file" : strerror(-code));
		else
			log_line(logfd, "parallelai: worktree.copy: '%s'", rel);
	}
	if (!p->cfg.setup)
		return 0;
	log_line(logfd, "parallelai: setup: %s", p->cfg.setup);
	if (runner_spawn(&r->proc, argv, NULL, wt, logfd, p->cfg.log_max,
			 NULL, err, errlen) < 0)
		return -EIO;
	pthread_mutex_lock(&r->s->lock);
	r->has_proc = 1;
	pthread_mutex_unlock(&r->s->lock);
	status = wait_engine(r);
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

/* "parallelai: task 7: first line of the prompt" */
static void commit_message(const struct task *t, char *out, size_t len)
{
	const char *p = t->prompt;
	size_t n;

	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	n = strcspn(p, "\n");
	if (n > 72)
		n = 72;
	snprintf(out, len, "parallelai: task %lld: %.*s\n\nEngine: %s\n",
		 (long long)t->id, (int)n, p, t->engine);
}

/* Start the engine; 0, or <0 with the reason in err. */
static int run_engine(struct run *r, const struct task *t, int logfd,
		      char *err, size_t errlen)
{
	struct sched *s = r->s;
	char prompt_file[PATH_MAX], raw[PATH_MAX], result[PATH_MAX];
	char exitp[PATH_MAX];
	const struct engine_def *def = config_engine(&s->p->cfg, t->engine);
	char *own[5] = { NULL }, **env = NULL, **argv = NULL;
	char **task_env = NULL;
	size_t n = 0, k;
	struct engine_vars v;
	int ret;

	pai_prompt_path(s->p, t->id, prompt_file, sizeof(prompt_file));
	ret = write_prompt_file(prompt_file, t);
	if (ret < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", prompt_file,
			 strerror(-ret));
		return ret;
	}
	pai_raw_path(s->p, t->id, raw, sizeof(raw));
	pai_result_path(s->p, t->id, result, sizeof(result));
	/* Each attempt reports afresh. */
	unlink(result);
	v = (struct engine_vars){ .prompt = t->prompt,
				  .prompt_file = prompt_file,
				  .worktree = t->worktree, .branch = t->branch,
				  .task_id = t->id, .model = t->model,
				  .self_exe = s->p->self_exe,
				  .raw_file = raw, .result_file = result,
				  .options = t->options };
	ret = engine_argv(&s->p->cfg, t->engine, &v, &argv, err, errlen);
	if (ret < 0)
		goto out;
	ret = -ENOMEM;
	if (asprintf(&own[0], "PAI_TASK_ID=%lld", (long long)t->id) < 0 ||
	    asprintf(&own[1], "PAI_PROMPT_FILE=%s", prompt_file) < 0 ||
	    asprintf(&own[2], "PAI_WORKTREE=%s", t->worktree) < 0 ||
	    asprintf(&own[3], "PAI_BRANCH=%s", t->branch) < 0)
		goto out;
	/* Past 64 KiB an environment string risks E2BIG at exec: the
	 * prompt file carries it instead. */
	if (t->prompt_len < 65536 &&
	    asprintf(&own[4], "PAI_PROMPT=%s", t->prompt) < 0)
		goto out;
	if (engine_task_env(t->options, &task_env) < 0)
		goto out;
	for (k = 0; task_env && task_env[k]; k++)
		;
	env = calloc(6 + (def ? def->n_env : 0) + k, sizeof(*env));
	if (!env)
		goto out;
	for (k = 0; k < 5; k++)
		if (own[k])
			env[n++] = own[k];
	/* [engine "NAME"] env = KEY=VALUE, then the task's own, which win */
	for (k = 0; def && k < def->n_env; k++)
		env[n++] = def->env[k];
	for (k = 0; task_env && task_env[k]; k++)
		env[n++] = task_env[k];
	/* Straight into r->proc: its relay thread keeps a pointer to it.
	 * Others look at it only once has_proc is set, under the lock. */
	pai_exit_path(s->p, t->id, t->attempts, exitp, sizeof(exitp));
	ret = runner_spawn(&r->proc, argv, env, t->worktree, logfd,
			   s->p->cfg.log_max, exitp, err, errlen);
	if (ret < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "engine '%s': %s", t->engine, msg);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	r->has_proc = 1;
	s->slots[r->slot - 1].since = pai_now_ms();
	if (r->cancel || s->stopping) {
		runner_signal(&r->proc, SIGTERM);
		r->term_at = pai_now_ms();
	}
	pthread_mutex_unlock(&s->lock);
	store_task_set_pid(s->p->store, t->id, r->proc.pid);
out:
	for (k = 0; k < 5; k++)
		free(own[k]);
	free(env);
	engine_argv_free(task_env);
	engine_argv_free(argv);
	return ret;
}

/* An agent engine's report: its tokens and cost go to the store, its
 * error (if any) to *error. */
static void record_result(struct pai *p, const struct task *t, char **error)
{
	const struct price_def *price;
	char path[PATH_MAX];
	struct task_usage u;
	cJSON *f;

	pai_result_path(p, t->id, path, sizeof(path));
	if (engine_read_result(path, &u, error) < 0)
		return;
	/* No price from the engine: the configured table may have one. */
	price = config_price(&p->cfg, engine_model(&p->cfg, t->engine,
						   t->model));
	if (u.cost_usd < 0 && price)
		u.cost_usd = ((double)u.input_tokens * price->input +
			      (double)u.output_tokens * price->output) / 1e6;
	store_task_add_usage(p->store, t->id, &u);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "input_tokens", (double)u.input_tokens);
	cJSON_AddNumberToObject(f, "output_tokens", (double)u.output_tokens);
	cJSON_AddNumberToObject(f, "turns", u.turns);
	if (u.cost_usd >= 0)
		cJSON_AddNumberToObject(f, "cost_usd", u.cost_usd);
	events_add(p->events, "usage", t->id, f);
}

/* Wait for the engine, escalating to SIGKILL once a SIGTERM is overdue. */
/*
 * Wait for the engine. Cancel, unmount, the task's timeout and its stall
 * limit (no new output in the log for that long) all end it the same
 * way: SIGTERM to its process group, SIGKILL once that is overdue.
 */
static int wait_engine(struct run *r)
{
	struct sched *s = r->s;
	int64_t start = pai_now_ms(), last_output = start, now;
	off_t last_size = -1;
	struct stat st;
	int status = 0;

	while (runner_wait(&r->proc, RUN_POLL_MS, &status) == -ETIMEDOUT) {
		now = pai_now_ms();
		if (r->stall && fstat(r->logfd, &st) == 0 &&
		    st.st_size != last_size) {
			last_size = st.st_size;
			last_output = now;
		}
		pthread_mutex_lock(&s->lock);
		if (!r->term_at && !r->killed_for) {
			if (r->timeout && now - start >= r->timeout * 1000LL)
				r->killed_for = "timeout";
			else if (r->stall &&
				 now - last_output >= r->stall * 1000LL)
				r->killed_for = "stalled";
		}
		if ((r->cancel || s->stopping || r->killed_for) &&
		    !r->term_at) {
			runner_signal(&r->proc, SIGTERM);
			r->term_at = now;
		} else if (r->term_at &&
			   now - r->term_at >= s->p->cfg.kill_grace_ms) {
			runner_signal(&r->proc, SIGKILL);
		}
		pthread_mutex_unlock(&s->lock);
	}
	return status;
}

/*
 * A provider that keeps failing (a bad key, an outage) should not burn
 * through the queue: count agent engines' outcomes per engine and open
 * the breaker after K failures in a row. Cancellations say nothing about
 * the provider.
 */
static void note_outcome(struct sched *s, const char *engine,
			 enum task_state st)
{
	cJSON *f;
	int opened;

	if (!engine_has_result(engine) || st == TASK_CANCELLED)
		return;
	pthread_mutex_lock(&s->lock);
	opened = breakers_record(&s->breakers, engine, st == TASK_FAILED,
				 pai_now_ms());
	pthread_mutex_unlock(&s->lock);
	if (opened == 1) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "engine", engine);
		cJSON_AddNumberToObject(f, "failures",
					s->p->cfg.breaker_failures);
		cJSON_AddNumberToObject(f, "cooldown",
					s->p->cfg.breaker_cooldown);
		events_add(s->p->events, "breaker_open", 0, f);
	}
}

/* After a task's state changed: its dependents follow, and say so. */
static void settle(struct sched *s, int64_t id)
{
	struct dep_change *ch = NULL;
	size_t n = 0, i;
	int woke = 0;

	if (store_deps_settle(s->p->store, id, &ch, &n) < 0) {
		fprintf(stderr, "parallelai: task %lld: cannot update the"
			" tasks that depend on it\n", (long long)id);
		return;
	}
	for (i = 0; i < n; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "state",
					task_state_name(ch[i].state));
		if (*ch[i].reason)
			cJSON_AddStringToObject(f, "reason", ch[i].reason);
		events_add(s->p->events, ch[i].state == TASK_QUEUED ?
			   "released" : ch[i].state == TASK_BLOCKED ?
			   "blocked" : "waiting", ch[i].task, f);
		woke |= ch[i].state == TASK_QUEUED;
	}
	free(ch);
	if (woke) {
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->wake);
		pthread_mutex_unlock(&s->lock);
	}
}

/* min(base * 2^(n-1), max) seconds: 10 s, 20 s, 40 s ... 5 min. */
static int64_t backoff_ms(const struct config *c, int attempt)
{
	int64_t d = (int64_t)c->retry_base * 1000;
	int i;

	for (i = 1; i < attempt && d < (int64_t)c->retry_max * 1000; i++)
		d *= 2;
	return d < (int64_t)c->retry_max * 1000 ? d :
	       (int64_t)c->retry_max * 1000;
}

/* A failed attempt with retries left waits out its backoff, queued. */
static bool retry_later(struct run *r, int code, const char *reason)
{
	struct sched *s = r->s;
	int64_t delay;
	cJSON *f;

	if (r->attempt > r->retries)
		return false;
	delay = backoff_ms(&s->p->cfg, r->attempt);
	if (store_task_backoff(s->p->store, r->id, pai_now_ms() + delay, code,
			       reason) < 0)
		return false;
	log_line(r->logfd, "parallelai: attempt %d failed (%s); retrying in"
		 " %lld s", r->attempt, reason ? reason : "failed",
		 (long long)(delay / 1000));
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "attempt", r->attempt);
	cJSON_AddNumberToObject(f, "delay", (double)delay / 1000);
	if (reason)
		cJSON_AddStringToObject(f, "reason", reason);
	events_add(s->p->events, "retrying", r->id, f);
	return true;
}

static void finish(struct run *r, enum task_state st, int code,
		   const char *commit, const char *reason)
{
	struct sched *s = r->s;
	cJSON *f;
	int ret;

	if (r->engine)
		note_outcome(s, r->engine, st);
	if (st == TASK_FAILED && retry_later(r, code, reason))
		return;
	f = cJSON_CreateObject();

	/* The end of a run must be recorded, or the next mount runs the task
	 * again: on a full disk, keep trying until there is room. An unmount
	 * meanwhile leaves it to the exit file (see recover()). */
	while ((ret = store_task_finish(s->p->store, r->id, st, code, commit,
					reason)) < 0) {
		int stopping;

		fprintf(stderr, "parallelai: task %lld: cannot record its end:"
			" %s; trying again\n", (long long)r->id,
			strerror(-ret));
		pthread_mutex_lock(&s->lock);
		r->record_err = ret;
		stopping = s->stopping;
		r->unrecorded = stopping;
		pthread_mutex_unlock(&s->lock);
		if (stopping)
			break;
		sleep(1);
	}
	pthread_mutex_lock(&s->lock);
	r->record_err = 0;
	pthread_mutex_unlock(&s->lock);
	cJSON_AddStringToObject(f, "state", task_state_name(st));
	if (code >= 0)
		cJSON_AddNumberToObject(f, "exit", code);
	if (commit && *commit)
		cJSON_AddStringToObject(f, "commit", commit);
	if (reason)
		cJSON_AddStringToObject(f, "reason", reason);
	events_add(s->p->events, "finished", r->id, f);
	if (st == TASK_CANCELLED)
		events_add(s->p->events, "cancelled", r->id, NULL);
	settle(s, r->id);
}

/*
 * The end of a run. Whatever the engine wrote is kept on the branch, even
 * when it failed or was cancelled: nothing an agent did is lost. Then the
 * task is done, failed (or retried later) or cancelled.
 */
static void conclude(struct run *r, const struct task *t, const char *wt,
		     int code, int cancel, const char *agent_error)
{
	struct pai *p = r->s->p;
	struct gitwork_author author = { p->cfg.author_name,
					 p->cfg.author_email };
	char msg[1024], commit[41] = "", err[PATH_MAX + 1024];

	commit_message(t, msg, sizeof(msg));
	if (gitwork_commit_all(wt, msg, &author,
			       (const char *const *)p->cfg.copy, commit, err,
			       sizeof(err)) < 0) {
		/* rm -rf of the worktree under a running engine: say that,
		 * not what libgit2 makes of the missing directory. */
		if (access(wt, F_OK) < 0)
			snprintf(err, sizeof(err), "cannot commit task %lld: "
				 "worktree '%s' was removed while it ran",
				 (long long)t->id, wt);
		log_line(r->logfd, "parallelai: %s", err);
		finish(r, TASK_FAILED, code, NULL, err);
		return;
	}
	if (cancel) {
		finish(r, TASK_CANCELLED, code, commit, "cancelled");
	} else if (r->killed_for) {
		if (!strcmp(r->killed_for, "timeout"))
			snprintf(err, sizeof(err), "timeout: killed after %d s",
				 r->timeout);
		else
			snprintf(err, sizeof(err), "stalled: no output for %d s",
				 r->stall);
		log_line(r->logfd, "parallelai: %s", err);
		finish(r, TASK_FAILED, code, commit, err);
	} else if (code == 0) {
		finish(r, TASK_DONE, code, commit, NULL);
	} else if (agent_error) {
		/* The agent said why; its log already shows it. */
		finish(r, TASK_FAILED, code, commit, agent_error);
	} else {
		snprintf(err, sizeof(err), "%s %d",
			 code > 128 ? "killed by signal" : "exit status",
			 code > 128 ? code - 128 : code);
		log_line(r->logfd, "parallelai: engine '%s': %s", t->engine,
			 err);
		finish(r, TASK_FAILED, code, commit, err);
	}
}

/* workers/N/log follows the slot: this run's part of the task's log
 * starts where the log ends now (after any earlier attempt). */
static void worker_log_begin(struct pai *p, int slot, const struct task *t,
			     int logfd)
{
	struct stat st;

	if (fstat(logfd, &st) < 0)
		st.st_size = 0;
	if (wlog_begin(p->wlog, slot, t->id, t->prompt, t->prompt_len,
		       st.st_size) < 0)
		fprintf(stderr, "parallelai: cannot follow task %lld on "
			"worker %d: out of memory\n", (long long)t->id, slot);
}

static void *run_main(void *arg)
{
	struct run *r = arg;
	struct sched *s = r->s;
	struct pai *p = s->p;
	struct task t = { 0 };
	char wt[PATH_MAX], logp[PATH_MAX], err[PATH_MAX + 1024] = "";
	char name[64];
	int logfd = -1, code = -1, status, cancel, stopping, deps_r;
	int by_itself;
	char *agent_error = NULL;
	cJSON *f;

	if (store_task_get(p->store, r->id, &t) < 0) {
		snprintf(err, sizeof(err), "cannot read task %lld",
			 (long long)r->id);
		goto fail;
	}
	r->attempt = t.attempts;
	r->retries = t.retries;
	r->timeout = t.timeout;
	r->stall = t.stall;
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "worker", r->slot);
	cJSON_AddNumberToObject(f, "attempt", t.attempts);
	events_add(p->events, "started", t.id, f);

	pai_log_path(p, t.id, logp, sizeof(logp));
	logfd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (logfd < 0) {
		snprintf(err, sizeof(err), "cannot open log '%s': %s", logp,
			 strerror(errno));
		goto fail;
	}
	r->logfd = logfd;
	worker_log_begin(p, r->slot, &t, logfd);
	if (t.attempts > 1)
		log_line(logfd, "--- parallelai: attempt %d ---", t.attempts);

	/* A worktree made under another setting stays where it is. */
	if (t.worktree)
		snprintf(wt, sizeof(wt), "%s", t.worktree);
	else
		pai_worktree_path(p, t.id, wt, sizeof(wt));
	snprintf(name, sizeof(name), "pai-task-%lld", (long long)t.id);
	/* This task runs nowhere else, so locks on its refs are a killed
	 * daemon's; and a worktree it never recorded is what a daemon
	 * killed during git_worktree_add left: nobody worked in it. */
	gitwork_clear_locks(p->repo, name, t.branch, err, sizeof(err));
	if (!t.worktree)
		gitwork_worktree_discard(p->repo, name, wt, err, sizeof(err));
	if (!t.worktree && (deps_r = merge_dependencies(p, &t, err,
							sizeof(err))) < 0) {
		if (deps_r == -EBUSY) {
			/* Their work cannot come together: the task waits
			 * for someone to resolve it, it did not fail. */
			log_line(logfd, "parallelai: %s", err);
			store_task_finish(p->store, t.id, TASK_BLOCKED, -1, NULL,
					  err);
			events_reason(p->events, "blocked", t.id, err);
			settle(s, t.id);
			goto out;
		}
		goto fail;
	}
	if (gitwork_worktree_create(p->repo, name, wt, t.branch, t.base, err,
				    sizeof(err)) < 0)
		goto fail;
	if (!t.worktree || strcmp(t.worktree, wt)) {
		store_task_set_worktree(p->store, t.id, wt);
		free(t.worktree);
		t.worktree = strdup(wt);
		if (setup_worktree(r, wt, logfd, err, sizeof(err)) < 0)
			goto fail;
	}

	pthread_mutex_lock(&s->lock);
	cancel = r->cancel;
	stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	if (stopping)
		goto requeue;
	if (cancel) {
		finish(r, TASK_CANCELLED, -1, NULL, "cancelled before start");
		goto out;
	}

	if (run_engine(r, &t, logfd, err, sizeof(err)) < 0)
		goto fail;
	status = wait_engine(r);
	code = runner_exit_code(status);

	pthread_mutex_lock(&s->lock);
	cancel = r->cancel;
	stopping = s->stopping;
	by_itself = !r->term_at && !r->killed_for;
	r->ended = 1;
	pthread_mutex_unlock(&s->lock);
	/* An engine that ended before the unmount asked it to has done
	 * its work: that is kept, not run again. (Its keeper wrote the exit
	 * file, so a daemon killed from here on does the same when it comes
	 * back; see recover().) */
	if (stopping && !cancel && !by_itself)
		goto requeue;
	record_result(p, &t, &agent_error);
	conclude(r, &t, wt, code, cancel, agent_error);
	goto out;

requeue:
	store_task_requeue(p->store, t.id, "stopped by unmount");
	events_reason(p->events, "requeued", t.id, "stopped by unmount");
	goto out;
fail:
	log_line(logfd, "parallelai: %s", err);
	finish(r, TASK_FAILED, -1, NULL, err);
out:
	if (logfd >= 0)
		close(logfd);
	free(agent_error);
	if (r->has_proc) {
		char exitp[PATH_MAX];

		runner_release(&r->proc);
		/* Its end unrecorded, the exit file is what the next mount
		 * finishes the run from. */
		pai_exit_path(p, r->id, r->attempt, exitp, sizeof(exitp));
		if (!r->unrecorded)
			unlink(exitp);
	}
	task_release(&t);
	pthread_mutex_lock(&s->lock);
	s->slots[r->slot - 1].run = NULL;
	s->slots[r->slot - 1].last_task = r->id;
	s->runs--;
	pthread_cond_broadcast(&s->wake);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	free(r->engine);
	free(r);
	return NULL;
}

/* ---- the scheduler thread ------------------------------------------ */

static char *engine_of(struct sched *s, int64_t id)
{
	struct task t;
	char *e;

	if (store_task_get(s->p->store, id, &t) < 0)
		return NULL;
	e = t.engine;
	t.engine = NULL;
	task_release(&t);
	return e;
}

/* Engines with [engine "NAME"] max = N and N tasks running already. */
static size_t engines_at_max(struct sched *s, const char **out, size_t room)
{
	const struct config *c = &s->p->cfg;
	size_t i, n = 0;
	int k, running;

	for (i = 0; i < c->n_engines && n < room; i++) {
		if (!c->engines[i].max)
			continue;
		running = 0;
		for (k = 0; k < s->n_slots; k++)
			if (s->slots[k].run && s->slots[k].run->engine &&
			    !strcmp(s->slots[k].run->engine,
				    c->engines[i].name))
				running++;
		if (running >= c->engines[i].max)
			out[n++] = c->engines[i].name;
	}
	return n;
}

/* Start queued tasks on free slots, by priority then age, within the
 * limits per engine and around open breakers. Called with s->lock. */
static void start_runnable(struct sched *s)
{
	const char *open[32];
	size_t n_open;
	int k;

	for (k = 1; k <= s->workers && !s->paused && !s->stopping; k++) {
		struct run *r;
		pthread_t th;
		int64_t id;

		if (s->slots[k - 1].run)
			continue;
		n_open = breakers_open(&s->breakers, pai_now_ms(), open, 16);
		n_open += engines_at_max(s, open + n_open, 16);
		if (store_task_next_queued_except(s->p->store, open, n_open,
						  &id) < 0)
			return;
		if (store_task_start(s->p->store, id, k) < 0)
			return;
		r = calloc(1, sizeof(*r));
		if (!r)
			goto undo;
		r->s = s;
		r->id = id;
		r->slot = k;
		r->logfd = -1;
		r->engine = engine_of(s, id);
		s->slots[k - 1].run = r;
		s->slots[k - 1].since = pai_now_ms();
		s->runs++;
		if (pthread_create(&th, NULL, run_main, r) != 0) {
			s->slots[k - 1].run = NULL;
			s->runs--;
			free(r);
			goto undo;
		}
		pthread_detach(th);
		continue;
undo:
		store_task_requeue(s->p->store, id, NULL);
		fprintf(stderr, "parallelai: cannot start a run thread\n");
		return;
	}
}

static void *sched_main(void *arg)
{
	struct sched *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		int64_t close, due;

		start_runnable(s);
		/* Open breakers and backoffs end by time alone: wake up. */
		close = breakers_next_close(&s->breakers, pai_now_ms());
		due = store_next_due(s->p->store);
		if (due && (!close || due < close))
			close = due;
		if (close) {
			struct timespec ts = { .tv_sec = close / 1000,
					       .tv_nsec = (close % 1000) * 1000000 };

			pthread_cond_timedwait(&s->wake, &s->lock, &ts);
		} else {
			pthread_cond_wait(&s->wake, &s->lock);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/*
 * A daemon killed inside git_worktree_add leaves a broken worktree entry
 * that makes libgit2 refuse every later worktree, not only its own task's:
 * discard the partial worktree of every task that never recorded one,
 * before anything starts.
 */
static void discard_partial_worktrees(struct sched *s)
{
	static const enum task_state states[] = {
		TASK_QUEUED, TASK_RUNNING, TASK_FAILED, TASK_CANCELLED
	};
	char wt[PATH_MAX], entry[PATH_MAX], name[64], err[PATH_MAX + 256];
	size_t k, i, n;
	int64_t *ids;

	for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
		ids = NULL;
		n = 0;
		if (store_tasks_in_state(s->p->store, states[k], &ids, &n) < 0)
			continue;
		for (i = 0; i < n; i++) {
			struct task t;

			if (store_task_get(s->p->store, ids[i], &t) < 0)
				continue;
			pai_worktree_path(s->p, t.id, wt, sizeof(wt));
			snprintf(name, sizeof(name), "pai-task-%lld",
				 (long long)t.id);
			snprintf(entry, sizeof(entry), "%s/worktrees/%s",
				 s->p->gitdir, name);
			if (!t.worktree && (access(wt, F_OK) == 0 ||
					    access(entry, F_OK) == 0))
				gitwork_worktree_discard(s->p->repo, name, wt,
							 err, sizeof(err));
			task_release(&t);
		}
		free(ids);
	}
}

/*
 * A run whose engine had exited by itself when the daemon died, or did so
 * while its keeper lingered (the keeper wrote its exit file): it is
 * finished now as it would have been then, committed and done or failed,
 * not run again. Only its tokens may go uncounted, if the daemon died
 * before it read the engine's report. lost: the engine ended by itself
 * but its keeper could not keep the status (code is -1): what it did is
 * committed and the task fails for that reason, without a retry, for the
 * run may well have done its work.
 */
static void conclude_recovered(struct sched *s, struct task *t, int code,
			       const char *lost)
{
	struct run r = { .s = s, .id = t->id, .engine = t->engine,
			 .attempt = t->attempts,
			 .retries = lost ? 0 : t->retries,
			 .timeout = t->timeout, .stall = t->stall,
			 .logfd = -1 };
	char path[PATH_MAX], name[64], err[PATH_MAX + 256];
	struct task_usage u;
	char *agent_error = NULL;

	/* The dead daemon may have been committing: its locks go. */
	snprintf(name, sizeof(name), "pai-task-%lld", (long long)t->id);
	gitwork_clear_locks(s->p->repo, name, t->branch, err, sizeof(err));
	pai_log_path(s->p, t->id, path, sizeof(path));
	r.logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lost)
		log_line(r.logfd, "parallelai: %s", lost);
	else
		log_line(r.logfd, "parallelai: the daemon restarted after the"
			 " engine exited (%d); finishing the run", code);
	/* Its error, not its tokens: the dead daemon may have counted
	 * those already. */
	pai_result_path(s->p, t->id, path, sizeof(path));
	if (!lost)
		engine_read_result(path, &u, &agent_error);
	events_reason(s->p->events, "recovered", t->id, lost ? lost :
		      "engine had exited; finished without running again");
	conclude(&r, t, t->worktree, code, 0, lost ? lost : agent_error);
	free(agent_error);
	if (r.logfd >= 0)
		close(r.logfd);
}

/* How long the next daemon waits for a dead one's keepers, all of them
 * together: their linger, and time for the engines to die. */
#define KEEPER_WAIT_MS (RUNNER_LINGER_MS + 9000)

/* Tasks left running by a daemon that died: those whose engine exited by
 * itself are finished (failed, when its status was lost: the run may
 * have done its work, and runs once); the others' engines are ended,
 * what remains of them too, and they are queued again with the attempt
 * counted. */
static void recover(struct sched *s)
{
	static const char lost_status[] = "the engine ended by itself but its"
		" exit status could not be kept; not run again";
	char path[PATH_MAX], entry[PATH_MAX + 16];
	int64_t *ids = NULL, until = pai_now_ms() + KEEPER_WAIT_MS, left;
	size_t n = 0, i;
	int status, r, kept;

	if (store_tasks_in_state(s->p->store, TASK_RUNNING, &ids, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		struct task t;

		if (store_task_get(s->p->store, ids[i], &t) < 0)
			continue;
		/* Its keeper ends the engine, after a linger in which it
		 * may finish; only then does the exit file say all. */
		pai_log_path(s->p, t.id, path, sizeof(path));
		left = until - pai_now_ms();
		r = runner_await_keeper(path, left > 0 ? (int)left : 0);
		if (r < 0)
			fprintf(stderr, "parallelai: task %lld: the engine of"
				" the last run is still there: %s\n",
				(long long)t.id, strerror(-r));
		/* What it started, in its group or not, still carries its
		 * worktree in the environment. */
		if (t.worktree) {
			snprintf(entry, sizeof(entry), "PAI_WORKTREE=%s",
				 t.worktree);
			runner_kill_env(entry);
		}
		pai_exit_path(s->p, t.id, t.attempts, path, sizeof(path));
		kept = r == 0 && t.worktree ? runner_read_exit(path, &status) :
		       -ENOENT;
		if (kept == 0 || kept == -ENODATA) {
			conclude_recovered(s, &t, kept ? -1 :
					   runner_exit_code(status),
					   kept ? lost_status : NULL);
			unlink(path);
			task_release(&t);
			continue;
		}
		unlink(path);
		store_task_requeue(s->p->store, t.id, "daemon restarted");
		events_reason(s->p->events, "requeued", t.id,
			      "daemon restarted");
		task_release(&t);
	}
	free(ids);
	discard_partial_worktrees(s);
}

static int resize_slots(struct sched *s, int n)
{
	struct slot *sl;

	if (n > s->n_slots) {
		sl = realloc(s->slots, (size_t)n * sizeof(*sl));
		if (!sl)
			return -ENOMEM;
		memset(sl + s->n_slots, 0,
		       (size_t)(n - s->n_slots) * sizeof(*sl));
		s->slots = sl;
		s->n_slots = n;
	}
	s->workers = n;
	return 0;
}

int sched_start(struct sched **out, struct pai *p)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->p = p;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->idle, NULL);
	breakers_init(&s->breakers, p->cfg.breaker_failures,
		      (int64_t)p->cfg.breaker_cooldown * 1000);
	if (resize_slots(s, p->cfg.workers) < 0)
		goto fail;
	recover(s);
	if (pthread_create(&s->thread, NULL, sched_main, s) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	free(s->slots);
	free(s);
	return -ENOMEM;
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->wake);
	/* Run threads see stopping, end their engines and requeue. */
	while (s->runs > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	breakers_release(&s->breakers);
	free(s->slots);
	free(s);
}

/* ---- submissions and commands -------------------------------------- */

int sched_check(struct sched *s, const char *text, size_t len,
		const struct pai_cancel *cancel, char *err, size_t errlen)
{
	struct submission sub;
	int r = submit_prepare(&sub, s->p, text, len, cancel, err, errlen);

	submit_release(&sub);
	if (r < 0)
		refuse(s, 0, err);
	return r;
}

int sched_submit(struct sched *s, const char *text, size_t len,
		 const struct pai_cancel *cancel, int64_t *id, char *err,
		 size_t errlen)
{
	struct pai *p = s->p;
	struct submission sub;
	int64_t *ids = NULL;
	size_t i;
	int r;

	r = submit_prepare(&sub, p, text, len, cancel, err, errlen);
	if (r < 0)
		goto refused;
	ids = calloc(sub.n, sizeof(*ids));
	if (!ids) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto refused;
	}
	r = store_tasks_create(p->store, sub.tasks, sub.n, ids);
	if (r < 0) {
		/* -EEXIST: another submission took the branch meanwhile. */
		snprintf(err, errlen, "cannot store the task: %s",
			 r == -ENOENT ? "a dependency no longer exists" :
			 r == -EEXIST ? "its branch is another task's" :
			 strerror(-r));
		if (r == -ENOENT || r == -EEXIST)
			r = -EINVAL;
		goto refused;
	}
	for (i = 0; i < sub.n; i++) {
		struct task t;
		cJSON *f = NULL;

		/* Say when a dependency keeps it from the queue. */
		if (store_task_get(p->store, ids[i], &t) == 0) {
			if (t.state != TASK_QUEUED) {
				f = cJSON_CreateObject();
				cJSON_AddStringToObject(f, "state",
						task_state_name(t.state));
				if (t.reason)
					cJSON_AddStringToObject(f, "reason",
								t.reason);
			}
			task_release(&t);
		}
		events_add(p->events, "created", ids[i], f);
	}
	*id = ids[0];
	free(ids);
	submit_release(&sub);
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
refused:
	free(ids);
	submit_release(&sub);
	refuse(s, 0, err);
	return r;
}

static struct run *run_of(struct sched *s, int64_t id)
{
	int k;

	for (k = 0; k < s->n_slots; k++)
		if (s->slots[k].run && s->slots[k].run->id == id)
			return s->slots[k].run;
	return NULL;
}

/* Called with s->lock held; *settle_after says the dependents of id
 * must follow once it is released. */
static int task_cancel(struct sched *s, int64_t id, int *settle_after,
		       char *err, size_t errlen)
{
	struct task t;
	struct run *r;
	int ret, settle_later = 0;

	if ((ret = store_task_get(s->p->store, id, &t)) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return ret;
	}
	ret = 0;
	if (t.state == TASK_QUEUED || t.state == TASK_WAITING ||
	    t.state == TASK_BLOCKED) {
		char why[64];

		snprintf(why, sizeof(why), "cancelled while %s",
			 task_state_name(t.state));
		store_task_finish(s->p->store, id, TASK_CANCELLED, -1, NULL,
				  why);
		events_add(s->p->events, "cancelled", id, NULL);
		settle_later = 1;
	} else if (t.state == TASK_RUNNING && (r = run_of(s, id)) &&
		   r->ended) {
		/* Too late to end it: what it did is being committed. */
		if (r->record_err)
			snprintf(err, errlen, "cannot cancel task %lld: its "
				 "engine has ended and its end cannot be "
				 "recorded: %s", (long long)id,
				 strerror(-r->record_err));
		else
			snprintf(err, errlen, "cannot cancel task %lld: its "
				 "engine has ended; its end is being recorded",
				 (long long)id);
		ret = r->record_err ? r->record_err : -EBUSY;
	} else if (t.state == TASK_RUNNING && (r = run_of(s, id))) {
		if (r->cancel) {
			snprintf(err, errlen, "task %lld is being cancelled",
				 (long long)id);
			ret = -EBUSY;
		}
		r->cancel = 1;
		if (r->has_proc && !r->term_at) {
			runner_signal(&r->proc, SIGTERM);
			r->term_at = pai_now_ms();
		}
	} else if (t.state == TASK_DONE && review_branch_missing(s->p, &t)) {
		snprintf(err, errlen, "cannot cancel task %lld: it is done;"
			 " its branch '%s' is missing: retry runs it again,"
			 " prune clears it away", (long long)id, t.branch);
		ret = -EBUSY;
	} else {
		snprintf(err, errlen, "cannot cancel task %lld: it is %s",
			 (long long)id, task_state_name(t.state));
		ret = -EBUSY;
	}
	task_release(&t);
	*settle_after = settle_later;
	return ret;
}

/*
 * A task whose branch was deleted starts over: a new worktree and branch
 * from its base, as on its first run. Its worktree record goes, so the
 * run makes them anew (copy and setup included). A worktree directory
 * still there (its branch deleted with git update-ref) holds files that
 * would be taken for the new run's work: refused until it is pruned.
 */
static int retry_fresh(struct sched *s, const struct task *t, char *err,
		       size_t errlen)
{
	if (!t->worktree)
		return 0;
	if (access(t->worktree, F_OK) == 0) {
		snprintf(err, errlen, "cannot retry task %lld: branch '%s' is"
			 " missing but worktree '%s' is still there (prune"
			 " %lld removes it)", (long long)t->id, t->branch,
			 t->worktree, (long long)t->id);
		return -EBUSY;
	}
	if (store_task_set_worktree(s->p->store, t->id, NULL) < 0) {
		snprintf(err, errlen, "cannot retry task %lld: cannot forget"
			 " worktree '%s'", (long long)t->id, t->worktree);
		return -EIO;
	}
	return 0;
}

static int task_retry(struct sched *s, int64_t id, int *settle_after,
		      char *err, size_t errlen)
{
	struct task t;
	bool missing;
	int ret;

	if ((ret = store_task_get(s->p->store, id, &t)) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return ret;
	}
	/* A done task whose branch is gone cannot merge: retry is how it
	 * does its work again. */
	missing = review_branch_missing(s->p, &t);
	if (t.state != TASK_FAILED && t.state != TASK_CANCELLED &&
	    !(t.state == TASK_DONE && missing)) {
		snprintf(err, errlen, "cannot retry task %lld: it is %s",
			 (long long)id, task_state_name(t.state));
		task_release(&t);
		return -EBUSY;
	}
	ret = missing ? retry_fresh(s, &t, err, errlen) : 0;
	task_release(&t);
	if (ret < 0)
		return ret;
	ret = store_task_requeue(s->p->store, id, NULL);
	if (ret < 0) {
		snprintf(err, errlen, "cannot requeue task %lld",
			 (long long)id);
		return ret;
	}
	events_add(s->p->events, "retried", id, NULL);
	pthread_cond_broadcast(&s->wake);
	*settle_after = 1;
	return 0;
}

static int task_priority(struct sched *s, int64_t id, long prio, char *err,
			 size_t errlen)
{
	int ret;

	if (prio < -SPEC_PRIORITY_MAX || prio > SPEC_PRIORITY_MAX) {
		snprintf(err, errlen, "priority out of range: %ld", prio);
		return -EINVAL;
	}
	ret = store_task_set_priority(s->p->store, id, (int)prio);
	if (ret == -EBUSY)
		snprintf(err, errlen, "cannot change the priority of task %lld:"
			 " it is no longer queued or waiting", (long long)id);
	else if (ret == -ENOENT)
		snprintf(err, errlen, "no such task: %lld", (long long)id);
	if (ret == 0) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddNumberToObject(f, "priority", (double)prio);
		events_add(s->p->events, "priority", id, f);
		pthread_cond_broadcast(&s->wake);
	}
	return ret;
}

const char *sched_ctl_commands(int64_t task)
{
	return task ? "cancel\nretry\npriority N\nmerge\npush\nrescan\n" :
	       "pause\nresume\nworkers N\ncancel ID\nretry ID\nmerge ID\n"
	       "merge all\nprune [branches] [ID]\n";
}

/*
 * merge, push, rescan and prune do git work that may take a while: they
 * run outside the scheduler's lock, under review's own. 1 when line was
 * one of them (*ret set), 0 when not.
 */
static int review_ctl(struct sched *s, int64_t task, const char *line,
		      const struct pai_cancel *cancel, int *ret, char *err,
		      size_t errlen)
{
	struct pai *p = s->p;
	char verb[16] = "", rest[64] = "";
	long id;
	char *end;
	int n = sscanf(line, "%15s %63[^\n]", verb, rest);

	if (n < 1)
		return 0;
	if (!strcmp(verb, "prune") && task == 0) {
		*ret = review_prune(p, n == 2 ? rest : "", cancel, err,
				    errlen);
	} else if (!strcmp(verb, "merge") && task > 0 && n == 1) {
		*ret = review_merge(p, task, err, errlen);
	} else if (!strcmp(verb, "push") && task > 0 && n == 1) {
		*ret = review_push(p, task, err, errlen);
	} else if (!strcmp(verb, "rescan") && task > 0 && n == 1) {
		*ret = review_rescan(p, task, err, errlen);
	} else if (!strcmp(verb, "merge") && task == 0 && n == 2 &&
		   !strcmp(rest, "all")) {
		*ret = review_merge_all(p, cancel, err, errlen);
	} else if (!strcmp(verb, "merge") && task == 0 && n == 2) {
		id = strtol(rest, &end, 10);
		if (*end || id <= 0) {
			snprintf(err, errlen, "usage: merge ID|all");
			*ret = -EINVAL;
		} else {
			*ret = review_merge(p, id, err, errlen);
		}
	} else {
		return 0;
	}
	/* A merge or prune changes nothing a dependency waits for. */
	if (*ret < 0)
		refuse(s, task, err);
	return 1;
}

int sched_ctl(struct sched *s, int64_t task, const char *line,
	      const struct pai_cancel *cancel, char *err, size_t errlen)
{
	char verb[32] = "";
	long num = 0;
	int n = ctl_parse(line, verb, sizeof(verb), &num), ret = -EINVAL;
	int settle_after = 0;
	cJSON *f;

	if (review_ctl(s, task, line, cancel, &ret, err, errlen))
		return ret;

	pthread_mutex_lock(&s->lock);
	if (task > 0 && n == 1 && !strcmp(verb, "cancel")) {
		ret = task_cancel(s, task, &settle_after, err, errlen);
	} else if (task > 0 && n == 1 && !strcmp(verb, "retry")) {
		ret = task_retry(s, task, &settle_after, err, errlen);
	} else if (task > 0 && n == 2 && !strcmp(verb, "priority")) {
		ret = task_priority(s, task, num, err, errlen);
	} else if (task == 0 && n == 2 && num > 0 && !strcmp(verb, "cancel")) {
		ret = task_cancel(s, num, &settle_after, err, errlen);
	} else if (task == 0 && n == 2 && num > 0 && !strcmp(verb, "retry")) {
		ret = task_retry(s, num, &settle_after, err, errlen);
	} else if (task == 0 && n == 1 && !strcmp(verb, "pause")) {
		s->paused = 1;
		events_add(s->p->events, "paused", 0, NULL);
		ret = 0;
	} else if (task == 0 && n == 1 && !strcmp(verb, "resume")) {
		s->paused = 0;
		events_add(s->p->events, "resumed", 0, NULL);
		pthread_cond_broadcast(&s->wake);
		ret = 0;
	} else if (task == 0 && n == 2 && !strcmp(verb, "workers")) {
		if (num < 1 || num > 1024) {
			snprintf(err, errlen,
				 "workers must be between 1 and 1024");
		} else if ((ret = resize_slots(s, (int)num)) == 0) {
			f = cJSON_CreateObject();
			cJSON_AddNumberToObject(f, "workers", (double)num);
			events_add(s->p->events, "resized", 0, f);
			pthread_cond_broadcast(&s->wake);
		}
	} else {
		snprintf(err, errlen, "unknown command '%s'", line);
	}
	pthread_mutex_unlock(&s->lock);
	if (ret == 0 && settle_after)
		settle(s, task ? task : num);
	if (ret < 0)
		refuse(s, task, err);
	return ret;
}

void sched_kick(struct sched *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* ---- what the views read ------------------------------------------- */

int sched_workers(struct sched *s)
{
	int k, n;

	pthread_mutex_lock(&s->lock);
	n = s->workers;
	/* A shrunk pool still shows slots that finish their task. */
	for (k = s->workers; k < s->n_slots; k++)
		if (s->slots[k].run)
			n = k + 1;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int sched_busy(struct sched *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->runs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool sched_paused(struct sched *s)
{
	bool b;

	pthread_mutex_lock(&s->lock);
	b = s->paused;
	pthread_mutex_unlock(&s->lock);
	return b;
}

int sched_worker_info(struct sched *s, int k, struct worker_info *out)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&s->lock);
	if (k >= 1 && k <= s->n_slots &&
	    (k <= s->workers || s->slots[k - 1].run)) {
		struct slot *sl = &s->slots[k - 1];

		memset(out, 0, sizeof(*out));
		out->last_task = sl->last_task;
		if (sl->run) {
			out->task = sl->run->id;
			out->pid = sl->run->has_proc ? sl->run->proc.pid : 0;
			out->since = sl->since;
			out->last_task = sl->run->id;
		}
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

size_t sched_breakers(struct sched *s, struct breaker_info *out, size_t max)
{
	int64_t now = pai_now_ms();
	size_t i, n = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->breakers.n && n < max; i++) {
		const struct breaker *b = &s->breakers.v[i];

		if (b->open_until <= now)
			continue;
		snprintf(out[n].engine, sizeof(out[n].engine), "%s",
			 b->engine);
		out[n].failures = b->failures;
		out[n].open_until = b->open_until;
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}
