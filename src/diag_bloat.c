/*-------------------------------------------------------------------------
 *
 * diag_bloat.c
 *	  Wasted space in tables and btree indexes.
 *
 *	  The estimate reads only the catalogs: the pages a relation has
 *	  (pg_class.relpages) against the pages its rows would fill when packed
 *	  to its fillfactor, from the row count and the average column widths
 *	  and null fractions ANALYZE keeps.  Those statistics are read from the
 *	  planner's cache rather than from pg_stats, which hides the columns a
 *	  role cannot SELECT: a pg_monitor role gets the same estimate as a
 *	  superuser, and nothing but sizes comes out.
 *
 *	  Exact figures come from pgstattuple (which reads every page) when it
 *	  is installed and the caller asks for them; a relation locked against
 *	  readers is then skipped rather than waited for.
 *
 *	  A Citus table on the coordinator is an empty shell: its estimate is
 *	  made of its shards' catalogs instead (pages and rows summed over every
 *	  placement, the shards' column statistics), and is unknown when a
 *	  placement does not answer; pgstattuple is not run on the shards.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufpage.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "diag.h"
#include "diag_citus.h"

PG_FUNCTION_INFO_V1(pgscale_table_bloat);


/*
 * Tables and materialized views (partitions each on their own: that is
 * where the pages are) with their catalog sizes and fillfactor.
 */
static const char *bloat_tables_sql =
"SELECT c.oid, n.nspname, c.relname, c.relpages::bigint, c.reltuples::float8,"
"       c.relnatts::integer,"
"       coalesce(" PGS_RELOPTION("c", "fillfactor") "::integer, 0)"
"  FROM pg_catalog.pg_class c"
"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
" WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'"
"   AND (c.relpages >= $1%s)%s"
"   AND " PGS_USER_SCHEMA_FILTER("n");

/* Valid btree indexes, likewise, with their columns. */
static const char *bloat_indexes_sql =
"SELECT c.oid, n.nspname, t.relname, c.relname, c.relpages::bigint,"
"       c.reltuples::float8, i.indrelid, i.indkey::pg_catalog.int2[],"
"       coalesce(" PGS_RELOPTION("c", "fillfactor") "::integer, 0)"
"  FROM pg_catalog.pg_index i"
"  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
"  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid"
"  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace"
"  JOIN pg_catalog.pg_am am ON am.oid = c.relam"
" WHERE c.relkind = 'i' AND am.amname = 'btree' AND i.indisvalid"
"   AND c.relpersistence <> 't' AND (c.relpages >= $1%s)%s"
"   AND " PGS_USER_SCHEMA_FILTER("n");

/* What one relation needs before its figures are filled in. */
typedef struct PgsBloatWork
{
	PgsBloatRow *row;
	Oid			relid;
	Oid			heaprelid;		/* for an index */
	int64		pages;
	double		reltuples;
	int			fillfactor;
	PgsCitusBloat *shards;		/* a Citus table's (or index's table's) */
} PgsBloatWork;

/*
 * pgs_column_width
 *		Average stored width and null fraction of one column, from the
 *		statistics ANALYZE gathered (relid/attnum name the relation that
 *		holds them: the table, or the index for an expression), else from
 *		the type.  For a Citus table (shards not NULL) the statistics are
 *		its shards', found by the column's name.
 */
static void
pgs_column_width(Oid statrelid, AttrNumber statattnum, Oid typid,
				 int32 typmod, int16 typlen, const PgsCitusBloat *shards,
				 double *width, double *nullfrac)
{
	HeapTuple	tuple;

	*nullfrac = 0.0;
	if (shards != NULL)
	{
		char	   *attname = statrelid == shards->relid ?
			get_attname(statrelid, statattnum, true) : NULL;
		ListCell   *lc;

		foreach(lc, shards->columns)
		{
			PgsCitusColumn *col = lfirst(lc);

			if (attname != NULL && strcmp(col->name, attname) == 0 &&
				col->width > 0)
			{
				*width = col->width;
				*nullfrac = col->nullfrac;
				return;
			}
		}
		*width = typlen > 0 ? typlen : get_typavgwidth(typid, typmod);
		return;
	}
	tuple = SearchSysCache3(STATRELATTINH, ObjectIdGetDatum(statrelid),
							Int16GetDatum(statattnum), BoolGetDatum(false));
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_statistic stats = (Form_pg_statistic) GETSTRUCT(tuple);

		*width = stats->stawidth;
		*nullfrac = stats->stanullfrac;
		ReleaseSysCache(tuple);
		if (*width > 0)
			return;
	}
	*width = typlen > 0 ? typlen : get_typavgwidth(typid, typmod);
}

