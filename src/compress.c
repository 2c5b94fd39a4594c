/*-------------------------------------------------------------------------
 *
 * compress.c
 *	  Compression of old months (a policy's compress_after): the partitions
 *	  of a table partitioned by month on its time column that are wholly
 *	  older than compress_after and wholly newer than the retention cutoff
 *	  are converted to the columnar access method of citus_columnar, one
 *	  partition per transaction, after the table's retention run.
 *
 *	  Columnar has no DELETE.  A compressed month is dropped whole when it
 *	  expires; the month that straddles the cutoff is never compressed, and
 *	  when time moves on and a compressed month comes to straddle it, the
 *	  trim converts it back to heap first (rt_decompress_for_trim), so that
 *	  retention stays exact.
 *
 *	  The conversion is ALTER TABLE ... SET ACCESS METHOD, which rewrites
 *	  the partition under ACCESS EXCLUSIVE on that partition only, never on
 *	  the parent; it waits at most pgscale.lock_timeout for that lock and
 *	  is retried by the next run.  It runs as the partition's owner.  Only
 *	  the procedure forms and the worker compress (each partition in its
 *	  own transaction); the function form says what it left uncompressed.
 *
 *	  A partition of a Citus distributed table is converted the same way:
 *	  Citus runs the ALTER TABLE on the coordinator's shell and on every
 *	  shard of the partition, under ACCESS EXCLUSIVE on those only (on no
 *	  parent, neither the coordinator's nor a shard's; measured with Citus
 *	  13.2), though Citus' planner locks every partition for a query on a
 *	  distributed table, so such queries wait for the month's rewrite.
 *	  Citus' own alter_table_set_access_method() is not used: it detaches
 *	  the partition and attaches a copy, under ACCESS EXCLUSIVE on the
 *	  parent.  The shards' locks are taken by Citus' connections to the
 *	  nodes, which do not have this session's lock_timeout, so the step's
 *	  is sent to them (a SET LOCAL that Citus propagates).  Sizes are summed
 *	  over the shard placements; the size after a conversion is measured
 *	  once it has committed, since the placements are read over connections
 *	  of their own, which would wait for the shards' locks.
 *
 *	  Private to the retention files (retention.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "retention.h"
#include "diag_citus.h"

/* The access method citus_columnar installs. */
#define PGS_COLUMNAR_AM "columnar"

/*
 * columnar_am
 *		OID of the columnar access method, InvalidOid when citus_columnar is
 *		not installed in this database.
 */
static Oid
columnar_am(void)
{
	return get_am_oid(PGS_COLUMNAR_AM, true);
}

/*
 * pgs_compress_after_is_zero
 *		Whether compress_after is zero: pgscale_set_retention's way of
 *		turning compression off.
 */
bool
pgs_compress_after_is_zero(Interval *after)
{
	return after->month == 0 && after->day == 0 && after->time == 0;
}

/*
 * pgs_check_compress_after
 *		The refusals of pgscale_set_retention's compress_after: it must be
 *		positive and shorter than the retention (a month is compressed only
 *		while wholly inside the retention window), citus_columnar must be
 *		installed, and the table must be partitioned by range on its time
 *		column and be a plain table or a Citus distributed one (not a
 *		reference or Citus local table).  SPI must be connected.
 */
