/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  One maintenance cycle for the current database: what the background
 *	  worker runs, and what pg_cron runs with
 *	  SELECT pgscale_run_maintenance() or CALL pgscale_run_maintenance_proc().
 *
 *	  For every enabled policy: premake the monthly partitions it asks for,
 *	  enforce its retention exactly as pgscale_cleanup() does, and ANALYZE
 *	  what changed; then take the daily size snapshot when one is due and
 *	  prune pgscale_log.  A failing table is logged and skipped while the
 *	  others go on.  An advisory lock keeps two cycles (a person, pg_cron,
 *	  the worker) from running at once in one database: the second one
 *	  skips with a notice.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"

PG_FUNCTION_INFO_V1(pgscale_run_maintenance);
PG_FUNCTION_INFO_V1(pgscale_run_maintenance_proc);

/*
 * The lock of a real cycle (pgscale.h: PGSCALE_LOCK_*) is an advisory lock
 * tag of a class of its own, which no advisory lock function can take or
 * wait for: no role can keep the cycles from running by holding it.
 */

/* One line of a cycle's report. */
typedef struct CycleAction
{
	Oid			relid;
	const char *action;
	char	   *object;
	int64		rows;
	bool		rows_known;
	char	   *detail;
} CycleAction;

typedef struct Cycle
{
	bool		dry_run;
	bool		nonatomic;
	bool		skipped;		/* did not run: locked out or in recovery */
	bool		respect_window; /* purge only in pgscale.maintenance_window */
	bool		outside_window; /* a purge waited for the window */
	List	   *actions;
} Cycle;

static void
report(Cycle *cycle, Oid relid, const char *action, char *object,
	   int64 rows, bool rows_known, char *detail)
{
	CycleAction *a = palloc0(sizeof(CycleAction));

	a->relid = relid;
	a->action = action;
	a->object = object;
	a->rows = rows;
	a->rows_known = rows_known;
	a->detail = detail;
	cycle->actions = lappend(cycle->actions, a);
}

/*
 * cycle_lock
 *		Take (or release) the cycle's advisory lock without waiting.  In a
 *		procedure it is a session lock, since it must outlive the commits;
 *		in a function a transaction lock.
 */
static bool
cycle_lock(bool session, bool release)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, PGSCALE_LOCK_KEY1, PGSCALE_LOCK_KEY2,
						 PGSCALE_LOCK_CLASS);
	if (release)
		return LockRelease(&tag, ExclusiveLock, session);
	return LockAcquire(&tag, ExclusiveLock, session, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* ---------- premake ---------- */

typedef struct PremakeStep
{
	PgsPolicy  *pol;
	bool		dry_run;
	List	   *created;
} PremakeStep;

static void
premake_step(void *arg)
{
	PremakeStep *step = (PremakeStep *) arg;
	char	   *keycol;
	Oid			keytype;
	const char *tz;
	int			first;
	int			last;

	pgs_check_month_partitioned(step->pol->relid, &keycol, &keytype);
	tz = step->pol->time_zone ? step->pol->time_zone : "UTC";
	pgs_premake_range(step->pol->relid, keytype, tz, step->pol->premake_months,
					  false, 0, &first, &last);
	step->created = pgs_create_month_partitions(step->pol->relid, first, last,
												keycol, keytype, tz,
												step->dry_run);
}

static bool
premake(Cycle *cycle, PgsPolicy *pol)
{
	PremakeStep step;
	ErrorData  *edata = NULL;
	ListCell   *lc;
	bool		changed = false;

	memset(&step, 0, sizeof(step));
	step.pol = pol;
	step.dry_run = cycle->dry_run;
	if (!pgs_run_guarded_as(pol->relid, premake_step, &step, &edata))
	{
		char	   *msg = psprintf("premake: %s", edata->message);

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("pgscale could not premake the partitions of %s: %s",
						pgs_display_name(pol->relid), edata->message)));
		if (!cycle->dry_run)
			pgs_log_action(pol->relid, "error", NULL, 0, false,
						   GetCurrentTimestamp(), msg);
		report(cycle, pol->relid, "error", NULL, 0, false, msg);
		FreeErrorData(edata);
		return false;
	}
	foreach(lc, step.created)
	{
		PgsNewPartition *np = (PgsNewPartition *) lfirst(lc);

		if (np->error != NULL)
			report(cycle, pol->relid, "error", NULL, 0, false, np->error);
		else
		{
			report(cycle, pol->relid, "create_partition", np->name, np->moved,
				   np->moved > 0, cycle->dry_run ? "dry run" : NULL);
			changed = true;
		}
	}
	return changed;
}

