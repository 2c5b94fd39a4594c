/*-------------------------------------------------------------------------
 *
 * premake.c
 *	  Creating monthly range partitions: pgscale_create_month_partitions(),
 *	  and the premaking the maintenance cycle and a conversion do.
 *
 *	  A new partition is created as a table of its own, given the parent's
 *	  owner, grants, indexes, tablespace and replica identity, the storage
 *	  parameters of the newest partition (where a user tunes autovacuum)
 *	  and, when the newest partition is itself partitioned, its partition
 *	  key and sub-partitions; it is filled with the rows the default
 *	  partition holds for its month, and then attached.  Attaching takes
 *	  only SHARE UPDATE EXCLUSIVE on the parent, so the application keeps
 *	  reading and writing; the parent is locked first, as queries do, under
 *	  pgscale.lock_timeout.  A default partition is locked ACCESS EXCLUSIVE
 *	  by the attach until the transaction ends: every month of a call is
 *	  filled before the first attach, so that lock never covers a move.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_partitioned_table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "clone.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_create_month_partitions);

/*
 * pgs_piece_name
 *		<month partition name>_gapN, clipped like the month's name.
 */
static char *
pgs_piece_name(const char *month_name, int piece)
{
	char		suffix[16];
	int			len = strlen(month_name);
	int			clip;

	snprintf(suffix, sizeof(suffix), "_gap%d", piece);
	if (len + strlen(suffix) < NAMEDATALEN)
		return psprintf("%s%s", month_name, suffix);
	/* keep the _YYYY_MM end, clip before it */
	clip = pg_mbcliplen(month_name, len - 8, NAMEDATALEN - 1 - strlen(suffix) - 8);
	return psprintf("%.*s%s%s", clip, month_name, month_name + len - 8, suffix);
}

/* ---------- creating one month ---------- */

typedef struct MonthStep
{
	Oid			parent;
	Oid			keytype;
	const char *keycol;
	const char *tz;
	int			month;
	bool		piece;			/* only [piece_lo, piece_hi) of the month */
	Datum		piece_lo;
	Datum		piece_hi;
	const char *piece_name;
	Oid			created;		/* out: the new partition, or InvalidOid */
	int64		moved;			/* out: rows taken from the default */
	/* between preparing and attaching */
	Oid			default_part;	/* the default partition, if any */
	Oid			template_rel;	/* whose storage and replica identity it copies */
	bool		failed;
	TimestampTz started;
} MonthStep;

static void month_piece(List **steps, List **created, Oid parent, int month,
						int piece, int64 lo, int64 hi, const char *keycol,
						Oid keytype, const char *tz, bool dry_run);

/*
 * month_range
 *		The range [lo, hi) a step creates a partition for.
 */
static void
month_range(MonthStep *step, Datum *lo, Datum *hi)
{
	*lo = step->piece ? step->piece_lo :
		pgs_month_bound(step->month, step->keytype, step->tz);
	*hi = step->piece ? step->piece_hi :
		pgs_month_bound(step->month + 1, step->keytype, step->tz);
}

/*
 * create_subpartitions
 *		Give child, a new month partitioned like sibling, the same
 *		sub-partitions (the same hash moduli and remainders, list values or
 *		ranges, read back from sibling's bounds), named like sibling's with
 *		the month's name in front, with their storage parameters and
 *		tablespaces, the parent's owner and grants.  One level only.
 */
