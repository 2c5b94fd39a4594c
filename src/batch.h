/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  The state of a table's batched deletes, private to batch.c (the
 *	  "tid" strategy and the driver) and batch_range.c (the "time range"
 *	  strategy).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_BATCH_H
#define PGSCALE_BATCH_H

#include "storage/block.h"
#include "storage/itemptr.h"

#include "pgscale.h"

typedef struct PgsBatchStrategy
{
	const char *name;
	void		(*prepare) (PgsBatchState *state);
	int64		(*next) (PgsBatchState *state, bool *done);
} PgsBatchStrategy;

struct PgsBatchState
{
	const PgsBatchStrategy *strategy;
	Oid			relid;
	char	   *qualname;		/* quoted, qualified table name */
	char	   *qcolumn;		/* quoted time column */
	Oid			coltype;		/* base type of the time column */
	Oid			cutoff_type;	/* TIMESTAMPOID or TIMESTAMPTZOID */
	Datum		cutoff;
	int			batch_size;
	int64		batches;		/* DELETE statements run */
	char	   *batch_sql;
	char	   *count_sql;
	int			delete_ok;		/* SPI result of a batch: SPI_OK_DELETE, or
								 * SPI_OK_INSERT when rows are archived */

	/* "tid" strategy */
	BlockNumber cursor;			/* next block to read */
	BlockNumber base_blocks;	/* blocks that hold about batch_size rows */
	BlockNumber step;			/* blocks in the next batch */
	TransactionId horizon;		/* oldest transaction unfinished at start */
	bool		verifying;		/* cursor done, rechecking recent pages */
	List	   *recheck;		/* BlockRuns still to recheck */
	BlockNumber rechecked;		/* blocks read again at the end */
	char	   *plain_sql;		/* delete a run of blocks' expired rows */
	char	   *locked_sql;		/* the expired rows left in a run of blocks */
	char	   *wait_sql;		/* delete given rows, waiting for their locks */
	char	   *skip_sql;		/* delete given rows, skipping locked ones */
	char	   *left_sql;		/* which of given rows are still expired */
	ItemPointerData *locked;	/* rows skipped as locked, to come back to */
	int			nlocked;
	int			maxlocked;
	int			locked_rounds;	/* times the locked rows were come back to */
	int64		skipped;		/* rows left locked at the end */

	/* foreign keys to follow (references.c), or NULL */
	PgsRefs    *refs;
	bool		fk;				/* delete through the statements below */
	char	   *fk_select_sql;	/* lock a run of blocks' expired rows */
	char	   *fk_wait_sql;	/* lock given rows, waiting */
	char	   *fk_skip_sql;	/* lock given rows, skipping locked ones */
	List	   *fk_delete_sql;	/* per table of refs->tables: its DELETE */

	/* "time range" strategy: last value deleted */
	bool		have_last;
	Datum		last_value;
	char	   *bound_sql;
	char	   *bound_sql_first;
	char	   *batch_sql_first;
	char	   *last_sql;
	char	   *last_sql_first;
};

/* batch_range.c */
extern const PgsBatchStrategy pgs_batch_range_strategy;

#endif							/* PGSCALE_BATCH_H */
