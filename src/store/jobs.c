/*
 * store/jobs: the job a backend runs a task's attempt as (a SLURM job
 * id), kept with the attempt it belongs to, so the next mount finds a run
 * that outlived its daemon by it and starts no second one.
 */
#include <errno.h>
#include <stdio.h>

#include <sqlite3.h>

#include "store.h"
#include "storeint.h"

int store_task_set_job(struct store *st, int64_t id, const char *job)
{
	return st_write(st, S_SET_JOB, "ITI", id, job, st_now_ms());
}

int store_task_job(struct store *st, int64_t id, char *out, size_t len)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *job;
	int error;

	if (len)
		out[0] = '\0';
	pthread_mutex_lock(&st->lock);
	if ((error = st_row(st, S_GET_JOB, &s, "I", id)) == 0) {
		job = sqlite3_column_text(s, 0);
		if (job && *job)
			snprintf(out, len, "%s", (const char *)job);
		else
			error = -ENOENT;
		st_stmt_done(s);
	}
	pthread_mutex_unlock(&st->lock);
	return error;
}
