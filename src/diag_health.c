/*-------------------------------------------------------------------------
 *
 * diag_health.c
 *	  pgscale_health(): the monitoring checklist as one call.  This file
 *	  holds the checks of the server and its statistics;
 *	  diag_health_tables.c those of the tables pgscale maintains.
 *
 *	  Every check reports ok, warn, critical or unknown, with the value it
 *	  measured, the threshold it applied, and, whenever it is not ok, what
 *	  to do.  The checks read the statistics views and the catalogs, never
 *	  a table's rows, and never wait on a lock (a relation locked against
 *	  readers is reported by the "locked relations" check), so the function
 *	  stays fast on catalogs with thousands of relations, works on a hot
 *	  standby, and needs no more than pg_monitor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "diag.h"
#include "diag_citus.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_health);

/* Thresholds, each with the reason for its value. */

/* The cache hit ratio should stay above 99%. */
#define CACHE_HIT_WARN			99.0
#define CACHE_HIT_CRITICAL		90.0
/* Too few block reads since the reset to say anything. */
#define CACHE_MIN_BLOCKS		10000

/* Past 50 concurrent connections, use PgBouncer (scaling tier 2). */
#define CONNECTIONS_POOLER		50
#define CONNECTIONS_WARN_PCT	80.0
#define CONNECTIONS_CRITICAL_PCT 90.0

/* Frequent statements that are slow (PgHero counts 20 ms / 100 calls). */
#define SLOW_MEAN_MS			100.0
#define SLOW_CRITICAL_MS		1000.0
#define SLOW_MIN_CALLS			100

/* Waste worth a rewrite; critical when a rewrite is overdue. */
#define BLOAT_CRITICAL_BYTES	((int64) 1024 * 1024 * 1024)
#define BLOAT_CRITICAL_PERCENT	50.0

/* Unused-index bytes worth a look (the default min_scans is 100). */
#define UNUSED_MIN_SCANS		100
#define UNUSED_WARN_BYTES		((int64) 10 * 1024 * 1024)

/* The missing-index rule of diag_indexes.c, on tables over 10,000 live rows. */
#define MISSING_MIN_ROWS		10000

/* Vacuum backlog: dead rows worth it, at twice autovacuum's own trigger. */
#define DEAD_MIN_ROWS			10000

/*
 * XID / multixact age: warn at twice autovacuum's freeze age (the
 * anti-wraparound vacuum that should have run did not finish), at most at
 * a billion; critical at 1.5 billion, shortly before VACUUM's failsafe
 * (1.6 billion) and 650 million before the server stops assigning IDs.
 */
#define WRAP_WARN_CAP			1000000000.0
#define WRAP_CRITICAL			1500000000.0
#define WRAP_LIMIT				2147483648.0

/* Transactions this old hold back vacuum everywhere. */
#define LONG_XACT				"1 hour"

/*
 * pgs_add_check
 *		Append one check.  Advice is dropped for an ok check, and required
 *		(by assertion) for any other.
 */
void
pgs_add_check(List **checks, const char *name, const char *status, char *value,
		  char *threshold, char *advice)
{
	PgsCheck   *c = palloc0(sizeof(PgsCheck));

	Assert(strcmp(status, "ok") == 0 || advice != NULL);
	c->name = name;
	c->status = status;
	c->value = value;
	c->threshold = threshold;
	c->advice = strcmp(status, "ok") == 0 ? NULL : advice;
	*checks = lappend(*checks, c);
}

/*
 * fmt_pct
 *		A percentage with one decimal.
 */
static char *
fmt_pct(double pct)
{
	return psprintf("%.1f%%", pct);
}

/*
 * check_cache_hit
 *		Share of block reads served from shared buffers in this database.
 */