/* ---------- ANALYZE ---------- */

static void
analyze_step(void *arg)
{
	Oid			relid = *(Oid *) arg;

	if (SPI_execute(psprintf("ANALYZE %s", pgs_qualified_name(relid)), false, 0) < 0)
		elog(ERROR, "ANALYZE failed");
}

static void
analyze(Cycle *cycle, Oid relid)
{
	ErrorData  *edata = NULL;
	TimestampTz started = GetCurrentTimestamp();

	if (!pgs_run_guarded_as(relid, analyze_step, &relid, &edata))
	{
		char	   *msg = psprintf("analyze: %s", edata->message);

		pgs_log_action(relid, "error", NULL, 0, false, started, msg);
		report(cycle, relid, "error", NULL, 0, false, msg);
		FreeErrorData(edata);
		return;
	}
	pgs_log_action(relid, "analyze", NULL, 0, false, started, NULL);
	report(cycle, relid, "analyze", NULL, 0, false, NULL);
}

/* ---------- size snapshot ---------- */

static void
snapshot_step(void *arg)
{
	int64	   *rows = (int64 *) arg;
	const char *schema = get_namespace_name(pgs_extension_schema());
	const char *history;
	Oid			save_userid;
	int			save_sec;

	/*
	 * A snapshot is due when the newest is 24 hours old.  pgscale_inventory,
	 * written by every snapshot, says when that was; a database whose
	 * extension predates it has only the size history.
	 */
	if (OidIsValid(get_relname_relid("pgscale_inventory", pgs_catalog_schema())))
		history = pgs_ext_table("pgscale_inventory");
	else
		history = pgs_ext_table("pgscale_size_history");

	/* the history is written as the extension owner, like the log */
	pgs_become_owner(&save_userid, &save_sec);
	if (pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM %s"
							  " WHERE taken_at OPERATOR(pg_catalog.>)"
							  " (pg_catalog.now() OPERATOR(pg_catalog.-) '24 hours'::pg_catalog.interval)",
							  history), 0, NULL, NULL, NULL, false) == 0)
		*rows = pgs_spi_int8(psprintf("SELECT %s()",
									  quote_qualified_identifier(schema, "pgscale_snapshot_sizes")),
							 0, NULL, NULL, NULL, false);
	else
		*rows = -1;
	pgs_restore_user(save_userid, save_sec);
}

/*
 * snapshot_sizes
 *		Take the daily size snapshot (pgscale_snapshot_sizes()) when the
 *		last one is older than 24 hours (not "1 day", which is 23 or
 *		25 hours on the days the session's time zone changes its offset).
 */
static void
snapshot_sizes(Cycle *cycle)
{
	ErrorData  *edata = NULL;
	int64		rows = -1;
	Oid			history;

	history = get_relname_relid("pgscale_size_history", pgs_catalog_schema());
	if (!OidIsValid(history) || cycle->dry_run || RecoveryInProgress())
		return;
	if (!pgs_run_guarded(snapshot_step, &rows, &edata))
	{
		char	   *msg = psprintf("size snapshot: %s", edata->message);

		pgs_log_action(history, "error", NULL, 0, false, GetCurrentTimestamp(), msg);
		report(cycle, InvalidOid, "error", NULL, 0, false, msg);
		FreeErrorData(edata);
		return;
	}
	if (rows >= 0)
		report(cycle, InvalidOid, "snapshot_sizes", NULL, rows, true, NULL);
}

/* ---------- the cycle ---------- */

static void
commit_between_policies(Cycle *cycle)
{
	if (cycle->nonatomic)
		pgs_spi_commit();
}

/*
 * skip_not_owner
 *		A policy on a table the role running the cycle does not own cannot
 *		be maintained: that is a failure of the policy, not a success.  It
 *		is warned about with a hint naming the owner, logged as an error in
 *		pgscale_log (so pgscale_health() counts the policy as failing), and
 *		counted in the cycle's errors (and so in pgscale_worker_status()).
 */
