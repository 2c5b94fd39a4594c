/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Helpers shared by pgscale's files: the extension's own objects,
 *	  switching to the extension owner, running a step under a lock
 *	  timeout with retries, and who runs the maintenance.  (Names of
 *	  relations and the catalog are read in catalog.c, SQL is run through
 *	  spi.c.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"	/* the catalog index OIDs, before 14 */
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "pgscale.h"

/* see pgscale.h */
PgsCycleResult *pgs_worker_cycle = NULL;

/*
 * The longest one step may run, in a run that commits between its steps
 * (0: no limit of pgscale's own), and how deep pgs_run_guarded calls are
 * nested (only the outermost step is timed).
 */
static int	step_timeout_ms = 0;
static int	guard_depth = 0;

static bool run_guarded(PgsAction action, void *arg, Oid lockrel,
						ErrorData **error);

/*
 * pgs_schema_of_extension
 *		pg_extension.extnamespace of an extension, InvalidOid if none.
 *		(The server's get_extension_schema() is not exported before 16.)
 */
Oid
pgs_schema_of_extension(Oid extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nspid = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		nspid = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nspid;
}

/*
 * pgs_extension_schema
 *		Schema pgscale was created in.
 */
Oid
pgs_extension_schema(void)
{
	Oid			extoid = get_extension_oid("pgscale", true);

	if (!OidIsValid(extoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pgscale\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION pgscale first.")));
	return pgs_schema_of_extension(extoid);
}

/*
 * pgs_catalog_schema_of
 *		Schema that holds the catalog tables (pgscale_policy, pgscale_log,
 *		...) of extension extoid: PGS_CATALOG_SCHEMA, whatever schema the
 *		extension was created in, so that a dump's data of those tables
 *		loads into any database that has pgscale; the extension's own
 *		schema for one still at 0.1.0.  A pgscale.pgscale_policy that is not
 *		the extension's member (a user's table of that name) never counts.
 */
Oid
pgs_catalog_schema_of(Oid extoid)
{
	Oid			nspid = get_namespace_oid(PGS_CATALOG_SCHEMA, true);

	if (OidIsValid(nspid))
	{
		Oid			relid = get_relname_relid("pgscale_policy", nspid);

		if (OidIsValid(relid) &&
			getExtensionOfObject(RelationRelationId, relid) == extoid)
			return nspid;
	}
	return pgs_schema_of_extension(extoid);
}

/*
 * pgs_catalog_schema
 *		pgs_catalog_schema_of() the installed pgscale.
 */
Oid
pgs_catalog_schema(void)
{
	pgs_extension_schema();		/* errors out when not installed */
	return pgs_catalog_schema_of(get_extension_oid("pgscale", false));
}

/*
 * pgs_ext_table
 *		Quoted, qualified name of one of pgscale's own tables, e.g.
 *		"pgscale_policy", for use in SQL text.
 */
const char *
pgs_ext_table(const char *name)
{
	return quote_qualified_identifier(get_namespace_name(pgs_catalog_schema()),
									  name);
}

/*
 * pgs_extension_owner
 *		Owner of the extension's tables.  pgscale's functions write its
 *		tables as this role, after checking the caller's rights themselves.
 */
Oid
pgs_extension_owner(void)
{
	Oid			relid;

	relid = get_relname_relid("pgscale_policy", pgs_catalog_schema());
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table \"pgscale_policy\" of extension \"pgscale\" is missing"),
				 errhint("Drop and recreate the extension.")));
	return pgs_relation_owner(relid);
}

/*
 * pgs_become_owner / pgs_restore_user
 *		Act as the extension owner to write pgscale's own tables, the way
 *		the server runs referential-integrity checks as the table owner.
 */
