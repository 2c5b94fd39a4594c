# The worker killed in the middle of a cycle loses nothing, and the next
# cycle finishes the job: terminated (SIGTERM, pg_terminate_backend),
# killed with kill -9 (the server restarts every process), and the whole
# server killed with kill -9 (crash recovery at the next start).  After each,
# every row within retention is still there (count and md5 against a copy)
# and no expired row is left.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node(
	'crash',
	conf => [
		"pgscale.databases = 'crash'",
		"pgscale.naptime = 1",
		"pgscale.enabled = off",
		# a killed backend makes the postmaster restart everything, as in
		# production (PostgreSQL::Test::Cluster turns this off)
		"restart_after_crash = on",
	]);
$node->start;
note('pgscale library: ' . loaded_pgscale_library($node));

$node->safe_psql('postgres', 'CREATE DATABASE crash');
$node->safe_psql('crash', 'CREATE EXTENSION pgscale');
$node->safe_psql('crash', sql_digest_function());
# a partitioned table (expired months dropped, the default partition
# trimmed) and a plain table whose purge takes several batches.  A
# statement trigger records each batch of samples in the batch's own
# transaction, and while the gate is closed it holds the second batch of a
# purge (pg_sleep), so that the worker can be killed in the middle.
$node->safe_psql('crash', sql_partitioned_table('events', 200, 90));
$node->safe_psql('crash', "SELECT pgscale_set_partitioning('events', 3)");
$node->safe_psql('crash', sql_plain_table('samples', 60, 30));
$node->safe_psql(
	'crash', q{
CREATE TABLE batches (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp());
CREATE TABLE gate (open boolean NOT NULL, closed_at timestamptz);
INSERT INTO gate VALUES (true, NULL);
CREATE FUNCTION pace() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    INSERT INTO batches DEFAULT VALUES;
    -- one batch committed since the gate closed, and this one: wait
    WHILE NOT (SELECT open FROM gate)
          AND (SELECT count(*) FROM batches
               WHERE at >= (SELECT closed_at FROM gate)) >= 2
          AND clock_timestamp() < started + interval '3 minutes'
    LOOP
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER pace AFTER DELETE ON samples
    FOR EACH STATEMENT EXECUTE FUNCTION pace();
});

# rows to purge: some batches' worth in samples (a DELETE batch takes
# about 10000), a few in the default partition of events; then ANALYZE
# (as autovacuum would), since the first batch is sized on the statistics
sub add_expired_rows
{
	$node->safe_psql(
		'crash', q{
INSERT INTO samples (ts, payload)
SELECT now() - interval '40 days' - (g % 200000) * interval '1 second', 'expired'
FROM generate_series(1, 50000) g;
INSERT INTO events (ts, payload)
SELECT now() - interval '300 days' - (g % 1000) * interval '1 hour', 'expired'
FROM generate_series(1, 5000) g;
ANALYZE samples;
});
}

# (polled: the server may be restarting)
sub open_gate
{
	ok( poll_until(
			$node, 'crash',
			'WITH u AS (UPDATE gate SET open = true RETURNING open)
			 SELECT bool_and(open) FROM u',
			't', 60),
		'gate opened');
}

