/*-------------------------------------------------------------------------
 *
 * archive.c
 *	  Action 'archive': what a retention expires is moved into an archive
 *	  schema instead of being deleted, recorded in pgscale_archive, kept
 *	  there for archive_keep, and can be put back.
 *
 *	  - A whole expired partition, once detached from its parent, is
 *		moved into the archive schema as it is (its indexes, owner and
 *		grants go with it) under the name <table>_YYYY_MM.
 *	  - Expired rows (plain tables, the partition that straddles the
 *		cutoff) are moved by the batches themselves: each batch's DELETE
 *		becomes "WITH d AS (DELETE ... RETURNING cols) INSERT INTO archive
 *		SELECT cols FROM d", one statement, so that a row is in exactly one
 *		of the two tables whatever happens.  The archive table of rows,
 *		<archive_schema>.<table>, has the table's columns and is
 *		partitioned by month on the time column (<table>_rows_YYYY_MM), so
 *		that archive_keep drops whole months of it.
 *
 *	  The catalog names the source table by schema and name, never by OID,
 *	  so that it means the same after a dump and restore.  Everything that
 *	  touches a table runs as the table's owner, as the rest of retention
 *	  does; the catalog is written as the extension owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "pgscale.h"
#include "archive.h"
#include "clone.h"
#include "month.h"

PG_FUNCTION_INFO_V1(pgscale_restore_archive);

/* ---------- settings ---------- */

/*
 * check_keep
 *		archive_keep must be a positive interval with no negative part.
 */
static void
check_keep(Interval *keep)
{
	if (keep->month < 0 || keep->day < 0 || keep->time < 0 ||
		(keep->month == 0 && keep->day == 0 && keep->time == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("archive_keep must be a positive interval"),
				 errdetail("It is how long archived months are kept before they are dropped."),
				 errhint("Give it with positive parts only, for example '2 years', or leave it NULL to keep the archive forever.")));
}

/*
 * pgs_archive_read_args
 *		Read pgscale_set_retention()'s action, archive_schema and
 *		archive_keep (arguments argno to argno + 2; an older declaration
 *		has fewer arguments).
 */
void
pgs_archive_read_args(FunctionCallInfo fcinfo, int argno, PgsArchiveSettings *arch)
{
	memset(arch, 0, sizeof(*arch));
	if (PG_NARGS() > argno && !PG_ARGISNULL(argno))
	{
		char	   *action = text_to_cstring(PG_GETARG_TEXT_PP(argno));

		if (strcmp(action, "archive") == 0)
			arch->archive = true;
		else if (strcmp(action, "drop") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for action: \"%s\"", action),
					 errdetail("It says what happens to expired data."),
					 errhint("Use 'drop' (drop expired partitions, delete expired rows) or 'archive' (move them to archive_schema).")));
		arch->given_action = true;
	}
	if (PG_NARGS() > argno + 1 && !PG_ARGISNULL(argno + 1))
		arch->archive_schema = pstrdup(NameStr(*PG_GETARG_NAME(argno + 1)));
	if (PG_NARGS() > argno + 2 && !PG_ARGISNULL(argno + 2))
	{
		arch->keep = *PG_GETARG_INTERVAL_P(argno + 2);
		arch->has_keep = true;
		check_keep(&arch->keep);
	}
}

/* whether role may create in the schema (existing) or the database */
static bool
may_create_in(Oid role, const char *schema, bool exists)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(role), CStringGetTextDatum(schema)};

	if (exists)
		return pgs_spi_int8("SELECT pg_catalog.has_schema_privilege($1, $2, 'CREATE')::pg_catalog.int4",
							2, argtypes, values, NULL, true) == 1;
	return pgs_spi_int8("SELECT pg_catalog.has_database_privilege($1, pg_catalog.current_database(), 'CREATE')::pg_catalog.int4",
						1, argtypes, values, NULL, true) == 1;
}

/*
 * require_create
 *		The error for a table owner that may not put tables in the archive
 *		schema (or create it).
 */
static void
require_create(Oid owner, Oid relid, const char *schema)
{
	bool		exists = OidIsValid(get_namespace_oid(schema, true));

	if (may_create_in(owner, schema, exists))
		return;
	if (exists)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not create tables in archive schema \"%s\"",
						GetUserNameFromId(owner, false), schema),
				 errdetail("Archived data of table %s belongs to its owner, who needs the CREATE privilege on the archive schema.",
						   pgs_display_name(relid)),
				 errhint("GRANT CREATE ON SCHEMA %s TO %s, or choose another archive_schema.",
						 quote_identifier(schema),
						 quote_identifier(GetUserNameFromId(owner, false)))));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not create archive schema \"%s\"",
					GetUserNameFromId(owner, false), schema),
			 errdetail("The archive schema of table %s is created by the table's owner, who needs the CREATE privilege on the database.",
					   pgs_display_name(relid)),
			 errhint("Create the schema and GRANT CREATE ON SCHEMA %s TO %s, or grant CREATE on the database.",
					 quote_identifier(schema),
					 quote_identifier(GetUserNameFromId(owner, false)))));
}

/*
 * pgs_archive_settle
 *		The archive settings a policy ends up with: those given, else the
 *		existing policy's, else action 'drop' (archive_schema 'archive' when
 *		only the action is given).  Refuses settings that cannot work.  SPI
 *		must be connected.
 */
