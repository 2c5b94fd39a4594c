/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  Blast-radius limits: before a cleanup deletes anything from a table,
 *	  how much of the table it would remove, and whether that is more than
 *	  anyone meant.
 *
 *	  The worst retention accidents are runs that removed far more than was
 *	  intended: a wrong column, a typo in "days", a clock or an ingest that
 *	  stalled.  A run that would remove more than max_delete_fraction of a
 *	  table's rows (the policy's, or pgscale.max_delete_fraction), or whose
 *	  time column's newest value is already older than the cutoff (every
 *	  dated row would go), refuses the table unless called with force.  The
 *	  first cleanup of a table that was never cleaned may catch up on its
 *	  history, up to PGS_CATCH_UP_FRACTION of it.
 *
 *	  The share is measured the way the run would act: a partition the run
 *	  drops whole counts with all its rows, a trimmed relation with its
 *	  expired rows.  Where the planner has statistics on the time column,
 *	  both figures are its estimates (so that measuring costs no scan of a
 *	  large table); where it has none, a whole partition's rows are the
 *	  planner's estimate from its size, and expired rows are counted, in a
 *	  large table in a fixed sample of its blocks.  A dry run
 *	  measures with the same function, so it refuses exactly when the real
 *	  run would.  Whether any dated row stays is never estimated: it is
 *	  looked up, newest blocks first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/plannodes.h"
#include "optimizer/optimizer.h"
#include "optimizer/plancat.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pgscale.h"
#include "catalog.h"
#include "diag_citus.h"
#include "retention.h"

/* what the first cleanup of a never cleaned table may remove */
#define PGS_CATCH_UP_FRACTION 0.9

/* blocks of a heap without statistics read to measure it */
#define PGS_SAMPLE_BLOCKS 1000

/*
 * blocks of a heap without statistics above which its rows, when all of
 * them count (a partition dropped or kept whole), are the planner's
 * estimate from its size rather than counted
 */
#define PGS_COUNT_BLOCKS 128

/* blocks at the end of a heap looked at first for a row that stays */
#define PGS_TAIL_BLOCKS 1024

typedef struct GuardMeasure
{
	double		total;			/* rows of the table's tree */
	double		removed;		/* rows the run would remove */
	double		fraction;		/* removed / total */
	bool		estimated;		/* a figure came from the planner */
	bool		dated_row_stays;	/* a row at or after the cutoff exists */
} GuardMeasure;

typedef struct GuardWalk
{
	const char *column;			/* the time column's name */
	Oid			cutoff_type;
	Datum		cutoff;
	char	   *cutoff_literal; /* the cutoff as a typed SQL literal */
	GuardMeasure *m;
} GuardWalk;

/*
 * cutoff_literal
 *		The cutoff as a constant the planner can estimate with: a generic
 *		plan of a query with a parameter would use a default selectivity.
 *		Written with DateStyle ISO, which reads back the same in any
 *		session.
 */
static char *
cutoff_literal(Oid cutoff_type, Datum cutoff)
{
	int			nest = pgs_pin_output_settings();
	Oid			outfunc;
	bool		isvarlena;
	char	   *text;

	getTypeOutputInfo(cutoff_type, &outfunc, &isvarlena);
	text = OidOutputFunctionCall(outfunc, cutoff);
	AtEOXact_GUC(true, nest);
	return psprintf("%s::%s", quote_literal_cstr(text),
					cutoff_type == TIMESTAMPOID ?
					"pg_catalog.timestamp" : "pg_catalog.timestamptz");
}

/*
 * planned_rows
 *		The planner's estimate of the rows a query returns.
 */
static double
planned_rows(const char *sql)
{
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);
	CachedPlan *cplan;
	ListCell   *lc;
	double		rows = 0;

	if (plan == NULL)
		elog(ERROR, "could not prepare \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	cplan = SPI_plan_get_cached_plan(plan);
	if (cplan == NULL)
		elog(ERROR, "could not plan \"%s\"", sql);
	foreach(lc, cplan->stmt_list)
	{
		PlannedStmt *stmt = lfirst_node(PlannedStmt, lc);

		if (stmt->commandType == CMD_SELECT)
			rows = stmt->planTree->plan_rows;
	}
	ReleaseCachedPlan(cplan, NULL);
	SPI_freeplan(plan);
	return rows;
}

