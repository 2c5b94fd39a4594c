/*-------------------------------------------------------------------------
 *
 * pgscale.h
 *	  Declarations shared by pgscale's source files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_H
#define PGSCALE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/date.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"

#include "compat.h"
#include "catalog.h"
#include "spi.h"

/* guc.c: settings */
extern int	pgscale_lock_timeout;
extern int	pgscale_lock_retries;
extern int	pgscale_step_timeout;
extern double pgscale_max_delete_fraction;
extern int	pgscale_log_retention;
extern char *pgscale_databases;
extern int	pgscale_naptime;

/*
 * The lock a real maintenance cycle holds in its database, as pg_locks shows
 * it: locktype advisory, classid PGSCALE_LOCK_KEY1, objid PGSCALE_LOCK_KEY2,
 * objsubid PGSCALE_LOCK_CLASS.  The SQL advisory lock functions use the
 * classes 1 and 2 only, so none of them can take it.
 */
#define PGSCALE_LOCK_KEY1	0x70677363	/* "pgsc" */
#define PGSCALE_LOCK_KEY2	1
#define PGSCALE_LOCK_CLASS	0x7073	/* "ps" */
extern char *pgscale_role;
extern bool pgscale_enabled;
extern bool pgscale_vacuum_after_purge;
extern int	pgscale_max_workers;
extern int	pgscale_batch_strategy;

/* the schema of pgscale's catalog tables, whatever schema holds its functions */
#define PGS_CATALOG_SCHEMA "pgscale"

#define PGS_BATCH_AUTO 0
#define PGS_BATCH_TIME_RANGE 1
extern int	pgscale_max_replica_lag;
extern int	pgscale_max_slot_wal;
extern int	pgscale_max_wal_rate;
extern int	pgscale_max_pause;
extern int	pgscale_pacing;

#define PGS_PACING_NOTICE 0
#define PGS_PACING_STRICT 1
extern void pgs_define_gucs(void);

/* window.c: the maintenance window, and its settings' hooks */
extern char *pgscale_maintenance_window;
extern char *pgscale_window_time_zone;
extern char *pgscale_window_test_now;
extern bool pgs_check_maintenance_window(char **newval, void **extra,
										 GucSource source);
extern void pgs_assign_maintenance_window(const char *newval, void *extra);
extern bool pgs_check_window_time_zone(char **newval, void **extra,
									   GucSource source);
extern void pgs_assign_window_time_zone(const char *newval, void *extra);
extern bool pgs_check_window_test_now(char **newval, void **extra,
									  GucSource source);
extern void pgs_assign_window_test_now(const char *newval, void *extra);
extern bool pgs_window_set(void);
extern bool pgs_window_open(void);
extern char *pgs_window_skip(Oid relid, bool dry_run);
extern void pgs_window_closed_notice(Oid relid);

/* worker.c: the launcher and the per-database workers */
extern void pgs_worker_init(void);

/* Who started the work, as recorded in pgscale_log.source. */
typedef enum PgsSource
{
	PGS_SOURCE_MANUAL,
	PGS_SOURCE_WORKER,
	PGS_SOURCE_CRON
} PgsSource;

extern PgsSource pgs_current_source(void);
extern const char *pgs_source_name(PgsSource source);

/* util.c: the extension's own objects, user switching, retries */
extern Oid	pgs_schema_of_extension(Oid extoid);
extern Oid	pgs_extension_schema(void);
extern Oid	pgs_catalog_schema_of(Oid extoid);
extern Oid	pgs_catalog_schema(void);
extern const char *pgs_ext_table(const char *name);
extern Oid	pgs_extension_owner(void);
extern void pgs_become_owner(Oid *save_userid, int *save_sec_context);
extern void pgs_restore_user(Oid save_userid, int save_sec_context);

typedef void (*PgsAction) (void *arg);
extern bool pgs_run_guarded(PgsAction action, void *arg, ErrorData **error);
extern bool pgs_run_guarded_as(Oid relid, PgsAction action, void *arg,
							   ErrorData **error);
