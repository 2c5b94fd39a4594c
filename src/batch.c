/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Deleting the expired rows of one table (a plain table, or one
 *	  partition) in batches that never rescan what earlier batches passed,
 *	  so that a whole purge costs about one pass over the table.
 *
 *	  Two strategies, chosen per table:
 *
 *	  - "tid": a cursor over the heap.  Each batch deletes the expired
 *		rows of the next run of blocks (a TID range scan reads just those),
 *		sized to hold about batch_size expired rows.  When the cursor
 *		reaches the end, the pages holding rows written by transactions
 *		that were still running when the run began (an update may have
 *		moved an expired row behind the cursor) are found by reading tuple
 *		headers, and only those are deleted from again: the result is exact
 *		for about one pass over the table.  Needs TID range scans (14+)
 *		and a heap of its own.
 *
 *		A row another transaction holds locked (SELECT ... FOR UPDATE, an
 *		update in progress) does not hold up the table: a batch that waits
 *		for a row lock longer than the lock timeout is done again locking
 *		its rows with SKIP LOCKED, and the rows it skipped are come back to
 *		at the end, with a DELETE that waits for them (under the lock
 *		timeout) and so follows a row to its new version if it was updated,
 *		followed by another look at the pages that transactions of the run's
 *		time wrote to.  Rows still locked then are left for the next run and
 *		reported: one held row lock costs one row, never the table.
 *
 *	  - "time range": each batch deletes the rows up to the batch_size-th
 *		next value of the time column (found through an index when there
 *		is one).  For tables whose ctid means nothing on the coordinator,
 *		such as Citus distributed tables (sharded by tenant), foreign
 *		tables, and servers without TID range scans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "optimizer/plancat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "pgscale.h"
#include "catalog.h"
#include "batch.h"
#include "archive.h"

/* ---------- "tid" strategy ---------- */

#ifdef PGSCALE_HAVE_TID_RANGE_SCAN

/* A run of heap blocks [lo, hi). */
typedef struct BlockRun
{
	BlockNumber lo;
	BlockNumber hi;
} BlockRun;

/* "alias.col < $n": a row is expired (arg: PredArg) */
typedef struct PredArg
{
	PgsBatchState *state;
	int			param;			/* the cutoff's parameter number */
} PredArg;

static void
pred_expired(StringInfo buf, const char *alias, void *arg)
{
	PredArg    *pa = (PredArg *) arg;

	appendStringInfo(buf, "%s.%s OPERATOR(pg_catalog.<) $%d", alias,
					 pa->state->qcolumn, pa->param);
}

/*
 * The rows of the batch, locked: "alias.ctid = ANY ($1)", inside the run
 * of blocks [$2, $3) that holds them.  The range is what lets the planner
 * read just those blocks (a TID range scan) where the statement joins the
 * batch's rows to a referencing table: it costs a TID list as one random
 * page per row, and with thousands of rows it would rather read a whole
 * index of the table, once per batch.
 */
static void
pred_batch(StringInfo buf, const char *alias, void *arg)
{
	appendStringInfo(buf, "%s.ctid OPERATOR(pg_catalog.>=) $2"
					 " AND %s.ctid OPERATOR(pg_catalog.<) $3"
					 " AND %s.ctid OPERATOR(pg_catalog.=) ANY ($1)",
					 alias, alias, alias);
}

/* ... AND the 'keep' filter */
static void
append_expired_kept(StringInfo buf, PgsBatchState *state, const char *alias,
					int param)
{
	PredArg		pa = {state, param};

	pred_expired(buf, alias, &pa);
	pgs_references_append_keep(buf, state->refs, alias, pred_expired, &pa);
}

/* expired, and not kept by 'keep' (arg: PredArg) */
static void
pred_expired_kept(StringInfo buf, const char *alias, void *arg)
{
	PredArg    *pa = (PredArg *) arg;

	append_expired_kept(buf, pa->state, alias, pa->param);
}

/*
 * fk_prepare
 *		With foreign keys to follow, a batch first locks its expired rows
 *		(SKIP LOCKED), then deletes, table by table, referencing tables
 *		first, the rows that go with them (one DELETE each), the batch's
 *		rows last.
 */
