/*-------------------------------------------------------------------------
 *
 * diag_relsize.c
 *	  Sizes of relations, measured without ever waiting on a lock.
 *
 *	  pg_relation_size() and its friends open the relation and so queue
 *	  behind any ACCESS EXCLUSIVE lock (a VACUUM FULL, an ALTER TABLE, a
 *	  migration holding LOCK TABLE): a health page built on them hangs
 *	  exactly when the database needs attention.  Here every relation is
 *	  locked with ConditionalLockRelationOid(); a relation that cannot be
 *	  locked at once is reported as skipped, and the lock is released as
 *	  soon as its files are measured, so that a scan of thousands of
 *	  relations never fills the lock table.
 *
 *	  The files are measured by stat() from the pg_class row instead of
 *	  through the relation cache: on a fresh connection, building relcache
 *	  entries for thousands of relations costs far more than the stat()
 *	  calls themselves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_tablespace_d.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "diag.h"

/*
 * Relations found locked since the last pgs_reset_skipped(), kept in
 * TopMemoryContext (a few OIDs) so that pgscale_health() can report them.
 */
static List *skipped_relations = NIL;

/*
 * pgs_note_skipped
 *		Remember a relation found locked, once.
 */
static void
pgs_note_skipped(Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	skipped_relations = list_append_unique_oid(skipped_relations, relid);
	MemoryContextSwitchTo(old);
}

/*
 * pgs_reset_skipped / pgs_skipped_relations
 *		Start counting skipped relations afresh; the ones seen since.
 */
void
pgs_reset_skipped(void)
{
	list_free(skipped_relations);
	skipped_relations = NIL;
}

List *
pgs_skipped_relations(void)
{
	return skipped_relations;
}

/*
 * pgs_lock_nowait
 *		Take an ACCESS SHARE lock on a relation if that is possible without
 *		waiting.  Returns false, and remembers the relation as skipped,
 *		when someone holds or awaits a conflicting lock.
 */
bool
pgs_lock_nowait(Oid relid)
{
	if (ConditionalLockRelationOid(relid, AccessShareLock))
		return true;
	pgs_note_skipped(relid);
	return false;
}

/*
 * pgs_unlock
 *		Release the lock taken by pgs_lock_nowait() (only that one: a lock
 *		the transaction held before is kept).
 */
void
pgs_unlock(Oid relid)
{
	UnlockRelationOid(relid, AccessShareLock);
}

/*
 * pgs_fork_bytes
 *		Bytes in the segment files of one fork.  A segment shorter than a
 *		full segment is the last one, so a small relation costs one stat().
 */
static int64
pgs_fork_bytes(Oid dboid, Oid spcoid, Oid filenumber, ForkNumber fork)
{
	char	   *path = pgs_relation_path(dboid, spcoid, filenumber, fork);
	int64		total = 0;
	unsigned int segno;

	for (segno = 0;; segno++)
	{
		char	   *segpath;
		struct stat st;

		segpath = (segno == 0) ? path : psprintf("%s.%u", path, segno);
		if (stat(segpath, &st) < 0)
		{
			if (errno == ENOENT)
				break;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", segpath)));
		}
		total += st.st_size;
		if (segno > 0)
			pfree(segpath);
		if (st.st_size < (off_t) RELSEG_SIZE * BLCKSZ)
			break;
	}
	pfree(path);
	return total;
}

/*
 * pgs_class_bytes
 *		Bytes in every fork of the relation described by a pg_class row.
 *		The caller holds a lock on the relation, so its file number cannot
 *		change underneath.  Returns false for relations whose files belong
 *		to a session (temporary relations).
 */
