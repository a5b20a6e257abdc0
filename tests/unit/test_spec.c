/* Unit tests for spec: what tasks/new accepts and refuses. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <unistd.h>

#include <git2.h>

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
	/* an attempt's budget goes with the options, for the run */
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"max_cost_usd\": 1.5,"
		    " \"max_tokens\": 1000, \"max_turns\": 3}", 200) == 0);
	CHECK_STR(sp.options, "{\"max_cost_usd\":1.5,\"max_tokens\":1000,"
		  "\"max_turns\":3}");
	spec_release(&sp);
	CHECK(spec_parse(&sp, "{\"prompt\": \"p\", \"max_cost_usd\": 0}",
			 strlen("{\"prompt\": \"p\", \"max_cost_usd\": 0}"), 100,
			 err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "task spec: 'max_cost_usd' must be a positive number of"
		  " dollars");
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"max_tokens\": -1}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"max_turns\": 1.5}", 100) == -EINVAL);
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

static void test_check_fields(void)
{
	struct spec sp;
	char err[256];
	const char *bad = "{\"prompt\": \"p\", \"check\": 1}";

	CHECK(parse(&sp, "p", 100) == 0);
	CHECK(sp.check == NULL && sp.fix_rounds == -1);
	spec_release(&sp);
	CHECK(parse(&sp, "{\"prompt\": \"p\"}", 100) == 0);
	CHECK(sp.check == NULL && sp.fix_rounds == -1);
	spec_release(&sp);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"check\": \"make test\","
		    " \"fix_rounds\": 0}", 100) == 0);
	CHECK_STR(sp.check, "make test");
	CHECK(sp.fix_rounds == 0);
	spec_release(&sp);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"check\": \"\"}", 100) == 0);
	CHECK_STR(sp.check, "");
	spec_release(&sp);
	CHECK(spec_parse(&sp, bad, strlen(bad), 100, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "'check' must be a string") != NULL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"check\": null}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"fix_rounds\": 101}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"fix_rounds\": -1}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"p\", \"fix_rounds\": 0.5}", 100) == -EINVAL);
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
	x = spec_expand_file("review {file}; then {file} again", "src/a.c", false);
	CHECK_STR(x, "review src/a.c; then src/a.c again");
	free(x);
}

