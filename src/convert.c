/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  Online conversion of a plain table into a monthly range-partitioned
 *	  table of the same name: CALL pgscale_partition_table(), then
 *	  CALL pgscale_split_legacy() to spread the old rows over monthly
 *	  partitions.
 *
 *	  pgscale_partition_table runs in steps, each its own transaction:
 *
 *	  1. validation, under no lock stronger than ACCESS SHARE: everything
 *		 that would make the conversion fail or change the table's meaning
 *		 is refused here, before anything is changed;
 *	  2. with extend_keys, a unique index with the time column appended
 *		 for each primary key or unique constraint that lacks it, built
 *		 with CREATE UNIQUE INDEX CONCURRENTLY over a loopback connection
 *		 while reads and writes go on (a valid one that exists, e.g. built
 *		 beforehand, is reused; an INVALID one is dropped and rebuilt);
 *	  3. a CHECK constraint "every row lies before the bound", added
 *		 NOT VALID (a brief lock) and
 *	  4. validated, which scans the table under SHARE UPDATE EXCLUSIVE:
 *		 reads and writes go on;
 *	  5. the swap, the only step under ACCESS EXCLUSIVE, catalog work only:
 *		 the table is renamed <table>_legacy, a partitioned table takes its
 *		 name, columns, defaults, sequences, constraints, indexes, owner,
 *		 grants and policy, and the old table is attached as its partition
 *		 FROM (MINVALUE) TO (bound) without a scan (the validated CHECK
 *		 proves the range) and without an index build (each index of the
 *		 parent adopts the equivalent index of the old table); monthly
 *		 partitions are premade from the bound on.
 *
 *	  A failure between steps leaves the table as it was, at most with the
 *	  CHECK constraint, which a rerun reuses; the swap is one transaction,
 *	  so the table is never half converted.
 *
 *	  pgscale_split_legacy then carves the legacy partition month by
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
#include "libpq-fe.h"
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
#include "clone.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_partition_table);
PG_FUNCTION_INFO_V1(pgscale_split_legacy);

/*
 * The CHECK constraints pgscale puts on a legacy partition are named
 * pgscale_legacy_<from>_<to>, <from> being "min" or YYYY_MM, <to> YYYY_MM:
 * the range they prove.  A rerun finds its own constraint by that name.
 */
#define LEGACY_CHECK_PREFIX "pgscale_legacy_"

/* ---------- small helpers ---------- */

/*
 * require_nonatomic
 *		The conversion commits between its steps: refuse to run where it
 *		cannot (inside BEGIN ... COMMIT or a function).
 */
static void
require_nonatomic(FunctionCallInfo fcinfo, const char *name)
{
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run inside a transaction block", name),
				 errdetail("It commits after each step so that it never holds a lock for long; in a single transaction it could not be online."),
				 errhint("CALL it on its own, outside BEGIN ... COMMIT and outside functions.")));
}

/*
 * fail_step
 *		A step failed after its retries: raise its error, saying what state
 *		the table is left in.
 */
static void
fail_step(ErrorData *edata, const char *what, Oid relid, const char *state)
{
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("could not %s %s: %s", what, pgs_display_name(relid),
					edata->message),
			 errdetail("%s", state),
			 edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ?
			 errhint("Other sessions held the table for longer than pgscale.lock_timeout allows, %d times; run the call again later, or raise pgscale.lock_retries.",
					 pgscale_lock_retries + 1) :
			 (edata->hint ? errhint("%s", edata->hint) :
			  errhint("Fix the cause and run the call again: it goes on from where it stopped."))));
}

/*
 * legacy_check_name
 *		Name of the CHECK constraint proving the range [lo, hi) of a legacy
 *		partition; lo < 0 stands for MINVALUE.
 */
static char *
legacy_check_name(int lo, int hi)
{
	return psprintf(LEGACY_CHECK_PREFIX "%s_%s",
					lo < 0 ? "min" : pgs_month_label(lo), pgs_month_label(hi));
}

/*
 * extreme_month
 *		Month of min(col) or max(col) over ONLY rel (optionally restricted
 *		by a condition), or -1 when there is no such row.  Infinite values
 *		count as beyond any month.
 */
static int
extreme_month(Oid relid, const char *col, Oid keytype, const char *tz,
			  bool want_max, const char *where, bool *infinite)
{
	int			ret;
	bool		isnull;
	Datum		d;

	*infinite = false;
	ret = SPI_execute(psprintf("SELECT pg_catalog.%s(%s) FROM ONLY %s%s%s",
							   want_max ? "max" : "min", quote_identifier(col),
							   pgs_qualified_name(relid),
							   where ? " WHERE " : "", where ? where : ""),
					  false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return -1;
	if ((keytype == DATEOID && DATE_NOT_FINITE(DatumGetDateADT(d))) ||
		(keytype != DATEOID && TIMESTAMP_NOT_FINITE(DatumGetTimestamp(d))))
	{
		*infinite = true;
		return -1;
	}
	return pgs_month_of_value(d, keytype, tz);
}

/*
 * find_legacy_checks
 *		Names of the pgscale_legacy_* CHECK constraints of a table, with
 *		whether each is validated.
 */
static List *
find_legacy_checks(Oid relid, List **validated)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	List	   *names = NIL;
	int			ret;
	uint64		i;

	*validated = NIL;
	ret = SPI_execute_with_args("SELECT conname::pg_catalog.text, convalidated"
								" FROM pg_catalog.pg_constraint"
								" WHERE conrelid OPERATOR(pg_catalog.=) $1"
								" AND contype OPERATOR(pg_catalog.=) 'c'"
								" AND pg_catalog.starts_with(conname::pg_catalog.text, '" LEGACY_CHECK_PREFIX "')"
								" ORDER BY 1",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the constraints of %s", pgs_display_name(relid));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		*validated = lappend_int(*validated,
								 DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 2, &isnull)));
	}
	return names;
}

/* ---------- the table's indexes ---------- */

/*
 * One index of the table being converted, as the swap recreates it on the
 * partitioned parent.
 */
typedef struct CvIndex
{
	Oid			oid;
	char	   *name;
	bool		unique;
	bool		valid;
	bool		exclusion;
	bool		has_time;		/* the time column is one of its keys */
	bool		extendable;		/* plain key columns, default opclasses */
	bool		replident;
	Oid			conoid;			/* PK or UNIQUE constraint, or InvalidOid */
	char		contype;
	bool		deferrable;
	bool		deferred;
	int			nkeys;
	int			natts;
	AttrNumber *attnums;
	Node	   *pred;			/* NULL: not partial */
	Oid			tablespace;
	/* for an index lacking the time column, under extend_keys: */
	struct CvIndex *extension;	/* the unique index with the time column */
	bool		is_extension;	/* this one extends another */
	bool		stale;			/* an INVALID extension left by a failed build */
	/* read by the swap before anything is renamed: */
	char	   *def;			/* pg_get_indexdef or pg_get_constraintdef */
	char	   *comment;
	char	   *concomment;
} CvIndex;

/*
 * read_indexes
 *		Describe every index of relid.
 */
static List *
read_indexes(Oid relid, AttrNumber timeatt)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *oids = RelationGetIndexList(rel);
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, oids)
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index form;
		CvIndex    *ix;
		Datum		d;
		bool		isnull;
		oidvector  *indclass;
		oidvector  *indcoll;
		int2vector *indoption;
		int			i;

		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for index %u", indexoid);
		form = (Form_pg_index) GETSTRUCT(tuple);
		ix = palloc0(sizeof(CvIndex));
		ix->oid = indexoid;
		ix->name = get_rel_name(indexoid);
		ix->unique = form->indisunique;
		ix->valid = form->indisvalid && form->indisready && form->indislive;
		ix->exclusion = form->indisexclusion;
		ix->replident = form->indisreplident;
		ix->nkeys = form->indnkeyatts;
		ix->natts = form->indnatts;
		ix->attnums = palloc(sizeof(AttrNumber) * ix->natts);
		for (i = 0; i < ix->natts; i++)
			ix->attnums[i] = form->indkey.values[i];
		for (i = 0; i < ix->nkeys; i++)
			if (ix->attnums[i] == timeatt)
				ix->has_time = true;
		ix->tablespace = get_rel_tablespace(indexoid);

		d = SysCacheGetAttr(INDEXRELID, tuple, Anum_pg_index_indpred, &isnull);
		ix->pred = isnull ? NULL : (Node *) stringToNode(TextDatumGetCString(d));

		ix->extendable = heap_attisnull(tuple, Anum_pg_index_indexprs, NULL) &&
			pgs_rel_am(indexoid) == BTREE_AM_OID &&
			!pgs_index_nulls_not_distinct(form);
		d = SysCacheGetAttr(INDEXRELID, tuple, Anum_pg_index_indclass, &isnull);
		indclass = (oidvector *) DatumGetPointer(d);
		d = SysCacheGetAttr(INDEXRELID, tuple, Anum_pg_index_indcollation, &isnull);
		indcoll = (oidvector *) DatumGetPointer(d);
		d = SysCacheGetAttr(INDEXRELID, tuple, Anum_pg_index_indoption, &isnull);
		indoption = (int2vector *) DatumGetPointer(d);
		for (i = 0; ix->extendable && i < ix->nkeys; i++)
		{
			AttrNumber	att = ix->attnums[i];
			Oid			atttype;
			Oid			attcoll;
			int32		typmod;

			if (att <= 0 || indoption->values[i] != 0)
			{
				ix->extendable = false;
				break;
			}
			get_atttypetypmodcoll(relid, att, &atttype, &typmod, &attcoll);
			if (indclass->values[i] != GetDefaultOpClass(atttype, BTREE_AM_OID) ||
				indcoll->values[i] != attcoll)
				ix->extendable = false;
		}
		ReleaseSysCache(tuple);

		ix->conoid = get_index_constraint(indexoid);
		if (OidIsValid(ix->conoid))
		{
			HeapTuple	ctup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(ix->conoid));
			Form_pg_constraint con;

			if (!HeapTupleIsValid(ctup))
				elog(ERROR, "cache lookup failed for constraint %u", ix->conoid);
			con = (Form_pg_constraint) GETSTRUCT(ctup);
			ix->contype = con->contype;
			ix->deferrable = con->condeferrable;
			ix->deferred = con->condeferred;
			ReleaseSysCache(ctup);
		}
		result = lappend(result, ix);
	}
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * is_extension_of
 *		Whether cand is orig with the time column appended to its keys:
 *		same key columns then the time column, same INCLUDE columns, same
 *		predicate, unique, default opclasses, no constraint; and valid
 *		unless any_validity.
 */
