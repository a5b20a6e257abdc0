/*
 * stream/codex: `codex exec --json`, the events of codex-rs
 * exec_events.rs (thread.*, turn.*, item.*).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "streamint.h"

/* `bash -lc 'make test'` shows as `make test`. */
static const char *codex_command(const char *cmd, struct buf *tmp)
{
	static const char *const shells[] = {
		"bash -lc ", "/bin/bash -lc ", "/usr/bin/bash -lc ", "sh -c ",
		"/bin/sh -c ", "bash -c ", "/bin/bash -c ", "zsh -lc ", NULL
	};
	const char *const *p;
	size_t n;

	for (p = shells; *p; p++) {
		if (strncmp(cmd, *p, strlen(*p)))
			continue;
		cmd += strlen(*p);
		n = strlen(cmd);
		if (n >= 2 && (cmd[0] == '\'' || cmd[0] == '"') && cmd[n - 1] == cmd[0]) {
			buf_add(tmp, cmd + 1, n - 2);
			return buf_cstr(tmp);
		}
		return cmd;
	}
	return cmd;
}

static bool codex_seen(struct streamfmt *s, const char *id, bool add)
{
	struct buf key;
	bool found;

	if (!id)
		return false;
	buf_init(&key, REASON_MAX);
	buf_printf(&key, "\n%s\n", id);
	found = s->seen.len && strstr(buf_cstr(&s->seen), buf_cstr(&key));
	/* "\nid1\nid2\n": past the cap, forget the old ones */
	if (add && !found && buf_add(&s->seen, s->seen.len ? key.ptr + 1 : key.ptr,
				     s->seen.len ? key.len - 1 : key.len) < 0) {
		buf_truncate(&s->seen, 0);
		buf_add(&s->seen, key.ptr, key.len);
	}
	buf_release(&key);
	return found;
}

/* The line shown for a command, tool call or search item. */
static int codex_show(struct streamfmt *s, const cJSON *item, struct buf *out)
{
	const char *type = jstr(item, "type");
	struct buf tmp;
	int r = 0;

	buf_init(&tmp, TEXT_MAX);
	if (!strcmp(type, "command_execution")) {
		r = sf_emit_tool(s, out, "Bash",
				 codex_command(jstr(item, "command") ? jstr(item, "command") : "", &tmp));
	} else if (!strcmp(type, "mcp_tool_call")) {
		buf_printf(&tmp, "%s.%s", jstr(item, "server") ? jstr(item, "server") : "mcp",
			   jstr(item, "tool") ? jstr(item, "tool") : "tool");
		r = sf_emit_tool(s, out, buf_cstr(&tmp), sf_tool_arg(jobj(item, "arguments")));
	} else if (!strcmp(type, "web_search")) {
		r = sf_emit_tool(s, out, "WebSearch", jstr(item, "query"));
	}
	buf_release(&tmp);
	return r;
}

static bool codex_is_call(const char *type)
{
	return !strcmp(type, "command_execution") || !strcmp(type, "mcp_tool_call") ||
	       !strcmp(type, "web_search");
}

static int codex_item_started(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *item = jobj(ev, "item");
	const char *type = jstr(item, "type");

	if (!type || !codex_is_call(type) || codex_seen(s, jstr(item, "id"), true))
		return 0;
	return codex_show(s, item, out);
}

static int codex_file_change(struct streamfmt *s, const cJSON *item, struct buf *out)
{
	static const struct { const char *kind, *verb; } verbs[] = {
		{ "add", "Write" }, { "update", "Edit" }, { "delete", "Delete" },
	};
	const cJSON *c;
	const char *status = jstr(item, "status");
	size_t i;
	int r;

	cJSON_ArrayForEach(c, jarr(item, "changes")) {
		const char *kind = jstr(c, "kind"), *verb = "Edit";

		for (i = 0; kind && i < sizeof(verbs) / sizeof(verbs[0]); i++)
			if (!strcmp(kind, verbs[i].kind))
				verb = verbs[i].verb;
		if ((r = sf_emit_tool(s, out, verb, jstr(c, "path"))) < 0)
			return r;
	}
	if (status && !strcmp(status, "failed"))
		return sf_emit_error(s, out, NULL, "patch failed");
	return 0;
}

