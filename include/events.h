/*
 * events: the append-only JSON Lines event log (state/events.jsonl), which
 * the mount shows as MNT/events.
 *
 *	events_add(ev, "created", 7, NULL);
 *	cJSON *f = cJSON_CreateObject();
 *	cJSON_AddNumberToObject(f, "exit", 1);
 *	events_add(ev, "finished", 7, f);	// takes f
 *
 * Each event is one line written with one write(2) on an O_APPEND file:
 * {"time":"2026-11-20T22:01:02.345Z","event":"finished","task":7,"exit":1}
 * "task" is left out when task is 0. Safe from any thread.
 */
#ifndef PAI_EVENTS_H
#define PAI_EVENTS_H

#include <stdint.h>
#include <cjson/cJSON.h>

struct events;

int events_open(struct events **out, const char *path);
void events_close(struct events *ev);
const char *events_path(const struct events *ev);
/* fields (may be NULL) is an object whose members are appended; it is freed. */
void events_add(struct events *ev, const char *event, int64_t task,
		cJSON *fields);
/*
 * A hook sees every event right after it is written, with the whole
 * object (time, event, task and the fields); it is called with the log's
 * lock held, in the order of the log, and must only take what it needs
 * and return (src/notify/ queues it). It must not call events_add. Set
 * it before the threads start; set NULL before what it points to goes.
 */
typedef void events_hook_fn(void *arg, const cJSON *event);
void events_set_hook(struct events *ev, events_hook_fn *fn, void *arg);
/* Shorthand for an event with one "reason" string. */
void events_reason(struct events *ev, const char *event, int64_t task,
		   const char *reason);

#endif
