/*
 * spec: what was written to tasks/new, checked and parsed.
 *
 * Plain text is the prompt, byte for byte. Text whose first non-blank
 * character is '{' followed (after blanks) by '"' or '}' is a JSON task
 * spec: {"prompt": "...", "engine": "NAME", "model": "NAME",
 * "args": ["--flag", ...], "env": {"KEY": "VALUE"}, "permission_mode": "..."}. A shell command such as
 * "{ make; make test; }" is therefore still a prompt.
 *
 *	struct spec sp;
 *	if (spec_parse(&sp, text, len, 1 << 20, err, sizeof(err)) < 0)
 *		...;	// -EINVAL / -EFBIG, err says why
 *	spec_release(&sp);
 */
#ifndef PAI_SPEC_H
#define PAI_SPEC_H

#include <stddef.h>

struct spec {
	char *prompt;		/* NUL-terminated, prompt_len bytes */
	size_t prompt_len;
	char *engine;		/* NULL: the default engine */
	char *model;		/* NULL: the engine's configured model */
	/* args, env and permission_mode as one JSON object, for the store
	 * and the engine; NULL when the spec has none of them. */
	char *options;
};

int spec_parse(struct spec *out, const char *text, size_t len,
	       size_t max_prompt, char *err, size_t errlen);
void spec_release(struct spec *sp);

#endif
