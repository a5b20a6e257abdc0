/*
 * gitint: what the files of src/git/ share. Not for use outside src/git/;
 * the interfaces are include/merge.h, gitrepo.h, gitrev.h, gitmsg.h,
 * gitwork.h and worktree.h. Every function opens and frees its
 * own repository, or works on one its caller opened; one cleanup path
 * per function (goto out).
 */
#ifndef PAI_GITINT_H
#define PAI_GITINT_H

#include <limits.h>
#include <stddef.h>

#include <git2.h>

#include "merge.h"

/* The identity of commits when the repository names none. */
#define DEFAULT_NAME "parallelai"
#define DEFAULT_EMAIL "parallelai@localhost"

/* repo.c */
/* The commit hex (40 hex digits) names; -EINVAL for anything else. */
int mg_lookup_commit(git_commit **out, git_repository *repo,
		     const char *hex, char *err, size_t errlen);

/* paths.c */
/* Append a copy of path; the set is put in order by paths_finish. */
int mg_paths_add(struct merge_paths *p, const char *path);
void mg_paths_finish(struct merge_paths *p);
int mg_paths_copy(struct merge_paths *dst, const struct merge_paths *src);
/* "a b c" into buf, cut short with "..." when it does not fit. */
const char *mg_paths_join(char *buf, size_t len,
			  const struct merge_paths *p);

/* conflicts.c */
/* The commit spec names (anything git rev-parse takes). */
int mg_resolve(git_commit **out, git_repository *repo, const char *spec,
	       char *err, size_t errlen);
/*
 * Whether c is the commit want (40 hex digits) names, when want is set:
 * a branch that moved from it since is -EBUSY, with why ("it moved to
 * 3f2a1b0 from 9c8d7e6").
 */
int mg_is_wanted(const git_oid *c, const char *want, char *why,
		 size_t whylen);
/* The conflicting paths of a merged index: every side's path, once. */
int mg_index_conflicts(struct merge_paths *out, git_index *index);
/*
 * Turn a merged index's file/directory clashes into conflicts. libgit2
 * (1.5) sees one only where both sides add the path: a directory turned
 * file (or symbolic link) on one side, with a file added in it on the
 * other, comes out as two clean entries, "e" and "e/two", and the tree
 * written from them keeps one and silently drops the other. git calls
 * it CONFLICT (file/directory); so do we: each clashing entry becomes
 * a conflict on the side it came from (ours when ours has it as it is),
 * and every caller refuses the merge as it does any other conflict.
 */
int mg_mark_clashes(git_index *index, git_tree *ours);
/* The three-way merge of two commits, in memory, clashes marked. */
int mg_merge_two(git_index **out, git_repository *repo,
		 const git_commit *ours, const git_commit *theirs);
int mg_pair_conflicts(struct merge_paths *out, git_repository *repo,
		      const git_commit *a, const git_commit *b,
		      char *err, size_t errlen);

/* cache.c */
/* The paths that differ between two trees, renames as delete and add. */
int mg_changed_paths(struct merge_paths *out, git_repository *repo,
		     git_tree *from, git_tree *to);
/* Whether the sorted set p has the first len bytes of s as a path. */
int mg_has_path(const struct merge_paths *p, const char *s, size_t len);

/* merge.c */
/* Author and committer: the options, else user.name/email, else ours. */
int mg_signatures(git_signature **author, git_signature **committer,
		  git_repository *repo, const struct merge_options *o);

/* checkout.c */
/*
 * The paths the merge of ours and theirs into result would lose: each
 * one either side wrote since their merge base must be in result. A
 * merge without conflicts loses none; this is the last check before
 * one lands, against any clash that libgit2 does not see (as it did not
 * see a directory turned file). -ENOMEM, or a libgit2 error.
 */
int mg_lost_paths(struct merge_paths *lost, git_repository *repo,
		  const git_commit *ours, const git_commit *theirs,
		  git_tree *result);
/*
 * The working tree that has refname checked out, opened on its own
 * (*out NULL when none has): the repository's own, the main one when repo
 * is a linked worktree, or one of the linked worktrees.
 */
int mg_find_checkout(git_repository **out, git_repository *repo,
		     const char *refname);
/*
 * Bring wt's files and index from tree from to tree to, for the touched
 * paths only, never overwriting anything that differs from from; with
 * dry, only find out whether it could (conflicts gets what is in the way).
 */
int mg_checkout_paths(struct merge_paths *conflicts, git_repository *wt,
		      const git_oid *from_id, const git_oid *to_id,
		      const struct merge_paths *touched, int dry);
/*
 * Whether wt's files and index can go from tree from to tree to in the
 * touched paths: no git command running there, no merge or rebase under
 * way, nothing uncommitted in those paths and nothing in their way.
 * -EBUSY with err and r->paths saying why; else r->checkout names wt's
 * directory.
 */
int mg_checkout_ready(struct merge_result *r, git_repository *wt,
		      git_tree *from, git_tree *to,
		      const struct merge_paths *touched, const char *what,
		      const char *into, char *err, size_t errlen);

/* worktree.c */
/* Whether checking out tree could change a file's content on the way
 * (attributes, core.autocrlf, core.eol): else filters can be left off,
 * sparing a realpath per file. Any doubt answers yes. */
int mg_filters_needed(git_repository *repo, git_tree *tree);

/* ovmount.c and overlay.c (include/overlay.h) */
#include "overlay.h"
#include <stdbool.h>
#define OV_OID_SIZE OVERLAY_OID_SIZE
/* Each overlay mounted with its upperdir under prefix (and at path, when
 * set): fn(mount point, upperdir, arg); how many. */
int ov_each_mount(const char *prefix, const char *path,
		  void (*fn)(const char *, const char *, void *), void *arg);
bool ov_mounted(const char *path, const char *upper);
int ov_mount(const char *lower, const char *upper, const char *work,
	     const char *path, char *err, size_t errlen);
int ov_umount(const char *path);
/* A task's info file (dir/info): its base commit and its worktree. */
int ov_read_info(const char *dir, char oid[OV_OID_SIZE],
		 char path[PATH_MAX]);
/* Base checkouts that no task's info names, removed. */
void ov_prune_bases(const char *wtdir);

#endif
