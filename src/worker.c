/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker: a launcher, started with the server when
 *	  pgscale is preloaded, that starts one short-lived worker per database
 *	  listed in pgscale.databases every pgscale.naptime seconds (at most
 *	  pgscale.max_workers at once).  Each worker runs
 *	  CALL pgscale_run_maintenance_proc() in its database as pgscale.role
 *	  and exits; a database without the extension is skipped quietly and
 *	  picked up once the extension is created.
 *
 *	  The launcher starts only once recovery has finished, so a hot standby
 *	  writes nothing and a promoted standby takes over.  Its state, and
 *	  each database's last cycle, live in shared memory for
 *	  pgscale_worker_status() (worker_status.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "pgscale.h"
#include "worker.h"

PGDLLEXPORT void pgscale_launcher_main(Datum main_arg);
PGDLLEXPORT void pgscale_worker_main(Datum main_arg);

/* After a failed or killed cycle, wait this long (or the naptime if shorter). */
#define PGS_RETRY_DELAY_MS (60 * 1000)

/*
 * A worker that exits before it reports that it runs (it could not
 * connect) is retried after 1 s, 2 s, 4 s ... up to PGS_RETRY_DELAY_MS.
 */
#define PGS_FIRST_BACKOFF_MS 1000

/*
 * A worker registered by a launcher that is gone, whose process has not
 * recorded its PID after this long, is taken as never started.
 */
#define PGS_START_GRACE_MS (10 * 1000)


static PgsWorkerShared *shared = NULL;

/*
 * pgs_worker_shared
 *		The launcher's and the workers' state in shared memory, NULL when
 *		pgscale is not preloaded.
 */
PgsWorkerShared *
pgs_worker_shared(void)
{
	return shared;
}

#ifdef PGSCALE_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* ---------- shared memory ---------- */

static void
pgs_shmem_request(void)
{
#ifdef PGSCALE_HAVE_SHMEM_REQUEST_HOOK
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(MAXALIGN(sizeof(PgsWorkerShared)));
	RequestNamedLWLockTranche("pgscale", 1);
}

static void
pgs_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pgscale", sizeof(PgsWorkerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(PgsWorkerShared));
		shared->lock = &(GetNamedLWLockTranche("pgscale"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * pgs_worker_init
 *		From _PG_init while preloading: reserve shared memory and register
 *		the launcher.
 */
void
pgs_worker_init(void)
{
	BackgroundWorker worker;

#ifdef PGSCALE_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgs_shmem_request;
#else
	pgs_shmem_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgs_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgscale");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgscale_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgscale launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgscale launcher");
	RegisterBackgroundWorker(&worker);
}

/* ---------- the launcher ---------- */

/* Handles of the workers this launcher started, by slot. */
static BackgroundWorkerHandle *handles[PGS_MAX_DATABASES];

/*
 * Slots whose worker a previous launcher started (it was terminated or
 * failed while the worker ran): without a handle, the worker's liveness is
 * checked through the PID it recorded in shared memory.
 */
static bool adopted[PGS_MAX_DATABASES];

/*
 * note_problem
 *		Record why a database gets no cycle (outcome and last error) and when
 *		to look again; the reason goes to the server log once, not once per
 *		try, until a worker of that database runs again.
 */
static void
note_problem(int slot, const char *outcome, const char *detail, int64 delay_us)
{
	PgsDbState *db = &shared->db[slot];
	TimestampTz now = GetCurrentTimestamp();
	bool		new_problem;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	strlcpy(db->outcome, outcome, sizeof(db->outcome));
	strlcpy(db->last_error, detail, sizeof(db->last_error));
	db->last_error_at = now;
	db->next_run = now + delay_us;
	new_problem = strcmp(db->problem, detail) != 0;
	if (new_problem)
		strlcpy(db->problem, detail, sizeof(db->problem));
	LWLockRelease(shared->lock);

	if (new_problem)
		ereport(LOG,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgscale launcher cannot maintain database \"%s\": %s",
						db->dbname, detail),
				 errhint("Fix the cause or remove the database from pgscale.databases; "
						 "the launcher looks again at most every minute.")));
}

