/*
 * mergeq/fix: a rejected task handed back to its engine, as a new task on
 * top of its work whose prompt says why; it joins the queue when done.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "checkrun.h"
#include "events.h"
#include "mergeq.h"
#include "pai.h"
#include "scheduler.h"
#include "store.h"
#include "mqint.h"

static int fix_prompt(struct pai *p, const struct task *t, struct buf *out)
{
	char path[PATH_MAX];
	struct buf tail = { 0 };
	int fd, r;

	r = buf_printf(out, "# parallelai: the merge queue rejected task %lld:"
		       "\n", (long long)t->id);
	if (r == 0)
		r = check_comment(out, t->reason ? t->reason : "",
				  t->reason ? strlen(t->reason) : 0);
	if (r == 0)
		r = buf_puts(out, "# You start from its work. Make it land: "
			     "the check must pass on the branch it merges "
			     "into.\n");
	pai_check_path(p, t->id, path, sizeof(path));
	if (r == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		buf_init(&tail, BUF_NOMAX);
		if (check_tail(fd, 0, p->cfg.fix_tail, &tail) == 0 &&
		    tail.len) {
			r = buf_puts(out, "# The check's output (the end of "
				     "it):\n");
			if (r == 0)
				r = check_comment(out, tail.ptr, tail.len);
		}
		buf_release(&tail);
		close(fd);
	}
	if (r == 0)
		r = buf_puts(out, "# The task:\n\n");
	if (r == 0)
		r = buf_add(out, t->prompt, t->prompt_len);
	return r;
}

int mergeq_fix(struct mergeq *q, int64_t id, int64_t *made, char *err,
	       size_t errlen)
{
	struct pai *p = q->p;
	struct buf prompt = { 0 };
	struct task t;
	cJSON *spec;
	char *text;
	int r;

	if (store_task_get(p->store, id, &t) < 0) {
		snprintf(err, errlen, "no such task: %lld", (long long)id);
		return -ENOENT;
	}
	if (t.state != TASK_REJECTED) {
		snprintf(err, errlen, "cannot fix task %lld: it is %s, not "
			 "rejected", (long long)id, task_state_name(t.state));
		task_release(&t);
		return -EBUSY;
	}
	buf_init(&prompt, BUF_NOMAX);
	if ((r = fix_prompt(p, &t, &prompt)) < 0)
		goto out;
	spec = cJSON_CreateObject();
	cJSON_AddStringToObject(spec, "prompt", buf_cstr(&prompt));
	cJSON_AddStringToObject(spec, "engine", t.engine);
	cJSON_AddStringToObject(spec, "base", t.commit);
	text = cJSON_PrintUnformatted(spec);
	cJSON_Delete(spec);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	r = sched_submit(p->sched, text, strlen(text), NULL, made, err,
			 errlen);
	free(text);
	if (r == 0 &&
	    (r = mq_add_one(q, *made, "pending", id, err, errlen)) == 0) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddNumberToObject(f, "fix", (double)*made);
		events_add(p->events, "fix", id, f);
	}
out:
	buf_release(&prompt);
	task_release(&t);
	return r;
}

void mq_auto_fix(struct mergeq *q, int64_t id)
{
	char err[512];
	int64_t made;

	if (mergeq_fix(q, id, &made, err, sizeof(err)) < 0)
		events_reason(q->p->events, "fix_failed", id, err);
}
