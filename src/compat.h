/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the PostgreSQL major versions pgscale builds
 *	  for (13 to 18), newest API first.  No other file tests
 *	  PG_VERSION_NUM.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_COMPAT_H
#define PGSCALE_COMPAT_H

#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/datetime.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 130000
#error "pgscale requires PostgreSQL 13 or later"
#endif

/*
 * Ownership checks: PostgreSQL 16 folded the per-class functions into
 * object_ownercheck().
 */
#if PG_VERSION_NUM >= 160000
#define pgs_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define pgs_class_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#endif

/*
 * Materialized set-returning functions: InitMaterializedSRF() since 16 (and
 * 15.x minor releases), SetSingleFuncCall() in 15.0, hand-made before.
 */
#if PG_VERSION_NUM >= 150000
#define pgs_init_materialized_srf(fcinfo) InitMaterializedSRF((fcinfo), 0)
#define pgs_init_materialized_srf_scalar(fcinfo) \
	InitMaterializedSRF((fcinfo), MAT_SRF_USE_EXPECTED_DESC)
#else
extern void pgs_init_materialized_srf_flags(FunctionCallInfo fcinfo, bool expected);
#define pgs_init_materialized_srf(fcinfo) \
	pgs_init_materialized_srf_flags((fcinfo), false)
#define pgs_init_materialized_srf_scalar(fcinfo) \
	pgs_init_materialized_srf_flags((fcinfo), true)
#define PGSCALE_NEED_MATERIALIZED_SRF 1
#endif

/*
 * NOTIFY from a background worker: before 15 the listening backends are
 * signalled only by ProcessCompletedNotifies(), which PostgresMain calls
 * after each transaction and a worker must call itself; since 15 the
 * commit signals them.
 */
#if PG_VERSION_NUM >= 150000
#define pgs_signal_listeners() ((void) 0)
#else
#include "commands/async.h"
#define pgs_signal_listeners() ProcessCompletedNotifies()
#endif

/*
 * Transaction control in procedures: since 15, SPI_commit() starts the next
 * transaction itself.
 */
#if PG_VERSION_NUM >= 150000
#define pgs_spi_commit() SPI_commit()
#else
#define pgs_spi_commit() \
	do { SPI_commit(); SPI_start_transaction(); } while (0)
#endif

/*
 * VACUUM's options of 16 and later, for pgscale's own VACUUMs: a ring of
 * buffers (BUFFER_USAGE_LIMIT), so that they do not evict the
 * application's pages, and SKIP_DATABASE_STATS: the database-wide oldest
 * unfrozen XID, which a VACUUM otherwise recomputes at its end by reading
 * all of pg_class, can advance only when the table holding it was
 * vacuumed, which a VACUUM of one purged table or month seldom is;
 * autovacuum keeps it current.  The options' text, with its trailing
 * comma, for "VACUUM (... VERBOSE false)".
 */
#if PG_VERSION_NUM >= 160000
#define PGS_VACUUM_OPTIONS "BUFFER_USAGE_LIMIT '2MB', SKIP_DATABASE_STATS, "
#else
#define PGS_VACUUM_OPTIONS ""
#endif

/* Reserving the GUC prefix: MarkGUCPrefixReserved() since 15. */
#if PG_VERSION_NUM >= 150000
#define pgs_reserve_guc_prefix(prefix) MarkGUCPrefixReserved(prefix)
#else
#define pgs_reserve_guc_prefix(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * TID range scans (ctid > x without a full scan) exist since 14; before
 * that, batched deletes go by ranges of the time column.
 */
#if PG_VERSION_NUM >= 140000
#define PGSCALE_HAVE_TID_RANGE_SCAN 1
#endif

/* Partition parent lookup grew an even_if_detached flag in 14. */
#include "catalog/partition.h"
#if PG_VERSION_NUM >= 140000
#define get_partition_parent_compat(relid) get_partition_parent((relid), true)
#else
#define get_partition_parent_compat(relid) get_partition_parent(relid)
#endif

/* Partition descriptors can leave out detached-pending partitions since 14. */
#if PG_VERSION_NUM >= 140000
#define pgs_relation_partition_desc(rel) RelationGetPartitionDesc((rel), true)
#else
#define pgs_relation_partition_desc(rel) RelationGetPartitionDesc(rel)
#endif

/*
 * ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY and FINALIZE, and
 * pg_inherits.inhdetachpending, exist since 14.
 */
#if PG_VERSION_NUM >= 140000
#define PGSCALE_HAVE_DETACH_CONCURRENTLY 1
#endif

