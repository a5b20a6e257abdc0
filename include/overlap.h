/*
 * overlap: may two tasks' paths touch the same file? Decided from the
 * globs alone, conservatively: two globs overlap unless their fixed names
 * or the literal beginnings and ends of their segments show that no path
 * can match both. The globs are those of a spec's `each` (spec.h: '*',
 * '?' and [...] within a segment, "**" for any number of segments), and
 * a glob that ends in a fixed name owns what is under that directory
 * too: "src/ui" owns src/ui/a.c ("src/(star)" owns only the files of src).
 *
 *	src/(any), src/a/(star).c	overlap
 *	(star).md, docs/x.md		apart: '*' stops at '/'
 *	a/(star), b/(star)		apart: the fixed first names differ
 */
#ifndef PAI_OVERLAP_H
#define PAI_OVERLAP_H

#include <stdbool.h>
#include <stddef.h>

/* May some path be owned by both? A glob past spec.h's limits owns
 * everything (true). */
bool overlap_globs(const char *a, const char *b);

/* Is path owned by the glob (matched, or under a directory it matches)? */
bool overlap_owns(const char *glob, const char *path);

/* The first pair (a[*ia], b[*ib]) that may overlap: true; false when
 * none does. ia, ib may be NULL. */
bool overlap_sets(const char *const *a, size_t na, const char *const *b,
		  size_t nb, size_t *ia, size_t *ib);

#endif
