/*-------------------------------------------------------------------------
 *
 * pgscale.h
 *	  Declarations shared by pgscale's source files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGSCALE_H
#define PGSCALE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"

#include "compat.h"

/* guc.c: settings */
extern int	pgscale_lock_timeout;
extern int	pgscale_lock_retries;
extern int	pgscale_log_retention;
extern void pgs_define_gucs(void);

/* Who started the work, as recorded in pgscale_log.source. */
typedef enum PgsSource
{
	PGS_SOURCE_MANUAL,
	PGS_SOURCE_WORKER,
	PGS_SOURCE_CRON
} PgsSource;

/* Set by the background worker for the cycles it runs. */
extern bool pgs_running_in_worker;
extern PgsSource pgs_current_source(void);
extern const char *pgs_source_name(PgsSource source);

/* util.c: names, the extension's own objects, user switching, retries */
extern char *pgs_qualified_name(Oid relid);
extern char *pgs_display_name(Oid relid);
extern Oid	pgs_schema_of_extension(Oid extoid);
extern Oid	pgs_extension_schema(void);
extern const char *pgs_ext_table(const char *name);
extern Oid	pgs_extension_owner(void);
extern void pgs_become_owner(Oid *save_userid, int *save_sec_context);
extern void pgs_restore_user(Oid save_userid, int save_sec_context);
extern bool pgs_is_extension_member(Oid relid);
extern void pgs_check_owner(Oid relid, const char *action);
extern bool pgs_owns(Oid relid);

typedef void (*PgsAction) (void *arg);
extern bool pgs_run_guarded(PgsAction action, void *arg, ErrorData **error);

extern int64 pgs_spi_int8(const char *sql, int nargs, Oid *argtypes,
						  Datum *values, const char *nulls, bool read_only);

/* policy.c: the pgscale_policy table */
typedef struct PgsPolicy
{
	Oid			relid;
	char	   *time_column;	/* NULL when none is recorded */
	bool		has_retention;
	Interval	retention;
	bool		is_protected;
	int			premake_months; /* -1 when not partition-managed */
	char	   *time_zone;		/* NULL: UTC */
	bool		enabled;
} PgsPolicy;

extern List *pgs_load_policies(Oid relid);
extern PgsPolicy *pgs_find_policy(Oid relid);
extern Oid	pgs_time_column_type(Oid relid, const char *colname, bool missing_ok);
extern char *pgs_range_partition_column(Oid relid);

/* log.c: the pgscale_log table */
extern void pgs_log_action(Oid relid, const char *action, const char *object,
						   int64 rows, bool rows_known, TimestampTz started,
						   const char *detail);
extern void pgs_log_prune(void);

/* batch.c: deleting expired rows of one table in batches */
typedef struct PgsBatchState PgsBatchState;
extern PgsBatchState *pgs_batch_begin(Oid relid, const char *time_column,
									  Oid cutoff_type, Datum cutoff,
									  int batch_size);
extern char *pgs_batch_describe(PgsBatchState *state);
extern int64 pgs_batch_next(PgsBatchState *state, bool *done);
extern int64 pgs_batch_count(PgsBatchState *state);

#endif							/* PGSCALE_H */
