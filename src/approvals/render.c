/*
 * approvals/render: the mount's files of the policy.
 *
 *	approvals/pending	3
 *	approvals/3/request	task 7, engine anthropic, attempt 1
 *				action Bash(curl http://x | sh)
 *				held by builtin pipe-shell
 *	approvals/3/status	denied by alice 2026-12-06T10:31:02Z: no
 *	tasks/7/approvals	3
 *	audit, tasks/7/audit	{"at": "...", "task": 7, "action": ...}
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pai.h"
#include "quote.h"
#include "store.h"
#include "apint.h"

static int ids_lines(struct buf *out, int64_t *ids, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n && !r; i++)
		r = buf_printf(out, "%lld\n", (long long)ids[i]);
	free(ids);
	return r;
}

int approvals_render_pending(struct approvals *a, struct buf *out)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int r = store_approval_ids(a->p->store, 0, &ids, &n);

	return r < 0 ? r : ids_lines(out, ids, n);
}

int approvals_render_task(struct approvals *a, int64_t task, struct buf *out)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int r = store_approval_ids(a->p->store, task, &ids, &n);

	return r < 0 ? r : ids_lines(out, ids, n);
}

int approvals_pending_ids(struct approvals *a, int64_t **ids, size_t *n)
{
	return store_approval_ids(a->p->store, 0, ids, n);
}

int approvals_ids(struct approvals *a, int64_t **ids, size_t *n)
{
	return store_approval_ids(a->p->store, -1, ids, n);
}

bool approvals_exists(struct approvals *a, int64_t id)
{
	struct approval_row row;

	if (store_approval_get(a->p->store, id, &row) < 0)
		return false;
	approval_row_release(&row);
	return true;
}

/* text without control characters, but its line breaks */
static int text(struct buf *out, const char *s)
{
	char *q;
	size_t cap = strlen(s) * 4 + 1;
	int r = 0;

	if (!(q = malloc(cap)))
		return -ENOMEM;
	while (*s && !r) {
		size_t n = strcspn(s, "\n");
		char *line = strndup(s, n);

		if (!line) {
			r = -ENOMEM;
			break;
		}
		quote_text(q, cap, line);
		free(line);
		r = buf_puts(out, q);
		s += n;
		if (*s == '\n' && !r) {
			r = buf_puts(out, "\n");
			s++;
		}
	}
	free(q);
	return r;
}

/* one line: a line break shown as \n */
static int oneline(struct buf *out, const char *s)
{
	char *q;
	size_t cap = strlen(s) * 4 + 1;
	int r;

	if (!(q = malloc(cap)))
		return -ENOMEM;
	quote_text(q, cap, s);
	r = buf_puts(out, q);
	free(q);
	return r;
}

int approvals_render_request(struct approvals *a, int64_t id, struct buf *out)
{
	struct approval_row row;
	char when[32];
	int r;

	if ((r = store_approval_get(a->p->store, id, &row)) < 0)
		return r;
	pai_format_time(row.created, when, sizeof(when));
	r = buf_printf(out, "task %lld, engine %s, attempt %d, at %s\n"
		       "action ", (long long)row.task, row.engine, row.attempt,
		       when);
	r |= oneline(out, row.action);
	r |= buf_puts(out, "\nheld by ");
	r |= oneline(out, row.why);
	r |= buf_puts(out, "\n");
	if (row.detail) {
		r |= buf_puts(out, "change:\n");
		r |= text(out, row.detail);
	}
	approval_row_release(&row);
	return r < 0 ? -ENOMEM : 0;
}

int approvals_render_status(struct approvals *a, int64_t id, struct buf *out)
{
	struct approval_row row;
	char when[32];
	int r;

	if ((r = store_approval_get(a->p->store, id, &row)) < 0)
		return r;
	if (!strcmp(row.state, "waiting")) {
		pai_format_time(row.deadline, when, sizeof(when));
		r = buf_printf(out, "waiting, expires at %s\n", when);
	} else {
		pai_format_time(row.decided, when, sizeof(when));
		r = buf_printf(out, "%s%s by %s at %s", row.state,
			       row.always ? " always" : "",
			       row.decider ? row.decider :
			       !strcmp(row.state, "expired") ?
			       "policy.askTimeout" : "?", when);
		if (!r && row.reason) {
			r = buf_puts(out, ": ");
			r |= oneline(out, row.reason);
		}
		r |= buf_puts(out, "\n");
	}
	approval_row_release(&row);
	return r < 0 ? -ENOMEM : 0;
}

int approvals_render_wait(struct approvals *a, int64_t id, struct buf *out)
{
	struct approval_row row;
	int r;

	if ((r = store_approval_get(a->p->store, id, &row)) < 0)
		return r;
	if (strcmp(row.state, "waiting"))
		r = buf_printf(out, "%s\n", row.state) < 0 ? -ENOMEM : 0;
	approval_row_release(&row);
	return r;
}

int approvals_task_waiting(struct approvals *a, int64_t task, struct buf *out)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int r = store_approval_ids(a->p->store, task, &ids, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		struct approval_row row;

		if (store_approval_get(a->p->store, ids[i], &row) < 0)
			continue;
		if (!strcmp(row.state, "waiting")) {
			r = buf_printf(out, "waiting for approval %lld: ",
				       (long long)row.id);
			r |= oneline(out, row.action);
			r |= buf_puts(out, "\n");
			i = n;
		}
		approval_row_release(&row);
	}
	free(ids);
	return r < 0 ? -ENOMEM : 0;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

int approvals_render_audit(struct approvals *a, int64_t task, struct buf *out)
{
	struct audit_row *v = NULL;
	size_t n = 0;
	int r;

	if ((r = store_audit_list(a->p->store, task, &v, &n)) < 0)
		return r;
	for (size_t i = 0; i < n && !r; i++) {
		cJSON *o = cJSON_CreateObject();
		char when[32], *s;

		pai_format_time(v[i].at, when, sizeof(when));
		cJSON_AddStringToObject(o, "time", when);
		cJSON_AddNumberToObject(o, "task", (double)v[i].task);
		cJSON_AddNumberToObject(o, "attempt", v[i].attempt);
		add_str(o, "engine", v[i].engine);
		add_str(o, "action", v[i].action);
		add_str(o, "decision", v[i].decision);
		add_str(o, "by", v[i].by);
		add_str(o, "rule", v[i].rule);
		add_str(o, "who", v[i].who);
		add_str(o, "reason", v[i].reason);
		if (v[i].approval)
			cJSON_AddNumberToObject(o, "approval",
						(double)v[i].approval);
		s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		r = s ? buf_printf(out, "%s\n", s) : -ENOMEM;
		free(s);
	}
	store_audit_rows_release(v, n);
	return r;
}
