# The background worker on one server: it is visible in pg_stat_activity,
# follows SIGHUP (pgscale.databases, pgscale.naptime), purges expired rows
# and premakes partitions in the first cycle after a policy is set, keeps
# going past broken policies and locked tables, picks up a database where
# the extension is created later, reports in pgscale_worker_status(), and
# never overlaps a manual cycle (the advisory lock).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The key of the cycle's advisory lock (src/maintenance.c): "pgsc", 1.
my $LOCK_KEY = '1885827939, 1';

my $node = pgscale_node(
	'worker',
	conf => [
		# no database yet: the launcher idles until a reload lists some
		"pgscale.databases = ''",
		"pgscale.naptime = 3600",
		# a locked table costs 0.2 s x 3 tries + 0.6 s of pauses
		"pgscale.lock_timeout = 200",
		"pgscale.lock_retries = 2",
	]);
$node->start;
note('pgscale library: ' . loaded_pgscale_library($node));

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'pgscale', 'pgscale is preloaded alone (no pg_cron needed)');

#
# The launcher: one process, backend_type "pgscale launcher", no database.
#
ok( poll_until(
		$node, 'postgres',
		"SELECT count(*) FROM pg_stat_activity
		 WHERE backend_type = 'pgscale launcher' AND datname IS NULL",
		'1', 30),
	'launcher visible in pg_stat_activity as "pgscale launcher"');
my $launcher_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgscale launcher'");
my $started_at =
  $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

$node->safe_psql('postgres', 'CREATE DATABASE maint');
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('maint', 'CREATE EXTENSION pgscale');
$node->safe_psql('maint', sql_digest_function());

#
# SIGHUP: pgscale.databases.  Both databases get a first cycle at once;
# "later" has no extension yet and is skipped quietly; "notyet" does not
# exist yet.
#
my $t0 = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$node->safe_psql('postgres',
	"ALTER SYSTEM SET pgscale.databases = 'maint, later, notyet'");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $st = wait_for_cycle_after($node, 'maint', 'maint', $t0, 30);
ok($st, 'reloaded pgscale.databases: maint gets a cycle');
is($st->{outcome}, 'ok', 'first cycle of maint: outcome ok');
$st = wait_for_cycle_after($node, 'maint', 'later', $t0, 30);
is($st->{outcome}, 'no extension',
	'database without the extension: outcome "no extension"');
is($st->{last_error}, '', '... and no error');
ok($st->{seconds_to_next} > 3500,
	"... next cycle a naptime (3600 s) later ($st->{seconds_to_next} s)");
ok( poll_until(
		$node, 'maint',
		"SELECT outcome FROM pgscale_worker_status() WHERE database = 'notyet'",
		'database missing', 30),
	'database that does not exist: outcome "database missing"');

#
# SIGHUP: pgscale.naptime from 3600 to 1.  Rows that expire now wait for
# the next cycle, an hour away; after the reload a cycle follows at once.
#
$node->safe_psql('maint', sql_plain_table('sighup', 40, 30));
$st = worker_status($node, 'maint', 'maint');
my $cycles_before = $st->{cycles};
ok($st->{seconds_to_next} > 3500,
	"naptime 3600: next cycle of maint in $st->{seconds_to_next} s");
is($node->safe_psql('maint',
		"SELECT count(*) > 0 FROM sighup WHERE ts < now() - interval '30 days'"),
	't', 'expired rows wait for that cycle');

my $t_reload = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$node->safe_psql('postgres', 'ALTER SYSTEM SET pgscale.naptime = 1');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
$st = wait_for_cycle_after($node, 'maint', 'maint', $t_reload, 30);
ok($st, 'after the reload a cycle of maint ran');
is( $node->safe_psql('maint',
		"SELECT extract(epoch FROM '$st->{last_start}'::timestamptz
		                        - '$t_reload'::timestamptz) < 5"),
	't',
	"... starting within 5 s of the reload ($st->{last_start})");
is($node->safe_psql('maint', sql_table_ok('sighup', 30)),
	'0|same', '... and purged the expired rows, keeping the others');
is($st->{naptime_ok}, 't',
	"... next cycle on the new naptime (in $st->{seconds_to_next} s)");
# a database that was missing is looked for again on the new naptime too
$node->safe_psql('postgres', 'CREATE DATABASE notyet');
$node->safe_psql('notyet', 'CREATE EXTENSION pgscale');
ok( poll_until(
		$node, 'maint',
		"SELECT outcome FROM pgscale_worker_status() WHERE database = 'notyet'",
		'ok', 10),
	'a database created after the reload gets its cycle on the new naptime');
