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
/* Shorthand for an event with one "reason" string. */
void events_reason(struct events *ev, const char *event, int64_t task,
		   const char *reason);

#endif