static bool
is_extension_of(CvIndex *cand, CvIndex *orig, AttrNumber timeatt,
				bool any_validity)
{
	int			i;

	if (cand == orig || !cand->unique || (!cand->valid && !any_validity) ||
		!cand->extendable ||
		OidIsValid(cand->conoid) || cand->nkeys != orig->nkeys + 1 ||
		cand->natts != orig->natts + 1)
		return false;
	for (i = 0; i < orig->nkeys; i++)
		if (cand->attnums[i] != orig->attnums[i])
			return false;
	if (cand->attnums[orig->nkeys] != timeatt)
		return false;
	for (i = orig->nkeys; i < orig->natts; i++)
		if (cand->attnums[i + 1] != orig->attnums[i])
			return false;
	return equal(cand->pred, orig->pred);
}

/*
 * column_names
 *		Quoted names of attnums[from .. to), comma-separated, with extra
 *		(already quoted) appended when given.
 */
static char *
column_names(Oid relid, AttrNumber *attnums, int from, int to, const char *extra)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = from; i < to; i++)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 quote_identifier(get_attname(relid, attnums[i], false)));
	if (extra)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", extra);
	return buf.data;
}

/*
 * extended_columns
 *		"(k1, k2, time) INCLUDE (i1)" for the extension of an index.
 */
static char *
extended_columns(Oid relid, CvIndex *ix, const char *timecol)
{
	char	   *keys = column_names(relid, ix->attnums, 0, ix->nkeys,
									quote_identifier(timecol));

	if (ix->natts > ix->nkeys)
		return psprintf("(%s) INCLUDE (%s)", keys,
						column_names(relid, ix->attnums, ix->nkeys, ix->natts, NULL));
	return psprintf("(%s)", keys);
}

/*
 * extended_index_sql
 *		CREATE UNIQUE INDEX [CONCURRENTLY] statement for the extension of
 *		ix on table qtable, named name (quoted here).
 */
static char *
extended_index_sql(Oid relid, CvIndex *ix, const char *timecol,
				   const char *qtable, const char *name, bool concurrently)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE UNIQUE INDEX %s%s ON %s USING btree %s",
					 concurrently ? "CONCURRENTLY " : "",
					 quote_identifier(name), qtable,
					 extended_columns(relid, ix, timecol));
	if (OidIsValid(ix->tablespace))
		appendStringInfo(&buf, " TABLESPACE %s",
						 quote_identifier(get_tablespace_name(ix->tablespace)));
	if (ix->pred)
		appendStringInfo(&buf, " WHERE %s",
						 pgs_spi_text_oid("SELECT pg_catalog.pg_get_expr(indpred, indrelid)"
									" FROM pg_catalog.pg_index"
									" WHERE indexrelid OPERATOR(pg_catalog.=) $1",
									ix->oid));
	return buf.data;
}

/*
 * match_extensions
 *		For every unique index lacking the time column, find the unique
 *		index that extends it (NULL when none yet).  Extensions are marked
 *		so that they are not recreated on their own.  An INVALID index of
 *		the extension's shape is what a failed or cancelled concurrent
 *		build leaves: it is marked stale, to be dropped and built again,
 *		never adopted.
 */
static void
match_extensions(List *indexes, AttrNumber timeatt)
{
	ListCell   *lc;
	ListCell   *lc2;

	foreach(lc, indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);

		if (!ix->unique || ix->has_time || !ix->valid)
			continue;
		foreach(lc2, indexes)
		{
			CvIndex    *cand = (CvIndex *) lfirst(lc2);

			if (!cand->is_extension && !cand->stale &&
				is_extension_of(cand, ix, timeatt, false))
			{
				ix->extension = cand;
				cand->is_extension = true;
				break;
			}
		}
		foreach(lc2, indexes)
		{
			CvIndex    *cand = (CvIndex *) lfirst(lc2);

			if (!cand->valid && !cand->is_extension &&
				is_extension_of(cand, ix, timeatt, true))
				cand->stale = true;
		}
	}
}

/* ---------- what the conversion needs to know ---------- */

typedef struct Conversion
{
	Oid			relid;
	Oid			nsp;
	char	   *relname;
	char	   *timecol;
	AttrNumber	timeatt;
	Oid			keytype;
	const char *tz;
	int			months_ahead;
	bool		extend_keys;
	int			bound;			/* month number of the legacy upper bound */
	char	   *check_name;
	char	   *legacy_name;
	int			far;			/* rows from this month on are "far ahead" */
	int64		far_rows;		/* how many there were at step 1 */
	char	   *default_name;	/* the default partition that takes them */
	Oid			default_rel;	/* out: that partition, or InvalidOid */
	int64		far_moved;		/* out: rows moved into it */
	Oid			parent;			/* out: the new partitioned table */
	int			premade;		/* out: monthly partitions created */
} Conversion;

/*
 * refuse
 *		Raise a refusal of the conversion: the table is left untouched.
 */
static void
refuse(int code, Oid relid, const char *why, const char *hint)
{
	ereport(ERROR,
			(errcode(code),
			 errmsg("cannot partition table %s: %s", pgs_display_name(relid), why),
			 errdetail("The table was not changed."),
			 errhint("%s", hint)));
}

/*
 * check_structure
 *		The refusals that depend on the table's definition, checked in
 *		step 1 and again under the lock of the swap (the table may have
 *		changed in between).  Returns the table's indexes with their
 *		extensions matched.
 */
