/*
 * metrics: the text of MNT/metrics, the daemon's numbers in the Prometheus
 * text exposition format (version 0.0.4), for anything that can read a
 * file: node_exporter's textfile collector, a cron job, a person.
 *
 *	$ cat /mnt/pai/metrics
 *	# HELP parallelai_tasks Tasks in each state.
 *	# TYPE parallelai_tasks gauge
 *	parallelai_tasks{state="queued"} 0
 *	parallelai_tasks{state="running"} 2
 *	...
 *
 * Rendered fresh from the store and the scheduler on every open, like
 * status. Counters are read from the store, so a remount carries them on.
 * Nothing here knows about FUSE.
 */
#ifndef PAI_METRICS_H
#define PAI_METRICS_H

struct buf;
struct pai;

/* 0, or a negative errno (-EIO from the store, -ENOMEM). */
int metrics_render(struct pai *p, struct buf *out);

/* Append value as the format quotes a label value, with backslash,
 * double quote and newline escaped; exposed for the unit tests. */
int metrics_label_value(struct buf *out, const char *value);

#endif
