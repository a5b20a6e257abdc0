/*
 * approvals/server: STATE/policy.sock, where an engine asks before a
 * tool call. One request, one answer, one line of JSON each:
 *
 *	→ {"task": 7, "tool": "run", "input": {"command": "make test"}}
 *	← {"decision": "allow", "reason": "allowed by policy (policy.default)"}
 *
 * The socket is the owner's alone (0600, in the private state directory).
 * The answer may take as long as a person does; a caller that hangs up
 * meanwhile leaves its approval waiting, and nothing runs for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "pai.h"
#include "apint.h"

#define REQUEST_MAX (4 << 20)

struct conn {
	struct approvals *a;
	int fd;
};

static bool conn_gone(void *arg)
{
	struct pollfd pf = { .fd = *(int *)arg, .events = POLLRDHUP };

	return poll(&pf, 1, 0) > 0 &&
	       (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static int read_line(int fd, struct buf *b)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return b->len ? 0 : -EIO;
		if (buf_add(b, chunk, (size_t)n) < 0)
			return -EFBIG;
		if (memchr(chunk, '\n', (size_t)n))
			return 0;
	}
}

static void reply(int fd, bool allow, const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "decision", allow ? "allow" : "deny");
	cJSON_AddStringToObject(o, "reason", reason);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s) {
		size_t len = strlen(s), off = 0;

		s[len] = '\n';	/* over the NUL: one line */
		while (off <= len) {
			ssize_t w = write(fd, s + off, len + 1 - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		free(s);
	}
}

static void serve(struct approvals *a, int fd)
{
	struct buf line, reason;
	const cJSON *task, *tool, *input;
	cJSON *req = NULL;
	bool allow = false;
	int r;

	buf_init(&line, REQUEST_MAX);
	buf_init(&reason, 1 << 16);
	if (read_line(fd, &line) < 0 ||
	    !(req = cJSON_ParseWithLength(line.ptr, line.len))) {
		reply(fd, false, "denied: the request is not JSON");
		goto out;
	}
	task = cJSON_GetObjectItemCaseSensitive(req, "task");
	tool = cJSON_GetObjectItemCaseSensitive(req, "tool");
	input = cJSON_GetObjectItemCaseSensitive(req, "input");
	if (!cJSON_IsNumber(task) || !cJSON_IsString(tool)) {
		reply(fd, false, "denied: the request wants task and tool");
		goto out;
	}
	r = approvals_call(a, (int64_t)task->valuedouble, tool->valuestring,
			   input, conn_gone, &fd, &allow, &reason);
	if (r == -ECONNABORTED)
		goto out;	/* no decision: no answer */
	if (r < 0) {
		buf_truncate(&reason, 0);
		buf_printf(&reason, "denied: the policy failed: %s",
			   strerror(-r));
		allow = false;
	}
	reply(fd, allow, buf_cstr(&reason));
out:
	cJSON_Delete(req);
	buf_release(&line);
	buf_release(&reason);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct approvals *a = c->a;

	serve(a, c->fd);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&a->lock);
	if (--a->active == 0)
		pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void accept_one(struct approvals *a)
{
	struct conn *c;
	pthread_t th;
	pthread_attr_t at;
	int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	struct timeval tv = { .tv_sec = 10 };

	if (fd < 0)
		return;
	/* a request comes at once; only the answer may take long */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!(c = malloc(sizeof(*c)))) {
		close(fd);
		return;
	}
	c->a = a;
	c->fd = fd;
	pthread_mutex_lock(&a->lock);
	a->active++;
	pthread_mutex_unlock(&a->lock);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, conn_main, c)) {
		close(fd);
		free(c);
		pthread_mutex_lock(&a->lock);
		a->active--;
		pthread_mutex_unlock(&a->lock);
	}
	pthread_attr_destroy(&at);
}

static void *listen_main(void *arg)
{
	struct approvals *a = arg;

	for (;;) {
		struct pollfd pf[2] = { { a->listen_fd, POLLIN, 0 },
					{ a->stop_pipe[0], POLLIN, 0 } };

		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents)
			break;
		if (pf[0].revents & POLLIN)
			accept_one(a);
	}
	return NULL;
}

int ap_socket_path(struct approvals *a, char *err, size_t errlen)
{
	if ((size_t)snprintf(a->sock_path, sizeof(a->sock_path),
			     "%s/policy.sock", a->p->state_dir) >=
	    sizeof(a->sock_path)) {
		snprintf(err, errlen, "state directory '%s' is too long for"
			 " the policy's socket (%zu bytes at most):"
			 " choose a shorter one with -o state=DIR",
			 a->p->state_dir, sizeof(a->sock_path) - 13);
		a->sock_path[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

int ap_listen(struct approvals *a, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	memcpy(sa.sun_path, a->sock_path, sizeof(a->sock_path));
	unlink(a->sock_path);	/* the last daemon's */
	if ((a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	old = umask(0177);
	r = bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(a->sock_path, 0600) < 0 ||
	    listen(a->listen_fd, 64) < 0 ||
	    pipe2(a->stop_pipe, O_CLOEXEC) < 0)
		goto fail;
	pthread_cond_init(&a->idle, NULL);
	if (pthread_create(&a->listener, NULL, listen_main, a)) {
		errno = EAGAIN;
		goto fail;
	}
	a->listening = true;
	return 0;
fail:
	r = -errno;
	snprintf(err, errlen, "cannot listen on '%s': %s", a->sock_path,
		 strerror(errno));
	return r;
}

void ap_unlisten(struct approvals *a)
{
	if (a->listening) {
		if (write(a->stop_pipe[1], "x", 1) < 0)
			(void)0;
		pthread_join(a->listener, NULL);
		/* the connections end within a second of stopping */
		pthread_mutex_lock(&a->lock);
		while (a->active > 0)
			pthread_cond_wait(&a->idle, &a->lock);
		pthread_mutex_unlock(&a->lock);
		pthread_cond_destroy(&a->idle);
		a->listening = false;
	}
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	if (a->stop_pipe[0] > 0) {
		close(a->stop_pipe[0]);
		close(a->stop_pipe[1]);
	}
	if (a->sock_path[0])
		unlink(a->sock_path);
}
