/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  pgscale_cleanup() and CALL pgscale_cleanup_proc(): enforce the
 *	  retention policies exactly.
 *
 *	  For each policy the cutoff is fixed once (now() - retention, or
 *	  "days" days).  A range-partitioned table (by the time column) loses
 *	  every partition whose upper bound is at or before the cutoff, dropped
 *	  whole; the partition that straddles the cutoff and the default
 *	  partition are trimmed with batched DELETEs, as are plain tables.
 *	  Afterwards no row older than the cutoff remains and no newer row is
 *	  gone.  A dry run takes the same decisions and counts instead of
 *	  acting.
 *
 *	  Every step runs under pgscale.lock_timeout with retries (util.c), so
 *	  cleanup gives way to the application instead of queueing in front of
 *	  it.  Locks are taken parent first, then partition, the order queries
 *	  use, so cleanup and queries never deadlock.  A step that fails is
 *	  recorded in pgscale_log and the other tables are still processed.
 *
 *	  The procedure commits after every batch and every dropped partition,
 *	  so no transaction runs long however many rows expire.
 *
 *	  The files of retention: retention.c (this one: a run's bookkeeping,
 *	  trimming with DELETE, one policy, foreign keys), retention_parts.c
 *	  (dropping expired partitions, walking a partitioned table) and
 *	  cleanup.c (the SQL functions and their options).
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
#include "archive.h"

/*
 * rt_set_synchronous_commit
 *		Set synchronous_commit for the current transaction only.
 */
void
rt_set_synchronous_commit(bool on)
{
	(void) set_config_option("synchronous_commit", on ? "on" : "off",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * rt_commit_if_allowed
 *		In the procedure, end the transaction after a step so that locks
 *		are released and no transaction grows long.
 *
 *		These intermediate commits need not wait for the WAL flush: a crash
 *		can only undo the last few batches, which the next run deletes
 *		again, and the procedure's last commit is synchronous, which makes
 *		every earlier one durable too.
 */
void
rt_commit_if_allowed(TableRun *run)
{
	if (run->opt->nonatomic)
	{
		pgs_spi_commit();
		rt_set_synchronous_commit(false);
	}
}

/*
 * rt_window_open
 *		Before a batch or a partition drop: whether the run may start it.
 *		A run that respects the maintenance window and finds it closed is
 *		stopped, so that it starts nothing more of the table; what it has
 *		done stays done (and committed, in the procedure), it is said once
 *		and logged, and the next window resumes.
 */
bool
rt_window_open(TableRun *run)
{
	if (!run->opt->respect_window || run->opt->dry_run || pgs_window_open())
		return true;
	if (!run->window_closed)
	{
		pgs_window_closed_notice(run->relid);
		pgs_log_action(run->relid, "skipped", NULL, 0, false, GetCurrentTimestamp(),
					   psprintf("window closed: the maintenance window %s closed during the purge, "
								"the rest is left for the next window",
								pgscale_maintenance_window));
		rt_commit_if_allowed(run);
	}
	run->window_closed = true;
	run->stopped = true;
	return false;
}

static const char *const run_step_what[] = {
	[STEP_PREPARE_DELETE] = "prepare to delete from",
	[STEP_DELETE] = "delete expired rows from",
	[STEP_COUNT_REFERENCING] = "count the rows referencing",
	[STEP_DROP_PARTITION] = "drop expired partition",
	[STEP_CHECK_REFERENCES] = "check the foreign keys referencing",
	[STEP_APPLY_POLICY] = "apply the retention of",
	[STEP_MEASURE] = "measure the cleanup of",
	[STEP_COMPRESS] = "compress partition",
	[STEP_DECOMPRESS] = "decompress partition"
};

/*
 * step_detail / step_hint
 *		The detail and hint of the warning for a failed step; called within
 *		ereport(), like errdetail() and errhint().
 */
static int
step_detail(ErrorData *edata)
{
	return edata->detail ? errdetail_internal("%s", edata->detail) : 0;
}

static int
step_hint(TableRun *run)
{
	if (run->stopped)
		return errhint("The rest of this table is left for the next run; the error is recorded in pgscale_log.");
	return errhint("The error is recorded in pgscale_log; the next run retries.");
}

/*
 * warn_step_failed
 *		The warning for a step that failed after its retries.
 */
static void
warn_step_failed(TableRun *run, RunStep kind, const char *name, ErrorData *edata)
{
	switch (kind)
	{
		case STEP_PREPARE_DELETE:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not prepare to delete from %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_DELETE:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not delete expired rows from %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_COUNT_REFERENCING:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not count the rows referencing %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_DROP_PARTITION:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not drop expired partition %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_CHECK_REFERENCES:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not check the foreign keys referencing %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_APPLY_POLICY:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not apply the retention of %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_MEASURE:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not measure the cleanup of %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_COMPRESS:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not compress partition %s: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
		case STEP_DECOMPRESS:
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not decompress partition %s to trim it: %s",
							name, edata->message),
					 step_detail(edata), step_hint(run)));
			break;
	}
}