void
pgs_check_compress_after(Oid relid, const char *colname, Interval *retention,
						 Interval *after)
{
	Interval	zero;
	const char *kind;
	char	   *keycol;

	memset(&zero, 0, sizeof(zero));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(after),
										  IntervalPGetDatum(&zero))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("compress_after must be positive"),
				 errdetail("It is the age past which whole months are converted to the columnar access method."),
				 errhint("For example '3 months'; '0' stops the compression of new months.")));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(after),
										  IntervalPGetDatum(retention))) >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("compress_after must be shorter than the retention"),
				 errdetail("compress_after is %s and the retention %s; only months wholly inside the retention are compressed.",
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(after))),
						   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(retention)))),
				 errhint("Give a shorter compress_after, or '0' to stop compressing.")));
	if (!OidIsValid(columnar_am()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("compress_after needs the columnar access method"),
				 errdetail("The access method \"%s\" does not exist in this database.",
						   PGS_COLUMNAR_AM),
				 errhint("Run CREATE EXTENSION citus_columnar (it comes with Citus) first.")));
	kind = pgs_citus_table_kind(relid);
	if (kind != NULL && strcmp(kind, "distributed") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("compress_after is not supported on the Citus %s table %s",
						kind, pgs_display_name(relid)),
				 errdetail("pgscale compresses the monthly partitions of plain tables and of Citus distributed tables only."),
				 errhint("Distribute the table with create_distributed_table() first, or convert it yourself with ALTER TABLE ... SET ACCESS METHOD columnar.")));
	keycol = pgs_range_partition_column(relid);
	if (keycol == NULL || strcmp(keycol, colname) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("compress_after needs table %s partitioned by range on \"%s\"",
						pgs_display_name(relid), colname),
				 errdetail("Months are compressed one partition at a time."),
				 errhint("Partition the table by month with pgscale_partition_table() first.")));
}

/*
 * is_candidate
 *		Whether a partition's range is wholly newer than the retention
 *		cutoff (retention never trims it) and wholly older than
 *		compress_after.  Default partitions and open ranges never are; nor
 *		are premade future months.
 */
static bool
is_candidate(TableRun *run, PgsPartBounds *b)
{
	if (b->is_default || !b->is_range || b->lo_unbounded || b->hi_unbounded)
		return false;
	return b->lo >= DatumGetInt64(run->cutoff) &&
		b->hi <= DatumGetInt64(run->compress_before);
}

/*
 * unsupported_reason
 *		Why a partition cannot be converted to columnar, or NULL: an index
 *		of an access method other than btree and hash (Citus #4514, #4787),
 *		an AFTER ROW trigger (foreign keys are made of them), or an
 *		unlogged table, which columnar refuses.  SPI must be connected.
 */
static char *
unsupported_reason(Oid relid)
{
	char	   *why;

	why = pgs_spi_text_oid("SELECT pg_catalog.format('index %s uses the %s access method, which columnar cannot hold',"
						   " ic.oid::pg_catalog.regclass, a.amname)"
						   " FROM pg_catalog.pg_index i"
						   " JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid"
						   " JOIN pg_catalog.pg_am a ON a.oid OPERATOR(pg_catalog.=) ic.relam"
						   " WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
						   " AND a.amname OPERATOR(pg_catalog.<>) ALL (ARRAY['btree', 'hash']::pg_catalog.name[])"
						   " ORDER BY ic.relname LIMIT 1", relid);
	if (why != NULL)
		return why;
	why = pgs_spi_text_oid("SELECT pg_catalog.format('trigger %I is an AFTER ROW trigger%s, which columnar does not support',"
						   " t.tgname, CASE WHEN t.tgisinternal THEN ' of a foreign key' ELSE '' END)"
						   " FROM pg_catalog.pg_trigger t"
						   " WHERE t.tgrelid OPERATOR(pg_catalog.=) $1"
						   " AND (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.<>) 0"
						   " AND (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 66) OPERATOR(pg_catalog.=) 0"
						   " ORDER BY t.tgname LIMIT 1", relid);
	if (why != NULL)
		return why;
	if (get_rel_persistence(relid) == RELPERSISTENCE_UNLOGGED)
		return pstrdup("the partition is unlogged, which columnar does not support");
	return NULL;
}

/*
 * relation_bytes
 *		Size of a partition with its indexes and TOAST; of a partition of a
 *		Citus table, summed over its shard placements on every node (the
 *		coordinator's shell is empty), or -1 when some placement did not
 *		answer.  SPI must be connected.
 */