static void
skip_not_owner(Cycle *cycle, Oid relid)
{
	char	   *role = GetUserNameFromId(GetUserId(), false);
	HeapTuple	tuple;
	char	   *owner = NULL;
	char	   *msg;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tuple))
	{
		owner = GetUserNameFromId(((Form_pg_class) GETSTRUCT(tuple))->relowner, true);
		ReleaseSysCache(tuple);
	}
	msg = psprintf("skipped: role \"%s\" does not own the table; run maintenance as \"%s\" or a member of it",
				   role, owner ? owner : "the table's owner");
	ereport(WARNING,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("pgscale maintenance skipped table %s: role \"%s\" does not own it",
					pgs_display_name(relid), role),
			 errhint("Run maintenance as role \"%s\" (the table's owner) or as a member of it: "
					 "set pgscale.role, or the pg_cron job's user.",
					 owner ? owner : "the table's owner")));
	if (!cycle->dry_run)
		pgs_log_action(relid, "error", NULL, 0, false, GetCurrentTimestamp(), msg);
	report(cycle, relid, "error", NULL, 0, false, msg);
}

/* One policy in a cycle. */
typedef struct PolicyRun
{
	PgsPolicy  *pol;
	bool		usable;			/* the table exists and the role owns it */
	bool		changed;		/* partitions made or dropped, rows moved */
} PolicyRun;

/*
 * policy_premake
 *		The first pass of a cycle, for one policy: check that it can be
 *		maintained, and premake its partitions.  Premake runs for every
 *		policy before any retention, so that however long the purges take,
 *		or however they fail, next month's partitions exist.
 */
static void
policy_premake(Cycle *cycle, PolicyRun *pr)
{
	PgsPolicy  *pol = pr->pol;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(pol->relid)))
		return;					/* dropped meanwhile */
	if (!pgs_owns(pol->relid))
	{
		skip_not_owner(cycle, pol->relid);
		return;
	}
	pr->usable = true;

	/* partitions made: the parent's statistics are stale */
	if (pol->premake_months >= 0)
		pr->changed |= premake(cycle, pol);
}

/*
 * policy_retention
 *		The second pass, for one policy: retention, then ANALYZE of what
 *		changed.
 */
static void
policy_retention(Cycle *cycle, PolicyRun *pr)
{
	PgsPolicy  *pol = pr->pol;
	bool		changed = pr->changed;
	ListCell   *lc;

	if (!pr->usable ||
		!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(pol->relid)))
		return;

	if (pol->has_retention && !pol->is_protected && pol->time_column != NULL &&
		cycle->respect_window && !pgs_window_open())
	{
		/* premake ran in the first pass; the purge waits for the window */
		report(cycle, pol->relid, "skipped", NULL, 0, false,
			   psprintf("%s%s", pgs_window_skip(pol->relid, cycle->dry_run),
						cycle->dry_run ? ", dry run" : ""));
		cycle->outside_window = true;
	}
	else if (pol->has_retention && !pol->is_protected && pol->time_column != NULL)
	{
		PgsRetentionResult res;

		pgs_apply_retention(pol, cycle->dry_run, cycle->nonatomic,
							cycle->respect_window, &res);
		foreach(lc, res.errors)
			report(cycle, pol->relid, "error", NULL, 0, false, (char *) lfirst(lc));
		report(cycle, pol->relid, "retention", NULL, res.rows_deleted, true,
			   psprintf("%d partitions dropped, cutoff %s%s%s%s",
						res.partitions_dropped, timestamptz_to_str(res.cutoff),
						res.rows_cascaded > 0 ?
						psprintf(", " INT64_FORMAT " referencing rows deleted by the cascade",
								 res.rows_cascaded) : "",
						res.window_closed ?
						", window closed: the rest is left for the next window" : "",
						cycle->dry_run ? ", dry run" : ""));
		cycle->outside_window |= res.window_closed;
		changed |= res.partitions_dropped > 0;

		/*
		 * A table or partition that lost a good share of its rows gets
		 * fresh statistics now; small trims are left to autovacuum, as it
		 * would judge them (a tenth of the rows).
		 */
		if (!cycle->dry_run)
		{
			foreach(lc, res.trimmed)
			{
				PgsTrimmed *t = (PgsTrimmed *) lfirst(lc);

				if (t->rows < 1000 ||
					t->rows < 0.1 * Max(pgs_estimated_rows(t->relid), 0))
					continue;
				if (t->relid == pol->relid)
					changed = true;
				else
					analyze(cycle, t->relid);
			}
			pgs_vacuum_purged(res.trimmed, pgs_policy_vacuums(pol) && !res.vacuumed,
							  cycle->nonatomic);
		}
	}

	/* the managed table itself (for a partitioned one, with its partitions) */
	if (changed && !cycle->dry_run)
		analyze(cycle, pol->relid);
}

