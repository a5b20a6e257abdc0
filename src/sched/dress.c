/*
 * sched/dress: what a run is given besides its argv: the variables its
 * engine's environment gets, claude's settings with the policy's hook,
 * and what a backend that runs it elsewhere (SLURM) needs.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "approvals.h"
#include "engine.h"
#include "events.h"
#include "fsutil.h"
#include "pai.h"
#include "provider.h"
#include "quote.h"
#include "runner.h"
#include "store.h"
#include "schedint.h"

/* The backend has the run's job id, before the job may start: kept, so
 * the next mount finds the job if this daemon dies. */
static int job_submitted(void *arg, const char *job)
{
	struct run *r = arg;
	cJSON *f;
	int ret = store_task_set_job(r->s->p->store, r->id, job);

	if (ret == 0) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "backend", runner_backend_name());
		cJSON_AddStringToObject(f, "job", job);
		events_add(r->s->p->events, "submitted", r->id, f);
	}
	return ret;
}

void sched_job_name(const struct pai *p, int64_t id, char *name,
		    size_t len)
{
	const char *repo = strrchr(p->repo, '/');

	snprintf(name, len, "pai-%s-%lld", repo ? repo + 1 : p->repo,
		 (long long)id);
}

/* What a backend that runs the task elsewhere needs: "pai-REPO-N". */
void sched_task_job(struct run *r, const struct task *t,
		    const struct engine_def *def, char *name, size_t nlen,
		    char *logp, size_t llen, struct runner_task *out)
{
	sched_job_name(r->s->p, t->id, name, nlen);
	pai_log_path(r->s->p, t->id, logp, llen);
	*out = (struct runner_task){ .name = name, .log_path = logp,
				     .self_exe = r->s->p->self_exe,
				     .args = def ? def->slurm_args : NULL,
				     .timeout = t->timeout,
				     .submitted = job_submitted, .arg = r };
}

/* claude's --settings for this run: the policy's PreToolUse hook, given
 * time to wait as long as an approval does. */
int sched_write_settings(struct sched *s, const struct task *t, char *path,
			 size_t len)
{
	char *exe = quote_shell(s->p->self_exe), *json = NULL;
	cJSON *o, *pre, *m, *hs, *h;
	int r = -ENOMEM;

	pai_settings_path(s->p, t->id, path, len);
	o = cJSON_CreateObject();
	pre = cJSON_AddArrayToObject(cJSON_AddObjectToObject(o, "hooks"),
				     "PreToolUse");
	m = cJSON_CreateObject();
	cJSON_AddItemToArray(pre, m);
	cJSON_AddStringToObject(m, "matcher", "*");
	hs = cJSON_AddArrayToObject(m, "hooks");
	h = cJSON_CreateObject();
	cJSON_AddItemToArray(hs, h);
	cJSON_AddStringToObject(h, "type", "command");
	if (exe && asprintf(&json, "%s hook", exe) >= 0) {
		cJSON_AddStringToObject(h, "command", json);
		free(json);
		json = NULL;
	}
	cJSON_AddNumberToObject(h, "timeout", s->p->cfg.ask_timeout + 60);
	if (exe && (json = cJSON_Print(o)))
		r = write_file(path, json, strlen(json), 0600);
	free(json);
	free(exe);
	cJSON_Delete(o);
	return r;
}

int sched_env_extra(struct run *r, const struct task *t,
		    const struct engine_def *def, const char *prompt_file,
		    struct env_extra *e)
{
	struct pai *p = r->s->p;
	size_t n = 0, k;

	if (asprintf(&e->own[0], "PAI_TASK_ID=%lld", (long long)t->id) < 0 ||
	    asprintf(&e->own[1], "PAI_PROMPT_FILE=%s", prompt_file) < 0 ||
	    asprintf(&e->own[2], "PAI_WORKTREE=%s", t->worktree) < 0 ||
	    asprintf(&e->own[3], "PAI_BRANCH=%s", t->branch) < 0)
		return -ENOMEM;
	/* Past 64 KiB an environment string risks E2BIG at exec: the
	 * prompt file carries it instead. */
	if (t->prompt_len < 65536 &&
	    asprintf(&e->own[4], "PAI_PROMPT=%s", t->prompt) < 0)
		return -ENOMEM;
	/* The built-in agent asks before each tool call (approvals.h). */
	if (p->approvals && engine_enforced(&p->cfg, t->engine) &&
	    asprintf(&e->own[5], "PAI_POLICY_SOCKET=%s",
		     approvals_socket(p->approvals)) < 0)
		return -ENOMEM;
	/* Claude Code refuses bypassPermissions as root unless told that
	 * it is in a sandbox: it is, ours */
	if (e->is_sandbox && !(e->own[6] = strdup("IS_SANDBOX=1")))
		return -ENOMEM;
	if (engine_task_env(t->options, &e->task_env) < 0 ||
	    provider_env(&p->cfg, t->engine, &e->prov_env) < 0)
		return -ENOMEM;
	for (k = 0; e->task_env && e->task_env[k]; k++)
		;
	for (size_t j = 0; e->prov_env && e->prov_env[j]; j++)
		k++;
	e->all = calloc(8 + (def ? def->n_env : 0) + k, sizeof(*e->all));
	if (!e->all)
		return -ENOMEM;
	for (k = 0; k < 7; k++)
		if (e->own[k])
			e->all[n++] = e->own[k];
	/* The cloud's (CLAUDE_CODE_USE_BEDROCK=1 ...), then the engine's */
	for (k = 0; e->prov_env && e->prov_env[k]; k++)
		e->all[n++] = e->prov_env[k];
	/* [engine "NAME"] env = KEY=VALUE, then the task's own, which win */
	for (k = 0; def && k < def->n_env; k++)
		e->all[n++] = def->env[k];
	for (k = 0; e->task_env && e->task_env[k]; k++)
		e->all[n++] = e->task_env[k];
	return 0;
}

void sched_env_extra_release(struct env_extra *e)
{
	size_t k;

	for (k = 0; k < 7; k++)
		free(e->own[k]);
	free(e->all);
	engine_argv_free(e->task_env);
	engine_argv_free(e->prov_env);
	memset(e, 0, sizeof(*e));
}
