# Action 'archive' run by the background worker, not by a CALL: the
# worker's cycle detaches the expired months with DETACH PARTITION ...
# CONCURRENTLY (logged as such, source 'worker'), moves them into the
# archive schema, owned by the table's owner and keeping their index,
# moves the straddling partition's expired rows into <archive>.<table>
# (every row once: in the table or in the archive, none expired left
# through the parent), lists the pieces in pgscale_archive, and a later
# cycle, once archive_keep has passed for a piece, drops that piece.
# Expired rows lie in 2001, kept ones within the last 42 days (the
# retention is 100 days): no assertion depends on today's date, and a
# turn of the day or the month during the test changes nothing.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node(
	'archive_worker',
	conf => [
		# no database until the table and its policy are there
		"pgscale.databases = ''",
		"pgscale.naptime = 1",
	]);
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE arch');
$node->safe_psql('arch', q{
CREATE EXTENSION pgscale;
CREATE ROLE app_owner;
GRANT CREATE ON DATABASE arch TO app_owner;
CREATE SCHEMA app AUTHORIZATION app_owner;
SET ROLE app_owner;
-- January and February 2001 expire whole; the partition from March 2001
-- on straddles the cutoff (March 2001's 100 rows expire, 1000 recent stay)
CREATE TABLE app.ev (id int NOT NULL, ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
CREATE TABLE app.ev_2001_01 PARTITION OF app.ev FOR VALUES FROM ('2001-01-01') TO ('2001-02-01');
CREATE TABLE app.ev_2001_02 PARTITION OF app.ev FOR VALUES FROM ('2001-02-01') TO ('2001-03-01');
CREATE TABLE app.ev_now PARTITION OF app.ev FOR VALUES FROM ('2001-03-01') TO (MAXVALUE);
CREATE INDEX ON app.ev (v);
INSERT INTO app.ev
SELECT g, '2001-01-01'::timestamptz + g * interval '7 hours', g FROM generate_series(0, 99) g
UNION ALL SELECT 100 + g, '2001-02-01'::timestamptz + g * interval '6 hours', g FROM generate_series(0, 99) g
UNION ALL SELECT 200 + g, '2001-03-01'::timestamptz + g * interval '7 hours', g FROM generate_series(0, 99) g
UNION ALL SELECT 300 + g, now() - g * interval '1 hour', g FROM generate_series(0, 999) g;
RESET ROLE;
CREATE TABLE ev_kept AS SELECT * FROM app.ev WHERE ts >= '2002-01-01';
SELECT pgscale_set_retention('app.ev', '100 days', 'ts', action => 'archive', archive_schema => 'archive');
});
$node->safe_psql('arch', sql_digest_function());

my $t0 = $node->safe_psql('arch', 'SELECT clock_timestamp()');
$node->safe_psql('postgres', "ALTER SYSTEM SET pgscale.databases = 'arch'");
$node->reload;
my $st = wait_for_cycle_after($node, 'arch', 'arch', $t0, 60);
ok($st, 'the worker runs a cycle of arch');
is($st->{outcome}, 'ok', '... and it succeeds') if $st;

# the detach: concurrently, by the worker, both expired months
is( $node->safe_psql('arch', q{
SELECT count(*) FROM pgscale_log
 WHERE action = 'archive' AND source = 'worker'
   AND detail LIKE 'partition detached concurrently (SHARE UPDATE EXCLUSIVE on the parent), moved to the archive schema%'}),
	'2', "worker: both expired months detached concurrently and archived, logged as the worker's");
is( $node->safe_psql('arch', q{
SELECT count(*) FROM pgscale_log WHERE action IN ('drop_partition', 'error', 'refused')}),
	'0', '... nothing dropped, no error');
is($node->safe_psql('arch', 'SELECT count(*) FROM pgscale_detached'),
	'0', '... no detach record left');

# the table: no expired row through the parent, every kept row there
is( $node->safe_psql('arch', q{
SELECT (SELECT count(*) FROM app.ev WHERE ts < now() - interval '100 days')
       || ' ' || (table_digest('app.ev') = table_digest('ev_kept'))}),
	'0 true', 'no expired row through the parent, the kept rows exactly');

# the archive: the pieces listed, every expired row once
is( $node->safe_psql('arch', q{
SELECT string_agg(archive_table || ' ' || kind || ' ' || range_from::date || ' ' || range_to::date, ', '
                  ORDER BY range_from)
       || ' / ' || sum(rows) FILTER (WHERE kind = 'rows')
  FROM pgscale_archive WHERE source_schema = 'app' AND source_table = 'ev' AND archive_schema = 'archive'}),
	'ev_2001_01 partition 2001-01-01 2001-02-01, ev_2001_02 partition 2001-02-01 2001-03-01, '
	  . 'ev_rows_2001_03 rows 2001-03-01 2001-04-01 / 100',
	'pgscale_archive lists two months archived whole and the straddling month\'s rows');
is( $node->safe_psql('arch', q{
SELECT (SELECT count(*) FROM archive.ev_2001_01) || ' ' || (SELECT count(*) FROM archive.ev_2001_02)
       || ' ' || (SELECT count(*) FROM archive.ev)
       || ' ' || (SELECT count(*) FROM archive.ev WHERE ts >= '2001-03-01' AND ts < '2001-04-01')}),
	'100 100 100 100', 'the archive holds every expired row: both months and March 2001\'s rows');
is( $node->safe_psql('arch', q{
SELECT (SELECT count(*) FROM app.ev) + (SELECT count(*) FROM archive.ev_2001_01)
       + (SELECT count(*) FROM archive.ev_2001_02) + (SELECT count(*) FROM archive.ev)}),
	'1300', 'count before = kept + archived');

# owner and index
is( $node->safe_psql('arch', q{
SELECT pg_get_userbyid(n.nspowner) || ' '
       || (SELECT bool_and(pg_get_userbyid(c.relowner) = 'app_owner')
             FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p'))
       || ' ' || (SELECT bool_and((SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid) = 1
                                  AND NOT c.relispartition)
                    FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname IN ('ev_2001_01', 'ev_2001_02'))
  FROM pg_namespace n WHERE n.nspname = 'archive'}),
	'app_owner true true',
	'the archive schema and its tables are the table owner\'s, the archived months keep their index');

# archive_keep: once it has passed for January 2001's piece (it ends before
# 2001-02-15), a later cycle drops it and keeps the later ones
$node->safe_psql('arch', q{
SELECT pgscale_set_retention('app.ev', '100 days',
                             archive_keep => now() - '2001-02-15'::timestamptz)});
my $t1 = $node->safe_psql('arch', 'SELECT clock_timestamp()');
$st = wait_for_cycle_after($node, 'arch', 'arch', $t1, 60);
ok($st, 'a later cycle of the worker runs');
is( $node->safe_psql('arch', q{
SELECT to_regclass('archive.ev_2001_01') IS NULL
       AND to_regclass('archive.ev_2001_02') IS NOT NULL}),
	't', 'archive_keep: the worker dropped the archived January, kept February');
is( $node->safe_psql('arch', q{
SELECT string_agg(archive_table, ', ' ORDER BY range_from) FROM pgscale_archive WHERE source_table = 'ev'}),
	'ev_2001_02, ev_rows_2001_03', '... and pgscale_archive lists the later pieces only');
is( $node->safe_psql('arch', q{
SELECT (SELECT count(*) FROM archive.ev_2001_02) + (SELECT count(*) FROM archive.ev)}),
	'200', '... which keep their rows');
is( $node->safe_psql('arch', q{
SELECT count(*) FROM pgscale_log
 WHERE action = 'drop_partition' AND source = 'worker' AND logged_at > '} . $t1 . q{'
   AND detail LIKE '%archived data older than archive_keep%'}),
	'1', '... logged as the worker\'s');
is( $node->safe_psql('arch', q{SELECT table_digest('app.ev') = table_digest('ev_kept')}),
	't', 'the table still has exactly its kept rows');

$node->stop;
done_testing();
