/*
 * policyint.h: what the files of src/policy/ share.
 *
 *   policy.c   rules from the config, patterns, the decision
 *   builtin.c  the built-in rules, on unless policy.builtin = false
 *   action.c   a tool call of any engine as one action
 */
#ifndef PAI_POLICYINT_H
#define PAI_POLICYINT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/* The built-in rules' verdict on action, if one fires (v->rule is
 * "builtin NAME"); branch is the task's own (git-push lets it be). */
bool policy_builtin_decide(const char *action, const char *worktree,
			   const char *branch, struct policy_verdict *v);
/* Adds the built-in rules to n[kind]. */
void policy_builtin_counts(size_t n[3]);

#endif
