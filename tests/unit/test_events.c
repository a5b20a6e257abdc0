/*
 * Unit tests for the JSON Lines event log: every line parses back, the
 * fixed keys come first, and concurrent writers never tear a line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "events.h"

static char tmpdir[64];
static int logcount;

static void new_path(char *path, size_t len)
{
	snprintf(path, len, "%s/events-%d.jsonl", tmpdir, ++logcount);
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1))) {
		*len = fread(p, 1, (size_t)n, f);
		p[*len] = '\0';
	}
	fclose(f);
	return p;
}

/* Split into lines in place; returns the count, or -1 if the text does not
 * end with a newline (a torn last line). */
static int split_lines(char *text, char **lines, int max)
{
	int n = 0;
	char *nl;

	while (*text) {
		if (!(nl = strchr(text, '\n')))
			return -1;
		*nl = '\0';
		if (n < max)
			lines[n] = text;
		n++;
		text = nl + 1;
	}
	return n;
}

static int is_iso_time(const char *s)
{
	int y, mo, d, h, mi, sec, ms, used = 0;

	if (!s || strlen(s) != 24)
		return 0;
	return sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h,
		      &mi, &sec, &ms, &used) == 7 && used == 24 && y >= 2000 &&
	       mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 &&
	       mi < 60 && sec < 61 && ms < 1000;
}

static void test_lines_are_json_with_fixed_keys_first(void)
{
	char path[128], *text, *lines[8];
	struct events *ev = NULL;
	cJSON *f, *j, *item;
	size_t len;
	int n;

	new_path(path, sizeof(path));
	CHECK(events_open(&ev, path) == 0);
	if (!ev)
		return;
	CHECK_STR(events_path(ev), path);

	events_add(ev, "created", 7, NULL);
	f = cJSON_CreateObject();
	cJSON_AddNumberToObject(f, "exit", 1);
	cJSON_AddStringToObject(f, "commit", "abc\n\"quoted\" \xc3\xa9");
	events_add(ev, "finished", 7, f);
	events_add(ev, "mounted", 0, NULL);
	events_reason(ev, "cancelled", 8, "cancelled by user");
	events_close(ev);

	text = slurp(path, &len);
	CHECK(text != NULL);
	if (!text)
		return;
	n = split_lines(text, lines, 8);
	CHECK(n == 4);
	if (n != 4)
		goto out;

	j = cJSON_Parse(lines[0]);
	CHECK(j != NULL);
	item = j ? j->child : NULL;
	CHECK(item && !strcmp(item->string, "time") &&
	      is_iso_time(item->valuestring));
	item = item ? item->next : NULL;
	CHECK(item && !strcmp(item->string, "event") &&
	      !strcmp(item->valuestring, "created"));
	item = item ? item->next : NULL;
	CHECK(item && !strcmp(item->string, "task") && item->valuedouble == 7);
	CHECK(item && item->next == NULL);
	cJSON_Delete(j);

	j = cJSON_Parse(lines[1]);
	CHECK(j != NULL);
	CHECK(cJSON_GetArraySize(j) == 5);
	CHECK(cJSON_GetObjectItem(j, "exit") &&
	      cJSON_GetObjectItem(j, "exit")->valuedouble == 1);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "commit")),
		  "abc\n\"quoted\" \xc3\xa9");
	cJSON_Delete(j);

	/* task 0 means "no task": the key is left out. */
	j = cJSON_Parse(lines[2]);
	CHECK(j != NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "event")),
		  "mounted");
	CHECK(cJSON_GetObjectItem(j, "task") == NULL);
	CHECK(cJSON_GetArraySize(j) == 2);
	cJSON_Delete(j);

	j = cJSON_Parse(lines[3]);
	CHECK(j != NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "reason")),
		  "cancelled by user");
	CHECK(cJSON_GetObjectItem(j, "task") &&
	      cJSON_GetObjectItem(j, "task")->valuedouble == 8);
	cJSON_Delete(j);
out:
	free(text);
}

