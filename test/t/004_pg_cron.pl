# Scheduling pgscale with pg_cron 1.4 (Debian's postgresql-15-cron):
# cron.schedule('pgscale', '* * * * *', 'CALL pgscale_run_maintenance_proc()')
# (the README's recipe: a transaction per policy, see 006_cron_forms)
# runs within the minute, cron.job_run_details shows it succeeded, and the
# cycle's actions are in pgscale_log with source 'cron'.  Two servers run
# at once: pg_cron connecting over libpq (its default, through the unix
# socket) and pg_cron in background workers.  pgscale's own worker is idle
# (pgscale.databases is empty), so every action is pg_cron's.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# pg_cron 1.4 runs jobs at the start of a minute: up to 60 s, plus slack
my $CRON_WAIT = 90;

sub cron_node
{
	my ($name, $background_workers) = @_;
	my $node = pgscale_node($name, preload => 'pg_cron,pgscale');
	$node->start;
	$node->safe_psql('postgres', 'CREATE DATABASE crondb');
	my $host = $node->host;
	$node->append_conf(
		'postgresql.conf', join("\n",
			"cron.database_name = 'crondb'",
			# jobs connect through the node's unix socket (trust)
			"cron.host = '$host'",
			"cron.use_background_workers = "
			  . ($background_workers ? 'on' : 'off')));
	$node->restart;
	$node->safe_psql('crondb', 'CREATE EXTENSION pg_cron');
	$node->safe_psql('crondb', 'CREATE EXTENSION pgscale');
	$node->safe_psql('crondb', sql_digest_function());
	$node->safe_psql('crondb', sql_partitioned_table('events', 200, 90));
	$node->safe_psql('crondb', "SELECT pgscale_set_partitioning('events', 3)");
	$node->safe_psql('crondb', sql_plain_table('samples', 60, 30));
	return $node;
}

my %nodes = (
	'libpq' => cron_node('cron_libpq', 0),
	'background worker' => cron_node('cron_bgw', 1));
my (%jobid, %since);
for my $mode (sort keys %nodes)
{
	my $node = $nodes{$mode};
	is($node->safe_psql('crondb', 'SHOW cron.use_background_workers'),
		$mode eq 'libpq' ? 'off' : 'on', "$mode: pg_cron mode");
	is($node->safe_psql('crondb', "SHOW pgscale.databases"),
		'', "$mode: pgscale's own worker maintains no database");
	is( $node->safe_psql('crondb',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"),
		'1', "$mode: pg_cron's scheduler runs");
	is( $node->safe_psql('crondb',
			"SELECT count(*) FROM pgscale_log WHERE action <> 'create_partition'"),
		'0', "$mode: pgscale_log holds only the partitions made by hand");
	$since{$mode} = $node->safe_psql('crondb', 'SELECT clock_timestamp()');
	$jobid{$mode} = $node->safe_psql('crondb',
		"SELECT cron.schedule('pgscale', '* * * * *', 'CALL pgscale_run_maintenance_proc()')");
	like($jobid{$mode}, qr/^\d+$/, "$mode: job scheduled (id $jobid{$mode})");
}

for my $mode (sort keys %nodes)
{
	my $node = $nodes{$mode};
	my $job = $jobid{$mode};
	ok( poll_until(
			$node, 'crondb',
			"SELECT count(*) > 0 FROM cron.job_run_details
			 WHERE jobid = $job AND status = 'succeeded'",
			't', $CRON_WAIT),
		"$mode: cron.job_run_details shows the run succeeded");
	is( $node->safe_psql('crondb',
			"SELECT count(*) FROM cron.job_run_details
			 WHERE jobid = $job AND status NOT IN ('succeeded', 'running', 'starting')"),
		'0', "$mode: no failed run");
	# later runs find nothing to do; the first one did it all
	is($node->safe_psql('crondb', sql_table_ok('samples', 30)),
		'0|same', "$mode: samples purged, rows within retention intact");
	is($node->safe_psql('crondb', sql_table_ok('events', 90)),
		'0|same', "$mode: events purged, rows within retention intact");
	is( $node->safe_psql('crondb',
			sql_months_premade('events', 3, $since{$mode})),
		'3', "$mode: three months premade");
	is( $node->safe_psql('crondb',
			"SELECT string_agg(DISTINCT action, ',' ORDER BY action) FROM pgscale_log
			 WHERE logged_at > '$since{$mode}'"),
		'analyze,create_partition,delete,drop_partition,vacuum',
		"$mode: pgscale_log holds the cycle's actions");
	is( $node->safe_psql('crondb',
			"SELECT string_agg(DISTINCT source, ',') FROM pgscale_log
			 WHERE logged_at > '$since{$mode}'"),
		'cron', "$mode: ... every one with source 'cron'");
	$node->safe_psql('crondb', "SELECT cron.unschedule('pgscale')");
}

#
# The documented jobs: the daily cycle and the seed's monthly cleanup.
#
my $node = $nodes{'libpq'};
$node->safe_psql('crondb',
	"SELECT cron.schedule('pgscale', '0 3 * * *', 'CALL pgscale_run_maintenance_proc()')");
$node->safe_psql('crondb',
	"SELECT cron.schedule('pgscale-cleanup', '0 3 1 * *', 'CALL pgscale_cleanup_proc()')");
is( $node->safe_psql('crondb',
		"SELECT string_agg(jobname || ' ' || schedule || ' ' || command || ' ' || active, ';'
		                   ORDER BY jobname)
		 FROM cron.job"),
	'pgscale 0 3 * * * CALL pgscale_run_maintenance_proc() true;'
	  . 'pgscale-cleanup 0 3 1 * * CALL pgscale_cleanup_proc() true',
	'the daily cycle and the monthly cleanup are accepted');

$_->stop for values %nodes;
done_testing();
