/*-------------------------------------------------------------------------
 *
 * diag.h
 *	  Declarations shared by the diagnostic functions (diag_*.c): sizes
 *	  measured without ever waiting on a lock, the age of the cumulative
 *	  statistics, formatting, and the collectors that
 *	  pgscale_health() and pgscale_scaling_advice() reuse.
 *
 *	  Every collector runs inside the caller's SPI session and allocates
 *	  its results in the current memory context, so they live until the
 *	  caller's SPI_finish().
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_DIAG_H
#define PGSCALE_DIAG_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

#include "pgscale.h"

/* Statistics younger than this make every "unused" verdict a "verify". */
#define PGS_MIN_STATS_DAYS 30

/*
 * The filter every diagnostic uses to keep to the user's own relations:
 * no system catalogs, no TOAST, no temporary relations of this or any
 * other session.  (The SQL run through SPI qualifies every relation and
 * function; operators resolve through the functions' pinned search_path.)
 */
#define PGS_USER_SCHEMA_FILTER(nsp) \
	"(" nsp ".nspname <> ALL ('{pg_catalog,information_schema}'::pg_catalog.name[])" \
	" AND " nsp ".nspname !~ '^pg_(toast|temp_)')"

/*
 * A storage parameter of the pg_class row "rel", as text (NULL when not
 * set).  The subquery runs only for the few relations that have options.
 */
#define PGS_RELOPTION(rel, name) \
	"(CASE WHEN " rel ".reloptions IS NOT NULL THEN" \
	" (SELECT o.option_value FROM pg_catalog.pg_options_to_table(" rel ".reloptions) o" \
	"   WHERE o.option_name = '" name "') END)"

/* diag_relsize.c: sizes read from the files, never waiting on a lock */
typedef enum PgsSizeStatus
{
	PGS_SIZE_OK,				/* measured */
	PGS_SIZE_LOCKED,			/* a conflicting lock is held: skipped */
	PGS_SIZE_NONE				/* dropped meanwhile, or temporary */
} PgsSizeStatus;

typedef struct PgsTableBytes
{
	int64		table_bytes;	/* every fork of the heap */
	int64		toast_bytes;	/* TOAST table and its index */
	int64		index_bytes;	/* every index */
} PgsTableBytes;

extern bool pgs_lock_nowait(Oid relid);
extern void pgs_unlock(Oid relid);
extern PgsSizeStatus pgs_relation_bytes(Oid relid, int64 *bytes);
extern PgsSizeStatus pgs_index_bytes(Oid indexrelid, int64 *bytes);
extern PgsSizeStatus pgs_table_bytes(Oid relid, PgsTableBytes *bytes);
extern PgsSizeStatus pgs_index_oids_bytes(List *oids, int64 *bytes, int *nrels);
extern PgsSizeStatus pgs_index_list_bytes(Datum oids, bool isnull,
										  int64 *bytes, int *nrels);
extern bool pgs_sum_table_bytes(Datum oids, bool isnull, PgsTableBytes *sum);
extern void pgs_reset_skipped(void);
extern List *pgs_skipped_relations(void);

/* diag_util.c: statistics age, formatting, arguments */
typedef struct PgsStatsAge
{
	bool		known;			/* false: no reset time recorded anywhere */
	TimestampTz since;			/* counters accumulate since then */
	double		days;			/* age in days */
	bool		in_recovery;	/* this node is a standby */
	int64		standbys;		/* standbys streaming from this node */
} PgsStatsAge;

extern int	pgs_begin_stats_snapshot(void);
extern void pgs_end_stats_snapshot(int nestlevel);
extern void pgs_get_stats_age(PgsStatsAge *age);
extern bool pgs_stats_young(const PgsStatsAge *age);
extern char *pgs_stats_age_phrase(const PgsStatsAge *age);
extern const char *pgs_per_node_note(const PgsStatsAge *age);

extern char *pgs_size_text(int64 bytes);
extern char *pgs_quote_qualified(const char *schema, const char *name);
extern Datum pgs_name_datum(const char *name);
extern int32 pgs_limit_arg(FunctionCallInfo fcinfo, int argno,
						   const char *argname);
extern int64 pgs_threshold_arg(FunctionCallInfo fcinfo, int argno,
							   const char *argname);

/* diag_indexes.c: unused, duplicate and missing indexes */
typedef struct PgsUnusedIndex
{
	char	   *schema_name;
	char	   *table_name;
	char	   *index_name;
	int64		idx_scan;
	bool		bytes_known;
	int64		bytes;
	int64		order_bytes;	/* measured bytes, else the catalog's */
	char	   *reason;
	char	   *drop_statement; /* NULL when nothing should be run */
	bool		droppable;		/* plainly unused, statistics old enough */
	bool		invalid;
	bool		skipped;
} PgsUnusedIndex;

typedef struct PgsDuplicateIndex
{
	char	   *schema_name;
	char	   *table_name;
	char	   *index_name;
	char	   *covered_by;
	const char *kind;			/* "exact" or "prefix" */
	bool		bytes_known;
	int64		bytes;
	char	   *drop_statement;
} PgsDuplicateIndex;

