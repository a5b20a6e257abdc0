/*
 * breaker: a circuit breaker per provider. After K failures in a row of
 * one engine's tasks, no new task of that engine starts until a cool-down
 * has passed; its queued tasks wait rather than fail. A success closes
 * the breaker again.
 *
 *	struct breakers b;
 *	breakers_init(&b, 5, 60000);
 *	if (breakers_record(&b, "anthropic", true, now) == 1)
 *		...;	// this failure opened it
 *	n = breakers_open(&b, now, names, 32);	// skip these engines
 *	wake = breakers_next_close(&b, now);	// when to look again
 *
 * Not thread-safe: the scheduler calls it under its own lock.
 */
#ifndef PAI_BREAKER_H
#define PAI_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct breaker {
	char *engine;
	int failures;		/* in a row */
	int64_t open_until;	/* ms; 0 when closed */
};

struct breakers {
	struct breaker *v;
	size_t n;
	int threshold;
	int64_t cooldown_ms;
};

void breakers_init(struct breakers *b, int threshold, int64_t cooldown_ms);
/* 1 when this failure opened the breaker, 0 otherwise, <0 on ENOMEM. */
int breakers_record(struct breakers *b, const char *engine, bool failed,
		    int64_t now);
/* The engines whose breaker is open at now, at most max of them. */
size_t breakers_open(const struct breakers *b, int64_t now,
		     const char **engines, size_t max);
/* The earliest time an open breaker closes, or 0 when none is open. */
int64_t breakers_next_close(const struct breakers *b, int64_t now);
void breakers_release(struct breakers *b);

#endif
