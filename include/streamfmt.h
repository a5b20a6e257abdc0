/*
 * streamfmt: the machine-readable event streams of agent CLIs (Claude Code,
 * Codex, Gemini CLI, OpenCode) turned into a readable transcript, a final
 * result and token and cost figures.
 *
 * The parser is pure: feed it one line at a time, it appends transcript
 * text to a buffer and updates its totals; nothing here touches a process
 * or a file. `parallelai stream` (stream_main) wraps a CLI with it:
 *
 *	$ parallelai stream --format claude --raw log.jsonl --result result.json \
 *		-- claude -p 'add a --verbose flag' --output-format stream-json --verbose
 *	I'll add the flag to the argument parser.
 *	» Read src/cli.c
 *	» Edit src/cli.c
 *	» Bash make test
 *	Added --verbose; the tests pass.
 *	$ cat result.json
 *	{"result":"Added --verbose; the tests pass.","input_tokens":5120,...}
 *
 * In code:
 *
 *	struct streamfmt s;
 *	struct buf out;
 *	streamfmt_init(&s, STREAM_CLAUDE, worktree);
 *	buf_init(&out, BUF_NOMAX);
 *	while (next_line(&line, &len))
 *		streamfmt_feed(&s, line, len, &out);	// print out, then empty it
 *	streamfmt_finish(&s, &out);
 *	code = streamfmt_exit(&s, wait_status);	// 0, 1, or the CLI's failure
 *	streamfmt_result_json(&s, &json);
 *	streamfmt_release(&s);
 */
#ifndef PAI_STREAMFMT_H
#define PAI_STREAMFMT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum stream_format {
	STREAM_TEXT,		/* no JSON (aider): lines pass through */
	STREAM_CLAUDE,		/* claude -p --output-format stream-json --verbose */
	STREAM_CODEX,		/* codex exec --json */
	STREAM_GEMINI,		/* gemini -p --output-format stream-json */
	STREAM_OPENCODE,	/* opencode run --format json */
};

/* Lines longer than this are kept raw but not parsed. */
#define STREAM_LINE_MAX (8u << 20)

struct streamfmt {
	enum stream_format format;
	char *cwd;		/* paths beneath it are shown relative */

	/* totals; -1 where the stream has not said */
	long long input_tokens;		/* all input, cached included */
	long long output_tokens;
	long long cache_read_tokens;
	long long cache_write_tokens;
	double cost_usd;		/* valid when has_cost */
	bool has_cost;
	long long turns;		/* -1: unknown */
	long long duration_ms;		/* -1: unknown */
	long long tool_calls;
	long long permission_denials;

	struct buf result;		/* the final message */
	bool has_result;
	struct buf segment;		/* assistant text since the last tool call */
	struct buf error;		/* why the run failed, "" when it did not */
	struct buf pending;		/* an error a later success may take back */
	struct buf denied;		/* "Write a.c, Bash rm x" for the reason */
	struct buf seen;		/* codex: ids of items shown when started;
					 * claude: ids of calls the policy's
					 * hook denied */
	bool policy_hook;		/* claude: the run has the policy's
					 * hook; the calls it denies are the
					 * policy's answer, not a failure */
	struct buf login;		/* what the CLI said outside its errors
					 * that may tell of a failed login */

	char msg_id[128];		/* claude: the message last counted */

	bool at_bol;			/* the transcript ends with a newline */
	bool partial;			/* claude: text arrives as deltas */
};

/* "claude", "codex", "gemini", "opencode", "text"; -EINVAL otherwise. */
int stream_format_parse(enum stream_format *out, const char *name);
const char *stream_format_name(enum stream_format f);

/* cwd may be NULL. */
void streamfmt_init(struct streamfmt *s, enum stream_format f, const char *cwd);
void streamfmt_release(struct streamfmt *s);

/*
 * One line of the CLI's stdout, without its newline. Transcript text is
 * appended to out. Lines that are not JSON are passed through as they are;
 * unknown event types are ignored. 0, or -ENOMEM / -EFBIG from out.
 */
int streamfmt_feed(struct streamfmt *s, const char *line, size_t len,
		   struct buf *out);
/* An overlong line that was not parsed: noted in the transcript. */
int streamfmt_feed_overlong(struct streamfmt *s, size_t len, struct buf *out);
/* End of the stream: settles pending errors, ends the last line. */
int streamfmt_finish(struct streamfmt *s, struct buf *out);

/*
 * The exit code for the CLI's wait status: its own code when non-zero
 * (128 + signal when killed), 1 when it exited 0 but its stream reported
 * an error or permission denials, 0 otherwise. Sets s->error to the reason
 * whenever the result is non-zero.
 */
int streamfmt_exit(struct streamfmt *s, int wait_status);
/* Mark the run failed for a reason found outside the stream. */
void streamfmt_fail(struct streamfmt *s, const char *reason);
/*
 * After a failed run (code from streamfmt_exit, non-zero): when the CLI's
 * own words say it is not logged in or has no usable key, replace s->error
 * with one line that says so and what to do, naming the engine:
 *	claude is not logged in: run claude once to log in, set
 *	ANTHROPIC_API_KEY, or mount with -o engine=sh
 * true when it did.
 */
bool streamfmt_explain_login(struct streamfmt *s, const char *engine, int code);

/*
 * The result file, one JSON object and a newline:
 * {"result", "input_tokens", "output_tokens", "cache_read_tokens",
 *  "cache_write_tokens", "cost_usd", "turns", "duration_ms", "tool_calls",
 *  "error", "permission_denials", "denied"}; "denied" names the tools
 * refused ("Write a.c, Bash rm x"), null when none was.
 */
int streamfmt_result_json(const struct streamfmt *s, struct buf *out);

/* parallelai stream --format F [--raw FILE] [--result FILE] -- PROGRAM ARGS... */
int stream_main(int argc, char **argv);

#endif
