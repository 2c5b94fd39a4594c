/*-------------------------------------------------------------------------
 *
 * diag_citus.c
 *	  The shards of Citus tables, seen from the coordinator.
 *
 *	  On a Citus cluster a distributed or reference table on the
 *	  coordinator is an empty shell: its rows, its index scans and its
 *	  sizes are in shard placements on the nodes, which Citus also hides
 *	  from pg_class (citus.show_shards_for_app_name_prefixes).  A
 *	  diagnostic that reads only the coordinator's statistics would call
 *	  every index of such a table unused, and the DROP INDEX it offers
 *	  would be propagated to every shard.  So the diagnostics ask Citus:
 *	  run_command_on_placements() runs a catalog query on every placement
 *	  and says which placements did not answer; the shard of an index is
 *	  named by shard_name().  A placement that did not answer makes the
 *	  answer unknown, never zero.
 *
 *	  Everything here is found at run time (the citus extension installed
 *	  in this database, its catalogs and functions in pg_catalog); pgscale
 *	  is never linked against Citus, and without Citus these functions
 *	  report that no table is a Citus table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"

#include "diag.h"
#include "diag_citus.h"
#include "pgscale.h"

/* How long a placement may wait for a shard's lock before it is unknown. */
#define PGS_SHARD_LOCK_TIMEOUT "200ms"

/*
 * The scans of every index of one shard, as a JSON object keyed by the
 * index's qualified shard name; run_command_on_placements() puts the
 * shard's quoted name where %L is (with format(), hence the %%).
 */
#define PGS_SHARD_SCANS_COMMAND \
	"SELECT coalesce(pg_catalog.json_object_agg(" \
	"pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.'" \
	" OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)," \
	" pg_catalog.pg_stat_get_numscans(i.indexrelid)), '{}')" \
	" FROM pg_catalog.pg_index i" \
	" JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid" \
	" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace" \
	" WHERE i.indrelid OPERATOR(pg_catalog.=) %L::pg_catalog.regclass"

/*
 * pgs_citus_present
 *		Whether the citus extension is installed in this database.
 */
bool
pgs_citus_present(void)
{
	return OidIsValid(get_extension_oid("citus", true));
}

/*
 * pgs_citus_table_kind
 *		"distributed", "reference" or "Citus local" for a table Citus
 *		manages (it is in pg_dist_partition), NULL for any other relation
 *		or when Citus is not installed.  SPI must be connected.
 */
