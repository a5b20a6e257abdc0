/*
 * policy/builtin: the rules that are on unless policy.builtin = false.
 *
 *	deny git-dir            Write or Edit of a path in any .git directory
 *	deny git-push           git push, git update-ref, git branch -D of
 *	                        any ref but the task's own branch (pushing
 *	                        and merging are the user's, by ctl)
 *	deny rm-outside         rm -r of /, ~, .., or a path outside the
 *	                        worktree
 *	ask  pipe-shell         something piped into sh, bash, zsh, dash, ksh
 *	ask  sudo               sudo, doas, su
 *	ask  chmod-777          chmod -R 777 (or a+rwx)
 *	ask  docker-privileged  docker|podman run --privileged
 *
 * A shell command is cut into simple commands at ; & | newlines ( ) `
 * and $(, and each is looked at word by word (quotes removed, leading
 * VAR=value and sudo/env/command/exec/nice/time skipped), so
 * "make && git push" is caught and "echo 'git push'" is not. A shell
 * inside a string (bash -c "...") is not looked into.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policyint.h"

#define CMDS_MAX 256
#define WORDS_MAX 128

struct cmd {
	char *w[WORDS_MAX];
	int n;
	bool piped;		/* its input is the previous command's output */
};

struct script {
	char *buf;		/* the words, NUL-separated */
	struct cmd c[CMDS_MAX];
	int n;
};

/* One word from *sp into *op (quotes removed, backslashes applied). */
static void word(const char **sp, char **op)
{
	const char *s = *sp;
	char *o = *op, q = 0;

	for (; *s; s++) {
		if (q) {
			if (*s == q)
				q = 0;
			else if (q == '"' && *s == '\\' && s[1])
				*o++ = *++s;
			else
				*o++ = *s;
			continue;
		}
		if (strchr(" \t\n;&|()`", *s) || (*s == '$' && s[1] == '('))
			break;
		if (*s == '\'' || *s == '"')
			q = *s;
		else if (*s == '\\' && s[1])
			*o++ = *++s;
		else
			*o++ = *s;
	}
	*o++ = '\0';
	*sp = s;
	*op = o;
}

static int script_parse(struct script *sc, const char *s)
{
	const char *start = s;
	char *o;
	struct cmd *c;

	memset(sc, 0, sizeof(*sc));
	if (!(sc->buf = malloc(strlen(s) * 2 + 2)))
		return -1;
	o = sc->buf;
	c = &sc->c[0];
	sc->n = 1;
	while (*s) {
		if (*s == ' ' || *s == '\t') {
			s++;
			continue;
		}
		if (strchr("\n;&|()`", *s) || (*s == '$' && s[1] == '(')) {
			bool pipe = *s == '|' && s[1] != '|' &&
				    (s == start || s[-1] != '|');

			s += *s == '$' ? 2 : 1;
			if (c->n && sc->n < CMDS_MAX)
				c = &sc->c[sc->n++];
			if (pipe)
				c->piped = true;
			continue;
		}
		if (c->n < WORDS_MAX)
			c->w[c->n++] = o;
		word(&s, &o);	/* past WORDS_MAX: read, not kept */
	}
	return 0;
}

/* The program's base name, after VAR=x and the wrappers; its index. */
static int program(const struct cmd *c, const char **name, bool wrappers)
{
	static const char *const skip[] = { "sudo", "env", "command", "exec",
					    "nice", "time", "nohup", NULL };
	int i = 0;

	for (; i < c->n; i++) {
		const char *w = c->w[i], *sl;
		bool wrap = false;

		if (strchr(w, '=') && w[0] != '=' && w[0] != '-')
			continue;
		if (w[0] == '-' && i > 0)
			continue;	/* a wrapper's option */
		sl = strrchr(w, '/');
		*name = sl ? sl + 1 : w;
		for (int k = 0; wrappers && skip[k]; k++)
			wrap |= !strcmp(*name, skip[k]);
		if (!wrap)
			return i;
	}
	return -1;
}

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* Is ref the task's own branch: refs/heads/NAME, or NAME as well where
 * git takes a branch's short name (not update-ref's)? */
static bool own_ref(const char *ref, const char *branch, bool short_ok)
{
	if (!branch || !*branch)
		return false;
	if (!strncmp(ref, "refs/heads/", 11))
		ref += 11;
	else if (!short_ok)
		return false;
	return !strcmp(ref, branch);
}

/* An option of git push that reaches refs beyond its refspecs. Short
 * ones may come bundled (-fd): only the known harmless ones pass. */
