/*-------------------------------------------------------------------------
 *
 * retention_parts.c
 *	  Retention on a range-partitioned table: each partition's fate against
 *	  the cutoff, expired partitions dropped whole (after the rows that
 *	  reference them, under on_referenced => 'cascade'), the partition that
 *	  straddles the cutoff and the default partition trimmed.  In the
 *	  procedure forms an expired partition is detached concurrently
 *	  (detach.c) and the detached tables are dropped, or archived (action
 *	  'archive'), together at the end of the table's run
 *	  (rt_dispose_detached); elsewhere it is detached or dropped under
 *	  ACCESS EXCLUSIVE on the parent, one at a time.
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
	bool		pending;		/* pending detach (someone else's) */
	PgsPartBounds bounds;		/* detach_prepare_step: the partition's */
	char	   *schema;			/* detach_partition: the partition's name */
	char	   *relname;
	TimestampTz started;		/* when its step began, for the log */
} DropStep;

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
	root.pred = rt_pred_all;
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
		rt_partition_fate(&bounds, DatumGetInt64(step->run->cutoff), &upper) != PART_DROP)
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
	if (step->referenced || step->run->archive != NULL)
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
	/* action 'archive': the detached table is moved, not dropped */
	if (step->run->archive != NULL)
	{
		pgs_archive_partition(step->child, step->parent, step->run->archive, &bounds);
		return;
	}
	ret = SPI_execute(psprintf("DROP %s %s",
							   step->foreign ? "FOREIGN TABLE" : "TABLE",
							   pgs_qualified_name(step->child)), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "DROP TABLE failed: %s", SPI_result_code_string(ret));
}

/*
 * detach_prepare_step
 *		Before an expired partition is detached concurrently: check, as
 *		drop_step does, that it is still an expired partition of this
 *		parent, delete the rows that reference it (on_referenced =>
 *		'cascade': DETACH checks that nothing references it), and record
 *		the detach (detach.c), all committed together before the detach
 *		starts.  Takes no lock that the application's reads and writes of
 *		the parent would wait for.
 */
static void
detach_prepare_step(void *arg)
{
	DropStep   *step = (DropStep *) arg;
	PgsPartBounds bounds;
	int64		upper;

	LockRelationOid(step->parent, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(step->child)) ||
		!has_superclass(step->child) ||
		get_partition_parent_compat(step->child) != step->parent)
	{
		step->gone = true;
		return;
	}
	LockRelationOid(step->child, ShareUpdateExclusiveLock);
	if (!pgs_partition_bounds(step->child, &bounds) ||
		rt_partition_fate(&bounds, DatumGetInt64(step->run->cutoff), &upper) != PART_DROP)
	{
		step->gone = true;
		return;
	}
	if (step->referenced)
	{
		pgs_references_immediate(step->run->refs, true);
		cascade_partition(step->run, step->child, false);
		pgs_references_immediate(step->run->refs, false);
	}
	step->bounds = bounds;
	rt_detach_record(step->run, step->parent, step->child, &bounds);
}

/*
 * detach_outcome
 *		What became of the concurrent detach of step's partition (result,
 *		with the error in *err): a detached table joins those disposed of
 *		at the end of the run; otherwise the record is forgotten, unless
 *		the detach is left pending, and the failure recorded.
 */
static void
detach_outcome(TableRun *run, DropStep *step, RtDetachResult result,
			   PgsLoopError *err)
{
	ErrorData  *edata;
	RtDetachedFate fate;

	if (result == RT_DETACH_DONE)
	{
		fate.archive_schema = run->archive != NULL ? run->archive->schema : NULL;
		fate.bounds = step->bounds;
		rt_detach_add(run, step->child,
					  "detached concurrently (SHARE UPDATE EXCLUSIVE on the parent)",
					  false, &fate);
		return;
	}

	/*
	 * Not detached.  Still attached, or gone (another session dropped or
	 * detached it): the record is forgotten, this run did nothing to the
	 * table.  Pending detach: the record stays, and the next run finishes
	 * the detach; no other partition of the parent can be detached until
	 * then, so the rest of the table is left for it.
	 */
	if (result != RT_DETACH_PENDING && step->schema != NULL && step->relname != NULL)
		rt_detach_forget(step->schema, step->relname);
	if (result == RT_DETACH_GONE)
	{
		rt_commit_if_allowed(run);
		return;
	}
	edata = palloc0(sizeof(ErrorData));
	edata->sqlerrcode = err->code;
	edata->message = err->message ? pstrdup(err->message) : pstrdup("unknown error");
	if (err->detail)
		edata->detail = pstrdup(err->detail);

	/*
	 * Sessions still hold the table after the retries: the other expired
	 * partitions are left to the next run without trying (as the drops do,
	 * drop_partition), and the message names the first of them.
	 */
	if (err->code == ERRCODE_LOCK_NOT_AVAILABLE)
		run->blockers = pgs_lock_holders(step->parent);
	if (run->blockers != NIL)
		edata->detail = psprintf("%s holds a lock on %s.",
								 pgs_describe_holder(linitial_int(run->blockers)),
								 pgs_display_name(step->parent));
	if (result == RT_DETACH_PENDING)
	{
		edata->detail = psprintf("%s%sThe partition is left pending detach, out of the table's queries; the next run finishes the detach and %s it.",
								 edata->detail ? edata->detail : "", edata->detail ? " " : "",
								 run->archive != NULL ? "archives" : "drops");
		/* no other partition of the parent can be detached meanwhile */
		if (run->blockers == NIL)
			run->stopped = true;
		else
			run->pending_parent = step->parent;
	}
	rt_record_error(run, step->child, STEP_DROP_PARTITION, edata, step->started);
}

