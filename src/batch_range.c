/*-------------------------------------------------------------------------
 *
 * batch_range.c
 *	  The "time range" strategy of batched deletes: each batch deletes the
 *	  rows up to the batch_size-th next value of the time column (found
 *	  through an index when there is one).  For tables whose ctid means
 *	  nothing on the coordinator (Citus distributed tables), foreign
 *	  tables, and servers without TID range scans.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"

#include "pgscale.h"
#include "batch.h"

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
		state->batches++;
		if (ret != state->delete_ok)
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
	state->batches++;
	if (ret != state->delete_ok)
		elog(ERROR, "batch delete on %s failed: %s", state->qualname,
			 SPI_result_code_string(ret));

	state->last_value = bound;
	state->have_last = true;
	*done = false;
	return (int64) SPI_processed;
}

const PgsBatchStrategy pgs_batch_range_strategy = {"time range", range_prepare, range_next};
