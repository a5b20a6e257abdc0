/*
 * redact: secrets out of what is written.
 *
 * The scan walks the text byte by byte; at each place it looks for a
 * whole secret (replaced), or, in a stream, for the start of one that the
 * text ends in the middle of (held back for the next write).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redact.h"

static const struct redact *global;

void redact_set_global(const struct redact *r)
{
	global = r;
}

const struct redact *redact_global(void)
{
	return global;
}

bool redact_secret_name(const char *name, size_t len)
{
	static const char *const words[] = { "KEY", "TOKEN", "SECRET",
					     "PASSWORD", "PASSWD",
					     "CREDENTIAL", NULL };
	size_t i, at, w;

	for (i = 0; words[i]; i++) {
		w = strlen(words[i]);
		for (at = 0; at + w <= len; at++)
			if (!strncasecmp(name + at, words[i], w))
				return true;
	}
	return false;
}

int redact_add(struct redact *r, const char *value)
{
	size_t len = strlen(value), i;
	char **v;

	if (len < REDACT_MIN)
		return 0;
	if (len > REDACT_MAX - 1)
		len = REDACT_MAX - 1;
	for (i = 0; i < r->n; i++)
		if (strlen(r->v[i]) == len && !strncmp(r->v[i], value, len))
			return 0;
	v = realloc(r->v, (r->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	/* Longest first: a secret that holds another is replaced whole. */
	for (i = r->n; i > 0 && strlen(v[i - 1]) < len; i--)
		v[i] = v[i - 1];
	if (!(v[i] = strndup(value, len))) {
		memmove(v + i, v + i + 1, (r->n - i) * sizeof(*v));
		return -ENOMEM;
	}
	r->n++;
	return 0;
}

int redact_add_env(struct redact *r, char *const env[])
{
	size_t i;
	int ret;

	for (i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');

		if (eq && redact_secret_name(env[i], (size_t)(eq - env[i])) &&
		    (ret = redact_add(r, eq + 1)) < 0)
			return ret;
	}
	return 0;
}

void redact_release(struct redact *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/*
 * Scan p[0..len): appended to out what can go; the count of bytes
 * consumed (the rest may start a secret; final: nothing is held).
 */
static int scan(const struct redact *r, const char *p, size_t len,
		bool final, struct buf *out, size_t *consumed)
{
	size_t i = 0, from = 0, k;
	int ret = 0;

	while (i < len) {
		size_t left = len - i, hit = 0;
		bool partial = false;

		for (k = 0; r && k < r->n && !hit; k++) {
			size_t sl = strlen(r->v[k]);

			if (p[i] != r->v[k][0])
				continue;
			if (sl <= left && !memcmp(p + i, r->v[k], sl))
				hit = sl;
			else if (!final && sl > left &&
				 !memcmp(p + i, r->v[k], left))
				partial = true;
		}
		if (hit) {
			if ((ret = buf_add(out, p + from, i - from)) < 0 ||
			    (ret = buf_puts(out, REDACT_MARK)) < 0)
				return ret;
			i += hit;
			from = i;
		} else if (partial) {
			break;
		} else {
			i++;
		}
	}
	*consumed = i;
	return buf_add(out, p + from, i - from);
}

int redact_text(const struct redact *r, const char *s, size_t len,
		struct buf *out)
{
	size_t used;

	return scan(r, s, len, true, out, &used);
}

/* Scan carry + in; what stays is at most a secret's length less one. */
int redact_feed(struct redact_stream *s, const char *in, size_t n,
		struct buf *out)
{
	struct buf all;
	size_t used;
	int ret;

	if (!s->r || !s->r->n)
		return buf_add(out, in, n);
	buf_init(&all, BUF_NOMAX);
	if ((ret = buf_add(&all, s->carry, s->carry_len)) < 0 ||
	    (ret = buf_add(&all, in, n)) < 0 ||
	    (ret = scan(s->r, all.ptr, all.len, false, out, &used)) < 0) {
		buf_release(&all);
		return ret;
	}
	s->carry_len = all.len - used;
	if (s->carry_len)
		memcpy(s->carry, all.ptr + used, s->carry_len);
	buf_release(&all);
	return 0;
}

int redact_flush(struct redact_stream *s, struct buf *out)
{
	size_t used;
	int ret = scan(s->r, s->carry, s->carry_len, true, out, &used);

	s->carry_len = 0;
	return ret;
}