static void
check_cache_hit(List **checks)
{
	int64		hit;
	int64		read;
	double		pct;
	const char *status;
	char	   *threshold = psprintf("warn under %.0f%%, critical under %.0f%%",
									 CACHE_HIT_WARN, CACHE_HIT_CRITICAL);

	pgs_spi_query("SELECT d.blks_hit, d.blks_read FROM pg_catalog.pg_stat_database d"
				  " WHERE d.datname = pg_catalog.current_database()",
				  0, NULL, NULL, NULL);
	hit = SPI_processed > 0 ? pgs_get_int8(0, 1) : 0;
	read = SPI_processed > 0 ? pgs_get_int8(0, 2) : 0;
	SPI_freetuptable(SPI_tuptable);

	if (hit + read < CACHE_MIN_BLOCKS)
	{
		pgs_add_check(checks, "cache hit ratio", "unknown",
				  psprintf(INT64_FORMAT " block reads since the statistics reset", hit + read),
				  threshold,
				  psprintf("Too little activity to judge (fewer than %d block reads); check again under real load.",
						   CACHE_MIN_BLOCKS));
		return;
	}
	pct = 100.0 * (double) hit / (double) (hit + read);
	status = pct < CACHE_HIT_CRITICAL ? "critical" :
		pct < CACHE_HIT_WARN ? "warn" : "ok";
	pgs_add_check(checks, "cache hit ratio", status, fmt_pct(pct), threshold,
			  pstrdup("The working set no longer fits in memory: raise shared_buffers (about a quarter of RAM), "
					  "add memory, or cache the hottest dashboard reads (scaling tier 2: Redis)."));
}

/*
 * check_connections
 *		Client connections against the slots left after the reserved ones.
 */
static void
check_connections(List **checks)
{
	int64		clients;
	int64		slots;
	double		pct;
	const char *status;

	pgs_spi_query("SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a"
				  "         WHERE a.backend_type = 'client backend'),"
				  "       pg_catalog.current_setting('max_connections')::integer"
				  "       - pg_catalog.current_setting('superuser_reserved_connections')::integer"
				  "       - coalesce(pg_catalog.current_setting('reserved_connections', true)::integer, 0)",
				  0, NULL, NULL, NULL);
	clients = pgs_get_int8(0, 1);
	slots = Max(pgs_get_int8(0, 2), 1);
	SPI_freetuptable(SPI_tuptable);

	pct = 100.0 * (double) clients / (double) slots;
	status = pct >= CONNECTIONS_CRITICAL_PCT ? "critical" :
		(pct >= CONNECTIONS_WARN_PCT || clients > CONNECTIONS_POOLER) ? "warn" : "ok";
	pgs_add_check(checks, "client connections", status,
			  psprintf(INT64_FORMAT " of " INT64_FORMAT " (%.0f%%)", clients, slots, pct),
			  psprintf("warn over %d connections or %.0f%% of the slots, critical over %.0f%%",
					   CONNECTIONS_POOLER, CONNECTIONS_WARN_PCT, CONNECTIONS_CRITICAL_PCT),
			  psprintf("Put PgBouncer in transaction mode in front of the database (scaling tier 2, past %d concurrent connections; "
					   "with Django set CONN_MAX_AGE = 0 behind it), and end idle sessions.",
					   CONNECTIONS_POOLER));
	pgs_citus_health_connections(checks, CONNECTIONS_WARN_PCT, CONNECTIONS_CRITICAL_PCT);
}

/*
 * check_slow_queries
 *		Frequent statements that are slow on average.
 */
