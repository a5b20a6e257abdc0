/*
 * policy: whether a tool call an engine wants to make may run.
 *
 * A tool call is an action, the same for every engine:
 *
 *	Bash(git push origin main)   Write(src/a.c)   Edit(.git/config)
 *	Read(/etc/passwd)            Fetch(https://x) mcp__srv__tool({...})
 *
 * Paths are relative to the task's worktree; a path outside it is shown
 * absolute. Rules are patterns in Claude Code's syntax, one a config
 * value, several per key:
 *
 *	[policy]
 *		deny = Bash(git push*)
 *		ask = Bash(*| sh*)
 *		allow = Bash(make test)
 *		default = allow		# allow | ask | deny | judge
 *		builtin = true
 *	[engine "anthropic"]
 *		policyDeny = Fetch(*)
 *
 * The user's rules are tried first, deny, then ask, then allow; then the
 * built-in set (policy_builtins); then policy.default.
 *
 *	struct policy *p;
 *	policy_build(&p, &cfg, err, sizeof(err));	// -EINVAL: a bad rule
 *	policy_action(&act, "run", input, worktree);	// "Bash(make test)"
 *	policy_decide(p, "anthropic", buf_cstr(&act), worktree, branch, &v);
 *	// v.decision == POLICY_ALLOW, v.rule "policy.default"
 *	policy_free(p);
 *
 * A built policy is read-only: threads share it; a reload builds a new one.
 */
#ifndef PAI_POLICY_H
#define PAI_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"

struct policy;

struct policy_verdict {
	enum policy_decision decision;
	char rule[256];		/* what decided: "builtin git-push",
				 * "policy.deny Bash(git push*)",
				 * "policy.default" */
};

/* The rules of c (user's, engines', built-in). -EINVAL with err naming
 * the config key and the rule when one is malformed. */
int policy_build(struct policy **out, const struct config *c,
		 char *err, size_t errlen);
void policy_free(struct policy *p);

/* Is pattern a rule policy_build takes? -EINVAL with err saying why. */
int policy_rule_check(const char *pattern, char *err, size_t errlen);

/* How many rules of each kind are active: n[POLICY_ALLOW], n[POLICY_ASK],
 * n[POLICY_DENY] (built-in ones included). */
void policy_counts(const struct policy *p, size_t n[3]);

/* The action of a tool call: the built-in agent's tools (run, write_file,
 * edit_file, read_file, list_files, search) and Claude Code's (Bash,
 * Write, Edit, MultiEdit, Read, WebFetch ...) map to the same names. */
int policy_action(struct buf *out, const char *tool, const cJSON *input,
		  const char *worktree);

/* For a Write or an Edit: the change, as "-" and "+" lines (at most
 * DETAIL_MAX bytes); nothing for other tools. */
#define DETAIL_MAX (64 * 1024)
int policy_detail(struct buf *out, const char *tool, const cJSON *input);

/* The decision for an action of engine (NULL: no engine rules) in the
 * task whose worktree and branch are given (branch NULL: none is its
 * own). */
void policy_decide(const struct policy *p, const char *engine,
		   const char *action, const char *worktree,
		   const char *branch, struct policy_verdict *v);

/* Does the pattern match the action? Exposed for the unit tests. */
bool policy_match(const char *pattern, const char *action);

const char *policy_decision_name(enum policy_decision d);
/* "allow", "ask", "deny", "judge" into *d; -EINVAL otherwise. */
int policy_decision_parse(const char *s, enum policy_decision *d);

#endif