static void test_paths(void)
{
	struct spec sp;
	char err[256];
	const char *s;

	CHECK(parse(&sp, "{\"prompt\": \"p\", \"paths\": [\"src/ui\", \"*.md\"],"
		    " \"each\": \"*\", \"then\": {\"prompt\": \"r\","
		    " \"paths\": [\"R.md\"]}}", 1000) == 0);
	CHECK_STR(sp.paths, "[\"src/ui\",\"*.md\"]");
	CHECK(sp.then && sp.then->paths &&
	      !strcmp(sp.then->paths, "[\"R.md\"]"));
	spec_release(&sp);
	s = "{\"prompt\": \"p\", \"paths\": []}";
	CHECK(spec_parse(&sp, s, strlen(s), 100, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "'paths' must be a non-empty array") != NULL);
	s = "{\"prompt\": \"p\", \"paths\": \"src\"}";
	CHECK(spec_parse(&sp, s, strlen(s), 100, err, sizeof(err)) == -EINVAL);
	s = "{\"prompt\": \"p\", \"paths\": [\"src/\"]}";
	CHECK(spec_parse(&sp, s, strlen(s), 100, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "task spec: in 'paths', 'src/' has an empty segment"
		  " (a leading, trailing or double '/')");
	s = "{\"prompt\": \"p\", \"paths\": [\"a\\nb\"]}";
	CHECK(spec_parse(&sp, s, strlen(s), 100, err, sizeof(err)) == -EINVAL);
}

/* A spec with one field of the given JSON value; its parse result. */
static int with(const char *field, const char *json, char *err, size_t n)
{
	char text[1024];
	struct spec sp;
	int r;

	snprintf(text, sizeof(text), "{\"prompt\": \"p\", \"%s\": %s}", field,
		 json);
	r = spec_parse(&sp, text, strlen(text), 1000, err, n);
	if (r == 0)
		spec_release(&sp);
	return r;
}

static void test_branch_names_that_alias_refs_are_refused(void)
{
	static const char *const bad[] = {
		"\"refs/heads/main\"", "\"@\"", "\"HEAD\"", "\"-x\"",
		"\"a..b\"", "\"a\\nb\"", "\"a\\tb\"", "\"pai/task-3\"",
		"\"pai/x\"", "\"heads/main\"", "\"tags/v1\"",
		"\"remotes/origin/main\"", "\"FETCH_HEAD\"", "\"ORIG_HEAD\"",
		"\"x.lock\"", "\"a b\"", "\"a@{1}\"", "\"a/\"", "\"/a\"",
		"\"0123456789012345678901234567890123456789\"",
	};
	static const char *const good[] = {
		"\"feature/x\"", "\"main2\"", "\"fix-42\"", "\"paid/x\"",
		"\"HEADS-UP\"", "\"heads-up/x\"", "\"a@b\"", "\"deadbeef\"",
		"\"\\u00e9t\\u00e9\"",
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(with("branch", bad[i], err, sizeof(err)) == -EINVAL);
		if (with("branch", bad[i], err, sizeof(err)) != -EINVAL)
			fprintf(stderr, "  accepted branch %s\n", bad[i]);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(with("branch", good[i], err, sizeof(err)) == 0);
		if (with("branch", good[i], err, sizeof(err)) != 0)
			fprintf(stderr, "  refused branch %s: %s\n", good[i],
				err);
	}
	CHECK(with("branch", "\"refs/heads/main\"", err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "invalid branch name 'refs/heads/main'") != NULL);
	CHECK(with("branch", "\"pai/task-3\"", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "'pai/'") != NULL);
	CHECK(spec_branch_check("@", err, sizeof(err)) == -EINVAL);
	CHECK(spec_branch_check("feature/x", err, sizeof(err)) == 0);
}

static void test_control_characters_in_shown_fields_are_refused(void)
{
	char err[256];

	CHECK(with("model", "\"opus\\nstate: merged\"", err, sizeof(err)) ==
	      -EINVAL);
	CHECK_STR(err, "task spec: 'model' must be a non-empty string without"
		  " control characters");
	CHECK(with("labels", "[\"ui\", \"x\\nstate: merged\"]", err,
		   sizeof(err)) == -EINVAL);
	CHECK(with("labels", "[\"a\\rb\"]", err, sizeof(err)) == -EINVAL);
	CHECK(with("engine", "\"sh\\n\"", err, sizeof(err)) == -EINVAL);
	CHECK(with("permission_mode", "\"plan\\u001b[2J\"", err,
		   sizeof(err)) == -EINVAL);
	CHECK(with("base", "\"HEAD\\n\"", err, sizeof(err)) == -EINVAL);
	CHECK(with("base", "\"v1\\u007f\"", err, sizeof(err)) == -EINVAL);
	CHECK(with("each", "\"*\\n\"", err, sizeof(err)) == -EINVAL);
	/* what is not shown on a line may hold them */
	CHECK(with("args", "[\"--system\", \"line 1\\nline 2\"]", err,
		   sizeof(err)) == 0);
	CHECK(with("labels", "[\"ünï\", \"a b\"]", err, sizeof(err)) == 0);
}

static void test_json_is_one_object_with_each_key_once(void)
{
	struct spec sp;
	char err[256];
	const char *s;

	s = "{\"prompt\":\"x\"}{\"prompt\":\"y\"}";
	CHECK(spec_parse(&sp, s, strlen(s), 100, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(strstr(err, "after the JSON object") != NULL);
	CHECK(parse(&sp, "{\"prompt\":\"x\"} trailing", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\":\"x\"} \n\t\n", 100) == 0);
	CHECK_STR(sp.prompt, "x");
	spec_release(&sp);

	s = "{\"prompt\": \"x\", \"prompt\": \"rm -rf ~\"}";
	CHECK(spec_parse(&sp, s, strlen(s), 100, err, sizeof(err)) ==
	      -EINVAL);
	CHECK_STR(err, "task spec: duplicate key 'prompt'");
	CHECK(parse(&sp, "{\"prompt\": \"x\", \"env\": {\"A\": \"1\","
		    " \"A\": \"2\"}}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"x\", \"each\": \"*\", \"then\":"
		    " {\"prompt\": \"a\", \"prompt\": \"b\"}}", 100) == -EINVAL);
	CHECK(parse(&sp, "{\"prompt\": \"x\", \"env\": {\"A\": \"1\","
		    " \"B\": \"1\"}}", 100) == 0);
	spec_release(&sp);
}

static void test_byte_order_mark_is_skipped(void)
{
	struct spec sp;

	CHECK(parse(&sp, "\xef\xbb\xbf{\"prompt\": \"x\", \"engine\": \"e\"}",
		    100) == 0);
	CHECK_STR(sp.prompt, "x");
	CHECK_STR(sp.engine, "e");
	spec_release(&sp);
	CHECK(parse(&sp, "\xef\xbb\xbfmake test\n", 100) == 0);
	CHECK_STR(sp.prompt, "make test\n");
	spec_release(&sp);
	CHECK(parse(&sp, "\xef\xbb\xbf", 100) == -EINVAL);
}

static void test_priority_range_is_ctls(void)
{
	char err[256];

	CHECK(with("priority", "1000000", err, sizeof(err)) == 0);
	CHECK(with("priority", "-1000000", err, sizeof(err)) == 0);
	CHECK(with("priority", "1000001", err, sizeof(err)) == -EINVAL);
	CHECK(with("priority", "-1000001", err, sizeof(err)) == -EINVAL);
	CHECK(with("priority", "2147483647", err, sizeof(err)) == -EINVAL);
	CHECK(with("priority", "-2147483648", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "task spec: 'priority' must be an integer from"
		  " -1000000 to 1000000");
}

/* spec_glob_match of one segment is fnmatch(3) with FNM_PERIOD. */
static void test_glob_segment_is_fnmatch(void)
{
	static const char *const pats[] = {
		"*", "?", "*.c", ".*", "[a-c]*", "[!a]*", "\\*", "a\\?b",
		"*[[:digit:]]", "[]]x", "[", "a*b*c", "**", ".c", "?c",
	};
	static const char *const names[] = {
		"a.c", ".c", ".hidden", "b", "*", "a?b", "abc", "x9", "]x",
		"[", "aXbYc", "ac", "", "cc",
	};
	size_t i, j;

	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
		for (j = 0; j < sizeof(names) / sizeof(names[0]); j++) {
			bool want = fnmatch(pats[i], names[j],
					    FNM_PERIOD) == 0;

			if (!strcmp(pats[i], "**") || !*names[j])
				continue;	/* whole segments, below */
			CHECK(spec_glob_match(pats[i], names[j]) == want);
			if (spec_glob_match(pats[i], names[j]) != want)
				fprintf(stderr, "  '%s' vs '%s'\n", pats[i],
					names[j]);
		}
}

static void test_glob_segments(void)
{
	CHECK(spec_glob_match("**", "a"));
	CHECK(spec_glob_match("**/*.c", "a.c"));
	CHECK(spec_glob_match("**/*.c", "x/.y/z/a.c"));
	CHECK(spec_glob_match("src/**", "src/a/b"));
	CHECK(!spec_glob_match("src/**/x", "src"));
	CHECK(spec_glob_match("a/**/**/b", "a/b"));
	CHECK(spec_glob_match("a/**/b/**/c", "a/x/b/y/b/c"));
	CHECK(!spec_glob_match("a/**/b/**/c", "a/x/c/y/b"));
	CHECK(!spec_glob_match("*", "a/b"));
	CHECK(!spec_glob_match("a/b", "a"));
	CHECK(!spec_glob_match("a", "a/b"));
}

/* A path 12 directories deep against "**" 40 times: the matcher of old
 * tried every way to share the 12 among the 40, for ever. The alarm in
 * main ends the program if it hangs. */
static void test_glob_time_is_bounded(void)
{
	char glob[1024] = "", path[1024] = "", seg[8];
	int i;

	for (i = 0; i < 40; i++)
		strcat(glob, "**/");
	strcat(glob, "nomatch");
	for (i = 0; i < 12; i++) {
		snprintf(seg, sizeof(seg), "d%d/", i);
		strcat(path, seg);
	}
	strcat(path, "file.txt");
	CHECK(!spec_glob_match(glob, path));
	glob[strlen(glob) - strlen("nomatch")] = '\0';
	strcat(glob, "file.txt");
	CHECK(spec_glob_match(glob, path));

	/* "**" between every segment, against a deep path */
	strcpy(glob, "");
	for (i = 0; i < 30; i++)
		strcat(glob, "**/a/");
	strcat(glob, "b");
	strcpy(path, "");
	for (i = 0; i < 200; i++)
		strcat(path, "a/");
	strcat(path, "c");
	CHECK(!spec_glob_match(glob, path));
}

static void test_glob_limits(void)
{
	char glob[2048], err[256];
	int i;

	strcpy(glob, "");
	for (i = 0; i < SPEC_GLOB_MAX_SEGMENTS - 1; i++)
		strcat(glob, "a/");
	strcat(glob, "b");
	CHECK(spec_glob_check(glob, err, sizeof(err)) == 0);
	strcat(glob, "/c");
	CHECK(spec_glob_check(glob, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "'each' has more than 64 segments");
	CHECK(!spec_glob_match(glob, glob));
	memset(glob, 'x', SPEC_GLOB_MAX_LEN + 1);
	glob[SPEC_GLOB_MAX_LEN + 1] = '\0';
	CHECK(spec_glob_check(glob, err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "'each' is longer than 1024 bytes");
	glob[SPEC_GLOB_MAX_LEN] = '\0';
	CHECK(spec_glob_check(glob, err, sizeof(err)) == 0);
	CHECK(spec_glob_check("a//b", err, sizeof(err)) == -EINVAL);
	CHECK(spec_glob_check("/a", err, sizeof(err)) == -EINVAL);
	CHECK(spec_glob_check("a/", err, sizeof(err)) == -EINVAL);
	CHECK(with("each", "\"a//b\"", err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "empty segment") != NULL);
}

static void test_file_is_shell_quoted_for_a_shell(void)
{
	char *x;

	x = spec_expand_file("wc -l {file}", "n;echo INJECTED-$(id -u);#",
			     true);
	CHECK_STR(x, "wc -l 'n;echo INJECTED-$(id -u);#'");
	free(x);
	x = spec_expand_file("cat {file}", "it's", true);
	CHECK_STR(x, "cat 'it'\\''s'");
	free(x);
	x = spec_expand_file("cat {file}", "src/a-b_c.d", true);
	CHECK_STR(x, "cat src/a-b_c.d");
	free(x);
	x = spec_expand_file("review {file}", "n;echo $(id)", false);
	CHECK_STR(x, "review n;echo $(id)");
	free(x);
}

int main(void)
{
	/* The matcher of old could spin for ever: fail rather than hang. */
	alarm(60);
	git_libgit2_init();
	RUN(test_plain_prompt_is_kept_byte_for_byte);
	RUN(test_json_spec);
	RUN(test_bad_prompts_are_refused);
	RUN(test_scheduling_fields);
	RUN(test_check_fields);
	RUN(test_each_and_then);
	RUN(test_paths);
	RUN(test_branch_names_that_alias_refs_are_refused);
	RUN(test_control_characters_in_shown_fields_are_refused);
	RUN(test_json_is_one_object_with_each_key_once);
	RUN(test_byte_order_mark_is_skipped);
	RUN(test_priority_range_is_ctls);
	RUN(test_glob_segment_is_fnmatch);
	RUN(test_glob_segments);
	RUN(test_glob_time_is_bounded);
	RUN(test_glob_limits);
	RUN(test_file_is_shell_quoted_for_a_shell);
	git_libgit2_shutdown();
	return check_done();
}