static int64
relation_bytes(Oid relid, bool citus)
{
	PgsCitusShards shards;
	Datum		elem = ObjectIdGetDatum(relid);
	Datum		rels;

	if (!citus)
		return pgs_spi_int8_oid("SELECT pg_catalog.pg_total_relation_size($1)", relid);
	rels = PointerGetDatum(construct_array(&elem, 1, OIDOID, sizeof(Oid), true,
										   TYPALIGN_INT));
	if (!pgs_citus_shards(PGS_CITUS_TABLES, rels, false, &shards) ||
		!shards.citus || !shards.known)
		return -1;
	return shards.table_bytes + shards.toast_bytes + shards.index_bytes;
}

/* One conversion of a partition, to columnar or back to heap. */
typedef struct AmStep
{
	TableRun   *run;
	Oid			child;
	Oid			columnar;
	bool		to_columnar;	/* else back to heap */
	bool		citus;			/* a partition of a Citus distributed table */
	bool		gone;			/* no longer a month to convert */
	char	   *skipped;		/* why it cannot be compressed */
	int64		before;			/* bytes, -1 unknown */
	int64		after;
} AmStep;

/*
 * am_step_init
 *		A conversion of child, to columnar or back to heap.  SPI must be
 *		connected.
 */
static void
am_step_init(AmStep *step, TableRun *run, Oid child, Oid columnar,
			 bool to_columnar)
{
	memset(step, 0, sizeof(*step));
	step->run = run;
	step->child = child;
	step->columnar = columnar;
	step->to_columnar = to_columnar;
	step->citus = pgs_citus_table_kind(child) != NULL;
	step->before = -1;
	step->after = -1;
}

/*
 * citus_shard_lock_timeout
 *		Citus takes the shards' locks over its connections to the nodes,
 *		which wait as long as the nodes' own lock_timeout says: a session on
 *		a worker holding a shard would hold up the conversion until
 *		pgscale.step_timeout.  So the step's lock_timeout goes to them too,
 *		as a SET LOCAL that Citus sends to every node of the transaction
 *		(citus.propagate_set_commands, set for the step only: the guard
 *		undoes both at its end).  Citus propagates it within a CALL, which
 *		is how the procedure forms and the background worker run.
 */
static void
citus_shard_lock_timeout(void)
{
	(void) set_config_option("citus.propagate_set_commands", "local",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	pgs_spi_execf("SET LOCAL lock_timeout = %d", pgscale_lock_timeout);
}

/*
 * am_step
 *		Convert one partition, as its owner, under ACCESS EXCLUSIVE on the
 *		partition alone (taken first, within pgscale.lock_timeout).  Once
 *		the lock is held the partition is checked again: still a partition
 *		of the table, still a month to compress (or still columnar, for the
 *		way back), and for compression without an index or trigger columnar
 *		cannot hold.  A Citus partition's size after the conversion cannot
 *		be measured before the commit (see the file's header): it is left
 *		to am_log.
 */
static void
am_step(void *arg)
{
	AmStep	   *step = (AmStep *) arg;
	PgsPartBounds bounds;

	LockRelationOid(step->child, AccessExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(step->child)) ||
		get_rel_relkind(step->child) != RELKIND_RELATION)
	{
		step->gone = true;
		return;
	}
	if (step->to_columnar)
	{
		if (!has_superclass(step->child) ||
			get_partition_parent_compat(step->child) != step->run->relid ||
			!pgs_partition_bounds(step->child, &bounds) ||
			!is_candidate(step->run, &bounds) ||
			pgs_rel_am(step->child) == step->columnar)
		{
			step->gone = true;
			return;
		}
		step->skipped = unsupported_reason(step->child);
		if (step->skipped != NULL)
			return;
	}
	else if (pgs_rel_am(step->child) != step->columnar)
	{
		step->gone = true;
		return;
	}
	step->before = relation_bytes(step->child, step->citus);
	if (step->citus)
		citus_shard_lock_timeout();
	pgs_spi_execf("ALTER TABLE %s SET ACCESS METHOD %s",
				  pgs_qualified_name(step->child),
				  step->to_columnar ? PGS_COLUMNAR_AM : "heap");
	if (!step->citus)
		step->after = relation_bytes(step->child, false);
}

