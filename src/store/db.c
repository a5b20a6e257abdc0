/*
 * store/db: the task database's connection: opening it, bringing its
 * schema up to date, the statement cache, the binder and the helpers
 * every other file of the store uses. The schema's migrations and the
 * statements themselves are tables in store/schema.c. The store is the
 * only part that speaks SQL.
 *
 * Every statement is a row of st_stmt_sql, prepared once on first use, and
 * run through the binder, which binds its arguments by a format and
 * steps it: a one-statement write is a line,
 *
 *	return st_write(st, S_SET_PID, "IiI", id, pid, st_now_ms());
 *
 * One SQLite connection, serialised by a mutex, in WAL mode with
 * synchronous=FULL: a COMMIT that returned has reached the disk, which is
 * what lets close() on tasks/new promise that the task survives kill -9.
 *
 * The schema is versioned with PRAGMA user_version. Each entry of
 * `st_migrations` takes the database from version i to i + 1; store_open
 * applies the missing ones in a single transaction, so a crash half way
 * leaves the old version intact. To change the schema, append an entry;
 * never edit one that has shipped.
 *
 *	$ sqlite3 .git/parallelai/state.db 'select id, state, branch from tasks'
 *	1|done|pai/task-1
 *	2|running|pai/task-2
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "group.h"
#include "store.h"
#include "storeint.h"

static const char *what_of(enum stmt_id id)
{
	return st_stmt_what[id] ? st_stmt_what[id] : st_stmt_sql[id];
}

int64_t st_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Turn an SQLite result code into our negative errno, and say what went
 * wrong on stderr: callers only see -EIO, so this is where the detail is
 * kept. Must be called with the lock held (sqlite3_errmsg is per
 * connection).
 */
int st_db_error(struct store *st, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		fprintf(stderr, "parallelai: store: %s: %s\n", what,
			sqlite3_errmsg(st->db));
		return -EIO;
	}
}

/* The cached statement `id`, ready to bind; the lock must be held. */
int st_stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out)
{
	int rc;

	if (!st->stmt[id]) {
		rc = sqlite3_prepare_v3(st->db, st_stmt_sql[id], -1,
					SQLITE_PREPARE_PERSISTENT,
					&st->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return st_db_error(st, rc, "cannot prepare statement");
	}
	*out = st->stmt[id];
	return 0;
}

/* Reset a statement after use so it holds no read lock and no bindings. */
void st_stmt_done(sqlite3_stmt *s)
{
	if (!s)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/*
 * The binder. fmt has one letter per parameter, ?1 first:
 *	i  int			I  int64_t
 *	s  const char *, text	T  const char *, text or NULL
 *	b  const void *, size_t: a blob (a non-NULL pointer even when empty)
 *	D  double, NULL when < 0 (an unknown cost)
 * Text and blobs are bound SQLITE_STATIC: they must outlive the step,
 * which they do as the caller's arguments.
 */
static int vbind(struct store *st, enum stmt_id id, sqlite3_stmt **out,
		 const char *fmt, va_list ap)
{
	sqlite3_stmt *s;
	const char *t;
	const void *p;
	double d;
	int rc = SQLITE_OK, i, error;

	if ((error = st_stmt_get(st, id, &s)) < 0)
		return error;
	for (i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 'i':
			rc = sqlite3_bind_int(s, i, va_arg(ap, int));
			break;
		case 'I':
			rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
			break;
		case 's':
		case 'T':
			t = va_arg(ap, const char *);
			rc = t ? sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC) :
			     sqlite3_bind_null(s, i);
			break;
		case 'b':
			p = va_arg(ap, const void *);
			rc = sqlite3_bind_blob64(s, i, p, va_arg(ap, size_t),
						 SQLITE_STATIC);
			break;
		case 'D':
			d = va_arg(ap, double);
			rc = d >= 0 ? sqlite3_bind_double(s, i, d) :
			     sqlite3_bind_null(s, i);
			break;
		default:
			rc = SQLITE_MISUSE;
		}
	}
	/* A format that does not fit the statement is this file's bug. */
	if (rc == SQLITE_OK && i - 1 != sqlite3_bind_parameter_count(s))
		rc = SQLITE_RANGE;
	if (rc != SQLITE_OK) {
		st_stmt_done(s);
		return st_db_error(st, rc, what_of(id));
	}
	*out = s;
	return 0;
}

int st_query(struct store *st, enum stmt_id id, sqlite3_stmt **out,
	     const char *fmt, ...)
{
	va_list ap;
	int error;

	*out = NULL;
	va_start(ap, fmt);
	error = vbind(st, id, out, fmt, ap);
	va_end(ap);
	return error;
}

