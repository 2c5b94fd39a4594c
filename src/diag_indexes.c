/*-------------------------------------------------------------------------
 *
 * diag_indexes.c
 *	  Unused and duplicate indexes, listed so that they can be trusted.
 *
 *	  An unused-index list is only useful when every row on it may really
 *	  be dropped.  So an index that enforces a primary key, a unique or an
 *	  exclusion constraint, or that is a replica identity, is never listed;
 *	  the partitions of a partitioned index are summed up to the index the
 *	  user created; invalid, expression and partial indexes say why they
 *	  are different; and every row says how old the usage counters are, and
 *	  that they are per node when there are other nodes.
 *
 *	  A duplicate is either exact (same columns, operator classes,
 *	  collations, options, expressions and predicate: one of each set is
 *	  kept) or a btree whose key columns lead a wider btree.  An index that
 *	  backs a constraint, a replica identity or a partitioned index is
 *	  never offered for dropping.
 *
 *	  A missing index is a table read by sequential scans more than ten
 *	  times as often as through an index ("seq_scan > idx_scan * 10"),
 *	  counting the tables that have no index at all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/index.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "diag.h"
#include "diag_citus.h"

PG_FUNCTION_INFO_V1(pgscale_unused_indexes);
PG_FUNCTION_INFO_V1(pgscale_missing_indexes);
PG_FUNCTION_INFO_V1(pgscale_duplicate_indexes);

/* Relations of an extension: neither listed nor offered for dropping. */
#define PGS_NOT_EXTENSION_MEMBER(rel) \
	"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d" \
	"             WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass" \
	"               AND d.objid = " rel ".oid AND d.deptype = 'e')"

/*
 * Indexes a constraint depends on (its own index, or for a foreign key the
 * referenced unique index): dropping them fails or drops the constraint.
 * A join, not an EXISTS under an OR, so that it is hashed once.
 */
#define PGS_CONSTRAINT_INDEXES \
	"(SELECT DISTINCT k.conindid FROM pg_catalog.pg_constraint k" \
	"  WHERE k.conindid <> 0)"

/* The btree access method, as SQL text. */
#define PGS_BTREE CppAsString2(BTREE_AM_OID)

/*
 * Unused-index candidates, one row per index the user created: a plain
 * index (or an index of a partition that is not attached to a partitioned
 * index) on its own; a partitioned index with its leaf partitions' scans
 * and sizes summed, left out when any of them enforces a constraint or is
 * a replica identity.  Indexes that enforce a primary key, unique or
 * exclusion constraint, that a constraint depends on, or that are a
 * replica identity are never candidates.  An invalid unique index (a
 * failed CREATE UNIQUE INDEX CONCURRENTLY) backs no constraint and serves
 * no query: it is listed as invalid.  $1 is min_scans; the format's
 * argument is the first-seen time of index g.root, as SQL.
 */
static const char *unused_sql =
"WITH k AS (SELECT c.conindid FROM " PGS_CONSTRAINT_INDEXES " c"
/*
 * ... and the indexes that lead with a foreign key's referencing columns:
 * deletes and key updates on the referenced table look rows up through
 * them, however few scans they show.
 */
