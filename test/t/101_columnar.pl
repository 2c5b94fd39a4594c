# Compression of old months (compress_after) with citus_columnar on a
# single node: the months wholly older than compress_after and wholly
# inside the retention become columnar with the same rows, the month that
# straddles the cutoff and the premade months stay heap, the dry run names
# what the real run does, a table with an index columnar cannot hold is
# skipped with a logged reason while the run goes on, a lock held on a
# month makes pgscale give way after pgscale.lock_timeout (the parent stays
# readable and writable) and the next run compresses it, and when the
# cutoff reaches the compressed months retention drops one whole and
# converts the straddling one back to heap before trimming it.
#
# citus_columnar comes with Citus, which Debian does not package: the test
# skips when citus_columnar.so is not in this PostgreSQL's pkglibdir.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
my $pkglibdir = `$pg_config --pkglibdir`;
chomp $pkglibdir;
plan skip_all => "citus_columnar is not installed (no citus_columnar.so in $pkglibdir); "
  . "build Citus 13.2 against this PostgreSQL to run this test"
  unless -f "$pkglibdir/citus_columnar.so";

my $node = pgscale_node('columnar',
	preload => 'citus_columnar,pgscale',
	conf => [ 'pgscale.lock_timeout = 1500', 'pgscale.lock_retries = 0' ]);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION citus_columnar;
CREATE EXTENSION pgscale;
CREATE ROLE app LOGIN;
GRANT CREATE ON SCHEMA public TO app;
});

# The seed's table, owned by a role that is not a superuser: a row per
# team, member and day, monthly partitions from 14 months ago through two
# months ahead.
my $fixture = q{
CREATE TABLE %1$s (team_id int NOT NULL, member_id int NOT NULL,
                   day timestamptz NOT NULL, tokens bigint,
                   PRIMARY KEY (team_id, member_id, day))
    PARTITION BY RANGE (day);
SELECT format('CREATE TABLE %%I PARTITION OF %1$s FOR VALUES FROM (%%L) TO (%%L)',
              '%1$s_' || to_char(m, 'YYYYMM'), m, m + interval '1 month')
FROM generate_series(date_trunc('month', now() - interval '14 months'),
                     date_trunc('month', now() + interval '2 months'),
                     interval '1 month') m \gexec
INSERT INTO %1$s
SELECT t, mem, d + interval '12 hours', t * 1000 + mem * 10 + extract(day FROM d)::int
FROM generate_series(1, 4) t, generate_series(1, 3) mem,
     generate_series(date_trunc('month', now() - interval '14 months'),
                     now() - interval '1 day', interval '1 day') d;
};
$node->safe_psql('postgres', "SET ROLE app;\n" . sprintf($fixture, 'usage'));
$node->safe_psql('postgres', "SET ROLE app;\n" . sprintf($fixture, 'events')
	  . 'CREATE INDEX events_day_brin ON events USING brin (day);');

my $sum = q{SELECT count(*) || '/' || sum(hashtextextended(team_id || ',' || member_id || ','
	|| day || ',' || tokens, 0) % 1000000007) FROM %s};
my $columnar = q{SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	JOIN pg_am a ON a.oid = c.relam
	WHERE i.inhparent = '%s'::regclass AND a.amname = 'columnar'};

# A retention of 365 days without compression first, so that the run
# that compresses deletes nothing.
$node->safe_psql('postgres', q{SET ROLE app;
	SELECT pgscale_set_retention('usage', '365 days');
	SELECT pgscale_set_retention('events', '365 days');
	CALL pgscale_cleanup_proc();});

# Refusals: compress_after as long as the retention, or on a table that is
# not partitioned by its time column.
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE app; SELECT pgscale_set_retention('usage', '365 days', compress_after => '365 days')});
like($err, qr/compress_after must be shorter than the retention/,
	'compress_after as long as the retention is refused');
$node->safe_psql('postgres', 'SET ROLE app; CREATE TABLE flat (ts timestamptz)');
($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE app; SELECT pgscale_set_retention('flat', '365 days', 'ts', compress_after => '3 months')});
like($err, qr/compress_after needs table public.flat partitioned by range on "ts"/,
	'compress_after on a table that is not partitioned is refused');

$node->safe_psql('postgres', q{SET ROLE app;
	SELECT pgscale_set_retention('usage', '365 days', compress_after => '3 months');
	SELECT pgscale_set_retention('events', '365 days', compress_after => '3 months');});
