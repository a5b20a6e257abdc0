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

#include "streamfmt.h"

#define TEXT_MAX (1u << 20)	/* result and segment */
#define REASON_MAX 4096
#define ARG_SHOWN 160		/* bytes of a tool's argument in its line */

typedef int (*event_fn)(struct streamfmt *s, const cJSON *ev, struct buf *out);

struct event_handler {
	const char *type;
	event_fn fn;
};

/* ---- JSON helpers ------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnum(const cJSON *o, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

/* No real count comes near this; capped, totals of many stay far from
 * overflowing a long long. */
#define COUNT_MAX 1e15

/* A count from the stream, within [0, COUNT_MAX] (NaN is 0). */
static long long count_of(double d)
{
	if (!(d > 0))
		return 0;
	return d < COUNT_MAX ? (long long)d : (long long)COUNT_MAX;
}

/* A count: 0 when missing or not a number, at most COUNT_MAX. */
static long long jcount(const cJSON *o, const char *key)
{
	double d;

	return jnum(o, key, &d) ? count_of(d) : 0;
}

static const cJSON *jobj(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsObject(v) ? v : NULL;
}

static const cJSON *jarr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsArray(v) ? v : NULL;
}

static bool jtrue(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* ---- transcript --------------------------------------------------------- */

static int end_line(struct streamfmt *s, struct buf *out)
{
	int r = 0;

	if (!s->at_bol)
		r = buf_puts(out, "\n");
	s->at_bol = true;
	return r;
}

/* Assistant text, as it comes; it also forms the candidate final message. */
static int emit_text(struct streamfmt *s, struct buf *out, const char *text,
		     bool whole)
{
	size_t n = strlen(text);
	int r;

	if (!n)
		return 0;
	if (whole && (r = end_line(s, out)) < 0)
		return r;
	if ((r = buf_add(out, text, n)) < 0)
		return r;
	s->at_bol = text[n - 1] == '\n';
	/* the candidate result is best effort: past its cap it stays as is */
	buf_add(&s->segment, text, n);
	return whole ? end_line(s, out) : 0;
}

static size_t utf8_cut(const char *p, size_t n)
{
	while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* One line of at most ARG_SHOWN bytes: the first line of s, relative to
 * cwd when it is a path beneath it, marked where something was left off. */
static void shorten(struct buf *b, const char *cwd, const char *s)
{
	size_t n, len, clen;
	bool more = false;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	clen = cwd ? strlen(cwd) : 0;
	if (clen > 1 && !strncmp(s, cwd, clen)) {
		if (s[clen] == '/')
			s += clen + 1;
		else if (!s[clen])
			s = ".";
	}
	len = strcspn(s, "\r\n");
	if (s[len] && s[len + strspn(s + len, "\r\n \t")])
		more = true;
	n = len;
	if (n > ARG_SHOWN) {
		n = utf8_cut(s, ARG_SHOWN);
		more = true;
	}
	buf_add(b, s, n);
	if (more)
		buf_puts(b, " …");
}

/* The most telling argument of a tool call, by the names the CLIs use. */
static const char *tool_arg(const cJSON *input)
{
	static const char *const keys[] = {
		"file_path", "filePath", "absolute_path", "notebook_path",
		"path", "dir_path", "command", "cmd", "pattern", "url",
		"query", "description", "prompt", NULL
	};
	const char *const *k;
	const char *v;

	for (k = keys; *k; k++)
		if ((v = jstr(input, *k)) && *v)
			return v;
	return NULL;
}

/* "» NAME ARG" on a line of its own; a tool call ends the text segment. */
static int emit_tool(struct streamfmt *s, struct buf *out, const char *name,
		     const char *arg)
{
	struct buf line;
	int r;

	buf_init(&line, REASON_MAX);
	shorten(&line, NULL, name && *name ? name : "tool");
	if (arg && *arg) {
		buf_puts(&line, " ");
		shorten(&line, s->cwd, arg);
	}
	s->tool_calls++;
	buf_truncate(&s->segment, 0);
	if ((r = end_line(s, out)) == 0 &&
	    (r = buf_printf(out, "» %s\n", buf_cstr(&line))) == 0)
		s->at_bol = true;
	buf_release(&line);
	return r;
}

/* "! KIND: MESSAGE" (or "! MESSAGE" without a kind), first line only. */
static int emit_error(struct streamfmt *s, struct buf *out, const char *kind,
		      const char *msg)
{
	struct buf line;
	int r;

	buf_init(&line, REASON_MAX);
	shorten(&line, NULL, msg && *msg ? msg : "unknown error");
	if ((r = end_line(s, out)) == 0) {
		if (kind)
			r = buf_printf(out, "! %s: %s\n", kind, buf_cstr(&line));
		else
			r = buf_printf(out, "! %s\n", buf_cstr(&line));
	}
	buf_release(&line);
	return r;
}

static void set_reason(struct buf *b, const char *msg)
{
	size_t n;

	buf_truncate(b, 0);
	if (!msg || !*msg)
		msg = "unknown error";
	while (*msg == ' ' || *msg == '\n')
		msg++;
	n = strlen(msg);
	if (n > REASON_MAX - 8)
		n = utf8_cut(msg, REASON_MAX - 8);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	buf_add(b, msg, n);
}

/* The stream reported a failure: remember the first reason, say it. */
static int fail(struct streamfmt *s, struct buf *out, const char *msg)
{
	if (!s->error.len)
		set_reason(&s->error, msg);
	return emit_error(s, out, "error", msg);
}

static void set_result(struct streamfmt *s, const char *text)
{
	size_t n = strlen(text);

	while (n && strchr(" \t\r\n", text[n - 1]))
		n--;
	buf_truncate(&s->result, 0);
	if (n > TEXT_MAX)
		n = utf8_cut(text, TEXT_MAX);
	buf_add(&s->result, text, n);
	s->has_result = true;
}

/* ---- failed logins -------------------------------------------------------- */

/*
 * What each CLI says when it cannot log in, in its error or on a line of
 * its own, and what to tell the user instead: a first run on a machine
 * where the CLI was installed but never set up must say what to do, not
 * "exit 1". Checked in order, so the more precise words come first.
 */
static const struct login_hint {
	enum stream_format format;
	const char *words;	/* in the CLI's error or output; NULL: none */
	int code;		/* or its exit status says so; 0: never */
	const char *problem;	/* after the engine's name */
	const char *login;	/* how to log in; NULL: no way */
	const char *key;	/* "set KEY"; NULL: the variable the CLI names */
} login_hints[] = {
	/* claude -p: "Not logged in · Please run /login", then with a key
	 * the API refused: "Invalid API key · Fix external API key" */
	{ STREAM_CLAUDE, "Not logged in", 0, "is not logged in",
	  "run claude once to log in", "ANTHROPIC_API_KEY" },
	{ STREAM_CLAUDE, "Invalid API key", 0, "has an API key that was refused",
	  "run claude once to log in", "a valid ANTHROPIC_API_KEY" },
	{ STREAM_CLAUDE, "API Error: 401", 0, "has an API key that was refused",
	  "run claude once to log in", "a valid ANTHROPIC_API_KEY" },
	{ STREAM_CLAUDE, "authentication_failed", 0, "could not log in",
	  "run claude once to log in", "ANTHROPIC_API_KEY" },
	/* codex exec: "Missing environment variable: `KEY`." for a provider
	 * whose env_key is unset; a 401 when it is not logged in at all */
	{ STREAM_CODEX, "Missing environment variable", 0, "has no API key",
	  NULL, NULL },
	{ STREAM_CODEX, "Not logged in", 0, "is not logged in",
	  "run codex login", NULL },
	{ STREAM_CODEX, "401 Unauthorized", 0,
	  "is not logged in or its key was refused", "run codex login", NULL },
	/* gemini's exit status 41 is its authentication error */
	{ STREAM_GEMINI, NULL, 41, "could not log in",
	  "run gemini once to log in", "GEMINI_API_KEY" },
};

/* The first hint for format f whose words are in text, or whose exit
 * status is code. */
static const struct login_hint *login_hint_of(enum stream_format f,
					      const char *text, size_t len,
					      int code)
{
	size_t i;

	for (i = 0; i < sizeof(login_hints) / sizeof(login_hints[0]); i++) {
		const struct login_hint *h = &login_hints[i];

		if (h->format != f)
			continue;
		if ((h->code && h->code == code) ||
		    (h->words && text && memmem(text, len, h->words, strlen(h->words))))
			return h;
	}
	return NULL;
}

/* Keep the first thing the CLI said about a failed login. */
static void note_login(struct streamfmt *s, const char *text, size_t len)
{
	if (s->login.len || !text || !login_hint_of(s->format, text, len, 0))
		return;
	buf_add(&s->login, text, len < REASON_MAX - 8 ? len : utf8_cut(text, REASON_MAX - 8));
}

/* The variable in "Missing environment variable: `NAME`.", into key. */
static bool key_named(const char *text, char *key, size_t len)
{
	const char *p = text ? strchr(text, '`') : NULL;
	size_t n;

	if (!p)
		return false;
	p++;
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
	if (!n || n >= len || p[n] != '`')
		return false;
	memcpy(key, p, n);
	key[n] = '\0';
	return true;
}

bool streamfmt_explain_login(struct streamfmt *s, const char *engine, int code)
{
	const struct login_hint *h;
	const char *words = buf_cstr(&s->error);
	char key[128];
	struct buf why;

	if (!code)
		return false;
	/* its error first: it says best what went wrong; then a line of its
	 * own or an event's field */
	h = login_hint_of(s->format, words, s->error.len, code);
	if (!h) {
		words = buf_cstr(&s->login);
		h = login_hint_of(s->format, words, s->login.len, code);
	}
	if (!h)
		return false;
	if (h->key)
		snprintf(key, sizeof(key), "%s", h->key);
	else if (!key_named(words, key, sizeof(key)))
		key[0] = '\0';
	buf_init(&why, REASON_MAX);
	buf_printf(&why, "%s %s: ", engine, h->problem);
	if (h->login)
		buf_printf(&why, "%s, ", h->login);
	if (*key)
		buf_printf(&why, "set %s, ", key);
	buf_puts(&why, h->login || *key ? "or mount with -o engine=sh" :
		 "set its provider's key, or mount with -o engine=sh");
	set_reason(&s->error, buf_cstr(&why));
	buf_release(&why);
	return true;
}

/* ---- claude ------------------------------------------------------------- */

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

static int claude_assistant(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *msg = jobj(ev, "message");
	const cJSON *block;
	int r = 0;

	cJSON_ArrayForEach(block, jarr(msg, "content")) {
		const char *type = jstr(block, "type");

		if (!type)
			continue;
		if (!strcmp(type, "text") && !s->partial && jstr(block, "text"))
			r = emit_text(s, out, jstr(block, "text"), true);
		else if (!strcmp(type, "tool_use"))
			r = emit_tool(s, out, jstr(block, "name"),
				      tool_arg(jobj(block, "input")));
		if (r < 0)
			return r;
	}
	/* an API failure comes as a made-up message; its kind is here */
	if (jstr(ev, "error"))
		note_login(s, jstr(ev, "error"), strlen(jstr(ev, "error")));
	return 0;
}

static int claude_user(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *block;
	int r;

	cJSON_ArrayForEach(block, jarr(jobj(ev, "message"), "content")) {
		const char *type = jstr(block, "type");

		if (type && !strcmp(type, "tool_result") && jtrue(block, "is_error") &&
		    (r = emit_error(s, out, NULL, claude_result_text(block))) < 0)
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
		return emit_text(s, out, jstr(delta, "text"), false);
	}
	if (!strcmp(type, "content_block_stop"))
		return end_line(s, out);
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
		set_result(s, result);

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
		r = fail(s, out, buf_cstr(&why));
	}

	d = jarr(ev, "permission_denials");
	s->permission_denials = cJSON_GetArraySize(d);
	cJSON_ArrayForEach(it, d) {
		const char *arg = tool_arg(jobj(it, "tool_input"));

		if (s->denied.len)
			buf_puts(&s->denied, ", ");
		shorten(&s->denied, NULL, jstr(it, "tool_name") ? jstr(it, "tool_name") : "tool");
		if (arg) {
			buf_puts(&s->denied, " ");
			shorten(&s->denied, s->cwd, arg);
		}
	}
	if (r == 0 && s->permission_denials > 0) {
		buf_truncate(&why, 0);
		buf_printf(&why, "%lld permission denial%s (%s): the engine needs a "
			   "permission mode that allows them, such as "
			   "--permission-mode acceptEdits",
			   s->permission_denials, s->permission_denials == 1 ? "" : "s",
			   buf_cstr(&s->denied));
		r = fail(s, out, buf_cstr(&why));
	}
	buf_release(&why);
	return r;
}

static int any_error(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev, "error");
	const char *msg = jstr(ev, "message");

	if (!msg && cJSON_IsString(e))
		msg = e->valuestring;
	if (!msg && e) {
		msg = jstr(jobj(e, "data"), "message");
		if (!msg)
			msg = jstr(e, "message");
		if (!msg)
			msg = jstr(e, "name");
	}
	return fail(s, out, msg);
}

