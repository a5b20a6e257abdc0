/*
 * spec: what was written to tasks/new, checked and parsed.
 *
 * Plain text is the prompt, byte for byte. Text whose first non-blank
 * character is '{' followed (after blanks) by '"' or '}' is a JSON task
 * spec; a shell command such as "{ make; make test; }" is still a prompt.
 * A leading UTF-8 byte-order mark is skipped. A JSON spec is one object
 * with each key once and nothing but blanks after it; strings that are
 * shown as a `key: value` line (engine, model, base, branch, labels...)
 * hold no control characters.
 *
 *	{"prompt": "...",			required
 *	 "engine": "claude", "model": "opus",
 *	 "args": ["--flag"], "env": {"K": "V"}, "permission_mode": "plan",
 *	 "depends": [3, 4], "priority": 5, "timeout": 600, "stall": 120,
 *	 "retries": 2, "base": "v1.2", "branch": "feature/x",
 *	 "labels": ["ui"],
 *	 "check": "make test", "fix_rounds": 2,	a check gate; "" for none
 *	 "sim": {"seconds": 0, "failRate": 0.2,	the sim engine's knobs
 *		 "checkFailRate": 0.5, "seed": 7},	(include/sim.h)
 *	 "max_cost_usd": 1.5, "max_tokens": 200000, "max_turns": 30,
 *						an attempt's budget
 *	 "each": "*.py",			one task per path, {file} in the prompt
 *	 "paths": ["src/ui", "docs/a.md"],	what it may change (globs); a
 *						fan-out task's {file} by default
 *	 "then": {"prompt": "..."}}		one more, after all of them
 *
 *	struct spec sp;
 *	if (spec_parse(&sp, text, len, 1 << 20, err, sizeof(err)) < 0)
 *		...;	// -EINVAL / -EFBIG, err says why
 *	spec_release(&sp);
 */
#ifndef PAI_SPEC_H
#define PAI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A spec's priority and `ctl priority N` share this range. */
#define SPEC_PRIORITY_MAX 1000000
/* An `each` pattern's limits; past them it is refused (EINVAL). */
#define SPEC_GLOB_MAX_LEN 1024
#define SPEC_GLOB_MAX_SEGMENTS 64

struct spec {
	char *prompt;		/* NUL-terminated, prompt_len bytes */
	size_t prompt_len;
	char *engine;		/* NULL: the default engine */
	char *model;		/* NULL: the engine's configured model */
	/* args, env, permission_mode, sim and the budget (max_cost_usd,
	 * max_tokens, max_turns) as one JSON object, for the store, the
	 * engine and the run; NULL when the spec has none of them. */
	char *options;
	int priority;		/* higher first */
	int timeout;		/* seconds of wall time, 0: none */
	int stall;		/* seconds without output, 0: none */
	int retries;		/* extra attempts after a failure */
	char *base;		/* a ref or commit to start from, NULL: HEAD */
	char *branch;		/* NULL: pai/task-N */
	char *labels;		/* JSON array of strings, NULL: none */
	int64_t *depends;	/* task ids, n_depends of them */
	size_t n_depends;
	char *each;		/* a glob over the base tree, NULL: one task */
	char *paths;		/* JSON array of globs it owns, NULL: none */
	struct spec *then;	/* the reduce step after an each, or NULL */
	char *check;		/* the check command, NULL: the config's,
				 * "": none */
	int fix_rounds;		/* 0..100, -1: the config's or engine's */
};

int spec_parse(struct spec *out, const char *text, size_t len,
	       size_t max_prompt, char *err, size_t errlen);
void spec_release(struct spec *sp);

/*
 * Is name fit to be a new task's own branch? A valid branch name that
 * git cannot read as another ref ("@", "HEAD", FETCH_HEAD, "refs/...",
 * "heads/...", "tags/...", "remotes/...", an object id) and that is not
 * under "pai/", where the daemon names its own. -EINVAL, err says why.
 * Whether the name is free (no branch, no other task) is submit's to
 * check. Needs libgit2 initialised (gitrepo_init).
 */
int spec_branch_check(const char *name, char *err, size_t errlen);

/*
 * Is glob within the limits (SPEC_GLOB_MAX_LEN bytes,
 * SPEC_GLOB_MAX_SEGMENTS segments, none empty)? -EINVAL, err says why.
 */
int spec_glob_check(const char *glob, char *err, size_t errlen);

/*
 * Does path match the glob? Segments match as with fnmatch(3) and
 * FNM_PERIOD, and never cross '/'; a "**" segment matches any number of
 * whole segments, none included, so src, "**", "*.c" as segments match
 * src/a.c and src/x/y/b.c. Time is bounded by the product of the glob's
 * and the path's lengths; a glob past the limits matches nothing.
 */
bool spec_glob_match(const char *glob, const char *path);

/*
 * The prompt with every {file} replaced by path (malloc'd): shell-quoted
 * when shell (the prompt is run by sh or split into words), as it is
 * otherwise (an agent reads it as text).
 */
char *spec_expand_file(const char *prompt, const char *path, bool shell);

#endif
