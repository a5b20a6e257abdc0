/*
 * runner/relay: an engine's output on its way into the task's log. What
 * goes in is filtered by the redaction stream (the secrets the process
 * knows become "[redacted]", a key split across two reads included), and
 * the log grows by at most its cap: past it, a note once, and the rest is
 * dropped. The local backend's relay thread and `parallelai job` (the
 * SLURM wrapper, writing on a compute node) feed their reads to it alike.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "runnerint.h"

static const char capped_note[] =
	"\nparallelai: log cap reached; the rest of the output is dropped\n";

void log_relay_init(struct log_relay *rl, int log_fd, uint64_t cap,
		    const struct redact *r)
{
	rl->log_fd = log_fd;
	rl->cap = cap;
	rl->written = 0;
	rl->noted = 0;
	buf_init(&rl->out, BUF_NOMAX);
	if ((rl->rs = calloc(1, sizeof(*rl->rs))))
		rl->rs->r = r;
}

/* Bytes into the log, up to the cap; past it a note, once. */
static void put(struct log_relay *rl, const char *p, size_t n)
{
	if (rl->cap && rl->written + (uint64_t)n > rl->cap) {
		size_t keep = (size_t)(rl->cap - rl->written);

		if (keep && write(rl->log_fd, p, keep) > 0)
			rl->written += keep;
		if (!rl->noted++ &&
		    write(rl->log_fd, capped_note, sizeof(capped_note) - 1) < 0)
			rl->noted = 1;
		return;
	}
	if (n && write(rl->log_fd, p, n) == (ssize_t)n)
		rl->written += (uint64_t)n;
}

void log_relay_feed(struct log_relay *rl, const char *p, size_t n)
{
	/* Without memory for the filter nothing is written: a secret must
	 * not slip through. */
	buf_truncate(&rl->out, 0);
	if (rl->rs && redact_feed(rl->rs, p, n, &rl->out) == 0)
		put(rl, rl->out.ptr, rl->out.len);
}

void log_relay_end(struct log_relay *rl)
{
	buf_truncate(&rl->out, 0);
	if (rl->rs && redact_flush(rl->rs, &rl->out) == 0)
		put(rl, rl->out.ptr, rl->out.len);
	buf_release(&rl->out);
	free(rl->rs);
	rl->rs = NULL;
}
