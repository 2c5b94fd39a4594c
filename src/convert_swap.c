/*-------------------------------------------------------------------------
 *
 * convert_swap.c
 *	  Step 5 of pgscale_partition_table, the swap: one transaction under
 *	  ACCESS EXCLUSIVE, catalog work only, in which the table becomes the
 *	  legacy partition of a partitioned table of its name (see
 *	  convert.c); and the move, just before it, of the rows dated beyond
 *	  the premake horizon into the default partition.
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
#include "clone.h"
#include "month.h"

/* ---------- step 5: the swap ---------- */

/* An identity or serial column and its sequence. */
typedef struct CvSequence
{
	char	   *column;
	bool		identity;
	char	   *seqname;		/* qualified, quoted */
	char	   *seqrelname;		/* bare name */
	Oid			seqoid;
} CvSequence;

static List *
read_sequences(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *result = NIL;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *seq;
		Oid			seqoid;

		if (att->attisdropped)
			continue;
		/* the table name is parsed, the column name taken literally */
		seq = pgs_spi_text_oid(psprintf("SELECT pg_catalog.pg_get_serial_sequence(%s, %s)",
								  quote_literal_cstr(pgs_qualified_name(relid)),
								  quote_literal_cstr(NameStr(att->attname))),
						 InvalidOid);
		if (seq == NULL)
			continue;
		seqoid = DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(seq)));
		{
			CvSequence *s = palloc0(sizeof(CvSequence));

			s->column = pstrdup(NameStr(att->attname));
			s->identity = att->attidentity != '\0';
			s->seqoid = seqoid;
			s->seqname = pgs_qualified_name(seqoid);
			s->seqrelname = get_rel_name(seqoid);
			result = lappend(result, s);
		}
	}
	table_close(rel, AccessShareLock);
	return result;
}

List *
cv_read_constraints(Oid relid, char contype, const char *skip_prefix)
{
	Oid			argtypes[2] = {OIDOID, CHAROID};
	Datum		values[2] = {ObjectIdGetDatum(relid), CharGetDatum(contype)};
	List	   *result = NIL;
	int			ret;
	uint64		i;

	ret = SPI_execute_with_args("SELECT oid, conname::pg_catalog.text,"
								" pg_catalog.pg_get_constraintdef(oid)"
								" FROM pg_catalog.pg_constraint"
								" WHERE conrelid OPERATOR(pg_catalog.=) $1"
								" AND contype OPERATOR(pg_catalog.=) $2 ORDER BY conname",
								2, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the constraints of %s", pgs_display_name(relid));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		CvConstraint *c = palloc0(sizeof(CvConstraint));
		bool		isnull;

		c->oid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		c->name = SPI_getvalue(tup, desc, 2);
		c->contype = contype;
		c->def = SPI_getvalue(tup, desc, 3);
		if (skip_prefix && strncmp(c->name, skip_prefix, strlen(skip_prefix)) == 0)
			continue;
		result = lappend(result, c);
	}
	for (i = 0; i < (uint64) list_length(result); i++)
	{
		CvConstraint *c = (CvConstraint *) list_nth(result, (int) i);

		c->comment = GetComment(c->oid, ConstraintRelationId, 0);
	}
	return result;
}

/*
 * cv_far_step
 *		Move the rows dated beyond the premake horizon out of the table into
 *		a new table that the swap attaches as the default partition, then
 *		validate the bound constraint, which those rows violated.  Runs in
 *		the swap's transaction, just before it: readers see the rows in the
 *		table until the swap commits, and in the default partition after;
 *		the NOT VALID bound constraint keeps new ones out meanwhile.
 */
