/*-------------------------------------------------------------------------
 *
 * month.h
 *	  month.c: month numbers (year * 12 + month - 1), their bounds as
 *	  values of a partition key's type, and those bounds as SQL literals.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_MONTH_H
#define PGSCALE_MONTH_H

#include "postgres.h"

#include "utils/date.h"

/* month numbers */
extern int	pgs_month_of_date(DateADT date);
extern DateADT pgs_first_day_of(int month);
extern int	pgs_current_month(Oid keytype, const char *tz);
extern int	pgs_month_of_value(Datum value, Oid keytype, const char *tz);
extern char *pgs_month_label(int month);
extern char *pgs_month_partition_name(const char *parent, int month);

/* bounds */
extern Datum pgs_month_bound(int month, Oid keytype, const char *tz);
extern int64 pgs_datum_as_timestamp(Datum value, Oid typid);
extern Datum pgs_timestamp_as_datum(int64 value, Oid keytype);
extern char *pgs_bound_literal(Datum value, Oid keytype);
extern char *pgs_month_literal(int month, Oid keytype, const char *tz);
extern char *pgs_month_range_condition(const char *col, Oid keytype,
									   const char *tz, int lo, int hi);

#endif							/* PGSCALE_MONTH_H */
