# A streaming standby configured like its primary (pgscale preloaded and
# enabled, the same databases) runs no pgscale launcher and no cycle: its
# pgscale_log stays exactly what the primary wrote, and a manual cycle
# there skips with a notice.  Once promoted, its worker takes over and
# purges.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = pgscale_node(
	'primary',
	allows_streaming => 1,
	conf => [ "pgscale.databases = 'app'", "pgscale.naptime = 1", ]);
$primary->start;
note('pgscale library: ' . loaded_pgscale_library($primary));

$primary->safe_psql('postgres', 'CREATE DATABASE app');
$primary->safe_psql('app', 'CREATE EXTENSION pgscale');
# "app" was missing when the launcher started: it looks again every naptime
ok( poll_until(
		$primary, 'app',
		"SELECT cycles > 0 FROM pgscale_worker_status() WHERE database = 'app'",
		't', 5),
	'primary: a database created after the start gets a cycle within a naptime');
$primary->safe_psql('app', sql_digest_function());
$primary->safe_psql('app', sql_partitioned_table('events', 200, 90));
$primary->safe_psql('app', "SELECT pgscale_set_partitioning('events', 3)");
$primary->safe_psql('app', sql_plain_table('samples', 60, 30));
ok(poll_until($primary, 'app', sql_table_ok('samples', 30), '0|same', 30),
	'primary: the worker purges samples');
ok(poll_until($primary, 'app', sql_table_ok('events', 90), '0|same', 30),
	'primary: the worker purges events');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

# more work for the primary's worker while the standby follows
sub add_expired_rows
{
	my ($node) = @_;
	$node->safe_psql(
		'app', q{
INSERT INTO samples (ts, payload)
SELECT now() - interval '40 days' - g * interval '1 minute', 'expired'
FROM generate_series(1, 1000) g;
INSERT INTO events (ts, payload)
SELECT now() - interval '300 days' - g * interval '1 hour', 'expired'
FROM generate_series(1, 100) g;
});
}
add_expired_rows($primary);
ok(poll_until($primary, 'app', sql_table_ok('samples', 30), '0|same', 30),
	'primary: the worker purges new expired rows');

#
# The standby, up for three naptimes: no launcher, no worker, no cycle.
#
ok( poll_until(
		$standby, 'app',
		"SELECT pg_is_in_recovery()
		        AND now() - pg_postmaster_start_time() > interval '3 s'",
		't', 30),
	'standby in recovery, up for three naptimes');
is($standby->safe_psql('app', 'SHOW shared_preload_libraries')
	  . ' ' . $standby->safe_psql('app', 'SHOW pgscale.databases')
	  . ' ' . $standby->safe_psql('app', 'SHOW pgscale.enabled'),
	'pgscale app on', 'standby: pgscale preloaded, enabled, same databases');
is( $standby->safe_psql('app',
		"SELECT count(*) FROM pg_stat_activity
		 WHERE backend_type IN ('pgscale launcher', 'pgscale worker')"),
	'0', 'standby: no pgscale launcher or worker in pg_stat_activity');
is($standby->safe_psql('app', 'SELECT count(*) FROM pgscale_worker_status()'),
	'0', 'standby: pgscale_worker_status() lists no database');
$primary->wait_for_catchup($standby);
my $log_sql = "SELECT count(*) || ':' || coalesce(max(id), 0) || ':'
	|| md5(coalesce(string_agg(id || action || source || logged_at, ',' ORDER BY id), ''))
	FROM pgscale_log";
my $primary_log = $primary->safe_psql('app', $log_sql);
is($standby->safe_psql('app', $log_sql),
	$primary_log, "standby: pgscale_log exactly as replicated ($primary_log)");
is($standby->safe_psql('app', sql_table_ok('samples', 30)),
	'0|same', 'standby: samples as purged by the primary');

my ($ret, $out, $err) =
  $standby->psql('app', 'SELECT count(*) FROM pgscale_run_maintenance()');
is($ret . '|' . $out, '0|0', 'standby: manual pgscale_run_maintenance() returns no action');
like($err, qr/NOTICE:  pgscale maintenance skipped: the server is in recovery/,
	'... with a notice saying why');
($ret, $out, $err) =
  $standby->psql('app', 'CALL pgscale_run_maintenance_proc()');
is($ret, 0, 'standby: CALL pgscale_run_maintenance_proc() does not fail');
like($err, qr/NOTICE:  pgscale maintenance skipped: the server is in recovery/,
	'... and skips the same way');
unlike(slurp_file($standby->logfile),
	qr/pgscale launcher started|ERROR:  cannot execute .* in a read-only transaction/,
	'standby server log: no launcher started, no write attempted');

#
# Promotion.  The primary's worker is stopped first so that expired rows
# reach the standby; then the primary goes away and the standby is
# promoted: its worker purges them.
#
$primary->safe_psql('postgres', 'ALTER SYSTEM SET pgscale.enabled = off');
$primary->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok( poll_until(
		$primary, 'app',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgscale worker'",
		'0', 30),
	'primary: worker disabled');
add_expired_rows($primary);
$primary->wait_for_catchup($standby);
is( $standby->safe_psql('app',
		"SELECT count(*) FROM samples WHERE ts < now() - interval '30 days'"),
	'1000', 'standby: the expired rows arrived and stay');
$primary->stop;
my $promoted_at = $standby->safe_psql('app', 'SELECT clock_timestamp()');
$standby->promote;
ok( poll_until(
		$standby, 'app',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgscale launcher'",
		'1', 30),
	'promoted: the launcher starts');
ok(poll_until($standby, 'app', sql_table_ok('samples', 30), '0|same', 30),
	'promoted: its worker purges samples, rows within retention intact');
ok(poll_until($standby, 'app', sql_table_ok('events', 90), '0|same', 30),
	'promoted: its worker purges events, rows within retention intact');
is( $standby->safe_psql('app',
		"SELECT count(*) > 0 AND bool_and(source = 'worker') FROM pgscale_log
		 WHERE logged_at > '$promoted_at'"),
	't', 'promoted: its pgscale_log records the worker\'s actions');
ok( poll_until(
		$standby, 'app',
		"SELECT outcome FROM pgscale_worker_status()
		 WHERE database = 'app' AND NOT running AND cycles > 0",
		'ok', 10),
	'promoted: pgscale_worker_status() shows its cycles');

$standby->stop;
done_testing();