static void
create_subpartitions(Oid parent, Oid sibling, Oid child, Oid owner)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(sibling)};
	char	   *sname = get_rel_name(sibling);
	char	   *cname = get_rel_name(child);
	Oid			nsp = get_rel_namespace(child);
	char	   *qchild = pgs_qualified_name(child);
	int			ret;
	uint64		i;
	uint64		nsubs;
	Oid		   *subs;
	char	  **names;
	char	   *kinds;
	char	  **bounds;

	ret = SPI_execute_with_args("SELECT c.oid, c.relname::pg_catalog.text, c.relkind::pg_catalog.text,"
								" pg_catalog.pg_get_expr(c.relpartbound, c.oid)"
								" FROM pg_catalog.pg_inherits h"
								" JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) h.inhrelid"
								" WHERE h.inhparent OPERATOR(pg_catalog.=) $1 ORDER BY 2",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the partitions of %s", pgs_display_name(sibling));
	nsubs = SPI_processed;
	subs = palloc(sizeof(Oid) * Max(nsubs, 1));
	names = palloc(sizeof(char *) * Max(nsubs, 1));
	kinds = palloc(Max(nsubs, 1));
	bounds = palloc(sizeof(char *) * Max(nsubs, 1));
	for (i = 0; i < nsubs; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		subs[i] = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		names[i] = SPI_getvalue(tup, desc, 2);
		kinds[i] = SPI_getvalue(tup, desc, 3)[0];
		bounds[i] = SPI_getvalue(tup, desc, 4);
	}

	for (i = 0; i < nsubs; i++)
	{
		char	   *name;
		char	   *qname;
		Oid			sub;
		Oid			tablespace = get_rel_tablespace(subs[i]);
		size_t		slen = strlen(sname);

		if (kinds[i] != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot create a monthly partition of %s like %s: its partition %s is itself partitioned",
							pgs_display_name(parent), pgs_display_name(sibling),
							pgs_display_name(subs[i])),
					 errdetail("pgscale copies one level of sub-partitions."),
					 errhint("Create the month's partition by hand, like the others, or partition the months one level deep.")));
		if (strncmp(names[i], sname, slen) == 0 && names[i][slen] != '\0' &&
			strlen(cname) + strlen(names[i] + slen) < NAMEDATALEN)
			name = psprintf("%s%s", cname, names[i] + slen);
		else
			name = ChooseRelationName(cname, NULL, psprintf("sub%d", (int) i + 1), nsp, false);
		qname = quote_qualified_identifier(get_namespace_name(nsp), name);
		if (OidIsValid(get_relname_relid(name, nsp)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("relation %s already exists", qname),
					 errdetail("pgscale names the sub-partitions of a new month like those of %s.",
							   pgs_display_name(sibling)),
					 errhint("Rename or drop it.")));
		pgs_spi_exec(psprintf("CREATE TABLE %s PARTITION OF %s %s%s%s%s",
						  qname, qchild, bounds[i], pgs_storage_clause(subs[i]),
						  OidIsValid(tablespace) ? " TABLESPACE " : "",
						  OidIsValid(tablespace) ? quote_identifier(get_tablespace_name(tablespace)) : ""));
		CommandCounterIncrement();
		sub = get_relname_relid(name, nsp);
		if (owner != GetUserId())
			pgs_spi_exec(psprintf("ALTER TABLE %s OWNER TO %s", qname,
							  quote_identifier(GetUserNameFromId(owner, false))));
		pgs_copy_grants(parent, sub, "TABLE");
	}
}

/*
 * move_from_default
 *		Move the rows of [lo, hi) from the default partition into child;
 *		returns how many.  In blocks: each statement reads at most
 *		PGS_MOVE_BLOCKS pages of the default by ctid range, so no
 *		statement is long and the whole move reads the default once.
 *		Rows added behind the last block counted are left to the caller.
 */
#define PGS_MOVE_BLOCKS 1024

