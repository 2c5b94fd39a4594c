/*-------------------------------------------------------------------------
 *
 * split.c
 *	  CALL pgscale_split_legacy(): after pgscale_partition_table, spread
 *	  the legacy partition's rows over monthly partitions.
 *
 *	  pgscale_split_legacy carves the legacy partition month by
 *	  month.  Old months are cut from its lower end, months after the
 *	  current one from its upper end, so that the month the application
 *	  writes into is never fenced off; the last month left becomes that
 *	  month's partition by a rename.  Each cut is two transactions: a CHECK
 *	  constraint for the legacy partition's narrower range, added NOT VALID,
 *	  then one transaction that creates the month's table with the
 *	  parent's indexes, moves the month's rows into it, validates the
 *	  CHECK, and only then locks the parent to detach the legacy partition,
 *	  attach the month's table and re-attach the legacy partition with its
 *	  narrower range: catalog work, since the constraints prove both ranges
 *	  and every index already exists.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "postmaster/postmaster.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "pgscale.h"
#include "convert.h"
#include "clone.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_split_legacy);

/* The legacy partition being carved, and one cut. */
typedef struct Split
{
	Oid			parent;
	Oid			legacy;
	char	   *keycol;
	Oid			keytype;
	const char *tz;
	int			batch_size;
	int			lo;				/* legacy range in months; -1: MINVALUE */
	int			hi;
	int			far;			/* first month beyond the premake horizon */
	/* the cut */
	int			month;			/* the month the new partition is named after */
	int			part_lo;		/* its range; -1: MINVALUE */
	int			part_hi;
	int			new_lo;			/* the legacy partition's range afterwards */
	int			new_hi;
	char	   *move_condition; /* which legacy rows move */
	/* out */
	Oid			created;
	int64		moved;
} Split;

/*
 * bounds_clause
 *		FOR VALUES FROM (...) TO (...) of a range in months, -1 meaning
 *		MINVALUE below.
 */
static char *
bounds_clause(Split *sp, int lo, int hi)
{
	return psprintf("FOR VALUES FROM (%s) TO (%s)",
					lo < 0 ? "MINVALUE" : pgs_month_literal(lo, sp->keytype, sp->tz),
					pgs_month_literal(hi, sp->keytype, sp->tz));
}

/*
 * bound_month
 *		Month of a partition bound (a month start, as pgs_partition_bounds
 *		returns it).
 */
static int
bound_month(Split *sp, int64 bound)
{
	return pgs_month_of_value(Int64GetDatum(bound),
						  sp->keytype == DATEOID ? TIMESTAMPOID : sp->keytype, sp->tz);
}

/*
 * find_legacy
 *		The legacy partition of parent: the partition carrying a
 *		pgscale_legacy_* constraint.  Fills sp->legacy, lo and hi; false
 *		when there is none.
 */
static bool
find_legacy(Split *sp)
{
	char	   *legacy;
	PgsPartBounds b;

	legacy = pgs_spi_text_oid("SELECT h.inhrelid::pg_catalog.int8::pg_catalog.text"
						" FROM pg_catalog.pg_inherits h"
						" JOIN pg_catalog.pg_constraint c ON c.conrelid OPERATOR(pg_catalog.=) h.inhrelid"
						" WHERE h.inhparent OPERATOR(pg_catalog.=) $1"
						" AND c.contype OPERATOR(pg_catalog.=) 'c'"
						" AND pg_catalog.starts_with(c.conname::pg_catalog.text, '" LEGACY_CHECK_PREFIX "')"
						" ORDER BY 1 LIMIT 1", sp->parent);
	if (legacy == NULL)
		return false;
	sp->legacy = (Oid) strtoul(legacy, NULL, 10);
	if (!pgs_partition_bounds(sp->legacy, &b) || !b.is_range || b.hi_unbounded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("partition %s of %s does not have the range of a legacy partition",
						pgs_display_name(sp->legacy), pgs_display_name(sp->parent)),
				 errhint("Drop its %s* constraints if it is not one.", LEGACY_CHECK_PREFIX)));
	sp->lo = b.lo_unbounded ? -1 : bound_month(sp, b.lo);
	sp->hi = bound_month(sp, b.hi);
	return true;
}