static void
fk_prepare(PgsBatchState *state)
{
	StringInfoData buf;
	PgsRootRows root;
	ListCell   *lc;
	char	   *only = psprintf("ONLY %s", state->qualname);

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT b.ctid FROM %s b"
					 " WHERE b.ctid OPERATOR(pg_catalog.>=) $1"
					 " AND b.ctid OPERATOR(pg_catalog.<) $2 AND ",
					 only);
	append_expired_kept(&buf, state, "b", 3);
	state->locked_sql = pstrdup(buf.data);
	appendStringInfoString(&buf, " FOR UPDATE SKIP LOCKED");
	state->fk_select_sql = buf.data;

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT b.ctid FROM %s b"
					 " WHERE b.ctid OPERATOR(pg_catalog.=) ANY ($1) AND ", only);
	append_expired_kept(&buf, state, "b", 2);
	state->left_sql = pstrdup(buf.data);
	appendStringInfoString(&buf, " FOR UPDATE");
	state->fk_wait_sql = pstrdup(buf.data);
	appendStringInfoString(&buf, " SKIP LOCKED");
	state->fk_skip_sql = buf.data;

	root.from = only;
	root.pred = pred_batch;
	root.arg = NULL;
	state->fk_delete_sql = NIL;
	foreach(lc, state->refs->tables)
		state->fk_delete_sql = lappend(state->fk_delete_sql,
									   pgs_references_delete_sql(state->refs,
																 (PgsRefTable *) lfirst(lc),
																 &root));
}

/*
 * fk_delete_rows
 *		Delete the locked rows in "rows" (a tid[] Datum) and what goes with
 *		them; returns the rows of this relation deleted (with its own
 *		descendants through self-references).
 */
static int64
fk_delete_rows(PgsBatchState *state, Datum rows, ItemPointer lo, ItemPointer hi)
{
	Oid			argtypes[3] = {TIDARRAYOID, TIDOID, TIDOID};
	Datum		values[3] = {rows, PointerGetDatum(lo), PointerGetDatum(hi)};
	ListCell   *lc;
	ListCell   *lc2;
	int64		deleted = 0;

	forboth(lc, state->refs->tables, lc2, state->fk_delete_sql)
	{
		PgsRefTable *t = (PgsRefTable *) lfirst(lc);
		int			ret;

		ret = SPI_execute_with_args((char *) lfirst(lc2), 3, argtypes, values,
									NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "delete from %s failed: %s", pgs_display_name(t->relid),
				 SPI_result_code_string(ret));
		if (t->relid == state->refs->root)
			deleted += (int64) SPI_processed;
		else
			t->rows += (int64) SPI_processed;
	}
	return deleted;
}

/*
 * tids_of_result
 *		The ctids a query returned, as a tid[] Datum, and the run of blocks
 *		that holds them: *lo is the first of them, *hi the first TID of the
 *		block after the last one's.
 */
static Datum
tids_of_result(ItemPointer lo, ItemPointer hi)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	uint64		i;
	int			n = 0;
	BlockNumber maxblock = 0;

	ItemPointerSet(lo, MaxBlockNumber, MaxOffsetNumber);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  1, &isnull);

		if (!isnull)
		{
			ItemPointer tid = palloc(sizeof(ItemPointerData));

			ItemPointerCopy((ItemPointer) DatumGetPointer(d), tid);
			elems[n++] = PointerGetDatum(tid);
			if (ItemPointerCompare(tid, lo) < 0)
				ItemPointerCopy(tid, lo);
			maxblock = Max(maxblock, ItemPointerGetBlockNumberNoCheck(tid));
		}
	}
	/* (the heap cannot reach MaxBlockNumber: maxblock + 1 is a block) */
	ItemPointerSet(hi, maxblock + 1, 0);
	return PointerGetDatum(construct_array(elems, n, TIDOID,
										   sizeof(ItemPointerData), false,
										   TYPALIGN_SHORT));
}