static List *
check_structure(Conversion *cv, bool at_swap)
{
	Oid			relid = cv->relid;
	FormData_pg_class classform;
	char		relkind;
	char		persistence;
	bool		rowsecurity;
	Oid			oftype;
	char	   *dep;
	List	   *indexes;
	ListCell   *lc;

	if (!pgs_read_class(relid, &classform))
		pgs_no_such_relation(relid);
	relkind = classform.relkind;
	persistence = classform.relpersistence;
	rowsecurity = classform.relrowsecurity;
	oftype = classform.reloftype;

	if (relkind == RELKIND_PARTITIONED_TABLE)
		refuse(ERRCODE_WRONG_OBJECT_TYPE, relid, "it is already partitioned",
			   "Create its monthly partitions with pgscale_create_month_partitions(); if it was converted by pgscale, move the old rows with CALL pgscale_split_legacy().");
	if (relkind != RELKIND_RELATION)
		refuse(ERRCODE_WRONG_OBJECT_TYPE, relid, "it is not an ordinary table",
			   "Only ordinary tables can be converted.");
	if (classform.relispartition)
		refuse(ERRCODE_WRONG_OBJECT_TYPE, relid, "it is a partition",
			   "Partition its partitioned table instead, or detach it first.");
	if (pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_inherits"
					" WHERE inhrelid OPERATOR(pg_catalog.=) $1"
					" OR inhparent OPERATOR(pg_catalog.=) $1", relid) > 0)
		refuse(ERRCODE_WRONG_OBJECT_TYPE, relid, "it takes part in table inheritance",
			   "Remove the inheritance (ALTER TABLE ... NO INHERIT) first; a partitioned table cannot inherit or be inherited.");
	if (persistence != RELPERSISTENCE_PERMANENT)
		refuse(ERRCODE_WRONG_OBJECT_TYPE, relid, "it is not a permanent (logged) table",
			   "Make it logged with ALTER TABLE ... SET LOGGED first.");
	if (OidIsValid(oftype))
		refuse(ERRCODE_WRONG_OBJECT_TYPE, relid, "it is a typed table",
			   "Detach it from its type with ALTER TABLE ... NOT OF first.");

	/* things that point at the table by OID and would stay with the old one */
	dep = pgs_spi_text_oid("SELECT pg_catalog.format('%s (constraint %I)', c.conrelid::pg_catalog.regclass, c.conname)"
					 " FROM pg_catalog.pg_constraint c"
					 " WHERE c.confrelid OPERATOR(pg_catalog.=) $1"
					 " AND c.contype OPERATOR(pg_catalog.=) 'f' LIMIT 1", relid);
	if (dep)
		refuse(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST, relid,
			   psprintf("it is referenced by a foreign key of %s", dep),
			   "Drop the foreign key first and recreate it on the partitioned table afterwards; its key must then include the time column.");
	dep = pgs_spi_text_oid("SELECT CASE WHEN r.ev_class OPERATOR(pg_catalog.=) $1"
					 " THEN pg_catalog.format('rule %I', r.rulename)"
					 " ELSE pg_catalog.format('%s %s', CASE c.relkind WHEN 'm' THEN 'materialized view'"
					 " ELSE 'view' END, r.ev_class::pg_catalog.regclass) END"
					 " FROM pg_catalog.pg_depend d"
					 " JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) d.objid"
					 " JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.ev_class"
					 " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
					 " AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
					 " AND d.refobjid OPERATOR(pg_catalog.=) $1 ORDER BY 1 LIMIT 1", relid);
	if (dep)
		refuse(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST, relid,
			   psprintf("%s depends on it", dep),
			   "Drop the dependent views and rules first and recreate them afterwards; they would otherwise keep reading the old table only.");
	dep = pgs_spi_text_oid("SELECT pg_catalog.quote_ident(tgname) FROM pg_catalog.pg_trigger"
					 " WHERE tgrelid OPERATOR(pg_catalog.=) $1 AND NOT tgisinternal"
					 " ORDER BY 1 LIMIT 1", relid);
	if (dep)
		refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
			   psprintf("it has trigger %s", dep),
			   "Drop its triggers first and create them on the partitioned table afterwards.");
	if (rowsecurity ||
		pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_policy"
					" WHERE polrelid OPERATOR(pg_catalog.=) $1", relid) > 0)
		refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid, "it has row-level security",
			   "Disable row-level security and drop its policies first, and set them up on the partitioned table afterwards.");
	dep = pgs_spi_text_oid("SELECT pg_catalog.quote_ident(p.pubname) FROM pg_catalog.pg_publication_rel r"
					 " JOIN pg_catalog.pg_publication p ON p.oid OPERATOR(pg_catalog.=) r.prpubid"
					 " WHERE r.prrelid OPERATOR(pg_catalog.=) $1 ORDER BY 1 LIMIT 1", relid);
	if (dep)
		refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
			   psprintf("it belongs to publication %s", dep),
			   "Drop it from the publication first and add the partitioned table afterwards.");
	/*
	 * Constraints a partitioned table cannot take over, in one scan: a NO
	 * INHERIT check, a NOT VALID foreign key, and (18 catalogues NOT NULL
	 * constraints) a NOT VALID NOT NULL.  The first character of the answer
	 * is the constraint type, the rest its quoted name.
	 */
	dep = pgs_spi_text_oid("SELECT contype::pg_catalog.text OPERATOR(pg_catalog.||) pg_catalog.quote_ident(conname)"
					 " FROM pg_catalog.pg_constraint"
					 " WHERE conrelid OPERATOR(pg_catalog.=) $1"
					 " AND ((contype OPERATOR(pg_catalog.=) 'c' AND connoinherit)"
					 " OR (contype OPERATOR(pg_catalog.=) ANY ('{f,n}'::pg_catalog.\"char\"[]) AND NOT convalidated))"
					 " ORDER BY pg_catalog.strpos('cfn', contype::pg_catalog.text), 1 LIMIT 1", relid);
	if (dep && dep[0] == CONSTRAINT_CHECK)
		refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
			   psprintf("its check constraint %s is NO INHERIT", dep + 1),
			   "A partitioned table cannot have NO INHERIT constraints: drop it, or recreate it without NO INHERIT.");
	if (dep && dep[0] == CONSTRAINT_FOREIGN)
		refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
			   psprintf("its foreign key %s is NOT VALID", dep + 1),
			   "Validate it first with ALTER TABLE ... VALIDATE CONSTRAINT (reads and writes go on meanwhile).");
	if (dep)
		refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
			   psprintf("its NOT NULL constraint %s is NOT VALID", dep + 1),
			   "Validate it first with ALTER TABLE ... VALIDATE CONSTRAINT, or drop it: a partition cannot keep a NOT VALID NOT NULL constraint that its parent has valid.");

	/* the time column */
	cv->timeatt = get_attnum(relid, cv->timecol);
	cv->keytype = pgs_time_column_type(relid, cv->timecol, false);
	if (get_attgenerated(relid, cv->timeatt) != '\0')
		refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
			   psprintf("column \"%s\" is a generated column", cv->timecol),
			   "Partition by a stored date or timestamp column that is not generated.");

	/* unique and exclusion constraints must contain the partition key */
	indexes = read_indexes(relid, cv->timeatt);
	match_extensions(indexes, cv->timeatt);
	foreach(lc, indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);
		const char *what = ix->contype == CONSTRAINT_PRIMARY ? "primary key" :
		OidIsValid(ix->conoid) ? "unique constraint" : "unique index";

		if (!ix->valid && !(ix->stale && cv->extend_keys && !at_swap))
			refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, relid,
				   psprintf("index %s is invalid", quote_identifier(ix->name)),
				   "Drop it, or rebuild it with REINDEX INDEX CONCURRENTLY, first.");
		if (ix->exclusion)
			refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
				   psprintf("it has exclusion constraint %s", quote_identifier(ix->name)),
				   "Drop the exclusion constraint first.");
		if (!ix->unique || ix->has_time || ix->is_extension || !ix->valid)
			continue;
		if (!cv->extend_keys)
			refuse(ERRCODE_INVALID_TABLE_DEFINITION, relid,
				   psprintf("%s %s does not include column \"%s\"", what,
							quote_identifier(ix->name), cv->timecol),
				   psprintf("On a partitioned table every primary key and unique constraint must include the partition column. Pass extend_keys => true to add \"%s\" to them (uniqueness then holds per value of \"%s\").",
							cv->timecol, cv->timecol));
		if (ix->extension)
			continue;
		if (!ix->extendable)
			refuse(ERRCODE_FEATURE_NOT_SUPPORTED, relid,
				   psprintf("%s %s cannot be extended with column \"%s\"", what,
							quote_identifier(ix->name), cv->timecol),
				   psprintf("pgscale extends only btree keys on plain columns with default operator classes and sort order. Create the extended unique index yourself, with \"%s\" after the key columns, and run the call again.",
							cv->timecol));
		if (at_swap)
			refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, relid,
				   psprintf("%s %s was created during the conversion", what,
							quote_identifier(ix->name)),
				   "Run the call again.");
	}
	return indexes;
}

/*
 * plan_conversion
 *		Step 1: check everything and fix the bound.  Changes nothing.
 */