/*
 * pgs_align_up
 *		Round a (fractional) offset up to an alignment given as typalign.
 */
static double
pgs_align_up(double offset, char align)
{
	uintptr_t	off = (uintptr_t) ceil(offset);

	switch (align)
	{
		case TYPALIGN_DOUBLE:
			return (double) TYPEALIGN(ALIGNOF_DOUBLE, off);
		case TYPALIGN_INT:
			return (double) TYPEALIGN(ALIGNOF_INT, off);
		case TYPALIGN_SHORT:
			return (double) TYPEALIGN(ALIGNOF_SHORT, off);
		default:
			return offset;
	}
}

/*
 * pgs_column_data
 *		Add one column's expected bytes to a row being laid out.
 */
static void
pgs_column_data(Oid statrelid, AttrNumber statattnum, Form_pg_attribute att,
				const PgsCitusBloat *shards, double *offset, bool *hasnulls)
{
	double		width;
	double		nullfrac;

	pgs_column_width(statrelid, statattnum, att->atttypid, att->atttypmod,
					 att->attlen, shards, &width, &nullfrac);
	if (nullfrac > 0.0)
		*hasnulls = true;
	/* short varlenas are not aligned; fixed-width values are */
	if (att->attlen > 0)
		*offset = pgs_align_up(*offset, att->attalign);
	*offset += width * (1.0 - nullfrac);
}

/*
 * pgs_expected_heap_bytes
 *		Bytes the table's rows would fill, packed to its fillfactor.
 */
static int64
pgs_expected_heap_bytes(Oid relid, int natts, double reltuples, int fillfactor,
						const PgsCitusBloat *shards)
{
	double		data = 0.0;
	bool		hasnulls = false;
	double		tuple;
	double		usable;
	double		per_page;
	AttrNumber	attnum;

	for (attnum = 1; attnum <= natts; attnum++)
	{
		HeapTuple	atttuple;
		Form_pg_attribute att;

		atttuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
								   Int16GetDatum(attnum));
		if (!HeapTupleIsValid(atttuple))
			continue;
		att = (Form_pg_attribute) GETSTRUCT(atttuple);
		if (!att->attisdropped)
			pgs_column_data(relid, attnum, att, shards, &data, &hasnulls);
		ReleaseSysCache(atttuple);
	}

	tuple = MAXALIGN(SizeofHeapTupleHeader + (hasnulls ? BITMAPLEN(natts) : 0)) +
		MAXALIGN((uintptr_t) ceil(data)) + sizeof(ItemIdData);
	usable = (double) (BLCKSZ - SizeOfPageHeaderData) *
		(fillfactor > 0 ? fillfactor : HEAP_DEFAULT_FILLFACTOR) / 100.0;
	per_page = Min(Max(floor(usable / tuple), 1.0), (double) MaxHeapTuplesPerPage);
	return (int64) ceil(reltuples / per_page) * BLCKSZ;
}

/*
 * pgs_expected_btree_bytes
 *		Bytes a freshly built btree over the index's rows would take: leaf
 *		pages packed to its fillfactor, the inner pages above them, and the
 *		metapage.  Deduplication (13+) can make a real index smaller still,
 *		which only ever lowers the waste reported.
 */