/* Step a bound statement to its end and reset it. */
static int run_bound(struct store *st, enum stmt_id id, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	st_stmt_done(s);
	return rc == SQLITE_DONE ? 0 : st_db_error(st, rc, what_of(id));
}

int st_run(struct store *st, enum stmt_id id, const char *fmt, ...)
{
	sqlite3_stmt *s;
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = vbind(st, id, &s, fmt, ap);
	va_end(ap);
	return error < 0 ? error : run_bound(st, id, s);
}

static int vupdate(struct store *st, enum stmt_id id, const char *fmt,
		   va_list ap)
{
	sqlite3_stmt *s;
	int error;

	if ((error = vbind(st, id, &s, fmt, ap)) < 0 ||
	    (error = run_bound(st, id, s)) < 0)
		return error;
	return sqlite3_changes(st->db) > 0 ? 0 : -ENOENT;
}

int st_update(struct store *st, enum stmt_id id, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = vupdate(st, id, fmt, ap);
	va_end(ap);
	return error;
}

int st_write(struct store *st, enum stmt_id id, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	pthread_mutex_lock(&st->lock);
	error = vupdate(st, id, fmt, ap);
	pthread_mutex_unlock(&st->lock);
	va_end(ap);
	return error;
}

/*
 * synchronous=NORMAL for one write: in WAL mode its COMMIT is in the
 * kernel's hands when it returns (a killed daemon keeps it) but not
 * waited for on the disk; the next FULL commit syncs it with its own
 * frames, and a power cut can only take the WAL's last frames, so what
 * survives is always a prefix of what was written. Setting the pragma
 * does no I/O.
 */
int st_write_unsynced(struct store *st, enum stmt_id id, const char *fmt,
		      ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	pthread_mutex_lock(&st->lock);
	sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	error = vupdate(st, id, fmt, ap);
	/* No I/O: only out of memory could fail it, and that is said. */
	if (sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL,
			 NULL) != SQLITE_OK)
		fprintf(stderr, "parallelai: store: cannot set synchronous ="
			" FULL again: %s\n", sqlite3_errmsg(st->db));
	pthread_mutex_unlock(&st->lock);
	va_end(ap);
	return error;
}

int st_row(struct store *st, enum stmt_id id, sqlite3_stmt **out,
	   const char *fmt, ...)
{
	va_list ap;
	int rc, error;

	*out = NULL;
	va_start(ap, fmt);
	error = vbind(st, id, out, fmt, ap);
	va_end(ap);
	if (error < 0)
		return error;
	rc = sqlite3_step(*out);
	if (rc == SQLITE_ROW)
		return 0;
	st_stmt_done(*out);
	*out = NULL;
	return rc == SQLITE_DONE ? -ENOENT : st_db_error(st, rc, what_of(id));
}

/* The first column of every row of s, as ids; s is reset after. */
static int collect_ids(struct store *st, enum stmt_id id, sqlite3_stmt *s,
		       int64_t **ids, size_t *n)
{
	int64_t *v = NULL, *nv;
	size_t len = 0, cap = 0;
	int rc, error = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				error = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[len++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE)
		error = st_db_error(st, rc, what_of(id));

out:
	st_stmt_done(s);
	if (error) {
		free(v);
		v = NULL;
		len = 0;
	}
	*ids = v;
	*n = len;
	return error;
}

static int vids(struct store *st, enum stmt_id id, int64_t **ids, size_t *n,
		const char *fmt, va_list ap)
{
	sqlite3_stmt *s;
	int error;

	*ids = NULL;
	*n = 0;
	if ((error = vbind(st, id, &s, fmt, ap)) < 0)
		return error;
	return collect_ids(st, id, s, ids, n);
}

int st_ids(struct store *st, enum stmt_id id, int64_t **ids, size_t *n,
	   const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = vids(st, id, ids, n, fmt, ap);
	va_end(ap);
	return error;
}

int st_read_ids(struct store *st, enum stmt_id id, int64_t **ids, size_t *n,
		const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	pthread_mutex_lock(&st->lock);
	error = vids(st, id, ids, n, fmt, ap);
	pthread_mutex_unlock(&st->lock);
	va_end(ap);
	return error;
}

/* Roll back after a failure; the first error is the one to report. */
void st_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		st_run(st, S_ROLLBACK, "");
}

static int setup_error(sqlite3 *db, const char *path, const char *what,
		       char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot %s database '%s': %s", what, path,
		 db ? sqlite3_errmsg(db) : "out of memory");
	return -EIO;
}

