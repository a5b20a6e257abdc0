/*
 * test_runner: real engines (sh, sleep) started through the keeper, and a
 * "daemon" (a forked child of this test) that dies with its engine still
 * running, to see what the keeper does then; and a full disk (a small
 * tmpfs in a mount namespace of its own), where the run-once promise
 * must still hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "runner.h"
/* The local backend's state, for its keeper's pid. */
#include "../../src/runner/localint.h"

static char dir[64], logp[128], exitp[128], fifo[128], pidf[128];

static int open_log(void)
{
	return open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static char *slurp(const char *path)
{
	static char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int alive(pid_t pid)
{
	char path[64], *s;

	/* A zombie has ended: the test reaps nothing of the runner's. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	s = slurp(path);
	if (!s)
		return 0;
	s = strrchr(s, ')');
	return s && s[2] != 'Z';
}

static int wait_gone(pid_t pid)
{
	for (int i = 0; i < 1000 && alive(pid); i++)
		usleep(10000);
	return !alive(pid);
}

static pid_t keeper_of(struct runner_proc *p)
{
	return LOCAL_RUN(p)->keeper;
}

static void reset(void)
{
	unlink(logp);
	unlink(exitp);
	unlink(pidf);
}

static int spawn_sh(struct runner_proc *p, const char *script, int logfd,
		    const char *exit_path, char *err, size_t errlen)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };

	return runner_spawn(p, argv, NULL, dir, logfd, 0, exit_path, err,
			    errlen);
}

static void test_exit_by_itself_is_written_down(void)
{
	struct runner_proc p;
	char err[256];
	int logfd, status = -1, kept = -1;

	reset();
	logfd = open_log();
	CHECK(spawn_sh(&p, "echo hi; exit 7", logfd, exitp, err,
		       sizeof(err)) == 0);
	CHECK(runner_wait(&p, -1, &status) == 0);
	runner_release(&p);
	close(logfd);
	CHECK(runner_exit_code(status) == 7);
	CHECK_STR(slurp(logp), "hi\n");
	CHECK(runner_read_exit(exitp, &kept) == 0);
	CHECK(kept == status);
	CHECK(runner_await_keeper(logp, 0) == 0);
}

static void test_signalled_end_is_not_written_down(void)
{
	struct runner_proc p;
	char err[256];
	int logfd, status = -1, kept;

	reset();
	logfd = open_log();
	/* Not even when the engine takes the SIGTERM and exits 0. */
	CHECK(spawn_sh(&p, "trap 'exit 0' TERM; echo up; "
		       "while :; do sleep 0.01; done", logfd, exitp, err,
		       sizeof(err)) == 0);
	for (int i = 0; i < 500 && !strstr(slurp(logp), "up"); i++)
		usleep(10000);
	CHECK(runner_wait(&p, 50, &status) == -ETIMEDOUT);
	runner_signal(&p, SIGTERM);
	CHECK(runner_wait(&p, -1, &status) == 0);
	runner_release(&p);
	close(logfd);
	CHECK(runner_exit_code(status) == 0);
	CHECK(runner_read_exit(exitp, &kept) == -ENOENT);
}

static void test_keeper_ignores_what_stops_a_daemon(void)
{
	struct runner_proc p;
	char err[256], path[64], *comm;
	int logfd, status = -1;

	reset();
	logfd = open_log();
	CHECK(spawn_sh(&p, "sleep 60", logfd, exitp, err, sizeof(err)) == 0);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)keeper_of(&p));
	comm = slurp(path);
	CHECK(comm && !strcmp(comm, "pai-keeper\n"));
	/* killall parallelai: the daemon ends its runs, not the keeper */
	CHECK(kill(keeper_of(&p), SIGTERM) == 0 && kill(keeper_of(&p), SIGINT) == 0);
	CHECK(runner_wait(&p, 200, &status) == -ETIMEDOUT);
	CHECK(alive(keeper_of(&p)) && alive(p.pid));
	/* and the engine does not inherit the keeper's deafness */
	runner_signal(&p, SIGTERM);
	CHECK(runner_wait(&p, -1, &status) == 0);
	CHECK(runner_exit_code(status) == 128 + SIGTERM);
	runner_release(&p);
	close(logfd);
}

