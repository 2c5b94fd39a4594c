/*-------------------------------------------------------------------------
 *
 * diag_health_tables.c
 *	  The checks of pgscale_health() about tables: sequences running out
 *	  of range, the size forecast, retention that fails or is blocked by
 *	  foreign keys, rows without a time, months no partition covers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "catalog/pg_type.h"
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
#include "month.h"

/* Thresholds, each with the reason for its value. */

/* Sequences: share of the range (of the sequence or its column) used. */
#define SEQ_WARN_PCT			75.0
#define SEQ_CRITICAL_PCT		90.0
#define SEQ_UNREACHABLE			4611686018427387904.0	/* 2^62 */

/* Storage: a single PostgreSQL server handles 10-20 GB easily (scaling tier 1). */
#define GROWTH_WARN_BYTES		((int64) 20 * 1024 * 1024 * 1024)
#define GROWTH_HORIZON			"90 days"
#define SNAPSHOT_STALE_DAYS		2.0

/*
 * pgs_sequence_last_value
 *		pg_sequence_last_value() called directly (thousands of sequences cost
 *		thousands of SPI plans otherwise).  The caller has locked the
 *		sequence and checked the privilege; NULL before the first nextval().
 */
static int64
pgs_sequence_last_value(Oid seqrelid, bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seqrelid);
	fcinfo->args[0].isnull = false;
	result = pg_sequence_last_value(fcinfo);
	*isnull = fcinfo->isnull;
	return *isnull ? 0 : DatumGetInt64(result);
}

/*
 * pgs_health_sequences
 *		Sequences that have used most of their range, or of the range of
 *		the int2 / int4 column they feed (a serial or identity column fails
 *		at 2^31 - 1 however far its sequence could go).  A sequence the role may not read is
 *		counted, not guessed; a locked one is skipped.
 */