static void
tid_prepare(PgsBatchState *state)
{
	Relation	rel;
	int32		width;
	double		rows_per_page;
	Snapshot	snap;

	/*
	 * $1 first TID of the run of blocks, $2 first TID past it, $3 cutoff.
	 * A TID range scan reads just those blocks.
	 */
	state->plain_sql = psprintf("DELETE FROM ONLY %s"
								" WHERE ctid OPERATOR(pg_catalog.>=) $1"
								" AND ctid OPERATOR(pg_catalog.<) $2"
								" AND %s OPERATOR(pg_catalog.<) $3",
								state->qualname, state->qcolumn);
	state->batch_sql = psprintf("DELETE FROM ONLY %s"
								" WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
								"SELECT ctid FROM ONLY %s"
								" WHERE ctid OPERATOR(pg_catalog.>=) $1"
								" AND ctid OPERATOR(pg_catalog.<) $2"
								" AND %s OPERATOR(pg_catalog.<) $3"
								" FOR UPDATE SKIP LOCKED))"
								" AND %s OPERATOR(pg_catalog.<) $3",
								state->qualname, state->qualname,
								state->qcolumn, state->qcolumn);
	state->locked_sql = psprintf("SELECT ctid FROM ONLY %s"
								 " WHERE ctid OPERATOR(pg_catalog.>=) $1"
								 " AND ctid OPERATOR(pg_catalog.<) $2"
								 " AND %s OPERATOR(pg_catalog.<) $3",
								 state->qualname, state->qcolumn);
	/* $1 tid[], $2 cutoff */
	state->wait_sql = psprintf("DELETE FROM ONLY %s"
							   " WHERE ctid OPERATOR(pg_catalog.=) ANY ($1)"
							   " AND %s OPERATOR(pg_catalog.<) $2",
							   state->qualname, state->qcolumn);
	state->skip_sql = psprintf("DELETE FROM ONLY %s"
							   " WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
							   "SELECT ctid FROM ONLY %s"
							   " WHERE ctid OPERATOR(pg_catalog.=) ANY ($1)"
							   " AND %s OPERATOR(pg_catalog.<) $2"
							   " FOR UPDATE SKIP LOCKED))"
							   " AND %s OPERATOR(pg_catalog.<) $2",
							   state->qualname, state->qualname,
							   state->qcolumn, state->qcolumn);
	state->left_sql = psprintf("SELECT ctid FROM ONLY %s"
							   " WHERE ctid OPERATOR(pg_catalog.=) ANY ($1)"
							   " AND %s OPERATOR(pg_catalog.<) $2",
							   state->qualname, state->qcolumn);

	/*
	 * Blocks that hold at most about batch_size rows: how many rows of the
	 * table's average width fit in a full page.  (The current density,
	 * reltuples / relpages, would make huge batches after a purge has
	 * emptied most pages and new rows fill them again.)
	 */
	rel = table_open(state->relid, AccessShareLock);
	width = get_rel_data_width(rel, NULL);
	table_close(rel, NoLock);
	rows_per_page = (double) (BLCKSZ - SizeOfPageHeaderData) /
		(MAXALIGN(SizeofHeapTupleHeader + width) + sizeof(ItemIdData));
	rows_per_page = Max(1.0, Min(rows_per_page, MaxHeapTuplesPerPage));
	state->base_blocks = (BlockNumber) Max(1.0, state->batch_size / rows_per_page);
	state->step = state->base_blocks;
	state->cursor = 0;
	state->verifying = false;
	state->recheck = NIL;

	/*
	 * Transactions from this one on were not finished when the run began:
	 * rows they wrote may sit behind the cursor when it passes.
	 */
	if (state->fk)
		fk_prepare(state);

	snap = GetLatestSnapshot();
	state->horizon = snap->xmin;
	if (IsolationUsesXactSnapshot())
	{
		TransactionId xact_xmin = GetTransactionSnapshot()->xmin;

		if (TransactionIdPrecedes(xact_xmin, state->horizon))
			state->horizon = xact_xmin;
	}
}

/*
 * remember_locked
 *		Note the rows a query returned (ctids) as rows to come back to.
 */