const char *
pgs_citus_table_kind(Oid relid)
{
	char	   *kind;

	if (!pgs_citus_present())
		return NULL;
	kind = pgs_spi_text_oid("SELECT CASE WHEN p.partmethod OPERATOR(pg_catalog.=) 'h'"
							" OR (p.repmodel OPERATOR(pg_catalog.=) 's'"
							"     AND p.colocationid OPERATOR(pg_catalog.<>) 0)"
							" THEN 'distributed'"
							" WHEN p.repmodel OPERATOR(pg_catalog.=) 't' THEN 'reference'"
							" ELSE 'Citus local' END"
							" FROM pg_catalog.pg_dist_partition p"
							" WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							relid);
	if (kind == NULL)
		return NULL;
	if (strcmp(kind, "distributed") == 0)
		return "distributed";
	if (strcmp(kind, "reference") == 0)
		return "reference";
	return "Citus local";
}

/*
 * pgs_citus_index_scans
 *		The scans of a set of indexes (an oid[]: an index, or the leaf
 *		indexes of a partitioned index) summed over every placement of
 *		every shard of the Citus tables they belong to, on every node, into
 *		count->idx_scan.  count->known is false when some placement did not
 *		answer (a node down) or did not have the shard index: then the sum
 *		is only a lower bound and nobody may call the index unused.  Indexes
 *		of tables Citus does not manage are left out (their scans are the
 *		coordinator's own).  SPI must be connected; the last result is
 *		replaced.
 */
static void
pgs_citus_index_scans(Datum indexes, PgsCitusShards *count)
{
	Oid			argtypes[2] = {OIDARRAYOID, TEXTOID};
	Datum		values[2];

	values[0] = indexes;
	values[1] = CStringGetTextDatum(PGS_SHARD_SCANS_COMMAND);
	pgs_spi_query("WITH leaf AS ("
				  "  SELECT x.idx, i.indrelid AS rel"
				  "    FROM pg_catalog.unnest($1) x(idx)"
				  "    JOIN pg_catalog.pg_index i ON i.indexrelid OPERATOR(pg_catalog.=) x.idx"
				  "   WHERE i.indrelid IN (SELECT p.logicalrelid::pg_catalog.oid"
				  "                          FROM pg_catalog.pg_dist_partition p)"
				  "), pl AS ("
				  "  SELECT t.rel, r.shardid, r.success, r.result"
				  "    FROM (SELECT DISTINCT l.rel FROM leaf l) t,"
				  "    LATERAL pg_catalog.run_command_on_placements("
				  "      t.rel::pg_catalog.regclass, $2) r"
				  ")"
				  "SELECT (SELECT pg_catalog.count(*) FROM leaf),"
				  "       pg_catalog.count(*),"
				  "       pg_catalog.count(*) FILTER (WHERE v.scans IS NULL),"
				  "       coalesce(pg_catalog.sum(v.scans), 0)::pg_catalog.int8"
				  "  FROM leaf l JOIN pl ON pl.rel OPERATOR(pg_catalog.=) l.rel"
				  "  CROSS JOIN LATERAL (SELECT (CASE WHEN pl.success"
				  "      THEN pl.result::pg_catalog.json END"
				  "      OPERATOR(pg_catalog.->>) pg_catalog.shard_name("
				  "        l.idx::pg_catalog.regclass, pl.shardid, false)"
				  "    )::pg_catalog.int8 AS scans) v",
				  2, argtypes, values, NULL);
	if (SPI_processed == 1 && pgs_get_int8(0, 1) > 0)
	{
		count->citus = true;
		count->placements = pgs_get_int8(0, 2);
		count->failed = pgs_get_int8(0, 3);
		count->idx_scan = pgs_get_int8(0, 4);
		/* a Citus table with no placement at all: nothing is known */
		count->known = count->failed == 0 && count->placements > 0;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The figures of one shard, as a JSON object; %L is the shard's name.
 * Measuring a size locks the shard: a shard locked by this very
 * transaction (a partition created or dropped in the same maintenance
 * cycle holds its shards, and the default partition's, until commit) would
 * make the placement's connection, which is not part of the transaction,
 * wait for ever.  So the command sets a lock_timeout first (the subquery
 * is evaluated before the sizes: OFFSET 0 keeps it from being flattened),
 * and a placement that times out counts as not answering.
 */
#define PGS_SHARD_STATS_COMMAND \
	"SELECT pg_catalog.json_build_object(" \
	"'heap', pg_catalog.pg_relation_size(s.r, 'main')" \
	" OPERATOR(pg_catalog.+) pg_catalog.pg_relation_size(s.r, 'fsm')" \
	" OPERATOR(pg_catalog.+) pg_catalog.pg_relation_size(s.r, 'vm')" \
	" OPERATOR(pg_catalog.+) pg_catalog.pg_relation_size(s.r, 'init')," \
	" 'table', pg_catalog.pg_table_size(s.r)," \
	" 'indexes', pg_catalog.pg_indexes_size(s.r)," \
	" 'seq_scan', pg_catalog.pg_stat_get_numscans(s.r)," \
	" 'seq_tup_read', pg_catalog.pg_stat_get_tuples_returned(s.r)," \
	" 'idx_scan', (SELECT coalesce(pg_catalog.sum(pg_catalog.pg_stat_get_numscans(i.indexrelid)), 0)" \
	"   FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) s.r)," \
	" 'live', pg_catalog.pg_stat_get_live_tuples(s.r)," \
	" 'dead', pg_catalog.pg_stat_get_dead_tuples(s.r))" \
	" FROM (SELECT %L::pg_catalog.regclass::pg_catalog.oid AS r," \
	"   pg_catalog.set_config('lock_timeout', '" PGS_SHARD_LOCK_TIMEOUT "', true) AS t" \
	"   OFFSET 0) s WHERE s.t IS NOT NULL"

/*
 * pgs_citus_filter
 *		SQL text: " OR <relid_expr> is a Citus table" when Citus is
 *		installed, else "", to keep the coordinator's empty shells in a
 *		query whose filter on their own (empty) statistics would drop them.
 */
const char *
pgs_citus_filter(const char *relid_expr)
{
	if (!pgs_citus_present())
		return "";
	return psprintf(" OR %s IN (SELECT p.logicalrelid::pg_catalog.oid"
					" FROM pg_catalog.pg_dist_partition p)", relid_expr);
}

/*
 * pgs_citus_no_shard_filter
 *		SQL text: " AND <relid_expr> is not a shard" when Citus is
 *		installed, else "": on a node that holds shards, a session that
 *		shows them (citus.show_shards_for_app_name_prefixes) must not take
 *		each shard for a table of its own.
 */
const char *
pgs_citus_no_shard_filter(const char *relid_expr)
{
	if (!pgs_citus_present())
		return "";
	return psprintf(" AND NOT pg_catalog.relation_is_a_known_shard(%s::pg_catalog.regclass)",
					relid_expr);
}

/*
 * pgs_citus_unknown_phrase
 *		What a diagnostic says of a Citus table some placements of which
 *		did not answer.
 */
char *
pgs_citus_unknown_phrase(int64 failed, int64 placements)
{
	return psprintf("unknown: " INT64_FORMAT " of " INT64_FORMAT
					" shard placements of this Citus table did not answer (a node is down or unreachable, or the shard is locked)",
					failed, placements);
}

/*
 * pgs_citus_table_stats
 *		Sizes, scans and rows of a set of tables (an oid[]: a table, or the
 *		leaf partitions of a partitioned table) summed over every placement
 *		of every shard, on every node; tables Citus does not manage are
 *		left out.  stats->known is false when some placement did not
 *		answer.  SPI must be connected; the last result is replaced.
 */
static void
pgs_citus_table_stats(Datum tables, PgsCitusShards *stats)
{
	Oid			argtypes[2] = {OIDARRAYOID, TEXTOID};
	Datum		values[2];

	values[0] = tables;
	values[1] = CStringGetTextDatum(PGS_SHARD_STATS_COMMAND);
	pgs_spi_query("WITH t AS ("
				  "  SELECT DISTINCT x.rel FROM pg_catalog.unnest($1) x(rel)"
				  "   WHERE x.rel IN (SELECT p.logicalrelid::pg_catalog.oid"
				  "                     FROM pg_catalog.pg_dist_partition p)"
				  "), pl AS ("
				  "  SELECT CASE WHEN r.success THEN r.result::pg_catalog.json END AS j"
				  "    FROM t, LATERAL pg_catalog.run_command_on_placements("
				  "      t.rel::pg_catalog.regclass, $2) r"
				  ")"
				  "SELECT (SELECT pg_catalog.count(*) FROM t),"
				  "       pg_catalog.count(*),"
				  "       pg_catalog.count(*) FILTER (WHERE pl.j IS NULL),"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'heap')::pg_catalog.int8), 0)::pg_catalog.int8,"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'table')::pg_catalog.int8"
				  "         OPERATOR(pg_catalog.-) (pl.j OPERATOR(pg_catalog.->>) 'heap')::pg_catalog.int8), 0)::pg_catalog.int8,"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'indexes')::pg_catalog.int8), 0)::pg_catalog.int8,"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'seq_scan')::pg_catalog.int8), 0)::pg_catalog.int8,"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'seq_tup_read')::pg_catalog.int8), 0)::pg_catalog.int8,"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'idx_scan')::pg_catalog.int8), 0)::pg_catalog.int8,"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'live')::pg_catalog.int8), 0)::pg_catalog.int8,"
				  "       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'dead')::pg_catalog.int8), 0)::pg_catalog.int8"
				  "  FROM pl",
				  2, argtypes, values, NULL);
	if (SPI_processed == 1 && pgs_get_int8(0, 1) > 0)
	{
		stats->citus = true;
		stats->placements = pgs_get_int8(0, 2);
		stats->failed = pgs_get_int8(0, 3);
		stats->table_bytes = pgs_get_int8(0, 4);
		stats->toast_bytes = pgs_get_int8(0, 5);
		stats->index_bytes = pgs_get_int8(0, 6);
		stats->seq_scan = pgs_get_int8(0, 7);
		stats->seq_tup_read = pgs_get_int8(0, 8);
		stats->idx_scan = pgs_get_int8(0, 9);
		stats->live_rows = pgs_get_int8(0, 10);
		stats->dead_rows = pgs_get_int8(0, 11);
		stats->known = stats->failed == 0 && stats->placements > 0;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * pgs_citus_any_shard
 *		Whether any of a set of relations (an oid[] of tables or indexes)
 *		is a shard: shards are hidden from pg_class by default, but a
 *		session that shows them (citus.show_shards_for_app_name_prefixes,
 *		citus.override_table_visibility) on a node that holds some would
 *		otherwise see each shard as a table of its own, and be offered a
 *		DROP INDEX of one shard's index.  SPI must be connected; the last
 *		result is replaced.
 */
static bool
pgs_citus_any_shard(Datum relations)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];

	values[0] = relations;
	return pgs_spi_int8("SELECT 1 FROM pg_catalog.unnest($1) x(rel)"
						" WHERE pg_catalog.relation_is_a_known_shard(x.rel::pg_catalog.regclass)"
						" LIMIT 1",
						1, argtypes, values, NULL, true) == 1;
}

