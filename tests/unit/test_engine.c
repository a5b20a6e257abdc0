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

static void test_presets_wrap_the_cli_in_stream(void)
{
	struct config c;
	struct engine_vars v = {
		.prompt = "add a --verbose flag", .prompt_file = "/s/p/7",
		.worktree = "/w", .branch = "pai/task-7", .task_id = 7,
		.self_exe = "/usr/bin/parallelai", .raw_file = "/s/l/7.jsonl",
		.result_file = "/s/r/7.json",
	};
	char **argv = NULL, err[128];
	const char *want_claude[] = {
		"/usr/bin/parallelai", "stream", "--format", "claude", "--raw",
		"/s/l/7.jsonl", "--result", "/s/r/7.json", "--", "claude",
		"-p", "add a --verbose flag", "--output-format", "stream-json",
		"--verbose", "--permission-mode", "acceptEdits", "--model",
		"opus", "--max-turns", "3", NULL
	};
	size_t i;

	config_init(&c);
	c.engines = calloc(1, sizeof(*c.engines));
	c.engines[0].name = strdup("claude");
	c.engines[0].model = strdup("sonnet");
	c.engines[0].args = strdup("--max-turns 3");
	c.n_engines = 1;
	v.model = "opus";	/* the task's choice wins over the config */
	CHECK(engine_known(&c, "claude"));
	CHECK(engine_argv(&c, "claude", &v, &argv, err, sizeof(err)) == 0);
	for (i = 0; want_claude[i]; i++)
		CHECK_STR(argv[i], want_claude[i]);
	CHECK(argv[i] == NULL);
	engine_argv_free(argv);

	/* codex and opencode take the prompt last */
	v.model = NULL;
	CHECK(engine_argv(&c, "codex", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[9], "codex");
	CHECK_STR(argv[10], "exec");
	for (i = 0; argv[i + 1]; i++)
		;
	CHECK_STR(argv[i], "add a --verbose flag");
	engine_argv_free(argv);

	CHECK(engine_argv(&c, "anthropic", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[1], "agent");
	CHECK_STR(argv[3], "anthropic");
	CHECK_STR(argv[5], "claude-sonnet-4-5");
	CHECK_STR(argv[7], "/s/p/7");
	engine_argv_free(argv);

	/* the task's own args and permission mode */
	v.options = "{\"args\":[\"--add-dir\",\"/x\"],\"permission_mode\":\"plan\"}";
	CHECK(engine_argv(&c, "claude", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[16], "plan");
	for (i = 0; argv[i]; i++)
		;
	CHECK_STR(argv[i - 2], "--add-dir");
	CHECK_STR(argv[i - 1], "/x");
	engine_argv_free(argv);
	v.options = NULL;
	{
		char **env = NULL;

		CHECK(engine_task_env("{\"env\":{\"A\":\"1\",\"B\":\"x=y\"}}",
				      &env) == 0);
		CHECK_STR(env[0], "A=1");
		CHECK_STR(env[1], "B=x=y");
		CHECK(env[2] == NULL);
		engine_argv_free(env);
		CHECK(engine_task_env(NULL, &env) == 0 && env == NULL);
	}

	/* a command of one's own overrides the preset of that name */
	c.engines[0].command = strdup("myclaude {prompt}");
	CHECK(engine_argv(&c, "claude", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[0], "myclaude");
	engine_argv_free(argv);
	config_release(&c);
}

/* bypassPermissions only with the sandbox and the hook both; the user's
 * own mode always wins. */
static void test_claude_permission_mode(void)
{
	struct config c;
	struct engine_vars v = {
		.prompt = "make test", .prompt_file = "/s/p/7",
		.worktree = "/w", .branch = "pai/task-7", .task_id = 7,
		.self_exe = "/usr/bin/parallelai", .raw_file = "/s/l/7.jsonl",
		.result_file = "/s/r/7.json",
	};
	char **argv = NULL, err[128], mode[64], why[128];

	config_init(&c);
	engine_permission_mode(&c, "claude", NULL, true, true, mode,
			       sizeof(mode), why, sizeof(why));
	CHECK_STR(mode, "bypassPermissions");
	CHECK_STR(why, "sandbox and policy hook in force");
	engine_permission_mode(&c, "claude", NULL, false, true, mode,
			       sizeof(mode), why, sizeof(why));
	CHECK_STR(mode, "acceptEdits");
	CHECK_STR(why, "no sandbox");
	engine_permission_mode(&c, "claude", NULL, true, false, mode,
			       sizeof(mode), why, sizeof(why));
	CHECK_STR(mode, "acceptEdits");
	CHECK_STR(why, "no policy hook");
	engine_permission_mode(&c, "claude", "{\"permission_mode\":\"plan\"}",
			       true, true, mode, sizeof(mode), why, sizeof(why));
	CHECK_STR(mode, "plan");
	CHECK_STR(why, "the task's permission_mode");

	/* the argv: sandboxed with the settings file */
	v.sandboxed = true;
	v.settings_file = "/s/settings/7.json";
	CHECK(engine_argv(&c, "claude", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[15], "--permission-mode");
	CHECK_STR(argv[16], "bypassPermissions");
	engine_argv_free(argv);
	v.sandboxed = false;
	CHECK(engine_argv(&c, "claude", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[16], "acceptEdits");
	engine_argv_free(argv);

	/* engine.claude.permissionMode wins over the sandbox's default */
	c.engines = calloc(1, sizeof(*c.engines));
	c.engines[0].name = strdup("claude");
	c.engines[0].permission_mode = strdup("acceptEdits");
	c.n_engines = 1;
	v.sandboxed = true;
	CHECK(engine_argv(&c, "claude", &v, &argv, err, sizeof(err)) == 0);
	CHECK_STR(argv[16], "acceptEdits");
	engine_argv_free(argv);
	engine_permission_mode(&c, "claude", NULL, true, true, mode,
			       sizeof(mode), why, sizeof(why));
	CHECK_STR(why, "engine.claude.permissionMode");
	config_release(&c);
}

int main(void)
{
	RUN(test_split_honours_quotes);
	RUN(test_split_refuses_bad_templates);
	RUN(test_prompt_is_never_split_or_shell_parsed);
	RUN(test_presets_wrap_the_cli_in_stream);
	RUN(test_claude_permission_mode);
	return check_done();
}
