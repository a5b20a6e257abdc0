/*
 * sigv4: AWS Signature Version 4, for the built-in agent's Bedrock
 * requests. The canonical request, the string to sign and the HMAC chain
 * are built here; SHA-256 and HMAC-SHA256 come from OpenSSL's libcrypto.
 *
 * libcurl's CURLOPT_AWS_SIGV4 is not used: the curl of Debian 12 (7.88)
 * signs a path holding a reserved character (a Bedrock model id's ':')
 * differently from AWS, which encodes each segment of the path as sent
 * once more (docs/architecture.md, FACTS.md). What the tests check it
 * against are AWS's published test-suite vectors.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "agent.h"

#define MAX_HEADERS 32

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (unreserved(c) || (keep_slash && c == '/'))
			r = buf_add(out, &s[i], 1);
		else
			r = buf_add(out, esc, 3);
	}
	return r;
}

static void hex(char *out, const unsigned char *md, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

int sigv4_sha256_hex(char out[65], const void *data, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) || len != 32)
		return -1;
	hex(out, md, 32);
	return 0;
}

static int hmac(unsigned char out[32], const void *key, size_t klen,
		const char *msg)
{
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
		  strlen(msg), out, &len) || len != 32)
		return -1;
	return 0;
}

/* ---- the canonical request ------------------------------------------------ */

struct header {
	char name[64];		/* lowercased */
	const char *value;
	size_t vlen;
};

static int cmp_header(const void *a, const void *b)
{
	return strcmp(((const struct header *)a)->name,
		      ((const struct header *)b)->name);
}

/* A value trimmed, runs of blanks as one space. */
static int add_value(struct buf *b, const char *v, size_t n)
{
	bool blank = false, any = false;
	size_t i;
	int r = 0;

	for (i = 0; i < n && r == 0; i++) {
		if (v[i] == ' ' || v[i] == '\t') {
			blank = true;
			continue;
		}
		if (blank && any)
			r = buf_add(b, " ", 1);
		if (r == 0)
			r = buf_add(b, &v[i], 1);
		blank = false;
		any = true;
	}
	return r;
}

/* Parse "Name: value" lines into sorted headers, host and x-amz-date
 * (and the token) among them. */
static int collect(struct header *h, size_t *n, const struct sigv4_req *r,
		   const char *amz_date, const char *token)
{
	size_t i, k = 0;

	for (i = 0; r->headers && r->headers[i]; i++) {
		const char *colon = strchr(r->headers[i], ':'), *v;
		size_t nlen, j;

		if (!colon || k + 3 >= MAX_HEADERS ||
		    (nlen = (size_t)(colon - r->headers[i])) >= sizeof(h->name))
			return -EINVAL;
		for (j = 0; j < nlen; j++)
			h[k].name[j] = (char)tolower((unsigned char)r->headers[i][j]);
		h[k].name[nlen] = '\0';
		v = colon + 1;
		h[k].value = v;
		h[k].vlen = strlen(v);
		k++;
	}
	snprintf(h[k].name, sizeof(h->name), "host");
	h[k].value = r->host;
	h[k++].vlen = strlen(r->host);
	snprintf(h[k].name, sizeof(h->name), "x-amz-date");
	h[k].value = amz_date;
	h[k++].vlen = strlen(amz_date);
	if (token) {
		snprintf(h[k].name, sizeof(h->name), "x-amz-security-token");
		h[k].value = token;
		h[k++].vlen = strlen(token);
	}
	qsort(h, k, sizeof(*h), cmp_header);
	*n = k;
	return 0;
}

struct param {
	struct buf kv;		/* key=value, encoded */
	size_t klen;
};

static int cmp_param(const void *a, const void *b)
{
	const struct param *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->kv.ptr, y->kv.ptr, n);

	if (c || x->klen != y->klen)
		return c ? c : x->klen < y->klen ? -1 : 1;
	return strcmp(x->kv.ptr + x->klen, y->kv.ptr + y->klen);
}

/* The query's pairs encoded and sorted by key, then value. */
static int add_query(struct buf *b, const char *q)
{
	struct param p[MAX_HEADERS];
	size_t n = 0, i;
	int r = 0;

	while (q && *q && r == 0) {
		size_t len = strcspn(q, "&"), klen = strcspn(q, "=");

		if (n == MAX_HEADERS)
			return -E2BIG;
		if (klen > len)
			klen = len;
		buf_init(&p[n].kv, BUF_NOMAX);
		r = sigv4_uri_encode(&p[n].kv, q, klen, false);
		p[n].klen = p[n].kv.len;
		if (r == 0)
			r = buf_add(&p[n].kv, "=", 1);
		if (r == 0 && klen < len)
			r = sigv4_uri_encode(&p[n].kv, q + klen + 1, len - klen - 1, false);
		n++;
		q += len + (q[len] == '&');
	}
	if (r == 0)
		qsort(p, n, sizeof(*p), cmp_param);
	for (i = 0; i < n; i++) {
		if (r == 0 && i)
			r = buf_add(b, "&", 1);
		if (r == 0)
			r = buf_add(b, p[i].kv.ptr, p[i].kv.len);
		buf_release(&p[i].kv);
	}
	return r;
}

