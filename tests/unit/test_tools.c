/* Unit tests for the agent's tools: confinement to the worktree ("..",
 * absolute paths, symlinks out refused; symlinks inside followed), and
 * edit_file's one exact, unique match. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "check.h"

static char top[] = "/tmp/pai-test-tools-XXXXXX";
static char wt[256], outside[256];
static struct tools t;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char text[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* Call a tool with a JSON argument object; returns the result (static). */
static struct tool_result *call(const char *name, const char *json)
{
	static struct tool_result r;
	static bool init;
	cJSON *in = cJSON_Parse(json);

	if (!init) {
		tool_result_init(&r);
		init = true;
	}
	if (!in) {
		fprintf(stderr, "bad test json: %s\n", json);
		exit(1);
	}
	tools_call(&t, name, in, &r);
	cJSON_Delete(in);
	return &r;
}

static bool has(const struct tool_result *r, const char *s)
{
	bool ok = strstr(buf_cstr(&r->out), s) != NULL;

	if (!ok)
		fprintf(stderr, "  output lacks \"%s\": %s\n", s, buf_cstr(&r->out));
	return ok;
}

static void setup(void)
{
	char path[512], err[256];

	if (!mkdtemp(top)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(wt, sizeof(wt), "%s/wt", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	mkdir(wt, 0755);
	mkdir(outside, 0755);
	snprintf(path, sizeof(path), "%s/secret.txt", outside);
	put(path, "top secret\n");
	snprintf(path, sizeof(path), "%s/src", wt);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/src/cli.c", wt);
	put(path, "int verbose;\nint main(void)\n{\n\treturn 0;\n}\n");
	snprintf(path, sizeof(path), "%s/dup.txt", wt);
	put(path, "x = 1;\ny = 2;\nx = 1;\n");
	snprintf(path, sizeof(path), "%s/.git", wt);
	put(path, "gitdir: /nowhere\n");
	/* symlinks: one leading out, one dangling out, one staying inside */
	snprintf(path, sizeof(path), "%s/out", wt);
	if (symlink(outside, path) < 0)
		perror("symlink");
	snprintf(path, sizeof(path), "%s/dangling", wt);
	if (symlink("../outside/new.txt", path) < 0)
		perror("symlink");
	snprintf(path, sizeof(path), "%s/inside", wt);
	if (symlink("src", path) < 0)
		perror("symlink");
	snprintf(path, sizeof(path), "%s/abs-inside", wt);
	if (symlink(wt, path) < 0)
		perror("symlink");
	if (tools_open(&t, wt, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
}

static void test_dotdot_is_refused(void)
{
	struct tool_result *r = call("read_file", "{\"path\":\"../outside/secret.txt\"}");

	CHECK(r->error);
	CHECK(has(r, "outside the worktree"));
	CHECK(!strstr(buf_cstr(&r->out), "top secret"));
	r = call("read_file", "{\"path\":\"src/../../outside/secret.txt\"}");
	CHECK(r->error);
	CHECK(has(r, "outside the worktree"));
	r = call("write_file", "{\"path\":\"../escape.txt\",\"content\":\"x\"}");
	CHECK(r->error);
	CHECK_STR(buf_cstr(&r->out), "path '../escape.txt' is outside the worktree");
	r = call("write_file", "{\"path\":\"newdir/../../escape.txt\",\"content\":\"x\"}");
	CHECK(r->error);
	r = call("list_files", "{\"path\":\"..\"}");
	CHECK(r->error);
	CHECK(has(r, "outside the worktree"));
	r = call("search", "{\"pattern\":\"secret\",\"path\":\"..\"}");
	CHECK(r->error);
}

static void test_absolute_path_is_refused(void)
{
	char json[512];
	struct tool_result *r;

	snprintf(json, sizeof(json), "{\"path\":\"%s/secret.txt\"}", outside);
	r = call("read_file", json);
	CHECK(r->error);
	CHECK(has(r, "outside the worktree"));
	/* even one that names a file inside the worktree */
	snprintf(json, sizeof(json), "{\"path\":\"%s/src/cli.c\"}", wt);
	r = call("read_file", json);
	CHECK(r->error);
	r = call("edit_file", "{\"path\":\"/etc/hostname\",\"old_string\":\"a\",\"new_string\":\"b\"}");
	CHECK(r->error);
}

static void test_symlink_out_is_refused(void)
{
	char path[512];
	struct tool_result *r = call("read_file", "{\"path\":\"out/secret.txt\"}");

	CHECK(r->error);
	CHECK(has(r, "outside the worktree"));
	r = call("write_file", "{\"path\":\"out/planted.txt\",\"content\":\"x\"}");
	CHECK(r->error);
	snprintf(path, sizeof(path), "%s/planted.txt", outside);
	CHECK(access(path, F_OK) != 0);
	/* a dangling symlink out cannot be created through */
	r = call("write_file", "{\"path\":\"dangling\",\"content\":\"x\"}");
	CHECK(r->error);
	snprintf(path, sizeof(path), "%s/new.txt", outside);
	CHECK(access(path, F_OK) != 0);
	/* an absolute symlink is refused even when it points inside */
	r = call("read_file", "{\"path\":\"abs-inside/src/cli.c\"}");
	CHECK(r->error);
	/* the walk does not follow symlinks out */
	r = call("search", "{\"pattern\":\"top secret\"}");
	CHECK(!r->error);
	CHECK(has(r, "no matches"));
	r = call("list_files", "{}");
	CHECK(!r->error);
	CHECK(!strstr(buf_cstr(&r->out), "secret.txt"));
}

static void test_symlink_inside_is_followed(void)
{
	struct tool_result *r = call("read_file", "{\"path\":\"inside/cli.c\"}");

	CHECK(!r->error);
	CHECK(has(r, "int verbose;"));
	r = call("edit_file", "{\"path\":\"inside/cli.c\",\"old_string\":\"int verbose;\","
		 "\"new_string\":\"int verbose = 1;\"}");
	CHECK(!r->error);
	r = call("read_file", "{\"path\":\"src/cli.c\",\"start_line\":1,\"end_line\":1}");
	CHECK_STR(buf_cstr(&r->out), "int verbose = 1;\n");
}

static void test_edit_file_unique_missing_ambiguous(void)
{
	char path[512];
	struct tool_result *r;

	snprintf(path, sizeof(path), "%s/dup.txt", wt);
	r = call("edit_file", "{\"path\":\"dup.txt\",\"old_string\":\"y = 2;\",\"new_string\":\"y = 3;\"}");
	CHECK(!r->error);
	CHECK(has(r, "replaced 1 occurrence"));
	CHECK_STR(slurp(path), "x = 1;\ny = 3;\nx = 1;\n");

	r = call("edit_file", "{\"path\":\"dup.txt\",\"old_string\":\"z = 9;\",\"new_string\":\"\"}");
	CHECK(r->error);
	CHECK_STR(buf_cstr(&r->out), "string not found in dup.txt");

	r = call("edit_file", "{\"path\":\"dup.txt\",\"old_string\":\"x = 1;\",\"new_string\":\"x = 0;\"}");
	CHECK(r->error);
	CHECK(has(r, "not unique in dup.txt (2 occurrences)"));
	CHECK_STR(slurp(path), "x = 1;\ny = 3;\nx = 1;\n");

	/* more context makes it unique */
	r = call("edit_file", "{\"path\":\"dup.txt\",\"old_string\":\"y = 3;\\nx = 1;\","
		 "\"new_string\":\"y = 3;\\nx = 4;\"}");
	CHECK(!r->error);
	CHECK_STR(slurp(path), "x = 1;\ny = 3;\nx = 4;\n");

	r = call("edit_file", "{\"path\":\"nope.txt\",\"old_string\":\"a\",\"new_string\":\"b\"}");
	CHECK(r->error);
	CHECK(has(r, "No such file"));
	r = call("edit_file", "{\"path\":\"dup.txt\",\"old_string\":\"\",\"new_string\":\"b\"}");
	CHECK(r->error);
	r = call("edit_file", "{\"path\":\"dup.txt\",\"old_string\":\"a\"}");
	CHECK(r->error);
	CHECK(has(r, "missing argument 'new_string'"));
}

static void test_write_file_makes_parents(void)
{
	char path[512];
	struct tool_result *r;

	r = call("write_file", "{\"path\":\"a/b/c/new.txt\",\"content\":\"hello\\n\"}");
	CHECK(!r->error);
	snprintf(path, sizeof(path), "%s/a/b/c/new.txt", wt);
	CHECK_STR(slurp(path), "hello\n");
	r = call("write_file", "{\"path\":\"./a//d.txt\",\"content\":\"\"}");
	CHECK(!r->error);
	r = call("write_file", "{\"path\":\".git/config\",\"content\":\"x\"}");
	CHECK(r->error);
	CHECK(has(r, ".git"));
}

static void test_list_and_search(void)
{
	struct tool_result *r = call("list_files", "{\"path\":\".\"}");

	CHECK(!r->error);
	CHECK(has(r, "src/cli.c\n"));
	CHECK(has(r, "dup.txt\n"));
	CHECK(!strstr(buf_cstr(&r->out), ".git"));
	r = call("search", "{\"pattern\":\"^int (main|verbose)\"}");
	CHECK(!r->error);
	CHECK(has(r, "src/cli.c:1: int verbose = 1;"));
	CHECK(has(r, "src/cli.c:2: int main(void)"));
	r = call("search", "{\"pattern\":\"return\",\"path\":\"src/cli.c\"}");
	CHECK(has(r, "src/cli.c:4: \treturn 0;"));
	r = call("search", "{\"pattern\":\"(\"}");
	CHECK(r->error);
	CHECK(has(r, "bad pattern"));
}

static void test_read_file_ranges(void)
{
	struct tool_result *r = call("read_file", "{\"path\":\"src/cli.c\",\"start_line\":2,\"end_line\":3}");

	CHECK_STR(buf_cstr(&r->out), "int main(void)\n{\n");
	r = call("read_file", "{\"path\":\"src/cli.c\",\"start_line\":50}");
	CHECK(has(r, "has 5 lines"));
	r = call("read_file", "{\"path\":\"src\"}");
	CHECK(r->error);
	CHECK(has(r, "is a directory"));
}

static void test_run_reports_exit_status_and_stays_in_worktree(void)
{
	struct tool_result *r;

	setenv("PAI_TEST_SECRET_KEY", "sk-do-not-leak", 1);
	t.hide_env = "PAI_TEST_SECRET_KEY";
	r = call("run", "{\"command\":\"pwd; echo \\\"key=$PAI_TEST_SECRET_KEY\\\"; exit 3\"}");
	CHECK(!r->error);
	CHECK(r->exit_status == 3);
	CHECK(has(r, wt));
	CHECK(has(r, "key=\n"));
	CHECK(has(r, "[exit status 3]"));
	r = call("run", "{\"command\":\"sleep 30 & sleep 20; echo never\",\"timeout\":1}");
	CHECK(r->error);
	CHECK(has(r, "timed out after 1 s"));
	CHECK(!strstr(buf_cstr(&r->out), "never"));
	/* a big output keeps its head and its tail */
	r = call("run", "{\"command\":\"echo first; seq 1 100000; echo last\"}");
	CHECK(!r->error);
	CHECK(has(r, "first\n"));
	CHECK(has(r, "last\n"));
	CHECK(has(r, "bytes of output omitted"));
	CHECK(r->out.len <= TOOL_OUTPUT_MAX);
}

static void test_unknown_tool_and_bad_arguments(void)
{
	struct tool_result *r = call("format_disk", "{}");

	CHECK(r->error);
	CHECK(has(r, "no such tool 'format_disk'"));
	r = call("read_file", "{\"path\":7}");
	CHECK(r->error);
}

int main(void)
{
	char cmd[600];
	int r;

	setup();
	RUN(test_dotdot_is_refused);
	RUN(test_absolute_path_is_refused);
	RUN(test_symlink_out_is_refused);
	RUN(test_symlink_inside_is_followed);
	RUN(test_edit_file_unique_missing_ambiguous);
	RUN(test_write_file_makes_parents);
	RUN(test_list_and_search);
	RUN(test_read_file_ranges);
	RUN(test_run_reports_exit_status_and_stays_in_worktree);
	RUN(test_unknown_tool_and_bad_arguments);
	tools_close(&t);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	r = system(cmd);
	(void)r;
	return check_done();
}
