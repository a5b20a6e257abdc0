/* Unit tests for config: sources, precedence, engines, bad values. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <git2.h>

#include "check.h"
#include "config.h"

static char dir[] = "/tmp/pai-config-XXXXXX";

#include <stdarg.h>

__attribute__((format(printf, 1, 2)))
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fprintf(stderr, "command failed: %s\n", cmd);
}

static void test_precedence_repo_then_file_then_home_then_options(void)
{
	struct config c;
	char err[256] = "";

	sh("git init -q %s/repo && git -C %s/repo config parallelai.workers 3"
	   " && git -C %s/repo config parallelai.engine mytool", dir, dir, dir);
	sh("mkdir -p %s/repo/.parallelai %s/home/.config/parallelai", dir, dir);
	sh("printf '[parallelai]\\n\\tworkers = 5\\n[engine \"MyTool\"]\\n"
	   "\\tcommand = mytool {prompt}\\n' > %s/repo/.parallelai/config", dir);
	sh("printf '\\tmaxTokens = 77\\n\\tmaxTurns = 9\\n' >> %s/repo/.parallelai/config",
	   dir);
	sh("printf '[price \"gpt-4.1\"]\\n\\tinput = 2\\n\\toutput = 8.5\\n' "
	   ">> %s/repo/.parallelai/config", dir);
	sh("printf '[parallelai]\\n\\tmaxPrompt = 100\\n' > "
	   "%s/home/.config/parallelai/config", dir);

	config_init(&c);
	CHECK(config_load(&c, "repo", err, sizeof(err)) == 0);
	CHECK(c.workers == 5);
	CHECK_STR(c.engine, "mytool");
	CHECK(c.max_prompt == 100);
	CHECK(config_engine(&c, "MyTool") != NULL);
	CHECK_STR(config_engine(&c, "MyTool")->command, "mytool {prompt}");
	/* maxTokens and maxTurns share a prefix: each goes to its own */
	CHECK(config_engine(&c, "MyTool")->max_tokens == 77);
	CHECK(config_engine(&c, "MyTool")->max_turns == 9);
	CHECK(config_price(&c, "gpt-4.1") != NULL);
	CHECK(config_price(&c, "gpt-4.1")->input == 2.0);
	CHECK(config_price(&c, "gpt-4.1")->output == 8.5);
	CHECK(config_price(&c, "other") == NULL);
	CHECK(c.engine == NULL || strcmp(c.engine, "sh") != 0);
	CHECK(config_set(&c, "workers", "9", err, sizeof(err)) == 0);
	CHECK(c.workers == 9);
	config_release(&c);
}

