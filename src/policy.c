/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  The pgscale_policy table: validating and recording retention and
 *	  protection, reading policies back, and forgetting the policies of
 *	  dropped tables.
 *
 *	  Only a table's owner (or a member of the owning role) may change its
 *	  policy.  The policy table itself is written as the extension owner,
 *	  after these checks, so that no user needs rights on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_partitioned_table.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "archive.h"

PG_FUNCTION_INFO_V1(pgscale_set_retention);
PG_FUNCTION_INFO_V1(pgscale_protect);
PG_FUNCTION_INFO_V1(pgscale_remove_policy);
PG_FUNCTION_INFO_V1(pgscale_forget_dropped);

/* A retention longer than this is surely a typo (and would overflow). */
#define PGS_MAX_RETENTION_SECONDS (5000.0 * 365.25 * 86400.0)

/*
 * pgs_time_column_type
 *		Base type of a column that can tell a row's age (date, timestamp or
 *		timestamptz).  Raises an error for an unknown column or another
 *		type, unless missing_ok, in which case InvalidOid is returned.
 */
Oid
pgs_time_column_type(Oid relid, const char *colname, bool missing_ok)
{
	AttrNumber	attnum = get_attnum(relid, colname);
	Oid			typid;

	if (attnum == InvalidAttrNumber || attnum < 0)
	{
		if (missing_ok)
			return InvalidOid;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table %s does not exist",
						colname, pgs_display_name(relid)),
				 errhint("Name the date or timestamp column that tells a row's age.")));
	}

	typid = getBaseType(get_atttype(relid, attnum));
	if (typid != DATEOID && typid != TIMESTAMPOID && typid != TIMESTAMPTZOID)
	{
		if (missing_ok)
			return InvalidOid;
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table %s has type %s",
						colname, pgs_display_name(relid), format_type_be(typid)),
				 errhint("The time column must be of type date, timestamp or timestamp with time zone.")));
	}
	return typid;
}

/*
 * pgs_range_partition_column
 *		Name of the single RANGE partition key column of relid, or NULL
 *		when relid is not range-partitioned on exactly one plain column.
 */
char *
pgs_range_partition_column(Oid relid)
{
	HeapTuple	tuple;
	Form_pg_partitioned_table form;
	char	   *colname = NULL;

	tuple = SearchSysCache1(PARTRELID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return NULL;
	form = (Form_pg_partitioned_table) GETSTRUCT(tuple);
	if (form->partstrat == PARTITION_STRATEGY_RANGE && form->partnatts == 1 &&
		form->partattrs.values[0] != 0)
		colname = get_attname(relid, form->partattrs.values[0], false);
	ReleaseSysCache(tuple);
	return colname;
}

/*
 * pgs_resolve_time_column
 *		The time column a policy uses: the one given, checked, or else the
 *		range partition key.
 */
static char *
pgs_resolve_time_column(Oid relid, FunctionCallInfo fcinfo, int argno)
{
	char	   *colname;

	if (!PG_ARGISNULL(argno))
	{
		colname = NameStr(*PG_GETARG_NAME(argno));
		(void) pgs_time_column_type(relid, colname, false);
		return pstrdup(colname);
	}

	colname = pgs_range_partition_column(relid);
	if (colname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time_column is required for table %s",
						pgs_display_name(relid)),
				 errdetail("The table is not partitioned by range on a single column."),
				 errhint("Name the date or timestamp column that tells a row's age.")));
	(void) pgs_time_column_type(relid, colname, false);
	return colname;
}

/*
 * pgs_check_retention
 *		A retention must be positive (now() - retention lies in the past
 *		for every month and day length) and sane.  Also applied to stored
 *		policies before each run, for those written before this check.
 */
