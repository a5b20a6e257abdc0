/*
 * agent: `parallelai agent`, the built-in coding agent. Options, the turn
 * loop (request, stream, tools, again), the transcript on stdout, and the
 * --raw and --result files. See include/agent.h.
 *
 *	parallelai agent --protocol openai --base-url http://127.0.0.1:11434 \
 *	    --model qwen2.5-coder --prompt-file p.txt --worktree .
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "fsutil.h"
#include "redact.h"

#define PROMPT_MAX (4 << 20)
#define REQUEST_MAX (32 << 20)
#define EVENT_MAX (8 << 20)
#define BACKOFF_MAX 60.0

static const char usage[] =
"usage: parallelai agent --protocol anthropic|openai|bedrock --model NAME\n"
"                        --prompt-file FILE --worktree DIR [options]\n"
"\n"
"  --base-url URL        API base (default: https://api.anthropic.com,\n"
"                        https://api.openai.com, or for bedrock\n"
"                        https://bedrock-runtime.REGION.amazonaws.com)\n"
"  --api-key-env VAR     environment variable with the key (default:\n"
"                        ANTHROPIC_API_KEY or OPENAI_API_KEY; none is needed\n"
"                        for a server on loopback; bedrock takes the AWS\n"
"                        credentials as the AWS tools find them)\n"
"  --region REGION       bedrock: when AWS_REGION, AWS_DEFAULT_REGION and\n"
"                        ~/.aws/config name none\n"
"  --max-tokens N        per response (default 8192)\n"
"  --max-turns N         requests before giving up (default 50)\n"
"  --max-retries N       retries of 429, 5xx and connection errors (default 2)\n"
"  --timeout-run SECONDS for the whole run (default: none)\n"
"  --raw FILE            every request and stream event as JSON Lines\n"
"  --result FILE         the outcome as one JSON object\n";

static const char system_prompt[] =
"You are a coding agent working on a task in a git worktree: a checkout of "
"the repository that is yours alone. Use the tools to look at the code, make "
"the change the task asks for, and check it (build and run the tests with the "
"run tool where the project has them). Paths are relative to the worktree "
"root. Do not commit: your changes are committed for you when you finish. "
"When the task is done, reply with a short summary of what you changed, "
"without calling a tool.";

struct agent {
	const struct proto *proto;
	struct agent_conf conf;
	const char *base_url, *key_env, *key, *prompt_file, *worktree;
	const char *raw_path, *result_path, *region_opt;
	struct aws_creds aws;	/* bedrock */
	char region[64];
	long max_turns, max_retries, timeout_run;
	double deadline;	/* CLOCK_MONOTONIC seconds, 0: none */
	char url[2048];

	FILE *raw;
	struct http http;
	struct tools tools;
	cJSON *messages;
	struct turn *turn;	/* the one streaming now */
	bool col0;		/* the transcript is at the start of a line */

	int turns;
	long in_tokens, out_tokens, cache_read, cache_write, tool_calls;
	struct buf final;	/* the last assistant text */
	struct buf error;	/* why the run failed */
};

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- transcript ----------------------------------------------------------- */

static void on_text(void *ctx, const char *s, size_t n)
{
	struct agent *a = ctx;

	fwrite(s, 1, n, stdout);
	fflush(stdout);		/* so tail -f shows it thinking aloud */
	a->col0 = s[n - 1] == '\n';
}

static void newline(struct agent *a)
{
	if (!a->col0)
		fputc('\n', stdout);
	a->col0 = true;
}

