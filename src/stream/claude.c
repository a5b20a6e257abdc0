/*
 * stream/claude: Claude Code's SDK messages (system, assistant, user,
 * stream_event, result) from `claude -p --output-format stream-json
 * --verbose`.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "streamint.h"

/* A tool_result's content: a string or a list of text blocks. */
static const char *claude_result_text(const cJSON *block)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(block, "content");
	const cJSON *it;

	if (cJSON_IsString(c))
		return c->valuestring;
	cJSON_ArrayForEach(it, c) {
		const char *t = jstr(it, "text");
		if (t)
			return t;
	}
	return NULL;
}

/*
 * The running figures while the run goes on, for its budget: each API
 * response comes as one or more assistant events with the same message
 * id and usage, counted once. The result event replaces them with the
 * CLI's own totals (and its cost).
 */
static void claude_count(struct streamfmt *s, const cJSON *msg)
{
	const cJSON *usage = jobj(msg, "usage");
	const char *id = jstr(msg, "id");

	if (!usage || !id || !strcmp(id, s->msg_id))
		return;
	snprintf(s->msg_id, sizeof(s->msg_id), "%s", id);
	s->input_tokens += jcount(usage, "input_tokens") +
		jcount(usage, "cache_read_input_tokens") +
		jcount(usage, "cache_creation_input_tokens");
	s->output_tokens += jcount(usage, "output_tokens");
	s->turns = s->turns < 0 ? 1 : s->turns + 1;
}

static int claude_assistant(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *msg = jobj(ev, "message");
	const cJSON *block;
	int r = 0;

	claude_count(s, msg);

	cJSON_ArrayForEach(block, jarr(msg, "content")) {
		const char *type = jstr(block, "type");

		if (!type)
			continue;
		if (!strcmp(type, "text") && !s->partial && jstr(block, "text"))
			r = sf_emit_text(s, out, jstr(block, "text"), true);
		else if (!strcmp(type, "tool_use"))
			r = sf_emit_tool(s, out, jstr(block, "name"),
					 sf_tool_arg(jobj(block, "input")));
		if (r < 0)
			return r;
	}
	/* an API failure comes as a made-up message; its kind is here */
	if (jstr(ev, "error"))
		sf_note_login(s, jstr(ev, "error"), strlen(jstr(ev, "error")));
	return 0;
}

/* Is id among the calls the policy's hook denied ("\nID\n" in seen)? */
static bool claude_policy_denied(struct streamfmt *s, const char *id,
				 bool add)
{
	struct buf key;
	bool found;

	if (!id)
		return false;
	buf_init(&key, 1024);
	buf_printf(&key, "\n%s\n", id);
	found = s->seen.len && strstr(buf_cstr(&s->seen), buf_cstr(&key));
	if (add && !found && buf_add(&s->seen, key.ptr, key.len) < 0)
		buf_truncate(&s->seen, 0);	/* full: forget, fail safe */
	buf_release(&key);
	return found;
}

/* The hook's answer to a call it denied: "denied by policy (RULE)",
 * "denied by alice (approval 3): ...", "denied: approval 3 expired ...". */
static bool claude_hook_denial(const struct streamfmt *s, const char *text)
{
	return s->policy_hook && text &&
	       (!strncmp(text, "denied by ", 10) || !strncmp(text, "denied: ", 8));
}

static int claude_user(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *block;
	const char *text;
	int r;

	cJSON_ArrayForEach(block, jarr(jobj(ev, "message"), "content")) {
		const char *type = jstr(block, "type");

		if (!type || strcmp(type, "tool_result") || !jtrue(block, "is_error"))
			continue;
		text = claude_result_text(block);
		if (claude_hook_denial(s, text))
			claude_policy_denied(s, jstr(block, "tool_use_id"), true);
		if ((r = sf_emit_error(s, out, NULL, text)) < 0)
			return r;
	}
	return 0;
}

