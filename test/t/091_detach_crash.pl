# Crash safety of partition retention by DETACH PARTITION ... CONCURRENTLY
# (CALL pgscale_cleanup_proc): the server crashes while a detach is parked
# (a) in its first transaction, waiting for a lock on the parent, (b)
# between its two transactions, waiting for an application transaction
# (the partition is left pending detach), and (c) with one partition
# detached but not yet dropped and the next one in its second transaction.
# After the restart and one more run: no expired row is visible through the
# parent, no orphan is left (no record in pgscale_detached, no stray table
# of the table's partitions), and every kept row is there (count and
# checksum against a copy).  Each park is made by a session holding a lock.
# (d) repeats (c) with a policy that archives: after the restart and one
# run the detached partition is in the archive schema with all its rows,
# recorded in pgscale_archive, never dropped.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node('detach_crash',
	conf => [ 'restart_after_crash = on', 'fsync = on' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgscale');

# ev: monthly partitions from seven months ago on, rows over the last 200
# days, a retention of 60 days: four or five partitions wholly expired;
# policy_args: more arguments of pgscale_set_retention
sub make_table
{
	my ($policy_args) = @_;
	$policy_args //= '';
	$node->safe_psql('postgres', q{
DROP TABLE IF EXISTS ev, ev_kept;
DELETE FROM pgscale_policy;
CREATE TABLE ev (id int NOT NULL, d date NOT NULL, pad text) PARTITION BY RANGE (d);
SELECT count(*) FROM pgscale_create_month_partitions('ev', 3,
    (date_trunc('month', current_date) - interval '7 months')::date);
INSERT INTO ev SELECT g, current_date - g % 200, repeat('x', 50) FROM generate_series(1, 20000) g;
CREATE TABLE ev_kept AS SELECT * FROM ev WHERE d >= current_date - 60;
});
	$node->safe_psql('postgres',
		qq{SELECT pgscale_set_retention('ev', '60 days', 'd'$policy_args)});
}

# the n-th oldest partition of ev (1-based)
sub partition_name
{
	my ($n) = @_;
	return $node->safe_psql('postgres', qq{
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'ev'::regclass ORDER BY c.relname LIMIT 1 OFFSET @{[$n - 1]}});
}

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

# start the procedure in the background, waiting up to a minute for locks;
# returns its session and its backend's pid once a DETACH of "part"
# waits for a lock (and, with pending, once that detach is pending)
sub start_cleanup
{
	my ($part, $pending) = @_;
	my $cleaner = $node->background_psql('postgres', on_error_stop => 0);
	$cleaner->query_until(qr/started/, q{
		SET pgscale.lock_timeout = '60s';
		\echo started
		CALL pgscale_cleanup_proc(relation => 'ev');
	});
	$node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		WHERE query LIKE 'ALTER TABLE%DETACH PARTITION public.$part CONCURRENTLY'
		  AND wait_event_type = 'Lock'
		  @{[ $pending ? "AND (SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = 'public.$part'::regclass)" : '' ]}})
	  or die "the detach of $part never waited";
	my $pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL pgscale_cleanup_proc%'});

	# The procedure's commits and the detach's do not wait for the WAL
	# flush (a crash may undo the last ones, which the next run repeats):
	# wait until the WAL writer has flushed them, so that the state the
	# test expects at the crash is the one recovery finds.
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
	$node->poll_query_until('postgres',
		"SELECT pg_current_wal_flush_lsn() >= '$lsn'::pg_lsn")
	  or die 'the WAL was never flushed';
	return ($cleaner, $pid);
}

# after the crash: one more run, then the three guarantees
sub check_after_run
{
	my ($what) = @_;
	$node->safe_psql('postgres', q{CALL pgscale_cleanup_proc(relation => 'ev')});
	is($node->safe_psql('postgres', q{SELECT count(*) FROM ev WHERE d < current_date - 60}),
		'0', "$what: no expired row through the parent");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pgscale_detached}),
		'0', "$what: no record left in pgscale_detached");
	is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_class c
