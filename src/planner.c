/*
 * planner: requests split into tasks by a planner engine; see
 * include/planner.h.
 *
 * A plan runs in a thread of its own, outside the worker slots: the
 * planner engine is started by the runner like any engine, in a scratch
 * directory (it plans, it does not edit the repository), and its answer
 * is the result file's final message, or its output for engines that
 * keep none.
 *
 * STATE/plans/N/	prompt, log (both attempts), log.jsonl, result.json,
 *			and work/, the planner's scratch directory
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "engine.h"
#include "events.h"
#include "fsutil.h"
#include "gitrev.h"
#include "pai.h"
#include "planner.h"
#include "runner.h"
#include "scheduler.h"
#include "sim.h"
#include "store.h"
#include "submit.h"

/* A planner that thinks longer than this has failed. */
#define PLAN_TIMEOUT_MS (15 * 60 * 1000)
#define PLAN_POLL_MS 100
#define PLAN_ANSWER_MAX (4 << 20)

/* ---- the daemon part ----------------------------------------------- */

struct planner {
	struct pai *p;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int running;		/* plan threads alive */
	int stopping;
	/* the engines of plans being made, by plan id, for cancel and stop */
	struct { int64_t id; struct runner_proc *proc; int cancel; } *v;
	size_t n;
};

static void plan_dir(struct planner *pl, int64_t id, const char *leaf,
		     char *out, size_t len)
{
	snprintf(out, len, "%s/plans/%lld%s%s", pl->p->state_dir,
		 (long long)id, leaf ? "/" : "", leaf ? leaf : "");
}

void planner_log_path(struct planner *pl, int64_t id, char *out, size_t len)
{
	plan_dir(pl, id, "log", out, len);
}

/* What the engine wrote to the log from offset on: its answer, when it
 * keeps no result file (sh and command engines). */
static char *read_from(const char *path, off_t off)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	buf_init(&b, PLAN_ANSWER_MAX);
	while ((n = pread(fd, chunk, sizeof(chunk), off)) > 0) {
		if (buf_add(&b, chunk, (size_t)n) < 0)
			break;
		off += n;
	}
	close(fd);
	buf_add(&b, "", 0);
	return buf_detach(&b);
}

static void track(struct planner *pl, int64_t id, struct runner_proc *proc)
{
	void *v;

	pthread_mutex_lock(&pl->lock);
	v = realloc(pl->v, (pl->n + 1) * sizeof(*pl->v));
	if (v) {
		pl->v = v;
		pl->v[pl->n].id = id;
		pl->v[pl->n].proc = proc;
		pl->v[pl->n].cancel = 0;
		pl->n++;
	}
	pthread_mutex_unlock(&pl->lock);
}

/* 1 when the plan was cancelled while its engine ran. */
static int untrack(struct planner *pl, int64_t id)
{
	size_t i;
	int cancel = 0;

	pthread_mutex_lock(&pl->lock);
	for (i = 0; i < pl->n; i++)
		if (pl->v[i].id == id) {
			cancel = pl->v[i].cancel;
			pl->v[i] = pl->v[--pl->n];
			break;
		}
	pthread_mutex_unlock(&pl->lock);
	return cancel;
}

