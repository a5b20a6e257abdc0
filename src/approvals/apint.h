/*
 * apint.h: what the files of src/approvals/ share.
 *
 *   approvals.c  decisions: rules, approvals, time-outs, the audit rows
 *   server.c     the socket engines ask on, a thread per connection
 *   render.c     the mount's files: pending, request, status, audit
 */
#ifndef PAI_APINT_H
#define PAI_APINT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "approvals.h"
#include "config.h"

struct policy;

struct approvals {
	struct pai *p;
	pthread_mutex_t lock;		/* what follows, up to the socket */
	pthread_cond_t changed;		/* an approval was decided */
	pthread_cond_t stop_cond;	/* the sweeper's sleep */
	struct policy *policy;		/* swapped whole by a reload */
	int ask_timeout;		/* seconds, policy.askTimeout */
	uint64_t gen;			/* decisions so far */
	bool stopping;
	int active;			/* connection threads alive */
	pthread_cond_t idle;		/* active went to 0 */
	pthread_t sweeper;
	bool sweeping;
	/* the socket (server.c) */
	int listen_fd;
	int stop_pipe[2];
	pthread_t listener;
	bool listening;
	char sock_path[108];		/* sun_path's size */
};

/* Wake whoever waits on a decision. */
void ap_wake(struct approvals *a);
/* Decide a waiting approval and record it: -EBUSY, -ENOENT. */
int ap_decide(struct approvals *a, int64_t id, const char *state, bool always,
	      const char *user, const char *reason, const char *by);

/* judge.c: the model's decision on action (ask when it fails), why. */
struct task;
int ap_judge(struct approvals *a, const struct task *t, const char *action,
	     enum policy_decision *d, struct buf *why);

/* server.c */
int ap_socket_path(struct approvals *a, char *err, size_t errlen);
int ap_listen(struct approvals *a, char *err, size_t errlen);
void ap_unlisten(struct approvals *a);

#endif
