# The maintenance window (issue 16), judged on the test clock
# pgscale.window_test_now, never by waiting for 02:00: which times a window
# holds (the end exclusive, wrapping past midnight, several ranges, its time
# zone); calls by hand that respect it or not; pg_cron's skips logged once
# per closing; a window that closes in the middle of a table; and the
# worker, which premakes outside the window but purges only inside it.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node(
	'window',
	conf => [
		"pgscale.databases = 'win'",
		"pgscale.naptime = 1",
		"pgscale.max_workers = 1",
		"pgscale.enabled = off",
		"pgscale.window_time_zone = 'UTC'",
		"pgscale.maintenance_window = '02:00-05:00'",
	]);
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE win');
$node->safe_psql('win', 'CREATE EXTENSION pgscale');

# ALTER SYSTEM a setting and wait until new sessions have it.
sub set_system
{
	my ($name, $value) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET $name = '$value'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(poll_until($node, 'win', "SELECT current_setting('$name')", $value, 30),
		"$name = '$value'");
}

# the table ev: one row a day over 60 days, 30 of them expired
sub refill
{
	my ($table) = @_;
	$node->safe_psql('win', <<"SQL");
TRUNCATE $table;
INSERT INTO $table (ts) SELECT now() - g * interval '1 day' FROM generate_series(0, 59) g;
SQL
}

sub expired
{
	my ($table) = @_;
	return $node->safe_psql('win',
		"SELECT count(*) FROM $table WHERE ts < now() - interval '30 days 12 hours'");
}

# On the test clock at $clock (UTC): the tables a dry run of the cycle that
# respects the window would skip.
sub skipped_at
{
	my ($clock, $prefix) = @_;
	$prefix //= '';
	return $node->safe_psql('win', <<"SQL");
$prefix
SET pgscale.window_test_now = '2026-01-15 $clock:00+00';
SET client_min_messages = warning;
SELECT count(*) FROM pgscale_run_maintenance(dry_run => true, respect_window => true)
WHERE action = 'skipped' AND detail LIKE 'outside the maintenance window %';
SQL
}

