/*-------------------------------------------------------------------------
 *
 * diag_status.c
 *	  pgscale_policy_status(): one row per policy saying whether the table
 *	  keeps to its retention (the age of its oldest row against it) and
 *	  how its maintenance goes (last run, last success, last error, errors
 *	  in a row, what was removed in the last 30 days, months premade
 *	  ahead, rows in the default partition, gaps between partitions, the
 *	  worker's next cycle).  pgscale_health() turns the rows into checks.
 *
 *	  The oldest row is found cheaply, never by a scan of a large table:
 *	  from the partition bounds (the oldest partition holding rows lies
 *	  wholly before the compliance limit), else by an ordered scan of a
 *	  btree index that leads with the time column (LIMIT 1), else in a
 *	  sample of at most PGS_STATUS_SAMPLE_BLOCKS blocks (the whole heap
 *	  when it is that small).  The column oldest_row_source says which.
 *	  Nothing waits on a lock: a table, partition or index that someone
 *	  holds against readers is reported with NULLs and the source
 *	  'locked'.  The table's rows are read as its owner, under
 *	  SECURITY_RESTRICTED_OPERATION, as maintenance reads them.
 *
 *	  Compliance: the table is out of compliance when its oldest row is
 *	  older than now() - retention - PGS_STATUS_TOLERANCE, a day, or two
 *	  worker naptimes when the naptime is longer than half a day: a table
 *	  the worker has not reached yet since its rows expired is not late.
 *	  A table with nothing expired (or no rows) is compliant; a policy
 *	  without a retention (premake only, or protected) has no compliance
 *	  (NULL).
 *
 *	  Visibility follows pgscale_policy's row security: members of
 *	  pg_monitor see every policy, other roles those of their tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "diag.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_policy_status);

/* A heap of at most this many blocks is read whole; a larger one sampled. */
#define PGS_STATUS_SAMPLE_BLOCKS 1000

/* Rows of a default partition are counted up to this many. */
#define PGS_STATUS_DEFAULT_CAP	1000000

/* How far ahead premade months are counted (premake's own limit). */
#define PGS_STATUS_MAX_AHEAD	PGS_MAX_NEW_PARTITIONS

/* What the probe of a table's rows, run as its owner, finds. */
typedef struct StatusProbe
{
	Oid			relid;
	const char *column;
	Oid			keytype;		/* the column's base type */
	bool		by_column;		/* range-partitioned on the column */
	int64		limit;			/* the compliance limit, as keytype's int64 */
	Oid			default_part;	/* InvalidOid: none */
	/* results */
	bool		oldest_null;
	TimestampTz oldest;
	const char *source;
	int64		default_rows;	/* -1: not counted */
} StatusProbe;

/*
 * pgs_lock_tree_nowait
 *		ACCESS SHARE on relid, every partition under it and all their
 *		indexes, each taken only if that is possible without waiting (the
 *		planner locks every index of a relation it plans for).  Returns
 *		false as soon as one is held against readers; the locks taken stay
 *		to the end of the transaction, as a query's would.
 */
bool
pgs_lock_tree_nowait(Oid relid)
{
	List	   *rels;
	ListCell   *lc;

	if (!pgs_lock_nowait(relid))
		return false;
	rels = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, rels)
	{
		Oid			r = lfirst_oid(lc);
		Relation	rel;
		List	   *indexes;
		ListCell   *ic;

		if (r != relid && !pgs_lock_nowait(r))
			return false;
		rel = try_relation_open(r, NoLock);
		if (rel == NULL)
			continue;
		indexes = RelationGetIndexList(rel);
		relation_close(rel, NoLock);
		foreach(ic, indexes)
		{
			if (!pgs_lock_nowait(lfirst_oid(ic)))
				return false;
		}
	}
	return true;
}

/*
 * time_index
 *		A valid btree index without a predicate that leads with the column
 *		(a partitioned index counts for a partitioned table), InvalidOid
 *		when there is none.  Read from the relation's index list and the
 *		syscache, not by a query: it is asked once per policy on every
 *		call of the status.  The relation is locked already
 *		(pgs_lock_tree_nowait).
 */