static void test_reopen_appends(void)
{
	char path[128], *text, *lines[4];
	struct events *ev = NULL;
	size_t len;

	new_path(path, sizeof(path));
	CHECK(events_open(&ev, path) == 0);
	events_add(ev, "one", 1, NULL);
	events_close(ev);
	ev = NULL;
	CHECK(events_open(&ev, path) == 0);
	events_add(ev, "two", 2, NULL);
	events_close(ev);

	text = slurp(path, &len);
	CHECK(text && split_lines(text, lines, 4) == 2);
	free(text);
}

static void test_open_failure_is_errno(void)
{
	char path[160], file[128];
	struct events *ev = (struct events *)&ev;
	FILE *f;

	snprintf(file, sizeof(file), "%s/not-a-dir", tmpdir);
	f = fopen(file, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/events.jsonl", file);
	CHECK(events_open(&ev, path) == -ENOTDIR);
	CHECK(ev == NULL);
	unlink(file);
}

static void test_write_failure_does_not_crash(void)
{
	struct events *ev = NULL;
	cJSON *f;

	/* /dev/full fails every write with ENOSPC, like a full disk. */
	if (access("/dev/full", W_OK) != 0)
		return;
	CHECK(events_open(&ev, "/dev/full") == 0);
	if (!ev)
		return;
	events_add(ev, "lost", 1, NULL);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "k", "v");
	events_add(ev, "lost", 2, f);
	events_reason(ev, "lost", 3, NULL);
	events_close(ev);
}

#define THREADS 8
#define PER_THREAD 100

static struct events *shared;

static void *log_many(void *arg)
{
	int t = (int)(intptr_t)arg, i;
	cJSON *f;

	for (i = 0; i < PER_THREAD; i++) {
		f = cJSON_CreateObject();
		cJSON_AddNumberToObject(f, "thread", t);
		cJSON_AddNumberToObject(f, "seq", i);
		/* Long enough that a torn write would show. */
		cJSON_AddStringToObject(f, "pad",
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		events_add(shared, "tick", t * PER_THREAD + i + 1, f);
	}
	return NULL;
}

static void test_threads_write_intact_lines(void)
{
	static char *lines[THREADS * PER_THREAD];
	static int seen[THREADS][PER_THREAD];
	char path[128], *text;
	pthread_t th[THREADS];
	size_t len;
	int n, i, k, intact = 1, all = 1;
	cJSON *j;

	new_path(path, sizeof(path));
	CHECK(events_open(&shared, path) == 0);
	if (!shared)
		return;
	for (k = 0; k < THREADS; k++)
		CHECK(pthread_create(&th[k], NULL, log_many,
				     (void *)(intptr_t)k) == 0);
	for (k = 0; k < THREADS; k++)
		pthread_join(th[k], NULL);
	events_close(shared);
	shared = NULL;

	text = slurp(path, &len);
	CHECK(text != NULL);
	if (!text)
		return;
	n = split_lines(text, lines, THREADS * PER_THREAD);
	CHECK(n == THREADS * PER_THREAD);
	for (i = 0; i < n && i < THREADS * PER_THREAD; i++) {
		cJSON *t, *s;

		j = cJSON_Parse(lines[i]);
		t = cJSON_GetObjectItem(j, "thread");
		s = cJSON_GetObjectItem(j, "seq");
		if (!j || !cJSON_IsNumber(t) || !cJSON_IsNumber(s) ||
		    t->valueint < 0 || t->valueint >= THREADS ||
		    s->valueint < 0 || s->valueint >= PER_THREAD)
			intact = 0;
		else
			seen[t->valueint][s->valueint]++;
		cJSON_Delete(j);
	}
	CHECK(intact);
	for (k = 0; k < THREADS; k++)
		for (i = 0; i < PER_THREAD; i++)
			if (seen[k][i] != 1)
				all = 0;
	CHECK(all);
	free(text);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pai-test-events-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	RUN(test_lines_are_json_with_fixed_keys_first);
	RUN(test_reopen_appends);
	RUN(test_open_failure_is_errno);
	RUN(test_write_failure_does_not_crash);
	RUN(test_threads_write_intact_lines);

	if (!check_failures) {
		char path[128];
		int i, made = logcount;

		logcount = 0;
		for (i = 0; i < made; i++) {
			new_path(path, sizeof(path));
			unlink(path);
		}
		rmdir(tmpdir);
	}
	return check_done();
}