static void
remember_locked(PgsBatchState *state)
{
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  1, &isnull);

		if (isnull)
			continue;
		if (state->nlocked >= state->maxlocked)
		{
			state->maxlocked = Max(64, state->maxlocked * 2);
			state->locked = state->locked == NULL ?
				palloc(sizeof(ItemPointerData) * state->maxlocked) :
				repalloc(state->locked, sizeof(ItemPointerData) * state->maxlocked);
		}
		ItemPointerCopy((ItemPointer) DatumGetPointer(d), &state->locked[state->nlocked]);
		state->nlocked++;
	}
}

/*
 * delete_with
 *		Run one of the batch statements: with foreign keys to follow, a
 *		SELECT that locks the rows (fk_sql), then the DELETEs that go with
 *		them; else a plain DELETE (sql).  Returns the rows of this relation
 *		deleted.
 */
static int64
delete_with(PgsBatchState *state, const char *sql, const char *fk_sql,
			int nargs, Oid *argtypes, Datum *values)
{
	int			ret;
	Datum		rows;
	ItemPointerData lo;
	ItemPointerData hi;

	ret = SPI_execute_with_args(state->fk ? fk_sql : sql, nargs, argtypes,
								values, NULL, false, 0);
	if (ret != (state->fk ? SPI_OK_SELECT : state->delete_ok))
		elog(ERROR, "batch delete on %s failed: %s", state->qualname,
			 SPI_result_code_string(ret));
	if (!state->fk)
		return (int64) SPI_processed;
	if (SPI_processed == 0)
		return 0;
	rows = tids_of_result(&lo, &hi);
	return fk_delete_rows(state, rows, &lo, &hi);
}

/*
 * delete_or_give_way
 *		delete_with, in a subtransaction of its own: false (and nothing
 *		done) when it waited longer than the lock timeout for a row lock.
 */
static bool
delete_or_give_way(PgsBatchState *state, const char *sql, const char *fk_sql,
				   int nargs, Oid *argtypes, Datum *values, int64 *deleted)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool gave_way = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		*deleted = delete_with(state, sql, fk_sql, nargs, argtypes, values);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		/* any other error (a cancel, a step timeout) is the caller's */
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(edata);
		FreeErrorData(edata);
		gave_way = true;
	}
	PG_END_TRY();
	return !gave_way;
}

/*
 * delete_block_run
 *		Delete the expired rows in blocks [lo, hi), skipping those another
 *		transaction has locked, and note those for later.
 */
static int64
delete_block_run(PgsBatchState *state, BlockNumber lo, BlockNumber hi)
{
	Oid			argtypes[3] = {TIDOID, TIDOID, state->cutoff_type};
	Datum		values[3];
	ItemPointerData from;
	ItemPointerData to;
	int			ret;
	int64		deleted;

	ItemPointerSet(&from, lo, 0);
	ItemPointerSet(&to, hi, 0);
	values[0] = PointerGetDatum(&from);
	values[1] = PointerGetDatum(&to);
	values[2] = state->cutoff;

	state->batches++;

	/*
	 * A plain DELETE first: it waits for the rows concurrent transactions
	 * hold, and follows one that is updated to its new version.  Only when
	 * a row lock is held past the lock timeout is the batch done again
	 * skipping the locked rows, which are noted to come back to.  (With
	 * foreign keys to follow, the rows are always locked first, so that
	 * the rows deleted with them are those of the batch.)
	 */
	if (!state->fk &&
		delete_or_give_way(state, state->plain_sql, NULL, 3, argtypes, values,
						   &deleted))
		return deleted;
	deleted = delete_with(state, state->batch_sql, state->fk_select_sql,
						  3, argtypes, values);

	/* what is left expired in those blocks was locked */
	ret = SPI_execute_with_args(state->locked_sql, 3, argtypes, values, NULL,
								false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read %s: %s", state->qualname,
			 SPI_result_code_string(ret));
	remember_locked(state);
	return deleted;
}

/*
 * locked_rows_array
 *		The rows to come back to, as a tid[] Datum.
 */
static Datum
locked_rows_array(PgsBatchState *state)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(state->nlocked, 1));
	int			i;

	for (i = 0; i < state->nlocked; i++)
		elems[i] = PointerGetDatum(&state->locked[i]);
	return PointerGetDatum(construct_array(elems, state->nlocked, TIDOID,
										   sizeof(ItemPointerData), false,
										   TYPALIGN_SHORT));
}