/*
 * detach_partition
 *		The procedure's way out for an expired partition: DETACH PARTITION
 *		... CONCURRENTLY, the table then dropped or archived at the end of
 *		the run with the others (rt_dispose_detached).  While
 *		run->queue_detaches is set, the partition, checked and recorded,
 *		is queued instead, for the table's detaches to run together
 *		(detach_queued).
 */
static void
detach_partition(TableRun *run, DropStep *step)
{
	ErrorData  *edata = NULL;
	PgsLoopError err;
	RtDetachResult result;

	step->started = GetCurrentTimestamp();
	step->schema = get_namespace_name(get_rel_namespace(step->child));
	step->relname = get_rel_name(step->child);
	if (!pgs_run_guarded_as(step->child, detach_prepare_step, step, &edata))
	{
		rt_record_error(run, step->child, STEP_DROP_PARTITION, edata, step->started);
		return;
	}
	if (step->gone)
	{
		if (!run->queue_detaches)
			rt_commit_if_allowed(run);
		return;					/* dropped or changed by someone else */
	}
	if (run->queue_detaches)
	{
		DropStep   *queued = palloc(sizeof(DropStep));

		*queued = *step;
		run->queued = lappend(run->queued, queued);
		return;
	}

	memset(&err, 0, sizeof(err));
	result = rt_detach_concurrently(run, step->parent, step->child, NULL, &err);
	detach_outcome(run, step, result, &err);
}

/*
 * detach_queued
 *		Run the detaches detach_partition queued, their records committed
 *		first, sent together in one pipeline (pgs_loop_start_all), and call
 *		trim meanwhile: the server detaches the expired months while this
 *		backend deletes the expired rows of the month that straddles the
 *		cutoff.  The trim's transactions lock only the partitions they
 *		delete from, never the parent, whose lockers the second
 *		transaction of each detach waits for, and each commits before this
 *		backend waits for the detaches.
 *
 *		Between two detaches the pipeline checks that the first left its
 *		partition detached; if not, it makes the loopback session's later
 *		transactions read-only, so that the detaches after it fail at once,
 *		before they take or queue for a lock.  The failed one is handled as
 *		a detach run alone is, retried after the error of its first try
 *		(rt_detach_concurrently): sessions holding the table cost one wait
 *		of pgscale.lock_timeout, not one per partition.  The partitions
 *		after it are detached one at a time, or left for the next run as
 *		drop_partition leaves them (rt_detach_leave).  A call cancelled
 *		meanwhile cancels the detach running then (rt_detach_end); the ones
 *		the server has not started yet may still run, and the next run
 *		finds them in pgscale_detached, like the detach of a crashed run.
 */
