/*
 * test_fscopy: copy_file's ways (reflink, copy_file_range, read and
 * write) and copy_tree, on the temporary directory's file system, the
 * results checked with cmp, diff -r and stat. Whether a reflink shares
 * extents is test_reflink's (an XFS file system on a loop device).
 *
 *	$ ./test_fscopy
 *	ok test_each_way_copies_the_same_bytes
 *	...
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fsutil.h"
#include "gitfix.h"

static char *at(const char *rel)
{
	static char path[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmp, rel);
	return path[k];
}

static mode_t mode_of(const char *rel)
{
	struct stat st;

	return lstat(at(rel), &st) < 0 ? 0 : st.st_mode;
}

static void test_each_way_copies_the_same_bytes(void)
{
	int r;

	/* 3 MB and a tail that is no multiple of a block */
	sh("head -c 3000017 /dev/urandom > %s && chmod 750 %s", at("src.bin"),
	   at("src.bin"));
	CHECK(copy_file_with(at("src.bin"), at("plain.bin"), COPY_PLAIN) ==
	      COPY_PLAIN);
	CHECK(sh("cmp -s %s %s", at("src.bin"), at("plain.bin")) == 0);
	CHECK((mode_of("plain.bin") & 07777) == 0750);
	CHECK(copy_file_with(at("src.bin"), at("range.bin"), COPY_RANGE) ==
	      COPY_RANGE);
	CHECK(sh("cmp -s %s %s", at("src.bin"), at("range.bin")) == 0);
	/* whatever way this file system allows first */
	CHECK(copy_file_with(at("src.bin"), at("any.bin"), COPY_ANY) > 0);
	CHECK(sh("cmp -s %s %s", at("src.bin"), at("any.bin")) == 0);
	CHECK(copy_file(at("src.bin"), at("deep/er/copy.bin")) == 0);
	CHECK(sh("cmp -s %s %s", at("src.bin"), at("deep/er/copy.bin")) == 0);
	/* a clone alone: done, or refused without a fallback */
	r = copy_file_with(at("src.bin"), at("clone.bin"), COPY_CLONE);
	CHECK(r == COPY_CLONE || r == -EOPNOTSUPP || r == -EXDEV ||
	      r == -EINVAL || r == -ENOTTY);
	if (r == COPY_CLONE)
		CHECK(sh("cmp -s %s %s", at("src.bin"), at("clone.bin")) == 0);
}

static void test_copy_over_a_longer_file_truncates_it(void)
{
	int way;

	sh("echo short > %s", at("short"));
	for (way = COPY_CLONE; way <= COPY_PLAIN; way <<= 1) {
		sh("head -c 200000 /dev/zero > %s", at("long"));
		if (copy_file_with(at("short"), at("long"), way | COPY_PLAIN) < 0)
			CHECK(0);
		CHECK(sh("cmp -s %s %s", at("short"), at("long")) == 0);
	}
	sh(": > %s", at("empty"));
	CHECK(copy_file(at("empty"), at("long")) == 0);
	CHECK(sh("test ! -s %s", at("long")) == 0);
}

static void test_copy_file_refuses_what_is_no_file(void)
{
	sh("mkdir -p %s", at("adir"));
	CHECK(copy_file(at("adir"), at("x")) == -EINVAL);
	CHECK(copy_file(at("missing"), at("x")) == -ENOENT);
}

static void make_tree(void)
{
	sh("cd %s && mkdir -p nm/pkg/lib nm/.bin nm/empty && "
	   "head -c 100000 /dev/urandom > nm/pkg/lib/index.js && "
	   "echo '{}' > nm/pkg/package.json && "
	   "printf '#!/bin/sh\\n' > nm/pkg/cli.sh && chmod 755 nm/pkg/cli.sh && "
	   "chmod 700 nm/pkg/lib && "
	   "ln -s ../pkg/cli.sh nm/.bin/cli && ln -s /nonexistent nm/dangling && "
	   "mkfifo nm/pipe", tmp);
}

static void test_copy_tree_copies_files_dirs_and_links(void)
{
	make_tree();
	CHECK(copy_tree(at("nm"), at("wt/nm"), COPY_ANY) == 0);
	/* the same files and links, the fifo left out */
	CHECK(sh("diff -r --no-dereference -x pipe %s %s", at("nm"),
		 at("wt/nm")) == 0);
	CHECK(!exists("%s/wt/nm/pipe", tmp));
	CHECK(S_ISLNK(mode_of("wt/nm/.bin/cli")));
	CHECK(S_ISLNK(mode_of("wt/nm/dangling")));
	CHECK(out_is("../pkg/cli.sh\n", "readlink %s", at("wt/nm/.bin/cli")));
	CHECK((mode_of("wt/nm/pkg/cli.sh") & 07777) == 0755);
	CHECK((mode_of("wt/nm/pkg/lib") & 07777) == 0700);
	CHECK(S_ISDIR(mode_of("wt/nm/empty")));
	/* again, over what is there: links made anew, files rewritten */
	sh("echo changed > %s", at("nm/pkg/package.json"));
	CHECK(copy_tree(at("nm"), at("wt/nm"), COPY_PLAIN) == 0);
	CHECK(sh("diff -r --no-dereference -x pipe %s %s", at("nm"),
		 at("wt/nm")) == 0);
	/* a file alone, as copy_file */
	CHECK(copy_tree(at("nm/pkg/package.json"), at("one/p.json"),
			COPY_ANY) == 0);
	CHECK(sh("cmp -s %s %s", at("nm/pkg/package.json"),
		 at("one/p.json")) == 0);
}

static void test_copy_tree_into_itself_ends(void)
{
	sh("mkdir -p %s && echo x > %s", at("self/a"), at("self/a/f"));
	CHECK(copy_tree(at("self"), at("self/a/inner"), COPY_ANY) == 0);
	CHECK(sh("cmp -s %s %s", at("self/a/f"), at("self/a/inner/a/f")) == 0);
	CHECK(!exists("%s/self/a/inner/a/inner", tmp));
}

static void test_copy_tree_refuses_what_is_neither(void)
{
	sh("mkfifo %s", at("lone-pipe"));
	CHECK(copy_tree(at("lone-pipe"), at("x"), COPY_ANY) == -EINVAL);
	CHECK(copy_tree(at("nothing"), at("x"), COPY_ANY) == -ENOENT);
}

int main(void)
{
	char dir[] = "/tmp/test_fscopy.XXXXXX";

	(void)err;	/* gitfix.h's, for the git tests */
	if (gitfix_setup(dir) < 0)
		return 1;
	RUN(test_each_way_copies_the_same_bytes);
	RUN(test_copy_over_a_longer_file_truncates_it);
	RUN(test_copy_file_refuses_what_is_no_file);
	RUN(test_copy_tree_copies_files_dirs_and_links);
	RUN(test_copy_tree_into_itself_ends);
	RUN(test_copy_tree_refuses_what_is_neither);
	if (!check_failures)
		sh("rm -rf %s", tmp);
	else
		fprintf(stderr, "files kept in %s\n", tmp);
	return check_done();
}
