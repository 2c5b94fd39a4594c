/*-------------------------------------------------------------------------
 *
 * reclaim.c
 *	  Giving the space of purged rows back to the file system, online:
 *	  CALL pgscale_reclaim(), and pgscale_space_reclaimable() to see what
 *	  it would return.
 *
 *	  A purge of an append-mostly table frees the pages at the head of its
 *	  heap.  VACUUM makes that space reusable but can give back only the
 *	  empty pages at the end of the file, and VACUUM FULL rewrites the
 *	  table under ACCESS EXCLUSIVE.  pgscale_reclaim moves the live rows of
 *	  the last pages into the free space of the head instead, in short
 *	  transactions that hold ROW EXCLUSIVE only, and then lets VACUUM
 *	  truncate the emptied tail (VACUUM takes its truncation lock only when
 *	  it can get it at once, and lets go as soon as another session waits).
 *
 *	  How a row is made to land in the head: the row is updated in place
 *	  (UPDATE ... SET c = c WHERE ctid >= '(first tail block,0)'), which
 *	  writes a new version of the same row.  An update keeps the new
 *	  version on the row's own page only when that page has room; the tail
 *	  pages of an append-mostly heap are full, so the new version goes
 *	  where the free space map points, and the VACUUM that starts the call
 *	  has recorded the head's free space there.  The UPDATE returns where
 *	  each row landed: a batch whose rows could not leave the tail (no free
 *	  space is left below it) ends the compaction.  Measured on a purged
 *	  400,000-row table: of 8,041 rows in the last 100 pages, 8,019 landed
 *	  in the head at the first try; the others, moved again in the next
 *	  batch, landed there too.
 *
 *	  A moved row is the same row: the same values and primary key; only
 *	  its ctid (which PostgreSQL never promises to keep) changes.  Refused:
 *	  tables with user UPDATE triggers or UPDATE rules (the update would
 *	  run them), tables in a publication unless allow_replicated (each move
 *	  would replicate as an update), anything but a plain heap table, and a
 *	  table another session holds in a lock that conflicts with ROW
 *	  EXCLUSIVE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "catalog.h"
#include "compat.h"
#include "loopback.h"
#include "retention.h"
#include "spi.h"

PG_FUNCTION_INFO_V1(pgscale_reclaim);
PG_FUNCTION_INFO_V1(pgscale_space_reclaimable);

/* tail pages whose rows one batch moves */
#define RECLAIM_BATCH_PAGES 16

/*
 * A row whose own page has room stays on it when updated.  Updated again in
 * the same transaction, it fills its page with versions no one else can
 * prune yet, and leaves it: each batch moves the rows that stayed this many
 * times at most.  A page holds at most MaxHeapTuplesPerPage versions, so a
 * lone row on an almost empty page (the heap's last one) leaves within
 * that many rounds; each round reads only the batch's pages.
 */
#define RECLAIM_ROUNDS (MaxHeapTuplesPerPage + 10)

/* batches of one range whose rows keep staying before the call gives up */
#define RECLAIM_ATTEMPTS 3

/*
 * How many VACUUMs may try to truncate the emptied tail.  VACUUM truncates
 * only when it gets ACCESS EXCLUSIVE without waiting (it tries for five
 * seconds): under a steady stream of the application's transactions it
 * can miss every free moment of one try.
 */
#define RECLAIM_TRUNCATE_TRIES 3

/* What the space of a table is, from its free space map. */
typedef struct SpaceFigures
{
	BlockNumber blocks;
	int64		file_bytes;
	int64		reusable_bytes; /* free space recorded in the map */
	int64		returnable_bytes;	/* what compaction could give back */
} SpaceFigures;

/*
 * measure_space
 *		The table's size, the free space its map records, and what a
 *		compaction could return: the pages beyond those the space in use
 *		needs at the table's fillfactor.  The caller holds a lock on rel.
 */
