/*
 * agent: the built-in coding agent, a child process the runner starts like
 * any other engine.
 *
 *	$ parallelai agent --protocol anthropic --model claude-sonnet-4-5 \
 *	      --prompt-file /tmp/p --worktree . --raw log.jsonl --result r.json
 *	I'll add the flag to the option table first.
 *	» read_file src/cli.c
 *	» edit_file src/cli.c
 *	» run make test
 *	Done: --verbose is parsed in src/cli.c and tested.
 *
 * stdout is the transcript (text as it streams, one line per tool call,
 * errors plainly); --raw keeps every request and event as JSON Lines;
 * --result gets one JSON object at the end. Exit 0 when the model ends its
 * turn, 1 with the reason otherwise.
 *
 * The modules of src/agent/ and what each one owns:
 *   agent.c      options, the turn loop, transcript, --raw and --result
 *   sse.c        Server-Sent Events framing, network chunks in, events out
 *   http.c       one libcurl handle: a POST whose body streams to a callback
 *   anthropic.c  the Messages API: request body, stream events, history
 *   openai.c     Chat Completions: the same three
 *   bedrock.c    Anthropic's models on Amazon Bedrock: AWS credentials and
 *                region, the request signed, the event stream's chunks
 *   sigv4.c      AWS Signature Version 4 (libcrypto's SHA-256 and HMAC)
 *   evstream.c   AWS's binary event stream, network chunks in, messages out
 *   tools.c      the tools the model calls, confined to the worktree
 *   run.c        the run tool's command: time limit, output cap, kill
 *   turn.c       one response, as the protocols fill it in
 *   ask.c        the daemon's policy asked before each tool call
 */
#ifndef PAI_AGENT_H
#define PAI_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "aws.h"
#include "buf.h"

int agent_main(int argc, char **argv);
/* `parallelai hook`: Claude Code's PreToolUse hook (hook.c). */
int hook_main(int argc, char **argv);

/* ---- sse.c --------------------------------------------------------------
 *
 *	struct sse s;
 *	sse_init(&s, 1 << 20, on_event, ctx);	// cap per line and per event
 *	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
 *		if (sse_feed(&s, chunk, n) < 0)	// -EFBIG, or on_event's < 0
 *			break;
 *	sse_release(&s);
 *
 * Lines end in LF, CRLF or CR, even when a chunk ends between CR and LF.
 * Comments (":...") are skipped, data lines are joined with "\n", and a
 * blank line dispatches the event ("message" when it names none).
 */
typedef int (*sse_event_fn)(void *ctx, const char *event,
			    const char *data, size_t len);

struct sse {
	struct buf line;	/* the line being assembled */
	struct buf data;	/* this event's data lines */
	struct buf event;	/* this event's name */
	bool has_data;
	bool cr;		/* the last byte was CR: a LF next is part of it */
	sse_event_fn fn;
	void *ctx;
};

void sse_init(struct sse *s, size_t max, sse_event_fn fn, void *ctx);
int sse_feed(struct sse *s, const char *p, size_t n);
void sse_release(struct sse *s);

/* ---- http.c -------------------------------------------------------------
 *
 * One curl handle per process. A 2xx body streams to fn (which returns
 * < 0 to stop); any other body is kept, capped, in res->body so its error
 * message can be shown.
 */
typedef int (*http_body_fn)(void *ctx, const char *p, size_t n);

struct http {
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	http_body_fn fn;
	void *ctx;
	bool stopped;		/* fn asked to stop */
	long status;
	struct buf body;	/* a non-2xx body */
	struct buf type;	/* Content-Type */
	struct buf errtype;	/* x-amzn-ErrorType (AWS) */
	long retry_after;	/* seconds, -1 when not given */
};

int http_init(struct http *h, char *err, size_t errlen);
void http_release(struct http *h);
/* 0 once a response came (h->status says which), or -1 with err set when
 * none did (connection refused, timeout, fn stopped it). *retryable says
 * whether trying again could help. */
/* The headers of a JSON request answered by an event stream, plus the
 * header AUTH (such as "x-api-key: ") followed by the key when the key
 * is not NULL; the line that held the key is wiped after use. */
struct curl_slist *http_sse_headers(struct curl_slist *h,
				    const char *auth, const char *key);
int http_post(struct http *h, const char *url, struct curl_slist *headers,
	      const char *body, long timeout_ms, http_body_fn fn, void *ctx,
	      bool *retryable, struct buf *err);
/* Is the URL's host loopback (localhost, 127.x, ::1)? */
bool http_loopback(const char *url);
/* Does the URL's host end in suffix? */
bool http_host_is(const char *url, const char *suffix);

