/*
 * notify: the hook on the event log, the queue in memory, the delivery
 * thread and the outbox in the store; see include/notify.h.
 *
 * The hook runs on whatever thread logged the event, with the log's lock
 * held: it names the event as people know it, and copies it into the
 * queue when a notifier wants it. Everything slow (the store, the task's
 * title, HTTP, commands) happens on the delivery thread:
 *
 *	events_add ─► hook: queue (bounded) ─► thread: outbox rows (fsync)
 *	  ─► the row due first ─► POST or command ─► row removed
 *	                                       └► retry later, or notify_failed
 *
 * An event is in memory only between the hook and the outbox, a few
 * milliseconds; from then on a kill -9 does not lose it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "events.h"
#include "notify.h"
#include "notifyint.h"
#include "pai.h"
#include "store.h"

#define QUEUE_MAX 1024
#define TITLE_MAX 120
#define BACKOFF_MAX_MS (60 * 1000)

/* The events a notifier may name, in the bit order of its mask. */
static const char *const names[] = {
	"created", "started", "finished", "failed", "cancelled", "blocked",
	"retrying", "needs_input", "budget_reached", "landed", "pushed",
	"rejected", "plan_failed", "breaker_open", "notify_failed",
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))
#define ALL_BUT_FAILED ((1u << (N_NAMES - 1)) - 1)	/* "*" */

struct item {
	const char *name;	/* one of names[] */
	cJSON *event;		/* the logged object, ours */
};

struct notify {
	struct pai *p;
	unsigned *masks;	/* per [notify] section, cfg.notify's order */
	unsigned wanted;	/* all masks or'ed */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct item queue[QUEUE_MAX];	/* with lock */
	size_t queued;
	unsigned long dropped;
	atomic_int stop;
	int64_t started;	/* the first part of event ids */
	unsigned long seq;	/* the second */
};

static int name_index(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < N_NAMES; i++)
		if (strlen(names[i]) == len && !strncmp(names[i], name, len))
			return (int)i;
	return -1;
}

/* "finished failed" -> a mask; -EINVAL with the word that is not one. */
static int parse_events(const char *list, unsigned *mask, char *bad,
			size_t badlen)
{
	const char *p = list;
	size_t n;
	int i;

	*mask = 0;
	while (p && *p) {
		p += strspn(p, " \t,");
		if (!(n = strcspn(p, " \t,")))
			break;
		if (n == 1 && *p == '*') {
			*mask |= ALL_BUT_FAILED;
		} else if ((i = name_index(p, n)) < 0) {
			snprintf(bad, badlen, "%.*s", (int)(n < 64 ? n : 64), p);
			return -EINVAL;
		} else {
			*mask |= 1u << i;
		}
		p += n;
	}
	return 0;
}

int notify_check(const struct config *c, char *err, size_t errlen)
{
	char bad[80];
	unsigned mask;
	size_t i;

	for (i = 0; i < c->n_notify; i++) {
		const struct notify_def *d = &c->notify[i];

		if (!d->command == !d->url) {
			snprintf(err, errlen, "config notify.%s: needs a command"
				 " or a url (one of them)", d->name);
			return -EINVAL;
		}
		if (parse_events(d->events, &mask, bad, sizeof(bad)) < 0) {
			snprintf(err, errlen, "config notify.%s.events: unknown"
				 " event '%s'", d->name, bad);
			return -EINVAL;
		}
		if (!mask) {
			snprintf(err, errlen, "config notify.%s.events: none"
				 " given (a list of events, or *)", d->name);
			return -EINVAL;
		}
	}
	return 0;
}

