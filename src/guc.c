/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  pgscale's settings.  They are defined whenever the library is loaded,
 *	  preloaded or not, so that SET pgscale.lock_timeout works in any
 *	  session that has called a pgscale function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "pgscale.h"

int			pgscale_lock_timeout = 500;
int			pgscale_lock_retries = 5;
int			pgscale_step_timeout = 5 * 60 * 1000;
double		pgscale_max_delete_fraction = 0.5;
int			pgscale_log_retention = 90 * 24 * 60;
char	   *pgscale_databases = NULL;
int			pgscale_naptime = 3600;
char	   *pgscale_role = NULL;
bool		pgscale_enabled = true;
bool		pgscale_vacuum_after_purge = true;
int			pgscale_max_workers = 2;
int			pgscale_batch_strategy = PGS_BATCH_AUTO;
int			pgscale_max_replica_lag = 30 * 1000;
int			pgscale_max_slot_wal = 0;
int			pgscale_max_wal_rate = 0;
int			pgscale_max_pause = 10 * 60 * 1000;
int			pgscale_pacing = PGS_PACING_NOTICE;

static const struct config_enum_entry batch_strategy_options[] = {
	{"auto", PGS_BATCH_AUTO, false},
	{"time_range", PGS_BATCH_TIME_RANGE, false},
	{NULL, 0, false}
};

static const struct config_enum_entry pacing_options[] = {
	{"notice", PGS_PACING_NOTICE, false},
	{"strict", PGS_PACING_STRICT, false},
	{NULL, 0, false}
};

/*
 * check_databases
 *		GUC check hook of pgscale.databases: a comma-separated list of names
 *		with no empty element (a trailing comma included) and at most
 *		PGS_MAX_DATABASES names.  A bad value is refused, at SET, ALTER
 *		SYSTEM and reload, so the list in force stays.  Whether the
 *		databases exist is reported by the launcher, which can read
 *		pg_database.
 */
static bool
check_databases(char **newval, void **extra, GucSource source)
{
	char	   *raw;
	List	   *names = NIL;
	bool		ok;

	if (*newval == NULL)
		return true;
	raw = pstrdup(*newval);
	ok = SplitIdentifierString(raw, ',', &names);
	if (!ok)
	{
		GUC_check_errmsg("pgscale.databases is not a valid list of database names");
		GUC_check_errdetail("Separate the names with commas, with no empty name and no trailing comma; "
							"quote names with capitals or commas.");
	}
	else if (list_length(names) > PGS_MAX_DATABASES)
	{
		GUC_check_errmsg("pgscale.databases lists %d databases, more than %d",
						 list_length(names), PGS_MAX_DATABASES);
		GUC_check_errdetail("The background worker maintains at most %d databases; "
							"schedule the others with pg_cron.", PGS_MAX_DATABASES);
		ok = false;
	}
	list_free(names);
	pfree(raw);
	return ok;
}

/*
 * pgs_define_gucs
 *		Define every pgscale.* setting and reserve the prefix.
 */