/*
 * delete_locked_rows
 *		Come back to the rows skipped as locked: delete them, waiting for
 *		their locks under the lock timeout.  A row updated meanwhile is
 *		followed to its new version.  When a lock is still held past the
 *		timeout, delete those that are free by now, and keep the others
 *		noted.  Returns the rows deleted.
 */
static int64
delete_locked_rows(PgsBatchState *state)
{
	Oid			argtypes[2] = {TIDARRAYOID, state->cutoff_type};
	Datum		values[2];
	int64		deleted = 0;
	int			ret;

	values[0] = locked_rows_array(state);
	values[1] = state->cutoff;

	state->batches++;
	if (delete_or_give_way(state, state->wait_sql, state->fk_wait_sql,
						   2, argtypes, values, &deleted))
	{
		state->nlocked = 0;
		return deleted;
	}

	/* some are still locked: delete the others, keep those noted */
	deleted = delete_with(state, state->skip_sql, state->fk_skip_sql,
						  2, argtypes, values);
	ret = SPI_execute_with_args(state->left_sql, 2, argtypes, values, NULL,
								false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read %s: %s", state->qualname,
			 SPI_result_code_string(ret));
	state->nlocked = 0;
	remember_locked(state);
	return deleted;
}

/*
 * blocks_to_recheck
 *		After the cursor reached the end: the runs of blocks holding a row
 *		written by a transaction that had not finished when the run began.
 *		Only there can an expired row have appeared behind the cursor (a
 *		concurrent update moving a row to an earlier page, or an insert),
 *		so only there is the table read again.  This reads tuple headers
 *		only, which costs a small fraction of a pass.
 */
static List *
blocks_to_recheck(PgsBatchState *state, BlockNumber nblocks)
{
	Relation	rel = table_open(state->relid, AccessShareLock);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	List	   *runs = NIL;
	BlockRun   *current = NULL;
	BlockNumber blkno;

	for (blkno = 0; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber off;
		OffsetNumber maxoff;
		bool		recent = false;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff && !recent; off++)
		{
			ItemId		itemid = PageGetItemId(page, off);
			HeapTupleHeader htup;
			TransactionId xmin;

			if (!ItemIdIsNormal(itemid))
				continue;
			htup = (HeapTupleHeader) PageGetItem(page, itemid);
			if (HeapTupleHeaderXminFrozen(htup))
				continue;
			xmin = HeapTupleHeaderGetRawXmin(htup);
			recent = TransactionIdIsNormal(xmin) &&
				TransactionIdFollowsOrEquals(xmin, state->horizon);
		}
		UnlockReleaseBuffer(buf);

		if (!recent)
			continue;
		state->rechecked++;
		if (current != NULL && current->hi == blkno &&
			current->hi - current->lo < state->base_blocks)
			current->hi++;
		else
		{
			current = palloc(sizeof(BlockRun));
			current->lo = blkno;
			current->hi = blkno + 1;
			runs = lappend(runs, current);
		}
	}
	FreeAccessStrategy(strategy);
	table_close(rel, NoLock);
	return runs;
}

