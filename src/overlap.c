/*
 * overlap: whether two ownership globs may share a path; see
 * include/overlap.h.
 *
 * Each glob is a sequence of segments with "**" for any number of them;
 * one that ends in a fixed name gets an implicit "**" (a directory owns
 * what is under it).
 * Two such sequences share a path when the product of their automata
 * reaches both ends at once: a state is a pair (i, j) of positions, a
 * "**" lets its side move on without a segment, and a step takes one
 * path segment that both sides' segments may match. Two segments may
 * match the same name unless one is a fixed name the other does not
 * match, or their literal beginnings (or ends) differ. At most 65 x 65
 * states: bounded whatever the globs.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "overlap.h"
#include "spec.h"

#define SEGS (SPEC_GLOB_MAX_SEGMENTS + 1)

struct segs {
	char text[SPEC_GLOB_MAX_LEN + 1];
	const char *seg[SEGS];
	bool any[SEGS];
	size_t n;
};

static bool is_any(const char *s)
{
	return !strcmp(s, "**");
}

static bool is_fixed(const char *s);

/* Does the glob end in a fixed name (a file, or a directory it owns
 * all of)? A pattern at the end ("*.c") names files only. */
static bool names_dir(const struct segs *g)
{
	return !g->any[g->n - 1] && is_fixed(g->seg[g->n - 1]);
}

/* false past the limits or on an empty segment. */
static bool split(struct segs *g, const char *glob)
{
	size_t len = strlen(glob);
	char *s, *end;

	g->n = 0;
	if (len > SPEC_GLOB_MAX_LEN)
		return false;
	memcpy(g->text, glob, len + 1);
	for (s = g->text;; s = end + 1) {
		bool last;

		end = strchrnul(s, '/');
		last = !*end;
		*end = '\0';
		if (!*s || g->n == SPEC_GLOB_MAX_SEGMENTS)
			return false;
		if (!is_any(s) || !g->n || !g->any[g->n - 1]) {
			g->seg[g->n] = s;
			g->any[g->n++] = is_any(s);
		}
		if (last)
			break;
	}
	/* What is under a directory it names is owned too. */
	if (names_dir(g)) {
		g->seg[g->n] = "**";
		g->any[g->n++] = true;
	}
	return true;
}

static bool is_fixed(const char *s)
{
	return !strpbrk(s, "*?[\\");
}

/* The literal beginning: up to the first special character. */
static size_t head_len(const char *s)
{
	return strcspn(s, "*?[\\");
}

/* Do the literal ends agree? Only for segments without classes or
 * escapes, whose end after the last '*' or '?' is plain text. */
static bool tails_agree(const char *a, const char *b)
{
	const char *ta, *tb;
	size_t la, lb, n;

	if (strpbrk(a, "[\\") || strpbrk(b, "[\\"))
		return true;
	ta = a + strlen(a);
	while (ta > a && ta[-1] != '*' && ta[-1] != '?')
		ta--;
	tb = b + strlen(b);
	while (tb > b && tb[-1] != '*' && tb[-1] != '?')
		tb--;
	la = strlen(ta);
	lb = strlen(tb);
	n = la < lb ? la : lb;
	return !memcmp(ta + la - n, tb + lb - n, n);
}

/* May one name match both segments (neither "**")? */
static bool seg_overlap(const char *a, const char *b)
{
	size_t ha, hb;

	if (is_fixed(a) && is_fixed(b))
		return !strcmp(a, b);
	if (is_fixed(a))
		return fnmatch(b, a, FNM_PERIOD) == 0;
	if (is_fixed(b))
		return fnmatch(a, b, FNM_PERIOD) == 0;
	ha = head_len(a);
	hb = head_len(b);
	if (memcmp(a, b, ha < hb ? ha : hb))
		return false;
	return tails_agree(a, b);
}

static void visit(bool at[SEGS + 1][SEGS + 1], size_t *stack, size_t *top,
		  size_t i, size_t j)
{
	if (at[i][j])
		return;
	at[i][j] = true;
	stack[(*top)++] = i * (SEGS + 1) + j;
}

static bool seq_overlap(const struct segs *a, const struct segs *b)
{
	static __thread bool at[SEGS + 1][SEGS + 1];
	static __thread size_t stack[(SEGS + 1) * (SEGS + 1)];
	size_t top = 0;

	memset(at, 0, sizeof(at));
	visit(at, stack, &top, 0, 0);
	while (top) {
		size_t k = stack[--top], i = k / (SEGS + 1), j = k % (SEGS + 1);

		if (i == a->n && j == b->n)
			return true;
		if (i < a->n && a->any[i])
			visit(at, stack, &top, i + 1, j);
		if (j < b->n && b->any[j])
			visit(at, stack, &top, i, j + 1);
		if (i < a->n && j < b->n &&
		    (a->any[i] || b->any[j] ||
		     seg_overlap(a->seg[i], b->seg[j])))
			visit(at, stack, &top, a->any[i] ? i : i + 1,
			      b->any[j] ? j : j + 1);
	}
	return false;
}

bool overlap_globs(const char *a, const char *b)
{
	static __thread struct segs ga, gb;

	if (!split(&ga, a) || !split(&gb, b))
		return true;
	return seq_overlap(&ga, &gb);
}

bool overlap_owns(const char *glob, const char *path)
{
	static __thread struct segs g;
	char buf[SPEC_GLOB_MAX_LEN + 4];

	if (spec_glob_match(glob, path))
		return true;
	if (!split(&g, glob) || !g.any[g.n - 1] ||
	    strlen(glob) + 3 >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s/**", glob);
	return spec_glob_match(buf, path);
}

bool overlap_sets(const char *const *a, size_t na, const char *const *b,
		  size_t nb, size_t *ia, size_t *ib)
{
	size_t i, j;

	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			if (overlap_globs(a[i], b[j])) {
				if (ia)
					*ia = i;
				if (ib)
					*ib = j;
				return true;
			}
	return false;
}