static int64
pgs_expected_btree_bytes(Oid indexrelid, Oid heaprelid, int16 *keys,
						 int nkeys, double reltuples, int fillfactor,
						 const PgsCitusBloat *shards)
{
	double		data = 0.0;
	bool		hasnulls = false;
	double		tuple;
	double		usable;
	double		per_leaf;
	double		leaves;
	double		inner;
	double		level;
	int			k;

	for (k = 0; k < nkeys; k++)
	{
		/* plain columns have their statistics on the table */
		Oid			statrel = keys[k] != 0 ? heaprelid : indexrelid;
		AttrNumber	statatt = keys[k] != 0 ? keys[k] : k + 1;
		HeapTuple	atttuple;

		atttuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(indexrelid),
								   Int16GetDatum(k + 1));
		if (!HeapTupleIsValid(atttuple))
			continue;
		pgs_column_data(statrel, statatt,
						(Form_pg_attribute) GETSTRUCT(atttuple), shards,
						&data, &hasnulls);
		ReleaseSysCache(atttuple);
	}

	tuple = MAXALIGN(sizeof(IndexTupleData) +
					 (hasnulls ? sizeof(IndexAttributeBitMapData) : 0) +
					 (uintptr_t) ceil(data)) + sizeof(ItemIdData);
	usable = (double) (BLCKSZ - SizeOfPageHeaderData -
					   MAXALIGN(sizeof(BTPageOpaqueData)));
	per_leaf = Max(floor(usable * (fillfactor > 0 ? fillfactor : BTREE_DEFAULT_FILLFACTOR) /
						 100.0 / tuple), 1.0);
	leaves = ceil(reltuples / per_leaf);
	/* inner pages hold one downlink per page below, about 70% full */
	inner = 0.0;
	for (level = leaves; level > 1.0;)
	{
		level = ceil(level / Max(floor(usable * 0.7 / tuple), 2.0));
		inner += level;
	}
	return (int64) (leaves + inner + 1.0) * BLCKSZ;
}

/*
 * pgs_pgstattuple_schema
 *		Schema of pgstattuple when it is installed and the caller may run
 *		it, else NULL with a NOTICE that says what to do.
 */
static char *
pgs_pgstattuple_schema(void)
{
	Oid			extoid = get_extension_oid("pgstattuple", true);
	char	   *schema;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	if (!OidIsValid(extoid))
	{
		ereport(NOTICE,
				(errmsg("pgstattuple is not installed in this database: showing estimates"),
				 errhint("Run CREATE EXTENSION pgstattuple to get exact figures.")));
		return NULL;
	}
	schema = get_namespace_name(pgs_schema_of_extension(extoid));
	values[0] = CStringGetTextDatum(psprintf("%s.pgstattuple(pg_catalog.regclass)",
											 quote_identifier(schema)));
	values[1] = CStringGetTextDatum(psprintf("%s.pgstatindex(pg_catalog.regclass)",
											 quote_identifier(schema)));
	pgs_spi_query("SELECT pg_catalog.has_function_privilege($1, 'EXECUTE')"
				  "   AND pg_catalog.has_function_privilege($2, 'EXECUTE')",
				  2, argtypes, values, NULL);
	if (SPI_processed != 1 || !pgs_get_bool(0, 1))
	{
		ereport(NOTICE,
				(errmsg("permission denied for pgstattuple: showing estimates"),
				 errhint("Grant the role pg_stat_scan_tables (part of pg_monitor) to get exact figures.")));
		return NULL;
	}
	return schema;
}

/*
 * pgs_exact_bloat
 *		Fill one row from pgstattuple / pgstatindex, or mark it skipped when
 *		the relation (or an index's table) is locked.
 */
