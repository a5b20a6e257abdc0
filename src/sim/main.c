/*
 * sim/main: `parallelai sim`, the stand-in an engine preset runs under
 * `parallelai stream --format claude`:
 *
 *	parallelai sim --prompt-file F --worktree W --task 7 --attempt 1 \
 *		--seconds 2 --fail-rate 0.1 [--seed 42] --price 3:15 \
 *		[--model M]
 *
 * It writes Claude Code's stream-json on stdout, a line an event, and
 * edits the worktree's files as it says. A fix round's prompt (the
 * check's failure above the task) is answered with a fix; a planner's
 * prompt (planner.c's) with a plan. Exit 0, or 1 when the run fails by
 * design (failRate), 2 for bad arguments.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "planner.h"
#include "sim.h"
#include "simint.h"

static const char usage[] =
"usage: parallelai sim --prompt-file FILE [--worktree DIR] [--task N]\n"
"                      [--attempt N] [--seconds S] [--fail-rate R]\n"
"                      [--seed N] [--price IN:OUT] [--model NAME]\n"
"\n"
"An offline stand-in for a coding agent: Claude Code's stream-json on\n"
"stdout, a comment line added to the files the prompt names (or\n"
"NOTES-N.md). Run by engine=sim under `parallelai stream`.\n";

struct sim_run {
	const char *prompt_file, *wt, *model;
	long long task;
	int attempt, round, rounds;
	struct sim_knobs k;
	double pin, pout;
	struct buf prompt;
	const char *text;	/* the task: the prompt without a fix round's
				 * header */
	struct sim_rng rng;
	double pause_ms;
	long long in_tok, out_tok, turns, tools;
	struct timespec t0;
};

static const char *const notes[] = {
	"reviewed for this task", "checked the bounds here",
	"error paths looked at", "this could use a test",
	"names here read well", "a note for the next reader",
	"kept the interface as it is", "simplest change that works",
};
static const char *const failures[] = {
	"API Error: 529 {\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}",
	"API Error: Request timed out.",
	"API Error: 500 {\"type\":\"api_error\",\"message\":\"Internal server error\"}",
};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int parse(struct sim_run *s, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			exit(0);
		}
		if (!v) {
			fprintf(stderr, "parallelai sim: '%s' needs a value\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--prompt-file"))
			s->prompt_file = v;
		else if (!strcmp(a, "--worktree"))
			s->wt = v;
		else if (!strcmp(a, "--model"))
			s->model = v;
		else if (!strcmp(a, "--task"))
			s->task = strtoll(v, NULL, 10);
		else if (!strcmp(a, "--attempt"))
			s->attempt = atoi(v);
		else if (!strcmp(a, "--seconds"))
			bad = sim_knob_set(&s->k, "seconds", v);
		else if (!strcmp(a, "--fail-rate"))
			bad = sim_knob_set(&s->k, "failRate", v);
		else if (!strcmp(a, "--seed"))
			bad = sim_knob_set(&s->k, "seed", v);
		else if (!strcmp(a, "--price"))
			bad = sscanf(v, "%lf:%lf", &s->pin, &s->pout) != 2;
		else {
			fprintf(stderr, "parallelai sim: unknown option '%s'\n%s",
				a, usage);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "parallelai sim: bad value for '%s': '%s'\n",
				a, v);
			return -1;
		}
	}
	if (!s->prompt_file) {
		fprintf(stderr, "parallelai sim: --prompt-file is required\n%s",
			usage);
		return -1;
	}
	return 0;
}

/* A fix round's prompt: its round from the header, the task after it. */
static void read_round(struct sim_run *s)
{
	const char *p = buf_cstr(&s->prompt), *t;

	s->round = 1;
	s->text = p;
	if (strncmp(p, "# parallelai: the check failed: `", 33))
		return;
	t = strstr(p, "\n# This is round ");
	if (t)
		sscanf(t, "\n# This is round %d of %d", &s->round, &s->rounds);
	t = strstr(p, "\n# The task:\n\n");
	if (t)
		s->text = t + 14;
}

