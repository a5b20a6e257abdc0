/*
 * wlog: the log of a worker slot, task after task (MNT/workers/N/log).
 *
 * A worker's log is a file made of segments, one per run on that slot: a
 * header line, then the task's own log from where this run began (its
 * earlier attempts stay out). The segment of the running task grows with
 * its log; when the next task starts there, the segment is closed at the
 * length it has then and the new one follows it. Offsets only grow, so a
 * reader that keeps the file open (tail -f, less +F, a program polling
 * at EOF) sees every task once, in order, and the file never shrinks
 * under it.
 *
 *	wlog_begin(wl, 1, 12, "make test", 0);	// the scheduler, at each run
 *	wlog_hold(wl, 1);			// an open of workers/1/log
 *	wlog_stat(wl, 1, &size, &mtime_ms);
 *	n = wlog_read(wl, 1, out, 4096, off);
 *	wlog_drop(wl, 1);			// its release
 *
 * Bounded: nothing is copied (the bytes are read from the task logs on
 * demand), and a slot keeps at most WLOG_MAX_SEGS segments. While nobody
 * holds a worker's log, the next run starts it afresh with its own
 * segment alone, so `cat` shows the current or last task. Bytes that are
 * no longer there to read (a segment forgotten past the bound, a task log
 * removed by prune) read as newlines, so offsets stay true.
 *
 * Thread-safe: one lock inside.
 */
#ifndef PAI_WLOG_H
#define PAI_WLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WLOG_MAX_SEGS 4096

struct wlog;

/* logs_dir: where task N's log is logs_dir/N.log */
int wlog_new(struct wlog **out, const char *logs_dir);
void wlog_free(struct wlog *wl);

/* Task `task` starts on worker k (1-based); its log already holds
 * `start` bytes (earlier attempts). prompt: its first line makes the
 * header. */
int wlog_begin(struct wlog *wl, int k, int64_t task, const char *prompt,
	       size_t prompt_len, off_t start);

/* A reader opens (hold) and closes (drop) worker k's log. */
void wlog_hold(struct wlog *wl, int k);
void wlog_drop(struct wlog *wl, int k);

/* Size, and the time the content last changed (ms since the epoch, 0
 * when nothing ran there yet). */
void wlog_stat(struct wlog *wl, int k, off_t *size, int64_t *mtime_ms);

/* Up to size bytes at off; 0 at the end; -errno on failure. */
ssize_t wlog_read(struct wlog *wl, int k, char *out, size_t size, off_t off);

#endif
