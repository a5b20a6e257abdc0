/*
 * turn: what one model response amounts to once its stream is read (text,
 * tool calls, stop reason, usage), shared by both protocols; and the error
 * message inside an API's error body.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define TURN_TEXT_MAX (4 << 20)
#define TOOL_ARGS_MAX (8 << 20)
#define TURN_CALLS_MAX 256

void turn_init(struct turn *t)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->text, TURN_TEXT_MAX);
	buf_init(&t->error, 4096);
	t->block = -1;
}

void turn_release(struct turn *t)
{
	size_t i;

	for (i = 0; i < t->ncalls; i++) {
		free(t->calls[i].id);
		free(t->calls[i].name);
		buf_release(&t->calls[i].args);
		tool_result_release(&t->calls[i].res);
	}
	free(t->calls);
	buf_release(&t->text);
	buf_release(&t->error);
	t->calls = NULL;
	t->ncalls = 0;
}

struct tool_call *turn_call(struct turn *t, size_t i)
{
	struct tool_call *v;

	if (i < t->ncalls)
		return &t->calls[i];
	if (i != t->ncalls || i >= TURN_CALLS_MAX)
		return NULL;	/* indexes come in order, and not by the thousand */
	v = realloc(t->calls, (t->ncalls + 1) * sizeof(*v));
	if (!v)
		return NULL;
	t->calls = v;
	v = &t->calls[t->ncalls++];
	v->id = NULL;
	v->name = NULL;
	buf_init(&v->args, TOOL_ARGS_MAX);
	tool_result_init(&v->res);
	return v;
}

void turn_text(struct turn *t, const char *s, size_t n)
{
	if (!n)
		return;
	buf_add(&t->text, s, n);
	if (t->on_text)
		t->on_text(t->ctx, s, n);
}

int turn_fail(struct turn *t, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	if (t->error.len)
		return -1;	/* the first error is the one that matters */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_puts(&t->error, msg);
	return -1;
}

/* One line of at most 300 bytes of s, for messages. */
static void add_line(struct buf *out, const char *s, size_t len)
{
	size_t i;

	while (len && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
		s++;
		len--;
	}
	for (i = 0; i < len && i < 300; i++)
		buf_add(out, s[i] == '\n' || s[i] == '\r' ? " " : &s[i], 1);
	if (len > 300)
		buf_puts(out, "...");
}

int api_error_message(const char *body, size_t len, struct buf *out)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	const cJSON *e, *m, *ty;

	e = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsString(e)) {	/* Ollama: {"error": "model not found"} */
		add_line(out, e->valuestring, strlen(e->valuestring));
	} else if (cJSON_IsObject(e) || cJSON_IsObject(j)) {
		const cJSON *o = cJSON_IsObject(e) ? e : j;

		m = cJSON_GetObjectItemCaseSensitive(o, "message");
		ty = cJSON_GetObjectItemCaseSensitive(o, "type");
		if (cJSON_IsString(m)) {
			add_line(out, m->valuestring, strlen(m->valuestring));
			if (cJSON_IsString(ty) && *ty->valuestring)
				buf_printf(out, " (%s)", ty->valuestring);
		} else {
			add_line(out, body, len);
		}
	} else {
		add_line(out, body, len);
	}
	cJSON_Delete(j);
	return out->len ? 0 : -1;
}