static bool push_widens(const char *w)
{
	static const char *const wide[] = { "--all", "--branches",
		"--mirror", "--tags", "--delete", "--prune", "--follow-tags",
		NULL };
	static const char *const shorts[] = { "-f", "-u", "-q", "-v", "-n",
					      NULL };

	for (int k = 0; wide[k]; k++)
		if (is(w, wide[k]))
			return true;
	if (w[1] == '-')
		return false;
	for (int k = 0; shorts[k]; k++)
		if (is(w, shorts[k]))
			return false;
	return true;
}

/* git push [OPTIONS] REMOTE REFSPEC...: does it touch a ref other than
 * the task's own branch? No refspec (push.default decides), a deletion,
 * --all, --mirror, --tags: it may. */
static bool push_other(const struct cmd *c, int i, const char *branch)
{
	int specs = 0;
	bool remote = false;

	for (i++; i < c->n; i++) {
		const char *w = c->w[i], *dst;

		if (is(w, "-o") || is(w, "--push-option") ||
		    is(w, "--repo") || is(w, "--receive-pack") ||
		    is(w, "--exec")) {
			i++;	/* and its value */
			continue;
		}
		if (w[0] == '-') {
			if (push_widens(w))
				return true;
			continue;
		}
		if (!remote) {
			remote = true;
			continue;
		}
		if (w[0] == '+')
			w++;
		dst = strchr(w, ':');
		if (dst == w)
			return true;	/* :REF deletes REF */
		if (!own_ref(dst ? dst + 1 : w, branch, true))
			return true;
		specs++;
	}
	return specs == 0;
}

/* git update-ref [-m MSG] [--no-deref] REF NEW [OLD]: another ref than
 * the task's branch, a deletion (-d) or a batch (--stdin)? */
static bool update_ref_other(const struct cmd *c, int i, const char *branch)
{
	for (i++; i < c->n; i++) {
		if (is(c->w[i], "-m")) {
			i++;
			continue;
		}
		if (is(c->w[i], "--no-deref") || is(c->w[i], "--create-reflog"))
			continue;
		return c->w[i][0] == '-' || !own_ref(c->w[i], branch, false);
	}
	return true;
}

/* git branch -D (or -d -f, --delete --force) of a branch not the task's. */
static bool branch_delete_other(const struct cmd *c, int i,
				const char *branch)
{
	bool del = false, force = false, other = false;

	for (i++; i < c->n; i++) {
		del |= is(c->w[i], "-D") || is(c->w[i], "-d") ||
		       is(c->w[i], "--delete");
		force |= is(c->w[i], "-D") || is(c->w[i], "-f") ||
			 is(c->w[i], "--force");
		if (c->w[i][0] != '-')
			other |= !own_ref(c->w[i], branch, true);
	}
	return del && force && other;
}

static bool git_push(const struct cmd *c, const char *worktree,
		     const char *branch)
{
	const char *prog;
	int i = program(c, &prog, true);

	if (i < 0 || !is(prog, "git"))
		return false;
	for (i++; i < c->n && c->w[i][0] == '-'; i++)
		if (is(c->w[i], "-C") || is(c->w[i], "-c"))
			i++;
	if (i >= c->n)
		return false;
	if (is(c->w[i], "push"))
		return push_other(c, i, branch);
	if (is(c->w[i], "update-ref"))
		return update_ref_other(c, i, branch);
	return is(c->w[i], "branch") && branch_delete_other(c, i, branch);
}

/* Does path, seen from the worktree's root, lead outside it? */
static bool outside(const char *p, const char *worktree)
{
	int depth = 0;
	size_t wl = worktree ? strlen(worktree) : 0;

	if (p[0] == '~' || !strncmp(p, "$HOME", 5) || !strncmp(p, "${HOME}", 7))
		return true;
	if (p[0] == '/') {
		if (!wl || strncmp(p, worktree, wl) ||
		    (p[wl] != '/' && p[wl] != '\0'))
			return true;
		p += wl;
	}
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (n == 2 && !strncmp(p, "..", 2)) {
			if (--depth < 0)
				return true;
		} else if (n && !(n == 1 && *p == '.')) {
			depth++;
		}
		p += n;
	}
	return false;
}

static bool rm_outside(const struct cmd *c, const char *worktree,
		       const char *branch)
{
	const char *prog;
	int i = program(c, &prog, true);
	bool rec = false, opts = true, bad = false;

	if (i < 0 || !is(prog, "rm"))
		return false;
	for (i++; i < c->n; i++) {
		const char *w = c->w[i];

		if (opts && is(w, "--")) {
			opts = false;
		} else if (opts && w[0] == '-' && w[1] == '-') {
			rec |= is(w, "--recursive");
		} else if (opts && w[0] == '-' && w[1]) {
			rec |= strchr(w, 'r') || strchr(w, 'R');
		} else {
			bad |= outside(w, worktree);
		}
	}
	return rec && bad;
}

