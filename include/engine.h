/*
 * engine: the engine registry. Turns a task into the argv of the program
 * that works on it.
 *
 *   sh     /bin/sh -c PROMPT
 *   NAME   [engine "NAME"] command = TEMPLATE from the config: split into
 *          words like a shell would (quotes and backslashes), then {prompt},
 *          {prompt_file}, {worktree}, {task_id} and {branch} replaced inside
 *          each word. No shell ever sees the prompt.
 */
#ifndef PAI_ENGINE_H
#define PAI_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct task;

bool engine_known(const struct config *c, const char *name);

struct engine_vars {
	const char *prompt;
	const char *prompt_file;
	const char *worktree;
	const char *branch;
	long long task_id;
};

/* *argv_out is a NULL-terminated malloc'd vector; free with engine_argv_free. */
int engine_argv(const struct config *c, const char *engine,
		const struct engine_vars *v, char ***argv_out,
		char *err, size_t errlen);
void engine_argv_free(char **argv);

/* Split a command template into words; exposed for the unit tests. */
int engine_split(const char *template, char ***words_out,
		 char *err, size_t errlen);

#endif