is($node->safe_psql('maint', 'SELECT launcher_pid, pg_postmaster_start_time()
	FROM (SELECT pid AS launcher_pid FROM pg_stat_activity
	      WHERE backend_type = \'pgscale launcher\') l'),
	"$launcher_pid|$started_at", 'no restart: same launcher, same postmaster');

#
# Purge and premake in the first cycle after the policies are set: a
# partitioned table (expired months dropped, the straddling month trimmed,
# three months premade) and a plain table (batched DELETE).
#
$node->safe_psql('maint', sql_partitioned_table('events', 200, 90, policy => 0));
$node->safe_psql('maint', sql_plain_table('samples', 60, 30, policy => 0));
# $t1: before the policies exist; $t1_set: once they are committed
my $t1 = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$node->safe_psql('maint',
	"BEGIN;
	 SELECT pgscale_set_partitioning('events', 3, 'UTC');
	 SELECT pgscale_set_retention('events', interval '90 days', 'ts');
	 SELECT pgscale_set_retention('samples', interval '30 days', 'ts');
	 COMMIT;");
my $t1_set = $node->safe_psql('maint', 'SELECT clock_timestamp()');
my $months_sql = sql_months_premade('events', 3, $t1_set);
is( $node->safe_psql('maint',
		"SELECT count(*) FROM pgscale_log WHERE logged_at >= '$t1'"),
	'0', 'before the policies: nothing logged');

$st = wait_for_cycle_after($node, 'maint', 'maint', $t1_set, 30);
ok($st, 'a cycle started after the policies were set');
is( $node->safe_psql('maint',
		"SELECT extract(epoch FROM '$st->{last_start}'::timestamptz
		                        - '$t1_set'::timestamptz) < 5"),
	't', "... within a naptime and a bit ($st->{last_start})");
is($node->safe_psql('maint', sql_table_ok('events', 90)),
	'0|same', 'events: no expired row left, every row within retention kept');
is($node->safe_psql('maint', sql_table_ok('samples', 30)),
	'0|same', 'samples: no expired row left, every row within retention kept');
is($node->safe_psql('maint', $months_sql), '3', 'three months premade');
is( $node->safe_psql('maint',
		"SELECT count(*) FROM pg_inherits
		 WHERE inhparent = 'events'::regclass
		   AND pg_get_expr((SELECT relpartbound FROM pg_class WHERE oid = inhrelid), inhrelid)
		       <> 'DEFAULT'
		   AND (regexp_match(pg_get_expr((SELECT relpartbound FROM pg_class WHERE oid = inhrelid),
		                                 inhrelid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz
		       <= now() - interval '90 days'"),
	'0', 'no partition wholly older than the retention is left');
is( $node->safe_psql('maint',
		"SELECT string_agg(DISTINCT action, ',' ORDER BY action)
		 FROM pgscale_log
		 WHERE logged_at >= '$t1' AND source = 'worker'
		   AND relid IN ('events'::regclass, 'samples'::regclass)"),
	'analyze,create_partition,delete,drop_partition,vacuum',
	'pgscale_log: the worker logged drops, deletes, new partitions, analyze, vacuum');
is($node->safe_psql('maint',
		"SELECT count(*) FROM pgscale_log WHERE source <> 'worker' AND logged_at >= '$t1'"),
	'0', 'pgscale_log: every action of the cycle has source "worker"');

# pgscale_worker_status(): one row per listed database
is( $node->safe_psql('maint',
		"SELECT string_agg(database, ',' ORDER BY database) FROM pgscale_worker_status()"),
	'later,maint,notyet', 'pgscale_worker_status(): one row per listed database');
is($st->{outcome}, 'ok', 'status: outcome ok');
is($st->{last_error}, '', 'status: no last error');
is($st->{running}, 'f', 'status: not running');
is($st->{pid}, '', 'status: no pid between cycles');
is( $node->safe_psql('maint',
		"SELECT '$st->{last_start}'::timestamptz <= '$st->{last_end}'::timestamptz
		        AND $st->{cycles} >= 3"),
	't', 'status: last start <= last end; cycles counted');
is($st->{naptime_ok}, 't', 'status: next cycle = last end + naptime');

#
# A broken policy (its time column dropped) and a locked table: the other
# tables are still maintained, the errors are in pgscale_log and in
# pgscale_worker_status(), and the worker waits on the lock only for
# pgscale.lock_timeout, visible as "pgscale worker" in pg_stat_activity.
#
$node->safe_psql('maint', sql_plain_table('broken', 40, 30));
$node->safe_psql('maint', 'ALTER TABLE broken DROP COLUMN ts');
$node->safe_psql('maint', sql_plain_table('locked', 40, 30, policy => 0));
my $locker = $node->background_psql('maint');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE locked IN ACCESS EXCLUSIVE MODE');
# setting a policy takes no lock on the table
$node->safe_psql('maint', sql_retention('locked', 30));
$node->safe_psql('maint',
	"INSERT INTO samples (ts, payload)
	 SELECT now() - interval '45 days' - g * interval '1 hour', 'late'
	 FROM generate_series(1, 100) g");
my $t2 = $node->safe_psql('maint', 'SELECT clock_timestamp()');

ok( poll_until(
		$node, 'maint',
		"SELECT count(*) FROM pg_stat_activity a
		 JOIN pgscale_worker_status() s ON s.pid = a.pid AND s.running
		 WHERE a.backend_type = 'pgscale worker' AND a.datname = 'maint'
		   AND s.database = 'maint' AND a.wait_event_type = 'Lock'
		   AND a.query LIKE 'CALL %pgscale_run_maintenance_proc()'",
		'1', 30),
	'worker visible in pg_stat_activity as "pgscale worker", waiting on the lock');
$st = wait_for_cycle_after($node, 'maint', 'maint', $t2, 30);
ok($st, 'the cycle ended although a table is locked');
is($node->safe_psql('maint', sql_table_ok('samples', 30)),
	'0|same', 'samples purged in the same cycle');
is( $node->safe_psql('maint',
		"SELECT count(*) FILTER (WHERE action = 'error' AND relid = 'broken'::regclass) > 0,
		        count(*) FILTER (WHERE action = 'error' AND relid = 'locked'::regclass
		                         AND detail LIKE '%lock timeout%') > 0,
		        count(*) FILTER (WHERE action <> 'error' AND relid = 'locked'::regclass),
		        bool_and(source = 'worker')
		 FROM pgscale_log
		 WHERE logged_at >= '$t2' AND logged_at <= '$st->{last_end}'"),
	't|t|0|t',
	'pgscale_log: errors for the broken policy and the lock timeout, nothing done to the locked table');
is($st->{outcome}, 'errors logged', 'status: outcome "errors logged"');
like($st->{last_error}, qr/lock timeout|column "ts" .* does not exist/,
	"status: last error shown ($st->{last_error})");

$locker->query_safe('COMMIT');
my $t3 = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$st = wait_for_cycle_after($node, 'maint', 'maint', $t3, 30);
is($node->safe_psql('maint', sql_table_ok('locked', 30)),
	'0|same', 'lock released: the next cycle purges that table');
$node->safe_psql('maint', "SELECT pgscale_remove_policy('broken')");
my $t4 = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$st = wait_for_cycle_after($node, 'maint', 'maint', $t4, 30);
is($st->{outcome}, 'ok', 'broken policy removed: outcome ok again');

#
# A database where the extension is created later is picked up without a
# restart.
#
ok( poll_until(
		$node, 'maint',
		"SELECT outcome FROM pgscale_worker_status()
		 WHERE database = 'later' AND NOT running",
		'no extension', 10),
	'later: still "no extension"');
$node->safe_psql('later', 'CREATE EXTENSION pgscale');
$node->safe_psql('later', sql_digest_function());
$node->safe_psql('later', sql_plain_table('samples', 40, 30));
ok(poll_until($node, 'later', sql_table_ok('samples', 30), '0|same', 30),
	'later: extension created, its expired rows purged by the worker');
is( $node->safe_psql('later',
		"SELECT count(*) > 0 AND bool_and(source = 'worker') FROM pgscale_log
		 WHERE action = 'delete'"),
	't', 'later: the deletes are logged with source "worker"');
is($node->safe_psql('later', 'SELECT pid, pg_postmaster_start_time()
	FROM pg_stat_activity WHERE backend_type = \'pgscale launcher\''),
	"$launcher_pid|$started_at", 'later: picked up without a restart');

#
# No role can stop the cycles by hand: a session holding the advisory lock
# that the cycles took before 0.2.0 (two-integer key 1885827939, 1), with a
# dry run left open in its transaction, stops nothing.
#
my $holder = $node->background_psql('maint');
$holder->query_safe("SELECT pg_advisory_lock($LOCK_KEY)");
$holder->query_safe('BEGIN');
$holder->query_safe('SELECT count(*) FROM pgscale_run_maintenance(dry_run => true)');
$node->safe_psql('maint',
	"INSERT INTO samples (ts, payload)
	 SELECT now() - interval '45 days' - g * interval '1 hour', 'late'
	 FROM generate_series(1, 100) g");
my $t5 = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$st = wait_for_cycle_after($node, 'maint', 'maint', $t5, 30);
ok($st, 'advisory lock and open dry run: the worker still starts cycles');
is($st->{outcome}, 'ok', '... which run (outcome "ok")');
is($node->safe_psql('maint', sql_table_ok('samples', 30)),
	'0|same', '... and purge');
$holder->query_safe('ROLLBACK');
$holder->query_safe("SELECT pg_advisory_unlock($LOCK_KEY)");
my $log_offset;

# Then a manual cycle left open in a transaction (its lock lasts until
# commit): the worker skips until it ends.
my $in_cycle = 0;
for my $try (1 .. 20)
{
	$holder->query_safe('BEGIN');
	my $actions =
	  $holder->query_safe('SELECT count(*) FROM pgscale_run_maintenance()');
	if ($actions > 0)
	{
		$in_cycle = 1;
		last;
	}
	# it met a worker cycle: try again
	$holder->query_safe('ROLLBACK');
}
ok($in_cycle, 'a manual cycle ran and its transaction stays open');
is( $node->safe_psql('maint',
		"SELECT count(*) FROM pg_locks
		 WHERE locktype = 'advisory' AND granted AND mode = 'ExclusiveLock'
		   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		   AND classid = 1885827939 AND objid = 1 AND objsubid = 28787"),
	'1', 'its lock is the documented one (advisory 1885827939, 1, class 28787)');
is( $node->safe_psql(
		'maint', 'SELECT pg_try_advisory_lock(1885827939, 1)'),
	't', '... which no advisory lock function can take or wait for');
$node->safe_psql('maint',
	"INSERT INTO samples (ts, payload)
	 SELECT now() - interval '45 days' - g * interval '1 hour', 'late'
	 FROM generate_series(1, 100) g");
$log_offset = -s $node->logfile;
my $t7 = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$st = wait_for_cycle_after($node, 'maint', 'maint', $t7, 30);
like(
	slurp_file($node->logfile, $log_offset),
	qr/\[\d+\] NOTICE:  pgscale maintenance skipped: another cycle is running in this database/,
	'the worker skips while the manual cycle is open');
is($st->{outcome}, 'skipped', '... status: outcome "skipped"');
is($node->safe_psql('maint',
		"SELECT count(*) > 0 FROM samples WHERE ts < now() - interval '30 days'"),
	't', '... and deletes nothing');
my ($ret, $out, $err) =
  $node->psql('maint', 'SELECT count(*) FROM pgscale_run_maintenance()');
is($out, '0', 'manual pgscale_run_maintenance() returns no action');
like($err, qr/NOTICE:  pgscale maintenance skipped: another cycle is running/,
	'... and says why in a notice');
($ret, $out, $err) =
  $node->psql('maint', 'CALL pgscale_run_maintenance_proc()');
like($err, qr/NOTICE:  pgscale maintenance skipped: another cycle is running/,
	'CALL pgscale_run_maintenance_proc() skips the same way');
($ret, $out, $err) = $node->psql('maint',
	'SELECT count(*) > 0 FROM pgscale_run_maintenance(dry_run => true)');
is($out, 't', 'a dry run meanwhile runs: it takes no lock');
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');
ok( poll_until(
		$node, 'maint',
		"SELECT status || ' ' || (value LIKE 'held by pid $holder_pid %')
		 FROM pgscale_health() WHERE check_name = 'maintenance lock'",
		'warn true', 30),
	'pgscale_health() warns of the lock held over three naptimes, naming the session');
$holder->query_safe('COMMIT');
my $t8 = $node->safe_psql('maint', 'SELECT clock_timestamp()');
$st = wait_for_cycle_after($node, 'maint', 'maint', $t8, 30);
is($node->safe_psql('maint', sql_table_ok('samples', 30)),
	'0|same', 'manual cycle committed: the next worker cycle purges');
$holder->quit;
$locker->quit;

unlike(slurp_file($node->logfile), qr/TRAP:|PANIC:|server process .* was terminated/,
	'no assertion failure, panic or crash in the server log');
$node->stop;
done_testing();
