/*
 * dash/page: index.html, the run at a glance in one self-contained page:
 * the counts, the workers and what each runs, the timeline (timeline.svg
 * beside it), the tasks changed last grouped by state, conflicts and the
 * merge order, the last events. It reloads itself (meta refresh, which
 * works over file://); there is no script.
 *
 *	<tr id="task-7" class="task failed"><td><a href="tasks/7/status">7</a>
 *	</td><td>sh</td><td>1</td><td>      2s</td><td></td><td></td>
 *	<td>make test</td></tr>
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "dashboard.h"
#include "events.h"
#include "pai.h"
#include "review.h"
#include "scheduler.h"
#include "store.h"
#include "dashint.h"

#define PROMPT_MAX 160
#define EVENTS_TAIL 32768	/* bytes of the event log read for the last */
/* Conflicts and the merge order are worked out only up to this many done
 * tasks (their cost grows with the pairs); beyond it the page points to
 * the files. */
#define REVIEW_MAX 50

static const char style[] =
	"body{font:14px/1.4 sans-serif;margin:16px;color:#222}"
	"h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px;"
	"border-bottom:1px solid #ddd}h3{font-size:14px;margin:12px 0 4px}"
	"table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;"
	"vertical-align:top;border-bottom:1px solid #eee}"
	"th{background:#f3f5f8}td.n{text-align:right;white-space:pre;"
	"font-family:monospace}.meta{color:#666}pre{background:#f6f6f6;"
	"padding:6px;margin:0;white-space:pre-wrap}.s{display:inline-block;"
	"width:10px;height:10px;margin-right:4px;border-radius:2px}"
	"img{max-width:100%;border:1px solid #ddd}";

/* The order the states are shown in. */
static const enum task_state order[] = {
	TASK_RUNNING, TASK_QUEUED, TASK_WAITING, TASK_BLOCKED, TASK_FAILED,
	TASK_DONE, TASK_MERGED, TASK_REJECTED, TASK_CANCELLED,
};

struct page {
	struct pai *p;
	struct buf *out;
	int64_t now;
	bool live;
	size_t counts[TASK_STATE_COUNT], total;
	struct task *tasks;	/* the shown ones */
	size_t n;
};

static void swatch(struct buf *out, const char *state)
{
	buf_printf(out, "<span class=\"s\" style=\"background:%s\"></span>",
		   dash_colour(state));
}

static void head(struct page *pg)
{
	struct buf *out = pg->out;
	struct task_usage u;
	char t[32];

	pai_format_time(pg->now, t, sizeof(t));
	buf_printf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		   "<meta charset=\"utf-8\">"
		   "<meta http-equiv=\"refresh\" content=\"%d\">"
		   "<title>parallelai: ", DASH_REFRESH);
	dash_escape_str(out, pg->p->repo);
	buf_printf(out, "</title><style>%s</style></head>\n<body>\n"
		   "<h1>parallelai</h1>\n<p class=\"meta\">", style);
	dash_escape_str(out, pg->p->repo);
	buf_printf(out, " &middot; %s %s &middot; %d worker%s &middot; %s",
		   pg->live ? "as of" : "last change", t,
		   sched_workers(pg->p->sched),
		   sched_workers(pg->p->sched) == 1 ? "" : "s",
		   sched_paused(pg->p->sched) ? "paused" : "running");
	if (store_totals(pg->p->store, &u) == 0) {
		buf_printf(out, " &middot; %" PRId64 " tokens in, %" PRId64
			   " out", u.input_tokens, u.output_tokens);
		if (u.cost_usd >= 0)
			buf_printf(out, " &middot; $%.4f", u.cost_usd);
	}
	buf_puts(out, "</p>\n<table id=\"counts\"><tr>");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		buf_puts(out, "<th>");
		swatch(out, task_state_name(order[i]));
		buf_printf(out, "%s</th>", task_state_name(order[i]));
	}
	buf_puts(out, "<th>all</th></tr>\n<tr>");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		buf_printf(out, "<td class=\"n\">%zu</td>", pg->counts[order[i]]);
	buf_printf(out, "<td class=\"n\">%zu</td></tr></table>\n", pg->total);
}

