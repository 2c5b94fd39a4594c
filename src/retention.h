/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Private to retention: what retention.c, retention_parts.c and
 *	  cleanup.c share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_RETENTION_H
#define PGSCALE_RETENTION_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"

#include "pgscale.h"
#include "loopback.h"

/* What the caller asked for. */
typedef struct CleanupOptions
{
	bool		dry_run;
	bool		have_days;
	int			days;
	Oid			relid;			/* InvalidOid: every policy */
	int			batch_size;
	bool		force;			/* past the blast-radius limits */
	bool		nonatomic;		/* may commit between steps */
	bool		respect_window; /* purge only in pgscale.maintenance_window */
	bool		reclaim;		/* then compact what was purged (reclaim.c) */
} CleanupOptions;

/*
 * Pacing (pacing.c): what was measured at the last batch boundary, and the
 * pauses of the relation being trimmed.
 */
typedef struct RunPace
{
	TimestampTz at;				/* last measure; 0: none yet */
	uint64		own_wal;		/* this backend's WAL bytes then */
	uint64		server_lsn;		/* the server's WAL insert position then */
	double		server_rate;	/* the server's WAL rate, bytes per second */
	Oid			relid;			/* relation the pause total is for */
	int64		paused_us;		/* pauses while trimming it */
	const char *reason;			/* which limit made the last pause */
	bool		noticed;		/* function form: said it cannot pause */
} RunPace;

/* One policy being enforced. */
typedef struct TableRun
{
	const CleanupOptions *opt;
	Oid			relid;
	const char *time_column;
	Oid			cutoff_type;	/* TIMESTAMPOID or TIMESTAMPTZOID */
	Datum		cutoff;
	TimestampTz cutoff_report;
	int			partitions_dropped;
	int64		rows_deleted;
	bool		failed;
	bool		stopped;		/* a step timed out, or the window closed:
								 * leave the table */
	bool		window_closed;	/* the maintenance window closed midway */
	PgsRefs    *refs;			/* foreign keys that reference the table */
	List	   *blockers;		/* sessions a partition drop gave way to */
	int			deferred;		/* expired partitions left for them */
	List	   *errors;			/* messages of the steps that failed */
	List	   *trimmed;		/* PgsTrimmed of each relation deleted from */
	bool		vacuum_after_purge; /* the policy's choice, or the setting */
	bool		vacuumed;		/* trimmed vacuumed over loop already */
	TimestampTz started;
	TimestampTz finished;
	RunPace		pace;			/* pacing.c */
	struct PgsArchive *archive; /* action 'archive': where expired data
								 * goes (archive.c); NULL: it is dropped */
	PGconn	   *loop;			/* detach.c: the loopback connection */
	PGconn	   *loop_starting;	/* it, started and not yet completed */
	PgsLoopFailure loop_failure;	/* why starting it failed */
	const char *loop_refusal;	/* why it could not be made, or NULL */
	bool		detach_locked;	/* holds the table's detach lock */
	bool		detach_busy;	/* another run holds it */
	bool		busy_noticed;	/* said so */
	Oid			pending_parent; /* a detach from it was left pending */
	List	   *detached;		/* RtDetached: dropped at the end of the run */
	bool		queue_detaches; /* retention_parts.c: queue them, to run
								 * together */
	List	   *queued;			/* the expired partitions queued so */
	bool		compress;		/* compress.c: the policy has compress_after */
	Datum		compress_before;	/* months wholly older than this are
									 * compressed (cutoff_type) */
} TableRun;

/* What becomes of a detached table, as its pgscale_detached record says. */
typedef struct RtDetachedFate
{
	char	   *archive_schema; /* archived there; NULL: dropped */
	PgsPartBounds bounds;		/* the partition's bounds, for the archive */
} RtDetachedFate;

/*
 * A table detached from the managed table, to drop or archive at the end
 * of its run.
 */
