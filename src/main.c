/*
 * main: parallelai's command line, start and stop.
 *
 *	parallelai [-f] [-o opt[,opt...]] REPO MOUNTPOINT
 *
 * Everything that can be refused is checked before anything is mounted,
 * and without -f the command returns only once the mount is up (exit 0)
 * or has failed (exit 1 with a one-line reason): the daemon is a child
 * that reports back through a pipe.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access.h"
#include "approvals.h"
#include "agent.h"
#include "buf.h"
#include "choose.h"
#include "config.h"
#include "engine.h"
#include "events.h"
#include "fs.h"
#include "fsutil.h"
#include "gitrepo.h"
#include "gitrev.h"
#include "mergeq.h"
#include "notify.h"
#include "overlay.h"
#include "pai.h"
#include "planner.h"
#include "review.h"
#include "runner.h"
#include "scheduler.h"
#include "sim.h"
#include "store.h"
#include "redact.h"
#include "sandbox.h"
#include "streamfmt.h"
#include "watch.h"
#include "wlog.h"

static const char usage[] =
"usage: parallelai [-f] [-o option[,option...]] REPO MOUNTPOINT\n"
"\n"
"Mount a job queue of coding agents over the git repository REPO.\n"
"\n"
"  -f             stay in the foreground\n"
"  -o OPTIONS     mount options, comma-separated:\n"
"                   workers=N      worker slots (default: number of CPUs)\n"
"                   engine=NAME    default engine (default: claude if on PATH,\n"
"                                  else anthropic or openai if a key is set,\n"
"                                  else sh); engine=sh runs prompts as shell\n"
"                                  commands\n"
"                   state=DIR      state directory (default: GITDIR/parallelai)\n"
"                   worktrees=DIR  where task worktrees go (default: STATE/worktrees\n"
"                                  with state=, else ~/.local/share/parallelai/...)\n"
"                   sandbox=MODE   auto (bubblewrap when it works, the\n"
"                                  default), bwrap (refuse to mount without\n"
"                                  it) or none\n"
"                   simulate       a rehearsal: every engine, the planner\n"
"                                  and the judge are sim (no model, no network)\n"
"                   KEY=VALUE      any configuration key of parallelai(1),\n"
"                                  e.g. retryMax=600 or mergeStrategy=squash\n"
"                   allow_users=NAME[:NAME...]  let these users submit, command\n"
"                                  and read tasks (they run commands as you)\n"
"                   allow_group=NAME  the same for the members of a group\n"
"                   allow_other    let other users see the mount; only you\n"
"                                  and root may use it unless allowed above\n"
"                 and libfuse's own (allow_root, auto_unmount,\n"
"                 default_permissions, fsname=, debug, ...)\n"
"  -h, --help     show this help\n"
"  -V, --version  show the version\n"
"\n"
"  parallelai agent ...   the built-in agent, as the scheduler runs it (internal)\n"
"  parallelai stream ...  an agent CLI's event stream to a log (internal)\n"
"  parallelai sandbox-exec ...  a sandboxed engine's start (internal)\n"
"  parallelai sim ...     the offline stand-in for an agent (internal)\n"
"  parallelai job ...     a task's run in a SLURM job (internal)\n"
"  parallelai hook              Claude Code's PreToolUse hook: asks the policy\n"
"\n"
"See parallelai(1) and MOUNTPOINT/README.\n";

/* libfuse options we pass through; anything else unknown is refused
 * here, before anything is mounted. */
static const char *const fuse_flags[] = {
	"allow_other", "allow_root", "auto_unmount", "default_permissions",
	"debug", "ro", "rw", "dev", "nodev", "suid", "nosuid", "exec",
	"noexec", "atime", "noatime", "sync", "async", "dirsync", NULL
};
/* Not uid=, gid= or umask=: who may use the mount is the daemon's to
 * say (allow_users, allow_group), and what stat shows follows it. */
static const char *const fuse_keys[] = {
	"fsname", "subtype", "max_read", NULL
};

static bool in(const char *const *list, const char *s, size_t len)
{
	for (; *list; list++)
		if (strlen(*list) == len && !strncmp(*list, s, len))
			return true;
	return false;
}