void
pgs_archive_settle(Oid relid, PgsPolicy *existing, PgsArchiveSettings *arch,
				   const char *on_referenced)
{
	bool		was_archive = existing != NULL && existing->archive;
	bool		archive = arch->given_action ? arch->archive : was_archive;
	char	   *own_schema;

	if (!archive)
	{
		if (arch->archive_schema != NULL || arch->has_keep)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s requires action 'archive'",
							arch->archive_schema != NULL ? "archive_schema" : "archive_keep"),
					 errdetail("Table %s's expired data is dropped, not archived.",
							   pgs_display_name(relid)),
					 errhint("Add action => 'archive' to move expired data into an archive schema.")));
		arch->archive = false;
		arch->archive_schema = NULL;
		arch->has_keep = false;
		return;
	}

	arch->archive = true;
	if (arch->archive_schema == NULL)
		arch->archive_schema = was_archive && existing->archive_schema != NULL ?
			pstrdup(existing->archive_schema) : pstrdup("archive");
	if (!arch->has_keep && was_archive && existing->has_archive_keep)
	{
		arch->keep = existing->archive_keep;
		arch->has_keep = true;
	}

	own_schema = get_namespace_name(get_rel_namespace(relid));
	if (strcmp(arch->archive_schema, "pg_catalog") == 0 ||
		strcmp(arch->archive_schema, "information_schema") == 0 ||
		strncmp(arch->archive_schema, "pg_", 3) == 0 ||
		strcmp(arch->archive_schema, get_namespace_name(pgs_extension_schema())) == 0 ||
		strcmp(arch->archive_schema, PGS_CATALOG_SCHEMA) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("archive_schema \"%s\" is a system schema or pgscale's own",
						arch->archive_schema),
				 errhint("Name a schema of its own for archived data, for example 'archive'.")));
	if (strcmp(arch->archive_schema, own_schema) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("archive_schema \"%s\" is the schema of table %s",
						arch->archive_schema, pgs_display_name(relid)),
				 errdetail("Archived data is kept apart from the live tables, under names of their own."),
				 errhint("Name another schema, for example 'archive'.")));
	if (strcmp(on_referenced, "error") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("action 'archive' cannot be combined with on_referenced '%s'",
						on_referenced),
				 errdetail("Archived rows would leave behind, or take along unarchived, the rows of other tables that reference them."),
				 errhint("Use action 'archive' with on_referenced 'error', or keep action 'drop'.")));
	require_create(pgs_relation_owner(relid), relid, arch->archive_schema);
}

/* ---------- names ---------- */

/*
 * archive_name
 *		base + suffix (+ "_n" when n > 1), at most NAMEDATALEN - 2 bytes:
 *		past that the base is clipped at a character boundary and a hash of
 *		it keeps clipped names apart.  One byte short of the limit, so that
 *		the table's array type, "_" + name, is not clipped either: ALTER
 *		TABLE ... SET SCHEMA moves it under its name and fails where two
 *		clipped array type names meet.
 */
static char *
archive_name(const char *base, const char *suffix, int n)
{
	char	   *full_suffix = n > 1 ? psprintf("%s_%d", suffix, n) : pstrdup(suffix);
	int			len = strlen(base);
	int			slen = strlen(full_suffix);
	int			clip;

	if (len + slen < NAMEDATALEN - 1)
		return psprintf("%s%s", base, full_suffix);
	clip = pg_mbcliplen(base, len, NAMEDATALEN - 2 - slen - 5);
	return psprintf("%.*s_%04x%s", clip, base,
					hash_bytes((const unsigned char *) base, len) & 0xffff,
					full_suffix);
}

/* whether a relation, or a type of its name or its array's, is in the schema */
static bool
name_taken(const char *name, Oid nsp)
{
	char	   *array = psprintf("_%s", name);

	return OidIsValid(get_relname_relid(name, nsp)) ||
		SearchSysCacheExists2(TYPENAMENSP, CStringGetDatum(name),
							  ObjectIdGetDatum(nsp)) ||
		SearchSysCacheExists2(TYPENAMENSP, CStringGetDatum(array),
							  ObjectIdGetDatum(nsp));
}

/* ---------- a run ---------- */

/*
 * pgs_archive_of_policy
 *		Where a run of the policy puts what expires; NULL for action 'drop'.
 */
PgsArchive *
pgs_archive_of_policy(PgsPolicy *pol, const char *time_column)
{
	PgsArchive *arch;

	if (!pol->archive || pol->archive_schema == NULL)
		return NULL;
	arch = pgs_archive_to_schema(pol->relid, time_column, pol->archive_schema);
	arch->has_keep = pol->has_archive_keep;
	arch->keep = pol->archive_keep;
	return arch;
}

/*
 * pgs_archive_to_schema
 *		Where to archive what expires of root into schema, without
 *		archive_keep: for a table detached concurrently, whose
 *		pgscale_detached record names the schema it goes to.
 */
PgsArchive *
pgs_archive_to_schema(Oid root, const char *time_column, const char *schema)
{
	PgsArchive *arch;

	arch = palloc0(sizeof(PgsArchive));
	arch->root = root;
	arch->source_schema = get_namespace_name(get_rel_namespace(root));
	arch->source_table = get_rel_name(root);
	arch->schema = pstrdup(schema);
	arch->has_keep = false;
	arch->time_column = pstrdup(time_column);
	arch->keytype = pgs_time_column_type(root, time_column, false);
	arch->tz = pstrdup(pgs_policy_time_zone(root));
	arch->rows_table = InvalidOid;
	return arch;
}

/*
 * ensure_schema
 *		The archive schema, created (owned by the current user, the table's
 *		owner) when missing.
 */
