/*
 * quote: names and text made safe for line-oriented output, and words
 * made safe for sh.
 *
 * Paths are quoted the way git quotes them with core.quotePath (its
 * default): a name with a control character, '"', '\' or a byte of 0x80
 * or above is put in double quotes with C escapes (\n, \t, \", \\, \303
 * ...); any other name is written as it is.
 *
 *	quote_path(b, sizeof(b), "src/a.c")	src/a.c
 *	quote_path(b, sizeof(b), "a\nb")	"a\nb"
 *	quote_path(b, sizeof(b), "é")		"\303\251"
 *
 * Text for a log line or a `key: value` line keeps its UTF-8 and its
 * backslashes, so a quoted path passes through unchanged, but not its
 * control characters: quote_text gives "x\ny" for x, newline, y.
 *
 * Both are snprintf-like: they return the length the whole result needs
 * and write at most size - 1 bytes and a NUL.
 *
 * quote_shell gives a word sh reads back as the string itself: as it is
 * when it holds only characters sh never treats specially, otherwise in
 * single quotes, each ' as '\''.
 *
 *	quote_shell("src/a.c")			src/a.c
 *	quote_shell("n;echo $(id)")		'n;echo $(id)'
 */
#ifndef PAI_QUOTE_H
#define PAI_QUOTE_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Would git quote this path? */
bool quote_path_needed(const char *path);
size_t quote_path(char *dst, size_t size, const char *path);
int quote_path_buf(struct buf *out, const char *path);

size_t quote_text(char *dst, size_t size, const char *s);
int quote_text_buf(struct buf *out, const char *s);

/* malloc'd; NULL when out of memory. */
char *quote_shell(const char *s);

#endif
