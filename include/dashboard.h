/*
 * dashboard: the run at a glance, for a browser: index.html (workers and
 * what each runs, tasks by state with their prompts' first lines,
 * durations, tokens and cost, conflicts and the merge order, the last
 * events) and timeline.svg (a Gantt chart of the attempts, one row per
 * worker, coloured by outcome, the running ones reaching to now).
 *
 *	$ xdg-open /mnt/pai/index.html		# refreshes itself every 5 s
 *	$ rsvg-convert /mnt/pai/timeline.svg > run.png
 *
 * Self-contained: no script, font or network; everything from prompts and
 * events is escaped. Bounded: the page shows the DASH_TASKS tasks changed
 * last (and counts for all), the timeline the DASH_RUNS newest attempts,
 * whatever the store holds. The length of what is rendered depends on
 * the store alone, not on the clock: what moves with time (durations of
 * running tasks, the time axis) is written in fixed widths, so the size
 * a stat reports is the size a read that follows gets.
 */
#ifndef PAI_DASHBOARD_H
#define PAI_DASHBOARD_H

#include <stdint.h>

struct buf;
struct pai;

#define DASH_TASKS 200
#define DASH_RUNS 400
#define DASH_EVENTS 30
#define DASH_REFRESH 5	/* seconds between the page's reloads */

/* index.html */
int dashboard_html(struct pai *p, struct buf *out);
/* timeline.svg (task 0), or tasks/N/timeline.svg: task N's attempts. */
int dashboard_timeline(struct pai *p, int64_t task, struct buf *out);

#endif
