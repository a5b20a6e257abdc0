/*
 * tools: what the model can do in its worktree, and nothing outside it.
 *
 *	list_files {path}                 files beneath path, .git skipped
 *	read_file  {path, start_line, end_line}
 *	write_file {path, content}        parents created as needed
 *	edit_file  {path, old_string, new_string}   one exact, unique match
 *	search     {pattern, path}        POSIX ERE, "path:line: text"
 *	run        {command, timeout}     /bin/sh -c in the worktree
 *
 * Every path is opened with openat2(RESOLVE_BENEATH) relative to the
 * worktree, so the kernel refuses "..", absolute paths and symlinks that
 * lead outside, including races with a symlink swapped in mid-walk. A
 * directory walk never follows symlinks at all.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "jnum.h"

#define LIST_MAX 2000		/* entries list_files shows */
#define WALK_DEPTH 64
#define READ_SCAN_MAX (64L << 20)	/* read_file counts lines this far */
#define EDIT_MAX (16 << 20)	/* largest file edit_file rewrites */
#define SEARCH_FILE_MAX (4 << 20)
#define SEARCH_HITS_MAX 200
#define SEARCH_LINE_MAX 300
#define RUN_TIMEOUT_MAX 3600

static const char schema_json[] =
"["
"{\"name\":\"list_files\","
" \"description\":\"List the files beneath a directory of the worktree, recursively (.git is skipped). Paths are relative to the worktree root.\","
" \"input_schema\":{\"type\":\"object\",\"properties\":{"
"  \"path\":{\"type\":\"string\",\"description\":\"directory relative to the worktree root; default '.'\"}}}},"
"{\"name\":\"read_file\","
" \"description\":\"Read a text file of the worktree, whole or a range of lines (1-based, inclusive).\","
" \"input_schema\":{\"type\":\"object\",\"properties\":{"
"  \"path\":{\"type\":\"string\"},"
"  \"start_line\":{\"type\":\"integer\",\"description\":\"first line to read, 1-based\"},"
"  \"end_line\":{\"type\":\"integer\",\"description\":\"last line to read, inclusive\"}},"
"  \"required\":[\"path\"]}},"
"{\"name\":\"write_file\","
" \"description\":\"Create or overwrite a file of the worktree with the given content; missing parent directories are created.\","
" \"input_schema\":{\"type\":\"object\",\"properties\":{"
"  \"path\":{\"type\":\"string\"},"
"  \"content\":{\"type\":\"string\"}},"
"  \"required\":[\"path\",\"content\"]}},"
"{\"name\":\"edit_file\","
" \"description\":\"Replace one exact occurrence of old_string with new_string in a file. old_string must occur exactly once: include enough surrounding lines to make it unique.\","
" \"input_schema\":{\"type\":\"object\",\"properties\":{"
"  \"path\":{\"type\":\"string\"},"
"  \"old_string\":{\"type\":\"string\"},"
"  \"new_string\":{\"type\":\"string\"}},"
"  \"required\":[\"path\",\"old_string\",\"new_string\"]}},"
"{\"name\":\"search\","
" \"description\":\"Search the worktree's files for lines matching a POSIX extended regular expression; results are path:line: text.\","
" \"input_schema\":{\"type\":\"object\",\"properties\":{"
"  \"pattern\":{\"type\":\"string\"},"
"  \"path\":{\"type\":\"string\",\"description\":\"directory or file to search; default '.'\"}},"
"  \"required\":[\"pattern\"]}},"
"{\"name\":\"run\","
" \"description\":\"Run a shell command (/bin/sh -c) in the worktree root, such as a build or the tests. Returns its output (stdout and stderr, long output shortened in the middle) and its exit status.\","
" \"input_schema\":{\"type\":\"object\",\"properties\":{"
"  \"command\":{\"type\":\"string\"},"
"  \"timeout\":{\"type\":\"integer\",\"description\":\"seconds before the command is killed; default 120\"}},"
"  \"required\":[\"command\"]}}"
"]";

