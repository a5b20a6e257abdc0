/*
 * submit: from what was written to tasks/new to the tasks to create.
 *
 * Checks everything that can be checked before the store is touched:
 * the spec, the engines, the base revision, the branch name, that every
 * dependency exists, and expands a fan-out ("each" over the base tree,
 * then an optional reduce step) into one batch, so the store creates all
 * of the tasks or none.
 *
 *	struct submission sub;
 *	if (submit_prepare(&sub, pai, text, len, NULL, err,
 *			   sizeof(err)) < 0)
 *		...;	// -EINVAL, -EFBIG, -EIO with the reason in err
 *	store_tasks_create(pai->store, sub.tasks, sub.n, ids);
 *	submit_release(&sub);
 */
#ifndef PAI_SUBMIT_H
#define PAI_SUBMIT_H

#include <stddef.h>

#include "cancel.h"
#include "oid.h"
#include "spec.h"
#include "store.h"

struct pai;

struct submission {
	struct spec spec;
	struct task_new *tasks;	/* n of them; the reduce step last */
	size_t n;
	char **prompts;		/* expanded fan-out prompts, owned */
	char **paths;		/* and their paths (JSON), n_prompts, owned */
	char *locks;		/* a single task's locks (JSON), owned */
	size_t n_prompts;
	int64_t *reduce_deps;	/* -1..-(n-1) for the reduce step */
	char base[OID_HEX_SIZE];
};

/* cancel: asked between the paths of a fan-out's walk (-EINTR). */
int submit_prepare(struct submission *out, struct pai *p, const char *text,
		   size_t len, const struct pai_cancel *cancel, char *err,
		   size_t errlen);
void submit_release(struct submission *sub);

struct config;
/*
 * A new task's check gate: check (NULL: parallelai.check; "": none) and
 * fix_rounds (< 0: parallelai.fixRounds, else 2 for an engine that reads
 * its prompt as text, 0 for sh and command templates) into t.
 */
void submit_check(const struct config *c, const char *engine,
		  const char *check, int fix_rounds, struct task_new *t);

#endif
