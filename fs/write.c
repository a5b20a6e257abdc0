/*
 * fs/write: what writes mean. tasks/new and plans/new follow the clone
 * convention (a task is made at flush, once; a spec is judged as soon as
 * it is whole); a ctl handle is a stream of command lines. A writer that
 * gives up (Ctrl-C) stops long commands at a safe point.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include <cjson/cJSON.h>

#include "approvals.h"
#include "buf.h"
#include "cancel.h"
#include "ctl.h"
#include "events.h"
#include "pai.h"
#include "planner.h"
#include "scheduler.h"
#include "fsint.h"

/* The writer's signal (^C of `echo 'merge all' > ctl`) reaches us as an
 * interrupt of its request; long work in src/ asks between its steps. */
static bool writer_gave_up(void *arg)
{
	(void)arg;
	return fs_interrupted();
}

static const struct pai_cancel writer_cancel = { writer_gave_up, NULL };

/* Submit what a tasks/new handle holds, once. Called with h->lock. */
int fs_new_submit(struct handle *h)
{
	struct pai *p = fs_pai();
	char err[512];
	int64_t id;

	if (h->created || h->result)
		return h->result;
	/* Nothing written yet: shells dup2() the file onto stdout and close
	 * the original before writing, which flushes. Refuse this close
	 * without deciding; release() records an empty submission. */
	if (!h->wrote)
		return -EINVAL;
	if (h->data.len > p->cfg.max_prompt + 65535) {
		snprintf(err, sizeof(err), "prompt too long: over %zu bytes",
			 p->cfg.max_prompt);
		events_reason(p->events, "refused", 0, err);
		return h->result = -EFBIG;
	}
	if (h->n.e->kind == K_PLANS_NEW)
		h->result = planner_submit(p->planner, buf_cstr(&h->data),
					   h->data.len, &id, err, sizeof(err));
	else
		h->result = sched_submit(p->sched, buf_cstr(&h->data),
					 h->data.len, &writer_cancel, &id, err,
					 sizeof(err));
	if (h->result == 0)
		h->created = id;
	return h->result;
}

/* One command line, blanks at its end dropped; blank lines are no
 * command. */
/* approvals/N/ctl: the decider is the writer, by name. */
static int approval_ctl(struct pai *p, int64_t id, const char *line)
{
	uid_t uid = fs_caller()->uid;
	struct passwd pw, *res = NULL;
	char pwbuf[4096], user[64], err[256];
	int r;

	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res)
		snprintf(user, sizeof(user), "%s", pw.pw_name);
	else
		snprintf(user, sizeof(user), "uid %u", (unsigned)uid);
	r = approvals_command(p->approvals, id, line, user, err, sizeof(err));
	if (r < 0)
		events_reason(p->events, "refused", 0, err);
	return r;
}

int fs_ctl_line(struct handle *h, char *line)
{
	struct pai *p = fs_pai();
	size_t n = strlen(line);
	char err[512];

	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' ||
		     line[n - 1] == '\r'))
		line[--n] = '\0';
	if (!n)
		return 0;
	if (h->n.e->kind == K_A_CTL)
		return approval_ctl(p, h->n.task, line);
	return ctl_run(p, h->n.e->kind == K_P_CTL ? CTL_PLAN :
		       h->n.task ? CTL_TASK : CTL_ROOT, h->n.task, line,
		       &writer_cancel, err, sizeof(err));
}

static int line_too_long(struct handle *h)
{
	events_reason(fs_pai()->events, "refused", h->n.task,
		      "command line too long");
	buf_truncate(&h->line, 0);
	h->skip = 1;
	return -EINVAL;
}

/*
 * A ctl handle is a stream of command lines: each runs when its newline
 * arrives, however the writer cut its writes (cat writes 128 KiB at a
 * time, so "merge 12" can arrive as "merge 1" and "2"); the last line
 * runs at close. The first command that fails ends the write with its
 * error, and the rest of that write is dropped, up to a newline.
 */
int fs_ctl_write(struct handle *h, const char *data, size_t size)
{
	const char *s = data, *end = data + size, *nl;
	int r = 0;

	if (memchr(data, '\0', size)) {
		events_reason(fs_pai()->events, "refused", h->n.task,
			      "command contains a NUL byte");
		return -EINVAL;
	}
	while (s < end && r == 0) {
		nl = memchr(s, '\n', (size_t)(end - s));
		if (h->skip) {
			h->skip = !nl;
		} else if (buf_add(&h->line, s, (size_t)((nl ? nl : end) -
							 s)) < 0) {
			r = line_too_long(h);
			h->skip = !nl;
		} else if (nl) {
			r = fs_ctl_line(h, h->line.ptr ? h->line.ptr : (char *)"");
			buf_truncate(&h->line, 0);
		}
		s = nl ? nl + 1 : end;
	}
	if (r < 0 && s < end) {
		/* The rest of this write is dropped with the failure. */
		buf_truncate(&h->line, 0);
		h->skip = end[-1] != '\n';
	}
	return r;
}

static bool blank(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/*
 * bash ignores close()'s error, so a submission refused only there is
 * silent at a prompt. Judge it as soon as it can be judged: a JSON spec
 * once what was written is a whole JSON value (echo writes it in one
 * write()), and a first write of nothing but blanks. The write fails,
 * and the shell says so; close fails the same way and makes nothing.
 * What arrives in pieces is judged at close, as always.
 */
int fs_new_judge(struct handle *h)
{
	struct pai *p = fs_pai();
	const char *s = h->data.ptr, *end;
	size_t len = h->data.len, i = 0, j = len;
	char err[512];
	cJSON *v;

	if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len && blank(s[i]))
		i++;
	while (j > i && blank(s[j - 1]))
		j--;
	if (i == len) {
		if (h->writes > 1)
			return 0;
		snprintf(err, sizeof(err), "%s", h->n.e->kind == K_NEW ?
			 "empty prompt" : "empty request");
		events_reason(p->events, "refused", 0, err);
		return h->result = -EINVAL;
	}
	/* Only a write that ends a value can make it whole. */
	if (s[i] != '{' || s[j - 1] != '}')
		return 0;
	v = cJSON_ParseWithLengthOpts(s + i, j - i, &end, 0);
	if (!v)
		return 0;
	cJSON_Delete(v);
	h->result = h->n.e->kind == K_NEW ?
		    sched_check(p->sched, s, len, &writer_cancel, err,
				sizeof(err)) :
		    planner_check(p->planner, s, len, err, sizeof(err));
	return h->result;
}