/*
 * plan_cut
 *		Choose the next cut of the legacy partition [lo, hi); false when
 *		what is left is one month's rows (or none), to become that month's
 *		partition by a rename.
 *
 *		Months before the current one are cut from the lower end, oldest
 *		first, months after it from the upper end, newest first: the
 *		constraint that fences a cut month off the legacy partition then
 *		only refuses rows for that month, which the application does not
 *		write.  The current month is never fenced off: it is the last one
 *		left.  Empty months go with the next month that has rows (above:
 *		with the one before), so that every date the table took still has
 *		a partition.
 */
static bool
plan_cut(Split *sp)
{
	int			now = pgs_current_month(sp->keytype, sp->tz);
	bool		infinite;
	int			oldest;

	oldest = cv_extreme_month(sp->legacy, sp->keycol, sp->keytype, sp->tz, false,
						   NULL, &infinite);
	if (oldest >= 0 && oldest < now && oldest < sp->hi - 1)
	{
		sp->month = oldest;
		sp->part_lo = sp->lo;
		sp->part_hi = oldest + 1;
		sp->new_lo = oldest + 1;
		sp->new_hi = sp->hi;
		sp->move_condition = psprintf("%s OPERATOR(pg_catalog.<) %s",
									  quote_identifier(sp->keycol),
									  pgs_month_literal(oldest + 1, sp->keytype, sp->tz));
		return true;
	}
	if (sp->hi > now + 1)
	{
		int			newest;
		char	   *above = psprintf("%s OPERATOR(pg_catalog.>=) %s",
									 quote_identifier(sp->keycol),
									 pgs_month_literal(now + 1, sp->keytype, sp->tz));

		newest = cv_extreme_month(sp->legacy, sp->keycol, sp->keytype, sp->tz, true,
							   above, &infinite);
		if (newest < now + 1)
			newest = now + 1;
		sp->month = newest;
		sp->part_lo = newest;

		/*
		 * One month: the empty months above get partitions of their own
		 * in the same transaction (cut_step), up to the premake horizon.
		 * A legacy partition stretched to a stray row dated 2097 (as made
		 * before 0.2.0) must not leave a partition reaching from next
		 * month to 2097, which premake would never add to: the empty
		 * months beyond the horizon get no partition; premake makes them
		 * when they come within it.
		 */
		sp->part_hi = newest + 1;
		sp->new_lo = sp->lo;
		sp->new_hi = newest;
		sp->move_condition = psprintf("%s OPERATOR(pg_catalog.>=) %s",
									  quote_identifier(sp->keycol),
									  pgs_month_literal(newest, sp->keytype, sp->tz));
		return true;
	}
	return false;
}

/*
 * check_adopted
 *		Every index of a partition must be attached to the parent's: else
 *		the attach built one under the exclusive lock, which pgscale does
 *		not allow (the step is rolled back).
 */
static void
check_adopted(Oid relid)
{
	if (pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i"
					" WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND NOT EXISTS ("
					" SELECT 1 FROM pg_catalog.pg_inherits h"
					" WHERE h.inhrelid OPERATOR(pg_catalog.=) i.indexrelid)", relid) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("an index of %s is not attached to its parent's", pgs_display_name(relid)),
				 errhint("Report this to the pgscale developers with the table's definition.")));
}

static void
lock_parent_step(void *arg)
{
	Split	   *sp = (Split *) arg;

	pgs_spi_execf("LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE", pgs_qualified_name(sp->parent));
}

/*
 * cut_step
 *		One transaction: create the month's table with the parent's
 *		indexes, move its rows out of the legacy partition, validate the
 *		legacy partition's narrower constraint, then, briefly holding the
 *		parent, swap the partitions (catalog work only).
 */