/* ---- tools.c ------------------------------------------------------------
 *
 *	struct tools t;
 *	tools_open(&t, "/path/to/worktree", err, sizeof(err));
 *	struct tool_result r;
 *	tool_result_init(&r);
 *	tools_call(&t, "edit_file", input, &r);	// r.error, r.out
 *
 * Every path is resolved beneath the worktree with openat2(RESOLVE_BENEATH):
 * "..", absolute paths and symlinks that lead out are refused, as a tool
 * error.
 */
#define TOOL_OUTPUT_MAX (64 * 1024)

struct tools {
	int root;		/* O_PATH descriptor of the worktree */
	int run_timeout;	/* seconds, for run */
	double deadline;	/* CLOCK_MONOTONIC seconds; 0: none */
	const char *hide_env;	/* kept out of run's environment */
};

struct tool_result {
	struct buf out;		/* the text for the model */
	bool error;		/* out is an error message */
	int exit_status;	/* run's exit status; -1 otherwise */
};

int tools_open(struct tools *t, const char *worktree, char *err, size_t errlen);
void tools_close(struct tools *t);
/* The definitions the model sees: [{name, description, input_schema}]. */
cJSON *tools_schema(void);
/* The transcript line after "» ": "write_file src/cli.c". */
void tools_describe(const char *name, const cJSON *input, struct buf *out);
void tool_result_init(struct tool_result *r);
void tool_result_release(struct tool_result *r);
/* Never fails as a function: a failure is r->error with r->out saying why. */
void tools_call(struct tools *t, const char *name, const cJSON *input,
		struct tool_result *r);

/* ---- ask.c ------------------------------------------------------------
 *
 * Whether the daemon's policy lets a tool call run: 1 yes, 0 no (reason
 * says why, for the model). Asks the socket in PAI_POLICY_SOCKET for
 * task PAI_TASK_ID, waiting as long as the answer takes; 1 when no
 * socket is named.
 */
int agent_ask(const char *tool, const cJSON *input, struct buf *reason);

/* ---- run.c ----------------------------------------------------------------
 *
 * /bin/sh -c cmd in dirfd, killed with everything it started after
 * timeout seconds (or at deadline, CLOCK_MONOTONIC, when sooner). out gets
 * the output (capped below TOOL_OUTPUT_MAX, head and tail kept) and a last
 * line with the outcome; *status the exit status, 128 + signal, or
 * RUN_TIMED_OUT. -1 with err when the command could not be started.
 */
#define RUN_TIMED_OUT (-2)

int run_command(int dirfd, const char *cmd, double timeout, double deadline,
		const char *hide_env, struct buf *out, int *status,
		char *err, size_t errlen);

/* ---- anthropic.c, openai.c ----------------------------------------------
 *
 * A protocol turns the conversation into a request body, one stream event
 * at a time into a struct turn, and a finished turn (with its tool results)
 * back into the conversation.
 */
struct tool_call {
	char *id;
	char *name;
	struct buf args;	/* the input as JSON text, as it streamed */
	struct tool_result res;
};

struct turn {
	struct buf text;
	struct tool_call *calls;
	size_t ncalls;
	int block;		/* anthropic: the open tool_use block's call, -1 */
	char stop[32];		/* stop_reason / finish_reason */
	long in_tokens, out_tokens, cache_read, cache_write;
	struct buf error;	/* an error the server reported in the stream */
	bool finished;		/* message_stop / [DONE] seen */
	bool retry;		/* error is worth another try (throttled) */
	void (*on_text)(void *ctx, const char *s, size_t n);
	void *ctx;
};