void
pgs_check_retention(Interval *retention)
{
	Interval	zero;
	double		seconds;

	memset(&zero, 0, sizeof(zero));
	seconds = (double) retention->time / USECS_PER_SEC +
		(double) retention->day * SECS_PER_DAY +
		(double) retention->month * DAYS_PER_MONTH * SECS_PER_DAY;

	if (DatumGetBool(DirectFunctionCall2(interval_le,
										 IntervalPGetDatum(retention),
										 IntervalPGetDatum(&zero))) ||
		seconds <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention must be a positive interval"),
				 errhint("Give how long rows are kept, for example '365 days'.")));

	/*
	 * now() - retention is computed field by field: months by the calendar
	 * (28 to 31 days), days by the local calendar (23 to 25 hours across a
	 * DST change), then the time part.  A negative part can outweigh the
	 * positive ones for some month or day lengths ('-1 month 30 days 1
	 * hour' is a cutoff in the future whenever the month before has 31
	 * days), so every part must be zero or positive.
	 */
	if (retention->month < 0 || retention->day < 0 || retention->time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention must not have a negative part"),
				 errdetail("With a negative months, days or time part the cutoff can lie in the future for some month lengths."),
				 errhint("Give the retention with positive parts only, for example '30 days' or '1 month'.")));

	if (seconds > PGS_MAX_RETENTION_SECONDS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retention is too long"),
				 errdetail("The largest retention accepted is 5000 years."),
				 errhint("To keep a table's rows forever, protect it with pgscale_protect().")));
}

/*
 * pgs_policy_time_column
 *		The current name of a policy's time column, found by the attribute
 *		number recorded when the policy was written, so that a renamed
 *		column is followed.  A column that was dropped, never bound, or
 *		whose type changed is an error: pgscale never guesses which rows a
 *		retention is about (a new column of the old name is not the one
 *		the policy was written for).
 */
/*
 * pgs_policy_time_column_if_valid
 *		The same, NULL instead of an error (for the health checks).
 */
const char *
pgs_policy_time_column_if_valid(PgsPolicy *pol)
{
	HeapTuple	tuple;
	Form_pg_attribute att;
	const char *name = NULL;

	if (pol->time_attnum <= 0)
		return NULL;
	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(pol->relid),
							Int16GetDatum((int16) pol->time_attnum));
	if (!HeapTupleIsValid(tuple))
		return NULL;
	att = (Form_pg_attribute) GETSTRUCT(tuple);
	if (!att->attisdropped &&
		(!OidIsValid(pol->time_type) || att->atttypid == pol->time_type))
		name = pstrdup(NameStr(att->attname));
	ReleaseSysCache(tuple);
	return name;
}

const char *
pgs_policy_time_column(PgsPolicy *pol)
{
	HeapTuple	tuple;
	Form_pg_attribute att;
	char	   *name;
	Oid			typid;

	if (pol->time_attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("time column \"%s\" of table %s was dropped",
						pol->time_column, pgs_display_name(pol->relid)),
				 errdetail("The retention is not applied: no other column is taken for the one it was written for."),
				 errhint("Set the retention again with pgscale_set_retention(), naming the column that tells a row's age.")));
	if (pol->time_attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("time column \"%s\" of table %s does not exist",
						pol->time_column, pgs_display_name(pol->relid)),
				 errhint("Set the retention again with pgscale_set_retention(), naming the column that tells a row's age.")));

	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(pol->relid),
							Int16GetDatum((int16) pol->time_attnum));
	if (!HeapTupleIsValid(tuple) || ((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped)
	{
		if (HeapTupleIsValid(tuple))
			ReleaseSysCache(tuple);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("time column \"%s\" of table %s was dropped",
						pol->time_column, pgs_display_name(pol->relid)),
				 errdetail("The retention is not applied: no other column is taken for the one it was written for."),
				 errhint("Set the retention again with pgscale_set_retention(), naming the column that tells a row's age.")));
	}
	att = (Form_pg_attribute) GETSTRUCT(tuple);
	name = pstrdup(NameStr(att->attname));
	typid = att->atttypid;
	ReleaseSysCache(tuple);

	if (OidIsValid(pol->time_type) && typid != pol->time_type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("time column \"%s\" of table %s changed its type from %s to %s",
						name, pgs_display_name(pol->relid),
						format_type_be(pol->time_type), format_type_be(typid)),
				 errdetail("The retention is not applied: its cutoff was meant for the old type."),
				 errhint("Set the retention again with pgscale_set_retention() to confirm it for the new type.")));

	pol->time_column = name;
	return name;
}

