/*
 * store/outbox: the notification outbox, the durable queue of
 * src/notify/: a row per event and notifier from the event until it is
 * delivered (or given up), so that a remount goes on where the last
 * daemon stopped.
 *
 *	$ sqlite3 .git/parallelai/state.db \
 *		'select event_id, sink, attempts from outbox'
 *	1733470000123.4|slack|2
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "storeint.h"

void outbox_row_release(struct outbox_row *r)
{
	free(r->event_id);
	free(r->sink);
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

int store_outbox_add(struct store *st, const char *event_id,
		     const char *const *sinks, size_t n, const char *payload)
{
	int64_t now = st_now_ms();
	size_t i, len = strlen(payload);
	int error;

	if (!n)
		return 0;
	if (len > INT32_MAX)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	/* One event for every notifier, or for none: one fsync. */
	if ((error = st_run(st, S_BEGIN, "")) < 0)
		goto out;
	for (i = 0; i < n && !error; i++)
		error = st_run(st, S_OUTBOX_ADD, "ssbI", event_id, sinks[i],
			       payload, len, now);
	if (!error)
		error = st_run(st, S_COMMIT, "");
	if (error)
		st_rollback(st);
out:
	pthread_mutex_unlock(&st->lock);
	return error;
}

int store_outbox_next(struct store *st, struct outbox_row *out)
{
	sqlite3_stmt *s = NULL;
	size_t len;
	int error, oom = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->lock);
	if ((error = st_row(st, S_OUTBOX_NEXT, &s, "")) < 0)
		goto out;
	out->id = sqlite3_column_int64(s, 0);
	out->event_id = st_column_strdup(s, 1, &oom);
	out->sink = st_column_strdup(s, 2, &oom);
	out->payload = st_column_blob(s, 3, &len, &oom);
	out->attempts = sqlite3_column_int(s, 4);
	out->not_before = sqlite3_column_int64(s, 5);
	st_stmt_done(s);
	if (oom || !out->event_id || !out->sink)
		error = -ENOMEM;
out:
	pthread_mutex_unlock(&st->lock);
	if (error)
		outbox_row_release(out);
	return error;
}

int store_outbox_retry(struct store *st, int64_t id, int attempts,
		       int64_t not_before)
{
	return st_write(st, S_OUTBOX_RETRY, "IiI", id, attempts, not_before);
}

int store_outbox_remove(struct store *st, int64_t id)
{
	return st_write(st, S_OUTBOX_REMOVE, "I", id);
}
