# The worker under an operator's hands (issue 22): a bad pgscale.databases
# is refused at ALTER SYSTEM and at reload and the old list stays; a name
# that does not exist is reported once; a database the worker cannot
# connect to (no CONNECT for pgscale.role, an invalid database) starts no
# process in a loop and says why once; a pgscale.role that owns no table
# makes the cycle fail visibly (status, WARNING with the owner's name,
# pgscale_health()); and a launcher terminated in the middle of a cycle
# comes back, takes over the running worker and keeps the cycles going.
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
	'ops',
	conf => [
		"pgscale.databases = 'ops'",
		"pgscale.naptime = 1",
		"pgscale.max_workers = 1",
	]);
$node->start;
note('pgscale library: ' . loaded_pgscale_library($node));

$node->safe_psql('postgres', 'CREATE DATABASE ops');
$node->safe_psql('ops', 'CREATE EXTENSION pgscale');
$node->safe_psql('ops', sql_digest_function());

sub now_ts
{
	return $node->safe_psql('ops', 'SELECT clock_timestamp()');
}

sub reload
{
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# How often a pattern occurs in the server log after an offset.
sub log_count
{
	my ($offset, $re) = @_;
	my $log = slurp_file($node->logfile, $offset);
	my $n = () = $log =~ /$re/g;
	return $n;
}

# Wait until the server log after an offset matches a pattern.
sub wait_for_log
{
	my ($offset, $re, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return 1 if log_count($offset, $re) > 0;
		usleep(100_000);
	}
	diag("no match for $re in the server log within $seconds s");
	return 0;
}

ok(wait_for_cycle_after($node, 'ops', 'ops', now_ts(), 30),
	'the worker maintains ops');

#
# 4. A bad pgscale.databases: refused, and the list in force stays.
#
my ($ret, $out, $err) = $node->psql('postgres',
	"ALTER SYSTEM SET pgscale.databases = 'ops,'");
isnt($ret, 0, 'ALTER SYSTEM refuses a list with a trailing comma');
like($err, qr/pgscale\.databases is not a valid list of database names/,
	'... saying why');
# (had it been accepted, it would override postgresql.conf from now on)
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pgscale.databases');
my $offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "pgscale.databases = 'ops,,other'");
my $t = now_ts();
reload();
ok( wait_for_log(
		$offset,
		qr/LOG:  pgscale\.databases is not a valid list of database names/, 10),
	'a reload with an empty element in the list logs the refusal');
is($node->safe_psql('ops', 'SHOW pgscale.databases'),
	'ops', '... and the old list stays in force');
my $st = wait_for_cycle_after($node, 'ops', 'ops', $t, 30);
ok($st, '... and ops still gets its cycles');
is($st && $st->{outcome}, 'ok', '... which end ok');

# a name that does not exist is reported, once
$offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "pgscale.databases = 'ops, nosuchdb'");
reload();
ok( poll_until(
		$node, 'ops',
		"SELECT outcome FROM pgscale_worker_status() WHERE database = 'nosuchdb'",
		'database missing', 10),
	'a database that does not exist: outcome "database missing"');
$t = now_ts();
wait_for_cycle_after($node, 'ops', 'ops', $t, 30);
wait_for_cycle_after($node, 'ops', 'ops', now_ts(), 30);
is( log_count(
		$offset,
		qr/LOG:  pgscale launcher cannot maintain database "nosuchdb": database "nosuchdb", listed in pgscale.databases, does not exist/
	),
	1,
	'... reported in the server log once over several passes');

#
# 1. Databases the worker cannot connect to, and 3. a role that owns none
# of the tables.
#
$node->safe_psql(
	'postgres', q{
CREATE ROLE opsrole LOGIN IN ROLE pg_monitor;
CREATE DATABASE nocon;
REVOKE CONNECT ON DATABASE nocon FROM PUBLIC;
CREATE DATABASE broken;
UPDATE pg_database SET datconnlimit = -2 WHERE datname = 'broken';
});
$offset = -s $node->logfile;
$node->append_conf('postgresql.conf',
	"pgscale.databases = 'ops, nocon, broken'\npgscale.role = 'opsrole'");
$t = now_ts();
reload();
ok( poll_until(
		$node, 'ops',
		"SELECT string_agg(database || ' ' || outcome, ', ' ORDER BY database)
		 FROM pgscale_worker_status() WHERE database IN ('nocon', 'broken')",
		'broken cannot connect, nocon cannot connect', 10),
	'no CONNECT, invalid database: outcome "cannot connect"');
like(worker_status($node, 'ops', 'nocon')->{last_error},
	qr/role "opsrole" \(pgscale\.role\) has no CONNECT privilege/,
	'... the status says the role lacks CONNECT');
like(worker_status($node, 'ops', 'broken')->{last_error},
	qr/the database is invalid/, '... or that the database is invalid');

