/*
 * notify: events sent on to people, by a command or an HTTP POST, as the
 * [notify "NAME"] sections of the config say.
 *
 *	[notify "desk"]
 *		events = finished failed needs_input
 *		command = notify-send "parallelai" "$PAI_EVENT $PAI_TASK_ID"
 *	[notify "chat"]
 *		events = *
 *		url = https://hooks.example.com/T000/B000/XXXX
 *		format = slack
 *		header = Authorization: Bearer s3cret
 *
 * The event log (include/events.h) calls a hook with every event; the
 * hook only copies the ones some notifier wants into a bounded queue in
 * memory. One delivery thread moves them into the store's outbox (one
 * row per event and notifier), then delivers the rows due, one at a
 * time, with timeouts, retrying with backoff on 5xx, 408, 429, failed
 * connections, time-outs and commands that exit non-zero. A row leaves
 * the outbox when delivered or after its last retry, which is logged as
 * the event notify_failed naming the notifier (never its URL). The
 * outbox outlives the daemon: what was pending is delivered after a
 * remount. Every event carries an "id" of its own, the same for every
 * notifier and every retry, so a receiver can drop one it already has
 * (a crash between a POST and its record sends it again).
 *
 * The events a notifier may name (the daemon's own name in brackets
 * where it differs): created, started, finished (a run ended done),
 * failed, cancelled, blocked, retrying, needs_input, budget_reached (a
 * run stopped at its budget; also sent as failed), landed (merged),
 * pushed, rejected, plan_failed, breaker_open and notify_failed; "*" is
 * all of them but notify_failed.
 */
#ifndef PAI_NOTIFY_H
#define PAI_NOTIFY_H

#include <stddef.h>

struct config;
struct pai;
struct notify;

/* The [notify] sections make sense: every event name known, a command
 * or a url (not both). 0, or -EINVAL with the reason in err. */
int notify_check(const struct config *c, char *err, size_t errlen);
/* Start delivering: registers the hook with p->events and starts the
 * thread. *out stays NULL when no notifier is configured. */
int notify_start(struct notify **out, struct pai *p);
/* Stop: the hook is removed, what it took is written to the outbox, a
 * delivery under way is abandoned (sent again after the next mount). */
void notify_stop(struct notify *n);

#endif
