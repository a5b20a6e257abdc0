/*
 * buf: growable byte buffer with a cap; see include/buf.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_init(struct buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Make room for len + extra bytes and a NUL. */
static int buf_grow(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return -EFBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
	p = realloc(b->ptr, cap);
	if (!p)
		return -ENOMEM;
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
	int r = buf_grow(b, len);

	if (r < 0)
		return r;
	if (len)
		memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = buf_grow(b, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int buf_write_at(struct buf *b, size_t off, const void *data, size_t len)
{
	size_t end;
	int r;

	if (off > b->max || len > b->max - off)
		return -EFBIG;
	end = off + len;
	if (end > b->len) {
		r = buf_grow(b, end - b->len);
		if (r < 0)
			return r;
		if (off > b->len)
			memset(b->ptr + b->len, 0, off - b->len);
		b->len = end;
		b->ptr[b->len] = '\0';
	}
	if (len)
		memcpy(b->ptr + off, data, len);
	return 0;
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->ptr[len] = '\0';
	}
}

const char *buf_cstr(const struct buf *b)
{
	return b->ptr ? b->ptr : "";
}

char *buf_detach(struct buf *b)
{
	char *p = b->ptr;

	buf_init(b, b->max);
	return p;
}

void buf_release(struct buf *b)
{
	free(b->ptr);
	buf_init(b, b->max);
}