static void test_command_not_found(void)
{
	struct runner_proc p;
	char *argv[] = { "no-such-engine-here", NULL };
	char err[256];
	int logfd, kept;

	reset();
	logfd = open_log();
	CHECK(runner_spawn(&p, argv, NULL, dir, logfd, 0, exitp, err,
			   sizeof(err)) == -ENOENT);
	CHECK_STR(err, "command not found: 'no-such-engine-here'");
	CHECK(runner_read_exit(exitp, &kept) == -ENOENT);
	close(logfd);
}

static pid_t read_pid(void)
{
	char *s = NULL;

	for (int i = 0; i < 1000 && !(s = slurp(pidf), s && strchr(s, '\n'));
	     i++)
		usleep(10000);
	return s && strchr(s, '\n') ? atoi(s) : 0;
}

static void test_escaped_descendant_ends_before_the_run_does(void)
{
	struct runner_proc p;
	char err[256], cmd[512];
	int logfd, status = -1;
	pid_t escaped;

	reset();
	logfd = open_log();
	/* Forked twice (the subshell's child is an orphan at once), a
	 * session of its own, no PAI_RUN: neither the group kill nor the
	 * tag reaches it. The engine waits until it is up, then exits. */
	snprintf(cmd, sizeof(cmd), "( env -i setsid sh -c 'echo $$ > %s;"
		 " exec sleep 60' & ); while [ ! -s %s ]; do sleep 0.01;"
		 " done; exit 0", pidf, pidf);
	CHECK(spawn_sh(&p, cmd, logfd, exitp, err, sizeof(err)) == 0);
	CHECK(runner_wait(&p, -1, &status) == 0);
	escaped = read_pid();
	CHECK(escaped > 0);
	/* Not "soon": gone, reaped, by the time the end is reported. */
	CHECK(escaped > 0 && !alive(escaped));
	if (escaped > 0 && alive(escaped))
		kill(escaped, SIGKILL);
	CHECK(runner_exit_code(status) == 0);
	runner_release(&p);
	close(logfd);
}

static void test_orphan_that_ends_is_reaped_during_the_run(void)
{
	struct runner_proc p;
	char err[256], cmd[512], path[64];
	int logfd, status = -1, gone = 0;
	struct stat st;
	pid_t orphan;

	reset();
	logfd = open_log();
	snprintf(cmd, sizeof(cmd), "( sh -c 'echo $$ > %s; exit 0' & );"
		 " exec sleep 60", pidf);
	CHECK(spawn_sh(&p, cmd, logfd, exitp, err, sizeof(err)) == 0);
	orphan = read_pid();
	CHECK(orphan > 0);
	/* A zombie of the keeper's would keep its /proc entry until the
	 * run ends; reaped, it has none. */
	snprintf(path, sizeof(path), "/proc/%d", (int)orphan);
	for (int i = 0; i < 1000 && !(gone = stat(path, &st) < 0); i++)
		usleep(10000);
	CHECK(gone);
	CHECK(runner_wait(&p, 0, &status) == -ETIMEDOUT);
	runner_signal(&p, SIGTERM);
	CHECK(runner_wait(&p, -1, &status) == 0);
	runner_release(&p);
	close(logfd);
}

/* A "daemon" forked from here starts the engine and dies without a word;
 * the engine's pid comes back through a pipe. */
static pid_t daemon_dies(const char *script, pid_t *engine)
{
	int pfd[2], logfd;
	pid_t d;

	if (pipe(pfd) < 0)
		return -1;
	d = fork();
	if (d == 0) {
		struct runner_proc p;
		char err[256];

		logfd = open_log();
		if (spawn_sh(&p, script, logfd, exitp, err, sizeof(err)) < 0)
			_exit(1);
		if (write(pfd[1], &p.pid, sizeof(p.pid)) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], engine, sizeof(*engine)) != sizeof(*engine))
		*engine = -1;
	close(pfd[0]);
	waitpid(d, NULL, 0);
	return d;
}