/*
 * rt_record_error
 *		A step failed (after its retries): tell the caller and keep a
 *		record, then go on with the rest.
 */
void
rt_record_error(TableRun *run, Oid object, RunStep kind, ErrorData *edata,
			 TimestampTz started)
{
	const char *what = run_step_what[kind];

	run->failed = true;
	if (pgs_step_timed_out(edata))
		run->stopped = true;
	run->errors = lappend(run->errors,
						  psprintf("%s %s: %s", what, pgs_display_name(object),
								   edata->message));
	warn_step_failed(run, kind, pgs_display_name(object), edata);
	if (!run->opt->dry_run)
	{
		pgs_log_action(run->relid, "error", pgs_display_name(object), 0, false,
					   started, psprintf("%s: %s", what, edata->message));
		rt_commit_if_allowed(run);
	}
	FreeErrorData(edata);
}

/* ---------- trimming with DELETE ---------- */

typedef struct TrimStep
{
	TableRun   *run;
	Oid			relid;
	PgsBatchState *batch;
	int64		rows;
	bool		done;
	bool		gone;			/* dropped or detached meanwhile */
	int64		nulls;			/* dry run: rows with no time value */
} TrimStep;

/*
 * count_null_times
 *		Rows whose time column is NULL are never expired, so retention keeps
 *		them forever: how many there are, for a dry run to say so.  Runs in
 *		the step, as the table's owner.
 */
static int64
count_null_times(TableRun *run, Oid relid)
{
	HeapTuple	tuple;
	bool		notnull = true;

	tuple = SearchSysCacheAttName(relid, run->time_column);
	if (HeapTupleIsValid(tuple))
	{
		notnull = ((Form_pg_attribute) GETSTRUCT(tuple))->attnotnull;
		ReleaseSysCache(tuple);
	}
	if (notnull)
		return 0;
	return pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM %s%s WHERE %s IS NULL",
								 get_rel_relkind(relid) == RELKIND_RELATION ? "ONLY " : "",
								 pgs_qualified_name(relid),
								 quote_identifier(run->time_column)),
						0, NULL, NULL, NULL, true);
}

/*
 * still_in_tree
 *		Whether a partition read earlier is still part of the managed
 *		table (a partition detached meanwhile is no longer the policy's).
 */
static bool
still_in_tree(Oid relid, Oid root)
{
	List	   *ancestors;

	if (relid == root || !get_rel_relispartition(relid))
		return true;
	ancestors = get_partition_ancestors(relid);
	return list_member_oid(ancestors, root);
}

static void
trim_begin_step(void *arg)
{
	TrimStep   *step = (TrimStep *) arg;

	/*
	 * Another cleanup may have dropped the relation since it was listed,
	 * or a person detached it: that is nothing to do, not an error.
	 */
	LockRelationOid(step->relid, step->run->opt->dry_run ? AccessShareLock :
					RowExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(step->relid)) ||
		!still_in_tree(step->relid, step->run->relid))
	{
		step->gone = true;
		step->done = true;
		return;
	}
	step->batch = pgs_batch_begin(step->relid, step->run->time_column,
								  step->run->cutoff_type, step->run->cutoff,
								  step->run->opt->batch_size, step->run->refs);
	if (step->run->archive != NULL && !step->run->opt->dry_run)
	{
		char	   *columns;
		char	   *target = pgs_archive_rows_target(step->run->archive, step->relid,
													 step->run->cutoff_type,
													 step->run->cutoff, &columns);

		pgs_batch_archive(step->batch, target, columns);
	}
	if (step->run->opt->dry_run)
	{
		step->rows = pgs_batch_count(step->batch);
		step->nulls = count_null_times(step->run, step->relid);
	}
}

