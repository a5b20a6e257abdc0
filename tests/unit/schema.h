/*
 * schema.h: make an older state database from a new one, for the tests
 * of the store's migrations. What each schema version added, undone in
 * reverse order; a new migration adds its entry here (and in
 * tests/integration/paitest.py's SCHEMA_UNDO).
 */
#ifndef PAI_TEST_SCHEMA_H
#define PAI_TEST_SCHEMA_H

#include <stdio.h>

#include <sqlite3.h>

static const char *const schema_undo[] = {
	[6] = "DROP TABLE plan_tasks;",
	[7] = "DROP TRIGGER runs_start; DROP TRIGGER runs_end;"
	      "DROP TABLE runs;",
	[8] = "ALTER TABLE tasks DROP COLUMN check_cmd;"
	      "ALTER TABLE tasks DROP COLUMN fix_rounds;"
	      "ALTER TABLE tasks DROP COLUMN check_state;"
	      "ALTER TABLE tasks DROP COLUMN check_exit;"
	      "ALTER TABLE tasks DROP COLUMN check_round;",
	[9] = "DROP TABLE merge_queue;",
	[10] = "DROP TABLE outbox;",
	[11] = "DROP TABLE spend;",
	[12] = "ALTER TABLE tasks DROP COLUMN paths;"
	       "ALTER TABLE tasks DROP COLUMN outside;"
	       "ALTER TABLE tasks DROP COLUMN locks;",
	[13] = "ALTER TABLE tasks DROP COLUMN job;"
	       "ALTER TABLE tasks DROP COLUMN job_attempt;",
	[14] = "DROP TABLE approvals; DROP TABLE audit;",
};

/* The database at db as schema `version`: SQLITE_OK or the error. */
static inline int schema_downgrade(sqlite3 *db, int version)
{
	int v = (int)(sizeof(schema_undo) / sizeof(schema_undo[0])) - 1;
	char sql[64];
	int rc = SQLITE_OK;

	for (; v > version && rc == SQLITE_OK; v--)
		if (schema_undo[v])
			rc = sqlite3_exec(db, schema_undo[v], NULL, NULL, NULL);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	return rc == SQLITE_OK ? sqlite3_exec(db, sql, NULL, NULL, NULL) : rc;
}

#endif
