/*-------------------------------------------------------------------------
 *
 * diag_advice.c
 *	  pgscale_scaling_advice(): the four scaling tiers (MVP, growth, scale,
 *	  enterprise) and their actions, each mapped to what this database
 *	  measures: its size and the size forecast of diag_growth.c, the
 *	  sizes of diag_tables.c, connections, cache hits, slow statements of
 *	  diag_statements.c, and which extensions are installed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "diag.h"

PG_FUNCTION_INFO_V1(pgscale_scaling_advice);

#define GB ((int64) 1024 * 1024 * 1024)

/* The tiers, as measured triggers. */
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
 * What the advice is judged on: the database's measures and the summary
 * of its tables.
 */
typedef struct AdviceMeasures
{
	/* the database */
	int64		db_bytes;
	int64		db_later;		/* forecast at the horizon */
	int64		clients;
	double		hit_pct;
	double		read_pct;
	int64		slow;			/* -1: pg_stat_statements not usable */
	const char *slow_why;		/* why not, when slow is -1 */
	bool		has_timescale;
	bool		has_citus;
	int64		citus_workers;	/* active primary workers */
	int64		citus_distributed;	/* distributed tables (not partitions) */
	char	   *citus_remaining;	/* tables with a tenant column that are
									 * not Citus tables, or NULL */

	/* its tables */
	AdviceTable *biggest;
	AdviceTable *biggest_ts;	/* the largest with a date column */
	int64		ts_bytes;
	int64		ts_later;
	int			ts_tables;
	bool		part_now;
	bool		part_later;
	bool		part_all_done;
	char	   *tenant;			/* "<columns> in <table>", or NULL */
} AdviceMeasures;

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
 * measure_database
 *		The database-wide measures: size, client connections, cache hit
 *		and read share, frequent slow statements, installed extensions.
 */
static void
measure_database(AdviceMeasures *m)
{
	PgsStatements pgss;
	const char *hint;

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
	m->db_bytes = pgs_get_int8(0, 1);
	m->clients = pgs_get_int8(0, 2);
	m->hit_pct = pgs_isnull(0, 3) ? 100.0 : pgs_get_float8(0, 3);
	m->read_pct = pgs_isnull(0, 4) ? 0.0 : pgs_get_float8(0, 4);
	SPI_freetuptable(SPI_tuptable);

	m->slow = -1;
	if (pgs_statements_ready(&pgss, &m->slow_why, &hint))
	{
		Oid			argtypes[2] = {FLOAT8OID, INT8OID};
		Datum		values[2] = {Float8GetDatum(SLOW_MEAN_MS), Int64GetDatum(SLOW_MIN_CALLS)};

		pgs_spi_query(psprintf("SELECT pg_catalog.count(*) FROM %s s"
							   " WHERE s.%s >= $1 AND s.calls >= $2"
							   "   AND s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d"
							   "                  WHERE d.datname = pg_catalog.current_database())",
							   pgss.relation, pgss.mean_time),
					  2, argtypes, values, NULL);
		m->slow = pgs_get_int8(0, 1);
		SPI_freetuptable(SPI_tuptable);
	}
	m->has_timescale = OidIsValid(get_extension_oid("timescaledb", true));
	m->has_citus = OidIsValid(get_extension_oid("citus", true));
	if (m->has_citus)
	{
		pgs_spi_query("SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_dist_node d"
					  "         WHERE d.isactive AND d.noderole = 'primary' AND d.groupid <> 0),"
					  "       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_dist_partition p"
					  "          JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid"
					  "         WHERE NOT c.relispartition AND p.partmethod = 'h'),"
					  "       (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(n.nspname) || '.'"
					  "                  || pg_catalog.quote_ident(c.relname), ', ' ORDER BY n.nspname, c.relname)"
					  "          FROM pg_catalog.pg_class c"
					  "          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					  "         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
					  "           AND c.relpersistence = 'p'"
					  "           AND " PGS_USER_SCHEMA_FILTER("n")
					  "           AND c.oid NOT IN (SELECT p.logicalrelid::pg_catalog.oid"
					  "                               FROM pg_catalog.pg_dist_partition p)"
					  "           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
					  "                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
					  "                    AND d.objid = c.oid AND d.deptype = 'e')"
					  "           AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
					  "                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
					  "                    AND a.attname IN ('team_id', 'tenant_id', 'organization_id', 'org_id',"
					  "                        'account_id', 'customer_id', 'company_id', 'workspace_id')))",
					  0, NULL, NULL, NULL);
		m->citus_workers = pgs_get_int8(0, 1);
		m->citus_distributed = pgs_get_int8(0, 2);
		m->citus_remaining = pgs_isnull(0, 3) ? NULL : pgs_get_text(0, 3);
		SPI_freetuptable(SPI_tuptable);
	}
}

