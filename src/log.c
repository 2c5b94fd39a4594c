/*-------------------------------------------------------------------------
 *
 * log.c
 *	  The pgscale_log table: one row per action pgscale takes (partition
 *	  dropped, rows deleted, error), saying who ran it (a person, the
 *	  worker, pg_cron).  Pruned after pgscale.log_retention.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pgscale.h"

/*
 * pgs_log_action
 *		Record an action on relid.  "started" is when it began (its duration
 *		runs to now); rows is recorded only when rows_known.  Written as the
 *		extension owner, in the current transaction: an action rolled back
 *		leaves no log row, so the log never claims what did not happen.
 *		Returns the row's id.  SPI must be connected.
 */
int64
pgs_log_action(Oid relid, const char *action, const char *object,
			   int64 rows, bool rows_known, TimestampTz started,
			   const char *detail)
{
	Oid			argtypes[8] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, INT8OID,
	INTERVALOID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(pgs_display_name(relid));
	values[1] = ObjectIdGetDatum(relid);
	values[2] = CStringGetTextDatum(action);
	if (object != NULL)
		values[3] = CStringGetTextDatum(object);
	else
		nulls[3] = 'n';
	values[4] = Int64GetDatum(rows);
	if (!rows_known)
		nulls[4] = 'n';
	values[5] = DirectFunctionCall2(timestamp_mi,
									TimestampTzGetDatum(GetCurrentTimestamp()),
									TimestampTzGetDatum(started));
	values[6] = CStringGetTextDatum(pgs_source_name(pgs_current_source()));
	if (detail != NULL)
		values[7] = CStringGetTextDatum(detail);
	else
		nulls[7] = 'n';

	return pgs_spi_int8_as_owner(psprintf("INSERT INTO %s (table_name, relid, action,"
										  " object_name, rows, duration, source, detail)"
										  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
										  " RETURNING id",
										  pgs_ext_table("pgscale_log")),
								 8, argtypes, values, nulls);
}

/*
 * pgs_log_update
 *		Bring a log row written by pgs_log_action up to date: its rows, its
 *		duration (from "started" to now) and its detail.  A procedure that
 *		commits between batches writes the row after its first batch and
 *		updates it with each later one, so that the log holds every
 *		committed batch even when the run is cancelled or crashes midway.
 */
void
pgs_log_update(int64 id, int64 rows, TimestampTz started, const char *detail)
{
	Oid			argtypes[4] = {INT8OID, INT8OID, INTERVALOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(id);
	values[1] = Int64GetDatum(rows);
	values[2] = DirectFunctionCall2(timestamp_mi,
									TimestampTzGetDatum(GetCurrentTimestamp()),
									TimestampTzGetDatum(started));
	if (detail != NULL)
		values[3] = CStringGetTextDatum(detail);
	else
		nulls[3] = 'n';
	(void) pgs_exec_as_owner(psprintf("UPDATE %s SET rows = $2, duration = $3, detail = $4"
									  " WHERE id OPERATOR(pg_catalog.=) $1",
									  pgs_ext_table("pgscale_log")),
							 4, argtypes, values, nulls);
}

/*
 * pgs_log_prune
 *		Delete log rows older than pgscale.log_retention; returns how many.
 */
int64
pgs_log_prune(void)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	values[0] = Int32GetDatum(pgscale_log_retention);
	return (int64) pgs_exec_as_owner(psprintf("DELETE FROM %s WHERE logged_at OPERATOR(pg_catalog.<)"
											  " (pg_catalog.now() OPERATOR(pg_catalog.-)"
											  " pg_catalog.make_interval(mins => $1))",
											  pgs_ext_table("pgscale_log")),
									 1, argtypes, values, NULL);
}
