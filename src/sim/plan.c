/*
 * sim/plan: the stand-in planner. A request becomes a task per line, or
 * per bullet ("- ", "* ", "+ ", "1. ", "2) ") when it has bullets (other
 * lines are then its context). A line that says "after" depends on:
 *	"after 2", "after #2", "after step 2", "after task 2"	line 2
 *	"after all", "after everything", "after the rest/others" every line
 *								before it
 *	"after the api"	the last line before it that holds "api"
 *	"after" and anything else				the line before
 * Only lines before it: a plan from it has no cycle.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "sim.h"

struct line {
	const char *s;
	size_t n;
};

/* The length of a bullet at s ("- ", "12. "), 0 when none. */
static size_t bullet(const char *s, size_t n)
{
	size_t i = 0;

	if (n >= 2 && strchr("-*+", s[0]) && (s[1] == ' ' || s[1] == '\t'))
		return 2;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	if (i && i + 1 < n && (s[i] == '.' || s[i] == ')') &&
	    (s[i + 1] == ' ' || s[i + 1] == '\t'))
		return i + 2;
	return 0;
}

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* The request's tasks, their text trimmed, bullets taken off. */
static size_t split(const char *req, size_t len, struct line **out)
{
	struct line *v = calloc(len / 2 + 1, sizeof(*v));
	const char *p = req, *end = req + len;
	size_t n = 0, with_bullets = 0, pass, b;

	*out = v;
	if (!v)
		return 0;
	for (pass = 0; pass < 2; pass++) {
		for (p = req; p < end;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *s = p;
			size_t k = (size_t)((nl ? nl : end) - p);

			p = nl ? nl + 1 : end;
			trim(&s, &k);
			b = bullet(s, k);
			if (!k || (pass == 0 && !b))
				continue;
			if (pass == 0) {
				with_bullets++;
				continue;
			}
			if (with_bullets && !b)
				continue;
			s += b;
			k -= b;
			trim(&s, &k);
			if (k)
				v[n++] = (struct line){ s, k };
		}
	}
	return n;
}

/* Where the word "after" is in a line, or NULL. */
static const char *after_word(const struct line *l)
{
	size_t i;

	for (i = 0; i + 5 <= l->n; i++)
		if (!strncasecmp(l->s + i, "after", 5) &&
		    (i == 0 || !isalnum((unsigned char)l->s[i - 1])) &&
		    (i + 5 == l->n || !isalnum((unsigned char)l->s[i + 5])))
			return l->s + i + 5;
	return NULL;
}

static bool has_phrase(const struct line *l, const char *ph, size_t n)
{
	size_t i;

	for (i = 0; n && i + n <= l->n; i++)
		if (!strncasecmp(l->s + i, ph, n))
			return true;
	return false;
}

/* Skip a leading word (case-insensitive) and the blanks after it. */
static bool skip(const char **p, const char *end, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(end - *p) < n || strncasecmp(*p, word, n) ||
	    (*p + n < end && isalnum((unsigned char)(*p)[n])))
		return false;
	*p += n;
	while (*p < end && isspace((unsigned char)**p))
		(*p)++;
	return true;
}

/* Mark in deps[] the lines before i that line i waits for. */
static void deps_of(const struct line *v, size_t i, bool *deps)
{
	const char *p = after_word(&v[i]), *end = v[i].s + v[i].n, *q;
	size_t j;
	long num;

	if (!p || !i)
		return;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (skip(&p, end, "all") || skip(&p, end, "everything") ||
	    (skip(&p, end, "the") && (skip(&p, end, "rest") ||
				      skip(&p, end, "others")))) {
		for (j = 0; j < i; j++)
			deps[j] = true;
		return;
	}
	if (!skip(&p, end, "step") && !skip(&p, end, "task"))
		skip(&p, end, "line");
	if (p < end && *p == '#')
		p++;
	if (p < end && isdigit((unsigned char)*p)) {
		num = strtol(p, NULL, 10);
		deps[num >= 1 && (size_t)num <= i ? (size_t)num - 1 : i - 1] = true;
		return;
	}
	skip(&p, end, "the");
	for (q = p; q < end && !strchr(",.;:!?()", *q); q++)
		;
	while (q > p && isspace((unsigned char)q[-1]))
		q--;
	for (j = i; j-- > 0;)
		if (has_phrase(&v[j], p, (size_t)(q - p))) {
			deps[j] = true;
			return;
		}
	deps[i - 1] = true;
}

/* "3-write-the-api": the line's number and its first words. */
static void name_of(const struct line *l, size_t i, char *out, size_t len)
{
	size_t k = (size_t)snprintf(out, len, "%zu", i + 1), words = 0;
	bool gap = true;

	for (size_t c = 0; c < l->n && words <= 3 && k + 2 < len && k < 32;
	     c++) {
		unsigned char ch = (unsigned char)l->s[c];

		if (isalnum(ch)) {
			if (gap && ++words > 3)
				break;
			if (gap)
				out[k++] = '-';
			out[k++] = (char)tolower(ch);
			gap = false;
		} else {
			gap = true;
		}
	}
	out[k] = '\0';
}

int sim_plan(struct buf *out, const char *request, size_t len)
{
	struct line *v = NULL;
	size_t n = split(request, len, &v), i, j;
	cJSON *root = cJSON_CreateObject(), *tasks, *t, *d;
	bool *deps = calloc(n + 1, sizeof(*deps));
	char name[48], *text, *json;
	int r = -ENOMEM;

	tasks = cJSON_AddArrayToObject(root, "tasks");
	if (!v || !deps || !tasks)
		goto out;
	r = -EINVAL;
	if (!n)
		goto out;
	for (i = 0; i < n; i++) {
		t = cJSON_CreateObject();
		cJSON_AddItemToArray(tasks, t);
		name_of(&v[i], i, name, sizeof(name));
		cJSON_AddStringToObject(t, "name", name);
		if (!(text = strndup(v[i].s, v[i].n)))
			goto nomem;
		cJSON_AddStringToObject(t, "prompt", text);
		free(text);
		d = cJSON_AddArrayToObject(t, "depends");
		memset(deps, 0, (n + 1) * sizeof(*deps));
		deps_of(v, i, deps);
		for (j = 0; j < i; j++)
			if (deps[j]) {
				name_of(&v[j], j, name, sizeof(name));
				cJSON_AddItemToArray(d, cJSON_CreateString(name));
			}
	}
	if (!(json = cJSON_PrintUnformatted(root)))
		goto nomem;
	r = buf_puts(out, json);
	cJSON_free(json);
	goto out;
nomem:
	r = -ENOMEM;
out:
	cJSON_Delete(root);
	free(deps);
	free(v);
	return r;
}