void
pgs_health_sequences(List **checks)
{
	typedef struct SeqInfo
	{
		Oid			relid;
		char	   *name;
		int64		min;
		int64		limit;
		bool		ascending;
	} SeqInfo;
	List	   *seqs = NIL;
	ListCell   *lc;
	int			unreadable = 0;
	int			checked = 0;
	int			warn = 0;
	int			critical = 0;
	double		worst = 0.0;
	char	   *worst_name = NULL;
	uint64		row;

	pgs_spi_query("WITH intcol AS ("
				  "  SELECT d.objid,"
				  "         pg_catalog.min(CASE a.atttypid WHEN 'pg_catalog.int2'::pg_catalog.regtype"
				  "                        THEN 32767 ELSE 2147483647 END) AS maxval"
				  "    FROM pg_catalog.pg_attribute a"
				  "    JOIN pg_catalog.pg_depend d"
				  "      ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass"
				  "     AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum"
				  "   WHERE a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype,"
				  "                        'pg_catalog.int4'::pg_catalog.regtype)"
				  "     AND (a.attidentity <> '' OR a.atthasdef) AND NOT a.attisdropped"
				  "     AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
				  "     AND d.deptype IN ('a', 'i')"
				  "   GROUP BY d.objid"
				  ")"
				  "SELECT s.seqrelid,"
				  "       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),"
				  "       s.seqmin, s.seqincrement > 0,"
				  "       CASE WHEN s.seqincrement > 0"
				  "            THEN least(s.seqmax, intcol.maxval) ELSE s.seqmax END,"
				  "       pg_catalog.has_sequence_privilege(s.seqrelid, 'SELECT,USAGE')"
				  "  FROM pg_catalog.pg_sequence s"
				  "  JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid"
				  "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				  "  LEFT JOIN intcol ON intcol.objid = s.seqrelid"
				  " WHERE NOT s.seqcycle"
				  "   AND (c.relpersistence = 'p'"
				  "        OR (c.relpersistence = 'u' AND NOT pg_catalog.pg_is_in_recovery()))"
				  "   AND " PGS_USER_SCHEMA_FILTER("n"),
				  0, NULL, NULL, NULL);
	for (row = 0; row < SPI_processed; row++)
	{
		SeqInfo    *si;

		if (!pgs_get_bool(row, 6))
		{
			unreadable++;
			continue;
		}
		si = palloc(sizeof(SeqInfo));
		si->relid = pgs_get_oid(row, 1);
		si->name = pgs_get_text(row, 2);
		si->min = pgs_get_int8(row, 3);
		si->ascending = pgs_get_bool(row, 4);
		si->limit = pgs_get_int8(row, 5);
		checked++;

		/*
		 * A range over 2^62 (a bigint sequence with the default bounds)
		 * cannot be three quarters used in any real system's lifetime:
		 * skip reading it (opening thousands of sequences is the slow part).
		 */
		if ((double) si->limit - (double) si->min > SEQ_UNREACHABLE)
			continue;
		seqs = lappend(seqs, si);
	}
	SPI_freetuptable(SPI_tuptable);

	foreach(lc, seqs)
	{
		SeqInfo    *si = lfirst(lc);
		double		used;
		int64		last_value;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (!pgs_lock_nowait(si->relid))
			continue;
		last_value = pgs_sequence_last_value(si->relid, &isnull);
		if (!isnull)
		{
			double		last = (double) last_value;
			double		range = (double) si->limit - (double) si->min;

			used = range <= 0 ? 100.0 :
				100.0 * (si->ascending ? last - (double) si->min :
						 (double) si->limit - last) / range;
			if (used >= SEQ_CRITICAL_PCT)
				critical++;
			else if (used >= SEQ_WARN_PCT)
				warn++;
			if (worst_name == NULL || used > worst)
			{
				worst = used;
				worst_name = si->name;
			}
		}
		pgs_unlock(si->relid);
	}

	if (critical + warn > 0)
		pgs_add_check(checks, "sequences near their maximum",
				  critical > 0 ? "critical" : "warn",
				  psprintf("%d over %.0f%% (highest: %s at %.1f%%)%s", critical + warn,
						   SEQ_WARN_PCT, worst_name, worst,
						   unreadable > 0 ? psprintf("; %d not readable by this role", unreadable) : ""),
				  psprintf("warn over %.0f%% of the range, critical over %.0f%%",
						   SEQ_WARN_PCT, SEQ_CRITICAL_PCT),
				  pstrdup("Move the column and its sequence to bigint (ALTER TABLE ... ALTER COLUMN ... TYPE bigint; "
						  "ALTER SEQUENCE ... AS bigint) before inserts start failing."));
	else if (unreadable > 0)
		pgs_add_check(checks, "sequences near their maximum", "unknown",
				  psprintf("%d sequence%s not readable by this role%s", unreadable,
						   unreadable == 1 ? "" : "s",
						   worst_name ? psprintf("; highest readable: %s at %.1f%%", worst_name, worst) : ""),
				  psprintf("warn over %.0f%% of the range, critical over %.0f%%",
						   SEQ_WARN_PCT, SEQ_CRITICAL_PCT),
				  pstrdup("Grant SELECT on the sequences (or the role pg_read_all_data) to the monitoring role."));
	else
		pgs_add_check(checks, "sequences near their maximum", "ok",
				  checked == 0 ? pstrdup("no sequences") :
				  psprintf("%d checked%s", checked,
						   worst_name ? psprintf("; highest: %s at %.1f%%", worst_name, worst) : ""),
				  psprintf("warn over %.0f%% of the range, critical over %.0f%%",
						   SEQ_WARN_PCT, SEQ_CRITICAL_PCT),
				  NULL);
}

/*
 * pgs_health_growth
 *		Size of the tables now and in GROWTH_HORIZON, from the snapshots:
 *		the sum of the per-table fits (tables with one snapshot so far count
 *		at their size).  Reads no file: the last snapshot is "now".
 */
