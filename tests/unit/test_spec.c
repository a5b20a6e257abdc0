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

static void test_scheduling_fields(void)
{
	struct spec sp;
	char err[256];

	CHECK(parse(&sp, "{\"prompt\": \"p\", \"depends\": [2, 3], \"priority\": -4,"
		    " \"timeout\": 1.5, \"stall\": 30, \"retries\": 2,"
		    " \"base\": \"v1\", \"branch\": \"feature/x\","
		    " \"labels\": [\"ui\", \"fast\"]}", 1000) == 0);
	CHECK(sp.n_depends == 2 && sp.depends[0] == 2 && sp.depends[1] == 3);
	CHECK(sp.priority == -4 && sp.timeout == 2 && sp.stall == 30);
	CHECK(sp.retries == 2);
	CHECK_STR(sp.base, "v1");
	CHECK_STR(sp.branch, "feature/x");
	CHECK_STR(sp.labels, "[\"ui\",\"fast\"]");
	spec_release(&sp);

	CHECK(spec_parse(&sp, "{\"prompt\": \"p\", \"depends\": [0]}",
			 strlen("{\"prompt\": \"p\", \"depends\": [0]}"), 100,
			 err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "task spec: 'depends' must be an array of task ids");
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"depends\": [\"3\"]}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"priority\": 1.5}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"timeout\": 0}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"retries\": -1}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"labels\": \"ui\"}", 100) == -EINVAL);
}

static void test_each_and_then(void)
{
	struct spec sp;
	char err[256];
	char *x;

	CHECK(parse(&sp, "{\"prompt\": \"fix {file}\", \"each\": \"src/**/*.c\","
		    " \"then\": {\"prompt\": \"reduce\", \"engine\": \"sh\"}}", 1000) == 0);
	CHECK_STR(sp.each, "src/**/*.c");
	CHECK(sp.then && !strcmp(sp.then->prompt, "reduce"));
	CHECK_STR(sp.then->engine, "sh");
	spec_release(&sp);
	CHECK(spec_parse(&sp, "{\"prompt\": \"p\", \"then\": {\"prompt\": \"r\"}}",
			 strlen("{\"prompt\": \"p\", \"then\": {\"prompt\": \"r\"}}"),
			 100, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "task spec: 'then' needs 'each'");
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"each\": \"*\", \"then\":"
		    " {\"prompt\": \"r\", \"each\": \"*\"}}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"each\": \"*\", \"then\":"
		    " {\"prompt\": \" \"}}", 100) == -EINVAL);

	CHECK(spec_glob_match("src/**/*.c", "src/a.c"));
	CHECK(spec_glob_match("src/**/*.c", "src/x/y/b.c"));
	CHECK(!spec_glob_match("src/**/*.c", "src/x/y/b.h"));
	CHECK(!spec_glob_match("src/*.c", "src/x/b.c"));
	CHECK(spec_glob_match("**", "a/b/c"));
	CHECK(spec_glob_match("*.md", "README.md"));
	CHECK(!spec_glob_match("*.md", "docs/a.md"));
	CHECK(!spec_glob_match("src/*", "src/.hidden"));
	x = spec_expand_file("review {file}; then {file} again", "src/a.c");
	CHECK_STR(x, "review src/a.c; then src/a.c again");
	free(x);
}

int main(void)
{
	RUN(test_plain_prompt_is_kept_byte_for_byte);
	RUN(test_json_spec);
	RUN(test_bad_prompts_are_refused);
	RUN(test_scheduling_fields);
	RUN(test_each_and_then);
	return check_done();
}