static List *
plan_conversion(Conversion *cv)
{
	Oid			relid = cv->relid;
	List	   *indexes;
	int			next;
	int			after_max;
	bool		infinite;
	AclResult	aclresult;

	pgs_validate_table(relid);
	if (!pgs_owns(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to partition it",
						pgs_display_name(relid)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));
	cv->nsp = get_rel_namespace(relid);
	cv->relname = get_rel_name(relid);
	indexes = check_structure(cv, false);

	aclresult = pgs_namespace_aclcheck(cv->nsp, GetUserId(), ACL_CREATE);
	if (aclresult != ACLCHECK_OK)
		refuse(ERRCODE_INSUFFICIENT_PRIVILEGE, relid,
			   psprintf("permission denied to create tables in schema %s",
						quote_identifier(get_namespace_name(cv->nsp))),
			   "The partitioned table is created in the table's schema: grant CREATE on it to the caller.");

	/* the name the old table will take */
	cv->legacy_name = ChooseRelationName(cv->relname, NULL, "legacy", cv->nsp, false);

	/* rows without a time cannot go into any range partition */
	if (!pgs_att_notnull(relid, cv->timeatt) &&
		pgs_spi_int8(psprintf("SELECT 1 FROM ONLY %s WHERE %s IS NULL LIMIT 1",
							  pgs_qualified_name(relid), quote_identifier(cv->timecol)),
					 0, NULL, NULL, NULL, false) > 0)
		refuse(ERRCODE_NOT_NULL_VIOLATION, relid,
			   psprintf("column \"%s\" is NULL in some rows", cv->timecol),
			   psprintf("A range partition cannot hold rows without a \"%s\": set a value in those rows or delete them, then run the call again.",
						cv->timecol));

	/*
	 * The legacy partition ends at the start of next month, or later if
	 * rows are dated later.  When next month starts within two days, the
	 * month after it: an insert must never hit the boundary while the
	 * conversion runs.
	 */
	cv->tz = pgs_policy_time_zone(relid);
	next = pgs_current_month(cv->keytype, cv->tz) + 1;
	{
		DateADT		soon = GetSQLCurrentDate() + 2;

		if (pgs_month_of_date(soon) + 1 > next)
			next = pgs_month_of_date(soon) + 1;
	}
	after_max = extreme_month(relid, cv->timecol, cv->keytype, cv->tz, true,
							  NULL, &infinite) + 1;
	if (infinite)
		refuse(ERRCODE_INVALID_PARAMETER_VALUE, relid,
			   psprintf("column \"%s\" holds 'infinity'", cv->timecol),
			   "Monthly partitions cannot hold infinite times: update or delete those rows first.");

	/*
	 * Rows dated beyond the premake horizon (from the month after this
	 * month + months_ahead on) must not stretch the legacy partition, and
	 * with it the partitions the split makes, over decades: one stray row
	 * dated 2097 would leave a partition up to 2097 that premake never
	 * adds to and retention never drops.  They go into a default
	 * partition instead, from which premake moves them into their months
	 * when these come within the horizon.
	 */
	cv->far = Max(pgs_current_month(cv->keytype, cv->tz) + cv->months_ahead + 1, next);
	cv->far_rows = 0;
	if (after_max > cv->far)
	{
		char	   *far_cond = psprintf("%s OPERATOR(pg_catalog.>=) %s",
										quote_identifier(cv->timecol),
										pgs_month_literal(cv->far, cv->keytype, cv->tz));

		cv->far_rows = pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s WHERE %s",
											 pgs_qualified_name(relid), far_cond),
									0, NULL, NULL, NULL, false);
		after_max = extreme_month(relid, cv->timecol, cv->keytype, cv->tz, true,
								  psprintf("NOT (%s)", far_cond), &infinite) + 1;
		cv->default_name = ChooseRelationName(cv->relname, NULL, "default", cv->nsp, false);
		ereport(NOTICE,
				(errmsg(INT64_FORMAT " rows of %s are dated from %s on, beyond the premake horizon: they will go into the default partition %s",
						cv->far_rows, pgs_display_name(relid), pgs_month_label(cv->far),
						quote_identifier(cv->default_name)),
				 errdetail("The horizon is the start of the month after this one plus months_ahead (%d); rows beyond it would widen the monthly partitions.",
						   cv->months_ahead),
				 errhint("Premake moves them into their monthly partitions when their months come within the horizon; check whether these dates are right.")));
	}
	cv->bound = Max(next, after_max);
	if (cv->bound > next)
		ereport(NOTICE,
				(errmsg("rows of %s are dated up to %s: the legacy partition will end in %s",
						pgs_display_name(relid), pgs_month_label(cv->bound - 1),
						pgs_month_label(cv->bound)),
				 errdetail("Monthly partitions are premade from there on.")));
	cv->check_name = legacy_check_name(-1, cv->bound);
	return indexes;
}

/* ---------- step 2: extended unique indexes, built concurrently ---------- */

/*
 * The unique indexes extend_keys needs are built with CREATE UNIQUE INDEX
 * CONCURRENTLY, so that writes go on while they build.  That statement
 * cannot run through SPI or inside a transaction block: it runs as a
 * top-level statement of a second session, a libpq connection back to
 * this server over its own Unix socket, as the caller's role.  This
 * backend waits for it between its own transactions, holding no lock and
 * no snapshot, since the concurrent build waits for every transaction
 * that could see the table, this one included.  A plain CREATE INDEX over
 * that connection would check the same privileges as here: the server
 * itself builds an index as the table's owner under
 * SECURITY_RESTRICTED_OPERATION.
 */

/*
 * loop_wait
 *		Sleep until conn's socket is ready for events or the latch is set,
 *		then serve interrupts: the caller's cancel and termination work
 *		while the other session works.
 */
static void
loop_wait(PGconn *conn, int events)
{
	(void) WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | events,
							 PQsocket(conn), -1L, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * loop_cancel
 *		Ask the server to cancel what conn is running; used when the caller
 *		is cancelled while it waits.
 */
static void
loop_cancel(PGconn *conn)
{
	PGcancel   *cancel = PQgetCancel(conn);
	char		errbuf[256];

	if (cancel != NULL)
	{
		(void) PQcancel(cancel, errbuf, sizeof(errbuf));
		PQfreeCancel(cancel);
	}
}

/*
 * loop_exec
 *		Run one statement over conn with text parameters and return its
 *		last result, to be PQclear()ed.  Waits in loop_wait, and cancels
 *		the statement when this backend is interrupted meanwhile.
 */
static PGresult *
loop_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult   *volatile last = NULL;

	/* this session must not hold a snapshot the other one would wait for */
	InvalidateCatalogSnapshot();
	if (TransactionIdIsValid(MyProc->xmin))
		elog(ERROR, "pgscale: a snapshot is still held before a statement over the loopback connection");

	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not send a statement over the loopback connection: %s",
						pchomp(PQerrorMessage(conn))),
				 errhint("Check the server log, and run the call again.")));
	PG_TRY();
	{
		int			flushed;

		while ((flushed = PQflush(conn)) == 1)
			loop_wait(conn, WL_SOCKET_WRITEABLE | WL_SOCKET_READABLE);
		for (;;)
		{
			PGresult   *res;

			while (flushed == 0 && PQisBusy(conn))
			{
				loop_wait(conn, WL_SOCKET_READABLE);
				if (!PQconsumeInput(conn))
					break;
			}
			res = PQgetResult(conn);
			if (res == NULL)
				break;
			PQclear(last);
			last = res;
			if (PQstatus(conn) == CONNECTION_BAD)
				break;
		}
	}
	PG_CATCH();
	{
		loop_cancel(conn);
		PQclear(last);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (last == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("lost the loopback connection: %s", pchomp(PQerrorMessage(conn))),
				 errhint("Check the server log, and run the call again.")));
	return last;
}

/*
 * loop_connect
 *		Open the loopback connection: this server's first Unix socket
 *		directory and port, this database, the session user, then the
 *		caller's current role, pgscale.lock_timeout, and the settings
 *		pgs_pin_search_path() pins, so that statements built here read the
 *		same over there.  Errors out, saying what to allow, when the
 *		connection cannot be made.
 */
static PGconn *
loop_connect(const char *what)
{
	const char *keywords[7];
	const char *values[7];
	char	   *dirs = pstrdup(GetConfigOption("unix_socket_directories", false, false));
	List	   *dirlist = NIL;
	const char *dbname = get_database_name(MyDatabaseId);
	const char *user = GetUserNameFromId(GetSessionUserId(), false);
	const char *role = GetUserNameFromId(GetUserId(), false);
	const char *settings[2];
	PGconn	   *volatile conn;
	PGresult   *res;
	PostgresPollingStatusType status = PGRES_POLLING_WRITING;

	if (!SplitDirectoriesString(dirs, ',', &dirlist) || dirlist == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				 errmsg("cannot build %s concurrently: the server listens on no Unix socket", what),
				 errdetail("pgscale builds it over a local connection to this server; the table was not converted."),
				 errhint("Set unix_socket_directories, or create the index yourself with CREATE UNIQUE INDEX CONCURRENTLY and run the call again: pgscale uses an existing one.")));
	keywords[0] = "host";
	values[0] = (const char *) linitial(dirlist);
	keywords[1] = "port";
	values[1] = psprintf("%d", PostPortNumber);
	keywords[2] = "dbname";
	values[2] = dbname;
	keywords[3] = "user";
	values[3] = user;
	keywords[4] = "application_name";
	values[4] = "pgscale conversion";
	keywords[5] = "sslmode";
	values[5] = "disable";
	keywords[6] = NULL;
	values[6] = NULL;

	conn = PQconnectStartParams(keywords, values, false);
	if (conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errhint("Run the call again when the server has more memory free.")));
	PG_TRY();
	{
		while (PQstatus(conn) != CONNECTION_BAD &&
			   status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED)
		{
			loop_wait(conn, status == PGRES_POLLING_READING ?
					  WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE);
			status = PQconnectPoll(conn);
		}
		if (PQstatus(conn) != CONNECTION_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("cannot build %s concurrently: could not connect to this server as role %s: %s",
							what, quote_identifier(user), pchomp(PQerrorMessage(conn))),
					 errdetail("pgscale builds it over a local connection to database %s through socket directory %s; the table was not converted.",
							   quote_identifier(dbname), values[0]),
					 errhint("Allow that connection without a password in pg_hba.conf (a \"local\" line with trust or peer for this role), or create the index yourself with CREATE UNIQUE INDEX CONCURRENTLY and run the call again: pgscale uses an existing one.")));

		settings[0] = role;
		settings[1] = psprintf("%dms", pgscale_lock_timeout);
		res = loop_exec(conn,
						"SELECT pg_catalog.set_config('role', $1, false),"
						" pg_catalog.set_config('lock_timeout', $2, false),"
						" pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false),"
						" pg_catalog.set_config('datestyle', 'ISO, MDY', false),"
						" pg_catalog.set_config('intervalstyle', 'postgres', false),"
						" pg_catalog.set_config('extra_float_digits', '1', false)",
						2, settings);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			char	   *msg = pstrdup(PQresultErrorMessage(res));

			PQclear(res);
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("cannot build %s concurrently: could not set up the loopback connection as role %s: %s",
							what, quote_identifier(role), pchomp(msg)),
					 errdetail("The table was not converted."),
					 errhint("Create the index yourself with CREATE UNIQUE INDEX CONCURRENTLY and run the call again: pgscale uses an existing one.")));
		}
		PQclear(res);
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conn;
}

