/*
 * engine: from a task to an argv.
 *
 * Templates are split into words the way sh would split a simple command
 * ('single', "double" with \" \\ \$ \` escapes, and backslash), but nothing
 * is expanded except our {placeholders}, and the prompt is substituted into
 * a word after splitting, so no shell ever parses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aws.h"
#include "buf.h"
#include "config.h"
#include "engine.h"
#include "jnum.h"
#include "provider.h"
#include "sim.h"
#include "store.h"

#define SH_ARG_MAX (100 * 1024)

/* The agent CLIs: their program and the format of their event stream. */
static const struct cli {
	const char *name;
	const char *format;
} clis[] = {
	{ "claude", "claude" },
	{ "codex", "codex" },
	{ "gemini", "gemini" },
	{ "aider", "text" },
	{ "opencode", "opencode" },
};

/* The built-in agent's protocols and their default models. */
static const struct api {
	const char *name;
	const char *model;
} apis[] = {
	{ "anthropic", "claude-sonnet-4-5" },
	{ "openai", "gpt-4o-mini" },
	/* An inference profile: Bedrock serves current Claude models
	 * through one, in every region that has them. */
	{ "bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0" },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct cli *cli_of(const char *name)
{
	size_t i;

	for (i = 0; i < N_OF(clis); i++)
		if (!strcmp(clis[i].name, name))
			return &clis[i];
	return NULL;
}

static const struct api *api_of(const char *name)
{
	size_t i;

	for (i = 0; i < N_OF(apis); i++)
		if (!strcmp(apis[i].name, name))
			return &apis[i];
	return NULL;
}

/* The built-in agent's protocol for an engine: a preset's, or
 * [engine "NAME"] protocol = ... without a command. */
static const struct api *api_for(const struct config *c, const char *name)
{
	const struct engine_def *d = c ? config_engine(c, name) : NULL;

	if (api_of(name))
		return api_of(name);
	return d && d->protocol && !d->command ? api_of(d->protocol) : NULL;
}

/* Is an executable named prog on PATH? */
static bool on_path(const char *prog)
{
	const char *path = getenv("PATH"), *p, *end;
	char full[4096];

	for (p = path; p && *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		snprintf(full, sizeof(full), "%.*s/%s", (int)(end - p), p,
			 prog);
		if (end > p && access(full, X_OK) == 0)
			return true;
	}
	return false;
}

static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

const char *engine_choose_default(char *why, size_t len)
{
	if (on_path("claude")) {
		snprintf(why, len, "claude is on PATH");
		return "claude";
	}
	if (env_set("ANTHROPIC_API_KEY")) {
		snprintf(why, len, "ANTHROPIC_API_KEY is set");
		return "anthropic";
	}
	if (env_set("OPENAI_API_KEY") || env_set("OPENAI_BASE_URL")) {
		snprintf(why, len, "%s is set", env_set("OPENAI_API_KEY") ?
			 "OPENAI_API_KEY" : "OPENAI_BASE_URL");
		return "openai";
	}
	snprintf(why, len, "no agent CLI on PATH and no API key set");
	return "sh";
}

const char *engine_default_hint(const char *engine)
{
	if (!strcmp(engine, "sh"))
		return "prompts run as shell commands; -o engine=NAME picks an agent";
	return "-o engine=sh runs prompts as shell commands";
}

const char *engine_model(const struct config *c, const char *engine,
			 const char *task_model)
{
	const struct engine_def *d = config_engine(c, engine);

	if (task_model)
		return task_model;
	if (d && d->model)
		return d->model;
	if (!strcmp(engine, SIM_ENGINE))
		return SIM_ENGINE;
	return api_for(c, engine) ? api_for(c, engine)->model : NULL;
}

bool engine_has_result(const struct config *c, const char *engine)
{
	return cli_of(engine) || api_for(c, engine) ||
	       !strcmp(engine, SIM_ENGINE);
}

/* As engine_argv chooses: sh first, then a preset not replaced by a
 * command. */
bool engine_reads_text(const struct config *c, const char *name)
{
	const struct engine_def *d = config_engine(c, name);

	return strcmp(name, "sh") && engine_has_result(c, name) &&
	       !(d && d->command);
}

bool engine_is_agent(const struct config *c, const char *name)
{
	const struct engine_def *d = config_engine(c, name);

	return api_of(name) && !(d && d->command);
}

bool engine_policy_hook(const struct config *c, const char *name)
{
	const struct engine_def *d = config_engine(c, name);

	return !strcmp(name, "claude") && !(d && d->command);
}

bool engine_enforced(const struct config *c, const char *name)
{
	return engine_is_agent(c, name) || engine_policy_hook(c, name);
}

bool engine_known(const struct config *c, const char *name)
{
	const struct engine_def *d = config_engine(c, name);

	return !strcmp(name, "sh") || engine_has_result(c, name) ||
	       (d && d->command);
}

void engine_argv_free(char **argv)
{
	char **a;

	if (!argv)
		return;
	for (a = argv; *a; a++)
		free(*a);
	free(argv);
}

static int push_word(char ***words, size_t *n, struct buf *w)
{
	char **v = realloc(*words, (*n + 2) * sizeof(**words));

	if (!v)
		return -ENOMEM;
	*words = v;
	v[*n] = w->ptr ? buf_detach(w) : strdup("");
	if (!v[*n])
		return -ENOMEM;
	v[++*n] = NULL;
	return 0;
}

int engine_split(const char *s, char ***words_out, char *err, size_t errlen)
{
	struct buf w;
	char **words = NULL;
	size_t n = 0;
	int in_word = 0, r = 0;
	char quote = 0;

	buf_init(&w, BUF_NOMAX);
	for (; *s; s++) {
		char ch = *s;

		if (quote == '\'') {
			if (ch == '\'')
				quote = 0;
			else if ((r = buf_add(&w, s, 1)) < 0)
				goto out;
			continue;
		}
		if (quote == '"') {
			if (ch == '"') {
				quote = 0;
				continue;
			}
			if (ch == '\\' && s[1] && strchr("\"\\$`", s[1]))
				s++;
			if ((r = buf_add(&w, s, 1)) < 0)
				goto out;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\n') {
			if (in_word && (r = push_word(&words, &n, &w)) < 0)
				goto out;
			in_word = 0;
			continue;
		}
		in_word = 1;
		if (ch == '\'' || ch == '"') {
			quote = ch;
			continue;
		}
		if (ch == '\\') {
			if (!s[1]) {
				snprintf(err, errlen,
					 "trailing backslash in command");
				r = -EINVAL;
				goto out;
			}
			s++;
		}
		if ((r = buf_add(&w, s, 1)) < 0)
			goto out;
	}
	if (quote) {
		snprintf(err, errlen, "unterminated %c quote in command", quote);
		r = -EINVAL;
		goto out;
	}
	if (in_word && (r = push_word(&words, &n, &w)) < 0)
		goto out;
	if (!n) {
		snprintf(err, errlen, "empty command");
		r = -EINVAL;
		goto out;
	}
	*words_out = words;
	words = NULL;
out:
	buf_release(&w);
	engine_argv_free(words);
	return r;
}

/* Replace every {name} this module knows inside one word. */
static int expand(const char *word, const struct engine_vars *v, char **out)
{
	struct buf b;
	const char *p = word;
	char id[32];
	int r = 0;

	snprintf(id, sizeof(id), "%lld", v->task_id);
	buf_init(&b, BUF_NOMAX);
	while (*p && r == 0) {
		static const char *const names[] = {
			"{prompt}", "{prompt_file}", "{worktree}",
			"{task_id}", "{branch}"
		};
		const char *vals[] = { v->prompt, v->prompt_file, v->worktree,
				       id, v->branch };
		size_t i;

		for (i = 0; i < 5; i++)
			if (!strncmp(p, names[i], strlen(names[i])))
				break;
		if (i < 5) {
			r = buf_puts(&b, vals[i] ? vals[i] : "");
			p += strlen(names[i]);
		} else {
			r = buf_add(&b, p++, 1);
		}
	}
	if (r == 0)
		r = buf_add(&b, "", 0);
	if (r < 0) {
		buf_release(&b);
		return r;
	}
	*out = buf_detach(&b);
	return 0;
}

/* A growing NULL-terminated argv. */
struct argv {
	char **v;
	size_t n;
	int err;
};

static void push(struct argv *a, const char *word)
{
	char **v;

	if (a->err)
		return;
	v = realloc(a->v, (a->n + 2) * sizeof(*v));
	if (!v || !(v[a->n] = strdup(word))) {
		if (v)
			a->v = v;
		a->err = -ENOMEM;
		return;
	}
	a->v = v;
	v[++a->n] = NULL;
}

static void push2(struct argv *a, const char *flag, const char *value)
{
	if (value && *value) {
		push(a, flag);
		push(a, value);
	}
}

static void push_num(struct argv *a, const char *flag, int value)
{
	char num[16];

	if (value > 0) {
		snprintf(num, sizeof(num), "%d", value);
		push2(a, flag, num);
	}
}

/* The words of [engine "NAME"] args, split like a command line. */
static int push_args(struct argv *a, const struct engine_def *d,
		     char *err, size_t errlen)
{
	char **words = NULL;
	size_t i;
	int r;

	if (!d || !d->args || !*d->args)
		return 0;
	if ((r = engine_split(d->args, &words, err, errlen)) < 0)
		return r;
	for (i = 0; words[i]; i++)
		push(a, words[i]);
	engine_argv_free(words);
	return 0;
}

/* The task's own extra words: "args" of its spec's options. */
static void push_task_args(struct argv *a, const cJSON *opts)
{
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(opts, "args");
	const cJSON *w;

	cJSON_ArrayForEach(w, args)
		if (cJSON_IsString(w))
			push(a, w->valuestring);
}

int engine_task_env(const char *options, char ***env_out)
{
	cJSON *opts = options ? cJSON_Parse(options) : NULL;
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(opts, "env"), *e;
	struct argv a = { NULL, 0, 0 };

	*env_out = NULL;
	cJSON_ArrayForEach(e, env) {
		char *kv;

		if (!cJSON_IsString(e))
			continue;
		if (asprintf(&kv, "%s=%s", e->string, e->valuestring) < 0) {
			a.err = -ENOMEM;
			break;
		}
		push(&a, kv);
		free(kv);
	}
	cJSON_Delete(opts);
	if (a.err) {
		engine_argv_free(a.v);
		return a.err;
	}
	*env_out = a.v;
	return 0;
}

/* Names passed to every engine; a trailing '_' makes a prefix. */
static const char *const common_env[] = {
	"PATH", "LANG", "LANGUAGE", "LC_", "TERM", "TZ", "USER", "LOGNAME",
	"SHELL", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY",
	"HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "all_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "PAI_",
	"ASAN_", "UBSAN_", "LSAN_", "VALGRIND_", NULL
};

/* What each preset needs besides. */
static const struct preset_env {
	const char *engine;
	const char *names[6];
} preset_env[] = {
	{ "claude", { "ANTHROPIC_", "CLAUDE_", NULL } },
	{ "anthropic", { "ANTHROPIC_", NULL } },
	{ "codex", { "OPENAI_", "CODEX_", NULL } },
	{ "openai", { "OPENAI_", NULL } },
	{ "gemini", { "GEMINI_", "GOOGLE_", NULL } },
	{ "aider", { "ANTHROPIC_", "OPENAI_", "GEMINI_", "AIDER_",
		     "OPENROUTER_", NULL } },
	{ "opencode", { "ANTHROPIC_", "OPENAI_", "GEMINI_", "OPENCODE_",
			NULL } },
};

/* Does "KEY=VALUE" have a name the pattern allows (a name, or a prefix
 * ending in '_')? */
static bool env_allows(const char *pattern, const char *kv)
{
	size_t n = strlen(pattern), klen = strcspn(kv, "=");

	if (n && pattern[n - 1] == '_')
		return klen >= n && !strncmp(kv, pattern, n);
	return klen == n && !strncmp(kv, pattern, n);
}

static bool env_allowed(const struct config *c, const char *engine,
			const char *kv)
{
	const struct engine_def *d = config_engine(c, engine);
	const char *const *cloud = provider_pass(c, engine);
	/* [engine "NAME"] protocol = ...: what that protocol needs */
	const char *preset = api_for(c, engine) ? api_for(c, engine)->name : engine;
	size_t i, j;

	for (i = 0; common_env[i]; i++)
		if (env_allows(common_env[i], kv))
			return true;
	/* On a cloud: its credentials, not the vendor's API key. */
	for (i = 0; cloud[i]; i++)
		if (env_allows(cloud[i], kv))
			return true;
	for (i = 0; i < N_OF(preset_env); i++)
		for (j = 0; !strcmp(preset_env[i].engine, preset) &&
			    preset_env[i].names[j]; j++)
			if (!provider_replaces(c, engine, preset_env[i].names[j]) &&
			    env_allows(preset_env[i].names[j], kv))
				return true;
	for (i = 0; d && i < d->n_pass_env; i++)
		if (env_allows(d->pass_env[i], kv))
			return true;
	return d && d->api_key_env && env_allows(d->api_key_env, kv);
}

/* Keep only the last entry of each name. */
static void env_dedup(char **v, size_t *n)
{
	size_t i, j, k = 0;

	for (i = 0; i < *n; i++) {
		size_t klen = strcspn(v[i], "=") + 1;
		bool later = false;

		for (j = i + 1; j < *n && !later; j++)
			later = !strncmp(v[i], v[j], klen);
		if (later)
			free(v[i]);
		else
			v[k++] = v[i];
	}
	v[k] = NULL;
	*n = k;
}

int engine_env(const struct config *c, const char *engine,
	       char *const extra[], const char *home, const char *tmpdir,
	       char ***env_out)
{
	extern char **environ;
	struct argv a = { NULL, 0, 0 };
	char *kv;
	size_t i;

	*env_out = NULL;
	for (i = 0; environ[i]; i++)
		if (env_allowed(c, engine, environ[i]) ||
		    (!home && env_allows("HOME", environ[i])) ||
		    (!tmpdir && env_allows("TMPDIR", environ[i])))
			push(&a, environ[i]);
	if (home && asprintf(&kv, "HOME=%s", home) >= 0) {
		push(&a, kv);
		free(kv);
	}
	if (tmpdir && asprintf(&kv, "TMPDIR=%s", tmpdir) >= 0) {
		push(&a, kv);
		free(kv);
	}
	for (i = 0; extra && extra[i]; i++)
		push(&a, extra[i]);
	if (!a.err && !a.v)
		a.v = calloc(1, sizeof(*a.v));
	if (a.err || !a.v) {
		engine_argv_free(a.v);
		return -ENOMEM;
	}
	env_dedup(a.v, &a.n);
	*env_out = a.v;
	return 0;
}

static int cli_argv(struct argv *a, const struct config *c,
		    const struct cli *cli, const struct engine_def *d,
		    const struct engine_vars *v, char *err, size_t errlen)
{
	const char *model = v->model ? v->model : d ? d->model : NULL;
	cJSON *opts = v->options ? cJSON_Parse(v->options) : NULL;
	char mode[256], why[128];
	int r;

	/* the hook is in force when the run has its settings file */
	engine_permission_mode(c, cli->name, v->options, v->sandboxed,
			       v->settings_file != NULL, mode, sizeof(mode),
			       why, sizeof(why));

	push(a, v->self_exe);
	push(a, "stream");
	push2(a, "--format", cli->format);
	push2(a, "--raw", v->raw_file);
	push2(a, "--result", v->result_file);
	push(a, "--");
	push(a, cli->name);
	if (!strcmp(cli->name, "claude")) {
		push2(a, "-p", v->prompt);
		push2(a, "--output-format", "stream-json");
		push(a, "--verbose");
		push2(a, "--permission-mode", mode);
		push2(a, "--model", model);
		/* the policy's PreToolUse hook, for this run only */
		push2(a, "--settings", v->settings_file);
	} else if (!strcmp(cli->name, "codex")) {
		/* -c overrides from args belong after "exec". */
		push(a, "exec");
		push(a, "--json");
		/* in our sandbox already: codex's own bubblewrap cannot
		 * nest inside it (it fails to set up /tmp) */
		push2(a, "-s", v->sandboxed ? "danger-full-access" :
			       "workspace-write");
		push(a, "--skip-git-repo-check");
		push2(a, "-m", model);
	} else if (!strcmp(cli->name, "gemini")) {
		push2(a, "-p", v->prompt);
		push2(a, "--output-format", "stream-json");
		push2(a, "--approval-mode", "auto_edit");
		push2(a, "-m", model);
	} else if (!strcmp(cli->name, "aider")) {
		push2(a, "--message", v->prompt);
		push(a, "--yes-always");
		push(a, "--no-stream");
		push(a, "--no-pretty");
		push2(a, "--model", model);
	} else {
		push(a, "run");
		push2(a, "--format", "json");
		push2(a, "-m", model);
	}
	r = push_args(a, d, err, errlen);
	push_task_args(a, opts);
	cJSON_Delete(opts);
	if (r < 0)
		return r;
	/* These take the prompt last, after their options. */
	if (!strcmp(cli->name, "codex") || !strcmp(cli->name, "opencode"))
		push(a, v->prompt);
	return 0;
}

static int api_argv(struct argv *a, const struct api *api,
		    const struct config *c, const struct engine_def *d,
		    const struct engine_vars *v, char *err, size_t errlen)
{
	const char *model = v->model ? v->model :
			    d && d->model ? d->model : api->model;
	bool bedrock = !strcmp(api->name, "bedrock");
	const char *base = d && d->base_url ? d->base_url : bedrock ? NULL :
			   getenv(!strcmp(api->name, "openai") ?
				  "OPENAI_BASE_URL" : "ANTHROPIC_BASE_URL");
	int r;

	push(a, v->self_exe);
	push(a, "agent");
	push2(a, "--protocol", api->name);
	push2(a, "--model", model);
	push2(a, "--prompt-file", v->prompt_file);
	push2(a, "--worktree", v->worktree);
	push2(a, "--raw", v->raw_file);
	push2(a, "--result", v->result_file);
	/* The providers' own variables work too (Ollama, proxies). */
	push2(a, "--base-url", base && *base ? base : NULL);
	if (bedrock)
		push2(a, "--region", c->bedrock_region);
	if (d) {
		push2(a, "--api-key-env", d->api_key_env);
		push_num(a, "--max-tokens", d->max_tokens);
		push_num(a, "--max-turns", d->max_turns);
	}
	if ((r = push_args(a, d, err, errlen)) == 0 && v->options) {
		cJSON *opts = cJSON_Parse(v->options);

		push_task_args(a, opts);
		cJSON_Delete(opts);
	}
	return r;
}

/* sim: `parallelai sim` under `parallelai stream --format claude`, its
 * knobs (the config's, the task's over them) and price on its line. */
static int sim_argv(const struct config *c, const struct engine_vars *v,
		    char ***argv_out, char *err, size_t errlen)
{
	const struct engine_def *d = config_engine(c, SIM_ENGINE);
	const struct price_def *pr = config_price(c, SIM_ENGINE);
	struct argv a = { NULL, 0, 0 };
	struct sim_knobs k;
	char num[64];

	if (!v->self_exe || !v->raw_file || !v->result_file ||
	    !v->prompt_file) {
		snprintf(err, errlen, "engine '%s': missing paths", SIM_ENGINE);
		return -EINVAL;
	}
	sim_knobs_get(&k, c, v->options);
	push(&a, v->self_exe);
	push(&a, "stream");
	push2(&a, "--format", "claude");
	push2(&a, "--name", SIM_ENGINE);
	push2(&a, "--raw", v->raw_file);
	push2(&a, "--result", v->result_file);
	push(&a, "--");
	push(&a, v->self_exe);
	push(&a, "sim");
	push2(&a, "--prompt-file", v->prompt_file);
	push2(&a, "--worktree", v->worktree);
	snprintf(num, sizeof(num), "%lld", v->task_id);
	push2(&a, "--task", num);
	snprintf(num, sizeof(num), "%d", v->attempt > 0 ? v->attempt : 1);
	push2(&a, "--attempt", num);
	snprintf(num, sizeof(num), "%.17g", k.seconds);
	push2(&a, "--seconds", num);
	snprintf(num, sizeof(num), "%.17g", k.fail_rate);
	push2(&a, "--fail-rate", num);
	if (k.seeded) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)k.seed);
		push2(&a, "--seed", num);
	}
	snprintf(num, sizeof(num), "%.17g:%.17g",
		 pr ? pr->input : SIM_PRICE_INPUT,
		 pr ? pr->output : SIM_PRICE_OUTPUT);
	push2(&a, "--price", num);
	push2(&a, "--model", v->model ? v->model : d && d->model ? d->model :
	      SIM_ENGINE);
	if (a.err) {
		engine_argv_free(a.v);
		return a.err;
	}
	*argv_out = a.v;
	return 0;
}

