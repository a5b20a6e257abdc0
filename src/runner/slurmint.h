/*
 * slurmint: what the SLURM backend's files share: slurm.c (the backend's
 * operations) and slurmcmd.c (the client commands, run with a timeout,
 * and the poller that learns every tracked job's state with one squeue a
 * second). Not for use outside src/runner/.
 *
 * Threads: slurm_client blocks up to its timeout, so only run threads,
 * recovery and the poller call it; the scheduler's thread and callers
 * under its lock use slurm_client_async (a detached thread) and the
 * poller's table (slurm_lookup, slurm_down), which never block.
 */
#ifndef PAI_SLURMINT_H
#define PAI_SLURMINT_H

#include <stddef.h>
#include <stdint.h>

/* How long a client command (sbatch, scontrol, scancel, squeue) may take;
 * with the controller down they block about 9 s, then fail. */
#define SLURM_CMD_MS 30000
/* How often the poller asks squeue about the tracked jobs. */
#define SLURM_POLL_MS 1000

/*
 * Run argv (argv[0] looked up on PATH) with envp (NULL: the daemon's),
 * stdin from /dev/null, stdout and stderr together into out (NUL-ended,
 * cut at outlen). Its exit code; -ETIMEDOUT after timeout_ms (it is
 * killed); -errno when it could not run (-ENOENT: not installed).
 */
int slurm_client(char *const argv[], char *const envp[], int timeout_ms,
		 char *out, size_t outlen);
/* Run up to two commands one after the other on a detached thread; each
 * a NULL-ended list of words, copied. */
void slurm_client_async(const char *const a[], const char *const b[]);
/* Whether a client's output says the controller could not be reached. */
int slurm_unreachable(const char *out);
/* The last line of a client's output that says something (its error). */
void slurm_last_line(const char *out, char *line, size_t len);

/* The poller's table: a job tracked from submission (or adoption) to
 * release; its state and node as the last squeue saw them. */
void slurm_track(long job);
void slurm_untrack(long job);
/* 0 with the state ("RUNNING", "GONE" once squeue no longer knows it)
 * and node, or -ENOENT (not tracked, or not seen yet). */
int slurm_lookup(long job, char *state, size_t slen, char *node,
		 size_t nlen);
/* The controller could not be reached: sbatch or squeue said so. */
void slurm_set_down(const char *msg);
/* 1 with the reason while it is down, else 0. */
int slurm_down(char *msg, size_t len);

#endif
