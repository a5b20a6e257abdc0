/*
 * fuzz_agent: the built-in agent's reading of a provider's answer, built
 * once per protocol (-DFUZZ_PROTO=proto_anthropic or proto_openai). The
 * first byte picks the way the answer came: odd, one JSON body (a server
 * that does not stream); even, a Server-Sent Events stream cut into
 * chunks (chunks.h), each event going to the protocol's parser as
 * agent.c hands it over. Then the turn is recorded into the conversation
 * the next request would send, and that is printed.
 *
 *	tests/fuzz/run agent_anthropic agent_openai
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "chunks.h"

static int on_event(void *ctx, const char *event, const char *data, size_t len)
{
	return FUZZ_PROTO.event(ctx, event, data, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct turn t;
	struct sse s;
	cJSON *messages;
	char *out;
	int mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++, size--;
	turn_init(&t);
	if (mode & 1) {
		/* agent.c hands over its buffer, NUL-terminated */
		char *body = malloc(size + 1);

		if (!body)
			return 0;
		memcpy(body, data, size);
		body[size] = '\0';
		FUZZ_PROTO.message(&t, body, size);
		free(body);
	} else {
		sse_init(&s, 1 << 16, on_event, &t);
		sse_feed_chunks(&s, data, size, mode / 2 % 17 + 1);
		sse_release(&s);
	}
	messages = cJSON_CreateArray();
	FUZZ_PROTO.record(messages, &t);
	out = cJSON_PrintUnformatted(messages);
	free(out);
	cJSON_Delete(messages);
	turn_release(&t);
	return 0;
}