static Oid
time_index(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;
	Oid			found = InvalidOid;

	if (attnum == InvalidAttrNumber)
		return InvalidOid;
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
		return InvalidOid;
	indexes = RelationGetIndexList(rel);
	relation_close(rel, NoLock);
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup;
		Form_pg_index index;
		bool		usable;

		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		usable = index->indisvalid && index->indnatts > 0 &&
			index->indkey.values[0] == attnum &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL);
		ReleaseSysCache(tup);
		if (usable && pgs_rel_am(indexoid) == BTREE_AM_OID)
		{
			found = indexoid;
			break;
		}
	}
	list_free(indexes);
	return found;
}

/*
 * oldest_by_index
 *		The first non-null value of the time index of a plain table, read
 *		by an index scan without planning a query (planning opens every
 *		index of the table, for each policy on each call).  It finds what
 *		"ORDER BY column LIMIT 1" finds: only used when the index orders by
 *		the column type's default btree operator class (either direction),
 *		the column is a date or timestamp, and no row security applies to
 *		the owner (FORCE ROW LEVEL SECURITY).  Returns false when it does
 *		not apply, for the query to answer.
 */
static bool
oldest_by_index(StatusProbe *p, Oid relid, Oid indexoid)
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	ScanKeyData key;
	TupleTableSlot *slot;
	AttrNumber	attnum;
	Oid			opclass;
	bool		applies;

	if (get_rel_relkind(relid) != RELKIND_RELATION || !ActiveSnapshotSet() ||
		(p->keytype != TIMESTAMPTZOID && p->keytype != TIMESTAMPOID &&
		 p->keytype != DATEOID))
		return false;
	opclass = GetDefaultOpClass(p->keytype, BTREE_AM_OID);
	if (!OidIsValid(opclass))
		return false;

	heap = table_open(relid, NoLock);
	index = index_open(indexoid, NoLock);
	applies = !(heap->rd_rel->relrowsecurity && heap->rd_rel->relforcerowsecurity) &&
		index->rd_opfamily[0] == get_opclass_family(opclass) &&
		index->rd_opcintype[0] == p->keytype;
	if (!applies)
	{
		index_close(index, NoLock);
		table_close(heap, NoLock);
		return false;
	}

	attnum = index->rd_index->indkey.values[0];
	ScanKeyEntryInitialize(&key, SK_ISNULL | SK_SEARCHNOTNULL, 1,
						   InvalidStrategy, InvalidOid, InvalidOid, InvalidOid,
						   (Datum) 0);
	slot = table_slot_create(heap, NULL);
	scan = pgs_index_beginscan(heap, index, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	p->oldest_null = true;
	if (index_getnext_slot(scan,
						   (index->rd_indoption[0] & INDOPTION_DESC) ?
						   BackwardScanDirection : ForwardScanDirection,
						   slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, attnum, &isnull);

		if (!isnull)
		{
			if (p->keytype == DATEOID)
				d = DirectFunctionCall1(date_timestamptz, d);
			else if (p->keytype == TIMESTAMPOID)
				d = DirectFunctionCall1(timestamp_timestamptz, d);
			p->oldest = DatumGetTimestampTz(d);
			p->oldest_null = false;
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(heap, NoLock);
	p->source = "index";
	return true;
}

/*
 * heap_blocks
 *		Blocks of a plain table (read from its size), or of the leaves of a
 *		partitioned one (from pg_class.relpages, which is cheap and close
 *		enough to size a sample).
 */
static int64
heap_blocks(Oid relid)
{
	if (get_rel_relkind(relid) == RELKIND_RELATION)
	{
		Relation	rel = table_open(relid, NoLock);
		int64		n = RelationGetNumberOfBlocks(rel);

		table_close(rel, NoLock);
		return n;
	}
	return pgs_spi_int8_oid("SELECT coalesce(pg_catalog.sum(greatest(c.relpages, 0)), 0)::pg_catalog.int8"
							"  FROM pg_catalog.pg_partition_tree($1) t"
							"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid"
							" WHERE t.isleaf", relid);
}

/*
 * oldest_by_scan
 *		The oldest value of the column in relid (a table, a partition, or a
 *		partitioned table with its partitions) by the index, else by a
 *		bounded sample.  Sets the probe's oldest, oldest_null and source.
 */
static void
oldest_by_scan(StatusProbe *p, Oid relid)
{
	const char *qcol = quote_identifier(p->column);
	char	   *qrel = pgs_qualified_name(relid);
	char	   *sql;
	int			nest = NewGUCNestLevel();
	int64		blocks;
	Oid			indexoid = time_index(relid, p->column);

	if (OidIsValid(indexoid) && oldest_by_index(p, relid, indexoid))
	{
		AtEOXact_GUC(true, nest);
		return;
	}
	if (OidIsValid(indexoid))
	{
		/* only the ordered index scan is left to the planner */
		(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		sql = psprintf("SELECT %1$s::pg_catalog.timestamptz FROM %2$s"
					   " WHERE %1$s IS NOT NULL ORDER BY %1$s LIMIT 1", qcol, qrel);
		p->source = "index";
	}
	else
	{
		blocks = heap_blocks(relid);
		if (blocks <= PGS_STATUS_SAMPLE_BLOCKS)
			sql = psprintf("SELECT pg_catalog.min(%s)::pg_catalog.timestamptz FROM %s",
						   qcol, qrel);
		else
			sql = psprintf("SELECT pg_catalog.min(%s)::pg_catalog.timestamptz FROM %s"
						   " TABLESAMPLE SYSTEM (%.6f) REPEATABLE (0)",
						   qcol, qrel,
						   100.0 * PGS_STATUS_SAMPLE_BLOCKS / (double) blocks);
		p->source = "sample";
	}
	pgs_spi_query(sql, 0, NULL, NULL, NULL);
	p->oldest_null = SPI_processed == 0 || pgs_isnull(0, 1);
	if (!p->oldest_null)
		p->oldest = DatumGetTimestampTz(pgs_get_datum(0, 1, &p->oldest_null));
	SPI_freetuptable(SPI_tuptable);
	AtEOXact_GUC(true, nest);
}

/*
 * has_rows
 *		Whether a relation (with its partitions) has any row.
 */
static bool
has_rows(Oid relid)
{
	return pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM (SELECT 1 FROM %s LIMIT 1) s",
								 pgs_qualified_name(relid)),
						0, NULL, NULL, NULL, true) > 0;
}

/*
 * as_timestamptz
 *		A bound of keytype as timestamptz (a date at midnight, a timestamp
 *		in the session's time zone, as the casts of the index path do).
 */
static TimestampTz
as_timestamptz(int64 bound, Oid keytype)
{
	Datum		d = pgs_timestamp_as_datum(bound, keytype);

	if (keytype == DATEOID)
		d = DirectFunctionCall1(date_timestamptz, d);
	else if (keytype == TIMESTAMPOID)
		d = DirectFunctionCall1(timestamp_timestamptz, d);
	else if (keytype != TIMESTAMPTZOID)
	{
		Oid			argtypes[1] = {keytype};
		Datum		values[1] = {d};
		bool		isnull;

		pgs_spi_query("SELECT $1::pg_catalog.timestamptz", 1, argtypes, values, NULL);
		d = pgs_get_datum(0, 1, &isnull);
		SPI_freetuptable(SPI_tuptable);
	}
	return DatumGetTimestampTz(d);
}

/*
 * oldest_by_bounds
 *		For a table range-partitioned on its time column: when the oldest
 *		partition holding rows ends before the compliance limit, its lower
 *		bound is the answer (the rows in it are expired whatever they are);
 *		rows of the default partition are looked up too.  Returns false
 *		when the bounds do not settle it.
 */
static bool
oldest_by_bounds(StatusProbe *p)
{
	PgsPartition *parts;
	int			n = pgs_read_partitions(p->relid, &parts);
	bool	   *done = palloc0(sizeof(bool) * Max(n, 1));
	int			k;

	/* the range partitions in order of their lower bounds */
	for (k = 0; k < n; k++)
	{
		int			best = -1;
		int			i;

		for (i = 0; i < n; i++)
		{
			PgsPartBounds *b = &parts[i].bounds;

			if (done[i] || !b->is_range)
				continue;
			if (best < 0 || (b->lo_unbounded && !parts[best].bounds.lo_unbounded) ||
				(!b->lo_unbounded && !parts[best].bounds.lo_unbounded &&
				 b->lo < parts[best].bounds.lo))
				best = i;
		}
		if (best < 0)
			break;
		done[best] = true;
		if (!has_rows(parts[best].relid))
			continue;
		if (parts[best].bounds.lo_unbounded || parts[best].bounds.hi_unbounded ||
			parts[best].bounds.hi > p->limit)
			return false;
		p->oldest = as_timestamptz(parts[best].bounds.lo, p->keytype);
		p->oldest_null = false;
		p->source = "partition bounds";
		break;
	}
	if (p->source == NULL)
	{
		/* no range partition holds rows: the default one may */
		if (!OidIsValid(p->default_part))
		{
			p->oldest_null = true;
			p->source = "partition bounds";
			return true;
		}
		return false;
	}
	if (OidIsValid(p->default_part) && p->default_rows != 0)
	{
		StatusProbe d = *p;

		oldest_by_scan(&d, p->default_part);
		if (!d.oldest_null && d.oldest < p->oldest)
			p->oldest = d.oldest;
	}
	return true;
}

/*
 * probe_step
 *		What pgscale_policy_status() reads of a table's rows, as its owner.
 */
static void
probe_step(void *arg)
{
	StatusProbe *p = (StatusProbe *) arg;

	if (OidIsValid(p->default_part))
		p->default_rows = pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM"
												" (SELECT 1 FROM %s LIMIT %d) s",
												pgs_qualified_name(p->default_part),
												PGS_STATUS_DEFAULT_CAP),
									   0, NULL, NULL, NULL, true);
	if (p->column == NULL)
		return;
	p->source = NULL;
	if (p->by_column && oldest_by_bounds(p))
		return;
	oldest_by_scan(p, p->relid);
}