void
cv_far_step(void *arg)
{
	Conversion *cv = (Conversion *) arg;
	int			nest = pgs_pin_search_path();
	char	   *qrel = pgs_qualified_name(cv->relid);
	char	   *qstage = quote_qualified_identifier(get_namespace_name(cv->nsp),
													cv->default_name);
	char	   *cols = pgs_column_list(cv->relid);
	Oid			tablespace = get_rel_tablespace(cv->relid);
	List	   *checks;
	List	   *not_valid = NIL;
	ListCell   *lc;
	int			ret;

	if (OidIsValid(get_relname_relid(cv->default_name, cv->nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("cannot partition table %s: relation %s already exists",
						pgs_display_name(cv->relid), qstage),
				 errdetail("The table was not changed."),
				 errhint("Run the call again: it picks another name.")));
	pgs_spi_execf("CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING INDEXES EXCLUDING IDENTITY"
			 " EXCLUDING STATISTICS)%s%s%s",
			 qstage, qrel, pgs_storage_clause(cv->relid),
			 OidIsValid(tablespace) ? " TABLESPACE " : "",
			 OidIsValid(tablespace) ? quote_identifier(get_tablespace_name(tablespace)) : "");
	cv->default_rel = get_relname_relid(cv->default_name, cv->nsp);

	/*
	 * LIKE copies NOT VALID checks as valid ones, which the rows may
	 * violate: put them back NOT VALID after the move.  The bound
	 * constraint is the table's own, not the partitioned table's.
	 */
	checks = cv_read_constraints(cv->relid, CONSTRAINT_CHECK, NULL);
	foreach(lc, checks)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);
		bool		legacy = strncmp(c->name, LEGACY_CHECK_PREFIX,
									 strlen(LEGACY_CHECK_PREFIX)) == 0;

		if (legacy || strstr(c->def, " NOT VALID") != NULL)
			pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", qstage, quote_identifier(c->name));
		if (!legacy && strstr(c->def, " NOT VALID") != NULL)
			not_valid = lappend(not_valid, c);
	}

	ret = SPI_execute(psprintf("WITH moved AS (DELETE FROM ONLY %s WHERE %s OPERATOR(pg_catalog.>=) %s"
							   " RETURNING %s) INSERT INTO %s (%s) SELECT %s FROM moved",
							   qrel, quote_identifier(cv->timecol),
							   pgs_month_literal(cv->far, cv->keytype, cv->tz),
							   cols, qstage, cols, cols),
					  false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not move rows out of %s", pgs_display_name(cv->relid));
	cv->far_moved = (int64) SPI_processed;

	foreach(lc, not_valid)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", qstage, quote_identifier(c->name), c->def);
	}
	pgs_spi_execf("ALTER TABLE %s VALIDATE CONSTRAINT %s", qrel, quote_identifier(cv->check_name));
	pgs_unpin_settings(nest);
}

/*
 * What the phases of the swap share: the conversion, the names, and what
 * is read before anything is renamed.
 */
typedef struct Swap
{
	Conversion *cv;
	Oid			relid;
	const char *qnsp;
	char	   *qorig;
	char	   *qlegacy;
	const char *qtime;
	List	   *indexes;		/* CvIndex, their definitions read */
	List	   *checks;			/* CvConstraint, CHECK */
	List	   *fkeys;			/* CvConstraint, FOREIGN KEY */
	List	   *sequences;		/* CvSequence */
	Oid			owner;
	Oid			tablespace;
	char		replident;
	char	   *replident_index;
	char	   *table_comment;
	Oid			parent;			/* the partitioned table, from phase 2 on */
	int64		legacy_indexes; /* how many the legacy partition has */
} Swap;

/*
 * swap_recheck
 *		Lock the table and repeat step 1's refusals: the table may have
 *		changed since.  Also make sure the legacy name is still free and
 *		the bound constraint is there, validated.
 */
static void
swap_recheck(Swap *sw)
{
	Conversion *cv = sw->cv;
	List	   *validated;
	List	   *names;
	ListCell   *lc;
	ListCell   *lv;
	bool		have_check = false;

	pgs_spi_execf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", sw->qorig);

	sw->indexes = cv_check_structure(cv, true);
	if (OidIsValid(get_relname_relid(cv->legacy_name, cv->nsp)))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("cannot partition table %s: relation %s already exists",
						pgs_display_name(sw->relid), sw->qlegacy),
				 errdetail("The table was not changed."),
				 errhint("Run the call again: it picks another name.")));
	names = cv_find_legacy_checks(sw->relid, &validated);
	forboth(lc, names, lv, validated)
		if (strcmp((char *) lfirst(lc), cv->check_name) == 0 && lfirst_int(lv))
			have_check = true;
	if (!have_check)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot partition table %s: its constraint %s is missing or not validated",
						pgs_display_name(sw->relid), quote_identifier(cv->check_name)),
				 errdetail("The table was not changed."),
				 errhint("Run the call again.")));
}