static bool pipe_shell(const struct cmd *c)
{
	static const char *const shells[] = { "sh", "bash", "zsh", "dash",
					      "ksh", NULL };
	const char *prog;

	if (!c->piped || program(c, &prog, true) < 0)
		return false;
	for (int k = 0; shells[k]; k++)
		if (is(prog, shells[k]))
			return true;
	return false;
}

static bool sudo(const struct cmd *c)
{
	const char *prog;

	return program(c, &prog, false) >= 0 &&
	       (is(prog, "sudo") || is(prog, "doas") || is(prog, "su"));
}

static bool chmod_777(const struct cmd *c)
{
	const char *prog;
	int i = program(c, &prog, true);
	bool rec = false, all = false;

	if (i < 0 || !is(prog, "chmod"))
		return false;
	for (i++; i < c->n; i++) {
		rec |= is(c->w[i], "-R") || is(c->w[i], "--recursive");
		all |= is(c->w[i], "777") || is(c->w[i], "0777") ||
		       is(c->w[i], "a+rwx") || is(c->w[i], "ugo+rwx");
	}
	return rec && all;
}

static bool docker_privileged(const struct cmd *c)
{
	const char *prog;
	int i = program(c, &prog, true);
	bool run = false, priv = false;

	if (i < 0 || (!is(prog, "docker") && !is(prog, "podman")))
		return false;
	for (i++; i < c->n; i++) {
		run |= is(c->w[i], "run");
		priv |= is(c->w[i], "--privileged") ||
			is(c->w[i], "--privileged=true");
	}
	return run && priv;
}

static bool git_dir_path(const char *path)
{
	for (const char *s = path; *s;) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (n == 4 && !strncmp(s, ".git", 4))
			return true;
		s += n;
	}
	return false;
}

struct builtin {
	const char *name;
	enum policy_decision kind;
	bool (*cmd)(const struct cmd *c);		/* Bash */
	bool (*cmd_in)(const struct cmd *c, const char *worktree,
		       const char *branch);
};

/* Deny before ask: the first that fires decides. */
static const struct builtin builtins[] = {
	{ "git-push", POLICY_DENY, NULL, git_push },
	{ "rm-outside", POLICY_DENY, NULL, rm_outside },
	{ "pipe-shell", POLICY_ASK, pipe_shell, NULL },
	{ "sudo", POLICY_ASK, sudo, NULL },
	{ "chmod-777", POLICY_ASK, chmod_777, NULL },
	{ "docker-privileged", POLICY_ASK, docker_privileged, NULL },
};
#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

void policy_builtin_counts(size_t n[3])
{
	n[POLICY_DENY]++;	/* git-dir */
	for (size_t i = 0; i < N_BUILTINS; i++)
		n[builtins[i].kind]++;
}

static bool fired(struct policy_verdict *v, const char *name,
		  enum policy_decision kind)
{
	v->decision = kind;
	snprintf(v->rule, sizeof(v->rule), "builtin %s", name);
	return true;
}

static bool bash_decide(const char *cmdline, const char *worktree,
			const char *branch, struct policy_verdict *v)
{
	struct script *sc = malloc(sizeof(*sc));
	bool hit = false;

	if (!sc)
		return fired(v, "out-of-memory", POLICY_ASK);
	if (script_parse(sc, cmdline) < 0) {
		free(sc);
		return fired(v, "out-of-memory", POLICY_ASK);
	}
	for (size_t b = 0; b < N_BUILTINS && !hit; b++)
		for (int i = 0; i < sc->n && !hit; i++)
			if (builtins[b].cmd ? builtins[b].cmd(&sc->c[i]) :
			    builtins[b].cmd_in(&sc->c[i], worktree, branch))
				hit = fired(v, builtins[b].name,
					    builtins[b].kind);
	free(sc->buf);
	free(sc);
	return hit;
}

bool policy_builtin_decide(const char *action, const char *worktree,
			   const char *branch, struct policy_verdict *v)
{
	size_t len = strlen(action);
	char *arg;
	bool r = false;

	if (len < 2 || action[len - 1] != ')')
		return false;
	if (!strncmp(action, "Write(", 6) || !strncmp(action, "Edit(", 5)) {
		arg = strndup(strchr(action, '(') + 1,
			      len - (size_t)(strchr(action, '(') - action) - 2);
		if (arg && git_dir_path(arg))
			r = fired(v, "git-dir", POLICY_DENY);
		free(arg);
	} else if (!strncmp(action, "Bash(", 5)) {
		if (!(arg = strndup(action + 5, len - 6)))
			return fired(v, "out-of-memory", POLICY_ASK);
		r = bash_decide(arg, worktree, branch, v);
		free(arg);
	}
	return r;
}
