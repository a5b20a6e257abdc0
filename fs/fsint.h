/*
 * fsint: what the files of fs/ share: the node kinds, a node, an open
 * handle, and each file's functions. Not for use outside fs/.
 *
 * Threads: libfuse's loop calls in from many threads at once; a handle
 * has its own lock; the size and time caches (fs/content) and the list of
 * open handles (fs/mount) have theirs.
 */
#ifndef PAI_FSINT_H
#define PAI_FSINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "buf.h"
#include "template.h"

struct pai;
struct task;

enum kind {
	K_ROOT, K_README, K_CTL, K_STATUS, K_STATUS_JSON, K_EVENTS, K_METRICS,
	K_CONFLICTS, K_CONFLICTS_JSON, K_MERGE_ORDER, K_QUEUE, K_QUEUE_JSON, K_WAIT,
	K_TASKS, K_NEW,
	K_PLANS, K_PLANS_NEW, K_PLAN, K_P_REQUEST, K_P_STATUS, K_P_PLAN,
	K_P_TASKS, K_P_LOG, K_P_CTL,
	K_TASK, K_T_PROMPT, K_T_STATUS, K_T_JSON, K_T_LOG, K_T_RAW, K_T_DIFF,
	K_T_FILES, K_T_RESULT, K_T_DEPENDS, K_T_CONFLICTS, K_T_CTL,
	K_T_WORKTREE, K_T_WORKER, K_T_CHECK, K_T_WAIT,
	K_WORKERS,
	K_WORKER, K_W_STATUS, K_W_LOG, K_W_WORKTREE, K_W_TASK,
	K_INDEX_HTML, K_TIMELINE, K_T_TIMELINE,
	K_TEMPLATES, K_TEMPLATE, K_TPL_STATUS, K_TPL_README,
	K_AUDIT, K_T_AUDIT, K_T_APPROVALS,
	K_APPROVALS, K_A_PENDING, K_APPROVAL, K_A_REQUEST, K_A_STATUS, K_A_CTL,
	K_A_WAIT,
};

struct node;

/*
 * How a directory's listing takes an entry (fs/dir.c): its name, its
 * attributes and the seconds the kernel may keep them (ttl < 0: none
 * given but the type in st_mode), and the offset of the entry after it
 * (0: the listing's own count). 1 when the reply is full.
 */
typedef int (*fs_fill_t)(void *buf, const char *name, const struct stat *st,
			 off_t next, double ttl);

/* What a row's file is. */
enum {
	F_PUBLIC = 1 << 0,	/* anyone the kernel lets in may read it */
	F_WRITE = 1 << 1,	/* ctl and new: writes mean something */
	F_NEW = 1 << 2,		/* new: the clone protocol */
	F_CLOCKED = 1 << 3,	/* dated by its content */
	F_SIZED = 1 << 4,	/* size kept while its task holds still */
	F_OF_TASK = 1 << 5,	/* n->task is a task: dated by it */
	F_OF_PLAN = 1 << 6,	/* n->task is a plan: dated by it */
	F_BORN = 1 << 7,	/* dated by its task's or plan's creation */
	F_WLOG = 1 << 8,	/* a worker's log (wlog) */
	F_STORE = 1 << 9,	/* dated by the store's last change */
	F_WAIT = 1 << 10,	/* a read blocks until render says something;
				 * not listed (found by name) */
};

/*
 * One file or directory of the mount and its behaviour (fs/files.c):
 * a generated file's text or a link's target (render, or task_render
 * from the task's record), the real file behind a log (real), and
 * whether it is there now (present; NULL: always).
 */
struct entry {
	const char *name;
	enum kind kind;
	mode_t mode;
	unsigned flags;
	int (*render)(struct pai *p, const struct node *n, struct buf *out);
	int (*task_render)(struct pai *p, const struct task *t,
			   struct buf *out);
	int (*real)(struct pai *p, const struct node *n, char *out,
		    size_t len);
	bool (*present)(struct pai *p, const struct node *n);
};

struct node {
	const struct entry *e;
	int64_t task;		/* K_TASK.. and K_T_*; the plan for K_P_*;
				 * the approval for K_APPROVAL, K_A_* */
	int worker;		/* K_WORKER.. and K_W_* */
	char name[TEMPLATE_NAME_MAX + 1];	/* K_TEMPLATE, K_TPL_STATUS */
};

/*
 * The sizes of a task's generated files, kept while the task does not
 * change: getattr must render a file to know its size, and a diff is
 * costly to render for every ls -l, find or stat. A running task's
 * files change without the task record changing, so they are never kept.
 * One slot a (task, file), by hash; a collision costs a render.
 */
#define SIZE_SLOTS 8192

struct size_slot {
	int64_t task;
	int kind;
	int64_t updated;
	off_t size;
};

struct size_cache {
	pthread_mutex_t lock;		/* taken alone, never with another */
	struct size_slot slot[SIZE_SLOTS];
};

struct pai_fs {
	struct pai *p;
	struct fuse_session *se;
	int mounted;
	struct size_cache sizes;	/* fs/content.c */
	/* the watch on the mount table (see fs/mount.c) */
	pthread_t watcher;
	int watching;
	int watch_stop[2];
	long mount_id;		/* ours in /proc/self/mountinfo, or -1 */
};

/* An open file. Handles can be used by several threads at once. */
struct handle {
	struct handle *prev, *next;	/* open_handles */
	pthread_mutex_t lock;
	struct node n;
	int fd;			/* logs and events: the real file, or -1 */
	struct buf data;	/* generated content, or what was written */
	struct buf line;	/* ctl: a command line not yet ended */
	int skip;		/* ctl: drop bytes up to the next newline */
	int writable;
	int wrote;
	int writes;		/* tasks/new: how many write()s so far */
	int64_t created;	/* tasks/new: the task this handle made */
	int result;		/* tasks/new: outcome of the first submit */
	size_t id_pos;		/* tasks/new: how much of the id was read */
};