int engine_argv(const struct config *c, const char *engine,
		const struct engine_vars *v, char ***argv_out,
		char *err, size_t errlen)
{
	const struct engine_def *def;
	char **words = NULL;
	bool from_file;
	int r;
	size_t i;

	/* -o simulate: whatever the task asked for, sim runs it. */
	if (c->simulate || (!strcmp(engine, SIM_ENGINE) &&
			    !(config_engine(c, engine) &&
			      config_engine(c, engine)->command)))
		return sim_argv(c, v, argv_out, err, errlen);
	if (!strcmp(engine, "sh")) {
		words = calloc(4, sizeof(*words));
		if (!words)
			return -ENOMEM;
		/* Linux caps one argument at 128 KiB (MAX_ARG_STRLEN): a
		 * longer script is run from its file instead. */
		from_file = strlen(v->prompt) >= SH_ARG_MAX && v->prompt_file;
		words[0] = strdup("/bin/sh");
		words[1] = strdup(from_file ? v->prompt_file : "-c");
		words[2] = from_file ? NULL : strdup(v->prompt);
		if (!words[0] || !words[1] || (!from_file && !words[2])) {
			engine_argv_free(words);
			return -ENOMEM;
		}
		*argv_out = words;
		return 0;
	}
	def = config_engine(c, engine);
	if ((!def || !def->command) && engine_has_result(c, engine)) {
		struct argv a = { NULL, 0, 0 };

		if (!v->self_exe || !v->raw_file || !v->result_file ||
		    (!v->prompt_file && api_for(c, engine))) {
			snprintf(err, errlen, "engine '%s': missing paths",
				 engine);
			return -EINVAL;
		}
		r = cli_of(engine) ?
			cli_argv(&a, c, cli_of(engine), def, v, err, errlen) :
			api_argv(&a, api_for(c, engine), c, def, v, err, errlen);
		if (r == 0)
			r = a.err;
		if (r < 0) {
			engine_argv_free(a.v);
			return r;
		}
		*argv_out = a.v;
		return 0;
	}
	if (!def || !def->command) {
		snprintf(err, errlen, "unknown engine '%s'", engine);
		return -EINVAL;
	}
	r = engine_split(def->command, &words, err, errlen);
	if (r < 0)
		return r;
	for (i = 0; words[i]; i++) {
		char *x;

		if ((r = expand(words[i], v, &x)) < 0) {
			engine_argv_free(words);
			return r;
		}
		free(words[i]);
		words[i] = x;
	}
	*argv_out = words;
	return 0;
}