extern bool pgs_run_guarded_locking(Oid relid, Oid lockrel, PgsAction action,
									void *arg, ErrorData **error);
extern List *pgs_lock_holders(Oid relid);
extern char *pgs_describe_holder(int pid);
extern bool pgs_holders_remain(List *pids, Oid relid);
extern void pgs_begin_step_timeouts(void);
extern void pgs_end_step_timeouts(void);
extern bool pgs_step_timed_out(ErrorData *edata);


/* policy.c: the pgscale_policy table */
typedef struct PgsPolicy
{
	Oid			relid;
	char	   *time_column;	/* NULL when none is recorded */
	int			time_attnum;	/* -1 unbound, 0 dropped, else attnum */
	Oid			time_type;		/* type when the policy was written */
	bool		has_retention;
	Interval	retention;
	bool		is_protected;
	int			premake_months; /* -1 when not partition-managed */
	char	   *time_zone;		/* NULL: UTC */
	bool		enabled;
	char		on_referenced;	/* PGS_REF_ERROR, _CASCADE or _KEEP */
	double		max_delete_fraction;	/* 0: pgscale.max_delete_fraction */
	bool		ever_cleaned;	/* a real cleanup of it has finished */
	bool		archive;		/* action 'archive' (else 'drop') */
	char	   *archive_schema; /* action 'archive': where expired data goes */
	bool		has_archive_keep;
	Interval	archive_keep;	/* how long archived months stay */
	bool		has_vacuum_after_purge; /* else pgscale.vacuum_after_purge */
	bool		vacuum_after_purge;
	bool		has_compress_after; /* else months are never compressed */
	Interval	compress_after; /* compress.c: months older than this */
} PgsPolicy;

/* pgscale_policy.on_referenced */
#define PGS_REF_ERROR	'e'
#define PGS_REF_CASCADE 'c'
#define PGS_REF_KEEP	'k'

extern List *pgs_load_policies(Oid relid);
extern PgsPolicy *pgs_find_policy(Oid relid);
extern void pgs_check_retention(Interval *retention);
extern const char *pgs_policy_time_column(PgsPolicy *pol);
extern const char *pgs_policy_time_column_if_valid(PgsPolicy *pol);
extern Oid	pgs_time_column_type(Oid relid, const char *colname, bool missing_ok);
extern char *pgs_range_partition_column(Oid relid);

/* compress.c: compress_after, checked when a policy is set */
extern bool pgs_compress_after_is_zero(Interval *after);
extern void pgs_check_compress_after(Oid relid, const char *colname,
									 Interval *retention, Interval *after);

/* partitions.c: reading partition bounds and what they cover */
typedef struct PgsPartBounds
{
	bool		is_default;
	bool		is_range;		/* a range partition; lo/hi are meaningful */
	bool		lo_unbounded;	/* FROM (MINVALUE) */
	bool		hi_unbounded;	/* TO (MAXVALUE) */
	int64		lo;				/* bounds as timestamp or timestamptz */
	int64		hi;
} PgsPartBounds;

typedef struct PgsPartition
{
	Oid			relid;
	PgsPartBounds bounds;
} PgsPartition;

extern bool pgs_partition_bounds(Oid relid, PgsPartBounds *bounds);
extern int	pgs_read_partitions(Oid parent, PgsPartition **parts);
extern void pgs_check_month_partitioned(Oid relid, char **column, Oid *keytype);

/* The ranges of a parent's partitions. */
typedef struct PgsRangeList
{
	int			n;
	int64	   *lo;				/* PG_INT64_MIN: MINVALUE */
	int64	   *hi;				/* PG_INT64_MAX: MAXVALUE */
} PgsRangeList;

extern Oid	pgs_covering_partition(Oid parent, int64 lo, int64 hi,
								   Oid *default_part);
extern void pgs_read_ranges(Oid parent, PgsRangeList *ranges);
extern bool pgs_range_covered(PgsRangeList *ranges, int64 lo, int64 hi);
extern int	pgs_range_gaps(PgsRangeList *ranges, int64 lo, int64 hi,
						   int64 **gap_lo, int64 **gap_hi);
