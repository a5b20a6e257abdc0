/*
 * fuzz_config: a repository's .parallelai/config file, read by
 * config_load as at mount time: libgit2's parser, then our checks of
 * every value (numbers, engines, prices, environment lines).
 *
 * The input is written to REPO/.parallelai/config of a repository made
 * once under $TMPDIR; HOME points at an empty directory.
 *
 *	tests/fuzz/run config
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <ftw.h>
#include <unistd.h>

#include <git2.h>

#include "config.h"
#include "notify.h"

static char repo[256], cfgpath[300];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static void cleanup(void)
{
	nftw(repo, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	git_repository *r;
	char dir[300];

	snprintf(repo, sizeof(repo), "%s/pai-fuzz-config-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(repo))
		abort();
	atexit(cleanup);
	git_libgit2_init();
	if (git_repository_init(&r, repo, 0) < 0)
		abort();
	git_repository_free(r);
	snprintf(dir, sizeof(dir), "%s/.parallelai", repo);
	mkdir(dir, 0755);
	snprintf(cfgpath, sizeof(cfgpath), "%s/config", dir);
	/* no user config gets in the way */
	snprintf(dir, sizeof(dir), "%s/home", repo);
	mkdir(dir, 0755);
	setenv("HOME", dir, 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[512];
	FILE *f = fopen(cfgpath, "wb");

	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	config_init(&c);
	if (config_load(&c, repo, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < c.n_engines; i++)
			(void)config_engine(&c, c.engines[i].name);
		for (size_t i = 0; i < c.n_prices; i++)
			(void)config_price(&c, c.prices[i].model);
		(void)notify_check(&c, err, sizeof(err));
	}
	config_release(&c);
	return 0;
}