$node->safe_psql('win', <<'SQL');
CREATE TABLE ev (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
SELECT pgscale_set_retention('ev', interval '30 days 12 hours', 'ts');
SQL
refill('ev');

# ---- which times the window holds ----
is(skipped_at('01:59'), '1', '02:00-05:00: 01:59 is outside');
is(skipped_at('02:00'), '0', '02:00-05:00: 02:00 is inside');
is(skipped_at('04:59'), '0', '02:00-05:00: 04:59 is inside');
is(skipped_at('05:00'), '1', '02:00-05:00: the end is exclusive');
is(skipped_at('12:00'), '1', '02:00-05:00: noon is outside');

set_system('pgscale.window_time_zone', 'Asia/Tokyo');
is(skipped_at('18:00'), '0', 'read in Asia/Tokyo: 18:00 UTC is 03:00 there, inside');
is(skipped_at('03:00'), '1', 'read in Asia/Tokyo: 03:00 UTC is noon there, outside');
set_system('pgscale.window_time_zone', '');
is(skipped_at('18:00', "SET TimeZone = 'Asia/Tokyo';"), '0',
	'no window_time_zone: read in the session TimeZone');
is(skipped_at('18:00', "SET TimeZone = 'UTC';"), '1',
	'no window_time_zone: read in the session TimeZone (UTC)');
set_system('pgscale.window_time_zone', 'UTC');

set_system('pgscale.maintenance_window', '22:00-02:00');
is(skipped_at('23:00'), '0', '22:00-02:00 wraps: 23:00 is inside');
is(skipped_at('01:30'), '0', '22:00-02:00 wraps: 01:30 is inside');
is(skipped_at('02:00'), '1', '22:00-02:00 wraps: 02:00 is outside');
is(skipped_at('12:00'), '1', '22:00-02:00 wraps: noon is outside');

set_system('pgscale.maintenance_window', '01:00-02:00,13:00-14:00');
is(skipped_at('13:30'), '0', 'two ranges: 13:30 is in the second');
is(skipped_at('01:00'), '0', 'two ranges: 01:00 is in the first');
is(skipped_at('12:30'), '1', 'two ranges: 12:30 is in neither');

set_system('pgscale.maintenance_window', '02:00-05:00');

# ---- calls by hand ----
my ($ret, $out, $err) = $node->psql('win', <<'SQL');
SET pgscale.window_test_now = '2026-01-15 12:00:00+00';
SELECT count(*) FROM pgscale_cleanup(respect_window => true);
SQL
is($out, '0', 'outside the window, pgscale_cleanup(respect_window => true) cleans no table');
like($err, qr/NOTICE:  pgscale skipped the retention of public.ev: outside the maintenance window 02:00-05:00/,
	'and says so in a NOTICE');
isnt(expired('ev'), '0', 'the expired rows stay');
is($node->safe_psql('win', "SELECT count(*) FROM pgscale_log WHERE action = 'skipped'"),
	'0', 'a skip by hand is not logged');

($ret, $out, $err) = $node->psql('win', <<'SQL');
SET pgscale.window_test_now = '2026-01-15 12:00:00+00';
SELECT count(*) FROM pgscale_cleanup(dry_run => true, respect_window => true);
SQL
like($err, qr/NOTICE:  pgscale would skip the retention of public.ev: outside the maintenance window/,
	'a dry run says what it would skip');

($ret, $out, $err) = $node->psql('win', <<'SQL');
SET pgscale.window_test_now = '2026-01-15 12:00:00+00';
CALL pgscale_cleanup_proc(respect_window => true);
SQL
like($err, qr/pgscale skipped the retention of public.ev: outside the maintenance window/,
	'outside the window, the procedure with respect_window skips too');
isnt(expired('ev'), '0', 'and leaves the expired rows');

$node->safe_psql('win', <<'SQL');
SET pgscale.window_test_now = '2026-01-15 12:00:00+00';
SELECT count(*) FROM pgscale_cleanup();
SQL
is(expired('ev'), '0', 'without respect_window, a call by hand ignores the window');

refill('ev');
$node->safe_psql('win', <<'SQL');
SET pgscale.window_test_now = '2026-01-15 03:00:00+00';
CALL pgscale_cleanup_proc(respect_window => true);
SQL
is(expired('ev'), '0', 'inside the window, the procedure with respect_window purges');

# ---- pg_cron: one log row per closing of the window ----
refill('ev');
my $cron = <<'SQL';
SET application_name = 'pg_cron';
SET client_min_messages = warning;
SET pgscale.window_test_now = '2026-01-15 %s:00+00';
CALL pgscale_run_maintenance_proc(respect_window => true);
SQL
my $skips = "SELECT count(*) FROM pgscale_log WHERE action = 'skipped' AND source = 'cron'
             AND detail = 'outside the maintenance window 02:00-05:00'";
$node->safe_psql('win', sprintf($cron, '12:00')) for 1 .. 3;
is($node->safe_psql('win', $skips), '1', 'three cron cycles outside the window log one skip');
isnt(expired('ev'), '0', 'and purge nothing');
$node->safe_psql('win', sprintf($cron, '03:00'));
is(expired('ev'), '0', 'the cycle inside the window purges');
refill('ev');
$node->safe_psql('win', sprintf($cron, '06:00')) for 1 .. 2;
is($node->safe_psql('win', $skips), '2', 'the next closing logs one more skip');

# a skip is no run: it neither hides an error from pgscale_health() nor
# stands for the last run
$node->safe_psql('win', "INSERT INTO pgscale_log (table_name, relid, action, source, detail)
                         VALUES ('ev', 'ev'::regclass, 'error', 'cron', 'a failure, for the test')");
$node->safe_psql('win', sprintf($cron, '07:00'));
is($node->safe_psql('win', $skips), '3', 'a skip after an error is logged');
is($node->safe_psql('win', "SELECT status || ' ' || (value LIKE '%1 failing%')::text
                            FROM pgscale_health() WHERE check_name = 'retention policies'"),
	'warn true', 'pgscale_health() still counts the policy failing after the skip');

# ---- the window closes in the middle of a table ----
# (a hand call and the worker check the window at the same place, before
# each batch; the worker's case is below, where the clock moves by ALTER
# SYSTEM and a reload: the table owner's code cannot move it, since every
# setting it makes is undone after its step)
$node->safe_psql('win', <<'SQL');
CREATE TABLE ev2 (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
SELECT pgscale_set_retention('ev2', interval '30 days 12 hours', 'ts');
CREATE FUNCTION close_window() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('pgscale.window_test_now', '2026-01-15 05:00:00+00', false);
    RETURN NULL;
END $$;
CREATE TRIGGER close_window AFTER DELETE ON ev2
    FOR EACH STATEMENT EXECUTE FUNCTION close_window();
SQL
refill('ev2');
($ret, $out, $err) = $node->psql('win', <<'SQL');
SET pgscale.window_test_now = '2026-01-15 04:59:00+00';
CALL pgscale_cleanup_proc(relation => 'ev2', batch_size => 5, respect_window => true);
SELECT current_setting('pgscale.window_test_now');
SQL
like($out, qr/04:59:00/, "the owner's trigger could not move the test clock");
is(expired('ev2'), '0', 'so the window stayed open to the end');
$node->safe_psql('win', 'DROP TRIGGER close_window ON ev2');

# ---- the worker: premakes outside the window, purges only inside ----
$node->safe_psql('win', <<'SQL');
SELECT pgscale_remove_policy('ev');
SELECT pgscale_remove_policy('ev2');
CREATE TABLE pt (id bigserial, ts timestamptz NOT NULL, PRIMARY KEY (id, ts))
    PARTITION BY RANGE (ts);
CREATE TABLE pt_default PARTITION OF pt DEFAULT;
INSERT INTO pt (ts) SELECT now() - g * interval '1 day' FROM generate_series(0, 59) g;
SELECT pgscale_set_retention('pt', interval '30 days 12 hours', 'ts');
SELECT pgscale_set_partitioning('pt', 2, 'UTC');
SQL
set_system('pgscale.window_test_now', '2026-01-15 12:00:00+00');
my $since = $node->safe_psql('win', 'SELECT now()');
$node->safe_psql('postgres', 'ALTER SYSTEM SET pgscale.enabled = on');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(wait_for_cycle_after($node, 'win', 'win', $since, 60), 'a worker cycle ran');
my $second = $node->safe_psql('win', 'SELECT now()');
my $status = wait_for_cycle_after($node, 'win', 'win', $second, 60);
ok($status, 'and another');
is($status->{outcome}, 'waiting for the maintenance window',
	'pgscale_worker_status() says the purge waits for the window');
ok($node->safe_psql('win', "SELECT count(*) FROM pg_inherits WHERE inhparent = 'pt'::regclass") > 1,
	'outside the window the worker premade the partitions');
isnt(expired('pt'), '0', 'but purged nothing');
is($node->safe_psql('win', "SELECT count(*) FROM pgscale_log WHERE relid = 'pt'::regclass
                            AND action = 'skipped' AND source = 'worker'
                            AND detail = 'outside the maintenance window 02:00-05:00'"),
	'1', 'two cycles outside the window log one skip');
set_system('pgscale.window_test_now', '2026-01-15 03:00:00+00');
ok(poll_until($node, 'win', "SELECT count(*) FROM pt WHERE ts < now() - interval '30 days 12 hours'",
		'0', 60),
	'inside the window the worker purges');

# The window closes (the test clock moved by ALTER SYSTEM and a reload)
# while the worker is in the middle of a table: it rereads its settings
# before the next batch and stops there.  Each batch of 10,000 rows takes
# over a second (a trigger), so the reload lands between two of them.
$node->safe_psql('win', <<'SQL');
CREATE TABLE ev3 (id bigserial PRIMARY KEY, ts timestamptz NOT NULL);
INSERT INTO ev3 (ts)
SELECT now() - interval '40 days' - g * interval '1 second' FROM generate_series(1, 60000) g;
INSERT INTO ev3 (ts) SELECT now() - g * interval '1 hour' FROM generate_series(0, 99) g;
CREATE FUNCTION slow_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(1.5);
    RETURN NULL;
END $$;
CREATE TRIGGER slow_batch AFTER DELETE ON ev3
    FOR EACH STATEMENT EXECUTE FUNCTION slow_batch();
SELECT pgscale_set_retention('ev3', interval '30 days 12 hours', 'ts');
SQL
ok(poll_until($node, 'win', "SELECT count(*) > 0 FROM pgscale_log WHERE relid = 'ev3'::regclass
                             AND action = 'delete' AND detail = 'in progress'", 't', 60),
	'the worker is purging ev3, batch by batch');
set_system('pgscale.window_test_now', '2026-01-15 12:00:00+00');
ok(poll_until($node, 'win', "SELECT count(*) FROM pgscale_log WHERE relid = 'ev3'::regclass
                             AND action = 'skipped' AND source = 'worker'
                             AND detail LIKE 'window closed:%'", '1', 60),
	"the worker logs 'window closed' for the table it was in");
my $left = expired('ev3');
ok($left > 0 && $left < 60000, "and left the rest of it ($left rows) for the next window");
is($node->safe_psql('win', "SELECT cleaned_at IS NULL FROM pgscale_policy WHERE table_name = 'ev3'::regclass"),
	't', 'a table left midway is not marked cleaned');

$node->stop;
done_testing();