static void
check_slow_queries(List **checks)
{
	PgsStatements pgss;
	const char *why;
	const char *hint;
	Oid			argtypes[3] = {FLOAT8OID, INT8OID, FLOAT8OID};
	Datum		values[3];
	int64		slow;
	int64		very_slow;
	double		worst;
	char	   *threshold = psprintf("warn when statements with %d+ calls average over %.0f ms, critical over %.0f ms",
									 SLOW_MIN_CALLS, SLOW_MEAN_MS, SLOW_CRITICAL_MS);

	if (!pgs_statements_ready(&pgss, &why, &hint))
	{
		pgs_add_check(checks, "slow queries", "unknown", pstrdup(why), threshold,
				  pstrdup(hint));
		return;
	}
	values[0] = Float8GetDatum(SLOW_MEAN_MS);
	values[1] = Int64GetDatum(SLOW_MIN_CALLS);
	values[2] = Float8GetDatum(SLOW_CRITICAL_MS);
	pgs_spi_query(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE s.%1$s >= $1),"
						   "       pg_catalog.count(*) FILTER (WHERE s.%1$s >= $3),"
						   "       pg_catalog.max(s.%1$s)"
						   "  FROM %2$s s"
						   " WHERE s.calls >= $2"
						   "   AND s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d"
						   "                  WHERE d.datname = pg_catalog.current_database())",
						   pgss.mean_time, pgss.relation),
				  3, argtypes, values, NULL);
	slow = pgs_get_int8(0, 1);
	very_slow = pgs_get_int8(0, 2);
	worst = pgs_get_float8(0, 3);
	SPI_freetuptable(SPI_tuptable);

	pgs_add_check(checks, "slow queries",
			  very_slow > 0 ? "critical" : slow > 0 ? "warn" : "ok",
			  psprintf(INT64_FORMAT " frequent statement%s over %.0f ms (slowest mean %.0f ms)",
					   slow, slow == 1 ? "" : "s", SLOW_MEAN_MS, worst),
			  threshold,
			  pstrdup("Read pgscale_slow_queries(): index what pgscale_missing_indexes() points at, "
					  "rewrite the heaviest statements, cache repeated dashboard reads."));
}

/* whether relid uses the heap access method */
static bool
is_heap(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		heap;

	if (!HeapTupleIsValid(tup))
		return false;
	heap = ((Form_pg_class) GETSTRUCT(tup))->relam == HEAP_TABLE_AM_OID;
	ReleaseSysCache(tup);
	return heap;
}

/*
 * check_returnable
 *		Space an online compaction could give back to the file system
 *		(pgscale_reclaim), measured from the free space map of the plain
 *		tables the bloat estimate points at: the estimate is cheap and
 *		reads no table, the map is exact but read block by block, so only
 *		those tables are read.  A table another session holds in ACCESS
 *		EXCLUSIVE is left out, never waited for.
 */
static void
check_returnable(List **checks, List *bloat)
{
	ListCell   *lc;
	int			count = 0;
	int64		total = 0;
	int64		largest_bytes = 0;
	Oid			largest = InvalidOid;
	StringInfoData advice;

	foreach(lc, bloat)
	{
		PgsBloatRow *row = lfirst(lc);
		Oid			nsp;
		Oid			relid;
		int64		file_bytes;
		int64		reusable;
		int64		returnable;

		if (row->is_index || row->advice == NULL || !row->wasted_known)
			continue;
		nsp = get_namespace_oid(row->schema_name, true);
		relid = OidIsValid(nsp) ? get_relname_relid(row->table_name, nsp) : InvalidOid;
		if (!OidIsValid(relid) || get_rel_relkind(relid) != RELKIND_RELATION ||
			!ConditionalLockRelationOid(relid, AccessShareLock))
			continue;
		if (!is_heap(relid))
		{
			UnlockRelationOid(relid, AccessShareLock);
			continue;
		}
		returnable = pgs_reclaim_estimate(relid, &file_bytes, &reusable);
		UnlockRelationOid(relid, AccessShareLock);
		if (returnable < PGS_BLOAT_ADVICE_BYTES ||
			returnable < file_bytes * (PGS_BLOAT_ADVICE_PERCENT / 100.0))
			continue;
		count++;
		total += returnable;
		if (returnable > largest_bytes)
		{
			largest_bytes = returnable;
			largest = relid;
		}
	}

	initStringInfo(&advice);
	if (OidIsValid(largest))
	{
		PgsPolicy  *pol = pgs_find_policy(largest);

		appendStringInfo(&advice,
						 "Give it back online, without VACUUM FULL's lock: CALL pgscale_reclaim(%s); "
						 "see pgscale_space_reclaimable() for the others.",
						 quote_literal_cstr(pgs_qualified_name(largest)));
		if (pol != NULL && pol->has_retention && pol->time_column != NULL &&
			!get_rel_relispartition(largest))
			appendStringInfo(&advice,
							 " It loses old rows by time: converted to monthly partitions"
							 " (CALL pgscale_partition_table(%s, %s)), retention drops whole months"
							 " and gives their space back by itself.",
							 quote_literal_cstr(pgs_qualified_name(largest)),
							 quote_literal_cstr(pol->time_column));
	}
	pgs_add_check(checks, "space to give back",
				  count > 0 ? "warn" : "ok",
				  count == 0 ? pstrdup("no table with space a compaction could return") :
				  psprintf("%d table%s, %s returnable (most: %s)",
						   count, count == 1 ? "" : "s", pgs_size_text(total),
						   pgs_display_name(largest)),
				  psprintf("warn when a compaction could return %s and %.0f%% of a table's file",
						   pgs_size_text(PGS_BLOAT_ADVICE_BYTES), PGS_BLOAT_ADVICE_PERCENT),
				  count > 0 ? advice.data : NULL);
}

