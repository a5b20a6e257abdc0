/*
 * fuzz_spec: what a user writes to tasks/new, through spec_parse, and a
 * spec's options through engine_task_env, as the scheduler does.
 *
 *	tests/fuzz/run spec
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec sp;
	char err[512];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	/* fs hands the scheduler a NUL-terminated buffer and its length */
	memcpy(text, data, size);
	text[size] = '\0';
	if (spec_parse(&sp, text, size, 1 << 16, err, sizeof(err)) == 0) {
		char **env = NULL;

		if (sp.options && engine_task_env(sp.options, &env) == 0 && env)
			engine_argv_free(env);
		spec_release(&sp);
	}
	free(text);
	return 0;
}
