/*
 * agent/ask: before a tool runs, the daemon's policy is asked over the
 * socket in PAI_POLICY_SOCKET (include/approvals.h), for the task in
 * PAI_TASK_ID. Outside a mount (no socket named) every call runs.
 *
 * The answer may take as long as a person takes. A daemon that goes
 * away meanwhile is asked again once it is back: nothing runs without a
 * decision.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define ANSWER_MAX (1 << 20)

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One question, one answer: 1 allowed, 0 denied, < 0 no answer. */
static int ask_once(const char *path, const char *req, struct buf *reason)
{
	struct buf ans;
	char chunk[4096];
	cJSON *o = NULL;
	const cJSON *d, *why;
	int fd, r = -EIO;

	if ((fd = connect_to(path)) < 0)
		return fd;
	buf_init(&ans, ANSWER_MAX);
	if (send_all(fd, req, strlen(req)) < 0)
		goto out;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || buf_add(&ans, chunk, (size_t)n) < 0)
			break;
	}
	if (!ans.len || !(o = cJSON_ParseWithLength(ans.ptr, ans.len)))
		goto out;
	d = cJSON_GetObjectItemCaseSensitive(o, "decision");
	why = cJSON_GetObjectItemCaseSensitive(o, "reason");
	if (!cJSON_IsString(d))
		goto out;
	buf_truncate(reason, 0);
	buf_puts(reason, cJSON_IsString(why) ? why->valuestring : "");
	r = !strcmp(d->valuestring, "allow");
out:
	cJSON_Delete(o);
	buf_release(&ans);
	close(fd);
	return r;
}

int agent_ask(const char *tool, const cJSON *input, struct buf *reason)
{
	const char *path = getenv("PAI_POLICY_SOCKET");
	const char *task = getenv("PAI_TASK_ID");
	cJSON *req;
	char *line, *nl;
	int r;

	if (!path || !*path || !task || !*task)
		return 1;
	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "task", atof(task));
	cJSON_AddStringToObject(req, "tool", tool);
	cJSON_AddItemToObject(req, "input", input ?
			      cJSON_Duplicate(input, 1) : cJSON_CreateObject());
	line = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!line || !(nl = realloc(line, strlen(line) + 2))) {
		free(line);
		buf_puts(reason, "denied: out of memory asking the policy");
		return 0;
	}
	line = nl;
	strcat(line, "\n");
	/* The daemon restarting: ask the next one. */
	while ((r = ask_once(path, line, reason)) < 0) {
		struct timespec ts = { 1, 0 };

		nanosleep(&ts, NULL);
	}
	free(line);
	return r;
}
