/*-------------------------------------------------------------------------
 *
 * detach.c
 *	  Partition retention that never locks the parent exclusively: in the
 *	  procedure forms (CALL pgscale_cleanup_proc(), CALL
 *	  pgscale_run_maintenance_proc(), and so the worker), an expired
 *	  partition leaves its parent with ALTER TABLE ... DETACH PARTITION ...
 *	  CONCURRENTLY, which takes SHARE UPDATE EXCLUSIVE on the parent: the
 *	  application's reads and writes never wait for it.  The statement
 *	  cannot run through SPI or inside a transaction block, so it runs over
 *	  the loopback connection (loopback.c) as a top-level statement of a
 *	  second session, while this backend waits holding no snapshot.  The
 *	  detached tables are dropped (action 'drop') or moved into the archive
 *	  schema (action 'archive', archive.c) together at the end of the
 *	  table's run (retention_parts.c, rt_dispose_detached): neither locks
 *	  anything of the parent once the table is no longer a partition.
 *
 *	  Crash safety.  Each detach is recorded in pgscale_detached (the
 *	  partition's schema and name, its bound, whether it is to be dropped
 *	  or archived and where, and the bounds the archive records) in a
 *	  transaction committed before the DETACH starts; the row goes in the
 *	  transaction that drops or archives the table.  A table is named, not
 *	  known by OID, so that the records mean the same after a dump and
 *	  restore.  At the start of every run of the table, before anything
 *	  else, each row is reconciled with what the catalogs say:
 *
 *	  - no table of that schema and name: it is gone, the row is forgotten;
 *	  - attached normally (the detach never started, or its first
 *		transaction was rolled back): the row is forgotten, and the normal
 *		expiry logic of this run decides again;
 *	  - pg_inherits.inhdetachpending from a parent in the managed table's
 *		tree (interrupted between the detach's two transactions): ALTER
 *		TABLE ... DETACH PARTITION ... FINALIZE completes it, then the
 *		table is dropped or archived with the others;
 *	  - detached (no pg_inherits row): dropped or archived with the
 *		others, as the record says (a record that says archive is never
 *		dropped, whatever the policy says now).
 *
 *	  A name is not a table: between the detach and the next run a person
 *	  may have dropped the detached table and made another of that name,
 *	  or renamed another table into it.  So a table found pending detach
 *	  or detached is acted on only while it still looks like the
 *	  partition, by what a dump and restore keeps: it is owned by the
 *	  managed table's owner, its columns (names, types, order; dropped ones
 *	  left out) are the managed table's, and a valid CHECK constraint keeps
 *	  its rows within the recorded bounds.  DETACH PARTITION ...
 *	  CONCURRENTLY adds that constraint in its first transaction, a copy
 *	  of the partition's constraint (unless constraints the partition has
 *	  imply it already), so pgscale's own detaches pass, pending or done,
 *	  before and after a restore; a table made by hand almost never has
 *	  one.  A table that fails is left alone, with a WARNING that says
 *	  which of the three failed, a 'kept' row in pgscale_log, and its
 *	  record forgotten (the partition it was made for is gone; a record
 *	  kept would warn every cycle).  The dry run says the same.
 *
 *	  Why that gives no orphan, no expired row visible through the parent
 *	  and no kept row gone: the record is durable before the detach can
 *	  commit anything (its commit record precedes the detach's in the WAL),
 *	  so every table a detach may have touched has a row, and every row
 *	  ends in one of the four states above, each of which the next run
 *	  brings to "dropped", "archived" or "forgotten"; no orphan, unless a
 *	  person changed the detached table's owner or columns (or the managed
 *	  table's) before the next run, and then the warning names it.  A
 *	  partition pending detach is already left out of new queries of the
 *	  parent, and an attached one is still expired, so the same run
 *	  detaches it again: no expired row through the parent after the run.
 *	  Only a table with the recorded name that is no partition of anything
 *	  else and still looks like the detached partition is dropped, and
 *	  only expired partitions are ever recorded: a kept partition, a table
 *	  a person attached again, or one a person made under the recorded
 *	  name is never dropped.  Recording in the detach's own second transaction (an
 *	  event trigger at ddl_command_end) would need an event trigger, which
 *	  only a superuser can create, and would still leave the pending state
 *	  to find from pg_inherits: the intent record covers both.
 *
 *	  Two runs of one table (a person's CALL and the worker's, say) must
 *	  not reconcile each other's rows: a run that detaches holds an
 *	  advisory lock on the table for the whole of its run (a session lock
 *	  in a procedure), and another run finds it taken and leaves the
 *	  expired partitions to it.
 *
 *	  Where CONCURRENTLY cannot be used (PostgreSQL 13, a default partition
 *	  exists, inside a transaction block or a function, the loopback
 *	  connection refused by pg_hba.conf), retention_parts.c drops the
 *	  partition under ACCESS EXCLUSIVE as before, and pgscale_log says why.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/stratnum.h"
#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pgscale.h"
#include "archive.h"
#include "diag_citus.h"
#include "loopback.h"
#include "month.h"
#include "retention.h"

/*
 * The advisory lock a run holds on a table while it detaches its
 * partitions: locktype advisory, classid PGSCALE_LOCK_KEY1, objid the
 * table's OID, objsubid PGSCALE_DETACH_LOCK_CLASS.  No SQL advisory lock
 * function can take a lock of that class.
 */