static void
trim_batch_step(void *arg)
{
	TrimStep   *step = (TrimStep *) arg;

	step->rows = pgs_batch_next(step->batch, &step->done);
}

/*
 * rt_trim_relation
 *		Delete the expired rows of a plain table or leaf partition in
 *		batches (or count them, in a dry run).
 */
void
rt_trim_relation(TableRun *run, Oid relid)
{
	TrimStep	step;
	ErrorData  *edata = NULL;
	TimestampTz started = GetCurrentTimestamp();
	int64		total = 0;
	int64		log_id = 0;
	const char *action = run->archive != NULL ? "archive" : "delete";

	memset(&step, 0, sizeof(step));
	step.run = run;
	step.relid = relid;

	/* a compressed month has no DELETE: back to heap first (compress.c) */
	if (!rt_decompress_for_trim(run, relid))
		return;

	if (!pgs_run_guarded_as(relid, trim_begin_step, &step, &edata))
	{
		rt_record_error(run, relid, STEP_PREPARE_DELETE, edata, started);
		return;
	}
	if (step.gone)
		return;
	if (run->opt->dry_run)
	{
		run->rows_deleted += step.rows;
		if (step.nulls > 0)
			ereport(NOTICE,
					(errmsg(INT64_FORMAT " rows of %s have no value in the time column \"%s\"",
							step.nulls, pgs_display_name(relid), run->time_column),
					 errdetail("Retention never deletes a row whose time is NULL."),
					 errhint("Fill in the column of those rows, or delete them yourself.")));
		return;
	}

	do
	{
		if (!rt_window_open(run))
			break;
		if (!pgs_run_guarded_as(relid, trim_batch_step, &step, &edata))
		{
			if (log_id != 0)
				pgs_log_update(log_id, total, started,
							   "stopped by the error that follows");
			else if (total > 0)
				pgs_log_action(run->relid, action, pgs_display_name(relid),
							   total, true, started,
							   "stopped by the error that follows");
			rt_record_error(run, relid, STEP_DELETE, edata, started);
			if (run->archive != NULL)
				pgs_archive_rows_done(run->archive);
			return;
		}
		total += step.rows;
		run->rows_deleted += step.rows;
		if (!step.done && run->opt->nonatomic && total > 0)
		{
			/*
			 * Committing now: the log is to hold this batch even if the run
			 * is cancelled before the next one.
			 */
			if (log_id == 0)
				log_id = pgs_log_action(run->relid, action,
										pgs_display_name(relid), total, true,
										started, "in progress");
			else
				pgs_log_update(log_id, total, started, "in progress");
		}
		if (!step.done)
		{
			rt_commit_if_allowed(run);
			/* a pause past pgscale.max_pause leaves the rest for next time */
			if (!rt_pace(run, relid))
				break;
		}
	} while (!step.done);

	if (pgs_batch_skipped(step.batch) > 0)
		ereport(WARNING,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("pgscale left " INT64_FORMAT " expired rows of %s that other transactions held locked",
						pgs_batch_skipped(step.batch), pgs_display_name(relid)),
				 errdetail("Cleanup skips locked rows instead of waiting for them, and came back to them at the end of its work."),
				 errhint("The next run deletes them once their locks are released.")));

	if (total > 0 || pgs_batch_skipped(step.batch) > 0)
	{
		PgsTrimmed *t = palloc(sizeof(PgsTrimmed));
		const char *detail = rt_pace_detail(run, relid,
											pgs_batch_describe(step.batch));

		t->relid = relid;
		t->rows = total;
		run->trimmed = lappend(run->trimmed, t);

		if (log_id != 0)
			pgs_log_update(log_id, total, started, detail);
		else
			pgs_log_action(run->relid, action, pgs_display_name(relid), total,
						   true, started, detail);
	}
	if (run->archive != NULL)
		pgs_archive_rows_done(run->archive);
	rt_commit_if_allowed(run);
}

