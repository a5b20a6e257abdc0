/*
 * runner/slurmcmd: the SLURM client commands, run with a timeout, and the
 * poller. The client commands are shelled out to (the libslurm API
 * changes between versions); with the controller down they block about
 * 9 s and then fail, so none runs on a thread that must not block. The
 * poller is one thread for all jobs: a squeue of the tracked jobs a
 * second, their state and node kept in a table the backend reads without
 * blocking; its failure marks the controller down (runner_health), its
 * next success up again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runnerint.h"
#include "slurmint.h"

extern char **environ;

/* ---- one command -------------------------------------------------------- */

static int spawn_client(pid_t *pid, int out_w, char *const argv[],
			char *const envp[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_w, 1);
	posix_spawn_file_actions_adddup2(&fa, out_w, 2);
	e = posix_spawnp(pid, argv[0], &fa, &at, argv,
			 envp ? envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return -e;
}

int slurm_client(char *const argv[], char *const envp[], int timeout_ms,
		 char *out, size_t outlen)
{
	int64_t end = runner_now_ms() + timeout_ms;
	int fd[2], st = 0, r, timed_out = 0;
	size_t len = 0;
	pid_t pid;

	if (outlen)
		out[0] = '\0';
	if (pipe2(fd, O_CLOEXEC) < 0)
		return -errno;
	r = spawn_client(&pid, fd[1], argv, envp);
	close(fd[1]);
	if (r < 0) {
		close(fd[0]);
		return r;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd[0], .events = POLLIN };
		int64_t left = end - runner_now_ms();
		char buf[4096];
		ssize_t n;

		if (left <= 0) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (outlen && len < outlen - 1) {
			size_t k = (size_t)n < outlen - 1 - len ?
				   (size_t)n : outlen - 1 - len;

			memcpy(out + len, buf, k);
			len += k;
			out[len] = '\0';
		}
	}
	close(fd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return -ETIMEDOUT;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct async {
	char **cmd[2];
};

static char **copy_words(const char *const w[])
{
	size_t n = 0, i;
	char **v;

	while (w && w[n])
		n++;
	if (!n || !(v = calloc(n + 1, sizeof(*v))))
		return NULL;
	for (i = 0; i < n; i++)
		if (!(v[i] = strdup(w[i])))
			break;
	return v;
}

static void free_words(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void *async_main(void *arg)
{
	struct async *a = arg;
	char out[1024];

	for (int i = 0; i < 2; i++) {
		if (a->cmd[i] && slurm_client(a->cmd[i], NULL, SLURM_CMD_MS,
					      out, sizeof(out)) != 0 &&
		    slurm_unreachable(out))
			slurm_set_down(out);
		free_words(a->cmd[i]);
	}
	free(a);
	return NULL;
}

void slurm_client_async(const char *const a[], const char *const b[])
{
	struct async *as = calloc(1, sizeof(*as));
	pthread_attr_t at;
	pthread_t th;

	if (!as)
		return;
	as->cmd[0] = copy_words(a);
	as->cmd[1] = copy_words(b);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, async_main, as) != 0) {
		free_words(as->cmd[0]);
		free_words(as->cmd[1]);
		free(as);
	}
	pthread_attr_destroy(&at);
}

int slurm_unreachable(const char *out)
{
	return strstr(out, "Unable to contact slurm controller") ||
	       strstr(out, "Socket timed out") ||
	       strstr(out, "Zero Bytes were transmitted");
}

void slurm_last_line(const char *out, char *line, size_t len)
{
	const char *p = out, *best = out, *nl;
	size_t n = strlen(out);

	while (*p) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		if (nl > p)
			best = p;
		p = *nl ? nl + 1 : nl;
	}
	n = strcspn(best, "\n");
	snprintf(line, len, "%.*s", (int)n, best);
}

/* ---- the poller --------------------------------------------------------- */

struct entry {
	long job;
	char state[24];
	char node[64];
	int seen;	/* a squeue that knew of it (or its absence) ran */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int running;
	struct entry *v;
	size_t n, cap;
	int down;
	char msg[256];
} poller = { .lock = PTHREAD_MUTEX_INITIALIZER,
	     .cond = PTHREAD_COND_INITIALIZER };

static struct entry *find(long job)
{
	for (size_t i = 0; i < poller.n; i++)
		if (poller.v[i].job == job)
			return &poller.v[i];
	return NULL;
}

/* "squeue -h -t all -o %i|%T|%N -j 1,2,3": the jobs as they stand; the
 * argument list, with lock held, into ids. */
static char *job_list(void)
{
	size_t room = poller.n * 24 + 8, len = 0;
	char *s = malloc(room);

	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < poller.n && len + 24 < room; i++)
		len += (size_t)snprintf(s + len, room - len, "%s%ld",
					i ? "," : "", poller.v[i].job);
	return s;
}

/* One line of squeue: "123|RUNNING|localhost" into its entry. */
static void take_line(const char *line, long *seen_ids, size_t *n_seen)
{
	char state[24] = "", node[64] = "";
	struct entry *e;
	long job;

	if (sscanf(line, "%ld|%23[^|\n]|%63[^\n]", &job, state, node) < 2)
		return;
	if ((e = find(job))) {
		snprintf(e->state, sizeof(e->state), "%s", state);
		snprintf(e->node, sizeof(e->node), "%s", node);
	}
	seen_ids[(*n_seen)++] = job;
}

