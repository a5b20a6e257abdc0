/*
 * stream_main: `parallelai stream`, the filter the engine presets run an
 * agent CLI through.
 *
 *	parallelai stream --format claude --raw ../7.jsonl --result ../7.json \
 *		-- claude -p PROMPT --output-format stream-json --verbose
 *
 * It starts PROGRAM with stdin from /dev/null, its stdout into a pipe and
 * its stderr straight into ours (the task's log); reads the events line by
 * line, appends each raw line to --raw, and writes the readable transcript
 * to stdout as the events arrive. SIGTERM, SIGINT, SIGHUP and SIGQUIT are
 * passed on to PROGRAM. At the end --result gets one JSON object (the
 * final message, tokens, cost, turns, duration, error) and the exit code
 * says how it went: PROGRAM's own when it failed (128 + signal when
 * killed), 1 when it exited 0 but its stream reported an error or
 * permission denials, 127 when it is not installed, 0 otherwise. A CLI
 * that failed because it is not logged in (in its own words) gets one
 * line that says so and what to do, in the log and as the error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "redact.h"
#include "streamfmt.h"

/* How long the output of an exited PROGRAM may stay open: a background
 * process it left behind can hold the pipe for ever. */
#define DRAIN_MS 2000

static const char usage[] =
"usage: parallelai stream --format FORMAT [--raw FILE] [--result FILE]\n"
"                         [--name ENGINE] -- PROGRAM [ARG...]\n"
"\n"
"Run an agent CLI and turn its event stream into a readable transcript.\n"
"\n"
"  --format FORMAT  claude, codex, gemini, opencode or text\n"
"  --raw FILE       append every line PROGRAM prints to FILE\n"
"  --result FILE    write the final message, tokens and cost as JSON\n"
"  --name ENGINE    the engine's name in messages (default: FORMAT, or\n"
"                   PROGRAM's name for text)\n";

static volatile sig_atomic_t child;

static void forward(int sig)
{
	int saved = errno;

	if (child > 0)
		kill((pid_t)child, sig);
	errno = saved;
}

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

struct stream_opts {
	enum stream_format format;
	const char *name;
	const char *raw;
	const char *result;
	char **argv;
};

static int parse_opts(struct stream_opts *o, int argc, char **argv)
{
	const char *format = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], **dst = NULL, *val = NULL;
		size_t n;

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2))
			break;
		n = strcspn(a, "=");
		if (!strncmp(a, "--format", n) && n == 8)
			dst = &format;
		else if (!strncmp(a, "--raw", n) && n == 5)
			dst = &o->raw;
		else if (!strncmp(a, "--result", n) && n == 8)
			dst = &o->result;
		else if (!strncmp(a, "--name", n) && n == 6)
			dst = &o->name;
		else {
			fprintf(stderr, "parallelai stream: unknown option '%s'\n%s", a, usage);
			return -1;
		}
		if (a[n] == '=')
			val = a + n + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "parallelai stream: option '%s' needs a value\n", a);
			return -1;
		}
		*dst = val;
	}
	if (!format) {
		fprintf(stderr, "parallelai stream: --format is required\n%s", usage);
		return -1;
	}
	if (stream_format_parse(&o->format, format) < 0) {
		fprintf(stderr, "parallelai stream: unknown format '%s' "
			"(claude, codex, gemini, opencode or text)\n", format);
		return -1;
	}
	if (i >= argc) {
		fprintf(stderr, "parallelai stream: no program to run\n%s", usage);
		return -1;
	}
	/* text is not an engine's name: aider's output is text */
	if (!o->name && o->format == STREAM_TEXT)
		o->name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
	if (!o->name)
		o->name = format;
	o->argv = argv + i;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Start PROGRAM with its stdout into *out_fd. A failed exec comes back
 * through a close-on-exec pipe as its errno (negative). The forwarded
 * signals stay blocked across fork, so none is lost before child is set.
 */
