/* Unit tests for engine: word splitting and placeholder expansion. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "config.h"
#include "engine.h"

static void test_split_honours_quotes(void)
{
	char **w = NULL, err[128];

	CHECK(engine_split("tool  'a b' \"c \\\"d\\\"\" e\\ f", &w, err,
			   sizeof(err)) == 0);
	CHECK_STR(w[0], "tool");
	CHECK_STR(w[1], "a b");
	CHECK_STR(w[2], "c \"d\"");
	CHECK_STR(w[3], "e f");
	CHECK(w[4] == NULL);
	engine_argv_free(w);
}

static void test_split_refuses_bad_templates(void)
{
	char **w = NULL, err[128] = "";

	CHECK(engine_split("tool 'open", &w, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "unterminated") != NULL);
	CHECK(engine_split("   ", &w, err, sizeof(err)) == -EINVAL);
	CHECK(engine_split("tool \\", &w, err, sizeof(err)) == -EINVAL);
	CHECK(w == NULL);
}

static void test_prompt_is_never_split_or_shell_parsed(void)
{
	struct config c;
	struct engine_vars v = {
		.prompt = "it's \"quoted\"; rm -rf / $(x)",
		.prompt_file = "/s/prompts/7", .worktree = "/w",
		.branch = "pai/task-7", .task_id = 7,
	};
	char **argv = NULL, err[128];
	char errs[128];

	config_init(&c);
	CHECK(config_set(&c, "workers", "2", errs, sizeof(errs)) == 0);
	c.engines = calloc(1, sizeof(*c.engines));
	c.engines[0].name = strdup("mytool");
	c.engines[0].command =
		strdup("mytool --prompt-file={prompt_file} -m {prompt} -C {worktree} --id t{task_id} {branch}");
	c.n_engines = 1;

	CHECK(engine_argv(&c, "mytool", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[0], "mytool");
	CHECK_STR(argv[1], "--prompt-file=/s/prompts/7");
	CHECK_STR(argv[2], "-m");
	CHECK_STR(argv[3], v.prompt);
	CHECK_STR(argv[5], "/w");
	CHECK_STR(argv[7], "t7");
	CHECK_STR(argv[8], "pai/task-7");
	CHECK(argv[9] == NULL);
	engine_argv_free(argv);

	CHECK(engine_argv(&c, "sh", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[0], "/bin/sh");
	CHECK_STR(argv[2], v.prompt);
	engine_argv_free(argv);

	{
		/* Past what one argument may hold, sh reads the prompt file. */
		struct engine_vars big = v;
		char *text = malloc(200 * 1024);

		memset(text, ':', 200 * 1024 - 1);
		text[200 * 1024 - 1] = '\0';
		big.prompt = text;
		CHECK(engine_argv(&c, "sh", &big, &argv, err, sizeof(err)) == 0);
		CHECK_STR(argv[1], "/s/prompts/7");
		CHECK(argv[2] == NULL);
		engine_argv_free(argv);
		free(text);
	}
	CHECK(engine_known(&c, "sh"));
	CHECK(engine_known(&c, "mytool"));
	CHECK(!engine_known(&c, "nope"));
	CHECK(engine_argv(&c, "nope", &v, &argv, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "unknown engine 'nope'");
	config_release(&c);
}

int main(void)
{
	RUN(test_split_honours_quotes);
	RUN(test_split_refuses_bad_templates);
	RUN(test_prompt_is_never_split_or_shell_parsed);
	return check_done();
}
