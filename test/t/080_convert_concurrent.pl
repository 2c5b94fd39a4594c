# pgscale_partition_table(extend_keys => true) builds the unique index with
# the time column by CREATE UNIQUE INDEX CONCURRENTLY over a loopback
# connection: inserts go on while it builds; a build that fails leaves no
# invalid index and the table unconverted; a cancelled call cancels the
# build, and the next call drops what it left and converts.  These need
# sessions that interleave with a CALL that opens its own connection, hence
# a TAP test rather than an isolation spec.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use PgscaleTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = pgscale_node('convert_concurrent');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pgscale');

sub make_table
{
	my ($name) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE $name (id bigserial PRIMARY KEY, date date NOT NULL, v int);
INSERT INTO $name (date, v) SELECT current_date - g % 300, g FROM generate_series(1, 20000) g;
});
}

# the loopback session of the conversion, waiting on a lock
my $build_waits = q{SELECT count(*) FROM pg_stat_activity
WHERE application_name = 'pgscale conversion' AND wait_event_type = 'Lock'};

sub invalid_indexes
{
	my ($name) = @_;
	return $node->safe_psql('postgres', qq{
SELECT count(*) FROM pg_index WHERE indrelid = '$name'::regclass AND NOT indisvalid});
}

#
# 1. Inserts go on while the extended key builds.  A writer's open
# transaction holds the build in its wait for earlier writers; meanwhile
# another session inserts, which a plain CREATE INDEX (waiting for the same
# writer, with its SHARE lock queued) would block.
#
make_table('t');
my $writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe("INSERT INTO t (date, v) VALUES (current_date, -1)");

my $caller = $node->background_psql('postgres');
$caller->query_until(qr/converting/, q{\echo converting
SET pgscale.lock_timeout = '60s';
CALL pgscale_partition_table('t', 'date', extend_keys => true);
});
ok(poll_until($node, 'postgres', $build_waits, '1', 30),
	'the concurrent build waits for the open writer');

my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '5s';
	 INSERT INTO t (date, v) SELECT current_date, -2 FROM generate_series(1, 10)");
is($ret, 0, 'another session inserts while the extended key builds') or diag($err);
$writer->query_safe('COMMIT');
$writer->quit;

$out = $caller->query("SELECT relkind FROM pg_class WHERE oid = 't'::regclass");
is($out, 'p', 'the table is converted once the writer commits');
$caller->quit;
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '20011',
	'every row inserted during the build is there');
is(invalid_indexes('t_legacy'), '0', 'no invalid index is left');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM pg_index WHERE indrelid = 't_legacy'::regclass AND indisunique
AND pg_get_indexdef(indexrelid) LIKE '%(id, date)'}), '1',
	'the legacy partition has the extended key');

#
# 2. A build that fails (its lock wait times out, with no retries) leaves no
# invalid index: it is dropped concurrently, once the writer is gone, and
# the table stays unconverted.
#
make_table('t2');
$writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe("INSERT INTO t2 (date, v) VALUES (current_date, -1)");
$caller = $node->background_psql('postgres', on_error_stop => 0);
$caller->query_until(qr/converting/, q{\echo converting
SET pgscale.lock_timeout = '200ms';
SET pgscale.lock_retries = 0;
CALL pgscale_partition_table('t2', 'date', extend_keys => true);
});
ok( poll_until(
		$node, 'postgres', q{SELECT count(*) FROM pg_stat_activity
WHERE application_name = 'pgscale conversion' AND query LIKE 'DROP INDEX CONCURRENTLY%'
AND wait_event_type = 'Lock'}, '1', 30),
	'after the failed build, its invalid index is dropped, waiting for the writer');
$node->safe_psql('postgres', "INSERT INTO t2 (date, v) VALUES (current_date, -2)");
$writer->query_safe('COMMIT');
$writer->quit;
$out = $caller->query("SELECT relkind FROM pg_class WHERE oid = 't2'::regclass");
is($out, 'r', 'the table is not converted');
like($caller->{stderr}, qr/could not build unique index .* concurrently on public\.t2/,
	'the call reports the failed build');
like($caller->{stderr}, qr/The invalid index the build left was dropped/,
	'... and that its invalid index was dropped');
$caller->quit;
is(invalid_indexes('t2'), '0', 'no invalid index is left');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_index WHERE indrelid = 't2'::regclass"),
	'1', 'only the primary key is there');

#
# 3. Cancelling the call cancels the remote build; the next call drops the
# invalid index it left and builds it again.
#
make_table('t3');
$writer = $node->background_psql('postgres');
$writer->query_safe('BEGIN');
$writer->query_safe("INSERT INTO t3 (date, v) VALUES (current_date, -1)");
$caller = $node->background_psql('postgres', on_error_stop => 0);
$caller->query_until(qr/converting/, q{\echo converting
SET application_name = 'cancelled_caller';
SET pgscale.lock_timeout = '60s';
CALL pgscale_partition_table('t3', 'date', extend_keys => true);
});
ok(poll_until($node, 'postgres', $build_waits, '1', 30), 'the build waits for the writer');
$node->safe_psql('postgres', q{
SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'cancelled_caller'});
ok( poll_until(
		$node, 'postgres', q{SELECT count(*) FROM pg_stat_activity
WHERE application_name = 'pgscale conversion'}, '0', 30),
	'the remote build ends with the cancelled call');
$out = $caller->query("SELECT relkind FROM pg_class WHERE oid = 't3'::regclass");
is($out, 'r', 'the cancelled call left the table unconverted');
like($caller->{stderr}, qr/canceling statement due to user request/, 'the call was cancelled');
$caller->quit;
is(invalid_indexes('t3'), '1', 'the cancelled build left an invalid index');
$writer->query_safe('COMMIT');
$writer->quit;

($ret, $out, $err) = $node->psql('postgres',
	"CALL pgscale_partition_table('t3', 'date', extend_keys => true)");
is($ret, 0, 'the next call converts the table') or diag($err);
like($err, qr/dropping invalid index public\.t3_pkey_date_key/,
	'... after dropping the invalid index');
is(invalid_indexes('t3_legacy'), '0', 'no invalid index is left');

#
# 4. When pg_hba.conf does not let the caller connect back, the call stops
# before changing anything, saying what to allow.
#
reject_local_role($node, 'regress_noloop');
make_table('t4');
$node->safe_psql('postgres', q{
CREATE ROLE regress_noloop LOGIN;
ALTER TABLE t4 OWNER TO regress_noloop;
GRANT CREATE ON SCHEMA public TO regress_noloop;
});
($ret, $out, $err) = $node->psql('postgres', q{
SET SESSION AUTHORIZATION regress_noloop;
CALL pgscale_partition_table('t4', 'date', extend_keys => true)});
like($err, qr/could not connect to this server as role regress_noloop/,
	'a refused loopback connection stops the call');
like($err, qr/HINT:  Allow that connection without a password in pg_hba\.conf/,
	'... with a hint saying what to allow');
is($node->safe_psql('postgres', q{
SELECT relkind::text || ':' || (SELECT count(*) FROM pg_index WHERE indrelid = 't4'::regclass)
FROM pg_class WHERE oid = 't4'::regclass}), 'r:1', 'the table was not changed');

$node->stop;
done_testing();
