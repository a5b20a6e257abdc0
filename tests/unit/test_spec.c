/* Unit tests for spec: what tasks/new accepts and refuses. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "spec.h"

static int parse(struct spec *sp, const char *s, size_t max)
{
	char err[256];

	return spec_parse(sp, s, strlen(s), max, err, sizeof(err));
}

static void test_plain_prompt_is_kept_byte_for_byte(void)
{
	struct spec sp;

	CHECK(parse(&sp, "make test\n  with ünïcode\n", 100) == 0);
	CHECK_STR(sp.prompt, "make test\n  with ünïcode\n");
	CHECK(sp.engine == NULL);
	spec_release(&sp);
	CHECK(parse(&sp, "{ make; make test; }", 100) == 0);
	CHECK_STR(sp.prompt, "{ make; make test; }");
	spec_release(&sp);
}

static void test_json_spec(void)
{
	struct spec sp;
	char err[256];

	CHECK(parse(&sp, " { \"prompt\": \"echo hi\", \"engine\": \"mytool\" }\n",
		    100) == 0);
	CHECK_STR(sp.prompt, "echo hi");
	CHECK_STR(sp.engine, "mytool");
	CHECK(sp.model == NULL);
	spec_release(&sp);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"model\": \"opus\"}", 100) == 0);
	CHECK_STR(sp.model, "opus");
	spec_release(&sp);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"model\": \"\"}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"args\": [\"--x\", \"1\"],"
		    " \"env\": {\"A\": \"b\"}, \"permission_mode\": \"plan\"}", 200) == 0);
	CHECK_STR(sp.options, "{\"args\":[\"--x\",\"1\"],\"env\":{\"A\":\"b\"},"
		  "\"permission_mode\":\"plan\"}");
	spec_release(&sp);
	CHECK(parse(&sp, "{\"prompt\": \"p\"}", 100) == 0);
	CHECK(sp.options == NULL);
	spec_release(&sp);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"args\": \"--x\"}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"args\": [1]}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"env\": {\"A=B\": \"c\"}}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"env\": {\"A\": 1}}", 100) == -EINVAL);
	CHECK(spec_parse(&sp, "{\"prompt\": 3}", 13, 100, err,
			 sizeof(err)) == -EINVAL);
	CHECK_STR(err, "task spec: 'prompt' must be a string");
	CHECK(spec_parse(&sp, "{\"prompt\": \"x\", \"color\": 1}", 27, 100,
			 err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "task spec: unknown field 'color'");
	CHECK(parse(&sp, "{\"prompt\": \"x\"", 100) == -EINVAL);
	CHECK(parse(&sp, "{}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"  \"}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"0123456789\"}", 5) == -EFBIG);
}

static void test_bad_prompts_are_refused(void)
{
	struct spec sp;
	char err[256];

	CHECK(parse(&sp, "", 100) == -EINVAL);
	CHECK(spec_parse(&sp, " \n\t\n", 4, 100, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "empty prompt");
	CHECK(spec_parse(&sp, "ab\0cd", 5, 100, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "prompt contains a NUL byte");
	CHECK(parse(&sp, "0123456789", 9) == -EFBIG);
	CHECK(parse(&sp, "0123456789", 10) == 0);
	spec_release(&sp);
}

int main(void)
{
	RUN(test_plain_prompt_is_kept_byte_for_byte);
	RUN(test_json_spec);
	RUN(test_bad_prompts_are_refused);
	return check_done();
}
