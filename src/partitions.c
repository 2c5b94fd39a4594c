/*-------------------------------------------------------------------------
 *
 * partitions.c
 *	  Reading monthly range partitions: a partition's bounds (for
 *	  retention), the partitions of a table, what their ranges cover and
 *	  leave uncovered, the newest one; and pgscale_set_partitioning(),
 *	  which records how many months ahead the maintenance cycle keeps
 *	  premade (premake.c creates them).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_partitioned_table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "clone.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_set_partitioning);

/*
 * pgs_partition_bounds
 *		Read a partition's bound (first key column).  Returns false when
 *		the relation no longer exists.
 */
bool
pgs_partition_bounds(Oid relid, PgsPartBounds *bounds)
{
	HeapTuple	tuple;
	Datum		d;
	bool		isnull;
	PartitionBoundSpec *spec;
	PartitionRangeDatum *lo;
	PartitionRangeDatum *hi;

	memset(bounds, 0, sizeof(PgsPartBounds));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return false;
	d = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_relpartbound, &isnull);
	if (isnull)
	{
		ReleaseSysCache(tuple);
		return true;
	}
	spec = (PartitionBoundSpec *) stringToNode(TextDatumGetCString(d));
	ReleaseSysCache(tuple);

	bounds->is_default = spec->is_default;
	if (spec->is_default || spec->strategy != PARTITION_STRATEGY_RANGE)
		return true;

	bounds->is_range = true;
	lo = (PartitionRangeDatum *) linitial(spec->lowerdatums);
	hi = (PartitionRangeDatum *) linitial(spec->upperdatums);
	bounds->lo_unbounded = lo->kind != PARTITION_RANGE_DATUM_VALUE;
	bounds->hi_unbounded = hi->kind != PARTITION_RANGE_DATUM_VALUE;
	if (lo->kind == PARTITION_RANGE_DATUM_MAXVALUE)
	{
		/* a degenerate range above everything: treat as empty */
		bounds->lo_unbounded = false;
		bounds->lo = PG_INT64_MAX;
	}
	if (lo->kind == PARTITION_RANGE_DATUM_VALUE)
		bounds->lo = pgs_datum_as_timestamp(((Const *) lo->value)->constvalue,
											((Const *) lo->value)->consttype);
	if (hi->kind == PARTITION_RANGE_DATUM_VALUE)
		bounds->hi = pgs_datum_as_timestamp(((Const *) hi->value)->constvalue,
											((Const *) hi->value)->consttype);
	return true;
}

/*
 * pgs_read_partitions
 *		The partitions of parent and their ranges, read from the relcache's
 *		partition descriptor, which the server builds once per session and
 *		keeps: a maintenance cycle over thousands of partitions parses no
 *		bound.  Returns the number of partitions (0 if parent is gone); the
 *		array is palloc'd.  Ranges are filled in for a range key of one
 *		column only.
 */
int
pgs_read_partitions(Oid parent, PgsPartition **parts)
{
	Relation	rel = try_relation_open(parent, AccessShareLock);
	PartitionKey key;
	PartitionDesc pd;
	PartitionBoundInfo bi;
	PgsPartition *result;
	int			n;
	int			i;

	*parts = NULL;
	if (rel == NULL)
		return 0;
	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
	{
		relation_close(rel, AccessShareLock);
		return 0;
	}
	key = RelationGetPartitionKey(rel);
	pd = pgs_relation_partition_desc(rel);
	bi = pd->boundinfo;
	n = pd->nparts;
	result = palloc0(sizeof(PgsPartition) * Max(n, 1));
	for (i = 0; i < n; i++)
		result[i].relid = pd->oids[i];

	if (bi != NULL && bi->default_index >= 0)
		result[bi->default_index].bounds.is_default = true;
	if (bi != NULL && key->strategy == PARTITION_STRATEGY_RANGE && key->partnatts == 1)
	{
		Oid			keytype = key->parttypid[0];

		/*
		 * datums[] holds the sorted distinct bounds; indexes[i] is the
		 * partition whose upper bound is datums[i] (-1 for a bound that is
		 * only a lower one), and its lower bound is datums[i - 1].
		 */
		for (i = 1; i < bi->ndatums; i++)
		{
			int			p = bi->indexes[i];
			PgsPartBounds *b;

			if (p < 0)
				continue;
			b = &result[p].bounds;
			b->is_range = true;
			b->hi_unbounded = bi->kind[i][0] != PARTITION_RANGE_DATUM_VALUE;
			if (!b->hi_unbounded)
				b->hi = pgs_datum_as_timestamp(bi->datums[i][0], keytype);
			b->lo_unbounded = bi->kind[i - 1][0] != PARTITION_RANGE_DATUM_VALUE;
			if (!b->lo_unbounded)
				b->lo = pgs_datum_as_timestamp(bi->datums[i - 1][0], keytype);
		}
	}
	relation_close(rel, AccessShareLock);
	*parts = result;
	return n;
}

