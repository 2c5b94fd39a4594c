/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  The one SPI layer: running a statement, reading a query's first
 *	  value, running pgscale's own statements as the extension owner,
 *	  reading the columns of a result, and pinning the settings that the
 *	  SQL pgscale builds from catalog definitions depends on.
 *
 *	  Every name in a statement given here must already be quoted; values
 *	  go as parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pgscale.h"
#include "spi.h"

/* ---------- running statements ---------- */

/*
 * pgs_spi_exec
 *		Run one statement, raising an error if SPI itself fails.
 */
void
pgs_spi_exec(const char *sql)
{
	int			ret = SPI_execute(sql, false, 0);

	if (ret < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
}

/*
 * pgs_spi_execf
 *		Run one statement built from a format, raising an error if SPI
 *		itself fails.  Every name in it must already be quoted.
 */
void
pgs_spi_execf(const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	pgs_spi_exec(buf.data);
	pfree(buf.data);
}

/*
 * pgs_spi_query
 *		Run a read-only query through SPI; any failure is an error.
 */
void
pgs_spi_query(const char *sql, int nargs, Oid *argtypes, Datum *values,
			  const char *nulls)
{
	int			ret;

	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, true, 0);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s",
			 SPI_result_code_string(ret));
}

/*
 * pgs_spi_int8
 *		Run a query returning one bigint-compatible value (or none) and
 *		return it, 0 when the query returns no row or NULL.
 */
int64
pgs_spi_int8(const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls, bool read_only)
{
	int			ret;
	bool		isnull;
	Datum		d;

	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
								read_only, 1);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0 || SPI_tuptable == NULL)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, 1))
	{
		case INT8OID:
			return DatumGetInt64(d);
		case INT4OID:
			return (int64) DatumGetInt32(d);
		default:
			elog(ERROR, "pgs_spi_int8: unexpected result type");
	}
	return 0;
}

/*
 * pgs_spi_int8_oid
 *		Run a count query with one oid parameter.
 */
int64
pgs_spi_int8_oid(const char *sql, Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	return pgs_spi_int8(sql, 1, argtypes, values, NULL, false);
}

/*
 * pgs_spi_text_oid
 *		First column of the first row of a query with one oid parameter, as
 *		text (NULL when no row or NULL).
 */
char *
pgs_spi_text_oid(const char *sql, Oid arg)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(arg)};
	int			ret;

	ret = SPI_execute_with_args(sql, 1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * pgs_exec_as_owner
 *		Run a statement on pgscale's own tables as the extension owner.
 */
uint64
pgs_exec_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
				  const char *nulls)
{
	Oid			save_userid;
	int			save_sec;
	int			ret;

	pgs_become_owner(&save_userid, &save_sec);
	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0);
	pgs_restore_user(save_userid, save_sec);
	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * pgs_spi_int8_as_owner
 *		pgs_spi_int8 of a statement on pgscale's own tables, run as the
 *		extension owner (an INSERT ... RETURNING id, say).
 */
int64
pgs_spi_int8_as_owner(const char *sql, int nargs, Oid *argtypes, Datum *values,
					  const char *nulls)
{
	Oid			save_userid;
	int			save_sec;
	int64		result;

	pgs_become_owner(&save_userid, &save_sec);
	result = pgs_spi_int8(sql, nargs, argtypes, values, nulls, false);
	pgs_restore_user(save_userid, save_sec);
	return result;
}

/* ---------- the columns of the last result ---------- */

/*
 * pgs_get_datum and friends
 *		Column "col" (1-based) of row "row" of the last SPI result.  The
 *		typed getters return 0 / false / NULL for an SQL NULL.
 */
Datum
pgs_get_datum(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 col, isnull);
}

bool
pgs_isnull(int row, int col)
{
	bool		isnull;

	(void) pgs_get_datum(row, col, &isnull);
	return isnull;
}

int64
pgs_get_int8(int row, int col)
{
	bool		isnull;
	Datum		d = pgs_get_datum(row, col, &isnull);

	if (isnull)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case INT8OID:
			return DatumGetInt64(d);
		case INT4OID:
			return (int64) DatumGetInt32(d);
		case INT2OID:
			return (int64) DatumGetInt16(d);
		case FLOAT8OID:
			return (int64) DatumGetFloat8(d);
		case FLOAT4OID:
			return (int64) DatumGetFloat4(d);
		default:
			elog(ERROR, "column %d is not an integer", col);
	}
	return 0;
}

int32
pgs_get_int4(int row, int col)
{
	return (int32) pgs_get_int8(row, col);
}

double
pgs_get_float8(int row, int col)
{
	bool		isnull;
	Datum		d = pgs_get_datum(row, col, &isnull);

	if (isnull)
		return 0.0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case FLOAT4OID:
			return (double) DatumGetFloat4(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		case INT4OID:
			return (double) DatumGetInt32(d);
		default:
			elog(ERROR, "column %d is not a number", col);
	}
	return 0.0;
}

bool
pgs_get_bool(int row, int col)
{
	bool		isnull;
	Datum		d = pgs_get_datum(row, col, &isnull);

	return isnull ? false : DatumGetBool(d);
}

Oid
pgs_get_oid(int row, int col)
{
	bool		isnull;
	Datum		d = pgs_get_datum(row, col, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

char *
pgs_get_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* ---------- settings the SQL built from the catalog depends on ---------- */

/*
 * pgs_pin_output_settings
 *		Until AtEOXact_GUC(true, nest) with the level returned: DateStyle
 *		ISO, IntervalStyle postgres and extra_float_digits 1, so that the
 *		definitions pgscale reads back (pg_get_constraintdef, pg_get_expr,
 *		pg_get_indexdef, pg_get_partkeydef) and runs again mean the same
 *		values whatever the session's settings: under DateStyle SQL a
 *		timestamptz constant prints with a zone abbreviation (CST) that
 *		reads back as another zone, an interval in sql_standard style reads
 *		back differently under another IntervalStyle, and a float printed
 *		with fewer digits reads back as another number.  ISO prints a
 *		timestamptz with its numeric offset, so TimeZone need not be fixed
 *		(and is not: "today" must stay the session's).
 */
int
pgs_pin_output_settings(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("datestyle", "ISO, MDY", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/*
 * pgs_pin_search_path
 *		Set search_path to pg_catalog, pg_temp until pgs_unpin_settings(), so
 *		that the definitions pgscale reads back (pg_get_indexdef,
 *		pg_get_constraintdef) name every object with its schema, and the
 *		statements built from them resolve nothing through the caller's
 *		path; and DateStyle, IntervalStyle and extra_float_digits to fixed
 *		values (pgs_pin_output_settings), so that the constants in them
 *		read back as the same values.  Procedures cannot carry a SET
 *		clause, hence this.
 */
int
pgs_pin_search_path(void)
{
	int			nest = pgs_pin_output_settings();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/*
 * pgs_unpin_settings
 *		End the settings pinned by pgs_pin_search_path() or
 *		pgs_pin_output_settings().
 */
void
pgs_unpin_settings(int nest)
{
	AtEOXact_GUC(true, nest);
}
