/*-------------------------------------------------------------------------
 *
 * tables.c
 *	  Per-table diagnostics: tables that want an index (the seed's
 *	  "seq_scan > idx_scan * 10" rule, without forgetting the tables that
 *	  have no index at all), and where the space goes (the seed's
 *	  "\dt+ metrics_*"), partitions summed at their partitioned table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "diag.h"

PG_FUNCTION_INFO_V1(pgscale_missing_indexes);
PG_FUNCTION_INFO_V1(pgscale_space_report);

/*
 * Tables read mostly by sequential scans.  The counters of partitions are
 * summed at their topmost partitioned table, where an index is created.
 * idx_scan is NULL when no member has any index, and the rule then counts
 * it as 0 (the seed's query silently skips such tables).  $1 is min_rows.
 */
static const char *missing_sql =
"WITH ix AS ("
"  SELECT i.indrelid,"
"         pg_catalog.sum(pg_catalog.pg_stat_get_numscans(i.indexrelid)) AS idx_scan"
"    FROM pg_catalog.pg_index i GROUP BY i.indrelid"
"), tab AS ("
"  SELECT CASE WHEN c.relispartition"
"              THEN pg_catalog.pg_partition_root(c.oid) ELSE c.oid END AS root,"
"         c.oid,"
"         pg_catalog.pg_stat_get_numscans(c.oid) AS seq_scan,"
"         pg_catalog.pg_stat_get_tuples_returned(c.oid) AS seq_tup_read,"
"         ix.idx_scan,"
"         pg_catalog.pg_stat_get_live_tuples(c.oid) AS live"
"    FROM pg_catalog.pg_class c"
"    LEFT JOIN ix ON ix.indrelid = c.oid"
"   WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'"
"), grp AS ("
"  SELECT x.root,"
"         pg_catalog.sum(x.seq_scan)::bigint AS seq_scan,"
"         pg_catalog.sum(x.seq_tup_read)::bigint AS seq_tup_read,"
"         pg_catalog.sum(x.idx_scan)::bigint AS idx_scan,"
"         pg_catalog.sum(x.live)::bigint AS live,"
"         pg_catalog.array_agg(x.oid) AS leaves"
"    FROM tab x GROUP BY x.root"
")"
"SELECT n.nspname, r.relname, g.seq_scan, g.seq_tup_read, g.idx_scan, g.live,"
"       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i"
"         WHERE i.indrelid = g.root)::integer,"
"       g.leaves"
"  FROM grp g"
"  JOIN pg_catalog.pg_class r ON r.oid = g.root"
"  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
" WHERE g.live > $1"
"   AND g.seq_scan > coalesce(g.idx_scan, 0) * 10"
"   AND " PGS_USER_SCHEMA_FILTER("n")
" ORDER BY g.seq_tup_read DESC, n.nspname, r.relname";

/*
 * Every table, materialized view and partitioned table, partitions grouped
 * under their topmost parent, with the catalog's idea of their size (pages
 * of the heap, its TOAST table and its indexes as of the last VACUUM or
 * ANALYZE) to order the ones that are locked.
 */
static const char *space_sql =
"WITH tab AS ("
"  SELECT CASE WHEN c.relispartition"
"              THEN pg_catalog.pg_partition_root(c.oid) ELSE c.oid END AS root,"
"         c.oid, c.relkind, c.reltuples,"
"         c.relpages::bigint + coalesce(tc.relpages, 0)"
"           + coalesce((SELECT pg_catalog.sum(ic.relpages)"
"                                    FROM pg_catalog.pg_index i"
"                                    JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
"                                   WHERE i.indrelid = c.oid), 0) AS pages"
"    FROM pg_catalog.pg_class c"
"    LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid"
"   WHERE c.relkind IN ('r', 'm', 'p') AND c.relpersistence <> 't'"
"), grp AS ("
"  SELECT x.root,"
"         pg_catalog.array_agg(x.oid) FILTER (WHERE x.relkind <> 'p') AS leaves,"
"         pg_catalog.count(*) FILTER (WHERE x.relkind <> 'p' AND x.oid <> x.root) AS parts,"
"         pg_catalog.sum(x.pages)::bigint AS pages,"
"         pg_catalog.sum(greatest(x.reltuples, 0))"
"           FILTER (WHERE x.relkind <> 'p')::bigint AS reltuples,"
"         pg_catalog.bool_or(x.reltuples >= 0 AND x.relkind <> 'p') AS rows_known"
"    FROM tab x GROUP BY x.root"
")"
"SELECT g.root, n.nspname, r.relname, g.leaves, g.parts,"
"       g.pages * pg_catalog.current_setting('block_size')::bigint,"
"       g.reltuples, g.rows_known, r.relkind = 'p'"
"  FROM grp g"
"  JOIN pg_catalog.pg_class r ON r.oid = g.root"
"  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
" WHERE " PGS_USER_SCHEMA_FILTER("n");

