/*
 * runner/slurmjob: `parallelai job`, the wrapper a SLURM job runs on its
 * node: the keeper's work where no keeper is. It starts the engine in
 * its own session (the job's working directory is the worktree, its
 * environment the task's, exported by sbatch), stdin from /dev/null,
 * stdout and stderr through a pipe into the task's log, as the local
 * backend's relay does it (relay.c: the secrets of the job's environment
 * redacted, the log's growth capped at --cap); as a child subreaper it
 * inherits whatever the engine leaves behind and kills it all once the
 * engine is over, with what carries the run's PAI_RUN tag; then it
 * writes the engine's wait status to the exit file, aside and renamed,
 * so the file says "running" or the whole status, and exits with the
 * engine's code. A signal (scancel --full) is passed on to the engine's
 * process group.
 *
 *	parallelai job --log LOG --exit EXIT [--cap BYTES] -- ARGV...
 */
#include <dirent.h>
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runnerint.h"

static volatile sig_atomic_t engine_pid;

static void pass_on(int sig)
{
	if (engine_pid > 0)
		kill(-engine_pid, sig);
}

static int usage(void)
{
	fprintf(stderr, "usage: parallelai job --log FILE --exit FILE"
		" [--cap BYTES] -- PROGRAM [ARG...]\n");
	return 2;
}

extern char **environ;

/* The engine, in the child: its session, its output pipe, its program. */
static __attribute__((noreturn)) void engine(int logfd, char **argv)
{
	int null = open("/dev/null", O_RDONLY);
	char msg[512];
	int e, n;

	setsid();
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (null >= 0)
		dup2(null, 0);
	dup2(logfd, 1);
	dup2(logfd, 2);
	execvp(argv[0], argv);
	e = errno;
	n = snprintf(msg, sizeof(msg), e == ENOENT ?
		     "parallelai: command not found: '%s'\n" :
		     "parallelai: cannot run '%s': %s\n", argv[0],
		     strerror(e));
	if (n > 0 && write(2, msg, (size_t)n) < 0)
		_exit(127);
	_exit(e == ENOENT ? 127 : 126);
}

/* Every child left (the subreaper's inheritance) is killed and reaped,
 * until none is left. */
static void end_leftovers(pid_t engine_pgid)
{
	const char *tag = getenv("PAI_RUN");
	char entry[128];
	int tries;

	kill(-engine_pgid, SIGKILL);
	if (tag) {
		snprintf(entry, sizeof(entry), "PAI_RUN=%s", tag);
		runner_kill_env(entry);
	}
	for (tries = 0; tries < 1000; tries++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		int any = 0;

		while (d && (de = readdir(d))) {
			char path[300], buf[512], *p;
			FILE *f;
			int ppid = 0;

			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat",
				 de->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fgets(buf, sizeof(buf), f) &&
			    (p = strrchr(buf, ')')))
				sscanf(p + 2, "%*c %d", &ppid);
			fclose(f);
			if (ppid == (int)getpid()) {
				kill(atoi(de->d_name), SIGKILL);
				any = 1;
			}
		}
		if (d)
			closedir(d);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			any = 1;
		if (!any)
			break;
		usleep(10000);
	}
}

/* The status, aside then renamed: whole or not at all. */
static int write_exit(const char *path, int status)
{
	char rec[RUNNER_EXIT_LEN], tmp[4096], text[16];
	int fd, n = snprintf(text, sizeof(text), "%d", status);

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	runner_exit_record(rec, text, (size_t)n);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) ||
	    fsync(fd) < 0 || close(fd) < 0) {
		unlink(tmp);
		return -EIO;
	}
	return rename(tmp, path) < 0 ? -errno : 0;
}

/*
 * Copy the engine's output from the pipe into the log through the relay
 * until the engine has ended; then everything it left is killed and what
 * is still in the pipe goes in too. The engine's wait status in *status.
 */
static void relay_until_end(int rd, pid_t pid, struct log_relay *rl,
			    int *status)
{
	struct pollfd pfd = { rd, POLLIN, 0 };
	char buf[65536];
	int ended = 0;
	ssize_t n;

	while (!ended) {
		if (poll(&pfd, 1, 100) > 0) {
			n = read(rd, buf, sizeof(buf));
			if (n > 0)
				log_relay_feed(rl, buf, (size_t)n);
			else if (n == 0)
				pfd.fd = -1;	/* every writer gone */
		}
		ended = waitpid(pid, status, WNOHANG) == pid;
	}
	end_leftovers(pid);
	/* no writer is left: read to the end */
	fcntl(rd, F_SETFL, O_NONBLOCK);
	while ((n = read(rd, buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR))
		if (n > 0)
			log_relay_feed(rl, buf, (size_t)n);
}

static int parse(int argc, char **argv, const char **log, const char **exitp,
		 uint64_t *cap)
{
	char *end;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--log") && i + 1 < argc)
			*log = argv[++i];
		else if (!strcmp(argv[i], "--exit") && i + 1 < argc)
			*exitp = argv[++i];
		else if (!strcmp(argv[i], "--cap") && i + 1 < argc) {
			errno = 0;
			*cap = strtoull(argv[++i], &end, 10);
			if (errno || *end || end == argv[i])
				return -1;
		} else
			return -1;
	}
	return !*log || !*exitp || i + 1 >= argc ? -1 : i;
}

int runner_job_main(int argc, char **argv)
{
	const char *log = NULL, *exitp = NULL;
	struct sigaction sa = { .sa_handler = pass_on };
	struct redact secrets = { 0 };
	struct log_relay rl;
	uint64_t cap = 0;
	int i, logfd, out[2], status = 0;
	pid_t pid;

	if ((i = parse(argc, argv, &log, &exitp, &cap)) < 0)
		return usage();
	logfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (logfd < 0) {
		fprintf(stderr, "parallelai job: cannot open log '%s': %s\n",
			log, strerror(errno));
		return 1;
	}
	/* the job's environment is the daemon's: its secrets are known */
	redact_add_env(&secrets, environ);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (pipe2(out, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "parallelai job: cannot start: %s\n",
			strerror(errno));
		return 1;
	}
	if (pid == 0)
		engine(out[1], argv + i + 1);
	engine_pid = pid;
	close(out[1]);
	log_relay_init(&rl, logfd, cap, &secrets);
	relay_until_end(out[0], pid, &rl, &status);
	log_relay_end(&rl);
	close(out[0]);
	redact_release(&secrets);
	if (write_exit(exitp, status) < 0)
		fprintf(stderr, "parallelai job: cannot write '%s': %s\n",
			exitp, strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	       128 + WTERMSIG(status);
}