static const struct event_handler claude_events[] = {
	{ "assistant", claude_assistant },
	{ "user", claude_user },
	{ "stream_event", claude_stream_event },
	{ "result", claude_result },
	{ "error", any_error },
	{ NULL, NULL }
};

/* ---- codex -------------------------------------------------------------- */

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
		r = emit_tool(s, out, "Bash",
			      codex_command(jstr(item, "command") ? jstr(item, "command") : "", &tmp));
	} else if (!strcmp(type, "mcp_tool_call")) {
		buf_printf(&tmp, "%s.%s", jstr(item, "server") ? jstr(item, "server") : "mcp",
			   jstr(item, "tool") ? jstr(item, "tool") : "tool");
		r = emit_tool(s, out, buf_cstr(&tmp), tool_arg(jobj(item, "arguments")));
	} else if (!strcmp(type, "web_search")) {
		r = emit_tool(s, out, "WebSearch", jstr(item, "query"));
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
		if ((r = emit_tool(s, out, verb, jstr(c, "path"))) < 0)
			return r;
	}
	if (status && !strcmp(status, "failed"))
		return emit_error(s, out, NULL, "patch failed");
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
		set_result(s, jstr(item, "text"));
		return emit_text(s, out, jstr(item, "text"), true);
	}
	if (!strcmp(type, "file_change"))
		return codex_file_change(s, item, out);
	if (!strcmp(type, "error"))
		return emit_error(s, out, "warning", jstr(item, "message"));
	if (!codex_is_call(type))
		return 0;
	/* shown when it started, unless the start was never reported */
	if (!codex_seen(s, jstr(item, "id"), false) && (r = codex_show(s, item, out)) < 0)
		return r;
	if (!strcmp(type, "command_execution") && jnum(item, "exit_code", &code) && code != 0) {
		struct buf msg;

		buf_init(&msg, REASON_MAX);
		buf_printf(&msg, "exit %.0f", code);
		r = emit_error(s, out, NULL, buf_cstr(&msg));
		buf_release(&msg);
		return r;
	}
	if (!strcmp(type, "mcp_tool_call") && jobj(item, "error"))
		return emit_error(s, out, NULL, jstr(jobj(item, "error"), "message"));
	if (status && (!strcmp(status, "failed") || !strcmp(status, "declined")))
		return emit_error(s, out, NULL, status);
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
	set_reason(&reason, msg);
	if (s->pending.len && !strcmp(buf_cstr(&reason), buf_cstr(&s->pending))) {
		if (!s->error.len)
			set_reason(&s->error, msg);
	} else {
		r = fail(s, out, msg);
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
		r = emit_error(s, out, "warning", msg);
	} else {
		set_reason(&s->pending, msg);
		r = emit_error(s, out, "error", msg);
	}
	cJSON_Delete(j);
	return r;
}

