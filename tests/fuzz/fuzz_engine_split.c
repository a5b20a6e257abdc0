/*
 * fuzz_engine_split: an [engine "NAME"] command template, split into
 * words the way sh splits a simple command (quotes, backslashes).
 *
 *	tests/fuzz/run engine_split
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], **words = NULL;
	char *tmpl = malloc(size + 1);

	if (!tmpl)
		return 0;
	/* the template comes from a config value: a C string */
	memcpy(tmpl, data, size);
	tmpl[size] = '\0';
	if (engine_split(tmpl, &words, err, sizeof(err)) == 0) {
		for (size_t i = 0; words[i]; i++)
			(void)strlen(words[i]);
		engine_argv_free(words);
	}
	free(tmpl);
	return 0;
}