static void
measure_space(Relation rel, SpaceFigures *sf)
{
	BlockNumber blk;
	int64		used;
	int64		per_page;
	int64		needed;

	sf->blocks = RelationGetNumberOfBlocks(rel);
	sf->file_bytes = (int64) sf->blocks * BLCKSZ;
	sf->reusable_bytes = 0;
	for (blk = 0; blk < sf->blocks; blk++)
	{
		sf->reusable_bytes += GetRecordedFreeSpace(rel, blk);
		if ((blk & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	used = sf->file_bytes - sf->reusable_bytes;
	per_page = (int64) BLCKSZ * RelationGetFillFactor(rel, HEAP_DEFAULT_FILLFACTOR) / 100;
	needed = (used + per_page - 1) / per_page;
	sf->returnable_bytes = sf->blocks > needed ?
		((int64) sf->blocks - needed) * BLCKSZ : 0;
}

/*
 * reclaim_refusal
 *		Why relid cannot be compacted, or NULL.  *hint receives the advice.
 */
static const char *
reclaim_refusal(Relation rel, bool allow_replicated, const char **hint)
{
	TriggerDesc *trig = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION)
	{
		*hint = rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ?
			"Call it on each partition: a partitioned table has no storage of its own." :
			"Only plain tables are compacted.";
		return "it is not a plain table";
	}
	if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
	{
		*hint = "Only tables of the heap access method are compacted.";
		return "it does not use the heap access method";
	}
	if (trig != NULL)
	{
		int			i;

		for (i = 0; i < trig->numtriggers; i++)
		{
			Trigger    *t = &trig->triggers[i];

			if (!t->tgisinternal && TRIGGER_FOR_UPDATE(t->tgtype) &&
				t->tgenabled != TRIGGER_DISABLED)
			{
				*hint = "Moving a row is an UPDATE, which would fire the trigger: disable it for the duration of the call, or compact the table with VACUUM FULL in a maintenance window.";
				return psprintf("it has an UPDATE trigger, %s", quote_identifier(t->tgname));
			}
		}
	}
	if (rel->rd_rules != NULL)
	{
		int			i;

		for (i = 0; i < rel->rd_rules->numLocks; i++)
			if (rel->rd_rules->rules[i]->event == CMD_UPDATE)
			{
				*hint = "Moving a row is an UPDATE, which the rule would rewrite.";
				return "it has an UPDATE rule";
			}
	}
	if (!allow_replicated && GetRelationPublications(RelationGetRelid(rel)) != NIL)
	{
		*hint = "Each moved row would be replicated as an UPDATE. Pass allow_replicated => true to compact it anyway.";
		return "it is in a publication";
	}
	if (!allow_replicated && GetAllTablesPublications() != NIL)
	{
		*hint = "Each moved row would be replicated as an UPDATE. Pass allow_replicated => true to compact it anyway.";
		return "a publication FOR ALL TABLES includes it";
	}
	return NULL;
}

/*
 * move_column
 *		A column that "SET c = c" can name: not dropped, not generated, not
 *		GENERATED ALWAYS AS IDENTITY.  NULL when there is none.
 */
static char *
move_column(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated != '\0' ||
			att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			continue;
		return pstrdup(NameStr(att->attname));
	}
	return NULL;
}

/* One batch: the rows of the pages from "from" on, moved by an UPDATE. */
typedef struct MoveBatch
{
	const char *sql;
	BlockNumber from;
	int64		moved;
	int64		stayed;			/* landed at or after "from" */
	BlockNumber end;			/* the table's size when the call began */
	bool		extended;		/* a row landed beyond it: no room was left */
} MoveBatch;

static void
move_batch_step(void *arg)
{
	MoveBatch  *b = (MoveBatch *) arg;
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum((int64) b->from), Int64GetDatum((int64) b->end)};
	int			ret;

	int			round;

	b->moved = 0;
	b->stayed = 0;
	for (round = 0; round < RECLAIM_ROUNDS; round++)
	{
		int64		n;

		ret = SPI_execute_with_args(b->sql, 2, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not move rows: %s", SPI_result_code_string(ret));
		n = pgs_get_int8(0, 1);
		b->stayed = pgs_get_int8(0, 2);
		b->extended = pgs_get_int8(0, 3) > 0;
		SPI_freetuptable(SPI_tuptable);
		if (round == 0)
			b->moved = n;
		if (b->stayed == 0 || b->extended)
			break;
		CommandCounterIncrement();
	}
}

/*
 * tail_truncated
 *		Whether the file ends within a batch of boundary, the first page
 *		the compaction emptied.  Commits: VACUUM must not wait for this
 *		session's lock.
 */
static bool
tail_truncated(Oid relid, BlockNumber boundary)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BlockNumber blocks = RelationGetNumberOfBlocks(rel);

	table_close(rel, AccessShareLock);
	pgs_spi_commit();
	return blocks <= boundary + RECLAIM_BATCH_PAGES;
}

