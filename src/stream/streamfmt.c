/*
 * streamfmt: agent CLI event streams into a transcript, a result and
 * totals; see include/streamfmt.h.
 *
 * Each format is a table of event types and the function that handles
 * one; an event type not in the table is ignored, so a CLI that grows new
 * events keeps working. The shapes follow the CLIs' own definitions:
 * Claude Code's SDK messages (system, assistant, user, result), codex-rs
 * exec_events.rs (thread.*, turn.*, item.*), gemini-cli
 * packages/core/src/output/types.ts, and opencode's `run --format json`
 * (text, tool_use, step_start, step_finish, error with a message part).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "streamint.h"

/* ---- formats ------------------------------------------------------------ */

static const struct format {
	const char *name;
	const struct event_handler *events;	/* NULL: plain text */
	const struct exit_reason *exits;
} formats[] = {
	[STREAM_TEXT] = { "text", NULL, NULL },
	[STREAM_CLAUDE] = { "claude", sf_claude_events, NULL },
	[STREAM_CODEX] = { "codex", sf_codex_events, NULL },
	[STREAM_GEMINI] = { "gemini", sf_gemini_events, sf_gemini_exits },
	[STREAM_OPENCODE] = { "opencode", sf_opencode_events, NULL },
};

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

int stream_format_parse(enum stream_format *out, const char *name)
{
	size_t i;

	for (i = 0; name && i < NFORMATS; i++)
		if (!strcmp(name, formats[i].name)) {
			*out = (enum stream_format)i;
			return 0;
		}
	return -EINVAL;
}

const char *stream_format_name(enum stream_format f)
{
	return (size_t)f < NFORMATS ? formats[f].name : "?";
}

void streamfmt_init(struct streamfmt *s, enum stream_format f, const char *cwd)
{
	memset(s, 0, sizeof(*s));
	s->format = (size_t)f < NFORMATS ? f : STREAM_TEXT;
	s->cwd = cwd ? strdup(cwd) : NULL;
	s->turns = -1;
	s->duration_ms = -1;
	s->at_bol = true;
	buf_init(&s->result, TEXT_MAX);
	buf_init(&s->segment, TEXT_MAX);
	buf_init(&s->error, REASON_MAX);
	buf_init(&s->pending, REASON_MAX);
	buf_init(&s->denied, REASON_MAX);
	buf_init(&s->seen, 1 << 16);
	buf_init(&s->login, REASON_MAX);
}

void streamfmt_release(struct streamfmt *s)
{
	free(s->cwd);
	s->cwd = NULL;
	buf_release(&s->result);
	buf_release(&s->segment);
	buf_release(&s->error);
	buf_release(&s->pending);
	buf_release(&s->denied);
	buf_release(&s->seen);
	buf_release(&s->login);
}

static int pass_through(struct streamfmt *s, const char *line, size_t len,
			struct buf *out)
{
	int r;

	if ((r = sf_end_line(s, out)) < 0 || (r = buf_add(out, line, len)) < 0)
		return r;
	/* a CLI may say it is not logged in as plain text, not an event */
	sf_note_login(s, line, len);
	s->at_bol = false;
	return sf_end_line(s, out);
}

int streamfmt_feed(struct streamfmt *s, const char *line, size_t len,
		   struct buf *out)
{
	const struct event_handler *h = formats[s->format].events;
	const char *end = NULL, *type;
	cJSON *ev;
	int r = 0;

	while (len && line[len - 1] == '\r')
		len--;
	if (!h)
		return pass_through(s, line, len, out);
	if (!len || strspn(line, " \t") == len)
		return 0;
	ev = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (ev && end)
		while (end < line + len && strchr(" \t", *end))
			end++;
	if (!ev || !cJSON_IsObject(ev) || end != line + len ||
	    !(type = jstr(ev, "type"))) {
		cJSON_Delete(ev);
		return pass_through(s, line, len, out);
	}
	for (; h->type; h++)
		if (!strcmp(h->type, type)) {
			r = h->fn(s, ev, out);
			break;
		}
	cJSON_Delete(ev);
	return r;
}

