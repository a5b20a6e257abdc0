/*
 * gitfix.h: what the unit tests that drive real repositories share: a
 * temporary directory git knows nothing about, and shell commands built
 * like printf, their exit status or their output.
 *
 *	if (gitfix_setup("/tmp/test_x.XXXXXX") < 0)
 *		return 1;
 *	sh("git init -q %s/repo", tmp);
 *	CHECK(out_is("main\n", "git -C %s/repo branch --show-current", tmp));
 */
#ifndef PAI_GITFIX_H
#define PAI_GITFIX_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "buf.h"

/* short, so that every path built from it fits in PATH_MAX */
static char tmp[256];
static char err[512];

/* A fresh directory from template ("/tmp/name.XXXXXX") as tmp, and an
 * environment in which git and libgit2 see none of the user's
 * configuration. */
static inline int gitfix_setup(char *template)
{
	char *real;

	if (!mkdtemp(template) || !(real = realpath(template, NULL))) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s", real);
	free(real);
	setenv("HOME", tmp, 1);
	setenv("XDG_CONFIG_HOME", tmp, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Test", 1);
	setenv("GIT_AUTHOR_EMAIL", "test@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "Test", 1);
	setenv("GIT_COMMITTER_EMAIL", "test@example.com", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	unsetenv("GIT_INDEX_FILE");
	return 0;
}

/* Run a shell command built like printf; its exit status. */
static inline int sh(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline int sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r == -1 ? -1 : WEXITSTATUS(r);
}

/* A command's stdout, malloc'd (never NULL). */
static inline char *out(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline char *out(const char *fmt, ...)
{
	char cmd[8192], chunk[4096];
	struct buf b;
	size_t n;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	buf_init(&b, BUF_NOMAX);
	buf_puts(&b, "");
	if ((f = popen(cmd, "r"))) {
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_add(&b, chunk, n);
		pclose(f);
	}
	return buf_detach(&b);
}

/* Compare a command's output with want, saying what differs; for CHECK. */
static inline int out_is(const char *want, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int out_is(const char *want, const char *fmt, ...)
{
	char cmd[8192];
	char *got;
	va_list ap;
	int same;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	got = out("%s", cmd);
	same = !strcmp(got, want);
	if (!same)
		fprintf(stderr, "  $ %s\n  got \"%s\", want \"%s\"\n", cmd,
			got, want);
	free(got);
	return same;
}

/* lstat's st_mode of a path built like printf, 0 when there is nothing
 * there; exists() for whether there is something. */
static inline mode_t lmode(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline mode_t lmode(const char *fmt, ...)
{
	char path[PATH_MAX];
	struct stat st;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return lstat(path, &st) == 0 ? st.st_mode : 0;
}

#define exists(...) (lmode(__VA_ARGS__) != 0)

#endif