struct args {
	const char *repo;
	const char *mnt;
	bool foreground;
	struct buf ours;	/* key=value,... for config_set */
	struct buf fuse;	/* for libfuse */
	struct buf users;	/* allow_users: NAME:NAME... */
	const char *group;	/* allow_group */
	bool allow_other;
};

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int die(const char *fmt, ...)
{
	va_list ap;

	fputs("parallelai: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* allow_users=NAME[:NAME...], and further names as the next items of
 * the list (allow_users=alice,bob), kept apart from the configuration:
 * only the person who mounts may share the mount, never a repository's
 * own config file. */
static int add_users(struct args *a, const char *s, size_t len)
{
	if (!len)
		return die("allow_users: empty user name");
	if ((a->users.len && buf_add(&a->users, ":", 1)) ||
	    buf_add(&a->users, s, len))
		return die("out of memory");
	return 0;
}

static int add_group(struct args *a, const char *s, size_t len)
{
	static char name[256];

	if (!len || len >= sizeof(name))
		return die("allow_group: bad group name '%.*s'", (int)len, s);
	memcpy(name, s, len);
	name[len] = '\0';
	a->group = name;
	return 0;
}

/* Sort one -o list into our options and libfuse's. */
static int split_opts(struct args *a, const char *list)
{
	const char *s = list;
	bool users = false;	/* the item before named users */

	while (*s) {
		size_t len = strcspn(s, ",");
		size_t klen = strcspn(s, "=,");
		struct buf *to;

		if (len == 0) {
			s++;
			continue;
		}
		if (klen < len && klen == 11 && !strncmp(s, "allow_users", 11)) {
			if (add_users(a, s + 12, len - 12))
				return 1;
			users = true;
			s += len;
			continue;
		}
		if (klen < len && klen == 11 && !strncmp(s, "allow_group", 11)) {
			if (add_group(a, s + 12, len - 12))
				return 1;
			s += len;
			continue;
		}
		if (users && klen == len && !in(fuse_flags, s, len) &&
		    !in((const char *const[]){ "workers", "engine", "state",
					       "worktrees", "simulate", NULL },
			 s, len)) {
			if (add_users(a, s, len))
				return 1;
			s += len;
			continue;
		}
		users = false;
		if (len == 11 && !strncmp(s, "allow_other", 11))
			a->allow_other = true;
		if (in(fuse_flags, s, len) ||
		    (klen < len && in(fuse_keys, s, klen)))
			to = &a->fuse;
		else if (klen < len || in((const char *const[]){ "workers",
				"engine", "state", "worktrees", "simulate",
				NULL }, s, klen))
			to = &a->ours;
		else
			return die("unknown option '%.*s'", (int)len, s);
		if ((to->len && buf_add(to, ",", 1)) || buf_add(to, s, len))
			return die("out of memory");
		s += len;
	}
	return 0;
}

/* The mount's access list; sharing it needs the kernel to let others
 * in at all, so allow_users and allow_group imply allow_other. */
static int setup_access(struct access *acl, struct args *a)
{
	char err[256];

	access_init(acl, getuid());
	if (a->users.len &&
	    access_add_users(acl, buf_cstr(&a->users), err, sizeof(err)) < 0)
		return die("%s", err);
	if (a->group && access_set_group(acl, a->group, err, sizeof(err)) < 0)
		return die("%s", err);
	if (access_shared(acl) && !a->allow_other) {
		if ((a->fuse.len && buf_add(&a->fuse, ",", 1)) ||
		    buf_puts(&a->fuse, "allow_other"))
			return die("out of memory");
		a->allow_other = true;
	}
	return 0;
}

static int parse_args(struct args *a, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fputs(usage, stdout);
			exit(0);
		} else if (!strcmp(arg, "-V") || !strcmp(arg, "--version")) {
			printf("parallelai %s\n", PAI_VERSION);
			exit(0);
		} else if (!strcmp(arg, "-f")) {
			a->foreground = true;
		} else if (!strcmp(arg, "-d")) {
			a->foreground = true;
			if (split_opts(a, "debug"))
				return 1;
		} else if (!strncmp(arg, "-o", 2)) {
			const char *v = arg[2] ? arg + 2 : argv[++i];

			if (!v)
				return die("option '-o' needs a value");
			if (split_opts(a, v))
				return 1;
		} else if (arg[0] == '-' && arg[1]) {
			return die("unknown option '%s'\n%s", arg,
				   "try 'parallelai --help'");
		} else if (!a->repo) {
			a->repo = arg;
		} else if (!a->mnt) {
			a->mnt = arg;
		} else {
			return die("too many arguments: '%s'", arg);
		}
	}
	if (!a->repo || !a->mnt)
		return die("usage: parallelai [-f] [-o options] REPO MOUNTPOINT");
	return 0;
}

