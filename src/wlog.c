/*
 * wlog: the log of a worker slot, task after task. See include/wlog.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wlog.h"

#define HDR_MAX 112	/* "--- task N: " + 72 bytes of prompt + " ---\n" */

struct seg {
	int64_t task;
	off_t at;		/* where the segment starts in the worker's log */
	off_t start;		/* where this run began in the task's log */
	off_t len;		/* task log bytes shown; grows while live */
	int64_t mtime;		/* the task log's last change, ms */
	int live;		/* the slot's current run: len follows its log */
	size_t hlen;
	char hdr[HDR_MAX];
};

struct slot {
	struct seg *v;
	size_t n, cap;
	off_t base;		/* where v[0] starts: bytes before it are gone */
	int readers;
	int64_t changed;	/* ms: the last segment began */
};

struct wlog {
	pthread_mutex_t lock;
	char *logs_dir;
	struct slot *slots;
	int n_slots;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wlog_new(struct wlog **out, const char *logs_dir)
{
	struct wlog *wl = calloc(1, sizeof(*wl));

	if (!wl || !(wl->logs_dir = strdup(logs_dir))) {
		free(wl);
		return -ENOMEM;
	}
	pthread_mutex_init(&wl->lock, NULL);
	*out = wl;
	return 0;
}

void wlog_free(struct wlog *wl)
{
	int k;

	if (!wl)
		return;
	for (k = 0; k < wl->n_slots; k++)
		free(wl->slots[k].v);
	free(wl->slots);
	free(wl->logs_dir);
	pthread_mutex_destroy(&wl->lock);
	free(wl);
}

/* Worker k's slot, made on first use (workers N can grow the pool).
 * Called with the lock; NULL for a bad k or out of memory. */
static struct slot *slot_of(struct wlog *wl, int k, int make)
{
	struct slot *v;