/*
 * check_bloat
 *		Estimated waste worth a rewrite, over all tables and btree indexes.
 */
static void
check_bloat(List **checks)
{
	/* only relations big enough to be worth a rewrite can be reported */
	List	   *rows = pgs_collect_bloat(false, PGS_BLOAT_ADVICE_BYTES);
	ListCell   *lc;
	int			count = 0;
	int64		wasted = 0;
	bool		critical = false;
	PgsBloatRow *largest = NULL;

	foreach(lc, rows)
	{
		PgsBloatRow *row = lfirst(lc);

		if (row->advice == NULL || !row->wasted_known)
			continue;
		count++;
		wasted += row->wasted_bytes;
		if (largest == NULL || row->wasted_bytes > largest->wasted_bytes)
			largest = row;
		if (row->wasted_bytes >= BLOAT_CRITICAL_BYTES &&
			row->wasted_percent >= BLOAT_CRITICAL_PERCENT)
			critical = true;
	}
	pgs_add_check(checks, "table and index bloat",
			  critical ? "critical" : count > 0 ? "warn" : "ok",
			  count == 0 ? pstrdup("no relation with waste worth a rewrite") :
			  psprintf("%d relation%s, about %s reclaimable (most: %s)",
					   count, count == 1 ? "" : "s", pgs_size_text(wasted),
					   pgs_quote_qualified(largest->schema_name,
										   largest->index_name ? largest->index_name :
										   largest->table_name)),
			  psprintf("warn when a relation wastes %s and %.0f%%, critical at %s and %.0f%%",
					   pgs_size_text(PGS_BLOAT_ADVICE_BYTES), PGS_BLOAT_ADVICE_PERCENT,
					   pgs_size_text(BLOAT_CRITICAL_BYTES), BLOAT_CRITICAL_PERCENT),
			  pstrdup("See pgscale_table_bloat() (exact => true with pgstattuple to confirm): "
					  "REINDEX INDEX CONCURRENTLY the indexes; give the tables' space back online with "
					  "CALL pgscale_reclaim() (see the check \"space to give back\"), or VACUUM FULL them in a quiet hour."));
	check_returnable(checks, rows);
}

/*
 * check_indexes
 *		Unused, invalid and duplicate indexes.
 */