static int64
move_from_default(Oid default_part, Oid child, const char *keycol, Oid keytype,
				  Datum lo, Datum hi, bool in_blocks)
{
	char	   *cols = pgs_column_list(default_part);
	const char *qcol = quote_identifier(keycol);
	Oid			argtypes[2] = {keytype, keytype};
	Datum		values[2] = {lo, hi};
	BlockNumber nblocks = 0;
	BlockNumber b = 0;
	int64		moved = 0;

	if (in_blocks && get_rel_relkind(default_part) == RELKIND_RELATION)
	{
		Relation	rel = table_open(default_part, AccessShareLock);

		nblocks = RelationGetNumberOfBlocks(rel);
		table_close(rel, AccessShareLock);
	}
	else
		in_blocks = false;

	do
	{
		const char *where = in_blocks ?
			psprintf(" AND ctid OPERATOR(pg_catalog.>=) '(%u,0)'::pg_catalog.tid"
					 " AND ctid OPERATOR(pg_catalog.<) '(%u,0)'::pg_catalog.tid",
					 b, b + PGS_MOVE_BLOCKS) : "";
		int			ret;

		CHECK_FOR_INTERRUPTS();
		ret = SPI_execute_with_args(psprintf("WITH moved AS (DELETE FROM %s"
											 " WHERE %s OPERATOR(pg_catalog.>=) $1"
											 " AND %s OPERATOR(pg_catalog.<) $2%s RETURNING %s)"
											 " INSERT INTO %s (%s) SELECT %s FROM moved",
											 pgs_qualified_name(default_part), qcol, qcol,
											 where, cols, pgs_qualified_name(child), cols, cols),
									2, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not move rows out of %s", pgs_display_name(default_part));
		moved += (int64) SPI_processed;
		b += PGS_MOVE_BLOCKS;
	} while (in_blocks && b < nblocks);
	return moved;
}

/*
 * prepare_month_step
 *		Create the partition of one month as a table of its own, with the
 *		parent's indexes, a validated CHECK constraint proving its range
 *		(so that attaching it reads none of its rows) and, when the newest
 *		partition is itself partitioned, the same sub-partitions; then move
 *		into it the rows the default partition holds for the month.  No
 *		lock here keeps anyone out: the parent is held SHARE UPDATE
 *		EXCLUSIVE, the default only ROW EXCLUSIVE (readers go on seeing the
 *		rows there until the transaction commits), the new table is
 *		nobody else's.  Runs under pgs_run_guarded_as.
 */
static void
prepare_month_step(void *arg)
{
	MonthStep  *step = (MonthStep *) arg;
	Datum		lo;
	Datum		hi;
	char	   *qparent = pgs_qualified_name(step->parent);
	Oid			nsp = get_rel_namespace(step->parent);
	char	   *name;
	char	   *qname;
	Oid			default_part;
	Oid			sibling;
	bool		subpartitioned;
	Oid			child;
	Oid			owner;
	Oid			tablespace;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(step->parent)};
	List	   *not_valid = NIL;
	ListCell   *lc;
	int			nest;
	int			ret;
	uint64		i;

	step->created = InvalidOid;
	step->moved = 0;
	month_range(step, &lo, &hi);

	/* parent first, as queries lock it; serializes concurrent premakes */
	pgs_spi_exec(psprintf("LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE", qparent));

	if (OidIsValid(pgs_covering_partition(step->parent,
									  pgs_datum_as_timestamp(lo, step->keytype),
									  pgs_datum_as_timestamp(hi, step->keytype),
									  &default_part)))
		return;					/* made meanwhile, or covered by a wider one */

	name = step->piece ? pstrdup(step->piece_name) :
		pgs_month_partition_name(get_rel_name(step->parent), step->month);
	qname = quote_qualified_identifier(get_namespace_name(nsp), name);
	if (OidIsValid(get_relname_relid(name, nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation %s already exists", qname),
				 errdetail("It is not a partition of %s.", pgs_display_name(step->parent)),
				 errhint("Rename or drop it: pgscale names monthly partitions <table>_YYYY_MM.")));

	nest = pgs_pin_output_settings();
	step->template_rel = pgs_newest_partition(step->parent, true);
	sibling = pgs_newest_partition(step->parent, false);
	subpartitioned = OidIsValid(sibling) &&
		get_rel_relkind(sibling) == RELKIND_PARTITIONED_TABLE;
	tablespace = get_rel_tablespace(step->parent);
	pgs_spi_exec(psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
					  " INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS"
					  " INCLUDING INDEXES)%s%s%s%s",
					  qname, qparent,
					  subpartitioned ?
					  psprintf(" PARTITION BY %s",
							   TextDatumGetCString(DirectFunctionCall1(pg_get_partkeydef,
																	   ObjectIdGetDatum(sibling)))) : "",
					  subpartitioned ? "" : pgs_storage_clause(step->template_rel),
					  OidIsValid(tablespace) ? " TABLESPACE " : "",
					  OidIsValid(tablespace) ? quote_identifier(get_tablespace_name(tablespace)) : ""));
	CommandCounterIncrement();
	child = get_relname_relid(name, nsp);

	owner = pgs_relation_owner(step->parent);
	if (owner != GetUserId())
		pgs_spi_exec(psprintf("ALTER TABLE %s OWNER TO %s", qname,
						  quote_identifier(GetUserNameFromId(owner, false))));
	pgs_copy_grants(step->parent, child, "TABLE");
	if (subpartitioned)
		create_subpartitions(step->parent, sibling, child, owner);

	/* the range, proven before any row goes in */
	pgs_spi_exec(psprintf("ALTER TABLE %s ADD CONSTRAINT pgscale_month_range"
					  " CHECK (%s IS NOT NULL AND %s OPERATOR(pg_catalog.>=) %s::%s"
					  " AND %s OPERATOR(pg_catalog.<) %s::%s)",
					  qname, quote_identifier(step->keycol),
					  quote_identifier(step->keycol), pgs_bound_literal(lo, step->keytype),
					  format_type_be_qualified(step->keytype),
					  quote_identifier(step->keycol), pgs_bound_literal(hi, step->keytype),
					  format_type_be_qualified(step->keytype)));

	/*
	 * LIKE copies the parent's NOT VALID checks as valid ones, which rows
	 * of the default may violate: put them back NOT VALID after the move.
	 */
	ret = SPI_execute_with_args("SELECT conname::pg_catalog.text, pg_catalog.pg_get_constraintdef(oid)"
								" FROM pg_catalog.pg_constraint"
								" WHERE conrelid OPERATOR(pg_catalog.=) $1"
								" AND contype OPERATOR(pg_catalog.=) 'c' AND NOT convalidated"
								" ORDER BY 1",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the constraints of %s", pgs_display_name(step->parent));
	for (i = 0; i < SPI_processed; i++)
		not_valid = lappend(not_valid,
							list_make2(SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
									   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2)));
	foreach(lc, not_valid)
		pgs_spi_exec(psprintf("ALTER TABLE %s DROP CONSTRAINT %s", qname,
						  quote_identifier((char *) linitial((List *) lfirst(lc)))));

	if (OidIsValid(default_part))
		step->moved = move_from_default(default_part, child, step->keycol,
										step->keytype, lo, hi, true);

	foreach(lc, not_valid)
		pgs_spi_exec(psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", qname,
						  quote_identifier((char *) linitial((List *) lfirst(lc))),
						  (char *) lsecond((List *) lfirst(lc))));
	AtEOXact_GUC(true, nest);

	step->default_part = default_part;
	step->created = child;
}