/* The wait before the next try after "failures" start failures in a row. */
static int64
backoff_us(int failures)
{
	int64		ms = PGS_FIRST_BACKOFF_MS;

	while (--failures > 0 && ms < PGS_RETRY_DELAY_MS)
		ms *= 2;
	return Min(ms, (int64) PGS_RETRY_DELAY_MS) * 1000;
}

/*
 * The wait before the next cycle after "failures" failed or killed cycles
 * in a row: the naptime or a minute, whichever is shorter, doubled after
 * each further failure, and never over a minute.
 */
static int64
retry_us(int failures)
{
	int64		us = Min((int64) pgscale_naptime * USECS_PER_SEC,
						 (int64) PGS_RETRY_DELAY_MS * 1000);

	while (--failures > 0 && us < (int64) PGS_RETRY_DELAY_MS * 1000)
		us *= 2;
	return Min(us, (int64) PGS_RETRY_DELAY_MS * 1000);
}

/*
 * database_names
 *		pgscale.databases as a list of names (quoted names allowed).
 */
static List *
database_names(void)
{
	char	   *raw = pstrdup(pgscale_databases ? pgscale_databases : "");
	List	   *names = NIL;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(LOG,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pgscale.databases is not a valid list of database names"),
				 errhint("Separate the names with commas; quote names with capitals or commas.")));
		return NIL;
	}
	return names;
}