static Oid
ensure_schema(PgsArchive *arch, Oid relid)
{
	Oid			nsp;

	require_create(GetUserId(), relid, arch->schema);
	nsp = get_namespace_oid(arch->schema, true);
	if (OidIsValid(nsp))
		return nsp;
	pgs_spi_execf("CREATE SCHEMA IF NOT EXISTS %s", quote_identifier(arch->schema));
	CommandCounterIncrement();
	return get_namespace_oid(arch->schema, false);
}

/* a bound (timestamp or timestamptz microseconds of the key) as timestamptz */
static TimestampTz
bound_as_timestamptz(int64 value, Oid keytype)
{
	if (keytype == TIMESTAMPTZOID)
		return (TimestampTz) value;
	return DatumGetTimestampTz(DirectFunctionCall1(timestamp_timestamptz,
												   TimestampGetDatum((Timestamp) value)));
}

/* the first instant of a month, in the key's representation */
static int64
month_start(PgsArchive *arch, int month)
{
	return pgs_datum_as_timestamp(pgs_month_bound(month, arch->keytype, arch->tz),
								  arch->keytype);
}

/*
 * record_piece
 *		Insert or update the catalog row of one archived piece, as the
 *		extension owner.
 */
static void
record_piece(PgsArchive *arch, const char *table, const char *kind,
			 bool have_from, int64 from, bool have_to, int64 to,
			 const char *bound_from, const char *bound_to,
			 bool have_rows, int64 rows, int64 bytes, bool add_rows)
{
	Oid			argtypes[11] = {NAMEOID, NAMEOID, NAMEOID, NAMEOID, TEXTOID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID, INT8OID};
	Datum		values[11];
	char		nulls[11];

	memset(nulls, ' ', sizeof(nulls));
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(arch->source_schema));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(arch->source_table));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(arch->schema));
	values[3] = DirectFunctionCall1(namein, CStringGetDatum(table));
	values[4] = CStringGetTextDatum(kind);
	values[5] = TimestampTzGetDatum(have_from ? bound_as_timestamptz(from, arch->keytype) : 0);
	nulls[5] = have_from ? ' ' : 'n';
	values[6] = TimestampTzGetDatum(have_to ? bound_as_timestamptz(to, arch->keytype) : 0);
	nulls[6] = have_to ? ' ' : 'n';
	values[7] = CStringGetTextDatum(bound_from);
	values[8] = CStringGetTextDatum(bound_to);
	values[9] = Int64GetDatum(rows);
	nulls[9] = have_rows ? ' ' : 'n';
	values[10] = Int64GetDatum(bytes);
	pgs_exec_as_owner(psprintf("INSERT INTO %s AS a (source_schema, source_table, archive_schema,"
							   " archive_table, kind, range_from, range_to, bound_from, bound_to,"
							   " rows, bytes)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
							   " ON CONFLICT (archive_schema, archive_table) DO UPDATE"
							   " SET rows = %s, bytes = EXCLUDED.bytes,"
							   " archived_at = pg_catalog.now()",
							   pgs_ext_table("pgscale_archive"),
							   add_rows ? "a.rows OPERATOR(pg_catalog.+) EXCLUDED.rows" : "EXCLUDED.rows"),
					  11, argtypes, values, nulls);
}

/*
 * all_columns
 *		Every column of relid that is not dropped (generated ones too: the
 *		archive keeps their values), quoted, comma-separated, in order.
 */
static char *
all_columns(Oid relid)
{
	return pgs_spi_text_oid("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname::pg_catalog.text), ', '"
							" ORDER BY a.attnum)"
							" FROM pg_catalog.pg_attribute a"
							" WHERE a.attrelid OPERATOR(pg_catalog.=) $1"
							" AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped",
							relid);
}

/*
 * ensure_rows_table
 *		<archive_schema>.<table>: the table's columns as plain columns of
 *		the same types and collations (no default, identity or generation:
 *		the archive keeps the values as they were), partitioned by month on
 *		the time column, with a default partition that catches a row whose
 *		month was not made in time.  Created by the table's owner, with the
 *		table's grants.
 */
static Oid
ensure_rows_table(PgsArchive *arch, Oid nsp)
{
	Oid			rel = get_relname_relid(arch->source_table, nsp);
	char	   *qname = quote_qualified_identifier(arch->schema, arch->source_table);
	char	   *coldefs;

	if (OidIsValid(rel))
	{
		if (get_rel_relkind(rel) != RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("relation %s exists and is not an archive of table %s",
							qname, pgs_display_name(arch->root)),
					 errdetail("Archived rows go to a table of the source table's name in the archive schema, partitioned by month."),
					 errhint("Rename or drop that relation, or choose another archive_schema.")));
		return rel;
	}

	coldefs = pgs_spi_text_oid("SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname::pg_catalog.text)"
							   " OPERATOR(pg_catalog.||) ' '"
							   " OPERATOR(pg_catalog.||) pg_catalog.format_type(a.atttypid, a.atttypmod)"
							   " OPERATOR(pg_catalog.||) CASE WHEN a.attcollation OPERATOR(pg_catalog.<>) 0"
							   " AND a.attcollation OPERATOR(pg_catalog.<>) t.typcollation"
							   " THEN ' COLLATE ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(cn.nspname::pg_catalog.text)"
							   " OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(co.collname::pg_catalog.text)"
							   " ELSE '' END, ', ' ORDER BY a.attnum)"
							   " FROM pg_catalog.pg_attribute a"
							   " JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid"
							   " LEFT JOIN pg_catalog.pg_collation co ON co.oid OPERATOR(pg_catalog.=) a.attcollation"
							   " LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) co.collnamespace"
							   " WHERE a.attrelid OPERATOR(pg_catalog.=) $1"
							   " AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped",
							   arch->root);
	pgs_spi_execf("CREATE TABLE %s (%s) PARTITION BY RANGE (%s)", qname, coldefs,
				  quote_identifier(arch->time_column));
	pgs_spi_execf("COMMENT ON TABLE %s IS %s", qname,
				  quote_literal_cstr(psprintf("rows archived by pgscale from %s",
											  pgs_display_name(arch->root))));
	pgs_spi_execf("CREATE TABLE %s PARTITION OF %s DEFAULT",
				  quote_qualified_identifier(arch->schema,
											 archive_name(arch->source_table, "_rows_default", 1)),
				  qname);
	CommandCounterIncrement();
	rel = get_relname_relid(arch->source_table, nsp);
	pgs_copy_grants(arch->root, rel, "TABLE");
	return rel;
}

