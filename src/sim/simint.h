/*
 * simint.h: what the files of src/sim/ share. knobs.c the knobs, random
 * streams and the daemon's decisions; plan.c the planner; edit.c the
 * files a prompt names and the lines added to them; main.c the stand-in
 * itself (`parallelai sim`), which only runs in its own process.
 */
#ifndef PAI_SIMINT_H
#define PAI_SIMINT_H

#include <stdbool.h>
#include <stddef.h>

#include "sim.h"

struct buf;

#define SIM_FILES_MAX 16		/* files one run edits at most */
#define SIM_FILE_MAX (4 << 20)		/* bytes of a file it edits at most */

/* The worktree's files the prompt names, in order, each once; malloc'd. */
int sim_named_files(const char *wt, const char *prompt, char ***out,
		    size_t *n);
void sim_files_free(char **v, size_t n);
int sim_read_file(const char *path, struct buf *out);
/* line and a newline appended (after one more when the file lacks its
 * last: newline_first). */
int sim_append(const char *path, const char *line, bool newline_first);

#endif
