/*-------------------------------------------------------------------------
 *
 * diag_util.c
 *	  Helpers shared by the diagnostic functions: how old the cumulative
 *	  statistics are (every "unused" verdict depends on it), formatting
 *	  sizes and names, and the limit and threshold arguments (spi.c reads
 *	  SPI results by column).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "diag.h"

/*
 * pgs_get_stats_age
 *		Since when the usage counters of this database accumulate.
 *
 *		pg_stat_reset() records its time in pg_stat_database.stats_reset;
 *		a crash, a restore from a physical backup or a new cluster start
 *		the statistics from nothing, and then the shared counters'
 *		stats_reset (pg_stat_bgwriter's, always present) is set.  The later
 *		of the two is when the counters we read started.  A database
 *		created by pg_restore into an older cluster is the case this cannot
 *		see.
 *
 *		Also notes whether the counters are a standby's own, or whether
 *		standbys (whose counters are separate) stream from this node: an
 *		index used only by queries on a replica looks unused here.
 */
void
pgs_get_stats_age(PgsStatsAge *age)
{
	bool		isnull;
	Datum		d;

	memset(age, 0, sizeof(*age));
	pgs_spi_query("SELECT greatest(d.stats_reset, b.stats_reset),"
				  "       pg_catalog.pg_is_in_recovery(),"
				  "       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_replication)"
				  "  FROM pg_catalog.pg_stat_bgwriter b"
				  "  LEFT JOIN pg_catalog.pg_stat_database d"
				  "         ON d.datname = pg_catalog.current_database()",
				  0, NULL, NULL, NULL);
	if (SPI_processed < 1)
		return;
	d = pgs_get_datum(0, 1, &isnull);
	if (!isnull)
	{
		long		secs;
		int			usecs;

		age->known = true;
		age->since = DatumGetTimestampTz(d);
		TimestampDifference(age->since, GetCurrentTimestamp(), &secs, &usecs);
		age->days = (double) secs / SECS_PER_DAY;
	}
	age->in_recovery = pgs_get_bool(0, 2);
	age->standbys = pgs_get_int8(0, 3);
}

/*
 * pgs_begin_stats_snapshot / pgs_end_stats_snapshot
 *		Read the cumulative statistics from one snapshot while a diagnostic
 *		runs: every counter is then from the same moment, and thousands of
 *		pg_stat_get_*() calls cost a hash lookup each instead of a visit to
 *		shared memory (15+).  The setting is restored on the way out, or by
 *		the transaction's abort.
 */
int
pgs_begin_stats_snapshot(void)
{
#ifdef PGSCALE_HAVE_STATS_FETCH_CONSISTENCY
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("stats_fetch_consistency", "snapshot",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
#else
	return -1;
#endif
}

void
pgs_end_stats_snapshot(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

/*
 * pgs_stats_young
 *		Whether the counters are too young (or of unknown age) to call an
 *		index unused.
 */
bool
pgs_stats_young(const PgsStatsAge *age)
{
	return !age->known || age->days < PGS_MIN_STATS_DAYS;
}

/*
 * pgs_stats_age_phrase
 *		"statistics 45 days old", with the warning a person needs when they
 *		are younger than PGS_MIN_STATS_DAYS.
 */
char *
pgs_stats_age_phrase(const PgsStatsAge *age)
{
	int			days;

	if (!age->known)
		return pstrdup("statistics age unknown: verify before dropping");
	days = (int) floor(age->days);
	if (age->days >= PGS_MIN_STATS_DAYS)
		return psprintf("statistics %d days old", days);
	return psprintf("statistics %d day%s old (under %d days: verify before dropping)",
					days, days == 1 ? "" : "s", PGS_MIN_STATS_DAYS);
}

/*
 * pgs_per_node_note
 *		Usage counters are kept per node: say so when other nodes exist.
 */
const char *
pgs_per_node_note(const PgsStatsAge *age)
{
	if (age->in_recovery)
		return "counters are this standby's own: check the primary and the other standbys";
	if (age->standbys > 0)
		return "counters are per node: check the standbys too";
	return NULL;
}

/*
 * pgs_size_text
 *		pg_size_pretty() of a byte count.
 */
char *
pgs_size_text(int64 bytes)
{
	return text_to_cstring(DatumGetTextPP(DirectFunctionCall1(pg_size_pretty,
															  Int64GetDatum(bytes))));
}

/*
 * pgs_quote_qualified
 *		schema.name, each part quoted where needed: safe to paste into SQL.
 */
char *
pgs_quote_qualified(const char *schema, const char *name)
{
	return quote_qualified_identifier(schema, name);
}

/*
 * pgs_name_datum
 *		A C string as a "name" Datum.
 */
Datum
pgs_name_datum(const char *name)
{
	return DirectFunctionCall1(namein, CStringGetDatum(name));
}

/*
 * pgs_limit_arg
 *		An integer argument that counts rows to return: at least 1.
 */
int32
pgs_limit_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	int32		value;

	pgs_require_arg(fcinfo, argno, argname,
					"Leave the argument out to use its default.");
	value = PG_GETARG_INT32(argno);
	if (value < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1", argname),
				 errhint("Pass the number of rows to return.")));
	return value;
}

/*
 * pgs_threshold_arg
 *		A bigint argument that is a threshold: zero or more.
 */
int64
pgs_threshold_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	int64		value;

	pgs_require_arg(fcinfo, argno, argname,
					"Leave the argument out to use its default.");
	value = PG_GETARG_INT64(argno);
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname),
				 errhint("Pass zero or a positive number.")));
	return value;
}
