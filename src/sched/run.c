/*
 * sched/run: one run's life, in a thread of its own: the worktree made
 * ready (sched/prepare.c), the engine started through
 * the runner and waited for (cancel, timeout, stall), what it reported,
 * the commit, and the task's end (done, failed, a retry later).
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

#include "approvals.h"
#include "breaker.h"
#include "ctl.h"
#include "engine.h"
#include "provider.h"
#include "events.h"
#include "fsutil.h"
#include "gitwork.h"
#include "pai.h"
#include "quote.h"
#include "review.h"
#include "overlay.h"
#include "runner.h"
#include "sandbox.h"
#include "scheduler.h"
#include "spec.h"
#include "submit.h"
#include "store.h"
#include "wlog.h"
#include "schedint.h"

void sched_log_line(int fd, const char *fmt, ...)
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
	char exitp[PATH_MAX], logp[PATH_MAX], jobname[128], settings[PATH_MAX];
	const struct engine_def *def = config_engine(&s->p->cfg, t->engine);
	struct runner_task rt;
	struct env_extra ex;
	char **argv = NULL, **env = NULL;
	struct engine_vars v;
	struct sandbox_choice ch;
	int ret;

	memset(&ex, 0, sizeof(ex));
	pai_prompt_path(s->p, t->id, prompt_file, sizeof(prompt_file));
	ret = write_file(prompt_file, t->prompt, t->prompt_len, 0600);
	if (ret < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", prompt_file,
			 strerror(-ret));
		return ret;
	}
	pai_raw_path(s->p, t->id, raw, sizeof(raw));
	pai_result_path(s->p, t->id, result, sizeof(result));
	/* Each attempt reports afresh. */
	unlink(result);
	sched_budget_watch(r, result);
	settings[0] = '\0';
	if (s->p->approvals && engine_policy_hook(&s->p->cfg, t->engine) &&
	    (ret = sched_write_settings(s, t, settings, sizeof(settings))) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", settings,
			 strerror(-ret));
		return ret;
	}
	v = (struct engine_vars){ .prompt = t->prompt,
				  .prompt_file = prompt_file,
				  .worktree = t->worktree, .branch = t->branch,
				  .task_id = t->id, .model = t->model,
				  .self_exe = s->p->self_exe,
				  .raw_file = raw, .result_file = result,
				  .options = t->options,
				  .attempt = t->attempts,
				  .settings_file = settings[0] ? settings : NULL };
	/* the choice sched_contain makes again below: some CLIs must know */
	v.sandboxed = sandbox_choose(&s->p->cfg, &s->p->sandbox, t->engine,
				     t->options, &ch, err, errlen) == 0 && ch.on;
	ret = engine_argv(&s->p->cfg, t->engine, &v, &argv, err, errlen);
	if (ret < 0)
		goto out;
	if (v.sandboxed && engine_policy_hook(&s->p->cfg, t->engine)) {
		char mode[256], why[128];

		engine_permission_mode(&s->p->cfg, t->engine, t->options, true,
				       v.settings_file != NULL, mode,
				       sizeof(mode), why, sizeof(why));
		ex.is_sandbox = !strcmp(mode, "bypassPermissions");
	}
	if ((ret = sched_env_extra(r, t, def, prompt_file, &ex)) < 0)
		goto out;
	ret = sched_contain(r, t, ex.all, prompt_file, raw, result, &argv,
			    &env, err, errlen);
	if (ret < 0)
		goto failed;
	/* Straight into r->proc: its relay thread keeps a pointer to it.
	 * Others look at it only once has_proc is set, under the lock. */
	pai_exit_path(s->p, t->id, t->attempts, exitp, sizeof(exitp));
	sched_task_job(r, t, def, jobname, sizeof(jobname), logp, sizeof(logp),
		       &rt);
	ret = runner_spawn_task(&r->proc, argv, env, t->worktree, logfd,
				s->p->cfg.log_max, exitp, &rt, err, errlen);
	if (ret < 0)
		goto failed;
	pthread_mutex_lock(&s->lock);
	r->has_proc = 1;
	s->slots[r->slot - 1].since = pai_now_ms();
	if (r->cancel || s->stopping) {
		runner_signal(&r->proc, SIGTERM);
		r->term_at = pai_now_ms();
	}
	pthread_mutex_unlock(&s->lock);
	store_task_set_pid(s->p->store, t->id, r->proc.pid);
	goto out;
failed:
	{
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "engine '%s': %s", t->engine, msg);
	}