#define PGSCALE_DETACH_LOCK_CLASS	0x7074	/* "pt" */

static void
detach_lock_tag(LOCKTAG *tag, Oid relid)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, PGSCALE_LOCK_KEY1, relid,
						 PGSCALE_DETACH_LOCK_CLASS);
}

/*
 * rt_detach_end
 *		At the end of a table's run, also when it errors out: close the
 *		loopback connection and let go of the table's detach lock.
 */
void
rt_detach_end(TableRun *run)
{
	if (run->loop_starting != NULL)
	{
		pgs_loop_finish(run->loop_starting);
		run->loop_starting = NULL;
	}
	if (run->loop != NULL)
	{
		pgs_loop_finish(run->loop);
		run->loop = NULL;
	}
	if (run->detach_locked)
	{
		LOCKTAG		tag;

		detach_lock_tag(&tag, run->relid);
		(void) LockRelease(&tag, ExclusiveLock, run->opt->nonatomic);
		run->detach_locked = false;
	}
}

/*
 * rt_detach_possible
 *		Whether nothing but the loopback connection stands in the way of
 *		DETACH PARTITION ... CONCURRENTLY of parent's expired partitions in
 *		this run; when something does, *why says what, for pgscale_log.
 */
bool
rt_detach_possible(TableRun *run, Oid parent, const char **why)
{
#ifndef PGSCALE_HAVE_DETACH_CONCURRENTLY
	*why = "PostgreSQL 13 has no DETACH PARTITION CONCURRENTLY";
	return false;
#else
	if (!run->opt->nonatomic)
	{
		*why = "in a transaction block or a function form, where DETACH PARTITION CONCURRENTLY cannot run";
		return false;
	}
	if (OidIsValid(get_default_partition_oid(parent)))
	{
		*why = "the table has a default partition, which DETACH PARTITION CONCURRENTLY refuses";
		return false;
	}
	if (pgs_citus_table_kind(parent) != NULL)
	{
		/* Citus 13.2 refuses it for distributed and reference tables */
		*why = "the table is a Citus table, whose partitions Citus does not detach concurrently";
		return false;
	}
	return true;
#endif
}

/*
 * rt_detach_prestart
 *		Before the run's checks of a partitioned table with expired
 *		partitions to detach: start opening the loopback connection, so
 *		that the server starts the other session while this one measures
 *		the table (guard.c); rt_detach_usable completes it.
 */
void
rt_detach_prestart(TableRun *run)
{
	const char *why;

	if (run->opt->dry_run || run->loop != NULL || run->loop_starting != NULL ||
		run->loop_refusal != NULL ||
		get_rel_relkind(run->relid) != RELKIND_PARTITIONED_TABLE ||
		!rt_detach_possible(run, run->relid, &why) ||
		!rt_has_expired_partition(run, run->relid))
		return;
	run->loop_starting = pgs_loop_connect_start("pgscale retention", &run->loop_failure);
}

/*
 * rt_detach_usable
 *		Whether the expired partitions of parent can leave it with DETACH
 *		PARTITION ... CONCURRENTLY in this run (rt_detach_possible, and the
 *		loopback connection, opened on first use, could be made); when not,
 *		*why says why, for pgscale_log.
 */
