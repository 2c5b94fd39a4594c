# Diagnostics on a real hot standby, and on a primary that has one.
#
# On the standby every diagnostic answers (a read-only transaction in the
# pg_regress suite only stands in for this), usage counters are said to be
# the standby's own, pgscale_snapshot_sizes() refuses with a hint, and the
# size history arrives by replication.  On the primary, an unused index's
# reason warns that the standby's counters are not counted here.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION pgscale;
	CREATE EXTENSION IF NOT EXISTS pgstattuple;
	CREATE TABLE t (id bigint PRIMARY KEY, a integer, b text);
	INSERT INTO t SELECT g, g % 10, md5(g::text) FROM generate_series(1, 2000) g;
	CREATE INDEX t_a_idx ON t (a);
	CREATE INDEX t_a_idx_copy ON t (a);
	ANALYZE t;
	SELECT pgscale_snapshot_sizes();
	CREATE ROLE monitor LOGIN IN ROLE pg_monitor;
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# every diagnostic answers on the standby, as superuser and as pg_monitor
foreach my $user ('postgres', 'monitor')
{
	foreach my $query (
		'SELECT count(*) FROM pgscale_unused_indexes()',
		'SELECT count(*) FROM pgscale_duplicate_indexes()',
		'SELECT count(*) FROM pgscale_missing_indexes()',
		'SELECT count(*) FROM pgscale_table_bloat()',
		'SELECT count(*) FROM pgscale_table_bloat(exact => true)',
		'SELECT count(*) FROM pgscale_slow_queries()',
		'SELECT count(*) FROM pgscale_space_report()',
		'SELECT count(*) FROM pgscale_health()',
		'SELECT count(*) FROM pgscale_growth_forecast()',
		'SELECT count(*) FROM pgscale_scaling_advice()')
	{
		my ($rc, $out, $err) = $standby->psql('postgres', $query,
			extra_params => [ '-U', $user ]);
		is($rc, 0, "standby, $user: $query");
	}
}

like(
	$standby->safe_psql('postgres',
		q{SELECT reason FROM pgscale_unused_indexes() WHERE index_name = 't_a_idx'}),
	qr/counters are this standby's own/,
	'on the standby, an unused index says the counters are the standby\'s own');

is( $standby->safe_psql('postgres',
		q{SELECT index_name || ' ' || covered_by || ' ' || kind FROM pgscale_duplicate_indexes()}),
	't_a_idx_copy t_a_idx exact',
	'duplicates are found on the standby');

is( $standby->safe_psql('postgres',
		q{SELECT count(*) FROM pgscale_size_history WHERE table_name = 't'}),
	'1', 'the size history arrives by replication');

my ($rc, $out, $err) = $standby->psql('postgres', 'SELECT pgscale_snapshot_sizes()');
isnt($rc, 0, 'pgscale_snapshot_sizes() refuses to run on the standby');
like($err, qr/cannot record table sizes on a standby/, '... with its own message');
like($err, qr/HINT:  Run pgscale_snapshot_sizes\(\) on the primary/, '... and a hint');

is( $standby->safe_psql('postgres',
		q{SELECT count(*) FROM pgscale_health()
		   WHERE status NOT IN ('ok', 'warn', 'critical', 'unknown')
		      OR (status <> 'ok' AND advice IS NULL)}),
	'0', 'health on the standby: every status valid, advice where not ok');

# on the primary, with a standby streaming
$primary->poll_query_until('postgres',
	'SELECT count(*) = 1 FROM pg_stat_replication')
  or die 'the standby never connected';
like(
	$primary->safe_psql('postgres',
		q{SELECT reason FROM pgscale_unused_indexes() WHERE index_name = 't_a_idx'}),
	qr/counters are per node: check the standbys too/,
	'on the primary, an unused index warns that the standbys count their own scans');

$standby->stop;
$primary->stop;
done_testing();