/* name of the month partition of the archive of rows */
static char *
rows_month_name(PgsArchive *arch, int month)
{
	return archive_name(arch->source_table,
						psprintf("_rows_%s", pgs_month_label(month)), 1);
}

/*
 * pgs_archive_rows_target
 *		Before the expired rows of relid (the policy's table or one of its
 *		partitions) are moved: the archive table of rows, with a partition
 *		for every month from the oldest expired row's to the cutoff's.
 *		Returns its quoted name, and in *columns the columns to move.
 *		Runs in the trim's first step, as the table's owner.
 */
char *
pgs_archive_rows_target(PgsArchive *arch, Oid relid, Oid cutoff_type,
						Datum cutoff, char **columns)
{
	Oid			nsp = ensure_schema(arch, relid);
	Oid			argtypes[1] = {cutoff_type};
	Datum		values[1] = {cutoff};
	char	   *qcol = pstrdup(quote_identifier(arch->time_column));
	char	   *qrows;
	int			ret;
	int			month;

	arch->rows_table = ensure_rows_table(arch, nsp);
	qrows = quote_qualified_identifier(arch->schema, arch->source_table);

	/* the months the expired rows lie in */
	ret = SPI_execute_with_args(psprintf("SELECT pg_catalog.min(%s) FROM %s%s"
										 " WHERE %s OPERATOR(pg_catalog.<) $1",
										 qcol,
										 get_rel_relkind(relid) == RELKIND_RELATION ? "ONLY " : "",
										 pgs_qualified_name(relid), qcol),
								1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read %s: %s", pgs_display_name(relid),
			 SPI_result_code_string(ret));
	arch->last_month = pgs_month_of_value(cutoff, cutoff_type, arch->tz);
	arch->first_month = arch->last_month + 1;
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		oldest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull);

		if (!isnull)
			arch->first_month = pgs_month_of_value(oldest, arch->keytype, arch->tz);
	}

	for (month = arch->first_month; month <= arch->last_month; month++)
	{
		char	   *name = rows_month_name(arch, month);

		if (OidIsValid(get_relname_relid(name, nsp)))
			continue;
		pgs_spi_execf("CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s)",
					  quote_qualified_identifier(arch->schema, name), qrows,
					  pgs_month_literal(month, arch->keytype, arch->tz),
					  pgs_month_literal(month + 1, arch->keytype, arch->tz));
		CommandCounterIncrement();
		pgs_copy_grants(arch->root, get_relname_relid(name, nsp), "TABLE");
	}

	*columns = all_columns(arch->root);
	return qrows;
}

/* The months' sizes, measured as the table's owner. */
typedef struct MonthsStep
{
	PgsArchive *arch;
	int			n;
	char	  **names;
	int64	   *rows;
	int64	   *bytes;
} MonthsStep;

static void
measure_months_step(void *arg)
{
	MonthsStep *step = (MonthsStep *) arg;
	PgsArchive *arch = step->arch;
	Oid			nsp = get_namespace_oid(arch->schema, false);
	int			month;

	step->n = 0;
	for (month = arch->first_month; month <= arch->last_month; month++)
	{
		char	   *name = rows_month_name(arch, month);
		Oid			rel = get_relname_relid(name, nsp);

		if (!OidIsValid(rel))
			continue;
		step->names[step->n] = name;
		step->rows[step->n] = pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM %s",
													pgs_qualified_name(rel)),
										   0, NULL, NULL, NULL, false);
		step->bytes[step->n] = pgs_spi_int8_oid("SELECT pg_catalog.pg_total_relation_size($1)", rel);
		step->n++;
	}
}

/*
 * pgs_archive_rows_done
 *		After a trim moved rows: record the months it wrote to (their rows
 *		and size now) in pgscale_archive.
 */