bool
rt_detach_usable(TableRun *run, Oid parent, const char **why)
{
#ifndef PGSCALE_HAVE_DETACH_CONCURRENTLY
	return rt_detach_possible(run, parent, why);
#else
	PgsLoopFailure failure;

	if (!rt_detach_possible(run, parent, why))
		return false;
	if (run->loop != NULL)
		return true;
	if (run->loop_refusal != NULL)
	{
		*why = run->loop_refusal;
		return false;
	}
	/* the connection's set-up must not wait for a snapshot held here */
	rt_commit_if_allowed(run);
	if (run->loop_starting != NULL)
	{
		PGconn	   *starting = run->loop_starting;

		run->loop_starting = NULL;
		failure = run->loop_failure;
		run->loop = pgs_loop_connect_finish(starting, &failure);
	}
	else
		run->loop = pgs_loop_connect("pgscale retention", &failure);
	if (run->loop != NULL)
	{
		PgsLoopError err;

		/*
		 * The detach's two commits need not wait for the WAL flush, like
		 * the procedure's intermediate ones: a crash that undoes them
		 * leaves the partition attached or pending detach, which the next
		 * run reconciles, and the procedure's last commit flushes them.
		 */
		if (!pgs_loop_run(run->loop, "SET synchronous_commit = off", &err))
			ereport(ERROR,
					(errcode(err.code),
					 errmsg("could not set up the loopback connection of DETACH PARTITION CONCURRENTLY: %s",
							err.message),
					 errhint("Check the server log, and run the call again.")));
		return true;
	}

	switch (failure.stage)
	{
		case PGS_LOOP_NO_SOCKET:
			run->loop_refusal = "the server listens on no Unix socket for the loopback connection of DETACH PARTITION CONCURRENTLY";
			break;
		case PGS_LOOP_CONNECT:
			run->loop_refusal = psprintf("the loopback connection of DETACH PARTITION CONCURRENTLY was refused: %s",
										 failure.message);
			break;
		case PGS_LOOP_SETUP:
			run->loop_refusal = psprintf("the loopback connection of DETACH PARTITION CONCURRENTLY could not be set up: %s",
										 failure.message);
			break;
	}
	ereport(NOTICE,
			(errmsg("pgscale drops the expired partitions of %s under an ACCESS EXCLUSIVE lock on the table",
					pgs_display_name(run->relid)),
			 errdetail("Cause: %s.", run->loop_refusal),
			 errhint("Allow a local connection of role %s to database %s without a password in pg_hba.conf (a \"local\" line with trust or peer), "
					 "so that expired partitions are detached concurrently without blocking the application.",
					 quote_identifier(failure.user), quote_identifier(failure.dbname))));
	*why = run->loop_refusal;
	return false;
#endif
}

/*
 * rt_detach_record
 *		Record that child of parent is about to be detached, with what the
 *		run does with it afterwards (drop, or archive into the policy's
 *		archive schema) and the bounds archiving needs, since a detached
 *		table has none; in the step that checked it, so that it commits
 *		with that check.  The table is named by schema and name, so that
 *		the record still finds it after a dump and restore.
 */
void
rt_detach_record(TableRun *run, Oid parent, Oid child, const PgsPartBounds *bounds)
{
	Oid			argtypes[8] = {NAMEOID, NAMEOID, OIDOID, TEXTOID, TEXTOID, NAMEOID,
		INT8OID, INT8OID};
	Datum		values[8];
	char		nulls[8];
	char	   *bound;
	bool		archive = run->archive != NULL;

	bound = pgs_spi_text_oid("SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid)"
							 " FROM pg_catalog.pg_class c"
							 " WHERE c.oid OPERATOR(pg_catalog.=) $1", child);
	memset(nulls, ' ', sizeof(nulls));
	values[0] = DirectFunctionCall1(namein,
									CStringGetDatum(get_namespace_name(get_rel_namespace(child))));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(get_rel_name(child)));
	values[2] = ObjectIdGetDatum(run->relid);
	values[3] = CStringGetTextDatum(bound ? bound : "");
	values[4] = CStringGetTextDatum(archive ? "archive" : "drop");
	values[5] = archive ?
		DirectFunctionCall1(namein, CStringGetDatum(run->archive->schema)) : (Datum) 0;
	nulls[5] = archive ? ' ' : 'n';
	values[6] = Int64GetDatum(bounds->lo);
	nulls[6] = bounds->lo_unbounded ? 'n' : ' ';
	values[7] = Int64GetDatum(bounds->hi);
	nulls[7] = bounds->hi_unbounded ? 'n' : ' ';
	(void) parent;
	(void) pgs_exec_as_owner(psprintf("INSERT INTO %s (rel_schema, rel_name, table_name, bound,"
									  " action, archive_schema, bound_from, bound_to)"
									  " VALUES ($1, $2, $3::pg_catalog.regclass, $4, $5, $6, $7, $8)"
									  " ON CONFLICT (rel_schema, rel_name) DO UPDATE"
									  " SET table_name = excluded.table_name, bound = excluded.bound,"
									  " action = excluded.action, archive_schema = excluded.archive_schema,"
									  " bound_from = excluded.bound_from, bound_to = excluded.bound_to,"
									  " recorded_at = excluded.recorded_at",
									  pgs_ext_table("pgscale_detached")),
							 8, argtypes, values, nulls);
}

/*
 * rt_detach_forget
 *		Delete the record of the table schema.name (no error when there is
 *		none).
 */
void
rt_detach_forget(const char *schema, const char *name)
{
	Oid			argtypes[2] = {NAMEOID, NAMEOID};
	Datum		values[2];

	values[0] = DirectFunctionCall1(namein, CStringGetDatum(schema));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(name));
	(void) pgs_exec_as_owner(psprintf("DELETE FROM %s WHERE rel_schema OPERATOR(pg_catalog.=) $1"
									  " AND rel_name OPERATOR(pg_catalog.=) $2",
									  pgs_ext_table("pgscale_detached")),
							 2, argtypes, values, NULL);
}

/*
 * rt_detach_forget_list
 *		rt_detach_forget of every table of detached (RtDetached), in one
 *		statement.
 */
