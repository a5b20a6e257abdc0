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

#include "sim.h"

/*
 * [engine "NAME"]: a command of one's own, or settings for a preset
 * (claude, codex, gemini, aider, opencode, anthropic, openai, bedrock);
 * with protocol = anthropic|openai|bedrock, NAME is the built-in agent.
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
	char *protocol;		/* protocol: NAME is the built-in agent */
	char *provider;		/* provider (claude: anthropic, bedrock,
				 * vertex; gemini: gemini, vertex) */
	int max;		/* max: tasks of this engine at once, 0: any */
	int max_tokens;		/* maxTokens, 0: the agent's default */
	int max_turns;		/* maxTurns, 0: the agent's default */
	char *sandbox;		/* sandbox: auto | bwrap | none, or NULL */
	char *network;		/* network: on | loopback | none, or NULL */
	char **bind;		/* bind: paths bound read-only (~/ is the
				 * user's home, seen in the task's) */
	size_t n_bind;
	char **bind_rw;		/* bindRw: the same, writable */
	size_t n_bind_rw;
	char **pass_env;	/* passEnv: names passed from the daemon's
				 * environment */
	size_t n_pass_env;
	double budget_usd;	/* budgetUsd: its spend per window, 0: none */
	char *slurm_args;	/* slurmArgs: extra sbatch words */
};

/* [price "MODEL"]: dollars per million tokens, for engines that do not
 * report a cost themselves. */
struct price_def {
	char *model;
	double input;
	double output;
};

/*
 * [notify "NAME"]: where events are sent (see include/notify.h). Either
 * command (run with /bin/sh -c) or url (an HTTP POST); the url and the
 * header values are secrets: never logged, never shown in the mount.
 */
enum notify_format { NOTIFY_JSON, NOTIFY_SLACK };

struct notify_def {
	char *name;
	char *events;		/* events: names separated by blanks, or "*" */
	char *command;		/* command */
	char *url;		/* url: http:// or https:// */
	enum notify_format format;	/* format = json | slack */
	char **headers;		/* header = "Name: value", n_headers of them */
	size_t n_headers;
	int timeout;		/* timeout: seconds a delivery may take */
	int retries;		/* retries: attempts after the first */
};

/* A tool call's fate (include/policy.h). */
enum policy_decision { POLICY_ALLOW, POLICY_ASK, POLICY_DENY, POLICY_JUDGE };

/* policy.deny|ask|allow = PATTERN, engine.NAME.policyDeny|Ask|Allow. */
struct policy_def {
	enum policy_decision kind;	/* POLICY_DENY, _ASK or _ALLOW */
	char *engine;		/* NAME of engine.NAME.policy*; NULL: policy.* */
	char *pattern;
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
	int path_locks;		/* parallelai.pathLocks: PATH_LOCKS_* */
	int outside_paths;	/* parallelai.outsidePaths: OUTSIDE_* */
	struct notify_def *notify;	/* [notify "NAME"] sections */
	size_t n_notify;
	char *sandbox;		/* parallelai.sandbox, -o sandbox=: auto
				 * (NULL), bwrap, none */
	char *network;		/* parallelai.network: on (NULL), loopback,
				 * none */
	char *bwrap;		/* parallelai.bwrap: bubblewrap's path;
				 * NULL: bwrap on PATH */
	struct sim_knobs sim;	/* [sim] seconds, failRate, seed,
				 * checkFailRate (include/sim.h) */
	bool simulate;		/* -o simulate, parallelai.simulate: every
				 * engine, the planner and the judge are sim */
	double budget_usd;	/* parallelai.budgetUsd: all engines' spend
				 * per window, 0: none */
	int64_t budget_window;	/* parallelai.budgetWindow: seconds, 0: the
				 * mount's life */
	char *bedrock_region;	/* bedrock.region: when the AWS variables
				 * and ~/.aws/config name none */
	char *vertex_region;	/* vertex.region: CLOUD_ML_REGION */
	char *vertex_project;	/* vertex.project: the Google Cloud project */
	char *backend;		/* parallelai.backend: local | slurm */
	char *checkout;		/* parallelai.checkout: full | overlay: a
				 * task's worktree as an overlay mount | auto
				 * (NULL) */
	int overlay_from;	/* parallelai.overlayFrom: auto takes overlays
				 * from this many files in the repository */
	char *slurm_partition;	/* slurm.partition */
	char *slurm_account;	/* slurm.account */
	char *slurm_args;	/* slurm.args: extra sbatch words */
	int slurm_max_jobs;	/* slurm.maxJobs: jobs at once, 0: workers */
	struct policy_def *policy;	/* the user's rules, in config order */
	size_t n_policy;
	enum policy_decision policy_default;	/* policy.default: allow */
	bool policy_builtin;	/* policy.builtin: the built-in rules, true */
	int ask_timeout;	/* policy.askTimeout: seconds an approval
				 * waits before it expires, 3600 */
	char *judge;		/* policy.judge: ENGINE[:MODEL], anthropic or
				 * openai; NULL: none */
	int judge_timeout;	/* policy.judgeTimeout: seconds, 30 */
};

void config_init(struct config *c);
/* Read the config files for repo (a work tree or git directory). */
/* parallelai.pathLocks: off; on (the default: tasks with paths lock
 * them); strict (a task without paths owns everything). */
enum { PATH_LOCKS_OFF, PATH_LOCKS_ON, PATH_LOCKS_STRICT };
/* parallelai.outsidePaths: what a change outside a task's paths does. */
enum { OUTSIDE_FAIL, OUTSIDE_KEEP, OUTSIDE_DROP };

int config_load(struct config *c, const char *repo, char *err, size_t errlen);
/* Apply one mount option ("workers", "4"); -EINVAL with a message. */
int config_set(struct config *c, const char *key, const char *value,
	       char *err, size_t errlen);
const struct engine_def *config_engine(const struct config *c,
				       const char *name);
const struct price_def *config_price(const struct config *c,
				     const char *model);
/* A budget: a positive, finite number of dollars; -EINVAL otherwise. */
int config_parse_usd(const char *v, double *out);
/* A window: seconds, or a number with s, m, h or d ("24h"); -EINVAL
 * when not positive. */
int config_parse_window(const char *v, int64_t *out);
void config_release(struct config *c);

#endif