/*
 * pgs_citus_shards
 *		What the shard placements say of the relations of one row of a
 *		diagnostic (an oid[]: a table or an index, or the leaves of a
 *		partitioned one): false when they are shards themselves, which the
 *		caller leaves out; else true, with shards->citus saying whether any
 *		of them is a Citus table and, if so, its figures summed over every
 *		placement (tables: sizes, scans and rows; indexes: their scans in
 *		idx_scan), shards->known false when a placement did not answer.
 *		Without Citus, or with no relations, nothing is asked.
 *
 *		SPI must be connected.  The caller's current result (SPI_tuptable,
 *		SPI_processed), which it is usually walking, is left as it was.
 */
bool
pgs_citus_shards(PgsCitusAsk ask, Datum relations, bool isnull,
				 PgsCitusShards *shards)
{
	SPITupleTable *caller_tuptable = SPI_tuptable;
	uint64		caller_processed = SPI_processed;
	bool		is_shard;

	memset(shards, 0, sizeof(*shards));
	shards->known = true;
	if (isnull || !pgs_citus_present())
		return true;

	is_shard = pgs_citus_any_shard(relations);
	if (!is_shard)
	{
		if (ask == PGS_CITUS_INDEXES)
			pgs_citus_index_scans(relations, shards);
		else
			pgs_citus_table_stats(relations, shards);
	}
	SPI_tuptable = caller_tuptable;
	SPI_processed = caller_processed;
	return !is_shard;
}

