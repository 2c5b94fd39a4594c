/*-------------------------------------------------------------------------
 *
 * convert.h
 *	  Private to the conversion: what convert.c, convert_check.c,
 *	  convert_swap.c and split.c share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_CONVERT_H
#define PGSCALE_CONVERT_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "nodes/primnodes.h"
#include "utils/elog.h"

/*
 * The CHECK constraints pgscale puts on a legacy partition are named
 * pgscale_legacy_<from>_<to>, <from> being "min" or YYYY_MM, <to> YYYY_MM:
 * the range they prove.  A rerun finds its own constraint by that name.
 */
#define LEGACY_CHECK_PREFIX "pgscale_legacy_"

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

/* A constraint recreated on the parent from its definition. */
typedef struct CvConstraint
{
	Oid			oid;
	char	   *name;
	char		contype;
	char	   *def;
	char	   *comment;
} CvConstraint;

typedef struct SwapStep
{
	Conversion *cv;
	int64		legacy_rows;	/* estimate, for the log */
} SwapStep;

/* convert.c: helpers the steps share, steps 3 and 4 */
extern void cv_require_nonatomic(FunctionCallInfo fcinfo, const char *name);
extern int	cv_step_hint(ErrorData *edata);
extern char *cv_legacy_check_name(int lo, int hi);
extern int	cv_extreme_month(Oid relid, const char *col, Oid keytype,
							 const char *tz, bool want_max, const char *where,
							 bool *infinite);
extern List *cv_find_legacy_checks(Oid relid, List **validated);
extern bool cv_ensure_check(Oid relid, const char *name, const char *condition,
							const char *keep, bool validate, ErrorData **edata,
							const char **state);

/* convert_check.c: step 1, and the refusals the swap repeats */
extern char *cv_column_names(Oid relid, AttrNumber *attnums, int from, int to,
							 const char *extra);
extern char *cv_extended_columns(Oid relid, CvIndex *ix, const char *timecol);
extern char *cv_extended_index_sql(Oid relid, CvIndex *ix, const char *timecol,
								   const char *qtable, const char *name,
								   bool concurrently);
extern List *cv_check_structure(Conversion *cv, bool at_swap);
extern List *cv_plan(Conversion *cv);

/* convert_swap.c: step 5 */
extern List *cv_read_constraints(Oid relid, char contype, const char *skip_prefix);
extern void cv_far_step(void *arg);
extern void cv_swap_step(void *arg);

#endif							/* PGSCALE_CONVERT_H */
