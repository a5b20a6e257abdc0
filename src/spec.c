/*
 * spec: validate and parse a task submission; see include/spec.h.
 *
 * The fields a JSON spec may carry are a table: each row names a field,
 * the JSON type it must have and the check its value must pass, so a new
 * field is one row and one line in take().
 */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "quote.h"
#include "sim.h"
#include "spec.h"

#define SPEC_MAX_SECONDS (7 * 24 * 3600)
#define SPEC_MAX_DEPENDS 1000
#define SPEC_MAX_PATHS 256
/* The prefix of the branches the daemon names itself: pai/task-N. */
#define SPEC_OWN_PREFIX "pai/"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\v' || c == '\f';
}

static bool all_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_blank(s[i]))
			return false;
	return true;
}

static bool looks_like_json(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && is_blank(s[i]))
		i++;
	if (i == len || s[i] != '{')
		return false;
	for (i++; i < len && is_blank(s[i]); i++)
		;
	return i < len && (s[i] == '"' || s[i] == '}');
}

/* ---- checks, one per kind of field --------------------------------- */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool is_text(const cJSON *v)
{
	return cJSON_IsString(v) && *v->valuestring;
}

/* Text that is shown as one `key: value` line or logged: a newline in
 * it would forge a line of its own. */
static bool is_line(const cJSON *v)
{
	return is_text(v) && !has_control(v->valuestring);
}

static bool is_string(const cJSON *v)
{
	return cJSON_IsString(v);
}

static bool is_strings(const cJSON *v)
{
	const cJSON *e;

	if (!cJSON_IsArray(v))
		return false;
	cJSON_ArrayForEach(e, v)
		if (!cJSON_IsString(e))
			return false;
	return true;
}

static bool is_lines(const cJSON *v)
{
	const cJSON *e;

	if (!cJSON_IsArray(v))
		return false;
	cJSON_ArrayForEach(e, v)
		if (!is_line(e))
			return false;
	return true;
}

static bool is_env(const cJSON *v)
{
	const cJSON *e;

	if (!cJSON_IsObject(v))
		return false;
	cJSON_ArrayForEach(e, v)
		if (!cJSON_IsString(e) || !*e->string || strchr(e->string, '='))
			return false;
	return true;
}

/* In int's range before the cast that checks it is whole. */
static bool is_int(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= -2147483648.0 &&
	       v->valuedouble <= 2147483647.0 &&
	       v->valuedouble == (double)(int)v->valuedouble;
}

static bool is_priority(const cJSON *v)
{
	return is_int(v) && v->valueint >= -SPEC_PRIORITY_MAX &&
	       v->valueint <= SPEC_PRIORITY_MAX;
}

static bool is_count(const cJSON *v)
{
	return is_int(v) && v->valueint >= 0 && v->valueint <= 100;
}

static bool is_seconds(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble > 0 &&
	       v->valuedouble <= SPEC_MAX_SECONDS;
}

static bool is_usd(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble > 0 &&
	       v->valuedouble <= 1e12;
}

static bool is_positive(const cJSON *v)
{
	return is_int(v) && v->valueint > 0;
}

static bool is_ids(const cJSON *v)
{
	const cJSON *e;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > SPEC_MAX_DEPENDS)
		return false;
	cJSON_ArrayForEach(e, v)
		if (!is_int(e) || e->valuedouble < 1)
			return false;
	return true;
}

static bool is_sandbox(const cJSON *v)
{
	return cJSON_IsString(v) && (!strcmp(v->valuestring, "auto") ||
				     !strcmp(v->valuestring, "bwrap") ||
				     !strcmp(v->valuestring, "none"));
}

static bool is_network(const cJSON *v)
{
	return cJSON_IsString(v) && (!strcmp(v->valuestring, "on") ||
				     !strcmp(v->valuestring, "loopback") ||
				     !strcmp(v->valuestring, "none"));
}

