/*-------------------------------------------------------------------------
 *
 * window.c
 *	  The maintenance window: pgscale.maintenance_window (say
 *	  '02:00-05:00', or several ranges separated by commas), read in
 *	  pgscale.window_time_zone.  The background worker premakes partitions
 *	  whenever it runs but purges (batched deletes, partition drops) only
 *	  while the window is open, and starts no new batch once it has closed;
 *	  a call by hand or from pg_cron does the same with respect_window =>
 *	  true.
 *
 *	  This file parses and checks the settings (their GUC hooks, which
 *	  guc.c installs), tells whether the window is open, and reports a
 *	  purge skipped because it is not.  pgscale.window_test_now fakes the
 *	  clock the window is judged by, for the tests only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "postmaster/interrupt.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "pgscale.h"

/* Most ranges one pgscale.maintenance_window may list. */
#define PGS_MAX_WINDOW_RANGES 16

#define MINUTES_PER_DAY (24 * 60)

/* A parsed pgscale.maintenance_window: minutes of the day, end exclusive. */
typedef struct PgsWindow
{
	int			nranges;
	int			start[PGS_MAX_WINDOW_RANGES];
	int			end[PGS_MAX_WINDOW_RANGES];
} PgsWindow;

char	   *pgscale_maintenance_window = NULL;
char	   *pgscale_window_time_zone = NULL;
char	   *pgscale_window_test_now = NULL;

/* what the assign hooks installed; NULL: no window, the session's zone */
static PgsWindow *window = NULL;
static pg_tz *window_tz = NULL;
static TimestampTz *window_test_now = NULL;

/*
 * parse_time_of_day
 *		Read "H:MM" or "HH:MM" at *p into minutes of the day, moving *p past
 *		it; 24:00 is accepted as an end only.  False if it is not one.
 */
static bool
parse_time_of_day(const char **p, bool is_end, int *minutes)
{
	const char *s = *p;
	int			hour = 0;
	int			minute;
	int			digits = 0;

	while (isdigit((unsigned char) *s) && digits < 2)
	{
		hour = hour * 10 + (*s++ - '0');
		digits++;
	}
	if (digits == 0 || *s++ != ':')
		return false;
	if (!isdigit((unsigned char) s[0]) || !isdigit((unsigned char) s[1]))
		return false;
	minute = (s[0] - '0') * 10 + (s[1] - '0');
	s += 2;
	if (minute > 59 || hour > 24 || (hour == 24 && (minute != 0 || !is_end)))
		return false;
	*minutes = hour * 60 + minute;
	*p = s;
	return true;
}

static void
skip_spaces(const char **p)
{
	while (isspace((unsigned char) **p))
		(*p)++;
}

/*
 * parse_range
 *		Read "HH:MM-HH:MM" at *p (spaces allowed around the hyphen), moving
 *		*p past it.  False if it is not one.
 */
static bool
parse_range(const char **p, int *start, int *end)
{
	if (!parse_time_of_day(p, false, start))
		return false;
	skip_spaces(p);
	if (**p != '-')
		return false;
	(*p)++;
	skip_spaces(p);
	return parse_time_of_day(p, true, end);
}

/*
 * pgs_check_maintenance_window
 *		GUC check hook of pgscale.maintenance_window: empty (no window), or
 *		ranges 'HH:MM-HH:MM' separated by commas.  A range whose end is
 *		before its start wraps past midnight ('22:00-02:00'); the end is
 *		exclusive, so a range that starts where it ends is refused rather
 *		than guessed to be empty or the whole day ('00:00-24:00' is the
 *		whole day).
 */
bool
pgs_check_maintenance_window(char **newval, void **extra, GucSource source)
{
	PgsWindow	parsed;
	const char *p;

	memset(&parsed, 0, sizeof(parsed));
	if (*newval == NULL)
		return true;
	p = *newval;
	skip_spaces(&p);
	if (*p == '\0')
		return true;			/* no window: purges are always allowed */

	for (;;)
	{
		int			start;
		int			end;

		if (parsed.nranges == PGS_MAX_WINDOW_RANGES)
		{
			GUC_check_errdetail("A maintenance window has at most %d ranges.",
								PGS_MAX_WINDOW_RANGES);
			return false;
		}
		if (!parse_range(&p, &start, &end))
		{
			GUC_check_errdetail("Give the window as HH:MM-HH:MM in 24-hour time, "
								"for example '02:00-05:00', or several separated by commas.");
			return false;
		}
		if (start == end)
		{
			GUC_check_errdetail("The range %02d:%02d-%02d:%02d starts where it ends; "
								"the end is exclusive, so give '00:00-24:00' for the whole day.",
								start / 60, start % 60, end / 60, end % 60);
			return false;
		}
		parsed.start[parsed.nranges] = start;
		parsed.end[parsed.nranges] = end;
		parsed.nranges++;

		skip_spaces(&p);
		if (*p == '\0')
			break;
		if (*p++ != ',')
		{
			GUC_check_errdetail("Separate the ranges of the window with commas, "
								"for example '01:00-02:00,13:00-14:00'.");
			return false;
		}
		skip_spaces(&p);
	}

	*extra = pgs_guc_malloc(sizeof(PgsWindow));
	if (*extra == NULL)
		return false;
	memcpy(*extra, &parsed, sizeof(PgsWindow));
	return true;
}

