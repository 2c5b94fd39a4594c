# Cleanup among other sessions: one long reader of a partitioned table
# costs the application one stall, not one per retry and partition; two
# cleanups that overlap on a table see each other's drops as done, not as
# errors; and in the worker a step that runs too long is cancelled on its
# own while the cycle goes on.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node('contention');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgscale');

# A partitioned table with five expired years and the current one.
sub make_table
{
	my ($name) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE $name (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
SELECT format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
              '${name}_' || y, '$name', make_date(y, 1, 1), make_date(y + 1, 1, 1))
FROM generate_series(2001, 2005) y \\gexec
CREATE TABLE ${name}_now PARTITION OF $name FOR VALUES FROM ('2006-01-01') TO (MAXVALUE);
INSERT INTO $name SELECT make_date(y, 6, 1), y FROM generate_series(2001, 2005) y;
INSERT INTO $name VALUES (now(), 0);
SELECT pgscale_set_retention('$name', '30 days');
});
}

# A session that reads the table every 50 ms, each read in a transaction
# of its own, and records in "probe" how long each read took.
sub start_probe
{
	my ($table, $reads) = @_;
	my $probe = $node->background_psql('postgres');
	$probe->query_until(qr/probing/, "\\echo probing
DO \$\$
DECLARE
    t0 timestamptz;
BEGIN
    FOR i IN 1..$reads LOOP
        t0 := clock_timestamp();
        PERFORM count(*) FROM $table;
        INSERT INTO probe VALUES (clock_timestamp() - t0);
        COMMIT;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
\$\$;
");
	return $probe;
}

#
# Item 12: a reader holds the table for 6 s while cleanup drops its five
# expired partitions.  A probe reads the table every 50 ms in transactions
# of its own and records how long each read took.  Each read that waited
# behind cleanup's queued lock is a stall of the application.
#
make_table('pt');
$node->safe_psql('postgres', 'CREATE TABLE probe (took interval)');

my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM pt');
$reader->query_until(qr/holding/, "\\echo holding\nSELECT pg_sleep(6); COMMIT;\n");

my $probe = start_probe('pt', 200);

my ($ret, $out, $err) = $node->psql('postgres',
	"SET pgscale.lock_timeout = '500ms'; CALL pgscale_cleanup_proc(relation => 'pt')");
is($ret, 0, 'cleanup behind a long reader ends without an error') or diag($err);
$reader->quit;
$probe->quit;

my $stalls = $node->safe_psql('postgres',
	"SELECT count(*) FROM probe WHERE took > interval '250 ms'");
ok($stalls <= 2, "the long reader cost the application $stalls stalls (at most 2)");
# The procedure detaches concurrently: the detach the reader held up is
# left pending, and its FINALIZE can time out behind the probe's cached
# plan, which still locks the partition; the next run finishes it.
$node->safe_psql('postgres', "CALL pgscale_cleanup_proc(relation => 'pt')");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_inherits WHERE inhparent = 'pt'::regclass"),
	'1', 'every expired partition was dropped once the reader had gone (by the next run at the latest)');

# A reader that holds the table longer than the retries wait: the first
# drop gives way naming it, the others are left without trying again.
$reader = $node->background_psql('postgres');
make_table('pt2');
$reader->query_safe("SET application_name = 'nightly_dump'");
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM pt2');
$node->safe_psql('postgres', 'TRUNCATE probe');
$probe = start_probe('pt2', 60);
($ret, $out, $err) = $node->psql('postgres',
	"SET pgscale.lock_timeout = '300ms'; SET pgscale.lock_retries = 3;
	 CALL pgscale_cleanup_proc(relation => 'pt2')");
is($ret, 0, 'cleanup behind a reader that stays ends without an error');
like($err, qr/nightly_dump/, '... naming the session it gave way to');
like($err, qr/left 4 more expired partitions of public\.pt2 for the next run/,
	'... and leaving the other partitions without queueing again');
$probe->quit;
$stalls = $node->safe_psql('postgres',
	"SELECT count(*) FROM probe WHERE took > interval '150 ms'");
ok($stalls <= 2, "it cost the application $stalls stalls (at most 2)");
$reader->query_safe('COMMIT');
$reader->quit;
($ret, $out, $err) = $node->psql('postgres',
	"CALL pgscale_cleanup_proc(relation => 'pt2')");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_inherits WHERE inhparent = 'pt2'::regclass"),
	'1', 'the next run dropped them');

#
# Item 13: two cleanups (pg_cron's and one by hand, say) start together on
# the same table, held back by a reader; once it goes, they race over the
# same partitions.  Each partition is dropped once, and neither reports the
# other's drop as an error.  (In the procedure the first detaches them
# concurrently holding the table's detach lock, and the second leaves them
# to it at once.)
#
make_table('race');
$node->safe_psql('postgres', 'DELETE FROM pgscale_log');
$reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN');
$reader->query_safe('SELECT count(*) FROM race');
my @cleaners;
for my $i (1 .. 2)
{
	my $c = $node->background_psql('postgres', on_error_stop => 0);
	$c->query_safe("SET pgscale.lock_timeout = '200ms'");
	$c->query_safe('SET pgscale.lock_retries = 40');
	$c->query_until(qr/started/,
		"\\echo started\nCALL pgscale_cleanup_proc(relation => 'race');\n\\echo finished\n");
	push @cleaners, $c;
}
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) >= 1 FROM pg_stat_activity
		 WHERE query LIKE 'CALL pgscale_cleanup_proc%' AND state = 'active'",
		't', 30),
	'the cleanups are running');