"  UNION SELECT fi.indexrelid FROM pg_catalog.pg_constraint f"
"    JOIN pg_catalog.pg_index fi ON fi.indrelid = f.conrelid"
"   WHERE f.contype = 'f' AND fi.indpred IS NULL"
"     AND pg_catalog.array_length(f.conkey, 1) <= fi.indnkeyatts"
"     AND (fi.indkey::pg_catalog.int2[])[0:pg_catalog.array_length(f.conkey, 1) - 1]"
"         OPERATOR(pg_catalog.@>) f.conkey"
"     AND (fi.indkey::pg_catalog.int2[])[0:pg_catalog.array_length(f.conkey, 1) - 1]"
"         OPERATOR(pg_catalog.<@) f.conkey),"
"grp AS ("
"  SELECT i.indexrelid AS root,"
"         pg_catalog.pg_stat_get_numscans(i.indexrelid) AS scans,"
"         ARRAY[i.indexrelid] AS leaves, 0::bigint AS parts,"
"         c.relpages::bigint AS pages"
"    FROM pg_catalog.pg_index i"
"    JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
"   WHERE c.relkind = 'i' AND NOT c.relispartition AND c.relpersistence <> 't'"
"     AND NOT (i.indisprimary OR (i.indisunique AND i.indisvalid)"
"              OR i.indisexclusion OR i.indisreplident)"
"     AND i.indexrelid NOT IN (SELECT k.conindid FROM k)"
"  UNION ALL"
"  SELECT c.oid,"
"         pg_catalog.sum(pg_catalog.pg_stat_get_numscans(p.relid))::bigint,"
"         pg_catalog.array_agg(p.relid::pg_catalog.oid) FILTER (WHERE p.isleaf),"
"         pg_catalog.count(*) FILTER (WHERE p.isleaf),"
"         pg_catalog.sum(pc.relpages)::bigint"
"    FROM pg_catalog.pg_class c"
"   CROSS JOIN LATERAL pg_catalog.pg_partition_tree(c.oid) p"
"    JOIN pg_catalog.pg_class pc ON pc.oid = p.relid"
"    JOIN pg_catalog.pg_index pi ON pi.indexrelid = p.relid"
"   WHERE c.relkind = 'I' AND NOT c.relispartition"
"   GROUP BY c.oid"
"  HAVING NOT pg_catalog.bool_or(pi.indisprimary OR (pi.indisunique AND pi.indisvalid)"
"                                OR pi.indisexclusion OR pi.indisreplident"
"                                OR p.relid IN (SELECT k.conindid FROM k))"
"), building AS ("
"  SELECT p.relid, p.index_relid FROM pg_catalog.pg_stat_progress_create_index p"
")"
"SELECT n.nspname, t.relname, c.relname, g.scans, g.leaves, g.parts,"
"       g.pages * pg_catalog.current_setting('block_size')::bigint,"
"       c.relkind = 'I', NOT i.indisvalid,"
"       i.indexprs IS NOT NULL, i.indpred IS NOT NULL,"
"       coalesce(i.indrelid IN (SELECT b.relid FROM building b), false)"
"         OR coalesce(i.indexrelid IN (SELECT b.index_relid FROM building b), false),"
"       ks.since, ks.src = 'commit'"
"  FROM grp g"
"  JOIN pg_catalog.pg_index i ON i.indexrelid = g.root"
"  JOIN pg_catalog.pg_class c ON c.oid = g.root"
/*
 * The earliest moment the index is known to have existed: the commit of
 * its pg_class row (a later ALTER INDEX makes that later, never earlier),
 * or when pgscale first saw it (%s: pgscale_index_seen, or NULL).
 */
"  LEFT JOIN LATERAL (SELECT x.since, x.src FROM (VALUES"
"      (CASE WHEN pg_catalog.current_setting('track_commit_timestamp')::pg_catalog.bool"
"            THEN pg_catalog.pg_xact_commit_timestamp(c.xmin) END, 'commit'),"
"      (%s, 'seen')) x(since, src)"
"     WHERE x.since IS NOT NULL ORDER BY x.since LIMIT 1) ks ON true"
"  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid"
"  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace"
" WHERE (g.scans < $1 OR NOT i.indisvalid)"
"   AND " PGS_USER_SCHEMA_FILTER("n")
"   AND " PGS_NOT_EXTENSION_MEMBER("t");

/*
 * Duplicate indexes.  "keep" marks indexes that cannot be dropped on their
 * own (constraint, replica identity, attached partition index): they may
 * cover others but are never listed.  Within a set of exact duplicates the
 * one kept is, in order: one that must be kept, a valid one, a unique one,
 * the oldest.  A btree is prefix-covered by a valid wider btree of the
 * same table whose leading key columns (with their operator classes,
 * collations and options) are its key columns, with the same predicate,
 * and whose columns include its INCLUDE columns (so (b) is covered by
 * (b, c) and by (b) INCLUDE (c)); a unique index is never prefix-covered
 * (it enforces more), and an index listed as an exact duplicate never
 * covers another: dropping every listed index together stays safe.
 */
