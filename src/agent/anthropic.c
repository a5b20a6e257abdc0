/*
 * anthropic: the Messages API (POST /v1/messages, "stream": true).
 *
 *	event: content_block_start
 *	data: {"type":"content_block_start","index":1,
 *	       "content_block":{"type":"tool_use","id":"toolu_1","name":"run","input":{}}}
 *
 *	event: content_block_delta
 *	data: {"type":"content_block_delta","index":1,
 *	       "delta":{"type":"input_json_delta","partial_json":"{\"command\": \"make\"}"}}
 *
 * A turn that calls tools is answered by a user message of tool_result
 * blocks, one per tool_use id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "jnum.h"

static struct curl_slist *headers(struct curl_slist *h, const char *key)
{
	h = curl_slist_append(h, "anthropic-version: 2023-06-01");
	return http_sse_headers(h, "x-api-key: ", key);
}

static cJSON *start(const struct agent_conf *c, const char *prompt)
{
	cJSON *msgs = cJSON_CreateArray(), *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", prompt);
	cJSON_AddItemToArray(msgs, m);
	return msgs;
}

static cJSON *request(const struct agent_conf *c, cJSON *messages)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "model", c->model);
	cJSON_AddNumberToObject(b, "max_tokens", (double)c->max_tokens);
	cJSON_AddBoolToObject(b, "stream", 1);
	cJSON_AddStringToObject(b, "system", c->system);
	cJSON_AddItemToObject(b, "tools", tools_schema());
	cJSON_AddItemReferenceToObject(b, "messages", messages);
	return b;
}

static long num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return (long)jnum_clamp(v, -1, 1000000000000000LL, -1);
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void usage(struct turn *t, const cJSON *u)
{
	long v;

	/* message_start gives the input, message_delta the running output
	 * total (and, lately, the input again): take the latest of each. */
	if ((v = num(u, "input_tokens")) >= 0)
		t->in_tokens = v;
	if ((v = num(u, "output_tokens")) >= 0)
		t->out_tokens = v;
	if ((v = num(u, "cache_read_input_tokens")) >= 0)
		t->cache_read = v;
	if ((v = num(u, "cache_creation_input_tokens")) >= 0)
		t->cache_write = v;
}

static int on_event(struct turn *t, const char *d)
{
	cJSON *j = cJSON_Parse(d);
	const cJSON *o, *delta;
	const char *type, *s;
	int r = 0;

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return turn_fail(t, "malformed event from server: %.200s", d);
	}
	/* The data's own type, so a proxy that drops "event:" lines works. */
	type = str(j, "type");
	if (!type) {
		r = turn_fail(t, "malformed event from server: %.200s", d);
	} else if (!strcmp(type, "message_start")) {
		usage(t, cJSON_GetObjectItemCaseSensitive(
			      cJSON_GetObjectItemCaseSensitive(j, "message"), "usage"));
	} else if (!strcmp(type, "content_block_start")) {
		o = cJSON_GetObjectItemCaseSensitive(j, "content_block");
		s = str(o, "type");
		if (s && !strcmp(s, "tool_use")) {
			struct tool_call *c = turn_call(t, t->ncalls);

			if (!c || !str(o, "id") || !str(o, "name"))
				return cJSON_Delete(j), turn_fail(t, "malformed tool_use block from server");
			c->id = strdup(str(o, "id"));
			c->name = strdup(str(o, "name"));
			t->block = (int)(t->ncalls - 1);
		} else if (s && !strcmp(s, "text") && str(o, "text")) {
			turn_text(t, str(o, "text"), strlen(str(o, "text")));
		}
	} else if (!strcmp(type, "content_block_delta")) {
		delta = cJSON_GetObjectItemCaseSensitive(j, "delta");
		s = str(delta, "type");
		if (s && !strcmp(s, "text_delta") && str(delta, "text")) {
			turn_text(t, str(delta, "text"), strlen(str(delta, "text")));
		} else if (s && !strcmp(s, "input_json_delta")) {
			if (t->block < 0 || !str(delta, "partial_json"))
				r = turn_fail(t, "input_json_delta outside a tool_use block");
			else if (buf_puts(&t->calls[t->block].args,
					  str(delta, "partial_json")) < 0)
				r = turn_fail(t, "tool input too large");
		}
	} else if (!strcmp(type, "content_block_stop")) {
		t->block = -1;
	} else if (!strcmp(type, "message_delta")) {
		delta = cJSON_GetObjectItemCaseSensitive(j, "delta");
		if ((s = str(delta, "stop_reason")))
			snprintf(t->stop, sizeof(t->stop), "%s", s);
		usage(t, cJSON_GetObjectItemCaseSensitive(j, "usage"));
	} else if (!strcmp(type, "message_stop")) {
		t->finished = true;
	} else if (!strcmp(type, "error")) {
		struct buf msg;

		buf_init(&msg, 1024);
		api_error_message(d, strlen(d), &msg);
		r = turn_fail(t, "api error: %s", buf_cstr(&msg));
		buf_release(&msg);
	}
	/* ping, and event types added after this was written: nothing */
	cJSON_Delete(j);
	return r;
}

