/*
 * sse: Server-Sent Events framing (the WHATWG "event stream" format), fed
 * network chunks as they come, however they are cut. See include/agent.h.
 *
 *	event: content_block_delta\r\n
 *	data: {"type":"content_block_delta",...}\r\n
 *	\r\n
 */
#include <errno.h>
#include <string.h>

#include "agent.h"

void sse_init(struct sse *s, size_t max, sse_event_fn fn, void *ctx)
{
	buf_init(&s->line, max);
	buf_init(&s->data, max);
	buf_init(&s->event, 256);
	s->has_data = false;
	s->cr = false;
	s->fn = fn;
	s->ctx = ctx;
}

void sse_release(struct sse *s)
{
	buf_release(&s->line);
	buf_release(&s->data);
	buf_release(&s->event);
}

static int dispatch(struct sse *s)
{
	int r = 0;

	if (s->has_data)
		r = s->fn(s->ctx, s->event.len ? buf_cstr(&s->event) : "message",
			  buf_cstr(&s->data), s->data.len);
	buf_truncate(&s->data, 0);
	buf_truncate(&s->event, 0);
	s->has_data = false;
	return r;
}

static int field(struct sse *s, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	const char *value = "";
	size_t nlen = len, vlen = 0;
	int r;

	if (!len)
		return dispatch(s);
	if (colon == line)
		return 0;	/* a comment, such as a keep-alive */
	if (colon) {
		nlen = (size_t)(colon - line);
		value = colon + 1;
		vlen = len - nlen - 1;
		if (vlen && *value == ' ') {
			value++;
			vlen--;
		}
	}
	if (nlen == 4 && !memcmp(line, "data", 4)) {
		if (s->has_data && (r = buf_add(&s->data, "\n", 1)) < 0)
			return r;
		s->has_data = true;
		return buf_add(&s->data, value, vlen);
	}
	if (nlen == 5 && !memcmp(line, "event", 5)) {
		buf_truncate(&s->event, 0);
		return buf_add(&s->event, value, vlen);
	}
	return 0;	/* id, retry and unknown fields mean nothing here */
}

int sse_feed(struct sse *s, const char *p, size_t n)
{
	const char *end = p + n;
	int r;

	while (p < end) {
		const char *eol;
		size_t len;

		if (s->cr) {
			s->cr = false;
			if (*p == '\n') {
				p++;
				continue;
			}
		}
		for (eol = p; eol < end && *eol != '\n' && *eol != '\r'; eol++)
			;
		len = (size_t)(eol - p);
		if (eol == end)
			return buf_add(&s->line, p, len);
		if (s->line.len) {
			if ((r = buf_add(&s->line, p, len)) < 0)
				return r;
			r = field(s, s->line.ptr, s->line.len);
			buf_truncate(&s->line, 0);
		} else {
			r = field(s, p, len);
		}
		if (r < 0)
			return r;
		s->cr = *eol == '\r';
		p = eol + 1;
	}
	return 0;
}
