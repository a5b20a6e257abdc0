/*
 * sched/gate: a run's check gate. Once the engine exits 0, the task's
 * check runs in its worktree (through check.c), its output in the log
 * between separators and in tasks/N/check. A failed check with fix
 * rounds left runs the engine again, in the same worktree, with a prompt
 * that says why; a passed one, or the last round's failure, ends the run.
 * A task without a check runs its engine once, as it always did.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "checkrun.h"
#include "config.h"
#include "engine.h"
#include "events.h"
#include "pai.h"
#include "quote.h"
#include "sim.h"
#include "store.h"
#include "schedint.h"

/* How a check of a run came out. */
enum gate {
	GATE_PASSED,
	GATE_FAILED,
	GATE_STOPPED,		/* cancel or unmount: r says which */
	GATE_BROKEN,		/* it could not run: err says why */
};

static bool gate_stop(void *arg)
{
	struct run *r = arg;
	bool stop;

	pthread_mutex_lock(&r->s->lock);
	stop = r->cancel || r->s->stopping;
	pthread_mutex_unlock(&r->s->lock);
	return stop;
}

static void check_event(struct pai *p, const char *name, int64_t id,
			const struct task_check *c, int round,
			const struct check_outcome *o, const char *how)
{
	cJSON *f = cJSON_CreateObject();

	cJSON_AddStringToObject(f, "command", c->command);
	cJSON_AddNumberToObject(f, "round", round);
	cJSON_AddNumberToObject(f, "rounds", c->fix_rounds + 1);
	if (o) {
		cJSON_AddNumberToObject(f, "exit", o->code);
		cJSON_AddNumberToObject(f, "ms", (double)o->ms);
		if (o->end == CHECK_TIMEOUT)
			cJSON_AddBoolToObject(f, "timeout", 1);
		cJSON_AddStringToObject(f, "result", how);
	}
	events_add(p->events, name, id, f);
}

/* What the check wrote (the log from `from` on): saved as tasks/N/check
 * under its status line, and its tail kept for a fix round's prompt. */
static void keep_output(struct run *r, const struct task *t, off_t from,
			const struct check_outcome *o, struct buf *tail)
{
	struct pai *p = r->s->p;
	char path[PATH_MAX], head[96];
	int fd, ret;

	check_head(o, p->cfg.check_timeout, head, sizeof(head));
	pai_log_path(p, t->id, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	pai_check_path(p, t->id, path, sizeof(path));
	if ((ret = check_save(path, head, fd, from)) < 0)
		fprintf(stderr, "parallelai: task %lld: cannot save its check"
			" in '%s': %s\n", (long long)t->id, path,
			strerror(-ret));
	check_tail(fd, from, p->cfg.fix_tail, tail);
	close(fd);
}

/*
 * sim.checkFailRate: a sim task's first round whose check fails by
 * design, so that fix rounds can be rehearsed; the command does not run,
 * the log says why, and the round fails with exit 1.
 */
static bool sim_fails(struct pai *p, const struct task *t, int round,
		      int logfd, struct check_outcome *o)
{
	struct sim_knobs k;

	if (round != 1 || (!p->cfg.simulate && strcmp(t->engine, SIM_ENGINE)))
		return false;
	sim_knobs_get(&k, &p->cfg, t->options);
	if (!sim_check_fails(&k, t->id, t->attempts))
		return false;
	sched_log_line(logfd, "sim: the check fails in this round by design"
		       " (sim.checkFailRate %g), to rehearse a fix round; it"
		       " did not run", k.check_fail_rate);
	*o = (struct check_outcome){ .end = CHECK_EXITED, .code = 1 };
	return true;
}

/* Run the task's check once, in round `round`; *o and *tail say how it
 * went, `how` in words ("exited 2"). */
static enum gate run_check(struct run *r, const struct task *t,
			   const struct task_check *c, int round,
			   struct check_outcome *o, struct buf *tail,
			   char *how, size_t howlen, char *err, size_t errlen)
{
	struct pai *p = r->s->p;
	char shown[256], *env[4] = { NULL }, **full = NULL, **argv = NULL;
	struct check_spec cs = { .cmd = c->command, .cwd = t->worktree,
				 .out_fd = r->logfd, .out_cap = p->cfg.log_max,
				 .timeout = p->cfg.check_timeout,
				 .kill_grace_ms = p->cfg.kill_grace_ms,
				 .stop = gate_stop, .arg = r };
	struct stat st;
	off_t from;
	int ret = -ENOMEM, k;

	quote_text(shown, sizeof(shown), c->command);
	sched_log_line(r->logfd, "--- parallelai: check (%s) ---", shown);
	from = fstat(r->logfd, &st) == 0 ? st.st_size : 0;
	store_task_set_check(p->store, t->id, "running", -1, round);
	check_event(p, "check_started", t->id, c, round, NULL, NULL);
	/* Its processes carry the worktree, as the engine's do: a next
	 * mount ends what a killed daemon left of them. */
	if (sim_fails(p, t, round, r->logfd, o))
		ret = 0;
	else if (asprintf(&env[0], "PAI_TASK_ID=%lld", (long long)t->id) >= 0 &&
	    asprintf(&env[1], "PAI_WORKTREE=%s", t->worktree) >= 0 &&
	    asprintf(&env[2], "PAI_BRANCH=%s", t->branch) >= 0 &&
	    (ret = sched_contain_check(r, t, env, c->command, &argv, &full,
				       err, errlen)) == 0) {
		cs.argv = argv;
		cs.envp = full;
		ret = check_run(&cs, o, err, errlen);
	}
	engine_argv_free(argv);
	engine_argv_free(full);
	for (k = 0; k < 3; k++)
		free(env[k]);
	if (ret < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "check (%s) cannot run: %s", shown, msg);
		store_task_set_check(p->store, t->id, "failed", -1, round);
		return GATE_BROKEN;
	}
	if (o->end == CHECK_STOPPED) {
		sched_log_line(r->logfd, "--- parallelai: check (%s) stopped ---",
			       shown);
		store_task_set_check(p->store, t->id, NULL, -1, round);
		return GATE_STOPPED;
	}
	keep_output(r, t, from, o, tail);
	check_describe(o, p->cfg.check_timeout, how, howlen);
	sched_log_line(r->logfd, "--- parallelai: check (%s) %s ---", shown,
		       check_passed(o) ? "passed" : how);
	store_task_set_check(p->store, t->id, check_passed(o) ? "passed" :
			     o->end == CHECK_TIMEOUT ? "timeout" : "failed",
			     o->code, round);
	check_event(p, check_passed(o) ? "check_passed" : "check_failed",
		    t->id, c, round, o, how);
	return check_passed(o) ? GATE_PASSED : GATE_FAILED;
}

