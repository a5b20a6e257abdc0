/*
 * buf: a growable byte buffer with a size cap fixed at init.
 *
 *	struct buf b;
 *	buf_init(&b, 1 << 20);
 *	if (buf_printf(&b, "task %d\n", 7) < 0)	// -EFBIG past the cap, -ENOMEM
 *		goto out;
 *	fwrite(b.ptr, 1, b.len, stdout);
 *	buf_release(&b);
 *
 * b.ptr is always NUL-terminated once anything was added (the NUL is not
 * counted in b.len), so text buffers can be used as C strings.
 */
#ifndef PAI_BUF_H
#define PAI_BUF_H

#include <stddef.h>

struct buf {
	char *ptr;
	size_t len;
	size_t cap;
	size_t max;	/* largest len allowed */
};

#define BUF_NOMAX ((size_t)-1 >> 1)

void buf_init(struct buf *b, size_t max);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Write at an offset, zero-filling any gap; -EFBIG past the cap. */
int buf_write_at(struct buf *b, size_t off, const void *data, size_t len);
void buf_truncate(struct buf *b, size_t len);
/* The contents as a C string ("" when empty); never NULL. */
const char *buf_cstr(const struct buf *b);
/* Hand the allocation to the caller (NULL when empty) and reset b. */
char *buf_detach(struct buf *b);
void buf_release(struct buf *b);

#endif