out:
	sched_env_extra_release(&ex);
	engine_argv_free(env);
	engine_argv_free(argv);
	return ret;
}

/* An agent engine's report: its tokens and cost go to the store (and
 * leave the run's live figures), its error (if any) to *error, tools it
 * was refused to events. */
static void record_result(struct run *r, const struct task *t, char **error)
{
	struct pai *p = r->s->p;
	char path[PATH_MAX];
	struct task_usage u;
	char *asked;
	struct stat st;
	cJSON *f;

	pai_result_path(p, t->id, path, sizeof(path));
	/* made empty for a sandbox, and never written: no report */
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !st.st_size)
		unlink(path);
	if (engine_read_result(path, &u, error) < 0)
		return;
	/* No price from the engine: the configured table may have one. */
	sched_budget_cost(r->budget.price, &u);
	store_task_add_usage(p->store, t->id, &u);
	sched_budget_round_end(r, &u);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "input_tokens", (double)u.input_tokens);
	cJSON_AddNumberToObject(f, "output_tokens", (double)u.output_tokens);
	cJSON_AddNumberToObject(f, "turns", u.turns);
	if (u.cost_usd >= 0)
		cJSON_AddNumberToObject(f, "cost_usd", u.cost_usd);
	events_add(p->events, "usage", t->id, f);
	/* refused tools (Claude Code's permission denials): a person is
	 * needed, for what it asked */
	if (engine_read_denied(path, &asked) == 0) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "kind", "permission");
		cJSON_AddStringToObject(f, "asked", asked);
		events_add(p->events, "needs_input", t->id, f);
		free(asked);
	}
}

/*
 * Wait for the engine. Cancel, unmount, the task's timeout, its stall
 * limit (no new output in the log for that long) and its budget all end
 * it the same way: SIGTERM to its process group, SIGKILL once that is
 * overdue.
 */