	if (k < 1 || k > 4096)
		return NULL;
	if (k <= wl->n_slots)
		return &wl->slots[k - 1];
	if (!make)
		return NULL;
	v = realloc(wl->slots, (size_t)k * sizeof(*v));
	if (!v)
		return NULL;
	memset(v + wl->n_slots, 0, (size_t)(k - wl->n_slots) * sizeof(*v));
	wl->slots = v;
	wl->n_slots = k;
	return &v[k - 1];
}

static void log_path(const struct wlog *wl, int64_t task, char *out,
		     size_t len)
{
	snprintf(out, len, "%s/%lld.log", wl->logs_dir, (long long)task);
}

/* Bring a live segment's length up to its log's; it never goes down, so
 * a log removed under a reader reads as newlines instead of shrinking. */
static void follow(const struct wlog *wl, struct seg *s)
{
	char path[PATH_MAX];
	struct stat st;

	if (!s->live)
		return;
	log_path(wl, s->task, path, sizeof(path));
	if (stat(path, &st) < 0)
		return;
	if (st.st_size - s->start > s->len)
		s->len = st.st_size - s->start;
	s->mtime = (int64_t)st.st_mtim.tv_sec * 1000 +
		   st.st_mtim.tv_nsec / 1000000;
}

static off_t seg_end(const struct seg *s)
{
	return s->at + (off_t)s->hlen + s->len;
}

/* "--- task 12: the prompt's first line ---": control bytes become
 * spaces, so the header is one line whatever the prompt holds. */
static size_t make_header(char *out, int64_t task, const char *prompt,
			  size_t prompt_len)
{
	char line[73];
	size_t i, n = 0;

	for (i = 0; i < prompt_len && prompt[i] != '\n' &&
		    n < sizeof(line) - 1; i++)
		line[n++] = (unsigned char)prompt[i] < 0x20 ||
			    prompt[i] == 0x7f ? ' ' : prompt[i];
	line[n] = '\0';
	return (size_t)snprintf(out, HDR_MAX, "--- task %lld: %s ---\n",
				(long long)task, line);
}

int wlog_begin(struct wlog *wl, int k, int64_t task, const char *prompt,
	       size_t prompt_len, off_t start)
{
	struct slot *sl;
	struct seg *s;
	off_t at;
	int ret = 0;

	pthread_mutex_lock(&wl->lock);
	sl = slot_of(wl, k, 1);
	if (!sl) {
		ret = -ENOMEM;
		goto out;
	}
	if (sl->n) {
		follow(wl, &sl->v[sl->n - 1]);
		sl->v[sl->n - 1].live = 0;
	}
	if (!sl->readers) {
		/* Nobody follows it: start afresh, which bounds it. */
		sl->n = 0;
		sl->base = 0;
	} else if (sl->n == WLOG_MAX_SEGS) {
		sl->base = sl->v[1].at;
		memmove(sl->v, sl->v + 1, (sl->n - 1) * sizeof(*sl->v));
		sl->n--;
	}
	at = sl->n ? seg_end(&sl->v[sl->n - 1]) : sl->base;
	if (sl->n == sl->cap) {
		size_t cap = sl->cap ? sl->cap * 2 : 4;
		struct seg *v = realloc(sl->v, cap * sizeof(*v));

		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		sl->v = v;
		sl->cap = cap;
	}
	s = &sl->v[sl->n++];
	memset(s, 0, sizeof(*s));
	s->task = task;
	s->at = at;
	s->start = start;
	s->live = 1;
	s->hlen = make_header(s->hdr, task, prompt, prompt_len);
	sl->changed = now_ms();
out:
	pthread_mutex_unlock(&wl->lock);
	return ret;
}

void wlog_hold(struct wlog *wl, int k)
{
	struct slot *sl;

	pthread_mutex_lock(&wl->lock);
	sl = slot_of(wl, k, 1);
	if (sl)
		sl->readers++;
	pthread_mutex_unlock(&wl->lock);
}

void wlog_drop(struct wlog *wl, int k)
{
	struct slot *sl;

	pthread_mutex_lock(&wl->lock);
	sl = slot_of(wl, k, 0);
	if (sl && sl->readers > 0)
		sl->readers--;
	pthread_mutex_unlock(&wl->lock);
}

void wlog_stat(struct wlog *wl, int k, off_t *size, int64_t *mtime_ms)
{
	struct slot *sl;
	struct seg *last;

	*size = 0;
	*mtime_ms = 0;
	pthread_mutex_lock(&wl->lock);
	sl = slot_of(wl, k, 0);
	if (sl && sl->n) {
		last = &sl->v[sl->n - 1];
		follow(wl, last);
		*size = seg_end(last);
		*mtime_ms = last->mtime > sl->changed ? last->mtime :
			    sl->changed;
	}
	pthread_mutex_unlock(&wl->lock);
}

/* Task log bytes [from, from + n) of segment s into out; what the file
 * no longer has reads as newlines. */
static ssize_t read_body(const struct wlog *wl, const struct seg *s,
			 char *out, size_t n, off_t from)
{
	char path[PATH_MAX];
	ssize_t got = 0;
	int fd;

	log_path(wl, s->task, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		got = pread(fd, out, n, s->start + from);
		close(fd);
		if (got < 0)
			return -errno;
	}
	memset(out + got, '\n', n - (size_t)got);
	return (ssize_t)n;
}

/* The segment holding offset off (the first one after it if none). */
static size_t seg_at(const struct slot *sl, off_t off)
{
	size_t lo = 0, hi = sl->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (seg_end(&sl->v[mid]) <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ssize_t wlog_read(struct wlog *wl, int k, char *out, size_t size, off_t off)
{
	struct slot *sl;
	size_t done = 0, i, n;
	ssize_t r = 0;

	pthread_mutex_lock(&wl->lock);
	sl = slot_of(wl, k, 0);
	if (!sl || !sl->n)
		goto out;
	follow(wl, &sl->v[sl->n - 1]);
	if (off < sl->base) {
		/* Forgotten past the bound: newlines keep the offsets. */
		n = (size_t)(sl->base - off) < size ?
		    (size_t)(sl->base - off) : size;
		memset(out, '\n', n);
		done = n;
	}
	for (i = seg_at(sl, off + (off_t)done); i < sl->n && done < size;
	     i++) {
		const struct seg *s = &sl->v[i];
		off_t pos = off + (off_t)done - s->at;

		if (pos < (off_t)s->hlen) {
			n = s->hlen - (size_t)pos;
			n = n < size - done ? n : size - done;
			memcpy(out + done, s->hdr + pos, n);
			done += n;
			pos += (off_t)n;
		}
		if (done == size || pos >= (off_t)s->hlen + s->len)
			continue;
		n = (size_t)((off_t)s->hlen + s->len - pos);
		n = n < size - done ? n : size - done;
		r = read_body(wl, s, out + done, n, pos - (off_t)s->hlen);
		if (r < 0)
			goto out;
		done += n;
	}
	r = (ssize_t)done;
out:
	pthread_mutex_unlock(&wl->lock);
	return r;
}
