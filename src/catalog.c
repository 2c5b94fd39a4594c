/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading the catalog: the facts pgscale needs about a relation (one
 *	  reader of pg_class, and one function per fact), its names for SQL
 *	  and for messages, who owns it, the one validation of a table that a
 *	  policy or a conversion may be set on, and the one check of a NULL
 *	  argument.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pgscale.h"

/* ---------- names ---------- */

/*
 * pgs_qualified_name
 *		Schema-qualified, quoted name of a relation, safe to paste into SQL.
 */
char *
pgs_qualified_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("The table may have been dropped while pgscale was working on it.")));
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

/*
 * pgs_display_name
 *		The name a person reads in messages: qualified, quoted only where
 *		needed.  Never fails for a dropped relation.
 */
char *
pgs_display_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		return psprintf("%u", relid);
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  relname);
}

/*
 * pgs_no_such_relation
 *		The error for a regclass argument whose relation does not exist
 *		(an OID passed as a number, or a table dropped meanwhile).
 */
void
pgs_no_such_relation(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("relation with OID %u does not exist", relid),
			 errhint("Pass the name of an existing table.")));
}

/* ---------- pg_class ---------- */

/*
 * pgs_read_class
 *		Copy the fixed part of a relation's pg_class row into *form; false
 *		when there is no such relation.  Every pg_class fact below is read
 *		through it.
 */
bool
pgs_read_class(Oid relid, FormData_pg_class *form)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tuple))
		return false;
	memcpy(form, GETSTRUCT(tuple), CLASS_TUPLE_SIZE);
	ReleaseSysCache(tuple);
	return true;
}

/*
 * pgs_relation_owner
 *		pg_class.relowner of a relation.
 */
Oid
pgs_relation_owner(Oid relid)
{
	FormData_pg_class form;

	if (!pgs_read_class(relid, &form))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return form.relowner;
}

/*
 * pgs_rel_am
 *		pg_class.relam of a relation.
 */
Oid
pgs_rel_am(Oid relid)
{
	FormData_pg_class form;

	if (!pgs_read_class(relid, &form))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return form.relam;
}

/*
 * pgs_rel_replident
 *		pg_class.relreplident of a relation (the default when it is gone).
 */
char
pgs_rel_replident(Oid relid)
{
	FormData_pg_class form;

	if (!pgs_read_class(relid, &form))
		return REPLICA_IDENTITY_DEFAULT;
	return form.relreplident;
}

/*
 * pgs_estimated_rows
 *		pg_class.reltuples: what the log can say of a dropped partition's
 *		size without counting it, and how much a trim changed a table.
 *		Negative when never analyzed.
 */
/*
 * pgs_current_blocks
 *		A heap's size now, in blocks (pages added meanwhile included); the
 *		lock taken to read it is held to the end of the transaction.
 */
BlockNumber
pgs_current_blocks(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

	table_close(rel, NoLock);
	return nblocks;
}

float4
pgs_estimated_rows(Oid relid)
{
	FormData_pg_class form;

	if (!pgs_read_class(relid, &form))
		return -1;
	return form.reltuples;
}

/* ---------- pg_attribute ---------- */

/*
 * pgs_att_notnull
 *		pg_attribute.attnotnull of a column.
 */
bool
pgs_att_notnull(Oid relid, AttrNumber attnum)
{
	HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid),
										Int16GetDatum(attnum));
	bool		notnull;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for attribute %d of relation %u", attnum, relid);
	notnull = ((Form_pg_attribute) GETSTRUCT(tuple))->attnotnull;
	ReleaseSysCache(tuple);
	return notnull;
}

/* ---------- who may manage a table ---------- */

/*
 * pgs_owns
 *		Whether the current user owns the relation or is a member of the
 *		owning role.
 */
bool
pgs_owns(Oid relid)
{
	return pgs_class_ownercheck(relid, GetUserId());
}

/*
 * pgs_is_extension_member
 *		True when the relation belongs to an extension (pgscale's own
 *		tables, or any other extension's): no policy may manage those.
 */
bool
pgs_is_extension_member(Oid relid)
{
	return OidIsValid(getExtensionOfObject(RelationRelationId, relid));
}

/*
 * pgs_validate_table
 *		Check that relid is a table pgscale may manage for the current user:
 *		an ordinary or partitioned table, not a partition, not a system
 *		catalog, not a table of an extension, not temporary.  The caller
 *		then checks that the current user owns it (pgs_owns), with a
 *		message saying what was attempted.
 */
void
pgs_validate_table(Oid relid)
{
	FormData_pg_class classform;
	char		relkind;
	bool		ispartition;
	char		relpersistence;
	Oid			relnamespace;

	if (!pgs_read_class(relid, &classform))
		pgs_no_such_relation(relid);
	relkind = classform.relkind;
	ispartition = classform.relispartition;
	relpersistence = classform.relpersistence;
	relnamespace = classform.relnamespace;

	if (IsCatalogNamespace(relnamespace) || IsToastNamespace(relnamespace) ||
		IsCatalogRelationOid(relid) ||
		strcmp(get_namespace_name(relnamespace), "information_schema") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: \"%s\" is a system catalog",
						get_rel_name(relid)),
				 errhint("pgscale manages application tables only.")));

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", pgs_display_name(relid)),
				 errhint("Policies apply to ordinary and partitioned tables.")));

	if (ispartition)
	{
		Oid			parent = get_partition_parent_compat(relid);

		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s is a partition", pgs_display_name(relid)),
				 errhint("Set the policy on the partitioned table %s; it covers every partition.",
						 pgs_display_name(parent))));
	}

	if (relpersistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table \"%s\" is temporary", get_rel_name(relid)),
				 errhint("Only permanent tables can be maintained by pgscale.")));

	if (pgs_is_extension_member(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s belongs to an extension", pgs_display_name(relid)),
				 errhint("pgscale does not manage extensions' tables, its own included.")));
}

/* ---------- arguments ---------- */

/*
 * pgs_require_arg
 *		Reject a NULL argument with a message naming it; hint says what to
 *		pass instead (NULL: any value, the argument having no default).
 */
void
pgs_require_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
				const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname),
				 errhint("%s", hint ? hint :
						 "Pass a value for every argument that has no default.")));
}
