/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Private to the background worker: the state worker.c keeps in
 *	  shared memory, which worker_status.c reports.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_WORKER_H
#define PGSCALE_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/lwlock.h"

#include "pgscale.h"

/* One database's state, in shared memory. */
typedef struct PgsDbState
{
	bool		in_use;
	char		dbname[NAMEDATALEN];
	bool		running;
	int			pid;
	TimestampTz last_start;
	TimestampTz last_end;
	TimestampTz next_run;
	TimestampTz last_error_at;
	char		outcome[64];
	char		last_error[PGS_LAST_ERROR_LEN];
	int64		cycles;
	TimestampTz launched_at;	/* when the launcher registered the worker */
	int			failures;		/* start failures in a row (back-off) */
	int			cycle_failures; /* failed or killed cycles in a row */
	char		problem[PGS_LAST_ERROR_LEN];	/* last reason logged, to log
												 * it once */
} PgsDbState;

typedef struct PgsWorkerShared
{
	LWLock	   *lock;
	int			launcher_pid;
	PgsDbState	db[PGS_MAX_DATABASES];
} PgsWorkerShared;

extern PgsWorkerShared *pgs_worker_shared(void);

#endif							/* PGSCALE_WORKER_H */
