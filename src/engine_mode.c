/*
 * engine_mode: the claude preset's permission mode, and why.
 *
 * Claude Code's own permission prompts cannot be answered headless: with
 * acceptEdits an agent may edit, but every Bash call it makes (the
 * project's build, its tests) comes back as a permission denial. When
 * parallelai's sandbox confines the run and the policy's PreToolUse hook
 * judges each call, Claude Code need not ask as well: the mode becomes
 * bypassPermissions. The user's own choice always wins.
 */
#include <stdio.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "engine.h"

static const char *default_why(bool sandboxed, bool hooked)
{
	if (sandboxed && hooked)
		return "sandbox and policy hook in force";
	if (sandboxed)
		return "no policy hook";
	return hooked ? "no sandbox" : "no sandbox, no policy hook";
}

void engine_permission_mode(const struct config *c, const char *engine,
			    const char *options, bool sandboxed, bool hooked,
			    char *mode, size_t mlen, char *why, size_t wlen)
{
	const struct engine_def *d = config_engine(c, engine);
	cJSON *opts = options ? cJSON_Parse(options) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(opts,
							  "permission_mode");

	if (cJSON_IsString(m)) {
		snprintf(mode, mlen, "%s", m->valuestring);
		snprintf(why, wlen, "the task's permission_mode");
	} else if (d && d->permission_mode) {
		snprintf(mode, mlen, "%s", d->permission_mode);
		snprintf(why, wlen, "engine.%s.permissionMode", engine);
	} else {
		snprintf(mode, mlen, "%s", sandboxed && hooked ?
			 "bypassPermissions" : "acceptEdits");
		snprintf(why, wlen, "%s", default_why(sandboxed, hooked));
	}
	cJSON_Delete(opts);
}