static const char *duplicate_sql =
"WITH idx AS ("
"  SELECT c.oid, i.indrelid, c.relname, c.relkind, c.relam,"
"         i.indnkeyatts AS nkey, i.indnatts AS natts,"
"         i.indkey::pg_catalog.int2[] AS keys,"
"         i.indclass::pg_catalog.oid[] AS opc,"
"         i.indcollation::pg_catalog.oid[] AS coll,"
"         i.indoption::pg_catalog.int2[] AS opt,"
"         pg_catalog.pg_get_expr(i.indexprs, i.indrelid) AS exprs,"
"         pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS pred,"
"         i.indisunique AS uniq, i.indisvalid AS valid,"
"         i.indisprimary OR i.indisexclusion OR i.indisreplident OR c.relispartition"
"           OR k.conindid IS NOT NULL AS keep,"
"         c.relam = " PGS_BTREE " AND i.indexprs IS NULL AND i.indisvalid AS wide,"
"         c.relam = " PGS_BTREE " AND i.indexprs IS NULL AND NOT i.indisunique"
"           AND NOT (i.indisprimary OR i.indisexclusion OR i.indisreplident"
"                    OR c.relispartition OR k.conindid IS NOT NULL) AS narrow"
"    FROM pg_catalog.pg_index i"
"    JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
"    LEFT JOIN " PGS_CONSTRAINT_INDEXES " k ON k.conindid = c.oid"
"    JOIN pg_catalog.pg_class t ON t.oid = i.indrelid"
"    JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace"
"   WHERE c.relpersistence <> 't'"
"     AND " PGS_USER_SCHEMA_FILTER("n")
"     AND " PGS_NOT_EXTENSION_MEMBER("t")
"), ranked AS ("
"  SELECT x.oid, x.keep,"
"         pg_catalog.first_value(x.oid) OVER ("
"           PARTITION BY x.indrelid, x.relam, x.nkey, x.keys, x.opc, x.coll,"
"                        x.opt, x.exprs, x.pred"
"           ORDER BY x.keep DESC, x.valid DESC, x.uniq DESC, x.oid) AS keeper"
"    FROM idx x"
"), exact AS ("
"  SELECT r.oid, r.keeper, 'exact'::pg_catalog.text AS kind"
"    FROM ranked r JOIN idx kv ON kv.oid = r.keeper"
"   WHERE r.oid <> r.keeper AND NOT r.keep AND kv.valid"
"), prefix AS ("
"  SELECT DISTINCT ON (a.oid) a.oid, b.oid AS keeper, 'prefix'::pg_catalog.text AS kind"
"    FROM idx a"
"    JOIN idx b ON b.indrelid = a.indrelid AND b.relam = a.relam"
"              AND b.keys[0] = a.keys[0]"
"   WHERE a.narrow AND b.wide"
"     AND b.oid <> a.oid"
"     AND b.oid NOT IN (SELECT e.oid FROM exact e)"
"     AND a.pred IS NOT DISTINCT FROM b.pred"
"     AND (a.nkey < b.nkey OR (a.nkey = b.nkey AND a.natts < b.natts))"
"     AND a.keys[0:a.nkey - 1] = b.keys[0:a.nkey - 1]"
"     AND a.opc[0:a.nkey - 1] = b.opc[0:a.nkey - 1]"
"     AND a.coll[0:a.nkey - 1] = b.coll[0:a.nkey - 1]"
"     AND a.opt[0:a.nkey - 1] = b.opt[0:a.nkey - 1]"
"     AND a.keys[a.nkey:a.natts - 1] <@ b.keys"
"   ORDER BY a.oid, b.nkey, b.oid"
")"
"SELECT d.oid, d.keeper, d.kind"
"  FROM (SELECT * FROM exact"
"        UNION ALL"
"        SELECT * FROM prefix p WHERE p.oid NOT IN (SELECT e.oid FROM exact e)) d";

/*
 * pgs_drop_statement
 *		DROP INDEX CONCURRENTLY, or the plain form for a partitioned index
 *		(which cannot be dropped concurrently).  "verify" turns it into a
 *		comment, so that a list pasted blindly runs only the safe ones.
 */
static char *
pgs_drop_statement(const char *schema, const char *index, bool partitioned,
				   bool verify)
{
	return psprintf("%sDROP INDEX %s%s;",
					verify ? "-- verify first: " : "",
					partitioned ? "" : "CONCURRENTLY ",
					pgs_quote_qualified(schema, index));
}

/*
 * pgs_unused_index_cmp
 *		Largest first (by measured size, else by the catalog's figure),
 *		then by name.
 */