/*
 * pgs_check_month_partitioned
 *		Check that relid is partitioned by range on one date, timestamp or
 *		timestamptz column; return that column's name and base type.
 */
void
pgs_check_month_partitioned(Oid relid, char **column, Oid *keytype)
{
	HeapTuple	tuple;
	Form_pg_partitioned_table form;
	char		strategy;
	int			natts;
	AttrNumber	attnum;
	Oid			typid;

	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s is not partitioned", pgs_display_name(relid)),
				 errhint("Create it with PARTITION BY RANGE on its date or timestamp column, or convert it online with pgscale_partition_table().")));

	tuple = SearchSysCache1(PARTRELID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for partition key of %u", relid);
	form = (Form_pg_partitioned_table) GETSTRUCT(tuple);
	strategy = form->partstrat;
	natts = form->partnatts;
	attnum = form->partattrs.values[0];
	ReleaseSysCache(tuple);

	if (strategy != PARTITION_STRATEGY_RANGE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s is partitioned by %s, not by range",
						pgs_display_name(relid),
						strategy == PARTITION_STRATEGY_LIST ? "list" : "hash"),
				 errhint("Monthly partitions need PARTITION BY RANGE on a date or timestamp column.")));
	if (natts != 1)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s is partitioned on %d key columns", pgs_display_name(relid), natts),
				 errhint("Monthly partitions need PARTITION BY RANGE on exactly one date or timestamp column.")));
	if (attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s is partitioned on an expression", pgs_display_name(relid)),
				 errhint("Monthly partitions need PARTITION BY RANGE on a plain date or timestamp column.")));

	*column = get_attname(relid, attnum, false);
	typid = getBaseType(get_atttype(relid, attnum));
	if (typid != DATEOID && typid != TIMESTAMPOID && typid != TIMESTAMPTZOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("partition key \"%s\" of table %s has type %s",
						*column, pgs_display_name(relid), format_type_be(typid)),
				 errhint("Monthly partitions need a key of type date, timestamp or timestamp with time zone.")));
	*keytype = typid;
}

/* ---------- what the partitions cover ---------- */

/*
 * pgs_covering_partition
 *		A partition of parent whose range overlaps [lo, hi), or InvalidOid;
 *		*default_part receives the default partition, if any.
 */
Oid
pgs_covering_partition(Oid parent, int64 lo, int64 hi, Oid *default_part)
{
	PgsPartition *parts;
	int			n = pgs_read_partitions(parent, &parts);
	int			i;
	Oid			result = InvalidOid;

	*default_part = InvalidOid;
	for (i = 0; i < n; i++)
	{
		PgsPartBounds *b = &parts[i].bounds;

		if (b->is_default)
			*default_part = parts[i].relid;
		else if (b->is_range && !OidIsValid(result) &&
				 (b->lo_unbounded || b->lo < hi) && (b->hi_unbounded || lo < b->hi))
			result = parts[i].relid;
	}
	return result;
}

/*
 * pgs_read_ranges
 *		The ranges of a parent's partitions, read once per call.
 */
void
pgs_read_ranges(Oid parent, PgsRangeList *ranges)
{
	PgsPartition *parts;
	int			n = pgs_read_partitions(parent, &parts);
	int			i;

	ranges->n = 0;
	ranges->lo = palloc(sizeof(int64) * (n + 1));
	ranges->hi = palloc(sizeof(int64) * (n + 1));
	for (i = 0; i < n; i++)
	{
		PgsPartBounds *b = &parts[i].bounds;

		if (!b->is_range)
			continue;
		ranges->lo[ranges->n] = b->lo_unbounded ? PG_INT64_MIN : b->lo;
		ranges->hi[ranges->n] = b->hi_unbounded ? PG_INT64_MAX : b->hi;
		ranges->n++;
	}
}

/*
 * pgs_range_covered
 *		Whether some range overlaps [lo, hi).
 */
bool
pgs_range_covered(PgsRangeList *ranges, int64 lo, int64 hi)
{
	int			i;

	for (i = 0; i < ranges->n; i++)
		if (ranges->lo[i] < hi && lo < ranges->hi[i])
			return true;
	return false;
}

/*
 * pgs_range_gaps
 *		The parts of [lo, hi) that no range covers, in order, as pairs
 *		(gap_lo[i], gap_hi[i]); returns how many.  Existing partitions made
 *		at another time zone's midnight, or by week, cover a month only in
 *		part: the rest must still get a partition.
 */
int
pgs_range_gaps(PgsRangeList *ranges, int64 lo, int64 hi, int64 **gap_lo, int64 **gap_hi)
{
	int64		cur = lo;
	int			n = 0;

	*gap_lo = palloc(sizeof(int64) * (ranges->n + 1));
	*gap_hi = palloc(sizeof(int64) * (ranges->n + 1));
	while (cur < hi)
	{
		int64		next_lo = hi;
		bool		inside = false;
		int			i;

		for (i = 0; i < ranges->n; i++)
		{
			if (ranges->lo[i] <= cur && cur < ranges->hi[i])
			{
				cur = ranges->hi[i];
				inside = true;
				break;
			}
			if (ranges->lo[i] > cur && ranges->lo[i] < next_lo)
				next_lo = ranges->lo[i];
		}
		if (inside)
			continue;
		(*gap_lo)[n] = cur;
		(*gap_hi)[n] = next_lo;
		n++;
		cur = next_lo;
	}
	return n;
}

