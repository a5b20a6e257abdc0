/*
 * policy: actions, rules and the decision (include/policy.h).
 *
 * A rule is "Tool" (any input) or "Tool(ARG)". For the path tools
 * (Write, Edit, Read, LS) ARG is a glob over the normalised path ("**"
 * crosses directories, as in spec_glob_match); for the others a wildcard
 * over the whole input where "*" matches anything, newlines included.
 * "Bash(npm test:*)", Claude Code's prefix form, is "Bash(npm test*)".
 * The built-in rules (builtin.c) look at
 * a shell command's simple commands rather than its text.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "spec.h"
#include "policyint.h"

#define RULE_MAX 4096

struct rule {
	enum policy_decision kind;
	char *engine;		/* NULL: every engine */
	char *pattern;
	char *source;		/* "policy.deny", "engine.x.policyDeny" */
};

struct policy {
	struct rule *rules;	/* the user's, in config order */
	size_t n;
	bool builtin;
	enum policy_decision dflt;
};

static const char *const kind_names[] = { "allow", "ask", "deny", "judge" };

const char *policy_decision_name(enum policy_decision d)
{
	return (unsigned)d < 4 ? kind_names[d] : "?";
}

int policy_decision_parse(const char *s, enum policy_decision *d)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, kind_names[i])) {
			*d = (enum policy_decision)i;
			return 0;
		}
	return -EINVAL;
}

/* ---- patterns ----------------------------------------------------------- */

static bool tool_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

int policy_rule_check(const char *p, char *err, size_t errlen)
{
	size_t n = 0, len;

	if (!p || !*p) {
		snprintf(err, errlen, "empty rule");
		return -EINVAL;
	}
	len = strlen(p);
	if (len > RULE_MAX) {
		snprintf(err, errlen, "rule longer than %d bytes", RULE_MAX);
		return -EINVAL;
	}
	while (tool_char(p[n]))
		n++;
	if (!n) {
		snprintf(err, errlen, "a rule starts with a tool's name,"
			 " as in Bash(git push*)");
		return -EINVAL;
	}
	if (!p[n])
		return 0;
	if (p[n] != '(' || p[len - 1] != ')') {
		snprintf(err, errlen, "expected Tool or Tool(pattern)");
		return -EINVAL;
	}
	if (len == n + 2) {
		snprintf(err, errlen, "empty pattern in '()': write %.*s alone"
			 " for any input", (int)n, p);
		return -EINVAL;
	}
	return 0;
}

static bool path_tool(const char *tool, size_t n)
{
	static const char *const tools[] = { "Write", "Edit", "Read", "LS" };

	for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
		if (strlen(tools[i]) == n && !strncmp(tool, tools[i], n))
			return true;
	return false;
}

/* "*" matches any run of bytes; the rest is literal. Greedy with one
 * backtrack point: time is bounded by len(p) * len(s). */
