/* Unit tests for redact: secrets replaced, in one piece or split across
 * the writes of a stream, and the engine environment's allow-list. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "config.h"
#include "engine.h"
#include "redact.h"

static const char *redacted(const struct redact *r, const char *s,
			    struct buf *b)
{
	buf_truncate(b, 0);
	CHECK(redact_text(r, s, strlen(s), b) == 0);
	return buf_cstr(b);
}

static void test_names_and_values(void)
{
	struct redact r = { 0 };
	char *env[] = { "ANTHROPIC_API_KEY=sk-ant-0123456789", "GH_TOKEN=ghp_abcdefgh",
			"PATH=/usr/bin:/bin", "SHORT_KEY=1234567", "db_password=hunter2hunter2",
			NULL };
	struct buf b;

	buf_init(&b, BUF_NOMAX);
	CHECK(redact_secret_name("OPENAI_API_KEY", 14));
	CHECK(!redact_secret_name("PATH", 4));
	CHECK(redact_add_env(&r, env) == 0);
	CHECK(r.n == 3);	/* not PATH, not a value under 8 characters */
	CHECK_STR(redacted(&r, "key sk-ant-0123456789 and ghp_abcdefgh.", &b),
		  "key [redacted] and [redacted].");
	CHECK_STR(redacted(&r, "/usr/bin:/bin 1234567", &b), "/usr/bin:/bin 1234567");
	CHECK_STR(redacted(&r, "hunter2hunter2hunter2hunter2", &b),
		  "[redacted][redacted]");
	redact_release(&r);
	buf_release(&b);
}

/* Every way of cutting the text in two writes gives the same log. */
static void test_split_across_writes(void)
{
	static const char text[] = "a sk-secret-XYZ-123 b sk-secret-XYZ-12 c";
	struct redact r = { 0 };
	struct buf out;
	size_t cut;

	CHECK(redact_add(&r, "sk-secret-XYZ-123") == 0);
	buf_init(&out, BUF_NOMAX);
	for (cut = 0; cut <= strlen(text); cut++) {
		struct redact_stream s = { .r = &r };

		buf_truncate(&out, 0);
		CHECK(redact_feed(&s, text, cut, &out) == 0);
		CHECK(redact_feed(&s, text + cut, strlen(text) - cut, &out) == 0);
		CHECK(redact_flush(&s, &out) == 0);
		CHECK_STR(buf_cstr(&out), "a [redacted] b sk-secret-XYZ-12 c");
	}
	buf_release(&out);
	redact_release(&r);
}

/* What engine_env lets through of the daemon's environment. */
static void test_engine_env_allow_list(void)
{
	struct config c;
	char *extra[] = { "PAI_TASK_ID=7", "MINE=1", NULL };
	char **env = NULL;
	char buf[64];

	config_init(&c);
	setenv("ANTHROPIC_API_KEY", "sk-ant-x", 1);
	setenv("OPENAI_API_KEY", "sk-openai-x", 1);
	setenv("UNLISTED_THING", "x", 1);
	CHECK(engine_env(&c, "sh", extra, "/box/home", NULL, &env) == 0);
	for (size_t i = 0; env[i]; i++) {
		CHECK(strncmp(env[i], "ANTHROPIC_API_KEY=", 18));
		CHECK(strncmp(env[i], "OPENAI_API_KEY=", 15));
		CHECK(strncmp(env[i], "UNLISTED_THING=", 15));
	}
	snprintf(buf, sizeof(buf), "%s", "");
	for (size_t i = 0; env[i]; i++)
		if (!strcmp(env[i], "HOME=/box/home") || !strcmp(env[i], "MINE=1"))
			strcat(buf, "+");
	CHECK_STR(buf, "++");
	engine_argv_free(env);
	CHECK(engine_env(&c, "claude", NULL, NULL, NULL, &env) == 0);
	snprintf(buf, sizeof(buf), "%s", "");
	for (size_t i = 0; env[i]; i++) {
		if (!strcmp(env[i], "ANTHROPIC_API_KEY=sk-ant-x"))
			strcat(buf, "a");
		CHECK(strncmp(env[i], "OPENAI_API_KEY=", 15));
	}
	CHECK_STR(buf, "a");
	engine_argv_free(env);
	config_release(&c);
}

int main(void)
{
	RUN(test_names_and_values);
	RUN(test_split_across_writes);
	RUN(test_engine_env_allow_list);
	return check_done();
}