static int64
tid_next(PgsBatchState *state, bool *done)
{
	int64		deleted;

	*done = false;
	if (!state->verifying)
	{
		BlockNumber nblocks = pgs_current_blocks(state->relid);
		BlockNumber lo = state->cursor;
		BlockNumber hi;

		if (lo < nblocks)
		{
			hi = lo + Min(state->step, nblocks - lo);
			deleted = delete_block_run(state, lo, hi);
			state->cursor = hi;

			/*
			 * Size the next run of blocks on what this one held: about
			 * batch_size expired rows, and at most four times the blocks
			 * that hold batch_size rows, so that a batch stays short even
			 * where the expired rows thicken.
			 */
			if (deleted > 0)
				state->step = (BlockNumber)
					Max(1.0, Min((double) state->base_blocks * 4,
								 (double) (hi - lo) * state->batch_size / deleted));
			else
				state->step = Min(state->base_blocks * 4, state->step * 2);
			return deleted;
		}

		/* the cursor is at the end: find what appeared behind it */
		state->recheck = blocks_to_recheck(state, nblocks);
		state->verifying = true;
	}

	if (state->recheck != NIL)
	{
		BlockRun   *run = (BlockRun *) linitial(state->recheck);

		state->recheck = list_delete_first(state->recheck);
		return delete_block_run(state, run->lo, run->hi);
	}

	/*
	 * Every page is done: come back to the rows that were locked (twice at
	 * most), then look again at the pages written to meanwhile, where a
	 * locked row that was being updated has its new version.
	 */
	if (state->nlocked > 0 && state->locked_rounds < 2)
	{
		state->locked_rounds++;
		deleted = delete_locked_rows(state);
		state->recheck = blocks_to_recheck(state, pgs_current_blocks(state->relid));
		return deleted;
	}
	state->skipped = state->nlocked;
	*done = true;
	return 0;
}

#endif							/* PGSCALE_HAVE_TID_RANGE_SCAN */


#ifdef PGSCALE_HAVE_TID_RANGE_SCAN
static const PgsBatchStrategy tid_strategy = {"tid", tid_prepare, tid_next};

/*
 * pgs_is_distributed
 *		Whether Citus distributes this table (its rows live in shards on
 *		other nodes, so its ctid on the coordinator means nothing).
 */
static bool
pgs_is_distributed(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	values[0] = ObjectIdGetDatum(relid);
	return pgs_spi_int8("SELECT 1 FROM pg_catalog.pg_dist_partition"
						" WHERE logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
						1, argtypes, values, NULL, true) == 1;
}
#endif							/* PGSCALE_HAVE_TID_RANGE_SCAN */

/*
 * pgs_batch_begin
 *		Prepare to delete the rows of relid whose time_column is before
 *		cutoff (of type cutoff_type), batch_size rows at a time.  The state
 *		is allocated in the current memory context, which must outlive the
 *		batches (it survives commits in a procedure).  SPI must be
 *		connected.
 */
PgsBatchState *
pgs_batch_begin(Oid relid, const char *time_column, Oid cutoff_type,
				Datum cutoff, int batch_size, PgsRefs *refs)
{
	PgsBatchState *state = palloc0(sizeof(PgsBatchState));
	char		relkind = get_rel_relkind(relid);

	state->relid = relid;
	state->qualname = pgs_qualified_name(relid);
	state->qcolumn = pstrdup(quote_identifier(time_column));
	state->coltype = pgs_time_column_type(relid, time_column, false);
	state->cutoff_type = cutoff_type;
	state->cutoff = cutoff;
	state->batch_size = batch_size;
	state->delete_ok = SPI_OK_DELETE;
	state->count_sql = psprintf("SELECT pg_catalog.count(*) FROM %s%s"
								" WHERE %s OPERATOR(pg_catalog.<) $1",
								relkind == RELKIND_RELATION ? "ONLY " : "",
								state->qualname, state->qcolumn);

	state->refs = refs;
	state->fk = refs != NULL && pgs_references_matter(refs);

	state->strategy = &pgs_batch_range_strategy;
#ifdef PGSCALE_HAVE_TID_RANGE_SCAN
	if (pgscale_batch_strategy == PGS_BATCH_AUTO &&
		relkind == RELKIND_RELATION && !pgs_is_distributed(relid))
		state->strategy = &tid_strategy;
#endif
	if (state->fk && state->strategy == &pgs_batch_range_strategy)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cleanup of %s cannot follow its foreign keys with the time range strategy",
						pgs_display_name(relid)),
				 errdetail("Following foreign keys (on_referenced cascade or keep, or a self-reference) needs batches by heap blocks."),
				 errhint("Set pgscale.batch_strategy to auto, or set on_referenced to 'error' for this table.")));
	state->strategy->prepare(state);
	return state;
}

/*
 * archive_wrap
 *		A batch's DELETE, its rows inserted into the archive in the same
 *		statement: a row is then either still in the table or in the
 *		archive, whatever becomes of the transaction.
 */