/*
 * swap_read_definitions
 *		Read everything that is recreated on the parent while the names are
 *		still the old ones: constraints, sequences, owner, tablespace,
 *		comment, replica identity, and each index's definition.
 */
static void
swap_read_definitions(Swap *sw)
{
	Oid			relid = sw->relid;
	ListCell   *lc;

	sw->checks = cv_read_constraints(relid, CONSTRAINT_CHECK, LEGACY_CHECK_PREFIX);
	sw->fkeys = cv_read_constraints(relid, CONSTRAINT_FOREIGN, NULL);
	sw->sequences = read_sequences(relid);
	sw->owner = pgs_relation_owner(relid);
	sw->tablespace = get_rel_tablespace(relid);
	sw->table_comment = GetComment(relid, RelationRelationId, 0);
	sw->replident = pgs_rel_replident(relid);
	foreach(lc, sw->indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);

		if (ix->replident)
			sw->replident_index = ix->name;
		/* the index definition names the table: read it under the old name */
		if (ix->extension && !OidIsValid(ix->conoid))
			ix->def = cv_extended_index_sql(relid, ix, sw->cv->timecol, sw->qorig,
											ix->name, false);
		else if (OidIsValid(ix->conoid))
			ix->def = pgs_spi_text_oid("SELECT pg_catalog.pg_get_constraintdef($1)", ix->conoid);
		else
			ix->def = pgs_spi_text_oid("SELECT pg_catalog.pg_get_indexdef($1)", ix->oid);
		ix->comment = GetComment(ix->oid, RelationRelationId, 0);
		if (OidIsValid(ix->conoid))
			ix->concomment = GetComment(ix->conoid, ConstraintRelationId, 0);
	}
}

/*
 * swap_rename_old
 *		Phase 1: the old table and its indexes give up their names.  A key
 *		lacking the time column gives way to its extension, which takes
 *		over its constraint and replica identity on the legacy partition.
 */
static void
swap_rename_old(Swap *sw)
{
	Conversion *cv = sw->cv;
	ListCell   *lc;

	pgs_spi_execf("ALTER TABLE %s RENAME TO %s", sw->qorig, quote_identifier(cv->legacy_name));
	foreach(lc, sw->indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);
		char	   *legacy_ixname;

		if (ix->is_extension)
			continue;
		if (ix->extension == NULL)
		{
			legacy_ixname = ChooseRelationName(ix->name, NULL, "legacy", cv->nsp, false);
			pgs_spi_execf("ALTER INDEX %s.%s RENAME TO %s", sw->qnsp, quote_identifier(ix->name),
						  quote_identifier(legacy_ixname));
			continue;
		}
		if (OidIsValid(ix->conoid))
			pgs_spi_execf("ALTER TABLE %s DROP CONSTRAINT %s", sw->qlegacy,
						  quote_identifier(get_constraint_name(ix->conoid)));
		else
			pgs_spi_execf("DROP INDEX %s.%s", sw->qnsp, quote_identifier(ix->name));
		legacy_ixname = ChooseRelationName(ix->name, NULL, "legacy", cv->nsp, false);
		pgs_spi_execf("ALTER INDEX %s.%s RENAME TO %s", sw->qnsp,
					  quote_identifier(ix->extension->name),
					  quote_identifier(legacy_ixname));
		if (OidIsValid(ix->conoid))
			pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s%s", sw->qlegacy,
						  quote_identifier(legacy_ixname),
						  ix->contype == CONSTRAINT_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
						  quote_identifier(legacy_ixname),
						  ix->deferrable ? (ix->deferred ? " DEFERRABLE INITIALLY DEFERRED" :
											" DEFERRABLE") : "");
		if (ix->replident)
			pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY USING INDEX %s", sw->qlegacy,
						  quote_identifier(legacy_ixname));
	}
}

