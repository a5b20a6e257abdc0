/*
 * view: the text of the generated files, rendered from the store and the
 * scheduler. Pure presentation: the FUSE layer maps paths to these, and
 * nothing here knows about FUSE.
 */
#ifndef PAI_VIEW_H
#define PAI_VIEW_H

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct pai;
struct task;

/* README: the layout and commands, and this mount's default engine. */
int view_readme(struct pai *p, struct buf *out);

int view_root_status(struct pai *p, struct buf *out, bool json);
/* tasks/N/status (json false) or tasks/N/task.json (json true). */
int view_task_status(struct pai *p, const struct task *t, struct buf *out,
		     bool json);
int view_task_diff(struct pai *p, const struct task *t, struct buf *out);
int view_task_files(struct pai *p, const struct task *t, struct buf *out);
/* tasks/N/depends: one id per line. */
int view_task_depends(struct pai *p, const struct task *t, struct buf *out);
/* tasks/N/result: the agent's final message; -ENOENT when there is none. */
int view_task_result(struct pai *p, const struct task *t, struct buf *out);
int view_worker_status(struct pai *p, int k, struct buf *out);
/* tasks/N/wait: its state word and a newline once it ended, else nothing
 * (the FUSE layer blocks a read until there is something). */
int view_task_wait(struct pai *p, const struct task *t, struct buf *out);
/* wait: "STATE: N" for every state once no task is queued, waiting or
 * running, else nothing. */
int view_root_wait(struct pai *p, struct buf *out);

#endif