void turn_init(struct turn *t);
void turn_release(struct turn *t);
/* A new call, or the one at index i when it exists (OpenAI's fragments). */
struct tool_call *turn_call(struct turn *t, size_t i);
void turn_text(struct turn *t, const char *s, size_t n);
int turn_fail(struct turn *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct agent_conf {
	const char *model;
	const char *system;
	long max_tokens;
	bool openai_com;	/* api.openai.com wants max_completion_tokens */
	const struct aws_creds *aws;	/* bedrock: the credentials */
	const char *region;		/* bedrock: the region */
};

struct proto {
	const char *name;
	const char *base_url;
	const char *key_env;
	const char *path;
	/* Adds the auth and version headers; the key may be NULL. */
	struct curl_slist *(*headers)(struct curl_slist *h, const char *key);
	/* Headers that depend on the whole request (a signature), added
	 * before each attempt; NULL when the protocol has none. 0, or -1
	 * with err set. */
	int (*sign)(const struct agent_conf *c, struct curl_slist **h,
		    const char *url, const char *body, struct buf *err);
	cJSON *(*start)(const struct agent_conf *c, const char *prompt);
	cJSON *(*request)(const struct agent_conf *c, cJSON *messages);
	/* 0, or < 0 with t->error set: the stream is unusable. */
	int (*event)(struct turn *t, const char *event, const char *data,
		     size_t len);
	/* A whole response as one JSON body, from a server that does not
	 * stream: 0, or < 0 with t->error set. */
	int (*message)(struct turn *t, const char *json, size_t len);
	/* The assistant's turn, then its tool results, onto messages. */
	void (*record)(cJSON *messages, const struct turn *t);
};

extern const struct proto proto_anthropic;
extern const struct proto proto_openai;
extern const struct proto proto_bedrock;

/* "message" (type) from an API error body of either protocol, or NULL. */
int api_error_message(const char *body, size_t len, struct buf *out);

/* ---- sigv4.c --------------------------------------------------------------
 *
 *	struct sigv4 s;
 *	struct sigv4_req r = { "POST", "bedrock-runtime.us-east-1.amazonaws.com",
 *			       "/model/anthropic.claude-…-v1%3A0/invoke", NULL,
 *			       hdrs, body, strlen(body), "us-east-1", "bedrock",
 *			       time(NULL) };
 *	sigv4_init(&s);
 *	sigv4_sign(&s, &r, &creds);	// s.authorization, s.amz_date
 *	sigv4_release(&s);
 *
 * The path is the one sent (its segments URI-encoded once); the canonical
 * URI encodes each segment again, as AWS does for every service but S3.
 * host, x-amz-date and (with a session token) x-amz-security-token are
 * signed besides the headers given ("Name: value"). No path
 * normalisation: the built-in agent's paths have no "." or "//".
 */
struct sigv4_req {
	const char *method;
	const char *host;	/* as in the Host header (with a port) */
	const char *path;	/* as sent */
	const char *query;	/* without '?'; NULL or "" when none */
	const char *const *headers;	/* NULL-terminated */
	const char *body;
	size_t body_len;
	const char *region;
	const char *service;
	time_t when;
};

struct sigv4 {
	char amz_date[17];		/* 20150830T123600Z */
	struct buf creq;		/* the canonical request */
	struct buf sts;			/* the string to sign */
	struct buf signed_headers;	/* host;x-amz-date */
	struct buf authorization;	/* the header's value */
};

void sigv4_init(struct sigv4 *s);
void sigv4_release(struct sigv4 *s);
int sigv4_sign(struct sigv4 *s, const struct sigv4_req *r,
	       const struct aws_creds *c);
/* Bytes but A-Z a-z 0-9 - _ . ~ (and '/' when keep_slash) as %XX. */
int sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash);
int sigv4_sha256_hex(char out[65], const void *data, size_t n);

/* ---- evstream.c ------------------------------------------------------------
 *
 *	struct evs e;
 *	evs_init(&e, 16 << 20, on_message, ctx);	// cap per message
 *	if (evs_feed(&e, chunk, n) < 0)		// -EPROTO: e.error says why
 *		...;
 *	evs_release(&e);
 *
 * Messages may be cut anywhere between chunks and several may share one.
 * A bad checksum, impossible lengths or a header running past its
 * message stop the stream with -EPROTO; on_message's < 0 stops it too.
 */
struct evs_message {
	const char *message_type, *event_type, *exception_type, *content_type;
	size_t message_type_len, event_type_len, exception_type_len,
	       content_type_len;
	const char *payload;
	size_t payload_len;
};

typedef int (*evs_message_fn)(void *ctx, const struct evs_message *m);

struct evs {
	struct buf pending;	/* a message not whole yet */
	size_t max;
	long messages;
	char error[128];
	evs_message_fn fn;
	void *ctx;
};

void evs_init(struct evs *e, size_t max, evs_message_fn fn, void *ctx);
int evs_feed(struct evs *e, const char *data, size_t n);
/* Is a message cut off in the middle? */
bool evs_partial(const struct evs *e);
void evs_release(struct evs *e);

/* ---- bedrock.c -------------------------------------------------------------- */

/* BASE/model/MODEL/invoke-with-response-stream, the model id encoded
 * once; BASE defaults to https://bedrock-runtime.REGION.amazonaws.com. */
int bedrock_url(char *url, size_t len, const char *base, const char *region,
		const char *model);
/* One event stream message into the turn: a chunk's decoded JSON (also
 * left in json, for --raw) to anthropic.c, an exception as the turn's
 * error ("bedrock: AccessDeniedException: …", t->retry when throttled). */
int bedrock_message(struct turn *t, const struct evs_message *m, struct buf *json);
/* "bedrock: NAME: message" from an exception's type and JSON body. */
void bedrock_error(struct buf *out, const char *type, size_t tlen,
		   const char *body, size_t len);
bool bedrock_retryable(const char *type, size_t tlen);

#endif
