/*
 * redact: the values of the secrets the program knows (API keys from
 * its environment and its config) replaced by "[redacted]" in what it
 * writes to disk: task logs, the event log, an agent's raw stream and
 * result. A stream filter holds back a tail that may be the start of a
 * secret, so a key split across two writes is caught too.
 *
 *	struct redact r = { 0 };
 *	redact_add_env(&r, environ);
 *	struct redact_stream s = { &r };
 *	redact_feed(&s, data, n, &out);	// write out.ptr, out.len
 *	redact_flush(&s, &out);		// at the end
 */
#ifndef PAI_REDACT_H
#define PAI_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define REDACT_MARK "[redacted]"
/* Values shorter than this are not taken for secrets (they would match
 * ordinary words); longer than REDACT_MAX are cut to their start. */
#define REDACT_MIN 8
#define REDACT_MAX 4096

struct redact {
	char **v;	/* the values, longest first */
	size_t n;
};

/* A name that holds a secret: one with KEY, TOKEN, SECRET, PASSWORD,
 * PASSWD or CREDENTIAL in it (ANTHROPIC_API_KEY, GH_TOKEN ...). */
bool redact_secret_name(const char *name, size_t len);
/* The values of the entries of env ("KEY=VALUE") with a secret's name. */
int redact_add_env(struct redact *r, char *const env[]);
int redact_add(struct redact *r, const char *value);
void redact_release(struct redact *r);

/* The process's own table: set once at start, before any thread reads
 * it; NULL until then (nothing redacted). */
void redact_set_global(const struct redact *r);
const struct redact *redact_global(void);

/* s with every secret replaced, appended to out. */
int redact_text(const struct redact *r, const char *s, size_t len,
		struct buf *out);

struct redact_stream {
	const struct redact *r;	/* NULL: everything passes */
	char carry[REDACT_MAX];	/* held back: may start a secret */
	size_t carry_len;
};

/* What of carry + in can go out now, appended to out. */
int redact_feed(struct redact_stream *s, const char *in, size_t n,
		struct buf *out);
/* The rest, at the end. */
int redact_flush(struct redact_stream *s, struct buf *out);

#endif