static void
check_indexes(List **checks, const PgsStatsAge *age)
{
	/* young statistics prove nothing: then only count, measure nothing */
	List	   *unused = pgs_collect_unused_indexes(UNUSED_MIN_SCANS, age,
													!pgs_stats_young(age));
	List	   *dups;
	ListCell   *lc;
	int			droppable = 0;
	int			candidates = 0;
	int			invalid = 0;
	int64		bytes = 0;
	int64		dup_bytes = 0;
	char	   *threshold;

	foreach(lc, unused)
	{
		PgsUnusedIndex *ix = lfirst(lc);

		if (ix->invalid)
		{
			if (ix->drop_statement != NULL)
				invalid++;
			continue;
		}
		candidates++;
		if (ix->droppable)
		{
			droppable++;
			bytes += ix->bytes;
		}
	}

	threshold = psprintf("warn from %s in indexes with fewer than %d scans over at least %d days of statistics",
						 pgs_size_text(UNUSED_WARN_BYTES), UNUSED_MIN_SCANS,
						 PGS_MIN_STATS_DAYS);
	if (pgs_stats_young(age) && candidates > 0)
		pgs_add_check(checks, "unused indexes", "unknown",
				  psprintf("%d index%s with fewer than %d scans, but %s",
						   candidates, candidates == 1 ? "" : "es",
						   UNUSED_MIN_SCANS, pgs_stats_age_phrase(age)),
				  threshold,
				  psprintf("Statistics this young prove nothing: review pgscale_unused_indexes() once they are %d days old.",
						   PGS_MIN_STATS_DAYS));
	else
		pgs_add_check(checks, "unused indexes",
				  bytes >= UNUSED_WARN_BYTES ? "warn" : "ok",
				  psprintf("%d index%s, %s%s", droppable,
						   droppable == 1 ? "" : "es", pgs_size_text(bytes),
						   pgs_per_node_note(age) ?
						   psprintf(" (%s)", pgs_per_node_note(age)) : ""),
				  threshold,
				  pstrdup("Every index slows writes and takes memory: drop the ones pgscale_unused_indexes() lists, "
						  "after checking the standbys' counters."));

	pgs_add_check(checks, "invalid indexes", invalid > 0 ? "warn" : "ok",
			  psprintf("%d", invalid), pstrdup("warn from 1"),
			  pstrdup("An invalid index (a failed CREATE INDEX CONCURRENTLY or REINDEX) is maintained but never used: "
					  "drop it or rebuild it with REINDEX INDEX CONCURRENTLY (pgscale_unused_indexes() lists them)."));

	dups = pgs_collect_duplicate_indexes();
	foreach(lc, dups)
	{
		PgsDuplicateIndex *dup = lfirst(lc);

		if (dup->bytes_known)
			dup_bytes += dup->bytes;
	}
	pgs_add_check(checks, "duplicate indexes", list_length(dups) > 0 ? "warn" : "ok",
			  psprintf("%d index%s, %s", list_length(dups),
					   list_length(dups) == 1 ? "" : "es", pgs_size_text(dup_bytes)),
			  pstrdup("warn from 1"),
			  pstrdup("Drop them with the statements from pgscale_duplicate_indexes(); the covering index serves the same queries."));
}

/*
 * check_missing_indexes
 *		The missing-index rule (seq_scan > idx_scan * 10), counting tables
 *		that have no index at all.
 */
static void
check_missing_indexes(List **checks, const PgsStatsAge *age)
{
	List	   *rows = pgs_collect_missing_indexes(MISSING_MIN_ROWS, age);
	int			noindex = 0;
	ListCell   *lc;

	foreach(lc, rows)
	{
		if (((PgsMissingIndex *) lfirst(lc))->idx_scan_null)
			noindex++;
	}
	pgs_add_check(checks, "missing indexes", list_length(rows) > 0 ? "warn" : "ok",
			  psprintf("%d table%s (%d without any index)", list_length(rows),
					   list_length(rows) == 1 ? "" : "s", noindex),
			  psprintf("seq_scan > idx_scan * 10 on tables over %d live rows",
					   MISSING_MIN_ROWS),
			  pstrdup("See pgscale_missing_indexes() and pgscale_slow_queries(): index the columns the frequent queries filter on."));
}

/*
 * Autovacuum's trigger for a table, honouring its storage parameters:
 * threshold + scale_factor * reltuples.
 */
#define AV_TRIGGER(kind) \
	"(coalesce(" PGS_RELOPTION("c", "autovacuum_" kind "_threshold") "::float8," \
	"   pg_catalog.current_setting('autovacuum_" kind "_threshold')::float8)" \
	" + coalesce(" PGS_RELOPTION("c", "autovacuum_" kind "_scale_factor") "::float8," \
	"   pg_catalog.current_setting('autovacuum_" kind "_scale_factor')::float8)" \
	" * greatest(c.reltuples, 0))"

/*
 * check_maintenance
 *		Tables whose statistics are stale (changed rows past twice the
 *		autovacuum analyze trigger) and tables with a vacuum backlog (dead
 *		rows past twice the vacuum trigger): autovacuum is not keeping up.
 */