static int canonical(struct sigv4 *s, const struct sigv4_req *r,
		     const char *token)
{
	struct header h[MAX_HEADERS];
	char body_hash[65];
	size_t n, i;
	int e = 0;

	if (collect(h, &n, r, s->amz_date, token) < 0 ||
	    sigv4_sha256_hex(body_hash, r->body ? r->body : "", r->body_len) < 0)
		return -EINVAL;
	buf_printf(&s->creq, "%s\n", r->method);
	/* Every service but S3: the path as sent, each segment encoded once
	 * more ("%3A" is signed as "%253A"). */
	e = sigv4_uri_encode(&s->creq, r->path, strlen(r->path), true);
	buf_add(&s->creq, "\n", 1);
	if (e == 0)
		e = add_query(&s->creq, r->query);
	buf_add(&s->creq, "\n", 1);
	for (i = 0; i < n && e == 0; i++) {
		buf_printf(&s->creq, "%s:", h[i].name);
		e = add_value(&s->creq, h[i].value, h[i].vlen);
		buf_add(&s->creq, "\n", 1);
	}
	buf_add(&s->creq, "\n", 1);
	for (i = 0; i < n && e == 0; i++)
		e = buf_printf(&s->signed_headers, "%s%s", i ? ";" : "", h[i].name);
	if (e == 0)
		e = buf_printf(&s->creq, "%s\n%s", buf_cstr(&s->signed_headers), body_hash);
	return e < 0 ? e : 0;
}

/* ---- signing ------------------------------------------------------------------ */

void sigv4_init(struct sigv4 *s)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->creq, 1 << 20);
	buf_init(&s->sts, 4096);
	buf_init(&s->signed_headers, 4096);
	buf_init(&s->authorization, 8192);
}

void sigv4_release(struct sigv4 *s)
{
	buf_release(&s->creq);
	buf_release(&s->sts);
	buf_release(&s->signed_headers);
	buf_release(&s->authorization);
}

int sigv4_sign(struct sigv4 *s, const struct sigv4_req *r,
	       const struct aws_creds *c)
{
	unsigned char k[32], sig[32];
	char date[9], creq_hash[65], sig_hex[65], *secret = NULL;
	const char *token = c->token && *c->token ? c->token : NULL;
	struct tm tm;
	int e;

	buf_truncate(&s->creq, 0);
	buf_truncate(&s->sts, 0);
	buf_truncate(&s->signed_headers, 0);
	buf_truncate(&s->authorization, 0);
	if (!gmtime_r(&r->when, &tm) ||
	    !strftime(s->amz_date, sizeof(s->amz_date), "%Y%m%dT%H%M%SZ", &tm))
		return -EINVAL;
	memcpy(date, s->amz_date, 8);
	date[8] = '\0';
	if ((e = canonical(s, r, token)) < 0)
		return e;
	if (sigv4_sha256_hex(creq_hash, s->creq.ptr, s->creq.len) < 0)
		return -EINVAL;
	buf_printf(&s->sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
		   s->amz_date, date, r->region, r->service, creq_hash);
	/* kDate = HMAC("AWS4" + secret, date), then region, service,
	 * "aws4_request", and the string to sign. */
	if (asprintf(&secret, "AWS4%s", c->secret_key) < 0)
		return -ENOMEM;
	e = hmac(k, secret, strlen(secret), date);
	explicit_bzero(secret, strlen(secret));
	free(secret);
	if (e < 0 || hmac(k, k, 32, r->region) < 0 ||
	    hmac(k, k, 32, r->service) < 0 || hmac(k, k, 32, "aws4_request") < 0 ||
	    hmac(sig, k, 32, buf_cstr(&s->sts)) < 0) {
		explicit_bzero(k, sizeof(k));
		return -EINVAL;
	}
	explicit_bzero(k, sizeof(k));
	hex(sig_hex, sig, 32);
	return buf_printf(&s->authorization,
			  "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
			  "SignedHeaders=%s, Signature=%s", c->access_key, date,
			  r->region, r->service, buf_cstr(&s->signed_headers),
			  sig_hex) < 0 ? -ENOMEM : 0;
}
