/*
 * ctl: the commands of the ctl files, in one table, and the words of one
 * command line; see include/ctl.h. The table routes: the queue's commands
 * to the scheduler, git's to review, a plan's to the planner.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "approvals.h"
#include "config.h"
#include "ctl.h"
#include "events.h"
#include "mergeq.h"
#include "pai.h"
#include "planner.h"
#include "review.h"
#include "scheduler.h"

int ctl_parse(const char *line, char *verb, size_t vlen, long *num)
{
	const char *p = line, *w;
	char *end;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	for (w = p; *p && *p != ' ' && *p != '\t'; p++)
		;
	n = (size_t)(p - w);
	if (!n || n >= vlen)
		return 0;
	memcpy(verb, w, n);
	verb[n] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return 1;
	if ((*p < '0' || *p > '9') && *p != '-')
		return 0;
	errno = 0;
	*num = strtol(p, &end, 10);
	if (errno || end == p)
		return 0;
	while (*end == ' ' || *end == '\t')
		end++;
	return *end ? 0 : 2;
}

/* ---- the command table ---------------------------------------------- */

/* One call: the file's task or plan, the number or the words after the
 * verb, and where the reason goes. */
struct ctl_call {
	struct pai *p;
	int64_t id;		/* the file's task or plan; 0 for the root */
	long num;		/* ARG_NUM, ARG_ID */
	const char *rest;	/* ARG_ID_OR_ALL, ARG_WORDS */
	const struct pai_cancel *cancel;
	char *err;
	size_t errlen;
};

enum ctl_arg {
	ARG_NONE,	/* the verb alone */
	ARG_NUM,	/* a number (priority N, workers N) */
	ARG_ID,		/* a task id */
	ARG_ID_OR_ALL,	/* merge ID|all */
	ARG_WORDS,	/* prune [branches] [ID] */
};

struct ctl_cmd {
	enum ctl_scope scope;
	const char *verb;
	enum ctl_arg arg;
	const char *usage;	/* what a read of the file shows */
	int (*run)(const struct ctl_call *c);
};

static int do_pause(const struct ctl_call *c)
{
	sched_pause(c->p->sched, true);
	return 0;
}

static int do_resume(const struct ctl_call *c)
{
	sched_pause(c->p->sched, false);
	return 0;
}

static int do_workers(const struct ctl_call *c)
{
	return sched_set_workers(c->p->sched, c->num, c->err, c->errlen);
}

/* budget USD, budget ENGINE USD: the total's or an engine's */
static int do_budget(const struct ctl_call *c)
{
	char engine[64] = "", usd[64] = "", extra[2] = "";
	double v;
	int n;

	n = sscanf(c->rest, "%63s %63s %1s", engine, usd, extra);
	if (n == 1) {
		memcpy(usd, engine, sizeof(usd));
		engine[0] = '\0';
	}
	if (n < 1 || n > 2 || config_parse_usd(usd, &v) < 0) {
		snprintf(c->err, c->errlen, "usage: budget [ENGINE] USD, a"
			 " positive number of dollars");
		return -EINVAL;
	}
	return sched_set_budget(c->p->sched, *engine ? engine : NULL, v,
				c->err, c->errlen);
}

static int do_cancel(const struct ctl_call *c)
{
	return sched_cancel(c->p->sched, c->id ? c->id : c->num, c->err,
			    c->errlen);
}

static int do_retry(const struct ctl_call *c)
{
	return sched_retry(c->p->sched, c->id ? c->id : c->num, c->err,
			   c->errlen);
}

static int do_priority(const struct ctl_call *c)
{
	return sched_priority(c->p->sched, c->id, c->num, c->err, c->errlen);
}

/* merge, merge ID, merge all: git work, under review's own lock. */
static int do_merge(const struct ctl_call *c)
{
	char *end;
	long id;

	if (c->id)
		return review_merge(c->p, c->id, c->err, c->errlen);
	if (!strcmp(c->rest, "all"))
		return mergeq_enabled(c->p) ?
		       mergeq_add_all(c->p->mergeq, c->err, c->errlen) :
		       review_merge_all(c->p, c->cancel, c->err, c->errlen);
	id = strtol(c->rest, &end, 10);
	if (*end || end == c->rest || id <= 0) {
		snprintf(c->err, c->errlen, "usage: merge ID|all");
		return -EINVAL;
	}
	return review_merge(c->p, id, c->err, c->errlen);
}

/* queue, queue ID: into the merge queue */
static int do_queue(const struct ctl_call *c)
{
	return mergeq_add(c->p->mergeq, c->id ? c->id : c->num, c->err,
			  c->errlen);
}

/* fix, fix ID: a rejected task handed back to its engine */
static int do_fix(const struct ctl_call *c)
{
	int64_t made;

	return mergeq_fix(c->p->mergeq, c->id ? c->id : c->num, &made,
			  c->err, c->errlen);
}

static int do_push(const struct ctl_call *c)
{
	return review_push(c->p, c->id, c->err, c->errlen);
}