cJSON *tools_schema(void)
{
	return cJSON_Parse(schema_json);
}

void tool_result_init(struct tool_result *r)
{
	buf_init(&r->out, TOOL_OUTPUT_MAX + 1024);
	r->error = false;
	r->exit_status = -1;
}

void tool_result_release(struct tool_result *r)
{
	buf_release(&r->out);
}

static void fail(struct tool_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct tool_result *r, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_truncate(&r->out, 0);
	buf_puts(&r->out, msg);
	r->error = true;
}

int tools_open(struct tools *t, const char *worktree, char *err, size_t errlen)
{
	t->root = open(worktree, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->root < 0) {
		snprintf(err, errlen, "cannot open worktree '%s': %s", worktree,
			 strerror(errno));
		return -1;
	}
	t->run_timeout = 120;
	t->deadline = 0;
	t->hide_env = NULL;
	return 0;
}

void tools_close(struct tools *t)
{
	if (t->root >= 0)
		close(t->root);
	t->root = -1;
}

/* ---- paths ------------------------------------------------------------- */

static int open_beneath(struct tools *t, const char *path, int flags, mode_t mode)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	do
		fd = syscall(SYS_openat2, t->root, path, &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd < 0 ? -errno : (int)fd;
}

/* A tool error for a failed open, the refusal worded as one. */
static void open_failed(struct tool_result *r, const char *path, int e)
{
	if (e == -EXDEV || e == -ELOOP)
		fail(r, "path '%s' is outside the worktree", path);
	else if (e == -ENOSYS)
		fail(r, "cannot open '%s': openat2 is not supported by this kernel (Linux 5.6+)",
		     path);
	else
		fail(r, "cannot open '%s': %s", path, strerror(-e));
}

/* The path argument, or a tool error; absolute paths are refused here
 * so the message says why. */
static const char *path_arg(const cJSON *in, const char *key, const char *dflt,
			    struct tool_result *r)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, key);
	const char *p;

	if (!v || cJSON_IsNull(v)) {
		if (dflt)
			return dflt;
		fail(r, "missing argument '%s'", key);
		return NULL;
	}
	if (!cJSON_IsString(v)) {
		fail(r, "argument '%s' must be a string", key);
		return NULL;
	}
	p = v->valuestring;
	if (!*p)
		p = dflt ? dflt : ".";
	if (*p == '/') {
		fail(r, "path '%s' is outside the worktree: paths are relative to the worktree root",
		     p);
		return NULL;
	}
	return p;
}

static const char *str_arg(const cJSON *in, const char *key, struct tool_result *r)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, key);

	if (!v || !cJSON_IsString(v)) {
		fail(r, v ? "argument '%s' must be a string" : "missing argument '%s'", key);
		return NULL;
	}
	return v->valuestring;
}

static long num_arg(const cJSON *in, const char *key, long dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, key);

	if (cJSON_IsNumber(v))
		return (long)jnum_clamp(v, -1000000000L, 1000000000L, dflt);
	if (cJSON_IsString(v) && *v->valuestring)	/* "12", as some models send */
		return strtol(v->valuestring, NULL, 10);
	return dflt;
}

/* Writing into .git would corrupt the repository the task belongs to. */
static bool in_git_dir(const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	while (*path == '/')
		path++;
	return !strncmp(path, ".git", 4) && (path[4] == '\0' || path[4] == '/');
}

/* path with "./" prefixes and trailing slashes gone; "." becomes "". */
static void norm_prefix(struct buf *b, const char *path)
{
	buf_truncate(b, 0);
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (!strcmp(path, "."))
		return;
	buf_puts(b, path);
	while (b->len && b->ptr[b->len - 1] == '/')
		buf_truncate(b, b->len - 1);
}

/* ---- walking ------------------------------------------------------------ */

