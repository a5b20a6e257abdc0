/*
 * quote: C-style quoting of paths and text, and sh quoting of words;
 * see include/quote.h.
 *
 * Every quoted form is written through one small writer that counts
 * what it could not store: that gives the snprintf contract and, with a
 * first pass into nothing, the size a buffer needs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "quote.h"

struct out {
	char *dst;
	size_t size;
	size_t len;	/* what the whole result needs, NUL aside */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->dst[o->len] = c;
	o->len++;
}

static void puts_(struct out *o, const char *s)
{
	while (*s)
		put(o, *s++);
}

static size_t finish(struct out *o)
{
	if (o->size)
		o->dst[o->len < o->size ? o->len : o->size - 1] = '\0';
	return o->len;
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* One byte as git's quote_c_style writes it inside the quotes. */
static void put_escaped(struct out *o, unsigned char c)
{
	static const char letters[] = "abtnvfr";	/* \a (7) .. \r (13) */

	put(o, '\\');
	if (c >= '\a' && c <= '\r') {
		put(o, letters[c - '\a']);
	} else if (c == '"' || c == '\\') {
		put(o, (char)c);
	} else {
		put(o, (char)('0' + (c >> 6)));
		put(o, (char)('0' + ((c >> 3) & 7)));
		put(o, (char)('0' + (c & 7)));
	}
}

static bool path_byte_needs_quote(unsigned char c)
{
	return is_control(c) || c == '"' || c == '\\' || c >= 0x80;
}

bool quote_path_needed(const char *path)
{
	const unsigned char *s = (const unsigned char *)path;

	for (; *s; s++)
		if (path_byte_needs_quote(*s))
			return true;
	return false;
}

size_t quote_path(char *dst, size_t size, const char *path)
{
	struct out o = { dst, size, 0 };
	const unsigned char *s = (const unsigned char *)path;

	if (!quote_path_needed(path)) {
		puts_(&o, path);
		return finish(&o);
	}
	put(&o, '"');
	for (; *s; s++) {
		if (path_byte_needs_quote(*s))
			put_escaped(&o, *s);
		else
			put(&o, (char)*s);
	}
	put(&o, '"');
	return finish(&o);
}

size_t quote_text(char *dst, size_t size, const char *text)
{
	struct out o = { dst, size, 0 };
	const unsigned char *s = (const unsigned char *)text;

	for (; *s; s++) {
		if (is_control(*s))
			put_escaped(&o, *s);
		else
			put(&o, (char)*s);
	}
	return finish(&o);
}

/* Run a quoting function into a buf: measure, then write. */
static int into_buf(struct buf *out, const char *s,
		    size_t (*q)(char *, size_t, const char *))
{
	size_t n = q(NULL, 0, s);
	char *tmp = malloc(n + 1);
	int r;

	if (!tmp)
		return -ENOMEM;
	q(tmp, n + 1, s);
	r = buf_add(out, tmp, n);
	free(tmp);
	return r;
}

int quote_path_buf(struct buf *out, const char *path)
{
	if (!quote_path_needed(path))
		return buf_puts(out, path);
	return into_buf(out, path, quote_path);
}

int quote_text_buf(struct buf *out, const char *s)
{
	const unsigned char *c = (const unsigned char *)s;

	while (*c && !is_control(*c))
		c++;
	if (!*c)
		return buf_puts(out, s);
	return into_buf(out, s, quote_text);
}

/* Characters that mean nothing to sh anywhere in a word. */
static bool shell_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "@%+=:,./_-", *s))
			return false;
	return true;
}

char *quote_shell(const char *s)
{
	struct out o = { NULL, 0, 0 };
	const char *p;
	char *w = NULL;
	int pass;

	if (shell_safe(s))
		return strdup(s);
	/* First pass measures, second writes. */
	for (pass = 0; pass < 2; pass++) {
		o.len = 0;
		put(&o, '\'');
		for (p = s; *p; p++) {
			if (*p == '\'')
				puts_(&o, "'\\''");
			else
				put(&o, *p);
		}
		put(&o, '\'');
		if (pass == 0) {
			if (!(w = malloc(o.len + 1)))
				return NULL;
			o.dst = w;
			o.size = o.len + 1;
		}
	}
	finish(&o);
	return w;
}
