/*-------------------------------------------------------------------------
 *
 * diag_growth.c
 *	  Growth: size snapshots, a linear forecast per table (the seed's "plan
 *	  capacity for next quarter"), and the seed's scaling tiers mapped to
 *	  what this database measures.
 *
 *	  pgscale_snapshot_sizes() is the only diagnostic that writes: one row
 *	  per table (partitions summed at their parent) into
 *	  pgscale_size_history, as the extension owner.  pgscale's background
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
PG_FUNCTION_INFO_V1(pgscale_scaling_advice);

#define GB ((int64) 1024 * 1024 * 1024)

/* The seed's tiers, as measured triggers. */
#define TIER1_MAX_BYTES			(10 * GB)	/* "handles 10-20 GB easily" */
#define POOLER_CONNECTIONS		50	/* "If > 50 concurrent connections" */
#define CACHE_HIT_TARGET		99.0	/* "should be >99%" */
#define SLOW_MEAN_MS			100.0
#define SLOW_MIN_CALLS			100
#define REPLICA_READ_SHARE		90.0	/* dashboards: reads dominate */
#define PARTITION_ROWS			10000000.0	/* 18M rows at 500 teams: Tier 3 */
#define PARTITION_BYTES			(5 * GB)
#define TIMESCALE_BYTES			(50 * GB)
#define SHARD_BYTES				(100 * GB)
#define ADVICE_HORIZON			"90 days"

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

	if (!OidIsValid(get_relname_relid("pgscale_index_seen", pgs_extension_schema())))
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

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("horizon must not be NULL"),
				 errhint("Leave the argument out to forecast 90 days ahead.")));
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

/*
 * What scaling advice needs to know about one table.
 */
typedef struct AdviceTable
{
	Oid			relid;
	char	   *name;			/* quoted, qualified */
	bool		partitioned;
	bool		timeseries;		/* has a date or timestamp column */
	char	   *tenant;			/* tenant-looking columns, or NULL */
	int64		bytes;
	int64		later_bytes;	/* forecast at the horizon */
	double		rows;
} AdviceTable;

/*
 * verdict
 *		"now" when measured past the trigger, "plan" when the forecast
 *		crosses it within the horizon, else "not yet".
 */
static const char *
verdict(bool now, bool later)
{
	return now ? "now" : later ? "plan" : "not yet";
}

/*
 * add_advice
 *		Append one row to the advice tuplestore.
 */
static void
add_advice(ReturnSetInfo *rsinfo, int tier, const char *tier_name,
		   const char *action, char *measured, const char *trigger,
		   const char *verdict_text)
{
	Datum		values[6];
	bool		nulls[6] = {0};

	values[0] = Int32GetDatum(tier);
	values[1] = CStringGetTextDatum(tier_name);
	values[2] = CStringGetTextDatum(action);
	values[3] = CStringGetTextDatum(measured);
	values[4] = CStringGetTextDatum(trigger);
	values[5] = CStringGetTextDatum(verdict_text);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * pgscale_scaling_advice
 *		SQL: pgscale_scaling_advice()
 *		The seed's tiers and their actions (PgBouncer, Redis, read replica,
 *		monthly partitions, TimescaleDB, sharding by tenant with Citus),
 *		each with what was measured, what triggers it, and whether it is
 *		due now, worth planning within 90 days (by the size forecast), not
 *		yet due, or done.
 */