static int
pgs_unused_index_cmp(const ListCell *a, const ListCell *b)
{
	const PgsUnusedIndex *x = lfirst(a);
	const PgsUnusedIndex *y = lfirst(b);
	int			c;

	if (x->order_bytes != y->order_bytes)
		return x->order_bytes > y->order_bytes ? -1 : 1;
	if ((c = strcmp(x->schema_name, y->schema_name)) != 0)
		return c;
	if ((c = strcmp(x->table_name, y->table_name)) != 0)
		return c;
	return strcmp(x->index_name, y->index_name);
}

/*
 * pgs_collect_unused_indexes
 *		Indexes scanned fewer than min_scans times (and every invalid
 *		index), with a reason a person can act on, largest first.  Without
 *		"measure" no file is looked at: sizes are the catalog's, unknown.
 */
List *
pgs_collect_unused_indexes(int64 min_scans, const PgsStatsAge *age,
						   bool measure)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	List	   *result = NIL;
	const char *node_note = pgs_per_node_note(age);
	char	   *age_phrase = pgs_stats_age_phrase(age);
	bool		stats_young = pgs_stats_young(age);
	const char *seen = "NULL::pg_catalog.timestamptz";
	SPITupleTable *candidates;
	uint64		ncandidates;
	uint64		row;

	if (OidIsValid(get_relname_relid("pgscale_index_seen", pgs_catalog_schema())))
		seen = psprintf("(SELECT s.first_seen FROM %s s"
						" WHERE s.indexrelid OPERATOR(pg_catalog.=) g.root)",
						pgs_ext_table("pgscale_index_seen"));
	values[0] = Int64GetDatum(min_scans);
	pgs_spi_query(psprintf(unused_sql, seen), 1, argtypes, values, NULL);
	candidates = SPI_tuptable;
	ncandidates = SPI_processed;

	for (row = 0; row < ncandidates; row++)
	{
		PgsUnusedIndex *ix = palloc0(sizeof(PgsUnusedIndex));
		bool		leaves_null;
		Datum		leaves = pgs_get_datum(row, 5, &leaves_null);
		int64		parts = pgs_get_int8(row, 6);
		int64		catalog_bytes = pgs_get_int8(row, 7);
		bool		partitioned = pgs_get_bool(row, 8);
		bool		expression = pgs_get_bool(row, 10);
		bool		partial = pgs_get_bool(row, 11);
		bool		building = pgs_get_bool(row, 12);
		bool		since_null;
		Datum		since = pgs_get_datum(row, 13, &since_null);
		bool		by_commit = !since_null && pgs_get_bool(row, 14);
		bool		young = stats_young;
		char	   *index_phrase = NULL;
		bool		verify;
		int			nrels;
		PgsSizeStatus status;
		StringInfoData reason;
		PgsCitusShards shards;

		CHECK_FOR_INTERRUPTS();

		ix->schema_name = pgs_get_text(row, 1);
		ix->table_name = pgs_get_text(row, 2);
		ix->index_name = pgs_get_text(row, 3);
		ix->idx_scan = pgs_get_int8(row, 4);
		ix->invalid = pgs_get_bool(row, 9);

		/*
		 * A Citus table's index is scanned on the shards, not on the
		 * coordinator's shell: count every placement, and drop the row when
		 * they used it enough.  Citus propagates the statement to every
		 * shard: DROP INDEX CONCURRENTLY for a plain table (Citus 13.2 drops
		 * the shard indexes one by one), plain DROP INDEX for a partitioned
		 * index, as anywhere.  A shard's own index, in a session that shows
		 * shards, is left out.
		 */
		if (!pgs_citus_shards(PGS_CITUS_INDEXES, leaves, leaves_null, &shards))
			continue;
		if (shards.citus)
		{
			ix->idx_scan += shards.idx_scan;
			if (shards.known && ix->idx_scan >= min_scans && !ix->invalid)
				continue;
		}

		if (measure)
			status = pgs_index_list_bytes(leaves, leaves_null, &ix->bytes, &nrels);
		else
			status = PGS_SIZE_NONE;
		ix->bytes_known = (status == PGS_SIZE_OK);
		ix->skipped = (status == PGS_SIZE_LOCKED);
		ix->order_bytes = ix->bytes_known ? ix->bytes : catalog_bytes;

		initStringInfo(&reason);
		if (shards.citus && !shards.known)
			appendStringInfo(&reason, "%s, so its scans are not known",
							 pgs_citus_unknown_phrase(shards.failed, shards.placements));
		else if (building)
			appendStringInfoString(&reason,
								   "being built: a CREATE INDEX or REINDEX is in progress on this table");
		else if (ix->invalid)
			appendStringInfoString(&reason,
								   "invalid: never used by queries, yet maintained on every write; drop it or rebuild it with REINDEX INDEX CONCURRENTLY");
		else if (expression || partial)
			appendStringInfo(&reason,
							 "verify: planner statistics (%s index: the planner uses its statistics even when no scan does)",
							 expression && partial ? "partial expression" :
							 expression ? "expression" : "partial");
		else if (ix->idx_scan == 0)
			appendStringInfoString(&reason, "unused");
		else
			appendStringInfoString(&reason, "rarely used");

		/*
		 * Counted over the index's own age when it is younger than the
		 * statistics (young statistics already say to verify).
		 */
		if (stats_young)
			;
		else if (since_null)
		{
			index_phrase = pstrdup("index age unknown (no commit timestamp, not yet in pgscale_index_seen: verify before dropping)");
			young = true;
		}
		else if (DatumGetTimestampTz(since) > age->since)
		{
			long		secs;
			int			usecs;
			int			days;

			TimestampDifference(DatumGetTimestampTz(since), GetCurrentTimestamp(),
								&secs, &usecs);
			days = (int) (secs / SECS_PER_DAY);
			if (days < PGS_MIN_STATS_DAYS)
				young = true;
			/* (seen the day the counters started: their age is its age) */
			if (days < (int) age->days)
				index_phrase = psprintf("index %d day%s old (%s%s)",
										days, days == 1 ? "" : "s",
										by_commit ? "by its commit timestamp" :
										"since pgscale first saw it",
										days < PGS_MIN_STATS_DAYS ?
										psprintf("; under %d days: verify before dropping",
												 PGS_MIN_STATS_DAYS) : "");
		}
		appendStringInfo(&reason, "; " INT64_FORMAT " scan%s, %s",
						 ix->idx_scan, ix->idx_scan == 1 ? "" : "s",
						 age_phrase);
		if (index_phrase)
			appendStringInfo(&reason, ", but %s", index_phrase);
		if (parts > 0)
			appendStringInfo(&reason, "; summed over " INT64_FORMAT " partition%s",
							 parts, parts == 1 ? "" : "s");
		if (shards.citus && shards.known)
			appendStringInfo(&reason, "; summed over " INT64_FORMAT " shard placement%s on the Citus nodes",
							 shards.placements, shards.placements == 1 ? "" : "s");
		if (node_note)
			appendStringInfo(&reason, "; %s", node_note);
		if (ix->skipped)
			appendStringInfoString(&reason,
								   "; size skipped: the table or the index is locked");
		ix->reason = reason.data;

		verify = expression || partial || (young && !ix->invalid);
		if (!building && !(shards.citus && !shards.known))
			ix->drop_statement = pgs_drop_statement(ix->schema_name,
													ix->index_name,
													partitioned, verify);
		ix->droppable = !building && !ix->invalid && !verify && ix->bytes_known
			&& !(shards.citus && !shards.known);

		result = lappend(result, ix);
	}
	SPI_freetuptable(candidates);

	list_sort(result, pgs_unused_index_cmp);
	return result;
}

