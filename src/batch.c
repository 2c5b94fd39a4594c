/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Deleting the expired rows of one table (a plain table, or one
 *	  partition) in batches that never rescan what earlier batches passed,
 *	  so that a whole purge costs about one pass over the table.
 *
 *	  Two strategies, chosen per table:
 *
 *	  - "tid": a cursor over the heap.  Each batch picks the next
 *		batch_size expired rows after the cursor with a TID range scan and
 *		deletes them by TID; the cursor then moves past them.  Rows an
 *		update moved behind the cursor meanwhile are caught by one more
 *		pass, so the result is exact.  Needs TID range scans (14+) and a
 *		heap of its own.
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

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "storage/itemptr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "pgscale.h"

typedef struct PgsBatchStrategy
{
	const char *name;
	void		(*prepare) (PgsBatchState *state);
	int64		(*next) (PgsBatchState *state, bool *done);
} PgsBatchStrategy;

struct PgsBatchState
{
	const PgsBatchStrategy *strategy;
	Oid			relid;
	char	   *qualname;		/* quoted, qualified table name */
	char	   *qcolumn;		/* quoted time column */
	Oid			coltype;		/* base type of the time column */
	Oid			cutoff_type;	/* TIMESTAMPOID or TIMESTAMPTZOID */
	Datum		cutoff;
	int			batch_size;
	char	   *batch_sql;
	char	   *count_sql;

	/* "tid" strategy: cursor and pass number */
	ItemPointerData cursor;
	int			pass;
	int64		pass_rows;

	/* "time range" strategy: last value deleted */
	bool		have_last;
	Datum		last_value;
	char	   *bound_sql;
	char	   *bound_sql_first;
	char	   *batch_sql_first;
	char	   *last_sql;
	char	   *last_sql_first;
};

/*
 * Passes of the "tid" strategy: the second one finds rows an update moved
 * behind the cursor during the first, and nothing else.
 */
#define PGS_TID_PASSES 2

/* ---------- "tid" strategy ---------- */

#ifdef PGSCALE_HAVE_TID_RANGE_SCAN

static void
tid_prepare(PgsBatchState *state)
{
	/*
	 * $1 cursor (tid), $2 cutoff, $3 batch size.  The CTE "batch" is read
	 * twice, so it is computed once; the DELETE rechecks the time column,
	 * so that a row updated meanwhile to a newer time is never deleted.
	 */
	state->batch_sql = psprintf(
								"WITH batch AS ("
								" SELECT ctid FROM ONLY %s"
								" WHERE ctid OPERATOR(pg_catalog.>) $1"
								" AND %s OPERATOR(pg_catalog.<) $2 LIMIT $3),"
								" gone AS ("
								" DELETE FROM ONLY %s"
								" WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT ctid FROM batch))"
								" AND %s OPERATOR(pg_catalog.<) $2 RETURNING 1)"
								" SELECT (SELECT pg_catalog.count(*) FROM gone),"
								" (SELECT pg_catalog.count(*) FROM batch),"
								" (SELECT pg_catalog.max(ctid) FROM batch)",
								state->qualname, state->qcolumn,
								state->qualname, state->qcolumn);
	ItemPointerSet(&state->cursor, 0, 0);
	state->pass = 1;
	state->pass_rows = 0;
}

static int64
tid_next(PgsBatchState *state, bool *done)
{
	Oid			argtypes[3] = {TIDOID, state->cutoff_type, INT4OID};
	Datum		values[3];
	int			ret;
	bool		isnull;
	int64		deleted;
	int64		found;
	Datum		maxtid;

	values[0] = PointerGetDatum(&state->cursor);
	values[1] = state->cutoff;
	values[2] = Int32GetDatum(state->batch_size);

	ret = SPI_execute_with_args(state->batch_sql, 3, argtypes, values, NULL,
								false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "batch delete on %s failed: %s", state->qualname,
			 SPI_result_code_string(ret));

	deleted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	found = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 2, &isnull));
	maxtid = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3,
						   &isnull);
	if (!isnull)
		ItemPointerCopy((ItemPointer) DatumGetPointer(maxtid), &state->cursor);

	state->pass_rows += deleted;
	*done = false;
	if (found < state->batch_size)
	{
		/*
		 * The cursor reached the end of the heap.  One more pass catches
		 * rows that concurrent updates moved behind it; if the first pass
		 * found nothing, there is nothing a second one could find that the
		 * first would not have.
		 */
		if (state->pass < PGS_TID_PASSES && state->pass_rows > 0)
		{
			state->pass++;
			state->pass_rows = 0;
			ItemPointerSet(&state->cursor, 0, 0);
		}
		else
			*done = true;
	}
	return deleted;
}

