/*-------------------------------------------------------------------------
 *
 * clone.c
 *	  What a new table copies from another: the storage clause of its
 *	  CREATE TABLE, its grants, its replica identity, and the list of
 *	  stored columns its rows are moved by.  A new monthly partition, the
 *	  partitioned table of a conversion and a month cut from a legacy
 *	  partition are made alike this way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pgscale.h"
#include "clone.h"

/*
 * pgs_storage_clause
 *		" WITH (...)" carrying the reloptions of a template table, or "".
 */
char *
pgs_storage_clause(Oid template_rel)
{
	HeapTuple	tuple;
	Datum		d;
	bool		isnull;
	StringInfoData buf;
	Datum	   *opts;
	int			nopts;
	int			i;

	if (!OidIsValid(template_rel))
		return "";
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(template_rel));
	if (!HeapTupleIsValid(tuple))
		return "";
	d = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_reloptions, &isnull);
	if (isnull)
	{
		ReleaseSysCache(tuple);
		return "";
	}
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &opts, NULL, &nopts);
	initStringInfo(&buf);
	appendStringInfoString(&buf, " WITH (");
	for (i = 0; i < nopts; i++)
	{
		char	   *opt = TextDatumGetCString(opts[i]);
		char	   *eq = strchr(opt, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		appendStringInfo(&buf, "%s%s = %s", i > 0 ? ", " : "",
						 quote_identifier(opt), quote_literal_cstr(eq + 1));
	}
	appendStringInfoChar(&buf, ')');
	ReleaseSysCache(tuple);
	return buf.data;
}

/*
 * pgs_copy_grants
 *		Grant on "to" what is granted on "from" (kind is TABLE or SEQUENCE):
 *		object and column privileges, except the owner's own, which come
 *		with ownership.
 */
void
pgs_copy_grants(Oid from, Oid to, const char *kind)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(from)};
	char	   *qto = pgs_qualified_name(to);
	int			ret;
	uint64		i;
	List	   *grants = NIL;
	ListCell   *lc;

	ret = SPI_execute_with_args("SELECT a.privilege_type, NULL::pg_catalog.text,"
								" CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
								" ELSE pg_catalog.quote_ident(r.rolname) END, a.is_grantable"
								" FROM pg_catalog.pg_class c,"
								" LATERAL pg_catalog.aclexplode(c.relacl) a"
								" LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee"
								" WHERE c.oid OPERATOR(pg_catalog.=) $1"
								" AND a.grantee OPERATOR(pg_catalog.<>) c.relowner"
								" UNION ALL"
								" SELECT a.privilege_type, pg_catalog.quote_ident(t.attname),"
								" CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'"
								" ELSE pg_catalog.quote_ident(r.rolname) END, a.is_grantable"
								" FROM pg_catalog.pg_attribute t"
								" JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.attrelid,"
								" LATERAL pg_catalog.aclexplode(t.attacl) a"
								" LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee"
								" WHERE t.attrelid OPERATOR(pg_catalog.=) $1 AND t.attnum OPERATOR(pg_catalog.>) 0"
								" AND NOT t.attisdropped"
								" AND a.grantee OPERATOR(pg_catalog.<>) c.relowner",
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the grants of %s", pgs_display_name(from));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *column = SPI_getvalue(tup, desc, 2);
		bool		isnull;
		bool		grantable = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));

		grants = lappend(grants,
						 psprintf("GRANT %s%s%s%s ON %s %s TO %s%s",
								  SPI_getvalue(tup, desc, 1),
								  column ? " (" : "", column ? column : "",
								  column ? ")" : "", kind, qto,
								  SPI_getvalue(tup, desc, 3),
								  grantable ? " WITH GRANT OPTION" : ""));
	}
	foreach(lc, grants)
		pgs_spi_exec((char *) lfirst(lc));
}

/*
 * pgs_copy_replica_identity
 *		Give child the replica identity of parent (or, when the parent has
 *		the default, of the template partition).
 */
void
pgs_copy_replica_identity(Oid parent, Oid template_rel, Oid child)
{
	char		ident = pgs_rel_replident(parent);
	char	   *qchild = pgs_qualified_name(child);

	if (ident == REPLICA_IDENTITY_DEFAULT && OidIsValid(template_rel))
	{
		char		tident = pgs_rel_replident(template_rel);

		if (tident == REPLICA_IDENTITY_FULL || tident == REPLICA_IDENTITY_NOTHING)
			ident = tident;
	}
	if (ident == REPLICA_IDENTITY_FULL)
		pgs_spi_exec(psprintf("ALTER TABLE %s REPLICA IDENTITY FULL", qchild));
	else if (ident == REPLICA_IDENTITY_NOTHING)
		pgs_spi_exec(psprintf("ALTER TABLE %s REPLICA IDENTITY NOTHING", qchild));
	else if (ident == REPLICA_IDENTITY_INDEX)
	{
		Oid			argtypes[2] = {OIDOID, OIDOID};
		Datum		values[2] = {ObjectIdGetDatum(parent), ObjectIdGetDatum(child)};
		int			ret;

		/* the child's index attached to the parent's replica identity index */
		ret = SPI_execute_with_args("SELECT ci.relname FROM pg_catalog.pg_index pi"
									" JOIN pg_catalog.pg_inherits h ON h.inhparent OPERATOR(pg_catalog.=) pi.indexrelid"
									" JOIN pg_catalog.pg_index x ON x.indexrelid OPERATOR(pg_catalog.=) h.inhrelid"
									" JOIN pg_catalog.pg_class ci ON ci.oid OPERATOR(pg_catalog.=) x.indexrelid"
									" WHERE pi.indrelid OPERATOR(pg_catalog.=) $1 AND pi.indisreplident"
									" AND x.indrelid OPERATOR(pg_catalog.=) $2",
									2, argtypes, values, NULL, false, 1);
		if (ret == SPI_OK_SELECT && SPI_processed == 1)
			pgs_spi_exec(psprintf("ALTER TABLE %s REPLICA IDENTITY USING INDEX %s", qchild,
							  quote_identifier(SPI_getvalue(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc, 1))));
	}
}

/*
 * pgs_column_list
 *		The parent's stored columns (not dropped, not generated), quoted and
 *		comma-separated, for moving rows between partitions.
 */
char *
pgs_column_list(Oid relid)
{
	Relation	rel = table_open(relid, NoLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)));
	}
	table_close(rel, NoLock);
	return buf.data;
}