static const char *field(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The daemon's event as people name it: up to two names. */
static size_t user_names(const cJSON *ev, const char *out[2])
{
	static const char *const same[] = {
		"created", "started", "cancelled", "blocked", "retrying",
		"needs_input", "budget_reached", "pushed", "rejected",
		"plan_failed", "breaker_open", "notify_failed",
	};
	const char *e = field(ev, "event"), *st, *why;
	size_t i;

	if (!e)
		return 0;
	if (!strcmp(e, "finished")) {
		st = field(ev, "state");
		why = field(ev, "reason");
		/* a cancelled run also logs "cancelled", which is the one */
		if (!st || !strcmp(st, "cancelled"))
			return 0;
		out[0] = strcmp(st, "done") ? "failed" : "finished";
		if (!strcmp(out[0], "failed") && why && strstr(why, "budget limit reached"))
			return (out[1] = "budget_reached"), 2;
		return 1;
	}
	if (!strcmp(e, "merged"))
		return (out[0] = "landed"), 1;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (!strcmp(e, same[i]))
			return (out[0] = same[i]), 1;
	return 0;
}

/* The events hook: copy what is wanted, never wait. */
static void on_event(void *arg, const cJSON *ev)
{
	struct notify *n = arg;
	const char *got[2];
	size_t k = user_names(ev, got), i;
	cJSON *copy;

	for (i = 0; i < k; i++) {
		if (!(n->wanted & (1u << name_index(got[i], strlen(got[i])))))
			continue;
		pthread_mutex_lock(&n->lock);
		if (n->queued == QUEUE_MAX || !(copy = cJSON_Duplicate(ev, 1))) {
			/* said once per burst: the log itself is busy enough */
			if (!n->dropped++)
				fprintf(stderr, "parallelai: notify: queue full;"
					" dropping '%s' events\n", got[i]);
		} else {
			n->queue[n->queued].name = got[i];
			n->queue[n->queued++].event = copy;
			n->dropped = 0;
			pthread_cond_signal(&n->wake);
		}
		pthread_mutex_unlock(&n->lock);
	}
}

/* key = v, over any key of that name the event had: one of each. */
static void put_string(cJSON *o, const char *key, const char *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	cJSON_AddStringToObject(o, key, v);
}

/* The task's state and the first line of its prompt, when not given. */
static void add_task_fields(struct notify *n, cJSON *o, int64_t id)
{
	struct task t;
	char title[TITLE_MAX + 1];
	size_t len;

	if (store_task_get(n->p->store, id, &t) < 0)
		return;
	if (!cJSON_GetObjectItemCaseSensitive(o, "state"))
		cJSON_AddStringToObject(o, "state", task_state_name(t.state));
	len = strcspn(t.prompt, "\n");
	snprintf(title, sizeof(title), "%.*s", (int)(len < TITLE_MAX ? len :
						      TITLE_MAX), t.prompt);
	put_string(o, "title", title);
	task_release(&t);
}

/* One event into the outbox, a row per notifier that wants it. */
static void persist(struct notify *n, struct item *it)
{
	const struct config *c = &n->p->cfg;
	const char **sinks = calloc(c->n_notify, sizeof(*sinks));
	const char *from = field(it->event, "notify");
	cJSON *task = cJSON_GetObjectItemCaseSensitive(it->event, "task");
	unsigned bit = 1u << name_index(it->name, strlen(it->name));
	char id[64], *text = NULL;
	size_t i, k = 0;
	int rc;

	snprintf(id, sizeof(id), "%lld.%lu", (long long)n->started, ++n->seq);
	put_string(it->event, "event", it->name);
	put_string(it->event, "id", id);
	put_string(it->event, "repo", n->p->repo);
	if (cJSON_IsNumber(task))
		add_task_fields(n, it->event, (int64_t)task->valuedouble);
	if (!sinks || !(text = cJSON_PrintUnformatted(it->event)))
		goto oom;
	for (i = 0; i < c->n_notify; i++)
		/* a notifier's own failures are not sent to it: no loop */
		if ((n->masks[i] & bit) &&
		    !(from && !strcmp(from, c->notify[i].name)))
			sinks[k++] = c->notify[i].name;
	if ((rc = store_outbox_add(n->p->store, id, sinks, k, text)) < 0)
		fprintf(stderr, "parallelai: notify: cannot queue event %s:"
			" %s\n", id, strerror(-rc));
	goto out;
oom:
	fprintf(stderr, "parallelai: notify: out of memory; event %s lost\n",
		id);
out:
	cJSON_free(text);
	free(sinks);
}

static const struct notify_def *sink_def(struct notify *n, const char *name)
{
	size_t i;

	for (i = 0; i < n->p->cfg.n_notify; i++)
		if (!strcmp(n->p->cfg.notify[i].name, name))
			return &n->p->cfg.notify[i];
	return NULL;
}

/* 1 s, 2 s, 4 s ... a minute at most. */
static int64_t backoff_ms(int attempts)
{
	int64_t d = 1000;

	while (--attempts > 0 && d < BACKOFF_MAX_MS)
		d *= 2;
	return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

static void gave_up(struct notify *n, const struct outbox_row *r,
		    const cJSON *payload, const char *why)
{
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(payload, "task");
	cJSON *f = cJSON_CreateObject();

	fprintf(stderr, "parallelai: notify '%s': event %s not delivered"
		" after %d attempt%s: %s\n", r->sink, r->event_id,
		r->attempts + 1, r->attempts ? "s" : "", why);
	cJSON_AddStringToObject(f, "notify", r->sink);
	cJSON_AddStringToObject(f, "for_id", r->event_id);
	if (field(payload, "event"))
		cJSON_AddStringToObject(f, "for", field(payload, "event"));
	cJSON_AddNumberToObject(f, "attempts", r->attempts + 1);
	cJSON_AddStringToObject(f, "reason", why);
	events_add(n->p->events, "notify_failed", cJSON_IsNumber(task) ?
		   (int64_t)task->valuedouble : 0, f);
}

/* The body as the notifier's format has it; NULL when out of memory. */
static char *body_of(struct notify *n, const struct notify_def *d,
		     const cJSON *payload)
{
	char text[1024];
	cJSON *o;
	char *s;

	if (d->format == NOTIFY_JSON)
		return cJSON_PrintUnformatted(payload);
	notify_text(payload, n->p->repo, text, sizeof(text));
	if (!(o = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(o, "text", text)) {
		cJSON_Delete(o);
		return NULL;
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static enum send_result send_row(struct notify *n, const struct notify_def *d,
				 const struct outbox_row *r,
				 const cJSON *payload, char *why, size_t len)
{
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(payload, "task");
	char tid[32] = "", *body = body_of(n, d, payload);
	struct send_msg m = { body, field(payload, "event"), r->event_id, tid,
			      field(payload, "state") };
	enum send_result res;

	if (!body) {
		snprintf(why, len, "out of memory");
		return SEND_RETRY;
	}
	if (cJSON_IsNumber(task))
		snprintf(tid, sizeof(tid), "%.0f", task->valuedouble);
	if (!m.event)
		m.event = "";
	if (!m.state)
		m.state = "";
	res = d->url ? notify_send_http(d, &m, &n->stop, why, len) :
		       notify_send_command(d, &m, &n->stop, why, len);
	cJSON_free(body);
	return res;
}

/* Deliver one row that is due, and record what came of it. */
static void deliver(struct notify *n, struct outbox_row *r)
{
	const struct notify_def *d = sink_def(n, r->sink);
	cJSON *payload = cJSON_Parse(r->payload);
	enum send_result res = SEND_FAIL;
	char why[256] = "not configured any more";
	int rc = 0;

	if (d && payload)
		res = send_row(n, d, r, payload, why, sizeof(why));
	else if (!payload)
		snprintf(why, sizeof(why), "unreadable payload");
	if (res == SEND_STOPPED)
		goto out;
	if (res == SEND_RETRY && d && r->attempts < d->retries)
		rc = store_outbox_retry(n->p->store, r->id, r->attempts + 1,
					pai_now_ms() +
					backoff_ms(r->attempts + 1));
	else
		/* delivered, or given up: gone at once, so that a crash
		 * after this sends it no second time */
		rc = store_outbox_remove(n->p->store, r->id);
	if (res != SEND_OK && !(res == SEND_RETRY && d &&
				r->attempts < d->retries))
		gave_up(n, r, payload, why);
	if (rc < 0)
		fprintf(stderr, "parallelai: notify: cannot record delivery of"
			" event %s: %s\n", r->event_id, strerror(-rc));
out:
	cJSON_Delete(payload);
}

/* Move what the hook took into the outbox; false when there was none. */
static bool drain(struct notify *n)
{
	struct item *batch;
	size_t k, i;

	pthread_mutex_lock(&n->lock);
	k = n->queued;
	batch = k ? malloc(k * sizeof(*batch)) : NULL;
	if (batch) {
		memcpy(batch, n->queue, k * sizeof(*batch));
		n->queued = 0;
	}
	pthread_mutex_unlock(&n->lock);
	if (!batch)
		return false;
	for (i = 0; i < k; i++) {
		persist(n, &batch[i]);
		cJSON_Delete(batch[i].event);
	}
	free(batch);
	return true;
}

/* Sleep until due (ms since the epoch, 0: until woken). */
static void sleep_until(struct notify *n, int64_t due)
{
	struct timespec ts;

	pthread_mutex_lock(&n->lock);
	if (!n->queued && !atomic_load(&n->stop)) {
		if (due) {
			ts.tv_sec = (time_t)(due / 1000);
			ts.tv_nsec = (long)(due % 1000) * 1000000;
			pthread_cond_timedwait(&n->wake, &n->lock, &ts);
		} else {
			pthread_cond_wait(&n->wake, &n->lock);
		}
	}
	pthread_mutex_unlock(&n->lock);
}

static void *deliver_loop(void *arg)
{
	struct notify *n = arg;
	struct outbox_row r;
	int rc;

	for (;;) {
		drain(n);
		if (atomic_load(&n->stop))
			break;
		rc = store_outbox_next(n->p->store, &r);
		if (rc == 0 && r.not_before <= pai_now_ms()) {
			deliver(n, &r);
			outbox_row_release(&r);
			continue;
		}
		/* nothing due: until the next row is, or an event comes;
		 * after an error, try again in a second */
		sleep_until(n, rc == 0 ? r.not_before : rc == -ENOENT ? 0 :
			    pai_now_ms() + 1000);
		if (rc == 0)
			outbox_row_release(&r);
	}
	return NULL;
}

static void notify_free(struct notify *n)
{
	size_t i;

	for (i = 0; i < n->queued; i++)
		cJSON_Delete(n->queue[i].event);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n->masks);
	free(n);
}

int notify_start(struct notify **out, struct pai *p)
{
	struct notify *n;
	char bad[80];
	size_t i;
	int rc;

	*out = NULL;
	if (!p->cfg.n_notify)
		return 0;
	if (!(n = calloc(1, sizeof(*n))) ||
	    !(n->masks = calloc(p->cfg.n_notify, sizeof(*n->masks)))) {
		free(n);
		return -ENOMEM;
	}
	n->p = p;
	n->started = pai_now_ms();
	for (i = 0; i < p->cfg.n_notify; i++) {
		/* checked before the mount (notify_check) */
		parse_events(p->cfg.notify[i].events, &n->masks[i], bad,
			     sizeof(bad));
		n->wanted |= n->masks[i];
	}
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		notify_free(n);
		return -ENOMEM;
	}
	if ((rc = pthread_create(&n->thread, NULL, deliver_loop, n)) != 0) {
		curl_global_cleanup();
		notify_free(n);
		return -rc;
	}
	events_set_hook(p->events, on_event, n);
	*out = n;
	return 0;
}

void notify_stop(struct notify *n)
{
	if (!n)
		return;
	events_set_hook(n->p->events, NULL, NULL);
	pthread_mutex_lock(&n->lock);
	atomic_store(&n->stop, 1);
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	/* what came after the thread's last look */
	drain(n);
	curl_global_cleanup();
	notify_free(n);
}
