/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  catalog.c: what pgscale reads about a relation, its names, who may
 *	  manage it, and the check of a NULL argument.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_CATALOG_H
#define PGSCALE_CATALOG_H

#include "postgres.h"

#include "catalog/pg_class.h"
#include "fmgr.h"
#include "storage/block.h"

/* names */
extern char *pgs_qualified_name(Oid relid);
extern char *pgs_display_name(Oid relid);
extern void pgs_no_such_relation(Oid relid);

/* pg_class and pg_attribute, one fact each */
extern bool pgs_read_class(Oid relid, FormData_pg_class *form);
extern Oid	pgs_relation_owner(Oid relid);
extern Oid	pgs_rel_am(Oid relid);
extern char pgs_rel_replident(Oid relid);
extern float4 pgs_estimated_rows(Oid relid);
extern BlockNumber pgs_current_blocks(Oid relid);
extern bool pgs_att_notnull(Oid relid, AttrNumber attnum);

/* who may manage a table */
extern bool pgs_owns(Oid relid);
extern bool pgs_is_extension_member(Oid relid);
extern void pgs_validate_table(Oid relid);

/* arguments */
extern void pgs_require_arg(FunctionCallInfo fcinfo, int argno,
							const char *argname, const char *hint);

#endif							/* PGSCALE_CATALOG_H */