# count the workers that died while connecting over three seconds
# (before the fix: hundreds a second, each with a FATAL line); a worker
# for ops shows no database for the moment before it connects, so only
# workers shown in nocon or broken count
my $count_from = -s $node->logfile;
my $until = time() + 3;
my %seen;
while (time() < $until)
{
	my $pids = $node->safe_psql('ops',
		"SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
		 WHERE backend_type = 'pgscale worker'
		   AND datname IN ('nocon', 'broken')");
	$seen{$_} = 1 for split / /, $pids;
	usleep(20_000);
}
my $fatal = log_count($count_from,
	qr/FATAL:  (permission denied for database|cannot connect to invalid database)/);
is($fatal, 0, "no worker started for them over 3 s ($fatal FATAL lines)");
is(scalar(keys %seen), 0, '... none seen in pg_stat_activity');
for my $db (qw(nocon broken))
{
	is(log_count($offset, qr/pgscale launcher cannot maintain database "$db"/),
		1, "$db: the reason is in the server log once");
}

# 3. the cycles of ops run as opsrole, which owns nothing there; a member
# of pg_monitor, it sees every policy (pgscale_policy hides the policies of
# other roles' tables from the others) and fails on the ones it cannot run
# (a cycle that starts after the policy is committed: one that began
# before it ends ok, with nothing to do)
$node->safe_psql('ops', sql_plain_table('owned', 40, 30));
$t = now_ts();
$st = wait_for_cycle_after($node, 'ops', 'ops', $t, 30);
is($st && $st->{outcome}, 'errors logged',
	'a role that owns no table: the cycle ends "errors logged", not ok');
like($st && $st->{last_error},
	qr/role "opsrole" does not own the table; run maintenance as "postgres"/,
	'... the status names the role to use');
like(
	slurp_file($node->logfile, $offset),
	qr/WARNING:  pgscale maintenance skipped table public\.owned: role "opsrole" does not own it\n.*HINT:  Run maintenance as role "postgres"/,
	'... a WARNING with a hint naming the owner');
is( $node->safe_psql('ops',
		"SELECT count(*) > 0 FROM pgscale_log
		 WHERE relid = 'owned'::regclass AND action = 'error' AND source = 'worker'"),
	't', '... the skip is an error in pgscale_log');
is( $node->safe_psql('ops',
		"SELECT status FROM pgscale_health() WHERE check_name = 'retention policies'"),
	'warn', '... and pgscale_health() warns about the failing policy');
is( $node->safe_psql('ops',
		"SELECT count(*) > 0 FROM owned WHERE ts < now() - interval '30 days'"),
	't', '... whose expired rows are still there');
# the function form run by that role counts the skip as an error too
ok( poll_until(
		$node, 'ops',
		"SET ROLE opsrole;
		 SELECT count(*) FROM pgscale_run_maintenance(dry_run => true)
		 WHERE action = 'error' AND detail LIKE 'skipped: role \"opsrole\"%'",
		'1', 20),
	'pgscale_run_maintenance() as that role reports the skip as an error');

# the owner's role again: the next cycle purges
$node->append_conf('postgresql.conf',
	"pgscale.databases = 'ops'\npgscale.role = ''");
reload();
$node->safe_psql('postgres', 'DROP DATABASE broken');
ok(poll_until($node, 'ops', sql_table_ok('owned', 30), '0|same', 30),
	'pgscale.role back to the superuser: the expired rows go');

#
# 2. The launcher terminated in the middle of a cycle.  A statement
# trigger holds the worker's first DELETE of "slow" while the gate is
# closed.
#
$node->safe_psql('ops', sql_plain_table('slow', 40, 30, policy => 0));
$node->safe_psql(
	'ops', q{
CREATE TABLE gate (open boolean NOT NULL);
INSERT INTO gate VALUES (false);
CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    WHILE NOT (SELECT open FROM public.gate)
          AND clock_timestamp() < started + interval '2 minutes'
    LOOP
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER hold AFTER DELETE ON slow
    FOR EACH STATEMENT EXECUTE FUNCTION hold();
});
$node->safe_psql('ops', sql_retention('slow', 30));
ok( poll_until(
		$node, 'ops',
		"SELECT count(*) FROM pg_stat_activity
		 WHERE backend_type = 'pgscale worker' AND datname = 'ops'
		   AND wait_event = 'PgSleep'",
		'1', 30),
	'a worker cycle is held in the middle');
my $worker = $node->safe_psql('ops',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgscale worker'");
my $launcher = $node->safe_psql('ops',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgscale launcher'");
my $t_kill = now_ts();
is($node->safe_psql('ops', "SELECT pg_terminate_backend($launcher)"),
	't', 'launcher terminated');
ok( poll_until(
		$node, 'ops',
		"SELECT count(*) FROM pg_stat_activity
		 WHERE backend_type = 'pgscale launcher' AND pid <> $launcher",
		'1', 40),
	'a new launcher starts');
$st = worker_status($node, 'ops', 'ops');
is("$st->{running} $st->{pid}", "t $worker",
	'... and shows the worker of the old one still running');
$node->safe_psql('ops', 'UPDATE gate SET open = true');
$st = wait_for_cycle_after($node, 'ops', 'ops', $t_kill, 30);
ok($st, 'after the old worker ended, a new cycle ran');
is($st && $st->{outcome}, 'ok', '... and ended ok');
is($node->safe_psql('ops', sql_table_ok('slow', 30)),
	'0|same', '... and the expired rows are gone');
ok(wait_for_cycle_after($node, 'ops', 'ops', now_ts(), 30),
	'... and the cycles go on');

unlike(slurp_file($node->logfile), qr/TRAP:|PANIC:/,
	'no assertion failure or panic in the server log');
$node->stop;

#
# 6. No worker slot for the launcher: pgscale_worker_status() and
# pgscale_health() say so instead of showing nothing.
#
my $small = pgscale_node('small',
	conf => [ "pgscale.databases = 'postgres'", "max_worker_processes = 0" ]);
$small->start;
$small->safe_psql('postgres', 'CREATE EXTENSION pgscale');
is( $small->safe_psql('postgres',
		"SELECT outcome FROM pgscale_worker_status() WHERE database IS NULL"),
	'launcher not running',
	'no worker slot: pgscale_worker_status() shows the launcher is not running');
is( $small->safe_psql('postgres',
		"SELECT status FROM pgscale_health() WHERE check_name = 'background worker'"),
	'critical', '... and pgscale_health() reports it as critical');
$small->stop;
done_testing();