void
pgs_archive_rows_done(PgsArchive *arch)
{
	MonthsStep	step;
	ErrorData  *edata = NULL;
	int			nmonths = arch->last_month - arch->first_month + 1;
	int			i;

	if (!OidIsValid(arch->rows_table) || nmonths <= 0)
		return;
	step.arch = arch;
	step.names = palloc(sizeof(char *) * nmonths);
	step.rows = palloc(sizeof(int64) * nmonths);
	step.bytes = palloc(sizeof(int64) * nmonths);
	if (!pgs_run_guarded_as(arch->root, measure_months_step, &step, &edata))
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("pgscale could not record the archived rows of %s: %s",
						pgs_display_name(arch->root), edata->message),
				 errhint("The rows are archived; the next run records them.")));
		return;
	}
	for (i = 0; i < step.n; i++)
	{
		int			month = arch->first_month;

		/* the month of each name, again */
		while (strcmp(rows_month_name(arch, month), step.names[i]) != 0)
			month++;
		if (step.rows[i] == 0)
			continue;
		record_piece(arch, step.names[i], "rows",
					 true, month_start(arch, month), true, month_start(arch, month + 1),
					 pgs_bound_literal(pgs_month_bound(month, arch->keytype, arch->tz), arch->keytype),
					 pgs_bound_literal(pgs_month_bound(month + 1, arch->keytype, arch->tz), arch->keytype),
					 true, step.rows[i], step.bytes[i], false);
	}
	arch->rows_table = InvalidOid;
}

/*
 * pgs_archive_partition
 *		An expired partition, already detached from its former parent (a
 *		plain table now): move it into the archive schema under the name
 *		<table>_YYYY_MM (its first month; clipped to NAMEDATALEN and made
 *		unique), with its indexes, owner and grants, and record it.  Runs
 *		as the table's owner, in the step that detached it under ACCESS
 *		EXCLUSIVE, or at the end of the table's run for one detached
 *		concurrently (retention_parts.c), with the bounds its
 *		pgscale_detached record kept.
 */
void
pgs_archive_partition(Oid child, Oid parent, PgsArchive *arch,
					  const PgsPartBounds *bounds)
{
	Oid			nsp = ensure_schema(arch, child);
	Oid			srcnsp = get_rel_namespace(child);
	char	   *srcschema = get_namespace_name(srcnsp);
	bool		foreign = get_rel_relkind(child) == RELKIND_FOREIGN_TABLE;
	char	   *suffix;
	char	   *name;
	int			n;
	float4		reltuples = pgs_estimated_rows(child);
	int64		bytes;
	char	   *lo_literal;
	char	   *hi_literal;

	if (bounds->lo_unbounded)
	{
		suffix = psprintf("_before_%s",
						  pgs_month_label(pgs_month_of_value(pgs_timestamp_as_datum(bounds->hi, arch->keytype),
															 arch->keytype, arch->tz)));
		lo_literal = pstrdup("MINVALUE");
	}
	else
	{
		suffix = psprintf("_%s",
						  pgs_month_label(pgs_month_of_value(pgs_timestamp_as_datum(bounds->lo, arch->keytype),
															 arch->keytype, arch->tz)));
		lo_literal = pgs_bound_literal(pgs_timestamp_as_datum(bounds->lo, arch->keytype),
									   arch->keytype);
	}
	hi_literal = pgs_bound_literal(pgs_timestamp_as_datum(bounds->hi, arch->keytype),
								   arch->keytype);

	/* a name free in both schemas: it is renamed first, then moved */
	for (n = 1;; n++)
	{
		name = archive_name(arch->source_table, suffix, n);
		if (strcmp(name, get_rel_name(child)) == 0 && !name_taken(name, nsp))
			break;
		if (!name_taken(name, nsp) && !name_taken(name, srcnsp))
			break;
	}
	if (strcmp(name, get_rel_name(child)) != 0)
		pgs_spi_execf("ALTER %s %s RENAME TO %s", foreign ? "FOREIGN TABLE" : "TABLE",
					  pgs_qualified_name(child), quote_identifier(name));
	pgs_spi_execf("ALTER %s %s SET SCHEMA %s", foreign ? "FOREIGN TABLE" : "TABLE",
				  quote_qualified_identifier(srcschema, name),
				  quote_identifier(arch->schema));
	CommandCounterIncrement();
	bytes = foreign ? 0 :
		pgs_spi_int8_oid("SELECT pg_catalog.pg_total_relation_size($1)", child);

	record_piece(arch, name, "partition",
				 !bounds->lo_unbounded, bounds->lo, true, bounds->hi,
				 lo_literal, hi_literal, reltuples >= 0, (int64) reltuples, bytes,
				 false);
	(void) parent;
}

/* forget one archived piece, as the extension owner */
static void
forget_piece(const char *schema, const char *table)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(schema), CStringGetTextDatum(table)};

	pgs_exec_as_owner(psprintf("DELETE FROM %s WHERE archive_schema OPERATOR(pg_catalog.=) $1::pg_catalog.name"
							   " AND archive_table OPERATOR(pg_catalog.=) $2::pg_catalog.name",
							   pgs_ext_table("pgscale_archive")),
					  2, argtypes, values, NULL);
}

/* ---------- archive_keep ---------- */

/* One archived piece to drop. */
typedef struct ExpireStep
{
	Oid			relid;
	bool		gone;
} ExpireStep;

static void
expire_step(void *arg)
{
	ExpireStep *step = (ExpireStep *) arg;
	char		relkind = get_rel_relkind(step->relid);

	if (relkind == '\0')
	{
		step->gone = true;
		return;
	}
	pgs_spi_execf("DROP %s %s", relkind == RELKIND_FOREIGN_TABLE ? "FOREIGN TABLE" : "TABLE",
				  pgs_qualified_name(step->relid));
}

/*
 * expire_archive
 *		Drop the archived pieces of the table whose range ends before now -
 *		archive_keep (whole archived partitions, months of archived rows),
 *		and forget them; in a dry run, only say how many there are.
 */