static char *
archive_wrap(const char *delete_sql, const char *target, const char *columns)
{
	if (delete_sql == NULL)
		return NULL;
	return psprintf("WITH pgscale_moved AS (%s RETURNING %s)"
					" INSERT INTO %s (%s) SELECT %s FROM pgscale_moved",
					delete_sql, columns, target, columns, columns);
}

/*
 * pgs_batch_archive
 *		Make the batches move the rows they delete into "target" (action
 *		'archive'), through the given columns (quoted, comma-separated).
 *		Rows that foreign keys follow are not archived: the deletes that go
 *		with them would reach rows the archive does not hold.
 */
void
pgs_batch_archive(PgsBatchState *state, const char *target, const char *columns)
{
	if (state->fk)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot archive the rows of %s: foreign keys reference them",
						pgs_display_name(state->relid)),
				 errdetail("Action 'archive' moves rows only from tables whose rows no foreign key (a self-reference included) follows."),
				 errhint("Use action 'drop' for this table, or drop the foreign key.")));
	state->plain_sql = archive_wrap(state->plain_sql, target, columns);
	state->batch_sql = archive_wrap(state->batch_sql, target, columns);
	state->wait_sql = archive_wrap(state->wait_sql, target, columns);
	state->skip_sql = archive_wrap(state->skip_sql, target, columns);
	state->batch_sql_first = archive_wrap(state->batch_sql_first, target, columns);
	state->last_sql = archive_wrap(state->last_sql, target, columns);
	state->last_sql_first = archive_wrap(state->last_sql_first, target, columns);
	state->delete_ok = SPI_OK_INSERT;
}

/*
 * pgs_batch_describe
 *		How the batches went, for the log: the strategy, and for "tid" how
 *		many blocks had to be read again at the end.
 */
char *
pgs_batch_describe(PgsBatchState *state)
{
	if (state->skipped > 0)
		return psprintf(INT64_FORMAT " batches of about %d rows, %s strategy, %u blocks rechecked, "
						INT64_FORMAT " rows skipped: locked by other transactions",
						state->batches, state->batch_size, state->strategy->name,
						state->rechecked, state->skipped);
	if (state->verifying)
		return psprintf(INT64_FORMAT " batches of about %d rows, %s strategy, %u blocks rechecked",
						state->batches, state->batch_size, state->strategy->name,
						state->rechecked);
	return psprintf(INT64_FORMAT " batches of about %d rows, %s strategy",
					state->batches, state->batch_size, state->strategy->name);
}

/*
 * pgs_batch_next
 *		Delete the next batch; returns the rows deleted and sets *done once
 *		no expired row is left.
 */
int64
pgs_batch_next(PgsBatchState *state, bool *done)
{
	int64		deleted;

	pgs_references_immediate(state->refs, true);
	deleted = state->strategy->next(state, done);
	pgs_references_immediate(state->refs, false);
	return deleted;
}

/*
 * pgs_batch_skipped
 *		How many expired rows the batches left because other transactions
 *		held them locked to the end (left for the next run).
 */
int64
pgs_batch_skipped(PgsBatchState *state)
{
	return state->skipped;
}

/*
 * pgs_batch_count
 *		How many rows the batches would delete, for a dry run.
 */
int64
pgs_batch_count(PgsBatchState *state)
{
	Oid			argtypes[1] = {state->cutoff_type};
	Datum		values[1] = {state->cutoff};
	PgsRootRows root;
	PredArg		pa = {state, 1};
	ListCell   *lc;
	int64		rows = 0;

	if (!state->fk)
		return pgs_spi_int8(state->count_sql, 1, argtypes, values, NULL, true);

	/* what the batches would delete, table by table */
	root.from = psprintf("ONLY %s", state->qualname);
	root.pred = pred_expired_kept;
	root.arg = &pa;
	foreach(lc, state->refs->tables)
	{
		PgsRefTable *t = (PgsRefTable *) lfirst(lc);
		int64		n = pgs_spi_int8(pgs_references_count_sql(state->refs, t, &root),
									 1, argtypes, values, NULL, true);

		if (t->relid == state->refs->root)
			rows += n;
		else
			t->rows += n;
	}
	return rows;
}
