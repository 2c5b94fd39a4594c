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
 *
 *	  The files of the conversion: convert.c (this one: the entry point,
 *	  the helpers the steps share, steps 2 to 4), convert_check.c (step
 *	  1: the refusals, the plan, reading the indexes), convert_swap.c
 *	  (step 5, one function per phase) and split.c (pgscale_split_legacy).
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

#include "pgscale.h"
#include "convert.h"
#include "loopback.h"
#include "clone.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_partition_table);

/* ---------- small helpers ---------- */

/*
 * cv_require_nonatomic
 *		The conversion commits between its steps: refuse to run where it
 *		cannot (inside BEGIN ... COMMIT or a function).
 */
void
cv_require_nonatomic(FunctionCallInfo fcinfo, const char *name)
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
 * cv_step_hint
 *		The hint of an error raised for a step that failed after its
 *		retries: what to do about a lock that stayed taken, else the
 *		failed statement's own hint, else to run the call again.  Called
 *		within ereport(), like errhint() itself.
 */
int
cv_step_hint(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		return errhint("Other sessions held the table for longer than pgscale.lock_timeout allows, %d times; run the call again later, or raise pgscale.lock_retries.",
					   pgscale_lock_retries + 1);
	if (edata->hint)
		return errhint("%s", edata->hint);
	return errhint("Fix the cause and run the call again: it goes on from where it stopped.");
}

/*
 * cv_legacy_check_name
 *		Name of the CHECK constraint proving the range [lo, hi) of a legacy
 *		partition; lo < 0 stands for MINVALUE.
 */
char *
cv_legacy_check_name(int lo, int hi)
{
	return psprintf(LEGACY_CHECK_PREFIX "%s_%s",
					lo < 0 ? "min" : pgs_month_label(lo), pgs_month_label(hi));
}

/*
 * cv_extreme_month
 *		Month of min(col) or max(col) over ONLY rel (optionally restricted
 *		by a condition), or -1 when there is no such row.  Infinite values
 *		count as beyond any month.
 */