static void
expire_archive(PgsArchive *arch, bool dry_run)
{
	Oid			argtypes[3] = {NAMEOID, NAMEOID, INTERVALOID};
	Datum		values[3];
	int			ret;
	uint64		i;
	uint64		n;
	char	  **schemas;
	char	  **tables;
	int			dropped = 0;

	if (!arch->has_keep)
		return;
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(arch->source_schema));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(arch->source_table));
	values[2] = IntervalPGetDatum(&arch->keep);
	ret = SPI_execute_with_args(psprintf("SELECT archive_schema::pg_catalog.text,"
										 " archive_table::pg_catalog.text"
										 " FROM %s WHERE source_schema OPERATOR(pg_catalog.=) $1"
										 " AND source_table OPERATOR(pg_catalog.=) $2"
										 " AND range_to OPERATOR(pg_catalog.<=)"
										 " (pg_catalog.now() OPERATOR(pg_catalog.-) $3)"
										 " ORDER BY range_to, archive_table",
										 pgs_ext_table("pgscale_archive")),
								3, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pgscale_archive: %s", SPI_result_code_string(ret));
	n = SPI_processed;
	if (n == 0)
		return;
	if (dry_run)
	{
		ereport(NOTICE,
				(errmsg("cleanup would drop " UINT64_FORMAT " archived pieces of %s older than archive_keep",
						n, pgs_display_name(arch->root))));
		return;
	}
	schemas = palloc(sizeof(char *) * n);
	tables = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		schemas[i] = pgs_get_text(i, 1);
		tables[i] = pgs_get_text(i, 2);
	}
	for (i = 0; i < n; i++)
	{
		Oid			nsp = get_namespace_oid(schemas[i], true);
		ExpireStep	step;
		ErrorData  *edata = NULL;
		TimestampTz started = GetCurrentTimestamp();

		step.relid = OidIsValid(nsp) ? get_relname_relid(tables[i], nsp) : InvalidOid;
		step.gone = !OidIsValid(step.relid);
		if (!step.gone && !pgs_run_guarded_as(step.relid, expire_step, &step, &edata))
		{
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("pgscale could not drop archived table %s: %s",
							quote_qualified_identifier(schemas[i], tables[i]), edata->message),
					 errhint("The next run tries again.")));
			pgs_log_action(arch->root, "error", quote_qualified_identifier(schemas[i], tables[i]),
						   0, false, started,
						   psprintf("drop archived table: %s", edata->message));
			continue;
		}
		forget_piece(schemas[i], tables[i]);
		if (!step.gone)
		{
			dropped++;
			pgs_log_action(arch->root, "drop_partition",
						   quote_qualified_identifier(schemas[i], tables[i]), 0, false,
						   started, "archived data older than archive_keep");
		}
	}
	(void) dropped;
}

/*
 * pgs_archive_finish
 *		At the end of a run of a policy with action 'archive': say what a
 *		dry run would archive, and drop what archive_keep expires.
 */
void
pgs_archive_finish(PgsArchive *arch, bool dry_run, int partitions, int64 rows)
{
	if (dry_run && (partitions > 0 || rows > 0))
		ereport(NOTICE,
				(errmsg("cleanup would archive %d partitions and " INT64_FORMAT " rows of %s into schema \"%s\"",
						partitions, rows, pgs_display_name(arch->root), arch->schema)));
	expire_archive(arch, dry_run);
}

/* ---------- restore ---------- */

typedef struct RestoreStep
{
	Oid			relid;			/* the table restored into */
	Oid			archived;		/* the archived table */
	const char *time_column;
	const char *bound_from;
	const char *bound_to;
	Oid			keytype;
	TimestampTz from;
	TimestampTz to;
	int			batch_size;
	const char *columns;		/* stored columns of relid */
	int64		rows;
} RestoreStep;

/*
 * reattach_step
 *		Put an archived partition back: into the parent's schema, a CHECK
 *		constraint of its bounds added NOT VALID and validated (which
 *		locks only the archived table), so that ATTACH PARTITION finds the
 *		bounds proven and does not scan it under the parent's lock, then
 *		the constraint dropped again.
 */
static void
reattach_step(void *arg)
{
	RestoreStep *step = (RestoreStep *) arg;
	char	   *schema = get_namespace_name(get_rel_namespace(step->relid));
	char	   *qcol = pstrdup(quote_identifier(step->time_column));
	char	   *type = format_type_be_qualified(step->keytype);
	char	   *qname;
	char	   *cond;
	const char *con = "pgscale_restore_bound";

	pgs_spi_execf("ALTER TABLE %s SET SCHEMA %s", pgs_qualified_name(step->archived),
				  quote_identifier(schema));
	CommandCounterIncrement();
	qname = pgs_qualified_name(step->archived);
	if (strcmp(step->bound_from, "MINVALUE") == 0)
		cond = psprintf("%s IS NOT NULL AND %s OPERATOR(pg_catalog.<) %s::%s",
						qcol, qcol, step->bound_to, type);
	else
		cond = psprintf("%s IS NOT NULL AND %s OPERATOR(pg_catalog.>=) %s::%s"
						" AND %s OPERATOR(pg_catalog.<) %s::%s",
						qcol, qcol, step->bound_from, type, qcol, step->bound_to, type);
	pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", qname, con, cond);
	pgs_spi_execf("ALTER TABLE %s VALIDATE CONSTRAINT %s", qname, con);
	pgs_spi_execf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)",
				  pgs_qualified_name(step->relid), qname, step->bound_from, step->bound_to);
	pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qname, con);
	step->rows = (int64) Max(pgs_estimated_rows(step->archived), 0);
}

