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
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
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
	int64		id;

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

	id = pgs_spi_int8_as_owner(psprintf("INSERT INTO %s (table_name, relid, action,"
										" object_name, rows, duration, source, detail)"
										" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
										" RETURNING id",
										pgs_ext_table("pgscale_log")),
							   8, argtypes, values, nulls);
	if (strcmp(action, "error") == 0 && pgs_current_source() != PGS_SOURCE_MANUAL)
		pgs_send_alert(relid, detail);
	return id;
}

/* The error's share of an alert: NOTIFY payloads stop at 8000 bytes. */
#define PGS_ALERT_ERROR_BYTES 4000

/*
 * alert_action
 *		The step an error's detail names (they begin "premake: ",
 *		"analyze: ", "create partition YYYY-MM: ", "size snapshot: ",
 *		"skipped: "), as one word; every other failure is retention's.
 */
static const char *
alert_action(const char *detail)
{
	static const struct
	{
		const char *prefix;
		const char *action;
	}			steps[] = {
		{"premake", "premake"},
		{"create partition", "premake"},
		{"analyze", "analyze"},
		{"size snapshot", "snapshot"},
		{"skipped", "skipped"},
	};
	size_t		i;

	for (i = 0; i < lengthof(steps); i++)
		if (detail != NULL && strncmp(detail, steps[i].prefix, strlen(steps[i].prefix)) == 0)
			return steps[i].action;
	return "retention";
}

/*
 * pgs_send_alert
 *		NOTIFY pgscale_alert with a JSON object: the database, the table,
 *		the failed step, the error (cut to PGS_ALERT_ERROR_BYTES) and the
 *		errors logged for the table since its last success, this one
 *		included (as pgscale_policy_status() counts them).  NOTIFY is
 *		transactional like the log row: sent when the cycle's transaction
 *		commits, never for an action rolled back.  SPI must be connected.
 */
void
pgs_send_alert(Oid relid, const char *detail)
{
	StringInfoData buf;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	const char *error = detail ? detail : "";
	char	   *db = get_database_name(MyDatabaseId);
	int64		failures;

	failures = pgs_spi_int8_as_owner(psprintf("SELECT pg_catalog.count(*) FROM %1$s g"
											  " WHERE g.relid OPERATOR(pg_catalog.=) $1 AND g.action = 'error'"
											  "   AND g.logged_at > coalesce(greatest("
											  "       (SELECT p.cleaned_at FROM %2$s p"
											  "         WHERE p.table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1),"
											  "       (SELECT pg_catalog.max(s.logged_at) FROM %1$s s"
											  "         WHERE s.relid OPERATOR(pg_catalog.=) $1"
											  "           AND s.action <> ALL ('{error,refused}'::pg_catalog.text[]))),"
											  "       '-infinity')",
											  pgs_ext_table("pgscale_log"),
											  pgs_ext_table("pgscale_policy")),
									 1, argtypes, values, NULL);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"database\": ");
	escape_json(&buf, db ? db : "");
	appendStringInfoString(&buf, ", \"table\": ");
	escape_json(&buf, pgs_display_name(relid));
	appendStringInfoString(&buf, ", \"action\": ");
	escape_json(&buf, alert_action(detail));
	appendStringInfoString(&buf, ", \"error\": ");
	escape_json(&buf, pnstrdup(error, pg_mbcliplen(error, strlen(error),
												   PGS_ALERT_ERROR_BYTES)));
	appendStringInfo(&buf, ", \"consecutive_failures\": " INT64_FORMAT "}", failures);
	Async_Notify("pgscale_alert", buf.data);
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
 * pgs_log_set_detail
 *		Replace the detail of a log row written by pgs_log_action, leaving
 *		its duration as it was: a figure known only after the step's commit
 *		(the size of a converted Citus partition) is filled in afterwards.
 */
void
pgs_log_set_detail(int64 id, const char *detail)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		values[2];

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(detail);
	(void) pgs_exec_as_owner(psprintf("UPDATE %s SET detail = $2"
									  " WHERE id OPERATOR(pg_catalog.=) $1",
									  pgs_ext_table("pgscale_log")),
							 2, argtypes, values, NULL);
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