/* An array of globs; each one's limits are check_names's. */
static bool is_globs(const cJSON *v)
{
	return is_lines(v) && cJSON_GetArraySize(v) > 0 &&
	       cJSON_GetArraySize(v) <= SPEC_MAX_PATHS;
}

static bool is_object(const cJSON *v)
{
	return cJSON_IsObject(v);
}

#define LINE "a non-empty string without control characters"
#define STR_(x) #x
#define STR(x) STR_(x)

static const struct field {
	const char *name;
	bool (*ok)(const cJSON *v);
	const char *want;	/* for the message */
	bool top_only;		/* not inside "then" */
} fields[] = {
	{ "prompt", is_string, "a string", false },
	{ "engine", is_line, LINE, false },
	{ "model", is_line, LINE, false },
	{ "permission_mode", is_line, LINE, false },
	{ "args", is_strings, "an array of strings", false },
	{ "env", is_env, "an object mapping names to strings", false },
	{ "sandbox", is_sandbox, "auto, bwrap or none", false },
	{ "network", is_network, "on, loopback or none", false },
	{ "depends", is_ids, "an array of task ids", false },
	{ "priority", is_priority, "an integer from -" STR(SPEC_PRIORITY_MAX)
	  " to " STR(SPEC_PRIORITY_MAX), false },
	{ "timeout", is_seconds, "a number of seconds (up to 7 days)", false },
	{ "stall", is_seconds, "a number of seconds (up to 7 days)", false },
	{ "retries", is_count, "an integer from 0 to 100", false },
	{ "base", is_line, LINE, false },
	{ "branch", is_line, LINE, false },
	{ "labels", is_lines,
	  "an array of non-empty strings without control characters", false },
	{ "each", is_line, "a non-empty glob without control characters",
	  true },
	{ "paths", is_globs, "a non-empty array of at most "
	  STR(SPEC_MAX_PATHS) " globs without control characters", false },
	{ "then", is_object, "an object", true },
	{ "check", is_string, "a string (a shell command; \"\": none)",
	  false },
	{ "fix_rounds", is_count, "an integer from 0 to 100", false },
	{ "sim", is_object, "an object ({\"seconds\": 0, \"failRate\": 0.2,"
	  " \"checkFailRate\": 0.5, \"seed\": 7})", false },
	{ "max_cost_usd", is_usd, "a positive number of dollars", false },
	{ "max_tokens", is_positive, "a positive integer", false },
	{ "max_turns", is_positive, "a positive integer", false },
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static int check_fields(const cJSON *root, bool nested, char *err,
			size_t errlen)
{
	const cJSON *item;
	size_t i;

	cJSON_ArrayForEach(item, root) {
		for (i = 0; i < N_FIELDS; i++)
			if (!strcmp(item->string, fields[i].name))
				break;
		if (i == N_FIELDS || (nested && fields[i].top_only)) {
			snprintf(err, errlen, "task spec: %s field '%s'",
				 i == N_FIELDS ? "unknown" : "misplaced",
				 item->string);
			return -EINVAL;
		}
		if (!fields[i].ok(item)) {
			snprintf(err, errlen, "task spec: '%s' must be %s",
				 item->string, fields[i].want);
			return -EINVAL;
		}
	}
	return 0;
}

/* The branch and the glob have rules of their own, with reasons. */
static int check_names(const cJSON *root, char *err, size_t errlen)
{
	const cJSON *v;
	char msg[256];
	int r;

	v = cJSON_GetObjectItemCaseSensitive(root, "branch");
	if (v && (r = spec_branch_check(v->valuestring, msg,
					sizeof(msg))) < 0) {
		snprintf(err, errlen, "task spec: %s", msg);
		return r;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "each");
	if (v && (r = spec_glob_check(v->valuestring, msg, sizeof(msg))) < 0) {
		snprintf(err, errlen, "task spec: %s", msg);
		return r;
	}
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(root, "paths"))
		if ((r = spec_glob_check(v->valuestring, msg,
					 sizeof(msg))) < 0) {
			/* "'each' has ...": said of this glob instead. */
			snprintf(err, errlen, "task spec: in 'paths', '%s' %s",
				 v->valuestring, msg + strlen("'each' "));
			return r;
		}
	return 0;
}

