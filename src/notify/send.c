/*
 * notify/send: one delivery of one message, by HTTP POST (libcurl) or by
 * a command (/bin/sh -c, the message on its stdin), bounded in time.
 *
 * The reasons returned go into notify_failed events and the daemon's
 * log, so they say what happened ("HTTP 503", "timed out", "exited with
 * status 2") and never the URL or a header: curl_easy_strerror's fixed
 * texts, not curl's error buffer, which can quote the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "notifyint.h"
#include "pai.h"

extern char **environ;

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* Called by curl at least once a second, even while it waits. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn,
		       curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return atomic_load((atomic_int *)ctx) ? 1 : 0;
}

static struct curl_slist *make_headers(const struct notify_def *d)
{
	struct curl_slist *h = NULL, *n;
	size_t i;

	if (!(h = curl_slist_append(NULL, "Content-Type: application/json")))
		return NULL;
	for (i = 0; i < d->n_headers; i++) {
		if (!(n = curl_slist_append(h, d->headers[i]))) {
			curl_slist_free_all(h);
			return NULL;
		}
		h = n;
	}
	return h;
}

static enum send_result http_status(long status, char *why, size_t len)
{
	if (status >= 200 && status < 300)
		return SEND_OK;
	snprintf(why, len, "HTTP %ld", status);
	/* the server's trouble, or ours for now: worth another try */
	if (status >= 500 || status == 408 || status == 429)
		return SEND_RETRY;
	return SEND_FAIL;
}

enum send_result notify_send_http(const struct notify_def *d,
				  const struct send_msg *m,
				  atomic_int *stop, char *why, size_t len)
{
	struct curl_slist *headers = NULL;
	enum send_result r = SEND_RETRY;
	long status = 0, connect = d->timeout < 5 ? d->timeout : 5;
	CURL *c;
	CURLcode rc;

	if (!(c = curl_easy_init()) || !(headers = make_headers(d))) {
		snprintf(why, len, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, d->url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, m->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
			 (curl_off_t)strlen(m->body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)d->timeout);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "parallelai/" PAI_VERSION);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, stop);
	rc = curl_easy_perform(c);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		r = SEND_STOPPED;
		snprintf(why, len, "stopped");
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, len, "timed out after %d s", d->timeout);
	} else if (rc != CURLE_OK) {
		snprintf(why, len, "%s", curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		r = http_status(status, why, len);
	}
out:
	curl_slist_free_all(headers);
	if (c)
		curl_easy_cleanup(c);
	return r;
}

/* environ without our PAI_* names, then those of the message. */
static char **command_env(const struct notify_def *d,
			  const struct send_msg *m)
{
	const char *names[] = { "PAI_EVENT=", "PAI_EVENT_ID=", "PAI_TASK_ID=",
				"PAI_TASK_STATE=", "PAI_NOTIFY=" };
	const char *values[] = { m->event, m->event_id, m->task, m->state,
				 d->name };
	size_t n = 0, k = 0, i, j;
	char **env;

	while (environ[n])
		n++;
	if (!(env = calloc(n + 6, sizeof(*env))))
		return NULL;
	for (i = 0; i < n; i++) {
		for (j = 0; j < 5; j++)
			if (!strncmp(environ[i], names[j], strlen(names[j])))
				break;
		if (j == 5)
			env[k++] = environ[i];
	}
	for (j = 0; j < 5; j++) {
		char *v;

		if (asprintf(&v, "%s%s", names[j], values[j]) < 0)
			goto oom;
		env[k++] = v;
	}
	return env;
oom:
	while (j-- > 0)
		free(env[--k]);
	free(env);
	return NULL;
}

static void env_free(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n])
		n++;
	/* ours are the last five */
	for (size_t i = n >= 5 ? n - 5 : 0; i < n; i++)
		free(env[i]);
	free(env);
}

/* The command in its own process group (so a time-out ends all of it),
 * stdin from a pipe, stdout to /dev/null, stderr the daemon's. */