static void
pgs_exact_bloat(PgsBloatWork *w, const char *schema)
{
	PgsBloatRow *row = w->row;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	double		ff;

	if (OidIsValid(w->heaprelid) && !pgs_lock_nowait(w->heaprelid))
	{
		row->method = "skipped";
		row->wasted_known = false;
		return;
	}
	if (!pgs_lock_nowait(w->relid))
	{
		if (OidIsValid(w->heaprelid))
			pgs_unlock(w->heaprelid);
		row->method = "skipped";
		row->wasted_known = false;
		return;
	}

	values[0] = ObjectIdGetDatum(w->relid);
	if (!row->is_index)
	{
		pgs_spi_query(psprintf("SELECT table_len, free_space, dead_tuple_len"
							   "  FROM %s.pgstattuple($1)", quote_identifier(schema)),
					  1, argtypes, values, NULL);
		ff = (w->fillfactor > 0 ? w->fillfactor : HEAP_DEFAULT_FILLFACTOR) / 100.0;
		row->relation_bytes = pgs_get_int8(0, 1);
		/* the free space fillfactor keeps on purpose is not waste */
		row->wasted_bytes = pgs_get_int8(0, 2) + pgs_get_int8(0, 3) -
			(int64) (row->relation_bytes * (1.0 - ff));
	}
	else
	{
		double		density;

		pgs_spi_query(psprintf("SELECT index_size, leaf_pages, empty_pages, deleted_pages,"
							   "       avg_leaf_density"
							   "  FROM %s.pgstatindex($1)", quote_identifier(schema)),
					  1, argtypes, values, NULL);
		ff = (w->fillfactor > 0 ? w->fillfactor : BTREE_DEFAULT_FILLFACTOR) / 100.0;
		row->relation_bytes = pgs_get_int8(0, 1);
		density = pgs_get_float8(0, 5) / 100.0;
		if (isnan(density))
			density = ff;
		/* leaf space below the fillfactor, and pages with nothing in them */
		row->wasted_bytes = (int64) (pgs_get_int8(0, 2) * (double) BLCKSZ *
									 Max(ff - density, 0.0)) +
			(pgs_get_int8(0, 3) + pgs_get_int8(0, 4)) * BLCKSZ;
	}
	SPI_freetuptable(SPI_tuptable);
	pgs_unlock(w->relid);
	if (OidIsValid(w->heaprelid))
		pgs_unlock(w->heaprelid);

	row->wasted_bytes = Max(row->wasted_bytes, 0);
	row->wasted_known = true;
	row->method = "pgstattuple";
}

/*
 * pgs_bloat_cmp
 *		Most waste first; skipped relations last; then by name.
 */
static int
pgs_bloat_cmp(const ListCell *a, const ListCell *b)
{
	const PgsBloatRow *x = lfirst(a);
	const PgsBloatRow *y = lfirst(b);
	int64		xw = x->wasted_known ? x->wasted_bytes : -1;
	int64		yw = y->wasted_known ? y->wasted_bytes : -1;
	int			c;

	if (xw != yw)
		return xw > yw ? -1 : 1;
	if ((c = strcmp(x->schema_name, y->schema_name)) != 0)
		return c;
	if ((c = strcmp(x->table_name, y->table_name)) != 0)
		return c;
	if (x->index_name == NULL || y->index_name == NULL)
		return x->index_name == NULL ? (y->index_name == NULL ? 0 : -1) : 1;
	return strcmp(x->index_name, y->index_name);
}

/*
 * pgs_bloat_advice
 *		What to do about a relation whose waste is worth a rewrite.
 */
static char *
pgs_bloat_advice(PgsBloatRow *row)
{
	if (row->unknown)
		return psprintf("%s, so its waste is not known", row->unknown);
	if (!row->wasted_known)
		return pstrdup("skipped: the relation is locked; run again later");
	if (row->wasted_bytes < PGS_BLOAT_ADVICE_BYTES ||
		row->wasted_percent < PGS_BLOAT_ADVICE_PERCENT)
		return NULL;
	if (row->is_index)
		return psprintf("rebuild it: REINDEX INDEX CONCURRENTLY %s;",
						pgs_quote_qualified(row->schema_name, row->index_name));
	/* (pgscale_reclaim works on the shell, which has no rows) */
	if (row->citus)
		return psprintf("reclaim it with VACUUM FULL %s: Citus runs it on every shard placement, "
						"locking each shard while it is rewritten, so use a quiet hour",
						pgs_quote_qualified(row->schema_name, row->table_name));
	return psprintf("give the space back online with CALL pgscale_reclaim(%s) (or VACUUM FULL, which locks the table); "
					"for a table that loses old rows in bulk, partitions dropped by retention leave no waste",
					quote_literal_cstr(pgs_quote_qualified(row->schema_name, row->table_name)));
}

/*
 * pgs_citus_bloat_of
 *		The shard figures of a Citus table from those already asked for,
 *		else asked now (NULL for a table Citus does not manage).
 */
static PgsCitusBloat *
pgs_citus_bloat_of(Oid relid, List **asked)
{
	ListCell   *lc;
	PgsCitusBloat *b;

	foreach(lc, *asked)
	{
		b = lfirst(lc);
		if (b->relid == relid)
			return b;
	}
	b = pgs_citus_bloat(relid);
	if (b != NULL)
		*asked = lappend(*asked, b);
	return b;
}