/*
 * scanned_rows
 *		The planner's estimate of the rows of ONLY relid (from, "ONLY
 *		name"), as planned_rows gives it for a scan of every row: for a
 *		plain heap without row security read here the way the planner
 *		reads it (estimate_rel_size, clamped as a path's rows are), which
 *		costs no planning of a query per partition; else planned.
 */
static double
scanned_rows(Oid relid, const char *from)
{
	Relation	rel;
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;
	bool		plain;

	if (get_rel_relkind(relid) != RELKIND_RELATION || pgs_citus_present())
		return planned_rows(psprintf("SELECT 1 FROM %s", from));
	rel = table_open(relid, AccessShareLock);
	plain = !rel->rd_rel->relrowsecurity;
	if (plain)
		estimate_rel_size(rel, NULL, &pages, &tuples, &allvisfrac);
	table_close(rel, AccessShareLock);
	if (!plain)
		return planned_rows(psprintf("SELECT 1 FROM %s", from));
	return clamp_row_est(tuples);
}

/*
 * has_statistics
 *		Whether ANALYZE has run on the relation (reltuples known) and left
 *		statistics on its column "column".
 */
static bool
has_statistics(Oid relid, const char *column)
{
	AttrNumber	attnum = get_attnum(relid, column);

	if (attnum == InvalidAttrNumber || pgs_estimated_rows(relid) < 0)
		return false;
	return SearchSysCacheExists3(STATRELATTINH, ObjectIdGetDatum(relid),
								 Int16GetDatum(attnum), BoolGetDatum(false));
}

/*
 * leaf_rows
 *		A relation's rows (ONLY it) and, when expired is not NULL, how many
 *		of them are older than the cutoff: the planner's estimates where
 *		the column has statistics; else, when only the rows are asked for
 *		(a partition dropped or kept whole) and the heap has more than
 *		PGS_COUNT_BLOCKS blocks, the planner's estimate from its size (a
 *		count of every partition would cost a scan of the whole table);
 *		else counted in one scan, or in a heap of more than
 *		PGS_SAMPLE_BLOCKS blocks, in a sample of that many blocks (the same
 *		blocks every time, so that a dry run and the run after it agree),
 *		scaled to the whole table.
 */
static void
leaf_rows(GuardWalk *w, Oid relid, double *rows, double *expired)
{
	char	   *from = psprintf("ONLY %s", pgs_qualified_name(relid));
	const char *qcol = quote_identifier(w->column);
	Oid			argtypes[1] = {w->cutoff_type};
	Datum		values[1] = {w->cutoff};
	BlockNumber nblocks = 0;
	char	   *sample = "";
	double		scale = 1;

	if (has_statistics(relid, w->column))
	{
		w->m->estimated = true;
		*rows = scanned_rows(relid, from);
		if (expired)
			*expired = Min(*rows,
						   planned_rows(psprintf("SELECT 1 FROM %s WHERE %s OPERATOR(pg_catalog.<) %s",
												 from, qcol, w->cutoff_literal)));
		return;
	}

	if (get_rel_relkind(relid) == RELKIND_RELATION)
	{
		Relation	rel = table_open(relid, AccessShareLock);

		nblocks = RelationGetNumberOfBlocks(rel);
		table_close(rel, AccessShareLock);
	}
	if (expired == NULL && nblocks > PGS_COUNT_BLOCKS)
	{
		w->m->estimated = true;
		*rows = scanned_rows(relid, from);
		return;
	}
	if (nblocks > PGS_SAMPLE_BLOCKS)
	{
		double		percent = 100.0 * PGS_SAMPLE_BLOCKS / nblocks;

		sample = psprintf(" TABLESAMPLE SYSTEM (%.6f) REPEATABLE (0)", percent);
		scale = 100.0 / percent;
		w->m->estimated = true;
	}
	pgs_spi_query(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE %s OPERATOR(pg_catalog.<) $1),"
						   " pg_catalog.count(*) FROM %s%s",
						   qcol, from, sample),
				  1, argtypes, values, NULL);
	if (expired)
		*expired = pgs_get_int8(0, 1) * scale;
	*rows = pgs_get_int8(0, 2) * scale;
	SPI_freetuptable(SPI_tuptable);
}

