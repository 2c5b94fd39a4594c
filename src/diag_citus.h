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

/* What a diagnostic asks of the shard placements of a set of relations. */
typedef enum PgsCitusAsk
{
	PGS_CITUS_TABLES,			/* tables: sizes, scans and rows */
	PGS_CITUS_INDEXES			/* indexes: their scans (in idx_scan) */
} PgsCitusAsk;

/* A set of relations' figures summed over their shard placements. */
typedef struct PgsCitusShards
{
	bool		citus;			/* some relation is a Citus table */
	bool		known;			/* every placement answered */
	int64		placements;		/* placements asked */
	int64		failed;			/* ... that did not answer */
	int64		table_bytes;	/* every fork of the heaps */
	int64		toast_bytes;
	int64		index_bytes;
	int64		seq_scan;
	int64		seq_tup_read;
	int64		idx_scan;		/* the scans of the indexes asked about */
	int64		live_rows;
	int64		dead_rows;
} PgsCitusShards;

extern bool pgs_citus_present(void);
extern const char *pgs_citus_filter(const char *relid_expr);
extern bool pgs_citus_shards(PgsCitusAsk ask, Datum relations, bool isnull,
							 PgsCitusShards *shards);
extern char *pgs_citus_unknown_phrase(int64 failed, int64 placements);
extern const char *pgs_citus_table_kind(Oid relid);

#endif							/* PGSCALE_DIAG_CITUS_H */