/* Called for each non-directory; returns 1 to stop the walk. */
typedef int (*visit_fn)(void *ctx, int dirfd, const char *name,
			const char *relpath, const struct stat *st);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(int dirfd, struct buf *rel, int depth, visit_fn fn, void *ctx)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, alloc = 0, i;
	int fd, r = 0;

	if (depth > WALK_DEPTH || (fd = dup(dirfd)) < 0)
		return 0;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, ".git"))
			continue;
		if (n == alloc) {
			char **v = realloc(names, (alloc = alloc ? alloc * 2 : 64) *
					   sizeof(*names));

			if (!v)
				break;
			names = v;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n && !r; i++) {
		size_t keep = rel->len;
		struct stat st;

		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (rel->len)
			buf_add(rel, "/", 1);
		if (buf_puts(rel, names[i]) < 0) {
			buf_truncate(rel, keep);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				r = walk(sub, rel, depth + 1, fn, ctx);
				close(sub);
			}
		} else {
			r = fn(ctx, dirfd, names[i], rel->ptr, &st);
		}
		buf_truncate(rel, keep);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* Open path (a directory or a file) beneath the root for a walk. For a
 * file, *dirfd is its directory and *name its last component. */
static int walk_start(struct tools *t, const char *path, struct tool_result *r,
		      struct buf *rel, int *fd_out)
{
	int fd = open_beneath(t, path, O_RDONLY, 0);
	struct stat st;