/*
 * A key given twice: JSON does not forbid it, but cJSON keeps both and
 * every lookup finds the first, so the second would be dropped unseen.
 * Sorting the keys of each object keeps this O(n log n) in a spec of a
 * megabyte.
 */
static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_unique_keys(const cJSON *v, char *err, size_t errlen)
{
	const cJSON *e;
	const char **keys = NULL;
	size_t n = 0, i;
	int r = 0;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	cJSON_ArrayForEach(e, v)
		if ((r = check_unique_keys(e, err, errlen)) < 0)
			return r;
	if (!cJSON_IsObject(v) || !v->child || !v->child->next)
		return 0;
	if (!(keys = calloc((size_t)cJSON_GetArraySize(v), sizeof(*keys))))
		return -ENOMEM;
	cJSON_ArrayForEach(e, v)
		keys[n++] = e->string;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (i = 1; i < n; i++)
		if (!strcmp(keys[i - 1], keys[i])) {
			snprintf(err, errlen, "task spec: duplicate key '%s'",
				 keys[i]);
			r = -EINVAL;
			break;
		}
	free(keys);
	return r;
}

/* ---- taking the values --------------------------------------------- */

static int take_str(char **dst, const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!v)
		return 0;
	*dst = strdup(v->valuestring);
	return *dst ? 0 : -ENOMEM;
}

static int take_json(char **dst, const cJSON *v)
{
	if (!v)
		return 0;
	*dst = cJSON_PrintUnformatted(v);
	return *dst ? 0 : -ENOMEM;
}

static int take_int(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	return v ? (int)v->valuedouble : 0;
}

/* Seconds round up: a limit of 0.5 s is not "no limit". */
static int take_seconds(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	int s;

	if (!v)
		return 0;
	s = (int)v->valuedouble;
	return (double)s < v->valuedouble ? s + 1 : s;
}

/* The engine options of a spec and its budget, kept together as one
 * JSON object. */
static int take_options(struct spec *out, const cJSON *root)
{
	static const char *const keys[] = { "args", "env", "permission_mode",
					    "sandbox", "network", "sim", "max_cost_usd",
					    "max_tokens", "max_turns" };
	cJSON *opts = NULL;
	size_t i;
	int r;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);

		if (!v)
			continue;
		if (!opts && !(opts = cJSON_CreateObject()))
			return -ENOMEM;
		cJSON_AddItemToObject(opts, keys[i], cJSON_Duplicate(v, 1));
	}
	r = take_json(&out->options, opts);
	cJSON_Delete(opts);
	return r;
}

static int take_depends(struct spec *out, const cJSON *root)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "depends"), *e;
	size_t n = 0;

	if (!v || !cJSON_GetArraySize(v))
		return 0;
	out->depends = calloc((size_t)cJSON_GetArraySize(v),
			      sizeof(*out->depends));
	if (!out->depends)
		return -ENOMEM;
	cJSON_ArrayForEach(e, v)
		out->depends[n++] = (int64_t)e->valuedouble;
	out->n_depends = n;
	return 0;
}

