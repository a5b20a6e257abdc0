/*
 * cancel: how long work done for a caller learns that the caller gave up.
 *
 * A write to ctl or tasks/new may start work that takes a while (merge
 * all over many tasks, prune of many worktrees, a fan-out over a big
 * tree). Whoever asked for it may give up meanwhile: ^C of
 * `echo 'merge all' > ctl`. The work asks between its units, where
 * stopping leaves nothing half-made, and returns -EINTR there. The FUSE
 * layer answers the question from the request; src/ knows nothing of
 * FUSE, only this.
 *
 *	static bool gone(void *arg) { return fuse_interrupted(); }
 *	struct pai_cancel c = { gone, NULL };
 *	review_merge_all(pai, &c, err, sizeof(err));	// -EINTR
 *
 * A NULL struct pai_cancel, or one without asked, never cancels.
 */
#ifndef PAI_CANCEL_H
#define PAI_CANCEL_H

#include <stdbool.h>

struct pai_cancel {
	bool (*asked)(void *arg);
	void *arg;
};

static inline bool pai_cancel_asked(const struct pai_cancel *c)
{
	return c && c->asked && c->asked(c->arg);
}

#endif
