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

PG_FUNCTION_INFO_V1(pgscale_cleanup);
PG_FUNCTION_INFO_V1(pgscale_cleanup_proc);

/* The largest "days" accepted: as for retention, 5000 years. */
#define PGS_MAX_DAYS (5000 * 366)

/* What the caller asked for. */
typedef struct CleanupOptions
{
	bool		dry_run;
	bool		have_days;
	int			days;
	Oid			relid;			/* InvalidOid: every policy */
	int			batch_size;
	bool		nonatomic;		/* may commit between steps */
} CleanupOptions;

/* One policy being enforced. */
typedef struct TableRun
{
	const CleanupOptions *opt;
	Oid			relid;
	const char *time_column;
	Oid			cutoff_type;	/* TIMESTAMPOID or TIMESTAMPTZOID */
	Datum		cutoff;
	TimestampTz cutoff_report;
	int			partitions_dropped;
	int64		rows_deleted;
	bool		failed;
	bool		stopped;		/* a step timed out: leave the table */
	PgsRefs    *refs;			/* foreign keys that reference the table */
	List	   *blockers;		/* sessions a partition drop gave way to */
	int			deferred;		/* expired partitions left for them */
	List	   *errors;			/* messages of the steps that failed */
	List	   *trimmed;		/* PgsTrimmed of each relation deleted from */
	TimestampTz started;
	TimestampTz finished;
} TableRun;

/* Where a partition stands against the cutoff. */
typedef enum PartitionFate
{
	PART_KEEP,					/* every row is newer than the cutoff */
	PART_TRIM,					/* straddles the cutoff, or is the default */
	PART_DROP					/* every row is older: drop it whole */
} PartitionFate;

typedef struct ExpiredPartition
{
	Oid			relid;
	int64		upper;			/* upper bound, as a timestamp */
} ExpiredPartition;

static void process_relation(TableRun *run, Oid relid);

/*
 * set_synchronous_commit
 *		Set synchronous_commit for the current transaction only.
 */
