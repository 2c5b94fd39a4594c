/*-------------------------------------------------------------------------
 *
 * cleanup.c
 *	  pgscale_cleanup() and CALL pgscale_cleanup_proc(): their options,
 *	  the policies they run (retention.c enforces each), and what they
 *	  report.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "retention.h"

PG_FUNCTION_INFO_V1(pgscale_cleanup);
PG_FUNCTION_INFO_V1(pgscale_cleanup_proc);

/* The largest "days" accepted: as for retention, 5000 years. */
#define PGS_MAX_DAYS (5000 * 366)

/*
 * reclaim_purged
 *		CALL pgscale_cleanup_proc(..., reclaim => true): compact each table
 *		or partition the run deleted from (reclaim.c), whose first VACUUM
 *		stands for the one after the purge.  One that cannot be compacted
 *		(an UPDATE trigger, a publication, a lock held) is said so in a
 *		WARNING and the log, and gets the VACUUM after the purge instead.
 *		A dry run says what it would compact.
 */
static void
reclaim_purged(TableRun *run, bool dry_run)
{
	List	   *refused = NIL;
	List	   *accepted = NIL;
	List	   *late = NIL;
	ListCell   *lc;

	foreach(lc, run->trimmed)
	{
		PgsTrimmed *t = (PgsTrimmed *) lfirst(lc);

		if (t->rows <= 0 || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->relid)))
			continue;
		if (!pgs_reclaim_check(t->relid, false, WARNING))
		{
			/* the WARNING, also in the server log, says why */
			if (!dry_run)
				pgs_log_action(t->relid, "reclaim", pgs_display_name(t->relid), 0, true,
							   GetCurrentTimestamp(),
							   "skipped: the table cannot be compacted; the WARNING in the server log says why");
			refused = lappend(refused, t);
		}
		else if (dry_run)
			ereport(NOTICE,
					(errmsg("%s would be compacted after the purge of " INT64_FORMAT " rows (dry run)",
							pgs_display_name(t->relid), t->rows)));
		else
			accepted = lappend(accepted, t);
	}
	if (dry_run)
		return;
	pgs_spi_commit();
	pgs_vacuum_purged(refused, run->vacuum_after_purge, true);
	foreach(lc, accepted)
	{
		PgsTrimmed *t = (PgsTrimmed *) lfirst(lc);
		PgsReclaimResult res;

		/* checked again: it committed since */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->relid)))
			continue;
		if (!pgs_reclaim_check(t->relid, false, WARNING))
		{
			late = lappend(late, t);
			continue;
		}
		pgs_reclaim_relation(t->relid, 0, &res);
		pgs_reclaim_notice(t->relid, &res);
	}
	/* refused since the first check: the VACUUM after the purge, then */
	pgs_vacuum_purged(late, run->vacuum_after_purge, true);
}

/*
 * run_cleanup
 *		The body shared by the function and the procedure.  Returns the
 *		list of finished TableRuns.  SPI must be connected.
 */
