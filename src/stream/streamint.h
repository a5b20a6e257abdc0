/*
 * streamint.h: what the files of src/stream/ share. One file per CLI
 * format (claude.c, codex.c, gemini.c, opencode.c), each a table of event
 * types and the functions that handle them; common.c the transcript, the
 * failure's reason and the login hints; streamfmt.c the table of formats
 * and the functions of include/streamfmt.h. A new format is one file, its
 * table here and a row in streamfmt.c's formats[].
 *
 * Everything here works on one struct streamfmt, which belongs to one
 * thread at a time; nothing is shared between parsers.
 */
#ifndef PAI_STREAMINT_H
#define PAI_STREAMINT_H

#include <stdbool.h>
#include <stddef.h>

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

/* A CLI's own exit status with a meaning: "authentication error (exit 41)". */
struct exit_reason {
	int code;
	const char *reason;
};

/* The formats' tables; each ends with a NULL type. */
extern const struct event_handler sf_claude_events[];
extern const struct event_handler sf_codex_events[];
extern const struct event_handler sf_gemini_events[];
extern const struct event_handler sf_opencode_events[];
extern const struct exit_reason sf_gemini_exits[];

/* ---- JSON helpers ------------------------------------------------------- */

static inline const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline bool jnum(const cJSON *o, const char *key, double *out)
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
static inline long long count_of(double d)
{
	if (!(d > 0))
		return 0;
	return d < COUNT_MAX ? (long long)d : (long long)COUNT_MAX;
}

/* A count: 0 when missing or not a number, at most COUNT_MAX. */
static inline long long jcount(const cJSON *o, const char *key)
{
	double d;

	return jnum(o, key, &d) ? count_of(d) : 0;
}

static inline const cJSON *jobj(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsObject(v) ? v : NULL;
}

static inline const cJSON *jarr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsArray(v) ? v : NULL;
}

static inline bool jtrue(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* ---- common.c: the transcript ------------------------------------------- */

/* End the transcript's line if it is open. */
int sf_end_line(struct streamfmt *s, struct buf *out);
/* Assistant text, as it comes (whole: a message of its own, on its own
 * lines); it also forms the candidate final message. */
int sf_emit_text(struct streamfmt *s, struct buf *out, const char *text,
		 bool whole);
/* One line of at most ARG_SHOWN bytes onto b: the first line of s,
 * relative to cwd when it is a path beneath it. */
void sf_shorten(struct buf *b, const char *cwd, const char *s);
/* The most telling argument of a tool call, by the names the CLIs use. */
const char *sf_tool_arg(const cJSON *input);
/* "» NAME ARG" on a line of its own; a tool call ends the text segment. */
int sf_emit_tool(struct streamfmt *s, struct buf *out, const char *name,
		 const char *arg);
/* "! KIND: MESSAGE" (or "! MESSAGE" without a kind), first line only. */
int sf_emit_error(struct streamfmt *s, struct buf *out, const char *kind,
		  const char *msg);
/* b holds msg, trimmed and cut to REASON_MAX, "unknown error" for none. */
void sf_set_reason(struct buf *b, const char *msg);
/* The stream reported a failure: remember the first reason, say it. */
int sf_fail(struct streamfmt *s, struct buf *out, const char *msg);
/* The final message, trailing blanks trimmed, cut at TEXT_MAX. */
void sf_set_result(struct streamfmt *s, const char *text);
/* Keep the first thing the CLI said about a failed login. */
void sf_note_login(struct streamfmt *s, const char *text, size_t len);
/* An "error" event of any shape (claude, opencode): its message failed
 * the run. */
int sf_any_error(struct streamfmt *s, const cJSON *ev, struct buf *out);

#endif