static bool
pgs_class_bytes(Oid relid, Form_pg_class classform, int64 *bytes)
{
	Oid			spcoid;
	Oid			dboid;
	Oid			filenumber;
	int			fork;

	*bytes = 0;
	if (!RELKIND_HAS_STORAGE(classform->relkind))
		return true;
	if (classform->relpersistence == RELPERSISTENCE_TEMP)
		return false;

	spcoid = OidIsValid(classform->reltablespace) ?
		classform->reltablespace : MyDatabaseTableSpace;
	dboid = (spcoid == GLOBALTABLESPACE_OID) ? InvalidOid : MyDatabaseId;
	filenumber = classform->relfilenode;
	if (!OidIsValid(filenumber))
		filenumber = pgs_relmap_filenumber(relid, classform->relisshared);
	if (!OidIsValid(filenumber))
		return false;

	for (fork = 0; fork <= MAX_FORKNUM; fork++)
	{
		/* skip the stat() of forks that cannot exist */
		if (fork == VISIBILITYMAP_FORKNUM &&
			classform->relkind != RELKIND_RELATION &&
			classform->relkind != RELKIND_MATVIEW &&
			classform->relkind != RELKIND_TOASTVALUE)
			continue;
		if (fork == INIT_FORKNUM &&
			classform->relpersistence != RELPERSISTENCE_UNLOGGED)
			continue;
		*bytes += pgs_fork_bytes(dboid, spcoid, filenumber, (ForkNumber) fork);
	}
	return true;
}

/*
 * pgs_locked_class_bytes
 *		Bytes of a relation the caller has locked: read its pg_class row
 *		(the lock made us accept pending invalidations, so the row is
 *		current) and measure its files.
 */
static PgsSizeStatus
pgs_locked_class_bytes(Oid relid, int64 *bytes, Oid *toastrelid)
{
	HeapTuple	tuple;
	bool		ok;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		return PGS_SIZE_NONE;
	ok = pgs_class_bytes(relid, (Form_pg_class) GETSTRUCT(tuple), bytes);
	if (toastrelid)
		*toastrelid = ((Form_pg_class) GETSTRUCT(tuple))->reltoastrelid;
	ReleaseSysCache(tuple);
	return ok ? PGS_SIZE_OK : PGS_SIZE_NONE;
}

/*
 * pgs_relation_bytes
 *		Bytes in every fork of one relation, or PGS_SIZE_LOCKED at once when
 *		it is locked against readers.
 */
PgsSizeStatus
pgs_relation_bytes(Oid relid, int64 *bytes)
{
	PgsSizeStatus status;

	*bytes = 0;
	if (!pgs_lock_nowait(relid))
		return PGS_SIZE_LOCKED;
	status = pgs_locked_class_bytes(relid, bytes, NULL);
	pgs_unlock(relid);
	return status;
}

/*
 * pgs_index_bytes
 *		Bytes of one index.  Its table is tried first: an index whose table
 *		is under an exclusive lock (VACUUM FULL, TRUNCATE, ALTER TABLE,
 *		LOCK TABLE) is reported as skipped with the table.
 */
PgsSizeStatus
pgs_index_bytes(Oid indexrelid, int64 *bytes)
{
	HeapTuple	tuple;
	Oid			heaprelid;
	PgsSizeStatus status;

	*bytes = 0;
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexrelid));
	if (!HeapTupleIsValid(tuple))
		return PGS_SIZE_NONE;
	heaprelid = ((Form_pg_index) GETSTRUCT(tuple))->indrelid;
	ReleaseSysCache(tuple);

	if (!pgs_lock_nowait(heaprelid))
		return PGS_SIZE_LOCKED;
	status = pgs_relation_bytes(indexrelid, bytes);
	pgs_unlock(heaprelid);
	return status;
}

/*
 * pgs_indexes_of
 *		OIDs of the indexes of a relation, read from pg_index through its
 *		indrelid index (no relation cache entry is built).
 */
