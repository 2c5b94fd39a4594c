/*-------------------------------------------------------------------------
 *
 * diag_citus.h
 *	  diag_citus.c: what Citus knows about a table, found at run time
 *	  through Citus' own catalogs and functions (pgscale is never linked
 *	  against Citus), for the diagnostics and the refusals that must see
 *	  the shards rather than the coordinator's empty shell tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_DIAG_CITUS_H
#define PGSCALE_DIAG_CITUS_H

#include "postgres.h"

/* What Citus reports for the placements of a set of relations. */
typedef struct PgsCitusCount
{
	bool		citus;			/* some relation is a Citus table */
	bool		known;			/* every placement answered */
	int64		placements;		/* placements asked */
	int64		failed;			/* ... that did not answer */
	int64		sum;			/* summed over the placements that did */
} PgsCitusCount;

/* A table's figures summed over its shard placements on every node. */
typedef struct PgsCitusTableStats
{
	bool		citus;			/* some relation is a Citus table */
	bool		known;			/* every placement answered */
	int64		placements;
	int64		failed;
	int64		table_bytes;	/* every fork of the heaps */
	int64		toast_bytes;
	int64		index_bytes;
	int64		seq_scan;
	int64		seq_tup_read;
	int64		idx_scan;
	int64		live_rows;
	int64		dead_rows;
} PgsCitusTableStats;

extern bool pgs_citus_present(void);
extern const char *pgs_citus_filter(const char *relid_expr);
extern bool pgs_citus_any_shard(Datum relations, bool isnull);
extern void pgs_citus_table_stats(Datum tables, bool isnull,
								  PgsCitusTableStats *stats);
extern char *pgs_citus_unknown_phrase(int64 failed, int64 placements);
extern const char *pgs_citus_table_kind(Oid relid);
extern void pgs_citus_index_scans(Datum indexes, bool isnull,
								  PgsCitusCount *count);

#endif							/* PGSCALE_DIAG_CITUS_H */
