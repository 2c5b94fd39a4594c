/*-------------------------------------------------------------------------
 *
 * archive.h
 *	  archive.c: action 'archive', moving what expires into an archive
 *	  schema instead of deleting it, and putting it back.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_ARCHIVE_H
#define PGSCALE_ARCHIVE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"

#include "pgscale.h"

/* The archive arguments of pgscale_set_retention(), then the settled ones. */
typedef struct PgsArchiveSettings
{
	bool		given_action;
	bool		archive;		/* action 'archive' */
	char	   *archive_schema; /* NULL: not given (or action 'drop') */
	bool		has_keep;
	Interval	keep;
} PgsArchiveSettings;

/* Where one run of a policy with action 'archive' puts what expires. */
typedef struct PgsArchive
{
	Oid			root;			/* the policy's table */
	char	   *source_schema;
	char	   *source_table;
	char	   *schema;			/* archive_schema */
	bool		has_keep;
	Interval	keep;
	const char *time_column;
	Oid			keytype;		/* base type of the time column */
	const char *tz;				/* months of a timestamptz column: this zone */

	/* the months of archived rows the current trim writes to */
	Oid			rows_table;
	int			first_month;
	int			last_month;
} PgsArchive;

/* pgscale_set_retention() */
extern void pgs_archive_read_args(FunctionCallInfo fcinfo, int argno,
								  PgsArchiveSettings *arch);
extern void pgs_archive_settle(Oid relid, PgsPolicy *existing,
							   PgsArchiveSettings *arch, const char *on_referenced);

/* a run */
extern PgsArchive *pgs_archive_of_policy(PgsPolicy *pol, const char *time_column);
extern PgsArchive *pgs_archive_to_schema(Oid root, const char *time_column,
										 const char *schema);
extern char *pgs_archive_rows_target(PgsArchive *arch, Oid relid, Oid cutoff_type,
									 Datum cutoff, char **columns);
extern void pgs_archive_rows_done(PgsArchive *arch);
extern void pgs_archive_partition(Oid child, Oid parent, PgsArchive *arch,
								  const PgsPartBounds *bounds);
extern void pgs_archive_finish(PgsArchive *arch, bool dry_run,
							   int partitions, int64 rows);

/* batch.c: move the deleted rows into "target" instead */
extern void pgs_batch_archive(PgsBatchState *state, const char *target,
							  const char *columns);

#endif							/* PGSCALE_ARCHIVE_H */
