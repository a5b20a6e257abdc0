/*
 * fuzz_evstream: AWS's binary event stream as the built-in agent reads a
 * Bedrock response: network bytes in chunks whose sizes come from the
 * input's first byte, each whole message handed to bedrock_message (a
 * chunk's base64 JSON into the Anthropic event handling, an exception
 * into the turn's error). A bad checksum or length must stop the stream,
 * never crash.
 *
 *	tests/fuzz/run evstream
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent.h"

static int on_message(void *ctx, const struct evs_message *m)
{
	struct turn *t = ctx;
	struct buf json;
	int r;

	buf_init(&json, 1 << 20);
	r = bedrock_message(t, m, &json);
	buf_release(&json);
	return r < 0 && t->retry ? 0 : r;	/* go on past a throttle */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct turn t;
	struct evs e;
	size_t off = 1, step;

	if (size < 1)
		return 0;
	step = data[0] % 29 + 1;
	turn_init(&t);
	evs_init(&e, 1 << 16, on_message, &t);
	while (off < size) {
		size_t k = size - off < step ? size - off : step;

		if (evs_feed(&e, (const char *)data + off, k) < 0)
			break;
		off += k;
		step = step * 7 % 31 + 1;
	}
	evs_release(&e);
	turn_release(&t);
	return 0;
}
