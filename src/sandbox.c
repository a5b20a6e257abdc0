/*
 * sandbox: bubblewrap's command line for a run, and the choice of
 * whether a run gets one.
 *
 * The order of bubblewrap's mounts matters: the root read-only first,
 * then a private /tmp, then the writable places on top. A private /tmp
 * hides the host's: when anything the run needs lives under /tmp (a test
 * keeps its repository there), /tmp stays the host's, read-only, and the
 * task's own tmp (TMPDIR) is the place to write. With a tmpfs on /tmp,
 * a write under /tmp to a path not bound would land in the tmpfs and
 * vanish: the run would not see the error (FACTS.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "engine.h"
#include "fsutil.h"
#include "provider.h"
#include "sandbox.h"

/* What an agent CLI reads to log in, under the user's home: shown
 * read-only in the task's home, or, for the CLIs that write their own
 * state there as they run (copy), copied into it: the files of the
 * directory's top level (its login, its settings), private to the task,
 * the user's own never changed. */
static const struct preset_binds {
	const char *engine;
	const char *paths[3];
	bool copy;
} preset_binds[] = {
	{ "claude", { "~/.claude", "~/.claude.json", NULL }, true },
	{ "codex", { "~/.codex", NULL }, true },
	{ "gemini", { "~/.gemini", "~/.config/gemini", NULL }, false },
	{ "aider", { "~/.aider.conf.yml", NULL }, false },
	{ "opencode", { "~/.config/opencode", "~/.local/share/opencode", NULL },
	  false },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- finding and trying bubblewrap ---------------------------------------- */

static char *find_on_path(const char *prog, const char *path)
{
	char full[PATH_MAX];
	const char *p, *end;

	for (p = path; p && *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (end == p)
			continue;
		if (snprintf(full, sizeof(full), "%.*s/%s", (int)(end - p), p,
			     prog) >= (int)sizeof(full))
			continue;
		if (access(full, X_OK) == 0)
			return realpath(full, NULL);
	}
	return NULL;
}

/* Run argv once; 0 when it exits 0, else -1 with the first line it
 * printed in msg. */
static int try_run(char *const argv[], char *msg, size_t len)
{
	int pfd[2], status = 0;
	ssize_t n = 0, got;
	pid_t pid;

	*msg = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(msg, len, "cannot try it: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while (pid > 0 && n < (ssize_t)len - 1 &&
	       (got = read(pfd[0], msg + n, len - 1 - (size_t)n)) != 0)
		if (got > 0)
			n += got;
		else if (errno != EINTR)
			break;
	close(pfd[0]);
	msg[n] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	if (pid < 0) {
		snprintf(msg, len, "cannot try it: %s", strerror(errno));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!*msg)
		snprintf(msg, len, "%s", WIFEXITED(status) ? "it failed" :
			 "it was killed");
	return -1;
}

/* Run bwrap once as runs use it; 0, or -1 with its complaint in why. */
static int try_bwrap(const char *bwrap, char *why, size_t len)
{
	char *const argv[] = { (char *)bwrap, "--ro-bind", "/", "/", "--dev",
			       "/dev", "--proc", "/proc", "--unshare-pid",
			       "--die-with-parent", "--", "/bin/true", NULL };
	char msg[200];

	if (try_run(argv, msg, sizeof(msg)) == 0)
		return 0;
	snprintf(why, len, "bubblewrap '%s' does not work here: %s", bwrap,
		 msg);
	return -1;
}

/* env(1) that can ignore a signal and put one back to its default. */
static char *find_env(void)
{
	char *env = find_on_path("env", "/usr/bin:/bin");
	char msg[64];

	if (env) {
		char *const a[] = { env, "--ignore-signal=TERM",
				    "--default-signal=INT", "/bin/true", NULL };

		if (try_run(a, msg, sizeof(msg)) == 0)
			return env;
	}
	free(env);
	return NULL;
}

void sandbox_probe(struct sandbox_probe *pr, const char *path)
{
	memset(pr, 0, sizeof(*pr));
	if (path && strchr(path, '/'))
		pr->bwrap = access(path, X_OK) == 0 ? realpath(path, NULL) :
			    NULL;
	else
		pr->bwrap = find_on_path(path ? path : "bwrap",
					 getenv("PATH"));
	if (!pr->bwrap) {
		if (path)
			snprintf(pr->why, sizeof(pr->why),
				 "bubblewrap not found at '%s'", path);
		else
			snprintf(pr->why, sizeof(pr->why), "bubblewrap (bwrap)"
				 " is not installed (not on PATH)");
		return;
	}
	pr->works = try_bwrap(pr->bwrap, pr->why, sizeof(pr->why)) == 0;
	if (pr->works)
		pr->env = find_env();
}

void sandbox_probe_release(struct sandbox_probe *pr)
{
	free(pr->bwrap);
	free(pr->env);
	memset(pr, 0, sizeof(*pr));
}

/* ---- the choice ---------------------------------------------------------- */

const char *sandbox_net_name(enum sandbox_net n)
{
	return n == SANDBOX_NET_NONE ? "none" :
	       n == SANDBOX_NET_LOOPBACK ? "loopback" : "on";
}

static enum sandbox_net net_of(const char *s)
{
	return !strcmp(s, "none") ? SANDBOX_NET_NONE :
	       !strcmp(s, "loopback") ? SANDBOX_NET_LOOPBACK : SANDBOX_NET_ON;
}

/* The most particular of the three settings, and who made it. */
static const char *pick(const char *task, const char *eng, const char *mnt,
			const char **who)
{
	*who = task ? "the task's" : eng ? "the engine's" : "the mount's";
	return task ? task : eng ? eng : mnt;
}

int sandbox_choose(const struct config *c, const struct sandbox_probe *pr,
		   const char *engine, const char *options,
		   struct sandbox_choice *out, char *err, size_t errlen)
{
	const struct engine_def *d = config_engine(c, engine);
	cJSON *opts = options ? cJSON_Parse(options) : NULL;
	const cJSON *ts = cJSON_GetObjectItemCaseSensitive(opts, "sandbox");
	const cJSON *tn = cJSON_GetObjectItemCaseSensitive(opts, "network");
	const char *who, *whon, *mode, *net;
	int r = 0;

	mode = pick(cJSON_IsString(ts) ? ts->valuestring : NULL,
		    d ? d->sandbox : NULL, c->sandbox, &who);
	net = pick(cJSON_IsString(tn) ? tn->valuestring : NULL,
		   d ? d->network : NULL, c->network, &whon);
	memset(out, 0, sizeof(*out));
	out->net = net ? net_of(net) : SANDBOX_NET_ON;
	if (mode && !strcmp(mode, "none")) {
		snprintf(out->reason, sizeof(out->reason),
			 "sandbox=none is %s setting", who);
	} else if (pr->works) {
		out->on = true;
	} else if (mode && !strcmp(mode, "bwrap")) {
		snprintf(err, errlen, "sandbox=bwrap (%s setting): %s", who,
			 pr->why);
		r = -EINVAL;
	} else {
		snprintf(out->reason, sizeof(out->reason), "%s", pr->why);
	}
	if (r == 0 && !out->on && out->net != SANDBOX_NET_ON) {
		snprintf(err, errlen, "network=%s (%s setting) needs the "
			 "sandbox, and there is none: %s", net, whon,
			 out->reason);
		r = -EINVAL;
	}
	cJSON_Delete(opts);
	return r;
}

/* ---- the command line ------------------------------------------------------ */

struct words {
	char **v;
	size_t n;
	int err;
};

static void add(struct words *w, const char *word)
{
	char **v;

	if (w->err)
		return;
	v = realloc(w->v, (w->n + 2) * sizeof(*v));
	if (!v || !(v[w->n] = strdup(word))) {
		if (v)
			w->v = v;
		w->err = -ENOMEM;
		return;
	}
	w->v = v;
	v[++w->n] = NULL;
}

static void add3(struct words *w, const char *a, const char *b,
		 const char *c)
{
	add(w, a);
	add(w, b);
	if (c)
		add(w, c);
}

static bool under_tmp(const char *path)
{
	return path && !strncmp(path, "/tmp", 4) &&
	       (path[4] == '/' || !path[4]);
}

/* The mount point of a bind into the task's home, made here, private
 * (bubblewrap would make it readable by all, in the state directory),
 * with its parents; what src is decides between file and directory. */
static void make_mount_point(const char *src, const char *dst)
{
	char dir[PATH_MAX], *s;
	struct stat st;
	int fd;

	if (stat(src, &st) < 0 ||
	    (size_t)snprintf(dir, sizeof(dir), "%s", dst) >= sizeof(dir))
		return;
	for (s = dir + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(dir, 0700);
		*s = '/';
	}
	if (S_ISDIR(st.st_mode)) {
		mkdir(dst, 0700);
	} else if ((fd = open(dst, O_WRONLY | O_CREAT | O_NOFOLLOW |
			      O_CLOEXEC, 0600)) >= 0) {
		close(fd);
	}
}

/* ~/NAME of the user's home, shown at ~/NAME of the task's; an absolute
 * path where it is. */
static void add_bind(struct words *w, const char *flag, const char *path,
		     const struct sandbox_paths *sp)
{
	char src[PATH_MAX], dst[PATH_MAX];

	if (!strncmp(path, "~/", 2)) {
		if (!sp->user_home)
			return;
		snprintf(src, sizeof(src), "%s/%s", sp->user_home, path + 2);
		snprintf(dst, sizeof(dst), "%s/%s", sp->home, path + 2);
		make_mount_point(src, dst);
		add3(w, flag, src, dst);
	} else {
		add3(w, flag, path, path);
	}
}

/* ~/NAME of the user's home into the task's: a file copied, a
 * directory's regular files at its top level copied (not its history
 * and caches below). */
static void copy_into_home(const char *path, const struct sandbox_paths *sp)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (!sp->user_home || strncmp(path, "~/", 2))
		return;
	snprintf(src, sizeof(src), "%s/%s", sp->user_home, path + 2);
	snprintf(dst, sizeof(dst), "%s/%s", sp->home, path + 2);
	if (stat(src, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		copy_file(src, dst);
		return;
	}
	if (mkdir_p(dst, 0700) < 0 || !(d = opendir(src)))
		return;
	while ((e = readdir(d))) {
		char from[PATH_MAX], to[PATH_MAX];

		if (e->d_name[0] == '.' && (!e->d_name[1] ||
		    (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if ((size_t)snprintf(from, sizeof(from), "%s/%s", src,
				     e->d_name) >= sizeof(from) ||
		    (size_t)snprintf(to, sizeof(to), "%s/%s", dst,
				     e->d_name) >= sizeof(to) ||
		    lstat(from, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		copy_file(from, to);
	}
	closedir(d);
}

static void add_engine_binds(struct words *w, const struct config *c,
			     const char *engine,
			     const struct sandbox_paths *sp)
{
	const struct engine_def *d = config_engine(c, engine);
	char cloud[4][4096];
	size_t i, j;
	int k, n;

	/* git's own settings (the user's name for commits), every engine */
	add_bind(w, "--ro-bind-try", "~/.gitconfig", sp);
	add_bind(w, "--ro-bind-try", "~/.config/git", sp);
	for (i = 0; i < N_OF(preset_binds); i++)
		if (!strcmp(preset_binds[i].engine, engine))
			for (j = 0; preset_binds[i].paths[j]; j++) {
				if (preset_binds[i].copy)
					copy_into_home(preset_binds[i].paths[j],
						       sp);
				else
					add_bind(w, "--ro-bind-try",
						 preset_binds[i].paths[j], sp);
			}
	/* a cloud's credentials (~/.aws), for the engines that use it */
	n = provider_files(c, engine, cloud, 4);
	for (k = 0; k < n; k++)
		add_bind(w, "--ro-bind-try", cloud[k], sp);
	for (i = 0; d && i < d->n_bind; i++)
		add_bind(w, "--ro-bind-try", d->bind[i], sp);
	for (i = 0; d && i < d->n_bind_rw; i++)
		add_bind(w, "--bind-try", d->bind_rw[i], sp);
}

/* Does the sandbox need the host's /tmp (read-only) rather than one of
 * its own? */
static bool needs_host_tmp(const struct config *c, const char *engine,
			   const struct sandbox_paths *sp)
{
	const struct engine_def *d = config_engine(c, engine);
	const char *mine[] = { sp->worktree, sp->commondir, sp->home,
			       sp->tmp, sp->self_exe };
	size_t i;

	for (i = 0; i < N_OF(mine); i++)
		if (under_tmp(mine[i]))
			return true;
	for (i = 0; sp->ro && sp->ro[i]; i++)
		if (under_tmp(sp->ro[i]))
			return true;
	for (i = 0; sp->rw && sp->rw[i]; i++)
		if (under_tmp(sp->rw[i]))
			return true;
	for (i = 0; d && i < d->n_bind; i++)
		if (under_tmp(d->bind[i]))
			return true;
	for (i = 0; d && i < d->n_bind_rw; i++)
		if (under_tmp(d->bind_rw[i]))
			return true;
	return false;
}

static int check_program(const char *prog, const char *path,
			 const char *cwd, char *err, size_t errlen)
{
	char *found, full[PATH_MAX];

	if (strchr(prog, '/')) {
		/* a relative one from the worktree, where it runs */
		if (prog[0] != '/' &&
		    (size_t)snprintf(full, sizeof(full), "%s/%s", cwd, prog) <
		    sizeof(full) && access(full, X_OK) == 0)
			return 0;
		if (prog[0] == '/' && access(prog, X_OK) == 0)
			return 0;
	} else if ((found = find_on_path(prog, path))) {
		free(found);
		return 0;
	}
	snprintf(err, errlen, "command not found: '%s'", prog);
	return -ENOENT;
}

int sandbox_argv(const struct config *c, const struct sandbox_probe *pr,
		 const struct sandbox_choice *ch, const char *engine,
		 const struct sandbox_paths *sp, char *const argv[],
		 const char *engine_path, char ***out, char *err,
		 size_t errlen)
{
	struct words w = { NULL, 0, 0 };
	char objects[PATH_MAX];
	size_t i;
	int r;

	*out = NULL;
	if ((r = check_program(argv[0], engine_path, sp->worktree, err,
				 errlen)) < 0)
		return r;
	snprintf(objects, sizeof(objects), "%s/objects", sp->commondir);
	/* bubblewrap itself ignores the cancel's SIGTERM, which is for the
	 * engine: it ends when the engine does. */
	if (pr->env)
		add3(&w, pr->env, "--ignore-signal=TERM,INT,HUP", "--");
	else
		add3(&w, sp->self_exe, "sandbox-exec", "--ignore");
	if (!pr->env)
		add(&w, "--");
	add(&w, pr->bwrap);
	add3(&w, "--ro-bind", "/", "/");
	add3(&w, "--dev", "/dev", NULL);
	add3(&w, "--proc", "/proc", NULL);
	if (!needs_host_tmp(c, engine, sp))
		add3(&w, "--tmpfs", "/tmp", NULL);
	add3(&w, "--bind", objects, objects);
	add3(&w, "--bind", sp->admin, sp->admin);
	add3(&w, "--bind", sp->worktree, sp->worktree);
	add3(&w, "--bind", sp->home, sp->home);
	add3(&w, "--bind", sp->tmp, sp->tmp);
	for (i = 0; sp->ro && sp->ro[i]; i++)
		add3(&w, "--ro-bind-try", sp->ro[i], sp->ro[i]);
	for (i = 0; sp->rw && sp->rw[i]; i++)
		add3(&w, "--bind", sp->rw[i], sp->rw[i]);
	add_engine_binds(&w, c, engine, sp);
	if (ch->net != SANDBOX_NET_ON)
		add(&w, "--unshare-net");
	add(&w, "--unshare-pid");
	add(&w, "--unshare-ipc");
	add(&w, "--die-with-parent");
	add3(&w, "--chdir", sp->worktree, NULL);
	/* env would take a first word with '=' in it for a variable */
	if (pr->env && !strchr(argv[0], '='))
		add3(&w, "--", pr->env, "--default-signal=TERM,INT,HUP");
	else
		add3(&w, "--", sp->self_exe, "sandbox-exec");
	add(&w, "--");
	for (i = 0; argv[i]; i++)
		add(&w, argv[i]);
	if (w.err) {
		engine_argv_free(w.v);
		snprintf(err, errlen, "%s", strerror(-w.err));
		return w.err;
	}
	*out = w.v;
	return 0;
}

/* ---- a pruned task's directory -------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void sandbox_git_paths(struct sandbox_git *g, const char *gitdir,
		       const char *worktree, const char *name)
{
	size_t n = strlen(gitdir);

	while (n > 1 && gitdir[n - 1] == '/')
		n--;
	snprintf(g->common, sizeof(g->common), "%.*s", (int)n, gitdir);
	snprintf(g->admin, sizeof(g->admin), "%s/worktrees/%s", g->common,
		 name);
	snprintf(g->dotgit, sizeof(g->dotgit), "%s/.git", worktree);
	snprintf(g->admin_gitdir, sizeof(g->admin_gitdir), "%s/gitdir",
		 g->admin);
	snprintf(g->admin_common, sizeof(g->admin_common), "%s/commondir",
		 g->admin);
	g->ro[0] = g->dotgit;
	g->ro[1] = g->admin_gitdir;
	g->ro[2] = g->admin_common;
	g->ro[3] = NULL;
}

void sandbox_remove_dir(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- sandbox-exec -------------------------------------------------------- */

int sandbox_exec_main(int argc, char **argv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	int i = 1, ignore = 0;

	if (i < argc && !strcmp(argv[i], "--ignore")) {
		ignore = 1;
		i++;
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (i >= argc) {
		fprintf(stderr, "usage: parallelai sandbox-exec [--ignore] --"
			" PROGRAM [ARGS...]\n");
		return 2;
	}
	for (size_t k = 0; k < N_OF(sigs); k++)
		signal(sigs[k], ignore ? SIG_IGN : SIG_DFL);
	execvp(argv[i], argv + i);
	fprintf(stderr, "parallelai: cannot run '%s': %s\n", argv[i],
		strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