static bool wild(const char *p, size_t pn, const char *s, size_t sn)
{
	size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;

	while (si < sn) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && p[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != (size_t)-1) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

static bool path_match(const char *glob, size_t gn, const char *path,
		       size_t pn)
{
	char g[RULE_MAX + 1], s[PATH_MAX];

	if (gn > RULE_MAX || pn >= sizeof(s))
		return false;
	if ((gn == 1 && *glob == '*') || (gn == 2 && !strncmp(glob, "**", 2)))
		return true;
	if (gn >= 2 && !strncmp(glob, "./", 2)) {
		glob += 2;
		gn -= 2;
	}
	/* absolute only against absolute */
	if ((*glob == '/') != (*path == '/'))
		return false;
	if (*glob == '/') {
		glob++, gn--;
		path++, pn--;
	}
	memcpy(g, glob, gn);
	g[gn] = '\0';
	memcpy(s, path, pn);
	s[pn] = '\0';
	return spec_glob_match(g, s);
}

/* "Fetch(domain:example.com)": the URL's host. */
static bool domain_match(const char *host, size_t hn, const char *url,
			 size_t un)
{
	const char *s = memmem(url, un, "://", 3), *e;

	if (!s)
		return false;
	s += 3;
	for (e = s; e < url + un && *e != '/' && *e != ':' && *e != '?'; e++)
		;
	return (size_t)(e - s) == hn && !strncasecmp(s, host, hn);
}

bool policy_match(const char *pat, const char *action)
{
	size_t pt = strcspn(pat, "("), at = strcspn(action, "(");
	size_t pl = strlen(pat), al = strlen(action);
	const char *parg, *aarg;
	size_t pn, an;

	if (pt != at || strncmp(pat, action, pt))
		return false;
	if (!pat[pt])
		return true;		/* the tool, any input */
	if (!action[at] || action[al - 1] != ')')
		return false;
	parg = pat + pt + 1;
	pn = pl - pt - 2;
	aarg = action + at + 1;
	an = al - at - 2;
	/* Claude Code's "prefix:*" */
	if (pn >= 2 && !strncmp(parg + pn - 2, ":*", 2)) {
		char p[RULE_MAX + 1];

		memcpy(p, parg, pn - 2);
		p[pn - 2] = '*';
		return wild(p, pn - 1, aarg, an);
	}
	if (path_tool(pat, pt))
		return path_match(parg, pn, aarg, an);
	if (pt == 5 && !strncmp(pat, "Fetch", 5) && pn > 7 &&
	    !strncmp(parg, "domain:", 7))
		return domain_match(parg + 7, pn - 7, aarg, an);
	return wild(parg, pn, aarg, an);
}

/* ---- the policy ---------------------------------------------------------- */

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->rules[i].engine);
		free(p->rules[i].pattern);
		free(p->rules[i].source);
	}
	free(p->rules);
	free(p);
}

static int rule_source(struct rule *r)
{
	static const char *const key[] = { "allow", "ask", "deny" };
	static const char *const ekey[] = { "Allow", "Ask", "Deny" };

	return r->engine ?
	       asprintf(&r->source, "engine.%s.policy%s", r->engine,
			ekey[r->kind]) :
	       asprintf(&r->source, "policy.%s", key[r->kind]);
}

int policy_build(struct policy **out, const struct config *c,
		 char *err, size_t errlen)
{
	struct policy *p = calloc(1, sizeof(*p));
	size_t i;

	*out = NULL;
	if (!p || !(p->rules = calloc(c->n_policy + 1, sizeof(*p->rules)))) {
		free(p);
		return -ENOMEM;
	}
	p->builtin = c->policy_builtin;
	p->dflt = c->policy_default;
	for (i = 0; i < c->n_policy; i++) {
		const struct policy_def *d = &c->policy[i];
		struct rule *r = &p->rules[p->n++];
		char why[200];

		r->kind = d->kind;
		if (policy_rule_check(d->pattern, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "config policy: rule '%s': %s",
				 d->pattern, why);
			policy_free(p);
			return -EINVAL;
		}
		r->engine = d->engine ? strdup(d->engine) : NULL;
		r->pattern = strdup(d->pattern);
		if ((d->engine && !r->engine) || !r->pattern ||
		    rule_source(r) < 0) {
			r->source = NULL;
			policy_free(p);
			return -ENOMEM;
		}
	}
	*out = p;
	return 0;
}

void policy_counts(const struct policy *p, size_t n[3])
{
	n[POLICY_ALLOW] = n[POLICY_ASK] = n[POLICY_DENY] = 0;
	for (size_t i = 0; i < p->n; i++)
		n[p->rules[i].kind]++;
	if (p->builtin)
		policy_builtin_counts(n);
}

void policy_decide(const struct policy *p, const char *engine,
		   const char *action, const char *worktree,
		   const char *branch, struct policy_verdict *v)
{
	static const enum policy_decision order[] = {
		POLICY_DENY, POLICY_ASK, POLICY_ALLOW
	};

	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < p->n; i++) {
			const struct rule *r = &p->rules[i];

			if (r->kind != order[k] ||
			    (r->engine && (!engine || strcmp(r->engine, engine))) ||
			    !policy_match(r->pattern, action))
				continue;
			v->decision = r->kind;
			snprintf(v->rule, sizeof(v->rule), "%s %s", r->source,
				 r->pattern);
			return;
		}
	if (p->builtin && policy_builtin_decide(action, worktree, branch, v))
		return;
	v->decision = p->dflt;
	snprintf(v->rule, sizeof(v->rule), "policy.default");
}
