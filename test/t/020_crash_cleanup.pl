# Crash in the middle of CALL pgscale_cleanup_proc: kill -9 of its backend,
# then of the postmaster, while the procedure waits at a chosen batch (a row
# lock held by another session stops it there).  After each restart no row
# inside the retention window is missing (count and checksum against a
# copy), the batches committed before the crash stay done, and the next run
# finishes the job.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# the test framework turns crash restarts off; this test needs them, and
# real fsyncs so that a crash is a crash
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pgscale'
restart_after_crash = on
# the test expires most rows again and again: no blast-radius limit
pgscale.max_delete_fraction = 1
fsync = on
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pgscale;
	-- expired and kept rows interleaved over about 100 blocks
	CREATE TABLE metrics (id int PRIMARY KEY, d date NOT NULL, pad text);
	INSERT INTO metrics
	SELECT g, current_date - (g * 7919 % 730), repeat('x', 100) FROM generate_series(1, 6000) g;
	CREATE TABLE kept AS SELECT * FROM metrics WHERE d >= current_date - 365;
	SELECT pgscale_set_retention('metrics', '365 days', 'd');
});

my $window_check = q{
	SELECT (SELECT count(*) FROM metrics WHERE d >= current_date - 365) = (SELECT count(*) FROM kept)
	   AND (SELECT md5(string_agg(id::text || d::text, ',' ORDER BY id)) FROM metrics
	        WHERE d >= current_date - 365)
	     = (SELECT md5(string_agg(id::text || d::text, ',' ORDER BY id)) FROM kept)};
my $expired = q{SELECT count(*) FROM metrics WHERE d < current_date - 365};
my $expired_at_start = $node->safe_psql('postgres', $expired);
cmp_ok($expired_at_start, '>', 1000, 'expired rows to purge');

# Wait until the server answers again after a crash (connection attempts
# fail, or die on a broken pipe, while it restarts).
sub wait_for_server
{
	foreach (1 .. $PostgreSQL::Test::Utils::timeout_default)
	{
		my $up = eval { $node->safe_psql('postgres', 'SELECT 1') };
		return 1 if defined $up && $up eq '1';
		sleep 1;
	}
	die 'the server did not come back';
}

# The procedure's backend, stopped at a batch in the middle of the table by
# a row lock: returns its pid.
sub start_cleanup_and_stop_it
{
	my ($locker_ref) = @_;
	my $locker = $node->background_psql('postgres');
	my $row = $node->safe_psql('postgres', qq{
		SELECT id FROM metrics WHERE d < current_date - 365
		  AND (ctid::text::point)[0] >= 60 ORDER BY ctid LIMIT 1});
	$locker->query_safe("BEGIN; SELECT id FROM metrics WHERE id = $row FOR UPDATE;");
	$$locker_ref = $locker;

	my $cleaner = $node->background_psql('postgres', on_error_stop => 0);
	$cleaner->query_until(qr/started/, q{
		SET pgscale.lock_timeout = '60s';
		\echo started
		CALL pgscale_cleanup_proc(relation => 'metrics', batch_size => 50);
	});
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_activity
		WHERE query LIKE 'CALL pgscale_cleanup_proc%' AND wait_event_type = 'Lock'})
	  or die 'the procedure never reached the locked row';
	my $pid = $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL pgscale_cleanup_proc%'});

	# The procedure's intermediate commits are asynchronous (a crash may
	# undo the last ones, which the next run repeats); wait until the WAL
	# writer has flushed them, so the test can tell that flushed batches
	# survive the crash.
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$node->poll_query_until('postgres',
		"SELECT pg_current_wal_flush_lsn() >= '$lsn'::pg_lsn")
	  or die 'the WAL was never flushed';
	return ($pid, $cleaner);
}

# 1. kill -9 of the procedure's backend
my $locker;
my ($pid, $cleaner) = start_cleanup_and_stop_it(\$locker);
my $before = $node->safe_psql('postgres', $expired);
cmp_ok($before, '<', $expired_at_start, 'batches before the lock were committed');
cmp_ok($before, '>', 0, '... and some are still to do');
kill 'KILL', $pid;
eval { $cleaner->quit };
eval { $locker->quit };
wait_for_server();
is($node->safe_psql('postgres', $window_check), 't',
	'backend killed: every row inside the window is there');
cmp_ok($node->safe_psql('postgres', $expired), '<=', $before,
	'backend killed: flushed batches stay done');
$node->safe_psql('postgres', q{CALL pgscale_cleanup_proc(relation => 'metrics')});
is($node->safe_psql('postgres', $expired), '0', 'the next run finishes the job');
is($node->safe_psql('postgres', $window_check), 't', '... and keeps the window');

# 2. kill -9 of the postmaster
$node->safe_psql('postgres', q{
	INSERT INTO metrics
	SELECT g, current_date - 400 - (g % 300), repeat('y', 100) FROM generate_series(10001, 14000) g});
($pid, $cleaner) = start_cleanup_and_stop_it(\$locker);
$before = $node->safe_psql('postgres', $expired);
cmp_ok($before, '>', 0, 'the procedure is stopped mid-way again');
$node->kill9;
eval { $cleaner->quit };
eval { $locker->quit };
# the orphaned backends notice the postmaster's death and exit
sleep 1 while kill(0, $pid);
$node->start;
wait_for_server();
is($node->safe_psql('postgres', $window_check), 't',
	'postmaster killed: every row inside the window is there after recovery');
$node->safe_psql('postgres', q{CALL pgscale_cleanup_proc(relation => 'metrics')});
is($node->safe_psql('postgres', $expired), '0', 'the next run finishes the job');
is($node->safe_psql('postgres', $window_check), 't', '... and keeps the window');
is($node->safe_psql('postgres',
		q{SELECT count(*) > 0 FROM pgscale_log WHERE relid = 'metrics'::regclass AND action = 'delete'}),
	't', 'the completed runs are in pgscale_log');

$node->stop;
done_testing();
