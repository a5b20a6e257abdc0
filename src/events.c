/*
 * events: the append-only JSON Lines event log; see include/events.h.
 *
 * Every event is serialised whole and written with one write(2) on an
 * O_APPEND descriptor, so a reader tailing MNT/events (or the file itself)
 * never sees half a line from us, even with many threads logging at once:
 *
 *	$ tail -n 2 .git/parallelai/events.jsonl
 *	{"time":"2026-11-20T22:01:00.120Z","event":"started","task":7,"worker":1}
 *	{"time":"2026-11-20T22:01:02.345Z","event":"finished","task":7,"exit":1}
 *
 * The log is a record, not the state (that is the store), so a failed
 * write is reported on stderr and otherwise ignored: a full disk must not
 * take the daemon down.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "events.h"
#include "redact.h"
#include "quote.h"

struct events {
	int fd;
	char *path;
	pthread_mutex_t lock;
	int failing;	/* a write failed and was reported; quiet until one works */
	events_hook_fn *hook;	/* with lock */
	void *hook_arg;
};

int events_open(struct events **out, const char *path)
{
	struct events *ev;
	int rc, error = 0;

	*out = NULL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->fd = -1;
	if (!(ev->path = strdup(path))) {
		error = -ENOMEM;
		goto out;
	}
	if ((rc = pthread_mutex_init(&ev->lock, NULL)) != 0) {
		error = -rc;
		goto out;
	}
	ev->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (ev->fd < 0) {
		error = -errno;
		pthread_mutex_destroy(&ev->lock);
		goto out;
	}
	*out = ev;
	ev = NULL;

out:
	if (ev) {
		free(ev->path);
		free(ev);
	}
	return error;
}

void events_close(struct events *ev)
{
	if (!ev)
		return;
	close(ev->fd);
	pthread_mutex_destroy(&ev->lock);
	free(ev->path);
	free(ev);
}

const char *events_path(const struct events *ev)
{
	return ev->path;
}

/* "2026-11-20T22:01:02.345Z" */
static void format_time(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03uZ", sec,
		 (unsigned)(ts.tv_nsec / 1000000) % 1000);
}

static int is_reserved(const char *key)
{
	return !strcmp(key, "time") || !strcmp(key, "event") ||
	       !strcmp(key, "task");
}

static void report(struct events *ev, const char *why)
{
	if (ev->failing)
		return;
	ev->failing = 1;
	fprintf(stderr, "parallelai: cannot write event log '%s': %s\n",
		ev->path, why);
}

/* Write a whole line at once; the lock must be held. */
static void write_line(struct events *ev, const char *line, size_t len)
{
	ssize_t n;

	do {
		n = write(ev->fd, line, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		report(ev, strerror(errno));
		return;
	}
	/* A short write on a regular file means the disk filled up mid-line;
	 * retrying the rest would only interleave it with other lines. */
	if ((size_t)n != len) {
		report(ev, "short write");
		return;
	}
	ev->failing = 0;
}

void events_add(struct events *ev, const char *event, int64_t task,
		cJSON *fields)
{
	cJSON *obj = NULL, *item;
	char when[64], *text = NULL, *line = NULL;
	struct buf b;
	size_t len;

	if (!ev || !event)
		goto out;

	format_time(when, sizeof(when));
	if (!(obj = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(obj, "time", when) ||
	    !cJSON_AddStringToObject(obj, "event", event))
		goto oom;
	/* Ids are far below 2^53, so a JSON number (a double) is exact. */
	if (task && !cJSON_AddNumberToObject(obj, "task", (double)task))
		goto oom;

	/* Move the caller's members over rather than copy them; members
	 * without a name (fields was not an object) or that would repeat
	 * our own keys are dropped. */
	while (fields && (item = fields->child)) {
		cJSON_DetachItemViaPointer(fields, item);
		if (!item->string || is_reserved(item->string)) {
			cJSON_Delete(item);
			continue;
		}
		if (!cJSON_AddItemToObject(obj, item->string, item)) {
			cJSON_Delete(item);
			goto oom;
		}
	}

	if (!(text = cJSON_PrintUnformatted(obj)))
		goto oom;
	/* cJSON's buffer belongs to its allocator hooks; copied, the
	 * secrets the daemon knows redacted, with room for the newline. */
	buf_init(&b, BUF_NOMAX);
	if (redact_text(redact_global(), text, strlen(text), &b) < 0 ||
	    buf_add(&b, "\n", 1) < 0) {
		buf_release(&b);
		goto oom;
	}
	len = b.len;
	line = buf_detach(&b);

	pthread_mutex_lock(&ev->lock);
	write_line(ev, line, len);
	if (ev->hook)
		ev->hook(ev->hook_arg, obj);
	pthread_mutex_unlock(&ev->lock);
	goto out;

oom:
	pthread_mutex_lock(&ev->lock);
	report(ev, "out of memory");
	pthread_mutex_unlock(&ev->lock);
out:
	free(line);
	cJSON_free(text);
	cJSON_Delete(obj);
	cJSON_Delete(fields);
}

void events_set_hook(struct events *ev, events_hook_fn *fn, void *arg)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->hook = fn;
	ev->hook_arg = arg;
	pthread_mutex_unlock(&ev->lock);
}

void events_reason(struct events *ev, const char *event, int64_t task,
		   const char *reason)
{
	cJSON *f = NULL;

	if (reason) {
		f = cJSON_CreateObject();
		if (f && !cJSON_AddStringToObject(f, "reason", reason)) {
			cJSON_Delete(f);
			f = NULL;
		}
	}
	/* A refusal also goes to the daemon's log: the events file may be
	 * what could not be written. The reason quotes what was written,
	 * whose newlines must not make lines of their own there. */
	if (!strcmp(event, "refused") && reason) {
		char line[4096];

		quote_text(line, sizeof(line), reason);
		fprintf(stderr, "parallelai: refused: %s\n", line);
	}
	events_add(ev, event, task, f);
}
