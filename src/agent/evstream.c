/*
 * evstream: AWS's binary event stream (application/vnd.amazon.eventstream),
 * network bytes in, whole messages out. A message:
 *
 *	total length (4) | headers length (4) | prelude CRC32 (4)
 *	headers | payload | message CRC32 (4)
 *
 * integers big-endian, CRC32 as zlib computes it (the prelude's over the
 * first 8 bytes, the message's over all but its last 4). A header is a
 * name length (1), the name, a value type (1) and the value.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "agent.h"

#define PRELUDE 12
#define MIN_MESSAGE 16

void evs_init(struct evs *e, size_t max, evs_message_fn fn, void *ctx)
{
	memset(e, 0, sizeof(*e));
	buf_init(&e->pending, max + PRELUDE);
	e->max = max;
	e->fn = fn;
	e->ctx = ctx;
}

void evs_release(struct evs *e)
{
	buf_release(&e->pending);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint32_t crc(const unsigned char *p, size_t n)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static int bad(struct evs *e, const char *why)
{
	snprintf(e->error, sizeof(e->error), "%s", why);
	return -EPROTO;
}

/* The size of a header value of type t at p (n bytes left), or -1. */
static long value_size(unsigned char t, const unsigned char *p, size_t n)
{
	static const long fixed[] = { 0, 0, 1, 2, 4, 8, -1, -1, 8, 16 };

	if (t == 6 || t == 7)	/* bytes, string: a 2-byte length first */
		return n < 2 ? -1 : 2 + ((long)p[0] << 8 | p[1]);
	return t < sizeof(fixed) / sizeof(fixed[0]) ? fixed[t] : -1;
}

/* The string headers the callers use; others are skipped, not refused. */
static int headers(struct evs *e, struct evs_message *m,
		   const unsigned char *p, size_t n)
{
	while (n) {
		size_t nlen = p[0];
		const unsigned char *name = p + 1;
		long vsize;

		if (n < 2 + nlen)
			return bad(e, "a header runs past its message");
		vsize = value_size(name[nlen], name + nlen + 1, n - 2 - nlen);
		if (vsize < 0 || (size_t)vsize > n - 2 - nlen)
			return bad(e, "a header value runs past its message");
		if (name[nlen] == 7) {
			const char *v = (const char *)name + nlen + 3;
			size_t vlen = (size_t)vsize - 2;

#define IS(s) (nlen == sizeof(s) - 1 && !memcmp(name, s, nlen))
			if (IS(":message-type"))
				m->message_type = v, m->message_type_len = vlen;
			else if (IS(":event-type"))
				m->event_type = v, m->event_type_len = vlen;
			else if (IS(":exception-type"))
				m->exception_type = v, m->exception_type_len = vlen;
			else if (IS(":content-type"))
				m->content_type = v, m->content_type_len = vlen;
#undef IS
		}
		p = name + nlen + 1 + vsize;
		n -= 2 + nlen + (size_t)vsize;
	}
	return 0;
}

/* One whole message at p, checked, to the callback. */
static int message(struct evs *e, const unsigned char *p, uint32_t total)
{
	uint32_t hlen = be32(p + 4);
	struct evs_message m;
	int r;

	if (crc(p, total - 4) != be32(p + total - 4))
		return bad(e, "a message's checksum does not match");
	memset(&m, 0, sizeof(m));
	if ((r = headers(e, &m, p + PRELUDE, hlen)) < 0)
		return r;
	m.payload = (const char *)p + PRELUDE + hlen;
	m.payload_len = total - PRELUDE - hlen - 4;
	e->messages++;
	return e->fn(e->ctx, &m);
}

/* The prelude at p: sane lengths and its own checksum. */
static int prelude(struct evs *e, const unsigned char *p, uint32_t *total)
{
	uint32_t t = be32(p), h = be32(p + 4);

	if (crc(p, 8) != be32(p + 8))
		return bad(e, "a message's prelude checksum does not match");
	if (t < MIN_MESSAGE || t > e->max || h > t - MIN_MESSAGE)
		return bad(e, t > e->max ? "a message over the size limit" :
			   "a message's lengths do not add up");
	*total = t;
	return 0;
}

int evs_feed(struct evs *e, const char *data, size_t n)
{
	const unsigned char *p = (const unsigned char *)data;
	uint32_t total;
	int r;

	if (e->error[0])
		return -EPROTO;
	/* Whole messages straight from the chunk when nothing is pending. */
	while (!e->pending.len && n >= PRELUDE) {
		if ((r = prelude(e, p, &total)) < 0)
			return r;
		if (n < total)
			break;
		if ((r = message(e, p, total)) < 0)
			return r;
		p += total;
		n -= total;
	}
	while (n) {
		size_t have = e->pending.len, want = PRELUDE, k;
		const unsigned char *q = (const unsigned char *)e->pending.ptr;

		if (have >= PRELUDE) {
			if ((r = prelude(e, q, &total)) < 0)
				return r;
			want = total;
		}
		k = want - have < n ? want - have : n;
		if (buf_add(&e->pending, p, k) < 0)
			return bad(e, "out of memory");
		p += k;
		n -= k;
		if (e->pending.len < want || want == PRELUDE)
			continue;
		r = message(e, (const unsigned char *)e->pending.ptr, total);
		buf_truncate(&e->pending, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

bool evs_partial(const struct evs *e)
{
	return e->pending.len > 0;
}