/* Run the planner engine once; *answer gets what it said. */
static int ask(struct planner *pl, const struct plan *plan,
	       const char *prompt, char **answer, char *err, size_t errlen)
{
	struct pai *p = pl->p;
	char pfile[PATH_MAX], work[PATH_MAX], logp[PATH_MAX];
	char raw[PATH_MAX], result[PATH_MAX];
	struct engine_vars v = { 0 };
	struct runner_proc proc;
	char **argv = NULL, **env = NULL;
	int64_t start = pai_now_ms();
	struct stat st;
	int logfd, r, status, stop, killed = 0;

	*answer = NULL;
	plan_dir(pl, plan->id, "prompt", pfile, sizeof(pfile));
	plan_dir(pl, plan->id, "work", work, sizeof(work));
	plan_dir(pl, plan->id, "log", logp, sizeof(logp));
	plan_dir(pl, plan->id, "log.jsonl", raw, sizeof(raw));
	plan_dir(pl, plan->id, "result.json", result, sizeof(result));
	mkdir(work, 0700);
	unlink(result);
	if ((r = write_file(pfile, prompt, strlen(prompt), 0600)) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", pfile,
			 strerror(-r));
		return r;
	}
	v.prompt = prompt;
	v.prompt_file = pfile;
	v.worktree = work;
	v.branch = "";
	v.task_id = 0;
	v.self_exe = p->self_exe;
	v.raw_file = raw;
	v.result_file = result;
	if ((r = engine_argv(&p->cfg, plan->engine, &v, &argv, err,
			     errlen)) < 0)
		return r;
	logfd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (logfd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open '%s': %s", logp,
			 strerror(errno));
		goto out;
	}
	fstat(logfd, &st);
	/* Like a task's engine, the planner gets an allow-list of our
	 * environment, not all of it; it runs outside the sandbox, in its
	 * scratch directory. */
	if ((r = engine_env(&p->cfg, plan->engine, NULL, NULL, NULL,
			    &env)) < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		goto out;
	}
	r = runner_spawn(&proc, argv, env, work, logfd, p->cfg.log_max, NULL,
			 err, errlen);
	engine_argv_free(env);
	if (r < 0)
		goto out;
	track(pl, plan->id, &proc);
	while (runner_wait(&proc, PLAN_POLL_MS, &status) == -ETIMEDOUT) {
		size_t i;

		pthread_mutex_lock(&pl->lock);
		stop = pl->stopping;
		for (i = 0; i < pl->n; i++)
			if (pl->v[i].id == plan->id && pl->v[i].cancel)
				stop = 1;
		pthread_mutex_unlock(&pl->lock);
		if ((stop || pai_now_ms() - start > PLAN_TIMEOUT_MS) &&
		    killed++ == 0)
			runner_signal(&proc, SIGTERM);
		else if (killed > 50)
			runner_signal(&proc, SIGKILL);
	}
	runner_release(&proc);
	if (untrack(pl, plan->id)) {
		snprintf(err, errlen, "cancelled");
		r = -ECANCELED;
		goto out;
	}
	pthread_mutex_lock(&pl->lock);
	stop = pl->stopping;
	pthread_mutex_unlock(&pl->lock);
	if (stop) {
		r = -EINTR;
		goto out;
	}
	if (runner_exit_code(status) != 0) {
		snprintf(err, errlen, "planner engine '%s' failed: exit status"
			 " %d", plan->engine, runner_exit_code(status));
		r = -EIO;
		goto out;
	}
	if (engine_read_answer(result, answer) < 0)
		*answer = read_from(logp, st.st_size);
	if (!*answer) {
		snprintf(err, errlen, "planner engine '%s' gave no answer",
			 plan->engine);
		r = -EIO;
	}
out:
	if (logfd >= 0)
		close(logfd);
	engine_argv_free(argv);
	return r;
}

/* Make the plan's tasks, all at once. */
static int create_tasks(struct planner *pl, const struct plan *plan,
			const struct plan_steps *steps, char *err,
			size_t errlen)
{
	struct pai *p = pl->p;
	struct task_new *v = calloc(steps->n, sizeof(*v));
	int64_t *ids = calloc(steps->n, sizeof(*ids));
	int64_t **deps = calloc(steps->n, sizeof(*deps));
	char base[OID_HEX_SIZE];
	cJSON *f;
	size_t i, k;
	int r = -ENOMEM;

	if (!v || !ids || !deps)
		goto out;
	if ((r = gitrev_head(p->rev, base, err, errlen)) < 0)
		goto out;
	for (i = 0; i < steps->n; i++) {
		const struct plan_step *st = &steps->v[i];

		deps[i] = calloc(st->n_deps + 1, sizeof(**deps));
		if (!deps[i]) {
			r = -ENOMEM;
			goto out;
		}
		/* Steps come in dependency order: -k is the batch's k-th. */
		for (k = 0; k < st->n_deps; k++)
			deps[i][k] = -(int64_t)(st->deps[k] + 1);
		v[i].prompt = st->prompt;
		v[i].len = strlen(st->prompt);
		v[i].engine = p->cfg.simulate ? SIM_ENGINE : st->engine ?
			      st->engine : p->cfg.engine;
		submit_check(&p->cfg, v[i].engine, NULL, -1, &v[i]);
		v[i].base = base;
		v[i].depends = deps[i];
		v[i].n_depends = st->n_deps;
		v[i].plan = plan->id;
		v[i].paths = st->paths;
	}
	r = store_plan_create_tasks(p->store, plan->id, v, steps->n, ids);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the tasks: %s",
			 strerror(-r));
		goto out;
	}
	for (i = 0; i < steps->n; i++) {
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "plan", (double)plan->id);
		events_add(p->events, "created", ids[i], f);
	}
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "plan", (double)plan->id);
	cJSON_AddNumberToObject(f, "tasks", (double)steps->n);
	events_add(p->events, "planned", 0, f);
	sched_kick(p->sched);