/* Slot of a database, creating it if needed; -1 when full. */
static int
slot_for(const char *dbname)
{
	int			i;
	int			free_slot = -1;

	for (i = 0; i < PGS_MAX_DATABASES; i++)
	{
		if (shared->db[i].in_use && strcmp(shared->db[i].dbname, dbname) == 0)
			return i;
		if (!shared->db[i].in_use && !shared->db[i].running && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
	{
		PgsDbState *db = &shared->db[free_slot];

		memset(db, 0, sizeof(PgsDbState));
		db->in_use = true;
		strlcpy(db->dbname, dbname, NAMEDATALEN);
		db->next_run = GetCurrentTimestamp();
		strlcpy(db->outcome, "waiting", sizeof(db->outcome));
	}
	return free_slot;
}

/*
 * launch
 *		Start the worker of one slot.  Returns false when no background
 *		worker slot is free (max_worker_processes).
 */
static bool
launch(int slot, Oid dboid, Oid roleoid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext oldcxt;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pgscale");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgscale_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pgscale worker for database %s",
			 shared->db[slot].dbname);
	snprintf(worker.bgw_type, BGW_MAXLEN, "pgscale worker");
	worker.bgw_main_arg = Int32GetDatum(slot);
	memcpy(worker.bgw_extra, &dboid, sizeof(Oid));
	memcpy(worker.bgw_extra + sizeof(Oid), &roleoid, sizeof(Oid));
	worker.bgw_notify_pid = MyProcPid;

	/* marked first, so that a worker that starts at once finds its slot set */
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->db[slot].running = true;
	shared->db[slot].pid = 0;
	shared->db[slot].launched_at = GetCurrentTimestamp();
	strlcpy(shared->db[slot].outcome, "starting", sizeof(shared->db[slot].outcome));
	LWLockRelease(shared->lock);

	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(oldcxt);
	if (!ok)
	{
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		shared->db[slot].running = false;
		strlcpy(shared->db[slot].outcome, "waiting", sizeof(shared->db[slot].outcome));
		LWLockRelease(shared->lock);
		return false;
	}
	handles[slot] = handle;
	adopted[slot] = false;
	return true;
}

/* The naptime in microseconds. */
static int64
naptime_us(void)
{
	return (int64) pgscale_naptime * USECS_PER_SEC;
}

/*
 * adopt_running_workers
 *		At launcher start: the databases shown running were started by a
 *		previous launcher, whose handles are gone.  Watch them through their
 *		PIDs, so that their end is noticed and they do not stay "running"
 *		forever.
 */
static void
adopt_running_workers(void)
{
	int			i;

	LWLockAcquire(shared->lock, LW_SHARED);
	for (i = 0; i < PGS_MAX_DATABASES; i++)
		adopted[i] = shared->db[i].running;
	LWLockRelease(shared->lock);
}

/*
 * adopted_worker_stopped
 *		Whether the worker of an adopted slot has ended: its recorded process
 *		is gone, or it never recorded one within PGS_START_GRACE_MS.
 */
static bool
adopted_worker_stopped(int slot, TimestampTz now)
{
	PgsDbState *db = &shared->db[slot];
	int			pid;
	TimestampTz launched_at;

	LWLockAcquire(shared->lock, LW_SHARED);
	pid = db->pid;
	launched_at = db->launched_at;
	LWLockRelease(shared->lock);
	if (pid != 0)
		return kill(pid, 0) != 0;
	return now - launched_at > (int64) PGS_START_GRACE_MS * 1000;
}

/*
 * reap
 *		Notice workers that ended and schedule their next cycle: a naptime
 *		after a cycle that ran, sooner after one that failed or was killed,
 *		and a growing back-off after a worker that could not even start.
 */
static void
reap(void)
{
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	for (i = 0; i < PGS_MAX_DATABASES; i++)
	{
		pid_t		pid;
		PgsDbState *db = &shared->db[i];

		if (handles[i] != NULL)
		{
			if (GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
				continue;
			pfree(handles[i]);
			handles[i] = NULL;
		}
		else if (adopted[i])
		{
			if (!adopted_worker_stopped(i, now))
				continue;
			adopted[i] = false;
		}
		else
			continue;
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		db->running = false;
		db->pid = 0;
		if (strcmp(db->outcome, "starting") == 0)
		{
			/* it never reported that it runs: it could not connect */
			db->failures++;
			LWLockRelease(shared->lock);
			note_problem(i, "failed to start",
						 "the worker exited before connecting; the server log says why",
						 backoff_us(db->failures));
			continue;
		}
		if (db->last_end < db->last_start || strcmp(db->outcome, "error") == 0)
		{
			/*
			 * Killed, or failed: retry sooner than the naptime, but never
			 * spin.  A worker that fails every time it connects (a broken
			 * pgscale schema, a role that lost its rights there) waits
			 * twice as long after each failure in a row, up to a minute.
			 */
			if (db->last_end < db->last_start)
			{
				strlcpy(db->outcome, "killed", sizeof(db->outcome));
				db->last_end = now;
			}
			db->cycle_failures++;
			db->next_run = now + retry_us(db->cycle_failures);
		}
		else
		{
			db->cycle_failures = 0;
			db->next_run = db->last_end + naptime_us();
		}
		LWLockRelease(shared->lock);
	}
}

/*
 * shared_catalog_oid
 *		OID of the pg_database or pg_authid row with the given name, found
 *		by a plain heap scan: the launcher is connected to no database, so
 *		it cannot use the catalogs' indexes (as the autovacuum launcher).
 *		For a database, *why (when not NULL) is set to the reason a worker
 *		could not connect to it (NULL when it can).
 */
static Oid
shared_catalog_oid(Oid catalog, const char *name, const char **why)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	rel = table_open(catalog, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		if (catalog == DatabaseRelationId)
		{
			Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

			if (strcmp(NameStr(db->datname), name) == 0)
			{
				result = db->oid;
				if (why == NULL)
					;
				else if (pgs_database_is_invalid(db))
					*why = "the database is invalid (an interrupted DROP DATABASE): drop it";
				else if (!db->datallowconn)
					*why = "the database does not allow connections (datallowconn is false)";
			}
		}
		else
		{
			Form_pg_authid role = (Form_pg_authid) GETSTRUCT(tuple);

			if (strcmp(NameStr(role->rolname), name) == 0 && role->rolcanlogin)
				result = role->oid;
		}
		if (OidIsValid(result))
			break;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * resolve
 *		The OIDs of a database and of pgscale.role (the bootstrap superuser
 *		when empty), and whether a worker could connect there as that role:
 *		returns NULL when it can, else the reason, and the outcome to show.
 *		Checked before a worker is started, so that a worker that would die
 *		while connecting is not started over and over.
 */
static char *
resolve(const char *dbname, Oid *dboid, Oid *roleoid, const char **outcome)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	const char *why = NULL;
	char	   *result = NULL;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	*dboid = shared_catalog_oid(DatabaseRelationId, dbname, &why);
	if (pgscale_role == NULL || pgscale_role[0] == '\0')
		*roleoid = BOOTSTRAP_SUPERUSERID;
	else
		*roleoid = shared_catalog_oid(AuthIdRelationId, pgscale_role, NULL);

	if (!OidIsValid(*dboid))
	{
		*outcome = "database missing";
		result = psprintf("database \"%s\", listed in pgscale.databases, does not exist",
						  dbname);
	}
	else if (!OidIsValid(*roleoid))
	{
		*outcome = "role missing";
		result = psprintf("role \"%s\" (pgscale.role) does not exist or cannot log in",
						  pgscale_role);
	}
	else if (why != NULL)
	{
		*outcome = "cannot connect";
		result = pstrdup(why);
	}
	else if (!superuser_arg(*roleoid) &&
			 pgs_database_aclcheck(*dboid, *roleoid, ACL_CONNECT) != ACLCHECK_OK)
	{
		*outcome = "cannot connect";
		result = psprintf("role \"%s\" (pgscale.role) has no CONNECT privilege on the database",
						  pgscale_role);
	}
	if (result != NULL)
	{
		MemoryContextSwitchTo(oldcxt);
		result = pstrdup(result);
	}
	CommitTransactionCommand();
	/* the commit leaves TopMemoryContext current: back to the loop's */
	MemoryContextSwitchTo(oldcxt);
	return result;
}

/*
 * launcher_pass
 *		Start the workers that are due; returns how long to sleep.
 */
static long
launcher_pass(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next_wakeup = now + 60 * USECS_PER_SEC;
	List	   *names;
	ListCell   *lc;
	int			running = 0;
	int			i;
	bool		listed[PGS_MAX_DATABASES];

	reap();
	memset(listed, 0, sizeof(listed));
	for (i = 0; i < PGS_MAX_DATABASES; i++)
	{
		if (shared->db[i].running)
			running++;
		/* no handle notifies this launcher of an adopted worker's end: poll */
		if (adopted[i])
			next_wakeup = Min(next_wakeup, now + USECS_PER_SEC);
	}

	/* disabled: the databases stay listed (and shown), no cycle starts */
	names = database_names();
	foreach(lc, names)
	{
		const char *name = (const char *) lfirst(lc);
		int			slot;
		Oid			dboid;
		Oid			roleoid;
		const char *outcome;
		char	   *why;

		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
		slot = slot_for(name);
		LWLockRelease(shared->lock);
		if (slot < 0)
		{
			ereport(LOG,
					(errmsg("pgscale launcher tracks at most %d databases; \"%s\" is ignored",
							PGS_MAX_DATABASES, name)));
			continue;
		}
		listed[slot] = true;
		if (shared->db[slot].running || !pgscale_enabled)
			continue;
		if (shared->db[slot].next_run > now)
		{
			next_wakeup = Min(next_wakeup, shared->db[slot].next_run);
			continue;
		}
		if (running >= pgscale_max_workers)
		{
			next_wakeup = now;	/* woken when a worker ends */
			continue;
		}
		why = resolve(name, &dboid, &roleoid, &outcome);
		if (why != NULL)
		{
			int64		delay = naptime_us();

			/* a database that cannot be connected to: at most a minute */
			if (strcmp(outcome, "cannot connect") == 0)
				delay = Min(delay, (int64) PGS_RETRY_DELAY_MS * 1000);
			note_problem(slot, outcome, why, delay);
			/* wake up to look again, not only after the longest sleep */
			next_wakeup = Min(next_wakeup, now + delay);
			continue;
		}
		if (!launch(slot, dboid, roleoid))
		{
			ereport(LOG,
					(errmsg("pgscale launcher could not start a worker for database \"%s\"", name),
					 errhint("Raise max_worker_processes.")));
			next_wakeup = Min(next_wakeup, now + 10 * USECS_PER_SEC);
			continue;
		}
		running++;
	}

	/* forget databases taken off the list */
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGS_MAX_DATABASES; i++)
		if (shared->db[i].in_use && !listed[i] && !shared->db[i].running)
			shared->db[i].in_use = false;
	LWLockRelease(shared->lock);

	if (next_wakeup <= now)
		return 1000;
	return (long) Max(100, Min((next_wakeup - now) / 1000, 60 * 1000));
}

/*
 * reload
 *		After SIGHUP: re-read the settings and reschedule idle databases on
 *		the new naptime, including those not found yet (a database or role
 *		created later is looked for again within the new naptime).
 */
static void
reload(void)
{
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGS_MAX_DATABASES; i++)
	{
		PgsDbState *db = &shared->db[i];

		if (!db->in_use || db->running)
			continue;
		if (db->last_end == 0)
		{
			/* never ran (database or role missing): look again in time */
			db->next_run = Min(db->next_run, now + naptime_us());
		}
		else if (strcmp(db->outcome, "error") != 0 && strcmp(db->outcome, "killed") != 0)
			db->next_run = Max(now, db->last_end + naptime_us());
	}
	LWLockRelease(shared->lock);
}

