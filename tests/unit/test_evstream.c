/* Unit tests for evstream and bedrock's messages: AWS event stream frames
 * built here (zlib's crc32), several in one chunk and cut at every byte;
 * bad checksums, impossible lengths and headers that overrun refused; a
 * chunk's base64 JSON into a turn, exceptions into one line. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <zlib.h>

#include "agent.h"
#include "check.h"

static void put32(struct buf *b, uint32_t v)
{
	unsigned char p[4] = { v >> 24, v >> 16, v >> 8, v };

	buf_add(b, p, 4);
}

static void header(struct buf *h, const char *name, const char *value)
{
	unsigned char n = (unsigned char)strlen(name), t = 7;
	unsigned char l[2] = { strlen(value) >> 8, strlen(value) & 255 };

	buf_add(h, &n, 1);
	buf_puts(h, name);
	buf_add(h, &t, 1);
	buf_add(h, l, 2);
	buf_puts(h, value);
}

/* One message onto out: its headers ("name", "value" pairs) and payload. */
static void frame(struct buf *out, const char *const *hdrs, const char *payload)
{
	struct buf h, m;
	size_t i;

	buf_init(&h, 1 << 20);
	buf_init(&m, 1 << 20);
	for (i = 0; hdrs[i]; i += 2)
		header(&h, hdrs[i], hdrs[i + 1]);
	put32(&m, (uint32_t)(16 + h.len + strlen(payload)));
	put32(&m, (uint32_t)h.len);
	put32(&m, (uint32_t)crc32(0, (const Bytef *)m.ptr, 8));
	buf_add(&m, h.ptr, h.len);
	buf_puts(&m, payload);
	put32(&m, (uint32_t)crc32(0, (const Bytef *)m.ptr, (uInt)m.len));
	buf_add(out, m.ptr, m.len);
	buf_release(&h);
	buf_release(&m);
}

static const char *const chunk_hdrs[] = {
	":event-type", "chunk", ":content-type", "application/json",
	":message-type", "event", NULL
};

struct got {
	struct buf log;
	int n;
};

static int on_message(void *ctx, const struct evs_message *m)
{
	struct got *g = ctx;

	g->n++;
	buf_printf(&g->log, "%.*s/%.*s:%.*s|", (int)m->message_type_len,
		   m->message_type ? m->message_type : "", (int)m->event_type_len,
		   m->event_type ? m->event_type : "", (int)m->payload_len, m->payload);
	return 0;
}

static int feed(struct got *g, const struct buf *in, size_t step)
{
	struct evs e;
	size_t off = 0;
	int r = 0;

	buf_truncate(&g->log, 0);
	g->n = 0;
	evs_init(&e, 1 << 20, on_message, g);
	while (off < in->len && r == 0) {
		size_t k = in->len - off < step ? in->len - off : step;

		r = evs_feed(&e, in->ptr + off, k);
		off += k;
	}
	if (r == 0 && evs_partial(&e))
		r = -EAGAIN;
	evs_release(&e);
	return r;
}

static void test_messages_cut_at_every_byte(void)
{
	struct buf in;
	struct got g;
	size_t step;

	buf_init(&in, 1 << 20);
	buf_init(&g.log, 1 << 20);
	frame(&in, chunk_hdrs, "{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9\"}");
	frame(&in, chunk_hdrs, "{}");
	frame(&in, (const char *const[]){ ":message-type", "event", NULL }, "");
	for (step = 1; step <= in.len; step++) {
		CHECK(feed(&g, &in, step) == 0);
		CHECK(g.n == 3);
		CHECK_STR(buf_cstr(&g.log),
			  "event/chunk:{\"bytes\":\"eyJ0eXBlIjoicGluZyJ9\"}|event/chunk:{}|event/:|");
	}
	/* Cut in the middle of the last message: nothing of it handed out. */
	in.len -= 3;
	CHECK(feed(&g, &in, 7) == -EAGAIN);
	CHECK(g.n == 2);
	buf_release(&in);
	buf_release(&g.log);
}

static void test_corruption_is_refused(void)
{
	struct buf in;
	struct got g;
	size_t at;

	buf_init(&g.log, 1 << 20);
	/* Every single flipped byte of a message is caught by a checksum or
	 * a length check, whole or cut. */
	buf_init(&in, 1 << 20);
	frame(&in, chunk_hdrs, "{\"bytes\":\"e30=\"}");
	for (at = 0; at < in.len; at++) {
		in.ptr[at] ^= 0x5a;
		CHECK(feed(&g, &in, in.len) < 0);
		CHECK(feed(&g, &in, 5) < 0);
		CHECK(g.n == 0);
		in.ptr[at] ^= 0x5a;
	}
	CHECK(feed(&g, &in, 5) == 0);
	buf_release(&in);

	/* Lengths that cannot be: shorter than a message, headers past it,
	 * over the cap (each with a right prelude checksum). */
	{
		static const uint32_t bad[][2] = { { 8, 0 }, { 20, 10 }, { 1u << 30, 0 } };
		size_t i;

		for (i = 0; i < 3; i++) {
			buf_init(&in, 1 << 20);
			put32(&in, bad[i][0]);
			put32(&in, bad[i][1]);
			put32(&in, (uint32_t)crc32(0, (const Bytef *)in.ptr, 8));
			buf_puts(&in, "0123456789abcdef");
			CHECK(feed(&g, &in, 3) == -EPROTO);
			buf_release(&in);
		}
	}
	/* A header whose value runs past the headers. */
	{
		struct buf m;

		buf_init(&in, 1 << 20);
		buf_init(&m, 1 << 20);
		buf_add(&m, "\x02:x\x07\x00\x40zz", 8);
		put32(&in, (uint32_t)(16 + m.len));
		put32(&in, (uint32_t)m.len);
		put32(&in, (uint32_t)crc32(0, (const Bytef *)in.ptr, 8));
		buf_add(&in, m.ptr, m.len);
		put32(&in, (uint32_t)crc32(0, (const Bytef *)in.ptr, (uInt)in.len));
		CHECK(feed(&g, &in, 4) == -EPROTO);
		buf_release(&m);
		buf_release(&in);
	}
	buf_release(&g.log);
}