/*
 * compliance_limit
 *		now() - retention - the tolerance of compliance: a day, or two
 *		naptimes of the worker when that is longer (a cycle may run up to
 *		one naptime after rows expire, and take a while).  Rows older than
 *		it are late.
 */
static TimestampTz
compliance_limit(PgsPolicyStatus *st)
{
	Interval	one_day;
	Interval	naptimes;
	Interval   *tolerance;
	Datum		d;

	memset(&one_day, 0, sizeof(one_day));
	one_day.day = 1;
	memset(&naptimes, 0, sizeof(naptimes));
	naptimes.time = (int64) 2 * pgscale_naptime * USECS_PER_SEC;
	tolerance = DatumGetInt32(DirectFunctionCall2(interval_cmp,
												  IntervalPGetDatum(&naptimes),
												  IntervalPGetDatum(&one_day))) > 0 ?
		&naptimes : &one_day;
	d = DirectFunctionCall2(timestamptz_mi_interval,
							TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
							IntervalPGetDatum(&st->retention));
	d = DirectFunctionCall2(timestamptz_mi_interval, d, IntervalPGetDatum(tolerance));
	return DatumGetTimestampTz(d);
}

/*
 * limit_as_key
 *		The compliance limit as keytype's int64, to compare with partition
 *		bounds.
 */