/* Bring the schema up to st_schema_version in one transaction. */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	char sql[64];
	int version, i, error = 0;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return setup_error(db, path, "lock", err, errlen);

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL)
	    != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		error = setup_error(db, path, "read", err, errlen);
		goto out;
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	s = NULL;

	if (version > st_schema_version) {
		snprintf(err, errlen,
			 "cannot use database '%s': schema version %d is newer"
			 " than this program's %d", path, version,
			 st_schema_version);
		error = -EPROTO;
		goto out;
	}
	if (version == st_schema_version)
		goto out;

	for (i = version; i < st_schema_version; i++) {
		if (sqlite3_exec(db, st_migrations[i], NULL, NULL, NULL)
		    != SQLITE_OK) {
			error = setup_error(db, path, "upgrade", err, errlen);
			goto out;
		}
	}
	/* PRAGMA takes no bound parameters, hence the formatted string. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", st_schema_version);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		error = setup_error(db, path, "upgrade", err, errlen);
		goto out;
	}

out:
	sqlite3_finalize(s);
	if (error) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return error;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		error = setup_error(db, path, "upgrade", err, errlen);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	return error;
}

/* WAL mode; the pragma answers with the mode actually in effect. */
static int set_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	const char *mode;
	int error = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &s, NULL)
	    != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		error = setup_error(db, path, "open", err, errlen);
		goto out;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (!mode || strcmp(mode, "wal")) {
		snprintf(err, errlen,
			 "cannot open database '%s': journal mode is '%s',"
			 " not 'wal'", path, mode ? mode : "");
		error = -EIO;
	}
out:
	sqlite3_finalize(s);
	return error;
}

int store_open(struct store **out, const char *path, char *err, size_t errlen)
{
	struct store *st = NULL;
	sqlite3 *db = NULL;
	int rc, error = 0, fd;
	char scratch[1];

	*out = NULL;
	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';

	/* The database is its owner's alone, and SQLite gives its -wal and
	 * -shm files the database's mode: create it 0600 first. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	/* NOMUTEX: our own mutex already serialises every use. */
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		error = setup_error(db, path, "open", err, errlen);
		if ((rc & 0xff) == SQLITE_FULL)
			error = -ENOSPC;
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);

	/* Opening is lazy: the journal mode is the first real access, so a
	 * file that cannot be created or read fails here. */
	if ((error = set_wal(db, path, err, errlen)) < 0)
		goto out;
	if (sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL)
	    != SQLITE_OK) {
		error = setup_error(db, path, "open", err, errlen);
		goto out;
	}
	if ((error = migrate(db, path, err, errlen)) < 0)
		goto out;

	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "cannot open database '%s': out of memory",
			 path);
		error = -ENOMEM;
		goto out;
	}
	if ((rc = pthread_mutex_init(&st->lock, NULL)) != 0 ||
	    (rc = -group_init(&st->creates)) != 0) {
		snprintf(err, errlen, "cannot open database '%s': %s", path,
			 strerror(rc));
		free(st);
		st = NULL;
		error = -rc;
		goto out;
	}
	st->db = db;
	db = NULL;
	*out = st;

out:
	sqlite3_close(db);
	return error;
}

void store_set_watch(struct store *st, struct watch *w)
{
	pthread_mutex_lock(&st->lock);
	st->watch = w;
	pthread_mutex_unlock(&st->lock);
}

void store_close(struct store *st)
{
	int i;

	if (!st)
		return;
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	group_destroy(&st->creates);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

char *st_column_strdup(sqlite3_stmt *s, int col, int *oom)
{
	const unsigned char *text;
	char *p;

	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return NULL;
	text = sqlite3_column_text(s, col);
	if (!text || !(p = strdup((const char *)text))) {
		*oom = 1;
		return NULL;
	}
	return p;
}

char *st_column_blob(sqlite3_stmt *s, int col, size_t *len, int *oom)
{
	/* Ask for the blob before its size, as the SQLite docs advise. */
	const void *blob = sqlite3_column_blob(s, col);
	char *p;

	*len = (size_t)sqlite3_column_bytes(s, col);
	if (!(p = malloc(*len + 1))) {
		*oom = 1;
		return NULL;
	}
	if (*len)
		memcpy(p, blob, *len);
	p[*len] = '\0';
	return p;
}

void st_column_oid(sqlite3_stmt *s, int col, char oid[OID_HEX_SIZE])
{
	const unsigned char *text = sqlite3_column_text(s, col);

	snprintf(oid, OID_HEX_SIZE, "%s", text ? (const char *)text : "");
}