static void
check_maintenance(List **checks)
{
	int64		stale;
	int64		backlog;
	char	   *stale_first;
	char	   *backlog_first;

	pgs_spi_query("WITH t AS ("
				  "  SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS name,"
				  "         pg_catalog.pg_stat_get_live_tuples(c.oid) AS n_live_tup,"
				  "         pg_catalog.pg_stat_get_dead_tuples(c.oid) AS n_dead_tup,"
				  "         pg_catalog.pg_stat_get_mod_since_analyze(c.oid) AS n_mod_since_analyze,"
				  "         " AV_TRIGGER("analyze") " AS analyze_at,"
				  "         " AV_TRIGGER("vacuum") " AS vacuum_at"
				  "    FROM pg_catalog.pg_class c"
				  "    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
				  "   WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'"
				  "     AND " PGS_USER_SCHEMA_FILTER("n")
				  ")"
				  "SELECT pg_catalog.count(*) FILTER (WHERE n_live_tup + n_dead_tup >= 1000"
				  "                                   AND n_mod_since_analyze > 2 * analyze_at),"
				  "       (pg_catalog.array_agg(name ORDER BY n_mod_since_analyze DESC)"
				  "          FILTER (WHERE n_live_tup + n_dead_tup >= 1000"
				  "                  AND n_mod_since_analyze > 2 * analyze_at))[1],"
				  "       pg_catalog.count(*) FILTER (WHERE n_dead_tup >= $1"
				  "                                   AND n_dead_tup > 2 * vacuum_at),"
				  "       (pg_catalog.array_agg(name ORDER BY n_dead_tup DESC)"
				  "          FILTER (WHERE n_dead_tup >= $1 AND n_dead_tup > 2 * vacuum_at))[1]"
				  "  FROM t",
				  1, (Oid[]) {INT8OID}, (Datum[]) {Int64GetDatum(DEAD_MIN_ROWS)}, NULL);
	stale = pgs_get_int8(0, 1);
	stale_first = pgs_get_text(0, 2);
	backlog = pgs_get_int8(0, 3);
	backlog_first = pgs_get_text(0, 4);
	SPI_freetuptable(SPI_tuptable);

	pgs_add_check(checks, "stale statistics", stale > 0 ? "warn" : "ok",
			  stale > 0 ? psprintf(INT64_FORMAT " table%s (most changed: %s)", stale,
								   stale == 1 ? "" : "s", stale_first) :
			  pstrdup("0 tables"),
			  pstrdup("rows changed since the last ANALYZE over twice autovacuum's analyze trigger"),
			  pstrdup("Run ANALYZE on them, or the planner works from old row counts; if it recurs, "
					  "lower autovacuum_analyze_scale_factor on the big tables."));
	pgs_add_check(checks, "vacuum backlog", backlog > 0 ? "warn" : "ok",
			  backlog > 0 ? psprintf(INT64_FORMAT " table%s (most dead rows: %s)", backlog,
									 backlog == 1 ? "" : "s", backlog_first) :
			  pstrdup("0 tables"),
			  psprintf("over %d dead rows and over twice autovacuum's vacuum trigger", DEAD_MIN_ROWS),
			  pstrdup("Run VACUUM on them; autovacuum is not keeping up: look for long transactions and stale "
					  "replication slots holding cleanup back, then lower autovacuum_vacuum_cost_delay "
					  "or the tables' autovacuum_vacuum_scale_factor."));
}

/*
 * check_long_transactions
 *		Open transactions hold back vacuum (and freezing) in every table.
 */
static void
check_long_transactions(List **checks)
{
	int64		count;
	char	   *oldest;

	pgs_spi_query("SELECT pg_catalog.count(*),"
				  "       pg_catalog.date_trunc('second', pg_catalog.max(pg_catalog.now() - a.xact_start))::pg_catalog.text"
				  "  FROM pg_catalog.pg_stat_activity a"
				  " WHERE a.xact_start < pg_catalog.now() - '" LONG_XACT "'::pg_catalog.interval"
				  "   AND a.backend_type = 'client backend'",
				  0, NULL, NULL, NULL);
	count = pgs_get_int8(0, 1);
	oldest = pgs_get_text(0, 2);
	SPI_freetuptable(SPI_tuptable);
	pgs_add_check(checks, "long transactions", count > 0 ? "warn" : "ok",
			  count > 0 ? psprintf(INT64_FORMAT " (oldest open for %s)", count, oldest) :
			  pstrdup("0"),
			  pstrdup("warn for transactions open over " LONG_XACT),
			  pstrdup("End them (pg_stat_activity shows who): while they are open VACUUM cannot remove dead rows anywhere; "
					  "set idle_in_transaction_session_timeout."));
}