/*
 * bytes_detail
 *		"N bytes before, M bytes after (R times smaller)", summed over the
 *		shard placements for a Citus partition, or which size is unknown.
 */
static char *
bytes_detail(AmStep *step)
{
	char	   *where = step->citus ? ", summed over the shard placements" : "";

	if (step->before < 0 || step->after < 0)
		return psprintf("size %s unknown: a shard placement did not answer",
						step->before < 0 ? "before" : "after");
	return psprintf(INT64_FORMAT " bytes before, " INT64_FORMAT " bytes after (%.1f times %s)%s",
					step->before, step->after,
					step->before >= step->after ?
					(double) step->before / Max(step->after, 1) :
					(double) step->after / Max(step->before, 1),
					step->before >= step->after ? "smaller" : "larger", where);
}

/*
 * am_log
 *		Log a conversion done by am_step as action ('compress' or
 *		'decompress'), what prefix says followed by the sizes, and commit in
 *		the procedure forms.  A Citus partition's size after is measured
 *		once that commit has released the shards, and its log row brought
 *		up to date in the next transaction, which the caller's next step
 *		(or the run's end) commits.
 */
static void
am_log(AmStep *step, const char *action, const char *prefix,
	   TimestampTz started)
{
	TableRun   *run = step->run;
	char	   *name = pgs_display_name(step->child);
	int64		id;

	if (!step->citus)
	{
		pgs_log_action(run->relid, action, name, 0, false, started,
					   psprintf("%s: %s", prefix, bytes_detail(step)));
		rt_commit_if_allowed(run);
		return;
	}
	id = pgs_log_action(run->relid, action, name, 0, false, started,
						psprintf("%s: sizes not measured, the conversion had not committed", prefix));
	rt_commit_if_allowed(run);
	if (!run->opt->nonatomic)
		return;
	step->after = relation_bytes(step->child, true);
	pgs_log_set_detail(id, psprintf("%s: %s", prefix, bytes_detail(step)));
}

/*
 * compress_partition
 *		Compress one month in its own transaction (the caller's commit
 *		follows), logging 'compress' with its size before and after, or the
 *		reason it was skipped.  A lock that does not come within
 *		pgscale.lock_timeout (after the retries) is recorded and the next
 *		run tries again; the run goes on with the other months.
 */
static void
compress_partition(TableRun *run, Oid child, Oid columnar)
{
	AmStep		step;
	ErrorData  *edata = NULL;
	TimestampTz started = GetCurrentTimestamp();
	char	   *name = pgs_display_name(child);

	am_step_init(&step, run, child, columnar, true);
	if (!pgs_run_guarded_locking(child, child, am_step, &step, &edata))
	{
		rt_record_error(run, child, STEP_COMPRESS, edata, started);
		return;
	}
	if (step.gone)
		return;
	if (step.skipped != NULL)
	{
		ereport(NOTICE,
				(errmsg("pgscale left partition %s uncompressed: %s", name, step.skipped),
				 errdetail("Columnar holds btree and hash indexes only, and no AFTER ROW triggers or foreign keys."),
				 errhint("Drop that index or trigger from the table, or give up compression with compress_after => '0'.")));
		pgs_log_action(run->relid, "compress", name, 0, false, started,
					   psprintf("skipped: %s", step.skipped));
		rt_commit_if_allowed(run);
		return;
	}
	am_log(&step, "compress",
		   step.citus ?
		   "converted to columnar under ACCESS EXCLUSIVE on the partition and its shards only (Citus ran the ALTER TABLE on every shard)" :
		   "converted to columnar under ACCESS EXCLUSIVE on the partition only",
		   started);
}

/*
 * rt_compress_partitions
 *		After a table's retention run: compress its months that are wholly
 *		older than compress_after and wholly inside the retention.  The
 *		procedure forms and the worker convert them one per transaction; a
 *		dry run names each month it would convert or skip.  The function
 *		form cannot commit between the rewrites, which would hold every
 *		month's lock to the end: it converts none and says so.
 */