/* Every row of a relation and what it inherits, as leaf_rows counts them. */
static double
tree_rows(GuardWalk *w, Oid relid)
{
	double		rows = 0;
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
	{
		Oid			child = lfirst_oid(lc);
		char		relkind = get_rel_relkind(child);
		double		n;

		if (relkind != RELKIND_RELATION && relkind != RELKIND_FOREIGN_TABLE)
			continue;
		leaf_rows(w, child, &n, NULL);
		rows += n;
	}
	return rows;
}

static void walk_relation(GuardWalk *w, Oid relid);

/*
 * walk_partitioned
 *		As the run goes through a partitioned table: partitions wholly
 *		inside the window stay, expired ones go whole, the others are
 *		trimmed.
 */
static void
walk_partitioned(GuardWalk *w, Oid parent)
{
	char	   *keycol = pgs_range_partition_column(parent);
	bool		by_time = keycol != NULL && strcmp(keycol, w->column) == 0;
	PgsPartition *parts;
	int			nparts = pgs_read_partitions(parent, &parts);
	int64		cutoff = DatumGetInt64(w->cutoff);
	int			i;

	for (i = 0; i < nparts; i++)
	{
		Oid			child = parts[i].relid;
		int64		upper;
		double		n;

		if (!by_time)
		{
			walk_relation(w, child);
			continue;
		}
		switch (rt_partition_fate(&parts[i].bounds, cutoff, &upper))
		{
			case PART_KEEP:
				w->m->total += tree_rows(w, child);
				break;
			case PART_TRIM:
				walk_relation(w, child);
				break;
			case PART_DROP:
				n = tree_rows(w, child);
				w->m->total += n;
				w->m->removed += n;
				break;
		}
	}
}

static void
walk_relation(GuardWalk *w, Oid relid)
{
	double		rows;
	double		expired;
	ListCell   *lc;

	switch (get_rel_relkind(relid))
	{
		case RELKIND_PARTITIONED_TABLE:
			walk_partitioned(w, relid);
			break;
		case RELKIND_RELATION:
		case RELKIND_FOREIGN_TABLE:
			leaf_rows(w, relid, &rows, &expired);
			w->m->total += rows;
			w->m->removed += expired;
			/* children of old-style (INHERITS) partitioning */
			if (has_subclass(relid))
				foreach(lc, find_inheritance_children(relid, NoLock))
					walk_relation(w, lfirst_oid(lc));
			break;
		default:
			break;
	}
}

/*
 * dated_row_stays
 *		Whether a row of the table with a time value at or after the cutoff
 *		exists.  Append-mostly heaps keep their newest rows at the end, so
 *		a plain table's last blocks are looked at first, and a partitioned
 *		table's partitions newest first (the partition descriptor lists
 *		them in bound order), each probed on its own; an empty heap holds
 *		none.
 */
static bool
dated_row_stays(GuardWalk *w, Oid relid)
{
	Oid			argtypes[1] = {w->cutoff_type};
	Datum		values[1] = {w->cutoff};
	const char *qcol = quote_identifier(w->column);
	char	   *qual = pgs_qualified_name(relid);

	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
	{
		PgsPartition *parts;
		int			i = pgs_read_partitions(relid, &parts);

		while (--i >= 0)
			if (dated_row_stays(w, parts[i].relid))
				return true;
		return false;
	}
	if (get_rel_relkind(relid) == RELKIND_RELATION && !has_subclass(relid) &&
		pgs_current_blocks(relid) == 0)
		return false;

#ifdef PGSCALE_HAVE_TID_RANGE_SCAN
	if (get_rel_relkind(relid) == RELKIND_RELATION && !has_subclass(relid))
	{
		Relation	rel = table_open(relid, AccessShareLock);
		BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

		table_close(rel, AccessShareLock);
		if (nblocks > PGS_TAIL_BLOCKS &&
			pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM"
								  " (SELECT 1 FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.>=) '(%u,0)'"
								  " AND %s OPERATOR(pg_catalog.>=) $1 LIMIT 1) s",
								  qual, nblocks - PGS_TAIL_BLOCKS, qcol),
						 1, argtypes, values, NULL, true) > 0)
			return true;
	}
#endif
	return pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM"
								 " (SELECT 1 FROM %s WHERE %s OPERATOR(pg_catalog.>=) $1 LIMIT 1) s",
								 qual, qcol),
						1, argtypes, values, NULL, true) > 0;
}

/*
 * guard_measure
 *		How much of relid's rows a cleanup with this cutoff would remove,
 *		and whether any dated row would stay.  SPI must be connected; runs
 *		as the caller (the table's owner, in a cleanup step).
 */
