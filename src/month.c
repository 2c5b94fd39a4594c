/*-------------------------------------------------------------------------
 *
 * month.c
 *	  Calendar arithmetic on month numbers (year * 12 + month - 1), the
 *	  bounds of a month as values of a partition key's type, and those
 *	  bounds as SQL literals that read back as the same value whatever the
 *	  session's settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "month.h"

/* ---------- month numbers ---------- */

/*
 * pgs_month_of_date
 *		The month number of a date: months are counted as
 *		year * 12 + (month - 1).
 */
int
pgs_month_of_date(DateADT date)
{
	int			year,
				month,
				day;

	j2date(date + POSTGRES_EPOCH_JDATE, &year, &month, &day);
	return year * 12 + month - 1;
}

/*
 * pgs_first_day_of
 *		The first day of a month number.
 */
DateADT
pgs_first_day_of(int month)
{
	return date2j(month / 12, month % 12 + 1, 1) - POSTGRES_EPOCH_JDATE;
}

/*
 * pgs_current_month
 *		This month: by the session's calendar for date and timestamp keys,
 *		in the policy's time zone (UTC by default) for timestamptz keys.
 */
int
pgs_current_month(Oid keytype, const char *tz)
{
	if (keytype == TIMESTAMPTZOID)
	{
		Datum		local;

		local = DirectFunctionCall2(timestamptz_zone, CStringGetTextDatum(tz),
									TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
		return pgs_month_of_date(DatumGetDateADT(DirectFunctionCall1(timestamp_date, local)));
	}
	return pgs_month_of_date(GetSQLCurrentDate());
}

/*
 * pgs_month_bound
 *		Midnight on the first of the month, as a value of the key's type;
 *		for timestamptz, midnight in the given time zone.
 */
Datum
pgs_month_bound(int month, Oid keytype, const char *tz)
{
	Datum		date = DateADTGetDatum(pgs_first_day_of(month));
	Datum		ts;

	if (keytype == DATEOID)
		return date;
	ts = DirectFunctionCall1(date_timestamp, date);
	if (keytype == TIMESTAMPOID)
		return ts;
	return DirectFunctionCall2(timestamp_zone, CStringGetTextDatum(tz), ts);
}

/*
 * pgs_month_partition_name
 *		<parent>_YYYY_MM; past NAMEDATALEN the parent's name is clipped (at
 *		a character boundary) and a hash of it keeps clipped names apart.
 */
char *
pgs_month_partition_name(const char *parent, int month)
{
	char		suffix[16];
	int			len = strlen(parent);
	int			clip;

	snprintf(suffix, sizeof(suffix), "_%04d_%02d", month / 12, month % 12 + 1);
	if (len + strlen(suffix) < NAMEDATALEN)
		return psprintf("%s%s", parent, suffix);

	clip = pg_mbcliplen(parent, len, NAMEDATALEN - 1 - strlen(suffix) - 5);
	return psprintf("%.*s_%04x%s", clip, parent,
					hash_bytes((const unsigned char *) parent, len) & 0xffff,
					suffix);
}

/*
 * pgs_month_of_value
 *		Month number of a date, timestamp or timestamptz value (timestamptz
 *		in the given time zone).
 */
int
pgs_month_of_value(Datum value, Oid keytype, const char *tz)
{
	Datum		date;

	switch (keytype)
	{
		case DATEOID:
			date = value;
			break;
		case TIMESTAMPOID:
			date = DirectFunctionCall1(timestamp_date, value);
			break;
		default:
			date = DirectFunctionCall1(timestamp_date,
									   DirectFunctionCall2(timestamptz_zone,
														   CStringGetTextDatum(tz),
														   value));
			break;
	}
	return pgs_month_of_date(DatumGetDateADT(date));
}

/*
 * pgs_month_label
 *		YYYY_MM of a month number (year * 12 + month - 1).
 */
char *
pgs_month_label(int month)
{
	return psprintf("%04d_%02d", month / 12, month % 12 + 1);
}

/* ---------- bounds ---------- */

/*
 * pgs_datum_as_timestamp
 *		A date, timestamp or timestamptz value as int64 microseconds, dates
 *		at midnight, so that bounds and cutoffs compare directly.
 */
int64
pgs_datum_as_timestamp(Datum value, Oid typid)
{
	switch (getBaseType(typid))
	{
		case DATEOID:
			return DatumGetTimestamp(DirectFunctionCall1(date_timestamp, value));
		case TIMESTAMPOID:
			return DatumGetTimestamp(value);
		case TIMESTAMPTZOID:
			return DatumGetTimestampTz(value);
		default:
			elog(ERROR, "unexpected partition bound type %u", typid);
	}
	return 0;
}

/*
 * pgs_timestamp_as_datum
 *		The inverse of pgs_datum_as_timestamp for a bound of keytype.
 */
Datum
pgs_timestamp_as_datum(int64 value, Oid keytype)
{
	if (getBaseType(keytype) == DATEOID)
		return DirectFunctionCall1(timestamp_date, TimestampGetDatum(value));
	return Int64GetDatum(value);
}

/*
 * pgs_bound_literal
 *		A partition bound as an SQL literal that reads back as the same value
 *		whatever the session's DateStyle, TimeZone and IntervalStyle: ISO
 *		8601, a timestamptz in UTC with its numeric offset.  (The type's
 *		output function follows DateStyle and prints
 *		zone abbreviations such as CST that read back as another zone.)
 */
char *
pgs_bound_literal(Datum value, Oid keytype)
{
	char		buf[MAXDATELEN + 1];
	struct pg_tm tm;
	fsec_t		fsec;
	Oid			typoutput;
	bool		isvarlena;

	switch (keytype)
	{
		case DATEOID:
			if (DATE_NOT_FINITE(DatumGetDateADT(value)))
				break;
			j2date(DatumGetDateADT(value) + POSTGRES_EPOCH_JDATE,
				   &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
			EncodeDateOnly(&tm, USE_ISO_DATES, buf);
			return quote_literal_cstr(buf);
		case TIMESTAMPOID:
			if (TIMESTAMP_NOT_FINITE(DatumGetTimestamp(value)) ||
				timestamp2tm(DatumGetTimestamp(value), NULL, &tm, &fsec, NULL, NULL) != 0)
				break;
			EncodeDateTime(&tm, fsec, false, 0, NULL, USE_ISO_DATES, buf);
			return quote_literal_cstr(buf);
		case TIMESTAMPTZOID:
			/* no time zone given: the fields are those of UTC */
			if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(value)) ||
				timestamp2tm(DatumGetTimestampTz(value), NULL, &tm, &fsec, NULL, NULL) != 0)
				break;
			tm.tm_isdst = 0;	/* else EncodeDateTime leaves out the offset */
			EncodeDateTime(&tm, fsec, true, 0, NULL, USE_ISO_DATES, buf);
			return quote_literal_cstr(buf);
		default:
			break;
	}
	/* infinite values and other key types print the same in every style */
	getTypeOutputInfo(keytype, &typoutput, &isvarlena);
	return quote_literal_cstr(OidOutputFunctionCall(typoutput, value));
}

/*
 * pgs_month_literal
 *		Start of a month as a SQL literal of the key's type, cast, for
 *		CHECK expressions and partition bounds.
 */
char *
pgs_month_literal(int month, Oid keytype, const char *tz)
{
	return psprintf("%s::%s",
					pgs_bound_literal(pgs_month_bound(month, keytype, tz), keytype),
					format_type_be_qualified(keytype));
}

/*
 * pgs_month_range_condition
 *		"col IS NOT NULL AND col >= lo AND col < hi" with only the bounds
 *		that exist (lo < 0: none below, hi < 0: none above).
 */
char *
pgs_month_range_condition(const char *col, Oid keytype, const char *tz, int lo, int hi)
{
	StringInfoData buf;
	const char *qcol = quote_identifier(col);

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s IS NOT NULL", qcol);
	if (lo >= 0)
		appendStringInfo(&buf, " AND %s OPERATOR(pg_catalog.>=) %s", qcol,
						 pgs_month_literal(lo, keytype, tz));
	if (hi >= 0)
		appendStringInfo(&buf, " AND %s OPERATOR(pg_catalog.<) %s", qcol,
						 pgs_month_literal(hi, keytype, tz));
	return buf.data;
}
