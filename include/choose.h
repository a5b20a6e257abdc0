/*
 * choose: what a mount runs with, settled before it mounts (src/choose.c).
 *
 *	if (choose_engines(p, err, sizeof(err)) < 0)
 *		die("%s", err);
 *
 * Each returns 0, or -1 with the reason in err.
 */
#ifndef PAI_CHOOSE_H
#define PAI_CHOOSE_H

#include <stddef.h>

struct pai;

/* The engine prompts go to and the planner's, and why (engine_why). */
int choose_engines(struct pai *p, char *err, size_t errlen);
/* Whether bubblewrap works (sandbox=bwrap without it refused), and the
 * secrets of the environment and the engines' env kept out of logs. */
int choose_sandbox(struct pai *p, char *err, size_t errlen);
/* backend=slurm: shared directories and SLURM's clients, or refused. */
int choose_backend(struct pai *p, char *err, size_t errlen);
/* checkout: full, overlay or auto, settled into cfg.checkout, and why
 * (checkout_why). */
int choose_checkout(struct pai *p, char *err, size_t errlen);

#endif
