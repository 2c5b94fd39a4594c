/*-------------------------------------------------------------------------
 *
 * diag_statements.c
 *	  Slow queries, from pg_stat_statements when it is there.
 *
 *	  The view's columns changed names in pg_stat_statements 1.8
 *	  (PostgreSQL 13: total_time became total_exec_time, and so on), and a
 *	  cluster upgraded with pg_upgrade keeps the old extension version
 *	  until ALTER EXTENSION ... UPDATE, so the names are read from the
 *	  installed view rather than assumed from the server version.  When
 *	  the extension is missing, or its library is not preloaded, the
 *	  function returns no rows and a NOTICE says how to set it up.
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
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "diag.h"

PG_FUNCTION_INFO_V1(pgscale_slow_queries);

/*
 * pgs_statements_ready
 *		Whether pg_stat_statements can be read here, and under which column
 *		names.  On false, *why and *hint say what is missing.
 */
bool
pgs_statements_ready(PgsStatements *pgss, const char **why, const char **hint)
{
	Oid			extoid = get_extension_oid("pg_stat_statements", true);
	char	   *schema;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	uint64		row;

	memset(pgss, 0, sizeof(*pgss));
	if (!OidIsValid(extoid))
	{
		*why = "pg_stat_statements is not installed in this database";
		*hint = "Add pg_stat_statements to shared_preload_libraries, restart the server, then run CREATE EXTENSION pg_stat_statements.";
		return false;
	}
	if (GetConfigOption("pg_stat_statements.max", true, false) == NULL)
	{
		*why = "pg_stat_statements is installed but its library is not loaded";
		*hint = "Add pg_stat_statements to shared_preload_libraries and restart the server.";
		return false;
	}

	schema = get_namespace_name(pgs_schema_of_extension(extoid));
	pgss->relation = psprintf("%s.pg_stat_statements", quote_identifier(schema));
	values[0] = CStringGetTextDatum(pgss->relation);
	pgs_spi_query("SELECT a.attname::pg_catalog.text"
				  "  FROM pg_catalog.pg_attribute a"
				  " WHERE a.attrelid = pg_catalog.to_regclass($1)"
				  "   AND a.attnum > 0 AND NOT a.attisdropped",
				  1, argtypes, values, NULL);
	for (row = 0; row < SPI_processed; row++)
	{
		char	   *col = pgs_get_text(row, 1);

		if (strcmp(col, "total_exec_time") == 0)
			pgss->total_time = "total_exec_time";
		else if (strcmp(col, "total_time") == 0 && pgss->total_time == NULL)
			pgss->total_time = "total_time";
		else if (strcmp(col, "mean_exec_time") == 0)
			pgss->mean_time = "mean_exec_time";
		else if (strcmp(col, "mean_time") == 0 && pgss->mean_time == NULL)
			pgss->mean_time = "mean_time";
		else if (strcmp(col, "max_exec_time") == 0)
			pgss->max_time = "max_exec_time";
		else if (strcmp(col, "max_time") == 0 && pgss->max_time == NULL)
			pgss->max_time = "max_time";
	}
	SPI_freetuptable(SPI_tuptable);

	if (pgss->total_time == NULL || pgss->mean_time == NULL ||
		pgss->max_time == NULL)
	{
		*why = "the installed pg_stat_statements has no timing columns pgscale knows";
		*hint = "Run ALTER EXTENSION pg_stat_statements UPDATE.";
		return false;
	}
	return true;
}

/*
 * pgscale_slow_queries
 *		SQL: pgscale_slow_queries(lim integer DEFAULT 20)
 *		The statements of this database with the highest mean time (the
 *		usual pg_stat_statements query), with their share of the total time
 *		and cache hits.
 */
Datum
pgscale_slow_queries(PG_FUNCTION_ARGS)
{
	int32		lim = pgs_limit_arg(fcinfo, 0, "lim");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgsStatements pgss;
	const char *why;
	const char *hint;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	uint64		row;

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();
	if (!pgs_statements_ready(&pgss, &why, &hint))
	{
		ereport(NOTICE, (errmsg("%s", why), errhint("%s", hint)));
		SPI_finish();
		return (Datum) 0;
	}

	args[0] = Int32GetDatum(lim);
	pgs_spi_query(psprintf("SELECT s.queryid, r.rolname, s.calls,"
						   "       s.%1$s, s.%2$s, s.%3$s, s.rows,"
						   "       pg_catalog.round(100.0 * s.shared_blks_hit"
						   "         / NULLIF(s.shared_blks_hit + s.shared_blks_read, 0), 1),"
						   "       pg_catalog.round((100.0 * s.%1$s"
						   "         / NULLIF(pg_catalog.sum(s.%1$s) OVER (), 0))::pg_catalog.numeric, 1),"
						   "       s.query"
						   "  FROM %4$s s"
						   "  LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid"
						   " WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d"
						   "                  WHERE d.datname = pg_catalog.current_database())"
						   " ORDER BY s.%2$s DESC NULLS LAST, s.calls DESC"
						   " LIMIT $1",
						   pgss.total_time, pgss.mean_time, pgss.max_time,
						   pgss.relation),
				  1, argtypes, args, NULL);

	for (row = 0; row < SPI_processed; row++)
	{
		Datum		values[10];
		bool		nulls[10];
		int			col;

		for (col = 0; col < 10; col++)
			values[col] = pgs_get_datum(row, col + 1, &nulls[col]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