static int take(struct spec *out, const cJSON *root, bool nested,
		size_t max_prompt, char *err, size_t errlen)
{
	const cJSON *p, *then;
	int r;

	if ((r = check_fields(root, nested, err, errlen)) < 0 ||
	    (r = check_names(root, err, errlen)) < 0)
		return r;
	if (cJSON_GetObjectItemCaseSensitive(root, "sim") &&
	    (r = sim_knobs_check_json(cJSON_GetObjectItemCaseSensitive(
				root, "sim"), err, errlen)) < 0)
		return r;
	p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
	if (!p) {
		snprintf(err, errlen, "task spec: 'prompt' is missing");
		return -EINVAL;
	}
	out->prompt_len = strlen(p->valuestring);
	if (out->prompt_len > max_prompt) {
		snprintf(err, errlen, "prompt too long: %zu bytes, limit %zu",
			 out->prompt_len, max_prompt);
		return -EFBIG;
	}
	if (all_blank(p->valuestring, out->prompt_len)) {
		snprintf(err, errlen, "empty prompt");
		return -EINVAL;
	}
	out->priority = take_int(root, "priority");
	out->retries = take_int(root, "retries");
	out->timeout = take_seconds(root, "timeout");
	out->stall = take_seconds(root, "stall");
	out->fix_rounds = cJSON_GetObjectItemCaseSensitive(root, "fix_rounds")
			  ? take_int(root, "fix_rounds") : -1;
	if ((r = take_str(&out->prompt, root, "prompt")) < 0 ||
	    (r = take_str(&out->engine, root, "engine")) < 0 ||
	    (r = take_str(&out->model, root, "model")) < 0 ||
	    (r = take_str(&out->base, root, "base")) < 0 ||
	    (r = take_str(&out->branch, root, "branch")) < 0 ||
	    (r = take_str(&out->each, root, "each")) < 0 ||
	    (r = take_str(&out->check, root, "check")) < 0 ||
	    (r = take_json(&out->labels, cJSON_GetObjectItemCaseSensitive(
				   root, "labels"))) < 0 ||
	    (r = take_json(&out->paths, cJSON_GetObjectItemCaseSensitive(
				   root, "paths"))) < 0 ||
	    (r = take_options(out, root)) < 0 ||
	    (r = take_depends(out, root)) < 0)
		return r;
	then = cJSON_GetObjectItemCaseSensitive(root, "then");
	if (then && !out->each) {
		snprintf(err, errlen, "task spec: 'then' needs 'each'");
		return -EINVAL;
	}
	if (then) {
		char msg[256];

		if (!(out->then = calloc(1, sizeof(*out->then))))
			return -ENOMEM;
		if ((r = take(out->then, then, true, max_prompt, msg,
			      sizeof(msg))) < 0) {
			snprintf(err, errlen, "in 'then': %s", msg);
			return r;
		}
	}
	return 0;
}

static int parse_json(struct spec *out, const char *text, size_t len,
		      size_t max_prompt, char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	int r;

	if (!root) {
		snprintf(err, errlen, "invalid JSON task spec near byte %zu",
			 (size_t)(cJSON_GetErrorPtr() ?
				  cJSON_GetErrorPtr() - text : 0));
		return -EINVAL;
	}
	/* cJSON stops after the first value; what follows would be lost. */
	if (end && !all_blank(end, len - (size_t)(end - text))) {
		snprintf(err, errlen, "task spec: unexpected data after the"
			 " JSON object at byte %zu", (size_t)(end - text));
		r = -EINVAL;
	} else if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "task spec must be a JSON object");
		r = -EINVAL;
	} else if ((r = check_unique_keys(root, err, errlen)) == 0) {
		r = take(out, root, false, max_prompt, err, errlen);
	}
	cJSON_Delete(root);
	if (r < 0)
		spec_release(out);
	return r;
}