void
pgs_become_owner(Oid *save_userid, int *save_sec_context)
{
	Oid			owner = pgs_extension_owner();

	GetUserIdAndSecContext(save_userid, save_sec_context);
	SetUserIdAndSecContext(owner,
						   *save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
pgs_restore_user(Oid save_userid, int save_sec_context)
{
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * pgs_wait
 *		Sleep for the given milliseconds, waking for interrupts and exiting
 *		if the postmaster dies.
 */
static void
pgs_wait(long ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * pgs_begin_step_timeouts
 *		For a run that commits between its steps (the procedures, and so the
 *		worker's cycle): time each step instead of the whole statement.  A
 *		session's statement_timeout limits the CALL as a whole, however
 *		short each of its transactions, and would cancel the run midway:
 *		the later tables, premake included, would never be maintained.  So
 *		the CALL's own timer is stopped, and each step runs under the lesser
 *		of pgscale.step_timeout and statement_timeout; a step that runs
 *		longer is cancelled, rolled back and reported like any failed step,
 *		and the run goes on.  pgs_end_step_timeouts() must follow, also on
 *		error.
 */
void
pgs_begin_step_timeouts(void)
{
	int			limit = pgscale_step_timeout;

	if (StatementTimeout > 0 && (limit == 0 || StatementTimeout < limit))
		limit = StatementTimeout;
	if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, false);
	step_timeout_ms = limit;
}

void
pgs_end_step_timeouts(void)
{
	step_timeout_ms = 0;
}

/*
 * pgs_step_timed_out
 *		Whether a failed step was cancelled by its step timeout (other
 *		cancels are never returned by pgs_run_guarded, they are rethrown).
 */
bool
pgs_step_timed_out(ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED;
}

/*
 * pgs_run_guarded
 *		Run one step of maintenance (a batch, a partition drop) inside a
 *		subtransaction with lock_timeout set to pgscale.lock_timeout.  When
 *		the step cannot get its lock in time it is retried, after a growing
 *		pause, up to pgscale.lock_retries times: pgscale gives way to the
 *		application rather than queueing and blocking everyone behind it.
 *
 *		Returns true on success.  On any other error (or when the retries
 *		are used up) the step's changes are rolled back, *error receives the
 *		error and false is returned, so that the caller can record it and go
 *		on with other tables.  Cancels and shutdown requests are rethrown.
 */
bool
pgs_run_guarded(PgsAction action, void *arg, ErrorData **error)
{
	return run_guarded(action, arg, InvalidOid, error);
}

/*
 * lock_holders
 *		The other sessions holding a lock on relid now (granted, any mode):
 *		those an ACCESS EXCLUSIVE request on it waits for.  SPI must be
 *		connected.
 */
List *
pgs_lock_holders(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	List	   *pids = NIL;
	uint64		i;
	int			ret;

	values[0] = ObjectIdGetDatum(MyDatabaseId);
	values[1] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args("SELECT DISTINCT pid FROM pg_catalog.pg_locks"
								" WHERE locktype OPERATOR(pg_catalog.=) 'relation'"
								" AND database OPERATOR(pg_catalog.=) $1"
								" AND relation OPERATOR(pg_catalog.=) $2"
								" AND granted AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
								2, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_locks: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  1, &isnull);

		if (!isnull)
			pids = lappend_int(pids, DatumGetInt32(d));
	}
	return pids;
}

/*
 * pgs_describe_holder
 *		"pid N (application_name "x", in its transaction since T)", for the
 *		messages that name the session a step gave way to.
 */
char *
pgs_describe_holder(int pid)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];
	int			ret;
	char	   *app = NULL;
	char	   *since = NULL;

	values[0] = Int32GetDatum(pid);
	ret = SPI_execute_with_args("SELECT application_name,"
								" pg_catalog.to_char(xact_start AT TIME ZONE 'UTC',"
								" 'YYYY-MM-DD HH24:MI:SS \"UTC\"')"
								" FROM pg_catalog.pg_stat_activity"
								" WHERE pid OPERATOR(pg_catalog.=) $1",
								1, argtypes, values, NULL, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		app = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		since = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	if (since != NULL)
		return psprintf("pid %d (application_name \"%s\", in a transaction since %s)",
						pid, app ? app : "", since);
	return psprintf("pid %d", pid);
}

/*
 * pgs_holders_remain
 *		Whether any of the sessions in "pids" still holds a lock on relid.
 */
bool
pgs_holders_remain(List *pids, Oid relid)
{
	List	   *now = pgs_lock_holders(relid);
	ListCell   *lc;

	foreach(lc, pids)
	{
		if (list_member_int(now, lfirst_int(lc)))
			return true;
	}
	return false;
}

/*
 * run_guarded
 *		pgs_run_guarded; lockrel, when valid, is the relation the step needs
 *		ACCESS EXCLUSIVE on (see pgs_run_guarded_locking).
 */
static bool
run_guarded(PgsAction action, void *arg, Oid lockrel, ErrorData **error)
{
	volatile int attempt;
	List	   *volatile holders = NIL;

	for (attempt = 0;; attempt++)
	{
		MemoryContext oldcontext = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;
		ErrorData  *volatile edata = NULL;
		int			save_nestlevel;
		char		timeout[32];
		volatile bool timed = step_timeout_ms > 0 && guard_depth == 0;
		volatile TimestampTz deadline = 0;
		volatile bool timed_out = false;

		CHECK_FOR_INTERRUPTS();

		save_nestlevel = NewGUCNestLevel();
		snprintf(timeout, sizeof(timeout), "%dms", pgscale_lock_timeout);
		(void) set_config_option("lock_timeout", timeout,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcontext);

		guard_depth++;
		if (timed)
		{
			deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   step_timeout_ms);
			enable_timeout_after(STATEMENT_TIMEOUT, step_timeout_ms);
		}
		PG_TRY();
		{
			action(arg);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(oldcontext);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
		}
		PG_END_TRY();
		guard_depth--;

		if (timed)
		{
			disable_timeout(STATEMENT_TIMEOUT, false);

			/*
			 * The timer may have fired just as the step ended, leaving a
			 * cancel pending that is not meant for what follows.
			 */
			if (get_timeout_indicator(STATEMENT_TIMEOUT, true) && edata == NULL)
				QueryCancelPending = false;
			timed_out = edata != NULL &&
				edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
				GetCurrentTimestamp() >= deadline;
		}

		/*
		 * Every setting made during the step goes, as after VACUUM's and
		 * ANALYZE's calls into owner code: a trigger's set_config(..., false)
		 * must not outlive the step in the session of whoever runs the
		 * maintenance (a search_path left there would run the owner's
		 * functions with that session's rights).
		 */
		AtEOXact_GUC(false, save_nestlevel);

		if (edata == NULL)
			return true;

		if (timed_out)
		{
			edata->detail = psprintf("The step ran longer than %d ms, the limit of one step of maintenance.",
									 step_timeout_ms);
			edata->hint = pstrdup("Raise pgscale.step_timeout (and statement_timeout, when it is lower) "
								  "or lower batch_size; the next run retries.");
			*error = edata;
			return false;
		}

		/* never swallow a cancel, a statement timeout or a shutdown */
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
			edata->sqlerrcode == ERRCODE_CRASH_SHUTDOWN ||
			edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
			ReThrowError(edata);

		if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE &&
			OidIsValid(lockrel))
		{
			/*
			 * Wait for the sessions that held the lock to let go, through
			 * the retries' pauses, without queueing for it meanwhile.
			 */
			holders = pgs_lock_holders(lockrel);
			while (holders != NIL && attempt < pgscale_lock_retries)
			{
				long		pause = Min((long) pgscale_lock_timeout * (attempt + 1), 10000L);
				long		waited;

				for (waited = 0; waited < pause; waited += 100)
				{
					pgs_wait(Min(100L, pause - waited));
					if (!pgs_holders_remain(holders, lockrel))
						break;
				}
				attempt++;
				if (!pgs_holders_remain(holders, lockrel))
				{
					holders = NIL;
					break;
				}
			}
			if (holders == NIL && attempt <= pgscale_lock_retries)
			{
				FreeErrorData(edata);
				continue;
			}
			if (holders != NIL)
			{
				edata->detail = psprintf("%s holds a lock on %s.",
										 pgs_describe_holder(linitial_int(holders)),
										 pgs_display_name(lockrel));
				edata->hint = pstrdup("The step gave way to that session; the next run tries again.");
			}
		}
		else if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE &&
				 attempt < pgscale_lock_retries)
		{
			FreeErrorData(edata);
			/* back off: 1x, 2x, 3x ... the lock timeout, at most 10 s */
			pgs_wait(Min((long) pgscale_lock_timeout * (attempt + 1), 10000L));
			continue;
		}

		*error = edata;
		return false;
	}
}

