/*-------------------------------------------------------------------------
 *
 * worker_status.c
 *	  What the background worker reports: pgscale_worker_status(), one row
 *	  per database from the state worker.c keeps in shared memory, and
 *	  whether this database lacks a launcher (for pgscale_health()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "pgscale.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(pgscale_worker_status);

/*
 * launcher_alive
 *		Whether a launcher runs: preloaded, it recorded its PID, and that
 *		process exists.  A launcher that could not be registered (too few
 *		max_worker_processes) never records one.
 */
static bool
launcher_alive(void)
{
	PgsWorkerShared *shared = pgs_worker_shared();
	int			pid;

	if (shared == NULL)
		return false;
	LWLockAcquire(shared->lock, LW_SHARED);
	pid = shared->launcher_pid;
	LWLockRelease(shared->lock);
	return pid != 0 && kill(pid, 0) == 0;
}

/*
 * pgs_worker_missing
 *		For pgscale_health(): whether the current database is listed in
 *		pgscale.databases while no launcher runs to maintain it.
 */
bool
pgs_worker_missing(void)
{
	char	   *raw = pstrdup(pgscale_databases ? pgscale_databases : "");
	char	   *me = get_database_name(MyDatabaseId);
	List	   *names = NIL;
	ListCell   *lc;
	bool		listed = false;

	if (me == NULL || !SplitIdentifierString(raw, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), me) == 0)
			listed = true;
	return listed && !launcher_alive() && !RecoveryInProgress();
}

/*
 * pgs_worker_next_run
 *		For pgscale_policy_status(): when the worker's next cycle of the
 *		current database is due (the start of the running one, when one
 *		runs).  False when no worker maintains this database: no launcher,
 *		the database not listed (or not reached yet), pgscale.enabled off.
 */
bool
pgs_worker_next_run(TimestampTz *next_run)
{
	PgsWorkerShared *shared = pgs_worker_shared();
	char	   *me = get_database_name(MyDatabaseId);
	bool		found = false;
	int			i;

	if (shared == NULL || me == NULL || !pgscale_enabled || !launcher_alive())
		return false;
	LWLockAcquire(shared->lock, LW_SHARED);
	for (i = 0; i < PGS_MAX_DATABASES; i++)
	{
		PgsDbState *db = &shared->db[i];

		if (!db->in_use || strcmp(db->dbname, me) != 0)
			continue;
		*next_run = db->running ? db->last_start : db->next_run;
		found = *next_run != 0;
		break;
	}
	LWLockRelease(shared->lock);
	return found;
}

/*
 * pgscale_worker_status()
 *		Per database: is a cycle running, when the last one started and
 *		ended, how it went, when the next is due, the last error.  The last
 *		error can name any table the worker's role maintains, so its text
 *		is shown only to members of pg_monitor (and superusers), as the
 *		rows of pgscale_log are; others see that there is one.
 */
Datum
pgscale_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PgsWorkerShared *shared = pgs_worker_shared();
	bool		see_errors = has_privs_of_role(GetUserId(), ROLE_PG_MONITOR);
	int			i;

	pgs_init_materialized_srf(fcinfo);
	if (shared == NULL)
	{
		ereport(NOTICE,
				(errmsg("the pgscale background worker is not running"),
				 errhint("Add pgscale to shared_preload_libraries and list databases in pgscale.databases.")));
		return (Datum) 0;
	}
	/* (a standby has no launcher until it is promoted) */
	if (!launcher_alive() && !RecoveryInProgress())
	{
		/* a row, not an empty result: nothing maintains the listed databases */
		Datum		values[10];
		bool		nulls[10];

		memset(values, 0, sizeof(values));
		memset(nulls, true, sizeof(nulls));
		values[1] = BoolGetDatum(false);
		nulls[1] = false;
		values[5] = CStringGetTextDatum("launcher not running");
		nulls[5] = false;
		values[7] = CStringGetTextDatum("the pgscale launcher is not running; if the server log says "
										"\"too many background workers\", raise max_worker_processes");
		nulls[7] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	LWLockAcquire(shared->lock, LW_SHARED);
	for (i = 0; i < PGS_MAX_DATABASES; i++)
	{
		PgsDbState *db = &shared->db[i];
		Datum		values[10];
		bool		nulls[10];

		if (!db->in_use)
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(db->dbname);
		values[1] = BoolGetDatum(db->running);
		values[2] = Int32GetDatum(db->pid);
		nulls[2] = !db->running;
		values[3] = TimestampTzGetDatum(db->last_start);
		nulls[3] = db->last_start == 0;
		values[4] = TimestampTzGetDatum(db->last_end);
		nulls[4] = db->last_end == 0 || db->running;
		values[5] = CStringGetTextDatum(db->outcome);
		values[6] = TimestampTzGetDatum(db->next_run);
		nulls[6] = db->running || !pgscale_enabled;
		if (see_errors)
			values[7] = CStringGetTextDatum(db->last_error);
		else
			values[7] = CStringGetTextDatum("(hidden: only members of pg_monitor see the worker's errors)");
		nulls[7] = db->last_error[0] == '\0';
		values[8] = TimestampTzGetDatum(db->last_error_at);
		nulls[8] = db->last_error_at == 0;
		values[9] = Int64GetDatum(db->cycles);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(shared->lock);
	return (Datum) 0;
}