/*
 * move_back_step
 *		One batch of archived rows of [from, to) back into the table, in
 *		one statement (DELETE ... RETURNING into INSERT), as the table's
 *		owner.  Identity columns keep their archived values.
 */
static void
move_back_step(void *arg)
{
	RestoreStep *step = (RestoreStep *) arg;
	char	   *qcol = pstrdup(quote_identifier(step->time_column));
	char	   *qarch = pgs_qualified_name(step->archived);
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
	Datum		values[3] = {TimestampTzGetDatum(step->from), TimestampTzGetDatum(step->to),
	Int32GetDatum(step->batch_size)};
	int			ret;

	ret = SPI_execute_with_args(psprintf("WITH pgscale_moved AS ("
										 "DELETE FROM ONLY %s WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
										 "SELECT ctid FROM ONLY %s"
										 " WHERE %s OPERATOR(pg_catalog.>=) $1 AND %s OPERATOR(pg_catalog.<) $2"
										 " LIMIT $3 FOR UPDATE))"
										 " AND %s OPERATOR(pg_catalog.>=) $1 AND %s OPERATOR(pg_catalog.<) $2"
										 " RETURNING %s)"
										 " INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE"
										 " SELECT %s FROM pgscale_moved",
										 qarch, qarch, qcol, qcol, qcol, qcol, step->columns,
										 pgs_qualified_name(step->relid), step->columns,
										 step->columns),
								3, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "moving rows back from %s failed: %s", qarch,
			 SPI_result_code_string(ret));
	step->rows = (int64) SPI_processed;
}

/* the rows left in an archived month, as its owner */
static void
count_step(void *arg)
{
	RestoreStep *step = (RestoreStep *) arg;

	step->rows = pgs_spi_int8(psprintf("SELECT pg_catalog.count(*) FROM %s",
									   pgs_qualified_name(step->archived)),
							  0, NULL, NULL, NULL, false);
}

/*
 * refuse_outside_retention
 *		Restored data the next run would remove again is refused: the
 *		range must start at or after the table's cutoff.
 */
static void
refuse_outside_retention(Oid relid, TimestampTz from)
{
	PgsPolicy  *pol = pgs_find_policy(relid);
	TimestampTz cutoff;

	if (pol == NULL || !pol->has_retention || pol->is_protected)
		return;
	cutoff = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
													 IntervalPGetDatum(&pol->retention)));
	if (from < cutoff)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the range to restore into %s starts before its retention cutoff",
						pgs_display_name(relid)),
				 errdetail("Rows older than the retention of %s expire: the next cleanup would remove the restored data again.",
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(&pol->retention)))),
				 errhint("Lengthen the retention with pgscale_set_retention() or remove the policy with pgscale_remove_policy() first, or restore a later range.")));
}

/*
 * pgscale_restore_archive(relation regclass, from_date timestamptz,
 *						   to_date timestamptz, batch_size integer)
 *		Put the archived data of [from_date, to_date) back into the table:
 *		each archived partition whose range lies inside is attached again
 *		(without a scan under the parent's lock), then the archived rows of
 *		the range are moved back, batch_size at a time (one transaction:
 *		this is a function).  A partition only partly inside the range is
 *		left archived, with a notice.  One row per archived piece touched.
 */