/*
 * run_vacuum
 *		VACUUM the table over the loopback connection (VACUUM cannot run
 *		through SPI), with BUFFER_USAGE_LIMIT where the server has it, and
 *		reading every page if every_page.  The caller has committed and
 *		holds no snapshot.
 */
static void
run_vacuum(PGconn *conn, const char *qname, Oid relid, bool every_page)
{
	PgsLoopError err;

	if (!pgs_loop_run(conn, psprintf("VACUUM (" PGS_VACUUM_OPTIONS "%sVERBOSE false) %s",
									 every_page ? "DISABLE_PAGE_SKIPPING, " : "",
									 qname), &err))
		ereport(ERROR,
				(errcode(err.code),
				 errmsg("could not vacuum %s: %s", pgs_display_name(relid), err.message),
				 err.detail ? errdetail("%s", err.detail) : 0,
				 errhint("The rows moved so far stay where they are; run the call again later.")));
}

/*
 * pgs_reclaim_check
 *		Whether the caller may compact relid now.  When it may not, says
 *		why at elevel (ERROR, or WARNING for a caller that goes on) and
 *		returns false.  Never waits: a table held in a lock that conflicts
 *		with ROW EXCLUSIVE is refused.  Inside a transaction; the lock it
 *		takes lasts until its end.
 */
bool
pgs_reclaim_check(Oid relid, bool allow_replicated, int elevel)
{
	Relation	rel;
	const char *why;
	const char *hint = NULL;
	char	   *column;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		pgs_no_such_relation(relid);
	if (!pgs_owns(relid))
	{
		ereport(elevel,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to compact it", pgs_display_name(relid)),
				 errhint("Call it as the table's owner or a member of the owning role.")));
		return false;
	}
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
	{
		ereport(elevel,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("cannot compact %s: another session holds a lock on it that conflicts with ROW EXCLUSIVE",
						pgs_display_name(relid)),
				 errdetail("pgscale_reclaim never waits for such a lock: it would queue the application's reads and writes behind it."),
				 errhint("Run the call again when the other session's ALTER TABLE, VACUUM FULL or LOCK TABLE is done.")));
		return false;
	}
	rel = table_open(relid, NoLock);
	why = reclaim_refusal(rel, allow_replicated, &hint);
	column = why == NULL ? move_column(rel) : NULL;
	table_close(rel, NoLock);
	if (why != NULL)
	{
		ereport(elevel,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot compact %s: %s", pgs_display_name(relid), why),
				 errhint("%s", hint)));
		return false;
	}
	if (column == NULL)
	{
		ereport(elevel,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot compact %s: every column is generated",
						pgs_display_name(relid)),
				 errhint("Compact it with VACUUM FULL in a maintenance window.")));
		return false;
	}
	return true;
}

/*
 * pgs_reclaim_relation
 *		Compact relid, which pgs_reclaim_check() accepted, until deadline
 *		(0: none); res receives what was done.  In a procedure connected
 *		to SPI without atomicity: it commits after every batch, and runs
 *		VACUUM over the loopback connection between transactions.  It
 *		logs a 'reclaim' action.
 */