static void test_bad_values_are_refused_with_the_key(void)
{
	struct config c;
	char err[256] = "";

	config_init(&c);
	CHECK(config_set(&c, "workers", "abc", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "invalid value for 'workers': 'abc'");
	CHECK(config_set(&c, "workers", "0", err, sizeof(err)) == -EINVAL);
	CHECK(config_set(&c, "bogus", "1", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "unknown option 'bogus'");
	config_release(&c);

	sh("git init -q %s/bad && git -C %s/bad config parallelai.workers lots",
	   dir, dir);
	config_init(&c);
	CHECK(config_load(&c, "bad", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "parallelai.workers") != NULL);
	config_release(&c);
	config_init(&c);
	CHECK(config_load(&c, "/nonexistent/x", err, sizeof(err)) < 0);
	config_release(&c);
}

static void test_check_settings(void)
{
	struct config c;
	char err[256] = "";

	config_init(&c);
	CHECK(c.check == NULL);
	CHECK(c.check_timeout == 600 && c.fix_rounds == -1);
	CHECK(c.fix_tail == 16384);
	sh("git init -q %s/chk && git -C %s/chk config parallelai.check 'make test'"
	   " && git -C %s/chk config parallelai.fixRounds 3"
	   " && git -C %s/chk config parallelai.checkTimeout 60"
	   " && git -C %s/chk config parallelai.fixTail 100", dir, dir, dir, dir,
	   dir);
	CHECK(config_load(&c, "chk", err, sizeof(err)) == 0);
	CHECK_STR(c.check, "make test");
	CHECK(c.fix_rounds == 3 && c.check_timeout == 60 && c.fix_tail == 100);
	/* -o check= clears it */
	CHECK(config_set(&c, "check", "", err, sizeof(err)) == 0);
	CHECK(c.check == NULL);
	CHECK(config_set(&c, "fixrounds", "101", err, sizeof(err)) == -EINVAL);
	CHECK(config_set(&c, "fixrounds", "-1", err, sizeof(err)) == -EINVAL);
	CHECK(config_set(&c, "checktimeout", "x", err, sizeof(err)) == -EINVAL);
	config_release(&c);
}

static void test_path_settings(void)
{
	struct config c;
	char err[256] = "";

	config_init(&c);
	CHECK(c.path_locks == PATH_LOCKS_ON && c.outside_paths == OUTSIDE_FAIL);
	sh("git init -q %s/pl && git -C %s/pl config parallelai.pathLocks strict"
	   " && git -C %s/pl config parallelai.outsidePaths drop", dir, dir, dir);
	CHECK(config_load(&c, "pl", err, sizeof(err)) == 0);
	CHECK(c.path_locks == PATH_LOCKS_STRICT &&
	      c.outside_paths == OUTSIDE_DROP);
	CHECK(config_set(&c, "pathlocks", "off", err, sizeof(err)) == 0);
	CHECK(c.path_locks == PATH_LOCKS_OFF);
	CHECK(config_set(&c, "pathlocks", "true", err, sizeof(err)) == 0);
	CHECK(c.path_locks == PATH_LOCKS_ON);
	CHECK(config_set(&c, "outsidepaths", "keep", err, sizeof(err)) == 0);
	CHECK(c.outside_paths == OUTSIDE_KEEP);
	CHECK(config_set(&c, "pathlocks", "sometimes", err,
			 sizeof(err)) == -EINVAL);
	CHECK(config_set(&c, "outsidepaths", "delete", err,
			 sizeof(err)) == -EINVAL);
	config_release(&c);
}


/* [notify "NAME"]: several headers add up; a bad url or header is
 * refused by its key, never its value (a secret) */
static void test_notify_sections(void)
{
	struct config c;
	char err[256] = "";

	sh("git init -q %s/nt && cd %s/nt && git config notify.Chat.events '*'"
	   " && git config notify.Chat.url https://h.example/s3cret"
	   " && git config notify.Chat.format slack"
	   " && git config --add notify.Chat.header 'Authorization: Bearer tok'"
	   " && git config --add notify.Chat.header 'X-A: 1'"
	   " && git config notify.desk.command 'notify-send x'"
	   " && git config notify.desk.events 'finished failed'"
	   " && git config notify.desk.timeout 3", dir, dir);
	config_init(&c);
	CHECK(config_load(&c, "nt", err, sizeof(err)) == 0);
	CHECK(c.n_notify == 2);
	if (c.n_notify == 2) {
		CHECK_STR(c.notify[0].name, "Chat");
		CHECK_STR(c.notify[0].url, "https://h.example/s3cret");
		CHECK(c.notify[0].format == NOTIFY_SLACK);
		CHECK(c.notify[0].n_headers == 2);
		if (c.notify[0].n_headers == 2)
			CHECK_STR(c.notify[0].headers[1], "X-A: 1");
		CHECK(c.notify[0].timeout == 10 && c.notify[0].retries == 5);
		CHECK_STR(c.notify[1].command, "notify-send x");
		CHECK(c.notify[1].format == NOTIFY_JSON);
		CHECK(c.notify[1].timeout == 3);
	}
	config_release(&c);

	sh("git -C %s/nt config notify.Chat.url ftp://h.example/s3cret", dir);
	config_init(&c);
	CHECK(config_load(&c, "nt", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "config notify.Chat.url: not an http:// or https:// URL");
	config_release(&c);

	sh("git -C %s/nt config notify.Chat.url https://h.example/s3cret"
	   " && git -C %s/nt config --add notify.Chat.header s3cret", dir, dir);
	config_init(&c);
	CHECK(config_load(&c, "nt", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "config notify.Chat.header: not a header line 'Name: value'");
	config_release(&c);
}

static void test_budget_settings(void)
{
	struct config c;
	char err[256] = "";
	static const char *const bad_usd[] = { "0", "-1", "abc", "", " 5",
					       "5x", "nan", "inf", "1e999" };
	static const char *const bad_window[] = { "0", "-5", "24x", "h", "",
						  "1.5h", "24hh", "99999d" };
	size_t i;

	config_init(&c);
	CHECK(c.budget_usd == 0 && c.budget_window == 0);
	sh("git init -q %s/bud && git -C %s/bud config parallelai.budgetUsd 12.5"
	   " && git -C %s/bud config parallelai.budgetWindow 24h"
	   " && git -C %s/bud config engine.claude.budgetUsd 3", dir, dir, dir,
	   dir);
	CHECK(config_load(&c, "bud", err, sizeof(err)) == 0);
	CHECK(c.budget_usd == 12.5 && c.budget_window == 86400);
	CHECK(config_engine(&c, "claude")->budget_usd == 3);
	CHECK(config_set(&c, "budgetwindow", "90", err, sizeof(err)) == 0);
	CHECK(c.budget_window == 90);
	CHECK(config_set(&c, "budgetwindow", "30m", err, sizeof(err)) == 0);
	CHECK(c.budget_window == 1800);
	CHECK(config_set(&c, "budgetwindow", "7d", err, sizeof(err)) == 0);
	CHECK(c.budget_window == 7 * 86400);
	for (i = 0; i < sizeof(bad_usd) / sizeof(bad_usd[0]); i++)
		CHECK(config_set(&c, "budgetusd", bad_usd[i], err,
				 sizeof(err)) == -EINVAL);
	for (i = 0; i < sizeof(bad_window) / sizeof(bad_window[0]); i++)
		CHECK(config_set(&c, "budgetwindow", bad_window[i], err,
				 sizeof(err)) == -EINVAL);
	CHECK(c.budget_usd == 12.5 && c.budget_window == 7 * 86400);
	config_release(&c);
	config_init(&c);
	sh("git -C %s/bud config engine.claude.budgetUsd 0", dir);
	CHECK(config_load(&c, "bud", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "budgetusd") != NULL);
	config_release(&c);
}

int main(void)
{
	char home[256];

	if (!mkdtemp(dir))
		return 1;
	snprintf(home, sizeof(home), "%s/home", dir);
	setenv("HOME", home, 1);
	if (chdir(dir) < 0)
		return 1;
	git_libgit2_init();
	RUN(test_precedence_repo_then_file_then_home_then_options);
	RUN(test_bad_values_are_refused_with_the_key);
	RUN(test_check_settings);
	RUN(test_path_settings);
	RUN(test_notify_sections);
	RUN(test_budget_settings);
	git_libgit2_shutdown();
	sh("rm -rf %s", dir);
	return check_done();
}