static int spawn(char **argv, pid_t *pid_out, int *out_fd)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, devnull, e = 0;
	sigset_t block, old;
	ssize_t n;
	size_t i;
	pid_t pid = -1, parent = getpid();

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		e = -errno;
		goto fail;
	}
	sigemptyset(&block);
	for (i = 0; i < NFORWARDED; i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl = { .sa_handler = SIG_DFL };
		sigset_t none;

		for (i = 0; i < NFORWARDED; i++)
			sigaction(forwarded[i], &dfl, NULL);
		sigaction(SIGPIPE, &dfl, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* no CLI outlives the filter that reads it, even one
		 * that died before prctl */
		prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0)
			e = errno;
		else {
			execvp(argv[0], argv);
			e = errno;
		}
		while (write(err[1], &e, sizeof(e)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	if (pid < 0) {
		e = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto fail;
	}
	child = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(out[1]);
	close(err[1]);
	do
		n = read(err[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(err[0]);
	if (n == sizeof(e)) {
		int st;

		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		child = 0;
		close(out[0]);
		return -e;
	}
	*pid_out = pid;
	*out_fd = out[0];
	return 0;
fail:
	for (i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return e;
}

struct reader {
	struct streamfmt *fmt;
	int raw_fd;		/* -1: no raw file */
	struct buf line;	/* the line being read, up to STREAM_LINE_MAX */
	size_t overlong;	/* bytes of a line too long to keep; 0: none */
	struct buf out;		/* transcript not yet written */
	int err;		/* first failure writing the raw file */
	struct redact_stream rs;	/* the raw stream's secrets */
	const char *result;	/* --result, NULL: none */
	long long figures[4];	/* what it said last: tokens, turns, cost */
};

static int write_result(const char *path, struct streamfmt *s);

/* The result file follows the figures as they grow, so the daemon can
 * hold the run to its budget; rewritten only when they moved. */
static void follow_figures(struct reader *rd)
{
	struct streamfmt *s = rd->fmt;
	long long now[4] = { s->input_tokens, s->output_tokens, s->turns,
			     s->has_cost ? (long long)(s->cost_usd * 1e6) : -1 };

	if (!rd->result || !memcmp(now, rd->figures, sizeof(now)))
		return;
	memcpy(rd->figures, now, sizeof(now));
	write_result(rd->result, s);
}

/* p[0..n) into the raw file, the secrets of our environment redacted;
 * n == 0 at the end: what the filter held back. */
static void raw_write(struct reader *rd, const char *p, size_t n)
{
	struct buf clean;
	int r;

	if (rd->raw_fd < 0 || rd->err)
		return;
	buf_init(&clean, BUF_NOMAX);
	r = n ? redact_feed(&rd->rs, p, n, &clean) :
		redact_flush(&rd->rs, &clean);
	if (r == 0 && clean.len)
		r = write_all(rd->raw_fd, clean.ptr, clean.len);
	buf_release(&clean);
	if (r < 0) {
		rd->err = r;
		fprintf(stderr, "parallelai stream: cannot write the raw stream: %s\n",
			strerror(-r));
	}
}

static void flush_out(struct reader *rd)
{
	if (!rd->out.len)
		return;
	fwrite(rd->out.ptr, 1, rd->out.len, stdout);
	fflush(stdout);
	buf_truncate(&rd->out, 0);
}

static void end_of_line(struct reader *rd)
{
	int r;

	raw_write(rd, "\n", 1);
	if (rd->overlong)
		r = streamfmt_feed_overlong(rd->fmt, rd->overlong, &rd->out);
	else
		r = streamfmt_feed(rd->fmt, buf_cstr(&rd->line), rd->line.len, &rd->out);
	if (r < 0)
		fprintf(stderr, "parallelai stream: transcript: %s\n", strerror(-r));
	rd->overlong = 0;
	buf_truncate(&rd->line, 0);
	flush_out(rd);
	follow_figures(rd);
}

static void take(struct reader *rd, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t piece = nl ? (size_t)(nl - p) : n;

		if (rd->overlong) {
			raw_write(rd, p, piece);
			rd->overlong += piece;
		} else if (buf_add(&rd->line, p, piece) < 0) {
			/* too long to parse: kept raw, summarised */
			raw_write(rd, rd->line.ptr, rd->line.len);
			raw_write(rd, p, piece);
			rd->overlong = rd->line.len + piece;
			buf_truncate(&rd->line, 0);
		}
		if (!nl)
			return;
		raw_write(rd, rd->line.ptr, rd->line.len);
		end_of_line(rd);
		p += piece + 1;
		n -= piece + 1;
	}
}

/* Read PROGRAM's output to its end, then reap it; its wait status. */
static int pump(struct reader *rd, pid_t pid, int fd)
{
	char chunk[1 << 16];
	long long deadline = -1;
	int status = 0, reaped = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int timeout = 250, pr;

		if (deadline >= 0) {
			long long left = deadline - now_ms();
			if (left <= 0)
				break;
			timeout = left < 250 ? (int)left : 250;
		}
		pr = poll(&pfd, 1, timeout);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr > 0) {
			ssize_t n = read(fd, chunk, sizeof(chunk));

			if (n == 0)
				break;
			if (n > 0)
				take(rd, chunk, (size_t)n);
			else if (errno != EINTR && errno != EAGAIN)
				break;
		}
		if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
			reaped = 1;
			deadline = now_ms() + DRAIN_MS;
		}
	}
	if (rd->line.len || rd->overlong) {
		raw_write(rd, rd->line.ptr, rd->line.len);
		end_of_line(rd);
	}
	while (!reaped && waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			break;
	}
	child = 0;
	return status;
}

/* The result file, replaced whole so a reader never sees half of it;
 * in a sandbox, where only the file itself is writable (its directory
 * is not), written over in place. */
static int write_result(const char *path, struct streamfmt *s)
{
	struct buf json, clean;
	int r;

	buf_init(&clean, BUF_NOMAX);
	buf_init(&json, BUF_NOMAX);
	if ((r = streamfmt_result_json(s, &json)) == 0 &&
	    (r = redact_text(redact_global(), json.ptr, json.len, &clean)) == 0)
		r = write_file_replace(path, clean.ptr, clean.len, 0600);
	if (r < 0)
		fprintf(stderr, "parallelai stream: cannot write '%s': %s\n",
			path, strerror(-r));
	buf_release(&clean);
	buf_release(&json);
	return r;
}

int stream_main(int argc, char **argv)
{
	static struct redact secrets;
	struct stream_opts o = { 0 };
	struct streamfmt s;
	struct reader rd = { 0 };
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	char cwd[4096];
	long long started = now_ms();
	int fd = -1, status, code, r;
	pid_t pid = -1;
	size_t i;

	if (parse_opts(&o, argc, argv) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	/* The keys we were given are the ones the CLI could print. */
	if (redact_add_env(&secrets, environ) == 0)
		redact_set_global(&secrets);
	rd.rs.r = redact_global();
	streamfmt_init(&s, o.format, getcwd(cwd, sizeof(cwd)) ? cwd : NULL);
	/* the policy's socket: a claude run asks it through its hook */
	s.policy_hook = getenv("PAI_POLICY_SOCKET") != NULL;
	rd.fmt = &s;
	rd.raw_fd = -1;
	rd.result = o.result;
	rd.figures[2] = -1;
	rd.figures[3] = -1;
	buf_init(&rd.line, STREAM_LINE_MAX);
	buf_init(&rd.out, BUF_NOMAX);

	if (o.raw) {
		rd.raw_fd = open(o.raw, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (rd.raw_fd < 0) {
			fprintf(stderr, "engine '%s': cannot open '%s': %s\n",
				o.name, o.raw, strerror(errno));
			code = 1;
			streamfmt_fail(&s, "cannot open the raw stream file");
			goto out;
		}
	}
	for (i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &sa, NULL);

	r = spawn(o.argv, &pid, &fd);
	if (r < 0) {
		struct buf why;

		buf_init(&why, 8192);
		if (r == -ENOENT)
			buf_printf(&why, "engine '%s': command not found: '%s'", o.name, o.argv[0]);
		else
			buf_printf(&why, "engine '%s': cannot run '%s': %s", o.name,
				   o.argv[0], strerror(-r));
		fprintf(stderr, "%s\n", buf_cstr(&why));
		streamfmt_fail(&s, buf_cstr(&why));
		buf_release(&why);
		code = r == -ENOENT ? 127 : 126;
		goto out;
	}
	status = pump(&rd, pid, fd);
	close(fd);
	streamfmt_finish(&s, &rd.out);
	flush_out(&rd);
	{
		/* say why it failed, unless the stream already did */
		bool said = s.error.len > 0;

		code = streamfmt_exit(&s, status);
		if (streamfmt_explain_login(&s, o.name, code))
			printf("! %s\n", buf_cstr(&s.error));
		else if (code && !said)
			printf("! error: %s\n", buf_cstr(&s.error));
	}
	fflush(stdout);
out:
	if (s.duration_ms < 0)
		s.duration_ms = now_ms() - started;
	if (o.result && write_result(o.result, &s) < 0 && !code)
		code = 1;
	if (rd.raw_fd >= 0) {
		raw_write(&rd, NULL, 0);
		close(rd.raw_fd);
	}
	buf_release(&rd.line);
	buf_release(&rd.out);
	streamfmt_release(&s);
	redact_set_global(NULL);
	redact_release(&secrets);
	return code;
}
