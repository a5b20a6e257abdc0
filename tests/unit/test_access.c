/*
 * test_access: who besides the owner may use the mount.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "check.h"

static void test_owner_and_root_only_by_default(void)
{
	struct access acl;

	access_init(&acl, 1000);
	CHECK(access_allows(&acl, 1000, 1000, NULL, 0));
	CHECK(access_allows(&acl, 0, 0, NULL, 0));
	CHECK(!access_allows(&acl, 1001, 1000, NULL, 0));
	CHECK(!access_shared(&acl));
	access_release(&acl);
}

static void test_named_users(void)
{
	struct access acl;
	char err[128];

	access_init(&acl, 1000);
	CHECK(access_add_users(&acl, "nobody:4242", err, sizeof(err)) == 0);
	CHECK(access_allows(&acl, 65534, 1, NULL, 0));
	CHECK(access_allows(&acl, 4242, 1, NULL, 0));
	CHECK(!access_allows(&acl, 4243, 1, NULL, 0));
	CHECK(access_shared(&acl));
	CHECK(access_add_users(&acl, "no-such-user-here", err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "allow_users: unknown user 'no-such-user-here'");
	CHECK(access_add_users(&acl, "", err, sizeof(err)) == -EINVAL);
	CHECK(access_add_users(&acl, "12x", err, sizeof(err)) == -EINVAL);
	access_release(&acl);
}

static void test_group_by_primary_or_supplementary(void)
{
	struct access acl;
	gid_t groups[] = { 5, 77 };
	char err[128];

	access_init(&acl, 1000);
	CHECK(access_set_group(&acl, "77", err, sizeof(err)) == 0);
	CHECK(access_allows(&acl, 2000, 77, NULL, 0));
	CHECK(access_allows(&acl, 2000, 3, groups, 2));
	CHECK(!access_allows(&acl, 2000, 3, groups, 1));
	CHECK(access_set_group(&acl, "no-such-group-here", err, sizeof(err)) == -EINVAL);
	access_release(&acl);
}

int main(void)
{
	RUN(test_owner_and_root_only_by_default);
	RUN(test_named_users);
	RUN(test_group_by_primary_or_supplementary);
	return check_done();
}
