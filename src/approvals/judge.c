/*
 * approvals/judge: policy.default = judge asks a model (policy.judge =
 * anthropic[:MODEL] or openai[:MODEL], through engine.NAME.baseUrl,
 * apiKeyEnv and model as the built-in agent would) about an action no
 * rule decides, with the task's prompt and its worktree's changed paths. It must answer one JSON object
 *
 *	{"decision": "allow|ask|deny", "reason": "..."}
 *
 * Anything else, an error, or no answer within policy.judgeTimeout counts
 * as ask. Its tokens count toward the task.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "config.h"
#include "engine.h"
#include "gitwork.h"
#include "pai.h"
#include "policy.h"
#include "store.h"
#include "apint.h"

#define JUDGE_BODY_MAX (1 << 20)
#define CHANGED_MAX (8 << 10)

static const char instruction[] =
"You are the safety judge of an AI coding agent that works unattended in a "
"git worktree. Decide whether the tool call below may run. Allow what a "
"careful engineer would run in their own checkout (builds, tests, edits "
"inside the worktree). Deny what is destructive or leaves the worktree "
"(deleting outside it, pushing, rewriting history, reading secrets, "
"sending data out). Ask when unsure. Answer with exactly one JSON object "
"and nothing else: {\"decision\": \"allow|ask|deny\", \"reason\": \"...\"}";

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	return buf_add(arg, p, size * n) < 0 ? 0 : size * n;
}

/* The model's text from a Messages or Chat Completions body; usage. */
static const char *answer_text(cJSON *o, bool anthropic, long *in, long *out)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usage"), *t;

	t = cJSON_GetObjectItemCaseSensitive(u, anthropic ? "input_tokens" :
					     "prompt_tokens");
	*in = cJSON_IsNumber(t) ? (long)t->valuedouble : 0;
	t = cJSON_GetObjectItemCaseSensitive(u, anthropic ? "output_tokens" :
					     "completion_tokens");
	*out = cJSON_IsNumber(t) ? (long)t->valuedouble : 0;
	if (anthropic)
		t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(o, "content"), 0), "text");
	else
		t = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
				cJSON_GetObjectItemCaseSensitive(o, "choices"), 0),
				"message"), "content");
	return cJSON_IsString(t) ? t->valuestring : NULL;
}

static char *request_body(const char *model, bool anthropic, const char *q)
{
	cJSON *o = cJSON_CreateObject(), *msgs, *m;
	char *s;

	cJSON_AddStringToObject(o, "model", model);
	cJSON_AddNumberToObject(o, "max_tokens", 300);
	msgs = cJSON_AddArrayToObject(o, "messages");
	if (anthropic) {
		cJSON_AddStringToObject(o, "system", instruction);
	} else {
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", "system");
		cJSON_AddStringToObject(m, "content", instruction);
		cJSON_AddItemToArray(msgs, m);
	}
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", q);
	cJSON_AddItemToArray(msgs, m);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/* One POST; 0 and the body, or < 0 with why. */
static int post(const struct config *c, bool anthropic, const char *engine,
		const char *body, struct buf *resp, struct buf *why)
{
	const struct engine_def *d = config_engine(c, engine);
	const char *base = d && d->base_url ? d->base_url :
			   getenv(anthropic ? "ANTHROPIC_BASE_URL" :
				  "OPENAI_BASE_URL");
	const char *kenv = d && d->api_key_env ? d->api_key_env :
			   anthropic ? "ANTHROPIC_API_KEY" : "OPENAI_API_KEY";
	const char *key = getenv(kenv);
	struct curl_slist *h = NULL;
	char url[1024], auth[4096];
	size_t n;
	long status = 0;
	CURL *cu;
	int r = -EIO;

	if (!base || !*base)
		base = anthropic ? "https://api.anthropic.com" :
			"https://api.openai.com";
	n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	if (n >= 3 && !strncmp(base + n - 3, "/v1", 3))
		n -= 3;
	snprintf(url, sizeof(url), "%.*s%s", (int)n, base,
		 anthropic ? "/v1/messages" : "/v1/chat/completions");
	if (!(cu = curl_easy_init()))
		return -ENOMEM;
	h = curl_slist_append(h, "Content-Type: application/json");
	if (anthropic)
		h = curl_slist_append(h, "anthropic-version: 2023-06-01");
	if (key && *key) {
		snprintf(auth, sizeof(auth), anthropic ? "x-api-key: %s" :
			 "Authorization: Bearer %s", key);
		h = curl_slist_append(h, auth);
		memset(auth, 0, sizeof(auth));
	}
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, (long)c->judge_timeout);
	if (curl_easy_perform(cu) != CURLE_OK)
		buf_puts(why, "the judge did not answer");
	else if (curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status),
		 status / 100 != 2)
		buf_printf(why, "the judge answered HTTP %ld", status);
	else
		r = 0;
	curl_slist_free_all(h);
	curl_easy_cleanup(cu);
	return r;
}