static void
guard_measure(Oid relid, const char *column, Oid cutoff_type, Datum cutoff,
				  GuardMeasure *m)
{
	GuardWalk	w;

	memset(m, 0, sizeof(*m));
	w.column = column;
	w.cutoff_type = cutoff_type;
	w.cutoff = cutoff;
	w.cutoff_literal = cutoff_literal(cutoff_type, cutoff);
	w.m = m;
	walk_relation(&w, relid);
	m->fraction = m->total > 0 ? Min(1.0, m->removed / m->total) : 0;
	m->dated_row_stays = m->removed <= 0 || dated_row_stays(&w, relid);
}

/*
 * guard_newest
 *		The newest value of the time column, as text, for a refusal to
 *		show; NULL when the table has none.
 */
static char *
guard_newest(Oid relid, const char *column)
{
	int			nest = pgs_pin_output_settings();
	char	   *result = NULL;
	int			ret;

	ret = SPI_execute(psprintf("SELECT pg_catalog.max(%s)::pg_catalog.text FROM %s",
							   quote_identifier(column), pgs_qualified_name(relid)),
					  true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
		result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	AtEOXact_GUC(true, nest);
	return result;
}

/*
 * guard_limit
 *		The share of a table's rows one cleanup may remove: the policy's
 *		max_delete_fraction, else pgscale.max_delete_fraction (*base).  For
 *		the first cleanup of a table never cleaned, at least the catch-up
 *		share; *catch_up says whether that raised it.
 */
static double
guard_limit(PgsPolicy *pol, double *base, bool *catch_up)
{
	*base = pol->max_delete_fraction > 0 ?
		pol->max_delete_fraction : pgscale_max_delete_fraction;
	*catch_up = !pol->ever_cleaned && *base < PGS_CATCH_UP_FRACTION;
	return *catch_up ? PGS_CATCH_UP_FRACTION : *base;
}

/* ---------- refusing a run ---------- */

typedef struct GuardStep
{
	TableRun   *run;
	GuardMeasure m;
	char	   *newest;			/* when no dated row would stay */
} GuardStep;

static void
guard_step(void *arg)
{
	GuardStep  *step = (GuardStep *) arg;
	TableRun   *run = step->run;

	guard_measure(run->relid, run->time_column, run->cutoff_type, run->cutoff,
					  &step->m);
	if (!step->m.dated_row_stays)
		step->newest = guard_newest(run->relid, run->time_column);
}

/*
 * measure_unlocked
 *		guard_step, as the table's owner, in a subtransaction rolled back
 *		afterwards: the measuring only reads, and the locks its queries took
 *		go with the rollback.  Held to the end of the function form's one
 *		transaction, a lock on the parent would make the application's
 *		ALTER TABLE wait behind it while the cleanup waits for the
 *		application: a deadlock.
 */
static bool
measure_unlocked(GuardStep *step, ErrorData **edata)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool		ok;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	ok = pgs_run_guarded_as(step->run->relid, guard_step, step, edata);
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return ok;
}

/*
 * refusal_level
 *		A blast-radius limit stops the table before anything is deleted:
 *		an error when the caller named the table, else a warning and the
 *		cycle goes on.
 */
static int
refusal_level(TableRun *run)
{
	return OidIsValid(run->opt->relid) ? ERROR : WARNING;
}

/*
 * record_refusal
 *		After the warning of a refusal: the table counts as failed, and a
 *		real run logs a "refused" row saying why.
 */
static void
record_refusal(TableRun *run, const char *reason, const char *detail)
{
	const char *name = pgs_display_name(run->relid);

	run->failed = true;
	run->errors = lappend(run->errors, psprintf("%s: refused: %s", name, reason));
	if (!run->opt->dry_run)
	{
		pgs_log_action(run->relid, "refused", name, 0, false, GetCurrentTimestamp(),
					   psprintf("%s. %s", reason, detail));
		rt_commit_if_allowed(run);
	}
}

/*
 * rt_refused_by_limits
 *		Check the blast-radius limits (guard.c) before a run touches the
 *		table; true when it must not.  force skips them.
 */