int spec_parse(struct spec *out, const char *text, size_t len,
	       size_t max_prompt, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->fix_rounds = -1;
	/* Editors that write a byte-order mark mean nothing by it. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) {
		text += 3;
		len -= 3;
	}
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "prompt contains a NUL byte");
		return -EINVAL;
	}
	if (looks_like_json(text, len))
		return parse_json(out, text, len, max_prompt, err, errlen);
	if (len > max_prompt) {
		snprintf(err, errlen, "prompt too long: %zu bytes, limit %zu",
			 len, max_prompt);
		return -EFBIG;
	}
	if (all_blank(text, len)) {
		snprintf(err, errlen, "empty prompt");
		return -EINVAL;
	}
	out->prompt = strndup(text, len);
	if (!out->prompt)
		return -ENOMEM;
	out->prompt_len = len;
	return 0;
}

void spec_release(struct spec *sp)
{
	free(sp->prompt);
	free(sp->engine);
	free(sp->model);
	free(sp->options);
	free(sp->base);
	free(sp->branch);
	free(sp->labels);
	free(sp->depends);
	free(sp->each);
	free(sp->paths);
	free(sp->check);
	if (sp->then) {
		spec_release(sp->then);
		free(sp->then);
	}
	memset(sp, 0, sizeof(*sp));
}

/* ---- branch names -------------------------------------------------- */

/* The first components git's rev-parse tries in front of a name
 * ("refs/%s", "refs/tags/%s", "refs/heads/%s", "refs/remotes/%s"): a
 * branch named heads/main would be read as refs/heads/main. */
static const char *const ref_dirs[] = { "refs/", "heads/", "tags/",
					"remotes/" };

/* FETCH_HEAD, ORIG_HEAD, MERGE_HEAD...: git looks in its own directory
 * for such a name before it looks at the branches. */
static bool is_pseudo_ref(const char *name)
{
	size_t n = strlen(name);

	if (n < 4 || strcmp(name + n - 4, "HEAD"))
		return false;
	for (; *name; name++)
		if (!((*name >= 'A' && *name <= 'Z') || *name == '_'))
			return false;
	return true;
}

/* Forty (SHA-1) or 64 (SHA-256) hex digits are read as an object id. */
static bool is_object_id(const char *name)
{
	size_t n = strspn(name, "0123456789abcdefABCDEF");

	return !name[n] && (n == 40 || n == 64);
}

int spec_branch_check(const char *name, char *err, size_t errlen)
{
	const char *why = NULL;
	char dir[96];
	int valid = 0;
	size_t i;

	if (git_branch_name_is_valid(&valid, name) < 0 || !valid)
		why = "not a valid branch name";
	else if (!strcmp(name, "@"))
		why = "git reads '@' as HEAD";
	else if (is_pseudo_ref(name))
		why = "git reads it as a ref of its own, like HEAD";
	else if (is_object_id(name))
		why = "git reads it as a commit id";
	else if (!strncmp(name, SPEC_OWN_PREFIX, strlen(SPEC_OWN_PREFIX)))
		why = "names under '" SPEC_OWN_PREFIX "' are parallelai's own";
	for (i = 0; !why && i < sizeof(ref_dirs) / sizeof(ref_dirs[0]); i++)
		if (!strncmp(name, ref_dirs[i], strlen(ref_dirs[i]))) {
			snprintf(dir, sizeof(dir), "git reads a name that"
				 " starts with '%s' as another ref; name the"
				 " branch without it", ref_dirs[i]);
			why = dir;
		}
	if (!why)
		return 0;
	snprintf(err, errlen, "invalid branch name '%s': %s", name, why);
	return -EINVAL;
}

/* ---- fan-out ------------------------------------------------------- */

/*
 * The glob is matched segment by segment as a small automaton: after
 * each path segment, the set of pattern segments that could come next.
 * A "**" state stays in the set and also lets the next one in, so no
 * choice is ever tried twice: the work is at most one fnmatch(3) of a
 * segment per pattern segment and path segment, whatever the pattern. (A
 * recursive matcher that tries every split of the path among the "**"s
 * is exponential in their number.)
 */
struct glob {
	char text[SPEC_GLOB_MAX_LEN + 1];	/* the segments, NUL apart */
	const char *seg[SPEC_GLOB_MAX_SEGMENTS];
	bool any[SPEC_GLOB_MAX_SEGMENTS];	/* "**" */
	size_t n;
};

/* Split the glob into segments, a run of "**" as one. -EINVAL past the
 * limits or on an empty segment, with why in err. */
static int glob_split(struct glob *g, const char *glob, char *err,
		      size_t errlen)
{
	size_t len = strlen(glob), written = 0;
	char *s, *end;

	g->n = 0;
	if (len > SPEC_GLOB_MAX_LEN) {
		snprintf(err, errlen, "'each' is longer than %d bytes",
			 SPEC_GLOB_MAX_LEN);
		return -EINVAL;
	}
	memcpy(g->text, glob, len + 1);
	for (s = g->text;; s = end + 1) {
		bool any, last;

		end = strchrnul(s, '/');
		last = !*end;
		*end = '\0';
		if (!*s) {
			snprintf(err, errlen, "'each' has an empty segment"
				 " (a leading, trailing or double '/')");
			return -EINVAL;
		}
		if (++written > SPEC_GLOB_MAX_SEGMENTS) {
			snprintf(err, errlen, "'each' has more than %d"
				 " segments", SPEC_GLOB_MAX_SEGMENTS);
			return -EINVAL;
		}
		any = !strcmp(s, "**");
		if (!any || !g->n || !g->any[g->n - 1]) {
			g->seg[g->n] = s;
			g->any[g->n] = any;
			g->n++;
		}
		if (last)
			return 0;
	}
}

int spec_glob_check(const char *glob, char *err, size_t errlen)
{
	struct glob g;

	return glob_split(&g, glob, err, errlen);
}

/* Let every "**" state also admit the state after it (zero segments). */
static void glob_close(const struct glob *g, bool *at)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (at[i] && g->any[i])
			at[i + 1] = true;
}