/* ---------- one policy ---------- */

/*
 * time_ago
 *		"span" before now, in the terms of a column of type coltype: for a
 *		date column the day "span" ago, for timestamp columns
 *		localtimestamp - span, for timestamptz now() - span.  *type
 *		receives TIMESTAMPOID or TIMESTAMPTZOID.
 */
static Datum
time_ago(Oid coltype, Interval *span, Oid *type)
{
	Datum		base;

	switch (coltype)
	{
		case DATEOID:
			base = DirectFunctionCall1(date_timestamp,
									   DateADTGetDatum(GetSQLCurrentDate()));
			*type = TIMESTAMPOID;
			return DirectFunctionCall2(timestamp_mi_interval, base,
									   IntervalPGetDatum(span));
		case TIMESTAMPOID:
			base = TimestampGetDatum(GetSQLLocalTimestamp(-1));
			*type = TIMESTAMPOID;
			return DirectFunctionCall2(timestamp_mi_interval, base,
									   IntervalPGetDatum(span));
		default:
			base = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
			*type = TIMESTAMPTZOID;
			return DirectFunctionCall2(timestamptz_mi_interval, base,
									   IntervalPGetDatum(span));
	}
}

/*
 * compute_cutoff
 *		Fix the cutoff of a run (d < current_date - N days is expired for a
 *		date column, see time_ago), and the age past which its months are
 *		compressed (compress.c), measured from the same moment.
 */
static void
compute_cutoff(TableRun *run, Oid coltype, Interval *span, PgsPolicy *pol)
{
	run->cutoff = time_ago(coltype, span, &run->cutoff_type);
	if (run->cutoff_type == TIMESTAMPOID)
		run->cutoff_report = DatumGetTimestampTz(DirectFunctionCall1(timestamp_timestamptz,
																	 run->cutoff));
	else
		run->cutoff_report = DatumGetTimestampTz(run->cutoff);
	run->compress = pol->has_compress_after;
	if (run->compress)
	{
		Oid			type;

		run->compress_before = time_ago(coltype, &pol->compress_after, &type);
	}
}

/* The first step of a policy: check its column and fix the cutoff. */
typedef struct PrepareStep
{
	TableRun   *run;
	PgsPolicy  *pol;
	Interval	span;
} PrepareStep;

static void
prepare_step(void *arg)
{
	PrepareStep *step = (PrepareStep *) arg;
	Oid			coltype;

	step->run->time_column = pgs_policy_time_column(step->pol);
	coltype = pgs_time_column_type(step->run->relid, step->run->time_column, false);
	pgs_check_retention(&step->span);
	compute_cutoff(step->run, coltype, &step->span, step->pol);
	step->run->refs = pgs_read_references(step->run->relid, step->pol->on_referenced);
	step->run->archive = pgs_archive_of_policy(step->pol, step->run->time_column);
}

/* ---------- foreign keys ---------- */

/* "alias.col < $1" */
static void
pred_expired(StringInfo buf, const char *alias, void *arg)
{
	TableRun   *run = (TableRun *) arg;

	appendStringInfo(buf, "%s.%s OPERATOR(pg_catalog.<) $1", alias,
					 quote_identifier(run->time_column));
}

/* every row of the relation */
void
rt_pred_all(StringInfo buf, const char *alias, void *arg)
{
	appendStringInfoString(buf, "true");
}

typedef struct RefCheckStep
{
	TableRun   *run;
	const char *from;
	PgsRowPred	pred;
	char	   *found;			/* what references expired rows, or NULL */
} RefCheckStep;

static void
ref_check_step(void *arg)
{
	RefCheckStep *step = (RefCheckStep *) arg;

	step->found = pgs_references_check(step->run->refs, step->from, step->pred,
									   step->run, step->run->cutoff_type,
									   step->run->cutoff);
}

/*
 * rt_referenced_rows
 *		Whether rows of "from" (all of them with rt_pred_all, the expired ones
 *		with pred_expired) are referenced by rows that stay; the message
 *		saying through what, or NULL.  Runs as the table's owner.
 */