/*
 * pgscale_unused_indexes
 *		SQL: pgscale_unused_indexes(min_scans bigint DEFAULT 100)
 */
Datum
pgscale_unused_indexes(PG_FUNCTION_ARGS)
{
	int64		min_scans = pgs_threshold_arg(fcinfo, 0, "min_scans");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgsStatsAge age;
	List	   *rows;
	ListCell   *lc;
	int			nestlevel;

	pgs_init_materialized_srf(fcinfo);
	nestlevel = pgs_begin_stats_snapshot();
	SPI_connect();
	pgs_get_stats_age(&age);
	rows = pgs_collect_unused_indexes(min_scans, &age, true);

	foreach(lc, rows)
	{
		PgsUnusedIndex *ix = lfirst(lc);
		Datum		values[8];
		bool		nulls[8] = {0};

		values[0] = pgs_name_datum(ix->schema_name);
		values[1] = pgs_name_datum(ix->table_name);
		values[2] = pgs_name_datum(ix->index_name);
		values[3] = Int64GetDatum(ix->idx_scan);
		if (ix->bytes_known)
		{
			values[4] = Int64GetDatum(ix->bytes);
			values[5] = CStringGetTextDatum(pgs_size_text(ix->bytes));
		}
		else
		{
			nulls[4] = true;
			values[5] = CStringGetTextDatum(ix->skipped ? "skipped (locked)" : "unknown");
		}
		values[6] = CStringGetTextDatum(ix->reason);
		if (ix->drop_statement)
			values[7] = CStringGetTextDatum(ix->drop_statement);
		else
			nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	pgs_end_stats_snapshot(nestlevel);
	return (Datum) 0;
}

/*
 * pgs_duplicate_cmp
 *		Largest first, then by name.
 */
static int
pgs_duplicate_cmp(const ListCell *a, const ListCell *b)
{
	const PgsDuplicateIndex *x = lfirst(a);
	const PgsDuplicateIndex *y = lfirst(b);
	int64		xb = x->bytes_known ? x->bytes : -1;
	int64		yb = y->bytes_known ? y->bytes : -1;
	int			c;

	if (xb != yb)
		return xb > yb ? -1 : 1;
	if ((c = strcmp(x->schema_name, y->schema_name)) != 0)
		return c;
	if ((c = strcmp(x->table_name, y->table_name)) != 0)
		return c;
	return strcmp(x->index_name, y->index_name);
}

/*
 * pgs_collect_duplicate_indexes
 *		Indexes made redundant by another index of the same table.
 */
List *
pgs_collect_duplicate_indexes(void)
{
	List	   *result = NIL;
	uint64		row;

	pgs_spi_query(duplicate_sql, 0, NULL, NULL, NULL);

	/* few rows: names and partitions come from the caches */
	for (row = 0; row < SPI_processed; row++)
	{
		PgsDuplicateIndex *dup = palloc0(sizeof(PgsDuplicateIndex));
		Oid			indexrelid = pgs_get_oid(row, 1);
		Oid			heaprelid = IndexGetRelation(indexrelid, true);
		bool		partitioned = get_rel_relkind(indexrelid) == RELKIND_PARTITIONED_INDEX;
		List	   *leaves = NIL;
		int			nrels;

		CHECK_FOR_INTERRUPTS();

		dup->index_name = get_rel_name(indexrelid);
		dup->covered_by = get_rel_name(pgs_get_oid(row, 2));
		dup->table_name = OidIsValid(heaprelid) ? get_rel_name(heaprelid) : NULL;
		if (dup->index_name == NULL || dup->covered_by == NULL || dup->table_name == NULL)
			continue;			/* dropped meanwhile */
		dup->schema_name = get_namespace_name(get_rel_namespace(heaprelid));
		dup->kind = strcmp(pgs_get_text(row, 3), "exact") == 0 ? "exact" : "prefix";

		if (partitioned)
		{
			ListCell   *lc;

			foreach(lc, find_all_inheritors(indexrelid, NoLock, NULL))
			{
				if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_INDEX)
					leaves = lappend_oid(leaves, lfirst_oid(lc));
			}
		}
		else
			leaves = list_make1_oid(indexrelid);
		dup->bytes_known = (pgs_index_oids_bytes(leaves, &dup->bytes, &nrels) == PGS_SIZE_OK);
		dup->drop_statement = pgs_drop_statement(dup->schema_name,
												 dup->index_name,
												 partitioned, false);
		result = lappend(result, dup);
	}
	SPI_freetuptable(SPI_tuptable);

	list_sort(result, pgs_duplicate_cmp);
	return result;
}