/*
 * The catalog figures of one shard for the bloat estimate, as a JSON
 * object; %L is the shard's name.  Only catalogs are read (no size is
 * measured), so no lock is taken on the shard.  The column statistics come
 * from pg_stats, which shows a role only the columns it may read: Citus
 * gives the shards the distributed table's grants, and for a column a role
 * may not read the estimate falls back to the type's width.  The indexes
 * are keyed by their qualified shard names, as shard_name() gives them.
 */
#define PGS_SHARD_BLOAT_COMMAND \
	"SELECT pg_catalog.json_build_object(" \
	"'pages', c.relpages, 'tuples', c.reltuples," \
	" 'cols', (SELECT coalesce(pg_catalog.json_object_agg(s.attname," \
	"   pg_catalog.json_build_array(s.avg_width, s.null_frac)), '{}')" \
	"   FROM pg_catalog.pg_stats s" \
	"   WHERE s.schemaname OPERATOR(pg_catalog.=) n.nspname" \
	"     AND s.tablename OPERATOR(pg_catalog.=) c.relname AND NOT s.inherited)," \
	" 'idx', (SELECT coalesce(pg_catalog.json_object_agg(" \
	"   pg_catalog.quote_ident(ni.nspname) OPERATOR(pg_catalog.||) '.'" \
	"   OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ci.relname)," \
	"   pg_catalog.json_build_array(ci.relpages, ci.reltuples)), '{}')" \
	"   FROM pg_catalog.pg_index i" \
	"   JOIN pg_catalog.pg_class ci ON ci.oid OPERATOR(pg_catalog.=) i.indexrelid" \
	"   JOIN pg_catalog.pg_namespace ni ON ni.oid OPERATOR(pg_catalog.=) ci.relnamespace" \
	"   WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid))" \
	" FROM pg_catalog.pg_class c" \
	" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace" \
	" WHERE c.oid OPERATOR(pg_catalog.=) %L::pg_catalog.regclass"

