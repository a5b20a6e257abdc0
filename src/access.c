/*
 * access: who may use the mount besides its owner. See include/access.h.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"

void access_init(struct access *acl, uid_t owner)
{
	memset(acl, 0, sizeof(*acl));
	acl->owner = owner;
}

void access_release(struct access *acl)
{
	free(acl->users);
	memset(acl, 0, sizeof(*acl));
}

/* A name, or a decimal id with nothing after it. */
static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out > 0x7fffffffUL ? -1 : 0;
}

static int lookup_user(const char *name, uid_t *out, char *err,
		       size_t errlen)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	unsigned long id;

	if (!*name) {
		snprintf(err, errlen, "allow_users: empty user name");
		return -EINVAL;
	}
	if (getpwnam_r(name, &pw, tmp, sizeof(tmp), &res) == 0 && res) {
		*out = res->pw_uid;
		return 0;
	}
	if (parse_id(name, &id) == 0) {
		*out = (uid_t)id;
		return 0;
	}
	snprintf(err, errlen, "allow_users: unknown user '%.64s'", name);
	return -EINVAL;
}

int access_add_users(struct access *acl, const char *names, char *err,
		     size_t errlen)
{
	char *copy = strdup(names), *name, *save = NULL;
	uid_t *v;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	if (!*copy) {
		snprintf(err, errlen, "allow_users: empty user name");
		r = -EINVAL;
	}
	for (name = strtok_r(copy, ":", &save); name && r == 0;
	     name = strtok_r(NULL, ":", &save)) {
		v = realloc(acl->users, (acl->n_users + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			break;
		}
		acl->users = v;
		r = lookup_user(name, &v[acl->n_users], err, errlen);
		if (r == 0)
			acl->n_users++;
	}
	free(copy);
	return r;
}

int access_set_group(struct access *acl, const char *name, char *err,
		     size_t errlen)
{
	struct group gr, *res = NULL;
	char tmp[16384];
	unsigned long id;

	if (getgrnam_r(name, &gr, tmp, sizeof(tmp), &res) == 0 && res) {
		acl->group = res->gr_gid;
	} else if (parse_id(name, &id) == 0) {
		acl->group = (gid_t)id;
	} else {
		snprintf(err, errlen, "allow_group: unknown group '%.64s'",
			 name);
		return -EINVAL;
	}
	acl->has_group = true;
	return 0;
}

bool access_allows(const struct access *acl, uid_t uid, gid_t gid,
		   const gid_t *groups, size_t n_groups)
{
	size_t i;

	if (uid == 0 || uid == acl->owner)
		return true;
	for (i = 0; i < acl->n_users; i++)
		if (acl->users[i] == uid)
			return true;
	if (!acl->has_group)
		return false;
	if (gid == acl->group)
		return true;
	for (i = 0; i < n_groups; i++)
		if (groups[i] == acl->group)
			return true;
	return false;
}

bool access_shared(const struct access *acl)
{
	return acl->n_users > 0 || acl->has_group;
}