out:
	for (i = 0; deps && i < steps->n; i++)
		free(deps[i]);
	free(deps);
	free(ids);
	free(v);
	return r;
}

/* A plan that waits for `approve` waits for a person. */
static void needs_approve(struct pai *p, int64_t id)
{
	cJSON *f = cJSON_CreateObject();
	char asked[64];

	snprintf(asked, sizeof(asked), "approve plan %lld", (long long)id);
	cJSON_AddNumberToObject(f, "plan", (double)id);
	cJSON_AddStringToObject(f, "kind", "approve");
	cJSON_AddStringToObject(f, "asked", asked);
	events_add(p->events, "needs_input", 0, f);
}

static void plan_failed(struct planner *pl, int64_t id, const char *answer,
			const char *reason)
{
	char *json = NULL;
	cJSON *s;

	/* Keep what the model said, as a JSON string when it was not JSON. */
	if (answer) {
		s = cJSON_CreateString(answer);
		json = cJSON_PrintUnformatted(s);
		cJSON_Delete(s);
	}
	store_plan_update(pl->p->store, id, "failed", json, reason);
	events_reason(pl->p->events, "plan_failed", 0, reason);
	free(json);
}

static void make_plan(struct planner *pl, int64_t id)
{
	struct pai *p = pl->p;
	struct plan plan;
	struct plan_steps steps = { 0 };
	char err[PATH_MAX + 1024] = "", prev_err[1024] = "", *answer = NULL;
	char *previous = NULL, *prompt, *normalized = NULL;
	int attempt, r = -EIO;

	if (store_plan_get(p->store, id, &plan) < 0)
		return;
	for (attempt = 1; attempt <= 2; attempt++) {
		prompt = plan_prompt(plan.request, previous,
				     previous ? prev_err : NULL);
		r = prompt ? ask(pl, &plan, prompt, &answer, err,
				 sizeof(err)) : -ENOMEM;
		free(prompt);
		if (r < 0)
			break;
		r = plan_parse(&steps, answer, &p->cfg,
			       (size_t)p->cfg.max_fanout, &normalized,
			       prev_err, sizeof(prev_err));
		if (r == 0)
			break;
		/* Shown to the model once, then the plan fails. */
		snprintf(err, sizeof(err), "invalid plan: %s", prev_err);
		free(previous);
		previous = answer;
		answer = NULL;
	}
	if (r == -EINTR)
		goto out;	/* unmounted: planned again next time */
	if (r == -ECANCELED) {
		store_plan_update(p->store, id, "cancelled", NULL, "cancelled");
		goto out;
	}
	if (r < 0) {
		plan_failed(pl, id, answer ? answer : previous, err);
		goto out;
	}
	if (plan.approve) {
		store_plan_update(p->store, id, "waiting", normalized,
				  "waiting for approve");
		events_add(p->events, "plan_ready", 0, NULL);
		needs_approve(p, id);
		goto out;
	}
	store_plan_update(p->store, id, "planning", normalized, NULL);
	if (create_tasks(pl, &plan, &steps, err, sizeof(err)) < 0)
		plan_failed(pl, id, NULL, err);
out:
	plan_steps_release(&steps);
	free(normalized);
	free(answer);
	free(previous);
	plan_release(&plan);
}

struct plan_job {
	struct planner *pl;
	int64_t id;
};

static void *plan_main(void *arg)
{
	struct plan_job *job = arg;
	struct planner *pl = job->pl;

	make_plan(pl, job->id);
	pthread_mutex_lock(&pl->lock);
	pl->running--;
	pthread_cond_broadcast(&pl->idle);
	pthread_mutex_unlock(&pl->lock);
	free(job);
	return NULL;
}

static int launch(struct planner *pl, int64_t id)
{
	struct plan_job *job = malloc(sizeof(*job));
	char dir[PATH_MAX];
	pthread_t th;

	if (!job)
		return -ENOMEM;
	plan_dir(pl, id, NULL, dir, sizeof(dir));
	mkdir(dir, 0700);
	job->pl = pl;
	job->id = id;
	pthread_mutex_lock(&pl->lock);
	pl->running++;
	pthread_mutex_unlock(&pl->lock);
	if (pthread_create(&th, NULL, plan_main, job) != 0) {
		pthread_mutex_lock(&pl->lock);
		pl->running--;
		pthread_mutex_unlock(&pl->lock);
		free(job);
		return -EAGAIN;
	}
	pthread_detach(th);
	return 0;
}