/*
 * pgs_find_policy
 *		The policy of one table, or NULL.
 */
PgsPolicy *
pgs_find_policy(Oid relid)
{
	List	   *policies = pgs_load_policies(relid);

	return policies == NIL ? NULL : (PgsPolicy *) linitial(policies);
}

/*
 * pgs_load_policies
 *		Read the policies (of one table, or of all when relid is invalid)
 *		into the current memory context, in table OID order.  Policies of
 *		relations that no longer exist are left out.  SPI must be connected.
 */
List *
pgs_load_policies(Oid relid)
{
	MemoryContext callercxt = CurrentMemoryContext;
	List	   *result = NIL;
	char	   *sql;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	int			ret;
	uint64		i;

	/*
	 * One library serves every database: one whose extension has not been
	 * updated yet (ALTER EXTENSION pgscale UPDATE) still has the 0.1.0
	 * policy table, which stores the time column by name only.
	 */
	if (get_attnum(get_relname_relid("pgscale_policy", pgs_catalog_schema()),
				   "time_attnum") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgscale in database \"%s\" is older than its library",
						get_database_name(MyDatabaseId)),
				 errdetail("The installed library needs the extension at version 0.2.0 or later."),
				 errhint("Run ALTER EXTENSION pgscale UPDATE in this database.")));

	sql = psprintf("SELECT table_name::pg_catalog.oid, time_column::pg_catalog.text,"
				   " retention, protected, premake_months, time_zone, enabled,"
				   " time_attnum::pg_catalog.int4, time_type::pg_catalog.oid,"
				   " on_referenced, max_delete_fraction, cleaned_at IS NOT NULL,"
				   " action OPERATOR(pg_catalog.=) 'archive', archive_schema::pg_catalog.text,"
				   " archive_keep, vacuum_after_purge, compress_after"
				   " FROM %s%s ORDER BY table_name::pg_catalog.oid",
				   pgs_ext_table("pgscale_policy"),
				   OidIsValid(relid) ?
				   " WHERE table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1" : "");
	values[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args(sql, OidIsValid(relid) ? 1 : 0, argtypes,
								values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pgscale_policy: %s", SPI_result_code_string(ret));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext oldcxt;
		PgsPolicy  *pol;
		bool		isnull;
		Datum		d;
		Oid			polrel;
		char	   *timecol;
		char	   *tz;

		polrel = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(polrel)))
			continue;

		timecol = SPI_getvalue(tup, desc, 2);
		tz = SPI_getvalue(tup, desc, 6);

		oldcxt = MemoryContextSwitchTo(callercxt);
		pol = palloc0(sizeof(PgsPolicy));
		pol->relid = polrel;
		pol->time_column = timecol ? pstrdup(timecol) : NULL;
		d = SPI_getbinval(tup, desc, 3, &isnull);
		pol->has_retention = !isnull;
		if (!isnull)
			pol->retention = *DatumGetIntervalP(d);
		pol->is_protected = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		pol->premake_months = isnull ? -1 : DatumGetInt32(d);
		pol->time_zone = tz ? pstrdup(tz) : NULL;
		pol->enabled = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		d = SPI_getbinval(tup, desc, 8, &isnull);
		pol->time_attnum = isnull ? -1 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 9, &isnull);
		pol->time_type = isnull ? InvalidOid : DatumGetObjectId(d);
		{
			char	   *onref = SPI_getvalue(tup, desc, 10);

			pol->on_referenced = onref == NULL ? PGS_REF_ERROR :
				strcmp(onref, "cascade") == 0 ? PGS_REF_CASCADE :
				strcmp(onref, "keep") == 0 ? PGS_REF_KEEP : PGS_REF_ERROR;
		}
		d = SPI_getbinval(tup, desc, 11, &isnull);
		pol->max_delete_fraction = isnull ? 0 : DatumGetFloat4(d);
		pol->ever_cleaned = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
		pol->archive = DatumGetBool(SPI_getbinval(tup, desc, 13, &isnull));
		{
			char	   *schema = SPI_getvalue(tup, desc, 14);

			pol->archive_schema = schema ? pstrdup(schema) : NULL;
		}
		d = SPI_getbinval(tup, desc, 15, &isnull);
		pol->has_archive_keep = !isnull;
		if (!isnull)
			pol->archive_keep = *DatumGetIntervalP(d);
		d = SPI_getbinval(tup, desc, 16, &isnull);
		pol->has_vacuum_after_purge = !isnull;
		pol->vacuum_after_purge = !isnull && DatumGetBool(d);
		d = SPI_getbinval(tup, desc, 17, &isnull);
		pol->has_compress_after = !isnull;
		if (!isnull)
			pol->compress_after = *DatumGetIntervalP(d);
		result = lappend(result, pol);
		MemoryContextSwitchTo(oldcxt);
	}
	return result;
}