static const struct event_handler codex_events[] = {
	{ "item.started", codex_item_started },
	{ "item.completed", codex_item_completed },
	{ "turn.completed", codex_turn_completed },
	{ "turn.failed", codex_turn_failed },
	{ "error", codex_error },
	{ NULL, NULL }
};

/* ---- gemini ------------------------------------------------------------- */

static int gemini_message(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *role = jstr(ev, "role"), *text = jstr(ev, "content");

	if (!role || strcmp(role, "assistant") || !text)
		return 0;
	return emit_text(s, out, text, !jtrue(ev, "delta"));
}

static int gemini_tool_use(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	return emit_tool(s, out, jstr(ev, "tool_name"), tool_arg(jobj(ev, "parameters")));
}

static int gemini_tool_result(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *status = jstr(ev, "status");
	const char *msg = jstr(jobj(ev, "error"), "message");

	if (!status || strcmp(status, "error"))
		return 0;
	return emit_error(s, out, NULL, msg ? msg : jstr(ev, "output"));
}

static int gemini_error(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *severity = jstr(ev, "severity");

	if (severity && !strcmp(severity, "warning"))
		return emit_error(s, out, "warning", jstr(ev, "message"));
	return fail(s, out, jstr(ev, "message"));
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
		return fail(s, out, msg ? msg : status);
	}
	return 0;
}