	if (fd < 0) {
		open_failed(r, path, fd);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		fail(r, "cannot stat '%s': %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	norm_prefix(rel, path);
	*fd_out = fd;
	return S_ISDIR(st.st_mode) ? 1 : 0;
}

/* ---- list_files ---------------------------------------------------------- */

struct list_ctx {
	struct buf *out;
	size_t shown, more;
};

static int list_visit(void *ctx, int dirfd, const char *name,
		      const char *relpath, const struct stat *st)
{
	struct list_ctx *l = ctx;

	if (l->shown >= LIST_MAX || l->out->len > TOOL_OUTPUT_MAX - 512) {
		l->more++;
		return 0;
	}
	buf_printf(l->out, "%s%s\n", relpath, S_ISLNK(st->st_mode) ? "@" : "");
	l->shown++;
	return 0;
}

static void tool_list(struct tools *t, const cJSON *in, struct tool_result *r)
{
	const char *path = path_arg(in, "path", ".", r);
	struct list_ctx l = { &r->out, 0, 0 };
	struct buf rel;
	int fd, kind;

	if (!path)
		return;
	buf_init(&rel, 4096);
	kind = walk_start(t, path, r, &rel, &fd);
	if (kind == 0) {
		fail(r, "'%s' is not a directory", path);
		close(fd);
	} else if (kind == 1) {
		walk(fd, &rel, 0, list_visit, &l);
		close(fd);
		if (l.more)
			buf_printf(&r->out, "[%zu more entries not shown]\n", l.more);
		if (!l.shown && !l.more)
			buf_puts(&r->out, "(no files)\n");
	}
	buf_release(&rel);
}

/* ---- read_file ------------------------------------------------------------ */

static void tool_read(struct tools *t, const cJSON *in, struct tool_result *r)
{
	const char *path = path_arg(in, "path", NULL, r);
	long start, end, line = 1, total;
	char chunk[8192], last = '\n';
	bool truncated = false;
	struct stat st;
	ssize_t n;
	off_t pos = 0;
	int fd;

	if (!path)
		return;
	start = num_arg(in, "start_line", 1);
	end = num_arg(in, "end_line", 0);
	if (start < 1)
		start = 1;
	if ((fd = open_beneath(t, path, O_RDONLY, 0)) < 0) {
		open_failed(r, path, fd);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fail(r, S_ISDIR(st.st_mode) ? "'%s' is a directory; use list_files" :
		     "'%s' is not a regular file", path);
		close(fd);
		return;
	}
	while (pos < READ_SCAN_MAX && (n = read(fd, chunk, sizeof(chunk))) > 0) {
		char *p = chunk, *e = chunk + n;

		if (!pos && memchr(chunk, '\0', (size_t)n)) {
			fail(r, "'%s' is a binary file (%lld bytes)", path,
			     (long long)st.st_size);
			close(fd);
			return;
		}
		pos += n;
		last = chunk[n - 1];
		while (p < e) {
			char *nl = memchr(p, '\n', (size_t)(e - p));
			size_t len = nl ? (size_t)(nl - p + 1) : (size_t)(e - p);

			if (line >= start && (!end || line <= end) && !truncated) {
				if (r->out.len + len > TOOL_OUTPUT_MAX)
					truncated = true;
				else
					buf_add(&r->out, p, len);
			}
			if (nl)
				line++;
			p += len;
		}
	}
	close(fd);
	total = line - 1 + (last != '\n');
	if (!pos)
		buf_puts(&r->out, "(empty file)\n");
	else if (truncated)
		buf_printf(&r->out, "\n[output cut at %d KiB; the file has %ld lines: read on with start_line]\n",
			   TOOL_OUTPUT_MAX / 1024, total);
	else if (start > total)
		buf_printf(&r->out, "[start_line %ld is past the end: the file has %ld lines]\n",
			   start, total);
}

/* ---- write_file ----------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* mkdir -p of path's parent directories, each resolved beneath the root. */
static int make_parents(struct tools *t, const char *path, struct tool_result *r)
{
	struct buf pre;
	const char *p = path, *slash;
	int e = 0;

	buf_init(&pre, 4096);
	while ((slash = strchr(p, '/'))) {
		int fd;

		buf_truncate(&pre, 0);
		if (buf_add(&pre, path, (size_t)(slash - path)) < 0) {
			e = -ENAMETOOLONG;
			break;
		}
		if (slash == p || (slash - p == 1 && *p == '.')) {
			p = slash + 1;
			continue;	/* "a//b", "./a" */
		}
		p = slash + 1;
		fd = open_beneath(t, pre.ptr, O_PATH | O_DIRECTORY, 0);
		if (fd == -ENOENT) {
			char *last = strrchr(pre.ptr, '/');
			const char *name = last ? last + 1 : pre.ptr;
			int pfd;

			if (last)
				*last = '\0';
			pfd = open_beneath(t, last ? (*pre.ptr ? pre.ptr : "/") : ".",
					   O_PATH | O_DIRECTORY, 0);
			if (last)
				*last = '/';
			if (pfd < 0) {
				e = pfd;
				break;
			}
			if (mkdirat(pfd, name, 0777) < 0 && errno != EEXIST)
				e = -errno;
			close(pfd);
			if (e < 0)
				break;
			fd = open_beneath(t, pre.ptr, O_PATH | O_DIRECTORY, 0);
		}
		if (fd < 0) {
			e = fd;
			break;
		}
		close(fd);
	}
	if (e < 0)
		open_failed(r, path, e);
	buf_release(&pre);
	return e;
}

static void tool_write(struct tools *t, const cJSON *in, struct tool_result *r)
{
	const char *path = path_arg(in, "path", NULL, r);
	const char *content = path ? str_arg(in, "content", r) : NULL;
	int fd, e;

	if (!content)
		return;
	if (in_git_dir(path)) {
		fail(r, "path '%s' is inside .git, which is not for editing", path);
		return;
	}
	if (make_parents(t, path, r) < 0)
		return;
	fd = open_beneath(t, path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	if (fd < 0) {
		open_failed(r, path, fd);
		return;
	}
	e = write_all(fd, content, strlen(content));
	if (close(fd) < 0 && !e)
		e = -errno;
	if (e < 0)
		fail(r, "cannot write '%s': %s", path, strerror(-e));
	else
		buf_printf(&r->out, "wrote %zu bytes to %s", strlen(content), path);
}

/* ---- edit_file ------------------------------------------------------------ */

static int read_all(int fd, struct buf *b)
{
	char chunk[65536];
	ssize_t n;
	int e;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((e = buf_add(b, chunk, (size_t)n)) < 0)
			return e;
	}
	return 0;
}

static void tool_edit(struct tools *t, const cJSON *in, struct tool_result *r)
{
	const char *path = path_arg(in, "path", NULL, r);
	const char *old = path ? str_arg(in, "old_string", r) : NULL;
	const char *new = old ? str_arg(in, "new_string", r) : NULL;
	struct buf text, out;
	size_t olen, count = 0;
	const char *hit = NULL, *p;
	struct stat st;
	int fd, e;

	if (!new)
		return;
	if (in_git_dir(path)) {
		fail(r, "path '%s' is inside .git, which is not for editing", path);
		return;
	}
	if (!(olen = strlen(old))) {
		fail(r, "old_string is empty; use write_file to create a file");
		return;
	}
	if ((fd = open_beneath(t, path, O_RDWR, 0)) < 0) {
		open_failed(r, path, fd);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fail(r, "'%s' is not a regular file", path);
		close(fd);
		return;
	}
	buf_init(&text, EDIT_MAX);
	buf_init(&out, EDIT_MAX + strlen(new));
	if ((e = read_all(fd, &text)) < 0) {
		fail(r, e == -EFBIG ? "'%s' is too large to edit" : "cannot read '%s'", path);
		goto out;
	}
	for (p = buf_cstr(&text);
	     (p = memmem(p, text.len - (size_t)(p - buf_cstr(&text)), old, olen));
	     p += olen) {
		if (!count++)
			hit = p;
	}
	if (!count) {
		fail(r, "string not found in %s", path);
		goto out;
	}
	if (count > 1) {
		fail(r, "string is not unique in %s (%zu occurrences); include more surrounding text",
		     path, count);
		goto out;
	}
	if (buf_add(&out, text.ptr, (size_t)(hit - text.ptr)) < 0 ||
	    buf_puts(&out, new) < 0 ||
	    buf_add(&out, hit + olen, text.len - (size_t)(hit - text.ptr) - olen) < 0) {
		fail(r, "'%s' would grow too large", path);
		goto out;
	}
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0 ||
	    (e = write_all(fd, buf_cstr(&out), out.len)) < 0) {
		fail(r, "cannot write '%s': %s", path, strerror(errno));
		goto out;
	}
	buf_printf(&r->out, "replaced 1 occurrence in %s", path);
out:
	close(fd);
	buf_release(&text);
	buf_release(&out);
}

/* ---- search ----------------------------------------------------------------- */

struct search_ctx {
	regex_t re;
	struct buf *out;
	struct buf file;
	size_t hits, more;
};

static void search_fd(struct search_ctx *s, int fd, const char *relpath)
{
	char *p, *e;
	long line = 1;

	buf_truncate(&s->file, 0);
	if (read_all(fd, &s->file) < 0 || !s->file.len)
		return;
	if (memchr(s->file.ptr, '\0', s->file.len < 8192 ? s->file.len : 8192))
		return;	/* binary */
	for (p = s->file.ptr, e = p + s->file.len; p < e; line++) {
		char *nl = memchr(p, '\n', (size_t)(e - p));

		if (nl)
			*nl = '\0';
		/* A NUL inside the line ends it early for regexec: fine. */
		if (!regexec(&s->re, p, 0, NULL, 0)) {
			size_t len = strlen(p);

			if (s->hits >= SEARCH_HITS_MAX ||
			    s->out->len > TOOL_OUTPUT_MAX - 1024) {
				s->more++;
			} else {
				buf_printf(s->out, "%s:%ld: %.*s%s\n", relpath, line,
					   (int)(len > SEARCH_LINE_MAX ? SEARCH_LINE_MAX : len),
					   p, len > SEARCH_LINE_MAX ? "..." : "");
				s->hits++;
			}
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

static int search_visit(void *ctx, int dirfd, const char *name,
			const char *relpath, const struct stat *st)
{
	int fd;

	if (!S_ISREG(st->st_mode) || st->st_size > SEARCH_FILE_MAX)
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		search_fd(ctx, fd, relpath);
		close(fd);
	}
	return 0;
}

static void tool_search(struct tools *t, const cJSON *in, struct tool_result *r)
{
	const char *pattern = str_arg(in, "pattern", r);
	const char *path = pattern ? path_arg(in, "path", ".", r) : NULL;
	struct search_ctx s = { .out = &r->out };
	struct buf rel;
	char msg[256];
	int fd, kind, e;

	if (!path)
		return;
	if ((e = regcomp(&s.re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE))) {
		regerror(e, &s.re, msg, sizeof(msg));
		fail(r, "bad pattern '%s': %s", pattern, msg);
		return;
	}
	buf_init(&rel, 4096);
	buf_init(&s.file, SEARCH_FILE_MAX + 1);
	kind = walk_start(t, path, r, &rel, &fd);
	if (kind == 1) {
		walk(fd, &rel, 0, search_visit, &s);
	} else if (kind == 0) {
		struct stat st;

		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_size <= SEARCH_FILE_MAX)
			search_fd(&s, fd, rel.len ? rel.ptr : path);
	}
	if (kind >= 0) {
		close(fd);
		if (s.more)
			buf_printf(&r->out, "[%zu more matches not shown]\n", s.more);
		if (!s.hits && !s.more)
			buf_puts(&r->out, "no matches\n");
	}
	regfree(&s.re);
	buf_release(&s.file);
	buf_release(&rel);
}

/* ---- run -------------------------------------------------------------------- */

static void tool_run(struct tools *t, const cJSON *in, struct tool_result *r)
{
	const char *cmd = str_arg(in, "command", r);
	long timeout = num_arg(in, "timeout", t->run_timeout);
	char err[256];

	if (!cmd)
		return;
	if (timeout <= 0 || timeout > RUN_TIMEOUT_MAX)
		timeout = t->run_timeout;
	if (run_command(t->root, cmd, (double)timeout, t->deadline, t->hide_env,
			&r->out, &r->exit_status, err, sizeof(err)) < 0)
		fail(r, "%s", err);
	else if (r->exit_status == RUN_TIMED_OUT)
		r->error = true;
}

/* ---- dispatch ----------------------------------------------------------------- */

static const struct {
	const char *name;
	void (*fn)(struct tools *, const cJSON *, struct tool_result *);
	const char *arg;	/* the argument the transcript shows */
} table[] = {
	{ "list_files", tool_list, "path" },
	{ "read_file", tool_read, "path" },
	{ "write_file", tool_write, "path" },
	{ "edit_file", tool_edit, "path" },
	{ "search", tool_search, "pattern" },
	{ "run", tool_run, "command" },
};

void tools_call(struct tools *t, const char *name, const cJSON *input,
		struct tool_result *r)
{
	size_t i;

	buf_truncate(&r->out, 0);
	r->error = false;
	r->exit_status = -1;
	if (!cJSON_IsObject(input)) {
		fail(r, "the arguments are not a JSON object");
		return;
	}
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(name, table[i].name)) {
			table[i].fn(t, input, r);
			return;
		}
	fail(r, "no such tool '%s'", name);
}

void tools_describe(const char *name, const cJSON *input, struct buf *out)
{
	const cJSON *v = NULL;
	size_t i;

	buf_puts(out, name);
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(name, table[i].name))
			v = cJSON_GetObjectItemCaseSensitive(input, table[i].arg);
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		size_t n = 0;

		buf_add(out, " ", 1);
		/* One line: newlines shown as spaces, long commands cut. */
		for (; *s && n < 200; s++, n++)
			buf_add(out, *s == '\n' || *s == '\r' || *s == '\t' ? " " : s, 1);
		if (*s)
			buf_puts(out, " ...");
	} else if (!strcmp(name, "list_files")) {
		buf_puts(out, " .");
	}
}
