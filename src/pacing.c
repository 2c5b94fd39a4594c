/*-------------------------------------------------------------------------
 *
 * pacing.c
 *	  Replica and WAL aware pacing of batched deletes.
 *
 *	  A purge of millions of rows writes WAL as fast as the server can, and
 *	  a streaming standby that replays more slowly falls behind, a
 *	  replication slot holds the WAL back, or the archive cannot keep up.
 *	  Between two batches (right after the commit, so that no snapshot and
 *	  no table lock is held) rt_pace() measures
 *
 *	  - pgscale.max_replica_lag: the largest replay lag of the walsenders
 *	    in pg_stat_replication: replay_lag, or where that is NULL (a
 *	    standby that reported being caught up) the WAL the standby has
 *	    still to replay turned into a time at the server's recent WAL rate;
 *	  - pgscale.max_slot_wal: the WAL the replication slots retain;
 *	  - pgscale.max_wal_rate: the WAL this backend wrote since the last
 *	    batch boundary (pgWalUsage, so the application's own writes do not
 *	    count against cleanup), per second;
 *
 *	  and, in a procedure or the worker, waits on its latch, polling, until
 *	  each is under its limit again.  Every pause shows in pg_stat_activity
 *	  (the query column says why, wait_event is PgscalePacing from 17 on,
 *	  Extension before) and in pgscale_worker_status(); the pause time goes
 *	  into the detail of the table's delete row in pgscale_log.  A pause
 *	  longer than pgscale.max_pause ends the table's cleanup for this run
 *	  ('paused out' in pgscale_log); the next run goes on with it.
 *
 *	  pg_stat_replication and pg_replication_slots are read as the
 *	  extension owner (a superuser, who sees every walsender's lag), so a
 *	  caller without pg_monitor is paced like any other.
 *
 *	  The function forms run in one transaction and cannot pause: they say
 *	  so with a NOTICE, or refuse with pgscale.pacing = strict.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/instrument.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "retention.h"

/* longest sleep between two measures of a pause */
#define PACE_POLL_MS 250

/*
 * format_bytes
 *		A WAL size for a person: kB, MB or GB with one decimal.
 */
static char *
format_bytes(double bytes)
{
	if (bytes >= 1024.0 * 1024 * 1024)
		return psprintf("%.1f GB", bytes / (1024.0 * 1024 * 1024));
	if (bytes >= 1024.0 * 1024)
		return psprintf("%.1f MB", bytes / (1024.0 * 1024));
	return psprintf("%.1f kB", bytes / 1024.0);
}

/*
 * setting
 *		A pgscale setting as SHOW prints it, with its unit.
 */
static const char *
setting(const char *name)
{
	return GetConfigOptionByName(name, NULL, false);
}

/*
 * limit_setting
 *		The setting behind a limit's short name, as exceeded() returns it.
 */
static const char *
limit_setting(const char *what)
{
	if (strcmp(what, "WAL rate") == 0)
		return "pgscale.max_wal_rate";
	if (strcmp(what, "slot WAL") == 0)
		return "pgscale.max_slot_wal";
	return "pgscale.max_replica_lag";
}

/*
 * measure_replication
 *		The largest replay lag of the standbys, in milliseconds, and the
 *		most WAL a replication slot retains, in bytes (0 when there is
 *		none).  A standby's lag is its replay_lag, or where that is NULL
 *		(it reported being caught up, or has reported nothing yet) the WAL
 *		it has still to replay at the server's recent WAL rate.  Read as
 *		the extension owner.
 */
