/*-------------------------------------------------------------------------
 *
 * diag_metrics.c
 *	  pgscale_metrics_text(): the samples of pgscale_metrics() in the
 *	  Prometheus text exposition format, one family per metric name
 *	  ("# HELP", "# TYPE", then its samples), families and samples in
 *	  byte order so that two scrapes of the same state read the same.
 *
 *	  Written in C because it is scraped often: formatting some 800 samples
 *	  in SQL (a set-returning call per sample to spell its labels) cost
 *	  about as much as measuring them.  The samples themselves stay in
 *	  pgscale_metrics() (plpgsql), the one list of what is exported.
 *
 *	  Escaping follows the format: in a label value a backslash, a double
 *	  quote and a newline; in a help text a backslash and a newline.  A
 *	  metric whose name ends in "_total" is a counter, every other a
 *	  gauge; values are written as float8 output writes them, infinities
 *	  as +Inf and -Inf.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "diag.h"

PG_FUNCTION_INFO_V1(pgscale_metrics_text);

/* One sample, as it is written. */
typedef struct MetricLine
{
	char	   *metric;
	char	   *help;			/* NULL: none */
	char	   *line;			/* name{labels} value */
} MetricLine;

/* One label, to sort a sample's labels by name. */
typedef struct MetricLabel
{
	char	   *key;
	char	   *value;
} MetricLabel;

/*
 * append_escaped
 *		s into buf, each backslash and newline escaped, and each double
 *		quote too when quotes is true.
 */
static void
append_escaped(StringInfo buf, const char *s, int len, bool quotes)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		if (s[i] == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (s[i] == '\n')
			appendStringInfoString(buf, "\\n");
		else if (s[i] == '"' && quotes)
			appendStringInfoString(buf, "\\\"");
		else
			appendStringInfoChar(buf, s[i]);
	}
}

static int
label_cmp(const void *a, const void *b)
{
	return strcmp(((const MetricLabel *) a)->key, ((const MetricLabel *) b)->key);
}

static int
line_cmp(const void *a, const void *b)
{
	const MetricLine *x = (const MetricLine *) a;
	const MetricLine *y = (const MetricLine *) b;
	int			c = strcmp(x->metric, y->metric);

	return c != 0 ? c : strcmp(x->line, y->line);
}

/*
 * append_labels
 *		{name="value",...} for a jsonb object of labels, by name; nothing
 *		for an empty one.  A string is written as it is, a number or a
 *		boolean as its text, a null leaves the label out.
 */
static void
append_labels(StringInfo buf, Jsonb *labels)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	MetricLabel *items;
	int			n = 0;
	int			size;
	int			i;
	char	   *key = NULL;

	if (!JB_ROOT_IS_OBJECT(labels) || JB_ROOT_COUNT(labels) == 0)
		return;
	size = JB_ROOT_COUNT(labels);
	items = palloc(sizeof(MetricLabel) * size);
	it = JsonbIteratorInit(&labels->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *value = NULL;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE || key == NULL || n >= size)
			continue;
		if (v.type == jbvString)
			value = pnstrdup(v.val.string.val, v.val.string.len);
		else if (v.type == jbvNumeric)
			value = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(v.val.numeric)));
		else if (v.type == jbvBool)
			value = pstrdup(v.val.boolean ? "true" : "false");
		else if (v.type == jbvBinary)
			value = JsonbToCString(NULL, v.val.binary.data, v.val.binary.len);
		if (value != NULL)
		{
			items[n].key = key;
			items[n].value = value;
			n++;
		}
		key = NULL;
	}
	if (n == 0)
		return;
	qsort(items, n, sizeof(MetricLabel), label_cmp);
	appendStringInfoChar(buf, '{');
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfo(buf, "%s=\"", items[i].key);
		append_escaped(buf, items[i].value, strlen(items[i].value), true);
		appendStringInfoChar(buf, '"');
	}
	appendStringInfoChar(buf, '}');
}

/*
 * append_value
 *		A sample's value: float8's output, with infinities as the format
 *		spells them.
 */
static void
append_value(StringInfo buf, float8 value)
{
	if (isinf(value))
		appendStringInfoString(buf, value > 0 ? "+Inf" : "-Inf");
	else
		appendStringInfoString(buf, DatumGetCString(DirectFunctionCall1(float8out,
																		Float8GetDatum(value))));
}

/*
 * pgscale_metrics_text
 *		SQL: pgscale_metrics_text() RETURNS text
 */
Datum
pgscale_metrics_text(PG_FUNCTION_ARGS)
{
	const char *schema = get_namespace_name(pgs_extension_schema());
	MemoryContext caller = CurrentMemoryContext;
	MetricLine *lines;
	StringInfoData out;
	uint64		n;
	uint64		row;
	uint64		first;
	uint64		i;
	int			ret;

	SPI_connect();
	ret = SPI_execute(psprintf("SELECT m.metric, m.labels, m.value, m.help FROM %s() m"
							   " WHERE m.metric IS NOT NULL AND m.value IS NOT NULL",
							   quote_qualified_identifier(schema, "pgscale_metrics")),
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pgscale_metrics(): %s", SPI_result_code_string(ret));

	/* every sample's line, in the caller's context, to outlive SPI */
	n = SPI_processed;
	lines = MemoryContextAlloc(caller, sizeof(MetricLine) * Max(n, 1));
	for (row = 0; row < n; row++)
	{
		HeapTuple	tup = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;
		StringInfoData line;
		MemoryContext spi = MemoryContextSwitchTo(caller);

		lines[row].metric = SPI_getvalue(tup, desc, 1);
		lines[row].help = SPI_getvalue(tup, desc, 4);
		initStringInfo(&line);
		appendStringInfoString(&line, lines[row].metric);
		d = SPI_getbinval(tup, desc, 2, &isnull);
		if (!isnull)
			append_labels(&line, DatumGetJsonbP(d));
		appendStringInfoChar(&line, ' ');
		append_value(&line, DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull)));
		lines[row].line = line.data;
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();

	qsort(lines, n, sizeof(MetricLine), line_cmp);
	initStringInfo(&out);
	for (first = 0; first < n; first = row)
	{
		const char *metric = lines[first].metric;
		const char *help = NULL;
		size_t		len = strlen(metric);

		/* the family: its help is the least of its samples' */
		for (row = first; row < n && strcmp(lines[row].metric, metric) == 0; row++)
		{
			if (lines[row].help != NULL && (help == NULL || strcmp(lines[row].help, help) < 0))
				help = lines[row].help;
		}
		appendStringInfo(&out, "# HELP %s ", metric);
		if (help != NULL)
			append_escaped(&out, help, strlen(help), false);
		appendStringInfo(&out, "\n# TYPE %s %s\n", metric,
						 len >= 6 && strcmp(metric + len - 6, "_total") == 0 ?
						 "counter" : "gauge");
		for (i = first; i < row; i++)
		{
			appendStringInfoString(&out, lines[i].line);
			appendStringInfoChar(&out, '\n');
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