void
rt_compress_partitions(TableRun *run)
{
	Oid			columnar;
	char	   *keycol;
	PgsPartition *parts;
	int			nparts;
	int			left = 0;
	int			i;

	if (!run->compress || run->stopped)
		return;
	columnar = columnar_am();
	if (!OidIsValid(columnar))
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgscale cannot compress the months of %s: the columnar access method does not exist",
						pgs_display_name(run->relid)),
				 errhint("Run CREATE EXTENSION citus_columnar, or stop compressing with compress_after => '0'.")));
		return;
	}
	keycol = pgs_range_partition_column(run->relid);
	if (keycol == NULL || strcmp(keycol, run->time_column) != 0)
		return;

	nparts = pgs_read_partitions(run->relid, &parts);
	for (i = 0; i < nparts; i++)
	{
		Oid			child = parts[i].relid;
		char	   *why;

		if (!is_candidate(run, &parts[i].bounds) ||
			get_rel_relkind(child) != RELKIND_RELATION ||
			pgs_rel_am(child) == columnar)
			continue;
		if (!run->opt->nonatomic)
		{
			left++;
			continue;
		}
		/* a dry run reads the catalogs only: it never waits for a lock */
		if (run->opt->dry_run)
		{
			why = unsupported_reason(child);
			if (why != NULL)
				ereport(NOTICE,
						(errmsg("cleanup would leave partition %s uncompressed: %s",
								pgs_display_name(child), why)));
			else
				ereport(NOTICE,
						(errmsg("cleanup would compress partition %s",
								pgs_display_name(child))));
			continue;
		}
		if (run->stopped || !rt_window_open(run))
			break;
		CHECK_FOR_INTERRUPTS();
		compress_partition(run, child, columnar);
	}
	if (left > 0)
		ereport(NOTICE,
				(errmsg("pgscale left %d months of %s uncompressed", left,
						pgs_display_name(run->relid)),
				 errdetail("Each compression rewrites a month under its own lock, so it runs only where every month can commit on its own."),
				 errhint("CALL pgscale_cleanup_proc() or let the worker run; they compress one month per transaction.")));
}

/*
 * rt_decompress_for_trim
 *		Before the rows of relid are trimmed: a columnar relation (a
 *		compressed month that has come to straddle the cutoff, or one a
 *		person converted) has no DELETE, so it is converted back to heap
 *		first, as its owner under pgscale.lock_timeout, and committed in the
 *		procedure forms.  A dry run says it would.  Returns false when the
 *		conversion failed: the rows stay, the error is recorded, and the
 *		next run tries again.
 */
bool
rt_decompress_for_trim(TableRun *run, Oid relid)
{
	Oid			columnar = columnar_am();
	AmStep		step;
	ErrorData  *edata = NULL;
	TimestampTz started;

	if (!OidIsValid(columnar) || get_rel_relkind(relid) != RELKIND_RELATION ||
		pgs_rel_am(relid) != columnar)
		return true;
	if (run->opt->dry_run)
	{
		ereport(NOTICE,
				(errmsg("cleanup would convert partition %s back to heap to trim it",
						pgs_display_name(relid)),
				 errdetail("Columnar has no DELETE; the month's kept rows stay, its expired rows are deleted.")));
		return true;
	}

	started = GetCurrentTimestamp();
	am_step_init(&step, run, relid, columnar, false);
	if (!pgs_run_guarded_locking(relid, relid, am_step, &step, &edata))
	{
		rt_record_error(run, relid, STEP_DECOMPRESS, edata, started);
		return false;
	}
	if (!step.gone)
		am_log(&step, "decompress",
			   step.citus ?
			   "converted back to heap to trim its expired rows, under ACCESS EXCLUSIVE on the partition and its shards only (Citus ran the ALTER TABLE on every shard)" :
			   "converted back to heap to trim its expired rows, under ACCESS EXCLUSIVE on the partition only",
			   started);
	return true;
}