/*
 * pgs_citus_bloat_work
 *		Put a Citus relation's shard figures in place of its empty shell's:
 *		false when it is smaller than min_pages and left out.  A relation
 *		some placement of which did not answer is kept, unknown.
 */
static bool
pgs_citus_bloat_work(PgsBloatWork *w, bool known, int64 pages,
					 double tuples, bool analyzed, int32 min_pages)
{
	PgsBloatRow *row = w->row;

	row->citus = true;
	if (!known)
	{
		row->unknown = w->shards->known ?
			pstrdup("unknown: the shard of this index was not found on every placement of its Citus table") :
			pgs_citus_unknown_phrase(w->shards->failed, w->shards->placements);
		row->method = "unknown";
		return true;
	}
	if (pages < min_pages)
		return false;
	w->pages = pages;
	w->reltuples = analyzed ? tuples : -1;
	return true;
}

/*
 * pgs_collect_bloat
 *		Estimated (or, with exact and pgstattuple, measured) waste of every
 *		table and btree index that has statistics and at least min_bytes
 *		(by the catalog), most waste first.  A Citus table's figures are
 *		its shards' (see pgs_citus_bloat), estimated even with exact.
 */
List *
pgs_collect_bloat(bool exact, int64 min_bytes)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	int32		min_pages = (int32) Min(min_bytes / BLCKSZ, PG_INT32_MAX);
	List	   *work = NIL;
	List	   *result = NIL;
	List	   *citus = NIL;
	ListCell   *lc;
	char	   *schema = NULL;
	uint64		r;

	if (exact)
		schema = pgs_pgstattuple_schema();

	/* a Citus table's shell is kept whatever its own (empty) size */
	values[0] = Int32GetDatum(min_pages);
	pgs_spi_query(psprintf(bloat_tables_sql, pgs_citus_filter("c.oid"),
						   pgs_citus_no_shard_filter("c.oid")),
				  1, argtypes, values, NULL);
	for (r = 0; r < SPI_processed; r++)
	{
		PgsBloatWork *w = palloc0(sizeof(PgsBloatWork));
		PgsBloatRow *row = palloc0(sizeof(PgsBloatRow));
		int			natts = pgs_get_int4(r, 6);

		CHECK_FOR_INTERRUPTS();
		w->row = row;
		w->relid = pgs_get_oid(r, 1);
		row->schema_name = pgs_get_text(r, 2);
		row->table_name = pgs_get_text(r, 3);
		w->pages = pgs_get_int8(r, 4);
		w->reltuples = pgs_get_float8(r, 5);
		w->fillfactor = pgs_get_int4(r, 7);
		row->method = "estimate";
		w->shards = pgs_citus_bloat_of(w->relid, &citus);
		if (w->shards != NULL &&
			!pgs_citus_bloat_work(w, w->shards->known, w->shards->pages,
								  w->shards->tuples, w->shards->analyzed,
								  min_pages))
			continue;
		row->relation_bytes = w->pages * BLCKSZ;
		if (row->unknown == NULL && w->reltuples >= 0 && w->pages > 0)
		{
			int64		expected = pgs_expected_heap_bytes(w->relid, natts,
														   w->reltuples,
														   w->fillfactor,
														   w->shards);

			row->wasted_bytes = Max(row->relation_bytes - expected, 0);
			row->wasted_known = true;
		}
		work = lappend(work, w);
	}
	SPI_freetuptable(SPI_tuptable);

	pgs_spi_query(psprintf(bloat_indexes_sql, pgs_citus_filter("i.indrelid"),
						   pgs_citus_no_shard_filter("i.indrelid")),
				  1, argtypes, values, NULL);
	for (r = 0; r < SPI_processed; r++)
	{
		PgsBloatWork *w = palloc0(sizeof(PgsBloatWork));
		PgsBloatRow *row = palloc0(sizeof(PgsBloatRow));
		bool		keysnull;
		Datum		keysd = pgs_get_datum(r, 8, &keysnull);

		CHECK_FOR_INTERRUPTS();
		w->row = row;
		w->relid = pgs_get_oid(r, 1);
		row->is_index = true;
		row->schema_name = pgs_get_text(r, 2);
		row->table_name = pgs_get_text(r, 3);
		row->index_name = pgs_get_text(r, 4);
		w->pages = pgs_get_int8(r, 5);
		w->reltuples = pgs_get_float8(r, 6);
		w->heaprelid = pgs_get_oid(r, 7);
		w->fillfactor = pgs_get_int4(r, 9);
		row->method = "estimate";
		w->shards = pgs_citus_bloat_of(w->heaprelid, &citus);
		if (w->shards != NULL)
		{
			PgsCitusIndex *found = NULL;

			foreach(lc, w->shards->indexes)
			{
				PgsCitusIndex *ix = lfirst(lc);

				if (ix->indexrelid == w->relid)
					found = ix;
			}
			if (!pgs_citus_bloat_work(w, found != NULL && found->known,
									  found ? found->pages : 0,
									  found ? found->tuples : 0,
									  found != NULL && found->analyzed,
									  min_pages))
				continue;
		}
		row->relation_bytes = w->pages * BLCKSZ;
		if (row->unknown == NULL && !keysnull && w->reltuples >= 0 && w->pages > 0)
		{
			Datum	   *elems;
			bool	   *elemnulls;
			int			nkeys;
			int16	   *keys;
			int			k;
			int64		expected;

			deconstruct_array(DatumGetArrayTypeP(keysd), INT2OID, sizeof(int16),
							  true, TYPALIGN_SHORT, &elems, &elemnulls, &nkeys);
			keys = palloc(sizeof(int16) * Max(nkeys, 1));
			for (k = 0; k < nkeys; k++)
				keys[k] = DatumGetInt16(elems[k]);
			expected = pgs_expected_btree_bytes(w->relid, w->heaprelid, keys,
												nkeys, w->reltuples,
												w->fillfactor, w->shards);
			row->wasted_bytes = Max(row->relation_bytes - expected, 0);
			row->wasted_known = true;
		}
		work = lappend(work, w);
	}
	SPI_freetuptable(SPI_tuptable);

	foreach(lc, work)
	{
		PgsBloatWork *w = lfirst(lc);
		PgsBloatRow *row = w->row;

		CHECK_FOR_INTERRUPTS();
		/* (pgstattuple on the shell would measure an empty table) */
		if (schema != NULL && w->shards == NULL)
			pgs_exact_bloat(w, schema);
		else if (!row->wasted_known && row->unknown == NULL)
			continue;			/* never analyzed or empty: nothing to say */
		row->wasted_percent = row->relation_bytes > 0 && row->wasted_known ?
			100.0 * (double) row->wasted_bytes / (double) row->relation_bytes : 0.0;
		row->advice = pgs_bloat_advice(row);
		result = lappend(result, row);
	}

	list_sort(result, pgs_bloat_cmp);
	return result;
}