/*
 * read_tables
 *		Every user table that is not a partition or an extension's member,
 *		with its shape (partitioned, time series, tenant columns), its size
 *		now and its forecast size at the horizon.
 */
static List *
read_tables(Interval *horizon)
{
	List	   *space = pgs_collect_space();
	List	   *forecast = pgs_collect_forecast(horizon);
	List	   *tables = NIL;
	uint64		row;

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
		ListCell   *lc;

		t->relid = pgs_get_oid(row, 1);
		t->name = pgs_get_text(row, 2);
		t->partitioned = pgs_get_bool(row, 3);
		t->timeseries = pgs_get_bool(row, 4);
		t->tenant = pgs_get_text(row, 5);
		foreach(lc, space)
		{
			PgsSpaceRow *sp = lfirst(lc);

			if (sp->relid == t->relid)
			{
				t->bytes = sp->order_bytes;
				t->rows = sp->rows_known ? (double) sp->estimated_rows : 0.0;
				break;
			}
		}
		t->later_bytes = t->bytes;
		foreach(lc, forecast)
		{
			PgsForecast *f = lfirst(lc);

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
	return tables;
}

/*
 * summarize_tables
 *		The largest tables, the time-series totals, whether some large
 *		time-series table is not partitioned yet (now, or by the forecast),
 *		the first tenant column found, and the database's forecast size.
 */
static void
summarize_tables(List *tables, AdviceMeasures *m)
{
	int64		growth = 0;
	ListCell   *lc;

	m->part_all_done = true;
	foreach(lc, tables)
	{
		AdviceTable *t = lfirst(lc);

		growth += t->later_bytes - t->bytes;
		if (m->biggest == NULL || t->bytes > m->biggest->bytes)
			m->biggest = t;
		if (t->tenant != NULL && m->tenant == NULL)
			m->tenant = psprintf("%s in %s", t->tenant, t->name);
		if (!t->timeseries)
			continue;
		m->ts_tables++;
		m->ts_bytes += t->bytes;
		m->ts_later += t->later_bytes;
		if (m->biggest_ts == NULL || t->bytes > m->biggest_ts->bytes)
			m->biggest_ts = t;
		if (t->rows >= PARTITION_ROWS || t->bytes >= PARTITION_BYTES ||
			t->later_bytes >= PARTITION_BYTES)
		{
			if (!t->partitioned)
			{
				m->part_all_done = false;
				if (t->rows >= PARTITION_ROWS || t->bytes >= PARTITION_BYTES)
					m->part_now = true;
				else
					m->part_later = true;
			}
		}
	}
	m->db_later = Max(m->db_bytes + growth, 0);
}

/*
 * advise_mvp
 *		Tier 1: nothing to change while every measure is under its trigger.
 */
static void
advise_mvp(ReturnSetInfo *rsinfo, AdviceMeasures *m)
{
	bool		any_due;

	any_due = m->db_bytes >= TIER1_MAX_BYTES || m->clients > POOLER_CONNECTIONS ||
		m->hit_pct < CACHE_HIT_TARGET || m->slow > 0 || m->part_now;
	add_advice(rsinfo, 1, "MVP", "no changes needed",
			   psprintf("database %s (about %s in " ADVICE_HORIZON ")%s",
						pgs_size_text(m->db_bytes), pgs_size_text(m->db_later),
						m->biggest && m->db_bytes > 0 ?
						psprintf("; largest table %s, %.0f%% of it", m->biggest->name,
								 100.0 * (double) m->biggest->bytes / (double) m->db_bytes) : ""),
			   "under 10 GB, cache hit over 99%, at most 50 connections, no slow frequent queries",
			   any_due ? "outgrown" : "now");
}

/*
 * advise_growth
 *		Tier 2: a connection pooler, a cache for hot reads, a read replica.
 */
static void
advise_growth(ReturnSetInfo *rsinfo, AdviceMeasures *m)
{
	add_advice(rsinfo, 2, "Growth", "connection pooling with PgBouncer",
			   psprintf(INT64_FORMAT " client connections", m->clients),
			   "over 50 concurrent connections",
			   verdict(m->clients > POOLER_CONNECTIONS,
					   m->clients > POOLER_CONNECTIONS * 8 / 10));
	add_advice(rsinfo, 2, "Growth", "cache hot reads in Redis",
			   m->slow >= 0 ?
			   psprintf("cache hit %.2f%%, " INT64_FORMAT " frequent statements over %.0f ms",
						m->hit_pct, m->slow, SLOW_MEAN_MS) :
			   psprintf("cache hit %.2f%%; slow queries unknown (%s)", m->hit_pct, m->slow_why),
			   "cache hit under 99%, or frequent statements over 100 ms",
			   verdict(m->hit_pct < CACHE_HIT_TARGET || m->slow > 0, false));
	add_advice(rsinfo, 2, "Growth", "read replica for dashboard queries",
			   psprintf("reads are %.0f%% of row traffic; database %s", m->read_pct,
						pgs_size_text(m->db_bytes)),
			   "reads over 90% of row traffic on a database over 10 GB, or over 50 connections",
			   verdict(m->read_pct >= REPLICA_READ_SHARE &&
					   (m->db_bytes >= TIER1_MAX_BYTES || m->clients > POOLER_CONNECTIONS),
					   m->read_pct >= REPLICA_READ_SHARE && m->db_later >= TIER1_MAX_BYTES));
}

/*
 * advise_scale
 *		Tier 3: monthly partitions (pgscale itself), TimescaleDB.
 */
static void
advise_scale(ReturnSetInfo *rsinfo, AdviceMeasures *m)
{
	AdviceTable *ts = m->biggest_ts;

	add_advice(rsinfo, 3, "Scale", "partition time-series tables by month (pgscale)",
			   ts ?
			   psprintf("largest table with a date column: %s, %.0f rows, %s%s",
						ts->name, ts->rows, pgs_size_text(ts->bytes),
						ts->partitioned ? " (partitioned)" : "") :
			   pstrdup("no table with a date or timestamp column"),
			   "a table with a date column over 10 million rows or 5 GB",
			   (m->part_now || m->part_later) ? verdict(m->part_now, m->part_later) :
			   (ts && ts->partitioned && m->part_all_done) ? "done" : "not yet");
	add_advice(rsinfo, 3, "Scale", "TimescaleDB for compression and continuous aggregates",
			   psprintf("%s in %d table%s with a date column (about %s in " ADVICE_HORIZON ")",
						pgs_size_text(m->ts_bytes), m->ts_tables, m->ts_tables == 1 ? "" : "s",
						pgs_size_text(m->ts_later)),
			   "over 50 GB of time-series data",
			   m->has_timescale ? "done" :
			   verdict(m->ts_bytes >= TIMESCALE_BYTES, m->ts_later >= TIMESCALE_BYTES));
}

/*
 * advise_enterprise
 *		Tier 4: sharding by tenant with Citus, history in a warehouse.
 */
static void
advise_enterprise(ReturnSetInfo *rsinfo, AdviceMeasures *m)
{
	bool		sharded = m->has_citus && m->citus_distributed > 0 &&
		m->citus_workers > 0;

	/*
	 * With Citus: reached once some table is distributed over workers;
	 * what remains is the tables with a tenant column not yet distributed
	 * (or made reference tables).
	 */
	add_advice(rsinfo, 4, "Enterprise", "shard by tenant with Citus",
			   sharded ?
			   psprintf("Citus: " INT64_FORMAT " distributed table%s on " INT64_FORMAT " worker node%s; %s",
						m->citus_distributed, m->citus_distributed == 1 ? "" : "s",
						m->citus_workers, m->citus_workers == 1 ? "" : "s",
						m->citus_remaining ?
						psprintf("with a tenant column but not distributed yet: %s (create_distributed_table)",
								 m->citus_remaining) :
						"every table with a tenant column is a Citus table") :
			   psprintf("database %s (about %s in " ADVICE_HORIZON "); %s%s",
						pgs_size_text(m->db_bytes), pgs_size_text(m->db_later),
						m->tenant ? psprintf("tenant column %s", m->tenant) :
						"no tenant column (team_id, tenant_id, ...) found",
						m->has_citus ? "; Citus is installed but no table is distributed over a worker yet" : ""),
			   "database over 100 GB with a tenant column such as team_id",
			   sharded ? (m->citus_remaining ? "now" : "done") :
			   verdict(m->db_bytes >= SHARD_BYTES && m->tenant != NULL,
					   m->db_later >= SHARD_BYTES && m->tenant != NULL));
	add_advice(rsinfo, 4, "Enterprise", "move history to an analytics database or warehouse",
			   psprintf("%s of %s is time-series data", pgs_size_text(m->ts_bytes),
						pgs_size_text(m->db_bytes)),
			   "database over 100 GB, most of it time-series",
			   verdict(m->db_bytes >= SHARD_BYTES && m->ts_bytes * 2 >= m->db_bytes,
					   m->db_later >= SHARD_BYTES && m->ts_later * 2 >= m->db_later));
}

/*
 * pgscale_scaling_advice
 *		SQL: pgscale_scaling_advice()
 *		The tiers and their actions (PgBouncer, Redis, read replica,
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
	AdviceMeasures m = {0};

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();

	horizon = DatumGetIntervalP(DirectFunctionCall3(interval_in,
													CStringGetDatum(ADVICE_HORIZON),
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1)));
	measure_database(&m);
	summarize_tables(read_tables(horizon), &m);

	advise_mvp(rsinfo, &m);
	advise_growth(rsinfo, &m);
	advise_scale(rsinfo, &m);
	advise_enterprise(rsinfo, &m);

	SPI_finish();
	return (Datum) 0;
}