int planner_start(struct planner **out, struct pai *p)
{
	struct planner *pl = calloc(1, sizeof(*pl));
	char dir[PATH_MAX];
	int64_t *ids = NULL;
	size_t n = 0, i;

	if (!pl)
		return -ENOMEM;
	pl->p = p;
	pthread_mutex_init(&pl->lock, NULL);
	pthread_cond_init(&pl->idle, NULL);
	snprintf(dir, sizeof(dir), "%s/plans", p->state_dir);
	mkdir(dir, 0700);
	/* Plans the last daemon did not finish are made again. */
	if (store_plan_ids(p->store, "planning", &ids, &n) == 0)
		for (i = 0; i < n; i++)
			launch(pl, ids[i]);
	free(ids);
	*out = pl;
	return 0;
}

void planner_stop(struct planner *pl)
{
	size_t i;

	if (!pl)
		return;
	pthread_mutex_lock(&pl->lock);
	pl->stopping = 1;
	for (i = 0; i < pl->n; i++)
		runner_signal(pl->v[i].proc, SIGTERM);
	while (pl->running > 0)
		pthread_cond_wait(&pl->idle, &pl->lock);
	pthread_mutex_unlock(&pl->lock);
	pthread_cond_destroy(&pl->idle);
	pthread_mutex_destroy(&pl->lock);
	free(pl->v);
	free(pl);
}

/* What was written to plans/new: a request in words, or a plan spec. */
struct plan_req {
	cJSON *root;		/* the spec, when it is one; owns the strings */
	const char *request;
	size_t rlen;
	const char *engine;
	int approve;
};

static int read_spec(struct pai *p, struct plan_req *q, char *err,
		     size_t errlen)
{
	cJSON *item;

	if (!cJSON_IsObject(q->root)) {
		snprintf(err, errlen, "invalid JSON plan spec");
		return -EINVAL;
	}
	cJSON_ArrayForEach(item, q->root) {
		if (!strcmp(item->string, "request") && cJSON_IsString(item)) {
			q->request = item->valuestring;
			q->rlen = strlen(q->request);
		} else if (!strcmp(item->string, "approve") &&
			   cJSON_IsBool(item)) {
			q->approve = cJSON_IsTrue(item);
		} else if (!strcmp(item->string, "engine") &&
			   cJSON_IsString(item)) {
			q->engine = item->valuestring;
		} else {
			snprintf(err, errlen, "plan spec: unknown or malformed"
				 " field '%s'", item->string);
			return -EINVAL;
		}
	}
	if (!cJSON_GetObjectItemCaseSensitive(q->root, "request")) {
		snprintf(err, errlen, "plan spec: 'request' is missing");
		return -EINVAL;
	}
	return 0;
}

/* Everything about a submission that can be refused; q->root is the
 * caller's to free. */
static int read_request(struct pai *p, const char *text, size_t len,
			struct plan_req *q, char *err, size_t errlen)
{
	size_t i;
	int r;

	q->root = NULL;
	q->request = text;
	q->rlen = len;
	q->engine = p->cfg.planner;
	q->approve = p->cfg.plan_approve;
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "request contains a NUL byte");
		return -EINVAL;
	}
	for (i = 0; i < len && (text[i] == ' ' || text[i] == '\n' ||
				text[i] == '\t' || text[i] == '\r'); i++)
		;
	if (i < len && text[i] == '{') {
		q->root = cJSON_ParseWithLength(text, len);
		if ((r = read_spec(p, q, err, errlen)) < 0)
			return r;
	}
	for (i = 0; i < q->rlen && (q->request[i] == ' ' ||
				    q->request[i] == '\n' ||
				    q->request[i] == '\t' ||
				    q->request[i] == '\r'); i++)
		;
	if (i == q->rlen) {
		snprintf(err, errlen, "empty request");
		return -EINVAL;
	}
	if (q->rlen > p->cfg.max_prompt) {
		snprintf(err, errlen, "request too long: %zu bytes, limit %zu",
			 q->rlen, p->cfg.max_prompt);
		return -EFBIG;
	}
	if (!engine_known(&p->cfg, q->engine)) {
		snprintf(err, errlen, "unknown planner engine '%s'", q->engine);
		return -EINVAL;
	}
	return 0;
}