static void pause_step(struct sim_run *s)
{
	struct timespec ts;

	if (s->pause_ms <= 0)
		return;
	ts.tv_sec = (time_t)(s->pause_ms / 1000);
	ts.tv_nsec = (long)((s->pause_ms - (double)ts.tv_sec * 1000) * 1e6);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One event out, a line, flushed: the log follows it live. */
static void emit(struct sim_run *s, cJSON *ev)
{
	char *line = cJSON_PrintUnformatted(ev);

	if (line) {
		fputs(line, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		cJSON_free(line);
	}
	cJSON_Delete(ev);
	pause_step(s);
}

static cJSON *message(const char *type, cJSON **content)
{
	cJSON *ev = cJSON_CreateObject(), *msg;

	cJSON_AddStringToObject(ev, "type", type);
	msg = cJSON_AddObjectToObject(ev, "message");
	cJSON_AddStringToObject(msg, "role", type);
	*content = cJSON_AddArrayToObject(msg, "content");
	return ev;
}

static void say(struct sim_run *s, const char *text)
{
	cJSON *content, *ev = message("assistant", &content);
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "type", "text");
	cJSON_AddStringToObject(b, "text", text);
	cJSON_AddItemToArray(content, b);
	s->out_tok += 20 + (long long)strlen(text) / 4;
	emit(s, ev);
}

/* A tool call and its result; input is taken. */
static void tool(struct sim_run *s, const char *name, cJSON *input,
		 const char *result)
{
	cJSON *content, *ev = message("assistant", &content), *b;
	char id[32];

	snprintf(id, sizeof(id), "toolu_sim_%lld", ++s->tools);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "tool_use");
	cJSON_AddStringToObject(b, "id", id);
	cJSON_AddStringToObject(b, "name", name);
	cJSON_AddItemToObject(b, "input", input);
	cJSON_AddItemToArray(content, b);
	s->turns++;
	s->in_tok += 900 + (long long)(sim_rng_next(&s->rng) % 600);
	s->out_tok += 40 + (long long)(sim_rng_next(&s->rng) % 120);
	emit(s, ev);
	ev = message("user", &content);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "tool_result");
	cJSON_AddStringToObject(b, "tool_use_id", id);
	cJSON_AddStringToObject(b, "content", result);
	cJSON_AddItemToArray(content, b);
	emit(s, ev);
}

static cJSON *path_input(const char *wt, const char *rel)
{
	cJSON *in = cJSON_CreateObject();
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", wt, rel);
	cJSON_AddStringToObject(in, "file_path", path);
	return in;
}

/* The last event: what it did, tokens, cost. */
static int finish(struct sim_run *s, const char *result, const char *error)
{
	cJSON *ev = cJSON_CreateObject(), *u;
	struct timespec t1;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - s->t0.tv_sec) * 1000 +
	     (double)(t1.tv_nsec - s->t0.tv_nsec) / 1e6;
	cJSON_AddStringToObject(ev, "type", "result");
	cJSON_AddStringToObject(ev, "subtype", error ? "error_during_execution"
						     : "success");
	cJSON_AddBoolToObject(ev, "is_error", error != NULL);
	cJSON_AddNumberToObject(ev, "duration_ms", (double)(long long)ms);
	cJSON_AddNumberToObject(ev, "num_turns", (double)(s->turns + 1));
	cJSON_AddStringToObject(ev, "result", result);
	if (error)
		cJSON_AddItemToArray(cJSON_AddArrayToObject(ev, "errors"),
				     cJSON_CreateString(error));
	cJSON_AddNumberToObject(ev, "total_cost_usd",
				((double)s->in_tok * s->pin +
				 (double)s->out_tok * s->pout) / 1e6);
	u = cJSON_AddObjectToObject(ev, "usage");
	cJSON_AddNumberToObject(u, "input_tokens", (double)s->in_tok);
	cJSON_AddNumberToObject(u, "output_tokens", (double)s->out_tok);
	s->pause_ms = 0;
	emit(s, ev);
	return error ? 1 : 0;
}

