/*
 * config: parallelai's settings, in git-config format, read with libgit2.
 *
 * Sources, each overriding the one before: the repository's own config
 * (`git config parallelai.workers 8`), REPO/.parallelai/config,
 * ~/.config/parallelai/config, then mount options (-o workers=8).
 *
 *	[parallelai]
 *		workers = 4
 *		engine = sh
 *	[engine "mytool"]
 *		command = mytool --prompt-file {prompt_file}
 *
 * The result is a plain struct read once at start: threads share it
 * read-only.
 */
#ifndef PAI_CONFIG_H
#define PAI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * [engine "NAME"]: a command of one's own, or settings for a preset
 * (claude, codex, gemini, aider, opencode, anthropic, openai).
 */
struct engine_def {
	char *name;
	char *command;		/* the template, before word splitting */
	char *model;		/* model */
	char *args;		/* args: extra words for the program */
	char **env;		/* env = KEY=VALUE, one entry per line */
	size_t n_env;
	char *permission_mode;	/* permissionMode (claude) */
	char *base_url;		/* baseUrl (anthropic, openai) */
	char *api_key_env;	/* apiKeyEnv (anthropic, openai) */
	int max;		/* max: tasks of this engine at once, 0: any */
	int max_tokens;		/* maxTokens, 0: the agent's default */
	int max_turns;		/* maxTurns, 0: the agent's default */
	char *slurm_args;	/* slurmArgs: extra sbatch words */
};

/* [price "MODEL"]: dollars per million tokens, for engines that do not
 * report a cost themselves. */
struct price_def {
	char *model;
	double input;
	double output;
};

struct config {
	int workers;		/* parallelai.workers, -o workers=N */
	char *engine;		/* parallelai.engine, -o engine=NAME; NULL:
				 * chosen at start (engine_choose_default) */
	char *state_dir;	/* parallelai.state, -o state=DIR */
	char *worktrees_dir;	/* parallelai.worktrees, -o worktrees=DIR */
	size_t max_prompt;	/* parallelai.maxPrompt, bytes */
	int kill_grace_ms;	/* parallelai.killGrace, ms */
	uint64_t log_max;	/* parallelai.logMax: bytes per run's output */
	char *author_name;	/* parallelai.authorName */
	char *author_email;	/* parallelai.authorEmail */
	struct engine_def *engines;	/* [engine "NAME"] sections */
	size_t n_engines;
	struct price_def *prices;	/* [price "MODEL"] sections */
	size_t n_prices;
	int max_fanout;		/* parallelai.maxFanout: tasks per spec */
	char *planner;		/* parallelai.planner: the planner engine */
	int plan_approve;	/* parallelai.planApprove: wait for approve */
	char *merge_strategy;	/* merge.strategy: merge | squash | rebase */
	char *merge_into;	/* parallelai.mergeInto: NULL, HEAD's branch */
	char *remote;		/* parallelai.remote: where push goes */
	char **copy;		/* worktree.copy: files to copy in, n_copy
				 * of them and a NULL */
	size_t n_copy;
	char *setup;		/* worktree.setup: a command run first */
	int retry_base;		/* parallelai.retryBase: seconds */
	int retry_max;		/* parallelai.retryMax: seconds */
	int breaker_failures;	/* parallelai.breakerFailures: K in a row */
	int breaker_cooldown;	/* parallelai.breakerCooldown: seconds */
	char *check;		/* parallelai.check: a task's default check
				 * command, NULL: none */
	int check_timeout;	/* parallelai.checkTimeout: seconds, 0: none */
	int fix_rounds;		/* parallelai.fixRounds: -1, by engine */
	size_t fix_tail;	/* parallelai.fixTail: bytes of a failed
				 * check's output in a fix round's prompt */
	int merge_queue;	/* parallelai.mergeQueue: -1 unset (on when
				 * a check is set), 0, 1 */
	int queue_batch;	/* parallelai.queueBatch: candidates per check */
	int queue_retries;	/* parallelai.queueRetries: re-runs of a failed
				 * check before bisecting */
	bool queue_auto_fix;	/* parallelai.queueAutoFix */
	char *backend;		/* parallelai.backend: local | slurm */
	char *slurm_partition;	/* slurm.partition */
	char *slurm_account;	/* slurm.account */
	char *slurm_args;	/* slurm.args: extra sbatch words */
	int slurm_max_jobs;	/* slurm.maxJobs: jobs at once, 0: workers */
};

void config_init(struct config *c);
/* Read the config files for repo (a work tree or git directory). */
int config_load(struct config *c, const char *repo, char *err, size_t errlen);
/* Apply one mount option ("workers", "4"); -EINVAL with a message. */
int config_set(struct config *c, const char *key, const char *value,
	       char *err, size_t errlen);
const struct engine_def *config_engine(const struct config *c,
				       const char *name);
const struct price_def *config_price(const struct config *c,
				     const char *model);
void config_release(struct config *c);

#endif