static void
cut_step(void *arg)
{
	Split	   *sp = (Split *) arg;
	int			nest = pgs_pin_search_path();
	char	   *qparent = pgs_qualified_name(sp->parent);
	char	   *qlegacy = pgs_qualified_name(sp->legacy);
	Oid			nsp = get_rel_namespace(sp->parent);
	char	   *name = pgs_month_partition_name(get_rel_name(sp->parent), sp->month);
	char	   *qname = quote_qualified_identifier(get_namespace_name(nsp), name);
	char	   *old_check = cv_legacy_check_name(sp->lo, sp->hi);
	char	   *new_check = cv_legacy_check_name(sp->new_lo, sp->new_hi);
	char	   *cols = pgs_column_list(sp->parent);
	Oid			tablespace = get_rel_tablespace(sp->parent);
	Oid			owner = pgs_relation_owner(sp->parent);
	List	   *fkeys;
	List	   *checks;
	List	   *not_valid = NIL;
	ListCell   *lc;
	ErrorData  *edata = NULL;
	uint64		n;

	/* one cut at a time; reads and writes go on */
	pgs_spi_execf("LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE", qlegacy);
	if (OidIsValid(get_relname_relid(name, nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation %s already exists", qname),
				 errdetail("It is not a partition of %s.", pgs_display_name(sp->parent)),
				 errhint("Rename or drop it: pgscale names monthly partitions <table>_YYYY_MM.")));

	/* the month's table, its indexes built while it is still empty */
	pgs_spi_execf("CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING IDENTITY EXCLUDING STATISTICS)%s%s%s",
			 qname, qparent, pgs_storage_clause(sp->legacy),
			 OidIsValid(tablespace) ? " TABLESPACE " : "",
			 OidIsValid(tablespace) ? quote_identifier(get_tablespace_name(tablespace)) : "");
	sp->created = get_relname_relid(name, nsp);
	if (owner != GetUserId())
		pgs_spi_execf("ALTER TABLE %s OWNER TO %s", qname,
				 quote_identifier(GetUserNameFromId(owner, false)));
	pgs_copy_grants(sp->parent, sp->created, "TABLE");
	pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT pgscale_month_range CHECK (%s)", qname,
			 pgs_month_range_condition(sp->keycol, sp->keytype, sp->tz, sp->part_lo, sp->part_hi));

	/*
	 * LIKE copies the parent's NOT VALID checks as valid ones, which old
	 * rows may violate: put them back NOT VALID after the move.
	 */
	checks = cv_read_constraints(sp->parent, CONSTRAINT_CHECK, NULL);
	foreach(lc, checks)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		if (strstr(c->def, " NOT VALID") != NULL)
		{
			pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qname, quote_identifier(c->name));
			not_valid = lappend(not_valid, c);
		}
	}

	/* the rows, at most batch_size per statement */
	sp->moved = 0;
	do
	{
		int			ret;

		CHECK_FOR_INTERRUPTS();
		ret = SPI_execute(psprintf("WITH moved AS (DELETE FROM ONLY %s"
								   " WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
								   "SELECT ctid FROM ONLY %s WHERE %s LIMIT %d))"
								   " RETURNING %s)"
								   " INSERT INTO %s (%s) SELECT %s FROM moved",
								   qlegacy, qlegacy, sp->move_condition,
								   sp->batch_size, cols, qname, cols, cols),
						  false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not move rows out of %s", pgs_display_name(sp->legacy));
		n = SPI_processed;
		sp->moved += (int64) n;
	} while (n >= (uint64) sp->batch_size);

	foreach(lc, not_valid)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", qname, quote_identifier(c->name), c->def);
	}

	/* foreign keys checked once for the whole month, not row by row */
	fkeys = cv_read_constraints(sp->parent, CONSTRAINT_FOREIGN, NULL);
	foreach(lc, fkeys)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s NOT VALID", qname,
				 quote_identifier(c->name), c->def);
		pgs_spi_execf("ALTER TABLE %s VALIDATE CONSTRAINT %s", qname, quote_identifier(c->name));
	}

	/* the legacy partition's narrower range, proven while writes go on */
	pgs_spi_execf("ALTER TABLE %s VALIDATE CONSTRAINT %s", qlegacy, quote_identifier(new_check));

	/* now the parent, briefly: parent first, as queries lock */
	if (!pgs_run_guarded_as(sp->parent, lock_parent_step, sp, &edata))
		ReThrowError(edata);
	pgs_spi_execf("ALTER TABLE %s DETACH PARTITION %s", qparent, qlegacy);
	pgs_spi_execf("ALTER TABLE %s ATTACH PARTITION %s %s", qparent, qname,
			 bounds_clause(sp, sp->part_lo, sp->part_hi));
	pgs_spi_execf("ALTER TABLE %s ATTACH PARTITION %s %s", qparent, qlegacy,
			 bounds_clause(sp, sp->new_lo, sp->new_hi));
	pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qlegacy, quote_identifier(old_check));
	pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT pgscale_month_range", qname);
	pgs_copy_replica_identity(sp->parent, sp->legacy, sp->created);
	check_adopted(sp->created);
	check_adopted(sp->legacy);

	/* the empty months the legacy partition gave up, up to the horizon */
	if (sp->part_hi < Min(sp->hi, sp->far))
		(void) pgs_create_month_partitions(sp->parent, sp->part_hi,
										   Min(sp->hi, sp->far) - 1, sp->keycol,
										   sp->keytype, sp->tz, false);
	pgs_unpin_settings(nest);
}