static int64_t num_of(const cJSON *o, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);

	return jnum_clamp(n, 0, 1000000000000000LL, 0);
}

/* A result file as a JSON object. */
static int read_result(const char *path, cJSON **out)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd, r = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The final message is inside: allow it a few MiB. */
	buf_init(&b, 16 << 20);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if ((r = buf_add(&b, chunk, (size_t)n)) < 0)
			break;
	close(fd);
	if (r == 0 && n < 0)
		r = -EIO;
	if (r == 0) {
		*out = cJSON_ParseWithLength(buf_cstr(&b), b.len);
		if (!cJSON_IsObject(*out)) {
			cJSON_Delete(*out);
			*out = NULL;
			r = -EINVAL;
		}
	}
	buf_release(&b);
	return r;
}

int engine_read_numbers(const char *path, const char *const *keys,
			long long *values, size_t n)
{
	const cJSON *v;
	cJSON *root;
	size_t i;
	int r = read_result(path, &root);

	for (i = 0; i < n; i++) {
		v = r == 0 ? cJSON_GetObjectItemCaseSensitive(root, keys[i])
			   : NULL;
		values[i] = jnum_clamp(v, -1, 1000000000000000LL, -1);
	}
	cJSON_Delete(root);
	return r;
}

int engine_read_answer(const char *path, char **text)
{
	const cJSON *res;
	cJSON *root;
	int r = read_result(path, &root);

	*text = NULL;
	if (r < 0)
		return r;
	res = cJSON_GetObjectItemCaseSensitive(root, "result");
	if (cJSON_IsString(res) && !(*text = strdup(res->valuestring)))
		r = -ENOMEM;
	else if (!cJSON_IsString(res))
		r = -ENOENT;
	cJSON_Delete(root);
	return r;
}