void
rt_detach_forget_list(List *detached)
{
	Oid			argtypes[2] = {NAMEARRAYOID, NAMEARRAYOID};
	Datum		values[2];
	Datum	   *schemas;
	Datum	   *names;
	ListCell   *lc;
	int			n = 0;

	if (detached == NIL)
		return;
	schemas = palloc(sizeof(Datum) * list_length(detached));
	names = palloc(sizeof(Datum) * list_length(detached));
	foreach(lc, detached)
	{
		RtDetached *d = (RtDetached *) lfirst(lc);

		schemas[n] = DirectFunctionCall1(namein, CStringGetDatum(d->schema));
		names[n] = DirectFunctionCall1(namein, CStringGetDatum(d->relname));
		n++;
	}
	values[0] = PointerGetDatum(construct_array(schemas, n, NAMEOID, NAMEDATALEN,
												false, TYPALIGN_CHAR));
	values[1] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN,
												false, TYPALIGN_CHAR));
	(void) pgs_exec_as_owner(psprintf("DELETE FROM %s d USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS f(s, n)"
									  " WHERE d.rel_schema OPERATOR(pg_catalog.=) f.s"
									  " AND d.rel_name OPERATOR(pg_catalog.=) f.n",
									  pgs_ext_table("pgscale_detached")),
							 2, argtypes, values, NULL);
}

#ifdef PGSCALE_HAVE_DETACH_CONCURRENTLY

/*
 * loop_state
 *		Where child stands against parent, read over the loopback
 *		connection (this backend must hold no snapshot meanwhile).
 */
static RtDetachResult
loop_state(PGconn *conn, Oid parent, Oid child)
{
	const char *params[2];
	PGresult   *res;
	RtDetachResult state = RT_DETACH_GONE;

	params[0] = psprintf("%u", child);
	params[1] = psprintf("%u", parent);
	res = pgs_loop_exec(conn,
						"SELECT i.inhdetachpending FROM pg_catalog.pg_inherits i"
						" WHERE i.inhrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
						" AND i.inhparent OPERATOR(pg_catalog.=) $2::pg_catalog.oid",
						2, params);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		state = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ?
			RT_DETACH_PENDING : RT_DETACH_ATTACHED;
	PQclear(res);
	return state;
}

/*
 * loop_wait_holders
 *		After a try timed out on its lock: wait up to ms milliseconds for
 *		the transactions that held a lock on parent or child then to end,
 *		without queueing for the lock meanwhile (a queued ACCESS EXCLUSIVE
 *		request on the partition would hold up the application's cached
 *		plans that still use it).  Transactions, not sessions: the
 *		application's later transactions do not hold up the detach.  True
 *		once none is left.
 */
