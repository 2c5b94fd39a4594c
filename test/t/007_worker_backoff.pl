# Workers that fail after the launcher's checks passed (issue 22, item 1):
# the launcher backs off instead of starting them again in a tight loop.
#
# - a database whose pgscale schema is broken (the maintenance procedure
#   dropped): each worker connects, fails its cycle and exits; the waits
#   double from the naptime (1 s here) up to a minute;
#
# And the worker as a plain role (issue 12, item 3): it sees and maintains
# the policies of its own tables only, and its status hides its last error
# from roles outside pg_monitor.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = pgscale_node(
	'backoff',
	conf => [
		"pgscale.databases = 'postgres'",
		"pgscale.naptime = 1",
		"pgscale.max_workers = 2",
	]);
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pgscale');
$node->safe_psql('postgres', sql_digest_function());

# How often a pattern occurs in the server log after an offset.
sub log_count
{
	my ($offset, $re) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my $n = () = $log =~ /$re/g;
	return $n;
}

# Wait until the pattern occurs at least n times in the log after offset.
sub wait_for_count
{
	my ($offset, $re, $n, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1 if log_count($offset, $re) >= $n;
		usleep(100_000);
	}
	diag("fewer than $n matches of $re in the server log within $seconds s");
	return 0;
}

sub reload
{
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

ok(wait_for_cycle_after($node, 'postgres', 'postgres', $node->safe_psql('postgres', 'SELECT now()'), 30),
	'the worker maintains postgres');

#
# 1. A broken pgscale schema: the cycle's procedure is gone.
#
$node->safe_psql(
	'postgres', q{
CREATE DATABASE brk;
});
$node->safe_psql(
	'brk', q{
CREATE EXTENSION pgscale;
ALTER EXTENSION pgscale DROP PROCEDURE pgscale_run_maintenance_proc(boolean, boolean);
DROP PROCEDURE pgscale_run_maintenance_proc(boolean, boolean);
});
my $offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "pgscale.databases = 'postgres, brk'");
reload();
my $fail = qr/ERROR:  procedure public\.pgscale_run_maintenance_proc\(\) does not exist/;
ok(wait_for_count($offset, $fail, 1, 30), 'brk: the worker connects and fails its cycle');
# without a back-off a worker would fail every second (the naptime): 12 or
# more in 12 s; with it, after 1 s, 2 s, 4 s, 8 s: at most 5
sleep(12);
my $failures = log_count($offset, $fail);
cmp_ok($failures, '<=', 5,
	"brk: $failures failed cycles in about 12 s, the waits doubling");
cmp_ok($failures, '>=', 3, '... and it is still retried');
my $st = worker_status($node, 'postgres', 'brk');
is($st->{outcome}, 'error', '... its status says error');
ok( poll_until(
		$node, 'postgres',
		"SELECT next_cycle - last_end > interval '3 s' FROM pgscale_worker_status()
		 WHERE database = 'brk' AND NOT running",
		't', 30),
	'... and the next try is several naptimes away');
my $ok_st = worker_status($node, 'postgres', 'postgres');
ok($ok_st->{cycles} > 5, '... while postgres keeps its cycle every second');

# fixed, the database gets its cycles again, every naptime
$node->safe_psql('brk',
	'DROP EXTENSION pgscale; CREATE EXTENSION pgscale;');
ok( poll_until(
		$node, 'postgres',
		"SELECT outcome FROM pgscale_worker_status() WHERE database = 'brk'",
		'ok', 70),
	'brk repaired: its next cycle ends ok');

#
# 2. The worker as a plain role: it purges the table it owns; the
# superuser's table, whose policy row security hides from it, is still an
# error of that policy (its role cannot maintain it), never a silent
# success, and is left untouched.
#
$node->safe_psql(
	'postgres',
	"CREATE ROLE plain LOGIN;
	 GRANT CREATE ON SCHEMA public TO plain;
	 SET ROLE plain;
	 " . sql_plain_table('plain_ev', 40, 30) . "
	 RESET ROLE;
	 " . sql_plain_table('super_ev', 40, 30));
$node->append_conf('postgresql.conf',
	"pgscale.databases = 'postgres, brk'\npgscale.role = 'plain'");
reload();
ok(poll_until($node, 'postgres', sql_table_ok('plain_ev', 30), '0|same', 30),
	'the worker as a plain role purges its own table');
$st = wait_for_cycle_after($node, 'postgres', 'postgres',
	$node->safe_psql('postgres', 'SELECT now()'), 30);
is($st && $st->{outcome}, 'errors logged',
	'... its cycles report the policy it cannot maintain');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) > 0 AND bool_and(action = 'error' AND detail LIKE 'skipped: role \"plain\" does not own the table%')
		 FROM pgscale_log WHERE source = 'worker' AND relid = 'super_ev'::regclass"),
	't',
	'... as an error of the superuser\'s table, naming the role');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) > 0 FROM super_ev WHERE ts < now() - interval '30 days'"),
	't', '... which it left untouched');
is( $node->safe_psql(
		'postgres',
		"SET ROLE plain; SELECT count(*) FROM pgscale_log WHERE relid <> 'plain_ev'::regclass"),
	'0',
	'... whose log rows the plain role cannot read');

# brk's error is still its last one: hidden from a role outside
# pg_monitor, shown to a member
is( $node->safe_psql(
		'postgres',
		"SET ROLE plain; SELECT last_error FROM pgscale_worker_status() WHERE database = 'brk'"),
	"(hidden: only members of pg_monitor see the worker's errors)",
	'the worker\'s last error is hidden from a role outside pg_monitor');
$node->safe_psql('postgres', 'CREATE ROLE mon IN ROLE pg_monitor');
like(
	$node->safe_psql(
		'postgres',
		"SET ROLE mon; SELECT last_error FROM pgscale_worker_status() WHERE database = 'brk'"),
	qr/procedure public\.pgscale_run_maintenance_proc\(\) does not exist/,
	'... and shown to a member of pg_monitor');

$node->stop;
done_testing();
