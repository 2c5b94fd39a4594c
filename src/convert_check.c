/*-------------------------------------------------------------------------
 *
 * convert_check.c
 *	  Step 1 of pgscale_partition_table: reading the table's indexes (and
 *	  which unique key each extended one extends), every refusal that
 *	  leaves the table untouched, and the plan (the bound, the names, the
 *	  rows dated beyond the premake horizon).  The swap runs the same
 *	  refusals again under its lock.
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
#include "diag_citus.h"
#include "clone.h"
#include "month.h"

/* ---------- the table's indexes ---------- */

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
 * cv_column_names
 *		Quoted names of attnums[from .. to), comma-separated, with extra
 *		(already quoted) appended when given.
 */
char *
cv_column_names(Oid relid, AttrNumber *attnums, int from, int to, const char *extra)
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
 * cv_extended_columns
 *		"(k1, k2, time) INCLUDE (i1)" for the extension of an index.
 */
char *
cv_extended_columns(Oid relid, CvIndex *ix, const char *timecol)
{
	char	   *keys = cv_column_names(relid, ix->attnums, 0, ix->nkeys,
									quote_identifier(timecol));

	if (ix->natts > ix->nkeys)
		return psprintf("(%s) INCLUDE (%s)", keys,
						cv_column_names(relid, ix->attnums, ix->nkeys, ix->natts, NULL));
	return psprintf("(%s)", keys);
}

/*
 * cv_extended_index_sql
 *		CREATE UNIQUE INDEX [CONCURRENTLY] statement for the extension of
 *		ix on table qtable, named name (quoted here).
 */
char *
cv_extended_index_sql(Oid relid, CvIndex *ix, const char *timecol,
				   const char *qtable, const char *name, bool concurrently)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE UNIQUE INDEX %s%s ON %s USING btree %s",
					 concurrently ? "CONCURRENTLY " : "",
					 quote_identifier(name), qtable,
					 cv_extended_columns(relid, ix, timecol));
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

/*
 * key_kind
 *		Which kind of unique key an index is, for the refusals below:
 *		CONSTRAINT_PRIMARY, CONSTRAINT_UNIQUE, or 0 for a unique index that
 *		backs no constraint.
 */
static char
key_kind(CvIndex *ix)
{
	if (ix->contype == CONSTRAINT_PRIMARY)
		return CONSTRAINT_PRIMARY;
	return OidIsValid(ix->conoid) ? CONSTRAINT_UNIQUE : 0;
}

/*
 * refuse_key_lacks_time
 *		A key without the time column, and extend_keys not given.  One message for each kind of key.
 */
static void
refuse_key_lacks_time(Oid relid, CvIndex *ix, const char *timecol)
{
	switch (key_kind(ix))
	{
		case CONSTRAINT_PRIMARY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("cannot partition table %s: primary key %s does not include column \"%s\"",
							pgs_display_name(relid), quote_identifier(ix->name), timecol),
					 errdetail("The table was not changed."),
					 errhint("On a partitioned table every primary key and unique constraint must include the partition column. Pass extend_keys => true to add \"%s\" to them (uniqueness then holds per value of \"%s\").", timecol, timecol)));
			break;
		case CONSTRAINT_UNIQUE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("cannot partition table %s: unique constraint %s does not include column \"%s\"",
							pgs_display_name(relid), quote_identifier(ix->name), timecol),
					 errdetail("The table was not changed."),
					 errhint("On a partitioned table every primary key and unique constraint must include the partition column. Pass extend_keys => true to add \"%s\" to them (uniqueness then holds per value of \"%s\").", timecol, timecol)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("cannot partition table %s: unique index %s does not include column \"%s\"",
							pgs_display_name(relid), quote_identifier(ix->name), timecol),
					 errdetail("The table was not changed."),
					 errhint("On a partitioned table every primary key and unique constraint must include the partition column. Pass extend_keys => true to add \"%s\" to them (uniqueness then holds per value of \"%s\").", timecol, timecol)));
			break;
	}
}

/*
 * refuse_key_not_extendable
 *		A key without the time column that pgscale cannot extend.  One message for each kind of key.
 */