static bool
loop_wait_holders(PGconn *conn, Oid parent, Oid child, long ms)
{
	const char *params[3];
	PGresult   *res;
	char	   *vxids;
	long		waited;

	params[0] = psprintf("%u", parent);
	params[1] = psprintf("%u", child);
	params[2] = psprintf("%d", MyProcPid);
	res = pgs_loop_exec(conn,
						"SELECT COALESCE(pg_catalog.array_agg(DISTINCT l.virtualtransaction), '{}')::pg_catalog.text"
						" FROM pg_catalog.pg_locks l"
						" WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted"
						" AND l.relation OPERATOR(pg_catalog.=) ANY (ARRAY[$1, $2]::pg_catalog.oid[])"
						" AND l.pid OPERATOR(pg_catalog.<>) ALL (ARRAY[pg_catalog.pg_backend_pid(), $3::pg_catalog.int4])",
						3, params);
	vxids = (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) ?
		pstrdup(PQgetvalue(res, 0, 0)) : pstrdup("{}");
	PQclear(res);
	params[0] = vxids;
	for (waited = 0;; waited += 100)
	{
		bool		gone;

		res = pgs_loop_exec(conn,
							"SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_locks l"
							" WHERE l.virtualtransaction OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]))",
							1, params);
		gone = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (gone)
			return true;
		if (waited >= ms)
			return false;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

#endif

/*
 * rt_detach_concurrently
 *		Detach child from parent with DETACH PARTITION ... CONCURRENTLY over
 *		the loopback connection, after committing the transaction that
 *		recorded it.  A statement that times out on a lock (the first
 *		transaction waits for SHARE UPDATE EXCLUSIVE, the wait for older
 *		transactions and the second one for ACCESS EXCLUSIVE on the
 *		partition, all under pgscale.lock_timeout) is tried again up to
 *		pgscale.lock_retries times; once the detach is pending, with
 *		DETACH PARTITION ... FINALIZE.  When tried is not NULL, the first
 *		try has been made (in detach_queued's pipeline) and failed with
 *		that error.  Returns RT_DETACH_DONE, or where child was left, with
 *		the error in *err.
 */
RtDetachResult
rt_detach_concurrently(TableRun *run, Oid parent, Oid child,
					   const PgsLoopError *tried, PgsLoopError *err)
{
#ifdef PGSCALE_HAVE_DETACH_CONCURRENTLY
	char	   *detach = psprintf("ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY",
								  pgs_qualified_name(parent), pgs_qualified_name(child));
	char	   *finalize = psprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE",
									pgs_qualified_name(parent), pgs_qualified_name(child));
	bool		pending = false;
	int			attempt;

	/*
	 * The record is committed before the detach can commit anything.  The
	 * commit need not wait for the WAL flush: the detach's own commit,
	 * later in the WAL, flushes it.
	 */
	rt_commit_if_allowed(run);
	if (tried != NULL)
		*err = *tried;
	attempt = 0;
	for (;;)
	{
		RtDetachResult state;
		bool		was_pending = pending;
		bool		let_go = false;

		if (tried != NULL)
			tried = NULL;
		else if (pgs_loop_run(run->loop, pending ? finalize : detach, err))
			return RT_DETACH_DONE;
		state = loop_state(run->loop, parent, child);
		if (state == RT_DETACH_GONE)
			return RT_DETACH_GONE;
		pending = state == RT_DETACH_PENDING;
		if (err->code != ERRCODE_LOCK_NOT_AVAILABLE)
		{
			/* pending now: FINALIZE once; else another try would fail alike */
			if (!pending || was_pending || attempt >= pgscale_lock_retries)
				return state;
			attempt++;
			continue;
		}

		/*
		 * Timed out on a lock: wait for the sessions holding the table to
		 * let go, through the retries' growing pauses, and try again only
		 * then, so that one long reader costs at most one wait of
		 * pgscale.lock_timeout.
		 */
		while (!let_go && attempt < pgscale_lock_retries)
		{
			let_go = loop_wait_holders(run->loop, parent, child,
									   Min((long) pgscale_lock_timeout * (attempt + 1), 10000L));
			attempt++;
		}
		if (!let_go)
			return state;
	}
#else
	elog(ERROR, "DETACH PARTITION CONCURRENTLY needs PostgreSQL 14");
	return RT_DETACH_GONE;		/* keep compiler quiet */
#endif
}

/*
 * rt_detach_leave
 *		Leave child, queued for a detach that did not run, to the next run:
 *		its record is forgotten while it is still attached; a detach left
 *		pending keeps it, for the next run to finish, and no other
 *		partition of parent is detached meanwhile.  Commits.
 */
void
rt_detach_leave(TableRun *run, Oid parent, Oid child, const char *schema,
				const char *relname)
{
#ifdef PGSCALE_HAVE_DETACH_CONCURRENTLY
	rt_commit_if_allowed(run);
	if (loop_state(run->loop, parent, child) == RT_DETACH_PENDING)
	{
		if (run->blockers == NIL)
			run->stopped = true;
		else
			run->pending_parent = parent;
	}
	else if (schema != NULL && relname != NULL)
		rt_detach_forget(schema, relname);
#endif
	rt_commit_if_allowed(run);
}

/* ---------- reconciling the records of earlier runs ---------- */

#ifdef PGSCALE_HAVE_DETACH_CONCURRENTLY

typedef struct Recorded
{
	char	   *schema;			/* the record's table, by name */
	char	   *name;
	char	   *bound;			/* the partition's bound, as recorded */
	Oid			relid;			/* the table of that name, or InvalidOid */
	Oid			parent;			/* its parent, when it is a partition */
	bool		attached;		/* it is a partition */
	bool		pending;		/* pending detach from the managed tree */
	RtDetachedFate fate;		/* what the detach was for */
} Recorded;

typedef struct FinalizeStep
{
	Oid			parent;
	Oid			child;
	bool		gone;
} FinalizeStep;

/*
 * finalize_step
 *		Complete a detach left pending, as the parent's owner.  FINALIZE,
 *		unlike CONCURRENTLY, runs inside a transaction and through SPI, and
 *		takes SHARE UPDATE EXCLUSIVE on the parent too.
 */
static void
finalize_step(void *arg)
{
	FinalizeStep *step = (FinalizeStep *) arg;
	int			ret;

	LockRelationOid(step->parent, ShareUpdateExclusiveLock);
	LockRelationOid(step->child, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(step->child)) ||
		get_partition_parent_compat(step->child) != step->parent)
	{
		step->gone = true;
		return;
	}
	ret = SPI_execute(psprintf("ALTER TABLE %s DETACH PARTITION %s FINALIZE",
							   pgs_qualified_name(step->parent),
							   pgs_qualified_name(step->child)), false, 0);
	if (ret != SPI_OK_UTILITY)
		elog(ERROR, "DETACH PARTITION FINALIZE failed: %s", SPI_result_code_string(ret));
}


/*
 * column_list
 *		The user columns of desc, dropped ones left out, as "name type, ..."
 *		for a message.
 */
