/*
 * fuzz_streamfmt: an agent CLI's event stream (one JSON object per line)
 * through streamfmt, line by line as `parallelai stream` feeds it, then
 * the end of the stream, the exit code and the result file. Built once
 * per format: FUZZ_FORMAT is STREAM_CLAUDE, STREAM_CODEX, ...
 *
 *	tests/fuzz/run streamfmt_claude
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "streamfmt.h"

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT STREAM_CLAUDE
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct streamfmt s;
	struct buf out, json;
	const char *p = (const char *)data, *end = p + size;

	streamfmt_init(&s, FUZZ_FORMAT, "/home/u/repo/wt/7");
	buf_init(&out, 1 << 20);
	buf_init(&json, BUF_NOMAX);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		/* stream_main hands over its line buffer NUL-terminated
		 * (buf_cstr), and streamfmt_feed relies on that: strspn */
		char *line = malloc(n + 1);
		int r;

		if (!line)
			break;
		memcpy(line, p, n);
		line[n] = '\0';
		r = streamfmt_feed(&s, line, n, &out);
		free(line);
		if (r < 0)
			break;
		/* the filter writes the transcript out and empties it */
		buf_release(&out);
		buf_init(&out, 1 << 20);
		p += n + (nl != NULL);
	}
	streamfmt_finish(&s, &out);
	streamfmt_exit(&s, 0);
	/* and as a failed run (exit 1), told as a failed login where it was */
	streamfmt_explain_login(&s, "engine", streamfmt_exit(&s, 1 << 8));
	streamfmt_result_json(&s, &json);
	buf_release(&json);
	buf_release(&out);
	streamfmt_release(&s);
	return 0;
}
