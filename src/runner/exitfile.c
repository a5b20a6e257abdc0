/*
 * runner/exitfile: a run's exit file, the record of its end that outlives
 * the daemon. The run-once promise must hold on a full disk, so the file
 * is made before the engine starts, holding a placeholder as long as any
 * status; whoever learns the end (the local keeper) overwrites it in
 * place, which needs no new space. An empty file says the run ended by
 * itself but its status was lost.
 *
 *	fd = runner_exit_file_make(path);	// "running", padded
 *	...
 *	runner_read_exit(path, &status);	// 0, -ENOENT, -ENODATA
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runnerint.h"

void runner_exit_record(char rec[RUNNER_EXIT_LEN], const char *text,
			size_t len)
{
	memset(rec, ' ', RUNNER_EXIT_LEN - 1);
	memcpy(rec, text, len < RUNNER_EXIT_LEN - 1 ? len :
	       RUNNER_EXIT_LEN - 1);
	rec[RUNNER_EXIT_LEN - 1] = '\n';
}

/* The run's exit file, made afresh with the placeholder: the room the
 * keeper's status takes later. It appears whole (written aside, then
 * renamed), for an empty one says the status was lost. A descriptor, or
 * -errno. */
int runner_exit_file_make(const char *path)
{
	char rec[RUNNER_EXIT_LEN], tmp[4096];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* A leftover of an earlier run says nothing of this one. */
	if ((unlink(path) < 0 && errno != ENOENT) ||
	    (unlink(tmp) < 0 && errno != ENOENT))
		return -errno;
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	runner_exit_record(rec, RUNNER_EXIT_RUNNING,
			   strlen(RUNNER_EXIT_RUNNING));
	errno = ENOSPC;
	if (write(fd, rec, sizeof(rec)) == (ssize_t)sizeof(rec) &&
	    rename(tmp, path) == 0)
		return fd;
	e = errno;
	close(fd);
	unlink(tmp);
	return -e;
}

int runner_read_exit(const char *exit_path, int *status)
{
	char buf[RUNNER_EXIT_LEN + 1], *end;
	ssize_t n;
	long v;
	int fd = open(exit_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	/* Emptied by a keeper that could not write the status down. */
	if (n == 0)
		return -ENODATA;
	buf[n] = '\0';
	if (!strncmp(buf, RUNNER_EXIT_RUNNING, strlen(RUNNER_EXIT_RUNNING)))
		return -ENOENT;
	errno = 0;
	v = strtol(buf, &end, 10);
	while (*end == ' ')
		end++;
	if (errno || end == buf || *end != '\n' || v < 0 || v > 0xffff)
		return -EINVAL;
	*status = (int)v;
	return 0;
}