char *
rt_referenced_rows(TableRun *run, Oid relid, const char *from, PgsRowPred pred)
{
	RefCheckStep step;
	ErrorData  *edata = NULL;

	step.run = run;
	step.from = from;
	step.pred = pred;
	step.found = NULL;
	if (!pgs_run_guarded_as(relid, ref_check_step, &step, &edata))
	{
		rt_record_error(run, relid, STEP_CHECK_REFERENCES, edata,
					 GetCurrentTimestamp());
		return NULL;
	}
	return step.found;
}

/*
 * blocked_by_references
 *		With on_referenced = 'error' (or a cascade that cannot run): refuse
 *		the whole table, before anything is deleted, while an expired row is
 *		referenced by a row that stays.  Both the dry run and the real run
 *		report it, and the real run logs it.
 */
static bool
blocked_by_references(TableRun *run, PgsPolicy *pol)
{
	PgsRefs    *refs = run->refs;
	char	   *found;
	char	   *msg;

	if (refs->incoming == NIL && pgs_root_table(refs)->selfs == NIL)
		return false;
	if (refs->mode == PGS_REF_KEEP ||
		(refs->mode == PGS_REF_CASCADE && refs->blocked == NULL))
		return false;
	found = rt_referenced_rows(run, run->relid, pgs_qualified_name(run->relid),
							pred_expired);
	if (run->failed)
		return true;
	if (found == NULL)
		return false;

	msg = refs->blocked ?
		psprintf("blocked by foreign keys: %s, and %s", found, refs->blocked) :
		psprintf("blocked by foreign keys: %s", found);
	run->failed = true;
	run->errors = lappend(run->errors, psprintf("%s: %s", pgs_display_name(run->relid), msg));
	ereport(WARNING,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("pgscale did not clean up %s: %s", pgs_display_name(run->relid),
					refs->blocked ? psprintf("%s, and %s", found, refs->blocked) : found),
			 errdetail("Nothing of the table was deleted."),
			 errhint("Choose what cleanup does with expired rows that are still referenced: "
					 "pgscale_set_retention(%s, ..., on_referenced => 'cascade') deletes the referencing rows first, "
					 "'keep' keeps the referenced rows.",
					 quote_literal_cstr(pgs_display_name(run->relid)))));
	if (!run->opt->dry_run)
	{
		pgs_log_action(run->relid, "error", pgs_display_name(run->relid), 0, false,
					   GetCurrentTimestamp(), msg);
		rt_commit_if_allowed(run);
	}
	(void) pol;
	return true;
}

/*
 * log_cascades
 *		After a real run with on_referenced = 'cascade': one log row for
 *		each table the cascade deleted from.
 */
static void
log_cascades(TableRun *run)
{
	ListCell   *lc;

	if (run->refs == NULL || run->opt->dry_run)
		return;
	foreach(lc, run->refs->tables)
	{
		PgsRefTable *t = (PgsRefTable *) lfirst(lc);

		if (t->relid == run->relid || t->rows == 0)
			continue;
		pgs_log_action(run->relid, "delete", pgs_display_name(t->relid), t->rows,
					   true, run->started,
					   psprintf("cascade through constraint \"%s\"", t->via->conname));
	}
	rt_commit_if_allowed(run);
}

/*
 * run_policy
 *		Enforce one policy; fills run with what was done.  A policy that
 *		has become broken (its column dropped or retyped) is recorded as an
 *		error like any failed step.
 */
