/*
 * policy/action: a tool call of any engine as one action.
 *
 *	run {"command": "make test"}           Bash(make test)
 *	write_file {"path": "./src/../a.c"}    Write(a.c)
 *	Write {"file_path": "/wt/src/a.c"}     Write(src/a.c)   (worktree /wt)
 *	Edit {"file_path": "/etc/hosts"}       Edit(/etc/hosts)
 *	WebFetch {"url": "https://x/"}         Fetch(https://x/)
 *	mcp__srv__do {"a": 1}                  mcp__srv__do({"a":1})
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policyint.h"

struct tool_map {
	const char *from;
	const char *to;
	const char *key;	/* the input that is the action's argument */
	bool path;
};

static const struct tool_map tools[] = {
	{ "run", "Bash", "command", false },
	{ "Bash", "Bash", "command", false },
	{ "write_file", "Write", "path", true },
	{ "Write", "Write", "file_path", true },
	{ "edit_file", "Edit", "path", true },
	{ "Edit", "Edit", "file_path", true },
	{ "MultiEdit", "Edit", "file_path", true },
	{ "NotebookEdit", "Edit", "notebook_path", true },
	{ "read_file", "Read", "path", true },
	{ "Read", "Read", "file_path", true },
	{ "list_files", "LS", "path", true },
	{ "LS", "LS", "path", true },
	{ "search", "Grep", "pattern", false },
	{ "Grep", "Grep", "pattern", false },
	{ "Glob", "Glob", "pattern", false },
	{ "WebFetch", "Fetch", "url", false },
	{ "fetch", "Fetch", "url", false },
};

/* path made lexically clean: relative to worktree when inside it,
 * absolute otherwise. */
static int norm_path(struct buf *out, const char *path, const char *worktree)
{
	char full[PATH_MAX * 2], *segs[PATH_MAX / 2];
	size_t n = 0, wl = worktree ? strlen(worktree) : 0;
	char *s, *save = NULL;
	bool rel;

	while (wl > 1 && worktree[wl - 1] == '/')
		wl--;
	if (path[0] == '/' || !wl)
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "%.*s/%s", (int)wl, worktree,
			 path);
	for (s = strtok_r(full, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (!strcmp(s, "."))
			continue;
		if (!strcmp(s, "..")) {
			n -= n > 0;
			continue;
		}
		if (n < sizeof(segs) / sizeof(segs[0]))
			segs[n++] = s;
	}
	/* full is "/a/b": rebuild it and see whether worktree leads it */
	{
		struct buf abs;
		int r = 0;

		buf_init(&abs, PATH_MAX * 2);
		for (size_t i = 0; i < n; i++)
			r |= buf_printf(&abs, "/%s", segs[i]);
		if (!n)
			r |= buf_puts(&abs, "/");
		rel = wl && !strncmp(buf_cstr(&abs), worktree, wl) &&
		      (abs.ptr[wl] == '/' || abs.len == wl);
		if (rel)
			r |= buf_puts(out, abs.len == wl ? "." :
				      buf_cstr(&abs) + wl + 1);
		else
			r |= buf_puts(out, buf_cstr(&abs));
		buf_release(&abs);
		return r < 0 ? -ENOMEM : 0;
	}
}

int policy_action(struct buf *out, const char *tool, const cJSON *input,
		  const char *worktree)
{
	const struct tool_map *m = NULL;
	const cJSON *v;
	char *json;
	int r;

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (!strcmp(tool, tools[i].from))
			m = &tools[i];
	v = m ? cJSON_GetObjectItemCaseSensitive(input, m->key) : NULL;
	if (m && m->path && !cJSON_IsString(v) && !strcmp(m->to, "LS"))
		return buf_printf(out, "LS(.)");
	if (m && cJSON_IsString(v)) {
		if ((r = buf_printf(out, "%s(", m->to)) < 0)
			return r;
		r = m->path && *v->valuestring ?
		    norm_path(out, v->valuestring, worktree) :
		    buf_puts(out, v->valuestring);
		return r < 0 ? r : buf_puts(out, ")");
	}
	if (!input || (cJSON_IsObject(input) && !input->child))
		return buf_puts(out, m ? m->to : tool);
	if (!(json = cJSON_PrintUnformatted(input)))
		return -ENOMEM;
	r = buf_printf(out, "%s(%s)", m ? m->to : tool, json);
	free(json);
	return r;
}

/* Lines of s, each after mark, up to max bytes in all. */
static int lines(struct buf *out, char mark, const char *s, size_t max)
{
	size_t start = out->len;
	int r = 0;

	while (*s && !r) {
		size_t n = strcspn(s, "\n");

		if (out->len - start + n > max)
			return buf_puts(out, "[... cut]\n");
		r = buf_printf(out, "%c%.*s\n", mark, (int)n, s);
		s += n + (s[n] == '\n');
	}
	return r;
}

int policy_detail(struct buf *out, const char *tool, const cJSON *input)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(input, "content");
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(input, "old_string");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "new_string");
	int r = 0;

	if ((!strcmp(tool, "write_file") || !strcmp(tool, "Write")) &&
	    cJSON_IsString(c))
		return lines(out, '+', c->valuestring, DETAIL_MAX);
	if ((!strcmp(tool, "edit_file") || !strcmp(tool, "Edit")) &&
	    cJSON_IsString(o) && cJSON_IsString(n)) {
		r = lines(out, '-', o->valuestring, DETAIL_MAX / 2);
		if (!r)
			r = lines(out, '+', n->valuestring, DETAIL_MAX / 2);
	}
	return r;
}
