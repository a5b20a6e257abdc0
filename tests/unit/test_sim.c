/*
 * test_sim: the sim engine's pure parts: the planner's split and its
 * "after" rules, comment syntaxes, the knobs and their ranges (config and
 * spec), random streams that a seed makes the same, the check's verdict
 * at the rates' ends, the plan prompt's request found again, and the
 * engine's argv under -o simulate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "check.h"
#include "config.h"
#include "engine.h"
#include "planner.h"
#include "sim.h"
#include "spec.h"

/* The plan of a request as "name<deps>|name<deps>|...". */
static char *plan_of(const char *req)
{
	struct buf b, out;
	cJSON *root, *t, *d;

	buf_init(&b, BUF_NOMAX);
	buf_init(&out, BUF_NOMAX);
	if (sim_plan(&b, req, strlen(req)) < 0) {
		buf_release(&b);
		return NULL;
	}
	root = cJSON_Parse(buf_cstr(&b));
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(root, "tasks")) {
		buf_printf(&out, "%s%s<", out.len ? "|" : "",
			   cJSON_GetObjectItem(t, "name")->valuestring);
		cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "depends"))
			buf_printf(&out, "%s%s", d == cJSON_GetObjectItem(
					   t, "depends")->child ? "" : ",",
				   d->valuestring);
		buf_puts(&out, ">");
	}
	cJSON_Delete(root);
	buf_release(&b);
	buf_add(&out, "", 0);
	return buf_detach(&out);
}

static void test_plan_lines_and_bullets(void)
{
	char *p;

	p = plan_of("write the api\nwrite the cli\n\n  write docs  \n");
	CHECK_STR(p, "1-write-the-api<>|2-write-the-cli<>|3-write-docs<>");
	free(p);
	/* bullets: the other lines are context */
	p = plan_of("Build a todo app:\n- api server\n* cli tool\n"
		    "3. the docs\n4) release it\nthanks");
	CHECK_STR(p, "1-api-server<>|2-cli-tool<>|3-the-docs<>|4-release-it<>");
	free(p);
	CHECK(plan_of("   \n\n\t\n") == NULL);
}

static void test_plan_after(void)
{
	char *p;

	p = plan_of("api\ncli after\ndocs after 1\ntests after all\n"
		    "notes after the cli\nship after step 3\n");
	CHECK_STR(p, "1-api<>|2-cli-after<1-api>|3-docs-after-1<1-api>|"
		  "4-tests-after-all<1-api,2-cli-after,3-docs-after-1>|"
		  "5-notes-after-the<2-cli-after>|6-ship-after-step<3-docs-after-1>");
	free(p);
	/* "afterwards" is not "after"; a first line waits for nothing; a
	 * number out of range or an unknown name: the line before */
	p = plan_of("after all, api\nlog afterwards\ncli after 9\n"
		    "docs after the moon\n");
	CHECK_STR(p, "1-after-all-api<>|2-log-afterwards<>|3-cli-after-9<2-log-afterwards>|"
		  "4-docs-after-the<3-cli-after-9>");
	free(p);
}

static void test_plan_answer_is_a_valid_plan(void)
{
	struct config c;
	struct plan_steps steps = { 0 };
	struct buf b;
	char err[256], *norm = NULL;
	const char *req = "- api\n- cli after api\n- docs after all\n";

	config_init(&c);
	buf_init(&b, BUF_NOMAX);
	CHECK(sim_plan(&b, req, strlen(req)) == 0);
	CHECK(plan_parse(&steps, buf_cstr(&b), &c, 10, &norm, err,
			 sizeof(err)) == 0);
	CHECK(steps.n == 3);
	CHECK(steps.n == 3 && steps.v[2].n_deps == 2);
	plan_steps_release(&steps);
	free(norm);
	buf_release(&b);
	config_release(&c);
}

static void test_plan_request_found_in_its_prompt(void)
{
	char *pr = plan_prompt("line one\nline two", NULL, NULL);
	char *again = plan_prompt("req", "{bad", "no tasks");
	const char *r;
	size_t n = 0;

	r = plan_request(pr, &n);
	CHECK(r && n == 17 && !strncmp(r, "line one\nline two", n));
	r = plan_request(again, &n);
	CHECK(r && n == 3 && !strncmp(r, "req", 3));
	CHECK(plan_request("add a --verbose flag", &n) == NULL);
	free(pr);
	free(again);
}