/*
 * pgs_sum_table_bytes
 *		Sum pgs_table_bytes() over the tables of an oid[].  Returns false
 *		when any of them is locked.
 */
static bool
pgs_sum_table_bytes(Datum oids, bool isnull, PgsTableBytes *sum)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;

	memset(sum, 0, sizeof(*sum));
	if (isnull)
		return true;
	arr = DatumGetArrayTypeP(oids);
	deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		PgsTableBytes one;
		PgsSizeStatus status;

		if (nulls[i])
			continue;
		status = pgs_table_bytes(DatumGetObjectId(elems[i]), &one);
		if (status == PGS_SIZE_LOCKED)
		{
			memset(sum, 0, sizeof(*sum));
			return false;
		}
		sum->table_bytes += one.table_bytes;
		sum->toast_bytes += one.toast_bytes;
		sum->index_bytes += one.index_bytes;
	}
	return true;
}

/*
 * pgs_collect_missing_indexes
 *		Tables with more than min_rows live rows that are read by sequential
 *		scans more than ten times as often as through an index.
 */
List *
pgs_collect_missing_indexes(int64 min_rows, const PgsStatsAge *age)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	List	   *result = NIL;
	uint64		row;

	values[0] = Int64GetDatum(min_rows);
	pgs_spi_query(missing_sql, 1, argtypes, values, NULL);

	for (row = 0; row < SPI_processed; row++)
	{
		PgsMissingIndex *mi = palloc0(sizeof(PgsMissingIndex));
		bool		leaves_null;
		Datum		leaves = pgs_get_datum(row, 8, &leaves_null);
		PgsTableBytes bytes;
		StringInfoData advice;

		CHECK_FOR_INTERRUPTS();

		mi->schema_name = pgs_get_text(row, 1);
		mi->table_name = pgs_get_text(row, 2);
		mi->seq_scan = pgs_get_int8(row, 3);
		mi->seq_tup_read = pgs_get_int8(row, 4);
		mi->idx_scan_null = pgs_isnull(row, 5);
		mi->idx_scan = pgs_get_int8(row, 5);
		mi->live_rows = pgs_get_int8(row, 6);
		mi->index_count = pgs_get_int4(row, 7);
		mi->bytes_known = pgs_sum_table_bytes(leaves, leaves_null, &bytes);
		mi->table_bytes = bytes.table_bytes + bytes.toast_bytes;

		initStringInfo(&advice);
		if (mi->idx_scan_null)
			appendStringInfoString(&advice,
								   "no index at all: add a primary key, then index the columns its frequent queries filter on");
		else
			appendStringInfo(&advice,
							 "mostly sequential scans (%.0f per index scan, about " INT64_FORMAT " rows read each): index the columns its frequent queries filter on",
							 (double) mi->seq_scan / (double) Max(mi->idx_scan, 1),
							 mi->seq_scan > 0 ? mi->seq_tup_read / mi->seq_scan : 0);
		appendStringInfoString(&advice, " (pgscale_slow_queries() shows them)");
		if (pgs_stats_young(age))
			appendStringInfo(&advice, "; %s", pgs_stats_age_phrase(age));
		if (!mi->bytes_known)
			appendStringInfoString(&advice, "; size skipped: the table is locked");
		mi->advice = advice.data;

		result = lappend(result, mi);
	}
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * pgscale_missing_indexes
 *		SQL: pgscale_missing_indexes(min_rows bigint DEFAULT 10000)
 */