/* A command line longer than this is refused, that line alone. */
#define CTL_LINE_MAX 4096

/* files: the tables */
extern const struct entry ns_root_tab[], ns_task_tab[], ns_worker_tab[],
	ns_plan_tab[], ns_approval_tab[];
extern const struct entry ns_tasks_new, ns_plans_new, ns_task_dir,
	ns_worker_dir, ns_plan_dir, ns_template, ns_template_status,
	ns_templates_readme, ns_approvals_pending, ns_approval_dir;

/* ns */
struct pai *fs_pai(void);
/* The mount a FUSE request is for. */
struct pai_fs *fs_self(void);
/* Who made the request being served, whether they gave up on it (^C: an
 * interrupt), their groups (fuse_req_getgroups), and whether the session
 * is ending (fs/ops.c: the request is the thread's). */
const struct fuse_ctx *fs_caller(void);
bool fs_interrupted(void);
int fs_caller_groups(int size, gid_t list[]);
bool fs_session_ending(void);
int ns_resolve(const char *path, struct node *n);
/* The same, and a task's record into t once (its directory and files):
 * t->id is 0 when none was fetched; task_release(t) in any case. */
int ns_resolve_task(const char *path, struct node *n, struct task *t);
bool ns_present(struct pai *p, const struct node *n);
int ns_add_entry(void *buf, fs_fill_t fill, const char *name, mode_t mode);
int ns_fill_tab(void *buf, fs_fill_t fill, const struct entry *tab,
		struct node *parent);
bool ns_is_new(const struct entry *e);
bool ns_can_write(const struct entry *e);
bool ns_public(const struct entry *e);
/* A refusal, as an event (editors' litter quietly). */
void fs_refuse(const char *path, const char *what, int err);
bool fs_allowed(struct pai *p);
int fs_guard(const char *path, const struct node *n, const char *what);
void fs_show_owner(struct pai *p, struct stat *st);

/* content */
/* A generated file's text, or a link's target; -ENOENT if its task went. */
int fs_render(struct pai *p, const struct node *n, struct buf *out);
int fs_real_path(struct pai *p, const struct node *n, char *out, size_t len);
bool fs_is_real(const struct entry *e);
bool fs_clocked(const struct entry *e);
int64_t fs_content_time(struct pai *p, const struct node *n,
			const struct buf *b);
bool fs_task_node(const struct node *n);
int fs_getattr_node(struct pai_fs *fs, const struct node *nd,
		    const struct task *tp, struct stat *st);
/* Whether an open of n (of task t) may keep the page cache. */
bool fs_keep_cache(const struct node *n, const struct task *t);
/* Seconds the kernel may keep n's attributes, and whether a directory's
 * listing may be kept: only where every change is told (fs_cache_changed). */
#define FS_ATTR_TTL 60.0
/* Seconds the kernel keeps a name it was given (lookup, readdirplus). */
#define FS_ENTRY_TTL 60.0
/* A log's st_blksize: cat and cp read this much a read(2), and a read
 * of a running task's log (direct_io) is then one request of up to 256
 * pages, libfuse's most; reads through the page cache come in what
 * readahead asks (256 KiB requests here). */
#define FS_IO_SIZE (1 << 20)
double fs_attr_ttl(const struct node *n, const struct task *t);
bool fs_list_keep(const struct node *n, const struct task *t);

/* wait: reads of wait files block without h->lock (fs/wait.c) */
#define FS_WAIT_MAX 1000	/* reads blocked at once; EAGAIN past it */
#define FS_SPARE_THREADS 64	/* the loop's threads besides those */
bool fs_is_wait(const struct entry *e);
int fs_wait_read(struct handle *h, char *out, size_t size, off_t off);
int fs_wait_poll(struct handle *h, struct fuse_pollhandle *ph,
		 unsigned *revents);
/* Its poll handle dropped: the handle is going. */
void fs_wait_forget(struct handle *h);
/* Poll handles told of state changes from mount to unmount; mnt (before
 * it is mounted: its path is resolved) to see a lazy unmount by. */
void fs_wait_start(struct pai *p, const char *mnt);
void fs_wait_stop(struct pai *p);

/* write: each called with h->lock held */
int fs_new_submit(struct handle *h);
int fs_new_judge(struct handle *h);
int fs_ctl_write(struct handle *h, const char *data, size_t size);
int fs_ctl_line(struct handle *h, char *line);

/* ops */
extern const struct fuse_lowlevel_ops fs_ll_ops;

/* dir: listings, a kernel buffer at a time */
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi, bool plus);
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* inode: the nodes the kernel holds (fs/inode.c) */
/* path's number, its count of the kernel's lookups one up; 0: no memory */
fuse_ino_t ino_hold(const char *path);
int ino_path(fuse_ino_t ino, char *out, size_t size);
void ino_forget(fuse_ino_t ino, uint64_t n);
/* path's number if the kernel holds it, else 0 */
fuse_ino_t ino_find(const char *path);
/* The numbers of every path beginning with prefix (free *out). */
int ino_under(const char *prefix, fuse_ino_t **out, size_t *n);
void ino_clear(void);

/* mount */
void fs_handle_link(struct handle *h);
void fs_handle_free(struct handle *h);
/* From the watch's thread (never a request handler): task id (0: some)
 * changed, drop what the kernel keeps of its files. */
void fs_cache_changed(int64_t id);

#endif