static void prompt_cell(struct buf *out, const struct task *t)
{
	size_t n;
	const char *line = dash_first_line(t->prompt, t->prompt_len,
					   PROMPT_MAX, &n);

	buf_puts(out, "<td>");
	dash_escape(out, line, n);
	buf_puts(out, "</td>");
}

static void workers(struct page *pg)
{
	struct buf *out = pg->out;
	int k, nw = sched_workers(pg->p->sched);

	buf_puts(out, "<h2>Workers</h2>\n<table id=\"workers\"><tr><th>worker"
		 "</th><th>task</th><th>engine</th><th>for</th><th>prompt</th>"
		 "</tr>\n");
	for (k = 1; k <= nw; k++) {
		struct worker_info w;
		struct task t;
		char dur[16];

		if (sched_worker_info(pg->p->sched, k, &w) < 0 || !w.task ||
		    store_task_get(pg->p->store, w.task, &t) < 0) {
			buf_printf(out, "<tr id=\"worker-%d\" class=\"idle\">"
				   "<td>%d</td><td colspan=\"4\" class=\"meta\">"
				   "idle</td></tr>\n", k, k);
			continue;
		}
		dash_duration(pg->now - w.since, dur);
		buf_printf(out, "<tr id=\"worker-%d\" class=\"busy\"><td>%d</td>"
			   "<td><a href=\"tasks/%" PRId64 "/status\">%" PRId64
			   "</a></td><td>", k, k, t.id, t.id);
		dash_escape_str(out, t.engine);
		buf_printf(out, "</td><td class=\"n\">%s</td>", dur);
		prompt_cell(out, &t);
		buf_puts(out, "</tr>\n");
		task_release(&t);
	}
	buf_puts(out, "</table>\n");
}

static void task_row(struct page *pg, const struct task *t)
{
	struct buf *out = pg->out;
	char dur[16] = "", tok[64] = "", cost[32] = "";
	int64_t end = t->state == TASK_RUNNING ? pg->now : t->finished;

	if (t->started && end >= t->started && t->state != TASK_QUEUED &&
	    t->state != TASK_WAITING)
		dash_duration(end - t->started, dur);
	else
		snprintf(dur, sizeof(dur), "%8s", "");
	if (t->input_tokens || t->output_tokens)
		snprintf(tok, sizeof(tok), "%" PRId64 " / %" PRId64,
			 t->input_tokens, t->output_tokens);
	if (t->cost_usd >= 0)
		snprintf(cost, sizeof(cost), "$%.4f", t->cost_usd);
	buf_printf(out, "<tr id=\"task-%" PRId64 "\" class=\"task %s\">"
		   "<td><a href=\"tasks/%" PRId64 "/status\">%" PRId64 "</a>"
		   "</td><td>", t->id, task_state_name(t->state), t->id, t->id);
	dash_escape_str(out, t->engine);
	buf_printf(out, "</td><td class=\"n\">%d</td><td class=\"n\">%s</td>"
		   "<td class=\"n\">%s</td><td class=\"n\">%s</td>",
		   t->attempts, dur, tok, cost);
	prompt_cell(out, t);
	if (t->reason && (t->state == TASK_FAILED ||
			  t->state == TASK_BLOCKED ||
			  t->state == TASK_CANCELLED)) {
		buf_puts(out, "<td class=\"meta\">");
		dash_escape_str(out, t->reason);
		buf_puts(out, "</td>");
	} else {
		buf_puts(out, "<td></td>");
	}
	buf_puts(out, "</tr>\n");
}

