/*
 * config: read parallelai's settings from git-config files with libgit2.
 *
 * The files are stacked into one git_config with rising priority levels, so
 * libgit2 resolves the overrides; mount options are applied afterwards by
 * config_set. Everything is copied into struct config, which is read-only
 * once the daemon runs.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "config.h"
#include "configint.h"
#include "policy.h"
#include "provider.h"

#define DEFAULT_MAX_PROMPT (1024 * 1024)
#define DEFAULT_KILL_GRACE 5000

void config_init(struct config *c)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(c, 0, sizeof(*c));
	c->workers = n > 0 ? (int)n : 1;
	c->max_fanout = 1000;
	c->log_max = 256ULL << 20;
	c->retry_base = 10;
	c->retry_max = 300;
	c->breaker_failures = 5;
	c->breaker_cooldown = 60;
	c->max_prompt = DEFAULT_MAX_PROMPT;
	c->kill_grace_ms = DEFAULT_KILL_GRACE;
	c->check_timeout = 600;
	c->fix_rounds = -1;
	c->fix_tail = 16384;
	c->merge_queue = -1;
	c->path_locks = PATH_LOCKS_ON;
	c->outside_paths = OUTSIDE_FAIL;
	c->queue_batch = 4;
	c->queue_retries = 1;
	c->sim.seconds = 2;
	c->policy_builtin = true;
	c->ask_timeout = 3600;
	c->judge_timeout = 30;
	c->overlay_from = 5000;
}

/* true/yes/1 or false/no/0, as 1 or 0; -1 for anything else */
int cf_parse_bool(const char *v)
{
	if (v && (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")))
		return 1;
	if (v && (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")))
		return 0;
	return -1;
}

void cf_set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? strdup(v) : NULL;
}

int cf_parse_long(const char *v, long min, long max, long *out)
{
	char *end;
	long n;

	if (!v || !*v)
		return -EINVAL;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*out = n;
	return 0;
}

int config_parse_usd(const char *v, double *out)
{
	char *end;
	double d;

	if (!v || !*v || isspace((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	d = strtod(v, &end);
	if (errno || *end || !isfinite(d) || d <= 0 || d > 1e12)
		return -EINVAL;
	*out = d;
	return 0;
}

int config_parse_window(const char *v, int64_t *out)
{
	static const struct { char unit; int64_t s; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	char *end;
	long long n;
	size_t i;

	if (!v || !isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || n <= 0 || n > 3650LL * 86400)
		return -EINVAL;
	if (!*end) {
		*out = n;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (end[0] == units[i].unit && !end[1]) {
			if (n > 3650LL * 86400 / units[i].s)
				return -EINVAL;
			*out = n * units[i].s;
			return 0;
		}
	return -EINVAL;
}

/* How a key's value is read and where it goes. */
enum kind {
	K_INT,		/* int, min..max */
	K_SIZE,		/* size_t, min..max */
	K_U64,		/* uint64_t, min..max */
	K_NAME,		/* a string, not empty */
	K_TEXT,		/* a string, any (NULL clears) */
	K_CLEARS,	/* a string; "" clears a default read before */
	K_CHOICE,	/* one of choices */
	K_INT_BOOL,	/* true/yes/1 or false/no/0, into an int */
	K_BOOL,		/* the same, into a bool; no value: true */
	K_ENUM,		/* one of choices, stored as its index (int) */
	K_ENUM_BOOL,	/* the same, or a boolean for choices 0 and 1 */
	K_USD,		/* a positive number of dollars */
	K_WINDOW,	/* seconds, or N followed by s, m, h or d */
};

struct key {
	const char *name;	/* as config_set gets it: lower case */
	enum kind kind;
	size_t off;		/* of the field in struct config */
	long min, max;
	const char *const *choices;	/* K_CHOICE, NULL-terminated */
};

static const char *const strategies[] = { "merge", "squash", "rebase", NULL };
static const char *const sandboxes[] = { "auto", "bwrap", "none", NULL };
static const char *const networks[] = { "on", "loopback", "none", NULL };
/* in the order of PATH_LOCKS_* and OUTSIDE_* */
static const char *const path_locks[] = { "off", "on", "strict", NULL };
static const char *const outside[] = { "fail", "keep", "drop", NULL };
static const char *const backends[] = { "local", "slurm", NULL };
static const char *const checkouts[] = { "full", "overlay", "auto", NULL };

#define AT(f) offsetof(struct config, f)

/* Every parallelai.KEY (and -o KEY=VALUE): one row each. */
static const struct key keys[] = {
	{ "workers", K_INT, AT(workers), 1, 1024, NULL },
	{ "engine", K_NAME, AT(engine), 0, 0, NULL },
	{ "state", K_NAME, AT(state_dir), 0, 0, NULL },
	{ "worktrees", K_NAME, AT(worktrees_dir), 0, 0, NULL },
	{ "maxprompt", K_SIZE, AT(max_prompt), 1, 1L << 30, NULL },
	/* 0: no cap */
	{ "logmax", K_U64, AT(log_max), 0, LONG_MAX, NULL },
	{ "killgrace", K_INT, AT(kill_grace_ms), 0, 3600 * 1000, NULL },
	{ "maxfanout", K_INT, AT(max_fanout), 1, 100000, NULL },
	{ "retrybase", K_INT, AT(retry_base), 0, 86400, NULL },
	{ "retrymax", K_INT, AT(retry_max), 0, 86400, NULL },
	{ "breakerfailures", K_INT, AT(breaker_failures), 1, 1000, NULL },
	{ "breakercooldown", K_INT, AT(breaker_cooldown), 0, 86400, NULL },
	{ "planner", K_NAME, AT(planner), 0, 0, NULL },
	{ "planapprove", K_INT_BOOL, AT(plan_approve), 0, 0, NULL },
	{ "mergestrategy", K_CHOICE, AT(merge_strategy), 0, 0, strategies },
	{ "mergeinto", K_NAME, AT(merge_into), 0, 0, NULL },
	{ "remote", K_NAME, AT(remote), 0, 0, NULL },
	{ "check", K_CLEARS, AT(check), 0, 0, NULL },
	/* 0: none */
	{ "checktimeout", K_INT, AT(check_timeout), 0, 7 * 86400, NULL },
	{ "fixrounds", K_INT, AT(fix_rounds), 0, 100, NULL },
	{ "fixtail", K_SIZE, AT(fix_tail), 0, 1L << 20, NULL },
	{ "mergequeue", K_INT_BOOL, AT(merge_queue), 0, 0, NULL },
	{ "queuebatch", K_INT, AT(queue_batch), 1, 64, NULL },
	{ "queueretries", K_INT, AT(queue_retries), 0, 10, NULL },
	{ "queueautofix", K_BOOL, AT(queue_auto_fix), 0, 0, NULL },
	{ "sandbox", K_CHOICE, AT(sandbox), 0, 0, sandboxes },
	{ "network", K_CHOICE, AT(network), 0, 0, networks },
	{ "bwrap", K_NAME, AT(bwrap), 0, 0, NULL },
	/* -o simulate alone means yes */
	{ "simulate", K_BOOL, AT(simulate), 0, 0, NULL },
	{ "budgetusd", K_USD, AT(budget_usd), 0, 0, NULL },
	{ "budgetwindow", K_WINDOW, AT(budget_window), 0, 0, NULL },
	{ "pathlocks", K_ENUM_BOOL, AT(path_locks), 0, 0, path_locks },
	{ "outsidepaths", K_ENUM, AT(outside_paths), 0, 0, outside },
	{ "backend", K_CHOICE, AT(backend), 0, 0, backends },
	{ "checkout", K_CHOICE, AT(checkout), 0, 0, checkouts },
	{ "overlayfrom", K_INT, AT(overlay_from), 0, 100000000, NULL },
	/* [slurm] KEY (and -o slurm.KEY=): "" clears one set before */
	{ "slurm.partition", K_CLEARS, AT(slurm_partition), 0, 0, NULL },
	{ "slurm.account", K_CLEARS, AT(slurm_account), 0, 0, NULL },
	{ "slurm.args", K_CLEARS, AT(slurm_args), 0, 0, NULL },
	{ "slurm.maxjobs", K_INT, AT(slurm_max_jobs), 1, 100000, NULL },
	{ "authorname", K_TEXT, AT(author_name), 0, 0, NULL },
	{ "authoremail", K_TEXT, AT(author_email), 0, 0, NULL },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* The index of v among choices, or -1. */
static int choice(const char *const *choices, const char *v)
{
	int i;

	for (i = 0; v && choices[i]; i++)
		if (!strcmp(choices[i], v))
			return i;
	return -1;
}

/* value into the field k names: 0, or -EINVAL when it does not fit. */
static int set_key(struct config *c, const struct key *k, const char *value)
{
	void *f = (char *)c + k->off;
	long n;
	int b;

	switch (k->kind) {
	case K_INT:
	case K_SIZE:
	case K_U64:
		if (cf_parse_long(value, k->min, k->max, &n) < 0)
			return -EINVAL;
		if (k->kind == K_INT)
			*(int *)f = (int)n;
		else if (k->kind == K_SIZE)
			*(size_t *)f = (size_t)n;
		else
			*(uint64_t *)f = (uint64_t)n;
		return 0;
	case K_NAME:
		if (!value || !*value)
			return -EINVAL;
		cf_set_str(f, value);
		return 0;
	case K_TEXT:
		cf_set_str(f, value);
		return 0;
	case K_CLEARS:
		cf_set_str(f, value && *value ? value : NULL);
		return 0;
	case K_CHOICE:
		if (choice(k->choices, value) < 0)
			return -EINVAL;
		cf_set_str(f, value);
		return 0;
	case K_ENUM:
	case K_ENUM_BOOL:
		if ((b = choice(k->choices, value)) < 0 &&
		    (k->kind != K_ENUM_BOOL || (b = cf_parse_bool(value)) < 0))
			return -EINVAL;
		*(int *)f = b;
		return 0;
	case K_INT_BOOL:
	case K_BOOL:
		if ((b = !value && k->kind == K_BOOL ? 1 : cf_parse_bool(value)) < 0)
			return -EINVAL;
		if (k->kind == K_BOOL)
			*(bool *)f = b;
		else
			*(int *)f = b;
		return 0;
	case K_USD:
		return config_parse_usd(value, f);
	case K_WINDOW:
		return config_parse_window(value, f);
	}
	return -EINVAL;
}

int config_set(struct config *c, const char *key, const char *value,
	       char *err, size_t errlen)
{
	size_t i;

	/* sim.seconds=0 among the mount options, as in [sim] */
	if (!strncmp(key, "sim.", 4)) {
		if (sim_knob_set(&c->sim, key + 4, value) < 0) {
			snprintf(err, errlen, "invalid value for '%s': '%s'"
				 " (sim.seconds 0-86400, sim.failRate and"
				 " sim.checkFailRate 0-1, sim.seed >= 0)", key,
				 value ? value : "");
			return -EINVAL;
		}
		return 0;
	}
	for (i = 0; i < N_KEYS && strcmp(keys[i].name, key); i++)
		;
	if (i == N_KEYS) {
		snprintf(err, errlen, "unknown option '%s'", key);
		return -EINVAL;
	}
	if (set_key(c, &keys[i], value) < 0) {
		snprintf(err, errlen, "invalid value for '%s': '%s'", key,
			 value ? value : "");
		return -EINVAL;
	}
	return 0;
}

static int add_file(git_config *cfg, const char *path, git_config_level_t lvl,
		    char *err, size_t errlen)
{
	if (access(path, F_OK) < 0)
		return 0;
	if (git_config_add_file_ondisk(cfg, path, lvl, NULL, 0) < 0) {
		const git_error *e = git_error_last();

		snprintf(err, errlen, "cannot read config '%s': %s", path,
			 e ? e->message : "unknown error");
		return -EINVAL;
	}
	return 0;
}

int config_load(struct config *c, const char *repo, char *err, size_t errlen)
{
	git_repository *r = NULL;
	git_config *cfg = NULL, *snap = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *e;
	char path[PATH_MAX];
	const char *home = getenv("HOME");
	int ret = -EINVAL;
	size_t i;

	if (git_repository_open(&r, repo) < 0) {
		snprintf(err, errlen, "not a git repository: '%s'", repo);
		goto out;
	}
	if (git_config_new(&cfg) < 0)
		goto git_fail;
	/* Levels only need to rise in the order of precedence. */
	snprintf(path, sizeof(path), "%s/config", git_repository_commondir(r));
	if ((ret = add_file(cfg, path, GIT_CONFIG_LEVEL_APP, err, errlen)) < 0)
		goto out;
	if (git_repository_workdir(r)) {
		snprintf(path, sizeof(path), "%s.parallelai/config",
			 git_repository_workdir(r));
		if ((ret = add_file(cfg, path, GIT_CONFIG_LEVEL_APP + 1,
				    err, errlen)) < 0)
			goto out;
	}
	if (home) {
		snprintf(path, sizeof(path), "%s/.config/parallelai/config",
			 home);
		if ((ret = add_file(cfg, path, GIT_CONFIG_LEVEL_APP + 2, err,
				    errlen)) < 0)
			goto out;
	}
	if (git_config_snapshot(&snap, cfg) < 0)
		goto git_fail;

	for (i = 0; i < N_KEYS; i++) {
		git_config_entry *ent;
		char name[64];

		/* sectioned keys (slurm.args) are read as their section's */
		if (strchr(keys[i].name, '.'))
			continue;
		snprintf(name, sizeof(name), "parallelai.%s", keys[i].name);
		if (git_config_get_entry(&ent, snap, name) < 0)
			continue;
		ret = config_set(c, keys[i].name, ent->value, err, errlen);
		git_config_entry_free(ent);
		if (ret < 0) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", err);
			snprintf(err, errlen, "config %s: %s", name, msg);
			goto out;
		}
	}
	/* Matched by hand: libgit2 1.5's glob iterator leaks its regex
	 * match data on every entry that does not match. */
	if (git_config_iterator_new(&it, snap) < 0)
		goto git_fail;
	while (git_config_next(&e, it) == 0)
		if ((ret = cf_read_entry(c, e->name, e->value, err, errlen)) < 0)
			goto out;
	ret = 0;
	goto out;
git_fail:
	snprintf(err, errlen, "cannot read config of '%s': %s", repo,
		 git_error_last() ? git_error_last()->message : "unknown error");
	ret = -EIO;
out:
	git_config_iterator_free(it);
	git_config_free(snap);
	git_config_free(cfg);
	git_repository_free(r);
	return ret;
}

const struct engine_def *config_engine(const struct config *c,
				       const char *name)
{
	size_t i;

	for (i = 0; i < c->n_engines; i++)
		if (!strcmp(c->engines[i].name, name))
			return &c->engines[i];
	return NULL;
}

const struct price_def *config_price(const struct config *c,
				     const char *model)
{
	size_t i;

	for (i = 0; model && i < c->n_prices; i++)
		if (!strcmp(c->prices[i].model, model))
			return &c->prices[i];
	return NULL;
}

void config_release(struct config *c)
{
	size_t i;

	for (i = 0; i < c->n_notify; i++) {
		struct notify_def *n = &c->notify[i];
		size_t j;

		for (j = 0; j < n->n_headers; j++)
			free(n->headers[j]);
		free(n->headers);
		free(n->name);
		free(n->events);
		free(n->command);
		free(n->url);
	}
	free(c->notify);
	for (i = 0; i < c->n_policy; i++) {
		free(c->policy[i].engine);
		free(c->policy[i].pattern);
	}
	free(c->policy);
	free(c->judge);
	for (i = 0; i < c->n_prices; i++)
		free(c->prices[i].model);
	free(c->prices);
	for (i = 0; i < c->n_copy; i++)
		free(c->copy[i]);
	free(c->copy);
	free(c->setup);
	free(c->check);
	free(c->merge_strategy);
	free(c->planner);
	free(c->merge_into);
	free(c->remote);
	free(c->bedrock_region);
	free(c->vertex_region);
	free(c->vertex_project);
	free(c->sandbox);
	free(c->network);
	free(c->bwrap);

	for (i = 0; i < c->n_engines; i++) {
		struct engine_def *e = &c->engines[i];

		cf_free_strs(e->env, e->n_env);
		cf_free_strs(e->bind, e->n_bind);
		cf_free_strs(e->bind_rw, e->n_bind_rw);
		cf_free_strs(e->pass_env, e->n_pass_env);
		free(e->sandbox);
		free(e->network);
		free(e->name);
		free(e->command);
		free(e->model);
		free(e->args);
		free(e->permission_mode);
		free(e->base_url);
		free(e->api_key_env);
		free(e->protocol);
		free(e->provider);
		free(e->slurm_args);
	}
	free(c->engines);
	free(c->engine);
	free(c->state_dir);
	free(c->worktrees_dir);
	free(c->author_name);
	free(c->author_email);
	free(c->backend);
	free(c->checkout);
	free(c->slurm_partition);
	free(c->slurm_account);
	free(c->slurm_args);
	memset(c, 0, sizeof(*c));
}