static char *
column_list(TupleDesc desc)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%s %s", buf.len > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)),
						 format_type_with_typemod(att->atttypid, att->atttypmod));
	}
	return buf.data;
}

/*
 * same_columns
 *		Whether a and b have the same user columns: names, types (with
 *		their modifiers) and order, dropped ones left out, as a dump and
 *		restore keeps them.
 */
static bool
same_columns(TupleDesc a, TupleDesc b)
{
	int			i = 0;
	int			j = 0;

	for (;;)
	{
		Form_pg_attribute aa;
		Form_pg_attribute ba;

		while (i < a->natts && TupleDescAttr(a, i)->attisdropped)
			i++;
		while (j < b->natts && TupleDescAttr(b, j)->attisdropped)
			j++;
		if (i >= a->natts || j >= b->natts)
			return i >= a->natts && j >= b->natts;
		aa = TupleDescAttr(a, i);
		ba = TupleDescAttr(b, j);
		if (strcmp(NameStr(aa->attname), NameStr(ba->attname)) != 0 ||
			aa->atttypid != ba->atttypid || aa->atttypmod != ba->atttypmod)
			return false;
		i++;
		j++;
	}
}

/*
 * bound_clause
 *		var <op> value, the operator that of the strategy in the default
 *		btree operator class of var's type, value a bound as
 *		pgs_datum_as_timestamp gives it; NULL when the type has none.
 */
static Expr *
bound_clause(Var *var, StrategyNumber strategy, int64 value)
{
	Oid			type = getBaseType(var->vartype);
	Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);
	Oid			opno;
	int16		typlen;
	bool		typbyval;
	Expr	   *clause;

	if (!OidIsValid(opclass))
		return NULL;
	opno = get_opfamily_member(get_opclass_family(opclass), type, type, strategy);
	if (!OidIsValid(opno))
		return NULL;
	get_typlenbyval(type, &typlen, &typbyval);
	clause = make_opclause(opno, BOOLOID, false, (Expr *) var,
						   (Expr *) makeConst(type, -1, InvalidOid, typlen,
											  pgs_timestamp_as_datum(value, type),
											  false, typbyval),
						   InvalidOid, var->varcollid);
	((OpExpr *) clause)->opfuncid = get_opcode(opno);
	return clause;
}

/* What guard_step hands back. */
typedef struct GuardStep
{
	TableRun   *run;
	Recorded   *r;
	char	   *mismatch;		/* why it is not the detached partition */
	bool		gone;
} GuardStep;

/*
 * guard_step
 *		Whether the table a record names still looks like the partition an
 *		earlier run detached from the managed table, as far as what a dump
 *		and restore keeps can tell: it is owned by the managed table's
 *		owner, has the managed table's columns (names, types, order), and a
 *		valid CHECK constraint keeps its rows within the recorded bounds.
 *		DETACH PARTITION ... CONCURRENTLY adds that constraint in its first
 *		transaction (the partition's constraint, unless the partition has
 *		constraints that imply it already), so that it holds both for a
 *		table left pending detach and for one detached.  A table a person
 *		made or renamed into the recorded name since fails one of the
 *		three; step->mismatch says which, for errdetail.
 */
static void
guard_step(void *arg)
{
	GuardStep  *step = (GuardStep *) arg;
	Recorded   *r = step->r;
	Relation	rel;
	Relation	root;
	Oid			owner;
	Oid			root_owner;
	AttrNumber	attnum;
	Var		   *var;
	NullTest   *notnull;
	List	   *clauses;
	Expr	   *clause;

	rel = try_relation_open(r->relid, AccessShareLock);
	if (rel == NULL)
	{
		step->gone = true;
		return;
	}
	root = relation_open(step->run->relid, AccessShareLock);
	owner = rel->rd_rel->relowner;
	root_owner = root->rd_rel->relowner;
	if (owner != root_owner)
	{
		const char *who = GetUserNameFromId(owner, true);
		const char *root_who = GetUserNameFromId(root_owner, true);

		step->mismatch = psprintf("Table %s is owned by role %s, table %s by role %s.",
								  pgs_display_name(r->relid),
								  who != NULL ? quote_identifier(who) : psprintf("%u", owner),
								  pgs_display_name(step->run->relid),
								  root_who != NULL ? quote_identifier(root_who) : psprintf("%u", root_owner));
		goto done;
	}
	if (!same_columns(RelationGetDescr(rel), RelationGetDescr(root)))
	{
		step->mismatch = psprintf("The columns of table %s (%s) are not those of table %s (%s).",
								  pgs_display_name(r->relid), column_list(RelationGetDescr(rel)),
								  pgs_display_name(step->run->relid),
								  column_list(RelationGetDescr(root)));
		goto done;
	}

	/*
	 * The rows: (col IS NOT NULL AND col >= lo AND col < hi), the
	 * partition's constraint, must follow from the table's constraints.
	 * An expired partition always has an upper bound.
	 */
	attnum = get_attnum(r->relid, step->run->time_column);
	clauses = NIL;
	if (attnum != InvalidAttrNumber && !r->fate.bounds.hi_unbounded)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);

		var = makeVar(1, attnum, att->atttypid, att->atttypmod, att->attcollation, 0);
		notnull = makeNode(NullTest);
		notnull->arg = (Expr *) var;
		notnull->nulltesttype = IS_NOT_NULL;
		notnull->argisrow = false;
		notnull->location = -1;
		clauses = list_make1(notnull);
		if (!r->fate.bounds.lo_unbounded)
		{
			clause = bound_clause(var, BTGreaterEqualStrategyNumber, r->fate.bounds.lo);
			clauses = clause != NULL ? lappend(clauses, clause) : NIL;
		}
		clause = clauses != NIL ?
			bound_clause(var, BTLessStrategyNumber, r->fate.bounds.hi) : NULL;
		clauses = clause != NULL ? lappend(clauses, clause) : NIL;
	}
	if (clauses == NIL || !PartConstraintImpliedByRelConstraint(rel, clauses))
		step->mismatch = psprintf("No CHECK constraint of table %s keeps its rows within the bounds of the detached partition (%s), "
								  "as the one DETACH PARTITION CONCURRENTLY adds does.",
								  pgs_display_name(r->relid), r->bound);

