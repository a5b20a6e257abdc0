/*
 * sim: an offline stand-in for an agent, for rehearsals and benchmarks.
 *
 * `engine=sim` runs `parallelai sim` under `parallelai stream --format
 * claude`: it reads the prompt, writes Claude Code's stream-json (text,
 * Read and Edit tool calls, tokens, a cost) so that the log, the result
 * file and the usage come through the path every agent CLI takes, and
 * edits the files the prompt names (a comment line in the file's own
 * syntax) or writes NOTES-N.md when it names none. No network.
 *
 * Knobs, from [sim] in the config (sim.seconds, sim.failRate, sim.seed,
 * sim.checkFailRate) and a task spec's "sim" object (the same names),
 * which wins:
 *	seconds		how long a run takes, +-50% jitter (0: at once)
 *	failRate	the fraction of runs that fail as an agent does
 *	seed		the same seed, task, attempt and prompt: the same run
 *	checkFailRate	the fraction of first rounds whose check fails (the
 *			gate does not run it), so fix rounds can be rehearsed
 *
 * As a planner (`parallelai sim --plan`) it splits the request into
 * tasks by its lines, or its bullets when it has some; a line that says
 * "after" depends on the line before it, or on the one it names ("after
 * 2", "after the api", "after all").
 */
#ifndef PAI_SIM_H
#define PAI_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct cJSON;
struct config;

struct sim_knobs {
	double seconds;
	double fail_rate;
	double check_fail_rate;
	uint64_t seed;
	bool seeded;		/* false: every run draws its own */
};

/* The engine's name, and its default price in dollars per million tokens
 * when [price "sim"] says none: a stand-in's figure, not a real one. */
#define SIM_ENGINE "sim"
#define SIM_PRICE_INPUT 3.0
#define SIM_PRICE_OUTPUT 15.0
/* What a mount under -o simulate says first, on start and in README. */
#define SIM_BANNER "SIMULATION (-o simulate): every engine, the planner and" \
	" the judge are sim; no model runs and nothing here is real work"

/* The config's knobs, then a task's options ({"sim": {...}}, the JSON a
 * spec's options became; NULL: none) over them. */
void sim_knobs_get(struct sim_knobs *out, const struct config *c,
		   const char *options);

/*
 * One knob by its name ("seconds", "failRate", "seed", "checkFailRate",
 * case-insensitive) from text: -EINVAL for an unknown name or a value out
 * of range (a rate in [0, 1], seconds in [0, 86400], a seed >= 0).
 */
int sim_knob_set(struct sim_knobs *k, const char *name, const char *value);
/* A spec's "sim" object checked: known names, values in range; err
 * says why. */
int sim_knobs_check_json(const struct cJSON *obj, char *err, size_t errlen);

/*
 * The random stream of one run: the seed (a fresh one when unseeded),
 * the task, its attempt and round, and what it is for ("run", "check").
 * splitmix64 over a FNV-1a hash of them.
 */
struct sim_rng {
	uint64_t s;
};
void sim_rng_init(struct sim_rng *r, const struct sim_knobs *k,
		  int64_t task, int attempt, int round, const char *what);
/* More bytes into its state (the prompt). */
void sim_rng_mix(struct sim_rng *r, const void *p, size_t n);
uint64_t sim_rng_next(struct sim_rng *r);
/* A double in [0, 1). */
double sim_rng_unit(struct sim_rng *r);

/* Does the check of this task's first round fail by design? */
bool sim_check_fails(const struct sim_knobs *k, int64_t task, int attempt);

/*
 * A comment line in the syntax of path's kind of file: "// TEXT" for C,
 * "# TEXT" for Python or shell, "<!-- TEXT -->" for Markdown ...; -ENOTSUP
 * when the kind has no comments (JSON) or is unknown.
 */
int sim_comment(struct buf *out, const char *path, const char *text);

/*
 * The planner's answer for a request: {"tasks": [...]} as
 * include/planner.h reads it, a task per line (or bullet), depends
 * from "after". -EINVAL when the request holds no task.
 */
int sim_plan(struct buf *out, const char *request, size_t len);

/* `parallelai sim ...`: the stand-in itself. */
int sim_main(int argc, char **argv);

#endif