/*
 * run_policies
 *		Premake for every enabled policy, then retention for each.
 */
static void
run_policies(Cycle *cycle)
{
	List	   *policies;
	List	   *runs = NIL;
	List	   *partitioned = NIL;
	ListCell   *lc;
	Oid			save_userid;
	int			save_sec;

	/*
	 * A scheduled cycle (the worker's, pg_cron's) takes every policy,
	 * including those row security hides from its role: a policy that role
	 * cannot maintain is an error of that policy (skip_not_owner), never
	 * silently passed over.  A cycle run by hand takes the policies its
	 * role sees, those of its own tables.
	 */
	if (pgs_current_source() != PGS_SOURCE_MANUAL)
	{
		pgs_become_owner(&save_userid, &save_sec);
		policies = pgs_load_policies(InvalidOid);
		pgs_restore_user(save_userid, save_sec);
	}
	else
		policies = pgs_load_policies(InvalidOid);

	foreach(lc, policies)
	{
		PgsPolicy  *pol = (PgsPolicy *) lfirst(lc);
		PolicyRun  *pr;

		CHECK_FOR_INTERRUPTS();
		if (!pol->enabled)
			continue;
		pr = palloc0(sizeof(PolicyRun));
		pr->pol = pol;
		policy_premake(cycle, pr);
		commit_between_policies(cycle);
		runs = lappend(runs, pr);
	}

	foreach(lc, runs)
	{
		PolicyRun  *pr = (PolicyRun *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();

		/*
		 * In one transaction (the function form), a dropped partition
		 * keeps its parent ACCESS EXCLUSIVE locked until the caller
		 * commits: partitioned tables go last, so that their drops are the
		 * cycle's last work and reads of the parent wait only for them, not
		 * for every other table.
		 */
		if (!cycle->nonatomic &&
			get_rel_relkind(pr->pol->relid) == RELKIND_PARTITIONED_TABLE)
		{
			partitioned = lappend(partitioned, pr);
			continue;
		}
		policy_retention(cycle, pr);
		commit_between_policies(cycle);
	}

	snapshot_sizes(cycle);
	if (!cycle->dry_run)
	{
		int64		pruned = pgs_log_prune();

		report(cycle, InvalidOid, "prune_log", NULL, pruned, true, NULL);
	}

	foreach(lc, partitioned)
	{
		CHECK_FOR_INTERRUPTS();
		policy_retention(cycle, (PolicyRun *) lfirst(lc));
	}
}

/*
 * run_cycle
 *		The whole cycle; returns its report, or NIL (with a notice) when
 *		another cycle holds the lock.  SPI must be connected.
 */
static List *
run_cycle(Cycle *cycle)
{
	bool		session_lock = cycle->nonatomic;

	if (RecoveryInProgress())
	{
		ereport(NOTICE,
				(errmsg("pgscale maintenance skipped: the server is in recovery"),
				 errhint("A standby is maintained through its primary; the cycle runs after promotion.")));
		cycle->skipped = true;
		return NIL;
	}
	/*
	 * A dry run changes nothing, so it may overlap anything and takes no
	 * lock: an open dry run must not keep the real cycles out.
	 */
	if (!cycle->dry_run && !cycle_lock(session_lock, false))
	{
		ereport(NOTICE,
				(errmsg("pgscale maintenance skipped: another cycle is running in this database"),
				 errhint("Cycles started by hand, by pg_cron and by the worker never overlap; the next one will run as scheduled.")));
		cycle->skipped = true;
		return NIL;
	}

	PG_TRY();
	{
		if (cycle->nonatomic)
		{
			pgs_begin_step_timeouts();
			commit_between_policies(cycle);
		}
		run_policies(cycle);
	}
	PG_FINALLY();
	{
		pgs_end_step_timeouts();
		if (session_lock && !cycle->dry_run)
			(void) cycle_lock(true, true);
	}
	PG_END_TRY();

	return cycle->actions;
}

/*
 * report_skip_to_cron
 *		pg_cron records a run that ended with a NOTICE as "succeeded", like
 *		a real one: a cycle pg_cron started that skipped because another
 *		held the lock fails instead, so cron.job_run_details shows it.
 *		Called after the cycle, so nothing is left to undo.
 */
static void
report_skip_to_cron(Cycle *cycle)
{
	if (!cycle->skipped || RecoveryInProgress() ||
		pgs_current_source() != PGS_SOURCE_CRON)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("pgscale maintenance skipped: another cycle is running in this database"),
			 errhint("The next scheduled run will do the work; see pgscale_worker_status() "
					 "and pg_locks for the cycle holding the lock.")));
}

