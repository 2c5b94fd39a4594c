# The calendar, on servers whose clock is moved (libfaketime, see start_at
# in PgscaleTest.pm) to the edges that matter, with the worker running:
#
# - the last seconds of a month: the first cycle after midnight premakes
#   the month that has just come into reach, an insert at the new month's
#   first second lands in its partition (not the default), and a date
#   column's cutoff moves by exactly one day at midnight;
# - the night Europe/Berlin leaves summer time (a 25-hour day): the daily
#   size snapshot is taken once a day of 24 hours, not skipped because
#   "1 day" is 25 hours on that date.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'libfaketime (Debian package libfaketime) or gcc is not installed'
  unless faketime_available();

#
# 2027-01-31 23:59:30 UTC.  The tables are made before midnight, the worker
# runs every second.
#
my $node = pgscale_node(
	'month_end',
	conf => [
		"pgscale.databases = 'postgres'",
		"pgscale.naptime = 1",
		"timezone = 'UTC'",
	]);
start_at($node, '2027-01-31 23:59:30');

is($node->safe_psql('postgres', "SELECT to_char(now(), 'YYYY-MM-DD HH24')"),
	'2027-01-31 23', 'the server runs on 31 January 2027, before midnight');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pgscale;
CREATE TABLE ev (id bigserial, ts timestamptz NOT NULL, PRIMARY KEY (id, ts))
    PARTITION BY RANGE (ts);
CREATE TABLE ev_default PARTITION OF ev DEFAULT;
SELECT pgscale_set_partitioning('ev', 2);
CREATE TABLE daily (day date NOT NULL, n int);
INSERT INTO daily SELECT d::date, 1
FROM generate_series(date '2027-01-11', date '2027-01-31', '1 day') AS d;
SELECT pgscale_set_retention('daily', interval '10 days', 'day');
});

# the cycles of 31 January: months up to March, days from 21 January
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FILTER (WHERE c.relname <> 'ev_default')
		 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'ev'::regclass",
		'3', 20),
	'before midnight, premake made January to March');
ok( poll_until(
		$node, 'postgres',
		"SELECT min(day) FROM daily", '2027-01-21', 20),
	'before midnight, the 10-day cutoff keeps 21 January');
is( $node->safe_psql(
		'postgres', "SELECT now() < timestamptz '2027-02-01 00:00:00+00'"),
	't', '... and both were seen before midnight');

# after midnight
ok( poll_until(
		$node, 'postgres',
		"SELECT now() >= timestamptz '2027-02-01 00:00:00+00'", 't', 60),
	'the clock crosses into February');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'ev'::regclass
		   AND pg_get_expr(c.relpartbound, c.oid) LIKE '%2027-04-01%2027-05-01%'",
		'1', 20),
	'the first cycles of February premake April');
ok( poll_until(
		$node, 'postgres',
		"SELECT min(day) || ' ' || count(*) FROM daily", '2027-01-22 10', 20),
	'after midnight the cutoff moved one day: 22 January is the oldest kept');
$node->safe_psql('postgres',
	"INSERT INTO ev (ts) VALUES ('2027-02-01 00:00:00+00')");
is( $node->safe_psql(
		'postgres', "SELECT tableoid::regclass <> 'ev_default'::regclass FROM ev"),
	't', "February's first second lands in its own partition");
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pgscale_log WHERE action = 'error'"),
	'0', 'no cycle logged an error across midnight');
$node->stop;

#
# 2027-10-31 01:30 UTC (02:30 CET), half an hour after Europe/Berlin left
# summer time: "now() - 1 day" there reaches back 25 hours.  A snapshot taken
# 24 h 20 min ago is older than a day of 24 hours.
#
my $dst = pgscale_node(
	'fall_back',
	conf => [ "pgscale.databases = ''", "timezone = 'Europe/Berlin'" ]);
start_at($dst, '2027-10-31 01:30:00');
is($dst->safe_psql('postgres', "SELECT to_char(now(), 'YYYY-MM-DD HH24:MI TZ')"),
	'2027-10-31 02:30 CET', 'the server runs just after the change to winter time');
$dst->safe_psql(
	'postgres', q{
CREATE EXTENSION pgscale;
CREATE TABLE sized (id int);
INSERT INTO pgscale_size_history (taken_at, schema_name, table_name, relid,
    total_bytes, table_bytes, index_bytes, toast_bytes, estimated_rows)
VALUES (now() - interval '24 hours 20 minutes', 'public', 'sized',
    'sized'::regclass, 0, 0, 0, 0, 0);
});
$dst->safe_psql('postgres', 'SELECT count(*) FROM pgscale_run_maintenance()');
is( $dst->safe_psql(
		'postgres',
		"SELECT count(*) FROM pgscale_size_history
		 WHERE table_name = 'sized' AND taken_at > now() - interval '1 hour'"),
	'1', 'the size snapshot of 24 h 20 min ago is a day old: a new one is taken');
$dst->stop;

done_testing();