WHERE c.relname ~ '^ev_[0-9]{4}_[0-9]{2}$' AND c.relkind = 'r' AND NOT c.relispartition
  AND c.relnamespace = 'public'::regnamespace}),
		'0', "$what: no stray table of the partitions");
	is($node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM ev WHERE d >= current_date - 60) = (SELECT count(*) FROM ev_kept)
   AND (SELECT md5(string_agg(id::text || d::text, ',' ORDER BY id)) FROM ev WHERE d >= current_date - 60)
     = (SELECT md5(string_agg(id::text || d::text, ',' ORDER BY id)) FROM ev_kept)}),
		't', "$what: every kept row is there");
}

# (a) parked in the first transaction: a session holds SHARE UPDATE
# EXCLUSIVE on the parent; immediate shutdown
make_table();
my $p1 = partition_name(1);
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; LOCK TABLE ONLY ev IN SHARE UPDATE EXCLUSIVE MODE;');
my ($cleaner, $pid) = start_cleanup($p1, 0);
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_inherits WHERE inhdetachpending}),
	'0', '(a) the detach waits in its first transaction');
$node->stop('immediate');
eval { $cleaner->quit };
eval { $holder->quit };
$node->start;
check_after_run('(a) crash in the first transaction');

# (b) parked between the two transactions: an application transaction
# that inserted into the table; kill -9 of the procedure's backend
make_table();
$p1 = partition_name(1);
my $app = $node->background_psql('postgres');
$app->query_safe('BEGIN; INSERT INTO ev VALUES (0, current_date, NULL);');
($cleaner, $pid) = start_cleanup($p1, 1);
kill 'KILL', $pid;
eval { $cleaner->quit };
eval { $app->quit };
wait_for_server();
is($node->safe_psql('postgres', qq{
SELECT (SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = 'public.$p1'::regclass)
   AND EXISTS (SELECT FROM pgscale_detached WHERE rel_schema = 'public' AND rel_name = '$p1')}),
	't', '(b) after the crash the partition is pending detach, and recorded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM ev WHERE d < current_date - 60
                                  AND tableoid = (SELECT min(inhrelid) FROM pg_inherits WHERE inhdetachpending)}),
	'0', '(b) the pending partition\'s rows are not visible through the parent');
check_after_run('(b) crash between the two transactions');

# (c) one partition detached and not dropped, the next one's detach in
# its second transaction (a reader of that partition holds it); kill -9
make_table();
$p1 = partition_name(1);
my $p2 = partition_name(2);
my $reader = $node->background_psql('postgres');
$reader->query_safe("BEGIN; SELECT count(*) FROM public.$p2;");
($cleaner, $pid) = start_cleanup($p2, 1);
kill 'KILL', $pid;
eval { $cleaner->quit };
eval { $reader->quit };
wait_for_server();
is($node->safe_psql('postgres', qq{
SELECT NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = 'public.$p1'::regclass)
   AND EXISTS (SELECT FROM pgscale_detached WHERE rel_schema = 'public' AND rel_name = '$p1')
   AND EXISTS (SELECT FROM pgscale_detached WHERE rel_schema = 'public' AND rel_name = '$p2')}),
	't', '(c) after the crash one partition is detached and not dropped, both are recorded');
check_after_run('(c) crash between the detach and the drop');

# (d) the same crash with a policy that archives: the detached partition's
# record says archive, so the next run moves it into the archive schema
# with all its rows, never drops it
make_table(", action => 'archive', archive_schema => 'arch'");
$p1 = partition_name(1);
$p2 = partition_name(2);
my $p1_rows = $node->safe_psql('postgres', "SELECT count(*) FROM public.$p1");
$reader = $node->background_psql('postgres');
$reader->query_safe("BEGIN; SELECT count(*) FROM public.$p2;");
($cleaner, $pid) = start_cleanup($p2, 1);
kill 'KILL', $pid;
eval { $cleaner->quit };
eval { $reader->quit };
wait_for_server();
is($node->safe_psql('postgres', qq{
SELECT NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = 'public.$p1'::regclass)
   AND EXISTS (SELECT FROM pgscale_detached WHERE rel_schema = 'public' AND rel_name = '$p1'
               AND action = 'archive' AND archive_schema = 'arch' AND bound_to IS NOT NULL)}),
	't', '(d) after the crash one partition is detached, recorded to be archived with its bounds');
