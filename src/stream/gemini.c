/*
 * stream/gemini: `gemini -p --output-format stream-json`, the events of
 * gemini-cli packages/core/src/output/types.ts, and its exit statuses.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "streamint.h"

static int gemini_message(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *role = jstr(ev, "role"), *text = jstr(ev, "content");

	if (!role || strcmp(role, "assistant") || !text)
		return 0;
	return sf_emit_text(s, out, text, !jtrue(ev, "delta"));
}

static int gemini_tool_use(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	return sf_emit_tool(s, out, jstr(ev, "tool_name"), sf_tool_arg(jobj(ev, "parameters")));
}

static int gemini_tool_result(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *status = jstr(ev, "status");
	const char *msg = jstr(jobj(ev, "error"), "message");

	if (!status || strcmp(status, "error"))
		return 0;
	return sf_emit_error(s, out, NULL, msg ? msg : jstr(ev, "output"));
}

static int gemini_error(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *severity = jstr(ev, "severity");

	if (severity && !strcmp(severity, "warning"))
		return sf_emit_error(s, out, "warning", jstr(ev, "message"));
	return sf_fail(s, out, jstr(ev, "message"));
}

static int gemini_result(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *st = jobj(ev, "stats");
	const char *status = jstr(ev, "status");
	double v;

	if (st) {
		s->input_tokens = jcount(st, "input_tokens");
		s->output_tokens = jcount(st, "output_tokens");
		s->cache_read_tokens = jcount(st, "cached");
		if (jnum(st, "duration_ms", &v))
			s->duration_ms = count_of(v);
		if (jnum(st, "tool_calls", &v))
			s->tool_calls = count_of(v);
	}
	if (status && strcmp(status, "success")) {
		const char *msg = jstr(jobj(ev, "error"), "message");
		return sf_fail(s, out, msg ? msg : status);
	}
	return 0;
}

const struct event_handler sf_gemini_events[] = {
	{ "message", gemini_message },
	{ "tool_use", gemini_tool_use },
	{ "tool_result", gemini_tool_result },
	{ "error", gemini_error },
	{ "result", gemini_result },
	{ NULL, NULL }
};

/* Its exit statuses that have a meaning of their own. */
const struct exit_reason sf_gemini_exits[] = {
	{ 41, "authentication error" },
	{ 42, "input error" },
	{ 44, "sandbox error" },
	{ 52, "configuration error" },
	{ 53, "turn limit reached" },
	{ 54, "tool execution error" },
	{ 55, "untrusted workspace" },
	{ 0, NULL }
};
