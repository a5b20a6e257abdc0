/*
 * fuzz_sse: the built-in agent's Server-Sent Events framer, fed network
 * bytes in chunks whose sizes come from the input's first byte, so that
 * lines, CRLF pairs and events are cut at every place.
 *
 *	tests/fuzz/run sse
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent.h"
#include "chunks.h"

static int on_event(void *ctx, const char *event, const char *data, size_t len)
{
	size_t *total = ctx;

	/* touch every byte handed out: ASan sees a read past the end */
	*total += strlen(event) + len;
	for (size_t i = 0; i < len; i++)
		*total += (unsigned char)data[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sse s;
	size_t total = 0;

	if (size < 1)
		return 0;
	sse_init(&s, 4096, on_event, &total);
	sse_feed_chunks(&s, data + 1, size - 1, data[0] % 17 + 1);
	sse_release(&s);
	return 0;
}