/*
 * final_step
 *		What is left of the legacy partition holds one month's rows (or
 *		none): it becomes that month's partition by a rename.
 */
static void
final_step(void *arg)
{
	Split	   *sp = (Split *) arg;
	int			nest = pgs_pin_search_path();
	char	   *qlegacy = pgs_qualified_name(sp->legacy);
	Oid			nsp = get_rel_namespace(sp->parent);
	char	   *name = pgs_month_partition_name(get_rel_name(sp->parent), sp->hi - 1);
	List	   *validated;
	List	   *names;
	ListCell   *lc;

	pgs_spi_execf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qlegacy);
	if (OidIsValid(get_relname_relid(name, nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation %s already exists",
						quote_qualified_identifier(get_namespace_name(nsp), name)),
				 errhint("Rename or drop it: pgscale names monthly partitions <table>_YYYY_MM.")));
	names = cv_find_legacy_checks(sp->legacy, &validated);
	foreach(lc, names)
		pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qlegacy,
				 quote_identifier((char *) lfirst(lc)));
	pgs_spi_execf("ALTER TABLE %s RENAME TO %s", qlegacy, quote_identifier(name));
	sp->created = sp->legacy;
	pgs_unpin_settings(nest);
}

/*
 * drop_fence
 *		After a failed cut, remove the NOT VALID constraint that fenced the
 *		month off, so that the legacy partition takes its rows again.
 */
static void
drop_fence_step(void *arg)
{
	Split	   *sp = (Split *) arg;

	pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", pgs_qualified_name(sp->legacy),
			 quote_identifier(cv_legacy_check_name(sp->new_lo, sp->new_hi)));
}

/*
 * pgscale_split_legacy(relation regclass, batch_size integer DEFAULT 10000)
 *		CALL only: move the legacy partition's rows into monthly partitions,
 *		one month per transaction, committing after each.
 */