static void
measure_replication(RunPace *pace, double *lag_ms, double *slot_bytes)
{
	Oid			argtypes[1] = {FLOAT8OID};
	Datum		values[1];

	values[0] = Float8GetDatum(pace->server_rate);
	pgs_exec_as_owner("SELECT"
					  " (SELECT pg_catalog.max(COALESCE("
					  "           pg_catalog.date_part('epoch', replay_lag) OPERATOR(pg_catalog.*) 1000,"
					  "           CASE WHEN $1 OPERATOR(pg_catalog.>) 0 THEN"
					  "             pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), replay_lsn)::pg_catalog.float8"
					  "             OPERATOR(pg_catalog./) $1 OPERATOR(pg_catalog.*) 1000 END))"
					  "  FROM pg_catalog.pg_stat_replication),"
					  " (SELECT pg_catalog.max(pg_catalog.pg_wal_lsn_diff("
					  "         pg_catalog.pg_current_wal_lsn(), restart_lsn))::pg_catalog.float8"
					  "  FROM pg_catalog.pg_replication_slots)",
					  1, argtypes, values, NULL);
	*lag_ms = pgs_get_float8(0, 1);
	*slot_bytes = pgs_get_float8(0, 2);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * exceeded
 *		Which limit is exceeded now: NULL when none is, else its short name
 *		(for pgscale_worker_status()), with the sentence saying by how much
 *		in *why.
 */
static const char *
exceeded(RunPace *pace, TimestampTz now, StringInfo why)
{
	resetStringInfo(why);
	if (pgscale_max_wal_rate > 0 && pace->at != 0 && now > pace->at)
	{
		double		secs = (double) (now - pace->at) / USECS_PER_SEC;
		double		bytes = (double) (pgWalUsage.wal_bytes - pace->own_wal);
		double		limit = pgscale_max_wal_rate * 1024.0;

		if (bytes > limit * secs)
		{
			appendStringInfo(why, "cleanup writes WAL at %s per second, over pgscale.max_wal_rate (%s)",
							 format_bytes(bytes / secs), setting("pgscale.max_wal_rate"));
			return "WAL rate";
		}
	}
	if (pgscale_max_replica_lag > 0 || pgscale_max_slot_wal > 0)
	{
		double		lag_ms;
		double		slot_bytes;

		measure_replication(pace, &lag_ms, &slot_bytes);
		if (pgscale_max_replica_lag > 0 && lag_ms > pgscale_max_replica_lag)
		{
			appendStringInfo(why, "a standby replays %.1f s behind, over pgscale.max_replica_lag (%s)",
							 lag_ms / 1000.0, setting("pgscale.max_replica_lag"));
			return "replica lag";
		}
		if (pgscale_max_slot_wal > 0 && slot_bytes > pgscale_max_slot_wal * 1024.0)
		{
			appendStringInfo(why, "a replication slot retains %s of WAL, over pgscale.max_slot_wal (%s)",
							 format_bytes(slot_bytes), setting("pgscale.max_slot_wal"));
			return "slot WAL";
		}
	}
	return NULL;
}

/*
 * take_baseline
 *		Remember where WAL stands, for the rates measured at the next batch
 *		boundary.
 */
static void
take_baseline(RunPace *pace)
{
	pace->at = GetCurrentTimestamp();
	pace->own_wal = pgWalUsage.wal_bytes;
	pace->server_lsn = GetXLogInsertRecPtr();
}

/*
 * cannot_pause
 *		The function form, one transaction, cannot wait for a limit: say so
 *		once per table, or refuse with pgscale.pacing = strict.
 */
static void
cannot_pause(TableRun *run, Oid relid, const char *what, const char *why)
{
	if (pgscale_pacing == PGS_PACING_STRICT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgscale refused to go on cleaning up %s in a single transaction: %s is exceeded",
						pgs_display_name(relid), limit_setting(what)),
				 errdetail("%s; pgscale.pacing is strict, and a single transaction cannot pause between its batches, so the call is rolled back.",
						   why),
				 errhint("Run CALL pgscale_cleanup_proc() or CALL pgscale_run_maintenance_proc(), which pause until the limit is met, "
						 "or set pgscale.pacing to notice.")));
	if (run->pace.noticed)
		return;
	run->pace.noticed = true;
	ereport(NOTICE,
			(errcode(ERRCODE_WARNING),
			 errmsg("pgscale cannot pause the cleanup of %s in a single transaction: %s is exceeded",
					pgs_display_name(relid), limit_setting(what)),
			 errdetail("%s; the function form goes on without pausing.", why),
			 errhint("Run CALL pgscale_cleanup_proc() or CALL pgscale_run_maintenance_proc(), which pause between batches, "
					 "or set pgscale.pacing to strict to refuse instead.")));
}

/*
 * report_pause
 *		Show the pause in pg_stat_activity.query.
 */
static void
report_pause(Oid relid, TimestampTz start, const char *why)
{
	long		secs;
	int			usecs;

	TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("pgscale paused the cleanup of %s for %ld s: %s",
									pgs_display_name(relid), secs, why));
}

/*
 * paused_out
 *		A pause outlasted pgscale.max_pause: leave the rest of the table for
 *		the next run, with a log row saying why.
 */
static void
paused_out(TableRun *run, Oid relid, TimestampTz start, const char *why)
{
	const char *max_pause = setting("pgscale.max_pause");

	run->stopped = true;
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("pgscale stopped cleaning up %s after pausing for longer than pgscale.max_pause (%s)",
					pgs_display_name(relid), max_pause),
			 errdetail("%s.", why),
			 errhint("The next run goes on with the table; 'paused out' in pgscale_log records the pause.")));
	pgs_log_action(run->relid, "paused out", pgs_display_name(relid), 0, false,
				   start,
				   psprintf("paused longer than pgscale.max_pause (%s): %s; the rest is left for the next run",
							max_pause, why));
	rt_commit_if_allowed(run);
}