#endif							/* PGSCALE_HAVE_TID_RANGE_SCAN */

/* ---------- "time range" strategy ---------- */

static void
range_prepare(PgsBatchState *state)
{
	const char *col = state->qcolumn;
	const char *rel = state->qualname;

	/* $1 last value deleted (column type), $2 cutoff, $3 offset */
	state->bound_sql_first = psprintf("SELECT %s FROM %s WHERE %s OPERATOR(pg_catalog.<) $2"
									  " ORDER BY 1 OFFSET $3 LIMIT 1",
									  col, rel, col);
	state->bound_sql = psprintf("SELECT %s FROM %s WHERE %s OPERATOR(pg_catalog.<) $2"
								" AND %s OPERATOR(pg_catalog.>) $1"
								" ORDER BY 1 OFFSET $3 LIMIT 1",
								col, rel, col, col);
	/* $1 last value deleted, $2 upper bound (inclusive, column type) */
	state->batch_sql_first = psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.<=) $2",
									  rel, col);
	state->batch_sql = psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.<=) $2"
								" AND %s OPERATOR(pg_catalog.>) $1",
								rel, col, col);
	/* the last batch: $1 last value, $2 cutoff */
	state->last_sql_first = psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.<) $2",
									 rel, col);
	state->last_sql = psprintf("DELETE FROM %s WHERE %s OPERATOR(pg_catalog.<) $2"
							   " AND %s OPERATOR(pg_catalog.>) $1",
							   rel, col, col);
	state->have_last = false;
}

static int64
range_next(PgsBatchState *state, bool *done)
{
	Oid			argtypes[3] = {state->coltype, state->cutoff_type, INT4OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			ret;
	bool		isnull;
	Datum		bound;
	int16		typlen;
	bool		typbyval;

	get_typlenbyval(state->coltype, &typlen, &typbyval);

	values[0] = state->have_last ? state->last_value : (Datum) 0;
	if (!state->have_last)
		nulls[0] = 'n';
	values[1] = state->cutoff;
	values[2] = Int32GetDatum(state->batch_size - 1);

	ret = SPI_execute_with_args(state->have_last ? state->bound_sql : state->bound_sql_first,
								3, argtypes, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not find the next batch of %s: %s", state->qualname,
			 SPI_result_code_string(ret));

	if (SPI_processed == 0)
	{
		/* fewer than batch_size rows left: delete them all */
		ret = SPI_execute_with_args(state->have_last ? state->last_sql : state->last_sql_first,
									2, argtypes, values, nulls, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "batch delete on %s failed: %s", state->qualname,
				 SPI_result_code_string(ret));
		*done = true;
		return (int64) SPI_processed;
	}

	bound = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	bound = datumCopy(bound, typbyval, typlen);

	argtypes[1] = state->coltype;
	values[1] = bound;
	ret = SPI_execute_with_args(state->have_last ? state->batch_sql : state->batch_sql_first,
								2, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "batch delete on %s failed: %s", state->qualname,
			 SPI_result_code_string(ret));

	state->last_value = bound;
	state->have_last = true;
	*done = false;
	return (int64) SPI_processed;
}

#ifdef PGSCALE_HAVE_TID_RANGE_SCAN
static const PgsBatchStrategy tid_strategy = {"tid", tid_prepare, tid_next};
#endif
static const PgsBatchStrategy range_strategy = {"time range", range_prepare, range_next};

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
				Datum cutoff, int batch_size)
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
	state->count_sql = psprintf("SELECT pg_catalog.count(*) FROM %s%s"
								" WHERE %s OPERATOR(pg_catalog.<) $1",
								relkind == RELKIND_RELATION ? "ONLY " : "",
								state->qualname, state->qcolumn);

	state->strategy = &range_strategy;
#ifdef PGSCALE_HAVE_TID_RANGE_SCAN
	if (relkind == RELKIND_RELATION && !pgs_is_distributed(relid))
		state->strategy = &tid_strategy;
#endif
	state->strategy->prepare(state);
	return state;
}

const char *
pgs_batch_strategy_name(PgsBatchState *state)
{
	return state->strategy->name;
}

/*
 * pgs_batch_next
 *		Delete the next batch; returns the rows deleted and sets *done once
 *		no expired row is left.
 */
int64
pgs_batch_next(PgsBatchState *state, bool *done)
{
	return state->strategy->next(state, done);
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

	return pgs_spi_int8(state->count_sql, 1, argtypes, values, NULL, true);
}
