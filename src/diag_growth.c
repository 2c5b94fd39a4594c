/*-------------------------------------------------------------------------
 *
 * diag_growth.c
 *	  Growth: size snapshots and a linear forecast per table, to plan the
 *	  capacity of the next quarter (diag_advice.c turns the forecast into
 *	  scaling advice).
 *
 *	  pgscale_snapshot_sizes() is the only diagnostic that writes: one row
 *	  per table (partitions summed at their parent) into
 *	  pgscale_size_history, and one into pgscale_inventory (the database's
 *	  size, unused and duplicate index bytes, which pgscale_metrics()
 *	  reads from there rather than measure them on every poll), as the
 *	  extension owner.  pgscale's background
 *	  worker calls it daily; pg_cron can too.  It refuses to run on a
 *	  standby or in a read-only transaction, where the history arrives by
 *	  replication anyway.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "diag.h"

PG_FUNCTION_INFO_V1(pgscale_snapshot_sizes);
PG_FUNCTION_INFO_V1(pgscale_growth_forecast);

/*
 * The forecast: a least-squares line through each table's snapshots,
 * evaluated at now() + $1.  Only tables that still exist are fitted.
 */
static const char *forecast_sql =
"WITH h AS ("
"  SELECT h.schema_name, h.table_name, h.taken_at, h.total_bytes,"
"         pg_catalog.date_part('epoch', h.taken_at) AS t,"
"         pg_catalog.row_number() OVER (PARTITION BY h.schema_name, h.table_name"
"                                       ORDER BY h.taken_at DESC) AS newest"
"    FROM %s h"
"   WHERE h.total_bytes IS NOT NULL"
"), fit AS ("
"  SELECT h.schema_name, h.table_name, pg_catalog.count(*)::integer AS samples,"
"         pg_catalog.min(h.taken_at) AS first_at,"
"         pg_catalog.max(h.taken_at) AS last_at,"
"         pg_catalog.max(h.total_bytes) FILTER (WHERE h.newest = 1) AS current_bytes,"
"         pg_catalog.regr_slope(h.total_bytes::float8, h.t) AS slope,"
"         pg_catalog.regr_intercept(h.total_bytes::float8, h.t) AS intercept,"
"         pg_catalog.regr_r2(h.total_bytes::float8, h.t) AS r2"
"    FROM h GROUP BY h.schema_name, h.table_name"
")"
"SELECT f.schema_name, f.table_name, f.samples, f.first_at, f.last_at,"
"       f.current_bytes, f.slope * 86400,"
"       f.intercept + f.slope * pg_catalog.date_part('epoch', pg_catalog.now() + $1),"
"       f.r2"
"  FROM fit f"
" WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c"
"                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
"                WHERE n.nspname = f.schema_name AND c.relname = f.table_name)";

/*
 * pgs_forecast_cmp
 *		Largest forecast first (unfitted tables by their current size).
 */
static int
pgs_forecast_cmp(const ListCell *a, const ListCell *b)
{
	const PgsForecast *x = lfirst(a);
	const PgsForecast *y = lfirst(b);
	int			c;

	if (x->forecast_bytes != y->forecast_bytes)
		return x->forecast_bytes > y->forecast_bytes ? -1 : 1;
	if ((c = strcmp(x->schema_name, y->schema_name)) != 0)
		return c;
	return strcmp(x->table_name, y->table_name);
}

/*
 * pgs_collect_forecast
 *		Each existing table's size trend and its size at now() + horizon.
 *		A table with a single snapshot has no trend: its forecast is its
 *		current size and samples says 1.
 */
List *
pgs_collect_forecast(Interval *horizon)
{
	Oid			argtypes[1] = {INTERVALOID};
	Datum		values[1];
	List	   *result = NIL;
	uint64		row;

	values[0] = IntervalPGetDatum(horizon);
	pgs_spi_query(psprintf(forecast_sql, pgs_ext_table("pgscale_size_history")),
				  1, argtypes, values, NULL);
	for (row = 0; row < SPI_processed; row++)
	{
		PgsForecast *f = palloc0(sizeof(PgsForecast));
		bool		isnull;

		f->schema_name = pgs_get_text(row, 1);
		f->table_name = pgs_get_text(row, 2);
		f->samples = pgs_get_int4(row, 3);
		f->first_at = DatumGetTimestampTz(pgs_get_datum(row, 4, &isnull));
		f->last_at = DatumGetTimestampTz(pgs_get_datum(row, 5, &isnull));
		f->current_bytes = pgs_get_int8(row, 6);
		if (pgs_isnull(row, 7) || pgs_isnull(row, 8))
		{
			f->samples = Min(f->samples, 1);
			f->bytes_per_day = 0.0;
			f->forecast_bytes = f->current_bytes;
		}
		else
		{
			f->bytes_per_day = pgs_get_float8(row, 7);
			f->forecast_bytes = (int64) rint(Max(pgs_get_float8(row, 8), 0.0));
		}
		f->r2_null = pgs_isnull(row, 9);
		f->r2 = pgs_get_float8(row, 9);
		result = lappend(result, f);
	}
	SPI_freetuptable(SPI_tuptable);

	list_sort(result, pgs_forecast_cmp);
	return result;
}

