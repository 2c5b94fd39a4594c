/*-------------------------------------------------------------------------
 *
 * references.c
 *	  Foreign keys that reference a table with a retention, and what cleanup
 *	  does with its expired rows that are still referenced
 *	  (pgscale_policy.on_referenced):
 *
 *	  - 'error': nothing of the table is touched while an expired row is
 *		referenced by a row that stays; the run reports it, naming the
 *		constraint, the referencing table and how many rows;
 *	  - 'cascade': what Django's on_delete=CASCADE does in Python: the rows
 *		that reference a batch of expired rows go first, recursively, in
 *		the same transaction as the batch, referencing tables before the
 *		tables they reference;
 *	  - 'keep': expired rows still referenced stay; the others go.
 *
 *	  Only foreign keys whose ON DELETE is NO ACTION or RESTRICT (Django's
 *	  kind: it carries out on_delete itself) are followed: a key declared
 *	  ON DELETE CASCADE, SET NULL or SET DEFAULT is carried out by the
 *	  database.  A self-reference (parent_id) is followed inside the table:
 *	  a row goes with its descendants, which a single DELETE can do without
 *	  ever violating the key.
 *
 *	  This file finds the keys (pg_constraint, read at every run, since
 *	  schemas change) and writes the SQL that names the rows to delete;
 *	  batch.c runs it batch by batch, retention.c for whole partitions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "pgscale.h"

/* The most tables a cascade may reach. */
#define PGS_MAX_CASCADE_TABLES 64

/*
 * has_triggers
 *		Whether relid has, or once had, triggers (pg_class.relhastriggers).
 *		A foreign key puts its action triggers on the table it references,
 *		so a table without any is referenced by none.
 */
static bool
has_triggers(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		result = true;

	if (HeapTupleIsValid(tuple))
	{
		result = ((Form_pg_class) GETSTRUCT(tuple))->relhastriggers;
		ReleaseSysCache(tuple);
	}
	return result;
}

/*
 * read_fks
 *		The foreign keys (top-level constraints only: not the copies made
 *		for partitions) that reference relid, with ON DELETE NO ACTION or
 *		RESTRICT; none, without reading pg_constraint, when relid has no
 *		triggers.
 */
static List *
read_fks(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	List	   *fks = NIL;
	uint64		i;
	int			ret;

	if (!has_triggers(relid))
		return NIL;
	values[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args("SELECT c.oid, c.conname::pg_catalog.text, c.conrelid, c.confrelid,"
								" c.condeferred, n.nspname::pg_catalog.text,"
								" ARRAY(SELECT a.attname::pg_catalog.text"
								"   FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i)"
								"   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid"
								"    AND a.attnum OPERATOR(pg_catalog.=) k.n ORDER BY k.i),"
								" ARRAY(SELECT a.attname::pg_catalog.text"
								"   FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, i)"
								"   JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid"
								"    AND a.attnum OPERATOR(pg_catalog.=) k.n ORDER BY k.i)"
								" FROM pg_catalog.pg_constraint c"
								" JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.connamespace"
								" WHERE c.contype OPERATOR(pg_catalog.=) 'f'"
								" AND c.confrelid OPERATOR(pg_catalog.=) $1"
								" AND c.conparentid OPERATOR(pg_catalog.=) 0"
								" AND c.confdeltype OPERATOR(pg_catalog.=) ANY ('{a,r}'::pg_catalog.\"char\"[])"
								" ORDER BY c.conrelid, c.conname",
								1, argtypes, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_constraint: %s", SPI_result_code_string(ret));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		PgsFk	   *fk = palloc0(sizeof(PgsFk));
		bool		isnull;
		Datum	   *elems;
		int			nelems;
		int			j;

		fk->conoid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		fk->conname = SPI_getvalue(tup, desc, 2);
		fk->referencing = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		fk->referenced = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
		fk->deferred = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		fk->qualname = quote_qualified_identifier(SPI_getvalue(tup, desc, 6),
												  fk->conname);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 7, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
		for (j = 0; j < nelems; j++)
			fk->cols = lappend(fk->cols, TextDatumGetCString(elems[j]));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 8, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &nelems);
		for (j = 0; j < nelems; j++)
			fk->refcols = lappend(fk->refcols, TextDatumGetCString(elems[j]));
		fks = lappend(fks, fk);
	}
	return fks;
}

static PgsRefTable *
find_table(PgsRefs *refs, Oid relid)
{
	ListCell   *lc;

	foreach(lc, refs->tables)
	{
		PgsRefTable *t = (PgsRefTable *) lfirst(lc);

		if (t->relid == relid)
			return t;
	}
	return NULL;
}