static int plan(struct sim_run *s, const char *req, size_t len)
{
	struct buf answer;
	int r;

	say(s, "I'll split the request into tasks, one per line (or bullet),"
	       " each after the ones it says it comes after.");
	buf_init(&answer, BUF_NOMAX);
	r = sim_plan(&answer, req, len);
	s->out_tok += (long long)answer.len / 3;
	if (r < 0) {
		buf_release(&answer);
		return finish(s, "", "sim: the request holds no task");
	}
	r = finish(s, buf_cstr(&answer), NULL);
	buf_release(&answer);
	return r;
}

/* Add the comment line to rel; 0, or -ENOTSUP for a file without
 * comments (or a binary one). */
static int edit(struct sim_run *s, const char *rel, const char *note)
{
	char path[PATH_MAX], line[512];
	struct buf body, c, nw;
	const char *last, *b;
	size_t e;
	cJSON *in;
	int r;

	snprintf(path, sizeof(path), "%s/%s", s->wt, rel);
	buf_init(&body, SIM_FILE_MAX);
	buf_init(&c, 4096);
	if ((r = sim_read_file(path, &body)) < 0)
		goto out;
	tool(s, "Read", path_input(s->wt, rel), "(the file's text)");
	s->in_tok += (long long)body.len / 4;
	if (memchr(buf_cstr(&body), '\0', body.len) ||
	    (r = sim_comment(&c, rel, note)) < 0) {
		r = -ENOTSUP;
		goto out;
	}
	/* The Edit shown: the last line, and the comment under it. */
	b = buf_cstr(&body);
	e = body.len && b[body.len - 1] == '\n' ? body.len - 1 : body.len;
	last = memrchr(b, '\n', e);
	last = last ? last + 1 : b;
	snprintf(line, sizeof(line), "%s", buf_cstr(&c));
	buf_init(&nw, BUF_NOMAX);
	buf_printf(&nw, "%.*s", (int)(b + e - last), last);
	in = path_input(s->wt, rel);
	cJSON_AddStringToObject(in, "old_string", buf_cstr(&nw));
	buf_printf(&nw, "\n%s", line);
	cJSON_AddStringToObject(in, "new_string", buf_cstr(&nw));
	buf_release(&nw);
	r = sim_append(path, line, body.len &&
		       buf_cstr(&body)[body.len - 1] != '\n');
	if (r == 0)
		tool(s, "Edit", in, "The file has been updated.");
	else
		cJSON_Delete(in);
out:
	buf_release(&body);
	buf_release(&c);
	return r;
}

/* No file named, or none that takes a comment: NOTES-N.md. */
static int notes_file(struct sim_run *s, const char *note, struct buf *did)
{
	char rel[64], path[PATH_MAX];
	struct buf text;
	cJSON *in;
	const char *nl = strchr(s->text, '\n');
	int r;

	snprintf(rel, sizeof(rel), "NOTES-%lld.md", s->task);
	snprintf(path, sizeof(path), "%s/%s", s->wt, rel);
	buf_init(&text, BUF_NOMAX);
	if (s->round == 1)
		buf_printf(&text, "# Notes from sim (task %lld)\n\n%.*s\n\n",
			   s->task, nl ? (int)(nl - s->text) > 200 ? 200 :
			   (int)(nl - s->text) : 200, s->text);
	buf_printf(&text, "- %s", note);
	in = path_input(s->wt, rel);
	cJSON_AddStringToObject(in, "content", buf_cstr(&text));
	r = sim_append(path, buf_cstr(&text), false);
	if (r == 0) {
		tool(s, s->round == 1 ? "Write" : "Edit", in,
		     "The file has been written.");
		buf_printf(did, "%s%s", did->len ? ", " : "", rel);
	} else {
		cJSON_Delete(in);
	}
	buf_release(&text);
	return r;
}