static void test_comment_syntax(void)
{
	static const struct { const char *path, *want; } cases[] = {
		{ "src/a.c", "// x" }, { "lib/b.PY", "# x" },
		{ "README.md", "<!-- x -->" }, { "Makefile", "# x" },
		{ "q.sql", "-- x" }, { "s.css", "/* x */" },
		{ "notes.txt", "x" }, { "a.go", "// x" }, { "x.yml", "# x" },
	};
	struct buf b;
	size_t i;

	buf_init(&b, BUF_NOMAX);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_truncate(&b, 0);
		CHECK(sim_comment(&b, cases[i].path, "x") == 0);
		CHECK_STR(buf_cstr(&b), cases[i].want);
	}
	CHECK(sim_comment(&b, "package.json", "x") == -ENOTSUP);
	CHECK(sim_comment(&b, "image.png", "x") == -ENOTSUP);
	CHECK(sim_comment(&b, "LICENSE", "x") == -ENOTSUP);
	buf_release(&b);
}

static void test_knobs_ranges(void)
{
	struct sim_knobs k = { 0 };

	CHECK(sim_knob_set(&k, "seconds", "0") == 0 && k.seconds == 0);
	CHECK(sim_knob_set(&k, "failrate", "0.25") == 0 && k.fail_rate == 0.25);
	CHECK(sim_knob_set(&k, "checkFailRate", "1") == 0 &&
	      k.check_fail_rate == 1);
	CHECK(!k.seeded);
	CHECK(sim_knob_set(&k, "seed", "42") == 0 && k.seeded && k.seed == 42);
	CHECK(sim_knob_set(&k, "failRate", "1.5") == -EINVAL);
	CHECK(sim_knob_set(&k, "failRate", "-0.1") == -EINVAL);
	CHECK(sim_knob_set(&k, "seconds", "-1") == -EINVAL);
	CHECK(sim_knob_set(&k, "seconds", "90000") == -EINVAL);
	CHECK(sim_knob_set(&k, "seed", "1.5") == -EINVAL);
	CHECK(sim_knob_set(&k, "seed", "x") == -EINVAL);
	CHECK(sim_knob_set(&k, "seconds", "") == -EINVAL);
	CHECK(sim_knob_set(&k, "speed", "1") == -EINVAL);
	CHECK(k.fail_rate == 0.25);
}

static void test_config_and_spec(void)
{
	struct config c;
	struct sim_knobs k;
	struct spec sp;
	char err[256];
	const char *good = "{\"prompt\": \"p\", \"sim\": {\"seconds\": 0,"
			   " \"failRate\": 1, \"seed\": 9}}";
	const char *bad1 = "{\"prompt\": \"p\", \"sim\": {\"speed\": 1}}";
	const char *bad2 = "{\"prompt\": \"p\", \"sim\": {\"failRate\": 3}}";
	const char *bad3 = "{\"prompt\": \"p\", \"sim\": 1}";

	config_init(&c);
	CHECK(c.sim.seconds == 2 && !c.simulate);
	CHECK(config_set(&c, "sim.failrate", "0.5", err, sizeof(err)) == 0);
	CHECK(config_set(&c, "sim.failrate", "2", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "sim.failrate") != NULL);
	CHECK(config_set(&c, "simulate", NULL, err, sizeof(err)) == 0 &&
	      c.simulate);
	CHECK(config_set(&c, "simulate", "no", err, sizeof(err)) == 0 &&
	      !c.simulate);
	CHECK(spec_parse(&sp, good, strlen(good), 1 << 20, err,
			 sizeof(err)) == 0);
	sim_knobs_get(&k, &c, sp.options);
	CHECK(k.seconds == 0 && k.fail_rate == 1 && k.seeded && k.seed == 9);
	sim_knobs_get(&k, &c, NULL);
	CHECK(k.seconds == 2 && k.fail_rate == 0.5 && !k.seeded);
	spec_release(&sp);
	CHECK(spec_parse(&sp, bad1, strlen(bad1), 1 << 20, err,
			 sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "sim.speed") != NULL);
	spec_release(&sp);
	CHECK(spec_parse(&sp, bad2, strlen(bad2), 1 << 20, err,
			 sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "sim.failRate") != NULL);
	spec_release(&sp);
	CHECK(spec_parse(&sp, bad3, strlen(bad3), 1 << 20, err,
			 sizeof(err)) == -EINVAL);
	spec_release(&sp);
	config_release(&c);
}

