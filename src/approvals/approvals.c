/*
 * approvals/approvals: decisions on tool calls (include/approvals.h):
 * the rules first, then an approval that waits for a person or its time
 * out; every decision written to the audit log before it is answered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "approvals.h"
#include "config.h"
#include "events.h"
#include "pai.h"
#include "policy.h"
#include "redact.h"
#include "store.h"
#include "apint.h"

static void audit_fill(struct audit_row *r, const struct task *t,
		       const char *action, bool allow, const char *by,
		       const char *rule)
{
	memset(r, 0, sizeof(*r));
	r->at = pai_now_ms();
	r->task = t->id;
	r->attempt = t->attempts;
	r->engine = t->engine;
	r->action = (char *)action;
	r->decision = allow ? "allow" : "deny";
	r->by = (char *)by;
	r->rule = (char *)rule;
}

/* The action as the audit log and the mount keep it: secrets out. */
static int redacted(struct buf *out, const char *s)
{
	const struct redact *r = redact_global();

	return r ? redact_text(r, s, strlen(s), out) : buf_puts(out, s);
}

void ap_wake(struct approvals *a)
{
	pthread_mutex_lock(&a->lock);
	a->gen++;
	pthread_cond_broadcast(&a->changed);
	pthread_mutex_unlock(&a->lock);
}

/* Waits until approval id is decided: 1 and the row, or -ECONNABORTED. */
static int wait_decided(struct approvals *a, int64_t id, bool (*gone)(void *),
			void *arg, struct approval_row *row)
{
	for (;;) {
		struct timespec ts;
		int r;

		if ((r = store_approval_get(a->p->store, id, row)) < 0)
			return r;
		if (strcmp(row->state, "waiting"))
			return 1;
		approval_row_release(row);
		if (gone && gone(arg))
			return -ECONNABORTED;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_mutex_lock(&a->lock);
		if (a->stopping) {
			pthread_mutex_unlock(&a->lock);
			return -ECONNABORTED;
		}
		pthread_cond_timedwait(&a->changed, &a->lock, &ts);
		pthread_mutex_unlock(&a->lock);
	}
}

/* A new approval (or the one of an earlier attempt that still waits). */
static int hold(struct approvals *a, const struct task *t, const char *action,
		const char *why, const char *detail, int64_t *id)
{
	struct approval_row row = { 0 };
	cJSON *f;
	int r;

	if (store_approval_find(a->p->store, t->id, action, false, id) == 0)
		return 0;
	row.task = t->id;
	row.attempt = t->attempts;
	row.engine = t->engine;
	row.action = (char *)action;
	row.why = (char *)why;
	row.detail = detail && *detail ? (char *)detail : NULL;
	row.created = pai_now_ms();
	row.deadline = row.created + (int64_t)a->ask_timeout * 1000;
	if ((r = store_approval_add(a->p->store, &row, id)) < 0)
		return r;
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "approval", (double)*id);
	cJSON_AddStringToObject(f, "kind", "approval");
	cJSON_AddStringToObject(f, "action", action);
	cJSON_AddStringToObject(f, "rule", why);
	events_add(a->p->events, "needs_input", t->id, f);
	return 0;
}

static void answer_row(const struct approval_row *row, bool *allow,
		       struct buf *reason)
{
	*allow = !strcmp(row->state, "approved");
	if (*allow)
		buf_printf(reason, "approved by %s (approval %lld)",
			   row->decider ? row->decider : "?",
			   (long long)row->id);
	else if (!strcmp(row->state, "expired"))
		buf_printf(reason, "denied: approval %lld expired, no one"
			   " decided in time", (long long)row->id);
	else
		buf_printf(reason, "denied by %s (approval %lld)%s%s",
			   row->decider ? row->decider : "?",
			   (long long)row->id, row->reason ? ": " : "",
			   row->reason ? row->reason : "");
}

/* An action the rules hold: approved always before, or a person's. */
static int ask(struct approvals *a, const struct task *t, const char *action,
	       const char *why, const char *detail, bool (*gone)(void *),
	       void *arg, bool *allow, struct buf *reason)
{
	struct approval_row row;
	struct audit_row au;
	int64_t id;
	int r;

	if (store_approval_find(a->p->store, t->id, action, true, &id) == 0) {
		audit_fill(&au, t, action, true, "always", why);
		au.approval = id;
		if ((r = store_audit_add(a->p->store, &au)) < 0)
			return r;
		*allow = true;
		buf_printf(reason, "approved always (approval %lld)",
			   (long long)id);
		return 0;
	}
	if ((r = hold(a, t, action, why, detail, &id)) < 0)
		return r;
	if ((r = wait_decided(a, id, gone, arg, &row)) < 0)
		return r;
	store_approval_answered(a->p->store, id);
	answer_row(&row, allow, reason);
	approval_row_release(&row);
	return 0;
}

/* The judge's decision: the first one of this task for the same
 * action, or the model's now. v->rule becomes "judge: REASON". */