static void
refuse_key_not_extendable(Oid relid, CvIndex *ix, const char *timecol)
{
	switch (key_kind(ix))
	{
		case CONSTRAINT_PRIMARY:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot partition table %s: primary key %s cannot be extended with column \"%s\"",
							pgs_display_name(relid), quote_identifier(ix->name), timecol),
					 errdetail("The table was not changed."),
					 errhint("pgscale extends only btree keys on plain columns with default operator classes and sort order. Create the extended unique index yourself, with \"%s\" after the key columns, and run the call again.", timecol)));
			break;
		case CONSTRAINT_UNIQUE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot partition table %s: unique constraint %s cannot be extended with column \"%s\"",
							pgs_display_name(relid), quote_identifier(ix->name), timecol),
					 errdetail("The table was not changed."),
					 errhint("pgscale extends only btree keys on plain columns with default operator classes and sort order. Create the extended unique index yourself, with \"%s\" after the key columns, and run the call again.", timecol)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot partition table %s: unique index %s cannot be extended with column \"%s\"",
							pgs_display_name(relid), quote_identifier(ix->name), timecol),
					 errdetail("The table was not changed."),
					 errhint("pgscale extends only btree keys on plain columns with default operator classes and sort order. Create the extended unique index yourself, with \"%s\" after the key columns, and run the call again.", timecol)));
			break;
	}
}

/*
 * refuse_key_created_meanwhile
 *		A key without the time column that appeared after step 2.  One message for each kind of key.
 */
static void
refuse_key_created_meanwhile(Oid relid, CvIndex *ix, const char *timecol)
{
	switch (key_kind(ix))
	{
		case CONSTRAINT_PRIMARY:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot partition table %s: primary key %s was created during the conversion",
							pgs_display_name(relid), quote_identifier(ix->name)),
					 errdetail("The table was not changed."),
					 errhint("Run the call again.")));
			break;
		case CONSTRAINT_UNIQUE:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot partition table %s: unique constraint %s was created during the conversion",
							pgs_display_name(relid), quote_identifier(ix->name)),
					 errdetail("The table was not changed."),
					 errhint("Run the call again.")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot partition table %s: unique index %s was created during the conversion",
							pgs_display_name(relid), quote_identifier(ix->name)),
					 errdetail("The table was not changed."),
					 errhint("Run the call again.")));
			break;
	}
}

/*
 * cv_check_structure
 *		The refusals that depend on the table's definition, checked in
 *		step 1 and again under the lock of the swap (the table may have
 *		changed in between).  Returns the table's indexes with their
 *		extensions matched.
 */