static int work(struct sim_run *s)
{
	char **files = NULL, note[256], head[160];
	struct buf did;
	size_t n = 0, i;
	int r, code;

	if (sim_named_files(s->wt, s->text, &files, &n) < 0)
		n = 0;
	s->pause_ms = s->k.seconds * 1000 * (0.5 + sim_rng_unit(&s->rng)) /
		      (double)(3 + 2 * n);
	if (s->round > 1)
		snprintf(head, sizeof(head), "The check failed; round %d of %d:"
			 " I'll read what it reported and fix it.", s->round,
			 s->rounds);
	else
		snprintf(head, sizeof(head), "I'll start with %s.", n ?
			 files[0] : "notes, since the task names no file");
	say(s, head);
	if (sim_rng_unit(&s->rng) < s->k.fail_rate) {
		char why[256];

		if (n)
			tool(s, "Read", path_input(s->wt, files[0]),
			     "(the file's text)");
		snprintf(why, sizeof(why), "sim (failRate %g): %s",
			 s->k.fail_rate, failures[sim_rng_next(&s->rng) %
						  N_OF(failures)]);
		sim_files_free(files, n);
		return finish(s, why, why);
	}
	if (s->round > 1)
		snprintf(note, sizeof(note), "sim: task %lld, round %d: fixed"
			 " what the check reported", s->task, s->round);
	else
		snprintf(note, sizeof(note), "sim: task %lld: %s", s->task,
			 notes[sim_rng_next(&s->rng) % N_OF(notes)]);
	buf_init(&did, BUF_NOMAX);
	for (i = 0; i < n; i++)
		if ((r = edit(s, files[i], note)) == 0)
			buf_printf(&did, "%s%s", did.len ? ", " : "", files[i]);
		else if (r == -ENOTSUP) {
			char why[PATH_MAX + 64];

			snprintf(why, sizeof(why), "%s takes no comment; I'll"
				 " leave it as it is.", files[i]);
			say(s, why);
		}
	if (!did.len)
		notes_file(s, note, &did);
	{
		struct buf res;

		buf_init(&res, BUF_NOMAX);
		buf_printf(&res, "Done: %s (%s).", did.len ? buf_cstr(&did) :
			   "nothing could be written", note);
		say(s, buf_cstr(&res));
		code = finish(s, buf_cstr(&res), NULL);
		buf_release(&res);
	}
	buf_release(&did);
	sim_files_free(files, n);
	return code;
}

int sim_main(int argc, char **argv)
{
	struct sim_run s = { 0 };
	const char *req;
	size_t len;
	cJSON *ev;
	int r;

	s.wt = ".";
	s.model = SIM_ENGINE;
	s.attempt = 1;
	s.pin = SIM_PRICE_INPUT;
	s.pout = SIM_PRICE_OUTPUT;
	if (parse(&s, argc, argv) < 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &s.t0);
	buf_init(&s.prompt, 64 << 20);
	if ((r = sim_read_file(s.prompt_file, &s.prompt)) < 0 ||
	    (r = buf_add(&s.prompt, "", 0)) < 0) {
		fprintf(stderr, "parallelai sim: cannot read '%s': %s\n",
			s.prompt_file, strerror(-r));
		return 2;
	}
	read_round(&s);
	sim_rng_init(&s.rng, &s.k, s.task, s.attempt, s.round, "run");
	sim_rng_mix(&s.rng, s.text, strlen(s.text));
	s.in_tok = 2000 + (long long)strlen(buf_cstr(&s.prompt)) / 4;
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", "system");
	cJSON_AddStringToObject(ev, "subtype", "init");
	cJSON_AddStringToObject(ev, "cwd", s.wt);
	cJSON_AddStringToObject(ev, "model", s.model);
	cJSON_AddStringToObject(ev, "permissionMode", "acceptEdits");
	cJSON_AddBoolToObject(ev, "simulated", 1);
	emit(&s, ev);
	req = plan_request(buf_cstr(&s.prompt), &len);
	r = req ? plan(&s, req, len) : work(&s);
	buf_release(&s.prompt);
	return r;
}