int planner_check(struct planner *pl, const char *text, size_t len,
		  char *err, size_t errlen)
{
	struct plan_req q;
	int r = read_request(pl->p, text, len, &q, err, errlen);

	cJSON_Delete(q.root);
	if (r < 0)
		events_reason(pl->p->events, "refused", 0, err);
	return r;
}

int planner_submit(struct planner *pl, const char *text, size_t len,
		   int64_t *id, char *err, size_t errlen)
{
	struct pai *p = pl->p;
	struct plan_req q;
	cJSON *item;
	int r;

	if ((r = read_request(p, text, len, &q, err, errlen)) < 0)
		goto refused;
	r = store_plan_create(p->store, q.request, q.rlen, q.engine, q.approve,
			      id);
	if (r < 0) {
		snprintf(err, errlen, "cannot store the plan: %s",
			 strerror(-r));
		goto refused;
	}
	cJSON_Delete(q.root);
	item = cJSON_CreateObject();
	cJSON_AddNumberToObject(item, "plan", (double)*id);
	events_add(p->events, "plan_created", 0, item);
	return launch(pl, *id);
refused:
	cJSON_Delete(q.root);
	events_reason(p->events, "refused", 0, err);
	return r;
}

int planner_approve(struct planner *pl, int64_t id, char *err,
		    size_t errlen)
{
	struct pai *p = pl->p;
	struct plan_steps steps;
	struct plan plan;
	char *norm = NULL;
	int r;

	if ((r = store_plan_get(p->store, id, &plan)) < 0) {
		snprintf(err, errlen, "no such plan: %lld", (long long)id);
		return r;
	}
	if (strcmp(plan.state, "waiting")) {
		snprintf(err, errlen, "cannot approve plan %lld: it is %s",
			 (long long)id, plan.state);
		r = -EBUSY;
	} else if ((r = plan_parse(&steps, plan.plan, &p->cfg,
				   (size_t)p->cfg.max_fanout, &norm, err,
				   errlen)) == 0) {
		r = create_tasks(pl, &plan, &steps, err, errlen);
		plan_steps_release(&steps);
		free(norm);
	}
	plan_release(&plan);
	return r;
}

int planner_cancel(struct planner *pl, int64_t id, char *err, size_t errlen)
{
	struct pai *p = pl->p;
	struct plan plan;
	size_t i;
	int r;

	if ((r = store_plan_get(p->store, id, &plan)) < 0) {
		snprintf(err, errlen, "no such plan: %lld", (long long)id);
		return r;
	}
	if (!strcmp(plan.state, "planning")) {
		pthread_mutex_lock(&pl->lock);
		for (i = 0; i < pl->n; i++)
			if (pl->v[i].id == id) {
				pl->v[i].cancel = 1;
				runner_signal(pl->v[i].proc, SIGTERM);
			}
		pthread_mutex_unlock(&pl->lock);
	} else if (!strcmp(plan.state, "waiting")) {
		r = store_plan_update(p->store, id, "cancelled", NULL,
				      "cancelled");
	} else {
		snprintf(err, errlen, "cannot cancel plan %lld: it is %s",
			 (long long)id, plan.state);
		r = -EBUSY;
	}
	plan_release(&plan);
	return r;
}

int planner_status(struct planner *pl, int64_t id, struct buf *out)
{
	struct plan plan;
	char t[32];
	size_t i;
	int r = store_plan_get(pl->p->store, id, &plan);

	if (r < 0)
		return r;
	buf_printf(out, "%s\nid: %lld\nengine: %s\napprove: %s\n", plan.state,
		   (long long)plan.id, plan.engine,
		   plan.approve ? "yes" : "no");
	pai_format_time(plan.created, t, sizeof(t));
	buf_printf(out, "created: %s\n", t);
	for (i = 0; i < plan.n_tasks; i++)
		buf_printf(out, "%s%lld%s", i ? "," : "tasks: [",
			   (long long)plan.tasks[i],
			   i + 1 < plan.n_tasks ? "" : "]\n");
	if (plan.reason)
		buf_printf(out, "reason: %s\n", plan.reason);
	plan_overlaps(plan.plan, out);
	plan_release(&plan);
	return 0;
}