List *
cv_check_structure(Conversion *cv, bool at_swap)
{
	Oid			relid = cv->relid;
	FormData_pg_class classform;
	char		relkind;
	char		persistence;
	bool		rowsecurity;
	Oid			oftype;
	char	   *dep;
	const char *citus_kind;
	List	   *indexes;
	ListCell   *lc;

	if (!pgs_read_class(relid, &classform))
		pgs_no_such_relation(relid);
	relkind = classform.relkind;
	persistence = classform.relpersistence;
	rowsecurity = classform.relrowsecurity;
	oftype = classform.reloftype;

	if (relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot partition table %s: it is already partitioned",
						pgs_display_name(relid)),
				 errdetail("The table was not changed."),
				 errhint("Create its monthly partitions with pgscale_create_month_partitions(); if it was converted by pgscale, move the old rows with CALL pgscale_split_legacy().")));
	if ((citus_kind = pgs_citus_table_kind(relid)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: it is a Citus %s table",
						pgs_display_name(relid), citus_kind),
				 errdetail("Its rows are in shards on the Citus nodes, which the online conversion cannot swap. The table was not changed."),
				 errhint("Create a new table partitioned by month with the same columns, distribute it with create_distributed_table() (its partitions are distributed with it), create its months with pgscale_create_month_partitions(), copy the rows with INSERT ... SELECT, then swap the names in one transaction; or undistribute it with undistribute_table(), convert it, and distribute it again. The README's Citus section has the statements.")));
	if (relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot partition table %s: it is not an ordinary table",
						pgs_display_name(relid)),
				 errdetail("The table was not changed."),
				 errhint("Only ordinary tables can be converted.")));
	if (classform.relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot partition table %s: it is a partition",
						pgs_display_name(relid)),
				 errdetail("The table was not changed."),
				 errhint("Partition its partitioned table instead, or detach it first.")));
	if (pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_inherits"
					" WHERE inhrelid OPERATOR(pg_catalog.=) $1"
					" OR inhparent OPERATOR(pg_catalog.=) $1", relid) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot partition table %s: it takes part in table inheritance",
						pgs_display_name(relid)),
				 errdetail("The table was not changed."),
				 errhint("Remove the inheritance (ALTER TABLE ... NO INHERIT) first; a partitioned table cannot inherit or be inherited.")));
	if (persistence != RELPERSISTENCE_PERMANENT)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot partition table %s: it is not a permanent (logged) table",
						pgs_display_name(relid)),
				 errdetail("The table was not changed."),
				 errhint("Make it logged with ALTER TABLE ... SET LOGGED first.")));
	if (OidIsValid(oftype))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot partition table %s: it is a typed table",
						pgs_display_name(relid)),
				 errdetail("The table was not changed."),
				 errhint("Detach it from its type with ALTER TABLE ... NOT OF first.")));

	/* things that point at the table by OID and would stay with the old one */
	dep = pgs_spi_text_oid("SELECT pg_catalog.format('%s (constraint %I)', c.conrelid::pg_catalog.regclass, c.conname)"
					 " FROM pg_catalog.pg_constraint c"
					 " WHERE c.confrelid OPERATOR(pg_catalog.=) $1"
					 " AND c.contype OPERATOR(pg_catalog.=) 'f' LIMIT 1", relid);
	if (dep)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot partition table %s: it is referenced by a foreign key of %s",
						pgs_display_name(relid), dep),
				 errdetail("The table was not changed."),
				 errhint("Drop the foreign key first and recreate it on the partitioned table afterwards; its key must then include the time column.")));
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
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot partition table %s: %s depends on it",
						pgs_display_name(relid), dep),
				 errdetail("The table was not changed."),
				 errhint("Drop the dependent views and rules first and recreate them afterwards; they would otherwise keep reading the old table only.")));
	dep = pgs_spi_text_oid("SELECT pg_catalog.quote_ident(tgname) FROM pg_catalog.pg_trigger"
					 " WHERE tgrelid OPERATOR(pg_catalog.=) $1 AND NOT tgisinternal"
					 " ORDER BY 1 LIMIT 1", relid);
	if (dep)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: it has trigger %s",
						pgs_display_name(relid), dep),
				 errdetail("The table was not changed."),
				 errhint("Drop its triggers first and create them on the partitioned table afterwards.")));
	if (rowsecurity ||
		pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_policy"
					" WHERE polrelid OPERATOR(pg_catalog.=) $1", relid) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: it has row-level security",
						pgs_display_name(relid)),
				 errdetail("The table was not changed."),
				 errhint("Disable row-level security and drop its policies first, and set them up on the partitioned table afterwards.")));
	dep = pgs_spi_text_oid("SELECT pg_catalog.quote_ident(p.pubname) FROM pg_catalog.pg_publication_rel r"
					 " JOIN pg_catalog.pg_publication p ON p.oid OPERATOR(pg_catalog.=) r.prpubid"
					 " WHERE r.prrelid OPERATOR(pg_catalog.=) $1 ORDER BY 1 LIMIT 1", relid);
	if (dep)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: it belongs to publication %s",
						pgs_display_name(relid), dep),
				 errdetail("The table was not changed."),
				 errhint("Drop it from the publication first and add the partitioned table afterwards.")));
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
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: its check constraint %s is NO INHERIT",
						pgs_display_name(relid), dep + 1),
				 errdetail("The table was not changed."),
				 errhint("A partitioned table cannot have NO INHERIT constraints: drop it, or recreate it without NO INHERIT.")));
	if (dep && dep[0] == CONSTRAINT_FOREIGN)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: its foreign key %s is NOT VALID",
						pgs_display_name(relid), dep + 1),
				 errdetail("The table was not changed."),
				 errhint("Validate it first with ALTER TABLE ... VALIDATE CONSTRAINT (reads and writes go on meanwhile).")));
	if (dep)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: its NOT NULL constraint %s is NOT VALID",
						pgs_display_name(relid), dep + 1),
				 errdetail("The table was not changed."),
				 errhint("Validate it first with ALTER TABLE ... VALIDATE CONSTRAINT, or drop it: a partition cannot keep a NOT VALID NOT NULL constraint that its parent has valid.")));

	/* the time column */
	cv->timeatt = get_attnum(relid, cv->timecol);
	cv->keytype = pgs_time_column_type(relid, cv->timecol, false);
	if (get_attgenerated(relid, cv->timeatt) != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot partition table %s: column \"%s\" is a generated column",
						pgs_display_name(relid), cv->timecol),
				 errdetail("The table was not changed."),
				 errhint("Partition by a stored date or timestamp column that is not generated.")));

	/* unique and exclusion constraints must contain the partition key */
	indexes = read_indexes(relid, cv->timeatt);
	match_extensions(indexes, cv->timeatt);
	foreach(lc, indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);

		if (!ix->valid && !(ix->stale && cv->extend_keys && !at_swap))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot partition table %s: index %s is invalid",
							pgs_display_name(relid), quote_identifier(ix->name)),
					 errdetail("The table was not changed."),
					 errhint("Drop it, or rebuild it with REINDEX INDEX CONCURRENTLY, first.")));
		if (ix->exclusion)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot partition table %s: it has exclusion constraint %s",
							pgs_display_name(relid), quote_identifier(ix->name)),
					 errdetail("The table was not changed."),
					 errhint("Drop the exclusion constraint first.")));
		if (!ix->unique || ix->has_time || ix->is_extension || !ix->valid)
			continue;
		if (!cv->extend_keys)
			refuse_key_lacks_time(relid, ix, cv->timecol);
		if (ix->extension)
			continue;
		if (!ix->extendable)
			refuse_key_not_extendable(relid, ix, cv->timecol);
		if (at_swap)
			refuse_key_created_meanwhile(relid, ix, cv->timecol);
	}
	return indexes;
}