void
pgs_health_growth(List **checks)
{
	Interval   *horizon;
	List	   *forecast;
	ListCell   *lc;
	int64		now_bytes = 0;
	int64		later_bytes = 0;
	double		per_day = 0.0;
	int			fitted = 0;
	double		last_days = -1.0;
	char	   *threshold = psprintf("warn when the tables are forecast past %s within " GROWTH_HORIZON,
									 pgs_size_text(GROWTH_WARN_BYTES));

	horizon = DatumGetIntervalP(DirectFunctionCall3(interval_in,
													CStringGetDatum(GROWTH_HORIZON),
													ObjectIdGetDatum(InvalidOid),
													Int32GetDatum(-1)));
	forecast = pgs_collect_forecast(horizon);
	foreach(lc, forecast)
	{
		PgsForecast *f = lfirst(lc);
		long		secs;
		int			usecs;

		TimestampDifference(f->last_at, GetCurrentTimestamp(), &secs, &usecs);
		if (last_days < 0 || (double) secs / SECS_PER_DAY < last_days)
			last_days = (double) secs / SECS_PER_DAY;
		now_bytes += f->current_bytes;
		later_bytes += f->forecast_bytes;
		if (f->samples >= 2)
		{
			fitted++;
			per_day += f->bytes_per_day;
		}
	}

	if (fitted == 0)
	{
		pgs_add_check(checks, "storage growth", "unknown",
				  forecast == NIL ? pstrdup("no size snapshots") :
				  psprintf("%s in tables; one size snapshot so far", pgs_size_text(now_bytes)),
				  threshold,
				  pstrdup("Record sizes daily with pgscale_snapshot_sizes() (pgscale's background worker does, "
						  "or schedule it with pg_cron) to follow growth."));
		return;
	}
	if (last_days > SNAPSHOT_STALE_DAYS)
	{
		pgs_add_check(checks, "storage growth", "warn",
				  psprintf("%s in tables; the last size snapshot is %.0f days old",
						   pgs_size_text(now_bytes), last_days),
				  threshold,
				  pstrdup("Size snapshots have stopped: check that pgscale's background worker (or the pg_cron job "
						  "calling pgscale_snapshot_sizes()) runs."));
		return;
	}
	pgs_add_check(checks, "storage growth",
			  later_bytes >= GROWTH_WARN_BYTES ? "warn" : "ok",
			  psprintf("%s in tables, %s%s a day, about %s in " GROWTH_HORIZON,
					   pgs_size_text(now_bytes), per_day < 0 ? "-" : "+",
					   pgs_size_text((int64) fabs(per_day)),
					   pgs_size_text(Max(later_bytes, 0))),
			  threshold,
			  pstrdup("Plan capacity for the next quarter: see pgscale_growth_forecast() and pgscale_scaling_advice(); "
					  "put retention on the fastest-growing tables (pgscale_set_retention())."));
}

/* The expired-rows probe of retention_outcome_failing, as a guarded step. */
typedef struct ExpiredProbe
{
	const char *sql;
	Oid			type;
	Datum		value;
	bool		found;
} ExpiredProbe;

/*
 * expired_probe
 *		Whether the table has a row older than the cutoff.
 */
static void
expired_probe(void *arg)
{
	ExpiredProbe *probe = arg;

	pgs_spi_query(probe->sql, 1, &probe->type, &probe->value, NULL);
	probe->found = pgs_get_bool(0, 1);
	SPI_freetuptable(SPI_tuptable);
}

/*
 * retention_outcome_failing
 *		Whether a policy left expired data behind: rows older than its
 *		retention as of its last logged run (a later premake or ANALYZE
 *		entry does not hide that; a purge skipped for the maintenance
 *		window is no run), or a column it can no longer use.
 *		Only judged where the check is cheap: the table is partitioned by
 *		the column, or an index leads with it.
 */
