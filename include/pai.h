/*
 * pai: the daemon's shared handles, made by main and lent to the
 * scheduler, the views and the FUSE layer.
 *
 * State directory layout:
 *	STATE/state.db		the task database (store)
 *	STATE/events.jsonl	the event log (events)
 *	STATE/logs/N.log	task N's output, readable
 *	STATE/logs/N.jsonl	task N's raw event stream (agent engines)
 *	STATE/results/N.json	what task N's agent reported at its end
 *	STATE/prompts/N		task N's prompt, for PAI_PROMPT_FILE
 *	STATE/box/N/{home,tmp}	task N's HOME and TMPDIR in a sandbox
 *	STATE/policy.sock	where engines ask before a tool call

 * Worktrees live outside the git directory (agent CLIs refuse to edit
 * files beneath a .git directory): WORKTREES/N, where WORKTREES is
 * -o worktrees=DIR, else STATE/worktrees when -o state=DIR was given,
 * else $XDG_DATA_HOME/parallelai/worktrees/NAME-HASH for the repository.
 *	STATE/daemon.log	the daemon's own diagnostics once detached
 */
#ifndef PAI_PAI_H
#define PAI_PAI_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "config.h"
#include "redact.h"
#include "sandbox.h"

struct store;
struct events;
struct sched;
struct review;
struct planner;
struct gitrev;
struct wlog;
struct mergeq;
struct notify;
struct watch;
struct approvals;

struct pai {
	char *repo;		/* absolute path of the repository */
	char *gitdir;		/* its (common) git directory */
	char *state_dir;	/* absolute */
	char *worktrees_dir;	/* absolute */
	char *mountpoint;	/* absolute, taken before mounting */
	char *self_exe;		/* this program, for `parallelai stream|agent` */
	struct config cfg;
	struct access acl;	/* who besides the owner may use the mount */
	struct store *store;
	struct events *events;
	struct sched *sched;
	struct review *review;	/* conflicts, merge order, merges */
	struct planner *planner;	/* plans/ */
	struct gitrev *rev;	/* HEAD and revisions of repo */
	struct wlog *wlog;	/* workers/N/log */
	struct mergeq *mergeq;	/* the merge queue */
	struct notify *notify;	/* [notify] deliveries, NULL: none */
	struct watch *watch;	/* state changes, for the wait files */
	struct approvals *approvals;	/* the policy, its approvals, audit */
	int64_t started;	/* ms since the epoch */
	char engine_why[128];	/* how the default engine was chosen */
	char checkout_why[512];	/* why cfg.checkout is what it is */
	struct sandbox_probe sandbox;	/* bubblewrap, tried at mount */
	struct redact secrets;	/* values kept off the disk */
};

int64_t pai_now_ms(void);
void pai_log_path(const struct pai *p, int64_t id, char *out, size_t len);
/* logs/N.check: the task's last check, its exit status first */
void pai_check_path(const struct pai *p, int64_t id, char *out, size_t len);
void pai_raw_path(const struct pai *p, int64_t id, char *out, size_t len);
void pai_result_path(const struct pai *p, int64_t id, char *out, size_t len);
/* results/N-settings.json: a claude run's --settings, the policy's hook */
void pai_settings_path(const struct pai *p, int64_t id, char *out,
		       size_t len);
/* results/N-A.exit: the wait status of the engine of attempt A, written
 * if it exited by itself; the attempt in the name, so that no file left
 * from an earlier attempt speaks for a later one */
void pai_exit_path(const struct pai *p, int64_t id, int attempt, char *out,
		   size_t len);
void pai_prompt_path(const struct pai *p, int64_t id, char *out, size_t len);
/* STATE/box/N/WHAT: the task's home or tmp in a sandbox */
void pai_box_path(const struct pai *p, int64_t id, const char *what,
		  char *out, size_t len);
void pai_worktree_path(const struct pai *p, int64_t id, char *out, size_t len);
/* "2026-11-20T22:01:02Z" */
void pai_format_time(int64_t ms, char *out, size_t len);

#endif