extern Oid	pgs_newest_partition(Oid parent, bool tables_only);
extern const char *pgs_policy_time_zone(Oid relid);
extern int	pgs_uncovered_ranges(Oid parent, int first_month, int last_month,
								 Oid keytype, const char *tz);

/* premake.c: creating monthly partitions */

/* One call never creates more partitions than this (ten years). */
#define PGS_MAX_NEW_PARTITIONS 120

extern void pgs_premake_range(Oid relid, Oid keytype, const char *tz,
							  int months_ahead, bool have_from, DateADT from,
							  int *first, int *last);
typedef struct PgsNewPartition
{
	Oid			relid;			/* InvalidOid in a dry run or on error */
	char	   *name;
	int64		moved;			/* rows taken from the default partition */
	char	   *error;			/* set when the month could not be made */
} PgsNewPartition;

extern List *pgs_create_month_partitions(Oid parent, int first_month,
										 int last_month, const char *keycol,
										 Oid keytype, const char *tz,
										 bool dry_run);

/* log.c: the pgscale_log table */
extern int64 pgs_log_action(Oid relid, const char *action, const char *object,
							int64 rows, bool rows_known, TimestampTz started,
							const char *detail);
extern void pgs_log_update(int64 id, int64 rows, TimestampTz started,
						   const char *detail);
extern void pgs_log_set_detail(int64 id, const char *detail);
extern int64 pgs_log_prune(void);
extern void pgs_send_alert(Oid relid, const char *detail);

/* maintenance.c: how a cycle run by CALL went, for the worker that ran it */
#define PGS_LAST_ERROR_LEN 512

typedef struct PgsCycleResult
{
	int			errors;			/* actions that failed */
	char		last_error[PGS_LAST_ERROR_LEN]; /* the last one's message */
	bool		skipped;		/* another cycle held the lock, or recovery */
	bool		outside_window; /* a purge waits for the maintenance window */
} PgsCycleResult;

/*
 * Set by the background worker, for the cycle it runs, to where the cycle
 * reports how it went; NULL in every other session.
 */
extern PgsCycleResult *pgs_worker_cycle;

/* worker.c: for pgscale_health() */
extern bool pgs_worker_missing(void);
extern bool pgs_worker_next_run(TimestampTz *next_run);

/* worker.c: what pgscale_worker_status() shows while a cycle runs */
extern void pgs_worker_report_outcome(const char *outcome);

/* How many databases pgscale.databases may list (the launcher's slots). */
#define PGS_MAX_DATABASES 64

/* retention.c: one policy's retention, for the maintenance cycle */
typedef struct PgsTrimmed
{
	Oid			relid;			/* a table or leaf partition */
	int64		rows;			/* rows deleted from it */
} PgsTrimmed;

typedef struct PgsRetentionResult
{
	TimestampTz cutoff;
	int			partitions_dropped;
	int64		rows_deleted;
	int64		rows_cascaded;	/* rows of referencing tables deleted */
	List	   *errors;			/* messages of failed steps */
	List	   *trimmed;		/* PgsTrimmed of each relation deleted from */
	bool		window_closed;	/* the maintenance window closed midway */
	bool		vacuumed;		/* trimmed has been vacuumed already */
} PgsRetentionResult;

extern void pgs_apply_retention(PgsPolicy *pol, bool dry_run, bool nonatomic,
								bool respect_window, PgsRetentionResult *result);

/* reclaim.c: online compaction */
typedef struct PgsReclaimResult
{
	int64		bytes_before;	/* the file's size before */
	int64		bytes_after;	/* and after */
	int64		moved;			/* rows moved */
	const char *stop_reason;
	bool		tail_left;		/* VACUUM did not truncate the emptied tail */
} PgsReclaimResult;

extern bool pgs_reclaim_check(Oid relid, bool allow_replicated, int elevel);
extern void pgs_reclaim_relation(Oid relid, TimestampTz deadline,
								 PgsReclaimResult *res);
extern void pgs_reclaim_notice(Oid relid, const PgsReclaimResult *res);
extern int64 pgs_reclaim_estimate(Oid relid, int64 *file_bytes,
								  int64 *reusable_bytes);