/*
 * cv_plan
 *		Step 1: check everything and fix the bound.  Changes nothing.
 */
List *
cv_plan(Conversion *cv)
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
	indexes = cv_check_structure(cv, false);

	aclresult = pgs_namespace_aclcheck(cv->nsp, GetUserId(), ACL_CREATE);
	if (aclresult != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot partition table %s: permission denied to create tables in schema %s",
						pgs_display_name(relid), quote_identifier(get_namespace_name(cv->nsp))),
				 errdetail("The table was not changed."),
				 errhint("The partitioned table is created in the table's schema: grant CREATE on it to the caller.")));

	/* the name the old table will take */
	cv->legacy_name = ChooseRelationName(cv->relname, NULL, "legacy", cv->nsp, false);

	/* rows without a time cannot go into any range partition */
	if (!pgs_att_notnull(relid, cv->timeatt) &&
		pgs_spi_int8(psprintf("SELECT 1 FROM ONLY %s WHERE %s IS NULL LIMIT 1",
							  pgs_qualified_name(relid), quote_identifier(cv->timecol)),
					 0, NULL, NULL, NULL, false) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("cannot partition table %s: column \"%s\" is NULL in some rows",
						pgs_display_name(relid), cv->timecol),
				 errdetail("The table was not changed."),
				 errhint("A range partition cannot hold rows without a \"%s\": set a value in those rows or delete them, then run the call again.", cv->timecol)));

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
	after_max = cv_extreme_month(relid, cv->timecol, cv->keytype, cv->tz, true,
							  NULL, &infinite) + 1;
	if (infinite)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot partition table %s: column \"%s\" holds 'infinity'",
						pgs_display_name(relid), cv->timecol),
				 errdetail("The table was not changed."),
				 errhint("Monthly partitions cannot hold infinite times: update or delete those rows first.")));

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
		after_max = cv_extreme_month(relid, cv->timecol, cv->keytype, cv->tz, true,
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
	cv->check_name = cv_legacy_check_name(-1, cv->bound);
	return indexes;
}
