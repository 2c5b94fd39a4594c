# pgscale_unused_indexes() judges each index over its own age (issue 12,
# item 16): in a database whose statistics are two months old, an index
# made an hour ago is not called unused for two months.  The server first
# runs with its clock 60 days back (libfaketime, see start_at in
# PgscaleTest.pm): the statistics start then, and an old index is made and
# seen by a size snapshot.  Then it runs on the real clock.
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

my $node = pgscale_node('index_age', conf => ["timezone = 'UTC'"]);
my @then = gmtime(time() - 60 * 86400);
start_at($node,
	sprintf('%04d-%02d-%02d %02d:%02d:%02d',
		$then[5] + 1900, $then[4] + 1, @then[ 3, 2, 1, 0 ]));
# (initdb ran on the real clock: the counters start again now)
$node->safe_psql(
	'postgres', q{
SELECT pg_stat_reset_shared('bgwriter');
CREATE EXTENSION pgscale;
CREATE TABLE t (a int, b int, c int);
INSERT INTO t SELECT g, g, g FROM generate_series(1, 1000) g;
CREATE INDEX t_old_idx ON t (a);
SELECT pgscale_snapshot_sizes();
});
$node->stop;

# on the real clock: the statistics (kept by the clean shutdown) are old
$node->start;
is( $node->safe_psql(
		'postgres',
		"SELECT now() - greatest(d.stats_reset, b.stats_reset) > interval '59 days'
		 FROM pg_stat_bgwriter b
		 LEFT JOIN pg_stat_database d ON d.datname = current_database()"),
	't',
	'the statistics are two months old');

sub unused
{
	my ($index) = @_;
	return $node->safe_psql('postgres',
		"SELECT reason, drop_statement LIKE '-- verify first:%'
		 FROM pgscale_unused_indexes() WHERE index_name = '$index'");
}

like(unused('t_old_idx'),
	qr/^unused; 0 scans, statistics (59|60) days old\|f$/,
	'the old index is unused over the statistics\' age, ready to drop');

$node->safe_psql('postgres', 'CREATE INDEX t_new_idx ON t (b)');
like(
	unused('t_new_idx'),
	qr/^unused; 0 scans, statistics \d+ days old, but index age unknown \(no commit timestamp, not yet in pgscale_index_seen: verify before dropping\)\|t$/,
	'a new index of unknown age is not called unused for two months: verify first'
);

$node->safe_psql('postgres', 'SELECT pgscale_snapshot_sizes()');
like(
	unused('t_new_idx'),
	qr/^unused; 0 scans, statistics \d+ days old, but index 0 days old \(since pgscale first saw it; under 30 days: verify before dropping\)\|t$/,
	'after a snapshot: its real age, 0 days, and verify first');
like(unused('t_old_idx'), qr/^unused; 0 scans, statistics (59|60) days old\|f$/,
	'... while the old index keeps its age');

# a dropped index is forgotten at once: a new one with its OID is not old
$node->safe_psql('postgres', 'DROP INDEX t_new_idx');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pgscale_index_seen s
		 WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = s.indexrelid)"),
	'0',
	'DROP INDEX removes its row from pgscale_index_seen');

# with track_commit_timestamp, a new index's age is known at once
$node->append_conf('postgresql.conf', 'track_commit_timestamp = on');
$node->restart;
$node->safe_psql('postgres', 'CREATE INDEX t_ts_idx ON t (c)');
like(
	unused('t_ts_idx'),
	qr/^unused; 0 scans, statistics \d+ days old, but index 0 days old \(by its commit timestamp; under 30 days: verify before dropping\)\|t$/,
	'track_commit_timestamp on: a new index is 0 days old by its commit timestamp'
);
like(unused('t_old_idx'), qr/^unused; 0 scans, statistics (59|60) days old\|f$/,
	'... and the old one (older than the commit timestamps) keeps its first-seen age');

$node->stop;
done_testing();