static void
set_synchronous_commit(bool on)
{
	(void) set_config_option("synchronous_commit", on ? "on" : "off",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * commit_if_allowed
 *		In the procedure, end the transaction after a step so that locks
 *		are released and no transaction grows long.
 *
 *		These intermediate commits need not wait for the WAL flush: a crash
 *		can only undo the last few batches, which the next run deletes
 *		again, and the procedure's last commit is synchronous, which makes
 *		every earlier one durable too.
 */
static void
commit_if_allowed(TableRun *run)
{
	if (run->opt->nonatomic)
	{
		pgs_spi_commit();
		set_synchronous_commit(false);
	}
}

/* The steps of a run that can fail, and what each did, for pgscale_log. */
typedef enum RunStep
{
	STEP_PREPARE_DELETE,
	STEP_DELETE,
	STEP_COUNT_REFERENCING,
	STEP_DROP_PARTITION,
	STEP_CHECK_REFERENCES,
	STEP_APPLY_POLICY
} RunStep;

static const char *const run_step_what[] = {
	[STEP_PREPARE_DELETE] = "prepare to delete from",
	[STEP_DELETE] = "delete expired rows from",
	[STEP_COUNT_REFERENCING] = "count the rows referencing",
	[STEP_DROP_PARTITION] = "drop expired partition",
	[STEP_CHECK_REFERENCES] = "check the foreign keys referencing",
	[STEP_APPLY_POLICY] = "apply the retention of"
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
	}
}

/*
 * record_error
 *		A step failed (after its retries): tell the caller and keep a
 *		record, then go on with the rest.
 */
static void
record_error(TableRun *run, Oid object, RunStep kind, ErrorData *edata,
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
		commit_if_allowed(run);
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
 * trim_relation
 *		Delete the expired rows of a plain table or leaf partition in
 *		batches (or count them, in a dry run).
 */
static void
trim_relation(TableRun *run, Oid relid)
{
	TrimStep	step;
	ErrorData  *edata = NULL;
	TimestampTz started = GetCurrentTimestamp();
	int64		total = 0;
	int64		log_id = 0;

	memset(&step, 0, sizeof(step));
	step.run = run;
	step.relid = relid;

	if (!pgs_run_guarded_as(relid, trim_begin_step, &step, &edata))
	{
		record_error(run, relid, STEP_PREPARE_DELETE, edata, started);
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
		if (!pgs_run_guarded_as(relid, trim_batch_step, &step, &edata))
		{
			if (log_id != 0)
				pgs_log_update(log_id, total, started,
							   "stopped by the error that follows");
			else if (total > 0)
				pgs_log_action(run->relid, "delete", pgs_display_name(relid),
							   total, true, started,
							   "stopped by the error that follows");
			record_error(run, relid, STEP_DELETE, edata, started);
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
				log_id = pgs_log_action(run->relid, "delete",
										pgs_display_name(relid), total, true,
										started, "in progress");
			else
				pgs_log_update(log_id, total, started, "in progress");
		}
		if (!step.done)
			commit_if_allowed(run);
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

		t->relid = relid;
		t->rows = total;
		run->trimmed = lappend(run->trimmed, t);
		if (log_id != 0)
			pgs_log_update(log_id, total, started,
						   pgs_batch_describe(step.batch));
		else
			pgs_log_action(run->relid, "delete", pgs_display_name(relid), total,
						   true, started,
						   pgs_batch_describe(step.batch));
	}
	commit_if_allowed(run);
}

/* ---------- dropping whole partitions ---------- */

typedef struct DropStep
{
	TableRun   *run;
	Oid			parent;
	Oid			child;
	bool		gone;			/* done by someone else meanwhile */
	bool		foreign;		/* a foreign table: only its definition goes */
	bool		referenced;		/* foreign keys reference the parent */
	bool		count_only;		/* dry run: count what the cascade deletes */
} DropStep;

static void pred_all(StringInfo buf, const char *alias, void *arg);
static char *referenced_rows(TableRun *run, Oid relid, const char *from,
							 PgsRowPred pred);

/*
 * cascade_partition
 *		With on_referenced = 'cascade': delete (or, in a dry run, count) the
 *		rows that reference the rows of an expired partition, referencing
 *		tables first, before the partition goes.
 */
static void
cascade_partition(TableRun *run, Oid child, bool count_only)
{
	PgsRefs    *refs = run->refs;
	PgsRootRows root;
	ListCell   *lc;

	if (refs->mode != PGS_REF_CASCADE || refs->blocked != NULL)
		return;
	root.from = psprintf("ONLY %s", pgs_qualified_name(child));
	root.pred = pred_all;
	root.arg = NULL;
	foreach(lc, refs->tables)
	{
		PgsRefTable *t = (PgsRefTable *) lfirst(lc);

		/* the partition's own rows go with it, unless they have descendants */
		if (t->relid == refs->root && t->selfs == NIL)
			continue;
		if (count_only)
			t->rows += pgs_spi_int8(pgs_references_count_sql(refs, t, &root),
									0, NULL, NULL, NULL, true);
		else
		{
			if (SPI_execute(pgs_references_delete_sql(refs, t, &root), false, 0) != SPI_OK_DELETE)
				elog(ERROR, "cascade from %s failed", pgs_display_name(child));
			if (t->relid != refs->root)
				t->rows += (int64) SPI_processed;
		}
	}
}

static PartitionFate partition_fate(TableRun *run, PgsPartBounds *bounds,
									int64 *upper);

/*
 * drop_step
 *		Drop one expired partition.  Another cleanup (pg_cron's and the
 *		worker's can overlap) may have dropped it since the partitions were
 *		read, or a person may have detached it or attached it again with
 *		other bounds: after the locks are held, the partition is checked
 *		again and left alone unless it is still an expired partition of
 *		this parent.  A foreign table is dropped with DROP FOREIGN TABLE,
 *		which removes its definition only; its rows stay on the foreign
 *		server.
 */
static void
drop_step(void *arg)
{
	DropStep   *step = (DropStep *) arg;
	PgsPartBounds bounds;
	int64		upper;
	int			ret;

	/*
	 * Dropping a partition needs ACCESS EXCLUSIVE on its parent.  Take it
	 * first, then the partition's, which is the order queries lock them
	 * in; taking the partition's first would invite deadlocks with readers.
	 * Acquiring a lock processes invalidations, so the catalog lookups
	 * below see whatever was committed before it was granted.
	 */
	LockRelationOid(step->parent, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(step->child)) ||
		!has_superclass(step->child) ||
		get_partition_parent_compat(step->child) != step->parent)
	{
		step->gone = true;
		return;
	}
	LockRelationOid(step->child, AccessExclusiveLock);
	if (!pgs_partition_bounds(step->child, &bounds) ||
		partition_fate(step->run, &bounds, &upper) != PART_DROP)
	{
		step->gone = true;
		return;
	}
	if (step->count_only)
	{
		cascade_partition(step->run, step->child, true);
		return;
	}
	step->foreign = get_rel_relkind(step->child) == RELKIND_FOREIGN_TABLE;

	/*
	 * A partition of a table that foreign keys reference cannot be dropped
	 * while attached: the rows that reference it go first (cascade), then
	 * it is detached, which checks that nothing references it any more.
	 */
	if (step->referenced)
	{
		pgs_references_immediate(step->run->refs, true);
		cascade_partition(step->run, step->child, false);
		ret = SPI_execute(psprintf("ALTER TABLE %s DETACH PARTITION %s",
								   pgs_qualified_name(step->parent),
								   pgs_qualified_name(step->child)), false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "DETACH PARTITION failed: %s", SPI_result_code_string(ret));
		pgs_references_immediate(step->run->refs, false);
	}
	ret = SPI_execute(psprintf("DROP %s %s",
							   step->foreign ? "FOREIGN TABLE" : "TABLE",
							   pgs_qualified_name(step->child)), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "DROP TABLE failed: %s", SPI_result_code_string(ret));
}

static void
drop_partition(TableRun *run, Oid parent, Oid child)
{
	DropStep	step;
	ErrorData  *edata = NULL;
	TimestampTz started = GetCurrentTimestamp();
	char	   *name = pgs_display_name(child);
	float4		reltuples;

	memset(&step, 0, sizeof(step));
	step.run = run;
	step.parent = parent;
	step.child = child;
	step.referenced = run->refs != NULL &&
		(run->refs->incoming != NIL || pgs_root_table(run->refs)->selfs != NIL);

	/* 'keep': a partition that holds referenced rows is trimmed instead */
	if (step.referenced && run->refs->mode == PGS_REF_KEEP &&
		referenced_rows(run, child, psprintf("ONLY %s", pgs_qualified_name(child)),
						pred_all) != NULL)
	{
		trim_relation(run, child);
		return;
	}

	if (run->opt->dry_run)
	{
		run->partitions_dropped++;
		if (step.referenced)
		{
			step.count_only = true;
			if (!pgs_run_guarded_as(child, drop_step, &step, &edata))
				record_error(run, child, STEP_COUNT_REFERENCING, edata, started);
		}
		if (get_rel_relkind(child) == RELKIND_FOREIGN_TABLE)
			ereport(NOTICE,
					(errmsg("expired partition %s is a foreign table: cleanup would drop it with DROP FOREIGN TABLE",
							name),
					 errdetail("Only the table's definition is dropped; its rows stay on the foreign server.")));
		return;
	}

	/*
	 * A drop of this table already gave way to sessions holding its
	 * parent: while one of them still does, the next drop would only queue
	 * behind it and stall the application again.  Leave it for the next
	 * run.
	 */
	if (run->blockers != NIL && pgs_holders_remain(run->blockers, parent))
	{
		run->deferred++;
		return;
	}

	reltuples = pgs_estimated_rows(child);
	if (!pgs_run_guarded_locking(child, parent, drop_step, &step, &edata))
	{
		if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
			run->blockers = pgs_lock_holders(parent);
		record_error(run, child, STEP_DROP_PARTITION, edata, started);
		return;
	}
	if (step.gone)
		return;					/* dropped or changed by someone else */
	run->partitions_dropped++;
	pgs_log_action(run->relid, "drop_partition", name, 0, false, started,
				   step.foreign ?
				   "foreign table: its definition was dropped, its rows stay on the foreign server" :
				   reltuples >= 0 ?
				   psprintf("about %.0f rows", (double) reltuples) : NULL);
	commit_if_allowed(run);
}

/* ---------- partitioned tables ---------- */

/*
 * partition_fate
 *		Compare a partition's range with the cutoff.  *upper receives the
 *		upper bound of a partition to drop, to drop the oldest first.
 */
static PartitionFate
partition_fate(TableRun *run, PgsPartBounds *bounds, int64 *upper)
{
	int64		cutoff = DatumGetInt64(run->cutoff);

	if (bounds->is_default || !bounds->is_range)
		return PART_TRIM;
	if (!bounds->hi_unbounded && bounds->hi <= cutoff)
	{
		*upper = bounds->hi;
		return PART_DROP;
	}
	if (!bounds->lo_unbounded && bounds->lo >= cutoff)
		return PART_KEEP;
	return PART_TRIM;
}

static int
compare_expired(const ListCell *a, const ListCell *b)
{
	ExpiredPartition *pa = (ExpiredPartition *) lfirst(a);
	ExpiredPartition *pb = (ExpiredPartition *) lfirst(b);

	if (pa->upper != pb->upper)
		return pa->upper < pb->upper ? -1 : 1;
	return 0;
}

/*
 * process_partitioned
 *		Enforce the cutoff on a partitioned table: when it is partitioned
 *		by range on the time column, keep the partitions wholly inside the
 *		retention window untouched, trim the straddling and default ones,
 *		then drop the expired ones, oldest first.  Partitioned otherwise
 *		(by tenant, say), every partition is processed in turn.
 */
static void
process_partitioned(TableRun *run, Oid parent)
{
	char	   *keycol = pgs_range_partition_column(parent);
	bool		by_time = keycol != NULL && strcmp(keycol, run->time_column) == 0;
	PgsPartition *parts;
	int			nparts = pgs_read_partitions(parent, &parts);
	List	   *expired = NIL;
	ListCell   *lc;
	int			i;

	for (i = 0; i < nparts; i++)
	{
		Oid			child = parts[i].relid;
		int64		upper = 0;

		if (!by_time)
		{
			process_relation(run, child);
			continue;
		}
		switch (partition_fate(run, &parts[i].bounds, &upper))
		{
			case PART_KEEP:
				break;
			case PART_TRIM:
				process_relation(run, child);
				break;
			case PART_DROP:
				{
					ExpiredPartition *ep = palloc(sizeof(ExpiredPartition));

					ep->relid = child;
					ep->upper = upper;
					expired = lappend(expired, ep);
				}
				break;
		}
	}

	list_sort(expired, compare_expired);
	foreach(lc, expired)
	{
		if (run->stopped)
			break;
		drop_partition(run, parent, ((ExpiredPartition *) lfirst(lc))->relid);
	}
	if (run->deferred > 0)
	{
		ereport(WARNING,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("pgscale left %d more expired partitions of %s for the next run",
						run->deferred, pgs_display_name(parent)),
				 errdetail("%s still holds a lock on the table.",
						   pgs_describe_holder(linitial_int(run->blockers))),
				 errhint("Cleanup gives way to long transactions instead of stalling the queries behind them; "
						 "the next run drops them.")));
		run->deferred = 0;
	}
	run->blockers = NIL;
}