/*
 * record_indexes_seen
 *		Note the indexes pgscale has not seen before, with the time of this
 *		snapshot, in pgscale_index_seen: the lower bound of an index's age
 *		that pgscale_unused_indexes() uses when no commit timestamp tells
 *		it.  Run as the extension owner, who owns the table.  Nothing to do
 *		in a database whose extension predates the table.
 */
static void
record_indexes_seen(void)
{
	int			ret;

	if (!OidIsValid(get_relname_relid("pgscale_index_seen", pgs_catalog_schema())))
		return;
	ret = SPI_execute(psprintf("INSERT INTO %s (indexrelid)"
							   " SELECT i.indexrelid FROM pg_catalog.pg_index i"
							   " ON CONFLICT (indexrelid) DO NOTHING",
							   pgs_ext_table("pgscale_index_seen")),
					  false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write pgscale_index_seen: %s", SPI_result_code_string(ret));
}

/*
 * measure_inventory
 *		What pgscale_inventory records beside the table sizes: the
 *		database's size and the unused and duplicate indexes with their
 *		bytes, as the caller sees them in pgscale_unused_indexes() and
 *		pgscale_duplicate_indexes() (which measure without waiting on a
 *		lock).  values and nulls are the five columns after tables.
 */
static void
measure_inventory(Datum *values, char *nulls)
{
	const char *schema = get_namespace_name(pgs_extension_schema());
	int			ret;
	int			col;

	ret = SPI_execute(psprintf("SELECT pg_catalog.pg_database_size(pg_catalog.current_database()),"
							   " (SELECT pg_catalog.count(*)::pg_catalog.int4 FROM %1$s() u),"
							   " (SELECT coalesce(pg_catalog.sum(u.index_bytes), 0)::pg_catalog.int8 FROM %1$s() u),"
							   " (SELECT pg_catalog.count(*)::pg_catalog.int4 FROM %2$s() d),"
							   " (SELECT coalesce(pg_catalog.sum(d.index_bytes), 0)::pg_catalog.int8 FROM %2$s() d)",
							   quote_qualified_identifier(schema, "pgscale_unused_indexes"),
							   quote_qualified_identifier(schema, "pgscale_duplicate_indexes")),
					  true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not measure the inventory: %s", SPI_result_code_string(ret));
	for (col = 0; col < 5; col++)
	{
		bool		isnull;

		values[col] = pgs_get_datum(0, col + 1, &isnull);
		nulls[col] = isnull ? 'n' : ' ';
	}
}

/*
 * record_inventory
 *		One row of pgscale_inventory for this snapshot, as the extension
 *		owner (values and nulls from measure_inventory).  Nothing to do in
 *		a database whose extension predates the table.
 */
static void
record_inventory(int32 tables, Datum *measured, char *measured_nulls)
{
	Oid			argtypes[6] = {INT4OID, INT8OID, INT4OID, INT8OID, INT4OID, INT8OID};
	Datum		values[6];
	char		nulls[6];
	int			ret;

	values[0] = Int32GetDatum(tables);
	nulls[0] = ' ';
	memcpy(&values[1], measured, sizeof(Datum) * 5);
	memcpy(&nulls[1], measured_nulls, 5);
	ret = SPI_execute_with_args(psprintf("INSERT INTO %s AS i (taken_at, tables, database_bytes,"
										 "   unused_indexes, unused_index_bytes,"
										 "   duplicate_indexes, duplicate_index_bytes)"
										 " VALUES (pg_catalog.now(), $1, $2, $3, $4, $5, $6)"
										 " ON CONFLICT (taken_at) DO UPDATE"
										 "   SET tables = EXCLUDED.tables,"
										 "       database_bytes = EXCLUDED.database_bytes,"
										 "       unused_indexes = EXCLUDED.unused_indexes,"
										 "       unused_index_bytes = EXCLUDED.unused_index_bytes,"
										 "       duplicate_indexes = EXCLUDED.duplicate_indexes,"
										 "       duplicate_index_bytes = EXCLUDED.duplicate_index_bytes",
										 pgs_ext_table("pgscale_inventory")),
								6, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write pgscale_inventory: %s", SPI_result_code_string(ret));
}

/*
 * pgscale_snapshot_sizes
 *		SQL: pgscale_snapshot_sizes() RETURNS integer
 *		Record every table's size now; returns the number of tables
 *		recorded (locked ones are skipped and recorded next time).
 */
Datum
pgscale_snapshot_sizes(PG_FUNCTION_ARGS)
{
	List	   *rows;
	ListCell   *lc;
	SPIPlanPtr	plan;
	Oid			argtypes[8] = {NAMEOID, NAMEOID, OIDOID, INT8OID, INT8OID,
	INT8OID, INT8OID, INT8OID};
	Oid			save_userid;
	int			save_sec;
	int32		recorded = 0;
	bool		inventory;
	Datum		measured[5];
	char		measured_nulls[5];

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record table sizes on a standby"),
				 errhint("Run pgscale_snapshot_sizes() on the primary: the history reaches the standbys by replication.")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record table sizes in a read-only transaction"),
				 errhint("Run pgscale_snapshot_sizes() in a read-write transaction.")));

	SPI_connect();
	rows = pgs_collect_space();
	inventory = OidIsValid(get_relname_relid("pgscale_inventory", pgs_catalog_schema()));
	if (inventory)
		measure_inventory(measured, measured_nulls);

	plan = SPI_prepare(psprintf("INSERT INTO %s AS h (taken_at, schema_name, table_name, relid,"
								"   total_bytes, table_bytes, index_bytes, toast_bytes, estimated_rows)"
								" VALUES (pg_catalog.now(), $1, $2, $3, $4, $5, $6, $7, $8)"
								" ON CONFLICT (schema_name, table_name, taken_at) DO UPDATE"
								"   SET relid = EXCLUDED.relid, total_bytes = EXCLUDED.total_bytes,"
								"       table_bytes = EXCLUDED.table_bytes,"
								"       index_bytes = EXCLUDED.index_bytes,"
								"       toast_bytes = EXCLUDED.toast_bytes,"
								"       estimated_rows = EXCLUDED.estimated_rows",
								pgs_ext_table("pgscale_size_history")),
					   8, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	pgs_become_owner(&save_userid, &save_sec);
	foreach(lc, rows)
	{
		PgsSpaceRow *sp = lfirst(lc);
		Datum		values[8];
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
		int			ret;

		CHECK_FOR_INTERRUPTS();
		if (!sp->known)
			continue;
		values[0] = pgs_name_datum(sp->schema_name);
		values[1] = pgs_name_datum(sp->table_name);
		values[2] = ObjectIdGetDatum(sp->relid);
		values[3] = Int64GetDatum(sp->total_bytes);
		values[4] = Int64GetDatum(sp->bytes.table_bytes);
		values[5] = Int64GetDatum(sp->bytes.index_bytes);
		values[6] = Int64GetDatum(sp->bytes.toast_bytes);
		values[7] = Int64GetDatum(sp->estimated_rows);
		if (!sp->rows_known)
			nulls[7] = 'n';
		ret = SPI_execute_plan(plan, values, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not write pgscale_size_history: %s",
				 SPI_result_code_string(ret));
		recorded++;
	}
	if (inventory)
		record_inventory(recorded, measured, measured_nulls);
	record_indexes_seen();
	pgs_restore_user(save_userid, save_sec);

	SPI_finish();
	PG_RETURN_INT32(recorded);
}

/*
 * pgscale_growth_forecast
 *		SQL: pgscale_growth_forecast(horizon interval DEFAULT '90 days')
 */
Datum
pgscale_growth_forecast(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Interval   *horizon;
	Interval	zero;
	List	   *rows;
	ListCell   *lc;

	pgs_require_arg(fcinfo, 0, "horizon",
					"Leave the argument out to forecast 90 days ahead.");
	horizon = PG_GETARG_INTERVAL_P(0);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(horizon),
										  IntervalPGetDatum(&zero))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be a positive interval"),
				 errhint("Pass how far ahead to forecast, e.g. '90 days'.")));

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();
	rows = pgs_collect_forecast(horizon);

	foreach(lc, rows)
	{
		PgsForecast *f = lfirst(lc);
		Datum		values[10];
		bool		nulls[10] = {0};

		values[0] = pgs_name_datum(f->schema_name);
		values[1] = pgs_name_datum(f->table_name);
		values[2] = Int32GetDatum(f->samples);
		values[3] = TimestampTzGetDatum(f->first_at);
		values[4] = TimestampTzGetDatum(f->last_at);
		values[5] = Int64GetDatum(f->current_bytes);
		if (f->samples >= 2)
		{
			values[6] = Int64GetDatum((int64) rint(f->bytes_per_day));
			values[7] = Int64GetDatum(f->forecast_bytes);
			values[8] = CStringGetTextDatum(pgs_size_text(f->forecast_bytes));
		}
		else
		{
			nulls[6] = nulls[7] = true;
			values[8] = CStringGetTextDatum("unknown (one snapshot)");
		}
		values[9] = Float8GetDatum(f->r2);
		nulls[9] = f->r2_null || f->samples < 2;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