static List *
run_cleanup(const CleanupOptions *opt)
{
	List	   *policies;
	List	   *volatile runs = NIL;

	if (OidIsValid(opt->relid))
	{
		PgsPolicy  *pol;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(opt->relid)))
			pgs_no_such_relation(opt->relid);
		/* first: a role that does not own the table cannot see its policy */
		if (!pgs_owns(opt->relid))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("must be owner of table %s to clean it up",
							pgs_display_name(opt->relid)),
					 errhint("Run it as the table's owner or as a member of the owning role.")));
		pol = pgs_find_policy(opt->relid);
		if (pol == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("table %s has no pgscale policy",
							pgs_display_name(opt->relid)),
					 errhint("Set one with pgscale_set_retention().")));
		if (pol->is_protected)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s is protected", pgs_display_name(opt->relid)),
					 errdetail("Protected tables hold core data that cleanup never deletes."),
					 errhint("Leave it out of the call; cleanup without a table skips it.")));
		if (!pol->has_retention)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s has no retention", pgs_display_name(opt->relid)),
					 errhint("Set one with pgscale_set_retention().")));
		policies = list_make1(pol);
	}
	else
		policies = pgs_load_policies(InvalidOid);

	if (opt->nonatomic)
	{
		rt_set_synchronous_commit(false);
		pgs_begin_step_timeouts();
	}

	PG_TRY();
	{
		runs = rt_run_policies(opt, policies);
	}
	PG_FINALLY();
	{
		pgs_end_step_timeouts();
	}
	PG_END_TRY();

	if (!opt->dry_run)
	{
		ListCell   *lc;

		foreach(lc, runs)
		{
			TableRun   *run = (TableRun *) lfirst(lc);

			if (opt->reclaim)
				reclaim_purged(run, false);
			else
				pgs_vacuum_purged(run->trimmed, run->vacuum_after_purge && !run->vacuumed,
								  opt->nonatomic);
		}
		pgs_log_prune();
	}
	else if (opt->reclaim)
	{
		ListCell   *lc;

		foreach(lc, runs)
			reclaim_purged((TableRun *) lfirst(lc), true);
	}
	if (opt->nonatomic)
	{
		rt_set_synchronous_commit(true);
		pgs_spi_commit();
	}
	return runs;
}

/*
 * read_options
 *		Check and collect the arguments common to the function and the
 *		procedure: (dry_run, days, relation, batch_size, force,
 *		respect_window).
 */
static void
read_options(FunctionCallInfo fcinfo, CleanupOptions *opt)
{
	memset(opt, 0, sizeof(*opt));

	pgs_require_arg(fcinfo, 0, "dry_run",
					"Pass true to preview, false to clean up.");
	opt->dry_run = PG_GETARG_BOOL(0);

	opt->have_days = !PG_ARGISNULL(1);
	if (opt->have_days)
	{
		opt->days = PG_GETARG_INT32(1);
		/*
		 * days => 0 would mean "everything before today" for a date column
		 * but "everything before now" for a timestamp one; a positive
		 * number of days means the same for every type.
		 */
		if (opt->days <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("days must be positive"),
					 errhint("Give how many days of rows to keep, for example 180.")));
		if (opt->days > PGS_MAX_DAYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("days is too large"),
					 errdetail("The largest value accepted is %d.", PGS_MAX_DAYS),
					 errhint("Give how many days of rows to keep, for example 180.")));
	}

	opt->relid = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);

	pgs_require_arg(fcinfo, 3, "batch_size",
					"Leave it out to use the default of 10000 rows.");
	opt->batch_size = PG_GETARG_INT32(3);
	if (opt->batch_size <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be positive"),
				 errhint("Leave it out to use the default of 10000 rows.")));

	if (PG_NARGS() > 4)
	{
		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("force must not be NULL"),
					 errhint("Leave it out to keep the blast-radius limits, or pass true to go past them once.")));
		opt->force = PG_GETARG_BOOL(4);
	}

	if (PG_NARGS() > 5)
	{
		pgs_require_arg(fcinfo, 5, "respect_window",
						"Pass true to purge only inside pgscale.maintenance_window, false to ignore it.");
		opt->respect_window = PG_GETARG_BOOL(5);
	}
}

/*
 * run_duration
 *		How long a run took, as an interval Datum.
 */
static Datum
run_duration(TableRun *run)
{
	return DirectFunctionCall2(timestamp_mi,
							   TimestampTzGetDatum(run->finished),
							   TimestampTzGetDatum(run->started));
}

/*
 * pgscale_cleanup(dry_run, days, relation, batch_size)
 *		Enforce retention in the caller's transaction; one row per policy.
 */