sleep(1);
$reader->query_safe('COMMIT');
$reader->quit;
for my $c (@cleaners)
{
	$c->query_until(qr/finished/, '');
	$c->quit;
}
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_inherits WHERE inhparent = 'race'::regclass"),
	'1', 'the expired partitions are gone');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pgscale_log WHERE action = 'drop_partition'"),
	'5', 'each was dropped (and logged) once');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pgscale_log WHERE action = 'error'"),
	'0', 'no error logged')
  or diag($node->safe_psql('postgres',
	"SELECT string_agg(detail, E'\\n') FROM pgscale_log WHERE action = 'error'"));

#
# Item 8: a row held FOR UPDATE costs that row, not the table: cleanup skips
# it, comes back to it at the end, and leaves it (with a warning) when it is
# still locked.  A row being updated is followed to its new version once the
# update commits.
#
$node->safe_psql('postgres', q{
CREATE TABLE held (id int PRIMARY KEY, v int, ts timestamptz NOT NULL);
INSERT INTO held SELECT g, 0, now() - (g % 100 + 40) * interval '1 day'
FROM generate_series(1, 20000) g;
-- and a row that stays (a cleanup that would delete every row is refused)
INSERT INTO held VALUES (0, 0, now());
SELECT pgscale_set_retention('held', '30 days', 'ts');
});
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('SELECT * FROM held WHERE id = 7000 FOR UPDATE');
($ret, $out, $err) = $node->psql('postgres',
	"SET pgscale.lock_timeout = '200ms'; SET pgscale.lock_retries = 1;
	 SELECT rows_deleted FROM pgscale_cleanup(relation => 'held', batch_size => 1000)");
is($out, '19999', 'a row held FOR UPDATE: every other expired row is deleted');
like($err, qr/left 1 expired rows of public\.held that other transactions held locked/,
	'... and the held one is reported');
is($node->safe_psql('postgres', "SELECT id FROM held WHERE id > 0"), '7000',
	'... and left');
$locker->query_safe('COMMIT');
($ret, $out, $err) = $node->psql('postgres',
	"SELECT rows_deleted FROM pgscale_cleanup(relation => 'held')");
is($out, '1', 'the next run deletes it');

$node->safe_psql('postgres', q{
INSERT INTO held SELECT g, 0, now() - (g % 100 + 40) * interval '1 day'
FROM generate_series(1, 20000) g;
});
$locker->query_safe('BEGIN');
$locker->query_safe('UPDATE held SET v = 1 WHERE id IN (5, 15000)');
$locker->query_until(qr/sleeping/, "\\echo sleeping\nSELECT pg_sleep(1); COMMIT;\n");
($ret, $out, $err) = $node->psql('postgres',
	"SET pgscale.lock_timeout = '5s';
	 CALL pgscale_cleanup_proc(relation => 'held', batch_size => 1000)");
is($ret, 0, 'rows being updated: the cleanup succeeds') or diag($err);
unlike($err, qr/WARNING/, '... with nothing left locked');
is($node->safe_psql('postgres', 'SELECT count(*) FROM held WHERE id > 0'), '0',
	'... and their new versions deleted once the update committed');
$locker->quit;

#
# Item 9, in the worker: a table whose batch takes longer than
# pgscale.step_timeout is cancelled on its own and logged; the other tables
# are purged, and the worker's cycle goes on.
#
$node->safe_psql('postgres', q{
DELETE FROM pgscale_policy;
DELETE FROM pgscale_log;
CREATE TABLE slow (id int, ts timestamptz NOT NULL);
INSERT INTO slow SELECT g, now() - interval '100 days' FROM generate_series(1, 40) g;
INSERT INTO slow VALUES (0, now());
CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN PERFORM pg_sleep(0.1); RETURN OLD; END$$;
CREATE TRIGGER slow_down BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION slow_down();
SELECT pgscale_set_retention('slow', '30 days', 'ts');
CREATE TABLE quick (ts timestamptz NOT NULL);
INSERT INTO quick SELECT now() - g * interval '1 day' FROM generate_series(1, 60) g;
SELECT pgscale_set_retention('quick', '30 days', 'ts');
});
$node->append_conf('postgresql.conf',
	"pgscale.databases = 'postgres'\npgscale.naptime = 1\npgscale.step_timeout = '1s'");
$node->restart;
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM quick WHERE ts < now() - interval '30 days'",
		'0', 60),
	'the worker purged the quick table');
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) > 0 FROM pgscale_log
		 WHERE relid = 'slow'::regclass AND action = 'error'
		   AND detail LIKE '%statement timeout%' AND source = 'worker'",
		't', 60),
	'... and logged the slow one as cancelled by its step timeout');
is($node->safe_psql('postgres', 'SELECT count(*) FROM slow WHERE id > 0'),
	'40', '... whose batch was rolled back');

$node->stop;
done_testing();