static bool
retention_outcome_failing(PgsPolicy *pol)
{
	const char *col;
	Oid			typid;
	const char *cutoff;
	Oid			argtypes[3] = {OIDOID, INT2OID, INTERVALOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *keycol;
	bool		cheap;
	Oid			cutoff_type;
	Datum		cutoff_value;
	bool		isnull;
	SPITupleTable *cutoff_tuples;
	ExpiredProbe probe;
	ErrorData  *edata;

	col = pgs_policy_time_column_if_valid(pol);
	if (col == NULL)
		return pol->time_attnum >= 0 || pol->time_column != NULL;
	typid = getBaseType(get_atttype(pol->relid, pol->time_attnum));
	keycol = pgs_range_partition_column(pol->relid);
	values[0] = ObjectIdGetDatum(pol->relid);
	values[1] = Int16GetDatum((int16) pol->time_attnum);
	values[2] = IntervalPGetDatum(&pol->retention);
	cheap = keycol != NULL && strcmp(keycol, col) == 0;
	if (!cheap)
	{
		pgs_spi_query("SELECT EXISTS (SELECT FROM pg_catalog.pg_index i"
					  " WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
					  " AND i.indkey[0] OPERATOR(pg_catalog.=) $2 AND i.indisvalid"
					  " AND i.indpred IS NULL)",
					  2, argtypes, values, nulls);
		cheap = pgs_get_bool(0, 1);
		SPI_freetuptable(SPI_tuptable);
	}
	if (!cheap)
		return false;

	/* never wait for a table locked against readers: it is reported as skipped */
	if (!pgs_lock_tree_nowait(pol->relid))
		return false;

	/* the cutoff of the last run, as retention.c computes it */
	if (typid == DATEOID)
		cutoff = "((l.at AT TIME ZONE pg_catalog.current_setting('TimeZone'))::pg_catalog.date"
			" OPERATOR(pg_catalog.-) $3)";
	else if (typid == TIMESTAMPOID)
		cutoff = "((l.at AT TIME ZONE pg_catalog.current_setting('TimeZone')) OPERATOR(pg_catalog.-) $3)";
	else
		cutoff = "(l.at OPERATOR(pg_catalog.-) $3)";
	/*
	 * The cutoff first, then the table: in one query with a LATERAL
	 * subquery on the table, Citus cannot push a distributed table's LIMIT
	 * down to its shards.
	 */
	pgs_spi_query(psprintf("SELECT %s FROM"
						   " (SELECT pg_catalog.max(g.logged_at) AS at FROM %s g"
						   "   WHERE g.relid OPERATOR(pg_catalog.=) $1 AND $2 IS NOT NULL"
						   "     AND g.action OPERATOR(pg_catalog.<>) 'skipped') l"
						   " WHERE l.at IS NOT NULL",
						   cutoff, pgs_ext_table("pgscale_log")),
				  3, argtypes, values, nulls);
	if (SPI_processed != 1)
	{
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	cutoff_type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
	cutoff_value = pgs_get_datum(0, 1, &isnull);
	cutoff_tuples = SPI_tuptable;
	probe.sql = psprintf("SELECT EXISTS (SELECT 1 FROM %s t"
						 " WHERE t.%s OPERATOR(pg_catalog.<) $1)",
						 pgs_qualified_name(pol->relid), quote_identifier(col));
	probe.type = cutoff_type;
	probe.value = cutoff_value;
	probe.found = false;

	/*
	 * A Citus table whose node is down cannot be read: that policy's
	 * outcome is not known (the node's own check says it is down), and
	 * the other checks still run.
	 */
	if (!pgs_run_guarded(expired_probe, &probe, &edata))
		probe.found = false;
	SPI_freetuptable(cutoff_tuples);
	return probe.found;
}

/*
 * pgs_health_retention
 *		The retention policies' last runs, from pgscale_log: a policy whose
 *		latest entry is an error is failing, and so is one that left
 *		expired rows behind after its last run.
 */
void
pgs_health_retention(List **checks)
{
	int64		policies;
	int64		failing;
	int64		disabled;
	char	   *failing_first;
	char	   *last_action;

	pgs_spi_query(psprintf("WITH p AS ("
						   "  SELECT p.table_name::pg_catalog.text AS name, p.enabled,"
						   "         l.last_error, l.last_ok"
						   "    FROM %s p"
						   "    LEFT JOIN LATERAL ("
						   "      SELECT pg_catalog.max(g.logged_at) FILTER (WHERE g.action = 'error') AS last_error,"
						   "             pg_catalog.max(g.logged_at) FILTER (WHERE g.action NOT IN ('error', 'skipped')) AS last_ok"
						   "        FROM %s g WHERE g.relid = p.table_name::pg_catalog.oid) l ON true"
						   "   WHERE p.retention IS NOT NULL"
						   ")"
						   "SELECT pg_catalog.count(*) FILTER (WHERE enabled),"
						   "       pg_catalog.count(*) FILTER (WHERE enabled AND last_error >"
						   "                           coalesce(last_ok, '-infinity'::pg_catalog.timestamptz)),"
						   "       pg_catalog.count(*) FILTER (WHERE NOT enabled),"
						   "       (pg_catalog.array_agg(name ORDER BY last_error DESC)"
						   "          FILTER (WHERE enabled AND last_error >"
						   "                  coalesce(last_ok, '-infinity'::pg_catalog.timestamptz)))[1],"
						   "       pg_catalog.to_char(pg_catalog.max(greatest(last_ok, last_error)),"
						   "                          'YYYY-MM-DD HH24:MI TZ')"
						   "  FROM p",
						   pgs_ext_table("pgscale_policy"), pgs_ext_table("pgscale_log")),
				  0, NULL, NULL, NULL);
	policies = pgs_get_int8(0, 1);
	failing = pgs_get_int8(0, 2);
	disabled = pgs_get_int8(0, 3);
	failing_first = pgs_get_text(0, 4);
	last_action = pgs_get_text(0, 5);
	SPI_freetuptable(SPI_tuptable);

	/* judged on the outcome too: expired data still there */
	{
		List	   *pols = pgs_load_policies(InvalidOid);
		ListCell   *lc;
		int64		left = 0;
		char	   *left_first = NULL;

		foreach(lc, pols)
		{
			PgsPolicy  *pol = (PgsPolicy *) lfirst(lc);

			if (!pol->enabled || pol->is_protected || !pol->has_retention ||
				!pgs_owns(pol->relid) || !retention_outcome_failing(pol))
				continue;
			left++;
			if (left_first == NULL)
				left_first = pgs_display_name(pol->relid);
		}
		if (left > 0)
		{
			/* counted once, whether or not its last entry is an error too */
			if (failing == 0)
				failing_first = left_first;
			failing = Max(failing, left);
		}
	}

	pgs_add_check(checks, "retention policies", failing > 0 ? "warn" : "ok",
			  psprintf(INT64_FORMAT " enabled, " INT64_FORMAT " failing%s%s%s; last action %s",
					   policies, failing,
					   failing > 0 ? psprintf(" (%s)", failing_first) : "",
					   disabled > 0 ? ", " : "",
					   disabled > 0 ? psprintf(INT64_FORMAT " disabled", disabled) : "",
					   last_action ? last_action : "never"),
			  pstrdup("warn when a policy's latest run ended in an error or left expired rows"),
			  pstrdup("Read the error in pgscale_log (action = 'error'), fix its cause, then run "
					  "pgscale_cleanup(relation => ...) for that table."));
}

/*
 * policies_last_logged
 *		How many enabled retention policies have, as the last action of
 *		their table's log (ANALYZE and purges skipped for the maintenance
 *		window aside), "action" with a detail LIKE
 *		"detail"; *first receives the first such table's name.
 */
static int64
policies_last_logged(const char *action, const char *detail, char **first)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(action), CStringGetTextDatum(detail)};
	int64		count;

	pgs_spi_query(psprintf("SELECT pg_catalog.count(*),"
						   "       (pg_catalog.array_agg(p.table_name::pg_catalog.text ORDER BY p.table_name::pg_catalog.text))[1]"
						   "  FROM %s p"
						   "  JOIN LATERAL (SELECT g.action, g.detail FROM %s g"
						   "                 WHERE g.relid OPERATOR(pg_catalog.=) p.table_name::pg_catalog.oid"
						   "                   AND g.action OPERATOR(pg_catalog.<>) ALL ('{analyze,skipped}'::pg_catalog.text[])"
						   "                 ORDER BY g.id DESC LIMIT 1) l ON true"
						   " WHERE p.enabled AND p.retention IS NOT NULL"
						   "   AND l.action OPERATOR(pg_catalog.=) $1"
						   "   AND COALESCE(l.detail, ''::pg_catalog.text) LIKE $2",
						   pgs_ext_table("pgscale_policy"), pgs_ext_table("pgscale_log")),
				  2, argtypes, values, NULL);
	count = pgs_get_int8(0, 1);
	*first = pgs_get_text(0, 2);
	SPI_freetuptable(SPI_tuptable);
	return count;
}