/*
 * pause_until_met
 *		Wait, after a commit, until every limit is met again or
 *		pgscale.max_pause has passed; false in that case.  Settings
 *		reloaded meanwhile apply at once, so a raised limit ends the pause.
 */
static bool
pause_until_met(TableRun *run, Oid relid, const char *what, StringInfo why)
{
	RunPace    *pace = &run->pace;
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz now;
	char	   *activity = NULL;
	MemoryContext pausecxt;
	MemoryContext oldcxt;
	const char *reason = what;
	bool		under = false;

	if (MyBEEntry != NULL && MyBEEntry->st_activity_raw[0] != '\0')
		activity = pgstat_clip_activity(MyBEEntry->st_activity_raw);
	pgs_worker_report_outcome(psprintf("paused: %s", what));

	pausecxt = AllocSetContextCreate(CurrentMemoryContext, "pgscale pause",
									 ALLOCSET_SMALL_SIZES);
	for (;;)
	{
		long		wait_ms = PACE_POLL_MS;
		long		left_ms;

		now = GetCurrentTimestamp();
		left_ms = pgscale_max_pause - (long) ((now - start) / 1000);
		if (left_ms <= 0)
			break;
		oldcxt = MemoryContextSwitchTo(pausecxt);
		report_pause(relid, start, why->data);
		MemoryContextSwitchTo(oldcxt);
		/* measuring took a snapshot and locks on the views: let go of them */
		rt_commit_if_allowed(run);
		wait_ms = Min(wait_ms, left_ms);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, pgs_pacing_wait_event());
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextReset(pausecxt);
		oldcxt = MemoryContextSwitchTo(pausecxt);
		what = exceeded(pace, GetCurrentTimestamp(), why);
		MemoryContextSwitchTo(oldcxt);
		if (what == NULL)
		{
			under = true;
			break;
		}
		reason = what;
	}
	now = GetCurrentTimestamp();
	pace->paused_us += now - start;
	pace->reason = reason;

	pgstat_report_activity(STATE_RUNNING, activity);
	pgs_worker_report_outcome("running");
	if (!under)
		paused_out(run, relid, start, why->data);
	MemoryContextDelete(pausecxt);
	return under;
}

/*
 * rt_pace
 *		At a batch boundary of rt_trim_relation, right after its commit:
 *		pause while a pacing limit is exceeded.  Returns false when the
 *		pause outlasted pgscale.max_pause and the table's cleanup is to
 *		stop for this run.  Dry runs never pause.
 */
bool
rt_pace(TableRun *run, Oid relid)
{
	RunPace    *pace = &run->pace;
	StringInfoData why;
	const char *what;
	TimestampTz now;
	bool		ok = true;

	if (run->opt->dry_run)
		return true;
	if (pace->relid != relid)
	{
		pace->relid = relid;
		pace->paused_us = 0;
		pace->reason = NULL;
	}
	if (pgscale_max_replica_lag == 0 && pgscale_max_slot_wal == 0 &&
		pgscale_max_wal_rate == 0)
	{
		take_baseline(pace);
		return true;
	}

	/* the server's WAL rate over the last batch, for the replicas' lag */
	now = GetCurrentTimestamp();
	if (pace->at != 0 && now > pace->at)
	{
		double		rate = (double) (GetXLogInsertRecPtr() - pace->server_lsn) *
			USECS_PER_SEC / (double) (now - pace->at);

		pace->server_rate = pace->server_rate > 0 ?
			(pace->server_rate + rate) / 2 : rate;
	}

	initStringInfo(&why);
	what = exceeded(pace, now, &why);
	if (what != NULL)
	{
		if (run->opt->nonatomic)
			ok = pause_until_met(run, relid, what, &why);
		else
			cannot_pause(run, relid, what, why.data);
	}
	pfree(why.data);
	take_baseline(pace);
	return ok;
}

/*
 * rt_pace_detail
 *		The detail of a relation's delete row in pgscale_log, with the time
 *		its cleanup spent paused, if any.
 */
const char *
rt_pace_detail(TableRun *run, Oid relid, const char *detail)
{
	RunPace    *pace = &run->pace;

	if (pace->relid != relid || pace->paused_us == 0)
		return detail;
	return psprintf("%s; paused %.1f s in all (%s)", detail,
					(double) pace->paused_us / USECS_PER_SEC,
					pace->reason ? pace->reason : "pacing");
}
