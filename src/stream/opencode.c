/*
 * stream/opencode: `opencode run --format json` (text, tool_use,
 * step_start, step_finish, error with a message part).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "streamint.h"

static int opencode_text(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *text = jstr(jobj(ev, "part"), "text");

	return text ? sf_emit_text(s, out, text, true) : 0;
}

static int opencode_tool_use(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *part = jobj(ev, "part");
	const cJSON *state = jobj(part, "state");
	const char *status = jstr(state, "status");
	int r;

	if ((r = sf_emit_tool(s, out, jstr(part, "tool"), sf_tool_arg(jobj(state, "input")))) < 0)
		return r;
	if (status && !strcmp(status, "error"))
		return sf_emit_error(s, out, NULL, jstr(state, "error"));
	return 0;
}

static int opencode_step_finish(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *part = jobj(ev, "part");
	const cJSON *tok = jobj(part, "tokens");
	const cJSON *cache = jobj(tok, "cache");
	double cost;

	/* opencode's input excludes what came from the cache */
	s->cache_read_tokens += jcount(cache, "read");
	s->cache_write_tokens += jcount(cache, "write");
	s->input_tokens += jcount(tok, "input") + jcount(cache, "read") +
		jcount(cache, "write");
	s->output_tokens += jcount(tok, "output") + jcount(tok, "reasoning");
	if (jnum(part, "cost", &cost)) {
		s->cost_usd += cost;
		s->has_cost = true;
	}
	s->turns = (s->turns < 0 ? 0 : s->turns) + 1;
	return 0;
}

const struct event_handler sf_opencode_events[] = {
	{ "text", opencode_text },
	{ "tool_use", opencode_tool_use },
	{ "step_finish", opencode_step_finish },
	{ "error", sf_any_error },
	{ NULL, NULL }
};
