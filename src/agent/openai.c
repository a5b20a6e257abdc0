/*
 * openai: Chat Completions (POST /v1/chat/completions, "stream": true),
 * which Ollama, vLLM, llama.cpp's server, LM Studio and OpenRouter speak
 * too.
 *
 *	data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,
 *	       "id":"call_1","function":{"name":"run","arguments":""}}]}}]}
 *	data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,
 *	       "function":{"arguments":"{\"command\":\"make\"}"}}]}}]}
 *	data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}
 *	data: {"choices":[],"usage":{"prompt_tokens":812,"completion_tokens":31}}
 *	data: [DONE]
 *
 * Tool calls arrive in fragments keyed by index; each result goes back as
 * a "tool" message with its tool_call_id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "jnum.h"

static struct curl_slist *headers(struct curl_slist *h, const char *key)
{
	return http_sse_headers(h, "authorization: Bearer ", key);
}

static cJSON *start(const struct agent_conf *c, const char *prompt)
{
	cJSON *msgs = cJSON_CreateArray(), *m;

	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "system");
	cJSON_AddStringToObject(m, "content", c->system);
	cJSON_AddItemToArray(msgs, m);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", prompt);
	cJSON_AddItemToArray(msgs, m);
	return msgs;
}

static cJSON *request(const struct agent_conf *c, cJSON *messages)
{
	cJSON *b = cJSON_CreateObject(), *tools = cJSON_CreateArray();
	cJSON *schema = tools_schema(), *s, *so;

	cJSON_AddStringToObject(b, "model", c->model);
	cJSON_AddItemReferenceToObject(b, "messages", messages);
	cJSON_ArrayForEach(s, schema) {
		cJSON *f = cJSON_CreateObject(), *tool = cJSON_CreateObject();

		cJSON_AddItemToObject(f, "name", cJSON_DetachItemFromObject(s, "name"));
		cJSON_AddItemToObject(f, "description",
				      cJSON_DetachItemFromObject(s, "description"));
		cJSON_AddItemToObject(f, "parameters",
				      cJSON_DetachItemFromObject(s, "input_schema"));
		cJSON_AddStringToObject(tool, "type", "function");
		cJSON_AddItemToObject(tool, "function", f);
		cJSON_AddItemToArray(tools, tool);
	}
	cJSON_Delete(schema);
	cJSON_AddItemToObject(b, "tools", tools);
	/* OpenAI's newer models refuse max_tokens; other servers may not
	 * know its successor. */
	cJSON_AddNumberToObject(b, c->openai_com ? "max_completion_tokens" : "max_tokens",
				(double)c->max_tokens);
	cJSON_AddBoolToObject(b, "stream", 1);
	so = cJSON_AddObjectToObject(b, "stream_options");
	cJSON_AddBoolToObject(so, "include_usage", 1);
	return b;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (long)jnum_clamp(v, -1, 1000000000000000LL, -1);
}

static int tool_delta(struct turn *t, const cJSON *tc, int pos)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
	long index = num(tc, "index");
	struct tool_call *c;
	const char *s;

	c = turn_call(t, index >= 0 ? (size_t)index : (size_t)pos);
	if (!c)
		return turn_fail(t, "tool call index %ld out of order", index);
	if ((s = str(tc, "id")) && *s && !c->id)
		c->id = strdup(s);
	if ((s = str(f, "name")) && *s && !c->name)
		c->name = strdup(s);
	if ((s = str(f, "arguments")) && buf_puts(&c->args, s) < 0)
		return turn_fail(t, "tool arguments too large");
	return 0;
}