/* The log's line for the last round's failure: one line, whatever the
 * command holds. */
static void log_failed(struct run *r, int round, int rounds)
{
	char shown[600];

	quote_text(shown, sizeof(shown), r->check_failed);
	sched_log_line(r->logfd, "parallelai: %s (round %d of %d)", shown,
		       round, rounds);
}

/* The engine has ended: its process is released, its signals
 * forgotten (the next round's starts afresh), its pid no longer shown. */
static void engine_gone(struct run *r, int64_t id)
{
	pthread_mutex_lock(&r->s->lock);
	if (r->has_proc)
		runner_release(&r->proc);
	r->has_proc = 0;
	r->term_at = 0;
	pthread_mutex_unlock(&r->s->lock);
	store_task_set_pid(r->s->p->store, id, 0);
}

/*
 * A passed check, but files changed outside the task's paths
 * (outsidePaths = fail): the next round's prompt, which names them and
 * asks for them back, or NULL when there are none.
 */
static char *outside_prompt(struct run *r, const struct task *t, int round,
			    int n_rounds, size_t *len)
{
	struct pai *p = r->s->p;
	struct outside o;
	char words[1024], err[256], *paths = NULL, *s = NULL;
	int n;

	if (p->cfg.outside_paths != OUTSIDE_FAIL ||
	    sched_outside(&o, p, t, t->worktree, err, sizeof(err)) < 0)
		return NULL;
	if (o.n && store_task_paths(p->store, t->id, &paths) == 0) {
		sched_outside_words(&o, words, sizeof(words));
		n = asprintf(&s, "# parallelai: round %d of %d. This task may"
			     " change only its paths, %s, and it changed files"
			     " outside them: %s.\n# Put each of those back as it"
			     " was (git checkout -- FILE for a changed one;"
			     " remove a new one) and do not change them again."
			     "\n\n%.*s", round, n_rounds, paths ? paths : "",
			     words, (int)t->prompt_len, t->prompt);
		if (n < 0)
			s = NULL;
		else
			*len = (size_t)n;
		sched_log_line(r->logfd, "--- parallelai: attempt %d, round %d"
			       " of %d: changed outside its paths: %s ---",
			       t->attempts, round, n_rounds, words);
	}
	free(paths);
	sched_outside_release(&o);
	return s;
}