static void test_engine_finishing_after_its_daemon_died_is_kept(void)
{
	pid_t engine;
	int status = -1, w;
	char cmd[256];

	reset();
	unlink(fifo);
	CHECK(mkfifo(fifo, 0600) == 0);
	snprintf(cmd, sizeof(cmd), "read x < %s; echo done; exit 3", fifo);
	CHECK(daemon_dies(cmd, &engine) > 0);
	CHECK(engine > 0);
	/* The daemon is gone; the engine goes on a while and finishes. */
	w = open(fifo, O_WRONLY);
	CHECK(w >= 0 && write(w, "go\n", 3) == 3);
	close(w);
	CHECK(runner_await_keeper(logp, 10000) == 0);
	CHECK(!alive(engine));
	CHECK(runner_read_exit(exitp, &status) == 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	/* The keeper kept the pipe open; the output is for nobody. */
	CHECK_STR(slurp(logp), "");
}

static void test_engine_still_running_when_its_daemon_died_is_ended(void)
{
	pid_t engine, escaped = 0;
	char cmd[512], *s;
	int status;
	struct timespec t0, t1;

	reset();
	/* What it leaves behind has its own session but carries the tag. */
	snprintf(cmd, sizeof(cmd), "setsid sleep 60 & echo $! > %s; "
		 "sleep 60", pidf);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(daemon_dies(cmd, &engine) > 0);
	CHECK(engine > 0);
	for (int i = 0; i < 500 && !(s = slurp(pidf), s && *s); i++)
		usleep(10000);
	s = slurp(pidf);
	if (s)
		escaped = atoi(s);
	CHECK(escaped > 0);
	CHECK(runner_await_keeper(logp, 10000) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(wait_gone(engine));
	CHECK(escaped > 0 && wait_gone(escaped));
	CHECK(runner_read_exit(exitp, &status) == -ENOENT);
	/* It lingered first: not a timing check, a sign of the linger. */
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 +
	      (t1.tv_nsec - t0.tv_nsec) / 1000000 >= RUNNER_LINGER_MS / 2);
}

static void test_killed_keeper_ends_the_run(void)
{
	struct runner_proc p;
	char err[256];
	int logfd, status = 0;

	reset();
	logfd = open_log();
	CHECK(spawn_sh(&p, "sleep 60", logfd, exitp, err, sizeof(err)) == 0);
	CHECK(kill(keeper_of(&p), SIGKILL) == 0);
	CHECK(runner_wait(&p, -1, &status) == 0);
	CHECK(runner_exit_code(status) == 128 + SIGKILL);
	CHECK(wait_gone(p.pid));
	runner_release(&p);
	close(logfd);
}

/* What the next daemon does through the front: a run that ended by
 * itself after its daemon died is finished from its status; one still
 * going is ended by its keeper and may run again. */
static void test_recover_settles_what_a_dead_daemon_left(void)
{
	struct runner_ref ref = { .log_path = logp, .exit_path = exitp };
	struct runner_proc q;
	pid_t engine;
	char cmd[256], err[256];
	int status = -1, w;

	reset();
	unlink(fifo);
	CHECK(mkfifo(fifo, 0600) == 0);
	snprintf(cmd, sizeof(cmd), "read x < %s; exit 4", fifo);
	CHECK(daemon_dies(cmd, &engine) > 0);
	w = open(fifo, O_WRONLY);
	CHECK(w >= 0 && write(w, "go\n", 3) == 3);
	close(w);
	CHECK(runner_recover(&q, &ref, 10000, &status, err,
			     sizeof(err)) == 0);
	CHECK(runner_exit_code(status) == 4);
	CHECK_STR(err, "");
	CHECK(!alive(engine));

	reset();
	CHECK(daemon_dies("sleep 60", &engine) > 0);
	CHECK(runner_recover(&q, &ref, 10000, &status, err,
			     sizeof(err)) == -ENOENT);
	CHECK(wait_gone(engine));
	/* Without an exit file to read, nothing ended by itself. */
	ref.exit_path = NULL;
	CHECK(runner_recover(&q, &ref, 0, &status, err, sizeof(err)) ==
	      -ENOENT);
}

static void test_backend_by_name(void)
{
	CHECK_STR(runner_backend_name(), "local");
	CHECK(runner_use("nosuch") == -ENOENT);
	CHECK(runner_use(NULL) == -ENOENT);
	CHECK(runner_use("local") == 0);
	CHECK_STR(runner_backend_name(), "local");
}

static void test_exit_file_has_room_before_the_engine_starts(void)
{
	struct runner_proc p;
	struct stat st;
	char err[256], cmd[256];
	int logfd, status = -1, kept = -1, w;

	reset();
	unlink(fifo);
	CHECK(mkfifo(fifo, 0600) == 0);
	logfd = open_log();
	snprintf(cmd, sizeof(cmd), "read x < %s; exit 4", fifo);
	CHECK(spawn_sh(&p, cmd, logfd, exitp, err, sizeof(err)) == 0);
	/* Running: room made for the status, none written yet. */
	CHECK(stat(exitp, &st) == 0 && st.st_size == RUNNER_EXIT_LEN);
	CHECK(runner_read_exit(exitp, &kept) == -ENOENT);
	w = open(fifo, O_WRONLY);
	CHECK(w >= 0 && write(w, "go\n", 3) == 3);
	close(w);
	CHECK(runner_wait(&p, -1, &status) == 0);
	runner_release(&p);
	close(logfd);
	CHECK(stat(exitp, &st) == 0 && st.st_size == RUNNER_EXIT_LEN);
	CHECK(runner_read_exit(exitp, &kept) == 0);
	CHECK(WIFEXITED(kept) && WEXITSTATUS(kept) == 4);
}

static void test_exit_file_says_what_was_kept(void)
{
	int status = -1, fd;

	reset();
	/* emptied by a keeper that could not write: the status is lost */
	fd = open(exitp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(runner_read_exit(exitp, &status) == -ENODATA);
	fd = open(exitp, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "running        \n", 16) == 16);
	close(fd);
	CHECK(runner_read_exit(exitp, &status) == -ENOENT);
	/* what an earlier keeper wrote, without the padding */
	fd = open(exitp, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "768\n", 4) == 4);
	close(fd);
	CHECK(runner_read_exit(exitp, &status) == 0 && status == 768);
	fd = open(exitp, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "7 x\n", 4) == 4);
	close(fd);
	CHECK(runner_read_exit(exitp, &status) == -EINVAL);
	unlink(exitp);
	CHECK(runner_read_exit(exitp, &status) == -ENOENT);
}

