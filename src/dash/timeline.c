/*
 * dash/timeline: timeline.svg, a Gantt chart of the newest attempts: one
 * row per worker, one bar per attempt coloured by its outcome, the time
 * axis in real time (UTC), a running attempt's bar reaching to now.
 *
 *	<a xlink:href="tasks/7/status"><svg x="0120.4" y="0046.0" ...>
 *	  <title>task 7, attempt 1, worker 2: done in 12s ...</title>
 *	  <rect .../><text ...>7</text></svg></a>
 *
 * Each bar is a nested <svg>, which clips its label to the bar. Every
 * coordinate that moves with the clock is written zero-padded in a fixed
 * width, so the file's length depends on the store alone (dashboard.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dashboard.h"
#include "pai.h"
#include "scheduler.h"
#include "store.h"
#include "dashint.h"

#define WIDTH 1200
#define LEFT 90		/* the row labels */
#define RIGHT 40
#define TOP 56		/* title and legend */
#define ROW 26
#define BAR 18
#define AXIS 36
#define TICKS 6
#define PROMPT_MAX 120

struct chart {
	struct task_run *runs;
	size_t n;
	int *rows;		/* worker of each row, ascending; 0 last */
	size_t nrows;
	int64_t t0, t1;		/* the axis */
	bool live;
	int64_t task;		/* 0: every task's */
};

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	/* worker 0 (not known) goes last */
	if (!x || !y)
		return !x - !y;
	return (x > y) - (x < y);
}

/* The rows: every worker the runs used; the root shows all the slots
 * there are now as well, idle ones too. */
static int chart_rows(struct chart *c, int slots)
{
	size_t i, j, cap = c->n + (size_t)(slots > 0 ? slots : 0) + 1;

	if (!(c->rows = calloc(cap, sizeof(*c->rows))))
		return -ENOMEM;
	for (i = 1; i <= (size_t)(slots > 0 ? slots : 0); i++)
		c->rows[c->nrows++] = (int)i;
	for (i = 0; i < c->n; i++) {
		for (j = 0; j < c->nrows; j++)
			if (c->rows[j] == c->runs[i].worker)
				break;
		if (j == c->nrows)
			c->rows[c->nrows++] = c->runs[i].worker;
	}
	qsort(c->rows, c->nrows, sizeof(*c->rows), cmp_int);
	return 0;
}

static size_t row_of(const struct chart *c, int worker)
{
	size_t i;

	for (i = 0; i < c->nrows; i++)
		if (c->rows[i] == worker)
			return i;
	return 0;
}

static void chart_axis(struct chart *c, struct pai *p)
{
	size_t i;
	int64_t end = 0;
	bool running = false;

	c->t1 = dash_now(p, &c->live);
	c->t0 = c->t1;
	for (i = 0; i < c->n; i++) {
		running |= !strcmp(c->runs[i].outcome, "running");
		if (c->runs[i].started < c->t0)
			c->t0 = c->runs[i].started;
		if (c->runs[i].finished > end)
			end = c->runs[i].finished;
	}
	/* one task's chart moves only while that task runs */
	if (c->task && !running)
		c->live = false;
	/* idle: the axis ends with the last attempt's end */
	if (!c->live && end > c->t0)
		c->t1 = end;
	if (c->t1 - c->t0 < 10000)
		c->t1 = c->t0 + 10000;
}

static double x_of(const struct chart *c, int64_t t)
{
	double w = WIDTH - LEFT - RIGHT;
	double x = (double)(t - c->t0) * w / (double)(c->t1 - c->t0);

	return LEFT + (x < 0 ? 0 : x > w ? w : x);
}

static int head(struct buf *out, const struct chart *c, int height)
{
	static const char *const legend[] = {
		"done", "failed", "running", "cancelled", "blocked", "requeued",
	};
	size_t i;

	buf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\""
		   " xmlns:xlink=\"http://www.w3.org/1999/xlink\""
		   " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
		   " font-family=\"sans-serif\" font-size=\"12\">\n"
		   "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
		   WIDTH, height, WIDTH, height);
	if (c->task)
		buf_printf(out, "<text x=\"10\" y=\"20\" font-size=\"15\""
			   " font-weight=\"bold\">task %" PRId64
			   ": %zu attempt%s</text>\n", c->task, c->n,
			   c->n == 1 ? "" : "s");
	else
		buf_printf(out, "<text x=\"10\" y=\"20\" font-size=\"15\""
			   " font-weight=\"bold\">parallelai: %s%zu"
			   " attempt%s</text>\n", c->n == DASH_RUNS ?
			   "the newest " : "", c->n, c->n == 1 ? "" : "s");
	for (i = 0; i < sizeof(legend) / sizeof(legend[0]); i++)
		buf_printf(out, "<rect x=\"%zu\" y=\"32\" width=\"12\""
			   " height=\"12\" fill=\"%s\"/><text x=\"%zu\""
			   " y=\"42\">%s</text>\n", 10 + i * 95,
			   dash_colour(legend[i]), 26 + i * 95, legend[i]);
	return 0;
}