void
pgs_assign_maintenance_window(const char *newval, void *extra)
{
	window = (PgsWindow *) extra;
}

/*
 * pgs_check_window_time_zone
 *		GUC check hook of pgscale.window_time_zone: empty (the session's
 *		TimeZone, the server's in the worker) or a zone pg_tzset() knows and
 *		PostgreSQL accepts (no leap seconds).
 */
bool
pgs_check_window_time_zone(char **newval, void **extra, GucSource source)
{
	pg_tz	   *tz;

	if (*newval == NULL || **newval == '\0')
		return true;
	tz = pg_tzset(*newval);
	if (tz == NULL)
	{
		GUC_check_errdetail("Time zone \"%s\" is not recognized; give a name from "
							"pg_timezone_names, such as 'Europe/Paris', or leave it empty "
							"for the server's TimeZone.", *newval);
		return false;
	}
	if (!pg_tz_acceptable(tz))
	{
		GUC_check_errdetail("Time zone \"%s\" appears to use leap seconds, "
							"which PostgreSQL does not support.", *newval);
		return false;
	}
	*extra = pgs_guc_malloc(sizeof(pg_tz *));
	if (*extra == NULL)
		return false;
	*(pg_tz **) *extra = tz;	/* pg_tzset() keeps its zones for good */
	return true;
}

void
pgs_assign_window_time_zone(const char *newval, void *extra)
{
	window_tz = extra ? *(pg_tz **) extra : NULL;
}

/*
 * pgs_check_window_test_now
 *		GUC check hook of pgscale.window_test_now: empty (the real clock) or
 *		a timestamp with time zone, decoded without raising an error as a
 *		check hook must.
 */
bool
pgs_check_window_test_now(char **newval, void **extra, GucSource source)
{
	char		workbuf[MAXDATELEN + 1];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	int			tz = 0;
	struct pg_tm tt;
	fsec_t		fsec;
	PgsDateTimeErrorExtra dterr_extra;
	TimestampTz result;
	int			dterr;

	if (*newval == NULL || **newval == '\0')
		return true;
	dterr = ParseDateTime(*newval, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = pgs_decode_datetime(field, ftype, nf, &dtype, &tt, &fsec, &tz,
									&dterr_extra);
	if (dterr != 0 || dtype != DTK_DATE || tm2timestamp(&tt, fsec, &tz, &result) != 0)
	{
		GUC_check_errdetail("Give a timestamp with a time zone, such as '2026-01-15 03:00:00+00', "
							"or leave it empty for the real clock.");
		return false;
	}
	*extra = pgs_guc_malloc(sizeof(TimestampTz));
	if (*extra == NULL)
		return false;
	*(TimestampTz *) *extra = result;
	return true;
}

void
pgs_assign_window_test_now(const char *newval, void *extra)
{
	window_test_now = (TimestampTz *) extra;
}

/*
 * pgs_window_set
 *		Whether a maintenance window is configured at all.
 */
bool
pgs_window_set(void)
{
	return window != NULL && window->nranges > 0;
}

/*
 * window_now
 *		The time the window is judged by: the test clock when one is set,
 *		else the real one.
 */
static TimestampTz
window_now(void)
{
	if (window_test_now != NULL)
		return *window_test_now;
	return GetCurrentTimestamp();
}

/*
 * seconds_of_day
 *		The local time of day of "when" in the window's time zone, in
 *		seconds since midnight.
 */
static int
seconds_of_day(TimestampTz when)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	pg_tz	   *tz = window_tz ? window_tz : session_timezone;

	if (timestamp2tm(when, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for the maintenance window"),
				 errhint("Set pgscale.window_test_now to a time within the range of timestamp with time zone.")));
	return tm.tm_hour * SECS_PER_HOUR + tm.tm_min * SECS_PER_MINUTE + tm.tm_sec;
}

/*
 * in_range
 *		Whether a time of day (seconds) falls in range i, end exclusive,
 *		wrapping past midnight when the range ends before it starts.
 */
static bool
in_range(int i, int secs)
{
	int			start = window->start[i] * SECS_PER_MINUTE;
	int			end = window->end[i] * SECS_PER_MINUTE;

	if (start < end)
		return secs >= start && secs < end;
	return secs >= start || secs < end;
}

/*
 * pgs_window_open
 *		Whether a purge may run now: true when no window is set.  The
 *		background worker rereads its settings here first, so that a window
 *		changed with ALTER SYSTEM and a reload applies to the batch it is
 *		about to start, not only to its next cycle.
 */
