/*
 * bedrock: Anthropic's models on Amazon Bedrock. The Messages body (with
 * anthropic_version, without model and stream) goes to
 *
 *	POST https://bedrock-runtime.REGION.amazonaws.com/model/MODEL/invoke-with-response-stream
 *
 * signed with SigV4 (sigv4.c); the answer is an AWS event stream
 * (evstream.c) whose "chunk" events carry, base64-encoded, the same JSON
 * events the Anthropic API streams, handed to anthropic.c. Credentials and
 * region come from aws.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "agent.h"

/* ---- the request ---------------------------------------------------------- */

int bedrock_url(char *url, size_t len, const char *base, const char *region,
		const char *model)
{
	struct buf b;
	size_t blen;
	int r;

	buf_init(&b, len);
	if (base && *base) {
		blen = strlen(base);
		while (blen && base[blen - 1] == '/')
			blen--;
		r = buf_printf(&b, "%.*s/model/", (int)blen, base);
	} else {
		r = buf_printf(&b, "https://bedrock-runtime.%s.amazonaws.com/model/",
			       region);
	}
	/* The model id encoded once: "…-v1:0" is sent as "…-v1%3A0". */
	if (r == 0)
		r = sigv4_uri_encode(&b, model, strlen(model), false);
	if (r == 0)
		r = buf_puts(&b, "/invoke-with-response-stream");
	if (r == 0 && b.len < len)
		memcpy(url, b.ptr, b.len + 1);
	else
		r = -ENAMETOOLONG;
	buf_release(&b);
	return r;
}

static struct curl_slist *headers(struct curl_slist *h, const char *key)
{
	h = curl_slist_append(h, "content-type: application/json");
	return curl_slist_append(h, "accept: application/vnd.amazon.eventstream");
}

static cJSON *request(const struct agent_conf *c, cJSON *messages)
{
	cJSON *b = proto_anthropic.request(c, messages);

	/* The model is in the path; Bedrock refuses keys it does not know. */
	cJSON_DeleteItemFromObjectCaseSensitive(b, "model");
	cJSON_DeleteItemFromObjectCaseSensitive(b, "stream");
	cJSON_AddStringToObject(b, "anthropic_version", "bedrock-2023-05-31");
	return b;
}

/* "name: value" onto the list; the copy that held it wiped (a token). */
static int add_header(struct curl_slist **h, const char *name, const char *value)
{
	struct curl_slist *n;
	char *line;

	if (asprintf(&line, "%s%s", name, value) < 0)
		return -1;
	n = curl_slist_append(*h, line);
	explicit_bzero(line, strlen(line));
	free(line);
	if (!n)
		return -1;
	*h = n;
	return 0;
}

static int sign(const struct agent_conf *c, struct curl_slist **h,
		const char *url, const char *body, struct buf *err)
{
	static const char *const signed_headers[] = {
		"accept: application/vnd.amazon.eventstream",
		"content-type: application/json", NULL
	};
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *path = NULL, hostport[512];
	struct sigv4 s;
	struct sigv4_req r = { .method = "POST", .headers = signed_headers,
			       .body = body, .body_len = strlen(body),
			       .region = c->region, .service = "bedrock",
			       .when = time(NULL) };
	int e = -1;

	sigv4_init(&s);
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		buf_printf(err, "bedrock: cannot parse '%s'", url);
		goto out;
	}
	/* The Host header curl sends: the port when it is not the scheme's. */
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
		snprintf(hostport, sizeof(hostport), "%s:%s", host, port);
	else
		snprintf(hostport, sizeof(hostport), "%s", host);
	r.host = hostport;
	r.path = path;
	if (sigv4_sign(&s, &r, c->aws) < 0) {
		buf_puts(err, "bedrock: cannot sign the request");
		goto out;
	}
	e = add_header(h, "x-amz-date: ", s.amz_date);
	if (e == 0 && c->aws->token && *c->aws->token)
		e = add_header(h, "x-amz-security-token: ", c->aws->token);
	if (e == 0)
		e = add_header(h, "authorization: ", buf_cstr(&s.authorization));
	if (e < 0)
		buf_puts(err, "bedrock: out of memory");
out:
	sigv4_release(&s);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return e;
}

static int event(struct turn *t, const char *name, const char *data, size_t len)
{
	return turn_fail(t, "bedrock: a text event stream where an AWS event stream was expected");
}