static int64
limit_as_key(TimestampTz limit, Oid keytype)
{
	Datum		d = TimestampTzGetDatum(limit);

	if (keytype == DATEOID)
		d = DirectFunctionCall1(timestamptz_date, d);
	else if (keytype == TIMESTAMPOID)
		d = DirectFunctionCall1(timestamptz_timestamp, d);
	return pgs_datum_as_timestamp(d, keytype);
}

/*
 * prepare_read_log
 *		The query of read_log, planned once per call of the status (it is
 *		run for every policy; planning it each time was most of the cost),
 *		as a generic plan so that no execution plans it again.  The plan
 *		lives in the caller's SPI connection.
 */
static SPIPlanPtr
prepare_read_log(void)
{
	Oid			argtypes[1] = {OIDOID};
	SPIPlanPtr	plan;

	plan = SPI_prepare_cursor(psprintf("WITH g AS ("
								"  SELECT g.id, g.logged_at, g.action, g.rows, g.detail FROM %s g"
								"   WHERE g.relid OPERATOR(pg_catalog.=) $1),"
								" s AS ("
								"  SELECT greatest((SELECT p.cleaned_at FROM %s p"
								"                    WHERE p.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1),"
								"                  (SELECT pg_catalog.max(g.logged_at) FROM g"
								"                    WHERE g.action <> ALL ('{error,refused}'::pg_catalog.text[])))"
								"         AS last_success)"
								"SELECT greatest(s.last_success, (SELECT pg_catalog.max(g.logged_at) FROM g)),"
								"       s.last_success,"
								"       (SELECT g.detail FROM g WHERE g.action = 'error' ORDER BY g.id DESC LIMIT 1),"
								"       (SELECT pg_catalog.max(g.logged_at) FROM g WHERE g.action = 'error'),"
								"       (SELECT pg_catalog.count(*) FROM g WHERE g.action = 'error'"
								"          AND g.logged_at > coalesce(s.last_success, '-infinity')),"
								"       (SELECT coalesce(pg_catalog.sum(g.rows), 0)::pg_catalog.int8 FROM g"
								"         WHERE g.action = 'delete'"
								"           AND g.logged_at > pg_catalog.now() - '30 days'::pg_catalog.interval),"
								"       (SELECT pg_catalog.count(*) FROM g WHERE g.action = 'drop_partition'"
								"           AND g.logged_at > pg_catalog.now() - '30 days'::pg_catalog.interval)"
								"  FROM s",
								pgs_ext_table("pgscale_log"), pgs_ext_table("pgscale_policy")),
							  1, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/*
 * read_log
 *		The policy's runs, from pgscale_log and its cleaned_at: the last
 *		run and success, the last error, the errors logged since the last
 *		success, what was removed in the last 30 days.  plan is
 *		prepare_read_log's.
 */
static void
read_log(PgsPolicyStatus *st, SPIPlanPtr plan)
{
	Datum		values[1] = {ObjectIdGetDatum(st->relid)};
	bool		isnull;
	int			ret;

	ret = SPI_execute_plan(plan, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	st->last_run = pgs_isnull(0, 1) ? 0 : DatumGetTimestampTz(pgs_get_datum(0, 1, &isnull));
	st->last_success = pgs_isnull(0, 2) ? 0 : DatumGetTimestampTz(pgs_get_datum(0, 2, &isnull));
	st->last_error = pgs_get_text(0, 3);
	st->last_error_at = pgs_isnull(0, 4) ? 0 : DatumGetTimestampTz(pgs_get_datum(0, 4, &isnull));
	st->consecutive_failures = pgs_get_int8(0, 5);
	st->rows_removed_30d = pgs_get_int8(0, 6);
	st->partitions_removed_30d = pgs_get_int8(0, 7);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * read_partitions
 *		For a table range-partitioned on a date or timestamp column: months
 *		after the current one covered from end to end without a break, and
 *		the pieces no partition covers between the oldest partition's lower
 *		bound and the end of the newest partition or of the premade window,
 *		whichever is later.  The parent is locked already.
 */
static void
read_partitions(PgsPolicyStatus *st, PgsPolicy *pol, const char *keycol,
				Oid keytype)
{
	const char *tz = pol->time_zone ? pol->time_zone : "UTC";
	int			now = pgs_current_month(keytype, tz);
	PgsRangeList ranges;
	int64		lo = PG_INT64_MAX;
	int64		hi = PG_INT64_MIN;
	int64	   *glo;
	int64	   *ghi;
	int			m;
	int			i;

	st->months_ahead = 0;
	for (m = now + 1; m <= now + PGS_STATUS_MAX_AHEAD; m++)
	{
		if (pgs_uncovered_ranges(pol->relid, m, m, keytype, tz) > 0)
			break;
		st->months_ahead++;
	}

	pgs_read_ranges(pol->relid, &ranges);
	for (i = 0; i < ranges.n; i++)
	{
		if (ranges.lo[i] != PG_INT64_MIN)
			lo = Min(lo, ranges.lo[i]);
		if (ranges.hi[i] != PG_INT64_MAX)
			hi = Max(hi, ranges.hi[i]);
	}
	if (pol->premake_months >= 0)
	{
		int64		end = pgs_datum_as_timestamp(pgs_month_bound(now + pol->premake_months + 1,
																 keytype, tz), keytype);

		hi = Max(hi, end);
		if (lo == PG_INT64_MAX)
			lo = pgs_datum_as_timestamp(pgs_month_bound(now, keytype, tz), keytype);
	}
	st->partition_gaps = lo < hi ? pgs_range_gaps(&ranges, lo, hi, &glo, &ghi) : 0;
}

/*
 * policy_status
 *		The status of one policy.  log_plan is prepare_read_log's.
 */
static PgsPolicyStatus *
policy_status(PgsPolicy *pol, bool have_next, TimestampTz next_run,
			  SPIPlanPtr log_plan)
{
	PgsPolicyStatus *st = palloc0(sizeof(PgsPolicyStatus));
	StatusProbe probe;
	char	   *keycol;
	Oid			keytype = InvalidOid;
	bool		partitioned;
	ErrorData  *edata = NULL;
	TimestampTz limit = 0;

	st->relid = pol->relid;
	st->enabled = pol->enabled;
	st->has_retention = pol->has_retention && !pol->is_protected;
	st->retention = pol->retention;
	st->time_column = (char *) pgs_policy_time_column_if_valid(pol);
	st->months_configured = pol->premake_months;
	st->months_ahead = -1;
	st->default_rows = -1;
	st->partition_gaps = -1;
	st->have_next_run = have_next && pol->enabled;
	st->next_run = next_run;
	read_log(st, log_plan);

	keycol = pgs_range_partition_column(pol->relid);
	if (keycol != NULL)
		keytype = pgs_time_column_type(pol->relid, keycol, true);
	partitioned = keycol != NULL && OidIsValid(keytype);

	memset(&probe, 0, sizeof(probe));
	probe.relid = pol->relid;
	probe.column = st->time_column;
	probe.default_rows = -1;
	probe.oldest_null = true;
	if (probe.column != NULL)
		probe.keytype = getBaseType(get_atttype(pol->relid, pol->time_attnum));
	probe.by_column = partitioned && probe.column != NULL &&
		strcmp(keycol, probe.column) == 0;

	if (!pgs_lock_tree_nowait(pol->relid))
	{
		st->oldest_source = "locked";
		return st;
	}
	if (partitioned)
	{
		(void) pgs_covering_partition(pol->relid, 0, 0, &probe.default_part);
		read_partitions(st, pol, keycol, keytype);
	}
	if (probe.column != NULL)
	{
		limit = compliance_limit(st);
		probe.limit = limit_as_key(limit, probe.keytype);
	}
	if (!pgs_run_guarded_as(pol->relid, probe_step, &probe, &edata))
	{
		ereport(DEBUG1,
				(errmsg("pgscale_policy_status could not read %s: %s",
						pgs_display_name(pol->relid), edata->message)));
		FreeErrorData(edata);
		return st;
	}
	st->default_rows = probe.default_rows;
	if (probe.column == NULL)
		return st;
	st->oldest_source = probe.source;
	st->oldest_known = true;
	st->oldest_null = probe.oldest_null;
	st->oldest = probe.oldest;
	if (st->has_retention)
	{
		st->compliant_known = true;
		st->compliant = st->oldest_null || st->oldest >= limit;
	}
	return st;
}

/*
 * pgs_collect_policy_status
 *		The status of every policy the caller sees, by table name.
 */
List *
pgs_collect_policy_status(void)
{
	List	   *policies = pgs_load_policies(InvalidOid);
	List	   *result = NIL;
	ListCell   *lc;
	TimestampTz next_run = 0;
	bool		have_next = pgs_worker_next_run(&next_run);
	SPIPlanPtr	log_plan = prepare_read_log();

	foreach(lc, policies)
	{
		PgsPolicy  *pol = (PgsPolicy *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (!OidIsValid(get_rel_namespace(pol->relid)))
			continue;			/* dropped meanwhile */
		result = lappend(result, policy_status(pol, have_next, next_run, log_plan));
	}
	SPI_freeplan(log_plan);
	return result;
}

/*
 * pgscale_policy_status()
 *		SQL: one row per policy.
 */
Datum
pgscale_policy_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rows;
	ListCell   *lc;

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();
	pgs_reset_skipped();
	rows = pgs_collect_policy_status();
	foreach(lc, rows)
	{
		PgsPolicyStatus *st = lfirst(lc);
		Datum		values[19];
		bool		nulls[19];

		memset(nulls, 0, sizeof(nulls));
		values[0] = ObjectIdGetDatum(st->relid);
		values[1] = BoolGetDatum(st->enabled);
		values[2] = IntervalPGetDatum(&st->retention);
		nulls[2] = !st->has_retention;
		if (st->time_column)
			values[3] = DirectFunctionCall1(namein, CStringGetDatum(st->time_column));
		else
			nulls[3] = true;
		values[4] = TimestampTzGetDatum(st->oldest);
		nulls[4] = !st->oldest_known || st->oldest_null;
		if (!nulls[4])
			values[5] = DirectFunctionCall2(timestamptz_age,
											TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
											TimestampTzGetDatum(st->oldest));
		nulls[5] = nulls[4];
		if (st->oldest_source)
			values[6] = CStringGetTextDatum(st->oldest_source);
		else
			nulls[6] = true;
		values[7] = BoolGetDatum(st->compliant);
		nulls[7] = !st->compliant_known;
		values[8] = TimestampTzGetDatum(st->last_run);
		nulls[8] = st->last_run == 0;
		values[9] = TimestampTzGetDatum(st->last_success);
		nulls[9] = st->last_success == 0;
		if (st->last_error)
			values[10] = CStringGetTextDatum(st->last_error);
		else
			nulls[10] = true;
		values[11] = TimestampTzGetDatum(st->last_error_at);
		nulls[11] = st->last_error_at == 0;
		values[12] = Int32GetDatum((int32) st->consecutive_failures);
		values[13] = Int64GetDatum(st->rows_removed_30d);
		values[14] = Int32GetDatum((int32) st->partitions_removed_30d);
		values[15] = Int32GetDatum(st->months_ahead);
		nulls[15] = st->months_ahead < 0;
		values[16] = Int64GetDatum(st->default_rows);
		nulls[16] = st->default_rows < 0;
		values[17] = Int32GetDatum(st->partition_gaps);
		nulls[17] = st->partition_gaps < 0;
		values[18] = TimestampTzGetDatum(st->next_run);
		nulls[18] = !st->have_next_run;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/* Errors since the last success: a warning from the first, critical from the second. */
#define FAILURES_WARN			3
#define FAILURES_CRITICAL		10

/*
 * pgs_health_policy_status
 *		The checks of pgscale_health() read from pgscale_policy_status():
 *		policies out of compliance, failing run after run, with fewer months
 *		premade than configured, or with rows in their default partition.
 *		(Gaps are the "partition gaps" check's.)  Each names how many and
 *		the first.
 */
void
pgs_health_policy_status(List **checks)
{
	List	   *rows = pgs_collect_policy_status();
	ListCell   *lc;
	int			late = 0;
	int			failing = 0;
	int			failing_critical = 0;
	int			short_ahead = 0;
	int			none_ahead = 0;
	int			defaults = 0;
	int64		default_rows = 0;
	char	   *late_first = NULL;
	char	   *failing_first = NULL;
	char	   *short_first = NULL;
	char	   *default_first = NULL;

	foreach(lc, rows)
	{
		PgsPolicyStatus *st = lfirst(lc);
		char	   *name = pgs_display_name(st->relid);

		if (st->enabled && st->compliant_known && !st->compliant)
		{
			late++;
			if (late_first == NULL)
				late_first = name;
		}
		if (st->enabled && st->consecutive_failures >= FAILURES_WARN)
		{
			failing++;
			if (st->consecutive_failures >= FAILURES_CRITICAL)
				failing_critical++;
			if (failing_first == NULL)
				failing_first = psprintf("%s, " INT64_FORMAT " errors", name,
										 st->consecutive_failures);
		}
		if (st->enabled && st->months_configured > 0 && st->months_ahead >= 0 &&
			st->months_ahead < st->months_configured)
		{
			short_ahead++;
			if (st->months_ahead == 0)
				none_ahead++;
			if (short_first == NULL)
				short_first = psprintf("%s, %d of %d", name, st->months_ahead,
									   st->months_configured);
		}
		if (st->default_rows > 0)
		{
			defaults++;
			default_rows += st->default_rows;
			if (default_first == NULL)
				default_first = name;
		}
	}

	pgs_add_check(checks, "retention compliance", late > 0 ? "warn" : "ok",
				  late > 0 ? psprintf("%d policies with rows older than their retention (first: %s)",
									  late, late_first) :
				  pstrdup("every table within its retention"),
				  pstrdup("warn when a table's oldest row is older than its retention, by over a day "
						  "(or two pgscale.naptime)"),
				  pstrdup("pgscale_policy_status() shows the oldest row and the last error of each table: "
						  "fix what keeps its cleanup from running (pgscale_log, action = 'error' or 'refused'), "
						  "then run pgscale_cleanup(relation => ...)."));
	pgs_add_check(checks, "failing maintenance",
				  failing_critical > 0 ? "critical" : failing > 0 ? "warn" : "ok",
				  failing > 0 ? psprintf("%d policies (first: %s)", failing, failing_first) :
				  pstrdup("none"),
				  psprintf("warn from %d errors since a policy's last success, critical from %d",
						   FAILURES_WARN, FAILURES_CRITICAL),
				  pstrdup("pgscale_policy_status() has the last error: fix its cause (a lock held, a trigger "
						  "or constraint of the table that raises, a dropped column), then run "
						  "pgscale_cleanup(relation => ...); LISTEN pgscale_alert to hear of the next failure."));
	pgs_add_check(checks, "premade months",
				  none_ahead > 0 ? "critical" : short_ahead > 0 ? "warn" : "ok",
				  short_ahead > 0 ? psprintf("%d policies with fewer months premade than configured (first: %s)",
											 short_ahead, short_first) :
				  pstrdup("every partitioned table premade as configured"),
				  pstrdup("warn when fewer months after this one have partitions than the policy's "
						  "months_ahead, critical when next month has none"),
				  pstrdup("Run pgscale_create_month_partitions() on the table, and look in pgscale_log "
						  "(action = 'error') for why maintenance did not."));
	pgs_add_check(checks, "rows in default partitions", defaults > 0 ? "warn" : "ok",
				  defaults > 0 ? psprintf(INT64_FORMAT " row%s in %d table%s (first: %s)",
										  default_rows, default_rows == 1 ? "" : "s",
										  defaults, defaults == 1 ? "" : "s", default_first) :
				  pstrdup("none"),
				  pstrdup("warn when a managed table's default partition holds rows"),
				  pstrdup("Rows there are outside every month's partition: premake the months they "
						  "belong to with pgscale_create_month_partitions() (which moves them), or "
						  "check the application's clock."));
}