static int apply_opts(struct config *c, const char *list)
{
	char *copy = strdup(list), *opt, *save = NULL, *k;
	char err[256];
	int r = 0;

	for (opt = strtok_r(copy, ",", &save); opt && !r;
	     opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');

		if (eq)
			*eq++ = '\0';
		/* Keys are case-insensitive, as in git config: the man page's
		 * retryMax is retrymax here. */
		for (k = opt; *k; k++)
			*k = (char)tolower((unsigned char)*k);
		if (config_set(c, opt, eq, err, sizeof(err)) < 0)
			r = die("%s", err);
	}
	free(copy);
	return r;
}

static int check_mountpoint(const char *mnt)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (stat(mnt, &st) < 0)
		return die("cannot mount on '%s': %s", mnt, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return die("cannot mount on '%s': not a directory", mnt);
	dir = opendir(mnt);
	if (!dir)
		return die("cannot mount on '%s': %s", mnt, strerror(errno));
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, "..")) {
			closedir(dir);
			return die("cannot mount on '%s': directory not empty",
				   mnt);
		}
	closedir(dir);
	return 0;
}

/* Logs, prompts and results are the owner's alone: a state directory
 * made by an earlier version (0755) is closed too. */
static int make_private(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return -errno;
	if ((st.st_mode & 077) && st.st_uid == getuid() &&
	    chmod(dir, st.st_mode & 07700) < 0)
		return -errno;
	return 0;
}

/* Make the state directory and prove it writable (root passes access()). */
static int prepare_state(const char *dir)
{
	static const char *const subs[] = { "logs", "prompts", "results" };
	char path[PATH_MAX];
	size_t i;
	int r, fd;

	if ((r = mkdir_p(dir, 0700)) < 0 || (r = make_private(dir)) < 0)
		return die("cannot use state directory '%s': %s", dir,
			   strerror(-r));
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		if ((r = mkdir_p(path, 0700)) < 0 ||
		    (r = make_private(path)) < 0)
			return die("cannot use state directory '%s': %s", dir,
				   strerror(-r));
	}
	snprintf(path, sizeof(path), "%s/.probe.%d", dir, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return die("cannot use state directory '%s': %s", dir,
			   strerror(errno));
	close(fd);
	unlink(path);
	return 0;
}

/*
 * Where worktrees go: -o worktrees=DIR; else STATE/worktrees when the
 * state directory was chosen; else a directory of the user's own data,
 * named after the repository, because agent CLIs refuse to edit files
 * beneath a .git directory, where the default state lives.
 */
static int choose_worktrees(char **out, const struct config *c,
			    const char *state_dir, const char *gitdir)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char path[PATH_MAX], *copy, *name;
	unsigned long h = 5381;
	const char *s;
	int r;

	if (c->worktrees_dir) {
		snprintf(path, sizeof(path), "%s", c->worktrees_dir);
	} else if (c->state_dir) {
		snprintf(path, sizeof(path), "%s/worktrees", state_dir);
	} else {
		/* NAME-HASH: readable, and distinct for two repos of one name */
		copy = strdup(gitdir);
		if (!copy)
			return die("out of memory");
		name = strrchr(copy, '/');
		if (name && !strcmp(name, "/.git")) {
			*name = '\0';
			name = strrchr(copy, '/');
		}
		name = name ? name + 1 : copy;
		for (s = gitdir; *s; s++)
			h = h * 33 + (unsigned char)*s;
		if (xdg && *xdg == '/')
			snprintf(path, sizeof(path),
				 "%s/parallelai/worktrees/%s-%08lx", xdg, name,
				 h & 0xffffffffUL);
		else
			snprintf(path, sizeof(path),
				 "%s/.local/share/parallelai/worktrees/%s-%08lx",
				 home && *home ? home : "/root", name,
				 h & 0xffffffffUL);
		free(copy);
	}
	if ((r = mkdir_p(path, 0755)) < 0)
		return die("cannot use worktree directory '%s': %s", path,
			   strerror(-r));
	*out = realpath(path, NULL);
	if (!*out)
		return die("cannot use worktree directory '%s': %s", path,
			   strerror(errno));
	return 0;
}

