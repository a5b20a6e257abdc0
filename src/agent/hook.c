/*
 * agent/hook: `parallelai hook`, Claude Code's PreToolUse hook for a run
 * of the claude preset. Claude Code runs it before each tool call with
 * the call as JSON on stdin; it asks the daemon's policy (agent_ask, the
 * socket in PAI_POLICY_SOCKET) and answers on stdout:
 *
 *	$ echo '{"tool_name":"Bash","tool_input":{"command":"git push"}}' |
 *	      parallelai hook
 *	{"hookSpecificOutput":{"hookEventName":"PreToolUse",
 *	 "permissionDecision":"deny","permissionDecisionReason":"denied by
 *	 policy (builtin git-push)"}}
 *
 * It waits as long as an approval does (the settings give the hook a
 * timeout past policy.askTimeout). Outside a mount, or when the policy
 * allows a call only by its default (no rule matched: "allowed by policy
 * (policy.default)"), it says nothing, and Claude Code's own permission
 * mode decides: bypassPermissions (it runs) when the run is sandboxed,
 * acceptEdits otherwise (engine_mode.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define HOOK_INPUT_MAX (16 << 20)

int hook_main(int argc, char **argv)
{
	struct buf in, reason;
	const cJSON *tool, *input;
	cJSON *req = NULL, *out, *h;
	char chunk[65536], *s;
	ssize_t n;
	int allow, code = 1;

	buf_init(&in, HOOK_INPUT_MAX);
	buf_init(&reason, 1 << 16);
	while ((n = read(0, chunk, sizeof(chunk))) > 0)
		if (buf_add(&in, chunk, (size_t)n) < 0) {
			fprintf(stderr, "parallelai hook: input over 16 MiB\n");
			goto out;
		}
	if (!(req = cJSON_ParseWithLength(in.ptr ? in.ptr : "", in.len)) ||
	    !cJSON_IsString(tool = cJSON_GetObjectItemCaseSensitive(req,
								   "tool_name"))) {
		fprintf(stderr, "parallelai hook: stdin is not a PreToolUse"
			" event (JSON with tool_name)\n");
		goto out;
	}
	code = 0;
	if (!getenv("PAI_POLICY_SOCKET"))
		goto out;	/* no daemon: no opinion */
	input = cJSON_GetObjectItemCaseSensitive(req, "tool_input");
	allow = agent_ask(tool->valuestring, input, &reason);
	/* allowed only because no rule spoke (policy.default = allow):
	 * no opinion, so that Claude Code's own permission mode decides as
	 * it did before the policy (an allow rule, the judge or a person
	 * allows outright) */
	if (allow && strstr(buf_cstr(&reason), "(policy.default)"))
		goto out;
	out = cJSON_CreateObject();
	h = cJSON_AddObjectToObject(out, "hookSpecificOutput");
	cJSON_AddStringToObject(h, "hookEventName", "PreToolUse");
	cJSON_AddStringToObject(h, "permissionDecision", allow ? "allow" : "deny");
	cJSON_AddStringToObject(h, "permissionDecisionReason", buf_cstr(&reason));
	s = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	if (s)
		printf("%s\n", s);
	free(s);
out:
	cJSON_Delete(req);
	buf_release(&in);
	buf_release(&reason);
	return code;
}