static const struct event_handler gemini_events[] = {
	{ "message", gemini_message },
	{ "tool_use", gemini_tool_use },
	{ "tool_result", gemini_tool_result },
	{ "error", gemini_error },
	{ "result", gemini_result },
	{ NULL, NULL }
};

/* ---- opencode ----------------------------------------------------------- */

static int opencode_text(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const char *text = jstr(jobj(ev, "part"), "text");

	return text ? emit_text(s, out, text, true) : 0;
}

static int opencode_tool_use(struct streamfmt *s, const cJSON *ev, struct buf *out)
{
	const cJSON *part = jobj(ev, "part");
	const cJSON *state = jobj(part, "state");
	const char *status = jstr(state, "status");
	int r;

	if ((r = emit_tool(s, out, jstr(part, "tool"), tool_arg(jobj(state, "input")))) < 0)
		return r;
	if (status && !strcmp(status, "error"))
		return emit_error(s, out, NULL, jstr(state, "error"));
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

static const struct event_handler opencode_events[] = {
	{ "text", opencode_text },
	{ "tool_use", opencode_tool_use },
	{ "step_finish", opencode_step_finish },
	{ "error", any_error },
	{ NULL, NULL }
};

/* ---- formats ------------------------------------------------------------ */

struct exit_reason {
	int code;
	const char *reason;
};

static const struct exit_reason gemini_exits[] = {
	{ 41, "authentication error" },
	{ 42, "input error" },
	{ 44, "sandbox error" },
	{ 52, "configuration error" },
	{ 53, "turn limit reached" },
	{ 54, "tool execution error" },
	{ 55, "untrusted workspace" },
	{ 0, NULL }
};

static const struct format {
	const char *name;
	const struct event_handler *events;	/* NULL: plain text */
	const struct exit_reason *exits;
} formats[] = {
	[STREAM_TEXT] = { "text", NULL, NULL },
	[STREAM_CLAUDE] = { "claude", claude_events, NULL },
	[STREAM_CODEX] = { "codex", codex_events, NULL },
	[STREAM_GEMINI] = { "gemini", gemini_events, gemini_exits },
	[STREAM_OPENCODE] = { "opencode", opencode_events, NULL },
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

	if ((r = end_line(s, out)) < 0 || (r = buf_add(out, line, len)) < 0)
		return r;
	/* a CLI may say it is not logged in as plain text, not an event */
	note_login(s, line, len);
	s->at_bol = false;
	return end_line(s, out);
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

	if ((r = end_line(s, out)) < 0)
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
		set_result(s, buf_cstr(&s->segment));
	return end_line(s, out);
}

void streamfmt_fail(struct streamfmt *s, const char *reason)
{
	set_reason(&s->error, reason);
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
		set_reason(&s->error, buf_cstr(&why));
		buf_release(&why);
		return 128 + sig;
	}
	code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 1;
	if (code == 0) {
		if (!s->error.len && s->permission_denials > 0)
			set_reason(&s->error, "permission denials");
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
	set_reason(&s->error, buf_cstr(&why));
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
