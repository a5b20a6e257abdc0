/*
 * stream/common: what the formats share: the transcript's lines (text,
 * tool calls, errors), the failure's reason and the final message, and
 * the words by which each CLI says it could not log in.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "streamint.h"

/* ---- transcript --------------------------------------------------------- */

int sf_end_line(struct streamfmt *s, struct buf *out)
{
	int r = 0;

	if (!s->at_bol)
		r = buf_puts(out, "\n");
	s->at_bol = true;
	return r;
}

/* Assistant text, as it comes; it also forms the candidate final message. */
int sf_emit_text(struct streamfmt *s, struct buf *out, const char *text,
		 bool whole)
{
	size_t n = strlen(text);
	int r;

	if (!n)
		return 0;
	if (whole && (r = sf_end_line(s, out)) < 0)
		return r;
	if ((r = buf_add(out, text, n)) < 0)
		return r;
	s->at_bol = text[n - 1] == '\n';
	/* the candidate result is best effort: past its cap it stays as is */
	buf_add(&s->segment, text, n);
	return whole ? sf_end_line(s, out) : 0;
}

static size_t utf8_cut(const char *p, size_t n)
{
	while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* One line of at most ARG_SHOWN bytes: the first line of s, relative to
 * cwd when it is a path beneath it, marked where something was left off. */
void sf_shorten(struct buf *b, const char *cwd, const char *s)
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
const char *sf_tool_arg(const cJSON *input)
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
int sf_emit_tool(struct streamfmt *s, struct buf *out, const char *name,
		 const char *arg)
{
	struct buf line;
	int r;

	buf_init(&line, REASON_MAX);
	sf_shorten(&line, NULL, name && *name ? name : "tool");
	if (arg && *arg) {
		buf_puts(&line, " ");
		sf_shorten(&line, s->cwd, arg);
	}
	s->tool_calls++;
	buf_truncate(&s->segment, 0);
	if ((r = sf_end_line(s, out)) == 0 &&
	    (r = buf_printf(out, "» %s\n", buf_cstr(&line))) == 0)
		s->at_bol = true;
	buf_release(&line);
	return r;
}

/* "! KIND: MESSAGE" (or "! MESSAGE" without a kind), first line only. */
int sf_emit_error(struct streamfmt *s, struct buf *out, const char *kind,
		  const char *msg)
{
	struct buf line;
	int r;

	buf_init(&line, REASON_MAX);
	sf_shorten(&line, NULL, msg && *msg ? msg : "unknown error");
	if ((r = sf_end_line(s, out)) == 0) {
		if (kind)
			r = buf_printf(out, "! %s: %s\n", kind, buf_cstr(&line));
		else
			r = buf_printf(out, "! %s\n", buf_cstr(&line));
	}
	buf_release(&line);
	return r;
}

void sf_set_reason(struct buf *b, const char *msg)
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
int sf_fail(struct streamfmt *s, struct buf *out, const char *msg)
{
	if (!s->error.len)
		sf_set_reason(&s->error, msg);
	return sf_emit_error(s, out, "error", msg);
}

void sf_set_result(struct streamfmt *s, const char *text)
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
void sf_note_login(struct streamfmt *s, const char *text, size_t len)
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
	sf_set_reason(&s->error, buf_cstr(&why));
	buf_release(&why);
	return true;
}

int sf_any_error(struct streamfmt *s, const cJSON *ev, struct buf *out)
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
	return sf_fail(s, out, msg);
}