Datum
pgscale_cleanup(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CleanupOptions opt;
	List	   *runs;
	ListCell   *lc;

	read_options(fcinfo, &opt);
	pgs_init_materialized_srf(fcinfo);

	SPI_connect();
	runs = run_cleanup(&opt);
	foreach(lc, runs)
	{
		TableRun   *run = (TableRun *) lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, true};
		ListCell   *lc2;

		values[0] = ObjectIdGetDatum(run->relid);
		values[1] = TimestampTzGetDatum(run->cutoff_report);
		values[2] = Int32GetDatum(run->partitions_dropped);
		values[3] = Int64GetDatum(run->rows_deleted);
		values[4] = run_duration(run);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

		/* then each table a cascade deleted from (or would) */
		if (run->refs == NULL)
			continue;
		foreach(lc2, run->refs->tables)
		{
			PgsRefTable *t = (PgsRefTable *) lfirst(lc2);

			if (t->relid == run->relid || t->rows == 0)
				continue;
			values[0] = ObjectIdGetDatum(t->relid);
			values[2] = Int32GetDatum(0);
			values[3] = Int64GetDatum(t->rows);
			values[5] = CStringGetTextDatum(t->via->conname);
			nulls[5] = false;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * pgscale_cleanup_proc(dry_run, days, relation, batch_size)
 *		CALL form: commits after every batch and every dropped partition.
 *		Inside a transaction block it cannot commit, so it says so and
 *		works like the function.  Reports one NOTICE per policy.
 */
Datum
pgscale_cleanup_proc(PG_FUNCTION_ARGS)
{
	CleanupOptions opt;
	List	   *runs;
	ListCell   *lc;

	read_options(fcinfo, &opt);
	opt.nonatomic = fcinfo->context != NULL &&
		IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	if (PG_NARGS() > 6)
	{
		pgs_require_arg(fcinfo, 6, "reclaim",
						"Pass true to compact what the purge freed, false to leave it to VACUUM.");
		opt.reclaim = PG_GETARG_BOOL(6);
	}
	if (opt.reclaim && !opt.nonatomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("pgscale_cleanup_proc cannot compact inside a transaction block or a function"),
				 errdetail("reclaim => true commits after every batch of moved rows, and runs VACUUM; nothing was purged."),
				 errhint("CALL it on its own, or leave reclaim out.")));
	if (!opt.nonatomic)
		ereport(NOTICE,
				(errmsg("pgscale_cleanup_proc is running in a single transaction"),
				 errdetail("It was called inside a transaction block or a function, where it cannot commit."),
				 errhint("CALL it on its own to commit after every batch.")));

	SPI_connect_ext(opt.nonatomic ? SPI_OPT_NONATOMIC : 0);
	runs = run_cleanup(&opt);
	foreach(lc, runs)
	{
		TableRun   *run = (TableRun *) lfirst(lc);
		const char *took = DatumGetCString(DirectFunctionCall1(interval_out,
															   run_duration(run)));

		if (opt.dry_run)
			ereport(NOTICE,
					(errmsg("%s: %d partitions dropped, " INT64_FORMAT " rows deleted (dry run)",
							pgs_display_name(run->relid),
							run->partitions_dropped, run->rows_deleted),
					 errdetail("Cutoff %s, done in %s.",
							   timestamptz_to_str(run->cutoff_report), took)));
		else
			ereport(NOTICE,
					(errmsg("%s: %d partitions dropped, " INT64_FORMAT " rows deleted",
							pgs_display_name(run->relid),
							run->partitions_dropped, run->rows_deleted),
					 errdetail("Cutoff %s, done in %s.",
							   timestamptz_to_str(run->cutoff_report), took)));
		if (run->refs != NULL)
		{
			ListCell   *lc2;

			foreach(lc2, run->refs->tables)
			{
				PgsRefTable *t = (PgsRefTable *) lfirst(lc2);

				if (t->relid == run->relid || t->rows == 0)
					continue;
				if (opt.dry_run)
					ereport(NOTICE,
							(errmsg("%s: " INT64_FORMAT " rows deleted (dry run), through constraint \"%s\"",
									pgs_display_name(t->relid), t->rows,
									t->via->conname)));
				else
					ereport(NOTICE,
							(errmsg("%s: " INT64_FORMAT " rows deleted, through constraint \"%s\"",
									pgs_display_name(t->relid), t->rows,
									t->via->conname)));
			}
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}