/*
 * read_respect_window
 *		The respect_window argument (absent from the 0.1.0 signatures); the
 *		background worker respects the window whatever it passes.
 */
static void
read_respect_window(FunctionCallInfo fcinfo, Cycle *cycle)
{
	if (PG_NARGS() > 1)
	{
		pgs_require_arg(fcinfo, 1, "respect_window",
						"Pass true to purge only inside pgscale.maintenance_window, false to ignore it.");
		cycle->respect_window = PG_GETARG_BOOL(1);
	}
	if (pgs_current_source() == PGS_SOURCE_WORKER)
		cycle->respect_window = true;
}

/*
 * pgscale_run_maintenance(dry_run boolean DEFAULT false,
 *						   respect_window boolean DEFAULT false)
 *		One cycle in the caller's transaction (each policy in a
 *		subtransaction of its own steps); one row per action.
 */
Datum
pgscale_run_maintenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Cycle		cycle;
	ListCell   *lc;

	pgs_require_arg(fcinfo, 0, "dry_run",
					"Pass true to preview, false to run the cycle.");
	memset(&cycle, 0, sizeof(cycle));
	cycle.dry_run = PG_GETARG_BOOL(0);
	read_respect_window(fcinfo, &cycle);

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();
	(void) run_cycle(&cycle);
	report_skip_to_cron(&cycle);
	foreach(lc, cycle.actions)
	{
		CycleAction *a = (CycleAction *) lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = ObjectIdGetDatum(a->relid);
		nulls[0] = !OidIsValid(a->relid);
		values[1] = CStringGetTextDatum(a->action);
		if (a->object)
			values[2] = CStringGetTextDatum(a->object);
		else
			nulls[2] = true;
		values[3] = Int64GetDatum(a->rows);
		nulls[3] = !a->rows_known;
		if (a->detail)
			values[4] = CStringGetTextDatum(a->detail);
		else
			nulls[4] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * pgscale_run_maintenance_proc(dry_run boolean DEFAULT false,
 *								respect_window boolean DEFAULT false)
 *		CALL form: each policy in its own transaction, and retention
 *		committing per batch.  What the worker runs, always respecting the
 *		maintenance window.
 */
Datum
pgscale_run_maintenance_proc(PG_FUNCTION_ARGS)
{
	Cycle		cycle;
	ListCell   *lc;
	PgsCycleResult result;
	int			nactions;

	pgs_require_arg(fcinfo, 0, "dry_run",
					"Pass true to preview, false to run the cycle.");
	memset(&cycle, 0, sizeof(cycle));
	cycle.dry_run = PG_GETARG_BOOL(0);
	read_respect_window(fcinfo, &cycle);
	cycle.nonatomic = fcinfo->context != NULL &&
		IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	SPI_connect_ext(cycle.nonatomic ? SPI_OPT_NONATOMIC : 0);
	(void) run_cycle(&cycle);
	memset(&result, 0, sizeof(result));
	foreach(lc, cycle.actions)
	{
		CycleAction *a = (CycleAction *) lfirst(lc);

		if (strcmp(a->action, "error") != 0)
			continue;
		result.errors++;
		if (a->detail != NULL)
			strlcpy(result.last_error, a->detail, PGS_LAST_ERROR_LEN);
	}

	/*
	 * The actions live in SPI's procedure context, which SPI_finish
	 * deletes: count them first.
	 */
	nactions = list_length(cycle.actions);
	cycle.actions = NIL;
	SPI_finish();

	result.skipped = cycle.skipped;
	result.outside_window = cycle.outside_window;
	if (pgs_worker_cycle != NULL)
		*pgs_worker_cycle = result;
	report_skip_to_cron(&cycle);
	if (nactions > 0 && cycle.dry_run)
		ereport(NOTICE,
				(errmsg("pgscale maintenance: %d actions, %d errors (dry run)",
						nactions, result.errors)));
	else if (nactions > 0)
		ereport(NOTICE,
				(errmsg("pgscale maintenance: %d actions, %d errors",
						nactions, result.errors)));
	PG_RETURN_VOID();
}