static int spawn_command(const struct notify_def *d, char **env, int *in,
			 pid_t *pid)
{
	char *argv[] = { "/bin/sh", "-c", d->command, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[0]);
	if (rc) {
		close(p[1]);
		return -rc;
	}
	*in = p[1];
	return 0;
}

/* The message on the command's stdin; a command that does not read it
 * must not hold us up, hence a non-blocking write of what fits. */
static void feed(int fd, const char *body)
{
	size_t len = strlen(body), off = 0;
	ssize_t w;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (off < len) {
		w = write(fd, body + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
}

/* Wait for pid until it exits, the time-out passes or *stop. */
static enum send_result reap(pid_t pid, int timeout, atomic_int *stop,
			     char *why, size_t len)
{
	struct timespec tick = { 0, 20 * 1000000 };
	int64_t deadline = pai_now_ms() + (int64_t)timeout * 1000;
	int status;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(why, len, "cannot wait: %s", strerror(errno));
			return SEND_RETRY;
		}
		if (atomic_load(stop) || pai_now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			if (atomic_load(stop)) {
				snprintf(why, len, "stopped");
				return SEND_STOPPED;
			}
			snprintf(why, len, "timed out after %d s", timeout);
			return SEND_RETRY;
		}
		nanosleep(&tick, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return SEND_OK;
	if (WIFSIGNALED(status))
		snprintf(why, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, len, "exited with status %d",
			 WEXITSTATUS(status));
	return SEND_RETRY;
}

enum send_result notify_send_command(const struct notify_def *d,
				     const struct send_msg *m,
				     atomic_int *stop, char *why, size_t len)
{
	char **env = command_env(d, m);
	pid_t pid;
	int in, rc;

	if (!env) {
		snprintf(why, len, "out of memory");
		return SEND_RETRY;
	}
	rc = spawn_command(d, env, &in, &pid);
	env_free(env);
	if (rc < 0) {
		snprintf(why, len, "cannot run the command: %s", strerror(-rc));
		return SEND_RETRY;
	}
	feed(in, m->body);
	return reap(pid, d->timeout, stop, why, len);
}

/* "repo: task 7 failed: fix the parser (exited with status 1)" */
void notify_text(const cJSON *payload, const char *repo, char *out,
		 size_t len)
{
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(payload, "event");
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(payload, "task");
	const cJSON *plan = cJSON_GetObjectItemCaseSensitive(payload, "plan");
	const cJSON *title = cJSON_GetObjectItemCaseSensitive(payload, "title");
	const cJSON *asked = cJSON_GetObjectItemCaseSensitive(payload, "asked");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(payload,
							       "reason");
	const char *base = repo ? strrchr(repo, '/') : NULL;
	char what[64], *p;
	size_t n;

	snprintf(what, sizeof(what), "%s",
		 cJSON_IsString(ev) ? ev->valuestring : "event");
	for (p = what; *p; p++)
		if (*p == '_')
			*p = ' ';
	n = (size_t)snprintf(out, len, "%s:", base ? base + 1 : "parallelai");
	if (n < len && cJSON_IsNumber(task))
		n += (size_t)snprintf(out + n, len - n, " task %.0f",
				      task->valuedouble);
	else if (n < len && cJSON_IsNumber(plan))
		n += (size_t)snprintf(out + n, len - n, " plan %.0f",
				      plan->valuedouble);
	if (n < len)
		n += (size_t)snprintf(out + n, len - n, " %s", what);
	if (n < len && cJSON_IsString(title) && *title->valuestring)
		n += (size_t)snprintf(out + n, len - n, ": %s",
				      title->valuestring);
	if (n < len && cJSON_IsString(asked))
		n += (size_t)snprintf(out + n, len - n, " (asks: %s)",
				      asked->valuestring);
	else if (n < len && cJSON_IsString(reason))
		snprintf(out + n, len - n, " (%s)", reason->valuestring);
}