int sched_wait_engine(struct run *r)
{
	struct sched *s = r->s;
	int64_t start = pai_now_ms(), last_output = start, now;
	off_t last_size = -1;
	struct stat st;
	int status = 0;

	while (runner_wait(&r->proc, RUN_POLL_MS, &status) == -ETIMEDOUT) {
		sched_budget_poll(r);
		now = pai_now_ms();
		if (r->stall && fstat(r->logfd, &st) == 0 &&
		    st.st_size != last_size) {
			last_size = st.st_size;
			last_output = now;
		}
		pthread_mutex_lock(&s->lock);
		/* A job goes on without us: the next mount adopts it. */
		if (s->stopping && !r->cancel && !r->term_at &&
		    runner_detachable(&r->proc)) {
			r->detached = 1;
			r->unrecorded = 1;
			pthread_mutex_unlock(&s->lock);
			break;
		}
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

int sched_engine_round(struct run *r, const struct task *t, int *code,
		       int *cancel, char **agent_error, char *err,
		       size_t errlen)
{
	struct sched *s = r->s;
	int status, stopping, by_itself;

	if (!r->adopted) {
		int e = run_engine(r, t, r->logfd, err, errlen);

		/* Nothing started: the task waits for the backend, queued. */
		if (e == -RUNNER_UNREACHABLE) {
			sched_log_line(r->logfd, "parallelai: %s", err);
			r->requeue_why = "backend unreachable";
			return SCHED_REQUEUE;
		}
		if (e < 0)
			return -EIO;
	}
	r->adopted = 0;
	status = sched_wait_engine(r);
	if (r->detached) {
		events_reason(s->p->events, "detached", t->id,
			      "unmounted; its job goes on");
		return SCHED_DETACHED;
	}
	*code = runner_exit_code(status);
	pthread_mutex_lock(&s->lock);
	*cancel = r->cancel;
	stopping = s->stopping;
	by_itself = !r->term_at && !r->killed_for;
	pthread_mutex_unlock(&s->lock);
	/* An engine that ended before the unmount asked it to has done
	 * its work: that is kept, not run again. (Its keeper wrote the exit
	 * file, so a daemon killed from here on does the same when it comes
	 * back; see sched_recover().) */
	if (stopping && !*cancel && !by_itself)
		return SCHED_REQUEUE;
	record_result(r, t, agent_error);
	/* It ended without a status of its own: the backend says why. */
	if (*code != 0 && !*agent_error && runner_reason(&r->proc)) {
		*agent_error = strdup(runner_reason(&r->proc));
		sched_log_line(r->logfd, "parallelai: %s", *agent_error);
	}
	return 0;
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

	if (!engine_has_result(&s->p->cfg, engine) || st == TASK_CANCELLED)
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
void sched_settle(struct sched *s, int64_t id)
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
	sched_log_line(r->logfd, "parallelai: attempt %d failed (%s); retrying in"
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

	/* A failed check says nothing of the provider: its engine
	 * answered. */
	if (r->engine)
		note_outcome(s, r->engine, *r->check_failed ? TASK_DONE : st);
	if (st == TASK_FAILED && retry_later(r, code, reason))
		return;
	f = cJSON_CreateObject();

	/* The end of a run must be recorded, or the next mount runs the task
	 * again: on a full disk, keep trying until there is room. An unmount
	 * meanwhile leaves it to the exit file (see sched_recover()). */
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
	sched_settle(s, r->id);
}

/*
 * git add -A and commit in wt: in an overlay (checkout=overlay) only what
 * its upper directory holds is looked at, not every file of the base.
 */
static int commit_work(struct pai *p, const struct task *t, const char *wt,
		       const char *msg, const struct gitwork_author *author,
		       const char *const *skip, char commit[OID_HEX_SIZE],
		       char *err, size_t errlen)
{
	char base[OVERLAY_OID_SIZE], **paths = NULL;
	int r;

	if (!overlay_is(p->worktrees_dir, t->id) ||
	    overlay_changed(&paths, base, p->worktrees_dir, t->id) < 0)
		return gitwork_commit_all(wt, msg, author, skip, commit, err,
					  errlen);
	r = gitwork_commit_paths(wt, msg, author, skip, base,
				 (const char *const *)paths, commit, err,
				 errlen);
	overlay_changed_free(paths);
	return r;
}

/*
 * The end of a run. Whatever the engine wrote is kept on the branch, even
 * when it failed or was cancelled: nothing an agent did is lost. Then the
 * task is done, failed (or retried later) or cancelled.
 */
void sched_conclude(struct run *r, const struct task *t, const char *wt,
		     int code, int cancel, const char *agent_error)
{
	struct pai *p = r->s->p;
	struct gitwork_author author = { p->cfg.author_name,
					 p->cfg.author_email };
	char msg[1024], commit[OID_HEX_SIZE] = "", err[PATH_MAX + 1024];
	struct outside out;
	const char **skip = NULL;

	commit_message(t, msg, sizeof(msg));
	/* A sandboxed run committed on a detached HEAD: the branch takes
	 * its commits, and HEAD is on the branch again before ours. */
	if (gitwork_reattach(wt, t->branch, err, sizeof(err)) < 0)
		sched_log_line(r->logfd, "parallelai: %s", err);
	/* Changes outside its paths: outsidePaths = drop leaves them out. */
	sched_outside_begin(r, t, wt, &out, &skip);
	if (commit_work(p, t, wt, msg, &author, skip ? skip :
			(const char *const *)p->cfg.copy, commit, err,
			sizeof(err)) < 0) {
		/* rm -rf of the worktree under a running engine: say that,
		 * not what libgit2 makes of the missing directory. */
		if (access(wt, F_OK) < 0)
			snprintf(err, sizeof(err), "cannot commit task %lld: "
				 "worktree '%s' was removed while it ran",
				 (long long)t->id, wt);
		sched_log_line(r->logfd, "parallelai: %s", err);
		finish(r, TASK_FAILED, code, NULL, err);
		goto out;
	}
	if (cancel) {
		finish(r, TASK_CANCELLED, code, commit, "cancelled");
	} else if (r->killed_for && !strcmp(r->killed_for, "budget")) {
		/* Another attempt would spend again: `retry` decides. */
		r->retries = 0;
		finish(r, TASK_FAILED, code, commit, r->budget.why);
	} else if (r->killed_for) {
		if (!strcmp(r->killed_for, "timeout"))
			snprintf(err, sizeof(err), "timeout: killed after %d s",
				 r->timeout);
		else
			snprintf(err, sizeof(err), "stalled: no output for %d s",
				 r->stall);
		sched_log_line(r->logfd, "parallelai: %s", err);
		finish(r, TASK_FAILED, code, commit, err);
	} else if (*r->check_failed) {
		r->retries = 0;	/* its fix rounds were its retries */
		finish(r, TASK_FAILED, code, commit, r->check_failed);
	} else if (code == 0 && out.n &&
		   p->cfg.outside_paths == OUTSIDE_FAIL) {
		/* Committed, so nothing is lost; not done: not what it was
		 * given to change. */
		sched_outside_fail(r, &out, err, sizeof(err));
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
		sched_log_line(r->logfd, "parallelai: engine '%s': %s", t->engine,
			 err);
		finish(r, TASK_FAILED, code, commit, err);
	}
out:
	free(skip);
	sched_outside_release(&out);
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

/* The run's log, opened for appending, and the worker's log told. */
static int open_run_log(struct run *r, const struct task *t, char *err,
			size_t errlen)
{
	struct pai *p = r->s->p;
	char logp[PATH_MAX];
	int logfd;

	pai_log_path(p, t->id, logp, sizeof(logp));
	logfd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (logfd < 0) {
		snprintf(err, errlen, "cannot open log '%s': %s", logp,
			 strerror(errno));
		return -1;
	}
	r->logfd = logfd;
	worker_log_begin(p, r->slot, t, logfd);
	if (t->attempts > 1)
		sched_log_line(logfd, "--- parallelai: attempt %d ---",
			       t->attempts);
	return logfd;
}

/* The slot is free again, the run record gone. */
static void release_run(struct run *r)
{
	struct sched *s = r->s;

	if (r->has_proc) {
		char exitp[PATH_MAX];

		runner_release(&r->proc);
		/* Its end unrecorded, the exit file is what the next mount
		 * finishes the run from. */
		pai_exit_path(s->p, r->id, r->attempt, exitp, sizeof(exitp));
		if (!r->unrecorded)
			unlink(exitp);
	}
	pthread_mutex_lock(&s->lock);
	s->slots[r->slot - 1].run = NULL;
	s->slots[r->slot - 1].last_task = r->id;
	s->runs--;
	pthread_cond_broadcast(&s->wake);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	sched_owned_release(&r->owned);
	free(r->engine);
	free(r);
}

/*
 * A job the last daemon left running, adopted at mount (sched_recover):
 * no worktree to make, no engine to start; its run is waited for and
 * ends as any other, check gate included.
 */
static int sched_adopted_run(struct run *r, struct task *t, char *err,
			     size_t errlen)
{
	struct pai *p = r->s->p;
	char logp[PATH_MAX];
	int ret;

	pai_log_path(p, t->id, logp, sizeof(logp));
	r->logfd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	worker_log_begin(p, r->slot, t, r->logfd);
	ret = sched_gated_run(r, t, t->worktree, err, errlen);
	if (ret == SCHED_REQUEUE) {
		store_task_requeue(p->store, t->id, "stopped by unmount");
		events_reason(p->events, "requeued", t->id,
			      "stopped by unmount");
	} else if (ret < 0) {
		finish(r, TASK_FAILED, -1, NULL, err);
	}
	if (r->logfd >= 0)
		close(r->logfd);
	return ret;
}

void *sched_run_main(void *arg)
{
	struct run *r = arg;
	struct sched *s = r->s;
	struct pai *p = s->p;
	struct task t = { 0 };
	char wt[PATH_MAX], err[PATH_MAX + 1024] = "";
	int logfd = -1, cancel, stopping, ret;
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
	sched_budget_begin(r, &t);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "worker", r->slot);
	cJSON_AddNumberToObject(f, "attempt", t.attempts);
	events_add(p->events, r->adopted ? "adopted" : "started", t.id, f);
	if (r->adopted) {
		ret = sched_adopted_run(r, &t, err, sizeof(err));
		goto out;
	}
	if ((logfd = open_run_log(r, &t, err, sizeof(err))) < 0)
		goto fail;
	ret = sched_prepare_worktree(r, &t, wt, sizeof(wt), logfd, err,
				     sizeof(err));
	if (ret == SCHED_BLOCKED)
		goto out;
	if (ret < 0)
		goto fail;

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

	ret = sched_gated_run(r, &t, wt, err, sizeof(err));
	if (ret < 0)
		goto fail;
	if (ret == SCHED_REQUEUE)
		goto requeue;
	goto out;

requeue:
	if (!r->requeue_why)
		r->requeue_why = "stopped by unmount";
	store_task_requeue(p->store, t.id, r->requeue_why);
	events_reason(p->events, "requeued", t.id, r->requeue_why);
	goto out;
fail:
	sched_log_line(logfd, "parallelai: %s", err);
	finish(r, TASK_FAILED, -1, NULL, err);
out:
	if (logfd >= 0)
		close(logfd);
	task_release(&t);
	release_run(r);
	return NULL;
}