/*
 * pgscale_duplicate_indexes
 *		SQL: pgscale_duplicate_indexes()
 */
Datum
pgscale_duplicate_indexes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rows;
	ListCell   *lc;

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();
	rows = pgs_collect_duplicate_indexes();

	foreach(lc, rows)
	{
		PgsDuplicateIndex *dup = lfirst(lc);
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = pgs_name_datum(dup->schema_name);
		values[1] = pgs_name_datum(dup->table_name);
		values[2] = pgs_name_datum(dup->index_name);
		values[3] = pgs_name_datum(dup->covered_by);
		values[4] = CStringGetTextDatum(dup->kind);
		if (dup->bytes_known)
			values[5] = Int64GetDatum(dup->bytes);
		else
			nulls[5] = true;
		values[6] = CStringGetTextDatum(dup->drop_statement);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * Tables read mostly by sequential scans.  The counters of partitions are
 * summed at their topmost partitioned table, where an index is created.
 * idx_scan is NULL when no member has any index, and the rule then counts
 * it as 0 (a plain "seq_scan > idx_scan * 10" query would skip such tables).  $1 is min_rows.
 * The format's argument keeps every Citus table, whose counters are on its
 * shards: the rule is applied to them once their shards are counted.
 */
static const char *missing_sql =
"WITH ix AS ("
"  SELECT i.indrelid,"
"         pg_catalog.sum(pg_catalog.pg_stat_get_numscans(i.indexrelid)) AS idx_scan"
"    FROM pg_catalog.pg_index i GROUP BY i.indrelid"
"), tab AS ("
"  SELECT CASE WHEN c.relispartition"
"              THEN pg_catalog.pg_partition_root(c.oid) ELSE c.oid END AS root,"
"         c.oid,"
"         pg_catalog.pg_stat_get_numscans(c.oid) AS seq_scan,"
"         pg_catalog.pg_stat_get_tuples_returned(c.oid) AS seq_tup_read,"
"         ix.idx_scan,"
"         pg_catalog.pg_stat_get_live_tuples(c.oid) AS live"
"    FROM pg_catalog.pg_class c"
"    LEFT JOIN ix ON ix.indrelid = c.oid"
"   WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't'"
"), grp AS ("
"  SELECT x.root,"
"         pg_catalog.sum(x.seq_scan)::bigint AS seq_scan,"
"         pg_catalog.sum(x.seq_tup_read)::bigint AS seq_tup_read,"
"         pg_catalog.sum(x.idx_scan)::bigint AS idx_scan,"
"         pg_catalog.sum(x.live)::bigint AS live,"
"         pg_catalog.array_agg(x.oid) AS leaves"
"    FROM tab x GROUP BY x.root"
")"
"SELECT n.nspname, r.relname, g.seq_scan, g.seq_tup_read, g.idx_scan, g.live,"
"       (SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i"
"         WHERE i.indrelid = g.root)::integer,"
"       g.leaves"
"  FROM grp g"
"  JOIN pg_catalog.pg_class r ON r.oid = g.root"
"  JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
" WHERE ((g.live > $1"
"   AND g.seq_scan > coalesce(g.idx_scan, 0) * 10)%s)"
"   AND " PGS_USER_SCHEMA_FILTER("n")
" ORDER BY g.seq_tup_read DESC, n.nspname, r.relname";

/*
 * pgs_collect_missing_indexes
 *		Tables with more than min_rows live rows that are read by sequential
 *		scans more than ten times as often as through an index.
 */
List *
pgs_collect_missing_indexes(int64 min_rows, const PgsStatsAge *age)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	List	   *result = NIL;
	SPITupleTable *tables;
	uint64		ntables;
	uint64		row;

	values[0] = Int64GetDatum(min_rows);
	pgs_spi_query(psprintf(missing_sql, pgs_citus_filter("g.root")),
				  1, argtypes, values, NULL);
	tables = SPI_tuptable;
	ntables = SPI_processed;

	for (row = 0; row < ntables; row++)
	{
		PgsMissingIndex *mi = palloc0(sizeof(PgsMissingIndex));
		bool		leaves_null;
		Datum		leaves;
		PgsTableBytes bytes;
		StringInfoData advice;
		PgsCitusShards shards;

		CHECK_FOR_INTERRUPTS();
		leaves = pgs_get_datum(row, 8, &leaves_null);

		mi->schema_name = pgs_get_text(row, 1);
		mi->table_name = pgs_get_text(row, 2);
		mi->seq_scan = pgs_get_int8(row, 3);
		mi->seq_tup_read = pgs_get_int8(row, 4);
		mi->idx_scan_null = pgs_isnull(row, 5);
		mi->idx_scan = pgs_get_int8(row, 5);
		mi->live_rows = pgs_get_int8(row, 6);
		mi->index_count = pgs_get_int4(row, 7);
		mi->bytes_known = pgs_sum_table_bytes(leaves, leaves_null, &bytes);
		mi->table_bytes = bytes.table_bytes + bytes.toast_bytes;

		/*
		 * A Citus table is read on its shards: count every placement, then
		 * apply the rule; unknown when a placement did not answer.  A shard,
		 * in a session that shows shards, is left out.
		 */
		if (!pgs_citus_shards(PGS_CITUS_TABLES, leaves, leaves_null, &shards))
			continue;
		if (shards.citus && shards.known)
		{
			mi->seq_scan += shards.seq_scan;
			mi->seq_tup_read += shards.seq_tup_read;
			mi->idx_scan += shards.idx_scan;
			mi->live_rows += shards.live_rows;
			mi->table_bytes += shards.table_bytes + shards.toast_bytes;
			if (!(mi->live_rows > min_rows &&
				  mi->seq_scan > mi->idx_scan * 10))
				continue;
		}

		initStringInfo(&advice);
		if (shards.citus && !shards.known)
			appendStringInfo(&advice, "%s, so whether it needs an index is not known",
							 pgs_citus_unknown_phrase(shards.failed, shards.placements));
		else if (mi->idx_scan_null)
			appendStringInfoString(&advice,
								   "no index at all: add a primary key, then index the columns its frequent queries filter on");
		else
			appendStringInfo(&advice,
							 "mostly sequential scans (%.0f per index scan, about " INT64_FORMAT " rows read each): index the columns its frequent queries filter on",
							 (double) mi->seq_scan / (double) Max(mi->idx_scan, 1),
							 mi->seq_scan > 0 ? mi->seq_tup_read / mi->seq_scan : 0);
		appendStringInfoString(&advice, " (pgscale_slow_queries() shows them)");
		if (pgs_stats_young(age))
			appendStringInfo(&advice, "; %s", pgs_stats_age_phrase(age));
		if (!mi->bytes_known)
			appendStringInfoString(&advice, "; size skipped: the table is locked");
		if (shards.citus && shards.known)
			appendStringInfo(&advice, "; summed over " INT64_FORMAT " shard placement%s on the Citus nodes",
							 shards.placements, shards.placements == 1 ? "" : "s");
		mi->advice = advice.data;

		result = lappend(result, mi);
	}
	SPI_freetuptable(tables);
	return result;
}