/* A message's content from bedrock: the turn it fills in. */
static int one(struct turn *t, const char *const *hdrs, const char *payload)
{
	struct buf in, json;
	struct evs_message m = { 0 };
	size_t i;
	int r;

	(void)in;
	for (i = 0; hdrs[i]; i += 2) {
		if (!strcmp(hdrs[i], ":message-type"))
			m.message_type = hdrs[i + 1], m.message_type_len = strlen(hdrs[i + 1]);
		else if (!strcmp(hdrs[i], ":event-type"))
			m.event_type = hdrs[i + 1], m.event_type_len = strlen(hdrs[i + 1]);
		else if (!strcmp(hdrs[i], ":exception-type"))
			m.exception_type = hdrs[i + 1],
			m.exception_type_len = strlen(hdrs[i + 1]);
	}
	m.payload = payload;
	m.payload_len = strlen(payload);
	buf_init(&json, 1 << 20);
	r = bedrock_message(t, &m, &json);
	buf_release(&json);
	return r;
}

static void test_chunks_feed_the_anthropic_events(void)
{
	struct turn t;

	turn_init(&t);
	/* {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}} */
	CHECK(one(&t, chunk_hdrs, "{\"bytes\":\"eyJ0eXBlIjoiY29udGVudF9ibG9ja19kZWx0YSIsImluZGV4"
		  "IjowLCJkZWx0YSI6eyJ0eXBlIjoidGV4dF9kZWx0YSIsInRleHQiOiJIaSJ9fQ==\"}") == 0);
	CHECK_STR(buf_cstr(&t.text), "Hi");
	/* {"type":"message_stop"} */
	CHECK(one(&t, chunk_hdrs, "{\"bytes\":\"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0=\"}") == 0);
	CHECK(t.finished);
	/* Event types added later are let by. */
	CHECK(one(&t, (const char *const[]){ ":message-type", "event", ":event-type",
					     "metadata", NULL }, "{}") == 0);
	CHECK(!t.error.len);
	CHECK(one(&t, chunk_hdrs, "{\"bytes\":\"not base64!\"}") < 0);
	CHECK_STR(buf_cstr(&t.error), "bedrock: malformed chunk in the event stream");
	turn_release(&t);
}

static void test_exceptions_are_one_line(void)
{
	struct turn t;

	turn_init(&t);
	CHECK(one(&t, (const char *const[]){ ":message-type", "exception",
					     ":exception-type", "throttlingException", NULL },
		  "{\"message\":\"Too many requests, please wait before trying again.\"}") < 0);
	CHECK_STR(buf_cstr(&t.error),
		  "bedrock: ThrottlingException: Too many requests, please wait before trying again.");
	CHECK(t.retry);
	turn_release(&t);
	turn_init(&t);
	CHECK(one(&t, (const char *const[]){ ":message-type", "exception",
					     ":exception-type", "validationException", NULL },
		  "{\"message\":\"max_tokens: bad\nsecond line\"}") < 0);
	CHECK(!strncmp(buf_cstr(&t.error), "bedrock: ValidationException: max_tokens: bad", 45));
	CHECK(!strchr(buf_cstr(&t.error), '\n'));
	CHECK(!t.retry);
	turn_release(&t);

	/* From an HTTP error's header and body. */
	{
		struct buf out;
		const char *type = "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/";

		buf_init(&out, 4096);
		bedrock_error(&out, type, strlen(type),
			      "{\"message\":\"You don't have access to the model with the specified model ID.\"}", 79);
		CHECK_STR(buf_cstr(&out), "bedrock: AccessDeniedException: You don't have "
			  "access to the model with the specified model ID.");
		CHECK(!bedrock_retryable(type, strlen(type)));
		CHECK(bedrock_retryable("ThrottlingException", 19));
		CHECK(bedrock_retryable("serviceUnavailableException", 27));
		CHECK(!bedrock_retryable("ModelNotReadyException", 22));
		buf_release(&out);
	}
}

int main(void)
{
	RUN(test_messages_cut_at_every_byte);
	RUN(test_corruption_is_refused);
	RUN(test_chunks_feed_the_anthropic_events);
	RUN(test_exceptions_are_one_line);
	return check_done();
}
