/* Unit tests for quote: paths as git quotes them, log text, sh words. */
#include <stdlib.h>

#include "buf.h"
#include "check.h"
#include "quote.h"

static const char *qp(const char *path)
{
	static char out[256];

	quote_path(out, sizeof(out), path);
	return out;
}

/* What `git -c core.quotePath=true ls-files` prints for these names. */
static void test_paths_are_quoted_as_git_quotes_them(void)
{
	CHECK_STR(qp("src/a b.c"), "src/a b.c");
	CHECK_STR(qp("a\nstate: merged"), "\"a\\nstate: merged\"");
	CHECK_STR(qp("tab\there"), "\"tab\\there\"");
	CHECK_STR(qp("q\"uote"), "\"q\\\"uote\"");
	CHECK_STR(qp("back\\slash"), "\"back\\\\slash\"");
	CHECK_STR(qp("\a\b\v\f\r"), "\"\\a\\b\\v\\f\\r\"");
	CHECK_STR(qp("\x01\x1b\x7f"), "\"\\001\\033\\177\"");
	CHECK_STR(qp("\xc3\xa9t\xc3\xa9"), "\"\\303\\251t\\303\\251\"");
	CHECK(!quote_path_needed("plain/path-1.txt"));
	CHECK(quote_path_needed("new\nline"));
}

static void test_quoting_is_snprintf_like(void)
{
	char small[6];

	CHECK(quote_path(small, sizeof(small), "a\nb") == 6);
	CHECK_STR(small, "\"a\\nb");
	CHECK(quote_path(NULL, 0, "abc") == 3);
	CHECK(quote_text(small, sizeof(small), "abcdefgh") == 8);
	CHECK_STR(small, "abcde");
}

static void test_text_keeps_utf8_not_control_characters(void)
{
	char out[128];

	quote_text(out, sizeof(out), "refused: 'x\ny'\r\x1b[2J");
	CHECK_STR(out, "refused: 'x\\ny'\\r\\033[2J");
	quote_text(out, sizeof(out), "ünï \"q\" back\\slash");
	CHECK_STR(out, "ünï \"q\" back\\slash");
}

static void test_bufs(void)
{
	struct buf b;

	buf_init(&b, 1024);
	CHECK(quote_path_buf(&b, "a\nb") == 0);
	CHECK(buf_puts(&b, " ") == 0);
	CHECK(quote_path_buf(&b, "c") == 0);
	CHECK(buf_puts(&b, " ") == 0);
	CHECK(quote_text_buf(&b, "d\ne") == 0);
	CHECK_STR(buf_cstr(&b), "\"a\\nb\" c d\\ne");
	buf_release(&b);
	buf_init(&b, 4);
	CHECK(quote_path_buf(&b, "a\nb") < 0);
	buf_release(&b);
}

static void test_shell_words(void)
{
	char *w;

	w = quote_shell("src/a-1_b.c");
	CHECK_STR(w, "src/a-1_b.c");
	free(w);
	w = quote_shell("n;echo INJECTED-$(id -u);#");
	CHECK_STR(w, "'n;echo INJECTED-$(id -u);#'");
	free(w);
	w = quote_shell("it's");
	CHECK_STR(w, "'it'\\''s'");
	free(w);
	w = quote_shell("");
	CHECK_STR(w, "''");
	free(w);
	w = quote_shell("~user a\nb");
	CHECK_STR(w, "'~user a\nb'");
	free(w);
}

int main(void)
{
	RUN(test_paths_are_quoted_as_git_quotes_them);
	RUN(test_quoting_is_snprintf_like);
	RUN(test_text_keeps_utf8_not_control_characters);
	RUN(test_bufs);
	RUN(test_shell_words);
	return check_done();
}