static int event(struct turn *t, const char *name, const char *data, size_t len)
{
	return on_event(t, data);
}

static int message(struct turn *t, const char *json, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *b;
	const char *s;
	int r = 0;

	if (!cJSON_IsObject(j) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "content"))) {
		cJSON_Delete(j);
		return turn_fail(t, "malformed response from server: %.200s", json);
	}
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(j, "content")) {
		s = str(b, "type");
		if (s && !strcmp(s, "text") && str(b, "text")) {
			turn_text(t, str(b, "text"), strlen(str(b, "text")));
		} else if (s && !strcmp(s, "tool_use")) {
			struct tool_call *c = turn_call(t, t->ncalls);
			char *in = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(b, "input"));

			if (!c || !str(b, "id") || !str(b, "name") || !in) {
				free(in);
				r = turn_fail(t, "malformed tool_use block from server");
				break;
			}
			c->id = strdup(str(b, "id"));
			c->name = strdup(str(b, "name"));
			buf_puts(&c->args, in);
			free(in);
		}
	}
	if ((s = str(j, "stop_reason")))
		snprintf(t->stop, sizeof(t->stop), "%s", s);
	usage(t, cJSON_GetObjectItemCaseSensitive(j, "usage"));
	t->finished = true;
	cJSON_Delete(j);
	return r;
}

static void record(cJSON *messages, const struct turn *t)
{
	cJSON *m, *content, *results;
	size_t i;

	if (!t->text.len && !t->ncalls)
		return;		/* the API refuses an empty assistant turn */
	m = cJSON_CreateObject();
	content = cJSON_CreateArray();
	cJSON_AddStringToObject(m, "role", "assistant");
	if (t->text.len) {
		cJSON *b = cJSON_CreateObject();

		cJSON_AddStringToObject(b, "type", "text");
		cJSON_AddStringToObject(b, "text", buf_cstr(&t->text));
		cJSON_AddItemToArray(content, b);
	}
	for (i = 0; i < t->ncalls; i++) {
		const struct tool_call *c = &t->calls[i];
		cJSON *b = cJSON_CreateObject();
		cJSON *in = cJSON_Parse(c->args.len ? buf_cstr(&c->args) : "{}");

		cJSON_AddStringToObject(b, "type", "tool_use");
		cJSON_AddStringToObject(b, "id", c->id);
		cJSON_AddStringToObject(b, "name", c->name);
		/* input must be an object even when the model's was broken;
		 * the tool_result tells it so. */
		if (!cJSON_IsObject(in)) {
			cJSON_Delete(in);
			in = cJSON_CreateObject();
		}
		cJSON_AddItemToObject(b, "input", in);
		cJSON_AddItemToArray(content, b);
	}
	cJSON_AddItemToObject(m, "content", content);
	cJSON_AddItemToArray(messages, m);
	if (!t->ncalls)
		return;

	m = cJSON_CreateObject();
	results = cJSON_CreateArray();
	cJSON_AddStringToObject(m, "role", "user");
	for (i = 0; i < t->ncalls; i++) {
		const struct tool_call *c = &t->calls[i];
		cJSON *b = cJSON_CreateObject();

		cJSON_AddStringToObject(b, "type", "tool_result");
		cJSON_AddStringToObject(b, "tool_use_id", c->id);
		cJSON_AddStringToObject(b, "content",
					c->res.out.len ? buf_cstr(&c->res.out) : "(no output)");
		if (c->res.error)
			cJSON_AddBoolToObject(b, "is_error", 1);
		cJSON_AddItemToArray(results, b);
	}
	cJSON_AddItemToObject(m, "content", results);
	cJSON_AddItemToArray(messages, m);
}

const struct proto proto_anthropic = {
	.name = "anthropic",
	.base_url = "https://api.anthropic.com",
	.key_env = "ANTHROPIC_API_KEY",
	.path = "/v1/messages",
	.headers = headers,
	.start = start,
	.request = request,
	.event = event,
	.message = message,
	.record = record,
};