/*
 * swap_create_parent
 *		Phase 2: the partitioned table, with the old table's columns,
 *		owner and CHECK constraints.
 */
static void
swap_create_parent(Swap *sw)
{
	Conversion *cv = sw->cv;
	ListCell   *lc;

	pgs_spi_execf("CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING INDEXES EXCLUDING CONSTRAINTS)"
				  " PARTITION BY RANGE (%s)%s%s",
				  sw->qorig, sw->qlegacy, sw->qtime,
				  OidIsValid(sw->tablespace) ? " TABLESPACE " : "",
				  OidIsValid(sw->tablespace) ? quote_identifier(get_tablespace_name(sw->tablespace)) : "");
	sw->parent = get_relname_relid(cv->relname, cv->nsp);
	cv->parent = sw->parent;
	if (sw->owner != GetUserId())
		pgs_spi_execf("ALTER TABLE %s OWNER TO %s", sw->qorig,
					  quote_identifier(GetUserNameFromId(sw->owner, false)));
	foreach(lc, sw->checks)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", sw->qorig,
					  quote_identifier(c->name), c->def);
	}
}

/*
 * swap_move_sequences
 *		Phase 3: an identity continues in the parent's own sequence, from
 *		where the old one stood; a serial's sequence changes owner.
 */
static void
swap_move_sequences(Swap *sw)
{
	ListCell   *lc;

	foreach(lc, sw->sequences)
	{
		CvSequence *s = (CvSequence *) lfirst(lc);
		char	   *state;
		char	   *newseq;
		Oid			newseqoid;

		if (!s->identity)
		{
			pgs_spi_execf("ALTER SEQUENCE %s OWNED BY %s.%s", s->seqname, sw->qorig,
						  quote_identifier(s->column));
			continue;
		}
		state = pgs_spi_text_oid(psprintf("SELECT pg_catalog.format('%%s, %%s', last_value,"
										  " CASE WHEN is_called THEN 'true' ELSE 'false' END)"
										  " FROM %s", s->seqname), InvalidOid);
		pgs_spi_execf("ALTER TABLE %s ALTER COLUMN %s DROP IDENTITY", sw->qlegacy,
					  quote_identifier(s->column));
		newseq = pgs_spi_text_oid(psprintf("SELECT pg_catalog.pg_get_serial_sequence(%s, %s)",
										   quote_literal_cstr(sw->qorig),
										   quote_literal_cstr(s->column)),
								  InvalidOid);
		newseqoid = DatumGetObjectId(DirectFunctionCall1(regclassin,
														 CStringGetDatum(newseq)));
		pgs_spi_execf("SELECT pg_catalog.setval(%s::pg_catalog.regclass, %s)",
					  quote_literal_cstr(newseq), state);
		pgs_spi_execf("ALTER SEQUENCE %s RENAME TO %s", newseq,
					  quote_identifier(s->seqrelname));
		pgs_copy_grants(s->seqoid, newseqoid, "SEQUENCE");
	}
}

/*
 * swap_attach_legacy
 *		Phase 4: the old table becomes the legacy partition, without a
 *		scan (its validated CHECK constraint proves the range).
 */
static void
swap_attach_legacy(Swap *sw)
{
	Conversion *cv = sw->cv;

	pgs_spi_execf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (MINVALUE) TO (%s)",
				  sw->qorig, sw->qlegacy, pgs_month_literal(cv->bound, cv->keytype, cv->tz));
	sw->legacy_indexes = pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_index"
										  " WHERE indrelid OPERATOR(pg_catalog.=) $1", sw->relid);
}

/*
 * swap_adopt_indexes
 *		Phase 5: the parent's keys and indexes, under their old names; each
 *		adopts the legacy partition's equivalent index instead of building
 *		one.  Rolls the swap back if any index was built.
 */
