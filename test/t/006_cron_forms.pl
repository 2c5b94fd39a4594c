# The two forms pg_cron can run a cycle with, and a read of a partitioned
# table while the cycle is busy with another table (issue 22, item 5).
# SELECT pgscale_run_maintenance() is one transaction: a dropped partition
# keeps its parent ACCESS EXCLUSIVE locked until the end, so the function
# form takes its partition drops last; CALL pgscale_run_maintenance_proc()
# commits after each policy.  In both, a read of the parent made while the
# cycle works on a plain table (held there by a trigger) answers at once.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# pgscale's own worker idle: every cycle is started by this test
my $node = pgscale_node('forms', conf => ["pgscale.databases = ''"]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgscale');
$node->safe_psql('postgres', sql_digest_function());
$node->safe_psql(
	'postgres', q{
CREATE TABLE gate (open boolean NOT NULL);
INSERT INTO gate VALUES (true);
CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    WHILE NOT (SELECT open FROM public.gate)
          AND clock_timestamp() < started + interval '1 minute'
    LOOP
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN NULL;
END $$;
});

# One round: a partitioned table with expired months (created first, so
# its policy comes first) and a plain table whose purge is held; run the
# cycle in another session, read the partitioned table while it is held.
sub round
{
	my ($form, $sql, $n) = @_;
	my ($events, $slow) = ("events$n", "slow$n");
	$node->safe_psql('postgres', sql_partitioned_table($events, 200, 90));
	$node->safe_psql('postgres', sql_plain_table($slow, 40, 30));
	$node->safe_psql('postgres',
		"CREATE TRIGGER hold AFTER DELETE ON $slow
		 FOR EACH STATEMENT EXECUTE FUNCTION hold();
		 UPDATE gate SET open = false;");
	my $cycle = $node->background_psql('postgres');
	$cycle->query_until(qr/started/, "\\echo started\n$sql;\n");
	ok( poll_until(
			$node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity
			 WHERE wait_event = 'PgSleep' AND query LIKE '%pgscale_run_maintenance%'",
			'1', 30),
		"$form: the cycle is held at the plain table");
	my $t0 = time();
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET lock_timeout = '3s'; SELECT count(*) > 0 FROM $events");
	my $ms = int((time() - $t0) * 1000);
	is($ret, 0, "$form: a read of the partitioned table succeeds meanwhile")
	  or diag($err);
	ok($ms < 1500, "$form: ... without waiting for the cycle ($ms ms)");
	$node->safe_psql('postgres', 'UPDATE gate SET open = true');
	$cycle->quit;
	is($node->safe_psql('postgres', sql_table_ok($events, 90)),
		'0|same', "$form: the cycle then dropped and trimmed the expired months");
	is($node->safe_psql('postgres', sql_table_ok($slow, 30)),
		'0|same', "$form: ... and purged the plain table");
}

round('SELECT pgscale_run_maintenance()',
	'SELECT count(*) FROM pgscale_run_maintenance()', 1);
round('CALL pgscale_run_maintenance_proc()',
	'CALL pgscale_run_maintenance_proc()', 2);

#
# A cycle pg_cron starts while another holds the lock fails, so that
# cron.job_run_details shows it (a NOTICE is recorded as "succeeded").
# pgscale knows pg_cron by its application_name (libpq mode).
#
my $holder = $node->background_psql('postgres');
# (a real cycle left open in its transaction holds the lock; no worker runs)
$holder->query_safe('BEGIN');
$holder->query_safe('SELECT count(*) FROM pgscale_run_maintenance()');
for my $sql ('SELECT count(*) FROM pgscale_run_maintenance()',
	'CALL pgscale_run_maintenance_proc()')
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET application_name = 'pg_cron'; $sql");
	isnt($ret, 0, "lock held, run by pg_cron: $sql fails");
	like($err,
		qr/ERROR:  pgscale maintenance skipped: another cycle is running/,
		'... saying the cycle was skipped');
	($ret, $out, $err) = $node->psql('postgres', $sql);
	is($ret, 0, "lock held, run by hand: $sql succeeds");
	like($err, qr/NOTICE:  pgscale maintenance skipped/, '... with a notice');
}
$holder->query_safe('COMMIT');
$holder->quit;

$node->stop;
done_testing();