static void test_seeded_streams_repeat(void)
{
	struct sim_knobs k = { .seed = 7, .seeded = true };
	struct sim_rng a, b, c;
	int i, same = 1, differ = 0;

	sim_rng_init(&a, &k, 3, 1, 1, "run");
	sim_rng_init(&b, &k, 3, 1, 1, "run");
	sim_rng_init(&c, &k, 3, 2, 1, "run");
	for (i = 0; i < 100; i++) {
		uint64_t x = sim_rng_next(&a), y = sim_rng_next(&b);

		same &= x == y;
		differ |= x != sim_rng_next(&c);
		CHECK(sim_rng_unit(&a) == sim_rng_unit(&b));
	}
	CHECK(same);
	CHECK(differ);
}

static void test_check_fails_at_the_ends(void)
{
	struct sim_knobs k = { .check_fail_rate = 0 };
	int i, n = 0;

	for (i = 1; i <= 50; i++)
		CHECK(!sim_check_fails(&k, i, 1));
	k.check_fail_rate = 1;
	for (i = 1; i <= 50; i++)
		CHECK(sim_check_fails(&k, i, 1));
	k.check_fail_rate = 0.5;
	k.seeded = true;
	for (i = 1; i <= 400; i++)
		n += sim_check_fails(&k, i, 1);
	CHECK(n > 120 && n < 280);
}

static bool has_word(char **argv, const char *w)
{
	for (; *argv; argv++)
		if (!strcmp(*argv, w))
			return true;
	return false;
}

static void test_argv_and_simulate(void)
{
	struct config c;
	struct engine_vars v = { .prompt = "p", .prompt_file = "/s/p",
				 .worktree = "/w", .self_exe = "/bin/pai",
				 .raw_file = "/s/r", .result_file = "/s/j",
				 .task_id = 4, .attempt = 2,
				 .options = "{\"sim\":{\"seed\":5}}" };
	char **argv = NULL, err[256];

	config_init(&c);
	CHECK(engine_known(&c, "sim") && engine_reads_text(&c, "sim"));
	CHECK(engine_argv(&c, "sim", &v, &argv, err, sizeof(err)) == 0);
	CHECK(argv && !strcmp(argv[1], "stream") && has_word(argv, "sim") &&
	      has_word(argv, "--seed") && has_word(argv, "5") &&
	      has_word(argv, "3:15") && has_word(argv, "--attempt"));
	engine_argv_free(argv);
	/* sh runs sh, until -o simulate */
	CHECK(engine_argv(&c, "sh", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[0], "/bin/sh");
	engine_argv_free(argv);
	c.simulate = true;
	CHECK(engine_argv(&c, "sh", &v, &argv, err, sizeof(err)) == 0);
	CHECK(has_word(argv, "sim") && has_word(argv, "--prompt-file"));
	engine_argv_free(argv);
	CHECK(engine_argv(&c, "claude", &v, &argv, err, sizeof(err)) == 0);
	CHECK(has_word(argv, "sim") && !has_word(argv, "-p"));
	engine_argv_free(argv);
	config_release(&c);
}

int main(void)
{
	RUN(test_plan_lines_and_bullets);
	RUN(test_plan_after);
	RUN(test_plan_answer_is_a_valid_plan);
	RUN(test_plan_request_found_in_its_prompt);
	RUN(test_comment_syntax);
	RUN(test_knobs_ranges);
	RUN(test_config_and_spec);
	RUN(test_seeded_streams_repeat);
	RUN(test_check_fails_at_the_ends);
	RUN(test_argv_and_simulate);
	return check_done();
}