/*
 * attach_month_step
 *		Attach a partition prepare_month_step made.  With a default
 *		partition, this is the only moment it is held ACCESS EXCLUSIVE (as
 *		ATTACH PARTITION must, to check that it keeps no row of the new
 *		range): first the rows written into it for the month since the
 *		move are moved too, then the partition is attached, which reads
 *		the default once but none of the new partition's rows.
 */
static void
attach_month_step(void *arg)
{
	MonthStep  *step = (MonthStep *) arg;
	Datum		lo;
	Datum		hi;
	char	   *qchild = pgs_qualified_name(step->created);

	month_range(step, &lo, &hi);
	if (OidIsValid(step->default_part))
	{
		pgs_spi_exec(psprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE",
						  pgs_qualified_name(step->default_part)));
		step->moved += move_from_default(step->default_part, step->created,
										 step->keycol, step->keytype, lo, hi, false);
	}
	pgs_spi_exec(psprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)",
					  pgs_qualified_name(step->parent), qchild,
					  pgs_bound_literal(lo, step->keytype), pgs_bound_literal(hi, step->keytype)));
	pgs_spi_exec(psprintf("ALTER TABLE %s DROP CONSTRAINT pgscale_month_range", qchild));
	if (get_rel_relkind(step->created) == RELKIND_RELATION)
		pgs_copy_replica_identity(step->parent, step->template_rel, step->created);
}

/*
 * undo_month_step
 *		A prepared month could not be attached: its rows go back into the
 *		default partition and its table is dropped.
 */
static void
undo_month_step(void *arg)
{
	MonthStep  *step = (MonthStep *) arg;
	char	   *qchild = pgs_qualified_name(step->created);

	if (OidIsValid(step->default_part) && step->moved > 0)
	{
		char	   *cols = pgs_column_list(step->parent);

		pgs_spi_exec(psprintf("INSERT INTO %s (%s) SELECT %s FROM %s",
						  pgs_qualified_name(step->default_part), cols, cols, qchild));
	}
	pgs_spi_exec(psprintf("DROP TABLE %s", qchild));
}

/*
 * month_failed
 *		Report a month that could not be made: a warning, the log, an entry
 *		of the result.
 */