is($node->safe_psql('postgres',
		q{SELECT string_agg(compress_after::text, ',' ORDER BY table_name::text) FROM pgscale_policy}),
	'3 mons,3 mons', 'compress_after recorded');

# How many months are wholly inside the retention and older than 3 months.
my $expected = $node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(date_trunc('month', now() - interval '14 months'),
	                                     date_trunc('month', now() + interval '2 months'),
	                                     interval '1 month') m
	WHERE m >= now() - interval '365 days' AND m + interval '1 month' <= now() - interval '3 months'});
ok($expected >= 8, "$expected months to compress");

my $before = $node->safe_psql('postgres', sprintf($sum, 'usage'));

# A session holds one of those months (the newest): pgscale waits for it
# at most pgscale.lock_timeout and goes on with the other months.
my $held = $node->safe_psql('postgres', q{
	SELECT 'usage_' || to_char(date_trunc('month', now() - interval '3 months') - interval '1 month', 'YYYYMM')});
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe("SELECT count(*) FROM $held");

# The dry run names each month the real run compresses.
($ret, $out, $err) = $node->psql('postgres',
	'SET ROLE app; CALL pgscale_cleanup_proc(dry_run => true)');
my @would = $err =~ /cleanup would compress partition public\.(usage_\d+)/g;
is(scalar @would, $expected, 'the dry run would compress each month');
my @would_skip = $err =~ /cleanup would leave partition public\.(events_\d+) uncompressed: index events_\d+_day_idx uses the brin access method/g;
is(scalar @would_skip, $expected, '... and would leave each month of the table with a BRIN index');
is($node->safe_psql('postgres', sprintf($columnar, 'usage')), '0', '... and compresses nothing');

# The real run, as the owner, in the background while the parent is used.
my $current = $node->safe_psql('postgres', q{SELECT date_trunc('month', now())::date});
my $runner = $node->background_psql('postgres', on_error_stop => 0);
$runner->query_until(qr/started/, "\\echo started\nSET ROLE app;\nCALL pgscale_cleanup_proc();\n\\echo done\n");
ok( $node->poll_query_until('postgres', qq{
	SELECT count(*) > 0 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	WHERE c.relname = '$held' AND l.mode = 'AccessExclusiveLock' AND NOT l.granted}),
	'the run waits for the month another session holds');
is($node->safe_psql('postgres', qq{SET statement_timeout = '1s';
	INSERT INTO usage VALUES (9, 9, '$current'::timestamptz + interval '1 hour', 1);
	SELECT count(*) FROM usage WHERE day >= '$current' AND team_id = 9}),
	'1', '... while the parent stays writable and readable');
$runner->query_until(qr/done/, '');
$runner->quit;
$node->safe_psql('postgres', "DELETE FROM usage WHERE day >= '$current' AND team_id = 9");
$holder->query_safe('COMMIT');

is($node->safe_psql('postgres', sprintf($columnar, 'usage')), $expected - 1,
	'every month but the held one compressed');
is($node->safe_psql('postgres', qq{SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE c.relname = '$held'}), 'heap', '... the held one left as it was');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgscale_log
	WHERE action = 'error' AND object_name LIKE 'public.usage_%' AND detail LIKE 'compress partition%'}),
	'1', '... with an error recorded for it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgscale_log
	WHERE action = 'compress' AND detail LIKE 'converted to columnar%bytes before%bytes after%'}),
	$expected - 1, "each compression logged with its sizes");
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgscale_log
	WHERE action = 'compress' AND detail LIKE 'skipped: index %brin%'}),
	$expected, 'each month of the table with a BRIN index skipped with its reason');
is($node->safe_psql('postgres', sprintf($columnar, 'events')), '0', '... and left heap');

# The next run compresses the month that was held.
$node->safe_psql('postgres', 'SET ROLE app; CALL pgscale_cleanup_proc()');
is($node->safe_psql('postgres', sprintf($columnar, 'usage')), $expected,
	'the next run compresses the month that was held');
is($node->safe_psql('postgres', sprintf($sum, 'usage')), $before,
	'rows and checksum the same after compression');
is($node->safe_psql('postgres', q{SELECT string_agg(split_part(object_name, '.', 2), ',' ORDER BY object_name)
	FROM pgscale_log WHERE action = 'compress' AND detail LIKE 'converted%'}),
	join(',', sort @would), 'the months compressed are those the dry run named');