/*
 * check_cycle_lock
 *		Who holds the maintenance cycle's lock in this database, and since
 *		when: a cycle (a manual one left open in a transaction, say) that
 *		keeps it for over three naptimes keeps every other one out.
 */
static void
check_cycle_lock(List **checks)
{
	char	   *holder;
	double		seconds;
	bool		late;

	pgs_spi_query("SELECT pg_catalog.format('pid %s (role %s, application %s, %s) for %s',"
				  "           a.pid, a.usename, pg_catalog.quote_literal(a.application_name), a.state,"
				  "           pg_catalog.date_trunc('second', pg_catalog.now() - s.since)),"
				  "       pg_catalog.date_part('epoch', pg_catalog.now() - s.since)::pg_catalog.float8"
				  "  FROM pg_catalog.pg_locks l"
				  "  JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid,"
				  "  LATERAL (SELECT CASE WHEN a.state = 'active' THEN a.query_start"
				  "                  ELSE a.xact_start END AS since) s"
				  " WHERE l.locktype = 'advisory' AND l.granted"
				  "   AND l.database = (SELECT oid FROM pg_catalog.pg_database"
				  "                      WHERE datname = pg_catalog.current_database())"
				  "   AND l.classid = $1 AND l.objid = $2 AND l.objsubid = $3",
				  3, (Oid[]) {OIDOID, OIDOID, INT4OID},
				  (Datum[]) {ObjectIdGetDatum(PGSCALE_LOCK_KEY1),
					  ObjectIdGetDatum(PGSCALE_LOCK_KEY2),
				  Int32GetDatum(PGSCALE_LOCK_CLASS)}, NULL);
	holder = SPI_processed > 0 ? pgs_get_text(0, 1) : NULL;
	seconds = SPI_processed > 0 ? (double) pgs_get_int8(0, 2) : 0;
	SPI_freetuptable(SPI_tuptable);
	late = holder != NULL && seconds > 3.0 * pgscale_naptime;
	pgs_add_check(checks, "maintenance lock", late ? "warn" : "ok",
			  holder ? psprintf("held by %s", holder) : pstrdup("free"),
			  psprintf("held for over three naptimes (%d s)", 3 * pgscale_naptime),
			  pstrdup("Every other maintenance cycle of this database skips while one holds the lock: "
					  "end that session's transaction (pg_terminate_backend() if it is idle), and run "
					  "the cycle as CALL pgscale_run_maintenance_proc(), which commits as it goes."));
}

/*
 * check_wraparound
 *		Age of the oldest unfrozen transaction ID and multixact ID in this
 *		database, against autovacuum's freeze ages.
 */