void
pgs_reclaim_relation(Oid relid, TimestampTz deadline, PgsReclaimResult *res)
{
	Relation	rel;
	char	   *column;
	char	   *qname;
	SpaceFigures before;
	SpaceFigures after;
	TimestampTz started = GetCurrentTimestamp();
	PGconn	   *volatile conn = NULL;
	PgsLoopFailure failure;
	MoveBatch	batch;
	BlockNumber boundary;
	BlockNumber needed;
	int			attempts = 0;
	int64		moved = 0;
	int			failures = 0;
	int			tries;
	bool		tail_left = false;
	const char *stop_reason = "the rows left fill the pages before the tail";
	CleanupOptions opt;
	TableRun	pace_run;

	rel = table_open(relid, AccessShareLock);
	column = move_column(rel);
	measure_space(rel, &before);
	table_close(rel, AccessShareLock);
	Assert(column != NULL);
	qname = pgs_qualified_name(relid);

	memset(&opt, 0, sizeof(opt));
	opt.nonatomic = true;
	memset(&pace_run, 0, sizeof(pace_run));
	pace_run.opt = &opt;
	pace_run.relid = relid;

	/*
	 * The rows are locked first with SKIP LOCKED: a row the application
	 * holds is left where it is for this batch, so the compaction never
	 * waits for the application, and the application waits for it only
	 * while one short batch holds the rows it moves.
	 */
	batch.sql = psprintf("WITH m AS (UPDATE ONLY %s SET %s = %s"
						 " WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
						 "SELECT ctid FROM ONLY %s"
						 " WHERE ctid OPERATOR(pg_catalog.>=) pg_catalog.format('(%%s,0)', $1)::pg_catalog.tid"
						 " FOR NO KEY UPDATE SKIP LOCKED))"
						 " RETURNING ctid)"
						 " SELECT pg_catalog.count(*),"
						 " pg_catalog.count(*) FILTER (WHERE ctid OPERATOR(pg_catalog.>=) pg_catalog.format('(%%s,0)', $1)::pg_catalog.tid),"
						 " pg_catalog.count(*) FILTER (WHERE ctid OPERATOR(pg_catalog.>=) pg_catalog.format('(%%s,0)', $2)::pg_catalog.tid)"
						 " FROM m",
						 qname, quote_identifier(column), quote_identifier(column), qname);

	/* what follows runs between transactions, holding no snapshot */
	pgs_spi_commit();
	PG_TRY();
	{
		conn = pgs_loop_connect("pgscale reclaim", &failure);
		if (conn == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("cannot compact %s: could not open a local connection to this server as role %s: %s",
							pgs_display_name(relid), quote_identifier(failure.user),
							failure.message ? failure.message : "the server listens on no Unix socket"),
					 errdetail("pgscale_reclaim runs VACUUM over that connection; nothing was moved."),
					 errhint("Allow that connection without a password in pg_hba.conf (a \"local\" line with trust or peer for this role).")));

		/*
		 * The free space map of the head, current.  Its pages are not
		 * WAL-logged: after a crash it can have lost what an earlier VACUUM
		 * recorded of pages that are all-visible since, and a VACUUM that
		 * skips those pages would never record it again.  So this one
		 * reads every page.
		 */
		run_vacuum(conn, qname, relid, true);

		rel = table_open(relid, AccessShareLock);
		measure_space(rel, &after);
		table_close(rel, AccessShareLock);
		/*
		 * The pages the rows in use need, and a margin: the moved rows must
		 * find room before the end, or the table grows instead.
		 */
		needed = after.blocks - (BlockNumber) (after.returnable_bytes / BLCKSZ);
		needed = Min(after.blocks, needed + needed / 20 + RECLAIM_BATCH_PAGES);
		boundary = after.blocks;
		batch.end = after.blocks;
		pgs_spi_commit();
		while (boundary > needed)
		{
			ErrorData  *edata = NULL;

			if (deadline != 0 && GetCurrentTimestamp() >= deadline)
			{
				stop_reason = "max_duration was reached";
				break;
			}
			if (!rt_pace(&pace_run, relid))
			{
				stop_reason = "a pacing limit stayed exceeded for pgscale.max_pause";
				break;
			}
			batch.from = boundary > needed + RECLAIM_BATCH_PAGES ?
				boundary - RECLAIM_BATCH_PAGES : needed;
			if (!pgs_run_guarded_as(relid, move_batch_step, &batch, &edata))
			{
				/* a row lock held too long, or a deadlock: try again, then stop */
				if ((edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
					 edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED) &&
					++failures <= pgscale_lock_retries)
				{
					pgs_spi_commit();
					continue;
				}
				ReThrowError(edata);
			}
			pgs_spi_commit();
			moved += batch.moved - batch.stayed;
			if (batch.extended)
			{
				stop_reason = "the free space before the tail ran out";
				break;
			}
			elog(DEBUG1, "pgscale_reclaim: pages %u to %u: " INT64_FORMAT " rows moved, " INT64_FORMAT " stayed",
				 batch.from, boundary, batch.moved, batch.stayed);

			/*
			 * A range whose rows keep staying has no free space below it
			 * left to go to.
			 */
			if (batch.stayed == 0)
			{
				boundary = batch.from;
				attempts = 0;
			}
			else if (++attempts > RECLAIM_ATTEMPTS)
			{
				stop_reason = "the rows of the last pages found no free space before them";
				break;
			}
		}

		/* VACUUM removes the old versions and truncates the emptied tail */
		pgs_spi_commit();
		run_vacuum(conn, qname, relid, false);
		for (tries = 1; moved > 0 && !tail_truncated(relid, boundary); tries++)
		{
			if (tries >= RECLAIM_TRUNCATE_TRIES ||
				(deadline != 0 && GetCurrentTimestamp() >= deadline))
			{
				tail_left = true;
				break;
			}
			run_vacuum(conn, qname, relid, false);
		}
	}
	PG_FINALLY();
	{
		pgs_loop_finish(conn);
	}
	PG_END_TRY();

	rel = table_open(relid, AccessShareLock);
	measure_space(rel, &after);
	table_close(rel, AccessShareLock);

	res->bytes_before = before.file_bytes;
	res->bytes_after = after.file_bytes;
	res->moved = moved;
	res->stop_reason = stop_reason;
	res->tail_left = tail_left;
	pgs_log_action(relid, "reclaim", pgs_display_name(relid), moved, true, started,
				   psprintf("returned " INT64_FORMAT " bytes (" INT64_FORMAT " to " INT64_FORMAT "); stopped because %s%s",
							before.file_bytes - after.file_bytes,
							before.file_bytes, after.file_bytes, stop_reason,
							tail_left ? "; VACUUM did not truncate the emptied tail" : ""));
}

