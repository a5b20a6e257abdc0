/*
 * chunks.h: network bytes into the SSE framer in chunks of changing
 * size, the first of `step` bytes, so that lines, CRLF pairs and events
 * are cut at every place. Shared by fuzz_sse and fuzz_agent.
 */
#ifndef PAI_FUZZ_CHUNKS_H
#define PAI_FUZZ_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

static inline void sse_feed_chunks(struct sse *s, const uint8_t *data,
				   size_t size, size_t step)
{
	size_t off = 0;

	while (off < size) {
		size_t k = size - off < step ? size - off : step;

		if (sse_feed(s, (const char *)data + off, k) < 0)
			break;
		off += k;
		step = step * 7 % 23 + 1;
	}
}

#endif