static void
note_deferred(PgsRefs *refs, PgsFk *fk)
{
	if (fk->deferred)
		refs->deferred = lappend(refs->deferred, fk->qualname);
}

/*
 * must_precede
 *		Whether the rows of a must be deleted before those of b: a
 *		references b, directly or through other tables of the cascade.
 */
static bool
must_precede(PgsRefs *refs, PgsRefTable *a, PgsRefTable *b, int depth)
{
	ListCell   *lc;

	if (depth > PGS_MAX_CASCADE_TABLES)
		return true;
	foreach(lc, a->in)
	{
		PgsFk	   *fk = (PgsFk *) lfirst(lc);
		PgsRefTable *t;

		if (fk->referenced == b->relid)
			return true;
		t = find_table(refs, fk->referenced);
		if (t != NULL && t != a && must_precede(refs, t, b, depth + 1))
			return true;
	}
	return false;
}

/*
 * pgs_read_references
 *		What references root (the policy's table) and, for 'cascade', every
 *		table the cascade reaches, in the order their rows must go.  Read
 *		again at every run.  refs->blocked is set when the cascade cannot
 *		run (it would reach a protected table, or the keys form a cycle
 *		between tables); it then behaves as 'error'.  SPI must be connected.
 */
PgsRefs *
pgs_read_references(Oid root, char mode)
{
	PgsRefs    *refs = palloc0(sizeof(PgsRefs));
	PgsRefTable *rt;
	ListCell   *lc;
	int			i;

	refs->root = root;
	refs->mode = mode;
	rt = palloc0(sizeof(PgsRefTable));
	rt->relid = root;
	refs->tables = list_make1(rt);

	/*
	 * Breadth first from the root: each table's keys are read once.  (The
	 * list grows while it is walked; foreach copes with appends.)
	 */
	for (i = 0; i < list_length(refs->tables); i++)
	{
		PgsRefTable *t = (PgsRefTable *) list_nth(refs->tables, i);
		List	   *fks = read_fks(t->relid);

		foreach(lc, fks)
		{
			PgsFk	   *fk = (PgsFk *) lfirst(lc);
			PgsRefTable *c;

			note_deferred(refs, fk);
			if (fk->referencing == t->relid)
			{
				t->selfs = lappend(t->selfs, fk);
				continue;
			}
			if (t->relid == root)
				refs->incoming = lappend(refs->incoming, fk);
			if (mode != PGS_REF_CASCADE)
				continue;

			c = find_table(refs, fk->referencing);
			if (c == NULL)
			{
				PgsPolicy  *pol;
				Oid			save_userid;
				int			save_sec;

				/* protected by whoever owns it: seen past row security */
				pgs_become_owner(&save_userid, &save_sec);
				pol = pgs_find_policy(fk->referencing);
				pgs_restore_user(save_userid, save_sec);

				if (pol != NULL && pol->is_protected && refs->blocked == NULL)
					refs->blocked = psprintf("the cascade would reach protected table %s through constraint \"%s\"",
											 pgs_display_name(fk->referencing), fk->conname);
				if (list_length(refs->tables) >= PGS_MAX_CASCADE_TABLES)
				{
					if (refs->blocked == NULL)
						refs->blocked = psprintf("the cascade would reach more than %d tables",
												 PGS_MAX_CASCADE_TABLES);
					continue;
				}
				c = palloc0(sizeof(PgsRefTable));
				c->relid = fk->referencing;
				c->via = fk;
				refs->tables = lappend(refs->tables, c);
			}
			c->in = lappend(c->in, fk);
		}
	}

	if (mode != PGS_REF_CASCADE)
	{
		refs->tables = list_make1(rt);
		return refs;
	}

	/*
	 * Order: a table's rows go before those of every table it references.
	 * A cycle between tables (A references B, B references A) has no such
	 * order.
	 */
	{
		List	   *ordered = NIL;
		List	   *left = list_copy(refs->tables);

		while (left != NIL)
		{
			PgsRefTable *pick = NULL;

			foreach(lc, left)
			{
				PgsRefTable *t = (PgsRefTable *) lfirst(lc);
				ListCell   *lc2;
				bool		first = true;

				/* first: nothing left references it */
				foreach(lc2, left)
				{
					PgsRefTable *u = (PgsRefTable *) lfirst(lc2);

					if (u != t && must_precede(refs, u, t, 0))
					{
						first = false;
						break;
					}
				}
				if (first)
				{
					pick = t;
					break;
				}
			}
			if (pick == NULL)
			{
				if (refs->blocked == NULL)
					refs->blocked = pstrdup("its foreign keys form a cycle between tables");
				break;
			}
			ordered = lappend(ordered, pick);
			left = list_delete_ptr(left, pick);
		}
		refs->tables = ordered;
	}
	return refs;
}

