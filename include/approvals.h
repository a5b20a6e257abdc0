/*
 * approvals: the daemon's side of the policy. An engine asks before each
 * tool call; the policy's rules decide, or a person does through the
 * mount; every decision goes to the audit log before it is answered.
 *
 *	agent ──connect──► STATE/policy.sock (0600)
 *	  {"task": 7, "tool": "run", "input": {"command": "git push"}}
 *	daemon: action Bash(git push) ─► rules ─► audit row ─► answer
 *	  {"decision": "deny", "reason": "denied by policy (builtin git-push)"}
 *
 * An action the rules hold (ask) becomes approvals/N: the request waits,
 * the engine with it, until approvals/N/ctl decides (approve, approve
 * always, deny REASON) or policy.askTimeout passes (expired, denied).
 * Approvals live in the store: a daemon killed while one waits finds it
 * again at the next mount, and the task's next attempt waits on the same
 * one when it asks the same.
 *
 * Threads: one listener, one thread per connection (each may wait on a
 * person), one sweeper that expires what waited too long. The lock
 * guards the policy (swapped by a reload) and the condition that wakes
 * the waiters; nothing else is taken under it.
 */
#ifndef PAI_APPROVALS_H
#define PAI_APPROVALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

struct pai;
struct approvals;

/* The policy built from p->cfg (-EINVAL: a bad rule, err says which),
 * the sweeper started. */
int approvals_start(struct approvals **out, struct pai *p, char *err,
		    size_t errlen);
/* The socket bound: after the scheduler's recovery, so that no engine
 * of the last daemon's asks (it is killed first). */
int approvals_listen(struct approvals *a, char *err, size_t errlen);
void approvals_stop(struct approvals *a);
/* PAI_POLICY_SOCKET for the engines that ask. */
const char *approvals_socket(const struct approvals *a);

/* ctl policy: the rules read again from the configuration. */
int approvals_reload(struct approvals *a, char *err, size_t errlen);
/* The active rules of each kind (policy_counts). */
void approvals_counts(struct approvals *a, size_t n[3]);

/*
 * One tool call of task: *allow, and why in reason (for the engine).
 * Blocks while an approval waits; returns -ECONNABORTED, with no
 * decision, when gone() says the asker went away or the daemon stops.
 */
int approvals_call(struct approvals *a, int64_t task, const char *tool,
		   const cJSON *input, bool (*gone)(void *arg), void *arg,
		   bool *allow, struct buf *reason);

/* approvals/N/ctl: "approve", "approve always", "deny [REASON]", by
 * user. -EBUSY decided already, -ENOENT no such approval, -EINVAL a bad
 * line (err says why). */
int approvals_command(struct approvals *a, int64_t id, const char *line,
		      const char *user, char *err, size_t errlen);

/* The mount's files. */
int approvals_render_pending(struct approvals *a, struct buf *out);
int approvals_render_request(struct approvals *a, int64_t id,
			     struct buf *out);
int approvals_render_status(struct approvals *a, int64_t id,
			    struct buf *out);
int approvals_render_task(struct approvals *a, int64_t task,
			  struct buf *out);
/* approvals/N/wait: nothing while it waits, then its end state and a
 * newline (approved, denied, expired); fs/wait blocks the read. */
int approvals_render_wait(struct approvals *a, int64_t id, struct buf *out);
/* JSON Lines, every decision (task 0) or one task's. */
int approvals_render_audit(struct approvals *a, int64_t task,
			   struct buf *out);
/* "waiting for approval 7: Bash(...)" when task waits; 0 when not. */
int approvals_task_waiting(struct approvals *a, int64_t task,
			   struct buf *out);
bool approvals_exists(struct approvals *a, int64_t id);
/* The ids of the waiting ones. */
int approvals_pending_ids(struct approvals *a, int64_t **ids, size_t *n);
/* The ids of all approvals, for listing approvals/. */
int approvals_ids(struct approvals *a, int64_t **ids, size_t *n);

#endif