static void
swap_adopt_indexes(Swap *sw)
{
	Oid			relid = sw->relid;
	ListCell   *lc;

	foreach(lc, sw->indexes)
	{
		CvIndex    *ix = (CvIndex *) lfirst(lc);

		if (ix->is_extension)
			continue;
		if (ix->extension)
		{
			if (OidIsValid(ix->conoid))
				pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s %s%s", sw->qorig,
							  quote_identifier(ix->name),
							  ix->contype == CONSTRAINT_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
							  cv_extended_columns(relid, ix, sw->cv->timecol),
							  ix->deferrable ? (ix->deferred ? " DEFERRABLE INITIALLY DEFERRED" :
												" DEFERRABLE") : "");
			else
				pgs_spi_execf("%s", ix->def);
		}
		else if (OidIsValid(ix->conoid))
			pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", sw->qorig,
						  quote_identifier(ix->name), ix->def);
		else
			pgs_spi_execf("%s", ix->def);	/* CREATE INDEX <name> ON <table> ... */
		if (ix->comment)
			pgs_spi_execf("COMMENT ON INDEX %s.%s IS %s", sw->qnsp, quote_identifier(ix->name),
						  quote_literal_cstr(ix->comment));
		if (ix->concomment)
			pgs_spi_execf("COMMENT ON CONSTRAINT %s ON %s IS %s", quote_identifier(ix->name),
						  sw->qorig, quote_literal_cstr(ix->concomment));
	}
	if (pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_index"
						 " WHERE indrelid OPERATOR(pg_catalog.=) $1", relid) != sw->legacy_indexes ||
		pgs_spi_int8_oid("SELECT pg_catalog.count(*) FROM pg_catalog.pg_index i"
						 " WHERE i.indrelid OPERATOR(pg_catalog.=) $1 AND NOT EXISTS ("
						 " SELECT 1 FROM pg_catalog.pg_inherits h"
						 " WHERE h.inhrelid OPERATOR(pg_catalog.=) i.indexrelid)", relid) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("an index of %s was not adopted by the partitioned table",
						pgs_display_name(relid)),
				 errdetail("The conversion was rolled back rather than build an index under an exclusive lock."),
				 errhint("Report this to the pgscale developers with the table's definition.")));
}

/*
 * swap_foreign_keys
 *		Phase 6: the foreign keys, adopted from the legacy partition rather
 *		than validated again, and the comments of every constraint.
 */
static void
swap_foreign_keys(Swap *sw)
{
	ListCell   *lc;

	foreach(lc, sw->fkeys)
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		pgs_spi_execf("ALTER TABLE %s ADD CONSTRAINT %s %s", sw->qorig,
					  quote_identifier(c->name), c->def);
	}
	foreach(lc, list_concat(list_copy(sw->checks), sw->fkeys))
	{
		CvConstraint *c = (CvConstraint *) lfirst(lc);

		if (c->comment)
			pgs_spi_execf("COMMENT ON CONSTRAINT %s ON %s IS %s", quote_identifier(c->name),
						  sw->qorig, quote_literal_cstr(c->comment));
	}
}

/*
 * swap_identity_grants_comment
 *		Phase 7: the replica identity, the grants and the comment of the
 *		old table, on the parent.
 */
static void
swap_identity_grants_comment(Swap *sw)
{
	if (sw->replident == REPLICA_IDENTITY_FULL)
		pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY FULL", sw->qorig);
	else if (sw->replident == REPLICA_IDENTITY_NOTHING)
		pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY NOTHING", sw->qorig);
	else if (sw->replident == REPLICA_IDENTITY_INDEX && sw->replident_index)
		pgs_spi_execf("ALTER TABLE %s REPLICA IDENTITY USING INDEX %s", sw->qorig,
					  quote_identifier(sw->replident_index));
	pgs_copy_grants(sw->relid, sw->parent, "TABLE");
	if (sw->table_comment)
		pgs_spi_execf("COMMENT ON TABLE %s IS %s", sw->qorig,
					  quote_literal_cstr(sw->table_comment));
}