/* Shared memory must be requested from shmem_request_hook since 15. */
#if PG_VERSION_NUM >= 150000
#define PGSCALE_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/*
 * Running a statement at top level (the worker's CALL): parse analysis
 * was renamed in 15, and PortalRun() lost its run_once flag in 18.
 */
#if PG_VERSION_NUM >= 150000
#define pgs_analyze_and_rewrite(parsetree, sql) \
	pg_analyze_and_rewrite_fixedparams((parsetree), (sql), NULL, 0, NULL)
#else
#define pgs_analyze_and_rewrite(parsetree, sql) \
	pg_analyze_and_rewrite((parsetree), (sql), NULL, 0, NULL)
#endif
/* index_beginscan takes the scan's instrumentation from 18 on. */
#if PG_VERSION_NUM >= 180000
#define pgs_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define pgs_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif
#if PG_VERSION_NUM >= 180000
#define pgs_portal_run(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, (dest), (dest), (qc))
#else
#define pgs_portal_run(portal, dest, qc) \
	PortalRun((portal), FETCH_ALL, true, true, (dest), (dest), (qc))
#endif

/* varatt.h was split out of postgres.h in 16. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* ---- Online conversion (convert*.c, split.c) ---- */

/* Schema privileges: object_aclcheck() since 16. */
#if PG_VERSION_NUM >= 160000
#define pgs_namespace_aclcheck(nspid, roleid, mode) \
	object_aclcheck(NamespaceRelationId, (nspid), (roleid), (mode))
#else
#define pgs_namespace_aclcheck(nspid, roleid, mode) \
	pg_namespace_aclcheck((nspid), (roleid), (mode))
#endif

/* ---- The worker (worker.c) ---- */

/* Database privileges: object_aclcheck() since 16. */
#if PG_VERSION_NUM >= 160000
#define pgs_database_aclcheck(dboid, roleid, mode) \
	object_aclcheck(DatabaseRelationId, (dboid), (roleid), (mode))
#else
#define pgs_database_aclcheck(dboid, roleid, mode) \
	pg_database_aclcheck((dboid), (roleid), (mode))
#endif

/*
 * A database left invalid by an interrupted DROP DATABASE (datconnlimit
 * -2, since the minor releases of August 2023: 15.4, 14.9, 13.12).
 */
#ifdef DATCONNLIMIT_INVALID_DB
#define pgs_database_is_invalid(form) ((form)->datconnlimit == DATCONNLIMIT_INVALID_DB)
#else
#define pgs_database_is_invalid(form) false
#endif

/* UNIQUE NULLS NOT DISTINCT exists since 15. */
#if PG_VERSION_NUM >= 150000
#define pgs_index_nulls_not_distinct(form) ((form)->indnullsnotdistinct)
#else
#define pgs_index_nulls_not_distinct(form) false
#endif

/* ---- end of online conversion ---- */

/* ---- Diagnostics (diag_*.c): begin ----------------------------------- */

/*
 * Measuring a relation's files without opening it (diag_relsize.c): the
 * "no backend" number was renamed with ProcNumber in 17, the relation map
 * speaks of file numbers since 16, and GetRelationPath() returns a
 * RelPathStr by value since 18.
 */
#include "common/relpath.h"
#include "utils/relmapper.h"
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#define PGS_NO_BACKEND INVALID_PROC_NUMBER
#else
#include "storage/backendid.h"
#define PGS_NO_BACKEND InvalidBackendId
#endif

#if PG_VERSION_NUM >= 180000
#define pgs_relation_path(db, spc, filenumber, fork) \
	pstrdup(GetRelationPath((db), (spc), (filenumber), PGS_NO_BACKEND, (fork)).str)
#else
#define pgs_relation_path(db, spc, filenumber, fork) \
	GetRelationPath((db), (spc), (filenumber), PGS_NO_BACKEND, (fork))
#endif

#if PG_VERSION_NUM >= 160000
#define pgs_relmap_filenumber(relid, shared) \
	RelationMapOidToFilenumber((relid), (shared))
#else
#define pgs_relmap_filenumber(relid, shared) \
	RelationMapOidToFilenode((relid), (shared))
#endif

/*
 * The cumulative statistics moved to shared memory in 15, fetched one entry
 * at a time unless stats_fetch_consistency = snapshot; before 15 a backend
 * read them once per transaction anyway.
 */
#if PG_VERSION_NUM >= 150000
#define PGSCALE_HAVE_STATS_FETCH_CONSISTENCY 1
#endif

/* ---- Diagnostics (diag_*.c): end ------------------------------------- */

/* ---- Maintenance window (window.c) ----------------------------------- */

/*
 * DecodeDateTime() reports the details of an error through a
 * DateTimeErrorExtra since 16; window.c only needs the error code.
 */
#if PG_VERSION_NUM >= 160000
typedef DateTimeErrorExtra PgsDateTimeErrorExtra;
#define pgs_decode_datetime(field, ftype, nf, dtype, tm, fsec, tzp, extra) \
	DecodeDateTime((field), (ftype), (nf), (dtype), (tm), (fsec), (tzp), (extra))
#else
typedef int PgsDateTimeErrorExtra;
#define pgs_decode_datetime(field, ftype, nf, dtype, tm, fsec, tzp, extra) \
	((void) (extra), DecodeDateTime((field), (ftype), (nf), (dtype), (tm), (fsec), (tzp)))
#endif

/*
 * The "extra" of a GUC check hook: guc_malloc() since 16, plain malloc()
 * (which guc.c frees with free()) before.
 */
#if PG_VERSION_NUM >= 160000
#define pgs_guc_malloc(size) guc_malloc(LOG, (size))
#else
#define pgs_guc_malloc(size) malloc(size)
#endif

/* ---- Pacing (pacing.c) ------------------------------------------------ */

/*
 * The wait event of a pacing pause: an extension's own named event since
 * 17 (pg_stat_activity shows wait_event PgscalePacing), the generic
 * "Extension" before.
 */
#if PG_VERSION_NUM >= 170000
#include "utils/wait_event.h"
#define pgs_pacing_wait_event() WaitEventExtensionNew("PgscalePacing")
#else
#define pgs_pacing_wait_event() PG_WAIT_EXTENSION
#endif

#endif							/* PGSCALE_COMPAT_H */