/*
 * One statement asks every placement once and returns three kinds of rows:
 * 'table' (placements, those that did not answer, summed pages and rows,
 * whether every placement was analyzed), 'column' (a column's width and
 * null fraction, weighted by each placement's rows) and 'index' (an index's
 * summed pages and rows, and on how many placements its shard was found).
 */
static const char *citus_bloat_sql =
"WITH pl AS ("
"  SELECT r.shardid, CASE WHEN r.success THEN r.result::pg_catalog.json END AS j"
"    FROM pg_catalog.run_command_on_placements($1::pg_catalog.regclass, $2) r"
"), w AS ("
"  SELECT pl.j, pg_catalog.float8larger("
"           (pl.j OPERATOR(pg_catalog.->>) 'tuples')::pg_catalog.float8, 1) AS t"
"    FROM pl WHERE pl.j IS NOT NULL"
")"
"SELECT 'table'::pg_catalog.text AS kind, NULL::pg_catalog.text AS name,"
"       NULL::pg_catalog.oid AS idx,"
"       pg_catalog.count(*) AS placements,"
"       pg_catalog.count(*) FILTER (WHERE pl.j IS NULL) AS failed,"
"       coalesce(pg_catalog.sum((pl.j OPERATOR(pg_catalog.->>) 'pages')::pg_catalog.float8), 0) AS pages,"
"       coalesce(pg_catalog.sum(pg_catalog.float8larger("
"         (pl.j OPERATOR(pg_catalog.->>) 'tuples')::pg_catalog.float8, 0)), 0) AS tuples,"
"       coalesce(pg_catalog.bool_and("
"         (pl.j OPERATOR(pg_catalog.->>) 'tuples')::pg_catalog.float8 OPERATOR(pg_catalog.>=) 0), false) AS complete"
"  FROM pl"
" UNION ALL "
"SELECT 'column', c.key, NULL, NULL, NULL,"
"       pg_catalog.sum((c.value OPERATOR(pg_catalog.->>) 0)::pg_catalog.float8 OPERATOR(pg_catalog.*) w.t)"
"         OPERATOR(pg_catalog./) pg_catalog.sum(w.t),"
"       pg_catalog.sum((c.value OPERATOR(pg_catalog.->>) 1)::pg_catalog.float8 OPERATOR(pg_catalog.*) w.t)"
"         OPERATOR(pg_catalog./) pg_catalog.sum(w.t),"
"       NULL"
"  FROM w, LATERAL pg_catalog.json_each(w.j OPERATOR(pg_catalog.->) 'cols') c"
" GROUP BY c.key"
" UNION ALL "
"SELECT 'index', NULL, i.indexrelid, pg_catalog.count(v.a), NULL,"
"       coalesce(pg_catalog.sum((v.a OPERATOR(pg_catalog.->>) 0)::pg_catalog.float8), 0),"
"       coalesce(pg_catalog.sum(pg_catalog.float8larger("
"         (v.a OPERATOR(pg_catalog.->>) 1)::pg_catalog.float8, 0)), 0),"
"       coalesce(pg_catalog.bool_and("
"         (v.a OPERATOR(pg_catalog.->>) 1)::pg_catalog.float8 OPERATOR(pg_catalog.>=) 0), false)"
"  FROM pg_catalog.pg_index i, pl,"
"  LATERAL (SELECT pl.j OPERATOR(pg_catalog.->) 'idx' OPERATOR(pg_catalog.->)"
"           pg_catalog.shard_name(i.indexrelid::pg_catalog.regclass, pl.shardid, false)) v(a)"
" WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
" GROUP BY i.indexrelid";