/*
 * swap_move_policy
 *		Phase 8: the table's pgscale policy follows its name to the parent.
 */
static void
swap_move_policy(Swap *sw)
{
	Oid			argtypes[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(sw->parent);
	values[1] = ObjectIdGetDatum(sw->relid);
	(void) pgs_exec_as_owner(psprintf("UPDATE %s SET table_name = $1, updated_at = pg_catalog.now()"
									  " WHERE table_name OPERATOR(pg_catalog.=) $2",
									  pgs_ext_table("pgscale_policy")),
							 2, argtypes, values, NULL);
}

/*
 * swap_premake
 *		Phase 9: the months after the bound, premade in this same
 *		transaction.
 */
static void
swap_premake(Swap *sw)
{
	Conversion *cv = sw->cv;
	int			first;
	int			last;
	List	   *created;
	ListCell   *lc;

	pgs_premake_range(sw->parent, cv->keytype, cv->tz, cv->months_ahead, true,
					  pgs_first_day_of(cv->bound), &first, &last);
	created = pgs_create_month_partitions(sw->parent, first, last, cv->timecol,
										  cv->keytype, cv->tz, false);
	cv->premade = 0;
	foreach(lc, created)
	{
		PgsNewPartition *np = (PgsNewPartition *) lfirst(lc);

		if (OidIsValid(np->relid))
			cv->premade++;
	}
}

/*
 * swap_attach_default
 *		Phase 10: the rows beyond the premake horizon, moved out by
 *		cv_far_step, become the default partition; and the parent's
 *		partitioning is recorded in its policy.
 */
static void
swap_attach_default(Swap *sw)
{
	Conversion *cv = sw->cv;
	PgsPolicy  *pol;

	if (OidIsValid(cv->default_rel))
	{
		pgs_spi_execf("ALTER TABLE %s ATTACH PARTITION %s DEFAULT", sw->qorig,
					  pgs_qualified_name(cv->default_rel));
		pgs_copy_grants(sw->parent, cv->default_rel, "TABLE");
		pgs_copy_replica_identity(sw->parent, sw->relid, cv->default_rel);
	}
	pol = pgs_find_policy(sw->parent);
	pgs_spi_execf("SELECT %s.pgscale_set_partitioning(%u::pg_catalog.regclass, %d, %s)",
				  quote_identifier(get_namespace_name(pgs_extension_schema())),
				  sw->parent, cv->months_ahead,
				  pol != NULL && pol->time_zone != NULL ?
				  quote_literal_cstr(pol->time_zone) : "NULL");
}

/*
 * cv_swap_step
 *		Step 5, one transaction under ACCESS EXCLUSIVE: see the header of
 *		convert.c.  Every statement here works on catalogs only; phase 5
 *		checks that no index had to be built.
 */
void
cv_swap_step(void *arg)
{
	SwapStep   *step = (SwapStep *) arg;
	Conversion *cv = step->cv;
	int			nest = pgs_pin_search_path();
	Swap		sw;

	memset(&sw, 0, sizeof(sw));
	sw.cv = cv;
	sw.relid = cv->relid;
	sw.qnsp = quote_identifier(get_namespace_name(cv->nsp));
	sw.qorig = pgs_qualified_name(cv->relid);
	sw.qlegacy = quote_qualified_identifier(get_namespace_name(cv->nsp), cv->legacy_name);
	sw.qtime = quote_identifier(cv->timecol);

	swap_recheck(&sw);
	swap_read_definitions(&sw);
	swap_rename_old(&sw);
	swap_create_parent(&sw);
	swap_move_sequences(&sw);
	swap_attach_legacy(&sw);
	swap_adopt_indexes(&sw);
	swap_foreign_keys(&sw);
	swap_identity_grants_comment(&sw);
	swap_move_policy(&sw);
	swap_premake(&sw);
	swap_attach_default(&sw);

	step->legacy_rows = Max((int64) pgs_estimated_rows(cv->relid), 0);
	pgs_unpin_settings(nest);
}