static void
check_wraparound(List **checks)
{
	const char *kinds[2] = {"transaction ID wraparound", "multixact ID wraparound"};
	double		ages[2];
	double		freeze[2];
	int			k;

	pgs_spi_query("SELECT pg_catalog.age(d.datfrozenxid)::float8,"
				  "       pg_catalog.mxid_age(d.datminmxid)::float8,"
				  "       pg_catalog.current_setting('autovacuum_freeze_max_age')::float8,"
				  "       pg_catalog.current_setting('autovacuum_multixact_freeze_max_age')::float8"
				  "  FROM pg_catalog.pg_database d"
				  " WHERE d.datname = pg_catalog.current_database()",
				  0, NULL, NULL, NULL);
	ages[0] = pgs_get_float8(0, 1);
	ages[1] = pgs_get_float8(0, 2);
	freeze[0] = pgs_get_float8(0, 3);
	freeze[1] = pgs_get_float8(0, 4);
	SPI_freetuptable(SPI_tuptable);

	for (k = 0; k < 2; k++)
	{
		double		warn = Min(2.0 * freeze[k], WRAP_WARN_CAP);

		pgs_add_check(checks, kinds[k],
				  ages[k] >= WRAP_CRITICAL ? "critical" : ages[k] >= warn ? "warn" : "ok",
				  psprintf("age %.0f (%.1f%% of the 2^31 limit)", ages[k],
						   100.0 * ages[k] / WRAP_LIMIT),
				  psprintf("warn over %.0f (twice %s, at most a billion), critical over %.0f",
						   warn, k == 0 ? "autovacuum_freeze_max_age" :
						   "autovacuum_multixact_freeze_max_age", WRAP_CRITICAL),
				  pstrdup("VACUUM (FREEZE) the tables with the oldest relfrozenxid / relminmxid first; end long transactions, "
						  "and drop stale replication slots and prepared transactions that hold the horizon back."));
	}
}

/*
 * check_worker
 *		Only for a database listed in pgscale.databases: critical when no
 *		launcher runs to maintain it (for instance it could not get one of
 *		max_worker_processes at server start).
 */
static void
check_worker(List **checks)
{
	if (!pgs_worker_missing())
		return;
	pgs_add_check(checks, "background worker", "critical",
			  pstrdup("this database is listed in pgscale.databases but no pgscale launcher runs"),
			  pstrdup("critical when a listed database has no launcher"),
			  pstrdup("Look for \"too many background workers\" in the server log: raise "
					  "max_worker_processes (the launcher holds one for good, each running "
					  "cycle one more) and restart; or load pgscale in shared_preload_libraries."));
}

/*
 * check_locked
 *		Relations the checks above found locked and skipped.
 */
static void
check_locked(List **checks)
{
	List	   *skipped = pgs_skipped_relations();
	int			n = list_length(skipped);

	pgs_add_check(checks, "locked relations", n > 0 ? "warn" : "ok",
			  n > 0 ? psprintf("%d skipped (first: %s)", n,
							   pgs_display_name(linitial_oid(skipped))) :
			  pstrdup("none skipped"),
			  pstrdup("warn when a relation under an exclusive lock had to be skipped"),
			  pstrdup("Their sizes are missing from the checks above; pg_locks shows who holds the lock. "
					  "Run pgscale_health() again once it is released."));
}

/*
 * pgscale_health
 *		SQL: pgscale_health()
 */
Datum
pgscale_health(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *checks = NIL;
	PgsStatsAge age;
	ListCell   *lc;
	int			nestlevel;

	pgs_init_materialized_srf(fcinfo);
	nestlevel = pgs_begin_stats_snapshot();
	SPI_connect();
	pgs_reset_skipped();
	pgs_get_stats_age(&age);

	check_cache_hit(&checks);
	check_connections(&checks);
	check_slow_queries(&checks);
	check_bloat(&checks);
	check_indexes(&checks, &age);
	check_missing_indexes(&checks, &age);
	check_maintenance(&checks);
	check_long_transactions(&checks);
	check_cycle_lock(&checks);
	check_wraparound(&checks);
	pgs_health_sequences(&checks);
	pgs_health_growth(&checks);
	pgs_health_retention(&checks);
	pgs_health_blocked_by_references(&checks);
	pgs_health_refused(&checks);
	pgs_health_null_times(&checks);
	check_worker(&checks);
	pgs_health_partition_gaps(&checks);
	pgs_health_archive(&checks);
	pgs_health_policy_status(&checks);
	check_locked(&checks);

	foreach(lc, checks)
	{
		PgsCheck   *c = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {0};

		values[0] = CStringGetTextDatum(c->name);
		values[1] = CStringGetTextDatum(c->status);
		values[2] = CStringGetTextDatum(c->value);
		values[3] = CStringGetTextDatum(c->threshold);
		if (c->advice)
			values[4] = CStringGetTextDatum(c->advice);
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	pgs_end_stats_snapshot(nestlevel);
	return (Datum) 0;
}