/*
 * process_relation
 *		Enforce the cutoff on one relation of the managed table's tree.
 */
static void
process_relation(TableRun *run, Oid relid)
{
	CHECK_FOR_INTERRUPTS();
	if (run->stopped)
		return;

	switch (get_rel_relkind(relid))
	{
		case RELKIND_PARTITIONED_TABLE:
			process_partitioned(run, relid);
			break;
		case RELKIND_RELATION:
		case RELKIND_FOREIGN_TABLE:
			trim_relation(run, relid);
			/* children of old-style (INHERITS) partitioning */
			if (has_subclass(relid))
			{
				ListCell   *lc;

				foreach(lc, find_inheritance_children(relid, NoLock))
					process_relation(run, lfirst_oid(lc));
			}
			break;
		default:
			/* dropped meanwhile, or nothing that holds rows */
			break;
	}
}

/* ---------- one policy ---------- */

/*
 * compute_cutoff
 *		Fix the cutoff of a run: for a date column the day "span" ago
 *		(d < current_date - N days is expired), for timestamp columns
 *		localtimestamp - span, for timestamptz now() - span.
 */
static void
compute_cutoff(TableRun *run, Oid coltype, Interval *span)
{
	Datum		base;

	switch (coltype)
	{
		case DATEOID:
			base = DirectFunctionCall1(date_timestamp,
									   DateADTGetDatum(GetSQLCurrentDate()));
			run->cutoff_type = TIMESTAMPOID;
			run->cutoff = DirectFunctionCall2(timestamp_mi_interval, base,
											  IntervalPGetDatum(span));
			break;
		case TIMESTAMPOID:
			base = TimestampGetDatum(GetSQLLocalTimestamp(-1));
			run->cutoff_type = TIMESTAMPOID;
			run->cutoff = DirectFunctionCall2(timestamp_mi_interval, base,
											  IntervalPGetDatum(span));
			break;
		default:
			base = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
			run->cutoff_type = TIMESTAMPTZOID;
			run->cutoff = DirectFunctionCall2(timestamptz_mi_interval, base,
											  IntervalPGetDatum(span));
			break;
	}
	if (run->cutoff_type == TIMESTAMPOID)
		run->cutoff_report = DatumGetTimestampTz(DirectFunctionCall1(timestamp_timestamptz,
																	 run->cutoff));
	else
		run->cutoff_report = DatumGetTimestampTz(run->cutoff);
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
	compute_cutoff(step->run, coltype, &step->span);
	step->run->refs = pgs_read_references(step->run->relid, step->pol->on_referenced);
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
static void
pred_all(StringInfo buf, const char *alias, void *arg)
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
 * referenced_rows
 *		Whether rows of "from" (all of them with pred_all, the expired ones
 *		with pred_expired) are referenced by rows that stay; the message
 *		saying through what, or NULL.  Runs as the table's owner.
 */
static char *
referenced_rows(TableRun *run, Oid relid, const char *from, PgsRowPred pred)
{
	RefCheckStep step;
	ErrorData  *edata = NULL;

	step.run = run;
	step.from = from;
	step.pred = pred;
	step.found = NULL;
	if (!pgs_run_guarded_as(relid, ref_check_step, &step, &edata))
	{
		record_error(run, relid, STEP_CHECK_REFERENCES, edata,
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
	found = referenced_rows(run, run->relid, pgs_qualified_name(run->relid),
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
		commit_if_allowed(run);
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
	commit_if_allowed(run);
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

	run->relid = pol->relid;
	run->time_column = pol->time_column;
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
		record_error(run, pol->relid, STEP_APPLY_POLICY, edata,
					 GetCurrentTimestamp());
		return;
	}
	if (blocked_by_references(run, pol))
		return;
	process_relation(run, pol->relid);
	log_cascades(run);
}

/*
 * pgs_apply_retention
 *		Enforce one policy's retention for a maintenance cycle; nonatomic
 *		when the caller may commit between steps.  SPI must be connected.
 */
void
pgs_apply_retention(PgsPolicy *pol, bool dry_run, bool nonatomic,
					PgsRetentionResult *result)
{
	CleanupOptions opt;
	TableRun	run;

	memset(&opt, 0, sizeof(opt));
	opt.dry_run = dry_run;
	opt.batch_size = 10000;
	opt.nonatomic = nonatomic;
	memset(&run, 0, sizeof(run));
	run.opt = &opt;
	run.started = GetCurrentTimestamp();
	run_policy(&run, pol);
	result->cutoff = run.cutoff_report;
	result->partitions_dropped = run.partitions_dropped;
	result->rows_deleted = run.rows_deleted;
	result->errors = run.errors;
	result->trimmed = run.trimmed;
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
 * run_policies
 *		Enforce each of the policies the caller may enforce; returns the
 *		list of finished TableRuns.
 */
static List *
run_policies(const CleanupOptions *opt, List *policies)
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

		run = palloc0(sizeof(TableRun));
		run->opt = opt;
		run->started = GetCurrentTimestamp();
		run_policy(run, pol);
		run->finished = GetCurrentTimestamp();
		runs = lappend(runs, run);
	}
	return runs;
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
		set_synchronous_commit(false);
		pgs_begin_step_timeouts();
	}

	PG_TRY();
	{
		runs = run_policies(opt, policies);
	}
	PG_FINALLY();
	{
		pgs_end_step_timeouts();
	}
	PG_END_TRY();

	if (!opt->dry_run)
		pgs_log_prune();
	if (opt->nonatomic)
	{
		set_synchronous_commit(true);
		pgs_spi_commit();
	}
	return runs;
}

/*
 * read_options
 *		Check and collect the arguments common to the function and the
 *		procedure: (dry_run, days, relation, batch_size).
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

		ereport(NOTICE,
				(errmsg("%s: %d partitions dropped, " INT64_FORMAT " rows deleted%s",
						pgs_display_name(run->relid),
						run->partitions_dropped, run->rows_deleted,
						opt.dry_run ? " (dry run)" : ""),
				 errdetail("Cutoff %s, done in %s.",
						   timestamptz_to_str(run->cutoff_report),
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   run_duration(run))))));
		if (run->refs != NULL)
		{
			ListCell   *lc2;

			foreach(lc2, run->refs->tables)
			{
				PgsRefTable *t = (PgsRefTable *) lfirst(lc2);

				if (t->relid == run->relid || t->rows == 0)
					continue;
				ereport(NOTICE,
						(errmsg("%s: " INT64_FORMAT " rows deleted%s, through constraint \"%s\"",
								pgs_display_name(t->relid), t->rows,
								opt.dry_run ? " (dry run)" : "", t->via->conname)));
			}
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}