void
pgs_define_gucs(void)
{
	DefineCustomIntVariable("pgscale.lock_timeout",
							"Longest wait for a lock before pgscale gives way and retries.",
							"Cleanup and partition maintenance never queue longer than this "
							"behind the application's queries. Keeping it below "
							"deadlock_timeout means a lock conflict never becomes a deadlock "
							"error in the application.",
							&pgscale_lock_timeout,
							500, 1, 60 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.lock_retries",
							"How many times a step that timed out on a lock is retried.",
							"Each retry waits a little longer first. When the retries are "
							"used up, the step is recorded as an error in pgscale_log and "
							"the other tables are processed.",
							&pgscale_lock_retries,
							5, 0, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.step_timeout",
							"Longest time one step of maintenance may run in a procedure or the worker.",
							"A step is a batch of deletes, a partition drop, a premake or an ANALYZE. "
							"A step that runs longer is cancelled, rolled back and logged, its table is "
							"left for the next run, and the run goes on. Under CALL, a lower "
							"statement_timeout applies to each step instead of the whole call. "
							"Zero means no limit.",
							&pgscale_step_timeout,
							5 * 60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomRealVariable("pgscale.max_delete_fraction",
							 "Largest share of a table's rows one cleanup may remove.",
							 "A cleanup that would remove more (partitions dropped included) "
							 "refuses the table unless called with force => true; a policy's "
							 "own max_delete_fraction takes precedence. The first cleanup of a "
							 "table never cleaned before may remove up to 0.9. 1 turns the "
							 "limit off; a run that would delete every dated row is refused "
							 "whatever the limit.",
							 &pgscale_max_delete_fraction,
							 0.5, 0.01, 1.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.log_retention",
							"How long entries of pgscale_log are kept.",
							NULL,
							&pgscale_log_retention,
							90 * 24 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("pgscale.batch_strategy",
							 "How batched deletes walk a table.",
							 "auto: through runs of heap blocks (TID range scans) where the "
							 "table has a heap of its own, else by ranges of the time column; "
							 "time_range: always by ranges of the time column.",
							 &pgscale_batch_strategy,
							 PGS_BATCH_AUTO, batch_strategy_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pgscale.databases",
							   "Databases the background worker maintains, separated by commas.",
							   "A database where pgscale is not installed is skipped until "
							   "CREATE EXTENSION pgscale is run there.",
							   &pgscale_databases,
							   "",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   check_databases, NULL, NULL);

	DefineCustomIntVariable("pgscale.naptime",
							"Time between two maintenance cycles of a database.",
							NULL,
							&pgscale_naptime,
							3600, 1, INT_MAX / 1000,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgscale.role",
							   "Role the background worker runs maintenance as.",
							   "Empty means the bootstrap superuser. The role must own the "
							   "managed tables (or be a member of their owners).",
							   &pgscale_role,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("pgscale.vacuum_after_purge",
							 "Whether the procedures and the worker VACUUM what they purged.",
							 "After rows are deleted from a table or partition, a plain VACUUM of it "
							 "makes their space reusable and the visibility map current at once, "
							 "instead of whenever autovacuum gets there. It runs as a top-level "
							 "statement over a local connection; the function forms cannot run it "
							 "and leave it to autovacuum.",
							 &pgscale_vacuum_after_purge,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pgscale.enabled",
							 "Whether the background worker starts maintenance cycles.",
							 NULL,
							 &pgscale_enabled,
							 true,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.max_workers",
							"Most databases maintained at the same time.",
							"Each takes one of max_worker_processes while its cycle runs.",
							&pgscale_max_workers,
							2, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("pgscale.maintenance_window",
							   "Times of day when the background worker may purge, as HH:MM-HH:MM.",
							   "Retention (batched deletes and partition drops) runs only inside "
							   "the window, and starts no new batch once it closes; partitions are "
							   "premade whenever the worker runs. A range may wrap past midnight "
							   "('22:00-02:00'), its end is exclusive, and several ranges are "
							   "separated by commas. Calls by hand or from pg_cron ignore it unless "
							   "they pass respect_window => true. Empty means no window: always.",
							   &pgscale_maintenance_window,
							   "",
							   PGC_SIGHUP, 0,
							   pgs_check_maintenance_window,
							   pgs_assign_maintenance_window, NULL);

	DefineCustomStringVariable("pgscale.window_time_zone",
							   "Time zone pgscale.maintenance_window is read in.",
							   "A name from pg_timezone_names. Empty means the session's "
							   "TimeZone, the server's for the background worker.",
							   &pgscale_window_time_zone,
							   "",
							   PGC_SIGHUP, 0,
							   pgs_check_window_time_zone,
							   pgs_assign_window_time_zone, NULL);

	DefineCustomStringVariable("pgscale.window_test_now",
							   "For pgscale's tests only: the time the maintenance window is judged by.",
							   "A timestamp with time zone standing in for the clock when deciding "
							   "whether the window is open. Empty means the real clock.",
							   &pgscale_window_test_now,
							   "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   pgs_check_window_test_now,
							   pgs_assign_window_test_now, NULL);

	DefineCustomIntVariable("pgscale.max_replica_lag",
							"Largest replay lag of a streaming standby that cleanup keeps going under.",
							"Between two batches, CALL pgscale_cleanup_proc() and the worker pause "
							"while a standby in pg_stat_replication is further behind than this "
							"(its replay_lag, or the WAL it has still to replay at the recent WAL "
							"rate). Zero turns the limit off.",
							&pgscale_max_replica_lag,
							30 * 1000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.max_slot_wal",
							"Most WAL a replication slot may hold back while cleanup keeps going.",
							"Between two batches, CALL pgscale_cleanup_proc() and the worker pause "
							"while a slot in pg_replication_slots retains more WAL than this. "
							"Zero turns the limit off.",
							&pgscale_max_slot_wal,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.max_wal_rate",
							"Most WAL per second cleanup itself may write.",
							"Between two batches, CALL pgscale_cleanup_proc() and the worker pause "
							"until the WAL the last batch wrote, spread over the time since the "
							"batch before, is under this rate (the value is per second). "
							"Zero turns the limit off.",
							&pgscale_max_wal_rate,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.max_pause",
							"Longest one pause for pgscale.max_replica_lag, max_slot_wal or max_wal_rate may last.",
							"A longer pause ends the cleanup of that table for the run, logged as "
							"'paused out' in pgscale_log; the next run goes on with it.",
							&pgscale_max_pause,
							10 * 60 * 1000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("pgscale.pacing",
							 "What pgscale_cleanup() and pgscale_run_maintenance() do when a pacing limit is exceeded.",
							 "They run in one transaction and cannot pause: notice says so and goes "
							 "on; strict refuses with an error, which rolls the call back. The "
							 "procedures and the worker pause instead, whatever this says.",
							 &pgscale_pacing,
							 PGS_PACING_NOTICE, pacing_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	pgs_reserve_guc_prefix("pgscale");
}