Datum
pgscale_restore_archive(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	TimestampTz from;
	TimestampTz to;
	int			batch_size;
	char	   *srcschema;
	char	   *srctable;
	const char *timecol;
	PgsPolicy  *pol;
	Oid			argtypes[4] = {NAMEOID, NAMEOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[4];
	int			ret;
	uint64		n;
	uint64		i;
	struct Piece
	{
		char	   *schema;
		char	   *table;
		bool		partition;
		bool		inside;
		char	   *bound_from;
		char	   *bound_to;
	}		   *pieces;
	char	   *columns;
	Oid			keytype;

	pgs_require_arg(fcinfo, 0, "relation", NULL);
	pgs_require_arg(fcinfo, 1, "from_date", NULL);
	pgs_require_arg(fcinfo, 2, "to_date", NULL);
	relid = PG_GETARG_OID(0);
	from = PG_GETARG_TIMESTAMPTZ(1);
	to = PG_GETARG_TIMESTAMPTZ(2);
	batch_size = PG_ARGISNULL(3) ? 10000 : PG_GETARG_INT32(3);
	if (from >= to)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_date must be before to_date"),
				 errhint("Give the range to restore as [from_date, to_date).")));
	if (batch_size <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be positive"),
				 errhint("It is how many rows one statement moves back; the default is 10000.")));
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		pgs_no_such_relation(relid);
	if (!pgs_owns(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to restore its archive",
						pgs_display_name(relid)),
				 errhint("Run it as the table's owner or as a member of the owning role.")));

	pgs_init_materialized_srf(fcinfo);
	SPI_connect();

	pol = pgs_find_policy(relid);
	timecol = pol != NULL && pol->time_column != NULL ? pgs_policy_time_column(pol) :
		pgs_range_partition_column(relid);
	if (timecol == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s has no time column pgscale knows of", pgs_display_name(relid)),
				 errhint("Set its retention with pgscale_set_retention() first.")));
	keytype = pgs_time_column_type(relid, timecol, false);
	refuse_outside_retention(relid, from);

	srcschema = get_namespace_name(get_rel_namespace(relid));
	srctable = get_rel_name(relid);
	values[0] = DirectFunctionCall1(namein, CStringGetDatum(srcschema));
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(srctable));
	values[2] = TimestampTzGetDatum(from);
	values[3] = TimestampTzGetDatum(to);
	ret = SPI_execute_with_args(psprintf("SELECT archive_schema::pg_catalog.text,"
										 " archive_table::pg_catalog.text,"
										 " kind OPERATOR(pg_catalog.=) 'partition',"
										 " (range_from IS NOT NULL AND range_from OPERATOR(pg_catalog.>=) $3"
										 " AND range_to OPERATOR(pg_catalog.<=) $4),"
										 " bound_from, bound_to"
										 " FROM %s WHERE source_schema OPERATOR(pg_catalog.=) $1"
										 " AND source_table OPERATOR(pg_catalog.=) $2"
										 " AND (range_from IS NULL OR range_from OPERATOR(pg_catalog.<) $4)"
										 " AND range_to OPERATOR(pg_catalog.>) $3"
										 " ORDER BY kind OPERATOR(pg_catalog.=) 'rows', range_from, archive_table",
										 pgs_ext_table("pgscale_archive")),
								4, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pgscale_archive: %s", SPI_result_code_string(ret));
	n = SPI_processed;
	pieces = palloc0(sizeof(struct Piece) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		pieces[i].schema = pgs_get_text(i, 1);
		pieces[i].table = pgs_get_text(i, 2);
		pieces[i].partition = pgs_get_bool(i, 3);
		pieces[i].inside = pgs_get_bool(i, 4);
		pieces[i].bound_from = pgs_get_text(i, 5);
		pieces[i].bound_to = pgs_get_text(i, 6);
	}
	columns = pgs_column_list(relid);

	for (i = 0; i < n; i++)
	{
		struct Piece *p = &pieces[i];
		Oid			nsp = get_namespace_oid(p->schema, true);
		RestoreStep step;
		ErrorData  *edata = NULL;
		TimestampTz started = GetCurrentTimestamp();
		char	   *qname = quote_qualified_identifier(p->schema, p->table);
		Oid			idarg[3] = {TEXTOID, TEXTOID, INT8OID};
		Datum		idval[3];
		Datum		out[4];
		bool		outnull[4] = {false, false, false, false};
		int64		moved = 0;
		char	   *detail;

		memset(&step, 0, sizeof(step));
		step.relid = relid;
		step.archived = OidIsValid(nsp) ? get_relname_relid(p->table, nsp) : InvalidOid;
		step.time_column = timecol;
		step.keytype = keytype;
		step.bound_from = p->bound_from;
		step.bound_to = p->bound_to;
		step.from = from;
		step.to = to;
		step.batch_size = batch_size;
		step.columns = columns;
		idval[0] = CStringGetTextDatum(p->schema);
		idval[1] = CStringGetTextDatum(p->table);

		if (!OidIsValid(step.archived))
		{
			ereport(NOTICE,
					(errmsg("archived table %s no longer exists", qname),
					 errdetail("It was dropped or moved after it was archived; its catalog row is removed.")));
			forget_piece(p->schema, p->table);
			continue;
		}
		if (p->partition && !p->inside)
		{
			ereport(NOTICE,
					(errmsg("archived partition %s lies only partly in the range to restore; it stays archived",
							qname),
					 errhint("A whole archived partition is attached again: widen the range to cover it.")));
			continue;
		}
		if (p->partition)
		{
			if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
				ereport(ERROR,
						(errcode(ERRCODE_WRONG_OBJECT_TYPE),
						 errmsg("table %s is no longer partitioned: archived partition %s cannot be attached again",
								pgs_display_name(relid), qname),
						 errhint("Move its rows back yourself with INSERT ... SELECT.")));
			if (!pgs_run_guarded_as(relid, reattach_step, &step, &edata))
				ReThrowError(edata);
			moved = step.rows;
			detail = psprintf("archived partition attached again as %s",
							  pgs_display_name(step.archived));
			forget_piece(p->schema, p->table);
		}
		else
		{
			do
			{
				CHECK_FOR_INTERRUPTS();
				if (!pgs_run_guarded_as(relid, move_back_step, &step, &edata))
					ReThrowError(edata);
				moved += step.rows;
			} while (step.rows > 0);
			if (!pgs_run_guarded_as(step.archived, count_step, &step, &edata))
				ReThrowError(edata);
			idval[2] = Int64GetDatum(step.rows);
			pgs_exec_as_owner(psprintf("UPDATE %s SET rows = $3,"
									   " bytes = pg_catalog.pg_total_relation_size("
									   "pg_catalog.quote_ident(archive_schema::pg_catalog.text)"
									   " OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||)"
									   " pg_catalog.quote_ident(archive_table::pg_catalog.text))"
									   " WHERE archive_schema OPERATOR(pg_catalog.=) $1::pg_catalog.name"
									   " AND archive_table OPERATOR(pg_catalog.=) $2::pg_catalog.name",
									   pgs_ext_table("pgscale_archive")),
							  3, idarg, idval, NULL);
			detail = psprintf("archived rows moved back, " INT64_FORMAT " left in the archive",
							  step.rows);
		}
		pgs_log_action(relid, "restore", qname, moved, true, started, detail);
		out[0] = CStringGetTextDatum(qname);
		out[1] = CStringGetTextDatum(p->partition ? "partition" : "rows");
		out[2] = Int64GetDatum(moved);
		out[3] = CStringGetTextDatum(detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, outnull);
	}

	SPI_finish();
	return (Datum) 0;
}