/* The engine in rounds, while its check fails and rounds are left. */
static int rounds(struct run *r, struct task *t, const struct task_check *c,
		  int *code, int *cancel, char **agent_error, char *err,
		  size_t errlen)
{
	struct pai *p = r->s->p;
	struct task rt = *t;	/* the prompt of a fix round in place */
	char how[64], exitp[PATH_MAX];
	char *fix = NULL, *back;
	struct check_outcome o;
	struct buf tail;
	int round = 1, ret;
	enum gate g;

	for (;; round++) {
		ret = sched_engine_round(r, &rt, code, cancel, agent_error,
					 err, errlen);
		if (ret || !c->command || *cancel || *code || r->killed_for)
			break;
		/* Not done until the check says so (a daemon killed from
		 * here on has the task run again: sched_recover); the
		 * engine's exit file goes, as the run's end would take it. */
		pai_exit_path(p, t->id, t->attempts, exitp, sizeof(exitp));
		unlink(exitp);
		engine_gone(r, t->id);
		buf_init(&tail, BUF_NOMAX);
		g = run_check(r, t, c, round, &o, &tail, how, sizeof(how),
			      err, errlen);
		if (g == GATE_STOPPED) {
			pthread_mutex_lock(&r->s->lock);
			*cancel = r->cancel;
			pthread_mutex_unlock(&r->s->lock);
			ret = *cancel ? 0 : SCHED_REQUEUE;
		} else if (g == GATE_BROKEN) {
			snprintf(r->check_failed, sizeof(r->check_failed),
				 "%s", err);
			sched_log_line(r->logfd, "parallelai: %s", err);
		} else if (g == GATE_FAILED && round > c->fix_rounds) {
			snprintf(r->check_failed, sizeof(r->check_failed),
				 "check failed: %s %s", c->command, how);
			log_failed(r, round, c->fix_rounds + 1);
		}
		/* Passed, but outside its paths: a round to put them back. */
		if (g == GATE_PASSED && round <= c->fix_rounds &&
		    (back = outside_prompt(r, t, round + 1, c->fix_rounds + 1,
					   &rt.prompt_len))) {
			buf_release(&tail);
			free(fix);
			free(*agent_error);
			*agent_error = NULL;
			rt.prompt = fix = back;
			continue;
		}
		if (g != GATE_FAILED || round > c->fix_rounds) {
			buf_release(&tail);
			break;
		}
		free(fix);
		free(*agent_error);
		*agent_error = NULL;
		fix = check_fix_prompt(c->command, how, round + 1,
				       c->fix_rounds + 1, buf_cstr(&tail),
				       tail.len, t->prompt, t->prompt_len,
				       &rt.prompt_len);
		buf_release(&tail);
		if (!fix) {
			snprintf(err, errlen, "out of memory for round %d",
				 round + 1);
			ret = -ENOMEM;
			break;
		}
		rt.prompt = fix;
		store_task_set_check(p->store, t->id, o.end == CHECK_TIMEOUT ?
				     "timeout" : "failed", o.code, round + 1);
		sched_log_line(r->logfd, "--- parallelai: attempt %d, round %d"
			       " of %d: the check %s ---", t->attempts,
			       round + 1, c->fix_rounds + 1, how);
	}
	free(fix);
	return ret;
}

int sched_gated_run(struct run *r, struct task *t, const char *wt,
		    char *err, size_t errlen)
{
	struct pai *p = r->s->p;
	struct task_check c;
	char *agent_error = NULL;
	int code = -1, cancel = 0, ret;

	/* A record without the columns (it cannot be read): no check, as
	 * before there were any. */
	if (store_task_check_get(p->store, t->id, &c) < 0)
		memset(&c, 0, sizeof(c));
	if (c.command)
		store_task_set_check(p->store, t->id, NULL, -1, 1);
	ret = rounds(r, t, &c, &code, &cancel, &agent_error, err, errlen);
	if (ret == 0) {
		pthread_mutex_lock(&r->s->lock);
		/* A cancel taken since the engine ended is honoured. */
		cancel = cancel || r->cancel;
		r->ended = 1;
		pthread_mutex_unlock(&r->s->lock);
		sched_conclude(r, t, wt, code, cancel, agent_error);
	}
	free(agent_error);
	task_check_release(&c);
	return ret;
}
