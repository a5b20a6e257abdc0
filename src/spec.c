/*
 * spec: validate and parse a task submission; see include/spec.h.
 *
 * The fields a JSON spec may carry are a table: each row names a field,
 * the JSON type it must have and the check its value must pass, so a new
 * field is one row and one line in take().
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "spec.h"

#define SPEC_MAX_SECONDS (7 * 24 * 3600)
#define SPEC_MAX_DEPENDS 1000

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

static bool is_text(const cJSON *v)
{
	return cJSON_IsString(v) && *v->valuestring;
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

static bool is_count(const cJSON *v)
{
	return is_int(v) && v->valueint >= 0 && v->valueint <= 100;
}

static bool is_seconds(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble > 0 &&
	       v->valuedouble <= SPEC_MAX_SECONDS;
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

static bool is_object(const cJSON *v)
{
	return cJSON_IsObject(v);
}

static const struct field {
	const char *name;
	bool (*ok)(const cJSON *v);
	const char *want;	/* for the message */
	bool top_only;		/* not inside "then" */
} fields[] = {
	{ "prompt", is_string, "a string", false },
	{ "engine", is_text, "a non-empty string", false },
	{ "model", is_text, "a non-empty string", false },
	{ "permission_mode", is_text, "a non-empty string", false },
	{ "args", is_strings, "an array of strings", false },
	{ "env", is_env, "an object mapping names to strings", false },
	{ "depends", is_ids, "an array of task ids", false },
	{ "priority", is_int, "an integer", false },
	{ "timeout", is_seconds, "a number of seconds (up to 7 days)", false },
	{ "stall", is_seconds, "a number of seconds (up to 7 days)", false },
	{ "retries", is_count, "an integer from 0 to 100", false },
	{ "base", is_text, "a non-empty string", false },
	{ "branch", is_text, "a non-empty string", false },
	{ "labels", is_strings, "an array of strings", false },
	{ "each", is_text, "a non-empty glob", true },
	{ "then", is_object, "an object", true },
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

/* The engine options of a spec, kept together as one JSON object. */
static int take_options(struct spec *out, const cJSON *root)
{
	static const char *const keys[] = { "args", "env", "permission_mode" };
	cJSON *opts = NULL;
	size_t i;
	int r;

	for (i = 0; i < 3; i++) {
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

	if ((r = check_fields(root, nested, err, errlen)) < 0)
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
	if ((r = take_str(&out->prompt, root, "prompt")) < 0 ||
	    (r = take_str(&out->engine, root, "engine")) < 0 ||
	    (r = take_str(&out->model, root, "model")) < 0 ||
	    (r = take_str(&out->base, root, "base")) < 0 ||
	    (r = take_str(&out->branch, root, "branch")) < 0 ||
	    (r = take_str(&out->each, root, "each")) < 0 ||
	    (r = take_json(&out->labels, cJSON_GetObjectItemCaseSensitive(
				   root, "labels"))) < 0 ||
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
	cJSON *root = cJSON_ParseWithLength(text, len);
	int r;

	if (!root) {
		snprintf(err, errlen, "invalid JSON task spec near byte %zu",
			 (size_t)(cJSON_GetErrorPtr() ?
				  cJSON_GetErrorPtr() - text : 0));
		return -EINVAL;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "task spec must be a JSON object");
		r = -EINVAL;
	} else {
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
	if (sp->then) {
		spec_release(sp->then);
		free(sp->then);
	}
	memset(sp, 0, sizeof(*sp));
}

/* ---- fan-out ------------------------------------------------------- */

static bool match_segments(const char *g, const char *p)
{
	const char *gend = strchrnul(g, '/'), *pend;
	char gseg[256], pseg[256];

	if (!*g)
		return !*p;
	if (gend - g == 2 && !strncmp(g, "**", 2)) {
		const char *rest = *gend ? gend + 1 : gend;

		/* zero segments, or eat one and try again */
		if (match_segments(rest, p))
			return true;
		if (!*p)
			return false;
		pend = strchrnul(p, '/');
		return match_segments(g, *pend ? pend + 1 : pend);
	}
	if (!*p)
		return false;
	pend = strchrnul(p, '/');
	if ((size_t)(gend - g) >= sizeof(gseg) ||
	    (size_t)(pend - p) >= sizeof(pseg))
		return false;
	memcpy(gseg, g, (size_t)(gend - g));
	gseg[gend - g] = '\0';
	memcpy(pseg, p, (size_t)(pend - p));
	pseg[pend - p] = '\0';
	if (fnmatch(gseg, pseg, FNM_PERIOD) != 0)
		return false;
	if (!*gend || !*pend)
		return !*gend && !*pend;
	return match_segments(gend + 1, pend + 1);
}

bool spec_glob_match(const char *glob, const char *path)
{
	return match_segments(glob, path);
}

char *spec_expand_file(const char *prompt, const char *path)
{
	size_t n = 0, plen = strlen(path), len;
	const char *s;
	char *out, *o;

	for (s = prompt; (s = strstr(s, "{file}")); s += 6)
		n++;
	len = strlen(prompt) + n * plen - n * 6;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	for (o = out, s = prompt; *s;) {
		if (!strncmp(s, "{file}", 6)) {
			memcpy(o, path, plen);
			o += plen;
			s += 6;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}