/*
 * pgscale_set_retention(relation regclass, retention interval,
 *						 time_column name DEFAULT NULL,
 *						 on_referenced text DEFAULT NULL,
 *						 max_delete_fraction real DEFAULT NULL,
 *						 action text DEFAULT NULL,
 *						 archive_schema name DEFAULT NULL,
 *						 archive_keep interval DEFAULT NULL,
 *						 vacuum_after_purge boolean DEFAULT NULL,
 *						 compress_after interval DEFAULT NULL)
 *		Keep the rows of a table for "retention", judged by time_column
 *		(default: the range partition key).  on_referenced says what to do
 *		with expired rows that foreign keys still reference: 'error' (the
 *		default for a new policy), 'cascade' or 'keep'; max_delete_fraction
 *		the largest share of the table one cleanup may remove (default
 *		pgscale.max_delete_fraction); action 'drop' (the default) or
 *		'archive', with where archived data goes and how long it stays
 *		(archive.c); vacuum_after_purge whether a purge of this table is
 *		followed by VACUUM (vacuum.c; default pgscale.vacuum_after_purge);
 *		compress_after the age past which whole months are converted to
 *		the columnar access method (compress.c; '0' stops it).
 *		NULL leaves an existing policy's choice as it is.
 */
Datum
pgscale_set_retention(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Interval   *retention;
	char	   *colname;
	PgsPolicy  *existing;
	Oid			argtypes[11] = {REGCLASSOID, TEXTOID, INTERVALOID, TEXTOID, FLOAT4OID,
	TEXTOID, TEXTOID, INTERVALOID, BOOLOID, INTERVALOID, BOOLOID};
	Datum		values[11];
	char		nulls[11] = {' ', ' ', ' ', ' ', 'n', ' ', 'n', 'n', 'n', 'n', ' '};
	Interval   *compress_after = NULL;
	bool		compress_off = false;
	char	   *onref = NULL;
	PgsArchiveSettings arch;

	pgs_require_arg(fcinfo, 0, "relation", NULL);
	pgs_require_arg(fcinfo, 1, "retention", NULL);
	relid = PG_GETARG_OID(0);
	retention = PG_GETARG_INTERVAL_P(1);
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
	{
		onref = text_to_cstring(PG_GETARG_TEXT_PP(3));
		if (strcmp(onref, "error") != 0 && strcmp(onref, "cascade") != 0 &&
			strcmp(onref, "keep") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for on_referenced: \"%s\"", onref),
					 errdetail("It says what cleanup does with expired rows that foreign keys still reference."),
					 errhint("Use 'error' (touch nothing and report), 'cascade' (delete the referencing rows first) or 'keep' (keep those rows).")));
	}
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		float4		fraction = PG_GETARG_FLOAT4(4);

		if (isnan(fraction) || fraction <= 0 || fraction > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_delete_fraction must be greater than 0 and at most 1"),
					 errdetail("It is the largest share of the table's rows one cleanup may remove."),
					 errhint("For example 0.5 refuses a run that would remove more than half of the rows; 1 turns the limit off.")));
		values[4] = Float4GetDatum(fraction);
		nulls[4] = ' ';
	}

	pgs_archive_read_args(fcinfo, 5, &arch);
	if (PG_NARGS() > 8 && !PG_ARGISNULL(8))
	{
		values[8] = BoolGetDatum(PG_GETARG_BOOL(8));
		nulls[8] = ' ';
	}
	if (PG_NARGS() > 9 && !PG_ARGISNULL(9))
	{
		compress_after = PG_GETARG_INTERVAL_P(9);
		compress_off = pgs_compress_after_is_zero(compress_after);
	}

	pgs_validate_table(relid);
	if (!pgs_owns(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to set its retention",
						pgs_display_name(relid)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));
	pgs_check_retention(retention);

	SPI_connect();

	existing = pgs_find_policy(relid);

	/* changing a policy: its column stays unless another is named */
	colname = NULL;
	if (PG_ARGISNULL(2) && existing != NULL && existing->time_column != NULL)
	{
		const char *current = pgs_policy_time_column_if_valid(existing);

		if (current != NULL)
			colname = pstrdup(current);
	}
	if (colname == NULL)
		colname = pgs_resolve_time_column(relid, fcinfo, 2);
	if (existing != NULL && existing->is_protected)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is protected", pgs_display_name(relid)),
				 errdetail("Protected tables hold core data that cleanup never deletes."),
				 errhint("If its rows really may expire, remove the protection with pgscale_remove_policy() first.")));

	/* compression: the interval given, else the policy's, checked again */
	if (compress_after != NULL && !compress_off)
	{
		pgs_check_compress_after(relid, colname, retention, compress_after);
		values[9] = IntervalPGetDatum(compress_after);
		nulls[9] = ' ';
	}
	else if (compress_after == NULL && existing != NULL && existing->has_compress_after)
		pgs_check_compress_after(relid, colname, retention, &existing->compress_after);
	values[10] = BoolGetDatum(compress_off);

	/* the archive settings: those given, else the policy's */
	pgs_archive_settle(relid, existing, &arch,
					   onref != NULL ? onref :
					   existing == NULL || existing->on_referenced == PGS_REF_ERROR ? "error" :
					   existing->on_referenced == PGS_REF_CASCADE ? "cascade" : "keep");

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(colname);
	values[2] = IntervalPGetDatum(retention);
	if (onref != NULL)
		values[3] = CStringGetTextDatum(onref);
	else
		nulls[3] = 'n';
	values[5] = CStringGetTextDatum(arch.archive ? "archive" : "drop");
	if (arch.archive_schema != NULL)
	{
		values[6] = CStringGetTextDatum(arch.archive_schema);
		nulls[6] = ' ';
	}
	if (arch.has_keep)
	{
		values[7] = IntervalPGetDatum(&arch.keep);
		nulls[7] = ' ';
	}
	pgs_exec_as_owner(psprintf("INSERT INTO %s AS p (table_name, time_column, retention, on_referenced,"
							   " max_delete_fraction, action, archive_schema, archive_keep,"
							   " vacuum_after_purge, compress_after)"
							   " VALUES ($1, $2::pg_catalog.name, $3, coalesce($4, 'error'), $5,"
							   " $6, $7::pg_catalog.name, $8, $9, $10)"
							   " ON CONFLICT (table_name) DO UPDATE"
							   " SET time_column = EXCLUDED.time_column,"
							   " time_attnum = NULL,"
							   " retention = EXCLUDED.retention,"
							   " on_referenced = coalesce($4, p.on_referenced),"
							   " max_delete_fraction = coalesce($5, p.max_delete_fraction),"
							   " action = EXCLUDED.action,"
							   " archive_schema = EXCLUDED.archive_schema,"
							   " archive_keep = EXCLUDED.archive_keep,"
							   " vacuum_after_purge = coalesce($9, p.vacuum_after_purge),"
							   " compress_after = CASE WHEN $11 THEN NULL"
							   " ELSE coalesce($10, p.compress_after) END,"
							   " updated_at = pg_catalog.now()",
							   pgs_ext_table("pgscale_policy")),
					  11, argtypes, values, nulls);

	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * pgscale_protect(relation regclass)
 *		Mark a table as core data: cleanup never touches it and no retention
 *		can be set on it.  A retention it had is dropped, with a notice.
 */