done:
	relation_close(root, AccessShareLock);
	relation_close(rel, AccessShareLock);
}

/*
 * guard_recorded
 *		Before an earlier run's record is acted on: when the table of the
 *		recorded name no longer looks like the detached partition
 *		(guard_step), leave it alone, say so, and (a real run) forget the
 *		record and log it.  The record is forgotten, not kept: the
 *		partition it was made for is gone (dropped, or renamed away), so
 *		there is nothing left for it to finish, and a record kept would
 *		warn every cycle, and would have the next run dispose of the
 *		table the day it came to look like the partition.  The dry run
 *		says the same as the real run.  True when the record may be acted
 *		on; false when the table was left alone, or is gone, or the check
 *		itself failed (then the record stays for the next run).
 */
static bool
guard_recorded(TableRun *run, Recorded *r)
{
	GuardStep	step;
	ErrorData  *edata = NULL;
	TimestampTz started = GetCurrentTimestamp();
	char	   *name;

	step.run = run;
	step.r = r;
	step.mismatch = NULL;
	step.gone = false;
	if (!pgs_run_guarded_as(r->relid, guard_step, &step, &edata))
	{
		rt_record_error(run, r->relid, STEP_DROP_PARTITION, edata, started);
		return false;
	}
	if (step.gone)
	{
		if (!run->opt->dry_run)
			rt_detach_forget(r->schema, r->name);
		return false;
	}
	if (step.mismatch == NULL)
		return true;

	name = psprintf("%s.%s", quote_identifier(r->schema), quote_identifier(r->name));
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("pgscale leaves table %s alone: it is not the partition of %s that an earlier run detached",
					name, pgs_display_name(run->relid)),
			 errdetail("%s pgscale_detached records a partition of that name, detached concurrently to be %s; "
					   "pgscale forgets the record and neither drops nor archives the table.",
					   step.mismatch, r->fate.archive_schema != NULL ? "archived" : "dropped"),
			 errhint("If table %s holds the detached partition's rows (its owner or columns, or those of %s, were changed since), "
					 "drop or archive it yourself; otherwise nothing needs doing.",
					 name, pgs_display_name(run->relid))));
	if (!run->opt->dry_run)
	{
		rt_detach_forget(r->schema, r->name);
		pgs_log_action(run->relid, "kept", name, 0, false, started,
					   psprintf("not the partition an earlier run detached, left alone and its pgscale_detached record forgotten: %s",
								step.mismatch));
	}
	return false;
}

#endif

/*
 * rt_reconcile_detached
 *		At the start of a table's run: take the table's detach lock, then
 *		bring every record an earlier run left to its end (see the head of
 *		this file).  Tables to drop join run->detached, dropped at the end
 *		of the run; a dry run counts them instead, as dropped partitions.
 *		A run that finds the lock taken leaves the table's expired
 *		partitions to the run that holds it (run->detach_busy).
 */