/*
 * pgs_references_matter
 *		Whether cleanup of refs->root must take foreign keys into account
 *		when it deletes: another table references it (in 'cascade' or
 *		'keep'), or it references itself.
 */
bool
pgs_references_matter(PgsRefs *refs)
{
	PgsRefTable *rt = pgs_root_table(refs);

	if (rt->selfs != NIL)
		return true;
	return refs->incoming != NIL && refs->mode != PGS_REF_ERROR &&
		refs->blocked == NULL;
}

PgsRefTable *
pgs_root_table(PgsRefs *refs)
{
	ListCell   *lc;

	foreach(lc, refs->tables)
	{
		PgsRefTable *t = (PgsRefTable *) lfirst(lc);

		if (t->relid == refs->root)
			return t;
	}
	elog(ERROR, "root missing from the references of %u", refs->root);
	return NULL;
}

/* ---------- SQL ---------- */

static void
append_cols(StringInfo buf, const char *alias, List *cols)
{
	ListCell   *lc;

	appendStringInfoChar(buf, '(');
	foreach(lc, cols)
	{
		if (lc != list_head(cols))
			appendStringInfoString(buf, ", ");
		appendStringInfo(buf, "%s.%s", alias, quote_identifier((char *) lfirst(lc)));
	}
	appendStringInfoChar(buf, ')');
}

/* "(a.x, a.y) OPERATOR(pg_catalog.=) (b.u, b.v)" */
static void
append_match(StringInfo buf, const char *alias, List *cols,
			 const char *ralias, List *refcols)
{
	append_cols(buf, alias, cols);
	appendStringInfoString(buf, " OPERATOR(pg_catalog.=) ");
	append_cols(buf, ralias, refcols);
}

static const char *
from_of(PgsRefs *refs, PgsRefTable *t, PgsRootRows *root)
{
	return t->relid == refs->root ? root->from : pgs_qualified_name(t->relid);
}

static void append_rows_of(StringInfo buf, PgsRefs *refs, PgsRefTable *t,
						   const char *alias, PgsRootRows *root);

/*
 * append_base
 *		The rows of t that go for their own sake: for the root, those the
 *		caller names; for a table the cascade reaches, those that reference
 *		a row that goes through one of the keys followed.
 */
static void
append_base(StringInfo buf, PgsRefs *refs, PgsRefTable *t, const char *alias,
			PgsRootRows *root)
{
	ListCell   *lc;

	if (t->relid == refs->root)
	{
		root->pred(buf, alias, root->arg);
		return;
	}
	appendStringInfoChar(buf, '(');
	foreach(lc, t->in)
	{
		PgsFk	   *fk = (PgsFk *) lfirst(lc);
		PgsRefTable *p = find_table(refs, fk->referenced);
		char	   *palias = psprintf("p%d", ++refs->aliases);
		ListCell   *lc2;

		if (lc != list_head(t->in))
			appendStringInfoString(buf, " OR ");
		append_cols(buf, alias, fk->cols);
		appendStringInfoString(buf, " IN (SELECT ");
		foreach(lc2, fk->refcols)
		{
			if (lc2 != list_head(fk->refcols))
				appendStringInfoString(buf, ", ");
			appendStringInfo(buf, "%s.%s", palias,
							 quote_identifier((char *) lfirst(lc2)));
		}
		appendStringInfo(buf, " FROM %s %s WHERE ", from_of(refs, p, root), palias);
		append_rows_of(buf, refs, p, palias, root);
		appendStringInfoChar(buf, ')');
	}
	appendStringInfoChar(buf, ')');
}

/*
 * append_closure
 *		The rows of t that go for their own sake and every row that
 *		references one of them through t's self-references, and so on down:
 *		"alias.ctid = ANY (ARRAY(WITH RECURSIVE ...))" for a plain table
 *		(a TID scan), "(alias.tableoid, alias.ctid) IN (...)" for a
 *		partitioned one.
 */