Datum
pgscale_split_legacy(PG_FUNCTION_ARGS)
{
	Split	   *sp;
	int			cuts = 0;
	int64		total = 0;

	cv_require_nonatomic(fcinfo, "pgscale_split_legacy");
	pgs_require_arg(fcinfo, 0, "relation", NULL);
	pgs_require_arg(fcinfo, 1, "batch_size", NULL);

	SPI_connect_ext(SPI_OPT_NONATOMIC);
	sp = palloc0(sizeof(Split));
	sp->parent = PG_GETARG_OID(0);
	sp->batch_size = PG_GETARG_INT32(1);
	if (sp->batch_size <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be positive"),
				 errhint("Leave it out to use the default of 10000 rows.")));
	pgs_validate_table(sp->parent);
	if (!pgs_owns(sp->parent))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to split its legacy partition",
						pgs_display_name(sp->parent)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));
	pgs_check_month_partitioned(sp->parent, &sp->keycol, &sp->keytype);
	sp->tz = pgs_policy_time_zone(sp->parent);
	{
		PgsPolicy  *pol = pgs_find_policy(sp->parent);

		sp->far = pgs_current_month(sp->keytype, sp->tz) + 1 +
			(pol != NULL && pol->premake_months >= 0 ? pol->premake_months : 3);
	}
	if (!find_legacy(sp))
	{
		ereport(NOTICE,
				(errmsg("table %s has no legacy partition", pgs_display_name(sp->parent)),
				 errdetail("Its rows are already in monthly partitions.")));
		SPI_finish();
		PG_RETURN_VOID();
	}

	for (;;)
	{
		ErrorData  *edata = NULL;
		const char *state;
		TimestampTz started = GetCurrentTimestamp();

		CHECK_FOR_INTERRUPTS();
		if (!find_legacy(sp))
			break;				/* another session finished it */
		if (!plan_cut(sp))
		{
			if (!pgs_run_guarded_as(sp->parent, final_step, sp, &edata))
				ereport(ERROR,
						(errcode(edata->sqlerrcode),
						 errmsg("could not split the legacy partition of %s: %s",
								pgs_display_name(sp->parent), edata->message),
						 errdetail("The months moved so far stay in their partitions; the next run goes on."),
						 cv_step_hint(edata)));
			pgs_log_action(sp->parent, "split", pgs_display_name(sp->created), 0, false,
						   started, "legacy partition renamed: its rows are all of this month");
			pgs_spi_commit();
			break;
		}

		/* fence the month off the legacy partition (brief lock) */
		if (!cv_ensure_check(sp->legacy, cv_legacy_check_name(sp->new_lo, sp->new_hi),
							 pgs_month_range_condition(sp->keycol, sp->keytype, sp->tz,
													   sp->new_lo, sp->new_hi),
							 cv_legacy_check_name(sp->lo, sp->hi), false, &edata, &state))
			ereport(ERROR,
					(errcode(edata->sqlerrcode),
					 errmsg("could not fence a month off legacy partition %s: %s",
							pgs_display_name(sp->legacy), edata->message),
					 errdetail("%s", state),
					 cv_step_hint(edata)));

		started = GetCurrentTimestamp();
		if (!pgs_run_guarded_as(sp->parent, cut_step, sp, &edata))
		{
			ErrorData  *edata2 = NULL;

			/* take the fence down again, else old rows could not be inserted */
			if (pgs_run_guarded_as(sp->parent, drop_fence_step, sp, &edata2))
				pgs_spi_commit();
			ereport(ERROR,
					(errcode(edata->sqlerrcode),
					 errmsg("could not split the legacy partition of %s: %s",
							pgs_display_name(sp->parent), edata->message),
					 errdetail("This month's rows were not moved; the months moved before stay in their partitions."),
					 cv_step_hint(edata)));
		}
		pgs_log_action(sp->parent, "split", pgs_display_name(sp->created), sp->moved, true,
					   started, psprintf("rows of %s moved out of the legacy partition",
										 pgs_month_label(sp->month)));
		pgs_spi_commit();
		cuts++;
		total += sp->moved;
	}

	ereport(NOTICE,
			(errmsg("legacy partition of %s split: " INT64_FORMAT " rows moved into %d new partitions",
					pgs_display_name(sp->parent), total, cuts)));
	SPI_finish();
	PG_RETURN_VOID();
}