static int judged(struct approvals *a, const struct task *t, const char *raw,
		  const char *action, struct policy_verdict *v)
{
	struct buf why;
	char *before = NULL;
	int r;

	if (store_audit_judged(a->p->store, t->id, action, &before, v->rule,
			       sizeof(v->rule)) == 0) {
		v->decision = strcmp(before, "allow") ? POLICY_DENY :
			      POLICY_ALLOW;
		free(before);
		return 0;
	}
	buf_init(&why, 4096);
	r = ap_judge(a, t, raw, &v->decision, &why);
	snprintf(v->rule, sizeof(v->rule), "judge: %.240s", buf_cstr(&why));
	buf_release(&why);
	return r;
}

/* raw is what the rules see, action what is kept (secrets out). */
static int decide_task(struct approvals *a, const struct task *t,
		       const char *raw, const char *action, const char *detail,
		       bool (*gone)(void *), void *arg, bool *allow,
		       struct buf *reason)
{
	struct policy_verdict v;
	struct audit_row au;
	int r;

	pthread_mutex_lock(&a->lock);
	policy_decide(a->policy, t->engine, raw, t->worktree, t->branch,
		      &v);
	pthread_mutex_unlock(&a->lock);
	if (v.decision == POLICY_JUDGE &&
	    (r = judged(a, t, raw, action, &v)) < 0)
		return r;
	if (v.decision == POLICY_ASK)
		return ask(a, t, action, v.rule, detail, gone, arg, allow,
			   reason);
	*allow = v.decision == POLICY_ALLOW;
	audit_fill(&au, t, action, *allow,
		   strncmp(v.rule, "judge", 5) ? "rule" : "judge", v.rule);
	if ((r = store_audit_add(a->p->store, &au)) < 0)
		return r;
	buf_printf(reason, "%s by policy (%s)", *allow ? "allowed" : "denied",
		   v.rule);
	return 0;
}

int approvals_call(struct approvals *a, int64_t task, const char *tool,
		   const cJSON *input, bool (*gone)(void *arg), void *arg,
		   bool *allow, struct buf *reason)
{
	struct buf act, clean, change, detail;
	struct task t;
	int r;

	*allow = false;
	if ((r = store_task_get(a->p->store, task, &t)) < 0) {
		buf_printf(reason, "denied: no task %lld", (long long)task);
		return 0;
	}
	if (t.state != TASK_RUNNING) {
		buf_printf(reason, "denied: task %lld is not running",
			   (long long)task);
		task_release(&t);
		return 0;
	}
	buf_init(&act, 1 << 20);
	buf_init(&clean, 1 << 20);
	buf_init(&change, 2 * DETAIL_MAX);
	buf_init(&detail, 2 * DETAIL_MAX);
	if ((r = policy_action(&act, tool, input, t.worktree)) < 0 ||
	    (r = redacted(&clean, buf_cstr(&act))) < 0 ||
	    (r = policy_detail(&change, tool, input)) < 0 ||
	    (r = redacted(&detail, buf_cstr(&change))) < 0)
		goto out;
	/* The rules see what the engine would run; the log and the
	 * mount see it with its secrets out. */
	r = decide_task(a, &t, buf_cstr(&act), buf_cstr(&clean),
			buf_cstr(&detail), gone, arg, allow, reason);
out:
	buf_release(&act);
	buf_release(&clean);
	buf_release(&change);
	buf_release(&detail);
	task_release(&t);
	return r;
}

static int parse_command(const char *line, const char **state, bool *always,
			 const char **reason, char *err, size_t errlen)
{
	*always = false;
	*reason = NULL;
	if (!strcmp(line, "approve")) {
		*state = "approved";
	} else if (!strcmp(line, "approve always")) {
		*state = "approved";
		*always = true;
	} else if (!strcmp(line, "deny") ||
		   (!strncmp(line, "deny ", 5) && line[5])) {
		*state = "denied";
		if (line[4]) {
			*reason = line + 5;
			while (**reason == ' ' || **reason == '\t')
				(*reason)++;
			if (!**reason)
				*reason = NULL;
		}
	} else {
		snprintf(err, errlen, "unknown command '%.64s': approve,"
			 " approve always or deny [REASON]", line);
		return -EINVAL;
	}
	return 0;
}

int ap_decide(struct approvals *a, int64_t id, const char *state, bool always,
	      const char *user, const char *reason, const char *by)
{
	struct approval_row row;
	struct audit_row au;
	struct task t = { 0 };
	cJSON *f;
	int r;

	if ((r = store_approval_get(a->p->store, id, &row)) < 0)
		return r;
	if (strcmp(row.state, "waiting")) {
		approval_row_release(&row);
		return -EBUSY;
	}
	t.id = row.task;
	t.attempts = row.attempt;
	t.engine = row.engine;
	audit_fill(&au, &t, row.action, !strcmp(state, "approved"), by,
		   row.why);
	au.who = (char *)user;
	au.reason = (char *)reason;
	au.approval = id;
	r = store_approval_decide(a->p->store, id, state, always, user, reason,
				  &au);
	if (r == 0) {
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "approval", (double)id);
		cJSON_AddStringToObject(f, "decision", state);
		if (user)
			cJSON_AddStringToObject(f, "by", user);
		events_add(a->p->events, "approval", row.task, f);
		ap_wake(a);
	}
	approval_row_release(&row);
	return r;
}

