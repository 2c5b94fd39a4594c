# Pacing: between batches, CALL pgscale_cleanup_proc() and the worker
# pause while a streaming standby lags more than pgscale.max_replica_lag
# (replay paused on the standby with pg_wal_replay_pause()) or a
# replication slot retains more WAL than pgscale.max_slot_wal (a logical
# slot never consumed), and go on once under the limit; under
# pgscale.max_wal_rate a purge takes as long as its WAL at that rate.  While paused the
# backend holds no snapshot and no table lock, and pg_stat_activity (and
# pgscale_worker_status(), for the worker) says why.  A pause longer than
# pgscale.max_pause ends the table's run, logged as 'paused out'; the next
# run finishes it.
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
	allows_streaming => 'logical',
	conf => [ "pgscale.max_replica_lag = '1s'", "pgscale.naptime = 1" ]);
$primary->start;
$primary->safe_psql('postgres', 'CREATE DATABASE app');
$primary->safe_psql('app', 'CREATE EXTENSION pgscale');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
# the standby reports its replay position every second while idle
$standby->append_conf('postgresql.conf', 'wal_receiver_status_interval = 1s');
$standby->start;

# 20,000 expired rows and 1,000 kept; with batch_size 500, 40 batches
my $expired = "SELECT count(*) FROM t WHERE ts < now() - interval '30 days'";
sub refill
{
	$primary->safe_psql(
		'app', q{
TRUNCATE t;
INSERT INTO t (ts, pad)
SELECT now() - interval '40 days' - g * interval '1 minute', repeat('x', 100)
FROM generate_series(1, 20000) g;
INSERT INTO t (ts, pad)
SELECT now() - g * interval '1 minute', 'kept' FROM generate_series(1, 1000) g;
});
}
$primary->safe_psql(
	'app', q{
CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                ts timestamptz NOT NULL, pad text);
SELECT pgscale_set_retention('t', '30 days', 'ts');
});
refill();
$primary->wait_for_catchup($standby);

# a reloaded setting, seen by new sessions
sub set_conf
{
	my ($name, $value) = @_;
	$primary->safe_psql('app', "ALTER SYSTEM SET $name = '$value'");
	$primary->reload;
	ok(poll_until($primary, 'app', "SHOW $name", $value, 10),
		"$name = '$value' in force");
}

# the CALL in a session of its own; returns the session
sub start_call
{
	my ($name) = @_;
	my $bg = $primary->background_psql('app', on_error_stop => 0);
	$bg->query_until(qr/started/,
		"SET application_name = '$name';\n\\echo started\n"
		  . "CALL pgscale_cleanup_proc(relation => 't', batch_size => 500);\n");
	return $bg;
}

my $paused = sub {
	my ($name, $setting) = @_;
	return "SELECT count(*) FROM pg_stat_activity
	        WHERE application_name = '$name'
	          AND query LIKE 'pgscale paused the cleanup of public.t for % s: %$setting%'
	          AND wait_event_type = 'Extension'";
};

#
# Replica lag: replay paused on the standby.
#
$standby->safe_psql('app', 'SELECT pg_wal_replay_pause()');
$primary->safe_psql('app', 'CREATE TABLE wal_after_pause AS SELECT 1 AS x');
ok( poll_until(
		$primary, 'app',
		"SELECT coalesce(max(replay_lag) > interval '1 s', false) FROM pg_stat_replication",
		't', 20),
	'replay paused: the standby lags more than 1 s');
my $bg = start_call('pacing_lag');
ok(poll_until($primary, 'app', $paused->('pacing_lag', 'pgscale.max_replica_lag'), '1', 20),
	'the procedure pauses: pg_stat_activity says why, wait event Extension');
my $left = $primary->safe_psql('app', $expired);
ok($left > 0 && $left < 20000, "some batches done before the pause ($left expired rows left)");
ok( poll_until(
		$primary, 'app',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pacing_lag'
		   AND query LIKE '% for 2 s:%'",
		'1', 20),
	'still paused two seconds on');
is($primary->safe_psql('app', $expired), $left, 'no row deleted while paused');
# (between two measures, each committed at once)
ok( poll_until(
		$primary, 'app',
		"SELECT a.backend_xmin IS NULL AND a.backend_xid IS NULL
		          AND NOT EXISTS (SELECT FROM pg_locks l
		                          WHERE l.pid = a.pid AND l.locktype = 'relation')
		        FROM pg_stat_activity a WHERE application_name = 'pacing_lag'",
		't', 5),
	'paused with no snapshot and no table lock');
$standby->safe_psql('app', 'SELECT pg_wal_replay_resume()');
ok(poll_until($primary, 'app', $expired, '0', 30),
	'replay resumed: the purge goes on to the end');