/* What pgs_run_guarded_as hands to pgs_run_guarded. */
typedef struct AsOwnerStep
{
	Oid			relid;
	PgsAction	action;
	void	   *arg;
} AsOwnerStep;

static void
as_owner_step(void *arg)
{
	AsOwnerStep *step = (AsOwnerStep *) arg;
	Oid			save_userid;
	int			save_sec;

	HeapTuple	tuple;
	Oid			owner;

	/*
	 * A relation dropped since it was listed has no owner any more: the
	 * step then runs restricted as the current user, and finds that the
	 * relation is gone (every step checks once it holds its lock).
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	owner = save_userid;
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(step->relid));
	if (HeapTupleIsValid(tuple))
	{
		owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
	}
	SetUserIdAndSecContext(owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	step->action(step->arg);
	/* on an error, the subtransaction's abort restores the user */
	SetUserIdAndSecContext(save_userid, save_sec);
}

/*
 * pgs_run_guarded_as
 *		pgs_run_guarded, with the step acting as the owner of relid under
 *		SECURITY_RESTRICTED_OPERATION, the way VACUUM, ANALYZE and CLUSTER
 *		act on a table: whatever of the owner's code the step runs
 *		(triggers, CHECK and index expressions, default expressions) runs
 *		with the owner's rights, never with those of the caller or of the
 *		worker's superuser, and cannot change the session (SET ROLE,
 *		temporary objects; settings it changes are undone at the end of the
 *		step).  The caller has already checked that it may act on relid.
 */
