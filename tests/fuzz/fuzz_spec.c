/*
 * fuzz_spec: what a user writes to tasks/new, through spec_parse, a
 * spec's options through engine_task_env, as the scheduler does, and a
 * spec's glob against a few paths (its time must stay bounded).
 *
 *	tests/fuzz/run spec
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "engine.h"
#include "spec.h"

/* spec_parse checks branch names with libgit2. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	git_libgit2_init();
	return 0;
}

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
		if (sp.each) {
			spec_glob_match(sp.each, "a/b/c/d/e/f/g/h/i/j/k/l/m.c");
			spec_glob_match(sp.each, ".hidden/x");
		}
		spec_release(&sp);
	}
	free(text);
	return 0;
}
