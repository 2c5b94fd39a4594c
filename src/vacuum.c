/*-------------------------------------------------------------------------
 *
 * vacuum.c
 *	  A plain VACUUM of each table or partition a purge deleted rows from,
 *	  at the end of the procedures' and the worker's runs
 *	  (pgscale.vacuum_after_purge, or the policy's own choice): the space of the deleted rows becomes
 *	  reusable and the visibility map current at once, instead of whenever
 *	  autovacuum gets there.  VACUUM cannot run through SPI or inside a
 *	  transaction block, so it runs over the loopback connection
 *	  (loopback.c), as the caller's role, between the run's transactions;
 *	  it takes SHARE UPDATE EXCLUSIVE, which the application's reads and
 *	  writes do not wait for, under pgscale.lock_timeout.  Each is logged
 *	  as a 'vacuum' action with its duration.  The function forms cannot
 *	  commit, so cannot run VACUUM: they leave it to autovacuum.
 *
 *	  A partition retention run that detached partitions concurrently has
 *	  a loopback connection open already: its VACUUM goes over that one
 *	  (pgs_vacuum_begin, pgs_vacuum_complete), started before the detached
 *	  tables are dropped and waited for after, so that the two overlap.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "catalog.h"
#include "compat.h"
#include "loopback.h"

static bool
lost_rows(List *trimmed)
{
	ListCell   *lc;

	foreach(lc, trimmed)
		if (((PgsTrimmed *) lfirst(lc))->rows > 0)
			return true;
	return false;
}

/*
 * pgs_policy_vacuums
 *		Whether a purge of pol's table is followed by VACUUM: the policy's
 *		own choice (pgscale_set_retention's vacuum_after_purge), else
 *		pgscale.vacuum_after_purge.
 */
bool
pgs_policy_vacuums(const PgsPolicy *pol)
{
	return pol->has_vacuum_after_purge ? pol->vacuum_after_purge :
		pgscale_vacuum_after_purge;
}

/* a relation that lost rows and still exists */
static bool
vacuum_wanted(PgsTrimmed *t)
{
	return t->rows > 0 && SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->relid));
}

static char *
vacuum_sql(PgsTrimmed *t)
{
	return psprintf("VACUUM (" PGS_VACUUM_OPTIONS "VERBOSE false) %s",
					pgs_qualified_name(t->relid));
}

/* the 'vacuum' log row of t, committed */
static void
log_vacuum(PgsTrimmed *t, TimestampTz started, bool ok, PgsLoopError *err)
{
	pgs_log_action(t->relid, "vacuum", pgs_display_name(t->relid), 0, false, started,
				   ok ? psprintf("after the purge of " INT64_FORMAT " rows", t->rows) :
				   psprintf("failed: %s", err->message));
	pgs_spi_commit();
}

/*
 * vacuum_each
 *		VACUUM each relation of trimmed that lost rows (but done) over
 *		conn, each logged and committed on its own; when conn is NULL
 *		(failure says why) each is logged as skipped.
 */
static void
vacuum_each(PGconn *conn, const PgsLoopFailure *failure, List *trimmed,
			PgsTrimmed *done)
{
	ListCell   *lc;

	foreach(lc, trimmed)
	{
		PgsTrimmed *t = (PgsTrimmed *) lfirst(lc);
		TimestampTz started = GetCurrentTimestamp();
		PgsLoopError err;
		char	   *name;

		if (t == done || !vacuum_wanted(t))
			continue;
		name = pgs_display_name(t->relid);
		if (conn == NULL)
		{
			pgs_log_action(t->relid, "vacuum", name, 0, false, started,
						   psprintf("skipped: could not open a local connection to this server as role %s (%s); allow it in pg_hba.conf, or leave the VACUUM to autovacuum",
									quote_identifier(failure->user),
									failure->message ? failure->message : "no Unix socket"));
			pgs_spi_commit();
			continue;
		}
		log_vacuum(t, started, pgs_loop_run(conn, vacuum_sql(t), &err), &err);
	}
}

/*
 * pgs_vacuum_purged
 *		VACUUM each relation of trimmed (PgsTrimmed) that lost rows, when
 *		vacuum (pgs_policy_vacuums) says so, in a procedure (nonatomic)
 *		only, over a loopback connection of its own; it commits first.
 */
void
pgs_vacuum_purged(List *trimmed, bool vacuum, bool nonatomic)
{
	PGconn	   *volatile own = NULL;
	PgsLoopFailure failure;

	if (!vacuum || !lost_rows(trimmed))
		return;

	/* a function cannot commit, so cannot run VACUUM: autovacuum will */
	if (!nonatomic)
		return;

	/* between transactions: VACUUM must not wait for this session */
	pgs_spi_commit();
	PG_TRY();
	{
		own = pgs_loop_connect("pgscale vacuum", &failure);
		vacuum_each(own, &failure, trimmed, NULL);
	}
	PG_FINALLY();
	{
		pgs_loop_finish(own);
	}
	PG_END_TRY();
}

/*
 * pgs_vacuum_begin
 *		As pgs_vacuum_purged over conn, the VACUUM of the first relation of
 *		trimmed started and left running (pgs_loop_start), so that this
 *		session can drop the partitions its run detached meanwhile: the
 *		VACUUM takes SHARE UPDATE EXCLUSIVE on a trimmed relation only, and
 *		the drops lock only tables that are no longer partitions.  Nothing
 *		may be sent over conn until pgs_vacuum_complete.
 */
void
pgs_vacuum_begin(List *trimmed, bool vacuum, PGconn *conn, PgsVacuumRun *vr)
{
	ListCell   *lc;

	memset(vr, 0, sizeof(*vr));
	vr->conn = conn;
	vr->trimmed = trimmed;
	vr->vacuum = vacuum && lost_rows(trimmed);
	if (!vr->vacuum)
		return;

	/* between transactions: VACUUM must not wait for this session */
	pgs_spi_commit();
	foreach(lc, trimmed)
	{
		PgsTrimmed *t = (PgsTrimmed *) lfirst(lc);

		if (!vacuum_wanted(t))
			continue;
		vr->running = t;
		vr->started = GetCurrentTimestamp();
		pgs_loop_start(conn, vacuum_sql(t));
		return;
	}
}

/*
 * pgs_vacuum_complete
 *		Wait for the VACUUM pgs_vacuum_begin started, log it, then VACUUM
 *		the other relations of its list one after the other.
 */
void
pgs_vacuum_complete(PgsVacuumRun *vr)
{
	PgsLoopError err;

	if (!vr->vacuum)
		return;
	if (vr->running != NULL)
	{
		bool		ok = pgs_loop_end(vr->conn, &err);

		log_vacuum(vr->running, vr->started, ok, &err);
	}
	else
		pgs_spi_commit();
	vacuum_each(vr->conn, NULL, vr->trimmed, vr->running);
	vr->vacuum = false;
}