/* Write zeros into the file system of dir until it is full. */
static int fill(const char *d)
{
	char path[128], zeros[4096] = { 0 };
	int fd, n = 0;

	snprintf(path, sizeof(path), "%s/filler", d);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	while (write(fd, zeros, sizeof(zeros)) > 0 && n++ < 100000)
		;
	n = errno;
	close(fd);
	return n == ENOSPC ? 0 : -n;
}

/*
 * On a disk that fills while the engine runs, its status is kept all the
 * same, in the room made at the start; on a disk full already, a run does
 * not start (it could not keep its status).
 */
static void on_a_full_disk(const char *d)
{
	struct runner_proc p;
	char err[256], cmd[256], log2[128], exit2[128], marker[128];
	int logfd, status = -1, kept = -1, w;

	snprintf(log2, sizeof(log2), "%s/log", d);
	snprintf(exit2, sizeof(exit2), "%s/exit", d);
	snprintf(marker, sizeof(marker), "%s/ran", dir);
	unlink(fifo);
	CHECK(mkfifo(fifo, 0600) == 0);
	logfd = open(log2, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	snprintf(cmd, sizeof(cmd), "read x < %s; exit 5", fifo);
	CHECK(spawn_sh(&p, cmd, logfd, exit2, err, sizeof(err)) == 0);
	CHECK(fill(d) == 0);
	w = open(fifo, O_WRONLY);
	CHECK(w >= 0 && write(w, "go\n", 3) == 3);
	close(w);
	CHECK(runner_wait(&p, -1, &status) == 0);
	runner_release(&p);
	CHECK(runner_read_exit(exit2, &kept) == 0);
	CHECK(WIFEXITED(kept) && WEXITSTATUS(kept) == 5);

	unlink(marker);
	snprintf(exit2, sizeof(exit2), "%s/exit-2", d);
	snprintf(cmd, sizeof(cmd), "touch %s", marker);
	CHECK(spawn_sh(&p, cmd, logfd, exit2, err, sizeof(err)) == -ENOSPC);
	CHECK(!strncmp(err, "cannot make exit file '", 23));
	CHECK(strstr(err, "No space left on device") != NULL);
	CHECK(access(marker, F_OK) < 0 && access(exit2, F_OK) < 0);
	close(logfd);
}

/* A private mount namespace (and user namespace when not root) with a
 * 64 KiB tmpfs on d; 0, or -1 when this system allows none. */
static int private_tmpfs(const char *d)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int fd;

	if (unshare(uid ? CLONE_NEWUSER | CLONE_NEWNS : CLONE_NEWNS) < 0)
		return -1;
	if (uid) {
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd < 0 || write(fd, "deny", 4) != 4)
			return -1;
		close(fd);
		snprintf(map, sizeof(map), "0 %d 1", (int)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			return -1;
		close(fd);
		snprintf(map, sizeof(map), "0 %d 1", (int)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			return -1;
		close(fd);
	}
	/* source and type are ignored for MS_PRIVATE; named, not NULL */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", d, "tmpfs", 0, "size=64k,mode=0700") < 0)
		return -1;
	return 0;
}

static void test_exit_status_is_kept_on_a_full_disk(void)
{
	char d[128];
	int status = 0, before = check_failures;
	pid_t c;

	snprintf(d, sizeof(d), "%s/small", dir);
	CHECK(mkdir(d, 0700) == 0);
	c = fork();
	if (c == 0) {
		if (private_tmpfs(d) < 0)
			_exit(77);
		on_a_full_disk(d);
		/* its own failures only: the count came with the fork */
		_exit(check_failures > before ? 1 : 0);
	}
	CHECK(c > 0 && waitpid(c, &status, 0) == c);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		printf("skip: no mount namespace for a small tmpfs here\n");
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rmdir(d);
}

int main(void)
{
	char marker_path[128];

	snprintf(dir, sizeof(dir), "/tmp/pai-runner-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(logp, sizeof(logp), "%s/log", dir);
	snprintf(exitp, sizeof(exitp), "%s/exit", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	signal(SIGPIPE, SIG_IGN);
	/* Nothing buffered for a forked child to write out again. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_exit_by_itself_is_written_down);
	RUN(test_signalled_end_is_not_written_down);
	RUN(test_keeper_ignores_what_stops_a_daemon);
	RUN(test_command_not_found);
	RUN(test_escaped_descendant_ends_before_the_run_does);
	RUN(test_orphan_that_ends_is_reaped_during_the_run);
	RUN(test_engine_finishing_after_its_daemon_died_is_kept);
	RUN(test_engine_still_running_when_its_daemon_died_is_ended);
	RUN(test_killed_keeper_ends_the_run);
	RUN(test_recover_settles_what_a_dead_daemon_left);
	RUN(test_backend_by_name);
	RUN(test_exit_file_has_room_before_the_engine_starts);
	RUN(test_exit_file_says_what_was_kept);
	RUN(test_exit_status_is_kept_on_a_full_disk);
	reset();
	unlink(fifo);
	snprintf(marker_path, sizeof(marker_path), "%s/ran", dir);
	unlink(marker_path);
	rmdir(dir);
	return check_done();
}
