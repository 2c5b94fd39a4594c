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

/*
 * vacuum_each
 *		VACUUM each relation of trimmed that lost rows over conn, each
 *		logged and committed on its own; when conn is NULL (failure says
 *		why) each is logged as skipped.
 */
static void
vacuum_each(PGconn *conn, const PgsLoopFailure *failure, List *trimmed)
{
	ListCell   *lc;

	foreach(lc, trimmed)
	{
		PgsTrimmed *t = (PgsTrimmed *) lfirst(lc);
		TimestampTz started = GetCurrentTimestamp();
		PgsLoopError err;
		char	   *name;

		if (t->rows <= 0 || !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(t->relid)))
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
		if (pgs_loop_run(conn, psprintf("VACUUM (" PGS_VACUUM_OPTIONS "VERBOSE false) %s",
										pgs_qualified_name(t->relid)), &err))
			pgs_log_action(t->relid, "vacuum", name, 0, false, started,
						   psprintf("after the purge of " INT64_FORMAT " rows", t->rows));
		else
			pgs_log_action(t->relid, "vacuum", name, 0, false, started,
						   psprintf("failed: %s", err.message));
		pgs_spi_commit();
	}
}

/*
 * pgs_vacuum_purged
 *		VACUUM each relation of trimmed (PgsTrimmed) that lost rows, when
 *		vacuum (pgs_policy_vacuums) says so, in a procedure (nonatomic)
 *		only; it commits first.  conn is a loopback connection the caller
 *		has open and keeps (the one a partition retention run detached
 *		over: one backend start fewer), or NULL for one of its own.
 */
void
pgs_vacuum_purged(List *trimmed, bool vacuum, bool nonatomic, PGconn *conn)
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
	if (conn != NULL)
	{
		vacuum_each(conn, NULL, trimmed);
		return;
	}
	PG_TRY();
	{
		own = pgs_loop_connect("pgscale vacuum", &failure);
		vacuum_each(own, &failure, trimmed);
	}
	PG_FINALLY();
	{
		pgs_loop_finish(own);
	}
	PG_END_TRY();
}