bool
rt_refused_by_limits(TableRun *run, PgsPolicy *pol)
{
	GuardStep	step;
	ErrorData  *edata = NULL;
	double		base;
	bool		catch_up;
	double		limit;
	const char *force_hint;

	if (run->opt->force)
		return false;

	memset(&step, 0, sizeof(step));
	step.run = run;
	if (!measure_unlocked(&step, &edata))
	{
		rt_record_error(run, run->relid, STEP_MEASURE, edata, GetCurrentTimestamp());
		return true;
	}
	force_hint = psprintf("pgscale_cleanup(relation => %s, force => true)",
						  quote_literal_cstr(pgs_display_name(run->relid)));

	if (!step.m.dated_row_stays)
	{
		const char *newest = step.newest ? step.newest : "unknown";
		const char *cutoff = timestamptz_to_str(run->cutoff_report);

		ereport(refusal_level(run),
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgscale refused to clean up %s: the newest value of column %s is older than the cutoff",
						pgs_display_name(run->relid), quote_identifier(run->time_column)),
				 errdetail("The newest value is %s and the cutoff %s: the run would delete every row that has a time value. "
						   "Rows may have stopped arriving, the clock may be wrong, or the policy may name the wrong column.",
						   newest, cutoff),
				 errhint("Check what writes to the table and which column the policy uses; "
						 "to delete the rows anyway, run %s.", force_hint)));
		record_refusal(run,
					   psprintf("the newest value of column %s is older than the cutoff",
								quote_identifier(run->time_column)),
					   psprintf("The newest value is %s and the cutoff %s.", newest, cutoff));
		return true;
	}

	limit = guard_limit(pol, &base, &catch_up);
	if (step.m.fraction > limit)
	{
		const char *whose = catch_up ? "allowed once for a table never cleaned before" :
			pol->max_delete_fraction > 0 ? "the policy's max_delete_fraction" :
			"pgscale.max_delete_fraction";
		const char *hint = psprintf("If that is meant, run %s once, or raise the table's limit with "
									"pgscale_set_retention(..., max_delete_fraction => ...).", force_hint);

		if (step.m.estimated)
			ereport(refusal_level(run),
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("pgscale refused to clean up %s: it would remove about %.0f%% of the table's rows",
							pgs_display_name(run->relid), step.m.fraction * 100),
					 errdetail("The run would remove about %.0f of %.0f rows; the limit is %.0f%%, %s.",
							   step.m.removed, step.m.total, limit * 100, whose),
					 errhint("%s", hint)));
		else
			ereport(refusal_level(run),
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("pgscale refused to clean up %s: it would remove %.0f%% of the table's rows",
							pgs_display_name(run->relid), step.m.fraction * 100),
					 errdetail("The run would remove %.0f of %.0f rows; the limit is %.0f%%, %s.",
							   step.m.removed, step.m.total, limit * 100, whose),
					 errhint("%s", hint)));
		record_refusal(run,
					   psprintf("it would remove %s%.0f%% of the table's rows",
								step.m.estimated ? "about " : "", step.m.fraction * 100),
					   psprintf("The run would remove %s%.0f of %.0f rows; the limit is %.0f%%, %s.",
								step.m.estimated ? "about " : "", step.m.removed, step.m.total,
								limit * 100, whose));
		return true;
	}
	if (catch_up && step.m.fraction > base && step.m.estimated)
		ereport(NOTICE,
				(errmsg("first cleanup of %s removes about %.0f%% of its rows, more than its limit of %.0f%%",
						pgs_display_name(run->relid), step.m.fraction * 100, base * 100),
				 errdetail("A table never cleaned before may catch up on its history once, up to 90%%.")));
	else if (catch_up && step.m.fraction > base)
		ereport(NOTICE,
				(errmsg("first cleanup of %s removes %.0f%% of its rows, more than its limit of %.0f%%",
						pgs_display_name(run->relid), step.m.fraction * 100, base * 100),
				 errdetail("A table never cleaned before may catch up on its history once, up to 90%%.")));
	return false;
}

/*
 * rt_mark_cleaned
 *		After a real run that finished: the table has been cleaned, so the
 *		catch-up allowance is spent.
 */
void
rt_mark_cleaned(TableRun *run, PgsPolicy *pol)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(run->relid)};

	if (run->opt->dry_run || run->failed || run->stopped)
		return;
	pgs_exec_as_owner(psprintf("UPDATE %s SET cleaned_at = pg_catalog.now()"
							   " WHERE table_name::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
							   pgs_ext_table("pgscale_policy")),
					  1, argtypes, values, NULL);
	pol->ever_cleaned = true;
	rt_commit_if_allowed(run);
}