static void say(struct agent *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct agent *a, const char *fmt, ...)
{
	va_list ap;

	newline(a);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* The reason the run fails: kept for --result and said in the log. */
static int failed(struct agent *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int failed(struct agent *a, const char *fmt, ...)
{
	va_list ap;
	char msg[2048];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_truncate(&a->error, 0);
	buf_puts(&a->error, msg);
	say(a, "error: %s", msg);
	return -1;
}

/* ---- --raw ------------------------------------------------------------------ */

/* Write one JSON Lines record; the key never goes to disk, whatever a
 * tool printed or a server echoed. */
static void raw_write(struct agent *a, cJSON *rec)
{
	const char *secrets[] = { a->key, a->aws.secret_key, a->aws.token };
	char *line, *p;
	size_t i, klen;
	struct buf clean;

	if (!a->raw)
		return;
	line = cJSON_PrintUnformatted(rec);
	if (!line)
		return;
	for (i = 0; i < 3; i++)
		if (secrets[i] && (klen = strlen(secrets[i])) >= 8)
			for (p = line; (p = strstr(p, secrets[i])); p += klen)
				memset(p, '*', klen);
	/* and every other secret of the environment */
	buf_init(&clean, BUF_NOMAX);
	if (redact_text(redact_global(), line, strlen(line), &clean) == 0) {
		fwrite(clean.ptr, 1, clean.len, a->raw);
		fputc('\n', a->raw);
		fflush(a->raw);
	}
	buf_release(&clean);
	free(line);
}

static void raw_record(struct agent *a, const char *type, const char *k1,
		       cJSON *v1)
{
	cJSON *rec = cJSON_CreateObject();
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	cJSON_AddNumberToObject(rec, "time", (double)ts.tv_sec + ts.tv_nsec / 1e9);
	cJSON_AddStringToObject(rec, "type", type);
	cJSON_AddNumberToObject(rec, "turn", a->turns);
	if (k1 && v1)
		cJSON_AddItemToObject(rec, k1, v1);
	raw_write(a, rec);
	cJSON_Delete(rec);
}

/* ---- one request ----------------------------------------------------------- */

/* One response body: an event stream, or a whole JSON body from a server
 * that ignored "stream": true. */
struct body {
	struct agent *a;
	struct sse sse;
	struct evs evs;
	struct buf json;
	int kind;		/* 0: not known yet, 1: SSE, 2: JSON, 3: AWS */
	size_t bytes;
	long events;
};

static int on_sse(void *ctx, const char *event, const char *data, size_t len)
{
	struct body *b = ctx;
	struct agent *a = b->a;

	b->events++;

	if (a->raw) {
		cJSON *rec = cJSON_CreateObject();
		cJSON *d = cJSON_ParseWithLength(data, len);

		cJSON_AddStringToObject(rec, "type", "event");
		cJSON_AddNumberToObject(rec, "turn", a->turns);
		cJSON_AddStringToObject(rec, "event", event);
		cJSON_AddItemToObject(rec, "data", d ? d : cJSON_CreateString(data));
		raw_write(a, rec);
		cJSON_Delete(rec);
	}
	return a->proto->event(a->turn, event, data, len);
}

/* One message of AWS's event stream (bedrock). */
static int on_aws(void *ctx, const struct evs_message *m)
{
	struct body *b = ctx;
	struct buf json;
	int r;

	b->events++;
	buf_init(&json, EVENT_MAX);
	r = bedrock_message(b->a->turn, m, &json);
	if (json.len)
		raw_record(b->a, "event", "data",
			   cJSON_ParseWithLength(json.ptr, json.len));
	buf_release(&json);
	return r;
}

static int on_body(void *ctx, const char *p, size_t n)
{
	struct body *b = ctx;
	struct agent *a = b->a;
	const char *type = buf_cstr(&a->http.type);
	int r;

	if (!b->kind)
		b->kind = !strncasecmp(type, "application/json", 16) ? 2 :
			  !strncasecmp(type, "application/vnd.amazon.eventstream", 34) ||
			  a->proto == &proto_bedrock ? 3 : 1;
	b->bytes += n;
	if (b->kind == 3) {
		r = evs_feed(&b->evs, p, n);
		if (r == -EPROTO)
			turn_fail(a->turn, "bedrock: malformed event stream: %s",
				  b->evs.error);
		return r;
	}
	if (b->kind == 2) {
		if (buf_add(&b->json, p, n) < 0)
			return turn_fail(a->turn, "response from server over %d MiB",
					 EVENT_MAX >> 20);
		return 0;
	}
	r = sse_feed(&b->sse, p, n);

	if (r == -EFBIG)
		turn_fail(a->turn, "malformed stream from server: an event over %d MiB",
			  EVENT_MAX >> 20);
	else if (r < 0 && !a->turn->error.len)
		turn_fail(a->turn, "malformed stream from server");
	return r;
}

static bool retry_status(long status)
{
	return status == 408 || status == 409 || status == 429 || status >= 500;
}

/* Sleep before retry number `attempt` (1-based), or return -1 when the
 * deadline comes first. */
static int backoff(struct agent *a, int attempt, long retry_after, const char *why)
{
	double d = 1.0;
	int i;

	for (i = 1; i < attempt && d < BACKOFF_MAX; i++)
		d *= 2;

	d *= 0.5 + (double)rand() / RAND_MAX;	/* jitter: 0.5x to 1.5x */
	if (retry_after >= 0)
		d = (double)retry_after;
	if (d > BACKOFF_MAX)
		d = BACKOFF_MAX;
	if (a->deadline && now_mono() + d >= a->deadline)
		return -1;
	say(a, "! %s; retrying in %.1f s (%d of %ld)", why, d, attempt,
	    a->max_retries);
	usleep((useconds_t)(d * 1e6));
	return 0;
}

/* The failure of a response that was not 2xx, into msg. */
static bool http_error(struct agent *a, struct buf *msg)
{
	struct http *h = &a->http;
	struct buf m;

	raw_record(a, "http_error", "response", cJSON_CreateString(buf_cstr(&h->body)));
	if (h->errtype.len) {	/* AWS: the exception's name in a header */
		bedrock_error(msg, h->errtype.ptr, h->errtype.len, buf_cstr(&h->body),
			      h->body.len);
		return bedrock_retryable(h->errtype.ptr, h->errtype.len);
	}
	buf_init(&m, 2048);
	api_error_message(buf_cstr(&h->body), h->body.len, &m);
	buf_printf(msg, "HTTP %ld: %s", h->status, m.len ? buf_cstr(&m) : "(no message)");
	buf_release(&m);
	return retry_status(h->status);
}

static int request(struct agent *a, struct turn *t)
{
	struct curl_slist *hdr = NULL;
	cJSON *body = a->proto->request(&a->conf, a->messages);
	char *text = cJSON_PrintUnformatted(body);
	struct buf err, msg;
	int attempt = 0, r = -1;

	buf_init(&err, 4096);
	buf_init(&msg, 4096);
	if (!text) {
		failed(a, "out of memory building the request");
		goto out;
	}
	if (strlen(text) > REQUEST_MAX) {
		failed(a, "the conversation is over %d MiB; giving up", REQUEST_MAX >> 20);
		goto out;
	}
	raw_record(a, "request", "body", cJSON_Duplicate(body, 1));
	for (;;) {
		long timeout_ms = 0;
		bool retryable;
		struct body b = { .a = a };
		int rc;

		if (a->deadline) {
			double left = a->deadline - now_mono();

			if (left <= 0) {
				failed(a, "timed out after %ld s", a->timeout_run);
				goto out;
			}
			timeout_ms = (long)(left * 1000) + 1;
		}
		turn_release(t);
		turn_init(t);
		t->on_text = on_text;
		t->ctx = a;
		buf_truncate(&err, 0);
		buf_truncate(&msg, 0);
		/* Afresh each attempt: a signature holds the time. */
		curl_slist_free_all(hdr);
		hdr = a->proto->headers(NULL, a->key);
		if (!hdr || (a->proto->sign &&
			     a->proto->sign(&a->conf, &hdr, a->url, text, &err) < 0)) {
			failed(a, "%s", err.len ? buf_cstr(&err) : "out of memory");
			goto out;
		}
		sse_init(&b.sse, EVENT_MAX, on_sse, &b);
		evs_init(&b.evs, EVENT_MAX, on_aws, &b);
		buf_init(&b.json, EVENT_MAX);
		rc = http_post(&a->http, a->url, hdr, text, timeout_ms, on_body, &b,
			       &retryable, &err);
		sse_release(&b.sse);
		evs_release(&b.evs);
		if (rc == 0 && b.kind == 2 && !t->error.len) {
			raw_record(a, "response", "body",
				   cJSON_ParseWithLength(b.json.ptr, b.json.len));
			a->proto->message(t, buf_cstr(&b.json), b.json.len);
		}
		buf_release(&b.json);
		if (t->error.len && t->retry) {
			/* Throttled in the middle of the stream. */
			buf_puts(&msg, buf_cstr(&t->error));
			retryable = true;
		} else if (t->error.len) {
			/* The server said something we cannot use: no retry. */
			failed(a, "%s", buf_cstr(&t->error));
			goto out;
		} else if (rc < 0) {
			if (a->deadline && now_mono() >= a->deadline) {
				failed(a, "timed out after %ld s", a->timeout_run);
				goto out;
			}
			buf_puts(&msg, buf_cstr(&err));
		} else if (a->http.status < 200 || a->http.status >= 300) {
			retryable = http_error(a, &msg);
		} else if (!t->finished && !t->stop[0] && b.bytes && !b.events) {
			failed(a, "malformed stream from server: no events in %zu bytes of %s",
			       b.bytes, a->http.type.len ? buf_cstr(&a->http.type) : "response");
			goto out;
		} else if (!t->finished && !t->stop[0]) {
			buf_puts(&msg, "the stream ended before the response was complete");
			retryable = true;
		} else {
			r = 0;
			goto out;
		}
		if (!retryable || ++attempt > a->max_retries ||
		    backoff(a, attempt, a->http.status == 429 || a->http.status == 503 ?
			    a->http.retry_after : -1, buf_cstr(&msg)) < 0) {
			failed(a, "%s", buf_cstr(&msg));
			goto out;
		}
	}
out:
	buf_release(&err);
	buf_release(&msg);
	free(text);
	cJSON_Delete(body);
	curl_slist_free_all(hdr);
	return r;
}

/* ---- tools ------------------------------------------------------------------ */

/* The first line of a tool's error, for the transcript. */
static void say_tool_error(struct agent *a, const char *name, const char *msg)
{
	const char *nl = strchr(msg, '\n');

	say(a, "! %s: %.*s", name, (int)(nl ? (size_t)(nl - msg) : strlen(msg)), msg);
}

static void run_tools(struct agent *a, struct turn *t)
{
	size_t i;

	for (i = 0; i < t->ncalls; i++) {
		struct tool_call *c = &t->calls[i];
		cJSON *in = NULL;
		struct buf line;

		if (!c->id && asprintf(&c->id, "call_%d_%zu", a->turns, i) < 0)
			c->id = NULL;
		if (!c->name)
			c->name = strdup("(none)");
		if (!c->id || !c->name)
			continue;
		in = cJSON_Parse(c->args.len ? buf_cstr(&c->args) : "{}");
		buf_init(&line, 1024);
		tools_describe(c->name, in, &line);
		say(a, "» %s", buf_cstr(&line));
		buf_release(&line);
		a->tool_calls++;
		if (!cJSON_IsObject(in)) {
			buf_truncate(&c->res.out, 0);
			buf_printf(&c->res.out, "the arguments are not a JSON object: %.200s",
				   buf_cstr(&c->args));
			c->res.error = true;
		} else if (agent_ask(c->name, in, &c->res.out) != 1) {
			/* not run: the model hears why, as the tool's answer */
			c->res.error = true;
		} else {
			buf_truncate(&c->res.out, 0);
			tools_call(&a->tools, c->name, in, &c->res);
		}
		cJSON_Delete(in);
		if (c->res.error)
			say_tool_error(a, c->name, buf_cstr(&c->res.out));
		else if (c->res.exit_status > 0)
			say(a, "! %s: exit status %d", c->name, c->res.exit_status);
		raw_record(a, "tool_result", "result", cJSON_CreateString(buf_cstr(&c->res.out)));
	}
}

/* ---- the run ------------------------------------------------------------------ */

static void write_result(struct agent *a);

static int run(struct agent *a)
{
	struct turn t;
	int r = -1;

	turn_init(&t);
	a->turn = &t;
	for (a->turns = 1; ; a->turns++) {
		if (request(a, &t) < 0)
			break;
		newline(a);
		a->in_tokens += t.in_tokens;
		a->out_tokens += t.out_tokens;
		a->cache_read += t.cache_read;
		a->cache_write += t.cache_write;
		if (t.text.len) {
			buf_truncate(&a->final, 0);
			buf_add(&a->final, t.text.ptr, t.text.len);
		}
		write_result(a);	/* the spend so far */
		if (!t.ncalls) {
			a->proto->record(a->messages, &t);
			if (!strcmp(t.stop, "max_tokens") || !strcmp(t.stop, "length")) {
				failed(a, "the response was cut off at --max-tokens %ld",
				       a->conf.max_tokens);
				break;
			}
			r = 0;
			break;
		}
		run_tools(a, &t);
		a->proto->record(a->messages, &t);
		if (a->turns >= a->max_turns) {
			failed(a, "max turns (%ld) reached before the model finished",
			       a->max_turns);
			break;
		}
	}
	a->turn = NULL;
	turn_release(&t);
	return r;
}

/*
 * The result file, replaced whole (a temporary file renamed over it):
 * after every turn with the figures so far, which is how the daemon
 * follows a run's spend against its budget, and once more at the end.
 */
static void write_result(struct agent *a)
{
	struct buf clean;
	cJSON *j;
	char *s;
	int r = -ENOMEM;

	if (!a->result_path)
		return;
	j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "result", buf_cstr(&a->final));
	cJSON_AddNumberToObject(j, "input_tokens", (double)a->in_tokens);
	cJSON_AddNumberToObject(j, "output_tokens", (double)a->out_tokens);
	cJSON_AddNumberToObject(j, "cache_read_tokens", (double)a->cache_read);
	cJSON_AddNumberToObject(j, "cache_write_tokens", (double)a->cache_write);
	cJSON_AddNumberToObject(j, "turns", a->turns);
	cJSON_AddNumberToObject(j, "tool_calls", (double)a->tool_calls);
	cJSON_AddNullToObject(j, "cost_usd");	/* prices are the daemon's table */
	if (a->error.len)
		cJSON_AddStringToObject(j, "error", buf_cstr(&a->error));
	else
		cJSON_AddNullToObject(j, "error");
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	/* the secrets the daemon knows never reach the file */
	buf_init(&clean, BUF_NOMAX);
	if (s && (r = redact_text(redact_global(), s, strlen(s), &clean)) == 0 &&
	    (r = buf_puts(&clean, "\n")) == 0)
		r = write_file_replace(a->result_path, clean.ptr, clean.len,
				       0600);
	if (r < 0)
		fprintf(stderr, "error: cannot write '%s': %s\n", a->result_path,
			strerror(-r));
	buf_release(&clean);
	free(s);
}

/* ---- options ------------------------------------------------------------------ */

static int number(const char *opt, const char *s, long min, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min) {
		fprintf(stderr, "error: %s wants a number >= %ld, not '%s'\n", opt, min, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(struct agent *a, int argc, char **argv)
{
	enum { O_PROTOCOL = 256, O_BASE, O_MODEL, O_KEYENV, O_MAXTOK, O_TURNS,
	       O_RETRIES, O_TIMEOUT, O_PROMPT, O_WORKTREE, O_RAW, O_RESULT, O_REGION, O_HELP };
	static const struct option opts[] = {
		{ "protocol", required_argument, NULL, O_PROTOCOL },
		{ "base-url", required_argument, NULL, O_BASE },
		{ "model", required_argument, NULL, O_MODEL },
		{ "api-key-env", required_argument, NULL, O_KEYENV },
		{ "max-tokens", required_argument, NULL, O_MAXTOK },
		{ "max-turns", required_argument, NULL, O_TURNS },
		{ "max-retries", required_argument, NULL, O_RETRIES },
		{ "timeout-run", required_argument, NULL, O_TIMEOUT },
		{ "prompt-file", required_argument, NULL, O_PROMPT },
		{ "worktree", required_argument, NULL, O_WORKTREE },
		{ "raw", required_argument, NULL, O_RAW },
		{ "result", required_argument, NULL, O_RESULT },
		{ "region", required_argument, NULL, O_REGION },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	const char *protocol = NULL;
	size_t len;
	int c;

	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_PROTOCOL: protocol = optarg; break;
		case O_BASE: a->base_url = optarg; break;
		case O_MODEL: a->conf.model = optarg; break;
		case O_KEYENV: a->key_env = optarg; break;
		case O_MAXTOK:
			if (number("--max-tokens", optarg, 1, &a->conf.max_tokens) < 0)
				return -1;
			break;
		case O_TURNS:
			if (number("--max-turns", optarg, 1, &a->max_turns) < 0)
				return -1;
			break;
		case O_RETRIES:
			if (number("--max-retries", optarg, 0, &a->max_retries) < 0)
				return -1;
			break;
		case O_TIMEOUT:
			if (number("--timeout-run", optarg, 0, &a->timeout_run) < 0)
				return -1;
			break;
		case O_PROMPT: a->prompt_file = optarg; break;
		case O_WORKTREE: a->worktree = optarg; break;
		case O_RAW: a->raw_path = optarg; break;
		case O_RESULT: a->result_path = optarg; break;
		case O_REGION: a->region_opt = optarg; break;
		case 'h':
		case O_HELP:
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "error: unexpected argument '%s'\n%s", argv[optind], usage);
		return -1;
	}
	if (!protocol || !a->conf.model || !a->prompt_file || !a->worktree) {
		fprintf(stderr, "error: --%s is required\n%s",
			!protocol ? "protocol" : !a->conf.model ? "model" :
			!a->prompt_file ? "prompt-file" : "worktree", usage);
		return -1;
	}
	if (!strcmp(protocol, "anthropic")) {
		a->proto = &proto_anthropic;
	} else if (!strcmp(protocol, "openai")) {
		a->proto = &proto_openai;
	} else if (!strcmp(protocol, "bedrock")) {
		a->proto = &proto_bedrock;
		return 0;	/* the URL wants the region: bedrock_setup */
	} else {
		fprintf(stderr, "error: unknown protocol '%s' (anthropic, openai or "
			"bedrock)\n", protocol);
		return -1;
	}
	if (!a->base_url)
		a->base_url = a->proto->base_url;
	if (!a->key_env)
		a->key_env = a->proto->key_env;
	/* "http://host:11434/v1" is a common way to write an OpenAI base. */
	len = strlen(a->base_url);
	while (len && a->base_url[len - 1] == '/')
		len--;
	if (len >= 3 && !strncmp(a->base_url + len - 3, "/v1", 3))
		len -= 3;
	if ((size_t)snprintf(a->url, sizeof(a->url), "%.*s%s", (int)len, a->base_url,
			     a->proto->path) >= sizeof(a->url)) {
		fprintf(stderr, "error: --base-url is too long\n");
		return -1;
	}
	a->conf.openai_com = http_host_is(a->url, "api.openai.com");
	return 0;
}

static int read_prompt(const char *path, struct buf *b)
{
	char chunk[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if ((r = buf_add(b, chunk, (size_t)n)) < 0)
			break;
	}
	close(fd);
	return r;
}

/* Bedrock: the AWS credentials and region, the URL from them. The
 * secrets leave the environment, so that no command the model runs
 * sees them. */
static int bedrock_setup(struct agent *a)
{
	char err[1024];

	if (aws_creds_load(&a->aws, err, sizeof(err)) < 0)
		return failed(a, "%s", err);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	if (aws_region(a->region, sizeof(a->region), a->region_opt) < 0)
		return failed(a, "bedrock: no AWS region: set AWS_REGION, a region in "
			      "~/.aws/config or bedrock.region");
	if (bedrock_url(a->url, sizeof(a->url), a->base_url, a->region,
			a->conf.model) < 0)
		return failed(a, "bedrock: --base-url or --model is too long");
	a->conf.aws = &a->aws;
	a->conf.region = a->region;
	return 0;
}

int agent_main(int argc, char **argv)
{
	static struct redact secrets;
	struct agent a;
	struct buf prompt;
	char err[512];
	int r, code = 1;

	memset(&a, 0, sizeof(a));
	a.conf.max_tokens = 8192;
	a.conf.system = system_prompt;
	a.max_turns = 50;
	a.max_retries = 2;
	a.http.curl = NULL;
	a.tools.root = -1;
	buf_init(&a.final, 4 << 20);
	buf_init(&a.error, 4096);
	buf_init(&prompt, PROMPT_MAX);
	a.col0 = true;
	if (parse_args(&a, argc, argv) < 0)
		return 2;

	signal(SIGPIPE, SIG_IGN);
	/* What it writes to disk leaves out the keys it was given. */
	if (redact_add_env(&secrets, environ) == 0)
		redact_set_global(&secrets);
	srand((unsigned)(getpid() ^ time(NULL)));
	/* A run command's orphans come back to us, so a timeout can kill
	 * all of them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	if (a.timeout_run > 0)
		a.deadline = now_mono() + (double)a.timeout_run;

	if ((r = read_prompt(a.prompt_file, &prompt)) < 0) {
		failed(&a, r == -EFBIG ? "prompt file '%s' is over 4 MiB" :
		       "cannot read prompt file '%s'", a.prompt_file);
		goto out;
	}
	if (!prompt.len) {
		failed(&a, "prompt file '%s' is empty", a.prompt_file);
		goto out;
	}
	if (a.proto == &proto_bedrock) {
		if (bedrock_setup(&a) < 0)
			goto out;
	} else if (!(a.key = getenv(a.key_env)) || !*a.key) {
		a.key = NULL;
	}
	if (!a.key && a.key_env && !http_loopback(a.url)) {
		failed(&a, "no API key: set %s (or name another variable with --api-key-env)",
		       a.key_env);
		goto out;
	}
	if (a.raw_path && !(a.raw = fopen(a.raw_path, "ae"))) {
		failed(&a, "cannot open '%s': %s", a.raw_path, strerror(errno));
		goto out;
	}
	if (tools_open(&a.tools, a.worktree, err, sizeof(err)) < 0 ||
	    http_init(&a.http, err, sizeof(err)) < 0) {
		failed(&a, "%s", err);
		goto out;
	}
	a.tools.deadline = a.deadline;
	a.tools.hide_env = a.key_env;
	a.messages = a.proto->start(&a.conf, buf_cstr(&prompt));
	say(&a, "parallelai agent: %s, model %s, %s", a.proto->name, a.conf.model,
	    a.url);
	if (a.aws.access_key)
		say(&a, "AWS credentials from the %s, region %s", a.aws.source,
		    a.region);
	if (run(&a) == 0) {
		say(&a, "[done: %d turn%s, %ld tokens in, %ld out]", a.turns,
		    a.turns == 1 ? "" : "s", a.in_tokens + a.cache_read + a.cache_write,
		    a.out_tokens);
		code = 0;
	}
out:
	write_result(&a);
	cJSON_Delete(a.messages);
	if (a.http.curl)
		http_release(&a.http);
	tools_close(&a.tools);
	if (a.raw)
		fclose(a.raw);
	buf_release(&prompt);
	buf_release(&a.final);
	buf_release(&a.error);
	aws_creds_release(&a.aws);
	fflush(stdout);
	redact_set_global(NULL);
	redact_release(&secrets);
	return code;
}
