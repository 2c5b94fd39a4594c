/*-------------------------------------------------------------------------
 *
 * clone.h
 *	  clone.c: what a new table copies from another.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_CLONE_H
#define PGSCALE_CLONE_H

#include "postgres.h"

extern char *pgs_storage_clause(Oid template_rel);
extern void pgs_copy_grants(Oid from, Oid to, const char *kind);
extern void pgs_copy_replica_identity(Oid parent, Oid template_rel, Oid child);
extern char *pgs_column_list(Oid relid);

#endif							/* PGSCALE_CLONE_H */
