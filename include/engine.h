/*
 * engine: the engine registry. Turns a task into the argv of the program
 * that works on it.
 *
 *   sh        /bin/sh -c PROMPT
 *   claude, codex, gemini, aider, opencode
 *             the agent CLI in its documented headless mode, wrapped in
 *             `parallelai stream` which turns its event stream into a
 *             readable log, keeps the raw stream and writes a result file
 *   anthropic, openai
 *             the built-in agent, `parallelai agent`
 *   sim       the offline stand-in, `parallelai sim` under `parallelai
 *             stream --format claude` (include/sim.h); with -o simulate
 *             every engine is it
 *   NAME      [engine "NAME"] command = TEMPLATE from the config: split
 *             into words like a shell would (quotes and backslashes), then
 *             {prompt}, {prompt_file}, {worktree}, {task_id} and {branch}
 *             replaced inside each word. No shell ever sees the prompt.
 *
 * Presets read model, args, permissionMode, baseUrl, apiKeyEnv,
 * maxTokens and maxTurns from [engine "NAME"], and env for the process.
 */
#ifndef PAI_ENGINE_H
#define PAI_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct task;

bool engine_known(const struct config *c, const char *name);

struct engine_vars {
	const char *prompt;
	const char *prompt_file;
	const char *worktree;
	const char *branch;
	long long task_id;
	const char *model;	/* the task's own choice, or NULL */
	const char *self_exe;	/* this program, for stream and agent */
	const char *raw_file;	/* where the raw event stream goes */
	const char *result_file; /* where the result JSON goes */
	const char *options;	/* the task's own args, env, permission_mode
				 * (JSON from its spec), or NULL */
	bool sandboxed;		/* in parallelai's sandbox: a CLI's own
				 * (codex -s) is off, it cannot nest */
	int attempt;		/* the task's attempt, for sim (0: 1) */
	const char *settings_file;	/* claude: --settings with the policy's
					 * hook, or NULL */
};

/*
 * The engine for tasks that name none, when the config names none:
 * claude if it is on PATH, else anthropic if ANTHROPIC_API_KEY is set,
 * else openai if OPENAI_API_KEY or OPENAI_BASE_URL is set, else sh.
 * why gets the reason, for status.
 */
const char *engine_choose_default(char *why, size_t len);
/* What to say after the default engine's name and why, so that a user
 * whose prompts are shell commands knows how to get sh:
 *	default engine claude (claude is on PATH); HINT */
const char *engine_default_hint(const char *engine);

/* The model a task runs with: its own, the engine's configured one, or the
 * preset's default; NULL when nothing says (the CLI's own default). */
const char *engine_model(const struct config *c, const char *engine,
			 const char *task_model);

/*
 * Does the engine read its prompt as text (an agent preset), rather than
 * run it (sh) or have it in the words of a command (a template)?
 */
bool engine_reads_text(const struct config *c, const char *name);

/* Is it the built-in agent (anthropic, openai, not replaced by a
 * command)? The policy (include/approvals.h) is enforced for it alone. */
bool engine_is_agent(const struct config *c, const char *name);
/* Is it the claude preset, whose runs get the policy as a PreToolUse hook
 * (`parallelai hook`, in a --settings file of the run)? */
bool engine_policy_hook(const struct config *c, const char *name);
/* Either: the policy is enforced for its tool calls. */
bool engine_enforced(const struct config *c, const char *name);

/*
 * (engine_mode.c) The claude preset's --permission-mode and why: the
 * task's permission_mode, else engine.NAME.permissionMode, else
 * bypassPermissions when the run is sandboxed and has the policy's hook
 * (each call judged by the policy, confined by the sandbox), else
 * acceptEdits; why says which ("sandbox and policy hook in force", "no
 * sandbox", ...).
 */
void engine_permission_mode(const struct config *c, const char *engine,
			    const char *options, bool sandboxed, bool hooked,
			    char *mode, size_t mlen, char *why, size_t wlen);

/*
 * (engine_mode.c) The claude preset's --permission-mode and why: the
 * task's permission_mode, else engine.NAME.permissionMode, else
 * bypassPermissions when the run is sandboxed and has the policy's hook
 * (each call judged by the policy, confined by the sandbox), else
 * acceptEdits; why says which ("sandbox and policy hook in force", "no
 * sandbox", ...).
 */
void engine_permission_mode(const struct config *c, const char *engine,
			    const char *options, bool sandboxed, bool hooked,
			    char *mode, size_t mlen, char *why, size_t wlen);

/* Does this engine write a result file (a preset that reports one)? */
bool engine_has_result(const struct config *c, const char *engine);

/*
 * The task's own environment from its options ({"env": {"K": "V"}}) as
 * "K=V" strings, NULL-terminated, malloc'd (free with engine_argv_free);
 * *env_out is NULL when there is none.
 */
int engine_task_env(const char *options, char ***env_out);

/*
 * An engine's whole environment, built from an allow-list rather than
 * the daemon's: from the daemon's environment PATH, LANG, LC_*, TERM,
 * TZ, USER, LOGNAME, SHELL, the proxies and certificates, PAI_*, the
 * sanitizers' options, the variables the preset needs (ANTHROPIC_* for
 * claude and anthropic, OPENAI_* for codex and openai, ... and
 * apiKeyEnv) and the names of engine.NAME.passEnv; HOME (home when
 * given: the task's own in a sandbox) and TMPDIR (tmpdir when given);
 * then extra ("KEY=VALUE": PAI_TASK_ID ..., engine.NAME.env, the task's
 * env), a later entry of a name winning. An sh task sees no API key
 * unless configured to. Free with engine_argv_free.
 */
int engine_env(const struct config *c, const char *engine,
	       char *const extra[], const char *home, const char *tmpdir,
	       char ***env_out);

struct task_usage;

/*
 * Read the result file an agent engine wrote at its end:
 * {"result": "...", "input_tokens": N, "output_tokens": N, "turns": N,
 *  "cost_usd": X or null, "error": "..." or null}. *error gets a malloc'd
 * copy of the error (NULL when none). -ENOENT when there is no file,
 * -EINVAL when it is not such an object.
 */
int engine_read_result(const char *path, struct task_usage *u, char **error);
/* Numbers of a result file by key, -1 where absent. */
int engine_read_numbers(const char *path, const char *const *keys,
			long long *values, size_t n);
/* The "result" (the final message) of a result file, malloc'd;
 * -ENOENT when it has none. */
int engine_read_answer(const char *path, char **text);
/* What a run was refused and so needs a person for: the "denied" of a
 * result file ("Write a.c, Bash rm x"), malloc'd; -ENOENT when none. */
int engine_read_denied(const char *path, char **text);

/* *argv_out is a NULL-terminated malloc'd vector; free with engine_argv_free. */
int engine_argv(const struct config *c, const char *engine,
		const struct engine_vars *v, char ***argv_out,
		char *err, size_t errlen);
void engine_argv_free(char **argv);

/* Split a command template into words; exposed for the unit tests. */
int engine_split(const char *template, char ***words_out,
		 char *err, size_t errlen);

#endif