is($node->safe_psql('postgres', q{
	SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE c.relname = 'usage_' || to_char(now() - interval '365 days', 'YYYYMM')}),
	'heap', 'the month that straddles the cutoff stays heap');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	JOIN pg_am a ON a.oid = c.relam
	WHERE i.inhparent = 'usage'::regclass AND a.amname = 'heap'
	  AND c.relname > 'usage_' || to_char(now(), 'YYYYMM')}),
	'2', '... and so do the premade months');

# The function form cannot commit between the rewrites: it says so.
$node->safe_psql('postgres', 'SET ROLE app; DROP INDEX events_day_brin');
($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE app; SELECT count(*) FROM pgscale_cleanup(relation => 'events')});
like($err, qr/pgscale left $expected months of public.events uncompressed/,
	'the function form leaves the months uncompressed and says so');
is($node->safe_psql('postgres', sprintf($columnar, 'events')), '0', '... converting none');

# The maintenance procedure (the worker's cycle) compresses them, one
# month per transaction.
$node->safe_psql('postgres', 'SET ROLE app; CALL pgscale_run_maintenance_proc()');
is($node->safe_psql('postgres', sprintf($columnar, 'events')), $expected,
	'CALL pgscale_run_maintenance_proc() compresses the months');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT xmin::text) = count(*) FROM pgscale.pgscale_log
	WHERE action = 'compress' AND detail LIKE 'converted%'}),
	't', '... each compression in a transaction of its own');

# Time moves on: a cutoff in the middle of the second oldest compressed
# month.  The oldest is dropped whole, the second converted back to heap
# and trimmed; the dry run says so and counts the same.
my ($m2, $days) = split /\|/, $node->safe_psql('postgres', q{
	WITH m AS (SELECT date_trunc('month', now() - interval '365 days') + interval '2 months' AS m2)
	SELECT 'usage_' || to_char(m2, 'YYYYMM'), (now()::date - (m2 + interval '15 days')::date)
	FROM m});
my $kept = $node->safe_psql('postgres',
	sprintf($sum, "usage WHERE day >= now() - interval '$days days'"));
($ret, $out, $err) = $node->psql('postgres',
	"SET ROLE app; CALL pgscale_cleanup_proc(dry_run => true, relation => 'usage', days => $days)");
my ($dry_parts, $dry_rows) = $err =~ /usage: (\d+) partitions dropped, (\d+) rows deleted \(dry run\)/;
like($err, qr/cleanup would convert partition public.$m2 back to heap to trim it/,
	'the dry run says it would decompress the straddling month');
($ret, $out, $err) = $node->psql('postgres',
	"SET ROLE app; CALL pgscale_cleanup_proc(relation => 'usage', days => $days)");
my ($parts, $rows) = $err =~ /usage: (\d+) partitions dropped, (\d+) rows deleted/;
is("$parts/$rows", "$dry_parts/$dry_rows", "the real run drops and deletes what the dry run said ($parts/$rows)");
is($parts, 2, '... the old straddling month and the oldest compressed one, dropped whole');
is($node->safe_psql('postgres', qq{SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE c.relname = '$m2'}), 'heap', 'the compressed month that came to straddle the cutoff is heap again');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM usage WHERE day < now() - interval '$days days'}),
	'0', '... with no expired row left');
is($node->safe_psql('postgres', sprintf($sum, 'usage')), $kept, '... and every kept row kept');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pgscale_log WHERE action = 'decompress'}),
	'1', '... the conversion back logged');

# A retention shortened below compress_after is refused.
($ret, $out, $err) = $node->psql('postgres',
	q{SET ROLE app; SELECT pgscale_set_retention('usage', '60 days')});
like($err, qr/compress_after must be shorter than the retention/,
	'a retention shorter than the policy\'s compress_after is refused');

# compress_after => '0' stops the compression of new months.
$node->safe_psql('postgres',
	q{SET ROLE app; SELECT pgscale_set_retention('usage', '365 days', compress_after => '0')});
is($node->safe_psql('postgres',
		q{SELECT compress_after IS NULL FROM pgscale_policy WHERE table_name = 'usage'::regclass}),
	't', "compress_after => '0' turns compression off");

$node->stop;
done_testing();