static void rows_and_axis(struct buf *out, const struct chart *c)
{
	int bottom = TOP + (int)c->nrows * ROW;
	bool wide = c->t1 - c->t0 > 86400000;
	char clock[16];
	size_t i;

	for (i = 0; i < c->nrows; i++) {
		int y = TOP + (int)i * ROW;

		buf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\""
			   " height=\"%d\" fill=\"%s\"/>\n", LEFT, y,
			   WIDTH - LEFT - RIGHT, ROW, i % 2 ? "#ffffff" :
			   "#f3f5f8");
		if (c->rows[i])
			buf_printf(out, "<text x=\"10\" y=\"%d\">worker %d"
				   "</text>\n", y + 17, c->rows[i]);
		else
			buf_printf(out, "<text x=\"10\" y=\"%d\">worker ?"
				   "</text>\n", y + 17);
	}
	buf_printf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\""
		   " stroke=\"#444444\"/>\n", LEFT, bottom, WIDTH - RIGHT,
		   bottom);
	for (i = 0; i < TICKS; i++) {
		int x = LEFT + (int)i * (WIDTH - LEFT - RIGHT) / (TICKS - 1);
		int64_t t = c->t0 + (c->t1 - c->t0) * (int64_t)i / (TICKS - 1);

		dash_clock(t, wide, clock);
		buf_printf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\""
			   " stroke=\"#cccccc\"/><text x=\"%d\" y=\"%d\""
			   " text-anchor=\"middle\">%s</text>\n", x, TOP, x,
			   bottom + 5, x, bottom + 18, clock);
	}
	buf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\""
		   " fill=\"#666666\">%s (UTC)</text>\n", WIDTH - RIGHT,
		   bottom + 32, c->live ? "now" : "last change");
}

/* The tooltip: what ran, how it ended, how long, the prompt's first
 * line. */
static void bar_title(struct buf *out, struct pai *p,
		      const struct task_run *r, int64_t end)
{
	char dur[16];
	const char *line;
	struct task t;
	size_t n;

	dash_duration(end - r->started, dur);
	buf_printf(out, "<title>task %" PRId64 ", attempt %d: %s,%s",
		   r->task, r->attempt, r->outcome, dur);
	if (store_task_get(p->store, r->task, &t) == 0) {
		line = dash_first_line(t.prompt, t.prompt_len, PROMPT_MAX, &n);
		buf_puts(out, "\n");
		dash_escape(out, line, n);
		task_release(&t);
	}
	buf_puts(out, "</title>");
}

static void bar(struct buf *out, struct pai *p, const struct chart *c,
		const struct task_run *r)
{
	bool running = !strcmp(r->outcome, "running");
	int64_t end = running || r->finished < r->started ? c->t1 :
		      r->finished;
	double x = x_of(c, r->started), w = x_of(c, end) - x;
	int y = TOP + (int)row_of(c, r->worker) * ROW + (ROW - BAR) / 2;

	if (w < 2)
		w = 2;
	if (c->task)
		buf_printf(out, "<a xlink:href=\"status\">");
	else
		buf_printf(out, "<a xlink:href=\"tasks/%" PRId64 "/status\">",
			   r->task);
	/* zero-padded: the same length whatever the clock says */
	buf_printf(out, "<svg x=\"%07.1f\" y=\"%d\" width=\"%07.1f\""
		   " height=\"%d\">", x, y, w, BAR);
	bar_title(out, p, r, end);
	buf_printf(out, "<rect width=\"100%%\" height=\"100%%\" rx=\"3\""
		   " fill=\"%s\" stroke=\"#000000\" stroke-opacity=\"0.25\"/>"
		   "<text x=\"4\" y=\"13\" fill=\"#ffffff\">%" PRId64
		   "</text></svg></a>\n",
		   dash_colour(r->outcome), r->task);
}

int dashboard_timeline(struct pai *p, int64_t task, struct buf *out)
{
	struct chart c = { .task = task };
	size_t i;
	int r, height;

	if ((r = store_runs(p->store, task, DASH_RUNS, &c.runs, &c.n)) < 0)
		return r;
	if ((r = chart_rows(&c, task ? 0 : sched_workers(p->sched))) < 0)
		goto out;
	chart_axis(&c, p);
	height = TOP + (int)(c.nrows ? c.nrows : 1) * ROW + AXIS + 4;
	head(out, &c, height);
	rows_and_axis(out, &c);
	/* oldest first, so the newest are drawn on top */
	for (i = c.n; i > 0; i--)
		bar(out, p, &c, &c.runs[i - 1]);
	if (!c.n)
		buf_printf(out, "<text x=\"%d\" y=\"%d\" fill=\"#666666\">"
			   "nothing has run yet</text>\n", LEFT + 10, TOP + 17);
	r = buf_puts(out, "</svg>\n");
out:
	free(c.runs);
	free(c.rows);
	return r;
}