static void
month_failed(List **created, MonthStep *step, ErrorData *edata, TimestampTz started)
{
	PgsNewPartition *np;

	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("pgscale could not create the partition of %04d-%02d for %s: %s",
					step->month / 12, step->month % 12 + 1, pgs_display_name(step->parent),
					edata->message),
			 edata->hint ? errhint("%s", edata->hint) : 0));
	pgs_log_action(step->parent, "error", NULL, 0, false, started,
				   psprintf("create partition %04d-%02d: %s",
							step->month / 12, step->month % 12 + 1, edata->message));
	np = palloc0(sizeof(PgsNewPartition));
	np->error = psprintf("create partition %04d-%02d: %s",
						 step->month / 12, step->month % 12 + 1, edata->message);
	*created = lappend(*created, np);
	FreeErrorData(edata);
}

/*
 * pgs_create_month_partitions
 *		Create the missing monthly partitions of parent from first_month
 *		through last_month (in a dry run, only find them); returns a list
 *		of PgsNewPartition.  Failures (after retries) are reported as
 *		warnings and logged; the other months go on.  SPI must be
 *		connected.
 *
 *		Every month is prepared first (created, filled from the default
 *		partition), and only then are they attached, one after another: a
 *		default partition, which attaching locks ACCESS EXCLUSIVE until the
 *		transaction ends, is held only for those attaches, never while
 *		rows are moved.
 */
List *
pgs_create_month_partitions(Oid parent, int first_month, int last_month,
							const char *keycol, Oid keytype, const char *tz,
							bool dry_run)
{
	List	   *created = NIL;
	List	   *steps = NIL;
	int			month;
	PgsRangeList	ranges;
	ListCell   *lc;

	/* months already covered are skipped without locking anything */
	pgs_read_ranges(parent, &ranges);
	for (month = first_month; month <= last_month; month++)
	{
		int64		mlo = pgs_datum_as_timestamp(pgs_month_bound(month, keytype, tz), keytype);
		int64		mhi = pgs_datum_as_timestamp(pgs_month_bound(month + 1, keytype, tz), keytype);
		int64	   *glo;
		int64	   *ghi;
		int			ngaps;
		int			g;

		if (!pgs_range_covered(&ranges, mlo, mhi))
		{
			month_piece(&steps, &created, parent, month, -1, 0, 0, keycol, keytype, tz,
						dry_run);
			continue;
		}

		/*
		 * Partly covered (partitions made at another zone's midnight, or by
		 * week): each uncovered piece gets a partition of its own, named
		 * <table>_YYYY_MM_gapN, so that every instant stays covered.
		 */
		ngaps = pgs_range_gaps(&ranges, mlo, mhi, &glo, &ghi);
		for (g = 0; g < ngaps; g++)
			month_piece(&steps, &created, parent, month, g + 1, glo[g], ghi[g],
						keycol, keytype, tz, dry_run);
	}
	if (dry_run)
		return created;

	/* first every month made and filled, without a lock that stops anyone */
	foreach(lc, steps)
	{
		MonthStep  *step = (MonthStep *) lfirst(lc);
		ErrorData  *edata = NULL;

		step->started = GetCurrentTimestamp();
		if (!pgs_run_guarded_as(parent, prepare_month_step, step, &edata))
		{
			step->created = InvalidOid;
			step->failed = true;
			month_failed(&created, step, edata, step->started);
		}
	}

	/* then the attaches, the only moments the default partition is locked */
	foreach(lc, steps)
	{
		MonthStep  *step = (MonthStep *) lfirst(lc);
		ErrorData  *edata = NULL;
		PgsNewPartition *np;

		if (step->failed || !OidIsValid(step->created))
			continue;
		if (!pgs_run_guarded_as(parent, attach_month_step, step, &edata))
		{
			ErrorData  *edata2 = NULL;

			if (!pgs_run_guarded_as(parent, undo_month_step, step, &edata2))
				ReThrowError(edata2);	/* roll everything back: no row is lost */
			month_failed(&created, step, edata, step->started);
			continue;
		}
		np = palloc0(sizeof(PgsNewPartition));
		np->relid = step->created;
		np->name = pgs_display_name(step->created);
		np->moved = step->moved;
		created = lappend(created, np);
		pgs_log_action(parent, "create_partition", np->name,
					   step->moved, step->moved > 0, step->started,
					   step->moved > 0 ? "rows moved from the default partition" :
					   (step->piece ? "the part of the month no partition covered" : NULL));
	}
	return created;
}

