/*
 * git/paths: sets of repository paths, sorted and unique, and their
 * one-line form for messages.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/mempack.h>

#include "gitmsg.h"
#include "merge.h"
#include "quote.h"
#include "gitint.h"

void merge_paths_release(struct merge_paths *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		free(p->v[i]);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* Append a copy of path; the set is put in order by paths_finish. */
int mg_paths_add(struct merge_paths *p, const char *path)
{
	char **v, *s;

	/* capacity is implied: 8, then doubled whenever n reaches a power of 2 */
	if (p->n == 0 || (p->n >= 8 && !(p->n & (p->n - 1)))) {
		size_t cap = p->n < 8 ? 8 : p->n * 2;

		if (!(v = realloc(p->v, cap * sizeof(*v))))
			return -ENOMEM;
		p->v = v;
	}
	if (!(s = strdup(path)))
		return -ENOMEM;
	p->v[p->n++] = s;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void mg_paths_finish(struct merge_paths *p)
{
	size_t i, j;

	if (p->n < 2)
		return;
	qsort(p->v, p->n, sizeof(*p->v), cmp_str);
	for (i = 1, j = 1; i < p->n; i++) {
		if (!strcmp(p->v[i], p->v[j - 1]))
			free(p->v[i]);
		else
			p->v[j++] = p->v[i];
	}
	p->n = j;
}

int mg_paths_copy(struct merge_paths *dst, const struct merge_paths *src)
{
	size_t i;
	int error;

	dst->v = NULL;
	dst->n = 0;
	for (i = 0; i < src->n; i++)
		if ((error = mg_paths_add(dst, src->v[i])) < 0) {
			merge_paths_release(dst);
			return error;
		}
	return 0;
}

/* "a b c" into buf, cut short with "..." when it does not fit. */
const char *mg_paths_join(char *buf, size_t len,
			  const struct merge_paths *p)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < p->n; i++) {
		char q[1024];
		int w;

		/* As git quotes them: a newline in a name forges no line. */
		quote_path(q, sizeof(q), p->v[i]);
		w = snprintf(buf + used, len - used, "%s%s", i ? " " : "", q);

		if (w < 0 || (size_t)w >= len - used) {
			if (len > 4)
				strcpy(buf + len - 4, "...");
			break;
		}
		used += (size_t)w;
	}
	return buf;
}