/* --include-partial-messages: text deltas, then the whole message again. */
static int claude_stream_event(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *e = jobj(ev, "event");
	const char *type = jstr(e, "type");
	const cJSON *delta = jobj(e, "delta");
	const char *dtype = jstr(delta, "type");

	if (!type)
		return 0;
	if (!strcmp(type, "content_block_delta") && dtype &&
	    !strcmp(dtype, "text_delta") && jstr(delta, "text")) {
		s->partial = true;
		return sf_emit_text(s, out, jstr(delta, "text"), false);
	}
	if (!strcmp(type, "content_block_stop"))
		return sf_end_line(s, out);
	return 0;
}

static const char *claude_subtype_reason(const char *subtype)
{
	static const struct { const char *subtype, *reason; } tab[] = {
		{ "error_max_turns", "turn limit reached" },
		{ "error_during_execution", "error during execution" },
		{ "error_max_budget_usd", "budget limit reached" },
		{ "error_max_structured_output_retries", "structured output retries exhausted" },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (subtype && !strcmp(subtype, tab[i].subtype))
			return tab[i].reason;
	return NULL;
}

static int claude_result(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *usage = jobj(ev, "usage");
	const cJSON *d, *it;
	const char *subtype = jstr(ev, "subtype");
	const char *result = jstr(ev, "result");
	double v;
	struct buf why;
	int r = 0;

	if (usage) {
		s->cache_read_tokens = jcount(usage, "cache_read_input_tokens");
		s->cache_write_tokens = jcount(usage, "cache_creation_input_tokens");
		s->input_tokens = jcount(usage, "input_tokens") +
			s->cache_read_tokens + s->cache_write_tokens;
		s->output_tokens = jcount(usage, "output_tokens");
	}
	if (jnum(ev, "total_cost_usd", &v) || jnum(ev, "cost_usd", &v)) {
		s->cost_usd = v;
		s->has_cost = true;
	}
	if (jnum(ev, "num_turns", &v))
		s->turns = count_of(v);
	if (jnum(ev, "duration_ms", &v))
		s->duration_ms = count_of(v);
	if (result)
		sf_set_result(s, result);

	buf_init(&why, REASON_MAX);
	if (jtrue(ev, "is_error") || (subtype && strcmp(subtype, "success"))) {
		const char *base = claude_subtype_reason(subtype);

		if (base && !strcmp(subtype, "error_max_turns") && s->turns >= 0)
			buf_printf(&why, "%s after %lld turns", base, s->turns);
		else if (base)
			buf_puts(&why, base);
		cJSON_ArrayForEach(it, jarr(ev, "errors"))
			if (cJSON_IsString(it))
				buf_printf(&why, "%s%s", why.len ? ": " : "", it->valuestring);
		if (!why.len)
			buf_puts(&why, result && *result ? result : subtype ? subtype : "error");
		r = sf_fail(s, out, buf_cstr(&why));
	}

	/* the policy's own denials are answers the agent heard, as with the
	 * built-in agent: they do not fail the run */
	d = jarr(ev, "permission_denials");
	s->permission_denials = 0;
	cJSON_ArrayForEach(it, d) {
		const char *arg = sf_tool_arg(jobj(it, "tool_input"));

		if (claude_policy_denied(s, jstr(it, "tool_use_id"), false))
			continue;
		s->permission_denials++;
		if (s->denied.len)
			buf_puts(&s->denied, ", ");
		sf_shorten(&s->denied, NULL, jstr(it, "tool_name") ? jstr(it, "tool_name") : "tool");
		if (arg) {
			buf_puts(&s->denied, " ");
			sf_shorten(&s->denied, s->cwd, arg);
		}
	}
	if (r == 0 && s->permission_denials > 0) {
		buf_truncate(&why, 0);
		buf_printf(&why, "%lld permission denial%s (%s): the engine needs a "
			   "permission mode that allows them, such as "
			   "--permission-mode acceptEdits",
			   s->permission_denials, s->permission_denials == 1 ? "" : "s",
			   buf_cstr(&s->denied));
		r = sf_fail(s, out, buf_cstr(&why));
	}
	buf_release(&why);
	return r;
}

const struct event_handler sf_claude_events[] = {
	{ "assistant", claude_assistant },
	{ "user", claude_user },
	{ "stream_event", claude_stream_event },
	{ "result", claude_result },
	{ "error", sf_any_error },
	{ NULL, NULL }
};