/* ---- the response ------------------------------------------------------------ */

/* "ThrottlingException" from "throttlingException" (in the stream) or
 * "ThrottlingException:http://internal.amazon.com/…" (a header). */
static void exception_name(char name[128], const char *type, size_t tlen)
{
	size_t n = 0;

	while (n < tlen && n < 127 && type[n] != ':')
		n++;
	memcpy(name, type, n);
	name[n] = '\0';
	if (name[0] >= 'a' && name[0] <= 'z')
		name[0] = (char)(name[0] - 'a' + 'A');
}

/* Exceptions worth another try: the model is busy, not the request bad. */
bool bedrock_retryable(const char *type, size_t tlen)
{
	static const char *const names[] = {
		"ThrottlingException", "ServiceUnavailableException",
		"InternalServerException", NULL
	};
	char name[128];
	size_t i;

	exception_name(name, type, tlen);
	for (i = 0; names[i]; i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

void bedrock_error(struct buf *out, const char *type, size_t tlen,
		   const char *body, size_t len)
{
	struct buf m;
	char name[128];

	exception_name(name, type, tlen);
	buf_init(&m, 2048);
	if (len)
		api_error_message(body, len, &m);
	buf_printf(out, "bedrock: %s: %s", name[0] ? name : "error",
		   m.len ? buf_cstr(&m) : "(no message)");
	buf_release(&m);
}

/* Base64 into out (NUL-terminated); -1 when it is not base64. */
static int unbase64(struct buf *out, const char *s, size_t n)
{
	size_t pad = 0;
	int got;

	buf_truncate(out, 0);
	if (n % 4)
		return -1;
	if (n && s[n - 1] == '=')
		pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
	if (buf_write_at(out, n / 4 * 3, "", 1) < 0)
		return -1;
	got = EVP_DecodeBlock((unsigned char *)out->ptr, (const unsigned char *)s,
			      (int)n);
	if (got < 0 || (size_t)got < pad)
		return -1;
	buf_truncate(out, (size_t)got - pad);
	out->ptr[out->len] = '\0';
	return 0;
}

int bedrock_message(struct turn *t, const struct evs_message *m, struct buf *json)
{
	cJSON *j, *bytes;
	int r;

	buf_truncate(json, 0);
	if (m->message_type_len == 9 && !memcmp(m->message_type, "exception", 9)) {
		struct buf msg;

		buf_init(&msg, 4096);
		bedrock_error(&msg, m->exception_type ? m->exception_type : "",
			      m->exception_type_len, m->payload, m->payload_len);
		t->retry = m->exception_type &&
			   bedrock_retryable(m->exception_type, m->exception_type_len);
		r = turn_fail(t, "%s", buf_cstr(&msg));
		buf_release(&msg);
		return r;
	}
	if (m->message_type_len != 5 || memcmp(m->message_type, "event", 5) ||
	    m->event_type_len != 5 || memcmp(m->event_type, "chunk", 5))
		return 0;	/* an event type added later: nothing */
	j = cJSON_ParseWithLength(m->payload, m->payload_len);
	bytes = cJSON_GetObjectItemCaseSensitive(j, "bytes");
	if (!cJSON_IsString(bytes) ||
	    unbase64(json, bytes->valuestring, strlen(bytes->valuestring)) < 0) {
		cJSON_Delete(j);
		return turn_fail(t, "bedrock: malformed chunk in the event stream");
	}
	cJSON_Delete(j);
	return proto_anthropic.event(t, "chunk", buf_cstr(json), json->len);
}

/* The conversation is the Messages API's. */
static cJSON *start(const struct agent_conf *c, const char *prompt)
{
	return proto_anthropic.start(c, prompt);
}

static int message(struct turn *t, const char *json, size_t len)
{
	return proto_anthropic.message(t, json, len);
}

static void record(cJSON *messages, const struct turn *t)
{
	proto_anthropic.record(messages, t);
}

const struct proto proto_bedrock = {
	.name = "bedrock",
	.base_url = NULL,	/* from the region */
	.key_env = NULL,	/* AWS credentials instead */
	.path = NULL,		/* /model/MODEL/invoke-with-response-stream */
	.headers = headers,
	.sign = sign,
	.start = start,
	.request = request,
	.event = event,
	.message = message,
	.record = record,
};