static void
run_policy(TableRun *run, PgsPolicy *pol)
{
	PrepareStep step;
	ErrorData  *edata = NULL;
	PgsVacuumRun vacuum;

	run->relid = pol->relid;
	run->time_column = pol->time_column;
	run->vacuum_after_purge = pgs_policy_vacuums(pol);
	step.run = run;
	step.pol = pol;
	if (run->opt->have_days)
	{
		memset(&step.span, 0, sizeof(step.span));
		step.span.day = run->opt->days;
	}
	else
		step.span = pol->retention;

	if (!pgs_run_guarded(prepare_step, &step, &edata))
	{
		rt_record_error(run, pol->relid, STEP_APPLY_POLICY, edata,
					 GetCurrentTimestamp());
		return;
	}

	/*
	 * Partitions that earlier runs detached concurrently are finished
	 * first, and every table detached is dropped at the end (detach.c).
	 */
	PG_TRY();
	{
		rt_reconcile_detached(run);
		rt_detach_prestart(run);
		if (!blocked_by_references(run, pol) && !rt_refused_by_limits(run, pol))
		{
			rt_process_relation(run, pol->relid);

			/*
			 * The VACUUM after the purge goes over the connection the
			 * detaches used, while it is open (the caller would start
			 * another backend), and runs while the detached tables are
			 * dropped here.  A reclaim compacts instead, with VACUUMs of
			 * its own.
			 */
			if (run->loop != NULL && run->opt->nonatomic &&
				!run->opt->dry_run && !run->opt->reclaim)
			{
				pgs_vacuum_begin(run->trimmed, run->vacuum_after_purge,
								 run->loop, &vacuum);
				run->vacuumed = true;
			}
			/* archived partitions are recorded before archive_keep expiry */
			rt_dispose_detached(run);
			if (run->archive != NULL)
				pgs_archive_finish(run->archive, run->opt->dry_run,
								   run->partitions_dropped, run->rows_deleted);
			log_cascades(run);
			rt_mark_cleaned(run, pol);
		}
		rt_dispose_detached(run);
		if (run->vacuumed)
			pgs_vacuum_complete(&vacuum);
		rt_compress_partitions(run);
	}
	PG_FINALLY();
	{
		rt_detach_end(run);
	}
	PG_END_TRY();
}

/*
 * pgs_apply_retention
 *		Enforce one policy's retention for a maintenance cycle; nonatomic
 *		when the caller may commit between steps.  SPI must be connected.
 */
void
pgs_apply_retention(PgsPolicy *pol, bool dry_run, bool nonatomic,
					bool respect_window, PgsRetentionResult *result)
{
	CleanupOptions opt;
	TableRun	run;

	memset(&opt, 0, sizeof(opt));
	opt.dry_run = dry_run;
	opt.batch_size = 10000;
	opt.nonatomic = nonatomic;
	opt.respect_window = respect_window;
	memset(&run, 0, sizeof(run));
	run.opt = &opt;
	run.started = GetCurrentTimestamp();
	run_policy(&run, pol);
	result->cutoff = run.cutoff_report;
	result->partitions_dropped = run.partitions_dropped;
	result->rows_deleted = run.rows_deleted;
	result->errors = run.errors;
	result->trimmed = run.trimmed;
	result->window_closed = run.window_closed;
	result->vacuumed = run.vacuumed;
	result->rows_cascaded = 0;
	if (run.refs != NULL)
	{
		ListCell   *lc;

		foreach(lc, run.refs->tables)
		{
			PgsRefTable *t = (PgsRefTable *) lfirst(lc);

			if (t->relid != run.relid)
				result->rows_cascaded += t->rows;
		}
	}
}

/*
 * rt_run_policies
 *		Enforce each of the policies the caller may enforce; returns the
 *		list of finished TableRuns.
 */
List *
rt_run_policies(const CleanupOptions *opt, List *policies)
{
	List	   *runs = NIL;
	ListCell   *lc;

	foreach(lc, policies)
	{
		PgsPolicy  *pol = (PgsPolicy *) lfirst(lc);
		TableRun   *run;

		if (pol->is_protected || !pol->has_retention || pol->time_column == NULL)
			continue;
		if (!pol->enabled && !OidIsValid(opt->relid))
			continue;
		if (!pgs_owns(pol->relid))
		{
			ereport(NOTICE,
					(errmsg("skipping table %s: must be its owner",
							pgs_display_name(pol->relid))));
			continue;
		}

		if (opt->respect_window && !pgs_window_open())
		{
			(void) pgs_window_skip(pol->relid, opt->dry_run);
			continue;
		}

		run = palloc0(sizeof(TableRun));
		run->opt = opt;
		run->started = GetCurrentTimestamp();
		run_policy(run, pol);
		run->finished = GetCurrentTimestamp();
		runs = lappend(runs, run);
	}
	return runs;
}