static void
append_closure(StringInfo buf, PgsRefs *refs, PgsRefTable *t,
			   const char *alias, PgsRootRows *root)
{
	int			n = ++refs->aliases;
	char	   *qt = pgs_qualified_name(t->relid);
	bool		plain = get_rel_relkind(t->relid) == RELKIND_RELATION;
	char	   *b = psprintf("b%d", n);
	char	   *x = psprintf("x%d", n);
	char	   *d = psprintf("d%d", n);
	List	   *keycols = NIL;
	ListCell   *lc;

	foreach(lc, t->selfs)
	{
		ListCell   *lc2;

		foreach(lc2, ((PgsFk *) lfirst(lc))->refcols)
		{
			ListCell   *lc3;
			bool		have = false;

			foreach(lc3, keycols)
				have |= strcmp((char *) lfirst(lc3), (char *) lfirst(lc2)) == 0;
			if (!have)
				keycols = lappend(keycols, lfirst(lc2));
		}
	}

	if (plain)
		appendStringInfo(buf, "%s.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(", alias);
	else
		appendStringInfo(buf, "(%s.tableoid, %s.ctid) IN (", alias, alias);

	/* d carries the columns the self-references point at, by name */
	appendStringInfo(buf, "WITH RECURSIVE %s AS (SELECT %s.tableoid AS pgs_t, %s.ctid AS pgs_c",
					 d, b, b);
	foreach(lc, keycols)
		appendStringInfo(buf, ", %s.%s", b, quote_identifier((char *) lfirst(lc)));
	appendStringInfo(buf, " FROM %s %s WHERE ", from_of(refs, t, root), b);
	append_base(buf, refs, t, b, root);
	appendStringInfo(buf, " UNION SELECT %s.tableoid, %s.ctid", x, x);
	foreach(lc, keycols)
		appendStringInfo(buf, ", %s.%s", x, quote_identifier((char *) lfirst(lc)));
	appendStringInfo(buf, " FROM %s %s JOIN %s ON ", qt, x, d);
	foreach(lc, t->selfs)
	{
		PgsFk	   *fk = (PgsFk *) lfirst(lc);

		if (lc != list_head(t->selfs))
			appendStringInfoString(buf, " OR ");
		append_match(buf, x, fk->cols, d, fk->refcols);
	}
	if (plain)
		appendStringInfo(buf, ") SELECT pgs_c FROM %s))", d);
	else
		appendStringInfo(buf, ") SELECT pgs_t, pgs_c FROM %s)", d);
}

static void
append_rows_of(StringInfo buf, PgsRefs *refs, PgsRefTable *t, const char *alias,
			   PgsRootRows *root)
{
	if (t->selfs != NIL)
		append_closure(buf, refs, t, alias, root);
	else
		append_base(buf, refs, t, alias, root);
}

/*
 * pgs_references_delete_sql
 *		The DELETE of the rows of table t that go with the root's rows that
 *		"root" names.
 */
char *
pgs_references_delete_sql(PgsRefs *refs, PgsRefTable *t, PgsRootRows *root)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "DELETE FROM %s a WHERE ",
					 t->relid == refs->root && t->selfs == NIL ?
					 root->from : pgs_qualified_name(t->relid));
	append_rows_of(&buf, refs, t, "a", root);
	return buf.data;
}

/*
 * pgs_references_count_sql
 *		How many rows of t the same DELETE would remove.
 */
char *
pgs_references_count_sql(PgsRefs *refs, PgsRefTable *t, PgsRootRows *root)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT pg_catalog.count(*) FROM %s a WHERE ",
					 t->relid == refs->root && t->selfs == NIL ?
					 root->from : pgs_qualified_name(t->relid));
	append_rows_of(&buf, refs, t, "a", root);
	return buf.data;
}

/*
 * pgs_references_append_keep
 *		For 'keep': " AND ..." to add to the choice of expired rows (alias)
 *		so that rows another table references stay, and, with a
 *		self-reference, rows below which (down the chain of rows that
 *		reference them) a row stays.  expired appends "this row is
 *		expired" for an alias.  Nothing for the other choices.
 */