static void tasks(struct page *pg)
{
	struct buf *out = pg->out;
	size_t i, j, shown;

	buf_printf(out, "<h2>Tasks</h2>\n<p class=\"meta\">");
	if (pg->n < pg->total)
		buf_printf(out, "%zu of %zu tasks: the running ones and the"
			   " %d changed last; every task is in <a href=\"tasks/"
			   "\">tasks/</a>", pg->n, pg->total, DASH_TASKS);
	else
		buf_printf(out, "%zu task%s", pg->total,
			   pg->total == 1 ? "" : "s");
	buf_puts(out, "</p>\n");
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		enum task_state s = order[i];

		for (j = 0, shown = 0; j < pg->n; j++)
			shown += pg->tasks[j].state == s;
		if (!shown)
			continue;
		buf_printf(out, "<h3 id=\"state-%s\">", task_state_name(s));
		swatch(out, task_state_name(s));
		buf_printf(out, "%s: %zu", task_state_name(s), pg->counts[s]);
		if (shown < pg->counts[s])
			buf_printf(out, " (%zu shown)", shown);
		buf_puts(out, "</h3>\n<table class=\"tasks\"><tr><th>task</th>"
			 "<th>engine</th><th>attempts</th><th>time</th>"
			 "<th>tokens in / out</th><th>cost</th><th>prompt</th>"
			 "<th></th></tr>\n");
		for (j = 0; j < pg->n; j++)
			if (pg->tasks[j].state == s)
				task_row(pg, &pg->tasks[j]);
		buf_puts(out, "</table>\n");
	}
}

/*
 * Conflicts and the merge order cost merges in memory; they change only
 * when a task does (or the base branch moves), so the last ones are kept
 * while the store's last change stays the same.
 */
static struct {
	pthread_mutex_t lock;
	struct pai *p;
	int64_t stamp;
	struct buf conflicts, order;
	bool ok;
} review_cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void review_section(struct page *pg)
{
	struct buf *out = pg->out;
	int64_t stamp = store_last_change(pg->p->store);

	buf_puts(out, "<h2>Conflicts and merge order</h2>\n");
	if (pg->counts[TASK_DONE] > REVIEW_MAX) {
		buf_printf(out, "<p class=\"meta\">%zu done tasks: see <a href="
			   "\"conflicts\">conflicts</a> and <a href=\"merge-order"
			   "\">merge-order</a></p>\n", pg->counts[TASK_DONE]);
		return;
	}
	pthread_mutex_lock(&review_cache.lock);
	if (!review_cache.ok || review_cache.p != pg->p ||
	    review_cache.stamp != stamp) {
		buf_release(&review_cache.conflicts);
		buf_release(&review_cache.order);
		buf_init(&review_cache.conflicts, 1 << 20);
		buf_init(&review_cache.order, 1 << 20);
		review_conflicts(pg->p, &review_cache.conflicts, false);
		review_merge_order(pg->p, &review_cache.order);
		review_cache.p = pg->p;
		review_cache.stamp = stamp;
		review_cache.ok = true;
	}
	buf_puts(out, "<h3>conflicts</h3><pre id=\"conflicts\">");
	if (review_cache.conflicts.len)
		dash_escape(out, review_cache.conflicts.ptr,
			    review_cache.conflicts.len);
	else
		buf_puts(out, "none");
	buf_puts(out, "</pre>\n<h3>merge order</h3><pre id=\"merge-order\">");
	if (review_cache.order.len)
		dash_escape(out, review_cache.order.ptr, review_cache.order.len);
	else
		buf_puts(out, "nothing to merge");
	buf_puts(out, "</pre>\n");
	pthread_mutex_unlock(&review_cache.lock);
}