int
cv_extreme_month(Oid relid, const char *col, Oid keytype, const char *tz,
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
 * cv_find_legacy_checks
 *		Names of the pgscale_legacy_* CHECK constraints of a table, with
 *		whether each is validated.
 */
List *
cv_find_legacy_checks(Oid relid, List **validated)
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
 * loop_connect
 *		Open the loopback connection (loopback.c) for the conversion of
 *		relid, or error out naming the table and saying what to allow.
 */
static PGconn *
loop_connect(Oid relid)
{
	PgsLoopFailure failure;
	PGconn	   *conn = pgs_loop_connect("pgscale conversion", &failure);

	if (conn != NULL)
		return conn;
	switch (failure.stage)
	{
		case PGS_LOOP_NO_SOCKET:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("cannot build the unique indexes of %s concurrently: the server listens on no Unix socket",
							pgs_display_name(relid)),
					 errdetail("pgscale builds it over a local connection to this server; the table was not converted."),
					 errhint("Set unix_socket_directories, or create the index yourself with CREATE UNIQUE INDEX CONCURRENTLY and run the call again: pgscale uses an existing one.")));
			break;
		case PGS_LOOP_CONNECT:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("cannot build the unique indexes of %s concurrently: could not connect to this server as role %s: %s",
							pgs_display_name(relid), quote_identifier(failure.user),
							failure.message),
					 errdetail("pgscale builds it over a local connection to database %s through socket directory %s; the table was not converted.",
							   quote_identifier(failure.dbname), failure.socket_dir),
					 errhint("Allow that connection without a password in pg_hba.conf (a \"local\" line with trust or peer for this role), or create the index yourself with CREATE UNIQUE INDEX CONCURRENTLY and run the call again: pgscale uses an existing one.")));
			break;
		case PGS_LOOP_SETUP:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("cannot build the unique indexes of %s concurrently: could not set up the loopback connection as role %s: %s",
							pgs_display_name(relid), quote_identifier(failure.role),
							failure.message),
					 errdetail("The table was not converted."),
					 errhint("Create the index yourself with CREATE UNIQUE INDEX CONCURRENTLY and run the call again: pgscale uses an existing one.")));
			break;
	}
	return NULL;				/* keep compiler quiet */
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
	PgsLoopError err;

	res = pgs_loop_exec(conn,
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
	if (!pgs_loop_run(conn, "SET lock_timeout = 0", &err) ||
		!pgs_loop_run(conn, psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", qname), &err) ||
		!pgs_loop_run(conn, psprintf("SET lock_timeout = '%dms'", pgscale_lock_timeout), &err))
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
				conn = loop_connect(cv->relid);
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
			PgsLoopError err;

			if (!ix->unique || ix->has_time || ix->extension || ix->is_extension ||
				!ix->valid)
				continue;
			name = ChooseRelationName(ix->name, cv->timecol, "key", cv->nsp, false);
			qname = quote_qualified_identifier(nspname, name);
			nest = pgs_pin_search_path();
			sql = cv_extended_index_sql(cv->relid, ix, cv->timecol,
									 pgs_qualified_name(cv->relid), name, true);
			pgs_unpin_settings(nest);
			ereport(NOTICE,
					(errmsg("building unique index %s on (%s) concurrently", quote_identifier(name),
							cv_column_names(cv->relid, ix->attnums, 0, ix->nkeys,
										 quote_identifier(cv->timecol))),
					 errdetail("Reads and writes go on while it builds.")));
			if (conn == NULL)
				conn = loop_connect(cv->relid);
			pgs_spi_commit();

			for (attempt = 0;; attempt++)
			{
				bool		ok = pgs_loop_run(conn, sql, &err);
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
 * cv_ensure_check
 *		Make sure the table has the CHECK constraint "name" for condition,
 *		validated if asked: reuse it when a previous run left it, drop the
 *		other pgscale_legacy_* constraints but "keep", add it NOT VALID
 *		(one transaction) and validate it (another).  Commits.  When a
 *		step fails after its retries, returns false with its error in
 *		*edata and what state the table is left in in *state, for the
 *		caller's message.
 */
bool
cv_ensure_check(Oid relid, const char *name, const char *condition,
				const char *keep, bool validate, ErrorData **edata,
				const char **state)
{
	List	   *validated;
	List	   *names = cv_find_legacy_checks(relid, &validated);
	ListCell   *lc;
	ListCell   *lv;
	CheckStep	step;
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
		if (!pgs_run_guarded_as(relid, check_step, &step, edata))
		{
			*state = "Nothing was changed by this step.";
			return false;
		}
		pgs_log_action(relid, "convert", name, 0, false, started,
					   "check constraint added NOT VALID");
		pgs_spi_commit();
	}
	if (!valid && validate)
	{
		started = GetCurrentTimestamp();
		step.validate = true;
		if (!pgs_run_guarded_as(relid, check_step, &step, edata))
		{
			*state = psprintf("The constraint %s was added NOT VALID; the next run validates it.",
							  quote_identifier(name));
			return false;
		}
		pgs_log_action(relid, "convert", name, 0, false, started,
					   "check constraint validated");
		pgs_spi_commit();
	}
	return true;
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
	const char *state;

	cv_require_nonatomic(fcinfo, "pgscale_partition_table");
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
	indexes = cv_plan(cv);
	started = GetCurrentTimestamp();
	pgs_spi_commit();

	/* 2. unique indexes with the time column */
	if (cv->extend_keys)
		build_extensions(cv, indexes);

	/* 3 and 4. the bound, proven by a validated CHECK constraint */
	if (!cv_ensure_check(cv->relid, cv->check_name,
						 pgs_month_range_condition(cv->timecol, cv->keytype, cv->tz, -1, cv->bound),
						 NULL, cv->far_rows == 0, &edata, &state))
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("could not add the bound constraint to %s: %s",
						pgs_display_name(cv->relid), edata->message),
				 errdetail("%s", state),
				 cv_step_hint(edata)));

	/*
	 * 4b. rows beyond the premake horizon leave for the default partition,
	 * then the bound is validated, in the swap's transaction: the rows
	 * stay visible throughout, and a failed swap puts them back.
	 */
	if (cv->far_rows > 0)
	{
		far_started = GetCurrentTimestamp();
		if (!pgs_run_guarded_as(cv->relid, cv_far_step, cv, &edata))
			ereport(ERROR,
					(errcode(edata->sqlerrcode),
					 errmsg("could not move the rows dated beyond the premake horizon out of %s: %s",
							pgs_display_name(cv->relid), edata->message),
					 errdetail("The table was not converted; it keeps the NOT VALID constraint %s, which the next run reuses.",
							   quote_identifier(cv->check_name)),
					 cv_step_hint(edata)));
	}

	/* 5. the swap */
	swap.cv = cv;
	swap.legacy_rows = 0;
	if (!pgs_run_guarded_as(cv->relid, cv_swap_step, &swap, &edata))
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("could not partition %s: %s",
						pgs_display_name(cv->relid), edata->message),
				 errdetail("The table was not converted; it keeps the validated constraint %s, which the next run reuses.",
						   quote_identifier(cv->check_name)),
				 cv_step_hint(edata)));
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