/* A remote error, in pieces. */
typedef struct LoopError
{
	int			code;
	char	   *message;
	char	   *detail;
	char	   *hint;
} LoopError;

/*
 * loop_run
 *		Run one statement over conn; true when it succeeded, else false with
 *		its error in *err.
 */
static bool
loop_run(PGconn *conn, const char *sql, LoopError *err)
{
	PGresult   *res = loop_exec(conn, sql, 0, NULL);
	ExecStatusType st = PQresultStatus(res);
	const char *state;
	const char *field;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
	{
		PQclear(res);
		return true;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	err->code = (state != NULL && strlen(state) == 5) ?
		MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]) :
		ERRCODE_CONNECTION_FAILURE;
	field = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	err->message = field ? pstrdup(field) : pchomp(PQerrorMessage(conn));
	field = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	err->detail = field ? pstrdup(field) : NULL;
	field = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	err->hint = field ? pstrdup(field) : NULL;
	PQclear(res);
	return false;
}

/*
 * loop_drop_invalid
 *		Drop qname over conn with DROP INDEX CONCURRENTLY when it exists and
 *		is INVALID (what a failed concurrent build leaves); true when it
 *		was dropped.  A valid index of that name is left alone.
 */
static bool
loop_drop_invalid(PGconn *conn, const char *qname)
{
	const char *params[1] = {qname};
	PGresult   *res;
	bool		invalid;
	LoopError	err;

	res = loop_exec(conn,
					"SELECT NOT (indisvalid AND indisready AND indislive)"
					" FROM pg_catalog.pg_index"
					" WHERE indexrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1)",
					1, params);
	invalid = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!invalid)
		return false;

	/*
	 * The drop waits, like the build, for the transactions that use the
	 * table, but blocks no reads and writes meanwhile: it waits for them
	 * however long they take (the caller can cancel), rather than leave
	 * the invalid index behind.
	 */
	if (!loop_run(conn, "SET lock_timeout = 0", &err) ||
		!loop_run(conn, psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", qname), &err) ||
		!loop_run(conn, psprintf("SET lock_timeout = '%dms'", pgscale_lock_timeout), &err))
		ereport(ERROR,
				(errcode(err.code),
				 errmsg("could not drop invalid index %s: %s", qname, err.message),
				 err.detail ? errdetail("%s", err.detail) : 0,
				 errhint("Drop it yourself with DROP INDEX CONCURRENTLY %s and run the call again.",
						 qname)));
	return true;
}

/*
 * build_extensions
 *		Build, with CREATE UNIQUE INDEX CONCURRENTLY, the unique indexes
 *		with the time column appended that extend_keys needs and that do
 *		not exist yet, after dropping (DROP INDEX CONCURRENTLY) the INVALID
 *		ones an earlier failed or cancelled build left.  Writes go on
 *		meanwhile.  A build that fails has its INVALID index dropped, and
 *		the conversion stops with the build's error, the table unchanged.
 *		A build that times out on its locks (it waits for the transactions
 *		that write the table or hold a snapshot) is tried again up to
 *		pgscale.lock_retries times.
 */
static void
build_extensions(Conversion *cv, List *indexes)
{
	PGconn	   *volatile conn = NULL;
	const char *nspname = get_namespace_name(cv->nsp);
	ListCell   *lc;
	bool		any = false;

	foreach(lc, indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);

		if (ix->stale ||
			(ix->unique && !ix->has_time && !ix->extension && !ix->is_extension && ix->valid))
			any = true;
	}
	if (!any)
		return;

	PG_TRY();
	{
		/* leftovers of an earlier attempt: dropped, never adopted */
		foreach(lc, indexes)
		{
			CvIndex    *ix = (CvIndex *) lfirst(lc);
			char	   *qname;
			TimestampTz started = GetCurrentTimestamp();

			if (!ix->stale)
				continue;
			qname = quote_qualified_identifier(nspname, ix->name);
			ereport(NOTICE,
					(errmsg("dropping invalid index %s, left by an earlier build", qname),
					 errdetail("A failed or cancelled CREATE INDEX CONCURRENTLY leaves an invalid index; pgscale builds it again.")));
			if (conn == NULL)
				conn = loop_connect("the unique indexes with the time column");
			pgs_spi_commit();
			if (loop_drop_invalid(conn, qname))
				pgs_log_action(cv->relid, "convert", qname, 0, false, started,
							   "invalid index left by an earlier build dropped (extend_keys)");
			pgs_spi_commit();
		}

		foreach(lc, indexes)
		{
			CvIndex    *ix = (CvIndex *) lfirst(lc);
			TimestampTz started = GetCurrentTimestamp();
			char	   *name;
			char	   *qname;
			char	   *sql;
			int			nest;
			int			attempt;
			LoopError	err;

			if (!ix->unique || ix->has_time || ix->extension || ix->is_extension ||
				!ix->valid)
				continue;
			name = ChooseRelationName(ix->name, cv->timecol, "key", cv->nsp, false);
			qname = quote_qualified_identifier(nspname, name);
			nest = pgs_pin_search_path();
			sql = extended_index_sql(cv->relid, ix, cv->timecol,
									 pgs_qualified_name(cv->relid), name, true);
			pgs_unpin_settings(nest);
			ereport(NOTICE,
					(errmsg("building unique index %s on (%s) concurrently", quote_identifier(name),
							column_names(cv->relid, ix->attnums, 0, ix->nkeys,
										 quote_identifier(cv->timecol))),
					 errdetail("Reads and writes go on while it builds.")));
			if (conn == NULL)
				conn = loop_connect(psprintf("unique index %s", quote_identifier(name)));
			pgs_spi_commit();

			for (attempt = 0;; attempt++)
			{
				bool		ok = loop_run(conn, sql, &err);
				bool		dropped;

				if (ok)
					break;
				dropped = loop_drop_invalid(conn, qname);
				if (err.code == ERRCODE_LOCK_NOT_AVAILABLE && attempt < pgscale_lock_retries)
				{
					(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 pgscale_lock_timeout, PG_WAIT_EXTENSION);
					ResetLatch(MyLatch);
					CHECK_FOR_INTERRUPTS();
					continue;
				}
				ereport(ERROR,
						(errcode(err.code),
						 errmsg("could not build unique index %s concurrently on %s: %s",
								quote_identifier(name), pgs_display_name(cv->relid), err.message),
						 err.detail ? errdetail("%s %s", err.detail,
												dropped ? "The invalid index the build left was dropped; the table was not converted." :
												"The table was not converted.") :
						 errdetail("%s", dropped ? "The invalid index the build left was dropped; the table was not converted." :
								   "The table was not converted."),
						 err.code == ERRCODE_LOCK_NOT_AVAILABLE ?
						 errhint("A concurrent build waits for every transaction that writes the table or holds a snapshot, and timed out %d times under pgscale.lock_timeout; run the call again when no long transaction runs, or raise pgscale.lock_retries.",
								 pgscale_lock_retries + 1) :
						 err.code == ERRCODE_UNIQUE_VIOLATION ?
						 errhint("Rows with the same key and \"%s\" exist: remove the duplicates and run the call again.",
								 cv->timecol) :
						 errhint("%s", err.hint ? err.hint :
								 "Fix the cause and run the call again.")));
			}
			pgs_log_action(cv->relid, "convert", quote_identifier(name), 0, false,
						   started, "unique index with the time column built concurrently (extend_keys)");
			pgs_spi_commit();
		}
	}
	PG_FINALLY();
	{
		if (conn != NULL)
			PQfinish(conn);
	}
	PG_END_TRY();
}

/* ---------- steps 3 and 4: the bound constraint ---------- */

typedef struct CheckStep
{
	Oid			relid;
	const char *name;
	const char *condition;
	List	   *drop;			/* stale pgscale_legacy_* constraints */
	bool		validate;
} CheckStep;

static void
check_step(void *arg)
{
	CheckStep  *step = (CheckStep *) arg;
	char	   *qrel = pgs_qualified_name(step->relid);
	ListCell   *lc;

	if (step->validate)
	{
		pgs_spi_execf("ALTER TABLE %s VALIDATE CONSTRAINT %s", qrel,
				 quote_identifier(step->name));
		return;
	}
	foreach(lc, step->drop)
		pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qrel,
				 quote_identifier((char *) lfirst(lc)));
	pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", qrel,
			 quote_identifier(step->name), step->condition);
}

/*
 * ensure_check
 *		Make sure the table has the CHECK constraint "name" for condition,
 *		validated if asked: reuse it when a previous run left it, drop the
 *		other pgscale_legacy_* constraints but "keep", add it NOT VALID
 *		(one transaction) and validate it (another).  Commits.
 */
