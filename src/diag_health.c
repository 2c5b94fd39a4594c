/*-------------------------------------------------------------------------
 *
 * diag_health.c
 *	  pgscale_health(): the monitoring checklist as one call.
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

/* Sequences: share of the range (of the sequence or its column) used. */
#define SEQ_WARN_PCT			75.0
#define SEQ_CRITICAL_PCT		90.0
#define SEQ_UNREACHABLE			4611686018427387904.0	/* 2^62 */

/* Storage: a single PostgreSQL server handles 10-20 GB easily (scaling tier 1). */
#define GROWTH_WARN_BYTES		((int64) 20 * 1024 * 1024 * 1024)
#define GROWTH_HORIZON			"90 days"
#define SNAPSHOT_STALE_DAYS		2.0

/* Transactions this old hold back vacuum everywhere. */
#define LONG_XACT				"1 hour"

typedef struct PgsCheck
{
	const char *name;
	const char *status;
	char	   *value;
	char	   *threshold;
	char	   *advice;
} PgsCheck;

/*
 * add_check
 *		Append one check.  Advice is dropped for an ok check, and required
 *		(by assertion) for any other.
 */
static void
add_check(List **checks, const char *name, const char *status, char *value,
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
		add_check(checks, "cache hit ratio", "unknown",
				  psprintf(INT64_FORMAT " block reads since the statistics reset", hit + read),
				  threshold,
				  psprintf("Too little activity to judge (fewer than %d block reads); check again under real load.",
						   CACHE_MIN_BLOCKS));
		return;
	}
	pct = 100.0 * (double) hit / (double) (hit + read);
	status = pct < CACHE_HIT_CRITICAL ? "critical" :
		pct < CACHE_HIT_WARN ? "warn" : "ok";
	add_check(checks, "cache hit ratio", status, fmt_pct(pct), threshold,
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
	add_check(checks, "client connections", status,
			  psprintf(INT64_FORMAT " of " INT64_FORMAT " (%.0f%%)", clients, slots, pct),
			  psprintf("warn over %d connections or %.0f%% of the slots, critical over %.0f%%",
					   CONNECTIONS_POOLER, CONNECTIONS_WARN_PCT, CONNECTIONS_CRITICAL_PCT),
			  psprintf("Put PgBouncer in transaction mode in front of the database (scaling tier 2, past %d concurrent connections; "
					   "with Django set CONN_MAX_AGE = 0 behind it), and end idle sessions.",
					   CONNECTIONS_POOLER));
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
		add_check(checks, "slow queries", "unknown", pstrdup(why), threshold,
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

	add_check(checks, "slow queries",
			  very_slow > 0 ? "critical" : slow > 0 ? "warn" : "ok",
			  psprintf(INT64_FORMAT " frequent statement%s over %.0f ms (slowest mean %.0f ms)",
					   slow, slow == 1 ? "" : "s", SLOW_MEAN_MS, worst),
			  threshold,
			  pstrdup("Read pgscale_slow_queries(): index what pgscale_missing_indexes() points at, "
					  "rewrite the heaviest statements, cache repeated dashboard reads."));
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
	add_check(checks, "table and index bloat",
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
					  "REINDEX INDEX CONCURRENTLY the indexes, VACUUM FULL or pg_repack the tables in a quiet hour."));
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
		add_check(checks, "unused indexes", "unknown",
				  psprintf("%d index%s with fewer than %d scans, but %s",
						   candidates, candidates == 1 ? "" : "es",
						   UNUSED_MIN_SCANS, pgs_stats_age_phrase(age)),
				  threshold,
				  psprintf("Statistics this young prove nothing: review pgscale_unused_indexes() once they are %d days old.",
						   PGS_MIN_STATS_DAYS));
	else
		add_check(checks, "unused indexes",
				  bytes >= UNUSED_WARN_BYTES ? "warn" : "ok",
				  psprintf("%d index%s, %s%s", droppable,
						   droppable == 1 ? "" : "es", pgs_size_text(bytes),
						   pgs_per_node_note(age) ?
						   psprintf(" (%s)", pgs_per_node_note(age)) : ""),
				  threshold,
				  pstrdup("Every index slows writes and takes memory: drop the ones pgscale_unused_indexes() lists, "
						  "after checking the standbys' counters."));

	add_check(checks, "invalid indexes", invalid > 0 ? "warn" : "ok",
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
	add_check(checks, "duplicate indexes", list_length(dups) > 0 ? "warn" : "ok",
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
	add_check(checks, "missing indexes", list_length(rows) > 0 ? "warn" : "ok",
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

	add_check(checks, "stale statistics", stale > 0 ? "warn" : "ok",
			  stale > 0 ? psprintf(INT64_FORMAT " table%s (most changed: %s)", stale,
								   stale == 1 ? "" : "s", stale_first) :
			  pstrdup("0 tables"),
			  pstrdup("rows changed since the last ANALYZE over twice autovacuum's analyze trigger"),
			  pstrdup("Run ANALYZE on them, or the planner works from old row counts; if it recurs, "
					  "lower autovacuum_analyze_scale_factor on the big tables."));
	add_check(checks, "vacuum backlog", backlog > 0 ? "warn" : "ok",
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
	add_check(checks, "long transactions", count > 0 ? "warn" : "ok",
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
	add_check(checks, "maintenance lock", late ? "warn" : "ok",
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

		add_check(checks, kinds[k],
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
 * check_sequences
 *		Sequences that have used most of their range, or of the range of
 *		the int2 / int4 column they feed (a serial or identity column fails
 *		at 2^31 - 1 however far its sequence could go).  A sequence the role may not read is
 *		counted, not guessed; a locked one is skipped.
 */
static void
check_sequences(List **checks)
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
		add_check(checks, "sequences near their maximum",
				  critical > 0 ? "critical" : "warn",
				  psprintf("%d over %.0f%% (highest: %s at %.1f%%)%s", critical + warn,
						   SEQ_WARN_PCT, worst_name, worst,
						   unreadable > 0 ? psprintf("; %d not readable by this role", unreadable) : ""),
				  psprintf("warn over %.0f%% of the range, critical over %.0f%%",
						   SEQ_WARN_PCT, SEQ_CRITICAL_PCT),
				  pstrdup("Move the column and its sequence to bigint (ALTER TABLE ... ALTER COLUMN ... TYPE bigint; "
						  "ALTER SEQUENCE ... AS bigint) before inserts start failing."));
	else if (unreadable > 0)
		add_check(checks, "sequences near their maximum", "unknown",
				  psprintf("%d sequence%s not readable by this role%s", unreadable,
						   unreadable == 1 ? "" : "s",
						   worst_name ? psprintf("; highest readable: %s at %.1f%%", worst_name, worst) : ""),
				  psprintf("warn over %.0f%% of the range, critical over %.0f%%",
						   SEQ_WARN_PCT, SEQ_CRITICAL_PCT),
				  pstrdup("Grant SELECT on the sequences (or the role pg_read_all_data) to the monitoring role."));
	else
		add_check(checks, "sequences near their maximum", "ok",
				  checked == 0 ? pstrdup("no sequences") :
				  psprintf("%d checked%s", checked,
						   worst_name ? psprintf("; highest: %s at %.1f%%", worst_name, worst) : ""),
				  psprintf("warn over %.0f%% of the range, critical over %.0f%%",
						   SEQ_WARN_PCT, SEQ_CRITICAL_PCT),
				  NULL);
}

/*
 * check_growth
 *		Size of the tables now and in GROWTH_HORIZON, from the snapshots:
 *		the sum of the per-table fits (tables with one snapshot so far count
 *		at their size).  Reads no file: the last snapshot is "now".
 */
static void
check_growth(List **checks)
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
		add_check(checks, "storage growth", "unknown",
				  forecast == NIL ? pstrdup("no size snapshots") :
				  psprintf("%s in tables; one size snapshot so far", pgs_size_text(now_bytes)),
				  threshold,
				  pstrdup("Record sizes daily with pgscale_snapshot_sizes() (pgscale's background worker does, "
						  "or schedule it with pg_cron) to follow growth."));
		return;
	}
	if (last_days > SNAPSHOT_STALE_DAYS)
	{
		add_check(checks, "storage growth", "warn",
				  psprintf("%s in tables; the last size snapshot is %.0f days old",
						   pgs_size_text(now_bytes), last_days),
				  threshold,
				  pstrdup("Size snapshots have stopped: check that pgscale's background worker (or the pg_cron job "
						  "calling pgscale_snapshot_sizes()) runs."));
		return;
	}
	add_check(checks, "storage growth",
			  later_bytes >= GROWTH_WARN_BYTES ? "warn" : "ok",
			  psprintf("%s in tables, %s%s a day, about %s in " GROWTH_HORIZON,
					   pgs_size_text(now_bytes), per_day < 0 ? "-" : "+",
					   pgs_size_text((int64) fabs(per_day)),
					   pgs_size_text(Max(later_bytes, 0))),
			  threshold,
			  pstrdup("Plan capacity for the next quarter: see pgscale_growth_forecast() and pgscale_scaling_advice(); "
					  "put retention on the fastest-growing tables (pgscale_set_retention())."));
}

/*
 * retention_outcome_failing
 *		Whether a policy left expired data behind: rows older than its
 *		retention as of its last logged run (a later premake or ANALYZE
 *		entry does not hide that), or a column it can no longer use.
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

	/* the cutoff of the last run, as retention.c computes it */
	if (typid == DATEOID)
		cutoff = "((l.at AT TIME ZONE pg_catalog.current_setting('TimeZone'))::pg_catalog.date"
			" OPERATOR(pg_catalog.-) $3)";
	else if (typid == TIMESTAMPOID)
		cutoff = "((l.at AT TIME ZONE pg_catalog.current_setting('TimeZone')) OPERATOR(pg_catalog.-) $3)";
	else
		cutoff = "(l.at OPERATOR(pg_catalog.-) $3)";
	pgs_spi_query(psprintf("SELECT EXISTS (SELECT FROM"
						   " (SELECT pg_catalog.max(g.logged_at) AS at FROM %s g"
						   "   WHERE g.relid OPERATOR(pg_catalog.=) $1 AND $2 IS NOT NULL) l,"
						   " LATERAL (SELECT FROM %s t WHERE t.%s OPERATOR(pg_catalog.<) %s LIMIT 1) x"
						   " WHERE l.at IS NOT NULL)",
						   pgs_ext_table("pgscale_log"), pgs_qualified_name(pol->relid),
						   quote_identifier(col), cutoff),
				  3, argtypes, values, nulls);
	cheap = pgs_get_bool(0, 1);
	SPI_freetuptable(SPI_tuptable);
	return cheap;
}

/*
 * check_retention
 *		The retention policies' last runs, from pgscale_log: a policy whose
 *		latest entry is an error is failing, and so is one that left
 *		expired rows behind after its last run.
 */
static void
check_retention(List **checks)
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
						   "             pg_catalog.max(g.logged_at) FILTER (WHERE g.action <> 'error') AS last_ok"
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

	add_check(checks, "retention policies", failing > 0 ? "warn" : "ok",
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
 * check_blocked_by_references
 *		Policies whose last run refused the table because foreign keys
 *		reference its expired rows (on_referenced = 'error'): their expired
 *		rows stay until someone chooses.
 */
static void
check_blocked_by_references(List **checks)
{
	int64		blocked;
	char	   *first;

	pgs_spi_query(psprintf("SELECT pg_catalog.count(*),"
						   "       (pg_catalog.array_agg(p.table_name::pg_catalog.text ORDER BY p.table_name::pg_catalog.text))[1]"
						   "  FROM %s p"
						   "  JOIN LATERAL (SELECT g.action, g.detail FROM %s g"
						   "                 WHERE g.relid OPERATOR(pg_catalog.=) p.table_name::pg_catalog.oid"
						   "                   AND g.action OPERATOR(pg_catalog.<>) 'analyze'"
						   "                 ORDER BY g.id DESC LIMIT 1) l ON true"
						   " WHERE p.enabled AND p.retention IS NOT NULL"
						   "   AND l.action OPERATOR(pg_catalog.=) 'error'"
						   "   AND l.detail LIKE 'blocked by foreign keys:%%'",
						   pgs_ext_table("pgscale_policy"), pgs_ext_table("pgscale_log")),
				  0, NULL, NULL, NULL);
	blocked = pgs_get_int8(0, 1);
	first = pgs_get_text(0, 2);
	SPI_freetuptable(SPI_tuptable);

	add_check(checks, "retention blocked by foreign keys", blocked > 0 ? "warn" : "ok",
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
 * check_null_times
 *		Rows whose time column is NULL are never expired: retention keeps
 *		them forever.  Estimated from the planner's statistics (null_frac),
 *		which costs nothing; a dry run of pgscale_cleanup() counts them.
 */
static void
check_null_times(List **checks)
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

	add_check(checks, "rows without a time value", tables > 0 ? "warn" : "ok",
			  tables > 0 ?
			  psprintf("about " INT64_FORMAT " rows, in " INT64_FORMAT " of the tables with a retention (most in %s)",
					   rows, tables, first) :
			  pstrdup("none in the statistics"),
			  pstrdup("warn when a table with a retention has rows whose time column is NULL: retention never deletes them"),
			  pstrdup("Fill in the time column of those rows, or delete them yourself; "
					  "pgscale_cleanup(dry_run => true) counts them exactly."));
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
	add_check(checks, "background worker", "critical",
			  pstrdup("this database is listed in pgscale.databases but no pgscale launcher runs"),
			  pstrdup("critical when a listed database has no launcher"),
			  pstrdup("Look for \"too many background workers\" in the server log: raise "
					  "max_worker_processes (the launcher holds one for good, each running "
					  "cycle one more) and restart; or load pgscale in shared_preload_libraries."));
}

/*
 * check_partition_gaps
 *		Pieces of the months from this one through each premake policy's
 *		months_ahead that no partition covers (partitions made at another
 *		zone's midnight, weekly ones): without a default partition, inserts
 *		there fail.
 */
static void
check_partition_gaps(List **checks)
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

	add_check(checks, "partition gaps", gaps > 0 ? "warn" : "ok",
			  gaps > 0 ? psprintf("%d uncovered ranges (first in %s)", gaps,
								  pgs_display_name(first)) :
			  pstrdup("none"),
			  pstrdup("warn when a premade month is not covered by partitions from end to end"),
			  pstrdup("Run pgscale_create_month_partitions() on the table: it creates a partition for "
					  "each uncovered range (<table>_YYYY_MM_gapN)."));
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

	add_check(checks, "locked relations", n > 0 ? "warn" : "ok",
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
	check_sequences(&checks);
	check_growth(&checks);
	check_retention(&checks);
	check_blocked_by_references(&checks);
	check_null_times(&checks);
	check_worker(&checks);
	check_partition_gaps(&checks);
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
