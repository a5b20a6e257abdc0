/*
 * fs/ns: the mount's namespace. One table per directory kind (root, task,
 * worker, plan) lists each file's name, kind and mode; a path resolves to
 * a node; and who may use a node is decided here, from the request's uid
 * and groups.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "access.h"
#include "buf.h"
#include "events.h"
#include "pai.h"
#include "planner.h"
#include "approvals.h"
#include "scheduler.h"
#include "store.h"
#include "view.h"
#include "fsint.h"

struct pai *fs_pai(void)
{
	return fs_self()->p;
}

/* Editors try lock, swap and backup files beside what they edit (vim's
 * .name.swp and 4913, emacs's .#name and #name#, name~): refusing those
 * is expected, not news for events. */
static bool editor_litter(const char *path)
{
	const char *name = strrchr(path, '/');
	size_t len;

	name = name ? name + 1 : path;
	len = strlen(name);
	if (!len)
		return false;
	return !strncmp(name, ".#", 2) || name[len - 1] == '~' ||
	       (name[0] == '#' && len > 1 && name[len - 1] == '#') ||
	       !strcmp(name, "4913") ||
	       (name[0] == '.' && len > 4 && !strncmp(name + len - 4, ".sw", 3));
}

void fs_refuse(const char *path, const char *what, int err)
{
	char msg[PATH_MAX + 128];

	if (editor_litter(path))
		return;
	snprintf(msg, sizeof(msg), "cannot %s '%s': %s", what, path,
		 strerror(err));
	events_reason(fs_pai()->events, "refused", 0, msg);
}

bool fs_allowed(struct pai *p)
{
	const struct fuse_ctx *c = fs_caller();
	gid_t groups[256];
	int n = 0;

	if (c->uid == 0 || c->uid == p->acl.owner)
		return true;
	if (p->acl.has_group) {
		n = fs_caller_groups(256, groups);
		if (n < 0)
			n = 0;
		else if (n > 256)
			n = 256;
	}
	return access_allows(&p->acl, c->uid, c->gid, groups, (size_t)n);
}

/*
 * Whoever may write tasks/new runs commands as the owner, and logs,
 * prompts and diffs are the owner's business: every use but stat, the
 * root's listing and README needs the caller to be let in. The mode
 * bits cannot say it all (allow_users), so the daemon decides.
 */
int fs_guard(const char *path, const struct node *n, const char *what)
{
	struct pai *p = fs_pai();
	char msg[PATH_MAX + 128];

	if (ns_public(n->e) || fs_allowed(p))
		return 0;
	snprintf(msg, sizeof(msg), "cannot %s '%s': permission denied for "
		 "uid %u", what, path, (unsigned)fs_caller()->uid);
	events_reason(p->events, "refused", 0, msg);
	return -EACCES;
}

/* Group bits follow the owner's when the mount names a group. */
void fs_show_owner(struct pai *p, struct stat *st)
{
	st->st_uid = p->acl.owner;
	st->st_gid = getgid();
	if (p->acl.has_group && st->st_mode & 0700) {
		st->st_mode |= (st->st_mode & 0700) >> 3;
		st->st_gid = p->acl.group;
	}
}

static const struct entry *find(const struct entry *tab, const char *name,
				size_t len)
{
	for (; tab->name; tab++)
		if (strlen(tab->name) == len && !strncmp(tab->name, name, len))
			return tab;
	return NULL;
}