static int do_rescan(const struct ctl_call *c)
{
	return review_rescan(c->p, c->id, c->err, c->errlen);
}

static int do_prune(const struct ctl_call *c)
{
	return review_prune(c->p, c->rest, c->cancel, c->err, c->errlen);
}

static int do_approve(const struct ctl_call *c)
{
	return planner_approve(c->p->planner, c->id, c->err, c->errlen);
}

static int do_plan_cancel(const struct ctl_call *c)
{
	return planner_cancel(c->p->planner, c->id, c->err, c->errlen);
}

static int do_policy(const struct ctl_call *c)
{
	int r = approvals_reload(c->p->approvals, c->err, c->errlen);

	if (r == 0)
		events_add(c->p->events, "policy_reloaded", 0, NULL);
	return r;
}

static const struct ctl_cmd commands[] = {
	{ CTL_ROOT, "pause", ARG_NONE, "pause", do_pause },
	{ CTL_ROOT, "resume", ARG_NONE, "resume", do_resume },
	{ CTL_ROOT, "workers", ARG_NUM, "workers N", do_workers },
	{ CTL_ROOT, "budget", ARG_WORDS, "budget [ENGINE] USD", do_budget },
	{ CTL_ROOT, "cancel", ARG_ID, "cancel ID", do_cancel },
	{ CTL_ROOT, "retry", ARG_ID, "retry ID", do_retry },
	{ CTL_ROOT, "merge", ARG_ID_OR_ALL, "merge ID|all", do_merge },
	{ CTL_ROOT, "queue", ARG_ID, "queue ID", do_queue },
	{ CTL_ROOT, "fix", ARG_ID, "fix ID", do_fix },
	{ CTL_ROOT, "prune", ARG_WORDS, "prune [branches] [ID]", do_prune },
	{ CTL_ROOT, "policy", ARG_NONE, "policy", do_policy },
	{ CTL_TASK, "cancel", ARG_NONE, "cancel", do_cancel },
	{ CTL_TASK, "retry", ARG_NONE, "retry", do_retry },
	{ CTL_TASK, "priority", ARG_NUM, "priority N", do_priority },
	{ CTL_TASK, "merge", ARG_NONE, "merge", do_merge },
	{ CTL_TASK, "queue", ARG_NONE, "queue", do_queue },
	{ CTL_TASK, "fix", ARG_NONE, "fix", do_fix },
	{ CTL_TASK, "push", ARG_NONE, "push", do_push },
	{ CTL_TASK, "rescan", ARG_NONE, "rescan", do_rescan },
	{ CTL_PLAN, "approve", ARG_NONE, "approve", do_approve },
	{ CTL_PLAN, "cancel", ARG_NONE, "cancel", do_plan_cancel },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

int ctl_commands(enum ctl_scope scope, struct buf *out)
{
	size_t i;
	int r = 0;

	for (i = 0; i < N_COMMANDS && r == 0; i++)
		if (commands[i].scope == scope)
			r = buf_printf(out, "%s\n", commands[i].usage);
	return r;
}

/* Does what follows the verb fit what the command takes? */
static int take_args(const struct ctl_cmd *cmd, const char *line,
		     const char *rest, struct ctl_call *c)
{
	char verb[32];
	int n;

	c->rest = rest;
	switch (cmd->arg) {
	case ARG_NONE:
		return *rest ? -EINVAL : 0;
	case ARG_NUM:
	case ARG_ID:
		n = ctl_parse(line, verb, sizeof(verb), &c->num);
		if (n != 2 || (cmd->arg == ARG_ID && c->num <= 0))
			return -EINVAL;
		return 0;
	case ARG_ID_OR_ALL:
		return *rest ? 0 : -EINVAL;
	default:
		return 0;
	}
}

int ctl_run(struct pai *p, enum ctl_scope scope, int64_t id,
	    const char *line, const struct pai_cancel *cancel, char *err,
	    size_t errlen)
{
	struct ctl_call c = { p, id, 0, "", cancel, err, errlen };
	const char *s = line, *w;
	size_t i, len;
	int r = -EINVAL;

	while (*s == ' ' || *s == '\t')
		s++;
	for (w = s; *s && *s != ' ' && *s != '\t'; s++)
		;
	len = (size_t)(s - w);
	while (*s == ' ' || *s == '\t')
		s++;
	snprintf(err, errlen, "unknown command '%s'", line);
	for (i = 0; i < N_COMMANDS; i++) {
		const struct ctl_cmd *cmd = &commands[i];

		if (cmd->scope != scope || strlen(cmd->verb) != len ||
		    strncmp(cmd->verb, w, len))
			continue;
		if (take_args(cmd, line, s, &c) < 0) {
			snprintf(err, errlen, "usage: %s", cmd->usage);
			break;
		}
		err[0] = '\0';
		r = cmd->run(&c);
		break;
	}
	if (r < 0)
		events_reason(p->events, "refused",
			      scope == CTL_TASK ? id : 0, err);
	return r;
}