static void
ensure_check(Oid relid, const char *name, const char *condition,
			 const char *keep, const char *what, bool validate)
{
	List	   *validated;
	List	   *names = find_legacy_checks(relid, &validated);
	ListCell   *lc;
	ListCell   *lv;
	CheckStep	step;
	ErrorData  *edata = NULL;
	bool		exists = false;
	bool		valid = false;
	TimestampTz started = GetCurrentTimestamp();

	memset(&step, 0, sizeof(step));
	step.relid = relid;
	step.name = name;
	step.condition = condition;
	forboth(lc, names, lv, validated)
	{
		char	   *n = (char *) lfirst(lc);

		if (strcmp(n, name) == 0)
		{
			exists = true;
			valid = lfirst_int(lv);
		}
		else if (keep == NULL || strcmp(n, keep) != 0)
			step.drop = lappend(step.drop, n);
	}

	if (!exists)
	{
		if (!pgs_run_guarded_as(relid, check_step, &step, &edata))
			fail_step(edata, what, relid, "Nothing was changed by this step.");
		pgs_log_action(relid, "convert", name, 0, false, started,
					   "check constraint added NOT VALID");
		pgs_spi_commit();
	}
	if (!valid && validate)
	{
		started = GetCurrentTimestamp();
		step.validate = true;
		if (!pgs_run_guarded_as(relid, check_step, &step, &edata))
			fail_step(edata, what, relid,
					  psprintf("The constraint %s was added NOT VALID; the next run validates it.",
							   quote_identifier(name)));
		pgs_log_action(relid, "convert", name, 0, false, started,
					   "check constraint validated");
		pgs_spi_commit();
	}
}

/* ---------- step 5: the swap ---------- */

/* An identity or serial column and its sequence. */
typedef struct CvSequence
{
	char	   *column;
	bool		identity;
	char	   *seqname;		/* qualified, quoted */
	char	   *seqrelname;		/* bare name */
	Oid			seqoid;
} CvSequence;

static List *
read_sequences(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *result = NIL;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *seq;
		Oid			seqoid;

		if (att->attisdropped)
			continue;
		/* the table name is parsed, the column name taken literally */
		seq = pgs_spi_text_oid(psprintf("SELECT pg_catalog.pg_get_serial_sequence(%s, %s)",
								  quote_literal_cstr(pgs_qualified_name(relid)),
								  quote_literal_cstr(NameStr(att->attname))),
						 InvalidOid);
		if (seq == NULL)
			continue;
		seqoid = DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(seq)));
		{
			CvSequence *s = palloc0(sizeof(CvSequence));

			s->column = pstrdup(NameStr(att->attname));
			s->identity = att->attidentity != '\0';
			s->seqoid = seqoid;
			s->seqname = pgs_qualified_name(seqoid);
			s->seqrelname = get_rel_name(seqoid);
			result = lappend(result, s);
		}
	}
	table_close(rel, AccessShareLock);
	return result;
}

/* A constraint recreated on the parent from its definition. */
typedef struct CvConstraint
{
	Oid			oid;
	char	   *name;
	char		contype;
	char	   *def;
	char	   *comment;
} CvConstraint;

static List *
read_constraints(Oid relid, char contype, const char *skip_prefix)
{
	Oid			argtypes[2] = {OIDOID, CHAROID};
	Datum		values[2] = {ObjectIdGetDatum(relid), CharGetDatum(contype)};
	List	   *result = NIL;
	int			ret;
	uint64		i;

	ret = SPI_execute_with_args("SELECT oid, conname::pg_catalog.text,"
								" pg_catalog.pg_get_constraintdef(oid)"
								" FROM pg_catalog.pg_constraint"
								" WHERE conrelid OPERATOR(pg_catalog.=) $1"
								" AND contype OPERATOR(pg_catalog.=) $2 ORDER BY conname",
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the constraints of %s", pgs_display_name(relid));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CvConstraint *c = palloc0(sizeof(CvConstraint));
		bool		isnull;

		c->oid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		c->name = SPI_getvalue(tup, desc, 2);
		c->contype = contype;
		c->def = SPI_getvalue(tup, desc, 3);
		if (skip_prefix && strncmp(c->name, skip_prefix, strlen(skip_prefix)) == 0)
			continue;
		result = lappend(result, c);
	}
	for (i = 0; i < (uint64) list_length(result); i++)
	{
		CvConstraint *c = (CvConstraint *) list_nth(result, (int) i);

		c->comment = GetComment(c->oid, ConstraintRelationId, 0);
	}
	return result;
}

/*
 * far_step
 *		Move the rows dated beyond the premake horizon out of the table into
 *		a new table that the swap attaches as the default partition, then
 *		validate the bound constraint, which those rows violated.  Runs in
 *		the swap's transaction, just before it: readers see the rows in the
 *		table until the swap commits, and in the default partition after;
 *		the NOT VALID bound constraint keeps new ones out meanwhile.
 */
static void
far_step(void *arg)
{
	Conversion *cv = (Conversion *) arg;
	int			nest = pgs_pin_search_path();
	char	   *qrel = pgs_qualified_name(cv->relid);
	char	   *qstage = quote_qualified_identifier(get_namespace_name(cv->nsp),
													cv->default_name);
	char	   *cols = pgs_column_list(cv->relid);
	Oid			tablespace = get_rel_tablespace(cv->relid);
	List	   *checks;
	List	   *not_valid = NIL;
	ListCell   *lc;
	int			ret;

	if (OidIsValid(get_relname_relid(cv->default_name, cv->nsp)))
		refuse(ERRCODE_DUPLICATE_TABLE, cv->relid,
			   psprintf("relation %s already exists", qstage),
			   "Run the call again: it picks another name.");
	pgs_spi_execf("CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING INDEXES EXCLUDING IDENTITY"
			 " EXCLUDING STATISTICS)%s%s%s",
			 qstage, qrel, pgs_storage_clause(cv->relid),
			 OidIsValid(tablespace) ? " TABLESPACE " : "",
			 OidIsValid(tablespace) ? quote_identifier(get_tablespace_name(tablespace)) : "");
	cv->default_rel = get_relname_relid(cv->default_name, cv->nsp);

	/*
	 * LIKE copies NOT VALID checks as valid ones, which the rows may
	 * violate: put them back NOT VALID after the move.  The bound
	 * constraint is the table's own, not the partitioned table's.
	 */
	checks = read_constraints(cv->relid, CONSTRAINT_CHECK, NULL);
	foreach(lc, checks)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);
		bool		legacy = strncmp(c->name, LEGACY_CHECK_PREFIX,
									 strlen(LEGACY_CHECK_PREFIX)) == 0;

		if (legacy || strstr(c->def, " NOT VALID") != NULL)
			pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qstage, quote_identifier(c->name));
		if (!legacy && strstr(c->def, " NOT VALID") != NULL)
			not_valid = lappend(not_valid, c);
	}

	ret = SPI_execute(psprintf("WITH moved AS (DELETE FROM ONLY %s WHERE %s OPERATOR(pg_catalog.>=) %s"
							   " RETURNING %s) INSERT INTO %s (%s) SELECT %s FROM moved",
							   qrel, quote_identifier(cv->timecol),
							   pgs_month_literal(cv->far, cv->keytype, cv->tz),
							   cols, qstage, cols, cols),
					  false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not move rows out of %s", pgs_display_name(cv->relid));
	cv->far_moved = (int64) SPI_processed;

	foreach(lc, not_valid)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", qstage, quote_identifier(c->name), c->def);
	}
	pgs_spi_execf("ALTER TABLE %s VALIDATE CONSTRAINT %s", qrel, quote_identifier(cv->check_name));
	pgs_unpin_settings(nest);
}

typedef struct SwapStep
{
	Conversion *cv;
	int64		legacy_rows;	/* estimate, for the log */
} SwapStep;

/*
 * swap_step
 *		Step 5, one transaction under ACCESS EXCLUSIVE: see the file header.
 *		Every statement here works on catalogs only; the end checks that no
 *		index had to be built.
 */