void
rt_reconcile_detached(TableRun *run)
{
#ifdef PGSCALE_HAVE_DETACH_CONCURRENTLY
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	List	   *recorded = NIL;
	ListCell   *lc;
	uint64		i;
	uint64		n;

	if (get_rel_relkind(run->relid) != RELKIND_PARTITIONED_TABLE)
		return;
	if (!run->opt->dry_run)
	{
		LOCKTAG		tag;

		detach_lock_tag(&tag, run->relid);
		if (LockAcquire(&tag, ExclusiveLock, run->opt->nonatomic, true) == LOCKACQUIRE_NOT_AVAIL)
		{
			run->detach_busy = true;
			return;
		}
		run->detach_locked = true;
	}

	/*
	 * A record names its table by schema and name.  Pending detach counts
	 * only from a parent in the managed table's tree: FINALIZE is run on
	 * nothing else.
	 */
	values[0] = ObjectIdGetDatum(run->relid);
	n = pgs_exec_as_owner(psprintf("SELECT d.rel_schema::pg_catalog.text, d.rel_name::pg_catalog.text,"
								   " COALESCE(c.oid, 0), COALESCE(i.inhparent, 0),"
								   " i.inhrelid IS NOT NULL,"
								   " COALESCE(i.inhdetachpending AND (i.inhparent OPERATOR(pg_catalog.=) $1"
								   " OR $1 OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT a.relid"
								   " FROM pg_catalog.pg_partition_ancestors(i.inhparent) a))), false),"
								   " d.archive_schema::pg_catalog.text, d.bound_from IS NULL,"
								   " COALESCE(d.bound_from, 0), d.bound_to IS NULL, COALESCE(d.bound_to, 0),"
								   " d.bound"
								   " FROM %s d"
								   " LEFT JOIN pg_catalog.pg_namespace s ON s.nspname OPERATOR(pg_catalog.=) d.rel_schema"
								   " LEFT JOIN pg_catalog.pg_class c ON c.relnamespace OPERATOR(pg_catalog.=) s.oid"
								   " AND c.relname OPERATOR(pg_catalog.=) d.rel_name"
								   " AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'f']::pg_catalog.\"char\"[])"
								   " LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid OPERATOR(pg_catalog.=) c.oid"
								   " WHERE d.table_name OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
								   " ORDER BY d.recorded_at, d.rel_schema, d.rel_name",
								   pgs_ext_table("pgscale_detached")),
						  1, argtypes, values, NULL);
	for (i = 0; i < n; i++)
	{
		Recorded   *r = palloc0(sizeof(Recorded));

		r->schema = pgs_get_text(i, 1);
		r->name = pgs_get_text(i, 2);
		r->relid = pgs_get_oid(i, 3);
		r->parent = pgs_get_oid(i, 4);
		r->attached = pgs_get_bool(i, 5);
		r->pending = pgs_get_bool(i, 6);
		r->fate.archive_schema = pgs_get_text(i, 7);
		r->fate.bounds.is_range = true;
		r->fate.bounds.lo_unbounded = pgs_get_bool(i, 8);
		r->fate.bounds.lo = pgs_get_int8(i, 9);
		r->fate.bounds.hi_unbounded = pgs_get_bool(i, 10);
		r->fate.bounds.hi = pgs_get_int8(i, 11);
		r->bound = pgs_get_text(i, 12);
		recorded = lappend(recorded, r);
	}

	foreach(lc, recorded)
	{
		Recorded   *r = (Recorded *) lfirst(lc);
		const char *how = "detached concurrently by an earlier run";

		if (!OidIsValid(r->relid) || (r->attached && !r->pending))
		{
			/* gone, or still attached: this run's expiry logic decides */
			if (!run->opt->dry_run)
				rt_detach_forget(r->schema, r->name);
			continue;
		}
		if (!guard_recorded(run, r))
			continue;
		if (run->opt->dry_run)
		{
			run->partitions_dropped++;
			continue;
		}
		if (r->pending)
		{
			FinalizeStep step;
			ErrorData  *edata = NULL;
			TimestampTz started = GetCurrentTimestamp();

			step.parent = r->parent;
			step.child = r->relid;
			step.gone = false;
			if (!pgs_run_guarded_as(r->parent, finalize_step, &step, &edata))
			{
				/* left for the next run, which tries again */
				rt_record_error(run, r->relid, STEP_DROP_PARTITION, edata, started);
				continue;
			}
			if (step.gone)
			{
				rt_detach_forget(r->schema, r->name);
				continue;
			}
			how = "detach left pending by an earlier run finished with DETACH PARTITION FINALIZE";
		}
		rt_detach_add(run, r->relid, how, true, &r->fate);
	}
	rt_commit_if_allowed(run);
#endif
}

/*
 * rt_detach_add
 *		Add a detached table to those the run disposes of at its end, with
 *		how it was detached (for pgscale_log), whether an earlier run did
 *		it, and what its record says becomes of it.
 */
void
rt_detach_add(TableRun *run, Oid relid, const char *how, bool earlier,
			  const RtDetachedFate *fate)
{
	RtDetached *d = palloc0(sizeof(RtDetached));

	d->relid = relid;
	d->name = pgs_display_name(relid);
	d->schema = get_namespace_name(get_rel_namespace(relid));
	d->relname = get_rel_name(relid);
	d->foreign = get_rel_relkind(relid) == RELKIND_FOREIGN_TABLE;
	d->reltuples = pgs_estimated_rows(relid);
	d->how = how;
	d->earlier = earlier;
	d->fate = *fate;
	d->error = NULL;
	run->detached = lappend(run->detached, d);
}