static void
detach_queued(TableRun *run, void (*trim) (TableRun *run, void *arg), void *arg)
{
	List	   *queued = run->queued;
	List	   *sqls = NIL;
	ListCell   *lc;
	PgsLoopError *errs;
	bool	   *ok;
	bool		failed = false;
	int			n;
	int			i;

	run->queued = NIL;
	if (queued == NIL)
	{
		trim(run, arg);
		return;
	}
	rt_commit_if_allowed(run);
	foreach(lc, queued)
	{
		DropStep   *q = (DropStep *) lfirst(lc);

		if (sqls != NIL)
		{
			DropStep   *prev = (DropStep *) list_nth(queued, foreach_current_index(lc) - 1);

			sqls = lappend(sqls, psprintf("SELECT CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_inherits i"
										  " WHERE i.inhrelid OPERATOR(pg_catalog.=) %u::pg_catalog.oid)"
										  " THEN pg_catalog.set_config('default_transaction_read_only', 'on', false) END",
										  prev->child));
		}
		sqls = lappend(sqls, psprintf("ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY",
									  pgs_qualified_name(q->parent),
									  pgs_qualified_name(q->child)));
	}
	sqls = lappend(sqls, "RESET default_transaction_read_only");
	n = list_length(sqls);
	ok = palloc(sizeof(bool) * n);
	errs = palloc(sizeof(PgsLoopError) * n);
	pgs_loop_start_all(run->loop, sqls);
	trim(run, arg);

	/* the trim has committed: wait for the detaches */
	rt_commit_if_allowed(run);
	pgs_loop_end_all(run->loop, n, ok, errs);
	if (!ok[n - 1])
		ereport(ERROR,
				(errcode(errs[n - 1].code),
				 errmsg("could not reset the loopback connection after the detaches: %s",
						errs[n - 1].message),
				 errhint("Check the server log, and run the call again.")));
	i = 0;
	foreach(lc, queued)
	{
		DropStep   *q = (DropStep *) lfirst(lc);
		int			at = 2 * i;		/* the detach's statement */
		PgsLoopError again;

		memset(&again, 0, sizeof(again));
		if (ok[at])
			detach_outcome(run, q, RT_DETACH_DONE, &again);
		else if (!failed)
		{
			failed = true;
			detach_outcome(run, q,
						   rt_detach_concurrently(run, q->parent, q->child, &errs[at], &again),
						   &again);
		}
		else if (run->stopped || !rt_window_open(run) ||
				 (run->blockers != NIL &&
				  (run->pending_parent == q->parent ||
				   pgs_holders_remain(run->blockers, q->parent))))
		{
			/* left for the next run, as drop_partition leaves it */
			if (!run->stopped && run->blockers != NIL)
				run->deferred++;
			rt_detach_leave(run, q->parent, q->child, q->schema, q->relname);
		}
		else
			detach_outcome(run, q,
						   rt_detach_concurrently(run, q->parent, q->child, NULL, &again),
						   &again);
		i++;
	}
}

