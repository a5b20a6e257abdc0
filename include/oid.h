/*
 * oid: the room a commit id takes as text: 40 hex digits and the NUL
 * (libgit2's GIT_OID_HEXSZ + 1; src/git/msg.c checks that they agree),
 * for headers that do not include git2.h.
 *
 *	char commit[OID_HEX_SIZE];
 *	git_oid_tostr(commit, sizeof(commit), git_commit_id(c));
 */
#ifndef PAI_OID_H
#define PAI_OID_H

#define OID_HEX_SIZE 41

#endif