int streamfmt_feed_overlong(struct streamfmt *s, size_t len, struct buf *out)
{
	int r;

	if ((r = sf_end_line(s, out)) < 0)
		return r;
	return buf_printf(out, "[line too long: %zu bytes]\n", len);
}

int streamfmt_finish(struct streamfmt *s, struct buf *out)
{
	if (s->pending.len && !s->error.len)
		buf_add(&s->error, s->pending.ptr, s->pending.len);
	buf_truncate(&s->pending, 0);
	/* no final message in the stream: the last stretch of assistant text */
	if (!s->has_result && s->format != STREAM_TEXT && s->segment.len)
		sf_set_result(s, buf_cstr(&s->segment));
	return sf_end_line(s, out);
}

void streamfmt_fail(struct streamfmt *s, const char *reason)
{
	sf_set_reason(&s->error, reason);
}

int streamfmt_exit(struct streamfmt *s, int wait_status)
{
	const struct exit_reason *x = formats[s->format].exits;
	struct buf why;
	int code;

	if (WIFSIGNALED(wait_status)) {
		int sig = WTERMSIG(wait_status);

		buf_init(&why, REASON_MAX);
		buf_printf(&why, "killed by signal %d (%s)", sig, strsignal(sig));
		sf_set_reason(&s->error, buf_cstr(&why));
		buf_release(&why);
		return 128 + sig;
	}
	code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 1;
	if (code == 0) {
		if (!s->error.len && s->permission_denials > 0)
			sf_set_reason(&s->error, "permission denials");
		return s->error.len ? 1 : 0;
	}
	buf_init(&why, REASON_MAX);
	for (; x && x->reason; x++)
		if (x->code == code)
			buf_printf(&why, "%s (exit %d)", x->reason, code);
	if (why.len && s->error.len)
		buf_printf(&why, ": %s", buf_cstr(&s->error));
	else if (s->error.len)
		buf_printf(&why, "%s (exit %d)", buf_cstr(&s->error), code);
	else if (!why.len)
		buf_printf(&why, "exited with status %d", code);
	sf_set_reason(&s->error, buf_cstr(&why));
	buf_release(&why);
	return code;
}

int streamfmt_result_json(const struct streamfmt *s, struct buf *out)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	int r = -ENOMEM;

	if (!o)
		return -ENOMEM;
#define NUM_OR_NULL(key, cond, val) \
	((cond) ? cJSON_AddNumberToObject(o, key, (double)(val)) \
		: cJSON_AddNullToObject(o, key))
	if (!(s->has_result ? cJSON_AddStringToObject(o, "result", buf_cstr(&s->result))
			    : cJSON_AddNullToObject(o, "result")) ||
	    !cJSON_AddNumberToObject(o, "input_tokens", (double)s->input_tokens) ||
	    !cJSON_AddNumberToObject(o, "output_tokens", (double)s->output_tokens) ||
	    !cJSON_AddNumberToObject(o, "cache_read_tokens", (double)s->cache_read_tokens) ||
	    !cJSON_AddNumberToObject(o, "cache_write_tokens", (double)s->cache_write_tokens) ||
	    !NUM_OR_NULL("cost_usd", s->has_cost, s->cost_usd) ||
	    !NUM_OR_NULL("turns", s->turns >= 0, s->turns) ||
	    !NUM_OR_NULL("duration_ms", s->duration_ms >= 0, s->duration_ms) ||
	    !cJSON_AddNumberToObject(o, "tool_calls", (double)s->tool_calls) ||
	    !(s->error.len ? cJSON_AddStringToObject(o, "error", buf_cstr(&s->error))
			   : cJSON_AddNullToObject(o, "error")) ||
	    !cJSON_AddNumberToObject(o, "permission_denials", (double)s->permission_denials) ||
	    !(s->denied.len ? cJSON_AddStringToObject(o, "denied", buf_cstr(&s->denied))
			    : cJSON_AddNullToObject(o, "denied")))
		goto out;
#undef NUM_OR_NULL
	if (!(text = cJSON_PrintUnformatted(o)))
		goto out;
	if ((r = buf_puts(out, text)) == 0)
		r = buf_puts(out, "\n");
out:
	free(text);
	cJSON_Delete(o);
	return r;
}