typedef struct RtDetached
{
	Oid			relid;
	char	   *name;			/* display name when detached */
	char	   *schema;			/* its record's key */
	char	   *relname;
	bool		foreign;
	float4		reltuples;
	const char *how;			/* how it was detached, for pgscale_log */
	bool		earlier;		/* by an earlier run */
	RtDetachedFate fate;
	const char *archived_to;	/* the archive schema it went to, or NULL */
	ErrorData  *error;			/* why it could not be disposed of, or NULL */
} RtDetached;

/* Where DETACH PARTITION CONCURRENTLY left a partition. */
typedef enum RtDetachResult
{
	RT_DETACH_DONE,				/* detached */
	RT_DETACH_GONE,				/* not a partition of the parent (any more) */
	RT_DETACH_ATTACHED,			/* still attached: the detach failed */
	RT_DETACH_PENDING			/* pending detach: FINALIZE completes it */
} RtDetachResult;

/* Where a partition stands against the cutoff. */
typedef enum PartitionFate
{
	PART_KEEP,					/* every row is newer than the cutoff */
	PART_TRIM,					/* straddles the cutoff, or is the default */
	PART_DROP					/* every row is older: drop it whole */
} PartitionFate;

typedef struct ExpiredPartition
{
	Oid			relid;
	int64		upper;			/* upper bound, as a timestamp */
} ExpiredPartition;

/* The steps of a run that can fail, and what each did, for pgscale_log. */
typedef enum RunStep
{
	STEP_PREPARE_DELETE,
	STEP_DELETE,
	STEP_COUNT_REFERENCING,
	STEP_DROP_PARTITION,
	STEP_CHECK_REFERENCES,
	STEP_APPLY_POLICY,
	STEP_MEASURE,
	STEP_COMPRESS,
	STEP_DECOMPRESS
} RunStep;

/* retention.c */
extern void rt_set_synchronous_commit(bool on);
extern void rt_commit_if_allowed(TableRun *run);
extern bool rt_window_open(TableRun *run);
extern void rt_record_error(TableRun *run, Oid object, RunStep kind,
							ErrorData *edata, TimestampTz started);
extern void rt_trim_relation(TableRun *run, Oid relid);
extern void rt_pred_all(StringInfo buf, const char *alias, void *arg);
extern char *rt_referenced_rows(TableRun *run, Oid relid, const char *from,
								PgsRowPred pred);
extern List *rt_run_policies(const CleanupOptions *opt, List *policies);

/* retention_parts.c */
extern void rt_process_relation(TableRun *run, Oid relid);
extern PartitionFate rt_partition_fate(PgsPartBounds *bounds, int64 cutoff,
									   int64 *upper);

extern void rt_dispose_detached(TableRun *run);
extern bool rt_has_expired_partition(TableRun *run, Oid parent);

/* detach.c */
extern void rt_reconcile_detached(TableRun *run);
extern bool rt_detach_possible(TableRun *run, Oid parent, const char **why);
extern bool rt_detach_usable(TableRun *run, Oid parent, const char **why);
extern void rt_detach_record(TableRun *run, Oid parent, Oid child,
							 const PgsPartBounds *bounds);
extern void rt_detach_forget(const char *schema, const char *name);
extern void rt_detach_forget_list(List *detached);
extern RtDetachResult rt_detach_concurrently(TableRun *run, Oid parent, Oid child,
											 const PgsLoopError *tried,
											 PgsLoopError *err);
extern void rt_detach_leave(TableRun *run, Oid parent, Oid child,
							const char *schema, const char *relname);
extern void rt_detach_add(TableRun *run, Oid relid, const char *how,
						  bool earlier, const RtDetachedFate *fate);
extern void rt_detach_end(TableRun *run);
extern void rt_detach_prestart(TableRun *run);

/* compress.c */
extern void rt_compress_partitions(TableRun *run);
extern bool rt_decompress_for_trim(TableRun *run, Oid relid);

/* pacing.c */
extern bool rt_pace(TableRun *run, Oid relid);
extern const char *rt_pace_detail(TableRun *run, Oid relid, const char *detail);

/* guard.c */
extern bool rt_refused_by_limits(TableRun *run, PgsPolicy *pol);
extern void rt_mark_cleaned(TableRun *run, PgsPolicy *pol);

#endif							/* PGSCALE_RETENTION_H */