static int event(struct turn *t, const char *name, const char *data, size_t len)
{
	const cJSON *choice, *delta, *u, *e, *tc;
	cJSON *j;
	const char *s;
	int r = 0, pos = 0;

	if (!strcmp(data, "[DONE]")) {
		t->finished = true;
		return 0;
	}
	j = cJSON_Parse(data);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return turn_fail(t, "malformed event from server: %.200s", data);
	}
	if ((e = cJSON_GetObjectItemCaseSensitive(j, "error"))) {
		struct buf msg;

		buf_init(&msg, 1024);
		api_error_message(data, len, &msg);
		r = turn_fail(t, "api error: %s", buf_cstr(&msg));
		buf_release(&msg);
		goto out;
	}
	choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
	delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
	if ((s = str(delta, "content")))
		turn_text(t, s, strlen(s));
	cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls")) {
		if ((r = tool_delta(t, tc, pos++)) < 0)
			goto out;
	}
	if ((s = str(choice, "finish_reason")))
		snprintf(t->stop, sizeof(t->stop), "%s", s);
	u = cJSON_GetObjectItemCaseSensitive(j, "usage");
	if (cJSON_IsObject(u)) {
		long v;

		if ((v = num(u, "prompt_tokens")) >= 0)
			t->in_tokens = v;
		if ((v = num(u, "completion_tokens")) >= 0)
			t->out_tokens = v;
		v = num(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details"),
			"cached_tokens");
		if (v >= 0)
			t->cache_read = v;
	}
out:
	cJSON_Delete(j);
	return r;
}

static int message(struct turn *t, const char *json, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *choice, *msg, *tc, *u;
	const char *s;
	int r = 0, pos = 0;

	choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
	msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(j);
		return turn_fail(t, "malformed response from server: %.200s", json);
	}
	if ((s = str(msg, "content")))
		turn_text(t, s, strlen(s));
	cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(msg, "tool_calls")) {
		if ((r = tool_delta(t, tc, pos++)) < 0)
			break;
	}
	if ((s = str(choice, "finish_reason")))
		snprintf(t->stop, sizeof(t->stop), "%s", s);
	u = cJSON_GetObjectItemCaseSensitive(j, "usage");
	if (num(u, "prompt_tokens") >= 0)
		t->in_tokens = num(u, "prompt_tokens");
	if (num(u, "completion_tokens") >= 0)
		t->out_tokens = num(u, "completion_tokens");
	t->finished = true;
	cJSON_Delete(j);
	return r;
}

static void record(cJSON *messages, const struct turn *t)
{
	cJSON *m = cJSON_CreateObject(), *calls;
	size_t i;

	cJSON_AddStringToObject(m, "role", "assistant");
	if (t->text.len)
		cJSON_AddStringToObject(m, "content", buf_cstr(&t->text));
	else
		cJSON_AddNullToObject(m, "content");
	if (t->ncalls) {
		calls = cJSON_AddArrayToObject(m, "tool_calls");
		for (i = 0; i < t->ncalls; i++) {
			const struct tool_call *c = &t->calls[i];
			cJSON *tc = cJSON_CreateObject(), *f = cJSON_CreateObject();

			cJSON_AddStringToObject(tc, "id", c->id);
			cJSON_AddStringToObject(tc, "type", "function");
			cJSON_AddStringToObject(f, "name", c->name);
			cJSON_AddStringToObject(f, "arguments",
						c->args.len ? buf_cstr(&c->args) : "{}");
			cJSON_AddItemToObject(tc, "function", f);
			cJSON_AddItemToArray(calls, tc);
		}
	}
	cJSON_AddItemToArray(messages, m);
	for (i = 0; i < t->ncalls; i++) {
		const struct tool_call *c = &t->calls[i];
		struct buf content;

		/* No is_error field here: say it in the text. */
		buf_init(&content, TOOL_OUTPUT_MAX + 2048);
		if (c->res.error)
			buf_puts(&content, "error: ");
		buf_puts(&content, c->res.out.len ? buf_cstr(&c->res.out) : "(no output)");
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "role", "tool");
		cJSON_AddStringToObject(m, "tool_call_id", c->id);
		cJSON_AddStringToObject(m, "content", buf_cstr(&content));
		cJSON_AddItemToArray(messages, m);
		buf_release(&content);
	}
}

const struct proto proto_openai = {
	.name = "openai",
	.base_url = "https://api.openai.com",
	.key_env = "OPENAI_API_KEY",
	.path = "/v1/chat/completions",
	.headers = headers,
	.start = start,
	.request = request,
	.event = event,
	.message = message,
	.record = record,
};