Datum
pgscale_missing_indexes(PG_FUNCTION_ARGS)
{
	int64		min_rows = pgs_threshold_arg(fcinfo, 0, "min_rows");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgsStatsAge age;
	List	   *rows;
	ListCell   *lc;
	int			nestlevel;

	pgs_init_materialized_srf(fcinfo);
	nestlevel = pgs_begin_stats_snapshot();
	SPI_connect();
	pgs_get_stats_age(&age);
	rows = pgs_collect_missing_indexes(min_rows, &age);

	foreach(lc, rows)
	{
		PgsMissingIndex *mi = lfirst(lc);
		Datum		values[10];
		bool		nulls[10] = {0};

		values[0] = pgs_name_datum(mi->schema_name);
		values[1] = pgs_name_datum(mi->table_name);
		values[2] = Int64GetDatum(mi->seq_scan);
		values[3] = Int64GetDatum(mi->seq_tup_read);
		values[4] = Int64GetDatum(mi->idx_scan);
		nulls[4] = mi->idx_scan_null;
		values[5] = Int64GetDatum(mi->live_rows);
		values[6] = Int32GetDatum(mi->index_count);
		if (mi->bytes_known)
		{
			values[7] = Int64GetDatum(mi->table_bytes);
			values[8] = CStringGetTextDatum(pgs_size_text(mi->table_bytes));
		}
		else
		{
			nulls[7] = true;
			values[8] = CStringGetTextDatum("skipped (locked)");
		}
		values[9] = CStringGetTextDatum(mi->advice);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	pgs_end_stats_snapshot(nestlevel);
	return (Datum) 0;
}

/*
 * pgs_space_cmp
 *		Largest first (measured, else the catalog's figure), then by name.
 */
static int
pgs_space_cmp(const ListCell *a, const ListCell *b)
{
	const PgsSpaceRow *x = lfirst(a);
	const PgsSpaceRow *y = lfirst(b);
	int			c;

	if (x->order_bytes != y->order_bytes)
		return x->order_bytes > y->order_bytes ? -1 : 1;
	if ((c = strcmp(x->schema_name, y->schema_name)) != 0)
		return c;
	return strcmp(x->table_name, y->table_name);
}

/*
 * pgs_collect_space
 *		Every table's heap, TOAST and index bytes, partitions summed at their
 *		topmost partitioned table, largest first.  A table (or any partition
 *		of it) that is locked is kept, unmeasured, in the place its catalog
 *		size gives it.
 */
List *
pgs_collect_space(void)
{
	List	   *result = NIL;
	uint64		row;

	pgs_spi_query(space_sql, 0, NULL, NULL, NULL);
	for (row = 0; row < SPI_processed; row++)
	{
		PgsSpaceRow *sp = palloc0(sizeof(PgsSpaceRow));
		bool		leaves_null;
		Datum		leaves = pgs_get_datum(row, 4, &leaves_null);

		CHECK_FOR_INTERRUPTS();

		sp->relid = pgs_get_oid(row, 1);
		sp->schema_name = pgs_get_text(row, 2);
		sp->table_name = pgs_get_text(row, 3);
		sp->partitions = pgs_get_int4(row, 5);
		sp->estimated_rows = pgs_get_int8(row, 7);
		sp->rows_known = pgs_get_bool(row, 8);
		sp->partitioned = pgs_get_bool(row, 9);
		sp->known = pgs_sum_table_bytes(leaves, leaves_null, &sp->bytes);
		sp->total_bytes = sp->bytes.table_bytes + sp->bytes.toast_bytes +
			sp->bytes.index_bytes;
		sp->order_bytes = sp->known ? sp->total_bytes : pgs_get_int8(row, 6);
		result = lappend(result, sp);
	}
	SPI_freetuptable(SPI_tuptable);

	list_sort(result, pgs_space_cmp);
	return result;
}

/*
 * pgscale_space_report
 *		SQL: pgscale_space_report(lim integer DEFAULT 20)
 */
Datum
pgscale_space_report(PG_FUNCTION_ARGS)
{
	int32		lim = pgs_limit_arg(fcinfo, 0, "lim");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rows;
	ListCell   *lc;
	int32		emitted = 0;

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();
	rows = pgs_collect_space();

	foreach(lc, rows)
	{
		PgsSpaceRow *sp = lfirst(lc);
		Datum		values[8];
		bool		nulls[8] = {0};

		if (emitted++ >= lim)
			break;
		values[0] = pgs_name_datum(sp->schema_name);
		values[1] = pgs_name_datum(sp->table_name);
		if (sp->known)
		{
			values[2] = Int64GetDatum(sp->total_bytes);
			values[3] = Int64GetDatum(sp->bytes.table_bytes);
			values[4] = Int64GetDatum(sp->bytes.index_bytes);
			values[5] = Int64GetDatum(sp->bytes.toast_bytes);
			values[7] = CStringGetTextDatum(pgs_size_text(sp->total_bytes));
		}
		else
		{
			nulls[2] = nulls[3] = nulls[4] = nulls[5] = true;
			values[7] = CStringGetTextDatum(psprintf("skipped (locked; about %s by the catalog)",
													 pgs_size_text(sp->order_bytes)));
		}
		values[6] = Int64GetDatum(sp->estimated_rows);
		nulls[6] = !sp->rows_known;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