/* Detach: the parent waits for one byte ("mounted") or EOF (failed). */
static int daemonize(int *notify_fd)
{
	int fds[2], status;
	char c;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return die("cannot create pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return die("cannot fork: %s", strerror(errno));
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) == 1)
			exit(0);
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status))
			exit(WEXITSTATUS(status));
		exit(1);
	}
	close(fds[0]);
	setsid();
	*notify_fd = fds[1];
	return 0;
}

static void detach_stdio(const char *state_dir)
{
	char path[PATH_MAX];
	int fd = open("/dev/null", O_RDWR);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/daemon.log", state_dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	if (chdir("/") < 0)
		return;
}

/* Everything that can be refused, before anything is mounted: the
 * repository, the mountpoint, the configuration, the state directory,
 * /dev/fuse. 0, or 1 with the reason said. */
static int check_all(struct pai *p, struct args *a)
{
	char err[PATH_MAX + 256];
	int fd;

	p->self_exe = realpath("/proc/self/exe", NULL);
	p->repo = realpath(a->repo, NULL);
	if (!p->repo)
		return die("not a git repository: '%s': %s", a->repo,
			   strerror(errno));
	if (check_mountpoint(a->mnt))
		return 1;
	if (gitrepo_init() < 0)
		return die("cannot initialise libgit2");
	if (gitrepo_check(&p->gitdir, p->repo, err, sizeof(err)) < 0 ||
	    config_load(&p->cfg, p->repo, err, sizeof(err)) < 0 ||
	    notify_check(&p->cfg, err, sizeof(err)) < 0)
		return die("%s", err);
	if (apply_opts(&p->cfg, buf_cstr(&a->ours)) ||
	    setup_access(&p->acl, a))
		return 1;
	if (choose_engines(p, err, sizeof(err)) < 0 ||
	    choose_sandbox(p, err, sizeof(err)) < 0)
		return die("%s", err);
	if (p->cfg.state_dir) {
		if (mkdir_p(p->cfg.state_dir, 0700) == 0)
			p->state_dir = realpath(p->cfg.state_dir, NULL);
		if (!p->state_dir)
			return die("cannot use state directory '%s': %s",
				   p->cfg.state_dir, strerror(errno));
	} else if (asprintf(&p->state_dir, "%s/parallelai", p->gitdir) < 0) {
		return die("out of memory");
	}
	if (prepare_state(p->state_dir) ||
	    choose_worktrees(&p->worktrees_dir, &p->cfg, p->state_dir,
			     p->gitdir))
		return 1;
	if (choose_backend(p, err, sizeof(err)) < 0 ||
	    choose_checkout(p, err, sizeof(err)) < 0)
		return die("%s", err);
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return die("cannot open /dev/fuse: %s", strerror(errno));
	close(fd);
	return 0;
}

/* The daemon's handles: the store, the event log, HEAD, worker logs. */
static int open_handles(struct pai *p)
{
	char path[PATH_MAX], err[PATH_MAX + 256];

	snprintf(path, sizeof(path), "%s/state.db", p->state_dir);
	if (store_open(&p->store, path, err, sizeof(err)) < 0)
		return die("%s", err);
	if (watch_new(&p->watch) < 0)
		return die("cannot start the watch thread");
	store_set_watch(p->store, p->watch);
	snprintf(path, sizeof(path), "%s/events.jsonl", p->state_dir);
	if (events_open(&p->events, path) < 0)
		return die("cannot open '%s': %s", path, strerror(errno));
	if (gitrev_open(&p->rev, p->repo, err, sizeof(err)) < 0)
		return die("%s", err);
	snprintf(path, sizeof(path), "%s/logs", p->state_dir);
	if (wlog_new(&p->wlog, path) < 0 || review_new(&p->review) < 0)
		return die("out of memory");
	return 0;
}