Datum
pgscale_protect(PG_FUNCTION_ARGS)
{
	Oid			relid;
	PgsPolicy  *existing;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];

	pgs_require_arg(fcinfo, 0, "relation", NULL);
	relid = PG_GETARG_OID(0);
	pgs_validate_table(relid);
	if (!pgs_owns(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to protect it",
						pgs_display_name(relid)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));

	SPI_connect();

	existing = pgs_find_policy(relid);
	if (existing != NULL && existing->has_retention)
		ereport(NOTICE,
				(errmsg("retention of table %s removed", pgs_display_name(relid)),
				 errdetail("A protected table keeps its rows forever.")));

	values[0] = ObjectIdGetDatum(relid);
	pgs_exec_as_owner(psprintf("INSERT INTO %s AS p (table_name, protected)"
							   " VALUES ($1, true)"
							   " ON CONFLICT (table_name) DO UPDATE"
							   " SET protected = true, retention = NULL,"
							   " updated_at = pg_catalog.now()",
							   pgs_ext_table("pgscale_policy")),
					  1, argtypes, values, NULL);

	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * pgscale_remove_policy(relation regclass) returns boolean
 *		Forget a table's policy; false (with a notice) when it had none.
 */
Datum
pgscale_remove_policy(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	uint64		removed;

	pgs_require_arg(fcinfo, 0, "relation", NULL);
	relid = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		pgs_no_such_relation(relid);
	if (!pgs_owns(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to remove its policy",
						pgs_display_name(relid)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));

	SPI_connect();
	values[0] = ObjectIdGetDatum(relid);
	removed = pgs_exec_as_owner(psprintf("DELETE FROM %s WHERE table_name OPERATOR(pg_catalog.=) $1",
										 pgs_ext_table("pgscale_policy")),
								1, argtypes, values, NULL);
	SPI_finish();

	if (removed == 0)
		ereport(NOTICE,
				(errmsg("table %s has no pgscale policy", pgs_display_name(relid))));
	PG_RETURN_BOOL(removed > 0);
}

/*
 * pgscale_forget_dropped
 *		sql_drop event trigger: delete the policies of dropped tables, so
 *		that a policy never refers to a stale OID (which a new table could
 *		later reuse).
 */
Datum
pgscale_forget_dropped(PG_FUNCTION_ARGS)
{
	Oid			extoid;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("pgscale_forget_dropped() must be called as an event trigger"),
				 errhint("It is installed as the event trigger pgscale_forget_dropped.")));

	/* nothing to do while the extension itself is going away */
	extoid = get_extension_oid("pgscale", true);
	if (!OidIsValid(extoid) ||
		!OidIsValid(get_relname_relid("pgscale_policy", pgs_catalog_schema_of(extoid))))
		PG_RETURN_VOID();

	SPI_connect();
	pgs_exec_as_owner(psprintf("DELETE FROM %s WHERE table_name::pg_catalog.oid"
							   " OPERATOR(pg_catalog.=) ANY (ARRAY("
							   " SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()"
							   " WHERE classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							   " AND objsubid OPERATOR(pg_catalog.=) 0))",
							   pgs_ext_table("pgscale_policy")),
					  0, NULL, NULL, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}
