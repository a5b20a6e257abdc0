/* Unit tests for aws and provider: AWS credentials and region found as
 * the AWS tools find them (environment, then the profile's files), the
 * config's protocol and provider keys, and what a cloud sets, passes and
 * binds for claude, gemini and the built-in bedrock engine. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include <git2.h>

#include "aws.h"
#include "check.h"
#include "config.h"
#include "engine.h"
#include "provider.h"

static char dir[] = "/tmp/pai-provider-XXXXXX";

__attribute__((format(printf, 1, 2)))
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fprintf(stderr, "command failed: %s\n", cmd);
}

static void clear_aws(void)
{
	static const char *const vars[] = {
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
		"AWS_SHARED_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS",
		"CLOUD_ML_REGION", "ANTHROPIC_VERTEX_PROJECT_ID", "GOOGLE_CLOUD_PROJECT",
		"GOOGLE_CLOUD_LOCATION", NULL
	};
	size_t i;

	for (i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	setenv("HOME", dir, 1);
}

static void test_credentials_environment_first_then_profile(void)
{
	struct aws_creds c;
	char err[512] = "", path[512];

	clear_aws();
	sh("mkdir -p %s/.aws && printf '# comment\\n[default]\\n"
	   "aws_access_key_id = AKIDDEFAULT\\naws_secret_access_key=defsecret\\n\\n"
	   "  [work]\\n  aws_access_key_id\\t=  AKIDWORK  \\n; other comment\\n"
	   "aws_secret_access_key = work/secret+key\\naws_session_token = worktoken\\n"
	   "[workshop]\\naws_access_key_id = AKIDSHOP\\n' > %s/.aws/credentials", dir, dir);

	/* the profile "default" of ~/.aws/credentials */
	CHECK(aws_creds_load(&c, err, sizeof(err)) == 0);
	CHECK_STR(c.access_key, "AKIDDEFAULT");
	CHECK_STR(c.secret_key, "defsecret");
	CHECK(c.token == NULL);
	CHECK_STR(c.source, "profile default");
	aws_creds_release(&c);
	CHECK(c.secret_key == NULL);

	/* AWS_PROFILE, spaces and tabs trimmed, a section named like another's
	 * prefix not mistaken for it */
	setenv("AWS_PROFILE", "work", 1);
	CHECK(aws_creds_load(&c, err, sizeof(err)) == 0);
	CHECK_STR(c.access_key, "AKIDWORK");
	CHECK_STR(c.secret_key, "work/secret+key");
	CHECK_STR(c.token, "worktoken");
	aws_creds_release(&c);

	/* a profile with half a key pair is none */
	setenv("AWS_PROFILE", "workshop", 1);
	CHECK(aws_creds_load(&c, err, sizeof(err)) == -ENOENT);
	snprintf(path, sizeof(path), "the profile 'workshop' in %s/.aws/credentials", dir);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, "AWS_ACCESS_KEY_ID") != NULL);

	/* the environment wins over every profile */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	setenv("AWS_SESSION_TOKEN", "envtoken", 1);
	CHECK(aws_creds_load(&c, err, sizeof(err)) == 0);
	CHECK_STR(c.access_key, "AKIDENV");
	CHECK_STR(c.token, "envtoken");
	CHECK_STR(c.source, "environment");
	aws_creds_release(&c);

	/* half of it in the environment: the profile's pair, whole */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_PROFILE", "work", 1);
	CHECK(aws_creds_load(&c, err, sizeof(err)) == 0);
	CHECK_STR(c.access_key, "AKIDWORK");
	aws_creds_release(&c);

	/* another credentials file */
	clear_aws();
	sh("printf '[default]\\naws_access_key_id=AKIDOTHER\\naws_secret_access_key=o\\n'"
	   " > %s/other", dir);
	snprintf(path, sizeof(path), "%s/other", dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	CHECK(aws_creds_load(&c, err, sizeof(err)) == 0);
	CHECK_STR(c.access_key, "AKIDOTHER");
	aws_creds_release(&c);
}

