/*
 * engine: from a task to an argv.
 *
 * Templates are split into words the way sh would split a simple command
 * ('single', "double" with \" \\ \$ \` escapes, and backslash), but nothing
 * is expanded except our {placeholders}, and the prompt is substituted into
 * a word after splitting, so no shell ever parses it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "engine.h"

#define SH_ARG_MAX (100 * 1024)

bool engine_known(const struct config *c, const char *name)
{
	return !strcmp(name, "sh") || config_engine(c, name) != NULL;
}

void engine_argv_free(char **argv)
{
	char **a;

	if (!argv)
		return;
	for (a = argv; *a; a++)
		free(*a);
	free(argv);
}

static int push_word(char ***words, size_t *n, struct buf *w)
{
	char **v = realloc(*words, (*n + 2) * sizeof(**words));

	if (!v)
		return -ENOMEM;
	*words = v;
	v[*n] = w->ptr ? buf_detach(w) : strdup("");
	if (!v[*n])
		return -ENOMEM;
	v[++*n] = NULL;
	return 0;
}

int engine_split(const char *s, char ***words_out, char *err, size_t errlen)
{
	struct buf w;
	char **words = NULL;
	size_t n = 0;
	int in_word = 0, r = 0;
	char quote = 0;

	buf_init(&w, BUF_NOMAX);
	for (; *s; s++) {
		char ch = *s;

		if (quote == '\'') {
			if (ch == '\'')
				quote = 0;
			else if ((r = buf_add(&w, s, 1)) < 0)
				goto out;
			continue;
		}
		if (quote == '"') {
			if (ch == '"') {
				quote = 0;
				continue;
			}
			if (ch == '\\' && s[1] && strchr("\"\\$`", s[1]))
				s++;
			if ((r = buf_add(&w, s, 1)) < 0)
				goto out;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\n') {
			if (in_word && (r = push_word(&words, &n, &w)) < 0)
				goto out;
			in_word = 0;
			continue;
		}
		in_word = 1;
		if (ch == '\'' || ch == '"') {
			quote = ch;
			continue;
		}
		if (ch == '\\') {
			if (!s[1]) {
				snprintf(err, errlen,
					 "trailing backslash in command");
				r = -EINVAL;
				goto out;
			}
			s++;
		}
		if ((r = buf_add(&w, s, 1)) < 0)
			goto out;
	}
	if (quote) {
		snprintf(err, errlen, "unterminated %c quote in command", quote);
		r = -EINVAL;
		goto out;
	}
	if (in_word && (r = push_word(&words, &n, &w)) < 0)
		goto out;
	if (!n) {
		snprintf(err, errlen, "empty command");
		r = -EINVAL;
		goto out;
	}
	*words_out = words;
	words = NULL;
out:
	buf_release(&w);
	engine_argv_free(words);
	return r;
}

/* Replace every {name} this module knows inside one word. */
static int expand(const char *word, const struct engine_vars *v, char **out)
{
	struct buf b;
	const char *p = word;
	char id[32];
	int r = 0;

	snprintf(id, sizeof(id), "%lld", v->task_id);
	buf_init(&b, BUF_NOMAX);
	while (*p && r == 0) {
		static const char *const names[] = {
			"{prompt}", "{prompt_file}", "{worktree}",
			"{task_id}", "{branch}"
		};
		const char *vals[] = { v->prompt, v->prompt_file, v->worktree,
				       id, v->branch };
		size_t i;

		for (i = 0; i < 5; i++)
			if (!strncmp(p, names[i], strlen(names[i])))
				break;
		if (i < 5) {
			r = buf_puts(&b, vals[i] ? vals[i] : "");
			p += strlen(names[i]);
		} else {
			r = buf_add(&b, p++, 1);
		}
	}
	if (r == 0)
		r = buf_add(&b, "", 0);
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	*out = buf_detach(&b);
	return 0;
}

int engine_argv(const struct config *c, const char *engine,
		const struct engine_vars *v, char ***argv_out,
		char *err, size_t errlen)
{
	const struct engine_def *def;
	char **words = NULL;
	bool from_file;
	int r;
	size_t i;

	if (!strcmp(engine, "sh")) {
		words = calloc(4, sizeof(*words));
		if (!words)
			return -ENOMEM;
		/* Linux caps one argument at 128 KiB (MAX_ARG_STRLEN): a
		 * longer script is run from its file instead. */
		from_file = strlen(v->prompt) >= SH_ARG_MAX && v->prompt_file;
		words[0] = strdup("/bin/sh");
		words[1] = strdup(from_file ? v->prompt_file : "-c");
		words[2] = from_file ? NULL : strdup(v->prompt);
		if (!words[0] || !words[1] || (!from_file && !words[2])) {
			engine_argv_free(words);
			return -ENOMEM;
		}
		*argv_out = words;
		return 0;
	}
	def = config_engine(c, engine);
	if (!def) {
		snprintf(err, errlen, "unknown engine '%s'", engine);
		return -EINVAL;
	}
	r = engine_split(def->command, &words, err, errlen);
	if (r < 0)
		return r;
	for (i = 0; words[i]; i++) {
		char *x;

		if ((r = expand(words[i], v, &x)) < 0) {
			engine_argv_free(words);
			return r;
		}
		free(words[i]);
		words[i] = x;
	}
	*argv_out = words;
	return 0;
}