/*
 * pgs_reclaim_notice
 *		Tell the caller what a compaction returned.
 */
void
pgs_reclaim_notice(Oid relid, const PgsReclaimResult *res)
{
	ereport(NOTICE,
			(errmsg("%s: " INT64_FORMAT " bytes returned to the file system, " INT64_FORMAT " rows moved",
					pgs_display_name(relid), res->bytes_before - res->bytes_after, res->moved),
			 errdetail("The file went from " INT64_FORMAT " to " INT64_FORMAT " bytes; the compaction stopped because %s.",
					   res->bytes_before, res->bytes_after, res->stop_reason),
			 res->tail_left ?
			 errhint("VACUUM did not truncate the emptied tail (%d tries): a transaction still saw the old versions of the moved rows, or the application's locks left it no moment to take its truncation lock. The rows stay moved: VACUUM %s later gives the space back.",
					 RECLAIM_TRUNCATE_TRIES, pgs_qualified_name(relid)) : 0));
}

/*
 * pgs_reclaim_estimate
 *		What a compaction of relid could return now, from its free space
 *		map, for a dry run.  The caller holds a lock on it.
 */
int64
pgs_reclaim_estimate(Oid relid, int64 *file_bytes, int64 *reusable_bytes)
{
	Relation	rel = table_open(relid, NoLock);
	SpaceFigures sf;

	measure_space(rel, &sf);
	table_close(rel, NoLock);
	*file_bytes = sf.file_bytes;
	*reusable_bytes = sf.reusable_bytes;
	return sf.returnable_bytes;
}

/*
 * pgscale_reclaim(relation, max_duration, dry_run, allow_replicated)
 *		CALL only, outside a transaction block: each batch commits.
 */
