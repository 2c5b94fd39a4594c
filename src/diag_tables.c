/*-------------------------------------------------------------------------
 *
 * diag_tables.c
 *	  Where the space goes: pgscale_space_report(), the size of every
 *	  table ("\dt+" for the whole database), partitions summed at their
 *	  partitioned table.
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
#include "diag_citus.h"

PG_FUNCTION_INFO_V1(pgscale_space_report);

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
	SPITupleTable *tables;
	uint64		ntables;
	uint64		row;

	pgs_spi_query(space_sql, 0, NULL, NULL, NULL);
	tables = SPI_tuptable;
	ntables = SPI_processed;
	for (row = 0; row < ntables; row++)
	{
		PgsSpaceRow *sp = palloc0(sizeof(PgsSpaceRow));
		bool		leaves_null;
		Datum		leaves;
		PgsCitusShards shards;

		CHECK_FOR_INTERRUPTS();
		leaves = pgs_get_datum(row, 4, &leaves_null);

		sp->relid = pgs_get_oid(row, 1);
		sp->schema_name = pgs_get_text(row, 2);
		sp->table_name = pgs_get_text(row, 3);
		sp->partitions = pgs_get_int4(row, 5);
		sp->estimated_rows = pgs_get_int8(row, 7);
		sp->rows_known = pgs_get_bool(row, 8);
		sp->partitioned = pgs_get_bool(row, 9);
		sp->known = pgs_sum_table_bytes(leaves, leaves_null, &sp->bytes);

		/*
		 * A Citus table's rows are in its shards: add every placement's
		 * bytes and live rows to the coordinator's (empty) shell.  A shard,
		 * in a session that shows shards, is left out.
		 */
		if (!pgs_citus_shards(PGS_CITUS_TABLES, leaves, leaves_null, &shards))
			continue;
		if (shards.citus && !shards.known)
		{
			sp->known = false;
			sp->unknown = pgs_citus_unknown_phrase(shards.failed, shards.placements);
		}
		else if (shards.citus)
		{
			sp->bytes.table_bytes += shards.table_bytes;
			sp->bytes.toast_bytes += shards.toast_bytes;
			sp->bytes.index_bytes += shards.index_bytes;
			sp->estimated_rows += shards.live_rows;
			sp->rows_known = true;
		}
		sp->total_bytes = sp->bytes.table_bytes + sp->bytes.toast_bytes +
			sp->bytes.index_bytes;
		sp->order_bytes = sp->known ? sp->total_bytes : pgs_get_int8(row, 6);
		result = lappend(result, sp);
	}
	SPI_freetuptable(tables);

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
		else if (sp->unknown)
		{
			nulls[2] = nulls[3] = nulls[4] = nulls[5] = true;
			values[7] = CStringGetTextDatum(sp->unknown);
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
