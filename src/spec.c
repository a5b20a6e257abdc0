/*
 * spec: validate and parse a task submission; see include/spec.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "spec.h"

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

/* An array of strings, or an object of strings with valid names. */
static bool all_strings(const cJSON *v, bool object)
{
	const cJSON *e;

	if (object ? !cJSON_IsObject(v) : !cJSON_IsArray(v))
		return false;
	cJSON_ArrayForEach(e, v) {
		if (!cJSON_IsString(e))
			return false;
		if (object && (!*e->string || strchr(e->string, '=')))
			return false;
	}
	return true;
}

/* The engine options of a spec, kept together as one JSON object. */
static int take_options(struct spec *out, const cJSON *root)
{
	static const char *const keys[] = { "args", "env", "permission_mode" };
	cJSON *opts = NULL;
	size_t i;

	for (i = 0; i < 3; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[i]);

		if (!v)
			continue;
		if (!opts && !(opts = cJSON_CreateObject()))
			return -ENOMEM;
		cJSON_AddItemToObject(opts, keys[i], cJSON_Duplicate(v, 1));
	}
	if (!opts)
		return 0;
	out->options = cJSON_PrintUnformatted(opts);
	cJSON_Delete(opts);
	return out->options ? 0 : -ENOMEM;
}

static int parse_json(struct spec *out, const char *text, size_t len,
		      size_t max_prompt, char *err, size_t errlen)
{
	cJSON *root, *item;
	int r = -EINVAL;

	root = cJSON_ParseWithLength(text, len);
	if (!root) {
		snprintf(err, errlen, "invalid JSON task spec near byte %zu",
			 (size_t)(cJSON_GetErrorPtr() ?
				  cJSON_GetErrorPtr() - text : 0));
		return -EINVAL;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "task spec must be a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(item, root) {
		if (!strcmp(item->string, "prompt")) {
			if (!cJSON_IsString(item)) {
				snprintf(err, errlen,
					 "task spec: 'prompt' must be a string");
				goto out;
			}
		} else if (!strcmp(item->string, "engine") ||
			   !strcmp(item->string, "model")) {
			if (!cJSON_IsString(item) || !*item->valuestring) {
				snprintf(err, errlen,
					 "task spec: '%s' must be a non-empty string",
					 item->string);
				goto out;
			}
		} else if (!strcmp(item->string, "permission_mode")) {
			if (!cJSON_IsString(item) || !*item->valuestring) {
				snprintf(err, errlen,
					 "task spec: 'permission_mode' must be a non-empty string");
				goto out;
			}
		} else if (!strcmp(item->string, "args")) {
			if (!all_strings(item, false)) {
				snprintf(err, errlen,
					 "task spec: 'args' must be an array of strings");
				goto out;
			}
		} else if (!strcmp(item->string, "env")) {
			if (!all_strings(item, true)) {
				snprintf(err, errlen,
					 "task spec: 'env' must map names to strings");
				goto out;
			}
		} else {
			snprintf(err, errlen, "task spec: unknown field '%s'",
				 item->string);
			goto out;
		}
	}
	item = cJSON_GetObjectItemCaseSensitive(root, "prompt");
	if (!item) {
		snprintf(err, errlen, "task spec: 'prompt' is missing");
		goto out;
	}
	out->prompt_len = strlen(item->valuestring);
	if (out->prompt_len > max_prompt) {
		snprintf(err, errlen, "prompt too long: %zu bytes, limit %zu",
			 out->prompt_len, max_prompt);
		r = -EFBIG;
		goto out;
	}
	if (all_blank(item->valuestring, out->prompt_len)) {
		snprintf(err, errlen, "empty prompt");
		goto out;
	}
	out->prompt = strdup(item->valuestring);
	r = out->prompt ? 0 : -ENOMEM;
	item = cJSON_GetObjectItemCaseSensitive(root, "engine");
	if (item && !(out->engine = strdup(item->valuestring)))
		r = -ENOMEM;
	item = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (item && !(out->model = strdup(item->valuestring)))
		r = -ENOMEM;
	if (r == 0)
		r = take_options(out, root);
out:
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
	memset(sp, 0, sizeof(*sp));
}
