/*
 * http: one libcurl easy handle for the agent's process, reused across
 * turns so the connection is kept alive. A 2xx body streams to a callback;
 * any other body is collected (capped) for its error message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"

#define ERROR_BODY_MAX (64 * 1024)
/* A stream that sends nothing for this long is dead (Anthropic pings). */
#define STALL_SECONDS 300L

int http_init(struct http *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->body, ERROR_BODY_MAX);
	buf_init(&h->type, 256);
	buf_init(&h->errtype, 256);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(h->curl = curl_easy_init())) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	return 0;
}

void http_release(struct http *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
	buf_release(&h->body);
	buf_release(&h->type);
	buf_release(&h->errtype);
	curl_global_cleanup();
}

static bool is_2xx(long status)
{
	return status >= 200 && status < 300;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
	size_t len = size * n, vlen;
	const char *v;

	/* A new status line (after 100 Continue, or a redirect) resets. */
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		buf_truncate(&h->type, 0);
		buf_truncate(&h->errtype, 0);
		h->retry_after = -1;
		return len;
	}
	v = memchr(p, ':', len);
	if (!v)
		return len;
	vlen = len - (size_t)(v + 1 - p);
	for (v++; vlen && (*v == ' ' || *v == '\t'); v++, vlen--)
		;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' '))
		vlen--;
	if (!strncasecmp(p, "content-type:", 13)) {
		buf_truncate(&h->type, 0);
		buf_add(&h->type, v, vlen < 255 ? vlen : 255);
	} else if (!strncasecmp(p, "x-amzn-errortype:", 17)) {
		buf_truncate(&h->errtype, 0);
		buf_add(&h->errtype, v, vlen < 255 ? vlen : 255);
	} else if (!strncasecmp(p, "retry-after:", 12)) {
		char tmp[32];

		/* Seconds; an HTTP date is rare enough to use our own backoff. */
		snprintf(tmp, sizeof(tmp), "%.*s", (int)(vlen < 31 ? vlen : 31), v);
		if (tmp[0] >= '0' && tmp[0] <= '9')
			h->retry_after = strtol(tmp, NULL, 10);
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
	size_t len = size * n;

	if (!h->status)
		curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
	if (!is_2xx(h->status)) {
		size_t room = h->body.max - h->body.len;

		buf_add(&h->body, p, len < room ? len : room);
		return len;
	}
	if (h->fn(h->ctx, p, len) < 0) {
		h->stopped = true;
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	}
	return len;
}

static bool retryable_code(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

struct curl_slist *http_sse_headers(struct curl_slist *h,
				    const char *auth, const char *key)
{
	char line[1024];

	h = curl_slist_append(h, "content-type: application/json");
	h = curl_slist_append(h, "accept: text/event-stream");
	if (key) {
		snprintf(line, sizeof(line), "%s%s", auth, key);
		h = curl_slist_append(h, line);
		explicit_bzero(line, sizeof(line));
	}
	return h;
}

int http_post(struct http *h, const char *url, struct curl_slist *headers,
	      const char *body, long timeout_ms, http_body_fn fn, void *ctx,
	      bool *retryable, struct buf *err)
{
	CURL *c = h->curl;
	CURLcode rc;

	*retryable = false;
	h->fn = fn;
	h->ctx = ctx;
	h->stopped = false;
	h->status = 0;
	h->retry_after = -1;
	h->errbuf[0] = '\0';
	buf_truncate(&h->body, 0);
	buf_truncate(&h->type, 0);
	buf_truncate(&h->errtype, 0);

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "parallelai/" PAI_VERSION);
	/* Keys travel in headers: never follow a redirect elsewhere with them. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	if (timeout_ms > 0)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);

	rc = curl_easy_perform(c);
	if (!h->status)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	if (rc == CURLE_OK)
		return 0;
	if (h->stopped) {
		buf_puts(err, "stopped reading the response");
		return -1;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		buf_printf(err, "no complete response from '%s': %s", url,
			   h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
		/* A stall (no bytes for STALL_SECONDS) is worth a retry; the
		 * caller knows whether its own deadline passed. */
		*retryable = true;
		return -1;
	}
	*retryable = retryable_code(rc);
	buf_printf(err, "cannot reach '%s': %s", url,
		   h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
	return -1;
}

/* Local servers (Ollama, llama.cpp) want no key. */
bool http_loopback(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool r = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
		r = !strcmp(host, "localhost") || !strncmp(host, "127.", 4) ||
		    !strcmp(host, "[::1]") || !strcmp(host, "::1");
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

bool http_host_is(const char *url, const char *suffix)
{
	CURLU *u = curl_url();
	char *host = NULL;
	bool r = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		size_t h = strlen(host), s = strlen(suffix);

		r = h >= s && !strcmp(host + h - s, suffix);
	}
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}