static void test_region_order(void)
{
	char r[64];

	clear_aws();
	CHECK(aws_region(r, sizeof(r), NULL) == -ENOENT);
	CHECK(aws_region(r, sizeof(r), "ap-south-1") == 0);
	CHECK_STR(r, "ap-south-1");
	sh("mkdir -p %s/.aws && printf '[default]\\nregion = eu-north-1\\n"
	   "[profile work]\\nregion = eu-west-3\\n[work]\\nregion = wrong\\n' > %s/.aws/config",
	   dir, dir);
	CHECK(aws_region(r, sizeof(r), "ap-south-1") == 0);
	CHECK_STR(r, "eu-north-1");
	/* ~/.aws/config names a profile's section "profile NAME" */
	setenv("AWS_PROFILE", "work", 1);
	CHECK(aws_region(r, sizeof(r), "ap-south-1") == 0);
	CHECK_STR(r, "eu-west-3");
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	CHECK(aws_region(r, sizeof(r), "ap-south-1") == 0);
	CHECK_STR(r, "us-west-1");
	setenv("AWS_REGION", "us-east-2", 1);
	CHECK(aws_region(r, sizeof(r), "ap-south-1") == 0);
	CHECK_STR(r, "us-east-2");
	clear_aws();
}

/* A repository whose config holds the lines given. */
static int load(struct config *c, const char *name, const char *lines, char *err,
		size_t errlen)
{
	sh("rm -rf %s/%s && git init -q %s/%s && printf '%s' >> %s/%s/.git/config",
	   dir, name, dir, name, lines, dir, name);
	config_init(c);
	snprintf(err, errlen, "%s/%s", dir, name);
	{
		char repo[512];

		snprintf(repo, sizeof(repo), "%s", err);
		return config_load(c, repo, err, errlen);
	}
}

static bool has(char **env, const char *kv)
{
	for (; env && *env; env++)
		if (!strcmp(*env, kv))
			return true;
	return false;
}

static bool passes(const char *const *names, const char *name)
{
	for (; *names; names++)
		if (!strcmp(*names, name))
			return true;
	return false;
}