/* One step of the automaton: from the states at, over path segment seg
 * (NULL for a name too long for anything but "**"), into next. false
 * when no state is left. */
static bool glob_step(const struct glob *g, const bool *at, const char *seg,
		      bool *next)
{
	bool alive = false;
	size_t i;

	memset(next, 0, (g->n + 1) * sizeof(*next));
	for (i = 0; i < g->n; i++) {
		if (!at[i])
			continue;
		if (g->any[i])
			next[i] = true;
		else if (seg && fnmatch(g->seg[i], seg, FNM_PERIOD) == 0)
			next[i + 1] = true;
	}
	glob_close(g, next);
	for (i = 0; i <= g->n; i++)
		alive |= next[i];
	return alive;
}

bool spec_glob_match(const char *glob, const char *path)
{
	bool at[SPEC_GLOB_MAX_SEGMENTS + 1] = { true };
	bool next[SPEC_GLOB_MAX_SEGMENTS + 1];
	char seg[NAME_MAX + 1], err[128];
	struct glob g;
	const char *s, *end;

	if (glob_split(&g, glob, err, sizeof(err)) < 0)
		return false;
	glob_close(&g, at);
	for (s = path; *s; s = *end ? end + 1 : end) {
		size_t n;

		end = strchrnul(s, '/');
		n = (size_t)(end - s);
		if (n < sizeof(seg)) {
			memcpy(seg, s, n);
			seg[n] = '\0';
		}
		/* No file system has a longer name: only "**" takes it. */
		if (!glob_step(&g, at, n < sizeof(seg) ? seg : NULL, next))
			return false;
		memcpy(at, next, sizeof(at));
	}
	return at[g.n];
}

/* How path appears in a prompt: shell-quoted for a shell, else as is. */
char *spec_expand_file(const char *prompt, const char *path, bool shell)
{
	char *word = shell ? quote_shell(path) : strdup(path);
	size_t n = 0, wlen, len;
	const char *s;
	char *out = NULL, *o;

	if (!word)
		return NULL;
	wlen = strlen(word);
	for (s = prompt; (s = strstr(s, "{file}")); s += 6)
		n++;
	len = strlen(prompt) + n * wlen - n * 6;
	if (!(out = malloc(len + 1)))
		goto out;
	for (o = out, s = prompt; *s;) {
		if (!strncmp(s, "{file}", 6)) {
			memcpy(o, word, wlen);
			o += wlen;
			s += 6;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
out:
	free(word);
	return out;
}