/*
 * pgs_health_blocked_by_references
 *		Policies whose last run refused the table because foreign keys
 *		reference its expired rows (on_referenced = 'error'): their expired
 *		rows stay until someone chooses.
 */
void
pgs_health_blocked_by_references(List **checks)
{
	int64		blocked;
	char	   *first;

	blocked = policies_last_logged("error", "blocked by foreign keys:%", &first);

	pgs_add_check(checks, "retention blocked by foreign keys", blocked > 0 ? "warn" : "ok",
			  blocked > 0 ?
			  psprintf(INT64_FORMAT " policies (first: %s)", blocked, first) :
			  pstrdup("none"),
			  pstrdup("warn when a policy's last run touched nothing because other tables reference its expired rows"),
			  pstrdup("pgscale_log (action = 'error') names the constraint. Choose what cleanup does with "
					  "referenced rows: pgscale_set_retention(table, retention, on_referenced => 'cascade') "
					  "deletes the referencing rows first, 'keep' keeps the referenced rows; "
					  "pgscale_cleanup(dry_run => true) shows what either would delete."));
}

/*
 * pgs_health_refused
 *		Policies whose last run refused the table because it would have
 *		removed more of it than its limit allows, or every dated row: their
 *		expired rows stay until someone looks.
 */
void
pgs_health_refused(List **checks)
{
	int64		refused;
	char	   *first;

	refused = policies_last_logged("refused", "%", &first);

	pgs_add_check(checks, "retention refused by its limits", refused > 0 ? "warn" : "ok",
				  refused > 0 ?
				  psprintf(INT64_FORMAT " policies (first: %s)", refused, first) :
				  pstrdup("none"),
				  pstrdup("warn when a policy's last run deleted nothing because it would have removed more than "
						  "max_delete_fraction of the table, or every row with a time value"),
				  pstrdup("pgscale_log (action = 'refused') says why. If rows stopped arriving or the policy names "
						  "the wrong column, fix that; if the share is meant, run "
						  "pgscale_cleanup(relation => ..., force => true) once, or raise the policy's "
						  "max_delete_fraction with pgscale_set_retention()."));
}