Datum
pgscale_scaling_advice(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Interval   *horizon;
	List	   *space;
	List	   *forecast;
	List	   *tables = NIL;
	ListCell   *lc;
	int64		db_bytes;
	int64		db_later;
	int64		growth = 0;
	int64		clients;
	double		hit_pct;
	double		read_pct;
	int64		slow = -1;
	bool		has_timescale;
	bool		has_citus;
	PgsStatements pgss;
	const char *why;
	const char *hint;
	AdviceTable *biggest_ts = NULL;
	AdviceTable *biggest = NULL;
	int64		ts_bytes = 0;
	int64		ts_later = 0;
	int			ts_tables = 0;
	bool		part_now = false;
	bool		part_later = false;
	bool		part_all_done = true;
	char	   *tenant = NULL;
	bool		any_due;
	uint64		row;

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();

	horizon = DatumGetIntervalP(DirectFunctionCall3(interval_in,
													CStringGetDatum(ADVICE_HORIZON),
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1)));

	/* database-wide measures */
	pgs_spi_query("SELECT pg_catalog.pg_database_size(pg_catalog.current_database()),"
				  "       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a"
				  "         WHERE a.backend_type = 'client backend'),"
				  "       100.0 * d.blks_hit / NULLIF(d.blks_hit + d.blks_read, 0)::float8,"
				  "       100.0 * (d.tup_returned + d.tup_fetched)"
				  "         / NULLIF(d.tup_returned + d.tup_fetched + d.tup_inserted"
				  "                  + d.tup_updated + d.tup_deleted, 0)::float8"
				  "  FROM pg_catalog.pg_stat_database d"
				  " WHERE d.datname = pg_catalog.current_database()",
				  0, NULL, NULL, NULL);
	db_bytes = pgs_get_int8(0, 1);
	clients = pgs_get_int8(0, 2);
	hit_pct = pgs_isnull(0, 3) ? 100.0 : pgs_get_float8(0, 3);
	read_pct = pgs_isnull(0, 4) ? 0.0 : pgs_get_float8(0, 4);
	SPI_freetuptable(SPI_tuptable);

	if (pgs_statements_ready(&pgss, &why, &hint))
	{
		Oid			argtypes[2] = {FLOAT8OID, INT8OID};
		Datum		values[2] = {Float8GetDatum(SLOW_MEAN_MS), Int64GetDatum(SLOW_MIN_CALLS)};

		pgs_spi_query(psprintf("SELECT pg_catalog.count(*) FROM %s s"
							   " WHERE s.%s >= $1 AND s.calls >= $2"
							   "   AND s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d"
							   "                  WHERE d.datname = pg_catalog.current_database())",
							   pgss.relation, pgss.mean_time),
					  2, argtypes, values, NULL);
		slow = pgs_get_int8(0, 1);
		SPI_freetuptable(SPI_tuptable);
	}
	has_timescale = OidIsValid(get_extension_oid("timescaledb", true));
	has_citus = OidIsValid(get_extension_oid("citus", true));

	/* tables: sizes now, forecast, shape */
	space = pgs_collect_space();
	forecast = pgs_collect_forecast(horizon);
	pgs_spi_query("SELECT c.oid,"
				  "       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),"
				  "       c.relkind = 'p',"
				  "       EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
				  "                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
				  "                  AND a.atttypid IN ('pg_catalog.date'::pg_catalog.regtype,"
				  "                                     'pg_catalog.timestamp'::pg_catalog.regtype,"
				  "                                     'pg_catalog.timestamptz'::pg_catalog.regtype)),"
				  "       (SELECT pg_catalog.string_agg(a.attname::pg_catalog.text, ', ' ORDER BY a.attnum)"
				  "          FROM pg_catalog.pg_attribute a"
				  "         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
				  "           AND a.attname IN ('team_id', 'tenant_id', 'organization_id', 'org_id',"
				  "                             'account_id', 'customer_id', 'company_id', 'workspace_id')),"
				  "       n.nspname, c.relname"
				  "  FROM pg_catalog.pg_class c"
				  "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				  " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
				  "   AND c.relpersistence <> 't'"
				  "   AND " PGS_USER_SCHEMA_FILTER("n")
				  "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
				  "                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
				  "                      AND d.objid = c.oid AND d.deptype = 'e')",
				  0, NULL, NULL, NULL);
	for (row = 0; row < SPI_processed; row++)
	{
		AdviceTable *t = palloc0(sizeof(AdviceTable));
		char	   *nspname = pgs_get_text(row, 6);
		char	   *relname = pgs_get_text(row, 7);
		ListCell   *lc2;

		t->relid = pgs_get_oid(row, 1);
		t->name = pgs_get_text(row, 2);
		t->partitioned = pgs_get_bool(row, 3);
		t->timeseries = pgs_get_bool(row, 4);
		t->tenant = pgs_get_text(row, 5);
		foreach(lc2, space)
		{
			PgsSpaceRow *sp = lfirst(lc2);

			if (sp->relid == t->relid)
			{
				t->bytes = sp->order_bytes;
				t->rows = sp->rows_known ? (double) sp->estimated_rows : 0.0;
				break;
			}
		}
		t->later_bytes = t->bytes;
		foreach(lc2, forecast)
		{
			PgsForecast *f = lfirst(lc2);

			if (strcmp(f->schema_name, nspname) == 0 &&
				strcmp(f->table_name, relname) == 0)
			{
				if (f->samples >= 2)
					t->later_bytes = Max(t->bytes + f->forecast_bytes - f->current_bytes, 0);
				break;
			}
		}
		tables = lappend(tables, t);
	}
	SPI_freetuptable(SPI_tuptable);

	foreach(lc, tables)
	{
		AdviceTable *t = lfirst(lc);

		growth += t->later_bytes - t->bytes;
		if (biggest == NULL || t->bytes > biggest->bytes)
			biggest = t;
		if (t->tenant != NULL && tenant == NULL)
			tenant = psprintf("%s in %s", t->tenant, t->name);
		if (!t->timeseries)
			continue;
		ts_tables++;
		ts_bytes += t->bytes;
		ts_later += t->later_bytes;
		if (biggest_ts == NULL || t->bytes > biggest_ts->bytes)
			biggest_ts = t;
		if (t->rows >= PARTITION_ROWS || t->bytes >= PARTITION_BYTES ||
			t->later_bytes >= PARTITION_BYTES)
		{
			if (!t->partitioned)
			{
				part_all_done = false;
				if (t->rows >= PARTITION_ROWS || t->bytes >= PARTITION_BYTES)
					part_now = true;
				else
					part_later = true;
			}
		}
	}
	db_later = Max(db_bytes + growth, 0);

	/* Tier 1 */
	any_due = db_bytes >= TIER1_MAX_BYTES || clients > POOLER_CONNECTIONS ||
		hit_pct < CACHE_HIT_TARGET || slow > 0 || part_now;
	add_advice(rsinfo, 1, "MVP", "no changes needed",
			   psprintf("database %s (about %s in " ADVICE_HORIZON ")%s",
						pgs_size_text(db_bytes), pgs_size_text(db_later),
						biggest && db_bytes > 0 ?
						psprintf("; largest table %s, %.0f%% of it", biggest->name,
								 100.0 * (double) biggest->bytes / (double) db_bytes) : ""),
			   "under 10 GB, cache hit over 99%, at most 50 connections, no slow frequent queries",
			   any_due ? "outgrown" : "now");

	/* Tier 2 */
	add_advice(rsinfo, 2, "Growth", "connection pooling with PgBouncer",
			   psprintf(INT64_FORMAT " client connections", clients),
			   "over 50 concurrent connections",
			   verdict(clients > POOLER_CONNECTIONS, clients > POOLER_CONNECTIONS * 8 / 10));
	add_advice(rsinfo, 2, "Growth", "cache hot reads in Redis",
			   slow >= 0 ?
			   psprintf("cache hit %.2f%%, " INT64_FORMAT " frequent statements over %.0f ms",
						hit_pct, slow, SLOW_MEAN_MS) :
			   psprintf("cache hit %.2f%%; slow queries unknown (%s)", hit_pct, why),
			   "cache hit under 99%, or frequent statements over 100 ms",
			   verdict(hit_pct < CACHE_HIT_TARGET || slow > 0, false));
	add_advice(rsinfo, 2, "Growth", "read replica for dashboard queries",
			   psprintf("reads are %.0f%% of row traffic; database %s", read_pct,
						pgs_size_text(db_bytes)),
			   "reads over 90% of row traffic on a database over 10 GB, or over 50 connections",
			   verdict(read_pct >= REPLICA_READ_SHARE &&
					   (db_bytes >= TIER1_MAX_BYTES || clients > POOLER_CONNECTIONS),
					   read_pct >= REPLICA_READ_SHARE && db_later >= TIER1_MAX_BYTES));

	/* Tier 3 */
	add_advice(rsinfo, 3, "Scale", "partition time-series tables by month (pgscale)",
			   biggest_ts ?
			   psprintf("largest table with a date column: %s, %.0f rows, %s%s",
						biggest_ts->name, biggest_ts->rows, pgs_size_text(biggest_ts->bytes),
						biggest_ts->partitioned ? " (partitioned)" : "") :
			   pstrdup("no table with a date or timestamp column"),
			   "a table with a date column over 10 million rows or 5 GB",
			   (part_now || part_later) ? verdict(part_now, part_later) :
			   (biggest_ts && biggest_ts->partitioned && part_all_done) ? "done" : "not yet");
	add_advice(rsinfo, 3, "Scale", "TimescaleDB for compression and continuous aggregates",
			   psprintf("%s in %d table%s with a date column (about %s in " ADVICE_HORIZON ")",
						pgs_size_text(ts_bytes), ts_tables, ts_tables == 1 ? "" : "s",
						pgs_size_text(ts_later)),
			   "over 50 GB of time-series data",
			   has_timescale ? "done" :
			   verdict(ts_bytes >= TIMESCALE_BYTES, ts_later >= TIMESCALE_BYTES));

	/* Tier 4 */
	add_advice(rsinfo, 4, "Enterprise", "shard by tenant with Citus",
			   psprintf("database %s (about %s in " ADVICE_HORIZON "); %s",
						pgs_size_text(db_bytes), pgs_size_text(db_later),
						tenant ? psprintf("tenant column %s", tenant) :
						"no tenant column (team_id, tenant_id, ...) found"),
			   "database over 100 GB with a tenant column such as team_id",
			   has_citus ? "done" :
			   verdict(db_bytes >= SHARD_BYTES && tenant != NULL,
					   db_later >= SHARD_BYTES && tenant != NULL));
	add_advice(rsinfo, 4, "Enterprise", "move history to an analytics database or warehouse",
			   psprintf("%s of %s is time-series data", pgs_size_text(ts_bytes),
						pgs_size_text(db_bytes)),
			   "database over 100 GB, most of it time-series",
			   verdict(db_bytes >= SHARD_BYTES && ts_bytes * 2 >= db_bytes,
					   db_later >= SHARD_BYTES && ts_later * 2 >= db_later));

	SPI_finish();
	return (Datum) 0;
}