static void test_config_keys_are_checked(void)
{
	struct config c;
	char err[512];

	CHECK(load(&c, "bad1", "[engine \"claude\"]\\n\\tprovider = azure\\n", err,
		   sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "engine.claude.provider") && strstr(err, "'azure'"));
	config_release(&c);
	CHECK_STR(err, "config engine.claude.provider: 'azure' is not one of anthropic, "
		  "bedrock, vertex");
	config_release(&c);
	CHECK(load(&c, "bad3", "[engine \"codex\"]\\n\\tprovider = bedrock\\n", err,
		   sizeof(err)) == -EINVAL);
	CHECK_STR(err, "config engine.codex.provider: only claude, gemini, aider and "
		  "opencode have one");
	config_release(&c);
	CHECK(load(&c, "bad4", "[engine \"gemini\"]\\n\\tprovider = bedrock\\n", err,
		   sizeof(err)) == -EINVAL);
	config_release(&c);
	CHECK(load(&c, "bad2", "[engine \"x\"]\\n\\tprotocol = grpc\\n", err,
		   sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "engine.x.protocol") && strstr(err, "'grpc'"));
	config_release(&c);
	CHECK(load(&c, "ok", "[engine \"haiku\"]\\n\\tprotocol = bedrock\\n"
		   "[bedrock]\\n\\tregion = eu-west-3\\n[vertex]\\n\\tproject = p\\n"
		   "\\tregion = r\\n", err, sizeof(err)) == 0);
	CHECK_STR(c.bedrock_region, "eu-west-3");
	CHECK_STR(c.vertex_project, "p");
	CHECK_STR(c.vertex_region, "r");
	/* an engine with a protocol is the built-in agent */
	CHECK(engine_known(&c, "haiku"));
	CHECK(engine_has_result(&c, "haiku"));
	CHECK(engine_reads_text(&c, "haiku"));
	CHECK_STR(engine_model(&c, "haiku", NULL),
		  "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
	CHECK_STR(provider_of(&c, "haiku"), "bedrock");
	CHECK_STR(provider_of(&c, "bedrock"), "bedrock");
	CHECK(provider_of(&c, "claude") == NULL);
	CHECK(provider_of(&c, "anthropic") == NULL);
	CHECK(!engine_has_result(&c, "nothing"));
	config_release(&c);
}

static void test_bedrock_engine_argv(void)
{
	struct config c;
	struct engine_vars v = { .prompt = "p", .prompt_file = "/s/p", .worktree = "/w",
				 .branch = "b", .task_id = 3, .self_exe = "/pai",
				 .raw_file = "/r", .result_file = "/res" };
	char err[512], **argv = NULL;
	const char *want[] = { "/pai", "agent", "--protocol", "bedrock", "--model",
			       "anthropic.claude-x-v1:0", "--prompt-file", "/s/p",
			       "--worktree", "/w", "--raw", "/r", "--result", "/res",
			       "--base-url", "http://127.0.0.1:9", "--region", "eu-west-3",
			       NULL };
	size_t i;

	setenv("ANTHROPIC_BASE_URL", "http://not-for-bedrock", 1);
	CHECK(load(&c, "argv", "[engine \"haiku\"]\\n\\tprotocol = bedrock\\n"
		   "\\tmodel = anthropic.claude-x-v1:0\\n\\tbaseUrl = http://127.0.0.1:9\\n"
		   "[bedrock]\\n\\tregion = eu-west-3\\n", err, sizeof(err)) == 0);
	CHECK(engine_argv(&c, "haiku", &v, &argv, err, sizeof(err)) == 0);
	for (i = 0; want[i]; i++)
		CHECK_STR(argv ? argv[i] : NULL, want[i]);
	CHECK(argv && argv[i] == NULL);
	engine_argv_free(argv);
	/* the preset: no base URL from ANTHROPIC_BASE_URL */
	CHECK(engine_argv(&c, "bedrock", &v, &argv, err, sizeof(err)) == 0);
	for (i = 0; argv && argv[i]; i++)
		CHECK(strcmp(argv[i], "--base-url"));
	engine_argv_free(argv);
	unsetenv("ANTHROPIC_BASE_URL");
	config_release(&c);
}

static void test_claude_gemini_and_the_clouds(void)
{
	struct config c;
	char err[512], **env = NULL, files[4][4096];

	clear_aws();
	sh("rm -f %s/.aws/config", dir);
	CHECK(load(&c, "clouds", "[engine \"claude\"]\\n\\tprovider = bedrock\\n"
		   "[engine \"gemini\"]\\n\\tprovider = vertex\\n"
		   "[bedrock]\\n\\tregion = eu-west-3\\n[vertex]\\n\\tproject = proj\\n"
		   "\\tregion = europe-west4\\n", err, sizeof(err)) == 0);
	CHECK_STR(provider_of(&c, "claude"), "bedrock");
	CHECK(provider_env(&c, "claude", &env) == 0);
	CHECK(has(env, "CLAUDE_CODE_USE_BEDROCK=1"));
	CHECK(has(env, "AWS_REGION=eu-west-3"));
	engine_argv_free(env);
	/* the region as the AWS tools find it comes first */
	setenv("AWS_REGION", "us-east-2", 1);
	CHECK(provider_env(&c, "claude", &env) == 0);
	CHECK(has(env, "AWS_REGION=us-east-2"));
	engine_argv_free(env);
	CHECK(passes(provider_pass(&c, "claude"), "AWS_SECRET_ACCESS_KEY"));
	CHECK(passes(provider_pass(&c, "claude"), "AWS_PROFILE"));
	CHECK(!passes(provider_pass(&c, "claude"), "GOOGLE_APPLICATION_CREDENTIALS"));
	CHECK(provider_replaces(&c, "claude", "ANTHROPIC_"));
	CHECK(!provider_replaces(&c, "claude", "CLAUDE_"));
	CHECK(provider_files(&c, "claude", files, 4) == 1);
	CHECK_STR(files[0], "~/.aws");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/etc/aws-creds", 1);
	setenv("AWS_CONFIG_FILE", "relative/not-bound", 1);
	CHECK(provider_files(&c, "claude", files, 4) == 2);
	CHECK_STR(files[1], "/etc/aws-creds");

	CHECK(provider_env(&c, "gemini", &env) == 0);
	CHECK(has(env, "GOOGLE_GENAI_USE_VERTEXAI=true"));
	CHECK(has(env, "GOOGLE_CLOUD_PROJECT=proj"));
	CHECK(has(env, "GOOGLE_CLOUD_LOCATION=europe-west4"));
	engine_argv_free(env);
	CHECK(provider_replaces(&c, "gemini", "GEMINI_"));
	CHECK(passes(provider_pass(&c, "gemini"), "GOOGLE_APPLICATION_CREDENTIALS"));
	CHECK(provider_files(&c, "gemini", files, 4) == 1);
	CHECK_STR(files[0], "~/.config/gcloud");
	setenv("GOOGLE_APPLICATION_CREDENTIALS", "/keys/sa.json", 1);
	CHECK(provider_files(&c, "gemini", files, 4) == 1);
	CHECK_STR(files[0], "/keys/sa.json");

	/* aider on bedrock: the credentials and the region, its own keys kept */
	config_release(&c);
	unsetenv("AWS_REGION");
	CHECK(load(&c, "aider", "[engine \"aider\"]\\n\\tprovider = bedrock\\n"
		   "[bedrock]\\n\\tregion = eu-west-3\\n", err, sizeof(err)) == 0);
	CHECK(provider_env(&c, "aider", &env) == 0);
	CHECK(has(env, "AWS_REGION=eu-west-3"));
	CHECK(!has(env, "CLAUDE_CODE_USE_BEDROCK=1"));
	engine_argv_free(env);
	CHECK(passes(provider_pass(&c, "aider"), "AWS_ACCESS_KEY_ID"));
	CHECK(!provider_replaces(&c, "aider", "ANTHROPIC_"));
	/* the built-in agent finds its region itself */
	CHECK(provider_env(&c, "bedrock", &env) == 0 && env == NULL);

	/* codex has no cloud: nothing set, passed or bound */
	CHECK(provider_env(&c, "codex", &env) == 0 && env == NULL);
	CHECK(provider_pass(&c, "codex")[0] == NULL);
	CHECK(provider_files(&c, "codex", files, 4) == 0);
	CHECK(!provider_replaces(&c, "codex", "OPENAI_"));
	config_release(&c);

	CHECK(load(&c, "vertex", "[engine \"claude\"]\\n\\tprovider = vertex\\n", err,
		   sizeof(err)) == 0);
	setenv("CLOUD_ML_REGION", "us-east5", 1);
	setenv("GOOGLE_CLOUD_PROJECT", "from-env", 1);
	CHECK(provider_env(&c, "claude", &env) == 0);
	CHECK(has(env, "CLAUDE_CODE_USE_VERTEX=1"));
	CHECK(has(env, "CLOUD_ML_REGION=us-east5"));
	CHECK(has(env, "ANTHROPIC_VERTEX_PROJECT_ID=from-env"));
	CHECK(!has(env, "CLAUDE_CODE_USE_BEDROCK=1"));
	engine_argv_free(env);
	config_release(&c);
	clear_aws();
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	git_libgit2_init();
	if (chdir(dir) < 0)
		return 1;
	RUN(test_credentials_environment_first_then_profile);
	RUN(test_region_order);
	RUN(test_config_keys_are_checked);
	RUN(test_bedrock_engine_argv);
	RUN(test_claude_gemini_and_the_clouds);
	sh("rm -rf %s", dir);
	git_libgit2_shutdown();
	return check_done();
}