/*
 * pgs_health_null_times
 *		Rows whose time column is NULL are never expired: retention keeps
 *		them forever.  Estimated from the planner's statistics (null_frac),
 *		which costs nothing; a dry run of pgscale_cleanup() counts them.
 */
void
pgs_health_null_times(List **checks)
{
	int64		tables;
	int64		rows;
	char	   *first;

	pgs_spi_query(psprintf("SELECT pg_catalog.count(*),"
						   "       pg_catalog.sum(pg_catalog.round(s.null_frac * c.reltuples))::pg_catalog.int8,"
						   "       (pg_catalog.array_agg(p.table_name::pg_catalog.text"
						   "          ORDER BY s.null_frac * c.reltuples DESC))[1]"
						   "  FROM %s p"
						   "  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.table_name"
						   "  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
						   "  JOIN pg_catalog.pg_stats s ON s.schemaname OPERATOR(pg_catalog.=) n.nspname"
						   "   AND s.tablename OPERATOR(pg_catalog.=) c.relname"
						   "   AND s.attname OPERATOR(pg_catalog.=) p.time_column"
						   "   AND s.inherited OPERATOR(pg_catalog.=) (c.relkind OPERATOR(pg_catalog.=) 'p')"
						   " WHERE p.retention IS NOT NULL AND p.enabled AND NOT p.protected"
						   "   AND s.null_frac > 0 AND c.reltuples > 0"
						   "   AND pg_catalog.round(s.null_frac * c.reltuples) >= 1",
						   pgs_ext_table("pgscale_policy")),
				  0, NULL, NULL, NULL);
	tables = pgs_get_int8(0, 1);
	rows = pgs_get_int8(0, 2);
	first = pgs_get_text(0, 3);
	SPI_freetuptable(SPI_tuptable);

	pgs_add_check(checks, "rows without a time value", tables > 0 ? "warn" : "ok",
			  tables > 0 ?
			  psprintf("about " INT64_FORMAT " rows, in " INT64_FORMAT " of the tables with a retention (most in %s)",
					   rows, tables, first) :
			  pstrdup("none in the statistics"),
			  pstrdup("warn when a table with a retention has rows whose time column is NULL: retention never deletes them"),
			  pstrdup("Fill in the time column of those rows, or delete them yourself; "
					  "pgscale_cleanup(dry_run => true) counts them exactly."));
}