static void
swap_step(void *arg)
{
	SwapStep   *step = (SwapStep *) arg;
	Conversion *cv = step->cv;
	Oid			relid = cv->relid;
	int			nest = pgs_pin_search_path();
	const char *qnsp = quote_identifier(get_namespace_name(cv->nsp));
	char	   *qorig = pgs_qualified_name(relid);
	char	   *qlegacy = quote_qualified_identifier(get_namespace_name(cv->nsp), cv->legacy_name);
	const char *qtime = quote_identifier(cv->timecol);
	List	   *indexes;
	List	   *checks;
	List	   *fkeys;
	List	   *sequences;
	List	   *validated;
	List	   *names;
	ListCell   *lc;
	ListCell   *lv;
	Oid			parent;
	Oid			owner;
	Oid			tablespace;
	char		replident;
	char	   *table_comment;
	char	   *replident_index = NULL;
	int64		legacy_indexes;
	bool		have_check = false;
	Oid			argtypes[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];
	int			first;
	int			last;
	List	   *created;

	pgs_spi_execf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qorig);

	/* the table may have changed since step 1 */
	indexes = check_structure(cv, true);
	if (OidIsValid(get_relname_relid(cv->legacy_name, cv->nsp)))
		refuse(ERRCODE_DUPLICATE_TABLE, relid,
			   psprintf("relation %s already exists", qlegacy),
			   "Run the call again: it picks another name.");
	names = find_legacy_checks(relid, &validated);
	forboth(lc, names, lv, validated)
		if (strcmp((char *) lfirst(lc), cv->check_name) == 0 && lfirst_int(lv))
			have_check = true;
	if (!have_check)
		refuse(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, relid,
			   psprintf("its constraint %s is missing or not validated",
						quote_identifier(cv->check_name)),
			   "Run the call again.");

	/* read everything that is recreated, while names are still the old ones */
	checks = read_constraints(relid, CONSTRAINT_CHECK, LEGACY_CHECK_PREFIX);
	fkeys = read_constraints(relid, CONSTRAINT_FOREIGN, NULL);
	sequences = read_sequences(relid);
	owner = pgs_relation_owner(relid);
	tablespace = get_rel_tablespace(relid);
	table_comment = GetComment(relid, RelationRelationId, 0);
	replident = pgs_rel_replident(relid);
	foreach(lc, indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);

		if (ix->replident)
			replident_index = ix->name;
		/* the index definition names the table: read it under the old name */
		if (ix->extension && !OidIsValid(ix->conoid))
			ix->def = extended_index_sql(relid, ix, cv->timecol, qorig, ix->name, false);
		else if (OidIsValid(ix->conoid))
			ix->def = pgs_spi_text_oid("SELECT pg_catalog.pg_get_constraintdef($1)", ix->conoid);
		else
			ix->def = pgs_spi_text_oid("SELECT pg_catalog.pg_get_indexdef($1)", ix->oid);
		ix->comment = GetComment(ix->oid, RelationRelationId, 0);
		if (OidIsValid(ix->conoid))
			ix->concomment = GetComment(ix->conoid, ConstraintRelationId, 0);
	}

	/* 1. the old table and its indexes give up their names */
	pgs_spi_execf("ALTER TABLE %s RENAME TO %s", qorig, quote_identifier(cv->legacy_name));
	foreach(lc, indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);
		char	   *legacy_ixname;

		if (ix->is_extension)
			continue;
		if (ix->extension == NULL)
		{
			legacy_ixname = ChooseRelationName(ix->name, NULL, "legacy", cv->nsp, false);
			pgs_spi_execf("ALTER INDEX %s.%s RENAME TO %s", qnsp, quote_identifier(ix->name),
					 quote_identifier(legacy_ixname));
			continue;
		}
		/* a key lacking the time column gives way to its extension */
		if (OidIsValid(ix->conoid))
			pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qlegacy,
					 quote_identifier(get_constraint_name(ix->conoid)));
		else
			pgs_spi_execf("DROP INDEX %s.%s", qnsp, quote_identifier(ix->name));
		legacy_ixname = ChooseRelationName(ix->name, NULL, "legacy", cv->nsp, false);
		pgs_spi_execf("ALTER INDEX %s.%s RENAME TO %s", qnsp,
				 quote_identifier(ix->extension->name),
				 quote_identifier(legacy_ixname));
		if (OidIsValid(ix->conoid))
			pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s%s", qlegacy,
					 quote_identifier(legacy_ixname),
					 ix->contype == CONSTRAINT_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
					 quote_identifier(legacy_ixname),
					 ix->deferrable ? (ix->deferred ? " DEFERRABLE INITIALLY DEFERRED" :
									   " DEFERRABLE") : "");
		if (ix->replident)
			pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY USING INDEX %s", qlegacy,
					 quote_identifier(legacy_ixname));
	}

	/* 2. the partitioned table, with the old table's columns */
	pgs_spi_execf("CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING INDEXES EXCLUDING CONSTRAINTS)"
			 " PARTITION BY RANGE (%s)%s%s",
			 qorig, qlegacy, qtime,
			 OidIsValid(tablespace) ? " TABLESPACE " : "",
			 OidIsValid(tablespace) ? quote_identifier(get_tablespace_name(tablespace)) : "");
	parent = get_relname_relid(cv->relname, cv->nsp);
	cv->parent = parent;
	if (owner != GetUserId())
		pgs_spi_execf("ALTER TABLE %s OWNER TO %s", qorig,
				 quote_identifier(GetUserNameFromId(owner, false)));
	foreach(lc, checks)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", qorig,
				 quote_identifier(c->name), c->def);
	}

	/* 3. sequences: identity continues in the parent's, serial changes owner */
	foreach(lc, sequences)
	{
		CvSequence *s = (CvSequence *) lfirst(lc);

		if (s->identity)
		{
			char	   *state;
			char	   *newseq;
			Oid			newseqoid;

			state = pgs_spi_text_oid(psprintf("SELECT pg_catalog.format('%%s, %%s', last_value,"
										" CASE WHEN is_called THEN 'true' ELSE 'false' END)"
										" FROM %s", s->seqname), InvalidOid);
			pgs_spi_execf("ALTER TABLE %s ALTER COLUMN %s DROP IDENTITY", qlegacy,
					 quote_identifier(s->column));
			newseq = pgs_spi_text_oid(psprintf("SELECT pg_catalog.pg_get_serial_sequence(%s, %s)",
										 quote_literal_cstr(qorig),
										 quote_literal_cstr(s->column)),
								InvalidOid);
			newseqoid = DatumGetObjectId(DirectFunctionCall1(regclassin,
															 CStringGetDatum(newseq)));
			pgs_spi_execf("SELECT pg_catalog.setval(%s::pg_catalog.regclass, %s)",
					 quote_literal_cstr(newseq), state);
			pgs_spi_execf("ALTER SEQUENCE %s RENAME TO %s", newseq,
					 quote_identifier(s->seqrelname));
			pgs_copy_grants(s->seqoid, newseqoid, "SEQUENCE");
		}
		else
			pgs_spi_execf("ALTER SEQUENCE %s OWNED BY %s.%s", s->seqname, qorig,
					 quote_identifier(s->column));
	}

	/* 4. the old table becomes the legacy partition, without a scan */
	pgs_spi_execf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (MINVALUE) TO (%s)",
			 qorig, qlegacy, pgs_month_literal(cv->bound, cv->keytype, cv->tz));
	legacy_indexes = pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_index"
								 " WHERE indrelid OPERATOR(pg_catalog.=) $1", relid);

	/*
	 * 5. the parent's keys and indexes, under their old names; each adopts
	 * the old table's equivalent index instead of building one
	 */
	foreach(lc, indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);

		if (ix->is_extension)
			continue;
		if (ix->extension)
		{
			if (OidIsValid(ix->conoid))
				pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s %s%s", qorig,
						 quote_identifier(ix->name),
						 ix->contype == CONSTRAINT_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
						 extended_columns(relid, ix, cv->timecol),
						 ix->deferrable ? (ix->deferred ? " DEFERRABLE INITIALLY DEFERRED" :
										   " DEFERRABLE") : "");
			else
				pgs_spi_execf("%s", ix->def);
		}
		else if (OidIsValid(ix->conoid))
			pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", qorig,
					 quote_identifier(ix->name), ix->def);
		else
			pgs_spi_execf("%s", ix->def);	/* CREATE INDEX <name> ON <table> ... */
		if (ix->comment)
			pgs_spi_execf("COMMENT ON INDEX %s.%s IS %s", qnsp, quote_identifier(ix->name),
					 quote_literal_cstr(ix->comment));
		if (ix->concomment)
			pgs_spi_execf("COMMENT ON CONSTRAINT %s ON %s IS %s", quote_identifier(ix->name),
					 qorig, quote_literal_cstr(ix->concomment));
	}
	if (pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_index"
					" WHERE indrelid OPERATOR(pg_catalog.=) $1", relid) != legacy_indexes ||
		pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i"
					" WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND NOT EXISTS ("
					" SELECT 1 FROM pg_catalog.pg_inherits h"
					" WHERE h.inhrelid OPERATOR(pg_catalog.=) i.indexrelid)", relid) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("an index of %s was not adopted by the partitioned table",
						pgs_display_name(relid)),
				 errdetail("The conversion was rolled back rather than build an index under an exclusive lock."),
				 errhint("Report this to the pgscale developers with the table's definition.")));

	/* 6. foreign keys: the old table's are adopted, not validated again */
	foreach(lc, fkeys)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", qorig,
				 quote_identifier(c->name), c->def);
	}
	foreach(lc, list_concat(list_copy(checks), fkeys))
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		if (c->comment)
			pgs_spi_execf("COMMENT ON CONSTRAINT %s ON %s IS %s", quote_identifier(c->name),
					 qorig, quote_literal_cstr(c->comment));
	}

	/* 7. replica identity, grants, comment */
	if (replident == REPLICA_IDENTITY_FULL)
		pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY FULL", qorig);
	else if (replident == REPLICA_IDENTITY_NOTHING)
		pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY NOTHING", qorig);
	else if (replident == REPLICA_IDENTITY_INDEX && replident_index)
		pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY USING INDEX %s", qorig,
				 quote_identifier(replident_index));
	pgs_copy_grants(relid, parent, "TABLE");
	if (table_comment)
		pgs_spi_execf("COMMENT ON TABLE %s IS %s", qorig, quote_literal_cstr(table_comment));

	/* 8. the policy follows the table's name */
	values[0] = ObjectIdGetDatum(parent);
	values[1] = ObjectIdGetDatum(relid);
	(void) pgs_exec_as_owner(psprintf("UPDATE %s SET table_name = $1, updated_at = pg_catalog.now()"
									  " WHERE table_name OPERATOR(pg_catalog.=) $2",
									  pgs_ext_table("pgscale_policy")),
							 2, argtypes, values, NULL);

	/* 9. the months after the bound, premade in this same transaction */
	pgs_premake_range(parent, cv->keytype, cv->tz, cv->months_ahead, true,
					  pgs_first_day_of(cv->bound), &first, &last);
	created = pgs_create_month_partitions(parent, first, last, cv->timecol,
										  cv->keytype, cv->tz, false);
	cv->premade = 0;
	foreach(lc, created)
	{
		PgsNewPartition *np = (PgsNewPartition *) lfirst(lc);

		if (OidIsValid(np->relid))
			cv->premade++;
	}

	/* 10. the rows beyond the premake horizon, as the default partition */
	if (OidIsValid(cv->default_rel))
	{
		pgs_spi_execf("ALTER TABLE %s ATTACH PARTITION %s DEFAULT", qorig,
				 pgs_qualified_name(cv->default_rel));
		pgs_copy_grants(parent, cv->default_rel, "TABLE");
		pgs_copy_replica_identity(parent, relid, cv->default_rel);
	}
	{
		PgsPolicy  *pol = pgs_find_policy(parent);

		pgs_spi_execf("SELECT %s.pgscale_set_partitioning(%u::pg_catalog.regclass, %d, %s)",
				 quote_identifier(get_namespace_name(pgs_extension_schema())),
				 parent, cv->months_ahead,
				 pol != NULL && pol->time_zone != NULL ?
				 quote_literal_cstr(pol->time_zone) : "NULL");
	}

	step->legacy_rows = Max((int64) pgs_estimated_rows(relid), 0);
	pgs_unpin_settings(nest);
}