int engine_read_result(const char *path, struct task_usage *u, char **error)
{
	const cJSON *e, *cost;
	cJSON *root = NULL;
	int r;

	memset(u, 0, sizeof(*u));
	u->cost_usd = -1;
	*error = NULL;
	if ((r = read_result(path, &root)) < 0)
		return r;
	u->input_tokens = num_of(root, "input_tokens");
	u->output_tokens = num_of(root, "output_tokens");
	u->turns = (int)num_of(root, "turns");
	cost = cJSON_GetObjectItemCaseSensitive(root, "cost_usd");
	if (cJSON_IsNumber(cost) && cost->valuedouble >= 0)
		u->cost_usd = cost->valuedouble;
	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsString(e) && *e->valuestring &&
	    !(*error = strdup(e->valuestring)))
		r = -ENOMEM;
	cJSON_Delete(root);
	return r;
}

int engine_read_denied(const char *path, char **text)
{
	const cJSON *d;
	cJSON *root;
	int r = read_result(path, &root);

	*text = NULL;
	if (r < 0)
		return r;
	d = cJSON_GetObjectItemCaseSensitive(root, "denied");
	if (!cJSON_IsString(d) || !*d->valuestring)
		r = -ENOENT;
	else if (!(*text = strdup(d->valuestring)))
		r = -ENOMEM;
	cJSON_Delete(root);
	return r;
}