/*
 * pgs_health_partition_gaps
 *		Pieces of the months from this one through each premake policy's
 *		months_ahead that no partition covers (partitions made at another
 *		zone's midnight, weekly ones): without a default partition, inserts
 *		there fail.
 */
void
pgs_health_partition_gaps(List **checks)
{
	List	   *policies = pgs_load_policies(InvalidOid);
	ListCell   *lc;
	int			gaps = 0;
	Oid			first = InvalidOid;

	foreach(lc, policies)
	{
		PgsPolicy  *pol = (PgsPolicy *) lfirst(lc);
		char	   *keycol;
		Oid			keytype;
		const char *tz;
		int			now;
		int			n;

		if (pol->premake_months < 0 ||
			(keycol = pgs_range_partition_column(pol->relid)) == NULL)
			continue;
		keytype = pgs_time_column_type(pol->relid, keycol, true);
		if (!OidIsValid(keytype))
			continue;
		tz = pol->time_zone ? pol->time_zone : "UTC";
		now = pgs_current_month(keytype, tz);
		n = pgs_uncovered_ranges(pol->relid, now, now + pol->premake_months,
								 keytype, tz);
		if (n > 0 && !OidIsValid(first))
			first = pol->relid;
		gaps += n;
	}

	pgs_add_check(checks, "partition gaps", gaps > 0 ? "warn" : "ok",
			  gaps > 0 ? psprintf("%d uncovered ranges (first in %s)", gaps,
								  pgs_display_name(first)) :
			  pstrdup("none"),
			  pstrdup("warn when a premade month is not covered by partitions from end to end"),
			  pstrdup("Run pgscale_create_month_partitions() on the table: it creates a partition for "
					  "each uncovered range (<table>_YYYY_MM_gapN)."));
}

/*
 * pgs_health_archive
 *		What action 'archive' keeps (pgscale_archive): how many archived
 *		pieces and how much space they take now.  Always ok: the size is
 *		for planning the move to a warehouse (pgscale_archived() gives the
 *		pg_dump command of each piece).
 */
void
pgs_health_archive(List **checks)
{
	int			ret;
	int64		pieces = 0;
	int64		bytes = 0;

	/* an extension not yet updated to 0.2.0 has no archive */
	if (!OidIsValid(get_relname_relid("pgscale_archive", pgs_catalog_schema())))
		return;
	ret = SPI_execute(psprintf("SELECT pg_catalog.count(*),"
							   " COALESCE(pg_catalog.sum(COALESCE(pg_catalog.pg_total_relation_size(c.oid), a.bytes)), 0)::pg_catalog.int8"
							   " FROM %s a"
							   " LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) a.archive_schema"
							   " LEFT JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid"
							   " AND c.relname OPERATOR(pg_catalog.=) a.archive_table",
							   pgs_ext_table("pgscale_archive")),
					  true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		pieces = pgs_get_int8(0, 1);
		bytes = pgs_get_int8(0, 2);
	}
	pgs_add_check(checks, "archive size", "ok",
				  pieces == 0 ? pstrdup("nothing archived") :
				  psprintf(INT64_FORMAT " archived pieces, %s", pieces,
						   text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
																			  Int64GetDatum(bytes))))),
				  pstrdup("informational: the data action 'archive' keeps, see pgscale_archived()"),
				  NULL);
}