/*
 * pgscale_partition_table(relation regclass, time_column name,
 *		months_ahead integer DEFAULT 3, extend_keys boolean DEFAULT false)
 *		CALL only: see the file header.
 */
Datum
pgscale_partition_table(PG_FUNCTION_ARGS)
{
	Conversion *cv;
	List	   *indexes;
	SwapStep	swap;
	ErrorData  *edata = NULL;
	TimestampTz started;
	TimestampTz far_started = 0;

	require_nonatomic(fcinfo, "pgscale_partition_table");
	pgs_require_arg(fcinfo, 0, "relation", NULL);
	pgs_require_arg(fcinfo, 1, "time_column", NULL);
	pgs_require_arg(fcinfo, 2, "months_ahead", NULL);
	pgs_require_arg(fcinfo, 3, "extend_keys", NULL);

	SPI_connect_ext(SPI_OPT_NONATOMIC);
	cv = palloc0(sizeof(Conversion));
	cv->relid = PG_GETARG_OID(0);
	cv->timecol = pstrdup(NameStr(*PG_GETARG_NAME(1)));
	cv->months_ahead = PG_GETARG_INT32(2);
	cv->extend_keys = PG_GETARG_BOOL(3);
	if (cv->months_ahead < 0 || cv->months_ahead > 120)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months_ahead must be between 0 and 120"),
				 errhint("Give how many months after this one should exist, for example 3.")));

	/* 1. validation: changes nothing */
	indexes = plan_conversion(cv);
	started = GetCurrentTimestamp();
	pgs_spi_commit();

	/* 2. unique indexes with the time column */
	if (cv->extend_keys)
		build_extensions(cv, indexes);

	/* 3 and 4. the bound, proven by a validated CHECK constraint */
	ensure_check(cv->relid, cv->check_name,
				 pgs_month_range_condition(cv->timecol, cv->keytype, cv->tz, -1, cv->bound),
				 NULL, "add the bound constraint to", cv->far_rows == 0);

	/*
	 * 4b. rows beyond the premake horizon leave for the default partition,
	 * then the bound is validated, in the swap's transaction: the rows
	 * stay visible throughout, and a failed swap puts them back.
	 */
	if (cv->far_rows > 0)
	{
		far_started = GetCurrentTimestamp();
		if (!pgs_run_guarded_as(cv->relid, far_step, cv, &edata))
			fail_step(edata, "move the rows dated beyond the premake horizon out of", cv->relid,
					  psprintf("The table was not converted; it keeps the NOT VALID constraint %s, which the next run reuses.",
							   quote_identifier(cv->check_name)));
	}

	/* 5. the swap */
	swap.cv = cv;
	swap.legacy_rows = 0;
	if (!pgs_run_guarded_as(cv->relid, swap_step, &swap, &edata))
		fail_step(edata, "partition", cv->relid,
				  psprintf("The table was not converted; it keeps the validated constraint %s, which the next run reuses.",
						   quote_identifier(cv->check_name)));
	pgs_log_action(cv->parent, "convert", quote_qualified_identifier(get_namespace_name(cv->nsp),
																	 cv->legacy_name),
				   swap.legacy_rows, true, started,
				   psprintf("partitioned by %s; legacy partition up to %s, %d monthly partitions premade",
							quote_identifier(cv->timecol), pgs_month_label(cv->bound),
							cv->premade));
	if (OidIsValid(cv->default_rel))
		pgs_log_action(cv->parent, "convert", pgs_display_name(cv->default_rel),
					   cv->far_moved, true, far_started,
					   psprintf("rows dated from %s on, beyond the premake horizon, moved into the default partition",
								pgs_month_label(cv->far)));
	pgs_spi_commit();

	ereport(NOTICE,
			(errmsg("table %s is now partitioned by month on \"%s\"",
					pgs_display_name(cv->parent), cv->timecol),
			 errdetail("Its rows are in the partition %s, up to %s; %d monthly partitions were premade.%s",
					   quote_qualified_identifier(get_namespace_name(cv->nsp), cv->legacy_name),
					   pgs_month_label(cv->bound), cv->premade,
					   OidIsValid(cv->default_rel) ?
					   psprintf(" " INT64_FORMAT " rows dated from %s on are in the default partition %s.",
								cv->far_moved, pgs_month_label(cv->far),
								pgs_display_name(cv->default_rel)) : ""),
			 errhint("Move the old rows into monthly partitions with CALL pgscale_split_legacy(%s).",
					 quote_literal_cstr(pgs_display_name(cv->parent)))));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------- pgscale_split_legacy ---------- */

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

	oldest = extreme_month(sp->legacy, sp->keycol, sp->keytype, sp->tz, false,
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

		newest = extreme_month(sp->legacy, sp->keycol, sp->keytype, sp->tz, true,
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
	char	   *old_check = legacy_check_name(sp->lo, sp->hi);
	char	   *new_check = legacy_check_name(sp->new_lo, sp->new_hi);
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
	checks = read_constraints(sp->parent, CONSTRAINT_CHECK, NULL);
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
	fkeys = read_constraints(sp->parent, CONSTRAINT_FOREIGN, NULL);
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
	names = find_legacy_checks(sp->legacy, &validated);
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
			 quote_identifier(legacy_check_name(sp->new_lo, sp->new_hi)));
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

	require_nonatomic(fcinfo, "pgscale_split_legacy");
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
		TimestampTz started = GetCurrentTimestamp();

		CHECK_FOR_INTERRUPTS();
		if (!find_legacy(sp))
			break;				/* another session finished it */
		if (!plan_cut(sp))
		{
			if (!pgs_run_guarded_as(sp->parent, final_step, sp, &edata))
				fail_step(edata, "split the legacy partition of", sp->parent,
						  "The months moved so far stay in their partitions; the next run goes on.");
			pgs_log_action(sp->parent, "split", pgs_display_name(sp->created), 0, false,
						   started, "legacy partition renamed: its rows are all of this month");
			pgs_spi_commit();
			break;
		}

		/* fence the month off the legacy partition (brief lock) */
		ensure_check(sp->legacy, legacy_check_name(sp->new_lo, sp->new_hi),
					 pgs_month_range_condition(sp->keycol, sp->keytype, sp->tz, sp->new_lo, sp->new_hi),
					 legacy_check_name(sp->lo, sp->hi), "fence a month off legacy partition",
					 false);

		started = GetCurrentTimestamp();
		if (!pgs_run_guarded_as(sp->parent, cut_step, sp, &edata))
		{
			ErrorData  *edata2 = NULL;

			/* take the fence down again, else old rows could not be inserted */
			if (pgs_run_guarded_as(sp->parent, drop_fence_step, sp, &edata2))
				pgs_spi_commit();
			fail_step(edata, "split the legacy partition of", sp->parent,
					  "This month's rows were not moved; the months moved before stay in their partitions.");
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