bool
pgs_window_open(void)
{
	int			secs;
	int			i;

	if (ConfigReloadPending && pgs_worker_cycle != NULL)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
	if (!pgs_window_set())
		return true;
	secs = seconds_of_day(window_now());
	for (i = 0; i < window->nranges; i++)
		if (in_range(i, secs))
			return true;
	return false;
}

/*
 * closed_for
 *		While the window is closed: how long ago (in seconds, on the window's
 *		clock) its latest range ended.
 */
static int
closed_for(void)
{
	int			secs = seconds_of_day(window_now());
	int			best = SECS_PER_DAY;
	int			i;

	for (i = 0; i < window->nranges; i++)
	{
		int			end = (window->end[i] % MINUTES_PER_DAY) * SECS_PER_MINUTE;
		int			ago = (secs - end + SECS_PER_DAY) % SECS_PER_DAY;

		best = Min(best, ago);
	}
	return best;
}

/*
 * window_zone_name
 *		The time zone the window is read in, for messages.
 */
static const char *
window_zone_name(void)
{
	const char *name = pg_get_timezone_name(window_tz ? window_tz : session_timezone);

	return name ? name : "UTC";
}

/*
 * skip_logged_since
 *		Whether the table's last log row (ANALYZE aside) is a skip for the
 *		window logged since the window last closed: then the skip of this
 *		closing is already recorded.  "since" is on the real clock, the
 *		log's; the row being the last one also tells, under a faked clock,
 *		that no purge ran in between.
 */
static bool
skip_logged_since(Oid relid, TimestampTz since)
{
	Oid			argtypes[2] = {OIDOID, TIMESTAMPTZOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), TimestampTzGetDatum(since)};
	const char *log = pgs_ext_table("pgscale_log");

	return pgs_spi_int8_as_owner(psprintf("SELECT pg_catalog.count(*) FROM"
										  " (SELECT g.action, g.detail, g.logged_at FROM %s g"
										  "   WHERE g.relid OPERATOR(pg_catalog.=) $1"
										  "     AND g.action OPERATOR(pg_catalog.<>) 'analyze'"
										  "   ORDER BY g.id DESC LIMIT 1) l"
										  " WHERE l.action OPERATOR(pg_catalog.=) 'skipped'"
										  "   AND l.detail OPERATOR(pg_catalog.~~) 'outside the maintenance window%%'"
										  "   AND l.logged_at OPERATOR(pg_catalog.>=) $2",
										  log),
								 2, argtypes, values, NULL) > 0;
}

/*
 * pgs_window_skip
 *		A purge of relid that respects the window found it closed, and does
 *		nothing for the table: say so.  A call by hand gets a NOTICE; the
 *		worker and pg_cron record a 'skipped' row in pgscale_log, once per
 *		closing of the window rather than once per cycle, so that a naptime
 *		of a minute does not flood the log.  A dry run logs nothing.
 *		Returns the detail, for the cycle's report.
 */
char *
pgs_window_skip(Oid relid, bool dry_run)
{
	char	   *detail = psprintf("outside the maintenance window %s",
								  pgscale_maintenance_window);
	PgsSource	source = pgs_current_source();

	if (source != PGS_SOURCE_WORKER && dry_run)
		ereport(NOTICE,
				(errmsg("pgscale would skip the retention of %s: outside the maintenance window %s",
						pgs_display_name(relid), pgscale_maintenance_window),
				 errdetail("The window is read in time zone %s; partitions are premade all the same.",
						   window_zone_name()),
				 errhint("Run it inside the window, or leave out respect_window => true to purge now.")));
	else if (source != PGS_SOURCE_WORKER)
		ereport(NOTICE,
				(errmsg("pgscale skipped the retention of %s: outside the maintenance window %s",
						pgs_display_name(relid), pgscale_maintenance_window),
				 errdetail("The window is read in time zone %s; partitions are premade all the same.",
						   window_zone_name()),
				 errhint("Run it inside the window, or leave out respect_window => true to purge now.")));
	if (dry_run || source == PGS_SOURCE_MANUAL)
		return detail;
	if (!skip_logged_since(relid,
						   GetCurrentTimestamp() - (TimestampTz) closed_for() * USECS_PER_SEC))
		pgs_log_action(relid, "skipped", NULL, 0, false, GetCurrentTimestamp(), detail);
	return detail;
}

/*
 * pgs_window_closed_notice
 *		The window closed while a purge of relid was under way: the batch in
 *		progress was finished and the rest is left for the next window.
 */
void
pgs_window_closed_notice(Oid relid)
{
	if (pgs_current_source() == PGS_SOURCE_WORKER)
		return;
	ereport(NOTICE,
			(errmsg("pgscale stopped the retention of %s: the maintenance window %s closed",
					pgs_display_name(relid), pgscale_maintenance_window),
			 errdetail("The batch in progress was finished and the rest of the table was left alone."),
			 errhint("The next purge inside the window resumes where this one stopped; "
					 "widen pgscale.maintenance_window if a table needs longer.")));
}