/*
 * pgs_citus_bloat
 *		What the shard placements of a table say for its bloat estimate,
 *		or NULL when the table is not a Citus table (or Citus is not
 *		installed).  ->known is false when some placement did not answer;
 *		an index is known when its shard was found on every placement.
 *
 *		SPI must be connected.  The caller's current result (SPI_tuptable,
 *		SPI_processed) is left as it was.
 */
PgsCitusBloat *
pgs_citus_bloat(Oid relid)
{
	SPITupleTable *caller_tuptable = SPI_tuptable;
	uint64		caller_processed = SPI_processed;
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2];
	PgsCitusBloat *b = NULL;
	uint64		row;
	ListCell   *lc;

	if (!pgs_citus_present())
		return NULL;
	values[0] = ObjectIdGetDatum(relid);
	if (pgs_spi_int8("SELECT 1 FROM pg_catalog.pg_dist_partition p"
					 " WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					 1, argtypes, values, NULL, true) != 1)
	{
		SPI_tuptable = caller_tuptable;
		SPI_processed = caller_processed;
		return NULL;
	}

	b = palloc0(sizeof(PgsCitusBloat));
	b->relid = relid;
	values[1] = CStringGetTextDatum(PGS_SHARD_BLOAT_COMMAND);
	pgs_spi_query(citus_bloat_sql, 2, argtypes, values, NULL);
	for (row = 0; row < SPI_processed; row++)
	{
		char	   *kind = pgs_get_text(row, 1);

		if (strcmp(kind, "table") == 0)
		{
			b->placements = pgs_get_int8(row, 4);
			b->failed = pgs_get_int8(row, 5);
			b->pages = (int64) pgs_get_float8(row, 6);
			b->tuples = pgs_get_float8(row, 7);
			b->analyzed = pgs_get_bool(row, 8);
		}
		else if (strcmp(kind, "column") == 0)
		{
			PgsCitusColumn *col = palloc0(sizeof(PgsCitusColumn));

			col->name = pgs_get_text(row, 2);
			col->width = pgs_isnull(row, 6) ? 0.0 : pgs_get_float8(row, 6);
			col->nullfrac = pgs_isnull(row, 7) ? 0.0 : pgs_get_float8(row, 7);
			b->columns = lappend(b->columns, col);
		}
		else
		{
			PgsCitusIndex *ix = palloc0(sizeof(PgsCitusIndex));

			ix->indexrelid = pgs_get_oid(row, 3);
			ix->pages = (int64) pgs_get_float8(row, 6);
			ix->tuples = pgs_get_float8(row, 7);
			ix->placements = pgs_get_int8(row, 4);
			ix->analyzed = pgs_get_bool(row, 8);
			b->indexes = lappend(b->indexes, ix);
		}
	}
	SPI_freetuptable(SPI_tuptable);

	b->known = b->failed == 0 && b->placements > 0;
	foreach(lc, b->indexes)
	{
		PgsCitusIndex *ix = lfirst(lc);

		ix->known = b->known && ix->placements == b->placements;
	}
	SPI_tuptable = caller_tuptable;
	SPI_processed = caller_processed;
	return b;
}

/*
 * A node's client connections and the slots left after the reserved ones,
 * as "clients slots" (the coordinator's own check counts the same way).
 */
#define PGS_NODE_CONNECTIONS_COMMAND \
	"SELECT (SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a" \
	"         WHERE a.backend_type OPERATOR(pg_catalog.=) 'client backend')" \
	"       OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||)" \
	"       (pg_catalog.current_setting('max_connections')::integer" \
	"        OPERATOR(pg_catalog.-) pg_catalog.current_setting('superuser_reserved_connections')::integer" \
	"        OPERATOR(pg_catalog.-) coalesce(pg_catalog.current_setting('reserved_connections', true)::integer, 0))"

/*
 * pgs_citus_health_connections
 *		pgscale_health(): on a Citus coordinator, one check per worker
 *		node with its client connections against its own max_connections
 *		(run_command_on_workers() asks each node), warn and critical at
 *		the same shares of the slots as the coordinator's check.  A node
 *		that does not answer is critical, never a pass: queries on its
 *		shards fail, and a node out of connection slots does not answer
 *		either.  Nothing without Citus.  SPI must be connected.
 */
void
pgs_citus_health_connections(List **checks, double warn_pct,
							 double critical_pct)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPITupleTable *nodes;
	uint64		nnodes;
	uint64		row;

	if (!pgs_citus_present())
		return;
	values[0] = CStringGetTextDatum(PGS_NODE_CONNECTIONS_COMMAND);
	pgs_spi_query("SELECT r.nodename OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) r.nodeport,"
				  "       r.success,"
				  "       CASE WHEN r.success THEN pg_catalog.split_part(r.result, ' ', 1)::pg_catalog.int8 END,"
				  "       CASE WHEN r.success THEN pg_catalog.split_part(r.result, ' ', 2)::pg_catalog.int8 END,"
				  "       CASE WHEN NOT r.success THEN pg_catalog.split_part(r.result, E'\\n', 1) END"
				  "  FROM pg_catalog.run_command_on_workers($1) r"
				  " ORDER BY r.nodename, r.nodeport",
				  1, argtypes, values, NULL);
	nodes = SPI_tuptable;
	nnodes = SPI_processed;
	for (row = 0; row < nnodes; row++)
	{
		char	   *node = pgs_get_text(row, 1);
		char	   *name = psprintf("client connections on Citus node %s", node);
		char	   *threshold = psprintf("warn over %.0f%% of the node's slots, critical over %.0f%% or when the node does not answer",
										 warn_pct, critical_pct);
		int64		clients;
		int64		slots;
		double		pct;

		if (!pgs_get_bool(row, 2))
		{
			pgs_add_check(checks, name, "critical",
						  psprintf("unreachable: %s",
								   pgs_isnull(row, 5) ? "no answer" : pgs_get_text(row, 5)),
						  threshold,
						  psprintf("The coordinator cannot reach the Citus node %s: queries on its shards fail, and pgscale's diagnostics say unknown for its tables. "
								   "Check that it runs and accepts connections (citus_check_cluster_node_health() tests every pair of nodes).",
								   node));
			continue;
		}
		clients = pgs_get_int8(row, 3);
		slots = Max(pgs_get_int8(row, 4), 1);
		pct = 100.0 * (double) clients / (double) slots;
		pgs_add_check(checks, name,
					  pct >= critical_pct ? "critical" : pct >= warn_pct ? "warn" : "ok",
					  psprintf(INT64_FORMAT " of " INT64_FORMAT " (%.0f%%)", clients, slots, pct),
					  threshold,
					  pstrdup("Most of a worker's connections come from the coordinators: lower citus.max_shared_pool_size "
							  "(the connections a coordinator opens to each node) or raise max_connections on the node, "
							  "and put PgBouncer in front of the coordinator for the application."));
	}
	SPI_freetuptable(nodes);
}