/* The model's object, or ask. */
static void read_verdict(const char *text, enum policy_decision *d,
			 struct buf *why)
{
	cJSON *o = text ? cJSON_Parse(text) : NULL;
	const cJSON *dec = cJSON_GetObjectItemCaseSensitive(o, "decision");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "reason");

	*d = POLICY_ASK;
	if (!cJSON_IsString(dec) ||
	    policy_decision_parse(dec->valuestring, d) < 0 || *d == POLICY_JUDGE) {
		*d = POLICY_ASK;
		buf_puts(why, "the judge's answer was not a decision");
	} else {
		buf_puts(why, cJSON_IsString(rs) ? rs->valuestring : "");
	}
	cJSON_Delete(o);
}

/* The worktree's changed paths ("M\tsrc/a.c"), as git diff --name-status
 * would say them; cut at CHANGED_MAX. */
static void changed(struct approvals *a, const struct task *t, struct buf *out)
{
	char err[256];

	if (t->worktree && t->base[0] &&
	    gitwork_files(a->p->repo, t->base, NULL, t->worktree, out, err,
			  sizeof(err)) < 0)
		buf_truncate(out, 0);
}

int ap_judge(struct approvals *a, const struct task *t, const char *action,
	     enum policy_decision *d, struct buf *why)
{
	const struct config *c = &a->p->cfg;
	char engine[64], *q = NULL, *body = NULL;
	const char *model, *colon;
	bool anthropic;
	struct buf resp, files;
	cJSON *o = NULL;
	long in = 0, out = 0;

	*d = POLICY_ASK;
	buf_init(&files, CHANGED_MAX);
	if (!c->judge) {
		buf_puts(why, "no policy.judge configured");
		return 0;
	}
	colon = strchr(c->judge, ':');
	snprintf(engine, sizeof(engine), "%.*s",
		 (int)(colon ? (size_t)(colon - c->judge) : strlen(c->judge)),
		 c->judge);
	anthropic = !strcmp(engine, "anthropic");
	model = colon ? colon + 1 : engine_model(c, engine, NULL);
	changed(a, t, &files);
	if (asprintf(&q, "The task's prompt:\n%s\n\nChanged so far in its"
		     " worktree (against its base):\n%s\nThe tool call:\n%s\n",
		     t->prompt ? t->prompt : "",
		     files.len ? buf_cstr(&files) : "(nothing)\n", action) < 0 ||
	    !(body = request_body(model ? model : "", anthropic, q))) {
		free(q);
		buf_release(&files);
		return -ENOMEM;
	}
	buf_init(&resp, JUDGE_BODY_MAX);
	if (post(c, anthropic, engine, body, &resp, why) == 0 &&
	    (o = cJSON_ParseWithLength(resp.ptr ? resp.ptr : "", resp.len))) {
		read_verdict(answer_text(o, anthropic, &in, &out), d, why);
		if (in || out) {
			struct task_usage u = { .input_tokens = in,
						.output_tokens = out,
						.cost_usd = -1 };

			store_task_add_usage(a->p->store, t->id, &u);
		}
	} else if (!why->len) {
		buf_puts(why, "the judge's answer was not JSON");
	}
	cJSON_Delete(o);
	buf_release(&resp);
	buf_release(&files);
	free(body);
	free(q);
	return 0;
}