int approvals_command(struct approvals *a, int64_t id, const char *line,
		      const char *user, char *err, size_t errlen)
{
	const char *state, *reason;
	bool always;
	int r;

	if ((r = parse_command(line, &state, &always, &reason, err, errlen)) < 0)
		return r;
	r = ap_decide(a, id, state, always, user, reason, "person");
	if (r == -EBUSY)
		snprintf(err, errlen, "approval %lld is decided already",
			 (long long)id);
	else if (r == -ENOENT)
		snprintf(err, errlen, "no approval %lld", (long long)id);
	return r;
}

/* Waiting approvals of tasks that ended (cancelled, failed ...): no
 * engine will ask again, so they expire. A queued task's wait on: its
 * next attempt asks the same. */
static void sweep_ended(struct approvals *a)
{
	int64_t *ids = NULL;
	size_t n = 0;

	if (store_approval_ids(a->p->store, 0, &ids, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct approval_row row;
		struct task t;
		bool ended;

		if (store_approval_get(a->p->store, ids[i], &row) < 0)
			continue;
		if (store_task_get(a->p->store, row.task, &t) == 0) {
			ended = t.state != TASK_QUEUED &&
				t.state != TASK_RUNNING &&
				t.state != TASK_WAITING;
			task_release(&t);
			if (ended)
				ap_decide(a, row.id, "expired", false, NULL,
					  "the task ended", "timeout");
		}
		approval_row_release(&row);
	}
	free(ids);
}

/* The sweeper: what waited past its deadline expires, denied. */
static void *sweep(void *arg)
{
	struct approvals *a = arg;

	pthread_mutex_lock(&a->lock);
	while (!a->stopping) {
		struct timespec ts;
		int64_t *ids = NULL;
		size_t n = 0;

		pthread_mutex_unlock(&a->lock);
		if (store_approval_overdue(a->p->store, pai_now_ms(), &ids,
					   &n) == 0)
			for (size_t i = 0; i < n; i++)
				ap_decide(a, ids[i], "expired", false, NULL,
					  "policy.askTimeout", "timeout");
		free(ids);
		sweep_ended(a);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_mutex_lock(&a->lock);
		if (!a->stopping)
			pthread_cond_timedwait(&a->stop_cond, &a->lock, &ts);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int approvals_reload(struct approvals *a, char *err, size_t errlen)
{
	struct config c;
	struct policy *np, *old;
	int r;

	config_init(&c);
	if ((r = config_load(&c, a->p->repo, err, errlen)) < 0 ||
	    (r = policy_build(&np, &c, err, errlen)) < 0) {
		config_release(&c);
		return r;
	}
	pthread_mutex_lock(&a->lock);
	old = a->policy;
	a->policy = np;
	a->ask_timeout = c.ask_timeout;
	pthread_mutex_unlock(&a->lock);
	policy_free(old);
	config_release(&c);
	return 0;
}

void approvals_counts(struct approvals *a, size_t n[3])
{
	pthread_mutex_lock(&a->lock);
	policy_counts(a->policy, n);
	pthread_mutex_unlock(&a->lock);
}

int approvals_start(struct approvals **out, struct pai *p, char *err,
		    size_t errlen)
{
	struct approvals *a = calloc(1, sizeof(*a));
	int r;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->p = p;
	a->listen_fd = -1;
	a->ask_timeout = p->cfg.ask_timeout;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->changed, NULL);
	pthread_cond_init(&a->stop_cond, NULL);
	if ((r = policy_build(&a->policy, &p->cfg, err, errlen)) < 0 ||
	    (r = ap_socket_path(a, err, errlen)) < 0)
		goto fail;
	if (pthread_create(&a->sweeper, NULL, sweep, a)) {
		r = -EAGAIN;
		snprintf(err, errlen, "cannot start the approvals' sweeper");
		goto fail;
	}
	a->sweeping = true;
	*out = a;
	return 0;
fail:
	approvals_stop(a);
	return r;
}

void approvals_stop(struct approvals *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_broadcast(&a->changed);
	pthread_cond_broadcast(&a->stop_cond);
	pthread_mutex_unlock(&a->lock);
	if (a->sweeping)
		pthread_join(a->sweeper, NULL);
	ap_unlisten(a);
	policy_free(a->policy);
	pthread_cond_destroy(&a->changed);
	pthread_cond_destroy(&a->stop_cond);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int approvals_listen(struct approvals *a, char *err, size_t errlen)
{
	return ap_listen(a, err, errlen);
}

const char *approvals_socket(const struct approvals *a)
{
	return a->sock_path;
}
