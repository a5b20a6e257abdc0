/*
 * dashint: what the files of src/dash/ share: escaping for HTML and XML,
 * a prompt's first line, durations and times in fixed widths, the
 * dashboard's "now", and the colour of each outcome. Not for use outside
 * src/dash/; the interface is include/dashboard.h.
 */
#ifndef PAI_DASHINT_H
#define PAI_DASHINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct pai;

/*
 * s (len bytes) as HTML/XML text or attribute value: & < > " ' as
 * entities, control characters (but tab and newline) and invalid UTF-8
 * as U+FFFD, so that the result is well-formed XML whatever the bytes.
 */
int dash_escape(struct buf *out, const char *s, size_t len);
int dash_escape_str(struct buf *out, const char *s);
/* The first line of s that is not blank, at most max bytes of it (cut
 * at a character's start), leading blanks skipped: its start and *n. */
const char *dash_first_line(const char *s, size_t len, size_t max,
			    size_t *n);
/* A duration as "45s", "12m05s", "3h02m", "2d04h", right-aligned in 8
 * columns (spaces), so that its length does not change as it grows. */
void dash_duration(int64_t ms, char out[16]);
/* "09:22:01" (UTC), or "12-06 09:22" when wide is true. */
void dash_clock(int64_t ms, bool wide, char out[16]);
/* The dashboard's now: the clock while a task runs; else the store's last
 * change, so that an idle mount's dashboard does not change. */
int64_t dash_now(struct pai *p, bool *live);
/* The colour of an outcome or a state ("done", "failed", ...). */
const char *dash_colour(const char *outcome);

#endif
