/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  pgscale's settings.  They are defined whenever the library is loaded,
 *	  preloaded or not, so that SET pgscale.lock_timeout works in any
 *	  session that has called a pgscale function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "pgscale.h"

int			pgscale_lock_timeout = 500;
int			pgscale_lock_retries = 5;
int			pgscale_log_retention = 90 * 24 * 60;

/*
 * pgs_define_gucs
 *		Define every pgscale.* setting and reserve the prefix.
 */
void
pgs_define_gucs(void)
{
	DefineCustomIntVariable("pgscale.lock_timeout",
							"Longest wait for a lock before pgscale gives way and retries.",
							"Cleanup and partition maintenance never queue longer than this "
							"behind the application's queries. Keeping it below "
							"deadlock_timeout means a lock conflict never becomes a deadlock "
							"error in the application.",
							&pgscale_lock_timeout,
							500, 1, 60 * 1000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.lock_retries",
							"How many times a step that timed out on a lock is retried.",
							"Each retry waits a little longer first. When the retries are "
							"used up, the step is recorded as an error in pgscale_log and "
							"the other tables are processed.",
							&pgscale_lock_retries,
							5, 0, 1000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pgscale.log_retention",
							"How long entries of pgscale_log are kept.",
							NULL,
							&pgscale_log_retention,
							90 * 24 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	pgs_reserve_guc_prefix("pgscale");
}