/* Mounted: the threads that serve it. */
static int start_threads(struct pai *p)
{
	char err[PATH_MAX + 256];

	/* first: it sees every event from here on */
	if (notify_start(&p->notify, p) < 0)
		return die("cannot start notifications");
	/* before the scheduler: engines ask it from their first call */
	if (approvals_start(&p->approvals, p, err, sizeof(err)) < 0)
		return die("%s", err);
	if (sched_start(&p->sched, p) < 0)
		return die("cannot start the scheduler");
	if (approvals_listen(p->approvals, err, sizeof(err)) < 0)
		return die("%s", err);
	if (planner_start(&p->planner, p) < 0)
		return die("cannot start the planner");
	if (mergeq_start(&p->mergeq, p) < 0)
		return die("cannot start the merge queue");
	events_add(p->events, "mounted", 0, NULL);
	/* nobody chose the engine: say which one prompts go to, once the
	 * mount is up (a shell command given to an agent surprises) */
	if (p->cfg.simulate)
		fprintf(stderr, "parallelai: %s\n", SIM_BANNER);
	else if (strcmp(p->engine_why, "configured"))
		fprintf(stderr, "parallelai: default engine %s (%s); %s\n",
			p->cfg.engine, p->engine_why,
			engine_default_hint(p->cfg.engine));
	return 0;
}

static int run(struct args *a)
{
	struct pai p = { 0 };
	struct pai_fs *fs = NULL;
	char err[PATH_MAX + 256];
	int notify_fd = -1, ret = 1;

	config_init(&p.cfg);
	if (check_all(&p, a))
		goto out;
	if (!a->foreground && daemonize(&notify_fd))
		goto out;
	/* From here on we are the daemon: threads and handles start now. */
	if (open_handles(&p))
		goto out;
	p.started = pai_now_ms();
	/* before the mount covers it: fs/mount.c watches for its end */
	p.mountpoint = realpath(a->mnt, NULL);
	if (pai_fs_mount(&fs, &p, a->mnt, buf_cstr(&a->fuse), err,
			 sizeof(err)) < 0) {
		die("%s", err);
		goto out;
	}
	if (start_threads(&p))
		goto out;
	if (notify_fd >= 0) {
		detach_stdio(p.state_dir);
		if (write(notify_fd, "1", 1) != 1)
			goto out;
		close(notify_fd);
		notify_fd = -1;
	}
	ret = pai_fs_loop(fs) < 0 ? 1 : 0;
	events_add(p.events, "unmounted", 0, NULL);
out:
	/* Engines stop and their tasks are queued again before the
	 * mount goes, so the next mount carries on. */
	mergeq_stop(p.mergeq);
	planner_stop(p.planner);
	sched_stop(p.sched);
	/* no task's overlay outlives the mount (the next one mounts them
	 * again) */
	if (p.worktrees_dir && p.store)
		overlay_unmount_all(p.worktrees_dir);
	approvals_stop(p.approvals);
	notify_stop(p.notify);
	pai_fs_free(fs);
	review_free(p.review);
	wlog_free(p.wlog);
	gitrev_close(p.rev);
	events_close(p.events);
	store_close(p.store);
	watch_free(p.watch);
	if (p.gitdir)
		gitrepo_shutdown();
	config_release(&p.cfg);
	access_release(&p.acl);
	sandbox_probe_release(&p.sandbox);
	redact_set_global(NULL);
	redact_release(&p.secrets);
	free(p.repo);
	free(p.self_exe);
	free(p.gitdir);
	free(p.state_dir);
	free(p.worktrees_dir);
	free(p.mountpoint);
	return ret;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	int r;

	if (argc > 1 && !strcmp(argv[1], "agent"))
		return agent_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "hook"))
		return hook_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "stream"))
		return stream_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "sandbox-exec"))
		return sandbox_exec_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "sim"))
		return sim_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "job"))
		return runner_job_main(argc - 1, argv + 1);
	buf_init(&a.ours, 64 * 1024);
	buf_init(&a.fuse, 64 * 1024);
	buf_init(&a.users, 64 * 1024);
	signal(SIGPIPE, SIG_IGN);
	r = parse_args(&a, argc, argv);
	if (r == 0)
		r = run(&a);
	buf_release(&a.ours);
	buf_release(&a.fuse);
	buf_release(&a.users);
	return r;
}