void
pgs_references_append_keep(StringInfo buf, PgsRefs *refs, const char *alias,
						   PgsRowPred expired, void *arg)
{
	PgsRefTable *rt = pgs_root_table(refs);
	ListCell   *lc;

	if (refs->mode != PGS_REF_KEEP)
		return;

	foreach(lc, refs->incoming)
	{
		PgsFk	   *fk = (PgsFk *) lfirst(lc);

		appendStringInfo(buf, " AND NOT EXISTS (SELECT 1 FROM %s r WHERE ",
						 pgs_qualified_name(fk->referencing));
		append_match(buf, "r", fk->cols, alias, fk->refcols);
		appendStringInfoChar(buf, ')');
	}
	if (rt->selfs != NIL)
	{
		char	   *qt = pgs_qualified_name(rt->relid);

		appendStringInfo(buf, " AND NOT EXISTS (WITH RECURSIVE below AS (SELECT y.* FROM %s y WHERE ", qt);
		foreach(lc, rt->selfs)
		{
			PgsFk	   *fk = (PgsFk *) lfirst(lc);

			if (lc != list_head(rt->selfs))
				appendStringInfoString(buf, " OR ");
			append_match(buf, "y", fk->cols, alias, fk->refcols);
		}
		appendStringInfo(buf, " UNION SELECT z.* FROM %s z JOIN below ON ", qt);
		foreach(lc, rt->selfs)
		{
			PgsFk	   *fk = (PgsFk *) lfirst(lc);

			if (lc != list_head(rt->selfs))
				appendStringInfoString(buf, " OR ");
			append_match(buf, "z", fk->cols, "below", fk->refcols);
		}
		appendStringInfoString(buf, ") SELECT 1 FROM below w WHERE (");
		expired(buf, "w", arg);
		appendStringInfoString(buf, ") IS NOT TRUE");
		foreach(lc, refs->incoming)
		{
			PgsFk	   *fk = (PgsFk *) lfirst(lc);

			appendStringInfo(buf, " OR EXISTS (SELECT 1 FROM %s r WHERE ",
							 pgs_qualified_name(fk->referencing));
			append_match(buf, "r", fk->cols, "w", fk->refcols);
			appendStringInfoChar(buf, ')');
		}
		appendStringInfoChar(buf, ')');
	}
}

/*
 * count_referenced
 *		How many expired rows of "from" a row of fk's referencing table
 *		references (for a self-reference, only rows that are not expired
 *		themselves count: the others go too).
 */
static int64
count_referenced(PgsFk *fk, const char *from, PgsRowPred expired, void *arg,
				 bool only_kept, Oid *argtypes, Datum *values)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT pg_catalog.count(*) FROM %s e WHERE ", from);
	expired(&buf, "e", arg);
	appendStringInfo(&buf, " AND EXISTS (SELECT 1 FROM %s r WHERE ",
					 pgs_qualified_name(fk->referencing));
	append_match(&buf, "r", fk->cols, "e", fk->refcols);
	if (only_kept)
	{
		appendStringInfoString(&buf, " AND (");
		expired(&buf, "r", arg);
		appendStringInfoString(&buf, ") IS NOT TRUE");
	}
	appendStringInfoChar(&buf, ')');
	return pgs_spi_int8(buf.data, 1, argtypes, values, NULL, true);
}

/*
 * pgs_references_check
 *		For 'error' (and a cascade that cannot run): the first key through
 *		which an expired row of the root ("from", with "expired" saying a
 *		row is expired, $1 the cutoff) is referenced by a row that stays,
 *		as a message with the count; NULL when none is.
 */
char *
pgs_references_check(PgsRefs *refs, const char *from, PgsRowPred expired,
					 void *arg, Oid cutoff_type, Datum cutoff)
{
	Oid			argtypes[1] = {cutoff_type};
	Datum		values[1] = {cutoff};
	PgsRefTable *rt = pgs_root_table(refs);
	ListCell   *lc;

	foreach(lc, refs->incoming)
	{
		PgsFk	   *fk = (PgsFk *) lfirst(lc);
		int64		n = count_referenced(fk, from, expired, arg, false,
										 argtypes, values);

		if (n > 0)
			return psprintf(INT64_FORMAT " expired rows are referenced by table %s through constraint \"%s\"",
							n, pgs_display_name(fk->referencing), fk->conname);
	}
	foreach(lc, rt->selfs)
	{
		PgsFk	   *fk = (PgsFk *) lfirst(lc);
		int64		n = count_referenced(fk, from, expired, arg, true,
										 argtypes, values);

		if (n > 0)
			return psprintf(INT64_FORMAT " expired rows are referenced by newer rows of the same table through constraint \"%s\"",
							n, fk->conname);
	}
	return NULL;
}

/*
 * pgs_references_immediate
 *		Inside one of pgscale's steps, check the deferred foreign keys
 *		involved at once (on = true), so that a violation fails the step
 *		that caused it instead of the commit; then put them back (false).
 */
void
pgs_references_immediate(PgsRefs *refs, bool on)
{
	StringInfoData buf;
	ListCell   *lc;

	if (refs == NULL || refs->deferred == NIL)
		return;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "SET CONSTRAINTS ");
	foreach(lc, refs->deferred)
	{
		if (lc != list_head(refs->deferred))
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, (char *) lfirst(lc));
	}
	appendStringInfoString(&buf, on ? " IMMEDIATE" : " DEFERRED");
	if (SPI_execute(buf.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "SET CONSTRAINTS failed");
}