/*
 * pgscale_missing_indexes
 *		SQL: pgscale_missing_indexes(min_rows bigint DEFAULT 10000)
 */
Datum
pgscale_missing_indexes(PG_FUNCTION_ARGS)
{
	int64		min_rows = pgs_threshold_arg(fcinfo, 0, "min_rows");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgsStatsAge age;
	List	   *rows;
	ListCell   *lc;
	int			nestlevel;

	pgs_init_materialized_srf(fcinfo);
	nestlevel = pgs_begin_stats_snapshot();
	SPI_connect();
	pgs_get_stats_age(&age);
	rows = pgs_collect_missing_indexes(min_rows, &age);

	foreach(lc, rows)
	{
		PgsMissingIndex *mi = lfirst(lc);
		Datum		values[10];
		bool		nulls[10] = {0};

		values[0] = pgs_name_datum(mi->schema_name);
		values[1] = pgs_name_datum(mi->table_name);
		values[2] = Int64GetDatum(mi->seq_scan);
		values[3] = Int64GetDatum(mi->seq_tup_read);
		values[4] = Int64GetDatum(mi->idx_scan);
		nulls[4] = mi->idx_scan_null;
		values[5] = Int64GetDatum(mi->live_rows);
		values[6] = Int32GetDatum(mi->index_count);
		if (mi->bytes_known)
		{
			values[7] = Int64GetDatum(mi->table_bytes);
			values[8] = CStringGetTextDatum(pgs_size_text(mi->table_bytes));
		}
		else
		{
			nulls[7] = true;
			values[8] = CStringGetTextDatum("skipped (locked)");
		}
		values[9] = CStringGetTextDatum(mi->advice);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	pgs_end_stats_snapshot(nestlevel);
	return (Datum) 0;
}