/* A positive decimal number with no sign, leading zero or junk. */
static int64_t parse_id(const char *s, size_t len)
{
	int64_t v = 0;
	size_t i;

	if (!len || len > 18 || s[0] == '0')
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Does the entry exist right now? Links come and go with the task, and
 * an agent's raw stream and result only exist for agent engines. */
bool ns_present(struct pai *p, const struct node *n)
{
	return !n->e->present || n->e->present(p, n);
}

/* templates/README, templates/NAME and templates/NAME.status, for the
 * templates found now. */
static int ns_template_resolve(struct pai *p, const char *s, size_t len,
			       struct node *n)
{
	struct template_info ti;

	if (len == 6 && !strncmp(s, "README", 6)) {
		n->e = &ns_templates_readme;
		return 0;
	}
	n->e = &ns_template;
	if (len > 7 && !strncmp(s + len - 7, ".status", 7)) {
		n->e = &ns_template_status;
		len -= 7;
	}
	if (len > TEMPLATE_NAME_MAX)
		return -ENOENT;
	memcpy(n->name, s, len);
	n->name[len] = '\0';
	if (template_find(p->repo, n->name, &ti) < 0)
		return -ENOENT;
	template_info_release(&ti);
	return 0;
}

/* Whether task id is there; into t (fetched, or zeroed) when given. */
static bool task_there(struct pai *p, int64_t id, struct task *t)
{
	if (!t)
		return store_task_exists(p->store, id) == 1;
	if (store_task_get(p->store, id, t) == 0)
		return true;
	memset(t, 0, sizeof(*t));
	return false;
}

int ns_resolve(const char *path, struct node *n)
{
	return ns_resolve_task(path, n, NULL);
}

int ns_resolve_task(const char *path, struct node *n, struct task *t)
{
	struct pai *p = fs_pai();
	const char *c[4];
	size_t len[4];
	int depth = 0;
	const char *s = path;

	memset(n, 0, sizeof(*n));
	if (t)
		memset(t, 0, sizeof(*t));
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		if (depth == 4)
			return -ENOENT;
		c[depth] = s;
		while (*s && *s != '/')
			s++;
		len[depth] = (size_t)(s - c[depth]);
		depth++;
	}
	if (depth == 0) {
		static const struct entry root = {
			.name = "", .kind = K_ROOT, .mode = S_IFDIR | 0755,
			.flags = F_PUBLIC
		};

		n->e = &root;
		return 0;
	}
	n->e = find(ns_root_tab, c[0], len[0]);
	if (!n->e)
		return -ENOENT;
	if (depth == 1)
		return 0;
	if (n->e->kind == K_TASKS) {
		if (len[1] == 3 && !strncmp(c[1], "new", 3)) {
			n->e = &ns_tasks_new;
			return depth == 2 ? 0 : -ENOTDIR;
		}
		n->task = parse_id(c[1], len[1]);
		if (!n->task || !task_there(p, n->task, t))
			return -ENOENT;
		n->e = &ns_task_dir;
		if (depth == 2)
			return 0;
		n->e = depth == 3 ? find(ns_task_tab, c[2], len[2]) : NULL;
	} else if (n->e->kind == K_PLANS) {
		struct plan pl;

		if (len[1] == 3 && !strncmp(c[1], "new", 3)) {
			n->e = &ns_plans_new;
			return depth == 2 ? 0 : -ENOTDIR;
		}
		n->task = parse_id(c[1], len[1]);
		if (!n->task || store_plan_get(p->store, n->task, &pl) < 0)
			return -ENOENT;
		plan_release(&pl);
		n->e = &ns_plan_dir;
		if (depth == 2)
			return 0;
		n->e = depth == 3 ? find(ns_plan_tab, c[2], len[2]) : NULL;
	} else if (n->e->kind == K_TEMPLATES) {
		return depth == 2 ? ns_template_resolve(p, c[1], len[1], n) :
				    -ENOENT;
	} else if (n->e->kind == K_APPROVALS) {
		if (len[1] == 7 && !strncmp(c[1], "pending", 7)) {
			n->e = &ns_approvals_pending;
			return depth == 2 ? 0 : -ENOTDIR;
		}
		n->task = parse_id(c[1], len[1]);
		if (!n->task || !approvals_exists(p->approvals, n->task))
			return -ENOENT;
		n->e = &ns_approval_dir;
		if (depth == 2)
			return 0;
		n->e = depth == 3 ? find(ns_approval_tab, c[2], len[2]) : NULL;
	} else if (n->e->kind == K_WORKERS) {
		struct worker_info w;

		n->worker = (int)parse_id(c[1], len[1]);
		if (!n->worker ||
		    sched_worker_info(p->sched, n->worker, &w) < 0)
			return -ENOENT;
		n->e = &ns_worker_dir;
		if (depth == 2)
			return 0;
		n->e = depth == 3 ? find(ns_worker_tab, c[2], len[2]) : NULL;
	} else {
		return -ENOTDIR;
	}
	if (!n->e || !ns_present(p, n))
		return -ENOENT;
	return 0;
}

/* The entry's type goes along (d_type), so find and ls need no lstat
 * just to tell files from directories. */
int ns_add_entry(void *buf, fs_fill_t fill, const char *name, mode_t mode)
{
	struct stat st = { .st_mode = mode };

	return fill(buf, name, &st, 0, -1);
}

int ns_fill_tab(void *buf, fs_fill_t fill, const struct entry *tab,
		struct node *parent)
{
	struct node n = *parent;

	for (; tab->name; tab++) {
		n.e = tab;
		/* A wait file is found by name, never listed: cp -r, tar,
		 * rsync and grep -r of the mount must not block on it. */
		if (tab->flags & F_WAIT)
			continue;
		if (ns_present(fs_pai(), &n) &&
		    ns_add_entry(buf, fill, tab->name, tab->mode))
			return 0;
	}
	return 0;
}

bool ns_is_new(const struct entry *e)
{
	return e->flags & F_NEW;
}

bool ns_can_write(const struct entry *e)
{
	return e->flags & F_WRITE;
}

bool ns_public(const struct entry *e)
{
	return e->flags & F_PUBLIC;
}