bool
pgs_run_guarded_as(Oid relid, PgsAction action, void *arg, ErrorData **error)
{
	AsOwnerStep step;

	step.relid = relid;
	step.action = action;
	step.arg = arg;
	return pgs_run_guarded(as_owner_step, &step, error);
}

/*
 * pgs_run_guarded_locking
 *		pgs_run_guarded_as, for a step that needs ACCESS EXCLUSIVE on
 *		lockrel (a partition drop locks the parent).  When the step times
 *		out on its lock, the sessions holding lockrel are looked up, and it
 *		is tried again only once they have let go: it waits for them
 *		without queueing, so that one long reader (a nightly pg_dump) costs
 *		the application one stall of pgscale.lock_timeout, not one per
 *		retry.  When they still hold it after the retries' pauses, the step
 *		fails with a message naming them.
 */
bool
pgs_run_guarded_locking(Oid relid, Oid lockrel, PgsAction action, void *arg,
						ErrorData **error)
{
	AsOwnerStep step;

	step.relid = relid;
	step.action = action;
	step.arg = arg;
	return run_guarded(as_owner_step, &step, lockrel, error);
}

/*
 * pgs_current_source
 *		Who is running this maintenance: pgscale's worker, pg_cron, or a
 *		person.  pg_cron runs jobs either over libpq with application_name
 *		"pg_cron" or in background workers whose type names pg_cron.
 */
PgsSource
pgs_current_source(void)
{
	const char *appname;

	if (pgs_worker_cycle != NULL)
		return PGS_SOURCE_WORKER;
	if (MyBgworkerEntry != NULL &&
		(strstr(MyBgworkerEntry->bgw_type, "pg_cron") != NULL ||
		 strstr(MyBgworkerEntry->bgw_name, "pg_cron") != NULL))
		return PGS_SOURCE_CRON;
	appname = GetConfigOption("application_name", true, false);
	if (appname != NULL && strncmp(appname, "pg_cron", 7) == 0)
		return PGS_SOURCE_CRON;
	return PGS_SOURCE_MANUAL;
}

const char *
pgs_source_name(PgsSource source)
{
	switch (source)
	{
		case PGS_SOURCE_WORKER:
			return "worker";
		case PGS_SOURCE_CRON:
			return "cron";
		case PGS_SOURCE_MANUAL:
			break;
	}
	return "manual";
}

#ifdef PGSCALE_NEED_MATERIALIZED_SRF
/*
 * pgs_init_materialized_srf_flags
 *		Before 15, set up a materialized set-returning call by hand (what
 *		InitMaterializedSRF() does since): a tuplestore in the per-query
 *		context and the result descriptor, declared or expected.
 */
void
pgs_init_materialized_srf_flags(FunctionCallInfo fcinfo, bool expected)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set"),
				 errhint("Call it in the FROM clause.")));

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (expected)
	{
		if (rsinfo->expectedDesc == NULL)
			elog(ERROR, "no expected tuple descriptor for a set-returning call");
		tupdesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	}
	else if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcontext);
}
#endif