$bg->quit;
is( $primary->safe_psql(
		'app', "SELECT count(*) FROM pgscale_log WHERE action = 'delete'
		          AND object_name = 'public.t' AND rows = 20000
		          AND detail ~ 'paused [0-9.]+ s in all \\(replica lag\\)'"),
	'1', 'the log row counts every row and the pause time');
is($primary->safe_psql('app', 'SELECT count(*) FROM t'), '1000', 'rows within retention kept');

#
# Cleanup's own WAL rate: 1 MB a second.
#
$primary->wait_for_catchup($standby);
set_conf('pgscale.max_wal_rate', '1MB');
refill();
my $wal_before = $primary->safe_psql('app', 'SELECT pg_current_wal_insert_lsn()');
$primary->safe_psql('app', "CALL pgscale_cleanup_proc(relation => 't', batch_size => 500)");
is( $primary->safe_psql(
		'app', "SELECT count(*) FROM pgscale_log WHERE action = 'delete'
		          AND object_name = 'public.t' AND rows = 20000
		          AND detail ~ 'paused [0-9.]+ s in all \\(WAL rate\\)'
		          AND extract(epoch FROM duration) * 1024 * 1024 >=
		              0.8 * pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$wal_before')
		                  - 1024 * 1024"),
	'1', 'max_wal_rate: the purge paused, and took about as long as its WAL at 1 MB/s');
is($primary->safe_psql('app', $expired), '0', '... and finished');
set_conf('pgscale.max_wal_rate', '0');

#
# Slot WAL: a logical slot never consumed.
#
$primary->wait_for_catchup($standby);
set_conf('pgscale.max_slot_wal', '64kB');
$primary->safe_psql('app',
	"SELECT pg_create_logical_replication_slot('pacing_slot', 'test_decoding')");
refill();
$bg = start_call('pacing_slot');
ok(poll_until($primary, 'app', $paused->('pacing_slot', 'pgscale.max_slot_wal'), '1', 20),
	'a slot retains WAL: the procedure pauses');
$left = $primary->safe_psql('app', $expired);
ok( poll_until(
		$primary, 'app',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pacing_slot'
		   AND query LIKE '% for 1 s:%'",
		'1', 20),
	'still paused a second on');
is($primary->safe_psql('app', $expired), $left, 'no row deleted while paused');
$primary->safe_psql('app', "SELECT pg_drop_replication_slot('pacing_slot')");
ok(poll_until($primary, 'app', $expired, '0', 30), 'slot dropped: the purge finishes');
$bg->quit;

#
# A pause longer than pgscale.max_pause ends the table's run.
#
set_conf('pgscale.max_pause', '2s');
my $cleaned_at = $primary->safe_psql('app', 'SELECT cleaned_at FROM pgscale_policy');
$primary->safe_psql('app',
	"SELECT pg_create_logical_replication_slot('pacing_slot', 'test_decoding')");
refill();
my ($ret, $out, $err) = $primary->psql('app',
	"CALL pgscale_cleanup_proc(relation => 't', batch_size => 500)");
is($ret, 0, 'paused out: the CALL ends without an error');
like($err,
	qr/WARNING:  pgscale stopped cleaning up public.t after pausing for longer than pgscale.max_pause \(2s\)/,
	'... with a warning');
ok($primary->safe_psql('app', $expired) > 0, '... and leaves expired rows');
is( $primary->safe_psql(
		'app', "SELECT count(*) FROM pgscale_log WHERE action = 'paused out'
		          AND object_name = 'public.t' AND detail LIKE '%pgscale.max_slot_wal%'
		          AND duration >= interval '2 s'"),
	'1', "logged as 'paused out', with the limit and the pause");
is($primary->safe_psql('app', 'SELECT cleaned_at FROM pgscale_policy'),
	$cleaned_at, 'the table is not marked cleaned by that run');
$primary->safe_psql('app', "SELECT pg_drop_replication_slot('pacing_slot')");
($ret, $out, $err) = $primary->psql('app',
	"CALL pgscale_cleanup_proc(relation => 't', batch_size => 500)");
is($ret . '|' . $primary->safe_psql('app', $expired), '0|0', 'the next run completes it');

#
# The worker pauses the same way, and pgscale_worker_status() shows it.
#
$primary->safe_psql('app',
	"SELECT pg_create_logical_replication_slot('pacing_slot', 'test_decoding')");
refill();
set_conf('pgscale.max_pause', '1min');
set_conf('pgscale.databases', 'app');
ok( poll_until(
		$primary, 'app',
		"SELECT outcome FROM pgscale_worker_status() WHERE database = 'app' AND running",
		'paused: slot WAL', 30),
	'worker: pgscale_worker_status() shows the pause');
is( $primary->safe_psql(
		'app', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgscale worker'
		          AND query LIKE 'pgscale paused the cleanup of public.t%'"),
	'1', 'worker: pg_stat_activity says why');
$primary->safe_psql('app', "SELECT pg_drop_replication_slot('pacing_slot')");
ok(poll_until($primary, 'app', $expired, '0', 30), 'worker: slot dropped, the purge finishes');
ok( poll_until(
		$primary, 'app',
		"SELECT outcome FROM pgscale_worker_status() WHERE database = 'app' AND NOT running",
		'ok', 30),
	'worker: the cycle ends ok');

$standby->stop;
$primary->stop;
done_testing();