static int codex_item_completed(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *item = jobj(ev, "item");
	const char *type = jstr(item, "type");
	const char *status = jstr(item, "status");
	double code;
	int r;

	if (!type)
		return 0;
	if (!strcmp(type, "agent_message") && jstr(item, "text")) {
		sf_set_result(s, jstr(item, "text"));
		return sf_emit_text(s, out, jstr(item, "text"), true);
	}
	if (!strcmp(type, "file_change"))
		return codex_file_change(s, item, out);
	if (!strcmp(type, "error"))
		return sf_emit_error(s, out, "warning", jstr(item, "message"));
	if (!codex_is_call(type))
		return 0;
	/* shown when it started, unless the start was never reported */
	if (!codex_seen(s, jstr(item, "id"), false) && (r = codex_show(s, item, out)) < 0)
		return r;
	if (!strcmp(type, "command_execution") && jnum(item, "exit_code", &code) && code != 0) {
		struct buf msg;

		buf_init(&msg, REASON_MAX);
		buf_printf(&msg, "exit %.0f", code);
		r = sf_emit_error(s, out, NULL, buf_cstr(&msg));
		buf_release(&msg);
		return r;
	}
	if (!strcmp(type, "mcp_tool_call") && jobj(item, "error"))
		return sf_emit_error(s, out, NULL, jstr(jobj(item, "error"), "message"));
	if (status && (!strcmp(status, "failed") || !strcmp(status, "declined")))
		return sf_emit_error(s, out, NULL, status);
	return 0;
}

static int codex_turn_completed(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *usage = jobj(ev, "usage");

	/* input_tokens counts the cached ones too (OpenAI's convention) */
	s->input_tokens += jcount(usage, "input_tokens");
	s->cache_read_tokens += jcount(usage, "cached_input_tokens");
	s->output_tokens += jcount(usage, "output_tokens");
	/* the errors before a completed turn were retries that worked */
	buf_truncate(&s->pending, 0);
	return 0;
}

/*
 * codex passes some error bodies on as they came (a 400 shows as
 * {"error": {"message": "...", "type": ...}}): such a message reads as the
 * message inside it. *j holds what was parsed, for the caller to delete.
 */
static const char *codex_message(const char *msg, cJSON **j)
{
	const char *p = msg, *m;

	*j = NULL;
	if (!msg)
		return NULL;
	while (*p == ' ' || *p == '\n')
		p++;
	if (*p != '{' || !(*j = cJSON_Parse(p)))
		return msg;
	m = jstr(jobj(*j, "error"), "message");
	if (!m)
		m = jstr(*j, "message");
	return m && *m ? m : msg;
}

static int codex_turn_failed(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *e = jobj(ev, "error");
	cJSON *j;
	const char *msg = codex_message(jstr(e, "message"), &j);
	struct buf reason;
	int r = 0;

	if (!msg && s->pending.len)
		msg = buf_cstr(&s->pending);
	if (!msg)
		msg = "turn failed";
	/* codex reports the error, then the turn it failed with the same words */
	buf_init(&reason, REASON_MAX);
	sf_set_reason(&reason, msg);
	if (s->pending.len && !strcmp(buf_cstr(&reason), buf_cstr(&s->pending))) {
		if (!s->error.len)
			sf_set_reason(&s->error, msg);
	} else {
		r = sf_fail(s, out, msg);
	}
	buf_release(&reason);
	cJSON_Delete(j);
	return r;
}

/*
 * A top-level error is fatal, except that codex also reports its stream
 * retries this way ("Reconnecting... 2/5 (...)") and then goes on: such an
 * error counts only if no turn completes after it.
 */
static int codex_error(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	cJSON *j;
	const char *msg = codex_message(jstr(ev, "message"), &j);
	int r;

	if (msg && !strncmp(msg, "Reconnecting...", 15)) {
		r = sf_emit_error(s, out, "warning", msg);
	} else {
		sf_set_reason(&s->pending, msg);
		r = sf_emit_error(s, out, "error", msg);
	}
	cJSON_Delete(j);
	return r;
}

const struct event_handler sf_codex_events[] = {
	{ "item.started", codex_item_started },
	{ "item.completed", codex_item_completed },
	{ "turn.completed", codex_turn_completed },
	{ "turn.failed", codex_turn_failed },
	{ "error", codex_error },
	{ NULL, NULL }
};