static List *
pgs_indexes_of(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *result = NIL;

	rel = table_open(IndexRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, IndexIndrelidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		result = lappend_oid(result,
							 ((Form_pg_index) GETSTRUCT(tuple))->indexrelid);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * pgs_table_bytes
 *		Heap, TOAST and index bytes of one table (the parts of
 *		pg_total_relation_size()).  The table and each of its indexes must
 *		be lockable at once, else the whole table is reported as skipped.
 *		The TOAST table is not locked itself: nobody rewrites it without a
 *		lock on its table.
 */
PgsSizeStatus
pgs_table_bytes(Oid relid, PgsTableBytes *out)
{
	PgsSizeStatus status;
	Oid			toastrelid = InvalidOid;
	List	   *indexes;
	ListCell   *lc;

	memset(out, 0, sizeof(*out));
	if (!pgs_lock_nowait(relid))
		return PGS_SIZE_LOCKED;

	status = pgs_locked_class_bytes(relid, &out->table_bytes, &toastrelid);
	if (status == PGS_SIZE_OK && OidIsValid(toastrelid))
	{
		int64		bytes;

		if (pgs_locked_class_bytes(toastrelid, &bytes, NULL) == PGS_SIZE_OK)
			out->toast_bytes += bytes;
		foreach(lc, pgs_indexes_of(toastrelid))
		{
			if (pgs_locked_class_bytes(lfirst_oid(lc), &bytes, NULL) == PGS_SIZE_OK)
				out->toast_bytes += bytes;
		}
	}

	if (status == PGS_SIZE_OK)
	{
		indexes = pgs_indexes_of(relid);
		foreach(lc, indexes)
		{
			Oid			indexrelid = lfirst_oid(lc);
			int64		bytes;
			PgsSizeStatus istatus;

			istatus = pgs_relation_bytes(indexrelid, &bytes);
			if (istatus == PGS_SIZE_LOCKED)
			{
				status = PGS_SIZE_LOCKED;
				break;
			}
			if (istatus == PGS_SIZE_OK)
				out->index_bytes += bytes;
		}
		list_free(indexes);
	}

	pgs_unlock(relid);
	if (status != PGS_SIZE_OK)
		memset(out, 0, sizeof(*out));
	return status;
}

/*
 * pgs_index_oids_bytes
 *		Sum of the sizes of a list of indexes (the partitions of a
 *		partitioned index).  Any one of them locked makes the sum unknown.
 */
PgsSizeStatus
pgs_index_oids_bytes(List *oids, int64 *bytes, int *nrels)
{
	ListCell   *lc;

	*bytes = 0;
	*nrels = 0;
	foreach(lc, oids)
	{
		int64		one;
		PgsSizeStatus status;

		status = pgs_index_bytes(lfirst_oid(lc), &one);
		if (status == PGS_SIZE_LOCKED)
		{
			*bytes = 0;
			return PGS_SIZE_LOCKED;
		}
		if (status == PGS_SIZE_OK)
		{
			*bytes += one;
			(*nrels)++;
		}
	}
	return PGS_SIZE_OK;
}

/*
 * pgs_index_list_bytes
 *		The same for an oid[] Datum (NULL is an empty array).
 */
PgsSizeStatus
pgs_index_list_bytes(Datum oids, bool isnull, int64 *bytes, int *nrels)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;
	List	   *list = NIL;

	if (!isnull)
	{
		deconstruct_array(DatumGetArrayTypeP(oids), OIDOID, sizeof(Oid), true,
						  TYPALIGN_INT, &elems, &nulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			if (!nulls[i])
				list = lappend_oid(list, DatumGetObjectId(elems[i]));
		}
	}
	return pgs_index_oids_bytes(list, bytes, nrels);
}

/*
 * pgs_sum_table_bytes
 *		Sum pgs_table_bytes() over the tables of an oid[].  Returns false
 *		when any of them is locked.
 */
bool
pgs_sum_table_bytes(Datum oids, bool isnull, PgsTableBytes *sum)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;

	memset(sum, 0, sizeof(*sum));
	if (isnull)
		return true;
	arr = DatumGetArrayTypeP(oids);
	deconstruct_array(arr, OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		PgsTableBytes one;
		PgsSizeStatus status;

		if (nulls[i])
			continue;
		status = pgs_table_bytes(DatumGetObjectId(elems[i]), &one);
		if (status == PGS_SIZE_LOCKED)
		{
			memset(sum, 0, sizeof(*sum));
			return false;
		}
		sum->table_bytes += one.table_bytes;
		sum->toast_bytes += one.toast_bytes;
		sum->index_bytes += one.index_bytes;
	}
	return true;
}
