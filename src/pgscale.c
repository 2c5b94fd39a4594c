/*-------------------------------------------------------------------------
 *
 * pgscale.c
 *	  Module entry point.
 *
 *	  pgscale is meant to be listed in shared_preload_libraries (its
 *	  background worker needs that), but every SQL function also works
 *	  when the library is loaded on first use.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "pgscale.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init
 *		Define the settings; when preloaded, also reserve shared memory and
 *		register the background worker's launcher.
 */
void
_PG_init(void)
{
	pgs_define_gucs();
	if (process_shared_preload_libraries_in_progress)
		pgs_worker_init();
}