void
pgscale_launcher_main(Datum main_arg)
{
	MemoryContext loopcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: only the shared catalogs are read */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pgscale launcher");

	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgscale shared memory is not initialized"),
				 errhint("Load pgscale through shared_preload_libraries.")));
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher_pid = MyProcPid;
	LWLockRelease(shared->lock);
	adopt_running_workers();
	ereport(LOG, (errmsg("pgscale launcher started")));

	loopcxt = AllocSetContextCreate(TopMemoryContext, "pgscale launcher",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		sleep_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			reload();

		MemoryContextSwitchTo(loopcxt);
		sleep_ms = launcher_pass();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loopcxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------- a worker ---------- */

/*
 * execute_top_level
 *		Run one statement the way a client's simple query runs, through a
 *		portal at top level, so that a CALLed procedure may commit.
 */
static void
execute_top_level(const char *sql)
{
	MemoryContext querycxt;
	MemoryContext oldcxt;
	List	   *parsetrees;
	RawStmt    *parsetree;
	List	   *querytrees;
	List	   *plantrees;
	Portal		portal;
	DestReceiver *receiver;
	QueryCompletion qc;

	/*
	 * The plan must outlive the transactions the procedure commits, as a
	 * client's query lives in MessageContext: not in TopTransactionContext.
	 */
	querycxt = AllocSetContextCreate(TopMemoryContext, "pgscale worker query",
									 ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(querycxt);
	parsetrees = pg_parse_query(sql);
	parsetree = linitial_node(RawStmt, parsetrees);
	querytrees = pgs_analyze_and_rewrite(parsetree, sql);
	plantrees = pg_plan_queries(querytrees, sql, CURSOR_OPT_PARALLEL_OK, NULL);

	portal = CreatePortal("pgscale worker", true, true);
	portal->visible = false;
	PortalDefineQuery(portal, NULL, sql, CreateCommandTag(parsetree->stmt),
					  plantrees, NULL);
	PortalStart(portal, NULL, 0, InvalidSnapshot);
	receiver = CreateDestReceiver(DestNone);
	InitializeQueryCompletion(&qc);
	(void) pgs_portal_run(portal, receiver, &qc);
	receiver->rDestroy(receiver);
	PortalDrop(portal, false);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(querycxt);
}

static void
set_state(int slot, const char *outcome, bool started, bool ended,
		  const char *error)
{
	PgsDbState *db = &shared->db[slot];
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (started)
	{
		db->last_start = now;
		db->pid = MyProcPid;
		db->failures = 0;
		db->problem[0] = '\0';
	}
	if (ended)
	{
		db->last_end = now;
		db->cycles++;
	}
	strlcpy(db->outcome, outcome, sizeof(db->outcome));
	if (error != NULL)
	{
		strlcpy(db->last_error, error, sizeof(db->last_error));
		db->last_error_at = now;
	}
	LWLockRelease(shared->lock);
}

/*
 * pgs_worker_report_outcome
 *		While a cycle runs, change what pgscale_worker_status() shows as its
 *		outcome (a pause, say, and "running" again after it).  Does nothing
 *		outside the worker.
 */
void
pgs_worker_report_outcome(const char *outcome)
{
	int			i;

	if (shared == NULL || pgs_worker_cycle == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < PGS_MAX_DATABASES; i++)
	{
		PgsDbState *db = &shared->db[i];

		if (db->in_use && db->running && db->pid == MyProcPid)
			strlcpy(db->outcome, outcome, sizeof(db->outcome));
	}
	LWLockRelease(shared->lock);
}

void
pgscale_worker_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	Oid			dboid;
	Oid			roleoid;
	Oid			extoid;
	char	   *sql;
	PgsCycleResult cycle;		/* what the CALL below reports */

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	memcpy(&roleoid, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(Oid));

	/* recorded before connecting, for a launcher that restarts meanwhile */
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->db[slot].pid = MyProcPid;
	LWLockRelease(shared->lock);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, roleoid, 0);
	pgstat_report_appname("pgscale worker");

	/*
	 * Whatever the database or role sets: what the cycle prints (values in
	 * error messages and in pgscale_log, definitions it reads back) reads
	 * the same everywhere.  As a session's own SET, so that a function's
	 * SET clause still applies within it.
	 */
	SetConfigOption("datestyle", "ISO, MDY", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION);
	memset(&cycle, 0, sizeof(cycle));
	pgs_worker_cycle = &cycle;

	set_state(slot, "running", true, false, NULL);

	StartTransactionCommand();
	extoid = get_extension_oid("pgscale", true);
	if (!OidIsValid(extoid))
	{
		CommitTransactionCommand();
		set_state(slot, "no extension", false, true, NULL);
		proc_exit(0);
	}
	sql = psprintf("CALL %s()",
				   quote_qualified_identifier(get_namespace_name(pgs_schema_of_extension(extoid)),
											  "pgscale_run_maintenance_proc"));
	pgstat_report_activity(STATE_RUNNING, sql);

	PG_TRY();
	{
		execute_top_level(sql);
		CommitTransactionCommand();
		/* the cycle's NOTIFY pgscale_alert, on the versions that need it */
		pgs_signal_listeners();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		set_state(slot, "error", false, true, edata->message);
		PG_RE_THROW();
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	if (cycle.skipped)
		set_state(slot, "skipped", false, true, NULL);
	else if (cycle.errors > 0)
		set_state(slot, "errors logged", false, true, cycle.last_error);
	else if (cycle.outside_window)
		set_state(slot, "waiting for the maintenance window", false, true, NULL);
	else
		set_state(slot, "ok", false, true, NULL);
	proc_exit(0);
}