extern List *pgs_collect_unused_indexes(int64 min_scans, const PgsStatsAge *age,
										bool measure);
extern List *pgs_collect_duplicate_indexes(void);

typedef struct PgsMissingIndex
{
	char	   *schema_name;
	char	   *table_name;
	int64		seq_scan;
	int64		seq_tup_read;
	bool		idx_scan_null;
	int64		idx_scan;
	int64		live_rows;
	int32		index_count;
	bool		bytes_known;
	int64		table_bytes;
	char	   *advice;
} PgsMissingIndex;

extern List *pgs_collect_missing_indexes(int64 min_rows, const PgsStatsAge *age);

/* diag_tables.c: where the space goes */
typedef struct PgsSpaceRow
{
	Oid			relid;
	char	   *schema_name;
	char	   *table_name;
	bool		known;			/* false: some partition was locked */
	PgsTableBytes bytes;
	int64		total_bytes;
	int64		order_bytes;	/* measured total, else the catalog's */
	bool		rows_known;
	int64		estimated_rows;
	int32		partitions;
	bool		partitioned;
	char	   *unknown;		/* why it is not known, when not locked */
} PgsSpaceRow;

extern List *pgs_collect_space(void);

/* diag_bloat.c */
typedef struct PgsBloatRow
{
	char	   *schema_name;
	char	   *table_name;
	char	   *index_name;		/* NULL for a table */
	bool		is_index;
	int64		relation_bytes;
	bool		wasted_known;
	int64		wasted_bytes;
	double		wasted_percent;
	const char *method;			/* "estimate", "pgstattuple", "skipped",
								 * "unknown" */
	bool		citus;			/* a Citus table's, estimated from its shards */
	char	   *unknown;		/* why a Citus table's figures are unknown */
	char	   *advice;
} PgsBloatRow;

/* Below these a relation's waste is not worth a rewrite. */
#define PGS_BLOAT_ADVICE_BYTES	((int64) 10 * 1024 * 1024)
#define PGS_BLOAT_ADVICE_PERCENT 30.0

extern List *pgs_collect_bloat(bool exact, int64 min_bytes);

/* diag_statements.c: pg_stat_statements, whichever version is installed */
typedef struct PgsStatements
{
	char	   *relation;		/* quoted schema.pg_stat_statements */
	const char *total_time;		/* total_exec_time (1.8+) or total_time */
	const char *mean_time;
	const char *max_time;
} PgsStatements;

extern bool pgs_statements_ready(PgsStatements *pgss, const char **why,
								 const char **hint);

/* diag_growth.c */
typedef struct PgsForecast
{
	char	   *schema_name;
	char	   *table_name;
	int32		samples;
	TimestampTz first_at;
	TimestampTz last_at;
	int64		current_bytes;
	double		bytes_per_day;
	int64		forecast_bytes;
	double		r2;
	bool		r2_null;
} PgsForecast;

extern List *pgs_collect_forecast(Interval *horizon);

/* diag_health.c: one row of pgscale_health() */
typedef struct PgsCheck
{
	const char *name;
	const char *status;
	char	   *value;
	char	   *threshold;
	char	   *advice;
} PgsCheck;

extern void pgs_add_check(List **checks, const char *name, const char *status,
						  char *value, char *threshold, char *advice);

/* diag_health_tables.c: the checks about tables */
extern void pgs_health_sequences(List **checks);
extern void pgs_health_growth(List **checks);
extern void pgs_health_retention(List **checks);
extern void pgs_health_blocked_by_references(List **checks);
extern void pgs_health_refused(List **checks);
extern void pgs_health_null_times(List **checks);
extern void pgs_health_partition_gaps(List **checks);
extern void pgs_health_archive(List **checks);

/* diag_status.c: pgscale_policy_status(), one row per policy */
typedef struct PgsPolicyStatus
{
	Oid			relid;
	bool		enabled;
	bool		has_retention;	/* a retention, not protected */
	Interval	retention;
	char	   *time_column;	/* NULL: none usable */
	bool		oldest_known;	/* the oldest row was looked up */
	bool		oldest_null;	/* ... and there is none */
	TimestampTz oldest;
	const char *oldest_source;	/* "partition bounds", "index", "sample",
								 * "locked" or NULL */
	bool		compliant_known;
	bool		compliant;
	TimestampTz last_run;		/* 0: never */
	TimestampTz last_success;
	char	   *last_error;
	TimestampTz last_error_at;
	int64		consecutive_failures;
	int64		rows_removed_30d;
	int64		partitions_removed_30d;
	int			months_configured;	/* -1: not partition-managed */
	int			months_ahead;	/* -1: not known or not partitioned */
	int64		default_rows;	/* -1: no default partition or not known */
	int			partition_gaps; /* -1: not known or not partitioned */
	bool		have_next_run;
	TimestampTz next_run;
} PgsPolicyStatus;

extern bool pgs_lock_tree_nowait(Oid relid);
extern List *pgs_collect_policy_status(void);
extern void pgs_health_policy_status(List **checks);

#endif							/* PGSCALE_DIAG_H */
