/* Unit tests for sse: line endings, multi-line data, comments, events cut
 * at every byte boundary, and the cap per event. */
#include <errno.h>
#include <stdlib.h>

#include "agent.h"
#include "check.h"

struct got {
	struct buf log;		/* "name=data|" per event */
	int n;
	int stop_at;		/* return -1 at this event, 0: never */
};

static int on_event(void *ctx, const char *event, const char *data, size_t len)
{
	struct got *g = ctx;

	g->n++;
	buf_printf(&g->log, "%s=%.*s|", event, (int)len, data);
	return g->stop_at && g->n == g->stop_at ? -1 : 0;
}

/* Feed text in pieces of `step` bytes (0: all at once). */
static int feed(struct got *g, const char *text, size_t step, size_t max)
{
	struct sse s;
	size_t len = strlen(text), off = 0;
	int r = 0;

	buf_init(&g->log, 1 << 20);
	g->n = 0;
	sse_init(&s, max, on_event, g);
	if (!step)
		step = len ? len : 1;
	while (off < len && r == 0) {
		size_t k = len - off < step ? len - off : step;

		r = sse_feed(&s, text + off, k);
		off += k;
	}
	sse_release(&s);
	return r;
}

static const char anthropic_stream[] =
	"event: message_start\r\n"
	"data: {\"type\":\"message_start\"}\r\n"
	"\r\n"
	": keep-alive comment\r\n"
	"\r\n"
	"event: ping\r\n"
	"data: {\"type\": \"ping\"}\r\n"
	"\r\n"
	"event: content_block_delta\n"
	"data: {\"text\":\"a\\r\\nb\"}\n"
	"\n"
	"data: first\r"
	"data:second\r"
	"data\r"
	"\r"
	"event: message_stop\n"
	"id: 7\n"
	"retry: 1000\n"
	"data: {}\n"
	"\n";

static const char anthropic_expect[] =
	"message_start={\"type\":\"message_start\"}|"
	"ping={\"type\": \"ping\"}|"
	"content_block_delta={\"text\":\"a\\r\\nb\"}|"
	"message=first\nsecond\n|"
	"message_stop={}|";

static void test_crlf_lf_cr_comments_and_multiline_data(void)
{
	struct got g = { 0 };

	CHECK(feed(&g, anthropic_stream, 0, 4096) == 0);
	CHECK_STR(buf_cstr(&g.log), anthropic_expect);
	CHECK(g.n == 5);
	buf_release(&g.log);
}

static void test_split_at_every_byte_boundary(void)
{
	size_t len = strlen(anthropic_stream), cut;
	struct got g = { 0 };

	for (cut = 1; cut < len; cut++) {
		struct sse s;

		buf_init(&g.log, 1 << 20);
		g.n = 0;
		sse_init(&s, 4096, on_event, &g);
		CHECK(sse_feed(&s, anthropic_stream, cut) == 0);
		CHECK(sse_feed(&s, anthropic_stream + cut, len - cut) == 0);
		sse_release(&s);
		if (strcmp(buf_cstr(&g.log), anthropic_expect)) {
			fprintf(stderr, "cut at %zu: %s\n", cut, buf_cstr(&g.log));
			CHECK(0);
		}
		buf_release(&g.log);
	}
}

static void test_byte_by_byte_and_in_threes(void)
{
	struct got g = { 0 };

	CHECK(feed(&g, anthropic_stream, 1, 4096) == 0);
	CHECK_STR(buf_cstr(&g.log), anthropic_expect);
	buf_release(&g.log);
	CHECK(feed(&g, anthropic_stream, 3, 4096) == 0);
	CHECK_STR(buf_cstr(&g.log), anthropic_expect);
	buf_release(&g.log);
}

static void test_openai_done_and_no_event_name(void)
{
	struct got g = { 0 };

	CHECK(feed(&g, "data: {\"choices\":[]}\n\ndata: [DONE]\n\n", 0, 4096) == 0);
	CHECK_STR(buf_cstr(&g.log), "message={\"choices\":[]}|message=[DONE]|");
	buf_release(&g.log);
}

static void test_incomplete_event_is_not_dispatched(void)
{
	struct got g = { 0 };

	CHECK(feed(&g, "data: one\n\ndata: two\n", 0, 4096) == 0);
	CHECK_STR(buf_cstr(&g.log), "message=one|");
	buf_release(&g.log);
}

static void test_blank_lines_without_data_dispatch_nothing(void)
{
	struct got g = { 0 };

	CHECK(feed(&g, "\n\r\n\revent: lonely\n\n:x\n\n", 0, 4096) == 0);
	CHECK(g.n == 0);
	/* an event name does not carry over to the next event */
	CHECK(feed(&g, "event: a\n\ndata: x\n\n", 0, 4096) == 0);
	CHECK_STR(buf_cstr(&g.log), "message=x|");
	buf_release(&g.log);
}

static void test_empty_data_line_is_an_event(void)
{
	struct got g = { 0 };

	CHECK(feed(&g, "data:\n\n", 0, 4096) == 0);
	CHECK(g.n == 1);
	CHECK_STR(buf_cstr(&g.log), "message=|");
	buf_release(&g.log);
}

static void test_cap_per_event(void)
{
	char big[300];
	struct got g = { 0 };
	struct buf text;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&text, 4096);
	buf_printf(&text, "data: %s\n\n", big);
	/* one line over the cap, whether whole or cut into pieces */
	CHECK(feed(&g, buf_cstr(&text), 0, 100) == -EFBIG);
	buf_release(&g.log);
	CHECK(feed(&g, buf_cstr(&text), 7, 100) == -EFBIG);
	CHECK(g.n == 0);
	buf_release(&g.log);
	/* many short data lines adding up past the cap */
	buf_truncate(&text, 0);
	for (int i = 0; i < 30; i++)
		buf_puts(&text, "data: 0123456789\n");
	buf_puts(&text, "\n");
	CHECK(feed(&g, buf_cstr(&text), 0, 100) == -EFBIG);
	buf_release(&g.log);
	/* under the cap, the same size of events pass one after another */
	buf_truncate(&text, 0);
	for (int i = 0; i < 30; i++)
		buf_puts(&text, "data: 0123456789\n\n");
	CHECK(feed(&g, buf_cstr(&text), 5, 100) == 0);
	CHECK(g.n == 30);
	buf_release(&g.log);
	buf_release(&text);
}

static void test_callback_error_stops_the_feed(void)
{
	struct got g = { 0 };

	g.stop_at = 2;
	CHECK(feed(&g, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 0, 4096) == -1);
	CHECK(g.n == 2);
	buf_release(&g.log);
}

int main(void)
{
	RUN(test_crlf_lf_cr_comments_and_multiline_data);
	RUN(test_split_at_every_byte_boundary);
	RUN(test_byte_by_byte_and_in_threes);
	RUN(test_openai_done_and_no_event_name);
	RUN(test_incomplete_event_is_not_dispatched);
	RUN(test_blank_lines_without_data_dispatch_nothing);
	RUN(test_empty_data_line_is_an_event);
	RUN(test_cap_per_event);
	RUN(test_callback_error_stops_the_feed);
	return check_done();
}
