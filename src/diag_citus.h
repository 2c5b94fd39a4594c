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

/* A column's statistics on the shards, weighted by their rows. */
typedef struct PgsCitusColumn
{
	char	   *name;
	double		width;			/* average stored width */
	double		nullfrac;
} PgsCitusColumn;

/* An index's catalog size summed over the placements of its shards. */
typedef struct PgsCitusIndex
{
	Oid			indexrelid;
	bool		known;			/* every placement has the shard index */
	int64		placements;		/* placements where it was found */
	int64		pages;
	double		tuples;
	bool		analyzed;		/* on every one of them */
} PgsCitusIndex;

/*
 * What the bloat estimate needs of a Citus table: the catalog's pages and
 * rows of its shards summed over the placements, the shards' column
 * statistics, and the same for each index.
 */
typedef struct PgsCitusBloat
{
	Oid			relid;
	bool		known;			/* every placement answered */
	int64		placements;
	int64		failed;
	int64		pages;
	double		tuples;
	bool		analyzed;		/* every placement has been analyzed */
	List	   *columns;		/* PgsCitusColumn */
	List	   *indexes;		/* PgsCitusIndex */
} PgsCitusBloat;

extern bool pgs_citus_present(void);
extern const char *pgs_citus_no_shard_filter(const char *relid_expr);
extern PgsCitusBloat *pgs_citus_bloat(Oid relid);
extern void pgs_citus_health_connections(List **checks, double warn_pct,
										 double critical_pct);
extern const char *pgs_citus_filter(const char *relid_expr);
extern bool pgs_citus_shards(PgsCitusAsk ask, Datum relations, bool isnull,
							 PgsCitusShards *shards);
extern char *pgs_citus_unknown_phrase(int64 failed, int64 placements);
extern const char *pgs_citus_table_kind(Oid relid);

#endif							/* PGSCALE_DIAG_CITUS_H */