check_after_run('(d) archive: crash between the detach and the move');
is($node->safe_psql('postgres', qq{
SELECT (SELECT count(*) FROM arch.$p1) = $p1_rows
   AND EXISTS (SELECT FROM pgscale_archive WHERE source_schema = 'public' AND source_table = 'ev'
               AND archive_schema = 'arch' AND archive_table = '$p1' AND kind = 'partition'
               AND range_to IS NOT NULL)
   AND to_regclass('public.$p1') IS NULL}),
	't', '(d) archive: the detached partition is in the archive schema with all its rows, recorded in pgscale_archive');
is($node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM ev)
     + (SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %I.%I',
                    archive_schema, archive_table), false, true, '')))[1]::text::bigint)
          FROM pgscale_archive WHERE source_table = 'ev')}),
	'20000', '(d) archive: every row is once in the table or the archive');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pgscale_log WHERE action = 'archive'
   AND detail LIKE 'partition detached concurrently by an earlier run, moved to the archive schema arch now'}),
	'1', '(d) archive: the log says the earlier run\'s partition was archived');
$node->safe_psql('postgres', 'DROP SCHEMA arch CASCADE; DELETE FROM pgscale_archive');

# a table a person attached again after it was recorded is never dropped:
# a record left for a partition that is attached is only forgotten
make_table();
$p1 = partition_name(1);
$node->safe_psql('postgres', qq{
INSERT INTO pgscale_detached (rel_schema, rel_name, table_name, bound)
SELECT 'public', '$p2', 'ev'::regclass, 'x'
WHERE to_regclass('public.$p2') IS NOT NULL});
$node->safe_psql('postgres', q{
CREATE TABLE ev_other (id int, d date);
INSERT INTO pgscale_detached (rel_schema, rel_name, table_name, bound)
VALUES ('public', 'ev_other_renamed', 'ev'::regclass, 'x');
});
check_after_run('stale records');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 'ev_other'}),
	'1', 'a table whose name does not match its record is not dropped');

# (e) pg_hba.conf does not let the caller's session user connect back: the
# connection started before the run's checks is refused, and the expired
# partitions are dropped under ACCESS EXCLUSIVE instead, with a NOTICE
# saying what to allow and the log saying which path ran
make_table();
reject_local_role($node, 'regress_noloop');
$node->safe_psql('postgres', q{
CREATE FUNCTION pgscale_t_owner(r regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN EXECUTE format('ALTER TABLE %s OWNER TO regress_noloop', r); END $$;
CREATE ROLE regress_noloop LOGIN;
SELECT count(*) FROM (SELECT pgscale_t_owner(r) FROM unnest(ARRAY['ev'::regclass] || ARRAY(
    SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'ev'::regclass)) r) s;
DELETE FROM pgscale_log;
});
my $expired = $node->safe_psql('postgres', q{
SELECT partitions_dropped FROM pgscale_cleanup(relation => 'ev', dry_run => true)});
my ($ret, $out, $err) = $node->psql('postgres', q{
SET SESSION AUTHORIZATION regress_noloop;
CALL pgscale_cleanup_proc(relation => 'ev')});
is($ret, 0, '(e) refused loopback: the call succeeds') or diag($err);
like($err, qr/NOTICE:  pgscale drops the expired partitions of (public\.)?ev under an ACCESS EXCLUSIVE lock on the table/,
	'(e) refused loopback: a NOTICE says so');
like($err, qr/HINT:  Allow a local connection of role regress_noloop/,
	'(e) refused loopback: ... and what to allow');
ok($expired > 0, '(e) refused loopback: the table had expired partitions');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pgscale_log WHERE action = 'drop_partition'
   AND detail LIKE '%dropped under ACCESS EXCLUSIVE on the parent: the loopback connection of DETACH PARTITION CONCURRENTLY was refused%'}),
	$expired, '(e) refused loopback: every expired partition dropped under ACCESS EXCLUSIVE, logged so');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgscale retention'}),
	'0', '(e) refused loopback: no loopback session left');
check_after_run('(e) refused loopback');

done_testing();