/* vacuum.c: VACUUM of what a purge deleted from */
struct pg_conn;					/* libpq-fe.h's PGconn */

extern bool pgs_policy_vacuums(const PgsPolicy *pol);
extern void pgs_vacuum_purged(List *trimmed, bool vacuum, bool nonatomic);

/* a VACUUM after a purge left running while the run goes on */
typedef struct PgsVacuumRun
{
	struct pg_conn *conn;
	List	   *trimmed;
	bool		vacuum;			/* there is work, not yet completed */
	PgsTrimmed *running;		/* the relation being vacuumed, or NULL */
	TimestampTz started;
} PgsVacuumRun;

extern void pgs_vacuum_begin(List *trimmed, bool vacuum, struct pg_conn *conn,
							 PgsVacuumRun *vr);
extern void pgs_vacuum_complete(PgsVacuumRun *vr);
/* references.c: foreign keys referencing a table with a retention */
typedef struct PgsFk
{
	Oid			conoid;
	char	   *conname;
	char	   *qualname;		/* schema-qualified, quoted: SET CONSTRAINTS */
	Oid			referencing;
	Oid			referenced;
	List	   *cols;			/* referencing columns (names) */
	List	   *refcols;		/* referenced columns, in the same order */
	bool		deferred;		/* DEFERRABLE INITIALLY DEFERRED */
} PgsFk;

typedef struct PgsRefTable
{
	Oid			relid;
	PgsFk	   *via;			/* the key it was first reached through */
	List	   *in;				/* keys from it into tables of the cascade */
	List	   *selfs;			/* its self-references */
	int64		rows;			/* rows deleted (or counted) in it */
} PgsRefTable;
typedef struct PgsRefs
{
	Oid			root;			/* the policy's table */
	char		mode;			/* PGS_REF_* */
	List	   *incoming;		/* keys from other tables into the root */
	List	   *tables;			/* PgsRefTable, referencing before referenced,
								 * the root last */
	List	   *deferred;		/* deferred constraints involved */
	char	   *blocked;		/* why a cascade cannot run, or NULL */
	int			aliases;		/* for the SQL written */
} PgsRefs;
/* Appends "the row alias is one of those meant" to buf. */
typedef void (*PgsRowPred) (StringInfo buf, const char *alias, void *arg);

/* The root's rows a statement starts from: a relation and a predicate. */
typedef struct PgsRootRows
{
	const char *from;			/* e.g. "ONLY s.t" */
	PgsRowPred	pred;
	void	   *arg;
} PgsRootRows;

extern PgsRefs *pgs_read_references(Oid root, char mode);
extern bool pgs_references_matter(PgsRefs *refs);
extern PgsRefTable *pgs_root_table(PgsRefs *refs);
extern char *pgs_references_delete_sql(PgsRefs *refs, PgsRefTable *t,
									   PgsRootRows *root);
extern char *pgs_references_count_sql(PgsRefs *refs, PgsRefTable *t,
									  PgsRootRows *root);
extern void pgs_references_append_keep(StringInfo buf, PgsRefs *refs,
									   const char *alias, PgsRowPred expired,
									   void *arg);
extern char *pgs_references_check(PgsRefs *refs, const char *from,
								  PgsRowPred expired, void *arg,
								  Oid cutoff_type, Datum cutoff);
extern void pgs_references_immediate(PgsRefs *refs, bool on);
/* batch.c: deleting expired rows of one table in batches */
typedef struct PgsBatchState PgsBatchState;
extern PgsBatchState *pgs_batch_begin(Oid relid, const char *time_column,
									  Oid cutoff_type, Datum cutoff,
									  int batch_size, PgsRefs *refs);
extern char *pgs_batch_describe(PgsBatchState *state);
extern int64 pgs_batch_next(PgsBatchState *state, bool *done);
extern int64 pgs_batch_count(PgsBatchState *state);
extern int64 pgs_batch_skipped(PgsBatchState *state);
#endif							/* PGSCALE_H */