/* One event line: its time, name and task, and what else it says. */
static void event_row(struct buf *out, const char *line, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(line, len), *rest;
	const cJSON *tm = cJSON_GetObjectItemCaseSensitive(o, "time");
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(o, "task");
	char *more;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return;
	}
	buf_puts(out, "<tr><td>");
	if (cJSON_IsString(tm))
		dash_escape_str(out, tm->valuestring);
	buf_puts(out, "</td><td>");
	if (cJSON_IsString(ev))
		dash_escape_str(out, ev->valuestring);
	buf_puts(out, "</td><td>");
	if (cJSON_IsNumber(task))
		buf_printf(out, "<a href=\"tasks/%.0f/status\">%.0f</a>",
			   task->valuedouble, task->valuedouble);
	buf_puts(out, "</td><td>");
	rest = cJSON_Duplicate(o, true);
	cJSON_DeleteItemFromObjectCaseSensitive(rest, "time");
	cJSON_DeleteItemFromObjectCaseSensitive(rest, "event");
	cJSON_DeleteItemFromObjectCaseSensitive(rest, "task");
	more = rest && rest->child ? cJSON_PrintUnformatted(rest) : NULL;
	if (more)
		dash_escape_str(out, more);
	cJSON_free(more);
	cJSON_Delete(rest);
	cJSON_Delete(o);
	buf_puts(out, "</td></tr>\n");
}

static void events(struct page *pg)
{
	struct buf *out = pg->out;
	char *tail = NULL, *ring[DASH_EVENTS], *s, *end, *nl;
	size_t seen = 0, k;
	ssize_t got = -1;
	struct stat sb;
	off_t from = 0;
	int fd;

	buf_puts(out, "<h2>Last events</h2>\n<table id=\"events\"><tr><th>time"
		 "</th><th>event</th><th>task</th><th></th></tr>\n");
	fd = open(events_path(pg->p->events), O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &sb) == 0 &&
	    (tail = malloc(EVENTS_TAIL + 1))) {
		from = sb.st_size > EVENTS_TAIL ? sb.st_size - EVENTS_TAIL : 0;
		got = pread(fd, tail, EVENTS_TAIL, from);
	}
	if (fd >= 0)
		close(fd);
	/* the newest DASH_EVENTS whole lines, in a ring */
	for (s = tail, end = tail + (got > 0 ? got : 0);
	     got > 0 && (nl = memchr(s, '\n', (size_t)(end - s)));
	     s = nl + 1) {
		*nl = '\0';
		if (s == tail && from > 0)
			continue;	/* cut by the tail */
		ring[seen++ % DASH_EVENTS] = s;
	}
	for (k = 0; k < seen && k < DASH_EVENTS; k++) {
		s = ring[(seen - 1 - k) % DASH_EVENTS];
		event_row(out, s, strlen(s));
	}
	free(tail);
	buf_puts(out, "</table>\n");
}

int dashboard_html(struct pai *p, struct buf *out)
{
	struct page pg = { .p = p, .out = out };
	int64_t *ids = NULL, *running = NULL;
	size_t nids = 0, nrun = 0, i;
	int r;

	pg.now = dash_now(p, &pg.live);
	if ((r = store_counts(p->store, pg.counts)) < 0)
		return r;
	for (i = 0; i < TASK_STATE_COUNT; i++)
		pg.total += pg.counts[i];
	/* the running ones always; then the ones changed last */
	if ((r = store_tasks_in_state(p->store, TASK_RUNNING, &running,
				      &nrun)) < 0 ||
	    (r = store_task_ids_recent(p->store, DASH_TASKS, &ids, &nids)) < 0)
		goto out;
	pg.tasks = calloc(nrun + nids + 1, sizeof(*pg.tasks));
	if (!pg.tasks) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nrun + nids; i++) {
		int64_t id = i < nrun ? running[i] : ids[i - nrun];
		struct task *t = &pg.tasks[pg.n];

		if (store_task_get(p->store, id, t) < 0)
			continue;
		if (i >= nrun && t->state == TASK_RUNNING) {
			task_release(t);	/* listed already */
			continue;
		}
		pg.n++;
	}
	head(&pg);
	workers(&pg);
	buf_puts(out, "<h2>Timeline</h2>\n<a href=\"timeline.svg\">"
		 "<img src=\"timeline.svg\" alt=\"timeline of the runs\"></a>\n");
	tasks(&pg);
	review_section(&pg);
	events(&pg);
	r = buf_puts(out, "</body></html>\n");
out:
	for (i = 0; i < pg.n; i++)
		task_release(&pg.tasks[i]);
	free(pg.tasks);
	free(ids);
	free(running);
	return r;
}