/*
 * pgs_uncovered_ranges
 *		How many pieces of the months first..last no partition of parent
 *		covers (for the health check).
 */
int
pgs_uncovered_ranges(Oid parent, int first_month, int last_month, Oid keytype,
					 const char *tz)
{
	PgsRangeList	ranges;
	int			month;
	int			gaps = 0;

	pgs_read_ranges(parent, &ranges);
	for (month = first_month; month <= last_month; month++)
	{
		int64	   *glo;
		int64	   *ghi;

		gaps += pgs_range_gaps(&ranges,
						   pgs_datum_as_timestamp(pgs_month_bound(month, keytype, tz), keytype),
						   pgs_datum_as_timestamp(pgs_month_bound(month + 1, keytype, tz), keytype),
						   &glo, &ghi);
	}
	return gaps;
}

/*
 * pgs_newest_partition
 *		The range partition with the highest upper bound.  With
 *		tables_only, of the ordinary tables among them: the one whose
 *		storage parameters a new partition copies; else of any kind: a new
 *		month is partitioned like it.
 */
Oid
pgs_newest_partition(Oid parent, bool tables_only)
{
	PgsPartition *parts;
	int			n = pgs_read_partitions(parent, &parts);
	int			i;
	Oid			best = InvalidOid;
	int64		best_hi = PG_INT64_MIN;

	for (i = 0; i < n; i++)
	{
		PgsPartBounds *b = &parts[i].bounds;

		if (!b->is_range || b->hi_unbounded || b->hi <= best_hi ||
			(tables_only && get_rel_relkind(parts[i].relid) != RELKIND_RELATION))
			continue;
		best = parts[i].relid;
		best_hi = b->hi;
	}
	return best;
}

/*
 * pgs_policy_time_zone
 *		Time zone of timestamptz month boundaries: the policy's, or UTC.
 */
const char *
pgs_policy_time_zone(Oid relid)
{
	PgsPolicy  *pol = pgs_find_policy(relid);

	return (pol != NULL && pol->time_zone != NULL) ? pol->time_zone : "UTC";
}

/*
 * pgscale_set_partitioning(relation regclass, months_ahead integer
 *		DEFAULT 3, time_zone text DEFAULT NULL)
 *		Record that maintenance keeps months_ahead months premade, counted
 *		from now (never from the newest row), with timestamptz boundaries
 *		at midnight in time_zone (UTC when NULL).
 */
Datum
pgscale_set_partitioning(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int			months_ahead;
	char	   *tz = NULL;
	char	   *keycol;
	Oid			keytype;
	Oid			argtypes[4] = {REGCLASSOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	pgs_require_arg(fcinfo, 0, "relation", NULL);
	pgs_require_arg(fcinfo, 1, "months_ahead", NULL);
	relid = PG_GETARG_OID(0);
	months_ahead = PG_GETARG_INT32(1);
	pgs_validate_table(relid);
	if (!pgs_owns(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to set its partitioning",
						pgs_display_name(relid)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));
	pgs_check_month_partitioned(relid, &keycol, &keytype);
	if (months_ahead < 0 || months_ahead > PGS_MAX_NEW_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months_ahead must be between 0 and %d", PGS_MAX_NEW_PARTITIONS),
				 errhint("Give how many months after this one should exist, for example 3.")));
	if (!PG_ARGISNULL(2))
	{
		tz = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (pg_tzset(tz) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("time zone \"%s\" is not recognized", tz),
					 errhint("Use a name from pg_timezone_names, such as 'UTC' or 'Europe/Berlin'.")));
	}

	SPI_connect();
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(keycol);
	values[2] = Int32GetDatum(months_ahead);
	if (tz != NULL)
		values[3] = CStringGetTextDatum(tz);
	else
		nulls[3] = 'n';
	(void) pgs_exec_as_owner(psprintf("INSERT INTO %s AS p (table_name, time_column,"
										 " premake_months, time_zone)"
										 " VALUES ($1, $2::pg_catalog.name, $3, $4)"
										 " ON CONFLICT (table_name) DO UPDATE"
										 " SET premake_months = EXCLUDED.premake_months,"
										 " time_zone = EXCLUDED.time_zone,"
										 " time_column = COALESCE(p.time_column, EXCLUDED.time_column),"
										 " updated_at = pg_catalog.now()",
										 pgs_ext_table("pgscale_policy")),
							 4, argtypes, values, nulls);
	SPI_finish();
	PG_RETURN_VOID();
}
