/*
 * ctl: the commands of the ctl files, in one table, and the words of one
 * command line.
 *
 *	char verb[32];
 *	long num;
 *	switch (ctl_parse("workers 4", verb, sizeof(verb), &num)) {
 *	case 1: ...	// "pause": a verb alone
 *	case 2: ...	// "workers 4": a verb and a number (may be negative)
 *	default: ...	// 0: anything else, refused with EINVAL
 *	}
 *
 * Blanks around the words are allowed; anything after the number, a
 * number that does not fit a long, or a verb longer than vlen - 1 is not.
 */
#ifndef PAI_CTL_H
#define PAI_CTL_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct pai;
struct pai_cancel;

int ctl_parse(const char *line, char *verb, size_t vlen, long *num);

/*
 * Every command of every ctl file, in one table: the root's (pause,
 * resume, workers N, cancel ID, retry ID, merge ID|all, prune ...), a
 * task's (cancel, retry, priority N, merge, push, rescan) and a plan's
 * (approve, cancel).
 *
 *	ctl_run(p, CTL_TASK, 7, "priority 5", NULL, err, sizeof(err));
 *
 * id: the task or plan of the file (0 for the root). cancel: how a long
 * command (merge all, prune) learns that its writer gave up, or NULL.
 * 0, or a negative errno with err saying why, and a "refused" event:
 * -EINVAL unknown or malformed, -ENOENT no such task or plan, -EBUSY its
 * state forbids it, -EINTR a long command stopped between two units of
 * its work, nothing half-made.
 */
enum ctl_scope { CTL_ROOT, CTL_TASK, CTL_PLAN };

int ctl_run(struct pai *p, enum ctl_scope scope, int64_t id,
	    const char *line, const struct pai_cancel *cancel, char *err,
	    size_t errlen);
/* What a ctl file of that scope takes, one command per line. */
int ctl_commands(enum ctl_scope scope, struct buf *out);

#endif