/*
 * pgscale_table_bloat
 *		SQL: pgscale_table_bloat(exact boolean DEFAULT false)
 */
Datum
pgscale_table_bloat(PG_FUNCTION_ARGS)
{
	bool		exact = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rows;
	ListCell   *lc;

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();
	rows = pgs_collect_bloat(exact, 0);

	foreach(lc, rows)
	{
		PgsBloatRow *row = lfirst(lc);
		Datum		values[9];
		bool		nulls[9] = {0};

		values[0] = pgs_name_datum(row->schema_name);
		values[1] = pgs_name_datum(row->table_name);
		if (row->index_name)
			values[2] = pgs_name_datum(row->index_name);
		else
			nulls[2] = true;
		values[3] = CStringGetTextDatum(row->is_index ? "index" : "table");
		values[4] = Int64GetDatum(row->relation_bytes);
		nulls[4] = row->unknown != NULL;
		if (row->wasted_known)
		{
			values[5] = Int64GetDatum(row->wasted_bytes);
			values[6] = DirectFunctionCall2(numeric_round,
											DirectFunctionCall1(float8_numeric,
																Float8GetDatum(row->wasted_percent)),
											Int32GetDatum(1));
		}
		else
			nulls[5] = nulls[6] = true;
		values[7] = CStringGetTextDatum(row->method);
		if (row->advice)
			values[8] = CStringGetTextDatum(row->advice);
		else
			nulls[8] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
