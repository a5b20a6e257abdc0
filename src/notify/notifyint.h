/*
 * notifyint: what the files of src/notify/ share. notify.c has the hook,
 * the queue, the thread and the outbox; send.c delivers one message.
 */
#ifndef PAI_NOTIFYINT_H
#define PAI_NOTIFYINT_H

#include <stdatomic.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"

/* What one delivery came to. */
enum send_result {
	SEND_OK,	/* delivered */
	SEND_RETRY,	/* try again later: 5xx, time-out, no connection */
	SEND_FAIL,	/* no use trying again: 4xx, a refused request */
	SEND_STOPPED,	/* the daemon is stopping: left for the next mount */
};

/* The message of a delivery: the payload's text, and what a command's
 * environment says. */
struct send_msg {
	const char *body;	/* what is POSTed or written to stdin */
	const char *event;	/* PAI_EVENT */
	const char *event_id;	/* PAI_EVENT_ID */
	const char *task;	/* PAI_TASK_ID, "" when none */
	const char *state;	/* PAI_TASK_STATE, "" when none */
};

/* send.c: why is a short reason, naming no URL or header. A true *stop
 * cuts the delivery short (SEND_STOPPED). */
enum send_result notify_send_http(const struct notify_def *d,
				  const struct send_msg *m,
				  atomic_int *stop, char *why, size_t len);
enum send_result notify_send_command(const struct notify_def *d,
				     const struct send_msg *m,
				     atomic_int *stop, char *why, size_t len);
/* The one-line text of format=slack for a payload, in out. */
void notify_text(const cJSON *payload, const char *repo, char *out,
		 size_t len);

#endif