/*
 * month_piece
 *		Plan the partition of one month (piece < 0), or of piece number
 *		"piece" of it, [lo, hi): appended to *steps, or in a dry run its
 *		name to *created.
 */
static void
month_piece(List **steps, List **created, Oid parent, int month, int piece,
			int64 lo, int64 hi, const char *keycol, Oid keytype, const char *tz,
			bool dry_run)
{
	MonthStep  *step;
	char	   *name = pgs_month_partition_name(get_rel_name(parent), month);

	if (piece > 0)
		name = pgs_piece_name(name, piece);
	if (dry_run)
	{
		PgsNewPartition *np = palloc0(sizeof(PgsNewPartition));

		np->name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
											  name);
		*created = lappend(*created, np);
		return;
	}

	step = palloc0(sizeof(MonthStep));
	step->parent = parent;
	step->keytype = keytype;
	step->keycol = keycol;
	step->tz = tz;
	step->month = month;
	if (piece > 0)
	{
		step->piece = true;
		step->piece_lo = pgs_timestamp_as_datum(lo, keytype);
		step->piece_hi = pgs_timestamp_as_datum(hi, keytype);
		step->piece_name = name;
	}
	*steps = lappend(*steps, step);
}

/*
 * pgs_premake_range
 *		The months to premake: from first (default: this month) through
 *		this month + months_ahead, checked against the per-call limit.
 */
void
pgs_premake_range(Oid relid, Oid keytype, const char *tz, int months_ahead,
				  bool have_from, DateADT from, int *first, int *last)
{
	int			now = pgs_current_month(keytype, tz);

	if (months_ahead < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months_ahead must not be negative"),
				 errhint("Give how many months after this one should exist, for example 3.")));
	if (months_ahead > PGS_MAX_NEW_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months_ahead must be at most %d", PGS_MAX_NEW_PARTITIONS),
				 errhint("Premake a few months; the maintenance cycle adds the next ones in time.")));
	if (have_from && DATE_NOT_FINITE(from))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_month must be a finite date"),
				 errhint("Give the first month to create, for example '2025-01-01'.")));
	*first = have_from ? pgs_month_of_date(from) : now;
	*last = now + months_ahead;
	if (*last - *first + 1 > PGS_MAX_NEW_PARTITIONS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("this call would create up to %d partitions of %s",
						*last - *first + 1, pgs_display_name(relid)),
				 errdetail("One call creates at most %d monthly partitions.", PGS_MAX_NEW_PARTITIONS),
				 errhint("Pass a later from_month, or create the range in several calls.")));
}

/*
 * pgscale_create_month_partitions(relation regclass, months_ahead integer
 *		DEFAULT 3, from_month date DEFAULT NULL) RETURNS SETOF regclass
 */
Datum
pgscale_create_month_partitions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	char	   *keycol;
	Oid			keytype;
	const char *tz;
	int			first;
	int			last;
	List	   *created;
	ListCell   *lc;

	pgs_require_arg(fcinfo, 0, "relation", NULL);
	pgs_require_arg(fcinfo, 1, "months_ahead", NULL);
	relid = PG_GETARG_OID(0);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		pgs_no_such_relation(relid);
	pgs_check_month_partitioned(relid, &keycol, &keytype);
	if (!pgs_owns(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to create its partitions",
						pgs_display_name(relid)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));

	pgs_init_materialized_srf_scalar(fcinfo);
	SPI_connect();
	tz = pgs_policy_time_zone(relid);
	pgs_premake_range(relid, keytype, tz, PG_GETARG_INT32(1),
					  !PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_DATEADT(2),
					  &first, &last);
	/* a conversion may premake nothing; a caller naming from_month means it */
	if (first > last)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_month %04d-%02d is after the last month to create, %04d-%02d",
						first / 12, first % 12 + 1, last / 12, last % 12 + 1),
				 errdetail("Months are created from from_month through this month plus months_ahead."),
				 errhint("Pass a larger months_ahead, or an earlier from_month.")));
	created = pgs_create_month_partitions(relid, first, last, keycol, keytype,
										  tz, false);
	foreach(lc, created)
	{
		PgsNewPartition *np = (PgsNewPartition *) lfirst(lc);
		Datum		value = ObjectIdGetDatum(np->relid);
		bool		isnull = false;

		if (OidIsValid(np->relid))
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	SPI_finish();
	return (Datum) 0;
}