/* What a squeue said: each job asked about is as it says or gone. */
static void take_output(char *out, char *asked)
{
	size_t n_seen = 0, cap = strlen(out) / 2 + 1, i;
	long *seen = calloc(cap, sizeof(*seen));
	char *line, *save = NULL, *tok, *save2 = NULL;

	if (!seen)
		return;
	for (line = strtok_r(out, "\n", &save); line && n_seen < cap;
	     line = strtok_r(NULL, "\n", &save))
		take_line(line, seen, &n_seen);
	for (tok = strtok_r(asked, ",", &save2); tok;
	     tok = strtok_r(NULL, ",", &save2)) {
		long job = atol(tok);
		struct entry *e = find(job);
		int known = 0;

		for (i = 0; i < n_seen && !known; i++)
			known = seen[i] == job;
		if (!e)
			continue;
		if (!known) {
			snprintf(e->state, sizeof(e->state), "GONE");
			e->node[0] = '\0';
		}
		e->seen = 1;
	}
	free(seen);
}

static void poll_once(void)
{
	static char out[1 << 20];
	char *asked = job_list(), line[256];
	char *argv[] = { "squeue", "-h", "-t", "all", "-o", "%i|%T|%N",
			 "-j", asked, NULL };
	char *ping[] = { "squeue", "-h", "--me", "-t", "PENDING", "-o", "%i",
			 NULL };
	int r;

	pthread_mutex_unlock(&poller.lock);
	r = slurm_client(asked && *asked ? argv : ping, NULL, SLURM_CMD_MS,
			 out, sizeof(out));
	pthread_mutex_lock(&poller.lock);
	/* One job asked about that is gone: squeue says so and fails. */
	if (r != 0 && strstr(out, "Invalid job id specified")) {
		r = 0;
		out[0] = '\0';
	}
	if (r == 0) {
		poller.down = 0;
		if (asked && *asked)
			take_output(out, asked);
	} else {
		slurm_last_line(out, line, sizeof(line));
		poller.down = 1;
		snprintf(poller.msg, sizeof(poller.msg), "%s", r == -ETIMEDOUT ?
			 "squeue timed out" : *line ? line :
			 "squeue failed");
	}
	free(asked);
}

static void *poller_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&poller.lock);
	for (;;) {
		struct timespec ts;
		int64_t at;

		while (!poller.n && !poller.down)
			pthread_cond_wait(&poller.cond, &poller.lock);
		poll_once();
		at = runner_now_ms() + SLURM_POLL_MS;
		(void)at;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SLURM_POLL_MS / 1000;
		ts.tv_nsec += (SLURM_POLL_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&poller.cond, &poller.lock, &ts);
	}
	return NULL;
}

/* The poller starts with the first job; lock held. */
static void poller_start(void)
{
	pthread_attr_t at;
	pthread_t th;

	if (poller.running)
		return;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &at, poller_main, NULL) == 0)
		poller.running = 1;
	pthread_attr_destroy(&at);
}

void slurm_track(long job)
{
	pthread_mutex_lock(&poller.lock);
	if (!find(job)) {
		if (poller.n == poller.cap) {
			size_t cap = poller.cap ? poller.cap * 2 : 64;
			struct entry *v = realloc(poller.v, cap * sizeof(*v));

			if (!v)
				goto out;
			poller.v = v;
			poller.cap = cap;
		}
		memset(&poller.v[poller.n], 0, sizeof(poller.v[0]));
		poller.v[poller.n++].job = job;
	}
	poller_start();
	pthread_cond_broadcast(&poller.cond);
out:
	pthread_mutex_unlock(&poller.lock);
}

void slurm_untrack(long job)
{
	struct entry *e;

	pthread_mutex_lock(&poller.lock);
	if ((e = find(job)))
		*e = poller.v[--poller.n];
	pthread_mutex_unlock(&poller.lock);
}

int slurm_lookup(long job, char *state, size_t slen, char *node,
		 size_t nlen)
{
	struct entry *e;
	int r = -ENOENT;

	pthread_mutex_lock(&poller.lock);
	if ((e = find(job)) && e->seen) {
		snprintf(state, slen, "%s", e->state);
		snprintf(node, nlen, "%s", e->node);
		r = 0;
	}
	pthread_mutex_unlock(&poller.lock);
	return r;
}

void slurm_set_down(const char *msg)
{
	char line[256];

	slurm_last_line(msg, line, sizeof(line));
	pthread_mutex_lock(&poller.lock);
	poller.down = 1;
	snprintf(poller.msg, sizeof(poller.msg), "%s", line);
	/* The poller finds out when it is back. */
	poller_start();
	pthread_cond_broadcast(&poller.cond);
	pthread_mutex_unlock(&poller.lock);
}

int slurm_down(char *msg, size_t len)
{
	int down;

	pthread_mutex_lock(&poller.lock);
	down = poller.down;
	if (down && len)
		snprintf(msg, len, "%s", poller.msg);
	pthread_mutex_unlock(&poller.lock);
	return down;
}
