/*
 * sim/edit: what the stand-in does to files: which ones a prompt names
 * (words that are regular files of the worktree, never outside it nor in
 * .git), the comment syntax of a file, and the line added to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "sim.h"
#include "simint.h"

/* Comment syntaxes by extension (or whole name), before the text and
 * after it. */
static const struct syntax {
	const char *open, *close;
	const char *exts;	/* " c h go " */
} syntaxes[] = {
	{ "// ", "", " c h cc cpp cxx hpp hh js mjs cjs ts tsx jsx go rs java"
	  " kt kts scala swift cs dart php proto zig groovy gradle sc v " },
	{ "# ", "", " py sh bash zsh rb pl pm r yaml yml toml cfg conf ini mk"
	  " cmake tf nix ps1 properties jl ex exs awk makefile dockerfile"
	  " gitignore gitattributes dockerignore editorconfig " },
	{ "-- ", "", " sql lua hs elm ada " },
	{ "<!-- ", " -->", " md markdown html htm xml svg vue " },
	{ "/* ", " */", " css " },
	{ "% ", "", " tex sty erl " },
	{ ";; ", "", " el lisp clj cljs scm " },
	{ "\" ", "", " vim " },
	{ "", "", " txt text rst adoc " },
};

int sim_comment(struct buf *out, const char *path, const char *text)
{
	const char *base = strrchr(path, '/'), *dot;
	char key[40];
	size_t i;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	snprintf(key, sizeof(key), " %s ", dot ? dot + 1 : base);
	for (i = 0; key[i]; i++)
		key[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ?
				key[i] - 'A' + 'a' : key[i]);
	if (strlen(key) < 3 || strlen(key) >= sizeof(key) - 1)
		return -ENOTSUP;
	for (i = 0; i < sizeof(syntaxes) / sizeof(syntaxes[0]); i++)
		if (strstr(syntaxes[i].exts, key))
			return buf_printf(out, "%s%s%s", syntaxes[i].open, text,
					  syntaxes[i].close);
	return -ENOTSUP;
}

/* A word of the prompt without the quotes and punctuation around it. */
static void unwrap(const char **s, size_t *n)
{
	while (*n && strchr("\"'`([{<", **s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && strchr("\"'`)]}>,;:!?.", (*s)[*n - 1]))
		(*n)--;
}

/* Is rel a regular file of the worktree (no link, hard or symbolic,
 * nothing above it, not in .git), a file we may edit? */
static bool editable(const char *wt, const char *rel)
{
	char path[PATH_MAX], real[PATH_MAX], root[PATH_MAX];
	struct stat st;
	size_t n;

	if (rel[0] == '/' || strstr(rel, "..") || !strncmp(rel, ".git/", 5) ||
	    strstr(rel, "/.git/") || !strcmp(rel, ".git"))
		return false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", wt, rel) >=
	    sizeof(path))
		return false;
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1 ||
	    st.st_size > SIM_FILE_MAX)
		return false;
	if (!realpath(path, real) || !realpath(wt, root))
		return false;
	n = strlen(root);
	return !strncmp(real, root, n) && real[n] == '/';
}

int sim_named_files(const char *wt, const char *prompt, char ***out,
		    size_t *n_out)
{
	const char *p = prompt;
	char **v = NULL, **nv, *word;
	size_t n = 0, i;

	while (*p && n < SIM_FILES_MAX) {
		const char *s;
		size_t k;

		p += strspn(p, " \t\r\n");
		s = p;
		k = strcspn(p, " \t\r\n");
		p += k;
		unwrap(&s, &k);
		/* "./a.c" names a.c */
		while (k > 2 && s[0] == '.' && s[1] == '/') {
			s += 2;
			k -= 2;
		}
		if (!k || k >= 1024 || !(word = strndup(s, k)))
			continue;
		for (i = 0; i < n && strcmp(v[i], word); i++)
			;
		if (i < n || !editable(wt, word)) {
			free(word);
			continue;
		}
		if (!(nv = realloc(v, (n + 1) * sizeof(*v)))) {
			free(word);
			for (i = 0; i < n; i++)
				free(v[i]);
			free(v);
			return -ENOMEM;
		}
		v = nv;
		v[n++] = word;
	}
	*out = v;
	*n_out = n;
	return 0;
}

void sim_files_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int sim_read_file(const char *path, struct buf *out)
{
	char chunk[8192];
	ssize_t k;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0)
		return -errno;
	while ((k = read(fd, chunk, sizeof(chunk))) > 0)
		if ((r = buf_add(out, chunk, (size_t)k)) < 0)
			break;
	if (k < 0 && !r)
		r = -errno;
	close(fd);
	return r;
}

int sim_append(const char *path, const char *line, bool newline_first)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		      O_NOFOLLOW, 0644), r = 0;

	if (fd < 0)
		return -errno;
	if (newline_first)
		r = write_all(fd, "\n", 1);
	if (r == 0)
		r = write_all(fd, line, strlen(line));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	close(fd);
	return r;
}