static void
drop_partition(TableRun *run, Oid parent, Oid child)
{
	DropStep	step;
	ErrorData  *edata = NULL;
	TimestampTz started = GetCurrentTimestamp();
	char	   *name = pgs_display_name(child);
	float4		reltuples;
	const char *why = NULL;

	memset(&step, 0, sizeof(step));
	step.run = run;
	step.parent = parent;
	step.child = child;
	step.referenced = run->refs != NULL &&
		(run->refs->incoming != NIL || pgs_root_table(run->refs)->selfs != NIL);

	/* 'keep': a partition that holds referenced rows is trimmed instead */
	if (step.referenced && run->refs->mode == PGS_REF_KEEP &&
		rt_referenced_rows(run, child, psprintf("ONLY %s", pgs_qualified_name(child)),
						rt_pred_all) != NULL)
	{
		rt_trim_relation(run, child);
		return;
	}

	if (run->opt->dry_run)
	{
		run->partitions_dropped++;
		if (step.referenced)
		{
			step.count_only = true;
			if (!pgs_run_guarded_as(child, drop_step, &step, &edata))
				rt_record_error(run, child, STEP_COUNT_REFERENCING, edata, started);
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
	if (run->blockers != NIL &&
		(run->pending_parent == parent || pgs_holders_remain(run->blockers, parent)))
	{
		run->deferred++;
		return;
	}

	/*
	 * Another run holds the table's detach lock: it is detaching expired
	 * partitions of the table, which a drop here would only queue behind.
	 */
	if (run->detach_busy)
	{
		if (!run->busy_noticed)
			ereport(NOTICE,
					(errmsg("pgscale left the expired partitions of %s to another run that is detaching them",
							pgs_display_name(run->relid)),
					 errdetail("Two runs of one table never detach or drop its partitions at the same time.")));
		run->busy_noticed = true;
		return;
	}
	if (rt_detach_usable(run, parent, &why))
	{
		detach_partition(run, &step);
		return;
	}

	reltuples = pgs_estimated_rows(child);
	if (!pgs_run_guarded_locking(child, parent, drop_step, &step, &edata))
	{
		if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
			run->blockers = pgs_lock_holders(parent);
		rt_record_error(run, child, STEP_DROP_PARTITION, edata, started);
		return;
	}
	if (step.gone)
		return;					/* dropped or changed by someone else */
	run->partitions_dropped++;
	if (run->archive != NULL)
		pgs_log_action(run->relid, "archive", name, 0, false, started,
					   psprintf("partition detached under ACCESS EXCLUSIVE on the parent and moved to the archive schema: %s",
								why));
	else
		pgs_log_action(run->relid, "drop_partition", name, 0, false, started,
					   psprintf("%s; dropped under ACCESS EXCLUSIVE on the parent: %s",
								step.foreign ?
								"foreign table: its definition was dropped, its rows stay on the foreign server" :
								reltuples >= 0 ?
								psprintf("about %.0f rows", (double) reltuples) : "rows unknown",
								why));
	rt_commit_if_allowed(run);
}

/* ---------- dropping or archiving the detached tables ---------- */

typedef struct DisposeStep
{
	RtDetached *d;
	PgsArchive *arch;			/* archive it there; NULL: drop it */
	bool		gone;
} DisposeStep;

/*
 * dispose_detached_step
 *		Drop one detached table, or move it into the archive schema, as its
 *		owner, after checking that it is still the table that was detached
 *		and no partition of anything (a person may have attached it again);
 *		rt_dispose_detached forgets the records of those done, together.
 */
static void
dispose_detached_step(void *arg)
{
	DisposeStep *step = (DisposeStep *) arg;
	int			ret;

	LockRelationOid(step->d->relid, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(step->d->relid)) ||
		has_superclass(step->d->relid) ||
		strcmp(pgs_display_name(step->d->relid), step->d->name) != 0)
	{
		step->gone = true;
		rt_detach_forget(step->d->schema, step->d->relname);
		return;
	}
	if (step->arch != NULL)
		pgs_archive_partition(step->d->relid, InvalidOid, step->arch,
							  &step->d->fate.bounds);
	else
	{
		ret = SPI_execute(psprintf("DROP %s %s",
								   step->d->foreign ? "FOREIGN TABLE" : "TABLE",
								   pgs_qualified_name(step->d->relid)), false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "DROP TABLE failed: %s", SPI_result_code_string(ret));
	}
}

/*
 * detached_archive
 *		Where a detached table is archived, or NULL when it is dropped.
 *		Its record decides, not the policy as it is now: a table detached
 *		to be archived is archived into the schema recorded then, even if
 *		the policy was changed to drop since (never a drop of what was
 *		meant to be kept).  A table detached to be dropped by a policy that
 *		archives now is archived too.
 */
static PgsArchive *
detached_archive(TableRun *run, RtDetached *d)
{
	if (d->fate.archive_schema == NULL)
		return d->fate.bounds.hi_unbounded ? NULL : run->archive;
	if (run->archive != NULL && strcmp(run->archive->schema, d->fate.archive_schema) == 0)
		return run->archive;
	return pgs_archive_to_schema(run->relid, run->time_column, d->fate.archive_schema);
}

/*
 * dispose_detached
 *		What becomes of an expired table that left its parent: dropped or
 *		archived.  The one place that decides it.  Runs inside the
 *		transaction of rt_dispose_detached.
 */
static bool
dispose_detached(TableRun *run, RtDetached *d, PgsArchive *arch, ErrorData **edata)
{
	DisposeStep step;

	step.d = d;
	step.arch = arch;
	step.gone = false;
	if (!pgs_run_guarded_as(d->relid, dispose_detached_step, &step, edata))
		return false;
	return !step.gone;
}

/*
 * rt_dispose_detached
 *		At the end of a table's run: drop or archive every table the run
 *		detached (or found detached by an earlier run), in one transaction,
 *		so that the commit scans the buffer pool once however many months
 *		expired.  A table that cannot be disposed of now (its lock timed
 *		out, say) keeps its record, and the next run finishes it.
 */
void
rt_dispose_detached(TableRun *run)
{
	List	   *done = NIL;
	ListCell   *lc;
	TimestampTz started = GetCurrentTimestamp();

	if (run->detached == NIL)
		return;
	foreach(lc, run->detached)
	{
		RtDetached *d = (RtDetached *) lfirst(lc);
		ErrorData  *edata = NULL;
		PgsArchive *arch = detached_archive(run, d);

		if (dispose_detached(run, d, arch, &edata))
		{
			d->archived_to = arch != NULL ? arch->schema : NULL;
			done = lappend(done, d);
		}
		else if (edata != NULL)
		{
			edata->detail = psprintf("%s%sThe table was detached; the next run %s it.",
									 edata->detail ? edata->detail : "",
									 edata->detail ? " " : "",
									 arch != NULL ? "archives" : "drops");
			d->error = edata;
		}
	}
	/* their records go in the transaction that drops or archives them */
	rt_detach_forget_list(done);
	foreach(lc, done)
	{
		RtDetached *d = (RtDetached *) lfirst(lc);

		run->partitions_dropped++;
		if (d->archived_to != NULL)
			pgs_log_action(run->relid, "archive", d->name, 0, false, started,
						   psprintf("partition %s, moved to the archive schema %s %s",
									d->how, quote_identifier(d->archived_to),
									d->earlier ? "now" : "at the end of the table's run"));
		else
			pgs_log_action(run->relid, "drop_partition", d->name, 0, false, started,
						   psprintf("%s; %s, %s",
									d->foreign ?
									"foreign table: its definition was dropped, its rows stay on the foreign server" :
									d->reltuples >= 0 ?
									psprintf("about %.0f rows", (double) d->reltuples) : "rows unknown",
									d->how,
									d->earlier ? "dropped now" : "dropped at the end of the table's run"));
	}
	rt_commit_if_allowed(run);
	foreach(lc, run->detached)
	{
		RtDetached *d = (RtDetached *) lfirst(lc);

		if (d->error != NULL)
			rt_record_error(run, d->relid, STEP_DROP_PARTITION, d->error, started);
	}
	run->detached = NIL;
}

/* ---------- partitioned tables ---------- */

/*
 * rt_partition_fate
 *		Compare a partition's range with the cutoff.  *upper receives the
 *		upper bound of a partition to drop, to drop the oldest first.
 */
PartitionFate
rt_partition_fate(PgsPartBounds *bounds, int64 cutoff, int64 *upper)
{
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
 * rt_has_expired_partition
 *		Whether parent, range-partitioned on the time column, has a
 *		partition wholly older than the cutoff.
 */
bool
rt_has_expired_partition(TableRun *run, Oid parent)
{
	char	   *keycol = pgs_range_partition_column(parent);
	PgsPartition *parts;
	int			nparts;
	int			i;

	if (keycol == NULL || strcmp(keycol, run->time_column) != 0)
		return false;
	nparts = pgs_read_partitions(parent, &parts);
	for (i = 0; i < nparts; i++)
	{
		int64		upper;

		if (rt_partition_fate(&parts[i].bounds, DatumGetInt64(run->cutoff), &upper) == PART_DROP)
			return true;
	}
	return false;
}

/* trim each partition of arg, a list of OIDs (detach_queued's trim) */
static void
trim_partitions(TableRun *run, void *arg)
{
	ListCell   *lc;

	foreach(lc, (List *) arg)
		rt_process_relation(run, lfirst_oid(lc));
}

/* drop (or detach) each partition of expired, oldest first */
static void
drop_expired(TableRun *run, Oid parent, List *expired)
{
	ListCell   *lc;

	foreach(lc, expired)
	{
		if (run->stopped || !rt_window_open(run))
			break;
		drop_partition(run, parent, ((ExpiredPartition *) lfirst(lc))->relid);
	}
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
	List	   *trims = NIL;
	const char *why;
	int			i;

	for (i = 0; i < nparts; i++)
	{
		Oid			child = parts[i].relid;
		int64		upper = 0;

		if (!by_time)
		{
			rt_process_relation(run, child);
			continue;
		}
		switch (rt_partition_fate(&parts[i].bounds, DatumGetInt64(run->cutoff), &upper))
		{
			case PART_KEEP:
				break;
			case PART_TRIM:
				trims = lappend_oid(trims, child);
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

	/*
	 * The expired partitions go after the straddling and default ones are
	 * trimmed; detached concurrently, they are detached while those are
	 * trimmed (detach_queued).
	 */
	if (expired != NIL && !run->opt->dry_run && rt_detach_possible(run, parent, &why))
	{
		run->queue_detaches = true;
		drop_expired(run, parent, expired);
		run->queue_detaches = false;
		detach_queued(run, trim_partitions, trims);
	}
	else
	{
		trim_partitions(run, trims);
		drop_expired(run, parent, expired);
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
 * rt_process_relation
 *		Enforce the cutoff on one relation of the managed table's tree.
 */
void
rt_process_relation(TableRun *run, Oid relid)
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
			rt_trim_relation(run, relid);
			/* children of old-style (INHERITS) partitioning */
			if (has_subclass(relid))
			{
				ListCell   *lc;

				foreach(lc, find_inheritance_children(relid, NoLock))
					rt_process_relation(run, lfirst_oid(lc));
			}
			break;
		default:
			/* dropped meanwhile, or nothing that holds rows */
			break;
	}
}

