/*
 * test_streamfmt: the agent CLI stream parsers, fed event lines shaped
 * like the real CLIs' output (Claude Code stream-json, codex exec --json,
 * gemini stream-json, opencode run --format json), odd lines included.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "streamfmt.h"

#define WT "/home/u/repo/.git/parallelai/worktrees/7"
#define EXITED(n) W_EXITCODE(n, 0)

static struct streamfmt S;
static struct buf OUT;

static void start(enum stream_format f)
{
	streamfmt_init(&S, f, WT);
	buf_init(&OUT, BUF_NOMAX);
}

/* Feed each line of text, as the filter does. */
static void feed(const char *text)
{
	while (*text) {
		size_t n = strcspn(text, "\n");

		CHECK(streamfmt_feed(&S, text, n, &OUT) == 0);
		text += n;
		if (*text)
			text++;
	}
}

static void finish(void)
{
	CHECK(streamfmt_finish(&S, &OUT) == 0);
}

static void stop(void)
{
	streamfmt_release(&S);
	buf_release(&OUT);
}

static const char *out(void)
{
	return buf_cstr(&OUT);
}

static bool has(const char *needle)
{
	return strstr(out(), needle) != NULL;
}

/* The result file's object, parsed back. */
static cJSON *result_json(void)
{
	struct buf b;
	cJSON *o;

	buf_init(&b, BUF_NOMAX);
	CHECK(streamfmt_result_json(&S, &b) == 0);
	CHECK(b.len > 0 && b.ptr[b.len - 1] == '\n');
	o = cJSON_Parse(buf_cstr(&b));
	CHECK(o != NULL);
	buf_release(&b);
	return o;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

static bool is_null(const cJSON *o, const char *key)
{
	return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- claude ----------------------------------------------------------- */

static const char claude_ok[] =
"{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"" WT "\",\"session_id\":\"9f1c\","
"\"tools\":[\"Task\",\"Bash\",\"Glob\",\"Grep\",\"Read\",\"Edit\",\"Write\"],"
"\"mcp_servers\":[],\"model\":\"claude-sonnet-4-5-20250929\",\"permissionMode\":\"acceptEdits\","
"\"apiKeySource\":\"ANTHROPIC_API_KEY\",\"uuid\":\"u1\"}\n"
"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\","
"\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"I'll add the flag.\"}],"
"\"stop_reason\":null,\"usage\":{\"input_tokens\":4,\"output_tokens\":2}},"
"\"parent_tool_use_id\":null,\"session_id\":\"9f1c\",\"uuid\":\"u2\"}\n"
"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\","
"\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"Read\",\"input\":{\"file_path\":\"" WT "/README.md\"}}]},"
"\"parent_tool_use_id\":null,\"session_id\":\"9f1c\"}\n"
"{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"toolu_01\",\"type\":\"tool_result\","
"\"content\":\"     1\\t# demo\\n\"}]},\"parent_tool_use_id\":null,\"session_id\":\"9f1c\"}\n"
"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\"},"
"{\"type\":\"tool_use\",\"id\":\"toolu_02\",\"name\":\"Write\",\"input\":{\"file_path\":\"" WT "/src/cli.c\",\"content\":\"int v;\\n\"}},"
"{\"type\":\"tool_use\",\"id\":\"toolu_03\",\"name\":\"Grep\",\"input\":{\"pattern\":\"verbose\",\"output_mode\":\"content\"}}]}}\n"
"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_04\",\"name\":\"Bash\","
"\"input\":{\"command\":\"make test\",\"description\":\"Run the tests\"}}]}}\n"
"{\"type\":\"user\",\"message\":{\"content\":[{\"tool_use_id\":\"toolu_04\",\"type\":\"tool_result\","
"\"content\":\"make: *** [test] Error 1\\nmore\",\"is_error\":true}]}}\n"
"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"Added --verbose.\\nThe tests pass.\"}]}}\n"
"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":12345,\"duration_api_ms\":11000,"
"\"num_turns\":6,\"result\":\"Added --verbose.\\nThe tests pass.\",\"session_id\":\"9f1c\",\"total_cost_usd\":0.0421,"
"\"usage\":{\"input_tokens\":20,\"cache_creation_input_tokens\":1000,\"cache_read_input_tokens\":4000,"
"\"output_tokens\":300,\"server_tool_use\":{\"web_search_requests\":0},\"service_tier\":\"standard\"},"
"\"modelUsage\":{},\"permission_denials\":[],\"uuid\":\"u9\"}\n";

static void test_claude_transcript_reads_like_a_session(void)
{
	start(STREAM_CLAUDE);
	feed(claude_ok);
	finish();
	CHECK_STR(out(),
		  "I'll add the flag.\n"
		  "» Read README.md\n"
		  "» Write src/cli.c\n"
		  "» Grep verbose\n"
		  "» Bash make test\n"
		  "! make: *** [test] Error 1 …\n"
		  "Added --verbose.\nThe tests pass.\n");
	stop();
}

static void test_claude_result_gives_totals(void)
{
	cJSON *o;

	start(STREAM_CLAUDE);
	feed(claude_ok);
	finish();
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	o = result_json();
	CHECK_STR(str(o, "result"), "Added --verbose.\nThe tests pass.");
	CHECK(num(o, "input_tokens") == 5020);
	CHECK(num(o, "cache_read_tokens") == 4000);
	CHECK(num(o, "cache_write_tokens") == 1000);
	CHECK(num(o, "output_tokens") == 300);
	CHECK(num(o, "cost_usd") > 0.0420 && num(o, "cost_usd") < 0.0422);
	CHECK(num(o, "turns") == 6);
	CHECK(num(o, "duration_ms") == 12345);
	CHECK(num(o, "tool_calls") == 4);
	CHECK(num(o, "permission_denials") == 0);
	CHECK(is_null(o, "error"));
	cJSON_Delete(o);
	stop();
}

/* While it runs: each message's usage once, however many assistant
 * events carry it; the result event's totals replace them. */
static void test_claude_running_figures(void)
{
	static const char ev[] =
		"{\"type\":\"assistant\",\"message\":{\"id\":\"msg_%d\","
		"\"content\":[{\"type\":\"text\",\"text\":\"x\"}],"
		"\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":90,"
		"\"output_tokens\":5}}}";
	char line[512];

	start(STREAM_CLAUDE);
	CHECK(S.input_tokens == 0 && S.turns == -1);
	snprintf(line, sizeof(line), ev, 1);
	feed(line);
	feed(line);
	CHECK(S.input_tokens == 100 && S.output_tokens == 5 && S.turns == 1);
	snprintf(line, sizeof(line), ev, 2);
	feed(line);
	CHECK(S.input_tokens == 200 && S.output_tokens == 10 && S.turns == 2);
	feed("{\"type\":\"result\",\"subtype\":\"success\",\"num_turns\":2,"
	     "\"result\":\"ok\",\"total_cost_usd\":0.01,"
	     "\"usage\":{\"input_tokens\":210,\"output_tokens\":12}}");
	CHECK(S.input_tokens == 210 && S.output_tokens == 12 && S.turns == 2);
	stop();
}

static void test_claude_permission_denials_fail_the_run(void)
{
	cJSON *o;

	start(STREAM_CLAUDE);
	feed("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Write\","
	     "\"input\":{\"file_path\":\"" WT "/hello.txt\",\"content\":\"hi\"}}]}}\n"
	     "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"is_error\":true,"
	     "\"content\":\"Claude requested permissions to write to " WT "/hello.txt, but you haven't granted it yet.\"}]}}\n"
	     "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":900,\"num_turns\":2,"
	     "\"result\":\"I need permission to write hello.txt.\",\"total_cost_usd\":0.002,"
	     "\"usage\":{\"input_tokens\":10,\"output_tokens\":5},"
	     "\"permission_denials\":[{\"tool_name\":\"Write\",\"tool_use_id\":\"t1\","
	     "\"tool_input\":{\"file_path\":\"" WT "/hello.txt\",\"content\":\"hi\"}},"
	     "{\"tool_name\":\"Bash\",\"tool_use_id\":\"t2\",\"tool_input\":{\"command\":\"rm -rf build\"}}]}\n");
	finish();
	/* the CLI exits 0, yet nothing was written: a failure */
	CHECK(streamfmt_exit(&S, EXITED(0)) == 1);
	o = result_json();
	CHECK(num(o, "permission_denials") == 2);
	CHECK(str(o, "error") && strstr(str(o, "error"), "2 permission denials"));
	CHECK(str(o, "error") && strstr(str(o, "error"), "Write hello.txt, Bash rm -rf build"));
	CHECK(str(o, "error") && strstr(str(o, "error"), "--permission-mode"));
	/* what it asked for, on its own: the needs_input event says it */
	CHECK_STR(str(o, "denied"), "Write hello.txt, Bash rm -rf build");
	CHECK_STR(str(o, "result"), "I need permission to write hello.txt.");
	CHECK(has("» Write hello.txt\n"));
	CHECK(has("! error: 2 permission denials"));
	cJSON_Delete(o);
	stop();
}

/* With the policy's hook, a call it denied is the policy's answer, which
 * the agent heard (as with the built-in agent): not a failure. Claude
 * Code's own denials still are; without the hook the same text is too. */
static void test_claude_policy_denials_do_not_fail_the_run(void)
{
	static const char run[] =
	     "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"is_error\":true,"
	     "\"content\":\"denied by policy (builtin git-push)\"}]}}\n"
	     "{\"type\":\"user\",\"message\":{\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t2\",\"is_error\":true,"
	     "\"content\":\"Claude requested permissions to use Bash, but you haven't granted it yet.\"}]}}\n"
	     "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":3,"
	     "\"result\":\"Done.\",\"usage\":{\"input_tokens\":10,\"output_tokens\":5},"
	     "\"permission_denials\":[{\"tool_name\":\"Bash\",\"tool_use_id\":\"t1\","
	     "\"tool_input\":{\"command\":\"git push origin main\"}}%s]}\n";
	char text[2048];

	start(STREAM_CLAUDE);
	S.policy_hook = true;
	snprintf(text, sizeof(text), run, "");
	feed(text);
	finish();
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	CHECK(S.permission_denials == 0);
	CHECK(has("! denied by policy (builtin git-push)\n"));
	stop();

	start(STREAM_CLAUDE);
	S.policy_hook = true;
	snprintf(text, sizeof(text), run, ",{\"tool_name\":\"Bash\",\"tool_use_id\":\"t2\","
		 "\"tool_input\":{\"command\":\"make test\"}}");
	feed(text);
	finish();
	CHECK(streamfmt_exit(&S, EXITED(0)) == 1);
	CHECK(S.permission_denials == 1);
	CHECK(strstr(buf_cstr(&S.error), "1 permission denial (Bash make test)"));
	stop();

	start(STREAM_CLAUDE);
	snprintf(text, sizeof(text), run, "");
	feed(text);
	finish();
	CHECK(streamfmt_exit(&S, EXITED(0)) == 1);
	CHECK(S.permission_denials == 1);
	stop();
}

static void test_claude_turn_limit_is_an_error(void)
{
	start(STREAM_CLAUDE);
	feed("{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":true,\"duration_ms\":5000,"
	     "\"num_turns\":3,\"total_cost_usd\":0.01,\"usage\":{\"input_tokens\":100,\"output_tokens\":40},"
	     "\"permission_denials\":[],\"errors\":[]}\n");
	finish();
	CHECK(streamfmt_exit(&S, EXITED(0)) == 1);
	CHECK_STR(buf_cstr(&S.error), "turn limit reached after 3 turns");
	CHECK(has("! error: turn limit reached after 3 turns\n"));
	CHECK(!S.has_result);
	stop();
}

static void test_claude_execution_error_lists_its_errors(void)
{
	start(STREAM_CLAUDE);
	feed("{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,\"num_turns\":1,"
	     "\"errors\":[\"tool crashed\",\"second\"]}\n");
	finish();
	CHECK(streamfmt_exit(&S, EXITED(1)) == 1);
	CHECK_STR(buf_cstr(&S.error), "error during execution: tool crashed: second (exit 1)");
	stop();
}

static void test_claude_api_error_result_fails(void)
{
	start(STREAM_CLAUDE);
	feed("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"API Error: 401 invalid x-api-key\"}]}}\n"
	     "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"num_turns\":1,"
	     "\"result\":\"API Error: 401 invalid x-api-key\",\"total_cost_usd\":0,"
	     "\"usage\":{\"input_tokens\":0,\"output_tokens\":0},\"permission_denials\":[]}\n");
	finish();
	CHECK(streamfmt_exit(&S, EXITED(1)) == 1);
	CHECK_STR(buf_cstr(&S.error), "API Error: 401 invalid x-api-key (exit 1)");
	stop();
}

static void test_claude_partial_messages_are_not_doubled(void)
{
	start(STREAM_CLAUDE);
	feed("{\"type\":\"stream_event\",\"event\":{\"type\":\"message_start\",\"message\":{}}}\n"
	     "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_start\",\"index\":0,"
	     "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}}\n"
	     "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\",\"index\":0,"
	     "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}}\n"
	     "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\",\"index\":0,"
	     "\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}}\n"
	     "{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_stop\",\"index\":0}}\n"
	     "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"Hello\"}]}}\n");
	finish();
	CHECK_STR(out(), "Hello\n");
	stop();
}

/* ---- codex ------------------------------------------------------------ */

static const char codex_ok[] =
"{\"type\":\"thread.started\",\"thread_id\":\"0199a213-81c0-7800-8aa1-bbab2a035a53\"}\n"
"{\"type\":\"turn.started\"}\n"
"{\"type\":\"item.completed\",\"item\":{\"id\":\"item_0\",\"type\":\"reasoning\",\"text\":\"**Looking at the parser**\"}}\n"
"{\"type\":\"item.started\",\"item\":{\"id\":\"item_1\",\"type\":\"command_execution\","
"\"command\":\"bash -lc 'make test'\",\"aggregated_output\":\"\",\"exit_code\":null,\"status\":\"in_progress\"}}\n"
"{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\",\"type\":\"command_execution\","
"\"command\":\"bash -lc 'make test'\",\"aggregated_output\":\"FAIL\\n\",\"exit_code\":2,\"status\":\"failed\"}}\n"
"{\"type\":\"item.completed\",\"item\":{\"id\":\"item_2\",\"type\":\"file_change\",\"changes\":["
"{\"path\":\"" WT "/src/cli.c\",\"kind\":\"update\"},{\"path\":\"" WT "/docs/flags.md\",\"kind\":\"add\"}],"
"\"status\":\"completed\"}}\n"
"{\"type\":\"item.completed\",\"item\":{\"id\":\"item_3\",\"type\":\"command_execution\","
"\"command\":\"/bin/bash -lc \\\"ls -la\\\"\",\"aggregated_output\":\"\",\"exit_code\":0,\"status\":\"completed\"}}\n"
"{\"type\":\"item.started\",\"item\":{\"id\":\"item_4\",\"type\":\"mcp_tool_call\",\"server\":\"docs\","
"\"tool\":\"search\",\"arguments\":{\"query\":\"argv\"},\"result\":null,\"error\":null,\"status\":\"in_progress\"}}\n"
"{\"type\":\"item.updated\",\"item\":{\"id\":\"item_5\",\"type\":\"todo_list\",\"items\":[{\"text\":\"a\",\"completed\":false}]}}\n"
"{\"type\":\"item.completed\",\"item\":{\"id\":\"item_6\",\"type\":\"agent_message\",\"text\":\"Added --verbose.\"}}\n"
"{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":24763,\"cached_input_tokens\":24448,\"output_tokens\":122}}\n";

static void test_codex_items_read_like_a_session(void)
{
	cJSON *o;

	start(STREAM_CODEX);
	feed(codex_ok);
	finish();
	CHECK_STR(out(),
		  "» Bash make test\n"
		  "! exit 2\n"
		  "» Edit src/cli.c\n"
		  "» Write docs/flags.md\n"
		  "» Bash ls -la\n"
		  "» docs.search argv\n"
		  "Added --verbose.\n");
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	o = result_json();
	CHECK_STR(str(o, "result"), "Added --verbose.");
	CHECK(num(o, "input_tokens") == 24763);
	CHECK(num(o, "cache_read_tokens") == 24448);
	CHECK(num(o, "output_tokens") == 122);
	CHECK(is_null(o, "cost_usd"));
	CHECK(is_null(o, "turns"));
	CHECK(is_null(o, "error"));
	cJSON_Delete(o);
	stop();
}

static void test_codex_reconnects_are_not_fatal(void)
{
	start(STREAM_CODEX);
	feed("{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n"
	     "{\"type\":\"turn.started\"}\n"
	     "{\"type\":\"error\",\"message\":\"Reconnecting... 2/5 (stream disconnected before completion)\"}\n"
	     "{\"type\":\"error\",\"message\":\"stream error: retrying\"}\n"
	     "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_0\",\"type\":\"agent_message\",\"text\":\"OK\"}}\n"
	     "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"cached_input_tokens\":0,\"output_tokens\":1}}\n");
	finish();
	CHECK(has("! warning: Reconnecting... 2/5"));
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	CHECK_STR(buf_cstr(&S.error), "");
	stop();
}

static void test_codex_error_without_a_finished_turn_fails(void)
{
	start(STREAM_CODEX);
	feed("{\"type\":\"turn.started\"}\n"
	     "{\"type\":\"error\",\"message\":\"unexpected status 401 Unauthorized\"}\n");
	finish();
	CHECK(has("! error: unexpected status 401 Unauthorized\n"));
	CHECK(streamfmt_exit(&S, EXITED(0)) == 1);
	CHECK_STR(buf_cstr(&S.error), "unexpected status 401 Unauthorized");
	stop();
}

static void test_codex_turn_failed_fails(void)
{
	start(STREAM_CODEX);
	feed("{\"type\":\"turn.started\"}\n"
	     "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_0\",\"type\":\"error\",\"message\":\"model rerouted\"}}\n"
	     "{\"type\":\"turn.failed\",\"error\":{\"message\":\"stream disconnected before completion\"}}\n");
	finish();
	CHECK(has("! warning: model rerouted\n"));
	CHECK(streamfmt_exit(&S, EXITED(1)) == 1);
	CHECK_STR(buf_cstr(&S.error), "stream disconnected before completion (exit 1)");
	stop();
}

/* What codex 0.169 prints for a 400: the error body as it came, once as an
 * error and again as the failed turn. */
static void test_codex_error_body_reads_as_its_message_once(void)
{
	const char *body = "{\\\"error\\\": {\\\"message\\\": \\\"model x does not exist\\\", "
			   "\\\"type\\\": \\\"invalid_request_error\\\", \\\"param\\\": null}}";
	char line[512];
	const char *p;
	int n = 0;

	start(STREAM_CODEX);
	feed("{\"type\":\"turn.started\"}\n");
	snprintf(line, sizeof(line), "{\"type\":\"error\",\"message\":\"%s\"}\n", body);
	feed(line);
	snprintf(line, sizeof(line), "{\"type\":\"turn.failed\",\"error\":{\"message\":\"%s\"}}\n", body);
	feed(line);
	finish();
	CHECK_STR(out(), "! error: model x does not exist\n");
	for (p = out(); (p = strstr(p, "! error")); p++)
		n++;
	CHECK(n == 1);
	CHECK(streamfmt_exit(&S, EXITED(1)) == 1);
	CHECK_STR(buf_cstr(&S.error), "model x does not exist (exit 1)");
	stop();
}

static void test_codex_text_that_is_not_json_is_kept(void)
{
	start(STREAM_CODEX);
	feed("{\"type\":\"error\",\"message\":\"{not json\"}\n"
	     "{\"type\":\"turn.failed\",\"error\":{\"message\":\"{\\\"detail\\\": 1}\"}}\n");
	finish();
	CHECK(has("! error: {not json\n"));
	CHECK(has("! error: {\"detail\": 1}\n"));
	CHECK(streamfmt_exit(&S, EXITED(1)) == 1);
	CHECK_STR(buf_cstr(&S.error), "{\"detail\": 1} (exit 1)");
	stop();
}

/* ---- gemini ----------------------------------------------------------- */

static const char gemini_ok[] =
"{\"type\":\"init\",\"timestamp\":\"2025-10-10T12:00:00.000Z\",\"session_id\":\"abc\",\"model\":\"gemini-2.5-pro\"}\n"
"{\"type\":\"message\",\"timestamp\":\"2025-10-10T12:00:00.000Z\",\"role\":\"user\",\"content\":\"add a flag\"}\n"
"{\"type\":\"message\",\"timestamp\":\"2025-10-10T12:00:01.000Z\",\"role\":\"assistant\",\"content\":\"Let me \",\"delta\":true}\n"
"{\"type\":\"message\",\"timestamp\":\"2025-10-10T12:00:01.100Z\",\"role\":\"assistant\",\"content\":\"look.\",\"delta\":true}\n"
"{\"type\":\"tool_use\",\"timestamp\":\"2025-10-10T12:00:02.000Z\",\"tool_name\":\"read_file\",\"tool_id\":\"read-1\","
"\"parameters\":{\"absolute_path\":\"" WT "/src/cli.c\"}}\n"
"{\"type\":\"tool_result\",\"timestamp\":\"2025-10-10T12:00:02.100Z\",\"tool_id\":\"read-1\",\"status\":\"success\",\"output\":\"\"}\n"
"{\"type\":\"tool_use\",\"timestamp\":\"2025-10-10T12:00:03.000Z\",\"tool_name\":\"run_shell_command\",\"tool_id\":\"sh-1\","
"\"parameters\":{\"command\":\"make test\",\"description\":\"tests\"}}\n"
"{\"type\":\"tool_result\",\"timestamp\":\"2025-10-10T12:00:04.000Z\",\"tool_id\":\"sh-1\",\"status\":\"error\","
"\"output\":\"\",\"error\":{\"type\":\"shell\",\"message\":\"Command exited with code 2\"}}\n"
"{\"type\":\"error\",\"timestamp\":\"2025-10-10T12:00:05.000Z\",\"severity\":\"warning\",\"message\":\"Loop detected, stopping execution\"}\n"
"{\"type\":\"message\",\"timestamp\":\"2025-10-10T12:00:06.000Z\",\"role\":\"assistant\",\"content\":\"Done: added \",\"delta\":true}\n"
"{\"type\":\"message\",\"timestamp\":\"2025-10-10T12:00:06.100Z\",\"role\":\"assistant\",\"content\":\"--verbose.\",\"delta\":true}\n"
"{\"type\":\"result\",\"timestamp\":\"2025-10-10T12:00:07.000Z\",\"status\":\"success\","
"\"stats\":{\"total_tokens\":1500,\"input_tokens\":1200,\"output_tokens\":300,\"cached\":200,\"input\":1000,"
"\"duration_ms\":7000,\"tool_calls\":2}}\n";

static void test_gemini_deltas_and_tools_read_like_a_session(void)
{
	cJSON *o;

	start(STREAM_GEMINI);
	feed(gemini_ok);
	finish();
	CHECK_STR(out(),
		  "Let me look.\n"
		  "» read_file src/cli.c\n"
		  "» run_shell_command make test\n"
		  "! Command exited with code 2\n"
		  "! warning: Loop detected, stopping execution\n"
		  "Done: added --verbose.\n");
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	o = result_json();
	CHECK_STR(str(o, "result"), "Done: added --verbose.");
	CHECK(num(o, "input_tokens") == 1200);
	CHECK(num(o, "output_tokens") == 300);
	CHECK(num(o, "cache_read_tokens") == 200);
	CHECK(num(o, "duration_ms") == 7000);
	CHECK(num(o, "tool_calls") == 2);
	CHECK(is_null(o, "cost_usd"));
	cJSON_Delete(o);
	stop();
}

static void test_gemini_turn_limit_exit_says_so(void)
{
	start(STREAM_GEMINI);
	feed("{\"type\":\"error\",\"timestamp\":\"t\",\"severity\":\"error\",\"message\":\"Maximum session turns exceeded\"}\n");
	finish();
	CHECK(streamfmt_exit(&S, EXITED(53)) == 53);
	CHECK_STR(buf_cstr(&S.error), "turn limit reached (exit 53): Maximum session turns exceeded");
	stop();

	start(STREAM_GEMINI);
	finish();
	CHECK(streamfmt_exit(&S, EXITED(42)) == 42);
	CHECK_STR(buf_cstr(&S.error), "input error (exit 42)");
	stop();
}

static void test_gemini_error_result_fails(void)
{
	start(STREAM_GEMINI);
	feed("{\"type\":\"result\",\"timestamp\":\"t\",\"status\":\"error\","
	     "\"error\":{\"type\":\"FatalAuthenticationError\",\"message\":\"no credentials\"},"
	     "\"stats\":{\"total_tokens\":0,\"input_tokens\":0,\"output_tokens\":0,\"duration_ms\":5,\"tool_calls\":0}}\n");
	finish();
	CHECK(streamfmt_exit(&S, EXITED(0)) == 1);
	CHECK_STR(buf_cstr(&S.error), "no credentials");
	stop();
}

/* ---- opencode --------------------------------------------------------- */

static const char opencode_ok[] =
"{\"type\":\"step_start\",\"timestamp\":1767036059338,\"sessionID\":\"ses_49\",\"part\":{\"id\":\"prt_1\","
"\"sessionID\":\"ses_49\",\"messageID\":\"msg_1\",\"type\":\"step-start\",\"snapshot\":\"4b825dc6\"}}\n"
"{\"type\":\"tool_use\",\"timestamp\":1767036060000,\"sessionID\":\"ses_49\",\"part\":{\"id\":\"prt_2\","
"\"sessionID\":\"ses_49\",\"messageID\":\"msg_1\",\"type\":\"tool\",\"callID\":\"call_1\",\"tool\":\"write\","
"\"state\":{\"status\":\"completed\",\"input\":{\"filePath\":\"" WT "/hello.py\",\"content\":\"print(1)\\n\"},"
"\"output\":\"\",\"title\":\"hello.py\",\"metadata\":{},\"time\":{\"start\":1,\"end\":2}}}}\n"
"{\"type\":\"tool_use\",\"timestamp\":1767036060500,\"sessionID\":\"ses_49\",\"part\":{\"id\":\"prt_3\","
"\"type\":\"tool\",\"callID\":\"call_2\",\"tool\":\"bash\",\"state\":{\"status\":\"error\","
"\"input\":{\"command\":\"python3 hello.py\",\"description\":\"run\"},\"error\":\"python3: not found\"}}}\n"
"{\"type\":\"step_finish\",\"timestamp\":1767036061000,\"sessionID\":\"ses_49\",\"part\":{\"id\":\"prt_4\","
"\"sessionID\":\"ses_49\",\"messageID\":\"msg_1\",\"type\":\"step-finish\",\"reason\":\"tool-calls\","
"\"snapshot\":\"4b825dc6\",\"cost\":0.0031,\"tokens\":{\"input\":1000,\"output\":50,\"reasoning\":10,"
"\"cache\":{\"read\":200,\"write\":0}}}}\n"
"{\"type\":\"step_start\",\"timestamp\":1767036062000,\"sessionID\":\"ses_49\",\"part\":{\"id\":\"prt_5\",\"type\":\"step-start\"}}\n"
"{\"type\":\"text\",\"timestamp\":1767036063000,\"sessionID\":\"ses_49\",\"part\":{\"id\":\"prt_6\","
"\"sessionID\":\"ses_49\",\"messageID\":\"msg_2\",\"type\":\"text\",\"text\":\"Wrote hello.py.\","
"\"time\":{\"start\":1767036062500,\"end\":1767036063000}}}\n"
"{\"type\":\"step_finish\",\"timestamp\":1767036063100,\"sessionID\":\"ses_49\",\"part\":{\"id\":\"prt_7\","
"\"type\":\"step-finish\",\"reason\":\"stop\",\"cost\":0.0019,\"tokens\":{\"input\":300,\"output\":20,"
"\"reasoning\":0,\"cache\":{\"read\":1200,\"write\":100}}}}\n";

static void test_opencode_parts_read_like_a_session(void)
{
	cJSON *o;

	start(STREAM_OPENCODE);
	feed(opencode_ok);
	finish();
	CHECK_STR(out(),
		  "» write hello.py\n"
		  "» bash python3 hello.py\n"
		  "! python3: not found\n"
		  "Wrote hello.py.\n");
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	o = result_json();
	CHECK_STR(str(o, "result"), "Wrote hello.py.");
	CHECK(num(o, "input_tokens") == 1000 + 200 + 300 + 1200 + 100);
	CHECK(num(o, "output_tokens") == 50 + 10 + 20);
	CHECK(num(o, "cache_read_tokens") == 1400);
	CHECK(num(o, "cache_write_tokens") == 100);
	CHECK(num(o, "cost_usd") > 0.00499 && num(o, "cost_usd") < 0.00501);
	CHECK(num(o, "turns") == 2);
	cJSON_Delete(o);
	stop();
}

static void test_opencode_error_event_fails(void)
{
	start(STREAM_OPENCODE);
	feed("{\"type\":\"error\",\"timestamp\":1,\"sessionID\":\"ses_1\",\"error\":{\"name\":\"APIError\","
	     "\"data\":{\"message\":\"Model not found: nope/nope\",\"isRetryable\":false}}}\n");
	finish();
	CHECK(has("! error: Model not found: nope/nope\n"));
	CHECK(streamfmt_exit(&S, EXITED(1)) == 1);
	CHECK_STR(buf_cstr(&S.error), "Model not found: nope/nope (exit 1)");
	stop();
}

/* ---- text and odd input ----------------------------------------------- */

static void test_text_passes_lines_through(void)
{
	cJSON *o;

	start(STREAM_TEXT);
	feed("Aider v0.86.1\n\n{\"type\":\"error\",\"message\":\"not parsed\"}\r\nApplied edit to src/cli.c\n");
	finish();
	CHECK_STR(out(), "Aider v0.86.1\n\n{\"type\":\"error\",\"message\":\"not parsed\"}\nApplied edit to src/cli.c\n");
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	o = result_json();
	CHECK(is_null(o, "result"));
	CHECK(is_null(o, "error"));
	CHECK(num(o, "input_tokens") == 0);
	cJSON_Delete(o);
	stop();
}

static void test_malformed_and_unknown_lines(void)
{
	start(STREAM_CLAUDE);
	feed("{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"cut\"\n"
	     "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{}}\n"
	     "{\"type\":\"system\",\"subtype\":\"compact_boundary\"}\n"
	     "\n"
	     "   \n"
	     "[1,2,3]\n"
	     "42\n"
	     "{\"no_type\":true}\n"
	     "{\"type\":\"assistant\"} trailing\n"
	     "{\"type\":7}\n"
	     "{\"type\":\"assistant\",\"message\":\"not an object\"}\n"
	     "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\"},{\"type\":\"text\",\"text\":7},"
	     "{\"text\":\"no type\"},{\"type\":\"tool_use\",\"name\":\"Bash\",\"input\":\"rm\"}]}}\n"
	     "{\"type\":\"result\",\"usage\":\"lots\",\"num_turns\":\"two\",\"permission_denials\":{}}\n"
	     "Debug: stray stdout line\r\n");
	finish();
	CHECK_STR(out(),
		  "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"cut\"\n"
		  "[1,2,3]\n"
		  "42\n"
		  "{\"no_type\":true}\n"
		  "{\"type\":\"assistant\"} trailing\n"
		  "{\"type\":7}\n"
		  "» tool\n"
		  "» Bash\n"
		  "Debug: stray stdout line\n");
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	stop();
}

static void test_long_arguments_are_cut_on_one_line(void)
{
	char cmd[600];

	memset(cmd, 'x', sizeof(cmd));
	memcpy(cmd, "echo ", 5);
	cmd[sizeof(cmd) - 1] = '\0';
	start(STREAM_GEMINI);
	{
		struct buf line;

		buf_init(&line, BUF_NOMAX);
		buf_printf(&line, "{\"type\":\"tool_use\",\"tool_name\":\"run_shell_command\","
			   "\"parameters\":{\"command\":\"%s\"}}", cmd);
		CHECK(streamfmt_feed(&S, line.ptr, line.len, &OUT) == 0);
		buf_release(&line);
	}
	CHECK(OUT.len < 220);
	CHECK(has(" …\n"));
	CHECK(strchr(out(), '\n') == out() + OUT.len - 1);
	stop();
}

static void test_overlong_line_is_summarised(void)
{
	start(STREAM_CODEX);
	feed("{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\",\"text\":\"partial\"}}\n");
	CHECK(streamfmt_feed_overlong(&S, 9000000, &OUT) == 0);
	finish();
	CHECK_STR(out(), "partial\n[line too long: 9000000 bytes]\n");
	stop();
}

static void test_text_without_newline_is_ended_before_a_tool(void)
{
	start(STREAM_GEMINI);
	feed("{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"thinking\",\"delta\":true}\n"
	     "{\"type\":\"tool_use\",\"tool_name\":\"glob\",\"parameters\":{\"pattern\":\"**/*.c\"}}\n"
	     "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"tail\",\"delta\":true}\n");
	finish();
	CHECK_STR(out(), "thinking\n» glob **/*.c\ntail\n");
	CHECK(S.has_result);
	CHECK_STR(buf_cstr(&S.result), "tail");
	stop();
}

static void test_exit_codes(void)
{
	start(STREAM_CODEX);
	finish();
	CHECK(streamfmt_exit(&S, EXITED(0)) == 0);
	CHECK_STR(buf_cstr(&S.error), "");
	CHECK(streamfmt_exit(&S, EXITED(7)) == 7);
	CHECK_STR(buf_cstr(&S.error), "exited with status 7");
	CHECK(streamfmt_exit(&S, SIGKILL) == 128 + SIGKILL);
	CHECK(strstr(buf_cstr(&S.error), "killed by signal 9") != NULL);
	stop();
}

/* What Claude Code 2.1 prints, with no login and no key, for claude -p
 * --output-format stream-json --verbose (trimmed), and exits 1. */
static const char claude_not_logged_in[] =
	"{\"type\":\"system\",\"subtype\":\"init\",\"cwd\":\"/tmp\",\"apiKeySource\":\"none\"}\n"
	"{\"type\":\"assistant\",\"message\":{\"model\":\"<synthetic>\",\"role\":\"assistant\","
	"\"content\":[{\"type\":\"text\",\"text\":\"Not logged in \xc2\xb7 Please run /login\"}]},"
	"\"parent_tool_use_id\":null,\"error\":\"authentication_failed\"}\n"
	"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"num_turns\":1,"
	"\"result\":\"Not logged in \xc2\xb7 Please run /login\",\"total_cost_usd\":0,"
	"\"permission_denials\":[]}\n";

#define SH_HINT "or mount with -o engine=sh"

/* Feed a stream, end the run with status, explain it as engine. */
static bool explained(enum stream_format f, const char *stream, int status,
		      const char *engine)
{
	bool r;

	start(f);
	feed(stream);
	finish();
	r = streamfmt_explain_login(&S, engine, streamfmt_exit(&S, status));
	return r;
}

static void test_login_claude_not_logged_in_says_what_to_do(void)
{
	CHECK(explained(STREAM_CLAUDE, claude_not_logged_in, EXITED(1), "claude"));
	CHECK_STR(buf_cstr(&S.error), "claude is not logged in: run claude once to log in, "
		  "set ANTHROPIC_API_KEY, " SH_HINT);
	stop();
	/* older versions and stand-ins print it as plain text */
	CHECK(explained(STREAM_CLAUDE, "Not logged in \xc2\xb7 Please run /login\n",
			EXITED(1), "claude"));
	CHECK_STR(buf_cstr(&S.error), "claude is not logged in: run claude once to log in, "
		  "set ANTHROPIC_API_KEY, " SH_HINT);
	CHECK(has("Not logged in"));
	stop();
}

static void test_login_claude_refused_key(void)
{
	/* Claude Code 2.1 against an API that answers 401 */
	CHECK(explained(STREAM_CLAUDE,
			"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\","
			"\"text\":\"Invalid API key \xc2\xb7 Fix external API key\"}]},"
			"\"error\":\"authentication_failed\"}\n"
			"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,"
			"\"api_error_status\":401,\"result\":\"Invalid API key \xc2\xb7 Fix external API key\"}\n",
			EXITED(1), "myclaude"));
	CHECK_STR(buf_cstr(&S.error), "myclaude has an API key that was refused: run claude once "
		  "to log in, set a valid ANTHROPIC_API_KEY, " SH_HINT);
	stop();
	/* only the event's error field tells */
	CHECK(explained(STREAM_CLAUDE,
			"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\","
			"\"text\":\"Something new\"}]},\"error\":\"authentication_failed\"}\n"
			"{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,"
			"\"result\":\"Something new\"}\n", EXITED(1), "claude"));
	CHECK_STR(buf_cstr(&S.error), "claude could not log in: run claude once to log in, "
		  "set ANTHROPIC_API_KEY, " SH_HINT);
	stop();
}

static void test_login_codex_missing_key_and_401(void)
{
	/* codex 0.1xx exec --json with a provider whose env_key is unset */
	CHECK(explained(STREAM_CODEX,
			"{\"type\":\"turn.started\"}\n"
			"{\"type\":\"error\",\"message\":\"Missing environment variable: `PAI_NOKEY`.\"}\n"
			"{\"type\":\"turn.failed\",\"error\":{\"message\":"
			"\"Missing environment variable: `PAI_NOKEY`.\"}}\n", EXITED(1), "codex"));
	CHECK_STR(buf_cstr(&S.error), "codex has no API key: set PAI_NOKEY, " SH_HINT);
	stop();
	/* and with a key the server refuses (or none at all) */
	CHECK(explained(STREAM_CODEX,
			"{\"type\":\"turn.started\"}\n"
			"{\"type\":\"error\",\"message\":\"unexpected status 401 Unauthorized: "
			"invalid x-api-key, url: http://127.0.0.1:1/v1/responses\"}\n"
			"{\"type\":\"turn.failed\",\"error\":{\"message\":\"unexpected status 401 "
			"Unauthorized: invalid x-api-key, url: http://127.0.0.1:1/v1/responses\"}}\n",
			EXITED(1), "codex"));
	CHECK_STR(buf_cstr(&S.error), "codex is not logged in or its key was refused: "
		  "run codex login, " SH_HINT);
	stop();
}

static void test_login_gemini_exit_41(void)
{
	CHECK(explained(STREAM_GEMINI, "{\"type\":\"init\"}\n", EXITED(41), "gemini"));
	CHECK_STR(buf_cstr(&S.error), "gemini could not log in: run gemini once to log in, "
		  "set GEMINI_API_KEY, " SH_HINT);
	stop();
}

static void test_login_other_failures_keep_their_reason(void)
{
	/* another error */
	CHECK(!explained(STREAM_CODEX,
			 "{\"type\":\"turn.failed\",\"error\":{\"message\":\"model x does not exist\"}}\n",
			 EXITED(1), "codex"));
	CHECK_STR(buf_cstr(&S.error), "model x does not exist (exit 1)");
	stop();
	/* a run that went well is not explained */
	CHECK(!explained(STREAM_CLAUDE, "Not logged in to the wiki, skipping it\n",
			 EXITED(0), "claude"));
	CHECK_STR(buf_cstr(&S.error), "");
	stop();
	/* words of one CLI mean nothing from another */
	CHECK(!explained(STREAM_OPENCODE, "Not logged in\n", EXITED(1), "opencode"));
	CHECK_STR(buf_cstr(&S.error), "exited with status 1");
	stop();
}

static void test_format_names(void)
{
	enum stream_format f;

	CHECK(stream_format_parse(&f, "claude") == 0 && f == STREAM_CLAUDE);
	CHECK(stream_format_parse(&f, "codex") == 0 && f == STREAM_CODEX);
	CHECK(stream_format_parse(&f, "gemini") == 0 && f == STREAM_GEMINI);
	CHECK(stream_format_parse(&f, "opencode") == 0 && f == STREAM_OPENCODE);
	CHECK(stream_format_parse(&f, "text") == 0 && f == STREAM_TEXT);
	CHECK(stream_format_parse(&f, "aider") == -EINVAL);
	CHECK(stream_format_parse(&f, NULL) == -EINVAL);
	CHECK_STR(stream_format_name(STREAM_OPENCODE), "opencode");
}

int main(void)
{
	RUN(test_claude_transcript_reads_like_a_session);
	RUN(test_claude_result_gives_totals);
	RUN(test_claude_running_figures);
	RUN(test_claude_permission_denials_fail_the_run);
	RUN(test_claude_policy_denials_do_not_fail_the_run);
	RUN(test_claude_turn_limit_is_an_error);
	RUN(test_claude_execution_error_lists_its_errors);
	RUN(test_claude_api_error_result_fails);
	RUN(test_claude_partial_messages_are_not_doubled);
	RUN(test_codex_items_read_like_a_session);
	RUN(test_codex_reconnects_are_not_fatal);
	RUN(test_codex_error_without_a_finished_turn_fails);
	RUN(test_codex_turn_failed_fails);
	RUN(test_codex_error_body_reads_as_its_message_once);
	RUN(test_codex_text_that_is_not_json_is_kept);
	RUN(test_gemini_deltas_and_tools_read_like_a_session);
	RUN(test_gemini_turn_limit_exit_says_so);
	RUN(test_gemini_error_result_fails);
	RUN(test_opencode_parts_read_like_a_session);
	RUN(test_opencode_error_event_fails);
	RUN(test_text_passes_lines_through);
	RUN(test_malformed_and_unknown_lines);
	RUN(test_long_arguments_are_cut_on_one_line);
	RUN(test_overlong_line_is_summarised);
	RUN(test_text_without_newline_is_ended_before_a_tool);
	RUN(test_exit_codes);
	RUN(test_login_claude_not_logged_in_says_what_to_do);
	RUN(test_login_claude_refused_key);
	RUN(test_login_codex_missing_key_and_401);
	RUN(test_login_gemini_exit_41);
	RUN(test_login_other_failures_keep_their_reason);
	RUN(test_format_names);
	return check_done();
}
