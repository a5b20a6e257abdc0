/*
 * watch: "task N changed state" (or its commit, by rescan), told by the
 * store, heard by whoever waits: the blocking `wait` files and poll(2) of
 * them, and the kernel's cache of the task's files (fs/wait.c).
 *
 *	watch_new(&w);
 *	store_set_watch(st, w);		// the store calls watch_changed
 *	watch_listen(w, on_change, fs);	// on_change(fs, 7) from watch's thread
 *
 *	uint64_t seen = watch_gen(w);	// a reader: the count first,
 *	if (!ended(task))		// then the state,
 *		watch_wait(w, seen, 100);	// then sleep until it moves
 *
 * watch_changed is cheap and never calls out: the store calls it with its
 * lock held. Listeners are called from watch's own thread, never from the
 * thread that changed the state (a FUSE request handler must not notify
 * the kernel itself), with a task id or 0 for "some tasks" (when more
 * changed at once than are kept one by one). Spurious calls happen: a
 * listener looks again at what it cares for. Thread-safe.
 */
#ifndef PAI_WATCH_H
#define PAI_WATCH_H

#include <stdint.h>

struct watch;

int watch_new(struct watch **out);
/* Stops the listener thread; waiters in watch_wait return. */
void watch_free(struct watch *w);
/* Task id (0: some) changed state. */
void watch_changed(struct watch *w, int64_t id);
/* How many changes so far. */
uint64_t watch_gen(struct watch *w);
/* Until the count is past seen or ms pass (ms < 0: no limit); the count. */
uint64_t watch_wait(struct watch *w, uint64_t seen, int ms);
/* One listener (a second replaces the first; NULL fn: none). When it
 * returns, no call to the one it replaced is under way: never call it
 * from the listener, nor holding a lock the listener takes. */
void watch_listen(struct watch *w, void (*fn)(void *arg, int64_t id),
		  void *arg);

#endif
