/*
 * access: who may use the mount besides its owner.
 *
 * Whoever may write tasks/new runs commands as the user who mounted it,
 * so the daemon decides from each request's uid and groups, not from
 * mode bits: the owner (the daemon's own uid) and root always; the users
 * named by -o allow_users=NAME[:NAME...] and the members of
 * -o allow_group=NAME when the mount names them; nobody else.
 *
 *	struct access acl;
 *	access_init(&acl, getuid());
 *	if (access_add_users(&acl, "alice:bob", err, sizeof(err)) < 0 ||
 *	    access_set_group(&acl, "devs", err, sizeof(err)) < 0)
 *		die("%s", err);		// "unknown user 'bob'"
 *	if (!access_allows(&acl, uid, gid, groups, n_groups))
 *		return -EACCES;
 *	access_release(&acl);
 *
 * Read-only after set-up: any thread may ask.
 */
#ifndef PAI_ACCESS_H
#define PAI_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct access {
	uid_t owner;
	uid_t *users;
	size_t n_users;
	gid_t group;
	bool has_group;
};

void access_init(struct access *acl, uid_t owner);
void access_release(struct access *acl);
/* names: one user name or uid, or several separated by ':' */
int access_add_users(struct access *acl, const char *names, char *err,
		     size_t errlen);
/* name: a group name or gid */
int access_set_group(struct access *acl, const char *name, char *err,
		     size_t errlen);
/* Does the mount let this caller in? groups: its supplementary ones. */
bool access_allows(const struct access *acl, uid_t uid, gid_t gid,
		   const gid_t *groups, size_t n_groups);
/* Does it name anyone besides the owner and root? */
bool access_shared(const struct access *acl);

#endif