Datum
pgscale_reclaim(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Interval   *max_duration = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	bool		dry_run = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	bool		allow_replicated = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
	bool		nonatomic;
	TimestampTz deadline = 0;
	PgsReclaimResult res;

	pgs_require_arg(fcinfo, 0, "relation", "Name the table to compact.");
	relid = PG_GETARG_OID(0);
	nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	if (!nonatomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("pgscale_reclaim cannot run inside a transaction block or a function"),
				 errdetail("It commits after every batch of moved rows, and runs VACUUM."),
				 errhint("CALL it on its own.")));
	if (max_duration != NULL)
	{
		int64		us = max_duration->time +
			(int64) max_duration->day * USECS_PER_DAY +
			(int64) max_duration->month * DAYS_PER_MONTH * USECS_PER_DAY;

		if (us <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_duration must be positive"),
					 errhint("Pass an interval such as '10 minutes', or NULL for no limit.")));
		deadline = GetCurrentTimestamp() + us;
	}

	SPI_connect_ext(SPI_OPT_NONATOMIC);

	(void) pgs_reclaim_check(relid, allow_replicated, ERROR);

	if (dry_run)
	{
		int64		file_bytes;
		int64		reusable_bytes;
		int64		returnable = pgs_reclaim_estimate(relid, &file_bytes, &reusable_bytes);

		ereport(NOTICE,
				(errmsg("%s: about " INT64_FORMAT " bytes could be returned (dry run)",
						pgs_display_name(relid), returnable),
				 errdetail("The file has " INT64_FORMAT " bytes, " INT64_FORMAT " of them free as the free space map records them; nothing was moved.",
						   file_bytes, reusable_bytes)));
		SPI_finish();
		PG_RETURN_VOID();
	}

	pgs_reclaim_relation(relid, deadline, &res);
	pgs_reclaim_notice(relid, &res);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * pgscale_space_reclaimable(relation regclass DEFAULT NULL)
 *		Per plain table the caller may read (or the one named, if it may
 *		read it): its file size, the free space its free space map records
 *		(reusable_bytes: read here block by block, as pg_freespacemap
 *		does, without that extension) and what a compaction could give
 *		back (returnable_bytes).  A table another
 *		session holds in ACCESS EXCLUSIVE is skipped, never waited for.
 */
Datum
pgscale_space_reclaimable(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			only = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	uint64		i;
	uint64		n;
	Oid		   *relids;

	pgs_init_materialized_srf(fcinfo);

	SPI_connect();
	if (OidIsValid(only))
		pgs_spi_execf("SELECT c.oid FROM pg_catalog.pg_class c"
					  " WHERE c.oid OPERATOR(pg_catalog.=) %u AND c.relkind OPERATOR(pg_catalog.=) 'r'"
					  " AND pg_catalog.has_table_privilege(c.oid, 'SELECT')",
					  only);
	else
		pgs_spi_exec("SELECT c.oid FROM pg_catalog.pg_class c"
					 " JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
					 " WHERE c.relkind OPERATOR(pg_catalog.=) 'r'"
					 " AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema', 'pg_toast'])"
					 " AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"
					 " ORDER BY c.oid");
	n = SPI_processed;
	relids = palloc(sizeof(Oid) * Max(n, 1));
	for (i = 0; i < n; i++)
		relids[i] = pgs_get_oid((int) i, 1);
	SPI_finish();

	for (i = 0; i < n; i++)
	{
		Relation	rel;
		SpaceFigures sf;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (!ConditionalLockRelationOid(relids[i], AccessShareLock))
			continue;
		rel = try_relation_open(relids[i], NoLock);
		if (rel == NULL)
		{
			UnlockRelationOid(relids[i], AccessShareLock);
			continue;
		}
		if (rel->rd_rel->relam != HEAP_TABLE_AM_OID)
		{
			relation_close(rel, AccessShareLock);
			continue;
		}
		measure_space(rel, &sf);
		relation_close(rel, AccessShareLock);
		values[0] = ObjectIdGetDatum(relids[i]);
		values[1] = Int64GetDatum(sf.file_bytes);
		values[2] = Int64GetDatum(sf.reusable_bytes);
		values[3] = Int64GetDatum(sf.returnable_bytes);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