sub set_enabled
{
	my ($on) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET pgscale.enabled = " . ($on ? 'on' : 'off'));
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# Close the gate and let the worker run until it has committed a batch of
# samples and waits in the next one; return its PID.
sub worker_in_the_middle
{
	my ($what) = @_;
	$node->safe_psql('crash',
		'UPDATE gate SET open = false, closed_at = clock_timestamp()');
	set_enabled(1);
	ok( poll_until(
			$node, 'crash',
			"SELECT count(*) FROM pg_stat_activity
			 WHERE backend_type = 'pgscale worker' AND datname = 'crash'
			   AND wait_event = 'PgSleep'
			   AND (SELECT count(*) FROM batches
			        WHERE at >= (SELECT closed_at FROM gate)) = 1",
			'1', 60),
		"$what: the worker committed a batch and is in the next one");
	my $pid = $node->safe_psql('crash',
		"SELECT pid FROM pg_stat_activity
		 WHERE backend_type = 'pgscale worker' AND datname = 'crash'");
	is( $node->safe_psql('crash',
			"SELECT count(*) > 0 FROM samples WHERE ts < now() - interval '30 days'"),
		't', "$what: ... with expired rows left");
	return $pid;
}

# After an interruption: the next cycles finish the job and lose nothing.
sub finished_after
{
	my ($what, $since) = @_;
	ok(poll_until($node, 'crash', sql_table_ok('samples', 30), '0|same', 90),
		"$what: samples purged by the next cycle, rows within retention intact");
	is($node->safe_psql('crash', sql_table_ok('events', 90)),
		'0|same', "$what: events purged, rows within retention intact");
	is($node->safe_psql('crash', sql_months_premade('events', 3, $since)),
		'3', "$what: premade partitions still there");
	is( $node->safe_psql('crash',
			"SELECT count(*) > 0 FROM pgscale_log
			 WHERE action = 'delete' AND source = 'worker' AND logged_at > '$since'"),
		't', "$what: the deletes are in pgscale_log");
	is( $node->safe_psql('crash',
			"SELECT count(*) FROM pgscale_log
			 WHERE action = 'error' AND logged_at > '$since'"),
		'0', "$what: no error logged");
}

#
# 1. SIGTERM (pg_terminate_backend): the worker ends, the launcher notices
# ("killed") and retries after min(naptime, 60 s), without a restart.
#
add_expired_rows();
$node->safe_psql('postgres', 'ALTER SYSTEM SET pgscale.naptime = 3');
my $since = $node->safe_psql('crash', 'SELECT clock_timestamp()');
my $launcher = $node->safe_psql('crash',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgscale launcher'");
my $pid = worker_in_the_middle('SIGTERM');
$node->safe_psql('crash', "SELECT pg_terminate_backend($pid)");
open_gate();
ok( poll_until(
		$node, 'crash',
		"SELECT outcome || ' ' || (next_cycle > last_end)
		 FROM pgscale_worker_status() WHERE database = 'crash'",
		'killed true', 10),
	'SIGTERM: status says "killed" and schedules a retry');
finished_after('SIGTERM', $since);
is($node->safe_psql('crash',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgscale launcher'"),
	$launcher, 'SIGTERM: same launcher, no restart');
like(
	slurp_file($node->logfile),
	qr/terminating background worker "pgscale worker" due to administrator command/,
	'SIGTERM: the server log names the worker');

#
# 2. kill -9 of the worker: the postmaster restarts every process; the
# launcher comes back and the next cycle finishes.
#
set_enabled(0);
$node->safe_psql('postgres', 'ALTER SYSTEM SET pgscale.naptime = 1');
ok( poll_until(
		$node, 'crash',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgscale worker'",
		'0', 30),
	'worker disabled');
add_expired_rows();
$since = $node->safe_psql('crash', 'SELECT clock_timestamp()');
my $log_offset = -s $node->logfile;
$pid = worker_in_the_middle('kill -9 worker');
kill 'KILL', $pid;
open_gate();
ok( poll_until(
		$node, 'crash',
		"SELECT count(*) FROM pg_stat_activity
		 WHERE backend_type = 'pgscale launcher' AND pid <> $launcher",
		'1', 60),
	'kill -9 worker: the server restarted and the launcher is back');
like(
	slurp_file($node->logfile, $log_offset),
	qr/background worker "pgscale worker" \(PID $pid\) was terminated by signal 9.*all server processes terminated; reinitializing/s,
	'kill -9 worker: the server log shows the crash and the restart');
finished_after('kill -9 worker', $since);

#
# 3. kill -9 of the postmaster in the middle of a cycle: every process
# goes, the next start runs crash recovery, and the next cycle finishes.
#
set_enabled(0);
ok( poll_until(
		$node, 'crash',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgscale worker'",
		'0', 30),
	'worker disabled');
add_expired_rows();
$since = $node->safe_psql('crash', 'SELECT clock_timestamp()');
$pid = worker_in_the_middle('kill -9 postmaster');
my @processes = child_pids($node);
ok((grep { $_ == $pid } @processes), 'the worker is a child of the postmaster');
$node->kill9;
ok(wait_for_pids_gone(60, @processes),
	'kill -9 postmaster: the postmaster and every child are gone');
$log_offset = -s $node->logfile;
$node->start;
open_gate();
like(
	slurp_file($node->logfile, $log_offset),
	qr/database system was interrupted|was not properly shut down; automatic recovery in progress/,
	'kill -9 postmaster: the next start runs crash recovery');
finished_after('kill -9 postmaster', $since);
ok( poll_until(
		$node, 'crash',
		"SELECT outcome FROM pgscale_worker_status()
		 WHERE database = 'crash' AND NOT running",
		'ok', 10),
	'kill -9 postmaster: status of the new cycle: ok');

unlike(slurp_file($node->logfile), qr/TRAP:|PANIC:/,
	'no assertion failure or panic in the server log');
$node->stop;
done_testing();
