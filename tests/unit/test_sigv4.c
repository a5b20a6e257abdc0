/* Unit tests for sigv4: AWS's published Signature Version 4 test-suite
 * vectors (the suite's example credentials, 2015-08-30T12:36:00Z,
 * us-east-1, service "service"): the canonical request, the string to sign
 * and the Authorization header as AWS published them. Then the one rule
 * Bedrock needs beyond them: a path sent with "%3A" is signed with
 * "%253A". */
#include <stdlib.h>

#include "agent.h"
#include "check.h"

#define WHEN 1440938160		/* 20150830T123600Z */
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SCOPE "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
#define STS_HEAD "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
#define TOKEN "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4" \
	"FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/" \
	"kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp" \
	"75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbq" \
	"BAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

static char akid[] = "AKIDEXAMPLE";
static char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static char token[] = TOKEN;

struct vector {
	const char *name;
	const char *method, *path, *query;
	const char *headers[4];
	const char *body;
	bool token;
	const char *creq;	/* NULL: not checked */
	const char *sts_hash;	/* NULL: not checked */
	const char *signed_headers;
	const char *signature;
};

static const struct vector vectors[] = {
	{ "get-vanilla", "GET", "/", NULL, { NULL }, "", false,
	  "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	  "host;x-amz-date\n" EMPTY_SHA,
	  "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
	  "host;x-amz-date",
	  "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
	{ "get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1",
	  { NULL }, "", false,
	  "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
	  "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA,
	  "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
	  "host;x-amz-date",
	  "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
	{ "get-utf8", "GET", "/\xe1\x88\xb4", NULL, { NULL }, "", false,
	  "GET\n/%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	  "host;x-amz-date\n" EMPTY_SHA,
	  "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
	  "host;x-amz-date",
	  "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85" },
	{ "get-header-value-trim", "GET", "/", NULL,
	  { "My-Header1: value1", "My-Header2: \"a   b   c\"", NULL }, "", false,
	  NULL, NULL, "host;my-header1;my-header2;x-amz-date",
	  "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736" },
	{ "post-vanilla", "POST", "/", NULL, { NULL }, "", false, NULL, NULL,
	  "host;x-amz-date",
	  "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
	{ "post-vanilla-query", "POST", "/", "Param1=value1", { NULL }, "", false,
	  "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	  "host;x-amz-date\n" EMPTY_SHA,
	  "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
	  "host;x-amz-date",
	  "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11" },
	{ "post-header-key-sort", "POST", "/", NULL, { "My-Header1:value1", NULL }, "",
	  false,
	  "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
	  "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY_SHA,
	  "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
	  "host;my-header1;x-amz-date",
	  "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c" },
	{ "post-x-www-form-urlencoded", "POST", "/", NULL,
	  { "Content-Type: application/x-www-form-urlencoded", NULL }, "Param1=value1",
	  false,
	  "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
	  "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	  "content-type;host;x-amz-date\n"
	  "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
	  "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
	  "content-type;host;x-amz-date",
	  "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a" },
	{ "post-sts-header-before", "POST", "/", NULL, { NULL }, "", true,
	  NULL, "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
	  "host;x-amz-date;x-amz-security-token",
	  "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead" },
};

static void check_vector(const struct vector *v)
{
	struct aws_creds c = { akid, secret, v->token ? token : NULL, "test" };
	struct sigv4_req r = { v->method, "example.amazonaws.com", v->path, v->query,
			       v->headers, v->body, strlen(v->body), "us-east-1",
			       "service", WHEN };
	struct sigv4 s;
	char want[512];

	sigv4_init(&s);
	CHECK(sigv4_sign(&s, &r, &c) == 0);
	CHECK_STR(s.amz_date, "20150830T123600Z");
	if (v->creq)
		CHECK_STR(buf_cstr(&s.creq), v->creq);
	if (v->sts_hash) {
		snprintf(want, sizeof(want), STS_HEAD "%s", v->sts_hash);
		CHECK_STR(buf_cstr(&s.sts), want);
	}
	snprintf(want, sizeof(want), "AWS4-HMAC-SHA256 Credential=" SCOPE
		 ", SignedHeaders=%s, Signature=%s", v->signed_headers, v->signature);
	CHECK_STR(buf_cstr(&s.authorization), want);
	if (strcmp(buf_cstr(&s.authorization), want))
		fprintf(stderr, "  in vector %s\n", v->name);
	sigv4_release(&s);
}

static void test_aws_published_vectors(void)
{
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		check_vector(&vectors[i]);
}

/* The token is signed only when there is one: an empty one is none. */
static void test_empty_token_is_no_token(void)
{
	struct aws_creds c = { akid, secret, (char *)"", "test" };
	struct sigv4_req r = { "GET", "example.amazonaws.com", "/", NULL, NULL, "", 0,
			       "us-east-1", "service", WHEN };
	struct sigv4 s;

	sigv4_init(&s);
	CHECK(sigv4_sign(&s, &r, &c) == 0);
	CHECK(strstr(buf_cstr(&s.authorization),
		     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
	sigv4_release(&s);
}

/* Bedrock: a model id's ':' is sent as %3A and signed as %253A, and the
 * secret is nowhere in what is built. */
static void test_model_id_path_is_encoded_twice(void)
{
	struct aws_creds c = { akid, secret, token, "test" };
	const char *hdrs[] = { "content-type: application/json", NULL };
	struct sigv4_req r = { "POST", "bedrock-runtime.us-east-1.amazonaws.com", NULL,
			       NULL, hdrs, "{}", 2, "us-east-1", "bedrock", WHEN };
	char url[512];
	struct sigv4 s;

	CHECK(bedrock_url(url, sizeof(url), NULL, "us-east-1",
			  "anthropic.claude-sonnet-4-5-20250929-v1:0") == 0);
	CHECK_STR(url, "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
		  "anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream");
	CHECK(bedrock_url(url, sizeof(url), "http://127.0.0.1:8080/", "us-east-1",
			  "global.anthropic.claude-x-v1:0") == 0);
	CHECK_STR(url, "http://127.0.0.1:8080/model/global.anthropic.claude-x-v1%3A0"
		  "/invoke-with-response-stream");
	CHECK(bedrock_url(url, 40, NULL, "us-east-1", "m") < 0);

	r.path = "/model/anthropic.claude-x-v1%3A0/invoke-with-response-stream";
	sigv4_init(&s);
	CHECK(sigv4_sign(&s, &r, &c) == 0);
	CHECK(!strncmp(buf_cstr(&s.creq),
		       "POST\n/model/anthropic.claude-x-v1%253A0/invoke-with-response-stream\n\n"
		       "content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n",
		       120));
	CHECK(strstr(buf_cstr(&s.authorization),
		     "Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, "
		     "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "));
	CHECK(!strstr(buf_cstr(&s.creq), secret));
	CHECK(!strstr(buf_cstr(&s.sts), secret));
	CHECK(!strstr(buf_cstr(&s.authorization), secret));
	sigv4_release(&s);
}

static void test_bad_header_is_refused(void)
{
	struct aws_creds c = { akid, secret, NULL, "test" };
	const char *hdrs[] = { "no colon here", NULL };
	struct sigv4_req r = { "GET", "example.amazonaws.com", "/", NULL, hdrs, "", 0,
			       "us-east-1", "service", WHEN };
	struct sigv4 s;

	sigv4_init(&s);
	CHECK(sigv4_sign(&s, &r, &c) < 0);
	sigv4_release(&s);
}

int main(void)
{
	RUN(test_aws_published_vectors);
	RUN(test_empty_token_is_no_token);
	RUN(test_model_id_path_is_encoded_twice);
	RUN(test_bad_header_is_refused);
	return check_done();
}
